"""The KPI catalogue: every measure the app shows, once, with its label, unit, better direction, scope and formula.

Two families of measures share it, each with its own keys (a key means one thing only):

* source 'plan': the KPIs of an evaluated plan (`plan.PlanResult.kpis`, `plan.KPI_KEYS`), computed from the
  consensus or a scenario: money for the outlook year, units, stock and load over the plan horizon;
* source 'scorecard': the performance KPIs of the S&OP cycle (`kpis.scorecard`, `kpis.KPI_KEYS`), measured
  on the actuals, with targets and a red/amber/green status.

Where the two measure something alike, the keys say which: `plan_fill_rate` (supplied / demand units of the
plan) vs `order_fill_rate` (customer order lines delivered), `gross_margin_pct` (the plan's outlook year) vs
`gross_margin_pct_12m` (actuals of the last 12 months). Keys stored before the rename are read through
`RENAMED_SCORECARD_KEYS` (`kpi_targets.current_keys`).
"""
from __future__ import annotations

from dataclasses import dataclass

from sop_core.demand import metrics

WINDOW_MONTHS = 12
UNITS: tuple[str, ...] = ("money", "pct", "units", "count", "ratio", "days")
BETTER: tuple[str | None, ...] = ("higher", "lower", "band", None)
SCOPES: tuple[str, ...] = ("year", "horizon", "last_12m", "next_12m", "latest_stock")
SOURCES: tuple[str, ...] = ("plan", "scorecard")


@dataclass(frozen=True)
class Measure:
    """One KPI: how it is labelled, in what unit, which way is better, what it covers and how it is computed.

    better: 'higher', 'lower', 'band' (within a band around 0 or between two bounds) or None (no direction).
    scope: 'year' (the outlook year), 'horizon' (every month of the plan), 'last_12m' (actuals of the last 12
    months), 'next_12m' (the next 12 months of the plan), 'latest_stock' (the latest stock walked forward).
    window: the scope in words, as said after a status ("On target over the last 12 months").
    trend: for a scorecard KPI, what its trend's points are and how the value relates to them.
    """

    key: str
    label: str
    unit: str
    better: str | None
    scope: str
    formula: str
    source: str
    window: str = ""
    trend: str = ""


def _plan(key: str, label: str, unit: str, better: str | None, scope: str, formula: str) -> Measure:
    window = "in the outlook year" if scope == "year" else "over the plan horizon"
    return Measure(key, label, unit, better, scope, formula, "plan", window)


_POOLED = "one point a month"  # the status's basis (latest month or all 12) is the target's: kpi_targets.BASES
_LAST = f"over the last {WINDOW_MONTHS} months"

