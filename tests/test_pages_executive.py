"""The Executive S&OP page's opening on the demo company (streamlit.testing.v1.AppTest).

What an executive reads first: whether a plan of record was approved this cycle, the outlook
against the annual plan, a few headline numbers that nothing below repeats, and the decisions
needed (the decisions asked for in pre-S&OP, then the Pre-S&OP page's top exceptions), each with
its money and a link to the page that explains it. Numbers are recomputed through the engines.
"""
from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from apptest_support import app, app_workspace, demo_workspace_file, open_page, texts  # noqa: F401

from sop_core.demand import consensus, forecast, overrides
from sop_core.formatting import delta_money, money
from sop_core.meetings import agenda, decisions, versions
from sop_core.planning import plan, scenarios
from sop_core.store.workspace import Workspace


def engine(ws: Workspace, scenario: scenarios.Scenario | None = None) -> plan.PlanResult:
    """The app workspace's baseline plan (or with a scenario applied), evaluated the way the page should."""
    run = forecast.load_run(ws, forecast.saved_settings(ws))
    inputs = plan.PlanInputs.from_workspace(ws, consensus.load_consensus(ws, run.run_key))
    return plan.evaluate_scenario(inputs, scenario)


def page_links(at) -> list[tuple[str, str]]:
    """(label, page url path) of every st.page_link on the page."""
    return [(p.proto.label, p.proto.page) for p in at.get("page_link")]


def test_status_line_without_an_approved_plan_and_the_outlook_sentence(app):
    at = open_page(app, "executive")
    warnings = [w.value for w in at.warning]
    assert any(w.startswith("No plan approved for this cycle yet") for w in warnings), warnings
    assert not at.success or not any("Plan of record" in s.value for s in at.success)
    r = engine(app_workspace(at))
    sentence = agenda.plan_vs_annual(r.kpis, r.bridge, r.year)
    shown = [m.value.replace("\\", "") for m in at.markdown]  # as rendered: Markdown escapes dropped
    assert f"**{sentence}**" in shown, shown
    gap = delta_money(r.kpis["gap_to_plan"])
    assert gap.startswith("−") and f"{money(r.kpis['revenue'])} against the annual plan of " \
        f"{money(r.kpis['plan_revenue'])}: {gap} (" in sentence  # the demo's outlook is below its annual plan


def test_status_line_names_the_plan_of_record_once_approved_this_cycle(app):
    at = open_page(app, "executive")  # stores the consensus
    ws = app_workspace(at)
    v = versions.approve(ws, engine(ws), name="November 2026 S&OP", scenario_id=None, fingerprints={},
                         approved_by="ceo")
    at.run()
    assert not at.exception, at.exception
    status = [s.value.replace("\\", "") for s in at.success]
    assert f"Plan of record: {v.label}, approved by ceo on {v.approved_at:%d %b %Y}." in status, status
    assert not any("No plan approved for this cycle" in w.value for w in at.warning)


