"""Every page runs on the demo company with no exception (streamlit.testing.v1.AppTest)."""
from __future__ import annotations

import pandas as pd
import pytest
from apptest_support import app, app_workspace, demo_workspace_file  # noqa: F401  (fixtures)
from streamlit.testing.v1 import AppTest

from sop_core import escape
from sop_core.demand import consensus, forecast, review
from sop_core.demand.history import demand_history
from sop_core.formatting import pct
from sop_core.store.workspace import Workspace


def _open(at: AppTest, page: str) -> AppTest:
    at.run()
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, at.exception
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_home_runs(app):
    at = app
    at.run()
    assert not at.exception


def test_data_page_shows_health_of_the_demo(app):
    at = _open(app, "data")
    assert _metrics(at)["Tables loaded"] == "7 of 7"
    assert _metrics(at)["Sales history through"] == "Oct 2026"


def test_demand_review_headline_matches_engine(app):
    at = _open(app, "demand_review")
    engine = _engine_headline(at)
    m = _metrics(at)
    assert m["Consensus units, next 12 months"] == f"{engine.next_12:,.0f}"
    assert m["Against the annual plan"] == f"{engine.vs_plan * 100:+.1f}%".replace("-", "−")


def _engine_headline(at: AppTest, scope: review.Scope | None = None) -> review.DemandHeadline:
    from pages.shell.state import _open as open_ws

    ws = open_ws(str(at.workspace_path))
    run = forecast.load_run(ws, forecast.saved_settings(ws))
    cons = consensus.load_consensus(ws, run.run_key)
    return review.headline(demand_history(ws), cons, ws.table("plan"), run.last_actual, scope or review.Scope())


def test_demand_review_slider_moves_consensus_and_save_persists(app):
    at = _open(app, "demand_review")
    at.selectbox(key="dr_family").set_value("Tents").run()
    before = _metrics(at)["Consensus in these periods"]
    at.slider(key="ov_pct").set_value(10).run()
    preview = _metrics(at)["Consensus in these periods"]
    assert preview != before
    total_before = _metrics(at)["Consensus units, next 12 months"]
    at.selectbox(key="ov_reason").set_value("Promotion").run()
    at.button(key="ov_save").click().run()
    assert not at.exception
    assert _metrics(at)["Consensus units, next 12 months"] != total_before
    assert _metrics(at)["Consensus units, next 12 months"] == f"{_engine_headline(at, review.Scope('Tents')).next_12:,.0f}"



def test_data_page_upload_shows_the_validation_report_and_loads(app):
    at = _open(app, "data")
    good = b"Order Date,Product ID,Region,Qty\n03/01/26,TN-1001,North,5\n15/01/26,TN-1002,South,7\n"
    at.file_uploader(key="uploads").set_value(("erp_sales.csv", good, "text/csv")).run()
    assert not at.exception
    assert not at.error, [e.value for e in at.error]
    # over the demo, a user's file starts their company: never a "Load" beside the demo's tables
    assert not any(b.label == "Load into sales" for b in at.button)
    assert any("holds the demo company" in i.value for i in at.info), [i.value for i in at.info]
    start = next(b for b in at.button if b.label == "Start my company with this file")
    assert not start.disabled
    assert any("Rows read 2 · kept 2" in c.value for c in at.caption)
    start.click().run()
    assert not at.exception
    assert any("Loaded into sales" in s.value for s in at.success)
    assert any("The demo company is set aside in the backup" in s.value for s in at.success), \
        [s.value for s in at.success]
    assert _metrics(at)["Sales history through"] == "Jan 2026"
    assert _metrics(at)["Tables loaded"] == "1 of 7"
    # the next file of one's own company loads as usual
    more = b"Order Date,Product ID,Region,Qty\n03/02/26,TN-1001,North,6\n"
    at.file_uploader(key="uploads").set_value(("erp_sales_feb.csv", more, "text/csv")).run()
    assert not any("holds the demo company" in i.value for i in at.info)
    assert any(b.label == "Load into sales" for b in at.button)


