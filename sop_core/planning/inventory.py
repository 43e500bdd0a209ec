"""Inventory: on hand, safety stock, the projected available balance, forward cover and exceptions.

Inputs are long frames: the consensus `plan` (sku, region, family, period, units), `inventory`
(date, sku, location, on_hand), `products`, the demand `history` (sku, period, quantity, ...) and
receipts either from the `supply` table (sku, date, quantity) or the constrained production of
`supply.production_plan` (sku, period, quantity).

Rules (also printed by the Inventory page):

* On hand = for each sku, its latest snapshot date, summed over locations at that date (`as_of`).
* The projection starts from on hand as the opening balance of `start_period`; receipts and demand
  dated before `start_period` are assumed to be in it and ignored. Demand is the plan summed over
  regions. PAB_t = PAB_{t-1} + receipts_t − demand_t, allowed to go negative (unmet demand carried
  as backlog); shortage_units = max(−closing, 0); below_safety = closing < safety stock.
* Forward cover of a closing balance walks the projected demand of the following months until the
  cumulative demand exceeds it, counting days (fractional within a month: remaining stock / daily
  demand of that month). Beyond the projection horizon demand is assumed to continue at the
  horizon's average daily rate. Cover is capped at COVER_CAP_WEEKS (104 weeks, also when demand is
  zero); a balance at or below zero has 0 weeks of cover.
* Safety stock: the products table's value when given ('products'); otherwise
  z(service level) × σ(monthly demand) × sqrt(lead time in months) ('computed'), with σ over up to
  the last 24 months of history (missing months count as 0, from the sku's first sale), lead time
  months = weeks × 7 / 30.4375; 'none' (0 units) when neither is possible.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sop_core.periods import period_start
from sop_core.planning.supply import (
    normalise_plan,
    normalise_products,
    other_receipts,
    production_plan,
    production_receipts,
    receipts_by_month,
)

if TYPE_CHECKING:  # pragma: no cover
    from sop_core.store.workspace import Workspace

COVER_CAP_WEEKS = 104.0
DAYS_PER_MONTH = 365.25 / 12
DEFAULT_LEAD_TIME_WEEKS = 4.0
WEEKS_PER_MONTH = 52.0 / 12
TOL = 1e-9


def latest_on_hand(inventory: pd.DataFrame) -> pd.DataFrame:
    """On hand per sku at its latest snapshot date, summed over locations: sku, on_hand, as_of."""
    if inventory is None or inventory.empty:
        return pd.DataFrame({"sku": pd.Series(dtype=str), "on_hand": pd.Series(dtype=float),
                             "as_of": pd.Series(dtype="datetime64[us]")})
    df = pd.DataFrame({
        "sku": inventory["sku"].astype(str).to_numpy(),
        "date": pd.to_datetime(inventory["date"]).dt.normalize().to_numpy(),
        "on_hand": pd.to_numeric(inventory["on_hand"], errors="coerce").fillna(0.0).astype(float).to_numpy(),
    })
    last = df.groupby("sku")["date"].transform("max")
    out = df[df["date"] == last].groupby("sku", as_index=False).agg(on_hand=("on_hand", "sum"), as_of=("date", "max"))
    return out.sort_values("sku").reset_index(drop=True)


def monthly_demand(history: pd.DataFrame, window_months: int = 24) -> pd.DataFrame:
    """History per sku × month (summed over regions, missing months as 0 from the sku's first sale), last window."""
    if history is None or history.empty:
        return pd.DataFrame({"sku": pd.Series(dtype=str), "period": pd.Series(dtype="datetime64[us]"),
                             "quantity": pd.Series(dtype=float)})
    qty = "quantity" if "quantity" in history.columns else "units"
    h = pd.DataFrame({
        "sku": history["sku"].astype(str).to_numpy(),
        "period": period_start(history["period"] if "period" in history.columns else history["date"]).to_numpy(),
        "quantity": pd.to_numeric(history[qty], errors="coerce").fillna(0.0).to_numpy(float),
    }).groupby(["sku", "period"], as_index=False)["quantity"].sum()
    end = h["period"].max()
    start = end - pd.DateOffset(months=window_months - 1)
    months = pd.date_range(start, end, freq="MS")
    first = h.groupby("sku")["period"].min()
    grid = pd.DataFrame({"sku": first.index}).merge(pd.DataFrame({"period": months}), how="cross")
    grid["period"] = grid["period"].astype(h["period"].dtype)
    grid = grid[grid["period"] >= grid["sku"].map(first)]
    grid = grid.merge(h, on=["sku", "period"], how="left")
    grid["quantity"] = grid["quantity"].fillna(0.0)
    return grid.reset_index(drop=True)


def safety_stock(products: pd.DataFrame, history: pd.DataFrame,
                 lead_time_weeks: float = DEFAULT_LEAD_TIME_WEEKS, service_level: float = 0.95,
                 window_months: int = 24) -> pd.DataFrame:
    """Safety stock per sku: sku, safety_stock_units, source ('products' | 'computed' | 'none'), demand_sd, lead_time_weeks.

    'computed' = z(service_level) × σ(monthly demand, ddof=1) × sqrt(lead time in months), used when the
    products table has no value; the sku's own lead_time_weeks is used, else `lead_time_weeks`.
    """
    if not 0 < service_level < 1:
        raise ValueError("service_level must be between 0 and 1 (e.g. 0.95)")
    z = NormalDist().inv_cdf(service_level)
    prod = normalise_products(products) if products is not None and len(products) else normalise_products(
        pd.DataFrame({"sku": pd.Series(dtype=str)}))
    md = monthly_demand(history, window_months)
    sd = md.groupby("sku")["quantity"].std(ddof=1)
    skus = sorted(set(prod["sku"].unique()) | set(md["sku"].unique()))
    out = pd.DataFrame({"sku": skus}).merge(prod[["sku", "safety_stock_units", "lead_time_weeks"]], on="sku",
                                            how="left")
    out["demand_sd"] = out["sku"].map(sd).astype(float)
    out["lead_time_weeks"] = out["lead_time_weeks"].fillna(float(lead_time_weeks))
    computed = z * out["demand_sd"] * np.sqrt(out["lead_time_weeks"] * 7.0 / DAYS_PER_MONTH)
    given = out["safety_stock_units"].notna()
    out["source"] = np.where(given, "products", np.where(computed.notna(), "computed", "none"))
    out["safety_stock_units"] = out["safety_stock_units"].where(given, computed).fillna(0.0)
    return out[["sku", "safety_stock_units", "source", "demand_sd", "lead_time_weeks"]]


# -- forward cover --------------------------------------------------------------------------------
def forward_cover_weeks(stock: np.ndarray, demand: np.ndarray, days: np.ndarray, tail_daily: np.ndarray,
                        cap_weeks: float = COVER_CAP_WEEKS) -> np.ndarray:
    """Weeks until cumulative future demand exceeds `stock`, per row.

    stock (n,); demand (n, H) of the following months; days (H,) days in those months; tail_daily (n,)
    daily demand assumed after month H. Capped at cap_weeks; stock <= 0 gives 0.
    """
    stock = np.asarray(stock, float)
    n = len(stock)
    demand = np.asarray(demand, float).reshape(n, -1)
    days = np.asarray(days, float)
    H = demand.shape[1]
    cum = np.cumsum(demand, axis=1)
    cum_days = np.cumsum(days)
    out = np.full(n, np.inf)
    if H:
        exceeded = cum > stock[:, None] + TOL
        hit = exceeded.any(axis=1)
        j = np.where(hit, exceeded.argmax(axis=1), H - 1)
        prev_cum = np.where(j > 0, cum[np.arange(n), np.maximum(j - 1, 0)], 0.0)
        prev_days = np.where(j > 0, cum_days[np.maximum(j - 1, 0)], 0.0)
        dj = demand[np.arange(n), j]
        with np.errstate(divide="ignore", invalid="ignore"):
            within = prev_days + np.where(dj > 0, (stock - prev_cum) / dj, 0.0) * days[j]
        out = np.where(hit, within, out)
        rest = stock - cum[:, -1]
        total_days = cum_days[-1]
    else:
        hit = np.zeros(n, bool)
        rest, total_days = stock, 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        tail = np.where(tail_daily > 0, total_days + rest / tail_daily, np.inf)
    out = np.where(hit, out, tail) / 7.0
    out = np.where(stock <= TOL, 0.0, out)
    return np.minimum(out, cap_weeks)


def _forward_demand(demand: np.ndarray, n_months: float, tail_month: np.ndarray) -> np.ndarray:
    """Demand over the `n_months` (may be fractional) following each month: (n, T); beyond the horizon at tail_month."""
    n, T = demand.shape
    whole = int(np.floor(n_months))
    frac = float(n_months) - whole
    padded = np.concatenate([demand, np.repeat(tail_month[:, None], whole + 2, axis=1)], axis=1)
    cum = np.concatenate([np.zeros((n, 1)), np.cumsum(padded, axis=1)], axis=1)
    t = np.arange(T)
    return cum[:, t + 1 + whole] - cum[:, t + 1] + frac * padded[:, t + 1 + whole]


# -- projection ------------------------------------------------------------------------------------
def _grid(sku: Iterable, period: Iterable, values: np.ndarray, skus: pd.Index, horizon: pd.DatetimeIndex) -> np.ndarray:
    """Values summed into a skus × horizon matrix (rows and months located by index, not one by one)."""
    out = np.zeros((len(skus), len(horizon)))
    i = skus.get_indexer(pd.Index(sku))
    t = horizon.get_indexer(pd.DatetimeIndex(period))
    if len(values) and ((i < 0).any() or (t < 0).any()):
        raise KeyError("a sku or month outside the projection")
    np.add.at(out, (i, t), values)
    return out


def _per_sku(values: pd.Series, skus: pd.Index) -> np.ndarray:
    """Float value of each sku (0 when missing or NaN)."""
    if not values.index.is_unique:
        return np.array([float(values.get(s, 0.0)) if pd.notna(values.get(s, 0.0)) else 0.0 for s in skus])
    return np.nan_to_num(pd.to_numeric(values.reindex(skus), errors="coerce").to_numpy(float), nan=0.0,
                         posinf=np.inf, neginf=-np.inf)


def _per_sku_value(prod: pd.DataFrame, column: str, skus: list[str]) -> np.ndarray:
    """`float(prod[column].get(sku, nan))` for every sku at once (prod indexed by sku, one row per sku)."""
    col = prod[column]
    if not col.index.is_unique:
        return np.array([float(col.get(s, np.nan)) for s in skus])
    return col.reindex(skus).to_numpy(float)


def _family_of(family: pd.Series, skus: pd.Index) -> np.ndarray:
    """Family label of each sku as text (the sku itself when it has none)."""
    if family.isna().any() or not family.index.is_unique:
        return np.array([str(family.get(s, s)) for s in skus])
    f = family.reindex(skus).astype(object)
    return np.array(f.where(f.notna(), skus.to_series(index=skus)).astype(str).tolist())


def project(plan: pd.DataFrame, on_hand: pd.DataFrame, receipts: pd.DataFrame | None,
            safety: pd.DataFrame | None, start_period: pd.Timestamp | None = None, months: int | None = None,
            products: pd.DataFrame | None = None) -> pd.DataFrame:
    """Projected available balance per sku × month.

    Columns: sku, family, period, opening, receipts, demand, closing (PAB, may be negative),
    safety_stock, shortage_units (max(−closing, 0)), below_safety (closing < safety_stock),
    cover_weeks (forward, capped at COVER_CAP_WEEKS), value_at_cost (max(closing, 0) × unit_cost; NaN
    without a cost). `on_hand`: sku, on_hand (e.g. `latest_on_hand`); `receipts`: sku, quantity and
    period or date (the supply table, or `supply.production_plan`); `safety`: sku, safety_stock_units.
    Defaults: start at the plan's first month, run to its last. Skus with stock or receipts but no
    plan are projected with zero demand.
    """
    p = normalise_plan(plan)
    start = pd.Timestamp(period_start(pd.Series([start_period]))[0]) if start_period is not None else (
        p["period"].min() if len(p) else None)
    if start is None or pd.isna(start):
        raise ValueError("project needs a start_period or a non-empty plan")
    if months is None:
        months = max(1, (p["period"].max().year - start.year) * 12 + p["period"].max().month - start.month + 1) \
            if len(p) else 12
    horizon = pd.date_range(start, periods=months, freq="MS")
    rec = receipts_by_month(receipts)
    rec = rec[(rec["period"] >= horizon[0]) & (rec["period"] <= horizon[-1])]
    oh = on_hand if on_hand is not None else pd.DataFrame({"sku": [], "on_hand": []})
    oh = oh.assign(sku=oh["sku"].astype(str)).groupby("sku")["on_hand"].sum()
    dem = p[(p["period"] >= horizon[0]) & (p["period"] <= horizon[-1])].groupby(["sku", "period"])["units"].sum()
    # unique first: a set of a long text column walks every row in Python (0.3 s at 10,000 series × 18 months)
    skus = sorted(set(p["sku"].unique()) | set(oh.index) | set(rec["sku"].unique()))
    n, T = len(skus), len(horizon)
    sku_index = pd.Index(skus)
    D = _grid(dem.index.get_level_values(0), dem.index.get_level_values(1), dem.to_numpy(float), sku_index, horizon)
    R = _grid(rec["sku"], rec["period"], rec["quantity"].to_numpy(float), sku_index, horizon)
    opening0 = oh.reindex(sku_index, fill_value=0.0).to_numpy(float)
    closing = opening0[:, None] + np.cumsum(R - D, axis=1)
    opening = np.concatenate([opening0[:, None], closing[:, :-1]], axis=1)

    days = np.array([m.days_in_month for m in horizon], float)
    tail_daily = D.sum(axis=1) / days.sum()
    cover = np.zeros((n, T))
    for t in range(T):
        cover[:, t] = forward_cover_weeks(closing[:, t], D[:, t + 1:], days[t + 1:], tail_daily)

    ss = (safety.assign(sku=safety["sku"].astype(str)).set_index("sku")["safety_stock_units"]
          if safety is not None and len(safety) else pd.Series(dtype=float))
    ss_v = _per_sku(ss, sku_index)
    fam = p.groupby("sku")["family"].last()
    cost = pd.Series(dtype=float)
    if products is not None and len(products):
        prod = normalise_products(products).set_index("sku")
        fam = pd.concat([prod["family"].dropna().astype(str), fam])
        fam = fam[~fam.index.duplicated(keep="last")]
        cost = prod["unit_cost"]

    out = pd.DataFrame({
        "sku": np.repeat(skus, T),
        "family": np.repeat(_family_of(fam, sku_index), T),
        "period": np.tile(horizon.to_numpy(), n),
        "opening": opening.ravel(),
        "receipts": R.ravel(),
        "demand": D.ravel(),
        "closing": closing.ravel(),
        "safety_stock": np.repeat(ss_v, T),
    })
    out["shortage_units"] = np.clip(-out["closing"].to_numpy(), 0.0, None) + 0.0
    out["below_safety"] = out["closing"] < out["safety_stock"] - TOL
    out["cover_weeks"] = cover.ravel()
    out["value_at_cost"] = out["closing"].clip(lower=0) * out["sku"].map(cost).astype(float)
    return out


def exceptions(projection: pd.DataFrame, products: pd.DataFrame, excess_cover_months: float = 6,
               skus: Iterable[str] | None = None) -> pd.DataFrame:
    """Inventory exceptions per sku, largest money first: sku, family, kind, first_period, units, value, value_basis.

    `skus`: only these are reported (None: every sku of the projection). The plan passes the skus it can
    speak for (`coverage.checked_skus`: in the plan, with a stock record), so a sku whose opening
    balance is unknown, or stock of a sku the plan does not hold, is never an exception.

    kind 'stockout' (closing < 0): units = the deepest shortage, value = units × unit_price (revenue at
    risk). 'below safety stock' (no stockout, closing < safety): units = the largest gap to safety
    stock, value = units × unit_cost (cost to restore the buffer). 'excess': stock beyond the next
    `excess_cover_months` of demand (beyond the horizon at its average rate), units = the largest such
    excess, value = units × unit_cost. first_period = the first month the condition holds.
    """
    cols = ["sku", "family", "kind", "first_period", "units", "value", "value_basis"]
    if skus is not None:
        projection = projection[projection["sku"].astype(str).isin({str(s) for s in skus})]
    if projection.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    prod = normalise_products(products).set_index("sku") if products is not None and len(products) else \
        pd.DataFrame(columns=["unit_price", "unit_cost"], dtype=float)
    wide = {c: projection.pivot(index="sku", columns="period", values=c).sort_index(axis=1)
            for c in ("closing", "demand", "safety_stock")}
    skus = wide["closing"].index.tolist()
    closing = wide["closing"].to_numpy(float)
    demand = np.nan_to_num(wide["demand"].to_numpy(float))
    safety = np.nan_to_num(wide["safety_stock"].to_numpy(float))
    periods = np.tile(wide["closing"].columns.to_numpy(), (len(skus), 1))
    fams = projection.groupby("sku")["family"].first()
    fwd = _forward_demand(demand, excess_cover_months, demand.mean(axis=1))
    excess = np.clip(closing - fwd, 0.0, None)
    price = _per_sku_value(prod, "unit_price", skus)
    cost = _per_sku_value(prod, "unit_cost", skus)
    short = np.clip(-closing, 0.0, None)
    gap = np.clip(safety - closing, 0.0, None)
    has_short = (short > TOL).any(axis=1)
    kinds = [  # (kind, rows, first month over TOL, units, unit value, basis); per sku in this order
        ("stockout", has_short, short, price, "revenue at risk"),
        ("below safety stock", ~has_short & (gap > TOL).any(axis=1), gap, cost, "cost to restore"),
        ("excess", (excess > TOL).any(axis=1), excess, cost, "excess at cost"),
    ]
    parts = []
    for k, (kind, hit, amount, unit_value, basis) in enumerate(kinds):
        i = np.flatnonzero(hit)
        units = amount[i].max(axis=1) if len(i) else np.zeros(0)
        t = np.argmax(amount[i] > TOL, axis=1) if len(i) else np.zeros(0, int)
        parts.append((i, np.full(len(i), min(k, 1)), kind, periods[i, t], units, units * unit_value[i], basis))
    order = np.lexsort((np.concatenate([p[1] for p in parts]), np.concatenate([p[0] for p in parts])))
    sku_i = np.concatenate([p[0] for p in parts])[order]
    fam_of = fams.reindex(skus).to_numpy(object)
    rows = list(zip(np.asarray(skus, dtype=object)[sku_i], fam_of[sku_i],
                    np.concatenate([np.full(len(p[0]), p[2], dtype=object) for p in parts])[order],
                    np.concatenate([p[3] for p in parts])[order], np.concatenate([p[4] for p in parts])[order],
                    np.concatenate([p[5] for p in parts])[order],
                    np.concatenate([np.full(len(p[0]), p[6], dtype=object) for p in parts])[order]))
    out = pd.DataFrame(rows, columns=cols)
    if out.empty:
        return out
    out["first_period"] = pd.to_datetime(out["first_period"])
    out = out.sort_values(["value", "units", "sku"], ascending=[False, False, True], na_position="last")
    return out.reset_index(drop=True)


def inventory_value(projection: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """Projected inventory at cost per period (optionally per `by`, e.g. 'family'): [by,] period, value_at_cost."""
    keys = ([by] if by else []) + ["period"]
    return projection.groupby(keys, as_index=False)["value_at_cost"].sum(min_count=1)



# -- the Inventory page's tables -----------------------------------------------------------------
EXCEPTION_TABLE_COLUMNS: tuple[str, ...] = ("sku", "family", "kind", "first_period", "units", "value", "value_basis",
                                            "safety_stock_units", "safety_source")


def projection_series(projection: pd.DataFrame, family: str | None = None, sku: str | None = None) -> pd.DataFrame:
    """Projected balance per month of one sku, else one family, else everything (None: no filter).

    `projection`: a `project` frame. Columns: period, opening, receipts, demand, closing, safety_stock.
    """
    p = projection
    if sku is not None:
        p = p[p["sku"] == sku]
    elif family is not None:
        p = p[p["family"] == family]
    return p.groupby("period", as_index=False)[["opening", "receipts", "demand", "closing", "safety_stock"]].sum()


def exception_table(exceptions_frame: pd.DataFrame, safety: pd.DataFrame) -> pd.DataFrame:
    """The `exceptions` list with each sku's safety stock and where it comes from (EXCEPTION_TABLE_COLUMNS).

    `safety`: a `safety_stock` frame (sku, safety_stock_units, source); units and value as floats,
    safety_source = that frame's source.
    """
    cols = list(EXCEPTION_TABLE_COLUMNS)
    if exceptions_frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    ss = safety[["sku", "safety_stock_units", "source"]].rename(columns={"source": "safety_source"})
    out = exceptions_frame.merge(ss, on="sku", how="left")
    out["units"] = pd.to_numeric(out["units"], errors="coerce").astype(float)
    out["value"] = pd.to_numeric(out["value"], errors="coerce").astype(float)
    return out[cols]


def exception_export(table: pd.DataFrame) -> pd.DataFrame:
    """An `exception_table` as the downloaded file holds it: first_period as 'YYYY-MM', units and safety stock
    rounded to whole units, value to cents (same columns)."""
    return table.assign(first_period=pd.to_datetime(table["first_period"]).dt.strftime("%Y-%m"),
                        units=pd.to_numeric(table["units"]).round(0), value=pd.to_numeric(table["value"]).round(2),
                        safety_stock_units=pd.to_numeric(table["safety_stock_units"]).round(0))


def exception_counts(exceptions_frame: pd.DataFrame) -> dict[str, float]:
    """Counts and money of an `exceptions` frame by kind.

    Keys: stockouts, revenue_at_risk, breaches, breach_value, excess, excess_value.
    """
    ex = exceptions_frame
    by = {k: ex[ex["kind"] == k] if len(ex) else ex for k in ("stockout", "below safety stock", "excess")}
    return {
        "stockouts": float(len(by["stockout"])),
        "revenue_at_risk": float(pd.to_numeric(by["stockout"]["value"], errors="coerce").sum()) if len(ex) else 0.0,
        "breaches": float(len(by["below safety stock"])),
        "breach_value": float(pd.to_numeric(by["below safety stock"]["value"], errors="coerce").sum())
        if len(ex) else 0.0,
        "excess": float(len(by["excess"])),
        "excess_value": float(pd.to_numeric(by["excess"]["value"], errors="coerce").sum()) if len(ex) else 0.0,
    }

# -- workspace -----------------------------------------------------------------------------------
@dataclass
class InventoryView:
    """Everything the Inventory page shows, computed from one consensus plan."""

    on_hand: pd.DataFrame
    safety: pd.DataFrame
    projection: pd.DataFrame
    exceptions: pd.DataFrame
    value: pd.DataFrame


def from_workspace(ws: Workspace, consensus: pd.DataFrame, constrained: pd.DataFrame | None = None,
                   service_level: float = 0.95, excess_cover_months: float = 6) -> InventoryView:
    """Inventory view of `consensus`, with receipts from the workspace's supply table (all sources).

    With `constrained` (from `supply.constrained_plan`) the receipts are instead the constrained
    production plus firm production receipts (`supply.production_plan`) plus the non-production
    receipts of the supply table (purchase orders).
    """
    from sop_core.demand.history import demand_history
    from sop_core.demand.history import products as load_products

    prod = load_products(ws)
    supply_table = ws.table("supply")
    on_hand = latest_on_hand(ws.table("inventory"))
    safety = safety_stock(prod, demand_history(ws), service_level=service_level)
    if constrained is None:
        rec = receipts_by_month(supply_table)
    else:
        rec = pd.concat([production_plan(constrained, production_receipts(supply_table)),
                         other_receipts(supply_table)], ignore_index=True)
    projection = project(consensus, on_hand, rec, safety, products=prod)
    return InventoryView(on_hand=on_hand, safety=safety, projection=projection,
                         exceptions=exceptions(projection, prod, excess_cover_months),
                         value=inventory_value(projection))
