import pandas as pd

from sop_core import cycle
from sop_core.workspace import Workspace

ALL = ["sales", "products", "inventory", "capacity", "supply", "plan", "orders"]


def _facts(**kw):
    base = dict(cycle_month=pd.Timestamp("2026-11-01"), tables_loaded=ALL, months_behind=0, forecast_ready=True)
    base.update(kw)
    return cycle.CycleFacts(**base)


def test_cycle_month_follows_the_last_actuals():
    assert cycle.cycle_month(pd.Timestamp("2026-10-01")) == pd.Timestamp("2026-11-01")
    assert cycle.cycle_month(pd.Timestamp("2026-12-15")) == pd.Timestamp("2027-01-01")
    assert cycle.cycle_month(None) is None


def test_a_clean_cycle_waits_only_for_approval():
    steps = {s.key: s for s in cycle.steps(_facts(overloaded_resource_months=0, scenarios=1))}
    assert [s.status for s in steps.values()] == ["complete"] * 4 + ["in_progress"]
    assert steps["executive"].open_items == ("plan not yet approved for this cycle",)
    assert cycle.current_step(list(steps.values())).key == "executive"


def test_open_items_name_what_is_missing():
    f = _facts(tables_loaded=["sales"], months_behind=2, forecast_ready=False)
    steps = {s.key: s for s in cycle.steps(f)}
    assert steps["data"].status == "in_progress"
    assert "sales history is 2 months behind" in steps["data"].open_items
    assert any("capacity" in i for i in steps["data"].open_items)
    assert steps["demand"].open_items == ("statistical forecast not yet run on this data",)
    assert steps["supply"].status == "waiting" and "capacity table not loaded" in steps["supply"].open_items


def test_gaps_and_decisions_keep_pre_sop_open():
    f = _facts(overloaded_resource_months=3, units_short=1200.0, gap_to_plan=-250_000.0, gap_to_plan_pct=-0.05,
               open_decisions=2, flagged_series=4, approved_this_cycle="v1 · November plan")
    steps = {s.key: s for s in cycle.steps(f)}
    assert steps["supply"].open_items == ("3 overloaded resource-months", "1,200 units short after pre-build")
    assert steps["pre_sop"].open_items == ("revenue gap to plan −$250K (−5.0%)", "2 open decisions",
                                           "no scenario prepared for the gaps")
    assert steps["demand"].status == "in_progress"
    assert steps["executive"].status == "complete"


def test_marking_a_step_complete_persists(tmp_path):
    month = pd.Timestamp("2026-11-01")
    with Workspace(tmp_path / "w.duckdb") as ws:
        cycle.mark_complete(ws, month, "supply", True, "ana")
    with Workspace(tmp_path / "w.duckdb") as ws:
        marks = cycle.marked_complete(ws, month)
        assert marks == {"supply"}
        steps = {s.key: s for s in cycle.steps(_facts(overloaded_resource_months=2, marked_complete=marks))}
        assert steps["supply"].status == "complete" and steps["supply"].open_items  # still shows what was open
        cycle.mark_complete(ws, month, "supply", False, "ana")
        assert cycle.marked_complete(ws, month) == set()


def test_facts_from_a_fresh_demo_workspace(tmp_path):
    from sop_core import demo

    with Workspace(tmp_path / "w.duckdb") as ws:
        demo.load_demo(ws)
        f = cycle.facts_from_workspace(ws, None, None)
        assert f.cycle_month == pd.Timestamp("2026-11-01")
        assert f.tables_loaded == ALL and not f.forecast_ready
        assert f.overloaded_resource_months is None and f.scenarios == 0 and f.open_decisions == 0
        steps = {s.key: s for s in cycle.steps(f)}
        assert steps["demand"].status == "waiting" and steps["data"].status == "complete"