def test_data_page_adds_a_new_month_to_the_sales_and_replaces_only_the_periods_it_covers(app):
    at = _open(app, "data")
    jan = b"Order Date,Product ID,Region,Qty\n03/01/26,TN-1001,North,5\n15/01/26,TN-1002,South,7\n"
    at.file_uploader(key="uploads").set_value(("erp_sales.csv", jan, "text/csv")).run()
    next(b for b in at.button if b.label == "Start my company with this file").click().run()
    feb = b"Order Date,Product ID,Region,Qty\n2026-02-03,TN-1001,North,6\n"
    at.file_uploader(key="uploads").set_value(("erp_sales_feb.csv", feb, "text/csv")).run()
    mode = next(r for r in at.radio if r.label == "How to load")
    assert mode.value == "Replace the table"  # the whole table unless the planner says otherwise
    mode.set_value("Add these periods").run()
    add = next(b for b in at.button if b.label == "Add to sales")
    add.click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    said = escape.plain("Added 1 row to sales for 1 period (2026-02-03); 0 rows of those periods replaced, 2 rows of "
                        "other periods kept.")
    assert any(s.value == said for s in at.success), [s.value for s in at.success]
    assert app_workspace(at).scalar("SELECT sum(quantity) FROM sales") == 18  # January's 12 kept, February's 6 added
    assert _metrics(at)["Sales history through"] == "Feb 2026"
    # February again, corrected: only that day is replaced
    fixed = b"Order Date,Product ID,Region,Qty\n2026-02-03,TN-1001,North,9\n"
    at.file_uploader(key="uploads").set_value(("erp_sales_feb_fixed.csv", fixed, "text/csv")).run()
    next(r for r in at.radio if r.label == "How to load").set_value("Add these periods").run()
    next(b for b in at.button if b.label == "Add to sales").click().run()
    assert any(escape.plain("1 row of those periods replaced") in s.value for s in at.success), \
        [s.value for s in at.success]
    assert app_workspace(at).scalar("SELECT sum(quantity) FROM sales") == 21


def test_data_page_rejects_a_bad_file_and_changes_nothing(app):
    at = _open(app, "data")
    bad = b"Order Date,Product ID,Qty\n2026-01-03,TN-1001,-5\n2026-01-04,TN-1002,n/a\n"
    at.file_uploader(key="uploads").set_value(("bad.csv", bad, "text/csv")).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any(escape.plain("bad.csv") in e and "Qty" in e for e in errors), errors  # file data: shown as text
    assert _load_button(at).disabled
    assert _metrics(at)["Sales history through"] == "Oct 2026"


def _select(at: AppTest, label: str, value: str) -> AppTest:
    """Choose `value` in the selectbox labelled `label` and rerun."""
    next(s for s in at.selectbox if s.label == label).set_value(value).run()
    assert not at.exception, at.exception
    return at


def _stored_sales(at: AppTest) -> tuple[str, pd.DataFrame]:
    """The sales table as the app stored it, and its content fingerprint."""
    from apptest_support import app_workspace

    ws = app_workspace(at)
    return ws.fingerprint(["sales"]), ws.query("SELECT date, sku, quantity FROM sales")


def _load_button(at: AppTest):
    """The load button of the one uploaded file ('Load' until the table is known; 'Start my company' over the demo)."""
    return next(b for b in at.button if b.key.startswith(("load_", "start_")))


def test_data_page_reads_a_windows_1252_file_once_its_encoding_is_chosen(app):
    at = _open(app, "data")
    stored_before, _ = _stored_sales(at)
    cp1252 = "Order Date,Product ID,Qty\n2026-01-03,Café-1,5\n2026-01-04,TN-1002,7\n".encode("cp1252")
    at.file_uploader(key="uploads").set_value(("excel_export.csv", cp1252, "text/csv")).run()
    assert not at.exception
    # detection reads UTF-8 only: the error points at the encoding choice
    assert any(escape.plain("not UTF-8 (line 2 has byte 0xE9)") in e.value for e in at.error), \
        [e.value for e in at.error]
    assert any("**Encoding**" in i.value for i in at.info), [i.value for i in at.info]
    assert next(s for s in at.selectbox if s.label == "Encoding").value == "Detect automatically"
    # a wrong choice: still rejected, nothing stored
    _select(at, "Encoding", "UTF-8")
    assert any(escape.plain("not UTF-8") in e.value for e in at.error)
    assert _load_button(at).disabled
    _select(at, "Encoding", "Windows-1252 (Excel on Windows)")
    assert not at.error, [e.value for e in at.error]
    assert not any("**Encoding**" in i.value for i in at.info)
    assert any(escape.plain("read as cp1252 (chosen)") in c.value for c in at.caption)
    assert _stored_sales(at)[0] == stored_before
    _load_button(at).click().run()
    assert not at.exception, at.exception
    assert any("Loaded into sales" in s.value for s in at.success)
    skus = set(_stored_sales(at)[1]["sku"])
    assert skus == {"Café-1", "TN-1002"}


