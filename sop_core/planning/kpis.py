"""The KPI scorecard: performance control of the S&OP cycle, as pure functions over DataFrames.

Every KPI is measured exactly as the S&OP primer defines it and reuses the engines that own the
numbers: `metrics` (accuracy, bias), `finance` (revenue, COGS and gross margin of the actuals, the
outlook and its gap to the annual plan), `supply` (load vs capacity) and `inventory` (the forward
cover walk). Headline values cover the trailing `window_months` (12) months of the data each KPI
uses; trends are one value per month for at most the last 12 months.

Rules (also printed next to each number, see `KPI.formula`):

* Forecast accuracy = 1 − WAPE and bias % = Σ(F − A) / ΣA over forecast points (period, forecast,
  actual): backtest points (all origins pooled) or a past approved plan version against actuals
  (`plan_vs_actual`). When ΣA = 0 both are undefined: status 'missing' with the reason in `note`.
* OTIF and unit fill rate over order lines, counted in the month of their requested date. On time:
  delivered_date ≤ requested_date; in full: delivered_qty ≥ requested_qty. A line with no
  delivered_date is *open*: when its requested date is before `as_of` it is past due and counts as
  not OTIF with 0 units delivered; when it is not yet due it is left out. Lines requested after
  `as_of` are not due yet and are left out, delivered or not. `as_of` defaults to the latest
  delivered_date in the file (the day the extract was taken). A delivered line with a blank
  delivered_qty is taken as delivered in full (counted in `note`). Fill rate = Σ min(delivered,
  ordered) / Σ ordered: over-delivery of one line does not make up for a short one.
* Inventory turns = COGS over the 12 months / average inventory at cost. COGS = actual units ×
  unit_cost (finance rules); inventory at cost = each sku's last snapshot of the month (summed over
  locations) × unit_cost, averaged over the months of the window that have a snapshot. With less
  than 12 months of history the COGS is annualised (× 12 / months). The trend is rolling 12 months.
* Days of supply (forward) = days until the cumulative forecast demand exceeds on hand, at cost so
  that skus add up (in units when no unit_cost is known): walk the forecast month by month from the
  day after the latest snapshot (the first month pro rata), beyond the forecast at its average daily
  rate, capped at 104 weeks (`inventory.forward_cover_weeks`). The trend walks each past month-end
  snapshot forward through the actuals that followed, then the forecast. Band target 30–90 days.
* Capacity utilisation = required hours / available hours (`supply.utilisation`), the peak resource
  × month of the next 12 months of the plan (the KPI names it in `note`); without a forward plan,
  the peak of the last 12 months of actuals. The trend is the monthly peak of the actuals.
* Revenue vs plan = (outlook − annual plan) / annual plan for the outlook year, outlook = actuals to
  date + the consensus for the rest of the year (`finance.outlook`, `finance.vs_budget`). The trend
  is (actual − plan) / plan per month with actuals.
* Gross margin % = (revenue − COGS) / revenue of the actuals over the trailing 12 months; missing
  when any sold units have no unit_cost (finance never computes a margin on half the data).

Statuses: 'green' / 'amber' / 'red' against `targets` (workspace setting 'kpi_targets' over
DEFAULT_TARGETS), 'missing' when the value cannot be computed — shown as "Not checked" with what to
load (`KPI.not_checked_text`), never as on target. With the plan's coverage (`ScorecardInputs.coverage`,
`sop_core.planning.coverage`): a KPI whose check saw no sku of the plan is missing with the coverage's sentence
(capacity utilisation: the capacity check; days of supply and turns: the stock projection; revenue vs
plan: prices and the annual plan); one that saw part of the plan says how much (`KPI.coverage`).
Direction 'higher': green when value ≥ green, amber when ≥ amber; 'lower': green when ≤ green, amber
when ≤ amber; 'band': with a number t, |value| ≤ t (bias); with a pair (lo, hi), lo ≤ value ≤ hi
(days of supply).
"""
from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sop_core import clock
from sop_core.planning import finance, inventory, supply
from sop_core.demand import metrics
from sop_core.planning.coverage import CHECKS
from sop_core.periods import period_start

if TYPE_CHECKING:  # pragma: no cover
    from sop_core.store.workspace import Workspace

TARGETS_SETTING = "kpi_targets"
WINDOW_MONTHS = 12
TREND_POINTS = 12
DIRECTIONS: tuple[str, ...] = ("higher", "lower", "band")
UNITS: tuple[str, ...] = ("pct", "ratio", "days", "money")
STATUSES: tuple[str, ...] = ("green", "amber", "red", "missing")
DAYS_CAP = inventory.COVER_CAP_WEEKS * 7.0

Threshold = float | tuple[float, float]

DEFAULT_TARGETS: dict[str, dict[str, Any]] = {
    "forecast_accuracy": {"green": 0.75, "amber": 0.65},
    "bias": {"green": 0.05, "amber": 0.10},
    "otif": {"green": 0.95, "amber": 0.90},
    "fill_rate": {"green": 0.98, "amber": 0.95},
    "inventory_turns": {"green": 6.0, "amber": 4.0},
    "days_of_supply": {"green": (30.0, 90.0), "amber": (15.0, 120.0)},
    "capacity_utilisation": {"green": 0.90, "amber": 1.00},
    "revenue_vs_plan": {"green": 0.0, "amber": -0.05},
    "gross_margin_pct": {"green": 0.35, "amber": 0.30},
}

# key: (label, unit, direction, formula)
SPECS: dict[str, tuple[str, str, str, str]] = {
    "forecast_accuracy": ("Forecast accuracy (1 − WAPE)", "pct", "higher",
                          metrics.FORMULAS["accuracy"] + "; " + metrics.FORMULAS["wape"]),
    "bias": ("Forecast bias", "pct", "band", metrics.FORMULAS["bias"]),
    "otif": ("OTIF", "pct", "higher",
             "OTIF = order lines delivered on time (delivered_date ≤ requested_date) and in full "
             "(delivered_qty ≥ requested_qty) / all lines due; open lines past their requested date count "
             "as not OTIF, lines not yet due are left out"),
    "fill_rate": ("Fill rate (units)", "pct", "higher",
                  "Fill rate = Σ min(units delivered, units ordered) / Σ units ordered over lines due; "
                  "open lines past due deliver 0"),
    "inventory_turns": ("Inventory turns", "ratio", "higher",
                        "Inventory turns = COGS over the last 12 months / average month-end inventory at cost "
                        "(on hand × unit_cost)"),
    "days_of_supply": ("Days of supply (forward)", "days", "band",
                       "Days of supply = days until cumulative forecast demand exceeds on hand (walking the "
                       "forecast forward, valued at unit_cost)"),
    "capacity_utilisation": ("Capacity utilisation (peak)", "pct", "lower",
                             "Capacity utilisation = required hours / available hours, required = planned units "
                             "× hours per unit; the highest resource × month of the next 12 months"),
    "revenue_vs_plan": ("Revenue vs annual plan", "pct", "higher",
                        "Revenue vs plan = (outlook − annual plan) / annual plan; outlook = actuals to date + "
                        "consensus for the rest of the year"),
    "gross_margin_pct": ("Gross margin %", "pct", "higher",
                         "Gross margin % = (revenue − COGS) / revenue over the last 12 months of actuals"),
}
KPI_KEYS: tuple[str, ...] = tuple(SPECS)

