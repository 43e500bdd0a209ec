"""Scenarios page, the comparison and share links (streamlit.testing.v1.AppTest on the demo company).

Every number the pages show is recomputed here through the plan engine (`plan.evaluate_many`,
`plan.compare`) or the demand review engine (`review.headline`) and compared as the page formats it.
A link is opened by setting `at.query_params` before the page runs, as a browser would send them.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pandas as pd
import pytest
from apptest_support import app, app_workspace, demo_workspace_file, metrics, open_page, texts  # noqa: F401

from sop_core import escape
from sop_core.demand import consensus, forecast, overrides, review
from sop_core.demand.history import demand_history
from sop_core.formatting import money, plural, units
from sop_core.meetings import links
from sop_core.planning import plan, scenarios
from sop_core.planning.kpi_catalogue import MEASURES
from sop_core.store.workspace import Provenance, Workspace

ROOT = Path(__file__).resolve().parents[1]
TENTS_UP = {"demand": [{"family": "Tents", "pct": 10}]}
ASSY_DOWN = {"capacity": [{"resource": "ASSY-2", "pct": -20}], "price": [{"family": "Cookware", "pct": -3}]}


# -- helpers ------------------------------------------------------------------------------------------
def make_scenario(at, name: str, changes: dict, author: str = "test") -> scenarios.Scenario:
    """Store a scenario in the app's workspace file before the app opens it."""
    with Workspace(at.workspace_path) as ws:
        return scenarios.create(ws, name, changes, author)


def engine(at, items: list[scenarios.Scenario]) -> dict[str, plan.PlanResult]:
    """Baseline and scenarios evaluated here, the way the pages should (default plan settings)."""
    ws = app_workspace(at)
    run = forecast.load_run(ws, forecast.saved_settings(ws))
    cons = consensus.load_consensus(ws, run.run_key)
    return plan.evaluate_many(plan.PlanInputs.from_workspace(ws, cons), items)


def headline(results: dict[str, plan.PlanResult]) -> list[tuple[str, str]]:
    """The cards' metrics as the comparison prints them: per plan, per headline KPI, (label, value)."""
    from pages.shell.compare import HEADLINE, fmt_value

    return [(MEASURES[k].label, fmt_value(k, r.kpis[k])) for r in results.values() for k in HEADLINE]


def shown_metrics(at) -> list[tuple[str, str]]:
    return [(m.label, m.value) for m in at.metric]


def form_widget(elements, prefix: str):
    """A widget of the scenario form (its key is the name plus the form generation)."""
    return next(w for w in elements if (w.key or "").startswith(prefix + "_"))


def open_link(at, page: str, params: dict) -> None:
    """Open `page` with a link's query parameters (a fresh session: nothing in it yet)."""
    at.query_params.update(params)
    open_page(at, page)


def kpi_table(at) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if "KPI" in d.value.columns)


def demand_headline(at, scope: review.Scope) -> review.DemandHeadline:
    ws = app_workspace(at)
    run = forecast.load_run(ws, forecast.saved_settings(ws))
    cons = consensus.load_consensus(ws, run.run_key)
    return review.headline(demand_history(ws), cons, ws.table("plan"), run.last_actual, scope)


# -- the scenarios page ------------------------------------------------------------------------------------
def test_scenarios_page_runs_and_shows_the_baseline(app):
    at = open_page(app, "scenarios")
    assert "No scenario yet" in texts(at)
    assert shown_metrics(at) == headline(engine(at, []))


def test_scenarios_page_is_in_the_pre_sop_section():
    from pages.shell import nav

    assert "scenarios.py" in [p.script for p in nav.SECTIONS["Pre-S&OP meetings"]]


