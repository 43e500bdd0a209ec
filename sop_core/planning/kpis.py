"""The KPI scorecard: performance control of the S&OP cycle, as pure functions over DataFrames.

Every KPI is measured exactly as the S&OP primer defines it and reuses the engines that own the
numbers: `metrics` (accuracy, bias), `service` (OTIF and fill rate of the order lines), `actuals` and
`finance` (revenue, COGS and gross margin of the actuals, the outlook and its gap to the annual plan),
`supply` (load vs capacity) and `inventory` (the forward cover walk). Labels, units, directions and
formulas come from `kpi_catalogue` (keys in KPI_KEYS), targets and statuses from `kpi_targets`.
Headline values cover the trailing `window_months` (12) months of the data each KPI uses; trends are
one value per month for at most the last 12 months.

Rules (also printed next to each number, see `KPI.formula`):

* Forecast accuracy = 1 − WAPE and bias % = Σ(F − A) / ΣA over forecast points (period, forecast,
  actual): backtest points (all origins pooled) or a past approved plan version against actuals
  (`plan_vs_actual`). When ΣA = 0 both are undefined: status 'missing' with the reason in `note`.
* OTIF and unit fill rate ('order_fill_rate') over order lines due, counted in the month of their
  requested date (rules in `sop_core.planning.service`). A delivered line with a blank delivered_qty
  is taken as delivered in full (counted in `note`).
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
* Gross margin % ('gross_margin_pct_12m') = (revenue − COGS) / revenue of the actuals over the
  trailing 12 months; missing when any sold units have no unit_cost (finance never computes a margin
  on half the data).

Statuses: 'green' / 'amber' / 'red' against `targets` (workspace setting 'kpi_targets' over
DEFAULT_TARGETS, rules in `kpi_targets`), 'missing' when the value cannot be computed — shown as "Not
checked" with what to load (`KPI.not_checked_text`), never as on target. With the plan's coverage
(`ScorecardInputs.coverage`, `sop_core.planning.coverage`): a KPI whose check saw no sku of the plan is
missing with the coverage's sentence (capacity utilisation: the capacity check; days of supply and
turns: the stock projection; revenue vs plan: prices and the annual plan); one that saw part of the
plan says how much (`KPI.coverage`).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sop_core.contract import MONEY, UNITS
from sop_core.demand import metrics
from sop_core.periods import period_start
from sop_core.planning import finance, inventory, supply
from sop_core.planning.actuals import (
    forward_days,
    inventory_at_cost,
    inventory_turns,
    month_starts,
    monthly_actuals,
    normalise_history,
    products_frame,
    valued_plan,
)
from sop_core.planning.coverage import CHECKS
from sop_core.planning.kpi_catalogue import MEASURES, SCORECARD_KEYS, WINDOW_MONTHS
from sop_core.planning.kpi_targets import (
    BASES,
    LATEST_MONTH_KEYS,
    STATUSES,
    Threshold,
    current_keys,
    merge_targets,
    status_of,
    threshold_text,
    threshold_words,
)
from sop_core.planning.service import default_as_of, order_lines, service_by_month

if TYPE_CHECKING:  # pragma: no cover
    from sop_core.store.workspace import Workspace

TARGETS_SETTING = "kpi_targets"
TREND_POINTS = 12
DAYS_CAP = inventory.COVER_CAP_WEEKS * 7.0
KPI_KEYS: tuple[str, ...] = SCORECARD_KEYS


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
    basis: str = ""  # what the status judges (kpi_targets.BASES): 'latest' month or '12m'; '' = the value itself
    latest: float | None = None  # the latest month's value (the trend's last point) of a monthly KPI
    latest_period: pd.Timestamp | None = None

    @property
    def judged(self) -> float | None:
        """The number the status is about: the latest month's value when the basis is 'latest', else the value."""
        return self.latest if self.basis == "latest" and self.latest is not None else self.value

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
        return threshold_text(self.target, self.direction, self.unit)

    @property
    def target_words(self) -> str:
        """The green target in plain words, e.g. 'at least 95%', 'within ±5%', 'between 30 and 90 days'."""
        return threshold_words(self.target, self.direction, self.unit)

    @property
    def status_basis(self) -> str:
        """What the value and its status cover, e.g. 'over the last 12 months', 'on the full-year outlook'."""
        if self.key == "capacity_utilisation" and _NO_FORWARD_PLAN in self.note:
            return f"at the peak month of the last {WINDOW_MONTHS} months"
        if self.basis == "latest" and self.latest_period is not None:
            return f"in {self.latest_period:%b %Y}, the latest month"
        return MEASURES[self.key].window if self.key in MEASURES else ""

    @property
    def trend_basis(self) -> str:
        """What the trend's points are (always history) and how the value relates to them."""
        if self.key == "capacity_utilisation" and _NO_FORWARD_PLAN in self.note:
            return f"peak load of each actual month; the value is the highest of the last {WINDOW_MONTHS}"
        text = MEASURES[self.key].trend if self.key in MEASURES else ""
        if self.basis:
            text += f"; the status is on {BASES[self.basis]}"
        return text


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
    Aggregated instead of whole tables (`kpi_sql`, what `inputs_from_workspace` gives): service_months (per
    month, `service.service_by_month`; with as_of), actuals (`actuals.monthly_actuals` of the history),
    inventory_value (`actuals.inventory_at_cost`), on_hand (`inventory.latest_on_hand`); each wins over
    the whole frame it stands for. basis: contract.MONEY for a history of sales values, whose turns, days of supply
    and load cannot be measured (not checked, saying so).
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
    service_months: pd.DataFrame | None = None
    actuals: pd.DataFrame | None = None
    inventory_value: pd.DataFrame | None = None
    on_hand: pd.DataFrame | None = None
    basis: str = UNITS  # what the history measures (contract.UNITS | MONEY): in money, no stock or load KPI


