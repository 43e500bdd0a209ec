"""Supply review, Inventory and Financials pages on the demo company (streamlit.testing.v1.AppTest).

Each headline number is recomputed here through the plan engine (`sop_core.planning.plan.evaluate`) and
compared as the page formats it; each page says which table it needs when the data lacks it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from apptest_support import APP, app, app_workspace, demo_workspace_file, metrics, open_page, texts  # noqa: F401
from streamlit.testing.v1 import AppTest

from sop_core.demand import consensus, forecast
from sop_core.formatting import delta_money, money, pct, plural, units
from sop_core.meetings import links, pack
from sop_core.planning import plan
from sop_core.planning import settings as plan_settings
from sop_core.store import access
from sop_core.store.workspace import Workspace


def engine(at, prebuild_months: int = 2, excess_cover_months: float = 6.0,
           service_level: float = 0.95) -> plan.PlanResult:
    """The baseline plan of the app's workspace, evaluated here the way the pages should."""
    ws = app_workspace(at)
    run = forecast.load_run(ws, forecast.saved_settings(ws))
    cons = consensus.load_consensus(ws, run.run_key)
    inputs = plan.PlanInputs.from_workspace(ws, cons, prebuild_months=prebuild_months,
                                            excess_cover_months=excess_cover_months, service_level=service_level)
    return plan.evaluate(inputs)


def supply_headline(r: plan.PlanResult) -> dict[str, str]:
    k = r.kpis
    u = pd.to_numeric(r.utilisation["utilisation"], errors="coerce").astype(float)
    return {
        "Overloaded resource-months": f"{int(k['overloaded_resource_months'])} of {len(r.utilisation)}",
        "Peak utilisation": pct(float(u[np.isfinite(u)].max())),
        "Units short after pre-build": units(k["units_short"]),
        "Revenue at risk from shortage": money(k["horizon_revenue_unconstrained"] - k["horizon_revenue"]),
    }


def inventory_headline(r: plan.PlanResult) -> dict[str, str]:
    ex = r.exceptions
    kind = ex["kind"] if len(ex) else pd.Series(dtype=object)
    return {
        "Projected stockouts": plural(r.kpis["stockouts"], "sku"),
        "Revenue at risk from stockouts": money(r.kpis["revenue_at_risk"]),
        "Safety-stock breaches": plural((kind == "below safety stock").sum(), "sku"),
        "Excess stock at cost": money(float(ex.loc[kind == "excess", "value"].sum()) if len(ex) else 0.0),
    }


def assert_shows(at, expected: dict[str, str]) -> None:
    """Each expected metric is on the page with exactly that text."""
    shown = metrics(at)
    for label, value in expected.items():
        assert shown.get(label) == value, f"{label}: page {shown.get(label)!r}, engine {value!r}"


def shrink_capacity(at, factor: float) -> None:
    """Scale the copied workspace's capacity before the app opens it (a bottleneck on the demo)."""
    with Workspace(at.workspace_path) as ws:
        ws.execute("UPDATE capacity SET available_hours = available_hours * ?", [factor])


# -- supply review -----------------------------------------------------------------------------------
def test_supply_review_headline_matches_engine(app):
    at = open_page(app, "supply_review")
    assert_shows(at, supply_headline(engine(at)))
    assert "The capacity check can't see" in texts(at)  # two demo skus have no resource
    assert len(at.get("plotly_chart")) >= 2  # heatmap and constrained-plan chart


def test_supply_review_shortage_follows_prebuild_setting_across_pages(app):
    shrink_capacity(app, 0.7)
    at = open_page(app, "supply_review")
    two = supply_headline(engine(at, prebuild_months=2))
    assert metrics(at)["Units short after pre-build"] == two["Units short after pre-build"] != "0"
    assert "Capacity cannot make the whole consensus" in texts(at)
    assert at.dataframe[0].value.shape[0] >= 1  # the gap table: families short

    at.slider(key="sr_prebuild").set_value(0).run()
    assert not at.exception
    zero = engine(at, prebuild_months=0)
    assert_shows(at, supply_headline(zero))
    assert zero.kpis["units_short"] > engine(at, prebuild_months=2).kpis["units_short"]

    # the setting lives in the session: the Inventory page uses the same constrained plan
    at.switch_page("pages/inventory.py").run()
    assert not at.exception
    assert_shows(at, inventory_headline(zero))
    at.switch_page("pages/supply_review.py").run()
    assert at.slider(key="sr_prebuild").value == 0


