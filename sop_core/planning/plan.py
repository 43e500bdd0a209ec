"""The plan: the ONE place that assembles the plan from its inputs, for the baseline and every scenario alike.

    PlanInputs.from_workspace(ws, consensus) -> apply_scenario(inputs, scenario) -> evaluate(inputs) -> PlanResult

`evaluate` chains the engines exactly as their pages do (supply → inventory → finance), so the
Supply review, Inventory and Financials pages (baseline) and the scenario comparison run the same
code on different inputs (`build_view` adds the tables those pages show: `PlanView`):

1. supply: required_load, utilisation, unloaded, constrained_plan (firm production receipts of the
   supply table, `prebuild_months`), shortfall, production_plan;
2. inventory: latest_on_hand, safety_stock (`service_level`), project (demand = the consensus;
   receipts = constrained production + firm production receipts + the supply table's other
   receipts), exceptions (`excess_cover_months`; only skus of the plan with a stock record,
   `coverage.checked_skus`), inventory_value;
3. finance: value_plan of the consensus and of the constrained plan, outlook for the year
   (unconstrained and constrained), vs_budget (constrained outlook), bridge;
4. coverage (`sop_core.planning.coverage.of_plan`): how many skus (families) each check could see.

A history in money (`history.is_money`: the consensus is in currency, products priced at 1.0 per
currency unit) has no units to load on capacity or to stock: `from_workspace` leaves the capacity,
inventory and supply tables out and the coverage says those checks need a history in units; the annual
plan's volume is its revenue (`history.plan_in_measure`), so the bridge's price effect is nil.

Scenario changes (`apply_scenario`, see `sop_core.planning.scenarios` for the fields and bounds), in order:

1. the scenario's extra overrides, applied after the baseline consensus with the consensus engine
   (`consensus.run` starting from the baseline consensus: a units override sets the scope's total
   per period split pro rata, a percent one scales it, the statistical forecast is the fallback
   split when the total is 0);
2. demand changes, each a percent change of the consensus rows of its family × region over its
   months (inclusive), compounding;
3. price changes: products.unit_price × (1 + pct/100) for the family's skus (all when None),
   compounding; plan months are valued at it, actual months keep their recorded revenue;
4. capacity changes: capacity.available_hours and capacity.capacity_units × (1 + pct/100) for the
   resource (all when None) over its months.
The inputs are copied, never changed in place; nothing is written to the workspace.

KPIs (`PlanResult.kpis`, keys in KPI_KEYS, label / unit / better / scope / formula in
`kpi_catalogue.MEASURES`):
money KPIs are for the outlook year (actuals to date + the constrained plan for the rest, as the
Financials page's outlook); supply and inventory KPIs are over the whole plan horizon. The outlook
year defaults to the calendar year of (last actual period + 1 month), else the year of the
plan's first period.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sop_core.contract import MONEY, UNITS
from sop_core.demand import consensus as cons_mod
from sop_core.demand.history import last_actual_period
from sop_core.periods import period_start
from sop_core.planning import coverage as cov_mod
from sop_core.planning import finance, inventory, supply
from sop_core.planning.kpi_catalogue import PLAN_KEYS
from sop_core.planning.scenarios import Changes, Scenario
from sop_core.planning.settings import DEFAULTS
from sop_core.planning.settings import saved as saved_settings
from sop_core.store.workspace import frame_sha256

if TYPE_CHECKING:  # pragma: no cover
    from sop_core.store.workspace import Workspace

BASELINE = "Baseline"
DELTA_PREFIX = "Δ "
CONSENSUS_COLUMNS = cons_mod.CONSENSUS_COLUMNS
SERIES: tuple[str, ...] = ("revenue", "units", "demand", "utilisation", "inventory")
KPI_KEYS: tuple[str, ...] = PLAN_KEYS  # the plan's measures in the KPI catalogue


# -- inputs ---------------------------------------------------------------------------------------
def as_consensus(plan: pd.DataFrame) -> pd.DataFrame:
    """A copy in the consensus engine's layout (CONSENSUS_COLUMNS); a plain plan with `units` is accepted.

    Missing statistical = the consensus; missing overridden = False; missing region / family = None.
    """
    df = plan.copy()
    if "consensus" not in df.columns and "units" in df.columns:
        df["consensus"] = df["units"]
    missing = [c for c in ("sku", "period", "consensus") if c not in df.columns]
    if missing:
        raise ValueError(f"the plan needs columns sku, region, family, period, consensus (or units); missing: "
                         f"{', '.join(missing)}; found: {', '.join(map(str, plan.columns))}")
    for c in ("region", "family"):
        if c not in df.columns:
            df[c] = None
    df["consensus"] = pd.to_numeric(df["consensus"], errors="coerce").fillna(0.0).astype(float)
    df["statistical"] = (pd.to_numeric(df["statistical"], errors="coerce").astype(float)
                         if "statistical" in df.columns else df["consensus"])
    df["overridden"] = df["overridden"].fillna(False).astype(bool) if "overridden" in df.columns else False
    df["period"] = pd.to_datetime(df["period"])
    return df[list(CONSENSUS_COLUMNS)].reset_index(drop=True)


_TABLES: dict[tuple[str, str, str], dict[str, pd.DataFrame]] = {}  # (file, fingerprint, basis) -> the tables read


@dataclass(frozen=True, eq=False)
class PlanInputs:
    """Everything the plan is computed from; treat the frames as read-only (apply_scenario returns copies).

    For st.cache_data, hash it by content: hash_funcs={PlanInputs: PlanInputs.cache_key}.

    consensus: sku, region, family, period, statistical, consensus, overridden (the consensus engine's frame)
    products, inventory, capacity, supply: the contract tables of those names
    budget: the contract table `plan` (the annual plan)
    history: demand history (history.demand_history: series_id, sku, region, family, period, quantity, revenue)
    basis: what the demand is measured in (contract.UNITS or contract.MONEY, `history.measure`)
    """

    consensus: pd.DataFrame
    products: pd.DataFrame
    inventory: pd.DataFrame
    capacity: pd.DataFrame
    supply: pd.DataFrame
    budget: pd.DataFrame
    history: pd.DataFrame
    prebuild_months: int = DEFAULTS["prebuild_months"]
    service_level: float = DEFAULTS["service_level"]
    excess_cover_months: float = DEFAULTS["excess_cover_months"]
    fingerprint: str | None = None  # Workspace.fingerprint() of the data the inputs were read from
    scenario_id: str | None = None  # None for the baseline
    scenario_name: str = BASELINE
    basis: str = UNITS

    @classmethod
    def from_workspace(cls, ws: Workspace, consensus: pd.DataFrame, *, prebuild_months: int | None = None,
                       service_level: float | None = None,
                       excess_cover_months: float | None = None) -> PlanInputs:
        """The baseline inputs: `consensus` plus the workspace's tables.

        Settings come from the arguments, else the workspace's plan settings (`settings.saved`:
        the setting PLAN_SETTINGS, checked, over DEFAULTS). A history in money leaves capacity,
        inventory and supply out (empty): they are in units.
        """
        from sop_core.demand.history import demand_history, measure, plan_in_measure
        from sop_core.demand.history import products as load_products

        saved = saved_settings(ws)

        basis = measure(ws)

        def setting(name: str, given: Any) -> Any:
            return given if given is not None else saved[name]

        def in_units(name: str) -> pd.DataFrame:
            frame = ws.table(name)
            return frame.iloc[0:0] if basis == MONEY else frame

        def read() -> dict[str, pd.DataFrame]:
            return {"products": load_products(ws), "inventory": in_units("inventory"),
                    "capacity": in_units("capacity"), "supply": in_units("supply"),
                    "budget": plan_in_measure(ws.table("plan"), basis == MONEY), "history": demand_history(ws)}

        fingerprint = ws.fingerprint()
        # read once per data version (every scenario, session and setting shares them: 0.5-1 s at 10,000 series);
        # pandas' copy-on-write keeps a caller's change of its copy out of the kept frames
        key = (str(ws.path), fingerprint, basis)
        tables = _TABLES.get(key)
        if tables is None:
            tables = read()
            _TABLES.clear()  # one data version kept: the frames are the size of the history
            _TABLES[key] = tables
        return cls(
            consensus=as_consensus(consensus), **{k: v.copy() for k, v in tables.items()},
            prebuild_months=int(setting("prebuild_months", prebuild_months)),
            service_level=float(setting("service_level", service_level)),
            excess_cover_months=float(setting("excess_cover_months", excess_cover_months)),
            fingerprint=fingerprint, basis=basis,
        )

    def cache_key(self) -> str:
        """Content hash of every frame and setting that `evaluate` reads (not the fingerprint or scenario labels)."""
        h = hashlib.sha256()
        for name in ("consensus", "products", "inventory", "capacity", "supply", "budget", "history"):
            h.update(f"{name}:{frame_sha256(getattr(self, name))}|".encode())
        h.update(f"{self.prebuild_months}|{self.service_level!r}|{self.excess_cover_months!r}|{self.basis}".encode())
        return h.hexdigest()


# -- scenario changes -----------------------------------------------------------------------------
def _month_end(ts: pd.Timestamp | None) -> pd.Timestamp | None:
    return None if ts is None else ts + pd.offsets.MonthEnd(0)


def _apply_demand(consensus: pd.DataFrame, changes: Changes) -> pd.DataFrame:
    """The consensus with the scenario's overrides, then its demand changes (percent overrides), applied."""
    rows = [o.as_override() for o in changes.overrides]
    rows += [{"family": d.family, "region": d.region, "sku": None, "period_from": d.period_from,
              "period_to": _month_end(d.period_to), "kind": "percent", "value": d.pct} for d in changes.demand]
    if not rows or consensus.empty:
        return consensus.copy()
    base = consensus.sort_values(["sku", "region", "period"], kind="stable", ignore_index=True)
    prepared = cons_mod.prepare(base.rename(columns={"statistical": "value"}))
    frame = prepared.frame
    aligned = (frame["sku"].astype(str).tolist() == base["sku"].astype(str).tolist()
               and np.array_equal(frame["period"].to_numpy("datetime64[ns]"),
                                  base["period"].to_numpy("datetime64[ns]")))
    if not aligned:  # pragma: no cover - prepare sorts like base, so this cannot happen
        raise AssertionError("consensus rows could not be aligned with the consensus engine's order")
    cons, touched = cons_mod.run(prepared, rows, start=base["consensus"].to_numpy(float))
    return cons_mod.consensus_frame(prepared, cons, touched | base["overridden"].to_numpy(bool))