def test_building_a_scenario_through_the_form_stores_it_and_compares_it(app):
    at = open_page(app, "scenarios")
    form_widget(at.text_input, "sc_name").set_value("Tents +10%, ASSY-2 at 80%")
    form_widget(at.text_input, "sc_note").set_value("Peak season promotion")
    form_widget(at.selectbox, "sc_d_family").set_value("Tents")
    form_widget(at.number_input, "sc_d_pct").set_value(10.0)
    form_widget(at.selectbox, "sc_k_resource").set_value("ASSY-2")
    form_widget(at.number_input, "sc_k_pct").set_value(-20.0)
    next(b for b in at.button if b.label == "Save scenario").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]

    stored = scenarios.list_scenarios(app_workspace(at))
    assert len(stored) == 1
    sc = stored[0]
    assert sc.name == "Tents +10%, ASSY-2 at 80%" and sc.note == "Peak season promotion"
    assert sc.author  # who made it is recorded (the signed-in user, else the sidebar name)
    assert sc.changes.demand == (scenarios.DemandChange(pct=10.0, family="Tents"),)
    assert sc.changes.capacity == (scenarios.CapacityChange(pct=-20.0, resource="ASSY-2"),)
    assert not sc.changes.price

    # compared straight away, and the address bar is its link
    assert at.multiselect(key="sc_compare").value == [sc.scenario_id]
    assert at.query_params["cmp"] == sc.scenario_id
    assert shown_metrics(at) == headline(engine(at, [sc]))
    # the form is empty again
    assert form_widget(at.text_input, "sc_name").value == ""
    assert form_widget(at.number_input, "sc_d_pct").value == 0.0


def test_saving_without_a_name_or_a_change_says_what_is_missing(app):
    at = open_page(app, "scenarios")
    form_widget(at.number_input, "sc_d_pct").set_value(5.0)
    next(b for b in at.button if b.label == "Save scenario").click().run()
    assert any("name" in e.value for e in at.error)
    form_widget(at.text_input, "sc_name").set_value("Nothing")
    form_widget(at.number_input, "sc_d_pct").set_value(0.0)
    next(b for b in at.button if b.label == "Save scenario").click().run()
    assert any("at least one change" in e.value for e in at.error)
    assert scenarios.list_scenarios(app_workspace(at)) == []


def test_comparison_table_highlights_the_differences_by_direction(app):
    a = make_scenario(app, "Tents +10%", TENTS_UP)
    b = make_scenario(app, "ASSY-2 at 80%", ASSY_DOWN)
    open_link(app, "scenarios", {"cmp": f"{a.scenario_id},{b.scenario_id}"})
    at = app
    from pages.shell.compare import fmt_delta, fmt_value, tone

    results = engine(at, [a, b])
    numbers = plan.compare(results)
    table = kpi_table(at)
    assert list(table.columns) == ["KPI", "Over", "Baseline", "Tents +10%", "Δ Tents +10%", "ASSY-2 at 80%",
                                   "Δ ASSY-2 at 80%"]
    assert list(table["KPI"]) == [MEASURES[k].label for k in plan.KPI_KEYS]
    for i, k in enumerate(plan.KPI_KEYS):
        assert table["Baseline"].iloc[i] == fmt_value(k, numbers.loc[k, "Baseline"])
        assert table["Δ Tents +10%"].iloc[i] == fmt_delta(k, numbers.loc[k, "Δ Tents +10%"])
    # direction: more units short is worse, more revenue is better, inventory has no direction
    assert tone("units_short", 100.0) == "worse" and tone("revenue", 1e5) == "better"
    assert tone("inventory_value_end", -1e5) is None and tone("revenue", 0.0) is None


# -- links ------------------------------------------------------------------------------------------------
def test_a_demand_review_link_opens_its_filters_and_the_same_numbers(app):
    open_link(app, "demand_review", {"family": "Tents", "region": "North", "sku": "TN-1002", "h": "18"})
    at = app
    assert at.selectbox(key="dr_family").value == "Tents"
    assert at.selectbox(key="dr_region").value == "North"
    assert at.selectbox(key="dr_sku").value == "TN-1002"
    head = demand_headline(at, review.Scope("Tents", "North", "TN-1002"))
    assert metrics(at)["Consensus units, next 12 months"] == f"{head.next_12:,.0f}"
    # the address bar is the full link to this view, stamped with the data it shows
    fp = app_workspace(at).fingerprint()
    assert at.query_params == {"family": "Tents", "region": "North", "sku": "TN-1002", "h": "18", "fp": fp}
    assert any(c.value.startswith("/demand_review?family=Tents&region=North&sku=TN-1002&h=18&fp=") for c in at.code)


def test_changing_a_filter_updates_the_link(app):
    open_link(app, "demand_review", {"family": "Tents"})
    at = app
    at.selectbox(key="dr_family").set_value("Backpacks").run()
    assert at.query_params["family"] == "Backpacks"
    assert at.selectbox(key="dr_family").value == "Backpacks"  # the link is read once per visit, not every rerun
    head = demand_headline(at, review.Scope("Backpacks"))
    assert metrics(at)["Consensus units, next 12 months"] == f"{head.next_12:,.0f}"


