"""The monthly S&OP cycle: which step it is at, what each step still has open.

A cycle is named by its month: the month after the last month of actuals (actuals through
October → the November cycle). Each step's status is computed from the facts, and a planner can
mark a step complete for the cycle (stored in settings, audited).

Statuses (STATUS_LABELS): a step is complete when its facts say so (or it is marked complete);
otherwise it is in progress once somebody has started it this cycle, else not started. The cycle
starts with the latest sales load (`cycle_start`); "started" per step, from what is stored:

- data: the sales table is loaded;
- demand: the forecast was run on this data, or an override was saved this cycle;
- supply: the plan settings (pre-build, safety stock) were saved, or a capacity scenario (or a
  decision on one) was recorded this cycle;
- pre_sop: a scenario or a decision was recorded this cycle;
- executive: complete once a plan version is approved this cycle, ready for approval once the
  pre-S&OP is complete, else not started.

No green without evidence (`sop_core.planning.coverage`): the supply step is complete by its facts only when
the capacity check and the stock projection saw every sku of the plan (`CycleFacts.coverage`) and
nothing is open; a check that could not run is an open item in words ("Load vs capacity: not
checked — load capacity and products …"), a partial one says how much it saw. The pre-S&OP step
likewise needs the plan valued in money and compared with the annual plan.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from sop_core.demand.review import FLAGGED_MEANING, flagged
from sop_core.formatting import money, pct, units
from sop_core.planning import coverage as cov_mod
from sop_core.store.workspace import Workspace

STEPS: tuple[tuple[str, str, str], ...] = (
    ("data", "Data gathering", "data"),
    ("demand", "Demand review", "demand_review"),
    ("supply", "Supply review", "supply_review"),
    ("pre_sop", "Pre-S&OP", "pre_sop"),
    ("executive", "Executive S&OP", "executive"),
)
STATUS_LABELS = {"complete": "Complete", "ready": "Ready for approval", "in_progress": "In progress",
                 "not_started": "Not started"}


@dataclass
class CycleFacts:
    """Plain facts about the workspace the cycle status is computed from (None = not known / table missing)."""

    cycle_month: pd.Timestamp | None
    tables_loaded: list[str]
    months_behind: int | None
    forecast_ready: bool = False
    flagged_series: int = 0
    overrides_this_cycle: int = 0
    overloaded_resource_months: int | None = None
    units_short: float | None = None
    stockouts: int | None = None
    gap_to_plan: float | None = None
    gap_to_plan_pct: float | None = None
    scenarios: int = 0
    open_decisions: int = 0
    scenarios_this_cycle: int = 0
    decisions_this_cycle: int = 0
    supply_changes_this_cycle: int = 0  # plan settings saves, capacity scenarios and decisions on them
    approved_this_cycle: str | None = None  # label of the version approved in this cycle
    marked_complete: set[str] = field(default_factory=set)
    coverage: cov_mod.PlanCoverage | None = None  # what the plan's checks could see; None before a plan exists


@dataclass(frozen=True)
class Step:
    """One step of the cycle with its status and what is still open."""

    key: str
    title: str
    page: str
    status: str  # a key of STATUS_LABELS
    summary: str
    open_items: tuple[str, ...] = ()


def cycle_month(last_actual: pd.Timestamp | None) -> pd.Timestamp | None:
    """The cycle month: the month after the last month of actuals."""
    if last_actual is None or pd.isna(last_actual):
        return None
    return (pd.Timestamp(last_actual).to_period("M") + 1).start_time


def steps(f: CycleFacts) -> list[Step]:
    """The five steps of the cycle, each with its status and open items."""
    out: list[Step] = []
    missing = [t for t in ("sales", "products", "inventory", "capacity", "supply", "plan", "orders")
               if t not in f.tables_loaded]
    data_open = []
    if f.months_behind:
        data_open.append(f"sales history is {f.months_behind} month{'s' if f.months_behind > 1 else ''} behind")
    if missing:
        data_open.append("not loaded: " + ", ".join(missing))
    out.append(_step("data", f, "sales" in f.tables_loaded and not f.months_behind,
                     "sales" in f.tables_loaded,
                     f"{len(f.tables_loaded)} of 7 tables loaded" + ("" if not f.months_behind else ", history behind"),
                     data_open))

    demand_open = []
    if not f.forecast_ready:
        demand_open.append("statistical forecast not yet run on this data")
    if f.flagged_series:
        demand_open.append(f"{f.flagged_series} series flagged for review: {FLAGGED_MEANING}")
    out.append(_step("demand", f, f.forecast_ready and not f.flagged_series,
                     f.forecast_ready or f.overrides_this_cycle > 0,
                     f"{f.overrides_this_cycle} override{'s' if f.overrides_this_cycle != 1 else ''} this cycle"
                     if f.forecast_ready else "waiting for the forecast", demand_open))

    supply_open, supply_done, supply_summary = _supply(f)
    out.append(_step("supply", f, supply_done, f.supply_changes_this_cycle > 0, supply_summary, supply_open))

    pre_open = []
    if f.gap_to_plan is not None and f.gap_to_plan < 0:
        pre_open.append(f"revenue gap to plan {money(f.gap_to_plan)} ({pct(f.gap_to_plan_pct, signed=True)})")
    if f.open_decisions:
        pre_open.append(f"{f.open_decisions} open decision{'s' if f.open_decisions != 1 else ''}")
    if (pre_open or _gaps(f)) and not f.scenarios:
        pre_open.append("no scenario prepared for the gaps")
    money_checks = _money_checks(f)
    pre_open += [t for t, _ in money_checks]
    out.append(_step("pre_sop", f, f.forecast_ready and f.scenarios > 0 and not f.open_decisions
                     and all(seen for _, seen in money_checks),
                     f.scenarios_this_cycle + f.decisions_this_cycle > 0,
                     f"{f.scenarios} scenario{'s' if f.scenarios != 1 else ''} prepared", pre_open))

    exec_open = [] if f.approved_this_cycle else ["plan not yet approved for this cycle"]
    ready = f.forecast_ready and out[-1].status == "complete"
    out.append(_step("executive", f, bool(f.approved_this_cycle), False,
                     f"approved: {f.approved_this_cycle}" if f.approved_this_cycle else
                     ("awaiting approval" if ready else "once the pre-S&OP is complete"), exec_open,
                     idle="ready" if ready else "not_started"))
    return out


def _gaps(f: CycleFacts) -> bool:
    """Supply or inventory gaps the facts show (overload, units short, stockouts)."""
    return bool(f.overloaded_resource_months or f.units_short or f.stockouts)


def _supply(f: CycleFacts) -> tuple[list[str], bool, str]:
    """The supply step's open items, whether its facts say it is done, and its summary.

    Done only when the capacity check and the stock projection saw every sku of the plan and
    nothing is overloaded, short or out of stock.
    """
    cov = f.coverage
    cap = cov.capacity if cov is not None else None
    items: list[str] = []
    if cap is None:
        items.append(cov_mod.not_checked("capacity", f.tables_loaded, "the consensus of the demand review"))
    elif not cap.complete:
        items.append(cap.text)
    if f.overloaded_resource_months:
        items.append(f"{f.overloaded_resource_months} overloaded resource-months")
    if f.units_short:
        items.append(f"{units(f.units_short)} units short after pre-build")
    if cov is None:
        items.append(cov_mod.not_checked("inventory", f.tables_loaded, "the consensus of the demand review"))
    elif not cov.inventory.complete:
        items.append(cov.inventory.text)
    if f.stockouts:
        items.append(f"{f.stockouts} projected stockouts")
    checked = f.forecast_ready and cap is not None and cap.state != "none"
    done = checked and not items
    if done:
        summary = "load within capacity, stock projected for every sku"
    elif _gaps(f) and checked:
        summary = "gaps to resolve"
    elif checked:
        summary = f"capacity {cap.summary}: not every sku could be checked"
    else:
        summary = ("capacity not checked: data missing" if f.forecast_ready
                   else "waiting for the consensus and capacity")
    return items, done, summary


def _money_checks(f: CycleFacts) -> list[tuple[str, bool]]:
    """(open item, seen) for the plan in money and against the annual plan: an item when not every sku
    (family) was valued (compared); seen = the check saw something."""
    cov = f.coverage
    if cov is None:
        return [(cov_mod.not_checked("prices", f.tables_loaded), False),
                (cov_mod.not_checked("annual plan", f.tables_loaded), False)] if f.forecast_ready else []
    return [(c.text, c.state != "none") for c in (cov.prices, cov.annual_plan) if not c.complete]


def _step(key: str, f: CycleFacts, done: bool, started: bool, summary: str, open_items: list[str],
          idle: str = "not_started") -> Step:
    """The step with its status: complete (done or marked), in progress (started), else `idle`."""
    title, page = next((t, p) for k, t, p in STEPS if k == key)
    status = "complete" if done or key in f.marked_complete else ("in_progress" if started else idle)
    return Step(key, title, page, status, summary, tuple(open_items))


def current_step(all_steps: list[Step]) -> Step | None:
    """The first step not complete (None when the whole cycle is complete)."""
    return next((s for s in all_steps if s.status != "complete"), None)


def _marks_key(month: pd.Timestamp) -> str:
    return f"cycle_marks:{month:%Y-%m}"


def marked_complete(ws: Workspace, month: pd.Timestamp | None) -> set[str]:
    """Steps marked complete by hand for the cycle month."""
    return set(ws.get_setting(_marks_key(month), [])) if month is not None else set()


def mark_complete(ws: Workspace, month: pd.Timestamp, step: str, done: bool, author: str | None) -> None:
    """Mark (or unmark) a step complete for the cycle month; audited as a setting change."""
    if step not in {k for k, _, _ in STEPS}:
        raise ValueError(f"unknown cycle step {step!r}")
    marks = marked_complete(ws, month)
    marks = (marks | {step}) if done else (marks - {step})
    ws.set_setting(_marks_key(month), sorted(marks), author)


def cycle_start(ws: Workspace) -> pd.Timestamp | None:
    """When this cycle's data arrived: the time of the latest sales load."""
    at = ws.scalar("SELECT max(loaded_at) FROM loads WHERE table_name = 'sales'")
    return None if at is None else pd.Timestamp(at)