# In words, for the tiles: what the value and its status cover (said after the status word, "On target over
# the last 12 months"), and what the trend's points are and how they relate to the value (the trend is always
# history, `TREND_POINTS` months at most).
_POOLED = f"one point a month; the status is on all {WINDOW_MONTHS} months together"
STATUS_BASIS: dict[str, str] = {
    "forecast_accuracy": f"over the last {WINDOW_MONTHS} months",
    "bias": f"over the last {WINDOW_MONTHS} months",
    "otif": f"over the last {WINDOW_MONTHS} months",
    "fill_rate": f"over the last {WINDOW_MONTHS} months",
    "inventory_turns": f"over the last {WINDOW_MONTHS} months",
    "days_of_supply": "for the latest stock against the forecast",
    "capacity_utilisation": f"at the peak month of the next {WINDOW_MONTHS} months of plan",
    "revenue_vs_plan": "on the full-year outlook",
    "gross_margin_pct": f"over the last {WINDOW_MONTHS} months",
}
TREND_BASIS: dict[str, str] = {
    "forecast_accuracy": _POOLED,
    "bias": _POOLED,
    "otif": _POOLED,
    "fill_rate": _POOLED,
    "inventory_turns": f"rolling {WINDOW_MONTHS}-month turns; the value is the last point",
    "days_of_supply": "each past month-end stock walked forward; the value is the latest stock",
    "capacity_utilisation": f"peak load of each actual month; the value is the plan's peak over the next "
                            f"{WINDOW_MONTHS} months",
    "revenue_vs_plan": "actual vs annual plan each month; the value is the full-year outlook",
    "gross_margin_pct": _POOLED,
}
# utilisation_kpi's note when there is no forward plan: then the value is a peak of the actuals, like the trend
_NO_FORWARD_PLAN = "(no forward plan)"


def empty_trend() -> pd.DataFrame:
    """An empty trend frame: period (datetime64), value (float)."""
    return pd.DataFrame({"period": pd.Series(dtype="datetime64[us]"), "value": pd.Series(dtype=float)})


@dataclass
class KPI:
    """One scorecard number with its formula, target, status and 12-month trend (period, value)."""

    key: str
    label: str
    value: float | None
    unit: str
    formula: str
    target: Threshold | None
    amber: Threshold | None
    direction: str
    status: str
    missing_table: str | None = None
    note: str = ""
    trend: pd.DataFrame = field(default_factory=empty_trend)
    coverage: str = ""  # how much of the plan its check saw when not all ('Load vs capacity: checked 12 of 45 skus')

    @property
    def missing_message(self) -> str:
        """'needs the orders table' when a table is missing, else the reason in `note` ('' when computed)."""
        if self.missing_table:
            return f"needs the {self.missing_table} table"
        return self.note if self.status == "missing" else ""

    @property
    def not_checked_text(self) -> str:
        """For a KPI that could not be computed, what it needs in words: 'load the orders table', or why (its note,
        e.g. 'needs unit_cost in the products table'); '' when computed."""
        if self.status != "missing":
            return ""
        if self.missing_table and self.note in ("", f"needs the {self.missing_table} table"):
            return f"load the {self.missing_table} table"
        return self.note or "no data"

    @property
    def target_text(self) -> str:
        """The green target as text, e.g. '≥ 95%', '|x| ≤ 5%', '30–90 days'."""
        return _threshold_text(self.target, self.direction, self.unit)

    @property
    def target_words(self) -> str:
        """The green target in plain words, e.g. 'at least 95%', 'within ±5%', 'between 30 and 90 days'."""
        return _threshold_words(self.target, self.direction, self.unit)

    @property
    def status_basis(self) -> str:
        """What the value and its status cover, e.g. 'over the last 12 months', 'on the full-year outlook'."""
        if self.key == "capacity_utilisation" and _NO_FORWARD_PLAN in self.note:
            return f"at the peak month of the last {WINDOW_MONTHS} months"
        return STATUS_BASIS.get(self.key, "")

    @property
    def trend_basis(self) -> str:
        """What the trend's points are (always history) and how the value relates to them."""
        if self.key == "capacity_utilisation" and _NO_FORWARD_PLAN in self.note:
            return f"peak load of each actual month; the value is the highest of the last {WINDOW_MONTHS}"
        return TREND_BASIS.get(self.key, "")


@dataclass
class ScorecardInputs:
    """Whatever is loaded; every frame is optional and a KPI without its inputs says which table it needs.

    orders: order_id, sku, requested_date, requested_qty, delivered_date, delivered_qty.
    inventory: date, sku, location, on_hand. products: sku, family, unit_price, unit_cost, resource,
    hours_per_unit. history: actuals, sku, region, family, period (or date), quantity, revenue.
    coverage: the plan's `coverage.PlanCoverage` (`plan.PlanResult.coverage`), see the module docstring.
    accuracy_points: period, forecast, actual (backtest points or `plan_vs_actual`).
    consensus: forward plan, sku, region, family, period, units. capacity: period, resource,
    available_hours, capacity_units. utilisation: a `supply.utilisation` frame (else computed from
    consensus, products and capacity). outlook: a `finance.outlook` frame for `year` (else computed
    from history and consensus). budget: the annual plan table (period, family/sku, revenue_plan).
    """

    orders: pd.DataFrame | None = None
    inventory: pd.DataFrame | None = None
    products: pd.DataFrame | None = None
    history: pd.DataFrame | None = None
    accuracy_points: pd.DataFrame | None = None
    consensus: pd.DataFrame | None = None
    capacity: pd.DataFrame | None = None
    utilisation: pd.DataFrame | None = None
    outlook: pd.DataFrame | None = None
    budget: pd.DataFrame | None = None
    year: int | None = None
    as_of: pd.Timestamp | None = None
    targets: Mapping[str, Mapping[str, Any]] | None = None
    window_months: int = WINDOW_MONTHS
    coverage: Any | None = None  # coverage.PlanCoverage of the plan (what its checks saw); None: not known


# -- targets and status ------------------------------------------------------------------------
def _as_threshold(v: Any) -> Threshold:
    """A float, or a (lo, hi) pair of floats."""
    if isinstance(v, (list, tuple)):
        if len(v) != 2:
            raise ValueError(f"a band target is a pair (low, high), got {v!r}")
        return (float(v[0]), float(v[1]))
    return float(v)