def test_a_filter_value_the_data_lacks_falls_back_with_a_note(app):
    open_link(app, "demand_review", {"family": "Kayaks"})
    at = app
    assert at.selectbox(key="dr_family").value == "All"
    assert "'Kayaks' is not in the data" in texts(at)
    head = demand_headline(at, review.Scope())
    assert metrics(at)["Consensus units, next 12 months"] == f"{head.next_12:,.0f}"


def test_a_scenarios_link_opens_the_same_comparison(app):
    a = make_scenario(app, "Tents +10%", TENTS_UP)
    b = make_scenario(app, "ASSY-2 at 80%", ASSY_DOWN)
    open_link(app, "scenarios", {"s": a.scenario_id, "cmp": b.scenario_id, "h": "12", "family": "Tents",
                                 "region": "North"})
    at = app
    assert at.multiselect(key="sc_compare").value == [a.scenario_id, b.scenario_id]
    assert at.slider(key="sc_months").value == 12
    assert shown_metrics(at) == headline(engine(at, [a, b]))
    assert at.query_params["cmp"] == f"{a.scenario_id},{b.scenario_id}"
    assert at.query_params["h"] == "12"
    assert "s" not in at.query_params  # the scenarios page names its scenarios in cmp


def test_a_link_to_an_archived_scenario_still_opens_it(app):
    a = make_scenario(app, "Old idea", TENTS_UP)
    with Workspace(app.workspace_path) as ws:
        scenarios.archive(ws, a.scenario_id, "test")
    open_link(app, "scenarios", {"cmp": a.scenario_id})
    assert app.multiselect(key="sc_compare").value == [a.scenario_id]


TAMPERED = {
    "sql": {"s": "' OR 1=1 --"},
    "10 KB": {"s": "A" * 10_240},
    "unknown id": {"s": "A" * 22},
    "repeated": {"s": ["REAL", "REAL"]},
    "script": {"s": "<script>alert(1)</script>"},
}


@pytest.fixture
def other_team_id(tmp_path) -> str:
    """A real scenario id of another workspace (another team's)."""
    with Workspace(tmp_path / "other.duckdb") as ws:
        return scenarios.create(ws, "Their plan", TENTS_UP, "them").scenario_id


@pytest.mark.parametrize("case", [*TAMPERED, "another team's id"])
@pytest.mark.parametrize("page", ["scenarios", "demand_review", "supply_review"])
def test_a_tampered_scenario_link_shows_the_message_and_the_baseline(app, case, page, other_team_id):
    real = make_scenario(app, "Tents +10%", TENTS_UP)
    params = TAMPERED.get(case, {"s": other_team_id})
    params = {k: ([real.scenario_id] * 2 if v == ["REAL", "REAL"] else v) for k, v in params.items()}
    open_link(app, page, params)
    at = app
    assert not at.exception
    assert [i.value for i in at.info if i.value == links.SCENARIO_NOT_FOUND]
    assert "s" not in at.query_params  # the bad id is dropped from the address bar
    shown = texts(at)
    assert "1=1" not in shown and "<script>" not in shown and "AAAAAAAAAA" not in shown
    if page == "scenarios":
        assert at.multiselect(key="sc_compare").value == []
        assert shown_metrics(at) == headline(engine(at, []))  # the baseline
    elif page == "demand_review":
        head = demand_headline(at, review.Scope())
        assert metrics(at)["Consensus units, next 12 months"] == f"{head.next_12:,.0f}"
    else:
        assert not [i for i in at.info if i.value.startswith("**Scenario:")]
        assert_plan_page(at, page, engine(at, [])[plan.BASELINE])


def test_a_tampered_comparison_keeps_the_scenarios_it_can_find(app):
    real = make_scenario(app, "Tents +10%", TENTS_UP)
    open_link(app, "scenarios", {"cmp": f"' OR 1=1 --,{real.scenario_id},{'B' * 22}", "junk": "x"})
    at = app
    assert not at.exception
    assert links.COMPARED_NOT_FOUND in [i.value for i in at.info]
    assert at.multiselect(key="sc_compare").value == [real.scenario_id]
    assert shown_metrics(at) == headline(engine(at, [real]))
    assert "unknown parameter 'junk' ignored" in texts(at).replace("\\", "")