def test_decisions_needed_shows_the_open_decisions_and_the_top_exception_with_its_money(app):
    due = date.today() + timedelta(days=14)
    with Workspace(app.workspace_path) as ws:
        sc = scenarios.create(ws, "Tents 3% cheaper", {"price": [{"family": "Tents", "pct": -3}]}, "cfo")
        priced = decisions.record(ws, title="Cut tent prices by 3%", owner="CFO", due_date=due,
                                  scenario_id=sc.scenario_id, author="ana")
        decisions.record(ws, title="Approve overtime on ASSY-2", owner="COO", due_date=due, author="ana")
    at = open_page(app, "executive")
    ws = app_workspace(at)
    shown = "\n".join(m.value.replace("\\", "") for m in at.markdown)
    base = engine(ws)
    effect = engine(ws, sc).kpis["revenue"] - base.kpis["revenue"]
    assert effect < 0
    assert (f"**Decide:** Cut tent prices by 3% — CFO to decide by {due:%d %b %Y} · option “Tents 3% cheaper”: "
            f"{delta_money(effect)} on the {base.year} outlook") in shown, shown
    assert f"**{delta_money(effect)}**" in shown
    assert f"**Decide:** Approve overtime on ASSY-2 — COO to decide by {due:%d %b %Y} · no option attached" in shown

    items = agenda.agenda(base, overrides.history(ws), ws.table("products"))  # the Pre-S&OP page's ranking
    top = items.iloc[0]
    assert top["kind"] == "revenue gap" and top["money"] > 0
    assert f"**Revenue gap:** {top['subject']} — {top['detail']}" in shown
    assert f"**{money(top['money'])}**" in shown
    kinds = ("**Decide:**", *(f"**{kind.capitalize()}:**" for kind in set(items["kind"])))  # as the page writes them
    lines = [m for m in shown.splitlines() if m.startswith(kinds)]
    assert len(lines) == 2 + min(len(items), agenda.TOP_EXCEPTIONS)
    linked = {page for _, page in page_links(at)}
    assert {"pre_sop", "financials", "supply_review"} <= linked, page_links(at)

    # a decision taken with an approved plan is no longer needed
    v = versions.approve(ws, base, name="November 2026 S&OP", scenario_id=None, fingerprints={}, approved_by="ceo")
    decisions.link_version(ws, [priced], v.version_id, "ceo")
    at.run()
    assert not at.exception, at.exception
    shown = "\n".join(m.value.replace("\\", "") for m in at.markdown)
    assert "Cut tent prices by 3%" not in shown and "Approve overtime on ASSY-2" in shown


def test_headline_metrics_are_few_never_repeated_and_carry_no_label_as_a_delta(app):
    at = open_page(app, "executive")
    labels = [m.label for m in at.metric]
    assert not [label for label, n in Counter(labels).items() if n > 1], labels
    scorecard = next(e for e in at.expander if e.label == "Full KPI scorecard")
    assert not scorecard.proto.expanded  # collapsed: the Scorecard page has it anyway
    inside = {m.label for m in scorecard.metric}
    headline = [label for label in labels if label not in inside]
    assert headline == ["KPIs on target", "Units short", "Projected stockouts"]
    assert all(m.delta in (None, "") for m in at.metric if m.label in headline)
    k = engine(app_workspace(at)).kpis
    assert f"{int(k['overloaded_resource_months'])} overloaded resource-months" in texts(at)
    assert not {"Gross margin", "Gap to the annual plan"} & set(labels)  # the scorecard's, not repeated


def test_options_say_when_no_scenario_exists_and_link_to_the_scenarios_page(app):
    at = open_page(app, "executive")
    hint = "No scenarios prepared yet — build them on the Scenarios page."
    assert hint in [i.value for i in at.info]
    assert ("Scenarios", "scenarios") in page_links(at)
    assert at.multiselect(key="exec_cmp").disabled

    with Workspace(app.workspace_path) as ws:
        scenarios.create(ws, "Tents 3% cheaper", {"price": [{"family": "Tents", "pct": -3}]}, "cfo")
    at.run()
    assert not at.exception, at.exception
    assert hint not in [i.value for i in at.info]
    assert not at.multiselect(key="exec_cmp").disabled


# -- chart first: the plan in charts, what changed as waterfalls, whole numbers -----------------------------------
CHART_KEYS = ("exec_revenue", "exec_plan_bridge", "exec_family_supply")  # keyed exec_chart_… on the page


def charts_by_key(at) -> dict[str, dict]:
    """The page's plotly figures by the key the page gave them (the end of the element id)."""
    import json

    out = {}
    for c in at.get("plotly_chart"):
        key = next((k for k in ("exec_revenue", "exec_plan_bridge", "exec_family_supply", "exec_bridge_units",
                                "exec_bridge") if c.proto.id.endswith(k.replace("exec_", "exec_chart_", 1)
                                                                          if k in CHART_KEYS else k)), c.proto.id)
        out[key] = json.loads(c.proto.spec)
    return out