def merge_targets(overrides: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, dict[str, Threshold]]:
    """DEFAULT_TARGETS with `overrides` ({key: {'green': .., 'amber': ..}}, partial allowed) applied and checked."""
    out: dict[str, dict[str, Threshold]] = {
        k: {lvl: _as_threshold(v) for lvl, v in t.items()} for k, t in copy.deepcopy(DEFAULT_TARGETS).items()}
    for key, t in (overrides or {}).items():
        if key not in out:
            raise ValueError(f"unknown KPI {key!r}: use one of {', '.join(KPI_KEYS)}")
        for lvl, v in dict(t).items():
            if lvl not in ("green", "amber"):
                raise ValueError(f"KPI {key}: unknown level {lvl!r} (use 'green' and 'amber')")
            out[key][lvl] = _as_threshold(v)
    for key, t in out.items():
        _check_levels(key, SPECS[key][2], t["green"], t["amber"])
    return out


def _check_levels(key: str, direction: str, green: Threshold, amber: Threshold) -> None:
    """Raise ValueError when the amber level is not looser than the green one."""
    if isinstance(green, tuple) != isinstance(amber, tuple):
        raise ValueError(f"KPI {key}: green and amber must both be numbers or both be (low, high) bands")
    if isinstance(green, tuple) and isinstance(amber, tuple):
        ok = green[0] <= green[1] and amber[0] <= green[0] and green[1] <= amber[1]
        if not ok:
            raise ValueError(f"KPI {key}: the amber band {amber} must contain the green band {green}")
        return
    g, a = float(green), float(amber)  # type: ignore[arg-type]
    ok = {"higher": g >= a, "lower": g <= a, "band": 0 <= g <= a}[direction]
    if not ok:
        raise ValueError(f"KPI {key}: green {g} and amber {a} are in the wrong order for a '{direction}' KPI")


def load_targets(ws: Workspace) -> dict[str, dict[str, Threshold]]:
    """Targets of the workspace: setting 'kpi_targets' over DEFAULT_TARGETS."""
    return merge_targets(ws.get_setting(TARGETS_SETTING, {}) or {})


def save_targets(ws: Workspace, targets: Mapping[str, Mapping[str, Any]], author: str | None = None) -> None:
    """Validate and store target overrides in the workspace setting 'kpi_targets' (audited)."""
    merge_targets(targets)
    clean = {k: {lvl: (list(v) if isinstance(v, (list, tuple)) else float(v)) for lvl, v in dict(t).items()}
             for k, t in targets.items()}
    ws.set_setting(TARGETS_SETTING, clean, author)


def status_of(value: float | None, direction: str, green: Threshold, amber: Threshold) -> str:
    """'green' | 'amber' | 'red' for a value against its thresholds, 'missing' for None or NaN."""
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}: use one of {', '.join(DIRECTIONS)}")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "missing"
    v = float(value)

    def within(level: Threshold) -> bool:
        if isinstance(level, tuple):
            return level[0] <= v <= level[1]
        if direction == "higher":
            return v >= level
        if direction == "lower":
            return v <= level
        return abs(v) <= level

    return "green" if within(green) else "amber" if within(amber) else "red"


def _threshold_text(t: Threshold | None, direction: str, unit: str) -> str:
    """Human text of one threshold."""
    if t is None:
        return ""

    def fmt(x: float) -> str:
        return f"{x:.0%}" if unit == "pct" else f"{x:g} days" if unit == "days" else f"{x:g}"

    if isinstance(t, tuple):
        return f"{fmt(t[0])}–{fmt(t[1])}" if unit != "days" else f"{t[0]:g}–{t[1]:g} days"
    return {"higher": "≥ ", "lower": "≤ ", "band": "|x| ≤ "}[direction] + fmt(t)


def _threshold_words(t: Threshold | None, direction: str, unit: str) -> str:
    """One threshold in plain words: 'at least 95%', 'at most 90%', 'within ±5%', 'between 30 and 90 days'."""
    if t is None:
        return ""

    def fmt(x: float) -> str:
        text = (f"{x * 100:.4g}%" if unit == "pct" else f"{x:g}×" if unit == "ratio"
                else f"{x:,.0f}" if unit == "money" else f"{x:g}")
        return text.replace("-", "−")

    days = " days" if unit == "days" else ""
    if isinstance(t, tuple):
        return f"between {fmt(t[0])} and {fmt(t[1])}{days}"
    if direction == "band":
        return f"within ±{fmt(abs(t))}{days}"
    return {"higher": "at least ", "lower": "at most "}[direction] + fmt(t) + days


def make_kpi(key: str, value: float | None, targets: Mapping[str, Mapping[str, Threshold]] | None = None, *,
             trend: pd.DataFrame | None = None, note: str = "", missing_table: str | None = None,
             formula: str | None = None) -> KPI:
    """Build a KPI with its spec, thresholds and status (value None/NaN/inf → 'missing')."""
    label, unit, direction, text = SPECS[key]
    t = (targets or merge_targets())[key]
    v = None if value is None or not np.isfinite(value) else float(value)
    tr = empty_trend() if trend is None else trend.reset_index(drop=True)
    return KPI(key=key, label=label, value=v, unit=unit, formula=formula or text, target=t["green"],
               amber=t["amber"], direction=direction, status=status_of(v, direction, t["green"], t["amber"]),
               missing_table=missing_table, note=note, trend=tr)


def _missing(key: str, targets: Mapping[str, Mapping[str, Threshold]], table: str | None, note: str = "") -> KPI:
    """A KPI that cannot be computed: which table it needs, or why."""
    return make_kpi(key, None, targets, missing_table=table,
                    note=note or (f"needs the {table} table" if table else ""))


# -- shared helpers ----------------------------------------------------------------------------
def _blank(df: pd.DataFrame | None) -> bool:
    return df is None or len(df) == 0


def _months(end: pd.Timestamp, n: int) -> pd.DatetimeIndex:
    """The n month starts ending with `end`'s month."""
    e = pd.Timestamp(end).to_period("M").to_timestamp()
    return pd.date_range(e - pd.DateOffset(months=n - 1), e, freq="MS")


def _trend(periods: Any, values: Any) -> pd.DataFrame:
    """Trend frame (period, value), finite values only, last TREND_POINTS points."""
    df = pd.DataFrame({"period": pd.to_datetime(pd.Series(periods)).to_numpy(),
                       "value": pd.to_numeric(pd.Series(values), errors="coerce").astype(float).to_numpy()})
    df = df[np.isfinite(df["value"])].sort_values("period").tail(TREND_POINTS)
    df["period"] = df["period"].astype("datetime64[us]")
    return df.reset_index(drop=True)


def _products(products: pd.DataFrame | None) -> pd.DataFrame:
    """Normalised products (an empty frame when none)."""
    return supply.normalise_products(products if products is not None else pd.DataFrame({"sku": []}))