# -- a scenario on the Supply review, Inventory and Financials pages ------------------------------------------
def plan_page_numbers(page: str, r: plan.PlanResult) -> dict[str, str]:
    """Headline metrics of a plan page, as the page formats them."""
    k = r.kpis
    if page == "supply_review":
        return {"Units short after pre-build": units(k["units_short"]),
                "Overloaded resource-months": f"{int(k['overloaded_resource_months'])} of {len(r.utilisation)}"}
    if page == "inventory":
        return {"Projected stockouts": plural(k["stockouts"], "sku"),
                "Revenue at risk from stockouts": money(k["revenue_at_risk"])}
    return {f"Full-year outlook {r.year}": money(k["revenue"]), f"Annual plan {r.year}": money(k["plan_revenue"])}


def assert_plan_page(at, page: str, r: plan.PlanResult) -> None:
    shown = metrics(at)
    for label, value in plan_page_numbers(page, r).items():
        assert shown[label] == value, (label, shown)


@pytest.mark.parametrize("page", ["supply_review", "inventory", "financials"])
def test_a_scenario_link_opens_the_plan_pages_on_the_scenario(app, page):
    sc = make_scenario(app, "ASSY-2 at 80%", ASSY_DOWN)
    open_link(app, page, {"s": sc.scenario_id, "family": "Tents"})
    at = app
    assert not at.exception
    banner = [i.value for i in at.info if i.value.startswith("**Scenario:")]
    assert banner and "ASSY\\-2 at 80%" in banner[0]
    results = engine(at, [sc])
    assert_plan_page(at, page, results["ASSY-2 at 80%"])
    assert plan_page_numbers(page, results["ASSY-2 at 80%"]) != plan_page_numbers(page, results[plan.BASELINE]) \
        or page == "inventory"  # (the demo's stockouts may not move)
    family_key = {"supply_review": "sr_family", "inventory": "inv_family", "financials": "fin_family"}[page]
    assert at.selectbox(key=family_key).value == "Tents"
    assert at.query_params["s"] == sc.scenario_id and at.query_params["family"] == "Tents"

    at.button(key="share_baseline").click().run()  # back to the baseline: banner gone, link without s
    assert not [i for i in at.info if i.value.startswith("**Scenario:")]
    assert "s" not in at.query_params
    assert_plan_page(at, page, results[plan.BASELINE])


def test_the_comparison_links_each_scenario_to_the_plan_pages(app):
    sc = make_scenario(app, "ASSY-2 at 80%", ASSY_DOWN)
    open_link(app, "scenarios", {"cmp": sc.scenario_id})
    fp = app_workspace(app).fingerprint()
    targets = {(pl.proto.page, pl.proto.query_string) for pl in app.get("page_link")}
    assert targets == {(page, f"s={sc.scenario_id}&fp={fp}") for page in ("supply_review", "inventory", "financials")}


def test_a_comparison_link_with_plan_settings_compares_and_links_on_with_them(app):
    sc = make_scenario(app, "ASSY-2 at 80%", ASSY_DOWN)
    with Workspace(app.workspace_path) as ws:
        fp = links.fingerprint(ws)
    open_link(app, "scenarios", {"cmp": sc.scenario_id, "pb": "0", "sl": "99", "fp": fp})
    ws = app_workspace(app)
    run = forecast.load_run(ws, forecast.saved_settings(ws))
    inputs = plan.PlanInputs.from_workspace(ws, consensus.load_consensus(ws, run.run_key), prebuild_months=0,
                                            service_level=0.99)
    assert shown_metrics(app) == headline(plan.evaluate_many(inputs, [sc]))
    assert shown_metrics(app) != headline(engine(app, [sc]))
    assert app.query_params["pb"] == "0" and app.query_params["sl"] == "99"
    # the "Open on…" links keep the session's settings: the plan pages show the numbers compared here
    targets = {(pl.proto.page, pl.proto.query_string) for pl in app.get("page_link")}
    assert targets == {(page, f"s={sc.scenario_id}&pb=0&sl=99&fp={fp}")
                       for page in ("supply_review", "inventory", "financials")}


def _reload_inventory(path: Path) -> None:
    """New data: the inventory snapshot with one more unit of one sku (the forecast stays valid)."""
    with Workspace(path) as ws:
        inv = ws.table("inventory")
        inv.loc[inv.index[0], "on_hand"] = inv.loc[inv.index[0], "on_hand"] + 1
        ws.replace_table("inventory", inv, Provenance(file_name="inventory_today.csv", sha256="0" * 64, author="test"))


