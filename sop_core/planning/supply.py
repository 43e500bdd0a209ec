"""Supply review: rough-cut capacity (load vs capacity per resource) and the capacity-constrained plan.

Every function starts from the consensus demand plan, a long frame

    plan: sku, region, family, period (datetime64, month start), units (float >= 0)

and the contract tables as DataFrames (`products`, `capacity`, `supply`). Nothing here reads the
workspace except `from_workspace`.

Rules (also printed by the Supply review page):

* Load. required_hours = units x hours_per_unit, per sku x period. A resource is measured in
  **hours** when the capacity table gives `available_hours` for it (and every sku planned on it has
  `hours_per_unit`, or no `capacity_units` exists to fall back on); otherwise in **units** against
  `capacity_units` (then required = units). Skus that cannot be loaded (no resource, not in the
  products table, no hours_per_unit on an hours resource, resource absent from the capacity table)
  are listed by `unloaded` and passed through the constrained plan unconstrained, with the reason
  in its `capacity_check` column; they are never dropped silently.
* A resource × month with no capacity row is *unknown*, not zero: it constrains nothing and its
  spare capacity is not used to pre-build.
* Firm receipts. Planned receipts with source "Production" (or no source) are already scheduled on
  the sku's resource: they are charged to that month's capacity first, and they serve the sku's
  demand **in that month only** (split over regions pro rata to demand). What they make beyond
  that month's demand is stock, visible in the inventory projection, not in this plan.
* Constrained production. In each month the free capacity (capacity − firm receipts, floored at 0)
  makes the remaining demand; when it is short, spare capacity of up to `prebuild_months` earlier
  months of the plan horizon (nearest month first; earliest shortfall gets first claim; never
  before the first month of the plan) builds ahead. What is still missing is short. Skus competing
  for one resource in a month all get the same fill rate (allocation pro rata to demand).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sop_core.formatting import units as fmt_units
from sop_core.periods import period_start

if TYPE_CHECKING:  # pragma: no cover
    from sop_core.store.workspace import Workspace

PLAN_COLUMNS: tuple[str, ...] = ("sku", "region", "family", "period", "units")
NO_REGION = "All"
TOL = 1e-9

# capacity_check values of the constrained plan
CHECKED = "capacity"
NO_RESOURCE = "no resource"
NOT_IN_PRODUCTS = "not in products"
NO_HOURS = "no hours_per_unit"
NO_CAPACITY = "resource not in capacity"
UNKNOWN_MONTH = "no capacity for the month"


# -- inputs --------------------------------------------------------------------------------------
def key_labels(col: pd.Series, fill: Any) -> pd.Series:
    """Text labels of a key column, missing ones replaced by `fill` (a string or an aligned Series)."""
    if isinstance(col.dtype, pd.StringDtype):  # already text: no round trip through Python objects
        return col.where(col.notna(), fill).astype(str)
    return col.astype(object).where(col.notna(), fill).astype(str)


def month_start(dates: pd.Series) -> np.ndarray:
    """`period_start(dates)` as a datetime64[us] array; plain datetime64 columns take a numpy shortcut."""
    if isinstance(dates.dtype, np.dtype) and dates.dtype.kind == "M":
        return dates.to_numpy().astype("datetime64[M]").astype("datetime64[us]")
    return period_start(dates).to_numpy()


def _sum_by_keys(df: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    """`df.groupby(keys, as_index=False)[value].sum()`; when no key repeats, a sort of the rows (same result)."""
    codes, sizes = [], []
    for k in keys:
        code, uniques = pd.factorize(df[k], sort=True, use_na_sentinel=True)
        if (code < 0).any():  # a missing key: groupby drops the row, leave that to groupby
            return df.groupby(keys, as_index=False)[value].sum()
        codes.append(code)
        sizes.append(max(len(uniques), 1))
    if len(df) == 0 or float(np.prod(np.asarray(sizes, float))) >= 2.0 ** 62:
        return df.groupby(keys, as_index=False)[value].sum()
    combined = np.ravel_multi_index(codes, sizes)
    order = np.argsort(combined, kind="stable")
    if not (np.diff(combined[order]) > 0).all():  # repeated keys: sum them as groupby does
        return df.groupby(keys, as_index=False)[value].sum()
    return df.iloc[order][keys + [value]].reset_index(drop=True)


def normalise_plan(plan: pd.DataFrame, units: str = "units") -> pd.DataFrame:
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
    sku = plan["sku"].astype(str)
    df = pd.DataFrame({
        "sku": sku,
        "region": key_labels(plan["region"], NO_REGION) if "region" in plan.columns else NO_REGION,
        "family": key_labels(plan["family"], sku) if "family" in plan.columns else sku,
        "period": month_start(plan["period"]),
        "units": pd.to_numeric(plan[units], errors="coerce").fillna(0.0).astype(float).to_numpy(),
    })
    if (df["units"] < 0).any():
        raise ValueError(f"the plan has {int((df['units'] < 0).sum())} rows with negative units")
    return _sum_by_keys(df, ["sku", "region", "family", "period"], "units")


def normalise_products(products: pd.DataFrame) -> pd.DataFrame:
    """Products with one row per sku and every contract column present (missing ones as NaN)."""
    cols = ["sku", "family", "unit_price", "unit_cost", "resource", "hours_per_unit", "lead_time_weeks",
            "safety_stock_units"]
    df = products.copy()
    for c in cols:
        if c not in df.columns:
            df[c] = np.nan
    df = df[cols].copy()
    df["sku"] = df["sku"].astype(str)
    for c in ("unit_price", "unit_cost", "hours_per_unit", "lead_time_weeks", "safety_stock_units"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    df["resource"] = df["resource"].astype(object).where(df["resource"].notna() & (df["resource"].astype(str)
                                                                                  .str.strip() != ""), None)
    return df.drop_duplicates("sku", keep="last").reset_index(drop=True)


def normalise_capacity(capacity: pd.DataFrame) -> pd.DataFrame:
    """Capacity per resource × month: available_hours, capacity_units (summed when finer than a month; NaN = not given)."""
    df = capacity.copy()
    for c in ("available_hours", "capacity_units"):
        if c not in df.columns:
            df[c] = np.nan
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    if df.empty:
        return pd.DataFrame({"resource": pd.Series(dtype=object), "period": pd.Series(dtype="datetime64[us]"),
                             "available_hours": pd.Series(dtype=float), "capacity_units": pd.Series(dtype=float)})
    df["period"] = period_start(df["period"]).to_numpy()
    df["resource"] = df["resource"].astype(str)
    return (df.groupby(["resource", "period"], as_index=False)[["available_hours", "capacity_units"]]
              .sum(min_count=1))


def production_receipts(supply: pd.DataFrame) -> pd.DataFrame:
    """Firm production receipts per sku × month (source 'Production', case-insensitive, or no source): sku, period, quantity."""
    if supply is None or supply.empty:
        return pd.DataFrame({"sku": pd.Series(dtype=str), "period": pd.Series(dtype="datetime64[us]"),
                             "quantity": pd.Series(dtype=float)})
    src = supply["source"] if "source" in supply.columns else pd.Series(None, index=supply.index, dtype=object)
    keep = src.isna() | src.astype(str).str.strip().str.lower().str.startswith("prod")
    return receipts_by_month(supply[keep])


def other_receipts(supply: pd.DataFrame) -> pd.DataFrame:
    """Receipts that are not production (purchase orders, transfers) per sku × month: sku, period, quantity."""
    if supply is None or supply.empty or "source" not in supply.columns:
        return receipts_by_month(None)
    src = supply["source"]
    keep = src.notna() & ~src.astype(str).str.strip().str.lower().str.startswith("prod")
    return receipts_by_month(supply[keep])


def receipts_by_month(receipts: pd.DataFrame) -> pd.DataFrame:
    """Receipts (sku, quantity and period or date) summed per sku × month: sku, period, quantity."""
    if receipts is None or len(receipts) == 0:
        return pd.DataFrame({"sku": pd.Series(dtype=str), "period": pd.Series(dtype="datetime64[us]"),
                             "quantity": pd.Series(dtype=float)})
    when = "period" if "period" in receipts.columns else "date"
    qty = "quantity" if "quantity" in receipts.columns else "units"
    df = pd.DataFrame({
        "sku": receipts["sku"].astype(str).to_numpy(),
        "period": period_start(receipts[when]).to_numpy(),
        "quantity": pd.to_numeric(receipts[qty], errors="coerce").fillna(0.0).astype(float).to_numpy(),
    })
    return df.groupby(["sku", "period"], as_index=False)["quantity"].sum()


# -- rough-cut capacity --------------------------------------------------------------------------
def required_load(plan: pd.DataFrame, products: pd.DataFrame) -> pd.DataFrame:
    """Load per sku × period: sku, family, resource, period, units, hours_per_unit, required_hours, issue.

    required_hours = units × hours_per_unit (summed over regions); NaN when hours_per_unit is missing.
    `issue` is None for a fully loadable row, else 'not in products', 'no resource' or 'no hours_per_unit'
    (such rows are kept: `utilisation` loads 'no hours_per_unit' rows in units where the resource has
    capacity_units, `unloaded` lists the rest).
    """
    p = normalise_plan(plan)
    prod = normalise_products(products)
    df = (p.groupby(["sku", "family", "period"], as_index=False)["units"].sum()
           .merge(prod[["sku", "resource", "hours_per_unit"]].assign(_known=True), on="sku", how="left"))
    df["required_hours"] = df["units"] * df["hours_per_unit"]
    issue = np.where(df["_known"].isna(), NOT_IN_PRODUCTS,
                     np.where(df["resource"].isna(), NO_RESOURCE,
                              np.where(df["hours_per_unit"].isna(), NO_HOURS, None)))
    df["issue"] = pd.Series(issue, index=df.index, dtype=object)
    cols = ["sku", "family", "resource", "period", "units", "hours_per_unit", "required_hours", "issue"]
    return df[cols].sort_values(["resource", "period", "sku"], na_position="last").reset_index(drop=True)


def resource_basis(load: pd.DataFrame, capacity: pd.DataFrame) -> pd.DataFrame:
    """How each resource is measured: resource, basis ('hours' | 'units' | 'none' when absent from capacity)."""
    cap = normalise_capacity(capacity)
    resources = sorted(set(load["resource"].dropna().astype(str).unique()) | set(cap["resource"].unique()))
    has_hours = cap["available_hours"].notna().groupby(cap["resource"]).any()
    has_units = cap["capacity_units"].notna().groupby(cap["resource"]).any()
    on = load[load["resource"].notna() & (load["units"] > 0)]
    missing_hours = on["hours_per_unit"].isna().groupby(on["resource"]).any()
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


def _measured_load(load: pd.DataFrame, basis: pd.DataFrame) -> pd.DataFrame:
    """Load rows with the resource basis and `load_qty` in that basis (NaN when not loadable)."""
    df = load.merge(basis, on="resource", how="left")
    df["load_qty"] = np.where(df["basis"] == "hours", df["required_hours"],
                              np.where(df["basis"] == "units", df["units"], np.nan))
    return df


def _top_text(family: np.ndarray, load: np.ndarray, n: int = 3) -> str:
    """`_top_families` of one cell from its per-family loads (families ascending), in numpy: same order of ties and sums."""
    idx = np.arange(len(load))
    order = idx[::-1][load[::-1].argsort(kind="quicksort")][::-1]  # Series.sort_values(ascending=False)
    v, f = load[order], family[order]
    keep = v > 0
    v, f = v[keep], f[keep]
    total = v.sum()
    if total <= 0:
        return ""
    parts = [f"{fam} ({x / total:.0%})" for fam, x in zip(f[:n], v[:n])]
    if len(v) > n:
        parts.append(f"+{len(v) - n} more")
    return ", ".join(parts)


def _top_families_by_cell(ml: pd.DataFrame, n: int = 3) -> pd.Series:
    """`_top_families` of every resource × period of measured load (index resource, period), one groupby for all cells."""
    g = ml.groupby(["resource", "period", "family"], as_index=False)["load_qty"].sum()
    cell = g.groupby(["resource", "period"], sort=False).ngroup().to_numpy()
    starts = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])
    ends = np.r_[starts[1:], len(g)]
    family, load = g["family"].to_numpy(object), g["load_qty"].to_numpy(float)
    labels = [_top_text(family[a:b], load[a:b], n) for a, b in zip(starts, ends)]
    first = g.iloc[starts]
    return pd.Series(labels, index=pd.MultiIndex.from_arrays([first["resource"], first["period"]]), dtype=object)


def utilisation(load: pd.DataFrame, capacity: pd.DataFrame, top_families: bool = True) -> pd.DataFrame:
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
    cap = cap.merge(basis, on="resource", how="left")
    cap = cap[cap["basis"].isin(["hours", "units"])].copy()
    cap["available_hours"] = np.where(cap["basis"] == "hours", cap["available_hours"], cap["capacity_units"])
    if len(load):
        lo, hi = load["period"].min(), load["period"].max()
        cap = cap[(cap["period"] >= lo) & (cap["period"] <= hi)]
    out = req.merge(cap[["resource", "period", "available_hours"]], on=["resource", "period"], how="outer")
    out = out.merge(basis, on="resource", how="left")
    out["required_hours"] = out["required_hours"].fillna(0.0)
    tops = _top_families_by_cell(ml) if len(ml) and top_families else pd.Series(dtype=object)
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


def family_load(load: pd.DataFrame, capacity: pd.DataFrame) -> pd.DataFrame:
    """Load per resource × period × family in the resource's basis: resource, period, family, basis, required_hours."""
    ml = _measured_load(load, resource_basis(load, capacity))
    ml = ml[ml["basis"].isin(["hours", "units"]) & ml["load_qty"].notna()]
    out = ml.groupby(["resource", "period", "family", "basis"], as_index=False)["load_qty"].sum()
    return out.rename(columns={"load_qty": "required_hours"})