def _apply_price(products: pd.DataFrame, changes: Changes) -> pd.DataFrame:
    """Products with unit_price scaled by the price changes."""
    out = products.copy()
    if not changes.price or out.empty:
        return out
    price = pd.to_numeric(out["unit_price"], errors="coerce").astype(float)
    family = out["family"].astype(object) if "family" in out.columns else pd.Series(None, index=out.index, dtype=object)
    for p in changes.price:
        scope = pd.Series(True, index=out.index) if p.family is None else \
            family.notna() & (family.astype(str) == p.family)
        price = price.where(~scope, price * (1.0 + p.pct / 100.0))
    out["unit_price"] = price
    return out


def _apply_capacity(capacity: pd.DataFrame, changes: Changes) -> pd.DataFrame:
    """Capacity with available_hours and capacity_units scaled by the capacity changes."""
    out = capacity.copy()
    if not changes.capacity or out.empty:
        return out
    month = period_start(out["period"]).reset_index(drop=True)
    month.index = out.index
    resource = out["resource"].astype(str)
    for c in changes.capacity:
        scope = pd.Series(True, index=out.index)
        if c.resource is not None:
            scope &= resource == c.resource
        if c.period_from is not None:
            scope &= month >= c.period_from
        if c.period_to is not None:
            scope &= month <= c.period_to
        for col in ("available_hours", "capacity_units"):
            if col in out.columns:
                v = pd.to_numeric(out[col], errors="coerce").astype(float)
                out[col] = v.where(~scope, v * (1.0 + c.pct / 100.0))
    return out


