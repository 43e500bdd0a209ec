import datetime as dt

import pandas as pd

from sop_core.demand import review
from sop_core.intake import company
from sop_core.meetings import cycle
from sop_core.planning import coverage
from sop_core.store.workspace import Provenance, Workspace

ALL = ["sales", "products", "inventory", "capacity", "supply", "plan", "orders"]
FULL = coverage.PlanCoverage(  # every check saw the whole plan
    capacity=coverage.Coverage("capacity", 29, 29), inventory=coverage.Coverage("inventory", 29, 29),
    prices=coverage.Coverage("prices", 29, 29), annual_plan=coverage.Coverage("annual plan", 4, 4, noun="family"))


def _facts(**kw):
    base = dict(cycle_month=pd.Timestamp("2026-11-01"), tables_loaded=ALL, months_behind=0, forecast_ready=True,
                coverage=FULL)
    base.update(kw)
    return cycle.CycleFacts(**base)


def test_cycle_month_follows_the_last_actuals():
    assert cycle.cycle_month(pd.Timestamp("2026-10-01")) == pd.Timestamp("2026-11-01")
    assert cycle.cycle_month(pd.Timestamp("2026-12-15")) == pd.Timestamp("2027-01-01")
    assert cycle.cycle_month(None) is None


def test_a_clean_cycle_waits_only_for_approval():
    steps = {s.key: s for s in cycle.steps(_facts(overloaded_resource_months=0, scenarios=1))}
    assert [s.status for s in steps.values()] == ["complete"] * 4 + ["ready"]
    assert cycle.STATUS_LABELS[steps["executive"].status] == "Ready for approval"
    assert steps["executive"].summary == "awaiting approval"
    assert steps["executive"].open_items == ("plan not yet approved for this cycle",)
    assert cycle.current_step(list(steps.values())).key == "executive"


def test_open_items_name_what_is_missing():
    f = _facts(tables_loaded=["sales"], months_behind=2, forecast_ready=False, coverage=None)
    steps = {s.key: s for s in cycle.steps(f)}
    assert steps["data"].status == "in_progress"
    assert "sales history is 2 months behind" in steps["data"].open_items
    assert any("capacity" in i for i in steps["data"].open_items)
    assert steps["demand"].open_items == ("statistical forecast not yet run on this data",)
    assert steps["supply"].status == "not_started"
    assert steps["supply"].open_items[0] == ("Load vs capacity: not checked — load capacity and products (resource, "
                                             "hours_per_unit).")


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

    with Workspace(tmp_path / "w.duckdb") as ws:
        company.reset_to_demo(ws)
        f = cycle.facts_from_workspace(ws, None, None)
        assert f.cycle_month == pd.Timestamp("2026-11-01")
        assert f.tables_loaded == ALL and not f.forecast_ready
        assert f.overloaded_resource_months is None and f.scenarios == 0 and f.open_decisions == 0
        steps = {s.key: s for s in cycle.steps(f)}
        assert steps["demand"].status == "not_started" and steps["data"].status == "complete"
        assert [steps[k].status for k in ("supply", "pre_sop", "executive")] == ["not_started"] * 3


def test_a_step_nobody_started_says_not_started():
    """The forecast has run, the later meetings have open items but nobody has touched them this cycle."""
    f = _facts(flagged_series=33, overloaded_resource_months=3, gap_to_plan=-1e6, gap_to_plan_pct=-0.05)
    steps = {s.key: s for s in cycle.steps(f)}
    assert {k: s.status for k, s in steps.items()} == {
        "data": "complete", "demand": "in_progress", "supply": "not_started", "pre_sop": "not_started",
        "executive": "not_started"}
    assert [cycle.STATUS_LABELS[steps[k].status] for k in ("supply", "pre_sop", "executive")] == ["Not started"] * 3
    assert steps["executive"].summary == "once the pre-S&OP is complete"
    assert steps["supply"].open_items == ("3 overloaded resource-months",)  # open items show, started or not