# -- targets in the workspace ---------------------------------------------------------------
def load_targets(ws: Workspace) -> dict[str, dict[str, Threshold]]:
    """Targets of the workspace: setting 'kpi_targets' (keys stored before the catalogue read as now) over DEFAULT_TARGETS."""
    return merge_targets(ws.get_setting(TARGETS_SETTING, {}) or {})


def save_targets(ws: Workspace, targets: Mapping[str, Mapping[str, Any]], author: str | None = None) -> None:
    """Validate and store target overrides in the workspace setting 'kpi_targets' (audited), under the keys now."""
    targets = current_keys(targets)
    merge_targets(targets)
    clean = {k: {lvl: (v if lvl == "basis" else list(v) if isinstance(v, (list, tuple)) else float(v))
                 for lvl, v in dict(t).items()} for k, t in targets.items()}
    ws.set_setting(TARGETS_SETTING, clean, author)


def make_kpi(key: str, value: float | None, targets: Mapping[str, Mapping[str, Threshold]] | None = None, *,
             trend: pd.DataFrame | None = None, note: str = "", missing_table: str | None = None,
             formula: str | None = None) -> KPI:
    """Build a KPI with its spec, thresholds and status (value None/NaN/inf → 'missing')."""
    m = MEASURES[key]
    label, unit, direction, text = m.label, m.unit, m.better or "", m.formula
    t = (targets or merge_targets())[key]
    v = None if value is None or not np.isfinite(value) else float(value)
    tr = empty_trend() if trend is None else trend.reset_index(drop=True)
    basis = str(t.get("basis", "")) if key in LATEST_MONTH_KEYS else ""
    latest = period = None
    finite = tr[np.isfinite(pd.to_numeric(tr["value"], errors="coerce").astype(float))] if len(tr) else tr
    if basis and v is not None and len(finite):  # the latest month with a number (no NaN from a month of zeros)
        latest, period = float(finite["value"].iloc[-1]), pd.Timestamp(finite["period"].iloc[-1])
    k = KPI(key=key, label=label, value=v, unit=unit, formula=formula or text, target=t["green"], amber=t["amber"],
            direction=direction, status="missing", missing_table=missing_table, note=note, trend=tr, basis=basis,
            latest=latest, latest_period=period)
    return dataclasses.replace(k, status=status_of(k.judged, direction, t["green"], t["amber"]))


def _missing(key: str, targets: Mapping[str, Mapping[str, Threshold]], table: str | None, note: str = "") -> KPI:
    """A KPI that cannot be computed: which table it needs, or why."""
    return make_kpi(key, None, targets, missing_table=table,
                    note=note or (f"needs the {table} table" if table else ""))


# -- shared helpers ----------------------------------------------------------------------------
def _blank(df: pd.DataFrame | None) -> bool:
    return df is None or len(df) == 0