def apply_scenario(inputs: PlanInputs, scenario: Scenario | Changes | Mapping[str, Any] | None) -> PlanInputs:
    """The inputs as the scenario changes them (rules in the module docstring); None returns `inputs` unchanged."""
    if scenario is None:
        return inputs
    if isinstance(scenario, Scenario):
        changes, sid, name = scenario.changes, scenario.scenario_id, scenario.name
    else:
        from sop_core.planning.scenarios import parse_changes

        changes, sid, name = parse_changes(scenario), None, "Scenario"
    return dataclasses.replace(
        inputs,
        consensus=_apply_demand(inputs.consensus, changes),
        products=_apply_price(inputs.products, changes),
        capacity=_apply_capacity(inputs.capacity, changes),
        scenario_id=sid,
        scenario_name=name,
    )


# -- evaluation ------------------------------------------------------------------------------------
@dataclass
class PlanResult:
    """The plan's frames (as the supply, inventory and finance engines document them) and its KPIs.

    consensus: the plan's demand (CONSENSUS_COLUMNS); products: the products it is valued at (the
    scenario's prices, after `apply_scenario`: what `versions.plan_lines` freezes)
    load, utilisation, unloaded, constrained, shortfall, production: supply.py
    on_hand, safety, projection, exceptions, inventory_value: inventory.py
    valued_plan (consensus), valued_constrained (constrained_units), outlook, outlook_constrained,
    vs_budget, bridge: finance.py
    kpis: KPI_KEYS → float (NaN when not computable)
    coverage: how much of the plan each check (capacity, inventory, prices, annual plan) could see;
    pages say "not checked" from it instead of showing a check as met
    """

    year: int
    scenario_id: str | None
    scenario_name: str
    consensus: pd.DataFrame
    products: pd.DataFrame
    load: pd.DataFrame
    utilisation: pd.DataFrame
    unloaded: pd.DataFrame
    constrained: pd.DataFrame
    shortfall: pd.DataFrame
    production: pd.DataFrame
    on_hand: pd.DataFrame
    safety: pd.DataFrame
    projection: pd.DataFrame
    exceptions: pd.DataFrame
    inventory_value: pd.DataFrame
    valued_plan: pd.DataFrame
    valued_constrained: pd.DataFrame
    outlook: pd.DataFrame
    outlook_constrained: pd.DataFrame
    vs_budget: pd.DataFrame
    bridge: pd.DataFrame
    kpis: dict[str, float] = field(default_factory=dict)
    coverage: cov_mod.PlanCoverage | None = None  # what each check could see (coverage.of_plan), set by evaluate

    @property
    def supply_review(self) -> supply.SupplyReview:
        """The Supply review page's view of this plan."""
        return supply.SupplyReview(load=self.load, utilisation=self.utilisation, unloaded=self.unloaded,
                                   constrained=self.constrained, shortfall=self.shortfall, production=self.production)

    @property
    def inventory_view(self) -> inventory.InventoryView:
        """The Inventory page's view of this plan."""
        return inventory.InventoryView(on_hand=self.on_hand, safety=self.safety, projection=self.projection,
                                       exceptions=self.exceptions, value=self.inventory_value)

    @property
    def finance_view(self) -> finance.FinanceView:
        """The Financials page's view of this plan."""
        return finance.FinanceView(year=self.year, valued_plan=self.valued_plan, outlook=self.outlook,
                                   outlook_constrained=self.outlook_constrained, vs_budget=self.vs_budget,
                                   bridge=self.bridge)


