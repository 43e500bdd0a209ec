"""Every page runs on the demo company with no exception (streamlit.testing.v1.AppTest)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from sop_core import consensus, demo, forecast, review
from sop_core.history import demand_history
from sop_core.workspace import Workspace


from apptest_support import app, demo_workspace_file  # noqa: F401  (fixtures)


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
    assert m["Consensus, next 12 months"] == f"{engine.next_12:,.0f} units"
    assert m["Against the annual plan"] == f"{engine.vs_plan * 100:+.1f}%".replace("-", "−")


def _engine_headline(at: AppTest, scope: review.Scope = review.Scope()) -> review.DemandHeadline:
    from pages.shell.state import _open as open_ws

    ws = open_ws(str(at.workspace_path))
    run = forecast.load_run(ws, forecast.saved_settings(ws))
    cons = consensus.load_consensus(ws, run.run_key)
    return review.headline(demand_history(ws), cons, ws.table("plan"), run.last_actual, scope)


def test_demand_review_slider_moves_consensus_and_save_persists(app):
    at = _open(app, "demand_review")
    at.selectbox(key="dr_family").set_value("Tents").run()
    before = _metrics(at)["Consensus in these periods"]
    at.slider(key="ov_pct").set_value(10).run()
    preview = _metrics(at)["Consensus in these periods"]
    assert preview != before
    total_before = _metrics(at)["Consensus, next 12 months"]
    at.selectbox(key="ov_reason").set_value("Promotion").run()
    at.button(key="ov_save").click().run()
    assert not at.exception
    assert _metrics(at)["Consensus, next 12 months"] != total_before
    assert _metrics(at)["Consensus, next 12 months"] == f"{_engine_headline(at, review.Scope('Tents')).next_12:,.0f} units"



def test_data_page_upload_shows_the_validation_report_and_loads(app):
    at = _open(app, "data")
    good = b"Order Date,Product ID,Region,Qty\n03/01/26,TN-1001,North,5\n15/01/26,TN-1002,South,7\n"
    at.file_uploader(key="uploads").set_value(("erp_sales.csv", good, "text/csv")).run()
    assert not at.exception
    assert not at.error, [e.value for e in at.error]
    load = next(b for b in at.button if b.label == "Load into sales")
    assert not load.disabled
    assert any("Rows read 2 · kept 2" in c.value for c in at.caption)
    load.click().run()
    assert not at.exception
    assert any("Loaded into sales" in s.value for s in at.success)
    assert _metrics(at)["Sales history through"] == "Jan 2026"


def test_data_page_rejects_a_bad_file_and_changes_nothing(app):
    at = _open(app, "data")
    bad = b"Order Date,Product ID,Qty\n2026-01-03,TN-1001,-5\n2026-01-04,TN-1002,n/a\n"
    at.file_uploader(key="uploads").set_value(("bad.csv", bad, "text/csv")).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any("bad.csv" in e and "Qty" in e for e in errors), errors
    load = next(b for b in at.button if b.label == "Load into sales")
    assert load.disabled
    assert _metrics(at)["Sales history through"] == "Oct 2026"


def test_scorecard_page_shows_every_kpi_against_the_engine(app):
    at = _open(app, "scorecard")
    m = _metrics(at)
    from pages.shell.scorecard import value_text
    from pages.shell.state import _open as open_ws
    from sop_core import kpis, plan

    ws = open_ws(str(at.workspace_path))
    run = forecast.load_run(ws, forecast.saved_settings(ws))
    result = plan.evaluate(plan.PlanInputs.from_workspace(ws, consensus.load_consensus(ws, run.run_key)))
    cards = kpis.plan_scorecard(ws, forecast.backtest_points(ws, forecast.saved_settings(ws)), result)
    for k in cards:
        assert m[k.label] == value_text(k), k.key
    assert m["No data"] == "0"
    assert m["OTIF"] == "91.4%"


def test_pre_sop_page_ranks_exceptions_and_records_a_decision(app):
    at = _open(app, "pre_sop")
    m = _metrics(at)
    assert m["Exceptions to decide"] != "0"  # the demo has a revenue gap and a tent shortfall
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
    from sop_core import decisions, versions

    ws = open_ws(str(at.workspace_path))
    v = versions.latest(ws)
    assert v.number == 1 and v.name == "November 2026 S&OP"
    assert any(v.label in c.value for c in at.caption)
    assert decisions.log(ws)["version_id"].iloc[0] == v.version_id