def _trend(periods: Any, values: Any) -> pd.DataFrame:
    """Trend frame (period, value), finite values only, last TREND_POINTS points."""
    df = pd.DataFrame({"period": pd.to_datetime(pd.Series(periods)).to_numpy(),
                       "value": pd.to_numeric(pd.Series(values), errors="coerce").astype(float).to_numpy()})
    df = df[np.isfinite(df["value"])].sort_values("period").tail(TREND_POINTS)
    df["period"] = df["period"].astype("datetime64[us]")
    return df.reset_index(drop=True)


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
    months = month_starts(p["period"].max(), window_months)
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
def service_kpis(orders: pd.DataFrame | None, targets: Mapping[str, Mapping[str, Threshold]] | None = None,
                 as_of: pd.Timestamp | None = None, window_months: int = WINDOW_MONTHS,
                 by_month: pd.DataFrame | None = None) -> tuple[KPI, KPI]:
    """OTIF and fill rate over the lines requested in the last `window_months` months up to as_of, with monthly trends.

    by_month: the lines already counted per month (`service.service_by_month`, e.g. from `kpi_sql`, with its
    as_of given); else counted here from `orders`.
    """
    targets = targets or merge_targets()
    if by_month is None:
        if _blank(orders):
            return _missing("otif", targets, "orders"), _missing("order_fill_rate", targets, "orders")
        as_of = default_as_of(orders) if as_of is None else pd.Timestamp(as_of).normalize()
        by_month = service_by_month(order_lines(orders, as_of))
    elif _blank(by_month):
        return _missing("otif", targets, "orders"), _missing("order_fill_rate", targets, "orders")
    as_of = pd.Timestamp(as_of).normalize()
    months = month_starts(as_of, window_months)
    by = by_month[by_month["period"].isin(months)]
    n = int(by["lines"].sum())
    if n == 0:
        note = f"no order line due in the {window_months} months to {as_of:%d %b %Y}"
        return _missing("otif", targets, None, note), _missing("order_fill_rate", targets, None, note)
    ordered = float(by["ordered_units"].sum())
    note = (f"{n:,} lines due to {as_of:%d %b %Y}; {int(by['past_due_lines'].sum())} open past due counted as failed, "
            f"{int(by['not_due_lines'].sum())} not yet due left out")
    assumed = int(by["qty_assumed_lines"].sum())
    if assumed:
        note += f"; {assumed} delivered lines without delivered_qty taken as in full"
    o = make_kpi("otif", int(by["otif_lines"].sum()) / n, targets, trend=_trend(by["period"], by["otif"]), note=note)
    f = make_kpi("order_fill_rate", float(by["delivered_units"].sum()) / ordered if ordered > 0 else None, targets,
                 trend=_trend(by["period"], by["fill_rate"]), note=note)
    return o, f


# -- inventory: turns and days of supply -------------------------------------------------------
def turns_kpi(inventory_frame: pd.DataFrame | None, history: pd.DataFrame | None, products: pd.DataFrame | None,
              targets: Mapping[str, Mapping[str, Threshold]] | None = None,
              window_months: int = WINDOW_MONTHS, actuals: pd.DataFrame | None = None,
              inventory_value: pd.DataFrame | None = None) -> KPI:
    """Inventory turns over the last 12 months, with a rolling-12-month monthly trend (`actuals`: a `monthly_actuals`
    frame; `inventory_value`: an `inventory_at_cost` frame, e.g. from `kpi_sql`, instead of `inventory_frame`)."""
    targets = targets or merge_targets()
    if _blank(inventory_frame) and _blank(inventory_value):
        return _missing("inventory_turns", targets, "inventory")
    if _blank(history):
        return _missing("inventory_turns", targets, "sales")
    if _blank(products) or not products_frame(products)["unit_cost"].notna().any():
        return _missing("inventory_turns", targets, "products", "needs unit_cost in the products table")
    act = (actuals if actuals is not None else monthly_actuals(history, products)).set_index("period")
    inv = (inventory_value if inventory_value is not None else inventory_at_cost(inventory_frame, products)
           ).set_index("period")
    cogs = act["cogs"]
    value = inv["value_at_cost"]
    end = min(act.index.max(), inv.index.max())
    turns = inventory_turns(cogs, value, end, window_months)
    trend_months = month_starts(end, TREND_POINTS)
    trend = [inventory_turns(cogs, value, m, WINDOW_MONTHS) for m in trend_months]
    months = month_starts(end, window_months)
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