def save_override(ws: Workspace, family: str = "Tents", pct: float = 10.0) -> None:
    run = forecast.load_run(ws, forecast.saved_settings(ws))
    overrides.save_override(ws, run.run_key, run.forecast, overrides.OverrideInput(
        family=family, period_from="2027-01-01", period_to="2027-06-01", kind="percent", value=pct,
        reason="Promotion"), author="alice")


def test_the_page_opens_on_charts_of_revenue_the_bridge_and_supply_by_family(app):
    at = open_page(app, "executive")
    figs = charts_by_key(at)
    assert {"exec_revenue", "exec_plan_bridge", "exec_family_supply"} <= set(figs), list(figs)
    names = [t.get("name") for t in figs["exec_revenue"]["data"]]
    assert names[:2] == ["Actual", "Outlook"] and "Annual plan" in names
    assert "Last approved plan" not in names  # nothing approved yet
    r = engine(app_workspace(at))
    assert figs["exec_plan_bridge"]["data"][0]["text"][0] == money(r.kpis["plan_revenue"])
    heads = [h.value for h in at.subheader]
    assert heads.index(f"Revenue by month, {r.year}") < heads.index("Decisions needed")  # chart first
    assert "exec_bridge" not in figs  # no approved plan: no "what changed"


def test_what_changed_is_a_waterfall_by_family_with_whole_units_and_whole_dollars(app):
    import re

    at = open_page(app, "executive")
    ws = app_workspace(at)
    v = versions.approve(ws, engine(ws), name="November 2026 S&OP", scenario_id=None, fingerprints={},
                         approved_by="ceo")
    at.run()
    assert not at.exception, at.exception
    assert f"No change since {v.label}" in "\n".join(s.value.replace("\\", "") for s in at.success)
    assert "exec_bridge" not in charts_by_key(at)  # no two identical grey bars: said in words

    save_override(ws, "Tents", 10.0)
    at.run()
    assert not at.exception, at.exception
    figs = charts_by_key(at)
    assert {"exec_bridge", "exec_bridge_units"} <= set(figs)
    revenue, volume = figs["exec_bridge"]["data"][0], figs["exec_bridge_units"]["data"][0]
    assert revenue["x"][0] == "v1 approved" and revenue["x"][-1] == "Current plan" and "Tents" in revenue["x"]
    assert all(re.fullmatch(r"[+−]?[\d,]+", t) for t in volume["text"]), volume["text"]  # whole units
    assert all(re.fullmatch(r"[+−]?\$[\d.]+[KMB]?", t) for t in revenue["text"]), revenue["text"]
    assert "Last approved plan" in [t.get("name") for t in figs["exec_revenue"]["data"]]
    table = next(df.value for df in at.dataframe if list(df.value.columns)[:2] == ["Family", "Units"])
    cells = table.astype(str).to_numpy().ravel().tolist()
    assert "None" not in cells and "nan" not in cells
    assert all(re.fullmatch(r"[+−]?[\d,]+", c) for c in table["Units"].tolist() + table["Δ units"].tolist())
    assert all(re.fullmatch(r"[+−]?\$[\d,]+", c) for c in table["Revenue"].tolist() + table["Δ revenue"].tolist())
    assert table.iloc[-1]["Family"] == "Total" and table.iloc[0]["Family"] == "Tents"
    for df in at.dataframe:  # no cell of any table on the page reads "None"
        assert "None" not in df.value.astype(str).to_numpy().ravel().tolist(), df.value


