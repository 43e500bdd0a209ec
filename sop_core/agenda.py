"""The pre-S&OP agenda: the exceptions that need a decision, ranked by money at stake.

`agenda(result, overrides, products)` columns: kind ('revenue gap' | 'supply gap' | 'stockout' |
'large override'), subject, detail, period (first period concerned, or NaT), units, money (the
money at stake, ≥ 0), page (where the detail lives). Sorted by money, largest first.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .formatting import money as fmt_money
from .formatting import pct, units as fmt_units

AGENDA_COLUMNS = ["kind", "subject", "detail", "period", "units", "money", "page"]
LARGE_OVERRIDE_SHARE = 0.005  # an override moving more than 0.5% of the horizon's revenue is on the agenda


def _prices(products: pd.DataFrame) -> pd.Series:
    return pd.to_numeric(products.drop_duplicates("sku", keep="last").set_index("sku")["unit_price"],
                         errors="coerce").fillna(0.0)


def supply_gaps(constrained: pd.DataFrame, products: pd.DataFrame) -> pd.DataFrame:
    """One row per family short of capacity: units short after pre-build and the revenue they carry."""
    c = constrained[constrained["short_units"] > 1e-9].copy()
    if c.empty:
        return pd.DataFrame(columns=AGENDA_COLUMNS)
    c["money"] = c["short_units"] * c["sku"].map(_prices(products)).fillna(0.0)
    rows = []
    for family, g in c.groupby("family"):
        months = sorted(pd.to_datetime(g["period"]).unique())
        span = f"{pd.Timestamp(months[0]):%b %Y}" + (f"–{pd.Timestamp(months[-1]):%b %Y}" if len(months) > 1 else "")
        resources = ", ".join(sorted(g["resource"].dropna().astype(str).unique()))
        rows.append({"kind": "supply gap", "subject": f"{family}: {fmt_units(g['short_units'].sum())} units short",
                     "detail": f"capacity of {resources or 'its resource'} in {span}, after pre-build",
                     "period": pd.Timestamp(months[0]), "units": float(g["short_units"].sum()),
                     "money": float(g["money"].sum()), "page": "supply_review"})
    return pd.DataFrame(rows, columns=AGENDA_COLUMNS)


def stockouts(exceptions: pd.DataFrame) -> pd.DataFrame:
    """Projected stockouts from the inventory exceptions, money = revenue at risk."""
    s = exceptions[exceptions["kind"] == "stockout"]
    return pd.DataFrame({
        "kind": "stockout", "subject": s["sku"].astype(str) + " (" + s["family"].astype(str) + ") runs out",
        "detail": "projected available balance below zero", "period": pd.to_datetime(s["first_period"]),
        "units": s["units"].astype(float), "money": s["value"].astype(float), "page": "inventory",
    }, columns=AGENDA_COLUMNS)


def revenue_gap(kpis: dict[str, Any], year: int) -> pd.DataFrame:
    """The full-year revenue gap to the annual plan, when the outlook is below it."""
    gap = kpis.get("gap_to_plan")
    if gap is None or not np.isfinite(gap) or gap >= 0:
        return pd.DataFrame(columns=AGENDA_COLUMNS)
    return pd.DataFrame([{
        "kind": "revenue gap", "subject": f"{year} outlook {fmt_money(gap)} below the annual plan",
        "detail": f"{pct(kpis.get('gap_to_plan_pct'), signed=True)} against {fmt_money(kpis.get('plan_revenue'))}",
        "period": pd.Timestamp(year=year, month=1, day=1), "units": np.nan, "money": float(-gap),
        "page": "financials"}], columns=AGENDA_COLUMNS)


def large_overrides(overrides: pd.DataFrame, consensus: pd.DataFrame, products: pd.DataFrame,
                    horizon_revenue: float, share: float = LARGE_OVERRIDE_SHARE) -> pd.DataFrame:
    """Active overrides whose change in units, valued at the scope's average price, exceeds `share` of revenue."""
    if overrides is None or overrides.empty:
        return pd.DataFrame(columns=AGENDA_COLUMNS)
    active = overrides[overrides["undoes"].isna() & ~overrides["undone"].astype(bool)]
    price = consensus.assign(price=consensus["sku"].map(_prices(products)).fillna(0.0))
    rows = []
    for _, o in active.iterrows():
        scope = price
        for col in ("family", "region", "sku"):
            if isinstance(o[col], str) and o[col]:
                scope = scope[scope[col] == o[col]]
        avg = float((scope["price"] * scope["consensus"]).sum() / scope["consensus"].sum()) if scope["consensus"].sum() else 0.0
        delta = float(o["after_units"] - o["before_units"])
        value = abs(delta) * avg
        if value < share * horizon_revenue:
            continue
        who = o["sku"] if isinstance(o["sku"], str) else (o["family"] if isinstance(o["family"], str) else "all")
        where = f", {o['region']}" if isinstance(o["region"], str) else ""
        rows.append({"kind": "large override", "subject": f"{who}{where}: {fmt_units(delta)} units by {o['author']}",
                     "detail": f"{o['reason']}" + (f" — {o['comment']}" if isinstance(o["comment"], str) and o["comment"] else ""),
                     "period": pd.Timestamp(o["period_from"]), "units": delta, "money": value,
                     "page": "demand_review"})
    return pd.DataFrame(rows, columns=AGENDA_COLUMNS)


def agenda(result: Any, overrides: pd.DataFrame | None, products: pd.DataFrame) -> pd.DataFrame:
    """Every exception that needs a decision (AGENDA_COLUMNS), largest money at stake first.

    result: a `plan.PlanResult` (constrained, exceptions, consensus, kpis, year).
    """
    parts = [
        revenue_gap(result.kpis, result.year),
        supply_gaps(result.constrained, products),
        stockouts(result.exceptions),
        large_overrides(overrides, result.consensus, products, float(result.kpis.get("horizon_revenue", 0.0))),
    ]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=AGENDA_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values("money", ascending=False, kind="mergesort").reset_index(drop=True)