def normalise_history(history: pd.DataFrame) -> pd.DataFrame:
    """Actuals as sku, region, family, period (month start), quantity, revenue (NaN when not given)."""
    when = "period" if "period" in history.columns else "date"
    qty = "quantity" if "quantity" in history.columns else "units"
    out = pd.DataFrame({
        "sku": history["sku"].astype(str).to_numpy(),
        "region": (history["region"].astype(object).where(history["region"].notna(), supply.NO_REGION)
                   .astype(str).to_numpy() if "region" in history.columns else supply.NO_REGION),
        "family": (history["family"].astype(object).where(history["family"].notna(), history["sku"])
                   .astype(str).to_numpy() if "family" in history.columns else history["sku"].astype(str).to_numpy()),
        "period": period_start(history[when]).to_numpy(),
        "quantity": pd.to_numeric(history[qty], errors="coerce").fillna(0.0).astype(float).to_numpy(),
        "revenue": (pd.to_numeric(history["revenue"], errors="coerce").astype(float).to_numpy()
                    if "revenue" in history.columns else np.nan),
    })
    return out


def monthly_actuals(history: pd.DataFrame, products: pd.DataFrame | None,
                    months_back: int | None = 2 * WINDOW_MONTHS) -> pd.DataFrame:
    """Actuals per month valued by finance: period, units, revenue, cogs, unpriced_units, uncosted_units.

    One row per month from the first month of history (or `months_back` months before the last,
    whichever is later) to the last month of history, 0 where nothing was sold.
    """
    h = normalise_history(history)
    first, last = h["period"].min(), h["period"].max()
    if months_back is not None:
        first = max(first, last - pd.DateOffset(months=months_back - 1))
        h = h[h["period"] >= first]
    prod = _products(products)
    parts = [finance.outlook(h, None, int(y), last, prod) for y in range(first.year, last.year + 1)]
    o = pd.concat(parts, ignore_index=True)
    cols = ["units", "revenue", "cogs", "unpriced_units", "uncosted_units"]
    g = o.groupby("period")[cols].sum(min_count=1)
    months = pd.date_range(first, last, freq="MS")
    g.index = pd.to_datetime(g.index)
    g = g.reindex(months).fillna({c: 0.0 for c in cols})
    # COGS leaves out units without a unit_cost (counted in uncosted_units), so a month of only those is 0
    return g.rename_axis("period").reset_index()


# -- forecast accuracy and bias ----------------------------------------------------------------
def _points(points: pd.DataFrame) -> pd.DataFrame:
    """period (month start), forecast, actual with both finite."""
    p = pd.DataFrame({
        "period": period_start(points["period"]).to_numpy(),
        "forecast": pd.to_numeric(points["forecast"], errors="coerce").astype(float).to_numpy(),
        "actual": pd.to_numeric(points["actual"], errors="coerce").astype(float).to_numpy(),
    })
    return p[np.isfinite(p["forecast"]) & np.isfinite(p["actual"])].reset_index(drop=True)


