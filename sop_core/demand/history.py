"""Demand history and product master data as read from the workspace.

`demand_history` columns: series_id, sku, region, family, period (bucket label, datetime64),
quantity, revenue. A series is one sku × region; region is 'All' when the sales file has none.
Weekly buckets keep the sales dates' own weekday (`week_anchor`, periods.py): a file stamped on
week-ending Fridays gives Friday periods, and so do the forecast, overrides, consensus and exports
built on this history.

A history in money (`measure(ws)` is contract.MONEY: sales values only, see sop_core.intake.load)
has the amounts in both quantity and revenue: the demand measure is currency, and `products` prices
one unit of demand at 1.0 so that plans valued by price are the amounts themselves.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from sop_core import contract
from sop_core.periods import ISO_ANCHOR, WEEKLY_SHARE, check_anchor, check_bucket, sql_period
from sop_core.store.workspace import Workspace

NO_REGION = "All"
SERIES_SEP = " | "


def series_id(sku: pd.Series, region: pd.Series) -> pd.Series:
    """Series identifier 'sku | region'."""
    return sku.astype(str) + SERIES_SEP + region.astype(str)


def measure(ws: Workspace) -> str:
    """What the demand history measures: contract.UNITS, or contract.MONEY for a history of sales values."""
    return contract.MONEY if ws.get_setting(contract.BASIS_SETTING) == contract.MONEY else contract.UNITS


def is_money(ws: Workspace) -> bool:
    """True when the demand history (and so the forecast and the plan) is in money, not units."""
    return measure(ws) == contract.MONEY


def plan_in_measure(budget: pd.DataFrame | None, in_money: bool) -> pd.DataFrame | None:
    """The annual plan with `volume_plan` in the history's measure: its revenue_plan for a history in money."""
    if budget is None or not in_money:
        return budget
    return budget.assign(volume_plan=budget["revenue_plan"])


def products(ws: Workspace) -> pd.DataFrame:
    """The products table, or one derived from sales when none was loaded (flag column `derived`).

    Derived: family from the sales family column (else the sku), unit price = revenue / quantity
    over the last 12 months of history, unit cost unknown (NULL). For a history in money every
    unit price is 1.0 and a unit cost is the loaded unit_cost / unit_price (the cost of a currency
    unit of sales; NULL unless both are known).
    """
    df = _products(ws)
    return _per_currency_unit(df) if is_money(ws) else df


def _per_currency_unit(df: pd.DataFrame) -> pd.DataFrame:
    """Products priced per currency unit of sales: unit_price 1.0, unit_cost the cost ratio where known."""
    price = pd.to_numeric(df["unit_price"], errors="coerce")
    cost = pd.to_numeric(df["unit_cost"], errors="coerce")
    ratio = (cost / price).where((price > 0) & np.isfinite(cost))
    return df.assign(unit_price=1.0, unit_cost=ratio.astype(float))


def _products(ws: Workspace) -> pd.DataFrame:
    """The products table as loaded, or derived from sales (see `products`)."""
    if ws.has_table("products"):
        df = ws.table("products")
        df["derived"] = False
        return df
    if not ws.has_table("sales"):
        return ws.table("products").assign(derived=pd.Series(dtype=bool))
    df = ws.query(
        """
        WITH last AS (SELECT max("date") - INTERVAL 12 MONTH AS since FROM sales)
        SELECT sku,
               NULL::VARCHAR AS description,
               coalesce(arg_max(family, "date"), sku) AS family,
               NULL::VARCHAR AS category,
               sum(revenue) FILTER (WHERE "date" > (SELECT since FROM last))
                 / nullif(sum(quantity) FILTER (WHERE "date" > (SELECT since FROM last) AND revenue IS NOT NULL), 0)
                 AS unit_price,
               NULL::DOUBLE AS unit_cost,
               NULL::VARCHAR AS resource,
               NULL::DOUBLE AS hours_per_unit,
               NULL::DOUBLE AS lead_time_weeks,
               NULL::DOUBLE AS safety_stock_units
        FROM sales GROUP BY sku ORDER BY sku
        """
    )
    df["derived"] = True
    return df


def week_anchor(ws: Workspace) -> int:
    """The weekday weekly buckets are labelled on: that of more than half the distinct sales dates, else Monday."""
    if not ws.has_table("sales"):
        return ISO_ANCHOR
    df = ws.query(
        """WITH d AS (SELECT DISTINCT CAST("date" AS DATE) AS d FROM sales WHERE "date" IS NOT NULL)
           SELECT isodow(d) - 1 AS weekday, count(*) AS n, (SELECT count(*) FROM d) AS total
           FROM d GROUP BY 1 ORDER BY n DESC, weekday LIMIT 1"""
    )
    if df.empty or int(df["n"].iloc[0]) <= WEEKLY_SHARE * int(df["total"].iloc[0]):
        return ISO_ANCHOR
    return check_anchor(int(df["weekday"].iloc[0]))


def demand_history(ws: Workspace, bucket: str = "month", anchor: int | None = None) -> pd.DataFrame:
    """Sales summed per sku × region × bucket, with the family from products (or sales, or the sku).

    Weeks are labelled on `anchor` (default: the data's own weekday, `week_anchor`).
    """
    check_bucket(bucket)
    cols = ["series_id", "sku", "region", "family", "period", "quantity", "revenue"]
    if not ws.has_table("sales"):
        return pd.DataFrame(columns=cols)
    family_sql = (
        'coalesce(p.family, s.family, s.sku)' if ws.has_table("products") else "coalesce(s.family, s.sku)"
    )
    join = 'LEFT JOIN products p ON p.sku = s.sku' if ws.has_table("products") else ""
    if bucket == "week" and anchor is None:
        anchor = week_anchor(ws)
    period_sql = sql_period("date", bucket, ISO_ANCHOR if anchor is None else anchor)
    df = ws.query(
        f"""
        SELECT s.sku, coalesce(s.region, ?) AS region, arg_max({family_sql}, s."date") AS family,
               {period_sql.replace('"date"', 's."date"')} AS period,
               sum(s.quantity) AS quantity, sum(s.revenue) AS revenue
        FROM sales s {join}
        GROUP BY ALL
        ORDER BY s.sku, region, period
        """,
        [NO_REGION],
    )
    # one family per sku (the latest seen) so a family filter never splits a series
    fam = df.sort_values("period").groupby("sku")["family"].last()
    df["family"] = df["sku"].map(fam)
    df["period"] = pd.to_datetime(df["period"])
    df.insert(0, "series_id", series_id(df["sku"], df["region"]))
    return df[cols].reset_index(drop=True)


def last_actual_period(history: pd.DataFrame) -> pd.Timestamp | None:
    """The last bucket with actuals, or None for an empty history."""
    return None if history.empty else pd.Timestamp(history["period"].max())
