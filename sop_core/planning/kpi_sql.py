"""The scorecard's inputs aggregated where the data is: DuckDB queries over the workspace's tables that return small frames.

Each query gives exactly what its pandas counterpart gives from the whole table (tests keep them equal):

* `service_by_month` = `service.service_by_month(service.order_lines(orders, as_of))`, one row per requested
  month of the order lines (rules in `sop_core.planning.service`; `default_as_of` = `service.default_as_of`).
* `monthly_actuals` = `actuals.monthly_actuals(history.demand_history(ws), products)`: units, revenue and COGS
  per month, valued per sku × region × month as finance does.
* `inventory_at_cost` = `actuals.inventory_at_cost(ws.table("inventory"), products)` and `latest_on_hand` =
  `inventory.latest_on_hand(ws.table("inventory"))`.
* `recent_history` = the last months of `history.demand_history(ws)` (as `actuals.normalise_history` gives
  them), the family taken from `products`: all the scorecard reads of the history besides `monthly_actuals`.

Each result is kept in a small process-wide memo keyed by the content of the tables it reads (`Workspace.fingerprint`)
and its arguments, so every session, and a scorecard computed again after an override, aggregates 10 M order lines
once per data version (`memo_clear` empties it). Values go in as parameters, identifiers are quoted; `products` (one row a sku, e.g. `history.products(ws)`,
derived from sales when none was loaded) goes in as three parameter lists, so prices and costs are exactly
the frame the rest of the scorecard uses. A missing table gives the empty frame of the pandas function.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from sop_core import clock
from sop_core.planning.actuals import products_frame
from sop_core.planning.kpi_catalogue import WINDOW_MONTHS
from sop_core.planning.service import SERVICE_COLUMNS, finish_service

if TYPE_CHECKING:  # pragma: no cover
    from sop_core.store.workspace import Workspace

NO_REGION = "All"  # history.NO_REGION: a sales row without a region is in the series 'sku | All'

ACTUALS_COLUMNS: tuple[str, ...] = ("period", "units", "revenue", "cogs", "unpriced_units", "uncosted_units")
INVENTORY_COLUMNS: tuple[str, ...] = ("period", "on_hand", "value_at_cost", "uncosted_units", "as_of")

# the products frame as a relation: sku, unit_price, unit_cost (parameters: three lists of one length)
_PRODUCTS = """prod AS (SELECT unnest(?::VARCHAR[]) AS sku, unnest(?::DOUBLE[]) AS unit_price,
                               unnest(?::DOUBLE[]) AS unit_cost)"""


MEMO_SIZE = 32  # results kept (each a few hundred rows at most)
T = TypeVar("T")
_memo: OrderedDict[tuple, Any] = OrderedDict()
_memo_lock = threading.Lock()
_KEY_LOCKS = tuple(threading.RLock() for _ in range(16))  # striped by key: one computation of a key at a time


def memo_clear() -> None:
    """Forget every memoised aggregate."""
    with _memo_lock:
        _memo.clear()


def _memoised(ws: Workspace, tables: Sequence[str], args: tuple, compute: Callable[[], T]) -> T:
    """`compute()` once per (workspace file, content of `tables`, args); a frame is copied each call, so callers
    may change it."""
    key = (str(ws.path), ws.fingerprint(tables), *args)

    def kept() -> Any:
        with _memo_lock:
            found = _memo.get(key)
            if found is not None:
                _memo.move_to_end(key)
            return found

    got = kept()
    if got is None:
        # a session and the background baseline asking at once: the second waits for the first's result
        with _KEY_LOCKS[hash(key) % len(_KEY_LOCKS)]:
            got = kept()
            if got is None:
                got = compute()
                with _memo_lock:
                    _memo[key] = got
                    while len(_memo) > MEMO_SIZE:
                        _memo.popitem(last=False)
    return got.copy() if isinstance(got, pd.DataFrame) else got


def _products_key(products: pd.DataFrame | None) -> str:
    """Content hash of the products frame as the queries see it (sku, family, unit_price, unit_cost)."""
    p = products_frame(products)[["sku", "family", "unit_price", "unit_cost"]]
    return hashlib.sha256(pd.util.hash_pandas_object(p.astype(str), index=False).to_numpy().tobytes()).hexdigest()


def _product_params(products: pd.DataFrame | None) -> list[list[Any]]:
    """sku, unit_price, unit_cost of `actuals.products_frame(products)` as parameter lists (NaN → NULL)."""
    p = products_frame(products)

    def values(col: str) -> list[float | None]:
        return [None if not np.isfinite(v) else float(v) for v in p[col].to_numpy(float)]

    return [p["sku"].astype(str).tolist(), values("unit_price"), values("unit_cost")]


def _months(df: pd.DataFrame, *cols: str) -> pd.DataFrame:
    """Date columns as datetime64[us] month starts/dates, as the pandas functions give them."""
    for c in cols:
        df[c] = pd.to_datetime(df[c]).astype("datetime64[us]")
    return df


def default_as_of(ws: Workspace) -> pd.Timestamp:
    """The latest delivered_date of the order lines (the clock's today when nothing was delivered or no orders)."""
    last = _memoised(ws, ["orders"], ("as_of",), lambda: ws.scalar(
        'SELECT max(CAST("delivered_date" AS DATE)) FROM "orders"')) if ws.has_table("orders") else None
    return pd.Timestamp(last).normalize() if last is not None and pd.notna(last) else clock.today_ts()


def service_by_month(ws: Workspace, as_of: pd.Timestamp | None = None) -> tuple[pd.Timestamp, pd.DataFrame]:
    """(as_of, the order lines judged as of it per requested month: `service.SERVICE_COLUMNS`), in one GROUP BY.

    Same rules as `service.order_lines`: open lines requested before as_of are past due (not OTIF, 0
    delivered), lines requested after as_of or open and not yet due are left out (not_due_lines), a
    delivered line with a blank delivered_qty is taken as in full (qty_assumed_lines), delivered units
    are min(delivered, ordered).
    """
    as_of = default_as_of(ws) if as_of is None else pd.Timestamp(as_of).normalize()
    if not ws.has_table("orders"):
        return as_of, pd.DataFrame({c: pd.Series(dtype="datetime64[us]" if c == "period" else float)
                                    for c in SERVICE_COLUMNS})
    return as_of, _memoised(ws, ["orders"], ("service", as_of), lambda: _service_query(ws, as_of))


def _service_query(ws: Workspace, as_of: pd.Timestamp) -> pd.DataFrame:
    """The GROUP BY of `service_by_month`."""
    df = ws.query(
        """
        WITH o AS (
            SELECT CAST("requested_date" AS DATE) AS req, CAST("delivered_date" AS DATE) AS dd,
                   CAST("requested_qty" AS DOUBLE) AS rq, CAST("delivered_qty" AS DOUBLE) AS dq0
            FROM "orders" WHERE "requested_date" IS NOT NULL),
        j AS (
            SELECT req, dd, rq, dq0,
                   dd IS NOT NULL AS delivered,
                   -- not due: requested after as_of, or open and requested on as_of (booleans, not a text state:
                   -- a third of the time over 10 M lines)
                   req > $as_of OR (dd IS NULL AND req = $as_of) AS not_due
            FROM o),
        -- per requested day first, then per month: the month is then taken of ~700 days, not of every line
        d AS (SELECT req,
               count(*) FILTER (WHERE NOT not_due) AS lines,
               count(*) FILTER (WHERE NOT not_due AND delivered AND dd <= req AND coalesce(dq0, rq) >= rq)
                   AS otif_lines,
               coalesce(sum(rq) FILTER (WHERE NOT not_due), 0) AS ordered_units,
               coalesce(sum(CASE WHEN rq IS NULL THEN NULL WHEN delivered THEN least(coalesce(dq0, rq, 0), rq)
                                 ELSE 0 END) FILTER (WHERE NOT not_due), 0) AS delivered_units,
               count(*) FILTER (WHERE NOT delivered AND req < $as_of) AS past_due_lines,
               count(*) FILTER (WHERE not_due) AS not_due_lines,
               count(*) FILTER (WHERE delivered AND dq0 IS NULL AND NOT not_due) AS qty_assumed_lines
        FROM j GROUP BY req)
        SELECT CAST(date_trunc('month', req) AS DATE) AS period, sum(lines) AS lines, sum(otif_lines) AS otif_lines,
               sum(ordered_units) AS ordered_units, sum(delivered_units) AS delivered_units,
               sum(past_due_lines) AS past_due_lines, sum(not_due_lines) AS not_due_lines,
               sum(qty_assumed_lines) AS qty_assumed_lines
        FROM d GROUP BY 1 ORDER BY 1
        """,
        {"as_of": as_of.date()},
    )
    return finish_service(_months(df, "period"))


def monthly_actuals(ws: Workspace, products: pd.DataFrame | None,
                    months_back: int | None = 2 * WINDOW_MONTHS) -> pd.DataFrame:
    """Actuals per month valued by finance (ACTUALS_COLUMNS), from the sales table in one query.

    Each sku × region × month: units = Σ quantity; revenue = Σ revenue, or units × unit_price when
    none was given (0 for 0 units), unpriced when neither; COGS = units × unit_cost, uncosted when no
    cost. One row per month from the first month of sales (or `months_back` before the last) to the
    last, 0 where nothing was sold or valued.
    """
    if not ws.has_table("sales"):
        return pd.DataFrame({c: pd.Series(dtype="datetime64[us]" if c == "period" else float)
                             for c in ACTUALS_COLUMNS})
    return _memoised(ws, ["sales", "products"], ("actuals", _products_key(products), months_back),
                     lambda: _actuals_query(ws, products, months_back))


def _actuals_query(ws: Workspace, products: pd.DataFrame | None, months_back: int | None) -> pd.DataFrame:
    """The query of `monthly_actuals`."""
    df = ws.query(
        f"""
        WITH {_PRODUCTS},
        h AS (
            SELECT "sku" AS sku, coalesce("region", ?) AS region, CAST(date_trunc('month', "date") AS DATE) AS period,
                   coalesce(sum("quantity"), 0) AS q, sum("revenue") AS rev
            FROM "sales" GROUP BY ALL),
        b AS (SELECT max(period) AS last,
                     CASE WHEN CAST(? AS INTEGER) IS NULL THEN min(period)
                          ELSE greatest(min(period), CAST(max(period) - to_months(CAST(? AS INTEGER) - 1) AS DATE))
                     END AS first
              FROM h),
        l AS (
            SELECT h.period, h.q AS units,
                   coalesce(h.rev, CASE WHEN h.q = 0 THEN 0 ELSE h.q * p.unit_price END) AS revenue,
                   CASE WHEN h.q = 0 THEN 0 ELSE h.q * p.unit_cost END AS cogs,
                   p.unit_cost IS NULL AS uncosted
            FROM h LEFT JOIN prod p ON p.sku = h.sku, b
            WHERE h.period >= b.first),
        m AS (
            SELECT period, sum(units) AS units, sum(revenue) AS revenue, sum(cogs) AS cogs,
                   sum(CASE WHEN revenue IS NULL THEN units ELSE 0 END) AS unpriced_units,
                   sum(CASE WHEN uncosted THEN units ELSE 0 END) AS uncosted_units
            FROM l GROUP BY period)
        SELECT CAST(s.period AS DATE) AS period, coalesce(m.units, 0) AS units, coalesce(m.revenue, 0) AS revenue,
               coalesce(m.cogs, 0) AS cogs, coalesce(m.unpriced_units, 0) AS unpriced_units,
               coalesce(m.uncosted_units, 0) AS uncosted_units
        FROM b, generate_series(CAST(b.first AS TIMESTAMP), CAST(b.last AS TIMESTAMP), INTERVAL 1 MONTH) AS s(period)
        LEFT JOIN m ON m.period = CAST(s.period AS DATE)
        ORDER BY 1
        """,
        [*_product_params(products), NO_REGION, months_back, months_back],
    )
    for c in ACTUALS_COLUMNS[1:]:
        df[c] = df[c].astype(float)
    return _months(df, "period")[list(ACTUALS_COLUMNS)]


def inventory_at_cost(ws: Workspace, products: pd.DataFrame | None) -> pd.DataFrame:
    """Month-end inventory per month (INVENTORY_COLUMNS): each sku's last snapshot of the month summed over
    locations, valued at unit_cost (skus without a cost left out of the value, counted in uncosted_units)."""
    if not ws.has_table("inventory"):
        return pd.DataFrame({c: pd.Series(dtype=float) for c in INVENTORY_COLUMNS})
    return _memoised(ws, ["inventory", "products"], ("inventory", _products_key(products)),
                     lambda: _inventory_query(ws, products))


def _inventory_query(ws: Workspace, products: pd.DataFrame | None) -> pd.DataFrame:
    """The query of `inventory_at_cost`."""
    df = ws.query(
        f"""
        WITH {_PRODUCTS},
        d AS (SELECT CAST("sku" AS VARCHAR) AS sku, CAST("date" AS DATE) AS date,
                     coalesce(CAST("on_hand" AS DOUBLE), 0) AS on_hand,
                     CAST(date_trunc('month', "date") AS DATE) AS period
              FROM "inventory" WHERE "date" IS NOT NULL),
        s AS (SELECT sku, period, sum(on_hand) AS on_hand, max(date) AS as_of
              FROM d GROUP BY sku, period, date
              QUALIFY date = max(date) OVER (PARTITION BY sku, period)),
        c AS (SELECT s.*, p.unit_cost AS cost FROM s LEFT JOIN prod p ON p.sku = s.sku)
        SELECT period, sum(on_hand) AS on_hand, sum(on_hand * cost) AS value_at_cost,
               sum(CASE WHEN cost IS NULL THEN on_hand ELSE 0 END) AS uncosted_units, max(as_of) AS as_of
        FROM c GROUP BY period ORDER BY period
        """,
        _product_params(products),
    )
    for c in ("on_hand", "value_at_cost", "uncosted_units"):
        df[c] = df[c].astype(float)
    return _months(df, "period", "as_of")[list(INVENTORY_COLUMNS)]


def latest_on_hand(ws: Workspace) -> pd.DataFrame:
    """On hand per sku at its latest snapshot date, summed over locations: sku, on_hand, as_of (`inventory.latest_on_hand`)."""
    if not ws.has_table("inventory"):
        return pd.DataFrame({"sku": pd.Series(dtype=str), "on_hand": pd.Series(dtype=float),
                             "as_of": pd.Series(dtype="datetime64[us]")})
    return _memoised(ws, ["inventory"], ("on_hand",), lambda: _on_hand_query(ws))


def _on_hand_query(ws: Workspace) -> pd.DataFrame:
    """The query of `latest_on_hand`."""
    df = ws.query(
        """
        WITH d AS (SELECT CAST("sku" AS VARCHAR) AS sku, CAST("date" AS DATE) AS as_of,
                          coalesce(CAST("on_hand" AS DOUBLE), 0) AS on_hand
                   FROM "inventory" WHERE "date" IS NOT NULL)
        SELECT sku, sum(on_hand) AS on_hand, as_of FROM d
        GROUP BY sku, as_of
        QUALIFY as_of = max(as_of) OVER (PARTITION BY sku)
        ORDER BY sku
        """
    )
    df["on_hand"] = df["on_hand"].astype(float)
    return _months(df, "as_of")


HISTORY_COLUMNS: tuple[str, ...] = ("sku", "region", "family", "period", "quantity", "revenue")


def recent_history(ws: Workspace, products: pd.DataFrame | None,
                   months: int = 2 * WINDOW_MONTHS, by_region: bool = True) -> pd.DataFrame:
    """Sales per sku × region × month over the last `months` months of sales (HISTORY_COLUMNS).

    quantity = Σ quantity (0 when none), revenue = Σ revenue (NaN when none given), family from `products`
    (the sku when it has none): `actuals.normalise_history` of `history.demand_history(ws)` cut to those
    months. Covers all the scorecard needs besides `monthly_actuals`: the last actual month, the load of
    the last 12 months, the unit walk of the last 12 inventory snapshots and the outlook year's actuals.
    by_region=False: the regions summed (region NO_REGION), a fifth of the rows at 5 regions — enough for all of
    that but the outlook (it values a line without revenue at its price, line by line).
    """
    if not ws.has_table("sales"):
        return pd.DataFrame({c: pd.Series(dtype="datetime64[us]" if c == "period" else float if c in (
            "quantity", "revenue") else str) for c in HISTORY_COLUMNS})
    return _memoised(ws, ["sales", "products"], ("history", _products_key(products), int(months), by_region),
                     lambda: _history_query(ws, products, months, by_region))


def _history_query(ws: Workspace, products: pd.DataFrame | None, months: int, by_region: bool) -> pd.DataFrame:
    """The query of `recent_history`."""
    p = products_frame(products)
    region = 'coalesce("region", ?)' if by_region else "CAST(? AS VARCHAR)"  # the parameter: NO_REGION
    df = ws.query(
        f"""
        WITH fam AS (SELECT unnest(?::VARCHAR[]) AS sku, unnest(?::VARCHAR[]) AS family),
        b AS (SELECT CAST(date_trunc('month', max("date")) - to_months(CAST(? AS INTEGER) - 1) AS DATE) AS first
              FROM "sales"),
        h AS (SELECT "sku" AS sku, {region} AS region,
                     CAST(date_trunc('month', "date") AS DATE) AS period,
                     coalesce(sum("quantity"), 0) AS quantity, sum("revenue") AS revenue
              FROM "sales", b WHERE "date" >= b.first GROUP BY ALL)
        SELECT h.sku, h.region, coalesce(f.family, h.sku) AS family, h.period, h.quantity, h.revenue
        FROM h LEFT JOIN fam f ON f.sku = h.sku
        ORDER BY h.sku, h.region, h.period
        """,
        [p["sku"].astype(str).tolist(),
         [None if pd.isna(f) else str(f) for f in p["family"]] if "family" in p.columns else [None] * len(p),
         int(months), NO_REGION],
    )
    for c in ("quantity", "revenue"):
        df[c] = df[c].astype(float)
    return _months(df, "period")[list(HISTORY_COLUMNS)]