def unloaded(load: pd.DataFrame, capacity: pd.DataFrame) -> pd.DataFrame:
    """Skus whose plan is not counted against any capacity: sku, family, resource, units, reason."""
    ml = _measured_load(load, resource_basis(load, capacity))
    reason = np.where(ml["issue"].isin([NOT_IN_PRODUCTS, NO_RESOURCE]), ml["issue"],
                      np.where(ml["basis"].isna() | (ml["basis"] == "none"), NO_CAPACITY,
                               np.where(ml["load_qty"].isna(), NO_HOURS, None)))
    ml["reason"] = pd.Series(reason, index=ml.index, dtype=object)
    out = ml[ml["reason"].notna()]
    out = out.groupby(["sku", "family", "reason"], as_index=False, dropna=False).agg(
        resource=("resource", "first"), units=("units", "sum"))
    return out[["sku", "family", "resource", "units", "reason"]].sort_values(
        ["units", "sku"], ascending=[False, True]).reset_index(drop=True)


# -- constrained plan ----------------------------------------------------------------------------
def _dense(plan: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, pd.DatetimeIndex]:
    """A normalised plan as (keys, units, months): keys = its sku × region × family rows in order, units = (keys, months).

    Months span the plan horizon; a key's missing months hold 0 units.
    """
    months = pd.date_range(plan["period"].min(), plan["period"].max(), freq="MS")
    key_id = plan.groupby(["sku", "region", "family"], sort=True).ngroup().to_numpy()
    first = np.r_[True, key_id[1:] != key_id[:-1]]
    keys = plan.loc[first, ["sku", "region", "family"]].reset_index(drop=True)
    units = np.zeros((len(keys), len(months)))
    units[key_id, months.get_indexer(pd.DatetimeIndex(plan["period"]))] = plan["units"].to_numpy(float)
    return keys, units, months