def facts_from_workspace(ws: Workspace, run_metrics: pd.DataFrame | None, plan_kpis: dict | None,
                         coverage: cov_mod.PlanCoverage | None = None) -> CycleFacts:
    """Gather the cycle facts: data health, the forecast run's flags, the plan's KPIs and coverage (`PlanResult.kpis`,
    `PlanResult.coverage`), scenarios, decisions, versions."""
    from sop_core.intake import health
    from sop_core.meetings import decisions, versions
    from sop_core.planning import scenarios  # local: these build on the workspace only
    from sop_core.planning.settings import PLAN_SETTINGS

    fresh = health.freshness(ws)
    month = cycle_month(fresh["last_period"])
    started = cycle_start(ws)
    overrides_n = 0
    if started is not None and ws.has_table("overrides"):
        overrides_n = int(ws.scalar("SELECT count(*) FROM overrides WHERE created_at >= ? AND undoes IS NULL",
                                    [started.to_pydatetime()]))
    n_flagged = int(flagged(run_metrics).sum()) if run_metrics is not None and len(run_metrics) else 0
    k = plan_kpis or {}
    capacity = ws.has_table("capacity") and plan_kpis is not None
    latest = versions.latest(ws)
    approved = latest.label if latest is not None and started is not None and latest.approved_at >= started else None
    all_dec = decisions.log(ws)
    open_dec = all_dec[all_dec["status"].isin(("open", "in progress"))]
    all_scen = scenarios.list_scenarios(ws, include_archived=True)
    new_scen = [s for s in all_scen if started is not None and pd.Timestamp(s.created_at) >= started]
    new_dec = all_dec[pd.to_datetime(all_dec["created_at"]) >= started] if started is not None else all_dec.iloc[0:0]
    capacity_ids = {s.scenario_id for s in all_scen if s.changes.capacity}
    settings_at = ws.scalar("SELECT updated_at FROM settings WHERE key = ?", [PLAN_SETTINGS])
    supply_changes = (sum(1 for s in new_scen if s.scenario_id in capacity_ids)
                      + int(new_dec["scenario_id"].isin(capacity_ids).sum())
                      + int(started is not None and settings_at is not None and pd.Timestamp(settings_at) >= started))
    return CycleFacts(
        cycle_month=month, tables_loaded=ws.loaded_tables(), months_behind=fresh["months_behind"],
        forecast_ready=run_metrics is not None, flagged_series=n_flagged, overrides_this_cycle=overrides_n,
        overloaded_resource_months=int(k.get("overloaded_resource_months", 0)) if capacity else None,
        units_short=k.get("units_short"), stockouts=int(k["stockouts"]) if "stockouts" in k else None,
        gap_to_plan=k.get("gap_to_plan"), gap_to_plan_pct=k.get("gap_to_plan_pct"),
        scenarios=sum(1 for s in all_scen if not s.archived), open_decisions=len(open_dec),
        scenarios_this_cycle=len(new_scen), decisions_this_cycle=len(new_dec), supply_changes_this_cycle=supply_changes,
        approved_this_cycle=approved, marked_complete=marked_complete(ws, month), coverage=coverage,
    )