def outlook_year(history: pd.DataFrame, consensus: pd.DataFrame) -> int:
    """Calendar year of (last actual period + 1 month), else of the plan's first period."""
    last = last_actual_period(history) if history is not None and len(history) else None
    if last is not None:
        return int((last + pd.DateOffset(months=1)).year)
    return int(pd.Timestamp(pd.to_datetime(consensus["period"]).min()).year)


def evaluate(inputs: PlanInputs, year: int | None = None) -> PlanResult:
    """Run supply → inventory → finance on the inputs and compute the KPIs (a pure function of `inputs`)."""
    cons = inputs.consensus
    if cons is None or cons.empty:
        raise ValueError("the plan is empty: run the forecast (Demand review) to get a consensus plan first")
    prod = inputs.products
    hist = inputs.history
    year = int(year) if year is not None else outlook_year(hist, cons)
    last = last_actual_period(hist) if hist is not None and len(hist) else None

    # supply
    firm = supply.production_receipts(inputs.supply)
    load = supply.required_load(cons, prod)
    util = supply.utilisation(load, inputs.capacity)
    constrained = supply.constrained_plan(cons, prod, inputs.capacity, inputs.prebuild_months, firm)
    production = supply.production_plan(constrained, firm)

    # inventory
    on_hand = inventory.latest_on_hand(inputs.inventory)
    safety = inventory.safety_stock(prod, hist, service_level=inputs.service_level)
    receipts = pd.concat([production, supply.other_receipts(inputs.supply)], ignore_index=True)
    projection = inventory.project(cons, on_hand, receipts, safety, products=prod)
    exceptions = inventory.exceptions(projection, prod, inputs.excess_cover_months,
                                      skus=cov_mod.checked_skus(cons, on_hand))
    inv_value = inventory.inventory_value(projection)

    # finance
    o = finance.outlook(hist, cons, year, last, prod)
    oc = finance.outlook(hist, constrained, year, last, prod, units="constrained_units")
    result = PlanResult(
        year=year, scenario_id=inputs.scenario_id, scenario_name=inputs.scenario_name, consensus=cons,
        products=prod, load=load, utilisation=util, unloaded=supply.unloaded(load, inputs.capacity),
        constrained=constrained, shortfall=supply.shortfall(constrained), production=production,
        on_hand=on_hand, safety=safety, projection=projection, exceptions=exceptions, inventory_value=inv_value,
        valued_plan=finance.value_plan(cons, prod),
        valued_constrained=finance.value_plan(constrained, prod, units="constrained_units"),
        outlook=o, outlook_constrained=oc, vs_budget=finance.vs_budget(oc, inputs.budget, year, prod),
        bridge=finance.bridge(inputs.budget, o, oc, prod, year),
    )
    result.kpis = _kpis(result, inputs)
    result.coverage = cov_mod.of_plan(cons, constrained, on_hand, prod, oc, inputs.budget, year,
                                      capacity_frame=inputs.capacity, inventory_frame=inputs.inventory,
                                      money=inputs.basis == MONEY)
    return result