def test_supply_review_family_filter_redraws_chart(app):
    at = open_page(app, "supply_review")
    at.selectbox(key="sr_family").set_value("Tents").run()
    assert not at.exception
    r = engine(at)
    demand = r.constrained.loc[r.constrained["family"] == "Tents", "units"].sum()
    assert any(f"Tents: demand {units(demand)} units" in c.value for c in at.caption)


# -- plan settings in links and saved as the workspace's ---------------------------------------------------
def colleague(at: AppTest, page: str, params: dict) -> AppTest:
    """A new session (another browser) on the same workspace opening `page` with a link's query parameters."""
    other = AppTest.from_file(str(APP), default_timeout=120)
    other.query_params.update(params)
    return open_page(other, page)


def test_a_supply_review_link_with_prebuild_0_opens_with_prebuild_0_for_a_colleague(app):
    shrink_capacity(app, 0.7)
    at = open_page(app, "supply_review")
    at.slider(key="sr_prebuild").set_value(0).run()
    assert not at.exception
    short = metrics(at)["Units short after pre-build"]
    assert short == supply_headline(engine(at, prebuild_months=0))["Units short after pre-build"]
    assert short != supply_headline(engine(at, prebuild_months=2))["Units short after pre-build"]
    link = dict(at.query_params)
    assert link["pb"] == "0" and "xc" not in link and "sl" not in link  # defaults are left out
    assert any("pb=0" in c.value for c in at.code)  # the Share button's link says it too
    assert "This view uses pre-build 0 months; the saved plan settings — what the board pack uses — say " \
           "pre-build 2 months." in texts(at)

    other = colleague(at, "supply_review", link)
    assert other.slider(key="sr_prebuild").value == 0
    assert metrics(other)["Units short after pre-build"] == short
    assert other.query_params == link  # the colleague's address bar is the same link


def test_a_link_made_at_the_defaults_opens_at_the_defaults_whatever_is_saved(app):
    shrink_capacity(app, 0.7)
    at = open_page(app, "supply_review")
    link = dict(at.query_params)
    short = metrics(at)["Units short after pre-build"]
    assert "pb" not in link and short == supply_headline(engine(at))["Units short after pre-build"]
    plan_settings.save(app_workspace(at), {"prebuild_months": 4}, "someone else")

    other = colleague(at, "supply_review", link)
    assert other.slider(key="sr_prebuild").value == 2
    assert metrics(other)["Units short after pre-build"] == short
    assert "say pre-build 4 months" in texts(other)
    bare = colleague(at, "supply_review", {})  # no link: the saved plan settings
    assert bare.slider(key="sr_prebuild").value == 4
    assert bare.query_params["pb"] == "4"


def test_a_tampered_plan_setting_falls_back_with_the_link_message(app):
    with Workspace(app.workspace_path) as ws:
        fp = links.fingerprint(ws)
    at = colleague(app, "supply_review", {"pb": "lots", "fp": fp})
    assert at.slider(key="sr_prebuild").value == 2
    assert "Parts of the link were ignored: parameter 'pb' \\(pre\\-build months\\) must be a whole number from 0 " \
           "to 6; the default 2 is used" in texts(at)
    at = colleague(app, "inventory", {"xc": "99", "sl": "100"})
    assert at.slider(key="inv_excess_cover").value == 24
    assert at.selectbox(key="inv_service_level").value == 0.999