def test_what_was_stored_this_cycle_starts_each_step():
    base = dict(flagged_series=2, overloaded_resource_months=3, gap_to_plan=-1e6, gap_to_plan_pct=-0.05,
                open_decisions=1)
    status = lambda **kw: {s.key: s.status for s in cycle.steps(_facts(**base, **kw))}  # noqa: E731
    assert status(forecast_ready=False, overrides_this_cycle=1)["demand"] == "in_progress"
    assert status(forecast_ready=False)["demand"] == "not_started"
    assert status(supply_changes_this_cycle=1)["supply"] == "in_progress"
    assert status(scenarios_this_cycle=1)["pre_sop"] == "in_progress"
    assert status(decisions_this_cycle=1)["pre_sop"] == "in_progress"
    assert status(decisions_this_cycle=1)["executive"] == "not_started"  # the pre-S&OP is not complete yet
    assert status(marked_complete={"pre_sop"})["executive"] == "ready"
    assert status(approved_this_cycle="v2 · November plan")["executive"] == "complete"
    assert status(forecast_ready=False, marked_complete={"pre_sop"})["executive"] == "not_started"  # no plan


def test_flagged_series_are_worded_plainly_once():
    steps = {s.key: s for s in cycle.steps(_facts(flagged_series=33))}
    assert steps["demand"].open_items == (f"33 series flagged for review: {review.FLAGGED_MEANING}",)
    assert review.FLAGGED_MEANING == "forecast worse than last year's pattern, or biased"
    assert not any("TS" in item or "naive" in item for s in steps.values() for item in s.open_items)


def test_facts_count_this_cycles_work_and_flags_as_the_demand_review_does(tmp_path):
    from sop_core.meetings import decisions
    from sop_core.planning import scenarios
    from sop_core.planning.settings import PLAN_SETTINGS

    metrics = pd.DataFrame({"flags": ["naive beats model", "|TS|>4", "no backtest", "", "naive beats model; |TS|>4"]})
    with Workspace(tmp_path / "w.duckdb") as ws:
        company.reset_to_demo(ws)
        f = cycle.facts_from_workspace(ws, metrics, None)
        assert f.flagged_series == int(review.flagged(metrics).sum()) == 3  # 'no backtest' alone is not a flag
        assert (f.scenarios_this_cycle, f.decisions_this_cycle, f.supply_changes_this_cycle) == (0, 0, 0)

        week = dt.date.today() + dt.timedelta(days=7)
        decisions.record(ws, title="Run the promotion", owner="CMO", due_date=week, author="ana")
        f = cycle.facts_from_workspace(ws, metrics, None)
        assert (f.decisions_this_cycle, f.scenarios_this_cycle, f.supply_changes_this_cycle) == (1, 0, 0)
        steps = {s.key: s.status for s in cycle.steps(f)}
        assert steps["pre_sop"] == "in_progress" and steps["supply"] == "not_started"

        scenarios.create(ws, "Tents +10%", {"demand": [{"family": "Tents", "pct": 10}]}, "ana")
        overtime = scenarios.create(ws, "Overtime", {"capacity": [{"resource": "ASSY-1", "pct": 10}]}, "ana")
        decisions.record(ws, title="Approve overtime", owner="COO", due_date=week, scenario_id=overtime.scenario_id,
                         author="ana")
        f = cycle.facts_from_workspace(ws, metrics, None)
        assert (f.scenarios_this_cycle, f.decisions_this_cycle, f.supply_changes_this_cycle) == (2, 2, 2)
        assert f.open_decisions == 2 and f.scenarios == 2
        ws.set_setting(PLAN_SETTINGS, {"prebuild_months": 3}, "ana")  # saved on the Supply review page
        assert cycle.facts_from_workspace(ws, metrics, None).supply_changes_this_cycle == 3
        assert {s.key: s.status for s in cycle.steps(f)}["supply"] == "in_progress"

        ws.replace_table("sales", ws.table("sales"), Provenance("sales.csv", "next month"))  # a new cycle starts
        f = cycle.facts_from_workspace(ws, metrics, None)
        assert (f.scenarios_this_cycle, f.decisions_this_cycle, f.supply_changes_this_cycle) == (0, 0, 0)
        assert f.scenarios == 2 and f.open_decisions == 2  # still there, but last cycle's work
        steps = {s.key: s.status for s in cycle.steps(f)}
        assert steps["supply"] == "not_started" and steps["pre_sop"] == "not_started"


