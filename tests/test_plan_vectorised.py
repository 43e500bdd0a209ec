"""The vectorised plan engine equals the loop version it replaced, to the cent (issue 15, Deliver 3).

The `old_*` functions below are the implementations as they were before the vectorisation, kept verbatim
as the reference. Each test runs the new function and the old one on the demo company and on a generated
awkward company (skus missing from products, zero and missing prices and costs, skus without a resource,
resources without capacity, months without capacity, zero demand, firm receipts before, inside and after the
horizon, stock of skus not in the plan) and asserts the frames are equal.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_plan import seasonal_naive  # the demo consensus the plan tests use

from sop_core.demand import consensus, history
from sop_core.intake import company
from sop_core.periods import period_start
from sop_core.planning import finance, inventory, plan, supply
from sop_core.planning.finance import BUDGET_MONTHLY_COLUMNS, _finish, _value_lines
from sop_core.planning.inventory import TOL, _forward_demand, forward_cover_weeks
from sop_core.planning.supply import (
    CHECKED,
    NO_CAPACITY,
    NO_HOURS,
    NO_REGION,
    NO_RESOURCE,
    NOT_IN_PRODUCTS,
    UNKNOWN_MONTH,
    _measured_load,
    normalise_capacity,
    normalise_products,
    receipts_by_month,
    required_load,
    resource_basis,
)
from sop_core.store.workspace import Workspace


# -- the reference: the implementations before the vectorisation -----------------------------------
def old_normalise_plan(plan: pd.DataFrame, units: str = "units") -> pd.DataFrame:
    """Plan rows (sku, region, family, period as month start, units float) summed per key; raises on missing columns.

    The consensus engine's frame (a `consensus` column instead of `units`) is accepted as is.
    """
    if units == "units" and "units" not in plan.columns and "consensus" in plan.columns:
        units = "consensus"
    missing = [c for c in ("sku", "period", units) if c not in plan.columns]
    if missing:
        raise ValueError(
            f"the plan needs columns sku, region, family, period, {units}; missing: {', '.join(missing)}; "
            f"found: {', '.join(map(str, plan.columns))}"
        )
    df = pd.DataFrame({
        "sku": plan["sku"].astype(str),
        "region": plan["region"].astype(object).where(plan["region"].notna(), NO_REGION).astype(str)
        if "region" in plan.columns else NO_REGION,
        "family": plan["family"].astype(object).where(plan["family"].notna(), plan["sku"]).astype(str)
        if "family" in plan.columns else plan["sku"].astype(str),
        "period": period_start(plan["period"]).to_numpy(),
        "units": pd.to_numeric(plan[units], errors="coerce").fillna(0.0).astype(float).to_numpy(),
    })
    if (df["units"] < 0).any():
        raise ValueError(f"the plan has {int((df['units'] < 0).sum())} rows with negative units")
    return df.groupby(["sku", "region", "family", "period"], as_index=False)["units"].sum()


def old_constrained_plan(plan: pd.DataFrame, products: pd.DataFrame, capacity: pd.DataFrame,
                     prebuild_months: int = 2, receipts: pd.DataFrame | None = None) -> pd.DataFrame:
    """The plan as capacity allows it, per sku × region × period (rules in the module docstring).

    Columns: sku, region, family, resource, period, units (unconstrained demand), receipt_units (served
    by firm production receipts this month), constrained_units (what can be supplied for this month),
    prebuilt_units (part of constrained_units made in earlier months), short_units (units −
    constrained_units), made_units (new production made this month for this row, for this month or
    pre-built for a later one), capacity_check ('capacity' when checked, else why not).
    `receipts`: firm production receipts (sku, quantity, period or date), e.g. `production_receipts(supply)`.
    """
    if prebuild_months < 0:
        raise ValueError("prebuild_months must be >= 0")
    cols = ["sku", "region", "family", "resource", "period", "units", "receipt_units", "constrained_units",
            "prebuilt_units", "short_units", "made_units", "capacity_check"]
    p = old_normalise_plan(plan)
    if p.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
    grid, months = old_dense(p)
    T = len(months)
    prod = normalise_products(products)
    load = required_load(p, prod)
    cap = normalise_capacity(capacity)
    basis = resource_basis(load, cap)
    grid = grid.merge(prod[["sku", "resource", "hours_per_unit"]].assign(_known=True), on="sku", how="left")
    grid = grid.merge(basis, on="resource", how="left")
    grid = grid.sort_values(["sku", "region", "family", "period"]).reset_index(drop=True)

    rows = grid[grid["period"] == months[0]][["sku", "region", "family", "resource", "hours_per_unit", "_known",
                                              "basis"]].reset_index(drop=True)
    n_rows = len(rows)
    d = grid["units"].to_numpy(float).reshape(n_rows, T)
    factor = np.where(rows["basis"] == "hours", rows["hours_per_unit"],
                      np.where(rows["basis"] == "units", 1.0, np.nan)).astype(float)
    check = np.where(rows["_known"].isna(), NOT_IN_PRODUCTS,
                     np.where(rows["resource"].isna(), NO_RESOURCE,
                              np.where(rows["basis"].isna() | (rows["basis"] == "none"), NO_CAPACITY,
                                       np.where(np.isnan(factor), NO_HOURS, CHECKED)))).astype(object)

    # firm receipts: serve this month's demand of the sku, pro rata over its regions
    rec = receipts_by_month(receipts) if receipts is not None else receipts_by_month(None)
    rec = rec[(rec["period"] >= months[0]) & (rec["period"] <= months[-1])]
    midx = {m: i for i, m in enumerate(months)}
    sku_codes, sku_of_row = np.unique(rows["sku"].to_numpy(str), return_inverse=True)
    r_sku = np.zeros((len(sku_codes), T))
    pos = {s: i for i, s in enumerate(sku_codes)}
    for s, per, q in rec[["sku", "period", "quantity"]].itertuples(index=False):
        if s in pos:
            r_sku[pos[s], midx[pd.Timestamp(per)]] += q
    d_sku = np.zeros((len(sku_codes), T))
    np.add.at(d_sku, sku_of_row, d)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(d_sku > 0, np.minimum(1.0, r_sku / d_sku), 0.0)
    receipt_units = d * frac[sku_of_row]
    net = d - receipt_units

    constrained = d.copy()
    prebuilt = np.zeros_like(d)
    made = net.copy()  # unconstrained rows: made in the month they are needed
    check_month = np.tile(check[:, None], (1, T))

    # firm receipts charged to capacity, per resource × month (in the resource's basis)
    rec_f = rec.merge(prod[["sku", "resource", "hours_per_unit"]], on="sku", how="inner").merge(
        basis, on="resource", how="inner")
    rec_f["load"] = np.where(rec_f["basis"] == "hours", rec_f["quantity"] * rec_f["hours_per_unit"],
                             np.where(rec_f["basis"] == "units", rec_f["quantity"], np.nan))
    rec_load = rec_f.dropna(subset=["load"]).groupby(["resource", "period"])["load"].sum()

    cap_b = cap.merge(basis, on="resource", how="inner")
    cap_b["avail"] = np.where(cap_b["basis"] == "hours", cap_b["available_hours"], cap_b["capacity_units"])
    cap_map = cap_b.set_index(["resource", "period"])["avail"]

    for res in sorted(set(rows.loc[check == CHECKED, "resource"])):
        idx = np.flatnonzero((rows["resource"] == res).to_numpy() & (check == CHECKED))
        f = factor[idx]
        n = net[idx]
        C = np.array([cap_map.get((res, m), np.nan) for m in months], dtype=float)
        RL = np.array([rec_load.get((res, m), 0.0) for m in months], dtype=float)
        known = ~np.isnan(C)
        free = np.where(known, np.maximum(C - RL, 0.0), np.nan)
        L = (n * f[:, None]).sum(axis=0)
        inmonth = np.where(known, np.minimum(L, np.nan_to_num(free)), L)
        spare = np.where(known, np.nan_to_num(free) - inmonth, 0.0)
        deficit = L - inmonth
        pre = np.zeros((T, T))  # pre[m, t]: load made in month m for month t
        for t in range(T):
            k = 1
            while deficit[t] > TOL and k <= prebuild_months and t - k >= 0:
                m = t - k
                take = min(spare[m], deficit[t])
                if take > 0:
                    pre[m, t] += take
                    spare[m] -= take
                    deficit[t] -= take
                k += 1
        with np.errstate(divide="ignore", invalid="ignore"):
            share_in = np.where(L > 0, inmonth / L, 1.0)  # fraction of each row's net demand made in month
            share_pre = np.where(L > 0, pre.sum(axis=0) / L, 0.0)
            fill = np.minimum(1.0, share_in + share_pre)
            pre_frac = np.where(L[None, :] > 0, pre / L[None, :], 0.0)  # [m, t] share of t's demand made in m
        constrained[idx] = receipt_units[idx] + n * fill[None, :]
        prebuilt[idx] = n * np.minimum(share_pre, fill)[None, :]
        made[idx] = n * share_in[None, :] + n @ pre_frac.T
        unknown = ~known[None, :] & (d[idx] > 0)
        check_month[idx] = np.where(unknown, UNKNOWN_MONTH, check_month[idx])

    constrained = np.minimum(constrained, d)
    out = grid[["sku", "region", "family", "resource", "period", "units"]].copy()
    out["receipt_units"] = receipt_units.ravel()
    out["constrained_units"] = constrained.ravel()
    out["prebuilt_units"] = prebuilt.ravel()
    out["short_units"] = np.clip(d - constrained, 0.0, None).ravel() + 0.0
    out["made_units"] = made.ravel()
    out["capacity_check"] = check_month.ravel()
    return out[cols].reset_index(drop=True)


def _top_families(df: pd.DataFrame, n: int = 3) -> str:
    """'Family (share%)' of the n largest contributors to one resource × period load."""
    g = df.groupby("family")["load_qty"].sum().sort_values(ascending=False)
    g = g[g > 0]
    total = g.sum()
    if total <= 0:
        return ""
    parts = [f"{fam} ({v / total:.0%})" for fam, v in g.head(n).items()]
    if len(g) > n:
        parts.append(f"+{len(g) - n} more")
    return ", ".join(parts)


def old_utilisation(load: pd.DataFrame, capacity: pd.DataFrame, top_families: bool = True) -> pd.DataFrame:
    """Load vs capacity per resource × period.

    Columns: resource, period, basis ('hours' | 'units'), required_hours, available_hours, utilisation
    (required / available; inf when available is 0 and required > 0; NaN when capacity is unknown),
    overloaded (bool), spare_hours (available − required, floored at 0), over_hours (required −
    available, floored at 0), top_families (the families causing the load, largest share first).
    When basis is 'units', the *_hours columns hold units (required = planned units, available =
    capacity_units). Periods: those of the load, plus capacity months within the load's range.
    top_families=False leaves that column '' (the scorecard's peaks need no names; it costs a groupby per cell).
    """
    cap = normalise_capacity(capacity)
    basis = resource_basis(load, capacity)
    ml = _measured_load(load, basis)
    ml = ml[ml["basis"].isin(["hours", "units"]) & ml["load_qty"].notna()]
    req = ml.groupby(["resource", "period"], as_index=False)["load_qty"].sum().rename(
        columns={"load_qty": "required_hours"})
    tops = (ml.groupby(["resource", "period"])[["family", "load_qty"]].apply(_top_families)
            if len(ml) and top_families else pd.Series(dtype=object))
    cap = cap.merge(basis, on="resource", how="left")
    cap = cap[cap["basis"].isin(["hours", "units"])].copy()
    cap["available_hours"] = np.where(cap["basis"] == "hours", cap["available_hours"], cap["capacity_units"])
    if len(load):
        lo, hi = load["period"].min(), load["period"].max()
        cap = cap[(cap["period"] >= lo) & (cap["period"] <= hi)]
    out = req.merge(cap[["resource", "period", "available_hours"]], on=["resource", "period"], how="outer")
    out = out.merge(basis, on="resource", how="left")
    out["required_hours"] = out["required_hours"].fillna(0.0)
    out["top_families"] = [tops.get((r, pd.Timestamp(p)), "") for r, p in zip(out["resource"], out["period"])]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = out["required_hours"].to_numpy() / out["available_hours"].to_numpy()
    u = np.where((out["available_hours"] == 0) & (out["required_hours"] == 0), 0.0, u)
    out["utilisation"] = u
    out["overloaded"] = (out["required_hours"] > out["available_hours"] + TOL).fillna(False).astype(bool)
    out["spare_hours"] = (out["available_hours"] - out["required_hours"]).clip(lower=0)
    out["over_hours"] = (out["required_hours"] - out["available_hours"]).clip(lower=0)
    cols = ["resource", "period", "basis", "required_hours", "available_hours", "utilisation", "overloaded",
            "spare_hours", "over_hours", "top_families"]
    return out[cols].sort_values(["resource", "period"]).reset_index(drop=True)


def old_outlook(actuals: pd.DataFrame, plan_units: pd.DataFrame, year: int, last_actual_period: pd.Timestamp | None,
            products: pd.DataFrame, units: str = "units") -> pd.DataFrame:
    """Outlook for `year` per family × month: family, period, source ('actual' | 'plan'), units, revenue, cogs, margin, gross_margin_pct, list_revenue, unpriced_units, uncosted_units.

    Months up to `last_actual_period` come from `actuals` (quantity, revenue; a missing revenue is
    valued at unit_price), later months from `plan_units` at unit_price. list_revenue = units × unit_price
    (a line without a price counts at its own revenue), used by the bridge. Every family × month of
    the year is present (0 where nothing was sold or planned).
    """
    prod = normalise_products(products)
    months = pd.date_range(f"{int(year)}-01-01", periods=12, freq="MS")
    cut = pd.Timestamp(period_start(pd.Series([last_actual_period]))[0]) if last_actual_period is not None \
        else months[0] - pd.DateOffset(months=1)
    parts = []
    if actuals is not None and len(actuals):
        a = pd.DataFrame({
            "sku": actuals["sku"].astype(str).to_numpy(),
            "family": (actuals["family"].astype(object).where(actuals["family"].notna(), actuals["sku"])
                       if "family" in actuals.columns else actuals["sku"]).astype(str).to_numpy(),
            "period": period_start(actuals["period"] if "period" in actuals.columns else actuals["date"]).to_numpy(),
            "units": pd.to_numeric(actuals["quantity"], errors="coerce").fillna(0.0).to_numpy(float),
            "revenue": pd.to_numeric(actuals["revenue"], errors="coerce").to_numpy(float)
            if "revenue" in actuals.columns else np.nan,
        })
        a = a[(a["period"] >= months[0]) & (a["period"] <= months[-1]) & (a["period"] <= cut)]
        a = _value_lines(a, prod, "units")
        a["revenue"] = a["revenue"].where(a["revenue"].notna(), a["list_revenue"])
        a["list_revenue"] = np.where(a["unit_price"].isna(), a["revenue"], a["list_revenue"])
        a["unpriced_units"] = np.where(a["revenue"].isna(), a["units"], 0.0)
        parts.append(a)
    if plan_units is not None and len(plan_units):
        p = old_normalise_plan(plan_units, units)
        p = p[(p["period"] >= months[0]) & (p["period"] <= months[-1]) & (p["period"] > cut)]
        p = _value_lines(p, prod, "units")
        p["revenue"] = p["list_revenue"]
        parts.append(p)
    cols = ["units", "revenue", "cogs", "list_revenue", "unpriced_units", "uncosted_units"]
    lines = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        {c: pd.Series(dtype=float) for c in cols} | {"family": pd.Series(dtype=str),
                                                      "period": pd.Series(dtype="datetime64[us]")})
    g = lines.groupby(["family", "period"], as_index=False)[cols].sum(min_count=1)
    fams = sorted(g["family"].unique())
    grid = pd.DataFrame({"family": fams}).merge(pd.DataFrame({"period": months}), how="cross")
    g["period"] = g["period"].astype(grid["period"].dtype) if len(g) else g["period"]
    out = grid.merge(g, on=["family", "period"], how="left")
    empty = out["units"].isna()
    for c in cols:
        out[c] = out[c].where(~empty, 0.0)
    for c in ("units", "unpriced_units", "uncosted_units"):
        out[c] = out[c].fillna(0.0)
    out["source"] = np.where(out["period"] <= cut, "actual", "plan")
    out = _finish(out, "margin")
    return out[["family", "period", "source", "units", "revenue", "cogs", "margin", "gross_margin_pct",
                "list_revenue", "unpriced_units", "uncosted_units"]].reset_index(drop=True)


def old_budget_monthly(budget: pd.DataFrame, year: int, products: pd.DataFrame | None = None) -> pd.DataFrame:
    """The annual plan of `year` per family × month (BUDGET_MONTHLY_COLUMNS; sku rows mapped as `budget_by_family`).

    Columns: family, period (month start), volume_plan, revenue_plan, margin_plan (NaN when not given).
    """
    cols = list(BUDGET_MONTHLY_COLUMNS)
    empty = pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
    if budget is None or budget.empty:
        return empty
    b = budget.assign(_month=pd.to_datetime(budget["period"]).dt.to_period("M").dt.to_timestamp())
    parts = [old_budget_by_family(g.drop(columns="_month"), year, products).assign(period=m)
             for m, g in b.groupby("_month") if m.year == int(year)]
    return pd.concat(parts, ignore_index=True)[cols] if parts else empty


def old_project(plan: pd.DataFrame, on_hand: pd.DataFrame, receipts: pd.DataFrame | None,
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
    p = old_normalise_plan(plan)
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
    skus = sorted(set(p["sku"]) | set(oh.index) | set(rec["sku"]))
    n, T = len(skus), len(horizon)
    pos = {s: i for i, s in enumerate(skus)}
    tpos = {m: i for i, m in enumerate(horizon)}

    D = np.zeros((n, T))
    for (s, per), v in dem.items():
        D[pos[s], tpos[pd.Timestamp(per)]] += v
    R = np.zeros((n, T))
    for s, per, q in rec[["sku", "period", "quantity"]].itertuples(index=False):
        R[pos[s], tpos[pd.Timestamp(per)]] += q
    opening0 = np.array([float(oh.get(s, 0.0)) for s in skus])
    closing = opening0[:, None] + np.cumsum(R - D, axis=1)
    opening = np.concatenate([opening0[:, None], closing[:, :-1]], axis=1)

    days = np.array([m.days_in_month for m in horizon], float)
    tail_daily = D.sum(axis=1) / days.sum()
    cover = np.zeros((n, T))
    for t in range(T):
        cover[:, t] = forward_cover_weeks(closing[:, t], D[:, t + 1:], days[t + 1:], tail_daily)

    ss = (safety.assign(sku=safety["sku"].astype(str)).set_index("sku")["safety_stock_units"]
          if safety is not None and len(safety) else pd.Series(dtype=float))
    ss_v = np.array([float(ss.get(s, 0.0)) if pd.notna(ss.get(s, 0.0)) else 0.0 for s in skus])
    fam = p.groupby("sku")["family"].last()
    cost = pd.Series(dtype=float)
    if products is not None and len(products):
        prod = normalise_products(products).set_index("sku")
        fam = pd.concat([prod["family"].dropna().astype(str), fam])
        fam = fam[~fam.index.duplicated(keep="last")]
        cost = prod["unit_cost"]

    out = pd.DataFrame({
        "sku": np.repeat(skus, T),
        "family": np.repeat([str(fam.get(s, s)) for s in skus], T),
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


def old_exceptions(projection: pd.DataFrame, products: pd.DataFrame, excess_cover_months: float = 6,
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
    rows = []
    for i, s in enumerate(skus):
        price = float(prod["unit_price"].get(s, np.nan))
        cost = float(prod["unit_cost"].get(s, np.nan))
        short = np.clip(-closing[i], 0.0, None)
        gap = np.clip(safety[i] - closing[i], 0.0, None)
        if (short > TOL).any():
            t = int(np.argmax(short > TOL))
            rows.append((s, fams[s], "stockout", periods[i, t], short.max(), short.max() * price,
                         "revenue at risk"))
        elif (gap > TOL).any():
            t = int(np.argmax(gap > TOL))
            rows.append((s, fams[s], "below safety stock", periods[i, t], gap.max(), gap.max() * cost,
                         "cost to restore"))
        if (excess[i] > TOL).any():
            t = int(np.argmax(excess[i] > TOL))
            rows.append((s, fams[s], "excess", periods[i, t], excess[i].max(), excess[i].max() * cost,
                         "excess at cost"))
    out = pd.DataFrame(rows, columns=cols)
    if out.empty:
        return out
    out["first_period"] = pd.to_datetime(out["first_period"])
    out = out.sort_values(["value", "units", "sku"], ascending=[False, False, True], na_position="last")
    return out.reset_index(drop=True)



def old_budget_by_family(budget: pd.DataFrame, year: int, products: pd.DataFrame | None = None) -> pd.DataFrame:
    """Annual plan of `year` per family: family, volume_plan, revenue_plan, margin_plan (NaN when not given).

    Rows given by sku only are mapped to the sku's family from `products` (else the sku itself).
    """
    cols = ["family", "volume_plan", "revenue_plan", "margin_plan"]
    if budget is None or budget.empty:
        return pd.DataFrame({c: pd.Series(dtype=float if c != "family" else str) for c in cols})
    b = budget.copy()
    for c in ("family", "sku", "volume_plan", "revenue_plan", "margin_plan"):
        if c not in b.columns:
            b[c] = np.nan
    b = b[pd.to_datetime(b["period"]).dt.year == int(year)]
    fam = b["family"].astype(object)
    if fam.isna().any():
        mapping = (normalise_products(products).set_index("sku")["family"] if products is not None and len(products)
                   else pd.Series(dtype=object))
        sku = b["sku"].astype(object)
        fam = fam.where(fam.notna(), sku.map(mapping)).where(lambda f: f.notna(), sku)
    b["family"] = fam.astype(str)
    for c in ("volume_plan", "revenue_plan", "margin_plan"):
        b[c] = pd.to_numeric(b[c], errors="coerce").astype(float)
    g = b.groupby("family", as_index=False)[["volume_plan", "revenue_plan", "margin_plan"]].sum(min_count=1)
    return g[cols]


def old_dense(plan: pd.DataFrame) -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    """Plan on a full sku × region × month grid over the plan horizon (missing months as 0 units)."""
    months = pd.date_range(plan["period"].min(), plan["period"].max(), freq="MS")
    keys = plan[["sku", "region", "family"]].drop_duplicates().reset_index(drop=True)
    grid = keys.merge(pd.DataFrame({"period": months}), how="cross")
    grid["period"] = grid["period"].astype(plan["period"].dtype)
    grid = grid.merge(plan, on=["sku", "region", "family", "period"], how="left")
    grid["units"] = grid["units"].fillna(0.0)
    return grid, months


def old_resource_basis(load: pd.DataFrame, capacity: pd.DataFrame) -> pd.DataFrame:
    """How each resource is measured: resource, basis ('hours' | 'units' | 'none' when absent from capacity)."""
    cap = normalise_capacity(capacity)
    resources = sorted(set(load["resource"].dropna().astype(str)) | set(cap["resource"]))
    has_hours = cap.groupby("resource")["available_hours"].apply(lambda s: s.notna().any())
    has_units = cap.groupby("resource")["capacity_units"].apply(lambda s: s.notna().any())
    on = load[load["resource"].notna() & (load["units"] > 0)]
    missing_hours = on.groupby("resource")["hours_per_unit"].apply(lambda s: s.isna().any())
    rows = []
    for r in resources:
        h, u = bool(has_hours.get(r, False)), bool(has_units.get(r, False))
        if h and (not bool(missing_hours.get(r, False)) or not u):
            rows.append((r, "hours"))
        elif u:
            rows.append((r, "units"))
        else:
            rows.append((r, "none"))
    return pd.DataFrame(rows, columns=["resource", "basis"])


# -- the companies ----------------------------------------------------------------------------------
def awkward_inputs(skus: int = 120, regions: int = 3, seed: int = 7) -> plan.PlanInputs:
    """A generated company with every gap the engines handle (see the module docstring)."""
    rng = np.random.default_rng(seed)
    last = pd.Timestamp("2026-10-01")
    hist_m = pd.date_range(last - pd.DateOffset(months=29), last, freq="MS")
    plan_m = pd.date_range(last + pd.DateOffset(months=1), periods=15, freq="MS")
    sku = np.array([f"S{i:04d}" for i in range(skus)])
    fam = np.array([f"F{i % 7}" for i in range(skus)])
    price = np.round(rng.uniform(1, 300, skus), 2)
    price[::9] = 0.0
    price[::11] = np.nan
    cost = np.round(price * rng.uniform(0.3, 0.8, skus), 2)
    cost[::13] = np.nan
    res = np.array([f"R{i % 6}" for i in range(skus)], dtype=object)
    res[::10] = None  # no resource
    res[::17] = "R-none"  # a resource absent from the capacity table
    hpu = np.round(rng.uniform(0.05, 2.0, skus), 3)
    hpu[::8] = np.nan
    products = pd.DataFrame({"sku": sku, "family": np.where(np.arange(skus) % 19 == 0, None, fam), "unit_price": price,
                             "unit_cost": cost, "resource": res, "hours_per_unit": hpu,
                             "lead_time_weeks": np.where(np.arange(skus) % 5 == 0, np.nan, rng.integers(1, 14, skus)),
                             "safety_stock_units": np.where(rng.random(skus) < .5, np.nan,
                                                            rng.integers(0, 300, skus).astype(float))})
    products = products[~np.isin(np.arange(skus), np.arange(3, skus, 23))]  # skus not in products
    reg = np.array([f"Reg{r}" for r in range(regions)])
    s, r, m = (a.ravel() for a in np.meshgrid(np.arange(skus), np.arange(regions), np.arange(len(hist_m)),
                                              indexing="ij"))
    base = rng.gamma(1.2, 30.0, skus)
    q = np.round(base[s] * rng.lognormal(0, .5, len(s)))
    q[rng.random(len(s)) < .1] = 0.0
    keep = rng.random(len(s)) > .15  # missing months
    hist = pd.DataFrame({"series_id": [f"{a} | {b}" for a, b in zip(sku[s], reg[r])], "sku": sku[s], "region": reg[r],
                         "family": fam[s], "period": hist_m.to_numpy()[m], "quantity": q,
                         "revenue": np.where(rng.random(len(s)) < .2, np.nan, q * np.nan_to_num(price[s]))})[keep]
    s, r, m = (a.ravel() for a in np.meshgrid(np.arange(skus), np.arange(regions), np.arange(len(plan_m)),
                                              indexing="ij"))
    c = np.round(base[s] * rng.lognormal(0, .4, len(s)), 2)
    c[rng.random(len(s)) < .15] = 0.0
    keep = rng.random(len(s)) > .1
    region = np.where(np.arange(len(s)) % 31 == 0, None, reg[r]).astype(object)
    cons = pd.DataFrame({"sku": sku[s], "region": region, "family": fam[s], "period": plan_m.to_numpy()[m],
                         "consensus": c})[keep]
    inv_sku = np.concatenate([sku[::2], ["ORPHAN-1", "ORPHAN-2"]])
    inv = pd.DataFrame({"date": np.where(np.arange(len(inv_sku)) % 3 == 0, last - pd.Timedelta(days=20),
                                         last + pd.offsets.MonthEnd(0)), "sku": inv_sku, "location": "DC",
                        "on_hand": np.round(rng.uniform(-5, 400, len(inv_sku)))})
    inv = pd.concat([inv, inv.assign(location="DC2", on_hand=7.0)], ignore_index=True)
    rows = []
    for mm in pd.date_range(hist_m[-3], plan_m[-1], freq="MS"):
        for rr in ("R0", "R1", "R2", "R3", "R4", "R5"):
            if rr == "R3" and mm.month % 4 == 0:
                continue  # months without capacity
            hours = np.nan if rr == "R5" else float(rng.uniform(50, 1500))
            units = float(rng.uniform(100, 3000)) if rr in ("R4", "R5") else np.nan
            if rr == "R2" and mm.month == 6:
                hours = 0.0
            rows.append((mm, rr, hours, units))
    cap = pd.DataFrame(rows, columns=["period", "resource", "available_hours", "capacity_units"])
    sup = pd.DataFrame({"sku": np.concatenate([sku[::3], ["ORPHAN-3"]]),
                        "date": np.concatenate([[plan_m[i % 15] + pd.Timedelta(days=3) for i in range(len(sku[::3]))],
                                                [plan_m[2]]]),
                        "quantity": np.round(rng.uniform(0, 500, len(sku[::3]) + 1)),
                        "source": (["Production", "Purchase order", None, "production run"] * skus)[:len(sku[::3]) + 1]})
    sup.loc[0, "date"] = hist_m[-2]  # before the horizon
    budget = pd.DataFrame(
        [(pd.Timestamp(2026, mo, 1), f, None, 1e3 * mo, 2e4 * mo, 5e3) for mo in range(1, 13) if mo != 7
         for f in ("F0", "F1", "F2", "F3")]
        + [(pd.Timestamp(2026, mo, 15), None, str(sku[mo]), 10.0, 100.0, np.nan) for mo in range(1, 13)]
        + [(pd.Timestamp(2027, 1, 1), "F5", None, 1.0, 2.0, 1.0)],
        columns=["period", "family", "sku", "volume_plan", "revenue_plan", "margin_plan"])
    return plan.PlanInputs(consensus=plan.as_consensus(cons), products=products, inventory=inv, capacity=cap,
                           supply=sup, budget=budget, history=hist)


@pytest.fixture(scope="module")
def demo_inputs(tmp_path_factory: pytest.TempPathFactory) -> plan.PlanInputs:
    ws = Workspace(Path(tmp_path_factory.mktemp("demo")) / "ws.duckdb")
    try:
        company.reset_to_demo(ws)
        cons = consensus.apply_overrides(seasonal_naive(history.demand_history(ws)))
        return plan.PlanInputs.from_workspace(ws, cons)
    finally:
        ws.close()


@pytest.fixture(scope="module", params=["demo", "awkward"])
def inputs(request: pytest.FixtureRequest, demo_inputs: plan.PlanInputs) -> plan.PlanInputs:
    return demo_inputs if request.param == "demo" else awkward_inputs()


def same(new: pd.DataFrame, old: pd.DataFrame) -> None:
    """Equal frames: same columns, dtypes, rows and values (floats to 1e-12 relative)."""
    pd.testing.assert_frame_equal(new, old, check_exact=False, rtol=1e-12, atol=1e-9)


def _receipts(inputs: plan.PlanInputs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(constrained plan, receipts for the projection) as `plan.evaluate` builds them."""
    firm = supply.production_receipts(inputs.supply)
    c = supply.constrained_plan(inputs.consensus, inputs.products, inputs.capacity, inputs.prebuild_months, firm)
    rec = pd.concat([supply.production_plan(c, firm), supply.other_receipts(inputs.supply)], ignore_index=True)
    return c, rec


# -- the tests ----------------------------------------------------------------------------------------
def test_normalise_plan(inputs: plan.PlanInputs) -> None:
    cons = inputs.consensus
    same(supply.normalise_plan(cons), old_normalise_plan(cons))
    c, _ = _receipts(inputs)
    same(supply.normalise_plan(c, "constrained_units"), old_normalise_plan(c, "constrained_units"))
    dup = pd.concat([cons, cons.iloc[::3]], ignore_index=True)  # repeated keys are summed
    same(supply.normalise_plan(dup), old_normalise_plan(dup))
    odd = cons.assign(region=cons["region"].astype(object), family=cons["family"].astype(object),
                      period=cons["period"].astype(str).str[:10])  # object labels, text dates
    odd.loc[odd.index[::5], ["region", "family"]] = None
    same(supply.normalise_plan(odd), old_normalise_plan(odd))
    shuffled = cons.sample(frac=1.0, random_state=3).drop(columns=["region", "family"])
    same(supply.normalise_plan(shuffled), old_normalise_plan(shuffled))
    same(supply.normalise_plan(cons.iloc[:0]), old_normalise_plan(cons.iloc[:0]))
    with pytest.raises(ValueError, match="negative"):
        supply.normalise_plan(cons.assign(consensus=-1.0))


def test_project(inputs: plan.PlanInputs) -> None:
    on_hand = inventory.latest_on_hand(inputs.inventory)
    safety = inventory.safety_stock(inputs.products, inputs.history)
    _, rec = _receipts(inputs)
    cons = inputs.consensus
    same(inventory.project(cons, on_hand, rec, safety, products=inputs.products),
         old_project(cons, on_hand, rec, safety, products=inputs.products))
    same(inventory.project(cons, on_hand, inputs.supply, safety),  # the supply table, no products
         old_project(cons, on_hand, inputs.supply, safety))
    start = pd.Timestamp(cons["period"].min()) + pd.DateOffset(months=2)
    same(inventory.project(cons, None, None, None, start_period=start, months=6),
         old_project(cons, None, None, None, start_period=start, months=6))
    dup_safety = pd.concat([safety, safety.iloc[:3].assign(safety_stock_units=np.nan)], ignore_index=True)
    for f in (inventory.project, old_project):  # a sku twice in the safety stock: refused as before
        with pytest.raises(ValueError):
            f(cons, on_hand, rec, dup_safety, products=inputs.products)


def test_outlook(inputs: plan.PlanInputs) -> None:
    hist, prod, cons = inputs.history, inputs.products, inputs.consensus
    last = history.last_actual_period(hist)
    c, _ = _receipts(inputs)
    year = plan.outlook_year(hist, cons)
    for y in (year - 1, year, year + 1):
        same(finance.outlook(hist, cons, y, last, prod), old_outlook(hist, cons, y, last, prod))
        same(finance.outlook(hist, c, y, last, prod, units="constrained_units"),
             old_outlook(hist, c, y, last, prod, units="constrained_units"))
    same(finance.outlook(None, cons, year, None, prod), old_outlook(None, cons, year, None, prod))
    same(finance.outlook(hist, None, year, last, prod), old_outlook(hist, None, year, last, prod))
    odd = hist.drop(columns=["family", "revenue"]).rename(columns={"period": "date"})
    odd["date"] = odd["date"].astype(str)
    same(finance.outlook(odd, cons, year, last, prod), old_outlook(odd, cons, year, last, prod))
    obj = hist.assign(family=hist["family"].astype(object).where(hist.index % 4 > 0, None))
    same(finance.outlook(obj, cons, year, last, prod), old_outlook(obj, cons, year, last, prod))


def test_budget_monthly(inputs: plan.PlanInputs) -> None:
    b, prod = inputs.budget, inputs.products
    for y in (2025, 2026, 2027):
        same(finance.budget_monthly(b, y, prod), old_budget_monthly(b, y, prod))
        same(finance.budget_monthly(b, y), old_budget_monthly(b, y))
        same(finance.budget_by_family(b, y, prod), old_budget_by_family(b, y, prod))
    bare = b[["period", "revenue_plan"]].assign(family=None, sku=None)  # no family, no sku, no volume
    same(finance.budget_monthly(bare, 2026, prod), old_budget_monthly(bare, 2026, prod))
    same(finance.budget_monthly(b.iloc[:0], 2026, prod), old_budget_monthly(b.iloc[:0], 2026, prod))


def test_constrained_plan(inputs: plan.PlanInputs) -> None:
    cons, prod, cap = inputs.consensus, inputs.products, inputs.capacity
    firm = supply.production_receipts(inputs.supply)
    for months in (0, 1, 2, 5):
        same(supply.constrained_plan(cons, prod, cap, months, firm), old_constrained_plan(cons, prod, cap, months, firm))
    same(supply.constrained_plan(cons, prod, cap), old_constrained_plan(cons, prod, cap))
    same(supply.constrained_plan(cons, prod, cap.iloc[:0]), old_constrained_plan(cons, prod, cap.iloc[:0]))
    gappy = cons.iloc[::2]  # keys with missing months
    same(supply.constrained_plan(gappy, prod, cap, 2, inputs.supply),
         old_constrained_plan(gappy, prod, cap, 2, inputs.supply))
    same(supply.constrained_plan(cons.iloc[:0], prod, cap), old_constrained_plan(cons.iloc[:0], prod, cap))


def test_utilisation(inputs: plan.PlanInputs) -> None:
    load = supply.required_load(inputs.consensus, inputs.products)
    same(supply.utilisation(load, inputs.capacity), old_utilisation(load, inputs.capacity))
    same(supply.utilisation(load, inputs.capacity, top_families=False),
         old_utilisation(load, inputs.capacity, top_families=False))
    tied = load.assign(units=1.0, hours_per_unit=1.0, required_hours=1.0)  # equal loads: ties in the same order
    same(supply.utilisation(tied, inputs.capacity), old_utilisation(tied, inputs.capacity))
    same(supply.utilisation(load.iloc[:0], inputs.capacity), old_utilisation(load.iloc[:0], inputs.capacity))


def _old_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Put the reference versions back where `plan.evaluate` and `plan.build_view` find them."""
    for mod in (supply, finance, inventory):
        monkeypatch.setattr(mod, "normalise_plan", old_normalise_plan)
    monkeypatch.setattr(supply, "constrained_plan", old_constrained_plan)
    monkeypatch.setattr(supply, "utilisation", old_utilisation)
    monkeypatch.setattr(supply, "resource_basis", old_resource_basis)
    monkeypatch.setattr(finance, "outlook", old_outlook)
    monkeypatch.setattr(finance, "budget_monthly", old_budget_monthly)
    monkeypatch.setattr(finance, "budget_by_family", old_budget_by_family)
    monkeypatch.setattr(inventory, "project", old_project)
    monkeypatch.setattr(inventory, "exceptions", old_exceptions)


def _same_value(new: object, old: object, where: str) -> None:
    """Equal view parts: frames as `same`, floats to 1e-12 (NaN equal to NaN), dataclasses field by field."""
    if isinstance(new, pd.DataFrame):
        same(new, old)
    elif isinstance(new, dict):
        assert new.keys() == old.keys(), where
        for k in new:
            _same_value(new[k], old[k], f"{where}.{k}")
    elif isinstance(new, float):
        assert (np.isnan(new) and np.isnan(old)) or new == pytest.approx(old, rel=1e-12, abs=1e-9), where
    elif hasattr(new, "__dataclass_fields__"):
        for f in new.__dataclass_fields__:
            if f != "seconds":
                _same_value(getattr(new, f), getattr(old, f), f"{where}.{f}")
    else:
        assert new == old, where


def test_plan_view_equals_the_old_engine(inputs: plan.PlanInputs, monkeypatch: pytest.MonkeyPatch) -> None:
    new = plan.build_view(inputs)
    with monkeypatch.context() as m:
        _old_engine(m)
        old = plan.build_view(inputs)
    _same_value(new, old, "view")
    scenario = {"demand": [{"family": None, "pct": 25}], "capacity": [{"resource": None, "pct": -30}]}
    new = plan.evaluate_scenario(inputs, scenario)
    with monkeypatch.context() as m:
        _old_engine(m)
        old = plan.evaluate_scenario(inputs, scenario)
    _same_value(new, old, "scenario")


def test_exceptions(inputs: plan.PlanInputs) -> None:
    r = plan.evaluate(inputs)
    skus = plan.cov_mod.checked_skus(inputs.consensus, r.on_hand)
    for months in (0, 1, 6, 2.5):
        same(inventory.exceptions(r.projection, inputs.products, months, skus=skus),
             old_exceptions(r.projection, inputs.products, months, skus=skus))
        same(inventory.exceptions(r.projection, inputs.products, months),
             old_exceptions(r.projection, inputs.products, months))
    same(inventory.exceptions(r.projection, None), old_exceptions(r.projection, None))
    same(inventory.exceptions(r.projection.iloc[:0], inputs.products), old_exceptions(r.projection.iloc[:0],
                                                                                       inputs.products))
    calm = r.projection.assign(closing=1.0, safety_stock=0.0, demand=1.0)  # nothing to report
    same(inventory.exceptions(calm, inputs.products), old_exceptions(calm, inputs.products))


def test_resource_basis(inputs: plan.PlanInputs) -> None:
    load = supply.required_load(inputs.consensus, inputs.products)
    same(supply.resource_basis(load, inputs.capacity), old_resource_basis(load, inputs.capacity))
    same(supply.resource_basis(load.iloc[:0], inputs.capacity), old_resource_basis(load.iloc[:0], inputs.capacity))
    same(supply.resource_basis(load, inputs.capacity.iloc[:0]), old_resource_basis(load, inputs.capacity.iloc[:0]))
