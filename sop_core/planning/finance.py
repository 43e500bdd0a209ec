"""Financial view: the plan valued in money, the outlook for the year, the gap to the annual plan and its bridge.

Inputs are long frames: plan units (sku, region, family, period, units — the consensus, or the
constrained plan with constrained_units as units), `products` (sku, family, unit_price, unit_cost),
the actuals history (sku, region, family, period, quantity, revenue) and the annual plan, called
`budget` here (period, family and/or sku, region, volume_plan, revenue_plan, margin_plan).

Rules (also printed by the Financials page):

* Revenue = Σ units × unit_price; COGS = Σ units × unit_cost, per sku, summed to family × month.
  Units of a sku without a price (cost) are counted in unpriced_units (uncosted_units) and left out
  of revenue (COGS); gross margin is NaN where any units are unpriced or uncosted, never a margin
  computed on half the data. Gross margin % = (revenue − COGS) / revenue, NaN when revenue is 0.
* Outlook for a calendar year = actuals for months up to `last_actual_period` (actual revenue;
  units × unit_price where a revenue is missing; COGS at unit_cost) + the plan for the rest.
* Bridge from the annual plan to the outlook, at family level: with volume_plan, plan price per
  family p_f = revenue_plan_f / volume_plan_f, plan average price P = Σ revenue_plan / Σ volume_plan,
  plan share s_f = volume_plan_f / Σ volume_plan, U_f the outlook units and A_f the outlook revenue
  (unconstrained):
    volume = (Σ U_f − Σ volume_plan) × P
    mix    = Σ_f (U_f − s_f × Σ U) × p_f
    price  = Σ_f U_f × (A_f / U_f − p_f) = Σ A_f − Σ U_f p_f
    supply constraint = constrained outlook revenue − unconstrained outlook revenue
  which sum exactly to outlook − annual plan. A family in the outlook but not in the budget takes its
  own outlook price as plan price (no price effect; its revenue shows as volume and mix).
  Without volume_plan (or when a family has revenue_plan but no volume_plan) there is no plan price:
  volume and mix collapse into one 'volume & mix' step = outlook revenue at list price (unit_price)
  − annual plan, and price = outlook revenue − outlook revenue at list price.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sop_core.periods import period_start
from sop_core.planning.supply import key_labels, month_start, normalise_plan, normalise_products

if TYPE_CHECKING:  # pragma: no cover
    from sop_core.store.workspace import Workspace

TOTAL = "Total"


def margin_pct(revenue: Any, cogs: Any) -> Any:
    """Gross margin % = (revenue − cogs) / revenue; NaN where revenue is 0 (scalars, arrays or Series)."""
    if np.ndim(revenue) == 0 and np.ndim(cogs) == 0:
        r, c = float(revenue), float(cogs)
        return np.nan if r == 0 or np.isnan(r) else (r - c) / r
    r = revenue if isinstance(revenue, pd.Series) else np.asarray(revenue, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (r - cogs) / r
    if isinstance(out, pd.Series):
        return out.where(r != 0)
    return np.where(np.asarray(r) == 0, np.nan, out)


def _value_lines(df: pd.DataFrame, prod: pd.DataFrame, units: str) -> pd.DataFrame:
    """Per-line revenue/cogs at list price and cost (0 for zero units even without a price)."""
    df = df.merge(prod[["sku", "unit_price", "unit_cost"]], on="sku", how="left")
    q = df[units].astype(float)
    df["list_revenue"] = np.where(q == 0, 0.0, q * df["unit_price"])
    df["cogs"] = np.where(q == 0, 0.0, q * df["unit_cost"])
    df["unpriced_units"] = np.where(df["unit_price"].isna(), q, 0.0)
    df["uncosted_units"] = np.where(df["unit_cost"].isna(), q, 0.0)
    return df


def _finish(g: pd.DataFrame, margin_col: str) -> pd.DataFrame:
    """Add gross margin (NaN when incomplete) and gross margin %."""
    complete = (g["unpriced_units"] <= 0) & (g["uncosted_units"] <= 0)
    g[margin_col] = (g["revenue"] - g["cogs"]).where(complete)
    g["gross_margin_pct"] = margin_pct(g["revenue"], g["revenue"] - g[margin_col])
    return g


def value_plan(plan_units: pd.DataFrame, products: pd.DataFrame, units: str = "units") -> pd.DataFrame:
    """Plan in money per family × period: family, period, units, revenue, cogs, gross_margin, gross_margin_pct, unpriced_units, uncosted_units.

    revenue = Σ units × unit_price exactly; `units` names the quantity column (e.g. 'constrained_units').
    """
    p = normalise_plan(plan_units, units)
    lines = _value_lines(p, normalise_products(products), "units")
    lines["revenue"] = lines["list_revenue"]
    g = lines.groupby(["family", "period"], as_index=False)[
        ["units", "revenue", "cogs", "unpriced_units", "uncosted_units"]].sum(min_count=1)
    g[["units", "unpriced_units", "uncosted_units"]] = g[["units", "unpriced_units", "uncosted_units"]].fillna(0.0)
    g = _finish(g, "gross_margin")
    return g[["family", "period", "units", "revenue", "cogs", "gross_margin", "gross_margin_pct", "unpriced_units",
              "uncosted_units"]]


def _actual_lines(actuals: pd.DataFrame, months: pd.DatetimeIndex, cut: pd.Timestamp) -> pd.DataFrame:
    """Actuals of `months` up to `cut`: sku, family, period, units, revenue (rows filtered before they are built)."""
    period = month_start(actuals["period"] if "period" in actuals.columns else actuals["date"])
    keep = ((period >= np.datetime64(months[0])) & (period <= np.datetime64(months[-1]))
            & (period <= np.datetime64(cut)))
    act = actuals[keep]
    sku = act["sku"].astype(str)
    return pd.DataFrame({
        "sku": sku.reset_index(drop=True),
        "family": (key_labels(act["family"], sku) if "family" in act.columns else sku).reset_index(drop=True),
        "period": period[keep],
        "units": pd.to_numeric(act["quantity"], errors="coerce").fillna(0.0).to_numpy(float),
        "revenue": pd.to_numeric(act["revenue"], errors="coerce").to_numpy(float)
        if "revenue" in act.columns else np.nan,
    })


def outlook(actuals: pd.DataFrame, plan_units: pd.DataFrame, year: int, last_actual_period: pd.Timestamp | None,
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
        a = _actual_lines(actuals, months, cut)
        a = _value_lines(a, prod, "units")
        a["revenue"] = a["revenue"].where(a["revenue"].notna(), a["list_revenue"])
        a["list_revenue"] = np.where(a["unit_price"].isna(), a["revenue"], a["list_revenue"])
        a["unpriced_units"] = np.where(a["revenue"].isna(), a["units"], 0.0)
        parts.append(a)
    if plan_units is not None and len(plan_units):
        p = normalise_plan(plan_units, units)
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


def _budget_rows(budget: pd.DataFrame, products: pd.DataFrame | None) -> pd.DataFrame:
    """Annual plan rows with every column present, family as text (sku rows mapped to their family) and numbers as floats."""
    b = budget.copy()
    for c in ("family", "sku", "volume_plan", "revenue_plan", "margin_plan"):
        if c not in b.columns:
            b[c] = np.nan
    fam = b["family"].astype(object)
    if fam.isna().any():
        mapping = (normalise_products(products).set_index("sku")["family"] if products is not None and len(products)
                   else pd.Series(dtype=object))
        sku = b["sku"].astype(object)
        fam = fam.where(fam.notna(), sku.map(mapping)).where(lambda f: f.notna(), sku)
    b["family"] = fam.astype(str)
    for c in ("volume_plan", "revenue_plan", "margin_plan"):
        b[c] = pd.to_numeric(b[c], errors="coerce").astype(float)
    return b


def budget_by_family(budget: pd.DataFrame, year: int, products: pd.DataFrame | None = None) -> pd.DataFrame:
    """Annual plan of `year` per family: family, volume_plan, revenue_plan, margin_plan (NaN when not given).

    Rows given by sku only are mapped to the sku's family from `products` (else the sku itself).
    """
    cols = ["family", "volume_plan", "revenue_plan", "margin_plan"]
    if budget is None or budget.empty:
        return pd.DataFrame({c: pd.Series(dtype=float if c != "family" else str) for c in cols})
    b = _budget_rows(budget[pd.to_datetime(budget["period"]).dt.year.to_numpy() == int(year)], products)
    g = b.groupby("family", as_index=False)[["volume_plan", "revenue_plan", "margin_plan"]].sum(min_count=1)
    return g[cols]


def vs_budget(outlook_frame: pd.DataFrame, budget: pd.DataFrame, year: int,
              products: pd.DataFrame | None = None) -> pd.DataFrame:
    """Outlook vs annual plan per family plus a total row: family, outlook_revenue, plan_revenue, gap, gap_pct, is_total.

    gap = outlook − plan; gap_pct = gap / plan (NaN when the plan is 0). The total row has family 'Total'.
    """
    o = outlook_frame[pd.to_datetime(outlook_frame["period"]).dt.year == int(year)]
    o = o.groupby("family")["revenue"].sum().rename("outlook_revenue")
    b = budget_by_family(budget, year, products).set_index("family")["revenue_plan"].rename("plan_revenue")
    out = pd.concat([o, b], axis=1).fillna(0.0).rename_axis("family").reset_index()
    out = out.sort_values("family").reset_index(drop=True)
    total = pd.DataFrame({"family": [TOTAL], "outlook_revenue": [out["outlook_revenue"].sum()],
                          "plan_revenue": [out["plan_revenue"].sum()]})
    out = pd.concat([out, total], ignore_index=True)
    out["gap"] = out["outlook_revenue"] - out["plan_revenue"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["gap_pct"] = np.where(out["plan_revenue"] != 0, out["gap"] / out["plan_revenue"], np.nan)
    out["is_total"] = out.index == len(out) - 1
    return out[["family", "outlook_revenue", "plan_revenue", "gap", "gap_pct", "is_total"]]


def bridge(budget: pd.DataFrame, outlook_unconstrained: pd.DataFrame, outlook_constrained: pd.DataFrame | None,
           products: pd.DataFrame | None, year: int) -> pd.DataFrame:
    """Revenue bridge annual plan → outlook for `year`: step, kind ('total' | 'effect'), value, cumulative, note.

    Steps in order: 'Annual plan', 'Volume', 'Price', 'Mix', 'Supply constraint', 'Outlook' (or
    'Volume & mix' and 'Price' when the budget has no volume_plan). The effects sum exactly to
    outlook − annual plan (formulas in the module docstring). The outlook frames come from `outlook`
    (family, period, units, revenue, list_revenue); `outlook_constrained` None means no constraint.
    """
    b = budget_by_family(budget, year, products).set_index("family")

    def year_sum(o: pd.DataFrame) -> pd.DataFrame:
        o = o[pd.to_datetime(o["period"]).dt.year == int(year)]
        cols = ["units", "revenue"] + (["list_revenue"] if "list_revenue" in o.columns else [])
        o = o.assign(**{c: pd.to_numeric(o[c], errors="coerce").astype(float) for c in cols})
        return o.groupby("family")[cols].sum()

    ou = year_sum(outlook_unconstrained)
    fams = sorted(set(ou.index) | set(b.index))
    V_f = b["volume_plan"].reindex(fams).astype(float)
    R_f = b["revenue_plan"].reindex(fams).fillna(0.0).astype(float)
    U_f = ou["units"].reindex(fams).fillna(0.0).astype(float)
    A_f = ou["revenue"].reindex(fams).fillna(0.0).astype(float)
    R, A = float(R_f.sum()), float(A_f.sum())
    notes: list[str] = []
    no_volume = R_f.index[(R_f != 0) & ~(V_f.fillna(0.0) > 0)].tolist()
    collapse = bool(no_volume) or not (V_f.fillna(0.0).sum() > 0)

    plan_note = f"annual plan revenue {year}" if len(b) else f"no annual plan loaded for {year}"
    steps: list[tuple[str, str, float, str]] = [("Annual plan", "total", R, plan_note)]
    if collapse:
        if "list_revenue" in ou.columns:
            L = float(ou["list_revenue"].reindex(fams).fillna(0.0).sum())
            price_note = "outlook revenue − outlook units at list price (unit_price)"
        else:
            L = A
            price_note = "no list prices in the outlook: price effect not separated"
        why = ("the annual plan has no volume_plan" if V_f.isna().all() else
               f"no volume_plan for {', '.join(map(str, no_volume[:5]))}" if no_volume else "volume_plan totals 0")
        steps.append(("Volume & mix", "effect", L - R,
                      f"volume and mix shown together: {why}, so there is no plan price; "
                      "= outlook units at list price − annual plan"))
        steps.append(("Price", "effect", A - L, price_note))
    else:
        V = float(V_f.fillna(0.0).sum())
        P = R / V
        with np.errstate(divide="ignore", invalid="ignore"):
            p_f = pd.Series(np.where(V_f.fillna(0.0) > 0, R_f / V_f,
                                     np.where(U_f > 0, A_f / U_f, 0.0)), index=fams)
        s_f = V_f.fillna(0.0) / V
        U = float(U_f.sum())
        volume = (U - V) * P
        mix = float(((U_f - s_f * U) * p_f).sum())
        price = float(A - (U_f * p_f).sum())
        unbudgeted = [f for f in fams if not (V_f.fillna(0.0)[f] > 0) and U_f[f] > 0]
        if unbudgeted:
            notes.append(f"not in the annual plan (valued at their outlook price): {', '.join(map(str, unbudgeted[:5]))}")
        steps.append(("Volume", "effect", volume,
                      f"(outlook units {U:,.0f} − plan units {V:,.0f}) × plan average price {P:,.2f}"))
        steps.append(("Price", "effect", price, "Σ outlook units × (outlook price − plan price) per family"))
        steps.append(("Mix", "effect", mix, "Σ (outlook units − plan share × outlook total units) × plan price"
                      + ("; " + notes[0] if notes else "")))
    if outlook_constrained is not None:
        C = float(year_sum(outlook_constrained)["revenue"].sum())
        steps.append(("Supply constraint", "effect", C - A, "constrained − unconstrained outlook revenue"))
    else:
        C = A
        steps.append(("Supply constraint", "effect", 0.0, "no constrained plan given"))
    steps.append(("Outlook", "total", C, "actuals to date + plan for the rest of the year"))
    out = pd.DataFrame(steps, columns=["step", "kind", "value", "note"])
    out["cumulative"] = np.where(out["kind"] == "total", out["value"], R + out["value"].where(
        out["kind"] == "effect", 0.0).cumsum())
    return out[["step", "kind", "value", "cumulative", "note"]]



# -- the Financials page's tables ----------------------------------------------------------------
BUDGET_MONTHLY_COLUMNS: tuple[str, ...] = ("family", "period", "volume_plan", "revenue_plan", "margin_plan")


def budget_monthly(budget: pd.DataFrame, year: int, products: pd.DataFrame | None = None) -> pd.DataFrame:
    """The annual plan of `year` per family × month (BUDGET_MONTHLY_COLUMNS; sku rows mapped as `budget_by_family`).

    Columns: family, period (month start), volume_plan, revenue_plan, margin_plan (NaN when not given).
    """
    cols = list(BUDGET_MONTHLY_COLUMNS)
    empty = pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
    if budget is None or budget.empty:
        return empty
    month = pd.to_datetime(budget["period"]).dt.to_period("M").dt.to_timestamp()
    keep = (month.dt.year == int(year)).to_numpy()
    if not keep.any():
        return empty
    b = _budget_rows(budget[keep], products).assign(period=month[keep].to_numpy())
    g = b.groupby(["period", "family"], as_index=False)[["volume_plan", "revenue_plan", "margin_plan"]].sum(
        min_count=1)
    return g[cols].reset_index(drop=True)


def monthly_outlook(outlook_frame: pd.DataFrame, budget_month: pd.DataFrame, family: str | None = None) -> pd.DataFrame:
    """Outlook vs annual plan per month for one family (None: all): period, source, revenue, plan_revenue.

    `outlook_frame`: an `outlook` frame (family, period, source, revenue); `budget_month`: a
    `budget_monthly` frame. plan_revenue is NaN for a month the annual plan does not give.
    """
    o, b = outlook_frame, budget_month
    if family is not None:
        o = o[o["family"] == family]
        b = b[b["family"] == family]
    g = o.groupby(["period", "source"], as_index=False)["revenue"].sum()
    plan_m = b.groupby("period")["revenue_plan"].sum(min_count=1) if len(b) else pd.Series(dtype=float)
    g["plan_revenue"] = g["period"].map(plan_m).astype(float)
    return g.sort_values("period").reset_index(drop=True)


def family_finance(vs_budget_frame: pd.DataFrame, outlook_frame: pd.DataFrame, year: int) -> pd.DataFrame:
    """Outlook vs annual plan with gross margin % per family plus the Total row of `vs_budget_frame`.

    `vs_budget_frame`: a `vs_budget` frame; `outlook_frame`: the `outlook` it was made from. Columns:
    family, outlook_revenue, plan_revenue, gap, gap_pct, margin_pct (of the `year`'s outlook; NaN when
    some units are unpriced or uncosted), is_total.
    """
    vb = vs_budget_frame.copy()
    oc = outlook_frame[pd.to_datetime(outlook_frame["period"]).dt.year == year]
    g = oc.groupby("family")[["revenue", "cogs", "unpriced_units", "uncosted_units"]].sum()
    total = g.sum().rename(TOTAL)
    g = pd.concat([g, total.to_frame().T])
    complete = (g["unpriced_units"] <= 0) & (g["uncosted_units"] <= 0)
    g["margin_pct"] = pd.Series(margin_pct(g["revenue"], g["cogs"]), index=g.index).where(complete)
    vb["margin_pct"] = vb["family"].map(g["margin_pct"]).astype(float)
    return vb[["family", "outlook_revenue", "plan_revenue", "gap", "gap_pct", "margin_pct", "is_total"]]


def plan_margin_pct(budget_month: pd.DataFrame) -> float:
    """Gross margin % of a `budget_monthly` frame: Σ margin_plan / Σ revenue_plan of rows with margin_plan, else NaN."""
    b = budget_month
    if b.empty or not b["margin_plan"].notna().any():
        return float("nan")
    rev = float(b.loc[b["margin_plan"].notna(), "revenue_plan"].sum())
    return float(b["margin_plan"].sum()) / rev if rev else float("nan")

# -- workspace -----------------------------------------------------------------------------------
@dataclass
class FinanceView:
    """Everything the Financials page shows, computed from one consensus plan."""

    year: int
    valued_plan: pd.DataFrame
    outlook: pd.DataFrame
    outlook_constrained: pd.DataFrame | None
    vs_budget: pd.DataFrame
    bridge: pd.DataFrame


def from_workspace(ws: Workspace, consensus: pd.DataFrame, year: int | None = None,
                   constrained: pd.DataFrame | None = None) -> FinanceView:
    """Financial view of `consensus` (and of `constrained` from `supply.constrained_plan`, when given)."""
    from sop_core.demand.history import demand_history, last_actual_period
    from sop_core.demand.history import products as load_products

    prod = load_products(ws)
    hist = demand_history(ws)
    last = last_actual_period(hist)
    if year is None:
        year = (last + pd.DateOffset(months=1)).year if last is not None else pd.Timestamp(
            consensus["period"].min()).year
    budget = ws.table("plan")
    o = outlook(hist, consensus, year, last, prod)
    oc = outlook(hist, constrained, year, last, prod, units="constrained_units") if constrained is not None else None
    return FinanceView(
        year=int(year),
        valued_plan=value_plan(consensus, prod),
        outlook=o,
        outlook_constrained=oc,
        vs_budget=vs_budget(oc if oc is not None else o, budget, year, prod),
        bridge=bridge(budget, o, oc, prod, year),
    )