def test_saving_the_plan_settings_makes_the_board_pack_use_them(app):
    shrink_capacity(app, 0.7)
    at = open_page(app, "supply_review")
    assert at.button(key="plan_settings_save").disabled  # the page shows the saved settings already
    at.slider(key="sr_prebuild").set_value(0).run()
    at.switch_page("pages/inventory.py").run()
    at.slider(key="inv_excess_cover").set_value(3).run()
    at.selectbox(key="inv_service_level").set_value(0.99).run()
    assert not at.exception
    assert "This view uses pre-build 0 months · excess beyond 3 months · service level 99%" in texts(at)
    at.button(key="plan_settings_save").click().run()
    assert not at.exception
    assert "This view uses" not in texts(at) and at.button(key="plan_settings_save").disabled

    ws = app_workspace(at)
    assert plan_settings.saved(ws) == {"prebuild_months": 0, "excess_cover_months": 3.0, "service_level": 0.99}
    events = ws.query("SELECT kind, subject, author FROM audit_log WHERE subject = ?", [plan_settings.PLAN_SETTINGS])
    assert events.values.tolist() == [["setting", plan_settings.PLAN_SETTINGS, "planner"]]  # one audited write
    run = forecast.load_run(ws, forecast.saved_settings(ws))
    inputs = plan.PlanInputs.from_workspace(ws, consensus.load_consensus(ws, run.run_key))
    assert (inputs.prebuild_months, inputs.excess_cover_months, inputs.service_level) == (0, 3.0, 0.99)
    r = engine(at, prebuild_months=0, excess_cover_months=3.0, service_level=0.99)
    assert_shows(at, inventory_headline(r))
    content = pack.gather(ws)
    assert content.plan_kpis["units_short"] == pytest.approx(r.kpis["units_short"])
    assert content.plan_kpis["units_short"] != pytest.approx(engine(at).kpis["units_short"])
    at.switch_page("pages/supply_review.py").run()
    assert metrics(at)["Units short after pre-build"] == units(content.plan_kpis["units_short"])


def test_a_viewer_cannot_save_the_plan_settings(app, monkeypatch):
    app.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
                           "client_id": "id", "client_secret": "secret",
                           "server_metadata_url": "https://id.example.com/.well-known/openid-configuration"}
    app.secrets["sop"] = {"roles": {"planner": ["pat@example.com"], "default": "viewer"}}
    app.user = {"email": "vic@example.com", "is_logged_in": True}
    try:
        at = open_page(app, "supply_review")
        at.slider(key="sr_prebuild").set_value(0).run()
        assert at.button(key="plan_settings_save").disabled
        monkeypatch.setattr("pages.shell.plan_view.may", lambda kind: True)  # a replayed click
        at.run()
        at.button(key="plan_settings_save").click().run()
        assert any("not permitted" in e.value for e in at.error), [e.value for e in at.error]
        assert plan_settings.saved(app_workspace(at)) == plan.DEFAULTS
    finally:
        access.enable(False)
        access.set_actor(None)


# -- inventory -----------------------------------------------------------------------------------------
def test_inventory_headline_matches_engine(app):
    at = open_page(app, "inventory")
    r = engine(at)
    assert_shows(at, inventory_headline(r))
    table = at.dataframe[0].value
    assert len(table) == len(r.exceptions)
    assert "safety_source" in table.columns


def test_inventory_excess_setting_and_sku_chart(app):
    at = open_page(app, "inventory")
    at.slider(key="inv_excess_cover").set_value(3).run()
    assert not at.exception
    r = engine(at, excess_cover_months=3)
    assert metrics(at)["Excess stock at cost"] == inventory_headline(r)["Excess stock at cost"]
    computed = r.safety.loc[r.safety["source"] == "computed", ["sku"]].merge(
        r.projection[["sku", "family"]].drop_duplicates(), on="sku").iloc[0]
    at.selectbox(key="inv_family").set_value(computed["family"]).run()
    at.selectbox(key="inv_sku").set_value(computed["sku"]).run()
    assert not at.exception
    chart = at.get("plotly_chart")[0].proto.spec
    assert "Safety stock (computed)" in chart


# -- financials --------------------------------------------------------------------------------------------
def test_financials_headline_matches_engine(app):
    at = open_page(app, "financials")
    shown = metrics(at)
    r = engine(at)
    k = r.kpis
    assert shown[f"Full-year outlook {r.year}"] == money(k["revenue"])
    assert shown[f"Annual plan {r.year}"] == money(k["plan_revenue"])
    assert shown["Gap to annual plan"] == delta_money(k["gap_to_plan"])
    assert shown["Gross margin %"] == pct(k["gross_margin_pct"])
    assert k["gap_to_plan"] < 0 and "below the annual plan" in texts(at)
    table = at.dataframe[0].value
    total = table[table["family"] == "Total"].iloc[0]
    assert total["outlook_revenue"] == pytest.approx(k["revenue"])
    assert total["gap_pct"] == pytest.approx(k["gap_to_plan_pct"] * 100)  # shown in percent
    assert total["margin_pct"] == pytest.approx(k["gross_margin_pct"] * 100)
    steps = r.bridge["step"].tolist()
    assert steps[0] == "Annual plan" and steps[-1] == "Outlook" and "Supply constraint" in steps