def test_data_page_reads_decimal_commas_once_chosen_and_a_wrong_choice_stores_nothing(app):
    at = _open(app, "data")
    stored_before, _ = _stored_sales(at)
    european = b"Order Date;Product ID;Qty\n2026-01-03;TN-1001;1.234,5\n2026-01-04;TN-1002;7\n"
    at.file_uploader(key="uploads").set_value(("eu_sales.csv", european, "text/csv")).run()
    assert not at.exception
    assert any("Qty" in e.value and escape.plain("'1.234,5'") in e.value for e in at.error), \
        [e.value for e in at.error]
    assert any("**Decimal separator**" in i.value for i in at.info), [i.value for i in at.info]
    assert _load_button(at).disabled
    # wrong delimiters (ragged rows, one column): the errors point at the delimiter choice, nothing stored
    _select(at, "Delimiter", "Comma")
    assert any("ragged row" in e.value and "check the delimiter" in e.value for e in at.error), \
        [e.value for e in at.error]
    assert any("**Delimiter**" in i.value for i in at.info), [i.value for i in at.info]
    assert _load_button(at).disabled
    _select(at, "Delimiter", "Tab")
    assert any("could not tell which table" in e.value for e in at.error), [e.value for e in at.error]
    assert next(s for s in at.selectbox if s.label == "Table").value is None
    assert any("**Delimiter**" in i.value for i in at.info), [i.value for i in at.info]
    _select(at, "Table", "sales")
    assert any("read as a single column" in e.value for e in at.error), [e.value for e in at.error]
    assert any("**Delimiter**" in i.value for i in at.info), [i.value for i in at.info]
    assert _load_button(at).disabled
    _select(at, "Delimiter", "Semicolon")
    _select(at, "Decimal separator", "Comma (1.234,5)")
    assert not at.error, [e.value for e in at.error]
    assert not [i for i in at.info if "demo company" not in i.value], [i.value for i in at.info]
    assert _stored_sales(at)[0] == stored_before
    _load_button(at).click().run()
    assert not at.exception, at.exception
    _, sales = _stored_sales(at)
    assert sorted(zip(sales["sku"], sales["quantity"])) == [("TN-1001", 1234.5), ("TN-1002", 7.0)]


def test_data_page_offers_file_options_only_for_text_files(app):
    at = _open(app, "data")
    frame = pd.DataFrame({"Order Date": ["2026-01-03"], "Product ID": ["TN-1001"], "Qty": [5]})
    at.file_uploader(key="uploads").set_value(("sales.parquet", frame.to_parquet(), "application/octet-stream")).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    labels = {s.label for s in at.selectbox}
    assert "Table" in labels and not labels & {"Encoding", "Delimiter", "Decimal separator"}


def test_scorecard_page_shows_every_kpi_against_the_engine(app):
    at = _open(app, "scorecard")
    m = _metrics(at)
    from pages.shell.scorecard import value_text
    from pages.shell.state import _open as open_ws
    from sop_core.planning import kpis, plan

    ws = open_ws(str(at.workspace_path))
    run = forecast.load_run(ws, forecast.saved_settings(ws))
    result = plan.evaluate(plan.PlanInputs.from_workspace(ws, consensus.load_consensus(ws, run.run_key)))
    cards = kpis.plan_scorecard(ws, forecast.backtest_points(ws, forecast.saved_settings(ws)), result)
    for k in cards:
        assert m[k.label] == value_text(k), k.key
    assert m["Not checked"] == "0"
    otif = next(k for k in cards if k.key == "otif")
    assert otif.value == pytest.approx(0.914, abs=5e-4) and m["OTIF"] == pct(otif.latest)  # the tile: latest month


def test_pre_sop_page_ranks_exceptions_and_records_a_decision(app):
    at = _open(app, "pre_sop")
    m = _metrics(at)
    assert m["Exceptions to decide"] != "0"  # the demo has a revenue gap and a tent shortfall
    table = next(d.value for d in at.dataframe if "money" in d.value.columns)
    assert table["money"].str.match(r"^−?\$[\d.,]+[KM]?$").all(), table["money"].tolist()  # money, as elsewhere
    assert not table["units"].isin(["None", "nan"]).any() and (table["units"] == "—").any()  # a gap has no units
    at.text_input[0].set_value("Approve overtime on ASSY-2")
    at.text_input[1].set_value("COO")
    next(b for b in at.button if b.label == "Add decision").click().run()
    assert not at.exception, at.exception
    assert _metrics(at)["Open decisions"] == "1"


def test_executive_page_approves_a_version_and_links_the_decision(app):
    at = _open(app, "pre_sop")
    at.text_input[0].set_value("Approve overtime on ASSY-2")
    at.text_input[1].set_value("COO")
    next(b for b in at.button if b.label == "Add decision").click().run()
    at.switch_page("pages/executive.py")
    at.run()
    assert not at.exception, at.exception
    assert any("No plan approved yet" in c.value for c in at.caption)
    at.multiselect[1].set_value([at.multiselect[1].options[0]])  # the open decision
    next(b for b in at.button if b.label == "Approve and freeze this plan").click().run()
    assert not at.exception, at.exception
    from pages.shell.state import _open as open_ws
    from sop_core.meetings import decisions, versions

    ws = open_ws(str(at.workspace_path))
    v = versions.latest(ws)
    assert v.number == 1 and v.name == "November 2026 S&OP"
    assert any(escape.plain(v.label) in c.value for c in at.caption)
    assert decisions.log(ws)["version_id"].iloc[0] == v.version_id