def test_a_link_made_on_other_data_says_so_and_offers_todays_data(app):
    a = make_scenario(app, "Tents +10%", TENTS_UP)
    with Workspace(app.workspace_path) as ws:
        then = links.fingerprint(ws)
        loaded = links.state_since(ws, then)
    _reload_inventory(app.workspace_path)
    open_link(app, "scenarios", {"cmp": a.scenario_id, "fp": then})
    at = app
    assert not at.exception
    warning = " ".join(w.value for w in at.warning).replace("\\", "")
    assert f"made on the data and overrides as of {loaded:%d %b %Y %H:%M} UTC" in warning
    assert "the data or the overrides changed since this link was made" in warning
    assert not at.metric  # nothing shown as if it were the sender's numbers
    at.button(key="share_today").click().run()
    assert not at.exception
    assert not at.warning
    now = links.fingerprint(app_workspace(at))
    assert now != then and at.query_params["fp"] == now  # re-stamped: the link now says today's data
    assert shown_metrics(at) == headline(engine(at, [a]))


def test_a_link_made_before_an_override_says_the_numbers_may_differ(app):
    with Workspace(app.workspace_path) as ws:
        then = links.fingerprint(ws)
        data = ws.fingerprint()
        run = forecast.load_run(ws, forecast.saved_settings(ws))
        first = pd.Timestamp(run.forecast["period"].min())
        overrides.save_override(ws, run.run_key, run.forecast, overrides.OverrideInput(
            family="Tents", period_from=first, period_to=first, kind="percent", value=20.0, reason="Promotion"),
            "alice")
        assert ws.fingerprint() == data  # the loaded tables are unchanged: only the overrides changed
    open_link(app, "demand_review", {"family": "Tents", "fp": then})
    at = app
    warning = " ".join(w.value for w in at.warning).replace("\\", "")
    assert "the data or the overrides changed since this link was made" in warning
    assert "its numbers may differ from the sender's" in warning
    assert not at.metric  # nothing shown as if it were the sender's numbers
    at.button(key="share_today").click().run()
    assert not at.exception and not at.warning
    now = links.fingerprint(app_workspace(at))
    assert now != then and at.query_params["fp"] == now
    head = demand_headline(at, review.Scope("Tents"))
    assert metrics(at)["Consensus units, next 12 months"] == f"{head.next_12:,.0f}"  # with the override


def test_a_link_with_a_malformed_fingerprint_still_opens(app):
    open_link(app, "demand_review", {"family": "Tents", "fp": "not-a-fingerprint"})
    at = app
    assert not at.exception
    assert at.selectbox(key="dr_family").value == "Tents"
    assert "is not a data fingerprint" in texts(at)


# -- user text is text ------------------------------------------------------------------------------------
def test_a_scenario_name_with_html_and_markdown_is_shown_as_text(app):
    name = "<img src=x onerror=alert(1)> [click](http://evil.example) **bold** $x$ see https://evil.example"
    a = make_scenario(app, name, TENTS_UP)
    open_link(app, "scenarios", {"cmp": a.scenario_id})
    at = app
    assert not at.exception
    markdown = [m.value for m in at.markdown]
    assert any("\\<img src\\=x onerror\\=alert\\(1\\)\\>" in m for m in markdown), markdown
    assert not any(re.search(r"(?<!\\)(<img|\]\(http|\*\*bold|\$x\$)", m) for m in markdown)
    assert not any(re.search(r"https?(\\)?://", m) for m in markdown)  # no bare link either
    assert name in kpi_table(at).columns  # a table cell is plain text


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def test_no_page_passes_anything_to_unsafe_html():
    """Static check: no `unsafe_allow_html=True`, `st.html` or `components.html` anywhere in the app's pages."""
    offenders = []
    for path in [ROOT / "app.py", *sorted((ROOT / "pages").rglob("*.py"))]:
        for call in _calls(ast.parse(path.read_text(encoding="utf-8"))):
            fn = call.func
            if isinstance(fn, ast.Attribute) and fn.attr == "html":
                offenders.append(f"{path.name}:{call.lineno} .html(")
            for kw in call.keywords:
                if kw.arg == "unsafe_allow_html" and not (isinstance(kw.value, ast.Constant) and not kw.value.value):
                    offenders.append(f"{path.name}:{call.lineno} unsafe_allow_html")
    assert not offenders, offenders