def test_financials_family_filter(app):
    at = open_page(app, "financials")
    at.selectbox(key="fin_family").set_value("Cookware").run()
    assert not at.exception


# -- shared: one evaluation for the three pages, and the empty states --------------------------------------
def test_three_pages_share_one_cached_evaluation(app, monkeypatch):
    calls = []
    real = plan.evaluate
    monkeypatch.setattr(plan, "evaluate", lambda inputs, *a, **kw: calls.append(1) or real(inputs, *a, **kw))
    at = open_page(app, "supply_review")
    at.run()
    for page in ("inventory", "financials", "supply_review"):
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception
    assert len(calls) == 1


def _drop(app, table: str) -> None:
    """Drop a table of the demo's data as if the company were one's own (a demo workspace gets its tables back)."""
    from sop_core.intake import company

    with Workspace(app.workspace_path) as ws:
        ws.set_setting(company.SETTING, {"kind": company.OWN, "name": "Test", "demo_end": None}, "test")
        ws.execute(f'DROP TABLE "{table}"')


@pytest.mark.parametrize("page, table", [("supply_review", "capacity"), ("inventory", "inventory"),
                                         ("supply_review", "products")])
def test_page_says_which_table_is_missing(app, page, table):
    _drop(app, table)
    at = open_page(app, page)
    assert at.info[0].value.startswith("Not checked: ")
    assert f"needs the {table} table — load it on the Data page" in at.info[0].value
    assert at.download_button[0].proto.label == f"Example: the demo company's {table}.csv"
    assert at.get("page_link")[0].proto.page == "data"
    assert not at.metric


def test_financials_without_an_annual_plan_shows_the_outlook_and_says_the_comparison_is_not_checked(app):
    _drop(app, "plan")
    at = open_page(app, "financials")
    m = metrics(at)
    assert m["Annual plan 2026"] == "Not checked" and m["Gap to annual plan"] == "Not checked"
    assert m["Full-year outlook 2026"].startswith("$") and m["Full-year outlook 2026"] != "$0"
    body = texts(at)
    assert "Comparison with the annual plan: not checked — load plan (revenue_plan for 2026) for these families " \
        "(4 families: no plan table loaded)." in body, body
    assert "Not checked: no annual plan revenue for 2026 to start the bridge from" in body
    assert not at.success and "fin_bridge" not in [c.key for c in at.get("plotly_chart") if hasattr(c, "key")]
    shown = next(d.value for d in at.dataframe)
    assert "plan_revenue" not in shown.columns and "gap" not in shown.columns  # no column of zeros and blanks


@pytest.mark.parametrize("page", ["supply_review", "inventory", "financials"])
def test_page_without_forecast_run_sends_to_demand_review(app, page):
    with Workspace(app.workspace_path) as ws:
        forecast.save_settings(ws, forecast.ForecastSettings(horizon=12))  # no run for these settings
    at = open_page(app, page)
    assert "Run the demand review first" in at.info[0].value
    assert at.get("page_link")[0].proto.page == "demand_review"
    assert not at.metric


def test_financials_next_year_shows_the_supply_constraint(app):
    at = open_page(app, "financials")
    assert [str(o) for o in at.radio(key="fin_year").options] == ["2026", "2027"]
    at.radio(key="fin_year").set_value(2027).run()
    assert not at.exception
    ws = app_workspace(at)
    run = forecast.load_run(ws, forecast.saved_settings(ws))
    r = plan.evaluate(plan.PlanInputs.from_workspace(ws, consensus.load_consensus(ws, run.run_key),
                                                     prebuild_months=2, excess_cover_months=6.0), 2027)
    assert_shows(at, {"Full-year outlook 2027": money(r.kpis["revenue"]),
                      "Gap to annual plan": delta_money(r.kpis["gap_to_plan"])})
    supply_step = float(r.bridge.set_index("step").loc["Supply constraint", "value"])
    assert supply_step < 0  # the ASSY-2 overload of mid-2027 costs revenue in 2027