# -- no green without evidence ----------------------------------------------------------------------------
def test_supply_is_never_complete_when_no_sku_could_be_checked():
    """A user's first file: 45 stores, a products and capacity table of some other data: 0 of 45 skus checked."""
    blind = coverage.PlanCoverage(
        capacity=coverage.Coverage("capacity", 0, 45, reasons=(("are not in the products table", 45),),
                                   needs=("products (resource, hours_per_unit)",)),
        inventory=coverage.Coverage("inventory", 0, 45, reasons=(("have no stock record in the inventory table", 45),),
                                    needs=("inventory",)),
        prices=FULL.prices, annual_plan=FULL.annual_plan)
    steps = {s.key: s for s in cycle.steps(_facts(overloaded_resource_months=0, scenarios=1, coverage=blind))}
    supply = steps["supply"]
    assert supply.status != "complete" and "within capacity" not in supply.summary
    assert supply.summary == "capacity not checked: data missing"
    assert supply.open_items == (
        "Load vs capacity: not checked — load products (resource, hours_per_unit) for these skus "
        "(45 skus: 45 are not in the products table).",
        "Stock projection: not checked — load inventory for these skus "
        "(45 skus: 45 have no stock record in the inventory table).")


def test_supply_checked_for_part_of_the_plan_says_how_much():
    part = coverage.PlanCoverage(
        capacity=coverage.Coverage("capacity", 12, 45, reasons=(("have no resource", 33),),
                                   needs=("products (resource, hours_per_unit)",)),
        inventory=FULL.inventory, prices=FULL.prices, annual_plan=FULL.annual_plan)
    supply = {s.key: s for s in cycle.steps(_facts(overloaded_resource_months=0, coverage=part))}["supply"]
    assert supply.status == "not_started" and supply.summary == "capacity checked 12 of 45 skus: not every sku " \
        "could be checked"
    assert supply.open_items == ("Load vs capacity: checked 12 of 45 skus — 33 have no resource; load products "
                                 "(resource, hours_per_unit) for the rest.",)


def test_no_plan_yet_names_the_tables_each_check_needs():
    steps = {s.key: s for s in cycle.steps(_facts(tables_loaded=["sales"], coverage=None))}
    assert steps["supply"].summary == "capacity not checked: data missing"
    assert steps["supply"].open_items == (
        "Load vs capacity: not checked — load capacity and products (resource, hours_per_unit).",
        "Stock projection: not checked — load inventory.")
    assert steps["pre_sop"].open_items == ("Value in money: not checked — load products (unit_price).",
                                           "Comparison with the annual plan: not checked — load plan (revenue_plan).")
    assert steps["pre_sop"].status != "complete"


def test_pre_sop_is_not_complete_without_money():
    unpriced = coverage.PlanCoverage(capacity=FULL.capacity, inventory=FULL.inventory,
                                     prices=coverage.Coverage("prices", 0, 45, reasons=(("have no unit_price", 45),),
                                                              needs=("products (unit_price)",)),
                                     annual_plan=FULL.annual_plan)
    steps = {s.key: s for s in cycle.steps(_facts(overloaded_resource_months=0, scenarios=1, coverage=unpriced))}
    assert steps["pre_sop"].status == "not_started"
    assert steps["pre_sop"].open_items == ("Value in money: not checked — load products (unit_price) for these skus "
                                           "(45 skus: 45 have no unit_price).",)