_MEASURES: tuple[Measure, ...] = (
    # -- the plan (PlanResult.kpis) ------------------------------------------------------------------
    _plan("revenue", "Revenue (outlook)", "money", "higher", "year",
          "actual revenue to date + Σ constrained units × unit_price for the rest of the year"),
    _plan("revenue_unconstrained", "Revenue at full demand", "money", "higher", "year",
          "actual revenue to date + Σ consensus units × unit_price for the rest of the year"),
    _plan("gross_margin", "Gross margin", "money", "higher", "year",
          "revenue − COGS (NaN when some units have no price or cost)"),
    _plan("gross_margin_pct", "Gross margin %", "pct", "higher", "year", "(revenue − COGS) / revenue"),
    _plan("plan_revenue", "Annual plan revenue", "money", None, "year", "Σ revenue_plan of the year"),
    _plan("gap_to_plan", "Gap to plan", "money", "higher", "year", "revenue − annual plan revenue"),
    _plan("gap_to_plan_pct", "Gap to plan %", "pct", "higher", "year", "(revenue − annual plan) / annual plan"),
    _plan("horizon_revenue", "Plan revenue (horizon)", "money", "higher", "horizon",
          "Σ constrained units × unit_price over the plan horizon"),
    _plan("horizon_revenue_unconstrained", "Demand revenue (horizon)", "money", "higher", "horizon",
          "Σ consensus units × unit_price over the plan horizon"),
    _plan("units_demand", "Demand units", "units", None, "horizon", "Σ consensus units"),
    _plan("units_supplied", "Supplied units", "units", "higher", "horizon", "Σ constrained units"),
    _plan("units_short", "Units short", "units", "lower", "horizon", "Σ (consensus − constrained units)"),
    _plan("plan_fill_rate", "Supply fill rate (plan)", "pct", "higher", "horizon", "supplied units / demand units"),
    _plan("stockouts", "Stockouts", "count", "lower", "horizon",
          "skus whose projected available balance goes below 0"),
    _plan("revenue_at_risk", "Revenue at risk from stockouts", "money", "lower", "horizon",
          "Σ deepest shortage × unit_price of the skus with a stockout"),
    _plan("inventory_value_end", "Inventory at end of horizon", "money", None, "horizon",
          "Σ max(closing, 0) × unit_cost in the last month"),
    _plan("inventory_value_avg", "Average inventory", "money", None, "horizon",
          "mean over the months of Σ max(closing, 0) × unit_cost"),
    _plan("peak_utilisation", "Peak utilisation", "ratio", "lower", "horizon",
          "highest required / available of any resource × month"),
    _plan("overloaded_resource_months", "Overloaded resource-months", "count", "lower", "horizon",
          "resource × months with required > available"),
    # -- the scorecard (kpis.scorecard, from actuals) -------------------------------------------------
    Measure("forecast_accuracy", "Forecast accuracy (1 − WAPE)", "pct", "higher", "last_12m",
            metrics.FORMULAS["accuracy"] + "; " + metrics.FORMULAS["wape"] + "; " + metrics.FORMULAS["held_out"],
            "scorecard", _LAST, _POOLED),
    Measure("bias", "Forecast bias", "pct", "band", "last_12m", metrics.FORMULAS["bias"], "scorecard", _LAST,
            _POOLED),
    Measure("otif", "OTIF", "pct", "higher", "last_12m",
            "OTIF = order lines delivered on time (delivered_date ≤ requested_date) and in full "
            "(delivered_qty ≥ requested_qty) / all lines due; open lines past their requested date count "
            "as not OTIF, lines not yet due are left out", "scorecard", _LAST, _POOLED),
    Measure("order_fill_rate", "Fill rate (units)", "pct", "higher", "last_12m",
            "Fill rate = Σ min(units delivered, units ordered) / Σ units ordered over lines due; "
            "open lines past due deliver 0", "scorecard", _LAST, _POOLED),
    Measure("inventory_turns", "Inventory turns", "ratio", "higher", "last_12m",
            "Inventory turns = COGS over the last 12 months / average month-end inventory at cost "
            "(on hand × unit_cost)", "scorecard", _LAST,
            f"rolling {WINDOW_MONTHS}-month turns; the value is the last point"),
    Measure("days_of_supply", "Days of supply (forward)", "days", "band", "latest_stock",
            "Days of supply = days until cumulative forecast demand exceeds on hand (walking the "
            "forecast forward, valued at unit_cost)", "scorecard", "for the latest stock against the forecast",
            "each past month-end stock walked forward; the value is the latest stock"),
    Measure("capacity_utilisation", "Capacity utilisation (peak)", "pct", "lower", "next_12m",
            "Capacity utilisation = required hours / available hours, required = planned units "
            "× hours per unit; the highest resource × month of the next 12 months", "scorecard",
            f"at the peak month of the next {WINDOW_MONTHS} months of plan",
            f"peak load of each actual month; the value is the plan's peak over the next {WINDOW_MONTHS} months"),
    Measure("revenue_vs_plan", "Revenue vs annual plan", "pct", "higher", "year",
            "Revenue vs plan = (outlook − annual plan) / annual plan; outlook = actuals to date + "
            "consensus for the rest of the year", "scorecard", "on the full-year outlook",
            "actual vs annual plan each month; the value is the full-year outlook"),
    Measure("gross_margin_pct_12m", "Gross margin %", "pct", "higher", "last_12m",
            "Gross margin % = (revenue − COGS) / revenue over the last 12 months of actuals", "scorecard", _LAST,
            _POOLED),
)

MEASURES: dict[str, Measure] = {m.key: m for m in _MEASURES}
PLAN_KEYS: tuple[str, ...] = tuple(k for k, m in MEASURES.items() if m.source == "plan")
SCORECARD_KEYS: tuple[str, ...] = tuple(k for k, m in MEASURES.items() if m.source == "scorecard")

# scorecard keys as stored before the catalogue (workspace setting 'kpi_targets') -> the key now
RENAMED_SCORECARD_KEYS: dict[str, str] = {"fill_rate": "order_fill_rate", "gross_margin_pct": "gross_margin_pct_12m"}


def scope_text(key: str, year: int | None = None) -> str:
    """What a measure's value covers, in words: 'outlook year 2026', 'plan horizon', 'last 12 months'."""
    scope = MEASURES[key].scope
    if scope == "year":
        return f"outlook year {year}" if year is not None else "outlook year"
    return {"horizon": "plan horizon", "last_12m": f"last {WINDOW_MONTHS} months",
            "next_12m": f"next {WINDOW_MONTHS} months of plan", "latest_stock": "latest stock"}[scope]