def days_of_supply_kpi(inventory_frame: pd.DataFrame | None, consensus: pd.DataFrame | None,
                       products: pd.DataFrame | None, history: pd.DataFrame | None = None,
                       targets: Mapping[str, Mapping[str, Threshold]] | None = None,
                       actuals: pd.DataFrame | None = None, inventory_value: pd.DataFrame | None = None,
                       on_hand: pd.DataFrame | None = None) -> KPI:
    """Forward days of supply of the latest on hand against the forecast, with a monthly trend of past snapshots.

    inventory_value, on_hand: `inventory_at_cost` (valued with `products`) and `inventory.latest_on_hand`
    frames (e.g. from `kpi_sql`) instead of `inventory_frame`.
    """
    targets = targets or merge_targets()
    if _blank(inventory_frame) and _blank(inventory_value):
        return _missing("days_of_supply", targets, "inventory")
    prod = products_frame(products)
    costed = prod.dropna(subset=["unit_cost"]).set_index("sku")["unit_cost"]
    basis = "cost" if len(costed) else "units"
    cost = costed if basis == "cost" else None
    inv = inventory_value if inventory_value is not None else inventory_at_cost(inventory_frame, products)
    trend_p, trend_v = [], []
    if not _blank(history):
        h = normalise_history(history)
        act = (actuals if actuals is not None else monthly_actuals(history, products)).set_index(
            "period")["cogs"] if basis == "cost" else \
            h.groupby("period")["quantity"].sum()
        fut = valued_plan(consensus, cost) if not _blank(consensus) else pd.Series(
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
    oh = on_hand if on_hand is not None else inventory.latest_on_hand(inventory_frame)
    as_of = pd.Timestamp(oh["as_of"].max())
    if basis == "cost":
        oh = oh.assign(value=oh["on_hand"] * oh["sku"].map(costed).astype(float))
        stock = float(oh["value"].sum(min_count=1)) if oh["value"].notna().any() else float("nan")
    else:
        stock = float(oh["on_hand"].sum())
    demand = valued_plan(consensus, cost)
    start = as_of + pd.Timedelta(days=1)
    value = forward_days(stock, demand, start) if np.isfinite(stock) else float("nan")
    note = f"on hand at {as_of:%d %b %Y} walked through the forecast from {start:%d %b %Y}"
    note += ", at cost" if basis == "cost" else ", in units (no unit_cost known)"
    if value >= DAYS_CAP - 1e-9:
        note += f"; capped at {DAYS_CAP:g} days"
    return make_kpi("days_of_supply", value, targets, trend=trend, note=note)


# -- capacity utilisation ----------------------------------------------------------------------
def utilisation_of(plan: pd.DataFrame, products: pd.DataFrame, capacity: pd.DataFrame,
                   units: str = "units", top_families: bool = True) -> pd.DataFrame:
    """`supply.utilisation` of a plan (or of actuals with units='quantity') against capacity."""
    p = plan.rename(columns={units: "units"}) if units != "units" else plan
    if "period" not in p.columns and "date" in p.columns:
        p = p.rename(columns={"date": "period"})
    return supply.utilisation(supply.required_load(p, products), capacity, top_families)


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
    h = normalise_history(history) if not _blank(history) else None
    last = h["period"].max() if h is not None else None
    trend = empty_trend()
    hist_peak = None
    if last is not None and not _blank(capacity) and not _blank(products):
        h = h[h["period"].isin(month_starts(last, max(window_months, TREND_POINTS)))]
        # the load is per sku × month (required_load sums the regions): sum them first, and no family names
        h = h.groupby(["sku", "family", "period"], as_index=False)["quantity"].sum()
        hist_peak = peak_utilisation(utilisation_of(h, products, capacity, units="quantity", top_families=False))
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
        peaks = hist_peak[hist_peak["period"].isin(month_starts(last, window_months))]
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
    h = normalise_history(history) if not _blank(history) else None
    last = h["period"].max() if h is not None else None
    if year is None:
        year = (last + pd.DateOffset(months=1)).year if last is not None else int(
            pd.to_datetime(outlook["period"]).dt.year.min())
    prod = products_frame(products)
    trend = empty_trend()
    if last is not None:
        act = (actuals if actuals is not None else monthly_actuals(history, products)).set_index(
            "period")["revenue"]
        plan_m = _budget_by_month(budget)
        months = month_starts(last, TREND_POINTS)
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
        outlook = finance.outlook(h, consensus, int(year), last, prod)
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
        return _missing("gross_margin_pct_12m", targets, "sales")
    if _blank(products) or not products_frame(products)["unit_cost"].notna().any():
        return _missing("gross_margin_pct_12m", targets, "products", "needs unit_cost in the products table")
    act = (actuals if actuals is not None else monthly_actuals(history, products)).set_index("period")
    last = act.index.max()
    w = act.reindex(month_starts(last, window_months)).dropna(how="all")
    tr = act.reindex(month_starts(last, TREND_POINTS)).dropna(how="all")
    monthly = finance.margin_pct(tr["revenue"], tr["cogs"]).where(tr["uncosted_units"] <= 0)
    trend = _trend(tr.index, monthly)
    uncosted = float(w["uncosted_units"].sum())
    if uncosted > 0:
        k = _missing("gross_margin_pct_12m", targets, "products",
                     f"{uncosted:,.0f} units sold have no unit_cost in products: "
                     "margin not computed on part of the data")
        k.trend = trend
        return k
    gm = finance.margin_pct(float(w["revenue"].sum()), float(w["cogs"].sum()))
    note = f"{len(w)} months to {last:%b %Y}: revenue {w['revenue'].sum():,.0f}, COGS {w['cogs'].sum():,.0f}"
    return make_kpi("gross_margin_pct_12m", gm, targets, trend=trend, note=note)


# -- the scorecard -----------------------------------------------------------------------------
def scorecard(inputs: ScorecardInputs) -> list[KPI]:
    """All KPIs in KPI_KEYS order, each computed from what `inputs` holds or saying which table it needs."""
    t = merge_targets(inputs.targets)
    n = inputs.window_months
    acc, bias = accuracy_kpis(inputs.accuracy_points, t, n)
    o, f = service_kpis(inputs.orders, t, inputs.as_of, n, by_month=inputs.service_months)
    # normalised once: each KPI normalising it again costs next to nothing (`actuals.normalise_history`)
    hist = inputs.history if _blank(inputs.history) else normalise_history(inputs.history)
    act = inputs.actuals if inputs.actuals is not None or _blank(hist) else monthly_actuals(
        hist, inputs.products, max(2 * n, 24))
    if inputs.basis == MONEY:  # stock and load are in units; this history is not
        why = "needs a sales history in units: this one is in money (sales values)"
        stock_and_load = [_missing(k, t, None, why) for k in ("inventory_turns", "days_of_supply",
                                                              "capacity_utilisation")]
    else:
        stock_and_load = [
            turns_kpi(inputs.inventory, hist, inputs.products, t, n, actuals=act,
                      inventory_value=inputs.inventory_value),
            days_of_supply_kpi(inputs.inventory, inputs.consensus, inputs.products, hist, t, actuals=act,
                               inventory_value=inputs.inventory_value, on_hand=inputs.on_hand),
            utilisation_kpi(inputs.utilisation, inputs.consensus, inputs.products, inputs.capacity, hist, t, n)]
    return with_coverage([
        acc, bias, o, f, *stock_and_load,
        revenue_vs_plan_kpi(inputs.budget, hist, inputs.consensus, inputs.products, inputs.outlook,
                            inputs.year, t, n, actuals=act),
        gross_margin_kpi(hist, inputs.products, t, n, actuals=act),
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
    """The scorecard as a table: key, label, value, latest, latest_period, basis, unit, status, target, amber, direction, missing_table, note, formula."""
    return pd.DataFrame([{
        "key": k.key, "label": k.label, "value": k.value, "latest": k.latest, "latest_period": k.latest_period,
        "basis": k.basis, "unit": k.unit, "status": k.status,
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
    """ScorecardInputs from the workspace's tables and targets, plus the derived frames the caller has.

    Order lines, sales and inventory are aggregated in DuckDB (`kpi_sql`): no fact table is read whole; of
    the history only its last 2 × WINDOW_MONTHS months (`kpi_sql.recent_history`), the months `monthly_actuals` covers,
    its regions summed unless the outlook must be built from it (a consensus given without an outlook).
    """
    from sop_core.demand.history import measure
    from sop_core.demand.history import products as load_products
    from sop_core.planning import kpi_sql

    def table(name: str) -> pd.DataFrame | None:
        return ws.table(name) if ws.has_table(name) else None

    prod = load_products(ws)
    products = prod if len(prod) else None
    # regions summed unless the outlook is to be built from the history here (it values each line)
    hist = kpi_sql.recent_history(ws, products, 2 * WINDOW_MONTHS, by_region=outlook is None and consensus is not None)
    basis = measure(ws)
    money = basis == MONEY  # no stock or load KPI: their tables are not read
    as_of, service_months = kpi_sql.service_by_month(ws)
    return ScorecardInputs(
        products=products, history=hist if len(hist) else None, accuracy_points=accuracy_points,
        consensus=consensus, capacity=table("capacity"), utilisation=utilisation, outlook=outlook,
        budget=table("plan"), targets=ws.get_setting(TARGETS_SETTING, {}) or {}, as_of=as_of,
        service_months=service_months,
        actuals=kpi_sql.monthly_actuals(ws, products, 2 * WINDOW_MONTHS) if len(hist) else None,
        inventory_value=None if money else kpi_sql.inventory_at_cost(ws, products),
        on_hand=None if money else kpi_sql.latest_on_hand(ws), basis=basis,
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
