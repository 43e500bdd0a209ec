"""Actuals as the scorecard measures them: sales per month valued by finance, month-end stock at cost, turns and cover.

* `monthly_actuals`: units, revenue and COGS per month (finance rules: COGS = units × unit_cost, units
  without a price or cost counted apart).
* `inventory_at_cost`: each sku's last snapshot of the month (summed over locations) × unit_cost.
* `inventory_turns` = COGS over the window (annualised when shorter than 12 months) / average inventory at cost.
* `forward_days`: days until the cumulative demand exceeds the stock, walking month by month
  (`inventory.forward_cover_weeks`, capped at 104 weeks).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sop_core.periods import period_start
from sop_core.planning import finance, inventory, supply
from sop_core.planning.kpi_catalogue import WINDOW_MONTHS


def month_starts(end: pd.Timestamp, n: int) -> pd.DatetimeIndex:
    """The n month starts ending with `end`'s month."""
    e = pd.Timestamp(end).to_period("M").to_timestamp()
    return pd.date_range(e - pd.DateOffset(months=n - 1), e, freq="MS")


def products_frame(products: pd.DataFrame | None) -> pd.DataFrame:
    """Normalised products (an empty frame when none)."""
    return supply.normalise_products(products if products is not None else pd.DataFrame({"sku": []}))


def _text(col: pd.Series, blank: pd.Series | str) -> Any:
    """`col` as text with `blank` where it is null: the column's own array when it is text already with no null
    (no copy: the history from DuckDB, or a normalised one), else converted as before."""
    if isinstance(col.dtype, pd.StringDtype) and col.dtype.na_value is np.nan and not col.isna().any():
        return col.array
    if isinstance(blank, str) and blank == "":
        return col.astype(str).to_numpy()
    return col.astype(object).where(col.notna(), blank).astype(str).to_numpy()


def normalise_history(history: pd.DataFrame) -> pd.DataFrame:
    """Actuals as sku, region, family, period (month start), quantity, revenue (NaN when not given).

    Cheap on a frame normalised already (text columns are taken as they are), so callers may normalise
    a normalised history again."""
    when = "period" if "period" in history.columns else "date"
    qty = "quantity" if "quantity" in history.columns else "units"
    sku = _text(history["sku"], "")
    out = pd.DataFrame({
        "sku": sku,
        "region": (_text(history["region"], supply.NO_REGION) if "region" in history.columns else supply.NO_REGION),
        "family": (_text(history["family"], history["sku"]) if "family" in history.columns else sku),
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
    prod = products_frame(products)
    parts = [finance.outlook(h, None, int(y), last, prod) for y in range(first.year, last.year + 1)]
    o = pd.concat(parts, ignore_index=True)
    cols = ["units", "revenue", "cogs", "unpriced_units", "uncosted_units"]
    g = o.groupby("period")[cols].sum(min_count=1)
    months = pd.date_range(first, last, freq="MS")
    g.index = pd.to_datetime(g.index)
    g = g.reindex(months).fillna({c: 0.0 for c in cols})
    # COGS leaves out units without a unit_cost (counted in uncosted_units), so a month of only those is 0
    return g.rename_axis("period").reset_index()


def inventory_at_cost(inventory_frame: pd.DataFrame, products: pd.DataFrame | None) -> pd.DataFrame:
    """Month-end inventory per month: period, on_hand (units), value_at_cost, uncosted_units, as_of.

    Each sku's last snapshot in the month, summed over locations; value = on_hand × unit_cost (skus
    without a cost are left out of the value and counted in uncosted_units).
    """
    cols = ["period", "on_hand", "value_at_cost", "uncosted_units", "as_of"]
    if inventory_frame is None or len(inventory_frame) == 0:
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
    cost = products_frame(products).set_index("sku")["unit_cost"]
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
    months = month_starts(end, window_months)
    c = cogs.reindex(months).dropna()
    inv = inventory_value.reindex(months).dropna()
    if c.empty or inv.empty or not inv.mean() > 0:
        return float("nan")
    return float(c.sum() * (12.0 / len(c)) / inv.mean())


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


def valued_plan(plan: pd.DataFrame, cost: pd.Series | None) -> pd.Series:
    """Plan per month, at cost when `cost` (per sku) is given, else in units."""
    p = supply.normalise_plan(plan)
    if cost is not None:
        p = p.assign(units=p["units"] * p["sku"].map(cost).astype(float)).dropna(subset=["units"])
    return p.groupby("period")["units"].sum()