# -- executive: approving a scenario, and what changed since -------------------------------------------------
def _exec_engine(ws: Workspace, changes: dict | None = None):
    """The engine's plan for the app's workspace (baseline, or with a scenario or changes applied)."""
    from sop_core.planning import plan

    run = forecast.load_run(ws, forecast.saved_settings(ws))
    inputs = plan.PlanInputs.from_workspace(ws, consensus.load_consensus(ws, run.run_key))
    return plan.evaluate_scenario(inputs, changes)


def _plotly_values(data: list | dict) -> list[float]:
    """A figure's data array as numbers (plotly writes numeric arrays as {'bdata': base64, 'dtype': ...})."""
    import base64

    import numpy as np

    if isinstance(data, dict):
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"]).astype(float).tolist()
    return [float(v) for v in data]


def test_executive_page_approves_a_price_scenario_at_the_scenario_prices(app):
    from pages.shell.state import _open as open_ws
    from sop_core.meetings import versions
    from sop_core.planning import scenarios

    with Workspace(app.workspace_path) as ws:
        sc = scenarios.create(ws, "Tents 3% cheaper", {"price": [{"family": "Tents", "pct": -3}]}, "cfo")
    at = _open(app, "executive")
    at.multiselect(key="exec_cmp").set_value([sc.scenario_id]).run()
    next(s for s in at.selectbox if s.label == "Plan to approve").set_value(sc.scenario_id)
    next(b for b in at.button if b.label == "Approve and freeze this plan").click().run()
    assert not at.exception, at.exception
    ws = open_ws(str(at.workspace_path))
    v = versions.latest(ws)
    assert v.number == 1 and v.scenario_id == sc.scenario_id
    shown = _exec_engine(ws, sc).kpis["horizon_revenue_unconstrained"]  # the scenario's plan revenue
    baseline = _exec_engine(ws).kpis["horizon_revenue_unconstrained"]
    assert v.total_revenue == pytest.approx(shown, rel=1e-12)
    assert v.total_revenue < baseline and v.total_revenue != pytest.approx(baseline, rel=1e-6)
    tents = versions.load_version(ws, v.version_id).query("family == 'Tents'")
    assert tents["revenue"].sum() == pytest.approx(
        _exec_engine(ws, sc).valued_plan.query("family == 'Tents'")["revenue"].sum(), rel=1e-12)


def test_executive_page_shows_revenue_and_volume_waterfalls_since_the_last_version(app):
    import json

    from pages.shell.state import _open as open_ws
    from sop_core.formatting import delta_units, units
    from sop_core.meetings import versions

    at = _open(app, "executive")  # stores the consensus
    ws = open_ws(str(at.workspace_path))
    last = _exec_engine(ws, {"demand": [{"family": "Tents", "pct": -10}]})  # last month's plan: fewer tents
    versions.approve(ws, last, name="October S&OP", scenario_id=None, fingerprints={}, approved_by="ceo")
    at.run()
    assert not at.exception, at.exception
    old = versions.load_version(ws, versions.latest(ws).version_id)
    current = versions.plan_lines(_exec_engine(ws))
    figures = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    waterfalls = [f["data"][0] for f in figures if f["data"] and f["data"][0]["type"] == "waterfall"
                  and f["data"][0]["x"][0] == "v1 approved"]  # not the gap bridge (annual plan → outlook)
    assert len(waterfalls) == 2
    revenue, volume = waterfalls
    for trace, measure in ((revenue, "revenue"), (volume, "units")):
        steps = versions.change_bridge(old, current, measure=measure, common=True)  # the months both plans cover
        assert trace["x"][1:-1] == steps["label"].tolist()[1:-1] == ["Tents"]
        assert _plotly_values(trace["y"]) == pytest.approx(steps["value"].tolist())
    assert revenue["hovertemplate"].startswith("$") and not volume["hovertemplate"].startswith("$")
    steps = versions.change_bridge(old, current, measure="units", common=True)
    before, after = steps["value"].iloc[0], steps["value"].iloc[-1]
    assert after > before > 10_000
    headline = f"volume {units(before)} → {units(after)} units ({delta_units(after - before)})"
    shown = " ".join(c.value.replace("\\", "") for c in at.caption)  # as rendered: Markdown escapes dropped
    assert "," in headline and headline in shown, shown