def plan_vs_actual(plan_lines: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """A past plan (sku, region, period, units) against actuals per sku × region × period: period, sku, region, forecast, actual.

    Only periods that are both planned and within the actuals' range; a planned series without
    sales is an actual of 0, a sold series the plan left out is a forecast of 0.
    """
    cols = ["period", "sku", "region", "forecast", "actual"]
    if _blank(plan_lines) or _blank(history):
        return pd.DataFrame({c: pd.Series(dtype=float if c in ("forecast", "actual") else object) for c in cols})
    pl = supply.normalise_plan(plan_lines).groupby(["sku", "region", "period"], as_index=False)["units"].sum()
    h = normalise_history(history).groupby(["sku", "region", "period"], as_index=False)["quantity"].sum()
    first, last = h["period"].min(), h["period"].max()
    periods = set(pl["period"]) & set(pd.date_range(first, last, freq="MS"))
    pl = pl[pl["period"].isin(periods)]
    h = h[h["period"].isin(periods)]
    out = pl.merge(h, on=["sku", "region", "period"], how="outer")
    out["forecast"] = out["units"].fillna(0.0)
    out["actual"] = out["quantity"].fillna(0.0)
    return out[cols].sort_values(["period", "sku", "region"]).reset_index(drop=True)


def accuracy_kpis(points: pd.DataFrame | None, targets: Mapping[str, Mapping[str, Threshold]] | None = None,
                  window_months: int = WINDOW_MONTHS) -> tuple[KPI, KPI]:
    """Forecast accuracy and bias over the points of the last `window_months` periods, with monthly trends."""
    targets = targets or merge_targets()
    if _blank(points):
        note = "needs a forecast backtest or an approved plan version to compare with actuals"
        return (_missing("forecast_accuracy", targets, "forecast", note), _missing("bias", targets, "forecast", note))
    p = _points(points)
    if p.empty:
        note = "no forecast point has both a forecast and an actual"
        return _missing("forecast_accuracy", targets, None, note), _missing("bias", targets, None, note)
    months = _months(p["period"].max(), window_months)
    w = p[p["period"].isin(months)]
    acc = metrics.accuracy(w["actual"], w["forecast"])
    b = metrics.bias(w["actual"], w["forecast"])
    by = metrics.summarise(w, by="period")
    span = f"{months[0]:%b %Y}–{months[-1]:%b %Y}"
    note = f"{len(w):,} forecast points, {span}"
    if not np.isfinite(acc):
        note = f"n/a: actuals sum to 0 over {span}, so WAPE and bias (ratios to ΣA) are undefined"
    return (make_kpi("forecast_accuracy", acc, targets, trend=_trend(by["period"], by["accuracy"]), note=note),
            make_kpi("bias", b, targets, trend=_trend(by["period"], by["bias"]), note=note))


# -- service: OTIF and fill rate ---------------------------------------------------------------
LINE_COLUMNS: tuple[str, ...] = (
    "order_id", "sku", "requested_date", "period", "requested_qty", "delivered_date", "delivered_qty",
    "state", "counted", "on_time", "in_full", "otif", "units_delivered", "qty_assumed",
)


def default_as_of(orders: pd.DataFrame) -> pd.Timestamp:
    """The latest delivered_date of the order lines (the clock's today when nothing was delivered)."""
    d = pd.to_datetime(orders["delivered_date"]) if "delivered_date" in orders.columns else pd.Series(dtype="M8[us]")
    last = d.max()
    return pd.Timestamp(last).normalize() if pd.notna(last) else clock.today_ts()


def order_lines(orders: pd.DataFrame, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
    """Order lines judged as of a date, columns LINE_COLUMNS.

    period = month of requested_date; state 'delivered' | 'past due' (open, requested before as_of)
    | 'not due' (open and not yet due, or requested after as_of); counted = state != 'not due';
    on_time, in_full, otif (bool, False for past-due lines); units_delivered = min(delivered,
    requested) (0 for past-due lines); qty_assumed = delivered with a blank delivered_qty (taken as
    in full).
    """
    as_of = default_as_of(orders) if as_of is None else pd.Timestamp(as_of).normalize()
    req = pd.to_datetime(orders["requested_date"]).dt.normalize()
    dd = (pd.to_datetime(orders["delivered_date"]).dt.normalize() if "delivered_date" in orders.columns
          else pd.Series(pd.NaT, index=orders.index, dtype="datetime64[us]"))
    rq = pd.to_numeric(orders["requested_qty"], errors="coerce").astype(float)
    dq = (pd.to_numeric(orders["delivered_qty"], errors="coerce").astype(float) if "delivered_qty" in orders.columns
          else pd.Series(np.nan, index=orders.index))
    delivered = dd.notna()
    qty_assumed = delivered & dq.isna()
    dq = dq.where(~qty_assumed, rq)
    state = np.where(req > as_of, "not due",
                     np.where(delivered, "delivered", np.where(req < as_of, "past due", "not due")))
    on_time = delivered & (dd <= req)
    in_full = delivered & (dq >= rq)
    out = pd.DataFrame({
        "order_id": orders["order_id"].to_numpy() if "order_id" in orders.columns else None,
        "sku": orders["sku"].to_numpy(),
        "requested_date": req.to_numpy(),
        "period": period_start(req).to_numpy(),
        "requested_qty": rq.to_numpy(),
        "delivered_date": dd.to_numpy(),
        "delivered_qty": dq.where(delivered).to_numpy(),
        "state": state,
    })
    out["counted"] = out["state"] != "not due"
    out["on_time"] = on_time.to_numpy()
    out["in_full"] = in_full.to_numpy()
    out["otif"] = (on_time & in_full).to_numpy()
    out["units_delivered"] = np.where(delivered, np.minimum(dq.fillna(0.0), rq), 0.0)
    out["qty_assumed"] = qty_assumed.to_numpy()
    return out[list(LINE_COLUMNS)]


def service_by_month(lines: pd.DataFrame) -> pd.DataFrame:
    """OTIF and fill rate per requested month over counted lines: period, lines, otif_lines, otif, ordered_units, delivered_units, fill_rate."""
    c = lines[lines["counted"]]
    g = c.groupby("period").agg(lines=("otif", "size"), otif_lines=("otif", "sum"),
                                ordered_units=("requested_qty", "sum"), delivered_units=("units_delivered", "sum"))
    g = g.reset_index()
    g["otif"] = g["otif_lines"] / g["lines"]
    g["fill_rate"] = g["delivered_units"] / g["ordered_units"].where(g["ordered_units"] > 0)
    return g[["period", "lines", "otif_lines", "otif", "ordered_units", "delivered_units", "fill_rate"]]


def otif(orders: pd.DataFrame, as_of: pd.Timestamp | None = None) -> float:
    """OTIF of all counted lines (rules of `order_lines`); NaN when no line is due."""
    c = order_lines(orders, as_of)
    c = c[c["counted"]]
    return float(c["otif"].mean()) if len(c) else float("nan")


def fill_rate(orders: pd.DataFrame, as_of: pd.Timestamp | None = None) -> float:
    """Unit fill rate Σ min(delivered, ordered) / Σ ordered of counted lines; NaN when nothing is due."""
    c = order_lines(orders, as_of)
    c = c[c["counted"]]
    ordered = float(c["requested_qty"].sum())
    return float(c["units_delivered"].sum()) / ordered if ordered > 0 else float("nan")


def service_kpis(orders: pd.DataFrame | None, targets: Mapping[str, Mapping[str, Threshold]] | None = None,
                 as_of: pd.Timestamp | None = None, window_months: int = WINDOW_MONTHS) -> tuple[KPI, KPI]:
    """OTIF and fill rate over the lines requested in the last `window_months` months up to as_of, with monthly trends."""
    targets = targets or merge_targets()
    if _blank(orders):
        return _missing("otif", targets, "orders"), _missing("fill_rate", targets, "orders")
    as_of = default_as_of(orders) if as_of is None else pd.Timestamp(as_of).normalize()
    lines = order_lines(orders, as_of)
    months = _months(as_of, window_months)
    w = lines[lines["period"].isin(months) & lines["counted"]]
    if w.empty:
        note = f"no order line due in the {window_months} months to {as_of:%d %b %Y}"
        return _missing("otif", targets, None, note), _missing("fill_rate", targets, None, note)
    by = service_by_month(lines[lines["period"].isin(months)])
    ordered = float(w["requested_qty"].sum())
    past_due = int((w["state"] == "past due").sum())
    not_due = int((lines["period"].isin(months) & ~lines["counted"]).sum())
    note = (f"{len(w):,} lines due to {as_of:%d %b %Y}; {past_due} open past due counted as failed, "
            f"{not_due} not yet due left out")
    assumed = int(w["qty_assumed"].sum())
    if assumed:
        note += f"; {assumed} delivered lines without delivered_qty taken as in full"
    o = make_kpi("otif", float(w["otif"].mean()), targets, trend=_trend(by["period"], by["otif"]), note=note)
    f = make_kpi("fill_rate", float(w["units_delivered"].sum()) / ordered if ordered > 0 else None, targets,
                 trend=_trend(by["period"], by["fill_rate"]), note=note)
    return o, f


# -- inventory: turns and days of supply -------------------------------------------------------
def inventory_at_cost(inventory_frame: pd.DataFrame, products: pd.DataFrame | None) -> pd.DataFrame:
    """Month-end inventory per month: period, on_hand (units), value_at_cost, uncosted_units, as_of.

    Each sku's last snapshot in the month, summed over locations; value = on_hand × unit_cost (skus
    without a cost are left out of the value and counted in uncosted_units).
    """
    cols = ["period", "on_hand", "value_at_cost", "uncosted_units", "as_of"]
    if _blank(inventory_frame):
        return pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
    df = pd.DataFrame({
        "sku": inventory_frame["sku"].astype(str).to_numpy(),
        "date": pd.to_datetime(inventory_frame["date"]).dt.normalize().to_numpy(),
        "on_hand": pd.to_numeric(inventory_frame["on_hand"], errors="coerce").fillna(0.0).astype(float).to_numpy(),
    })
    df["period"] = period_start(df["date"]).to_numpy()
    last = df.groupby(["sku", "period"])["date"].transform("max")
    df = df[df["date"] == last].groupby(["sku", "period"], as_index=False).agg(on_hand=("on_hand", "sum"),
                                                                              as_of=("date", "max"))
    cost = _products(products).set_index("sku")["unit_cost"]
    df["cost"] = df["sku"].map(cost).astype(float)
    df["value_at_cost"] = df["on_hand"] * df["cost"]
    df["uncosted_units"] = np.where(df["cost"].isna(), df["on_hand"], 0.0)
    g = df.groupby("period", as_index=False).agg(on_hand=("on_hand", "sum"),
                                                 value_at_cost=("value_at_cost", lambda s: s.sum(min_count=1)),
                                                 uncosted_units=("uncosted_units", "sum"), as_of=("as_of", "max"))
    return g[cols].sort_values("period").reset_index(drop=True)


def inventory_turns(cogs: pd.Series, inventory_value: pd.Series, end: pd.Timestamp,
                    window_months: int = WINDOW_MONTHS) -> float:
    """Turns = COGS over the window ending at `end` (× 12 / months with COGS) / mean inventory at cost of the window.

    `cogs` and `inventory_value` are indexed by month start; NaN when the window has no COGS month
    or no inventory snapshot, or the average inventory is 0.
    """
    months = _months(end, window_months)
    c = cogs.reindex(months).dropna()
    inv = inventory_value.reindex(months).dropna()
    if c.empty or inv.empty or not inv.mean() > 0:
        return float("nan")
    return float(c.sum() * (12.0 / len(c)) / inv.mean())


def turns_kpi(inventory_frame: pd.DataFrame | None, history: pd.DataFrame | None, products: pd.DataFrame | None,
              targets: Mapping[str, Mapping[str, Threshold]] | None = None,
              window_months: int = WINDOW_MONTHS, actuals: pd.DataFrame | None = None) -> KPI:
    """Inventory turns over the last 12 months, with a rolling-12-month monthly trend (`actuals`: a `monthly_actuals` frame)."""
    targets = targets or merge_targets()
    if _blank(inventory_frame):
        return _missing("inventory_turns", targets, "inventory")
    if _blank(history):
        return _missing("inventory_turns", targets, "sales")
    if _blank(products) or not _products(products)["unit_cost"].notna().any():
        return _missing("inventory_turns", targets, "products", "needs unit_cost in the products table")
    act = (actuals if actuals is not None else monthly_actuals(history, products)).set_index("period")
    inv = inventory_at_cost(inventory_frame, products).set_index("period")
    cogs = act["cogs"]
    value = inv["value_at_cost"]
    end = min(act.index.max(), inv.index.max())
    turns = inventory_turns(cogs, value, end, window_months)
    trend_months = _months(end, TREND_POINTS)
    trend = [inventory_turns(cogs, value, m, WINDOW_MONTHS) for m in trend_months]
    months = _months(end, window_months)
    n_cogs = int(cogs.reindex(months).notna().sum())
    n_inv = int(value.reindex(months).notna().sum())
    note = f"COGS of {n_cogs} months to {end:%b %Y} / average of {n_inv} month-end inventories at cost"
    if 0 < n_cogs < 12:
        note += f" (COGS annualised × 12/{n_cogs})"
    unc_hist = float(act["uncosted_units"].reindex(months).sum())
    unc_inv = float(inv["uncosted_units"].reindex(months).sum())
    if unc_hist > 0 or unc_inv > 0:
        note += "; units of skus without unit_cost are left out"
    return make_kpi("inventory_turns", turns, targets, trend=_trend(trend_months, trend), note=note)


def forward_days(stock: float, demand: pd.Series, start: pd.Timestamp) -> float:
    """Days until cumulative `demand` (indexed by month start) exceeds `stock`, counting from the day `start`.

    The first month counts pro rata from `start`; beyond the last month demand continues at the
    average daily rate of the months walked; capped at 104 weeks (`inventory.forward_cover_weeks`).
    """
    start = pd.Timestamp(start).normalize()
    first = start.to_period("M").to_timestamp()
    d = demand.copy()
    d.index = pd.to_datetime(d.index)
    d = d[d.index >= first]
    if d.empty:
        months = pd.DatetimeIndex([first])
    else:
        months = pd.date_range(first, d.index.max(), freq="MS")
    dem = np.array(d.groupby(level=0).sum().reindex(months).fillna(0.0).to_numpy(float), copy=True)
    days = np.array([m.days_in_month for m in months], float)
    remaining = days[0] - (start.day - 1)
    dem[0] *= remaining / days[0]
    days[0] = remaining
    tail = np.array([dem.sum() / days.sum()]) if days.sum() > 0 else np.array([0.0])
    weeks = inventory.forward_cover_weeks(np.array([float(stock)]), dem[None, :], days, tail)
    return float(weeks[0] * 7.0)


def _valued_plan(plan: pd.DataFrame, cost: pd.Series | None) -> pd.Series:
    """Plan per month, at cost when `cost` (per sku) is given, else in units."""
    p = supply.normalise_plan(plan)
    if cost is not None:
        p = p.assign(units=p["units"] * p["sku"].map(cost).astype(float)).dropna(subset=["units"])
    return p.groupby("period")["units"].sum()


def days_of_supply_kpi(inventory_frame: pd.DataFrame | None, consensus: pd.DataFrame | None,
                       products: pd.DataFrame | None, history: pd.DataFrame | None = None,
                       targets: Mapping[str, Mapping[str, Threshold]] | None = None,
                       actuals: pd.DataFrame | None = None) -> KPI:
    """Forward days of supply of the latest on hand against the forecast, with a monthly trend of past snapshots."""
    targets = targets or merge_targets()
    if _blank(inventory_frame):
        return _missing("days_of_supply", targets, "inventory")
    prod = _products(products)
    costed = prod.dropna(subset=["unit_cost"]).set_index("sku")["unit_cost"]
    basis = "cost" if len(costed) else "units"
    cost = costed if basis == "cost" else None
    inv = inventory_at_cost(inventory_frame, products if basis == "cost" else None)
    inv_value = inv.set_index("period")["value_at_cost" if basis == "cost" else "on_hand"]
    trend_p, trend_v = [], []
    if not _blank(history):
        h = normalise_history(history)
        act = (actuals if actuals is not None else monthly_actuals(history, products)).set_index(
            "period")["cogs"] if basis == "cost" else \
            h.groupby("period")["quantity"].sum()
        fut = _valued_plan(consensus, cost) if not _blank(consensus) else pd.Series(
            dtype=float, index=pd.DatetimeIndex([], dtype="datetime64[us]"))
        fut = fut[pd.to_datetime(fut.index) > act.index.max()]
        walk = pd.concat([act, fut])
        for m, row in inv.set_index("period").tail(TREND_POINTS).iterrows():
            stock = row["value_at_cost"] if basis == "cost" else row["on_hand"]
            if pd.isna(stock):
                continue
            start = pd.Timestamp(row["as_of"]) + pd.Timedelta(days=1)
            if walk.empty or walk.index.max() < start.to_period("M").to_timestamp():
                continue  # nothing known after the snapshot: no walk
            trend_p.append(m)
            trend_v.append(forward_days(float(stock), walk, start))
    trend = _trend(trend_p, trend_v)
    if _blank(consensus):
        k = _missing("days_of_supply", targets, "forecast", "needs a forecast (consensus plan) to walk forward")
        k.trend = trend
        return k
    oh = inventory.latest_on_hand(inventory_frame)
    as_of = pd.Timestamp(oh["as_of"].max())
    if basis == "cost":
        oh = oh.assign(value=oh["on_hand"] * oh["sku"].map(costed).astype(float))
        stock = float(oh["value"].sum(min_count=1)) if oh["value"].notna().any() else float("nan")
    else:
        stock = float(oh["on_hand"].sum())
    demand = _valued_plan(consensus, cost)
    start = as_of + pd.Timedelta(days=1)
    value = forward_days(stock, demand, start) if np.isfinite(stock) else float("nan")
    note = f"on hand at {as_of:%d %b %Y} walked through the forecast from {start:%d %b %Y}"
    note += ", at cost" if basis == "cost" else ", in units (no unit_cost known)"
    if value >= DAYS_CAP - 1e-9:
        note += f"; capped at {DAYS_CAP:g} days"
    return make_kpi("days_of_supply", value, targets, trend=trend, note=note)


# -- capacity utilisation ----------------------------------------------------------------------
def utilisation_of(plan: pd.DataFrame, products: pd.DataFrame, capacity: pd.DataFrame,
                   units: str = "units") -> pd.DataFrame:
    """`supply.utilisation` of a plan (or of actuals with units='quantity') against capacity."""
    p = plan.rename(columns={units: "units"}) if units != "units" else plan
    if "period" not in p.columns and "date" in p.columns:
        p = p.rename(columns={"date": "period"})
    return supply.utilisation(supply.required_load(p, products), capacity)


def peak_utilisation(util: pd.DataFrame) -> pd.DataFrame:
    """Highest finite utilisation per period: period, utilisation, resource."""
    u = util[np.isfinite(util["utilisation"].astype(float))]
    if u.empty:
        return pd.DataFrame({"period": pd.Series(dtype="datetime64[us]"), "utilisation": pd.Series(dtype=float),
                             "resource": pd.Series(dtype=object)})
    idx = u.groupby("period")["utilisation"].idxmax()
    return u.loc[idx, ["period", "utilisation", "resource"]].sort_values("period").reset_index(drop=True)


def utilisation_kpi(utilisation: pd.DataFrame | None, consensus: pd.DataFrame | None, products: pd.DataFrame | None,
                    capacity: pd.DataFrame | None, history: pd.DataFrame | None = None,
                    targets: Mapping[str, Mapping[str, Threshold]] | None = None,
                    window_months: int = WINDOW_MONTHS) -> KPI:
    """Peak resource utilisation over the next 12 months of the plan (else the last 12 of actuals), monthly trend of actuals."""
    targets = targets or merge_targets()
    has_util = not _blank(utilisation)
    if not has_util and _blank(capacity):
        return _missing("capacity_utilisation", targets, "capacity")
    if not has_util and _blank(products):
        return _missing("capacity_utilisation", targets, "products", "needs resource and hours_per_unit in products")
    last = normalise_history(history)["period"].max() if not _blank(history) else None
    trend = empty_trend()
    hist_peak = None
    if last is not None and not _blank(capacity) and not _blank(products):
        h = normalise_history(history)
        h = h[h["period"].isin(_months(last, max(window_months, TREND_POINTS)))]
        hist_peak = peak_utilisation(utilisation_of(h, products, capacity, units="quantity"))
        trend = _trend(hist_peak["period"], hist_peak["utilisation"])
    fwd = utilisation if has_util else consensus
    if not _blank(fwd):
        f = fwd.assign(period=period_start(fwd["period"]).to_numpy())
        first = (last + pd.DateOffset(months=1)) if last is not None else f["period"].min()
        f = f[(f["period"] >= first) & (f["period"] < first + pd.DateOffset(months=window_months))]
        if not has_util:
            f = utilisation_of(f, products, capacity) if len(f) else f.assign(utilisation=pd.Series(dtype=float))
        peaks = peak_utilisation(f)
        source = f"next {window_months} months of the plan"
    elif hist_peak is not None and len(hist_peak):
        peaks = hist_peak[hist_peak["period"].isin(_months(last, window_months))]
        source = f"last {window_months} months of actuals (no forward plan)"
    else:
        return _missing("capacity_utilisation", targets, "sales" if last is None else "forecast",
                        "needs a plan or sales history to load the resources")
    if peaks.empty:
        k = _missing("capacity_utilisation", targets, None, "no resource × month with both load and capacity")
        k.trend = trend
        return k
    top = peaks.loc[peaks["utilisation"].idxmax()]
    over = int((peaks["utilisation"] > 1.0 + 1e-9).sum())
    note = (f"peak {top['resource']} in {pd.Timestamp(top['period']):%b %Y} over the {source}; "
            f"{over} month(s) with a resource above 100%")
    return make_kpi("capacity_utilisation", float(top["utilisation"]), targets, trend=trend, note=note)


# -- money: revenue vs plan and gross margin ---------------------------------------------------
def _budget_by_month(budget: pd.DataFrame) -> pd.Series:
    """Annual plan revenue per month."""
    b = budget.assign(period=period_start(budget["period"]).to_numpy(),
                      revenue_plan=pd.to_numeric(budget["revenue_plan"], errors="coerce").astype(float))
    return b.groupby("period")["revenue_plan"].sum(min_count=1)


def revenue_vs_plan_kpi(budget: pd.DataFrame | None, history: pd.DataFrame | None, consensus: pd.DataFrame | None,
                        products: pd.DataFrame | None, outlook: pd.DataFrame | None = None, year: int | None = None,
                        targets: Mapping[str, Mapping[str, Threshold]] | None = None,
                        window_months: int = WINDOW_MONTHS, actuals: pd.DataFrame | None = None) -> KPI:
    """(Outlook − annual plan) / annual plan for the outlook year, trend of monthly (actual − plan) / plan."""
    targets = targets or merge_targets()
    if _blank(budget) or "revenue_plan" not in budget.columns:
        return _missing("revenue_vs_plan", targets, "plan")
    if _blank(history) and _blank(outlook):
        return _missing("revenue_vs_plan", targets, "sales")
    last = normalise_history(history)["period"].max() if not _blank(history) else None
    if year is None:
        year = (last + pd.DateOffset(months=1)).year if last is not None else int(
            pd.to_datetime(outlook["period"]).dt.year.min())
    prod = _products(products)
    trend = empty_trend()
    if last is not None:
        act = (actuals if actuals is not None else monthly_actuals(history, products)).set_index(
            "period")["revenue"]
        plan_m = _budget_by_month(budget)
        months = _months(last, TREND_POINTS)
        a, p = act.reindex(months), plan_m.reindex(months)
        ratio = (a - p) / p.where(p > 0)
        trend = _trend(months, ratio)
    if _blank(outlook):
        year_done = last is not None and last >= pd.Timestamp(f"{int(year)}-12-01")
        if _blank(consensus) and not year_done:
            k = _missing("revenue_vs_plan", targets, "forecast",
                         "needs a forecast (consensus plan) for the rest of the year")
            k.trend = trend
            return k
        outlook = finance.outlook(normalise_history(history), consensus, int(year), last, prod)
    vb = finance.vs_budget(outlook, budget, int(year), prod)
    total = vb[vb["is_total"]].iloc[0]
    note = (f"{year} outlook {total['outlook_revenue']:,.0f} vs annual plan {total['plan_revenue']:,.0f} "
            f"(gap {total['gap']:+,.0f})")
    if not total["plan_revenue"] > 0:
        note = f"n/a: the annual plan has no revenue for {year}"
    return make_kpi("revenue_vs_plan", float(total["gap_pct"]), targets, trend=trend, note=note)


def gross_margin_kpi(history: pd.DataFrame | None, products: pd.DataFrame | None,
                     targets: Mapping[str, Mapping[str, Threshold]] | None = None,
                     window_months: int = WINDOW_MONTHS, actuals: pd.DataFrame | None = None) -> KPI:
    """Gross margin % of the actuals over the trailing 12 months, with a monthly trend."""
    targets = targets or merge_targets()
    if _blank(history):
        return _missing("gross_margin_pct", targets, "sales")
    if _blank(products) or not _products(products)["unit_cost"].notna().any():
        return _missing("gross_margin_pct", targets, "products", "needs unit_cost in the products table")
    act = (actuals if actuals is not None else monthly_actuals(history, products)).set_index("period")
    last = act.index.max()
    w = act.reindex(_months(last, window_months)).dropna(how="all")
    tr = act.reindex(_months(last, TREND_POINTS)).dropna(how="all")
    monthly = finance.margin_pct(tr["revenue"], tr["cogs"]).where(tr["uncosted_units"] <= 0)
    trend = _trend(tr.index, monthly)
    uncosted = float(w["uncosted_units"].sum())
    if uncosted > 0:
        k = _missing("gross_margin_pct", targets, "products",
                     f"{uncosted:,.0f} units sold have no unit_cost in products: "
                     "margin not computed on part of the data")
        k.trend = trend
        return k
    gm = finance.margin_pct(float(w["revenue"].sum()), float(w["cogs"].sum()))
    note = f"{len(w)} months to {last:%b %Y}: revenue {w['revenue'].sum():,.0f}, COGS {w['cogs'].sum():,.0f}"
    return make_kpi("gross_margin_pct", gm, targets, trend=trend, note=note)


# -- the scorecard -----------------------------------------------------------------------------
def scorecard(inputs: ScorecardInputs) -> list[KPI]:
    """All KPIs in KPI_KEYS order, each computed from what `inputs` holds or saying which table it needs."""
    t = merge_targets(inputs.targets)
    n = inputs.window_months
    acc, bias = accuracy_kpis(inputs.accuracy_points, t, n)
    o, f = service_kpis(inputs.orders, t, inputs.as_of, n)
    act = None if _blank(inputs.history) else monthly_actuals(inputs.history, inputs.products, max(2 * n, 24))
    return with_coverage([
        acc, bias, o, f,
        turns_kpi(inputs.inventory, inputs.history, inputs.products, t, n, actuals=act),
        days_of_supply_kpi(inputs.inventory, inputs.consensus, inputs.products, inputs.history, t, actuals=act),
        utilisation_kpi(inputs.utilisation, inputs.consensus, inputs.products, inputs.capacity, inputs.history, t, n),
        revenue_vs_plan_kpi(inputs.budget, inputs.history, inputs.consensus, inputs.products, inputs.outlook,
                            inputs.year, t, n, actuals=act),
        gross_margin_kpi(inputs.history, inputs.products, t, n, actuals=act),
    ], inputs.coverage, t)


# KPI -> the plan checks (coverage.PlanCoverage attributes) whose evidence it stands on
COVERAGE_OF: dict[str, tuple[str, ...]] = {
    "capacity_utilisation": ("capacity",),
    "days_of_supply": ("inventory",),
    "inventory_turns": ("inventory",),
    "revenue_vs_plan": ("prices", "annual_plan"),
}


def with_coverage(cards: list[KPI], coverage: Any | None,
                  targets: Mapping[str, Mapping[str, Threshold]] | None = None) -> list[KPI]:
    """The KPIs with the plan's coverage applied (COVERAGE_OF): a KPI whose check saw nothing of the plan is
    missing, its note the coverage's sentence (no value, no trend, no status); one whose check saw part of the
    plan says so in `KPI.coverage` ('Load vs capacity: checked 12 of 45 skus'). `coverage` None: unchanged."""
    if coverage is None:
        return cards
    targets = targets or merge_targets()
    out = []
    for k in cards:
        covs = [getattr(coverage, c) for c in COVERAGE_OF.get(k.key, ())]
        blind = next((c for c in covs if c.state == "none"), None)
        if blind is not None:
            k = _missing(k.key, targets, None, blind.text)
        elif k.status != "missing":
            partial = "; ".join(f"{CHECKS[c.check]}: {c.summary}" for c in covs if not c.complete)
            if partial:
                k = dataclasses.replace(k, coverage=partial)
        out.append(k)
    return out


def as_frame(kpis: list[KPI]) -> pd.DataFrame:
    """The scorecard as a table: key, label, value, unit, status, target, amber, direction, missing_table, note, formula."""
    return pd.DataFrame([{
        "key": k.key, "label": k.label, "value": k.value, "unit": k.unit, "status": k.status,
        "target": k.target, "amber": k.amber, "direction": k.direction, "missing_table": k.missing_table,
        "note": k.note, "formula": k.formula,
    } for k in kpis])


def by_status(kpis: list[KPI]) -> dict[str, list[str]]:
    """The KPIs' labels per status, in scorecard order: every key of STATUSES, empty lists included."""
    out: dict[str, list[str]] = {s: [] for s in STATUSES}
    for k in kpis:
        out[k.status].append(k.label)
    return out


def inputs_from_workspace(ws: Workspace, *, consensus: pd.DataFrame | None = None,
                          accuracy_points: pd.DataFrame | None = None, utilisation: pd.DataFrame | None = None,
                          outlook: pd.DataFrame | None = None) -> ScorecardInputs:
    """ScorecardInputs from the workspace's loaded tables and targets, plus the derived frames the caller has."""
    from sop_core.demand.history import demand_history, products as load_products

    def table(name: str) -> pd.DataFrame | None:
        return ws.table(name) if ws.has_table(name) else None

    prod = load_products(ws)
    hist = demand_history(ws)
    return ScorecardInputs(
        orders=table("orders"), inventory=table("inventory"), products=prod if len(prod) else None,
        history=hist if len(hist) else None, accuracy_points=accuracy_points, consensus=consensus,
        capacity=table("capacity"), utilisation=utilisation, outlook=outlook, budget=table("plan"),
        targets=ws.get_setting(TARGETS_SETTING, {}) or {},
    )


def plan_scorecard(ws: Workspace, accuracy_points: pd.DataFrame | None, result: Any | None) -> list[KPI]:
    """The scorecard the app and the board pack show: loaded tables, forecast accuracy points and an evaluated plan.

    result: a `plan.PlanResult` (its consensus, utilisation and constrained outlook), or None before a forecast exists.
    """
    if result is None:
        return scorecard(inputs_from_workspace(ws, accuracy_points=accuracy_points))
    inputs = inputs_from_workspace(ws, consensus=result.consensus, accuracy_points=accuracy_points,
                                   utilisation=result.utilisation, outlook=result.outlook_constrained)
    return scorecard(dataclasses.replace(inputs, year=result.year, coverage=getattr(result, "coverage", None)))