def _sum(s: pd.Series) -> float:
    return float(pd.to_numeric(s, errors="coerce").sum())


def _ratio(a: float, b: float) -> float:
    return a / b if b and np.isfinite(b) and np.isfinite(a) else float("nan")


def _kpis(r: PlanResult, inputs: PlanInputs) -> dict[str, float]:
    """The KPI_KEYS values of a result."""
    nan = float("nan")
    oc = r.outlook_constrained
    revenue = _sum(oc["revenue"])
    complete = _sum(oc["unpriced_units"]) <= 0 and _sum(oc["uncosted_units"]) <= 0
    margin = revenue - _sum(oc["cogs"]) if complete else nan
    budget = finance.budget_by_family(inputs.budget, r.year, inputs.products)
    plan_revenue = float(budget["revenue_plan"].sum()) if budget["revenue_plan"].notna().any() else nan
    gap = revenue - plan_revenue

    c = r.constrained
    demand, supplied = _sum(c["units"]), _sum(c["constrained_units"])
    stockouts = r.exceptions[r.exceptions["kind"] == "stockout"] if len(r.exceptions) else r.exceptions
    value = r.inventory_value.sort_values("period")["value_at_cost"] if len(r.inventory_value) else pd.Series(
        dtype=float)
    u = pd.to_numeric(r.utilisation["utilisation"], errors="coerce").astype(float)
    finite = u[np.isfinite(u)]
    return {
        "revenue": revenue,
        "revenue_unconstrained": _sum(r.outlook["revenue"]),
        "gross_margin": margin,
        "gross_margin_pct": float(finance.margin_pct(revenue, revenue - margin)),
        "plan_revenue": plan_revenue,
        "gap_to_plan": gap,
        "gap_to_plan_pct": _ratio(gap, plan_revenue),
        "horizon_revenue": _sum(r.valued_constrained["revenue"]),
        "horizon_revenue_unconstrained": _sum(r.valued_plan["revenue"]),
        "units_demand": demand,
        "units_supplied": supplied,
        "units_short": _sum(c["short_units"]),
        "plan_fill_rate": _ratio(supplied, demand),
        "stockouts": float(len(stockouts)),
        "revenue_at_risk": _sum(stockouts["value"]) if len(stockouts) else 0.0,
        "inventory_value_end": float(value.iloc[-1]) if len(value) and pd.notna(value.iloc[-1]) else nan,
        "inventory_value_avg": float(value.mean()) if value.notna().any() else nan,
        "peak_utilisation": float(finite.max()) if len(finite) else nan,
        "overloaded_resource_months": float(r.utilisation["overloaded"].astype(bool).sum()),
    }