# -- several changes and an override set through the form's tables ----------------------------------------
def plan_months(at) -> list[str]:
    """The plan's months as the form's tables hold them (YYYY-MM-DD of the first day)."""
    ws = app_workspace(at)
    cons = consensus.load_consensus(ws, forecast.load_run(ws, forecast.saved_settings(ws)).run_key)
    return [f"{m:%Y-%m-%d}" for m in sorted(pd.to_datetime(cons["period"]).unique())]


def add_rows(at, kind: str, rows: list[dict]) -> None:
    """Add `rows` to the form's table of extra `kind` changes (the edit state the browser sends)."""
    at.session_state[form_widget(at.data_editor, f"sc_more_{kind}").key] = {
        "edited_rows": {}, "added_rows": rows, "deleted_rows": []}


def test_several_changes_and_an_override_set_are_built_in_the_form_tables(app):
    at = open_page(app, "scenarios")
    more = [e for e in at.expander if e.label == "More changes: several families or resources, an override set"]
    assert len(more) == 1 and not more[0].proto.expanded  # collapsed
    assert {d.key.rsplit("_", 1)[0] for d in more[0].data_editor} == {
        f"sc_more_{k}" for k in ("demand", "price", "capacity", "overrides")}
    keys = {d.key for d in at.data_editor}
    m = plan_months(at)
    form_widget(at.text_input, "sc_name").set_value("Tents and Cookware up, tender")
    form_widget(at.selectbox, "sc_d_family").set_value("Tents")
    form_widget(at.number_input, "sc_d_pct").set_value(10.0)
    add_rows(at, "demand", [{"family": "Cookware", "region": "North", "period_from": m[0], "period_to": m[2],
                             "pct": 5.0}, {}])  # an empty row is ignored
    add_rows(at, "overrides", [{"family": "Tents", "region": "All", "sku": "TN-1001", "period_from": m[1],
                                "period_to": m[1], "kind": "units", "value": 500.0, "reason": "Tender won"}])
    next(b for b in at.button if b.label == "Save scenario").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]

    stored = scenarios.list_scenarios(app_workspace(at))
    assert len(stored) == 1
    sc = scenarios.get(app_workspace(at), stored[0].scenario_id)
    assert sc.changes.demand == (
        scenarios.DemandChange(pct=10.0, family="Tents"),
        scenarios.DemandChange(pct=5.0, family="Cookware", region="North", period_from=pd.Timestamp(m[0]),
                               period_to=pd.Timestamp(m[2])))
    assert sc.changes.overrides == (scenarios.ScenarioOverride(
        kind="units", value=500.0, period_from=pd.Timestamp(m[1]), period_to=pd.Timestamp(m[1]), family="Tents",
        region=None, sku="TN-1001", reason="Tender won"),)
    assert not sc.changes.price and not sc.changes.capacity
    assert at.multiselect(key="sc_compare").value == [sc.scenario_id]
    assert shown_metrics(at) == headline(engine(at, [sc]))
    # a fresh form: the tables are new widgets (the rows typed before are gone)
    assert all(form_widget(at.data_editor, f"sc_more_{k}").key not in keys for k in scenarios.ROW_FIELDS)


def test_an_invalid_row_in_the_form_tables_shows_the_engines_error_and_stores_nothing(app):
    at = open_page(app, "scenarios")
    m = plan_months(at)
    form_widget(at.text_input, "sc_name").set_value("Too deep a cut")
    form_widget(at.number_input, "sc_d_pct").set_value(10.0)
    add_rows(at, "overrides", [{"family": "Tents", "period_from": m[0], "period_to": m[0], "kind": "percent",
                                "value": -150.0}])
    key = form_widget(at.data_editor, "sc_more_overrides").key
    next(b for b in at.button if b.label == "Save scenario").click().run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [escape.plain("override 1: percent change -150% is below -100%: demand "
                                                        "cannot go below zero")]  # the engine's sentence: as text
    assert scenarios.list_scenarios(app_workspace(at)) == []
    assert form_widget(at.text_input, "sc_name").value == "Too deep a cut"  # nothing lost: fix the row and save
    assert form_widget(at.data_editor, "sc_more_overrides").key == key  # the same table: its rows are kept
