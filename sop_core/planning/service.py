"""Customer service of the order lines: OTIF and unit fill rate, as pure functions over the orders table.

OTIF and unit fill rate over order lines, counted in the month of their requested date. On time:
delivered_date ≤ requested_date; in full: delivered_qty ≥ requested_qty. A line with no
delivered_date is *open*: when its requested date is before `as_of` it is past due and counts as
not OTIF with 0 units delivered; when it is not yet due it is left out. Lines requested after
`as_of` are not due yet and are left out, delivered or not. `as_of` defaults to the latest
delivered_date in the file (the day the extract was taken). A delivered line with a blank
delivered_qty is taken as delivered in full (counted in `qty_assumed`). Fill rate = Σ min(delivered,
ordered) / Σ ordered: over-delivery of one line does not make up for a short one. The scorecard's
KPIs of them are `kpis.service_kpis` (keys 'otif' and 'order_fill_rate'). Here the rules line by
line in pandas (`order_lines`, for frames in memory and any view of single lines); over the
workspace the same per-month figures come from one DuckDB query (`kpi_sql.service_by_month`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from sop_core import clock
from sop_core.periods import period_start

LINE_COLUMNS: tuple[str, ...] = (
    "order_id", "sku", "requested_date", "period", "requested_qty", "delivered_date", "delivered_qty",
    "state", "counted", "on_time", "in_full", "otif", "units_delivered", "qty_assumed",
)
SERVICE_COLUMNS: tuple[str, ...] = (
    "period", "lines", "otif_lines", "otif", "ordered_units", "delivered_units", "fill_rate",
    "past_due_lines", "not_due_lines", "qty_assumed_lines",
)


def default_as_of(orders: pd.DataFrame) -> pd.Timestamp:
    """The latest delivered_date of the order lines (the clock's today when nothing was delivered)."""
    d = pd.to_datetime(orders["delivered_date"]) if "delivered_date" in orders.columns else pd.Series(dtype="M8[us]")
    last = d.max()
    return pd.Timestamp(last).normalize() if pd.notna(last) else clock.today_ts()


def order_lines(orders: pd.DataFrame, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
    """Order lines judged as of a date, columns LINE_COLUMNS.

    period = month of requested_date; state 'delivered' | 'past due' (open, requested before as_of)
    | 'not due' (open and not yet due, or requested after as_of); counted = state != 'not due';
    on_time, in_full, otif (bool, False for past-due lines); units_delivered = min(delivered,
    requested) (0 for past-due lines); qty_assumed = delivered with a blank delivered_qty (taken as
    in full).
    """
    as_of = default_as_of(orders) if as_of is None else pd.Timestamp(as_of).normalize()
    req = pd.to_datetime(orders["requested_date"]).dt.normalize()
    dd = (pd.to_datetime(orders["delivered_date"]).dt.normalize() if "delivered_date" in orders.columns
          else pd.Series(pd.NaT, index=orders.index, dtype="datetime64[us]"))
    rq = pd.to_numeric(orders["requested_qty"], errors="coerce").astype(float)
    dq = (pd.to_numeric(orders["delivered_qty"], errors="coerce").astype(float) if "delivered_qty" in orders.columns
          else pd.Series(np.nan, index=orders.index))
    delivered = dd.notna()
    qty_assumed = delivered & dq.isna()
    dq = dq.where(~qty_assumed, rq)
    state = np.where(req > as_of, "not due",
                     np.where(delivered, "delivered", np.where(req < as_of, "past due", "not due")))
    on_time = delivered & (dd <= req)
    in_full = delivered & (dq >= rq)
    out = pd.DataFrame({
        "order_id": orders["order_id"].to_numpy() if "order_id" in orders.columns else None,
        "sku": orders["sku"].to_numpy(),
        "requested_date": req.to_numpy(),
        "period": period_start(req).to_numpy(),
        "requested_qty": rq.to_numpy(),
        "delivered_date": dd.to_numpy(),
        "delivered_qty": dq.where(delivered).to_numpy(),
        "state": state,
    })
    out["counted"] = out["state"] != "not due"
    out["on_time"] = on_time.to_numpy()
    out["in_full"] = in_full.to_numpy()
    out["otif"] = (on_time & in_full).to_numpy()
    out["units_delivered"] = np.where(delivered, np.minimum(dq.fillna(0.0), rq), 0.0)
    out["qty_assumed"] = qty_assumed.to_numpy()
    return out[list(LINE_COLUMNS)]


def service_by_month(lines: pd.DataFrame) -> pd.DataFrame:
    """OTIF and fill rate per requested month of `order_lines` output: SERVICE_COLUMNS.

    lines, otif_lines, ordered_units, delivered_units, qty_assumed_lines are over counted lines;
    past_due_lines and not_due_lines count the lines in those states (a month of only lines not yet
    due has lines 0 and otif NaN). `kpi_sql.service_by_month` gives the same from the workspace in SQL.
    """
    c = lines["counted"].to_numpy(bool)
    df = pd.DataFrame({
        "period": lines["period"].to_numpy(),
        "lines": c.astype("int64"),
        "otif_lines": (lines["otif"].to_numpy(bool) & c).astype("int64"),
        "ordered_units": np.where(c, lines["requested_qty"].to_numpy(float), 0.0),
        "delivered_units": np.where(c, lines["units_delivered"].to_numpy(float), 0.0),
        "past_due_lines": (lines["state"] == "past due").to_numpy().astype("int64"),
        "not_due_lines": (~c).astype("int64"),
        "qty_assumed_lines": (lines["qty_assumed"].to_numpy(bool) & c).astype("int64"),
    })
    g = df.groupby("period", as_index=False).sum()
    g["period"] = g["period"].astype("datetime64[us]")
    return finish_service(g)


def finish_service(g: pd.DataFrame) -> pd.DataFrame:
    """Per-month counts with otif = otif_lines / lines and fill_rate = delivered / ordered units (NaN when 0): SERVICE_COLUMNS."""
    for col in ("lines", "otif_lines", "past_due_lines", "not_due_lines", "qty_assumed_lines"):
        g[col] = g[col].astype("int64")
    for col in ("ordered_units", "delivered_units"):
        g[col] = g[col].astype(float)
    g["otif"] = g["otif_lines"] / g["lines"].where(g["lines"] > 0)
    g["fill_rate"] = g["delivered_units"] / g["ordered_units"].where(g["ordered_units"] > 0)
    return g[list(SERVICE_COLUMNS)].sort_values("period").reset_index(drop=True)


def otif(orders: pd.DataFrame, as_of: pd.Timestamp | None = None) -> float:
    """OTIF of all counted lines (rules of `order_lines`); NaN when no line is due."""
    c = order_lines(orders, as_of)
    c = c[c["counted"]]
    return float(c["otif"].mean()) if len(c) else float("nan")


def fill_rate(orders: pd.DataFrame, as_of: pd.Timestamp | None = None) -> float:
    """Unit fill rate Σ min(delivered, ordered) / Σ ordered of counted lines; NaN when nothing is due."""
    c = order_lines(orders, as_of)
    c = c[c["counted"]]
    ordered = float(c["requested_qty"].sum())
    return float(c["units_delivered"].sum()) / ordered if ordered > 0 else float("nan")