def evaluate_scenario(inputs: PlanInputs, scenario: Scenario | Changes | Mapping[str, Any] | None,
                      year: int | None = None) -> PlanResult:
    """`evaluate(apply_scenario(inputs, scenario), year)`."""
    return evaluate(apply_scenario(inputs, scenario), year)


def evaluate_many(inputs: PlanInputs, scenarios: list[Scenario], year: int | None = None) -> dict[str, PlanResult]:
    """Baseline plus each scenario, keyed by display name ('Baseline' first; repeated names get ' (2)', ' (3)', ...)."""
    base = evaluate(inputs, year)
    out = {BASELINE: base}
    for s in scenarios:
        name, n = s.name, 2
        while name in out:
            name, n = f"{s.name} ({n})", n + 1
        out[name] = evaluate(apply_scenario(inputs, s), base.year)
    return out



# -- the pages' view of a plan -------------------------------------------------------------------
def outlook_years(inputs: PlanInputs, year: int) -> tuple[int, ...]:
    """Calendar years whose 12 months are all actuals or plan months and that the annual plan covers, plus `year`.

    Actual months: `inputs.history` periods; plan months: `inputs.consensus` periods; annual plan:
    the years of `inputs.budget` periods. Ascending.
    """
    hist = pd.to_datetime(inputs.history["period"]) if len(inputs.history) else pd.Series(dtype="datetime64[ns]")
    months = pd.to_datetime(inputs.consensus["period"])
    first = min([m for m in (hist.min() if len(hist) else None, months.min()) if m is not None and pd.notna(m)])
    last = months.max()
    budget = set(pd.to_datetime(inputs.budget["period"]).dt.year) if len(inputs.budget) else set()
    years = {y for y in range(first.year, last.year + 1)
             if pd.Timestamp(y, 1, 1) >= first.replace(day=1) and pd.Timestamp(y, 12, 1) <= last and y in budget}
    return tuple(sorted(years | {int(year)}))


@dataclass(frozen=True)
class PlanView:
    """One evaluated plan and the frames the Supply review, Inventory and Financials pages show of it (read-only)."""

    result: PlanResult
    settings: dict[str, Any]  # prebuild_months, service_level, excess_cover_months of the inputs
    budget_monthly: pd.DataFrame  # finance.budget_monthly of result.year
    seconds: float
    # supply review
    util_matrix: pd.DataFrame  # supply.utilisation_matrix
    peak: dict[str, Any] | None  # supply.peak_resource_month
    tight: pd.DataFrame  # supply.tightest
    gaps: pd.DataFrame  # supply.gap_matrix
    unloaded_note: str | None  # supply.unloaded_caption
    shortage_revenue: float  # horizon revenue unconstrained − constrained
    # inventory
    exception_rows: pd.DataFrame  # inventory.exception_table
    exception_counts: dict[str, float]  # inventory.exception_counts
    # financials
    family_table: pd.DataFrame  # finance.family_finance
    plan_margin_pct: float  # finance.plan_margin_pct
    outlook_years: tuple[int, ...] = ()  # outlook_years

    @property
    def kpis(self) -> dict[str, float]:
        """The result's KPIs (KPI_KEYS)."""
        return self.result.kpis


def build_view(inputs: PlanInputs, year: int | None = None, started: float | None = None) -> PlanView:
    """`evaluate(inputs, year)` and the page frames derived from it; `seconds` counts from `started` (perf_counter)."""
    t0 = started if started is not None else time.perf_counter()
    r = evaluate(inputs, year)
    budget_month = finance.budget_monthly(inputs.budget, r.year, inputs.products)
    k = r.kpis
    return PlanView(
        result=r,
        settings={"prebuild_months": inputs.prebuild_months, "service_level": inputs.service_level,
                  "excess_cover_months": inputs.excess_cover_months},
        budget_monthly=budget_month,
        seconds=time.perf_counter() - t0,
        util_matrix=supply.utilisation_matrix(r.utilisation),
        peak=supply.peak_resource_month(r.utilisation),
        tight=supply.tightest(r.utilisation),
        gaps=supply.gap_matrix(r.shortfall),
        unloaded_note=supply.unloaded_caption(r.unloaded),
        shortage_revenue=float(k["horizon_revenue_unconstrained"] - k["horizon_revenue"]),
        exception_rows=inventory.exception_table(r.exceptions, r.safety),
        exception_counts=inventory.exception_counts(r.exceptions),
        family_table=finance.family_finance(r.vs_budget, r.outlook_constrained, r.year),
        plan_margin_pct=finance.plan_margin_pct(budget_month),
        outlook_years=outlook_years(inputs, r.year),
    )