def test_a_snapshot_link_shows_the_numbers_as_of_when_it_was_made_after_a_later_override(app):
    from streamlit.testing.v1 import AppTest

    from sop_core import clock
    from sop_core.meetings import links

    at = open_page(app, "executive")
    before = {m.label: m.value for m in at.metric if m.label == "Units short"}
    at.button(key="share_make_snapshot").click().run()
    assert not at.exception, at.exception
    code = [c.value for c in at.code if "snap=" in c.value]
    assert len(code) == 1, [c.value for c in at.code]
    snap_id = code[0].split("snap=")[1].split("&")[0]
    ws = app_workspace(at)
    snap = links.get_snapshot(ws, snap_id)
    assert snap is not None and snap.page == "executive" and snap.as_of == clock.today()
    kinds = [b.get("chart") or b["kind"] for b in snap.blocks]
    assert {"revenue_by_month", "bridge", "family_supply", "metrics"} <= set(kinds), kinds

    save_override(ws, "Tents", 10.0)  # a late override, after the pre-read went out
    reader = AppTest.from_file(str(app._script_path), default_timeout=120)
    reader.query_params.update({"snap": snap_id, "fp": snap.fingerprint})
    reader.switch_page("pages/executive.py")
    reader.run()
    assert not reader.exception, reader.exception
    shown = "\n".join(i.value.replace("\\", "") for i in reader.info)
    assert f"Snapshot {snap.as_of_text}" in shown, shown
    assert {m.label: m.value for m in reader.metric if m.label == "Units short"} == before  # the old number
    assert len(reader.get("plotly_chart")) >= 3  # its charts, drawn again from the stored frames
    assert not [b for b in reader.button if b.label == "Approve and freeze this plan"]  # not today's page
    reader.button(key="share_compare").click().run()  # compare with today: the live page under the snapshot
    assert not reader.exception, reader.exception
    assert [e for e in reader.expander if e.label.startswith("Snapshot as of")]
    assert "Below: today's data" in "\n".join(i.value for i in reader.info)
    then_today = next(df.value for df in reader.dataframe if "Today" in df.value.columns)  # then and today
    row = then_today.set_index("").loc["Units short"]
    shown_now = [m.value for m in reader.metric if m.label == "Units short"]  # the snapshot's and today's
    assert row.iloc[0] == before["Units short"] and row["Today"] in shown_now and row["Today"] != row.iloc[0]


def test_a_snapshot_shows_stored_names_as_text_and_a_broken_part_as_a_note(app):
    import json

    import pandas as pd
    from streamlit.testing.v1 import AppTest

    from sop_core import escape
    from sop_core.meetings import links

    at = open_page(app, "executive")
    ws = app_workspace(at)
    hostile = "<img src=x onerror=alert(1)> **bold** [click](https://evil.example)"
    family = pd.DataFrame({"family": [hostile], "demand": [10.0], "supplied": [9.0], "short": [1.0]})
    state, snap = links.save_snapshot(ws, links.ViewState(page="executive"), [
        {"kind": "text", "text": hostile, "style": "bold"},
        {"kind": "metrics", "items": [{"label": "Units short", "value": "1", "caption": hostile}]},
        {"kind": "chart", "chart": "family_supply", "title": hostile, "frame": links.frame_data(family)},
        {"kind": "chart", "chart": "no_such_chart", "frame": links.frame_data(family)}], "alice")
    save_override(ws, "Tents", 5.0)
    reader = AppTest.from_file(str(app._script_path), default_timeout=120)
    reader.query_params.update({"snap": snap.snapshot_id, "fp": snap.fingerprint})
    reader.switch_page("pages/executive.py")
    reader.run()
    assert not reader.exception, reader.exception
    shown = [m.value for m in reader.markdown] + [c.value for c in reader.caption]
    assert f"**{escape.plain(hostile)}**" in shown and escape.plain(hostile) in shown, shown
    assert hostile not in shown
    spec = json.loads(reader.get("plotly_chart")[0].proto.spec)
    assert spec["data"][0]["y"] == ["&lt;img src=x onerror=alert(1)&gt; **bold** [click](https://evil.example)"]
    assert any("This part of the snapshot can't be shown" in c.value for c in reader.caption)