def _month_matrix(sku: pd.Series, period: pd.Series, values: np.ndarray, skus: np.ndarray,
                  months: pd.DatetimeIndex) -> np.ndarray:
    """Values summed into a skus × months matrix; skus not in `skus` are left out."""
    out = np.zeros((len(skus), len(months)))
    i = pd.Index(skus).get_indexer(pd.Index(sku))
    t = months.get_indexer(pd.DatetimeIndex(period))
    ok = (i >= 0) & (t >= 0)
    np.add.at(out, (i[ok], t[ok]), values[ok])
    return out


def constrained_plan(plan: pd.DataFrame, products: pd.DataFrame, capacity: pd.DataFrame,
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
    p = normalise_plan(plan)
    if p.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
    keys, d, months = _dense(p)
    T = len(months)
    prod = normalise_products(products)
    load = required_load(p, prod)
    cap = normalise_capacity(capacity)
    basis = resource_basis(load, cap)
    rows = (keys.merge(prod[["sku", "resource", "hours_per_unit"]].assign(_known=True), on="sku", how="left")
            .merge(basis, on="resource", how="left"))
    n_rows = len(rows)
    factor = np.where(rows["basis"] == "hours", rows["hours_per_unit"],
                      np.where(rows["basis"] == "units", 1.0, np.nan)).astype(float)
    check = np.where(rows["_known"].isna(), NOT_IN_PRODUCTS,
                     np.where(rows["resource"].isna(), NO_RESOURCE,
                              np.where(rows["basis"].isna() | (rows["basis"] == "none"), NO_CAPACITY,
                                       np.where(np.isnan(factor), NO_HOURS, CHECKED)))).astype(object)

    # firm receipts: serve this month's demand of the sku, pro rata over its regions
    rec = receipts_by_month(receipts) if receipts is not None else receipts_by_month(None)
    rec = rec[(rec["period"] >= months[0]) & (rec["period"] <= months[-1])]
    sku_codes, sku_of_row = np.unique(rows["sku"].to_numpy(str), return_inverse=True)
    r_sku = _month_matrix(rec["sku"], rec["period"], rec["quantity"].to_numpy(float), sku_codes, months)
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
    out = rows[["sku", "region", "family", "resource"]].take(np.repeat(np.arange(n_rows), T)).reset_index(drop=True)
    out["period"] = np.tile(months.to_numpy().astype(p["period"].dtype), n_rows)
    out["units"] = d.ravel()
    out["receipt_units"] = receipt_units.ravel()
    out["constrained_units"] = constrained.ravel()
    out["prebuilt_units"] = prebuilt.ravel()
    out["short_units"] = np.clip(d - constrained, 0.0, None).ravel() + 0.0
    out["made_units"] = made.ravel()
    out["capacity_check"] = check_month.ravel()
    return out[cols].reset_index(drop=True)


def shortfall(constrained: pd.DataFrame) -> pd.DataFrame:
    """Supply gap per family × period: family, period, units, constrained_units, short_units, short_pct."""
    g = constrained.groupby(["family", "period"], as_index=False)[["units", "constrained_units", "short_units"]].sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        g["short_pct"] = np.where(g["units"] > 0, g["short_units"] / g["units"], np.nan)
    return g.sort_values(["family", "period"]).reset_index(drop=True)


def production_plan(constrained: pd.DataFrame, receipts: pd.DataFrame | None = None) -> pd.DataFrame:
    """Receipts for the inventory projection: sku, period, quantity = new production made + firm receipts (in full)."""
    made = constrained.groupby(["sku", "period"], as_index=False)["made_units"].sum().rename(
        columns={"made_units": "quantity"})
    if receipts is not None and len(receipts):
        made = pd.concat([made, receipts_by_month(receipts)], ignore_index=True)
    return made.groupby(["sku", "period"], as_index=False)["quantity"].sum()



# -- the Supply review's tables ------------------------------------------------------------------
TIGHTEST_OVERLOADED = 12  # overloaded resource-months listed by `tightest`
TIGHTEST_FREE = 5  # tightest resource-months listed when none is overloaded


LOAD_AMBER = 0.85  # utilisation from which a resource-month is shown amber (tight)
LOAD_RED = 1.0  # above this a resource-month is overloaded (red)


def load_band(utilisation: float | None) -> str:
    """'green', 'amber' (from LOAD_AMBER) or 'red' (above LOAD_RED) for a utilisation; 'missing' when unknown."""
    if utilisation is None or pd.isna(utilisation) or not np.isfinite(utilisation):
        return "missing"
    if utilisation > LOAD_RED + TOL:
        return "red"
    return "amber" if utilisation >= LOAD_AMBER - TOL else "green"


def utilisation_matrix(util: pd.DataFrame) -> pd.DataFrame:
    """Resource × month utilisation (index resource, columns period; NaN where capacity is unknown or zero).

    `util`: a `utilisation` frame (resource, period, utilisation).
    """
    u = util.assign(utilisation=pd.to_numeric(util["utilisation"], errors="coerce").astype(float)
                    .replace([np.inf, -np.inf], np.nan))
    return u.pivot_table(index="resource", columns="period", values="utilisation", aggfunc="max",
                         dropna=False).sort_index(axis=1)


def peak_resource_month(util: pd.DataFrame) -> dict[str, Any] | None:
    """The resource-month of the highest finite utilisation: {resource, period, utilisation}, or None.

    `util`: a `utilisation` frame (resource, period, utilisation).
    """
    u = pd.to_numeric(util["utilisation"], errors="coerce").astype(float)
    ok = np.isfinite(u)
    if not ok.any():
        return None
    row = util.loc[u[ok].idxmax()]
    return {"resource": str(row["resource"]), "period": pd.Timestamp(row["period"]),
            "utilisation": float(row["utilisation"])}


def tightest(util: pd.DataFrame) -> pd.DataFrame:
    """The overloaded resource-months (at most 12), else the 5 tightest, highest utilisation first.

    `util`: a `utilisation` frame; returns its columns and rows, index reset.
    """
    n_over = int(util["overloaded"].astype(bool).sum())
    u = util.assign(_u=pd.to_numeric(util["utilisation"], errors="coerce").astype(float))
    rows = (u[u["overloaded"]] if n_over else u).sort_values("_u", ascending=False)
    return rows.head(TIGHTEST_OVERLOADED if n_over else TIGHTEST_FREE).drop(columns="_u").reset_index(drop=True)


def gap_matrix(shortfall: pd.DataFrame) -> pd.DataFrame:
    """Short units per family × month plus a Total column, only families and months with a shortage, largest first.

    `shortfall`: a `shortfall` frame (family, period, short_units); index family, columns period and 'Total';
    an empty frame when nothing is short.
    """
    s = shortfall[shortfall["short_units"] > 1e-6]
    if s.empty:
        return pd.DataFrame()
    m = s.pivot_table(index="family", columns="period", values="short_units", aggfunc="sum", fill_value=0.0)
    m["Total"] = m.sum(axis=1)
    return m.sort_values("Total", ascending=False)


def unloaded_caption(unloaded: pd.DataFrame) -> str | None:
    """'The capacity check can't see ...' naming the skus of an `unloaded` frame (sku, reason, units), or None."""
    if unloaded.empty:
        return None
    g = unloaded.groupby(["sku", "reason"], as_index=False)["units"].sum().sort_values("units", ascending=False)
    items = ", ".join(f"{r.sku} ({r.reason})" for r in g.head(8).itertuples())
    more = f" and {len(g) - 8} more" if len(g) > 8 else ""
    n = g["sku"].nunique()
    return (f"The capacity check can't see {n} sku{'s' if n != 1 else ''}: {items}{more} — "
            f"{fmt_units(g['units'].sum())} units over the horizon, planned as if capacity were unlimited. "
            "Give them a resource and hours_per_unit in the products table.")


def constrained_series(constrained: pd.DataFrame, family: str | None = None) -> pd.DataFrame:
    """Demand, supply and shortage per month of one family (None: all) of a `constrained_plan` frame.

    Columns: period, units, constrained_units, prebuilt_units, short_units.
    """
    c = constrained if family is None else constrained[constrained["family"] == family]
    return c.groupby("period", as_index=False)[["units", "constrained_units", "prebuilt_units", "short_units"]].sum()

# -- workspace -----------------------------------------------------------------------------------
@dataclass
class SupplyReview:
    """Everything the Supply review page shows, computed from one consensus plan."""

    load: pd.DataFrame
    utilisation: pd.DataFrame
    unloaded: pd.DataFrame
    constrained: pd.DataFrame
    shortfall: pd.DataFrame
    production: pd.DataFrame


def from_workspace(ws: Workspace, consensus: pd.DataFrame, prebuild_months: int = 2) -> SupplyReview:
    """Supply review of `consensus` (sku, region, family, period, units) against the workspace's tables."""
    from sop_core.demand.history import products as load_products

    prod = load_products(ws)
    capacity = ws.table("capacity")
    firm = production_receipts(ws.table("supply"))
    load = required_load(consensus, prod)
    constrained = constrained_plan(consensus, prod, capacity, prebuild_months, firm)
    return SupplyReview(
        load=load,
        utilisation=utilisation(load, capacity),
        unloaded=unloaded(load, capacity),
        constrained=constrained,
        shortfall=shortfall(constrained),
        production=production_plan(constrained, firm),
    )