# -- comparison ----------------------------------------------------------------------------------
def delta_column(name: str) -> str:
    """Name of the delta-vs-baseline column of scenario `name` in `compare`."""
    return f"{DELTA_PREFIX}{name}"


def compare(results: Mapping[str, PlanResult], baseline: str = BASELINE) -> pd.DataFrame:
    """KPIs side by side: index kpi (KPI_KEYS), columns baseline, each scenario, then 'Δ <scenario>'.

    'Δ <scenario>' = scenario − baseline.
    Deltas of 'pct' and 'ratio' KPIs are differences of fractions (percentage points × 1/100).
    """
    if baseline not in results:
        raise ValueError(f"results must include the baseline under the key {baseline!r}; got {', '.join(results)}")
    names = [baseline] + [n for n in results if n != baseline]
    df = pd.DataFrame({n: [float(results[n].kpis.get(k, np.nan)) for k in KPI_KEYS] for n in names},
                      index=pd.Index(KPI_KEYS, name="kpi"))
    for n in names[1:]:
        df[delta_column(n)] = df[n] - df[baseline]
    return df


def bottleneck(results: Mapping[str, PlanResult]) -> str | None:
    """The resource with the highest utilisation of any month in any of the plans."""
    best, resource = -math.inf, None
    for r in results.values():
        u = r.utilisation.assign(u=pd.to_numeric(r.utilisation["utilisation"], errors="coerce").astype(float))
        u = u[u["u"].map(math.isfinite)]
        if len(u) and float(u["u"].max()) > best:
            best = float(u["u"].max())
            resource = str(u.loc[u["u"].idxmax(), "resource"])
    return resource


def _series(r: PlanResult, what: str, resource: str | None) -> pd.Series:
    if what == "revenue":
        return r.valued_constrained.groupby("period")["revenue"].sum()
    if what == "units":
        return r.constrained.groupby("period")["constrained_units"].sum()
    if what == "demand":
        return r.constrained.groupby("period")["units"].sum()
    if what == "inventory":
        return r.inventory_value.groupby("period")["value_at_cost"].sum(min_count=1)
    u = r.utilisation
    if resource is not None:
        u = u[u["resource"] == resource]
    u = u.assign(utilisation=pd.to_numeric(u["utilisation"], errors="coerce").astype(float))
    u = u[np.isfinite(u["utilisation"])]
    return u.groupby("period")["utilisation"].max()


def compare_series(results: Mapping[str, PlanResult], what: str = "revenue",
                   resource: str | None = None) -> pd.DataFrame:
    """Monthly series per scenario for side-by-side charts: scenario, period, value.

    what: 'revenue' (constrained plan revenue), 'units' (constrained units), 'demand' (consensus units),
    'utilisation' (highest resource utilisation of the month, or that of `resource`), 'inventory'
    (projected inventory at cost). Scenarios in the order of `results`, periods ascending.
    """
    if what not in SERIES:
        raise ValueError(f"unknown series {what!r}: use one of {', '.join(SERIES)}")
    parts = []
    for name, r in results.items():
        s = _series(r, what, resource).sort_index()
        parts.append(pd.DataFrame({"scenario": pd.Series([name] * len(s), dtype=object),
                                   "period": pd.to_datetime(s.index), "value": s.to_numpy(float)}))
    if not parts:
        return pd.DataFrame({"scenario": pd.Series(dtype=object), "period": pd.Series(dtype="datetime64[us]"),
                             "value": pd.Series(dtype=float)})
    return pd.concat(parts, ignore_index=True)
