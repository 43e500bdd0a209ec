"""Approved plan versions: the plan of record frozen at the executive meeting, never changed afterwards.

`approve` stores a new version each time: a header in `plan_versions` (version number 1, 2, 3…
and a random, unguessable version_id) and its lines in `plan_version_lines`. There is no function
that updates or deletes a version; `content_sha256` (the hash of the lines as stored) lets anyone
check that a version is what was approved (`verify`). Approval is idempotent on `event_id`
(a double click approves once) and writes an audit event.

Lines (LINE_COLUMNS): sku, region, family, period (month start), units, unit_price, revenue, cogs,
stored in the order the caller gave them. Missing money columns are filled when possible:
unit_price = revenue / units (units > 0), else the products' unit_price; revenue = units ×
unit_price; cogs = units × the products' unit_cost; otherwise left NULL.

To approve what a page shows, pass the evaluated plan (`plan.PlanResult`, baseline or scenario):
its consensus units are frozen at the prices and costs the plan was valued at (a scenario's price
changes included, `plan_lines`), never at list prices looked up again.

`compare` and `change_bridge` answer "what changed since the last approved plan" per family (or
any line column).
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from sop_core.intake.validate import text_field
from sop_core.periods import period_start
from sop_core.planning.plan import PlanResult
from sop_core.store.workspace import Workspace, frame_sha256, new_id, retry_write, utcnow

LINE_COLUMNS: tuple[str, ...] = ("sku", "region", "family", "period", "units", "unit_price", "revenue", "cogs")
HEADER_COLUMNS: tuple[str, ...] = (
    "version_id", "number", "name", "approved_by", "approved_at", "scenario_id", "fingerprints", "note",
    "n_lines", "total_units", "total_revenue", "total_cogs", "content_sha256", "event_id",
)
COMPARE_VALUES: tuple[str, ...] = ("old_units", "new_units", "d_units", "old_revenue", "new_revenue", "d_revenue")
MAX_NAME = 200
MAX_NOTE = 4000


@dataclass(frozen=True)
class Version:
    """The header of one approved plan version."""

    version_id: str
    number: int
    name: str
    approved_by: str
    approved_at: pd.Timestamp
    scenario_id: str | None
    fingerprints: dict[str, str] = field(default_factory=dict)
    note: str = ""
    n_lines: int = 0
    total_units: float | None = None
    total_revenue: float | None = None
    total_cogs: float | None = None
    content_sha256: str = ""
    event_id: str | None = None

    @property
    def label(self) -> str:
        """'v3 · May S&OP' as shown in pickers and headings."""
        return f"v{self.number} · {self.name}"


# -- reads -------------------------------------------------------------------------------------
def _df(src: Workspace | duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
    """A query on the workspace (fresh cursor) or inside the caller's transaction cursor."""
    if isinstance(src, Workspace):
        return src.query(sql, list(params or []))
    return src.execute(sql, list(params or [])).df()


def _header_sql(where: str = "") -> str:
    return f"SELECT {', '.join(HEADER_COLUMNS)} FROM plan_versions {where}"


def _opt(v: Any) -> Any:
    """None for NULL/NaN cells."""
    return None if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT else v


def _num(v: Any) -> float | None:
    """A float, None for NULL/NaN."""
    v = _opt(v)
    return None if v is None else float(v)


def _to_version(row: pd.Series) -> Version:
    return Version(
        version_id=str(row["version_id"]), number=int(row["number"]), name=str(row["name"]),
        approved_by=str(row["approved_by"]), approved_at=pd.Timestamp(row["approved_at"]),
        scenario_id=_opt(row["scenario_id"]), fingerprints=json.loads(row["fingerprints"] or "{}"),
        note=_opt(row["note"]) or "", n_lines=int(row["n_lines"]),
        total_units=_num(row["total_units"]), total_revenue=_num(row["total_revenue"]),
        total_cogs=_num(row["total_cogs"]), content_sha256=str(row["content_sha256"]),
        event_id=_opt(row["event_id"]),
    )


def list_versions(ws: Workspace) -> pd.DataFrame:
    """Every approved version, newest first: HEADER_COLUMNS (fingerprints as JSON text)."""
    return ws.query(_header_sql("ORDER BY number DESC"))


def get(ws: Workspace | duckdb.DuckDBPyConnection, version_id: str) -> Version | None:
    """The version with that id, or None."""
    df = _df(ws, _header_sql("WHERE version_id = ?"), [version_id])
    return _to_version(df.iloc[0]) if len(df) else None


def latest(ws: Workspace) -> Version | None:
    """The most recently approved version, or None before the first approval."""
    df = ws.query(_header_sql("ORDER BY number DESC LIMIT 1"))
    return _to_version(df.iloc[0]) if len(df) else None


def _lines_sql() -> str:
    return f"SELECT {', '.join(LINE_COLUMNS)} FROM plan_version_lines WHERE version_id = ? ORDER BY line_no"


def load_version(ws: Workspace, version_id: str) -> pd.DataFrame:
    """The lines of a version (LINE_COLUMNS, in the approved order); KeyError for an unknown version."""
    if get(ws, version_id) is None:
        raise KeyError(f"no approved plan version {version_id!r}")
    return ws.query(_lines_sql(), [version_id])


def content_hash(lines: pd.DataFrame) -> str:
    """SHA-256 of the lines as stored (every cell, in order)."""
    return frame_sha256(lines[list(LINE_COLUMNS)])


def verify(ws: Workspace, version_id: str) -> bool:
    """True when the stored lines still hash to the content_sha256 recorded at approval."""
    v = get(ws, version_id)
    if v is None:
        raise KeyError(f"no approved plan version {version_id!r}")
    return content_hash(load_version(ws, version_id)) == v.content_sha256


def stale_inputs(version: Version, current: Mapping[str, str]) -> list[str]:
    """Keys of the version's fingerprints whose current value differs (or is gone): what changed since approval."""
    return sorted(k for k, v in version.fingerprints.items() if current.get(k) != v)


# -- approval ----------------------------------------------------------------------------------
def prepare_lines(plan: pd.DataFrame, products: pd.DataFrame | None = None) -> pd.DataFrame:
    """The plan as version lines (LINE_COLUMNS), validated; money filled as the module docstring says."""
    if plan is None or len(plan) == 0:
        raise ValueError("the plan to approve is empty")
    missing = [c for c in ("period", "units") if c not in plan.columns]
    if "sku" not in plan.columns and "family" not in plan.columns:
        missing.append("sku or family")
    if missing:
        raise ValueError(f"the plan to approve needs columns {', '.join(missing)}; found: "
                         f"{', '.join(map(str, plan.columns))}")
    n = len(plan)

    def text(col: str) -> np.ndarray:
        if col not in plan.columns:
            return np.full(n, None, dtype=object)
        s = plan[col]
        out = s.astype(str).to_numpy(dtype=object)  # str(v) of each value, at once (0.1 s a column at 180,000 rows)
        out[s.isna().to_numpy()] = None
        return out

    def num(col: str) -> pd.Series:
        if col not in plan.columns:
            return pd.Series(np.nan, index=range(n), dtype=float)
        return pd.to_numeric(plan[col], errors="coerce").astype(float).reset_index(drop=True)

    period = pd.to_datetime(plan["period"], errors="coerce")
    if period.isna().any():
        raise ValueError(f"{int(period.isna().sum())} plan rows have no valid period")
    units = num("units")
    if not np.isfinite(units).all() or (units < 0).any():
        bad = int((~np.isfinite(units) | (units < 0)).sum())
        raise ValueError(f"{bad} plan rows have missing, infinite or negative units")
    out = pd.DataFrame({"sku": text("sku"), "region": text("region"), "family": text("family"),
                        "period": period_start(period).dt.date.to_numpy(), "units": units.to_numpy()})
    price, revenue, cogs = num("unit_price"), num("revenue"), num("cogs")
    with np.errstate(divide="ignore", invalid="ignore"):
        price = price.where(price.notna(), (revenue / units).where(units > 0))
    if products is not None and len(products) and "sku" in products.columns:
        prod = products.assign(sku=products["sku"].astype(str)).drop_duplicates("sku", keep="last").set_index("sku")
        sku = pd.Series(out["sku"])
        if "unit_price" in prod.columns:
            list_price = sku.map(pd.to_numeric(prod["unit_price"], errors="coerce")).astype(float)
            price = price.where(price.notna(), list_price)
        if "unit_cost" in prod.columns:
            cost = sku.map(pd.to_numeric(prod["unit_cost"], errors="coerce")).astype(float)
            cogs = cogs.where(cogs.notna(), units * cost)
    revenue = revenue.where(revenue.notna(), units * price)
    out["unit_price"] = price.to_numpy()
    out["revenue"] = revenue.to_numpy()
    out["cogs"] = cogs.to_numpy()
    return out[list(LINE_COLUMNS)]


def plan_lines(result: PlanResult) -> pd.DataFrame:
    """An evaluated plan as version lines (LINE_COLUMNS): its consensus units at its own prices and costs.

    The prices are `result.products` (a scenario's adjusted prices), so the lines' revenue is the
    plan's `valued_plan` revenue line by line.
    """
    c = result.consensus
    return prepare_lines(c[["sku", "region", "family", "period"]].assign(units=c["consensus"]), result.products)


def _by_event(src: Workspace | duckdb.DuckDBPyConnection, event_id: str | None) -> Version | None:
    if not event_id:
        return None
    df = _df(src, _header_sql("WHERE event_id = ?"), [event_id])
    return _to_version(df.iloc[0]) if len(df) else None


def _total(s: pd.Series) -> float | None:
    """math.fsum of a column, None when every value is missing."""
    v = s.dropna()
    return float(math.fsum(v)) if len(v) else None


def approve(ws: Workspace, plan: PlanResult | pd.DataFrame, *, name: str, scenario_id: str | None,
            fingerprints: Mapping[str, str], approved_by: str, note: str = "", event_id: str | None = None,
            products: pd.DataFrame | None = None) -> Version:
    """Freeze `plan` as a new approved version (number = last + 1), audited; a repeated event_id returns the stored one.

    `plan`: an evaluated plan (`plan_lines` of it is frozen; `scenario_id` must be its scenario_id
    and `products` is refused: the result carries its own prices) or plan lines (see the module
    docstring; `products` fills unit_price and cogs they lack). `fingerprints` names the data the
    plan was built on (e.g. {'sales': ws.fingerprint(['sales']), 'forecast_run': run_key}).
    """
    if isinstance(plan, PlanResult):
        if products is not None:
            raise ValueError("an evaluated plan is frozen at its own prices and costs: do not pass products with it")
        if scenario_id != plan.scenario_id:
            raise ValueError(f"scenario_id {scenario_id!r} is not the scenario the plan was evaluated for "
                             f"({plan.scenario_id!r})")
    name = text_field(name, "a version name", MAX_NAME)
    approved_by = text_field(approved_by, "approved_by (who approves the plan)", MAX_NAME)
    note = text_field(note, "the note", MAX_NOTE, required=False)
    scenario = text_field(scenario_id, "scenario_id", MAX_NAME, required=False) or None
    event_id = text_field(event_id, "event_id", MAX_NAME, required=False) or None
    if not isinstance(fingerprints, Mapping):
        raise ValueError("fingerprints must be a mapping of name to fingerprint")
    prints = {str(k): str(v) for k, v in fingerprints.items()}
    lines = plan_lines(plan) if isinstance(plan, PlanResult) else prepare_lines(plan, products)

    def write() -> Version:
        with ws.transaction() as cur:
            existing = _by_event(cur, event_id)
            if existing is not None:
                return existing
            number = int(cur.execute("SELECT coalesce(max(number), 0) + 1 FROM plan_versions").fetchall()[0][0])
            version_id = new_id()
            frame = lines.assign(version_id=version_id, line_no=np.arange(1, len(lines) + 1, dtype="int64"))
            cur.register("_version_lines", frame)
            try:
                cur.execute(
                    "INSERT INTO plan_version_lines (version_id, line_no, sku, region, family, period, units,"
                    " unit_price, revenue, cogs) SELECT version_id, line_no, sku, region, family, CAST(period AS DATE),"
                    " units, unit_price, revenue, cogs FROM _version_lines")
            finally:
                cur.unregister("_version_lines")
            stored = cur.execute(_lines_sql(), [version_id]).df()
            v = Version(
                version_id=version_id, number=number, name=name, approved_by=approved_by,
                approved_at=pd.Timestamp(utcnow()), scenario_id=scenario, fingerprints=prints, note=note,
                n_lines=len(stored), total_units=_total(stored["units"]), total_revenue=_total(stored["revenue"]),
                total_cogs=_total(stored["cogs"]), content_sha256=content_hash(stored), event_id=event_id,
            )
            cur.execute(
                f"INSERT INTO plan_versions ({', '.join(HEADER_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(HEADER_COLUMNS))})",
                [v.version_id, v.number, v.name, v.approved_by, _py(v.approved_at), v.scenario_id,
                 json.dumps(prints, sort_keys=True), v.note, v.n_lines, v.total_units, v.total_revenue,
                 v.total_cogs, v.content_sha256, v.event_id],
            )
            ws.audit(cur, "plan_approved", version_id, {
                "number": number, "name": name, "scenario_id": scenario, "fingerprints": prints,
                "n_lines": v.n_lines, "total_units": v.total_units, "total_revenue": v.total_revenue,
                "content_sha256": v.content_sha256, "note": note,
            }, approved_by)
        return get(ws, version_id) or v

    return retry_write(write, lambda: _by_event(ws, event_id))


def _py(ts: pd.Timestamp) -> datetime:
    return pd.Timestamp(ts).to_pydatetime()


# -- what changed ------------------------------------------------------------------------------
def _sums(lines: pd.DataFrame | None, keys: list[str]) -> pd.DataFrame:
    """units and revenue summed per key (missing keys as '(none)')."""
    if lines is None or len(lines) == 0:
        return pd.DataFrame(columns=keys + ["units", "revenue"]).set_index(keys)
    df = pd.DataFrame({k: lines[k].astype(object).where(lines[k].notna(), "(none)") for k in keys})
    if "period" in keys:
        df["period"] = period_start(lines["period"]).to_numpy()
    df["units"] = pd.to_numeric(lines["units"], errors="coerce").astype(float).fillna(0.0).to_numpy()
    rev = lines["revenue"] if "revenue" in lines.columns else pd.Series(np.nan, index=lines.index)
    df["revenue"] = pd.to_numeric(rev, errors="coerce").astype(float).fillna(0.0).to_numpy()
    return df.groupby(keys)[["units", "revenue"]].sum()


def compare(old_lines: pd.DataFrame | None, new_lines: pd.DataFrame,
            by: str | Sequence[str] = "family", *, common: bool = False) -> pd.DataFrame:
    """Old vs new plan per `by`: the by columns, old_units, new_units, d_units, old_revenue, new_revenue, d_revenue.

    d = new − old; a group present in only one plan counts 0 in the other; missing revenue counts 0.
    Sorted by the by columns. `old_lines` None (no earlier version) compares against nothing.
    common: compare only the months both plans cover (`common_periods`), so that a month the cycle
    rolled in or out is not read as a change.
    """
    if common:
        old_lines, new_lines = _on_common_periods(old_lines, new_lines)
    keys = [by] if isinstance(by, str) else list(by)
    old, new = _sums(old_lines, keys), _sums(new_lines, keys)
    idx = old.index.union(new.index)
    old, new = old.reindex(idx, fill_value=0.0), new.reindex(idx, fill_value=0.0)
    out = pd.DataFrame({
        "old_units": old["units"], "new_units": new["units"], "d_units": new["units"] - old["units"],
        "old_revenue": old["revenue"], "new_revenue": new["revenue"], "d_revenue": new["revenue"] - old["revenue"],
    }, index=idx).astype(float)
    out = out.reset_index()
    out.columns = keys + list(COMPARE_VALUES)
    return out.sort_values(keys).reset_index(drop=True)


def change_bridge(old: pd.DataFrame | None, new: pd.DataFrame, by: str = "family", *, measure: str = "revenue",
                  old_label: str = "Previous plan", new_label: str = "New plan", common: bool = False,
                  top: int | None = None, other_label: str = "Other {by}", min_change: float = 0.0) -> pd.DataFrame:
    """Waterfall from the old to the new plan total: label, value, kind ('total' | 'relative').

    First step the old total, then one step per `by` group whose `measure` ('revenue' | 'units')
    changed (largest change first), then the new total; the relative steps sum to new − old.
    common: only the months both plans cover (see `compare`). top: at most this many groups as
    their own step, the smaller changes summed in one step `other_label` (`{by}` → 'family' etc.,
    pluralised with an s) placed last. min_change: changes of at most this size (e.g. 0.5: less than
    a unit or a dollar, float noise) are not steps of their own.
    """
    if measure not in ("revenue", "units"):
        raise ValueError("measure must be 'revenue' or 'units'")
    c = compare(old, new, by, common=common)
    d = c[f"d_{measure}"]
    old_total = math.fsum(c[f"old_{measure}"])
    new_total = math.fsum(c[f"new_{measure}"])
    moved = d.abs() > float(min_change)
    changed = c[moved].assign(_abs=d[moved].abs()).sort_values(["_abs", by], ascending=[False, True])
    steps = [(str(k), float(v)) for k, v in zip(changed[by], changed[f"d_{measure}"])]
    if top is not None and len(steps) > max(int(top), 1):
        keep = max(int(top), 1) - 1  # the other step takes the last place
        rest = math.fsum(v for _, v in steps[keep:])
        plural = "families" if by == "family" else f"{by}s"
        steps = steps[:keep] + [(other_label.format(by=plural), rest)]
    rows = [(old_label, old_total, "total")]
    rows += [(label, value, "relative") for label, value in steps]
    rows.append((new_label, new_total, "total"))
    return pd.DataFrame(rows, columns=["label", "value", "kind"])


def common_periods(old_lines: pd.DataFrame | None, new_lines: pd.DataFrame | None) -> list[pd.Timestamp]:
    """The months (period starts, sorted) both plans have lines in; [] when either is missing or empty."""
    if old_lines is None or new_lines is None or not len(old_lines) or not len(new_lines):
        return []
    # the distinct periods first: a set of every line's period walks 180,000 timestamps in Python
    a = set(period_start(pd.Series(pd.to_datetime(old_lines["period"]).unique())))
    b = set(period_start(pd.Series(pd.to_datetime(new_lines["period"]).unique())))
    return sorted(pd.Timestamp(p) for p in a & b)


def _on_common_periods(old_lines: pd.DataFrame | None,
                       new_lines: pd.DataFrame) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    months = set(common_periods(old_lines, new_lines))
    if old_lines is None or not months:
        return old_lines, new_lines

    def keep(lines: pd.DataFrame) -> pd.DataFrame:
        return lines[period_start(pd.to_datetime(lines["period"])).isin(months).to_numpy()]

    return keep(old_lines), keep(new_lines)


def change_table(old: pd.DataFrame | None, new: pd.DataFrame, by: str = "family", *,
                 common: bool = False) -> pd.DataFrame:
    """"What changed" per `by` group as the meeting reads it: text cells from `sop_core.formatting`.

    Columns: the group (its name), Units (the new plan, whole), Δ units (signed, whole), Revenue (the
    new plan, whole dollars), Δ revenue (signed whole dollars); largest revenue change first, then a
    Total row. Numbers are text so that they read the same on every screen (no float cells like
    99,329.74); `compare` has the numbers.
    """
    from sop_core.formatting import delta_money_whole, delta_units, money, units

    c = compare(old, new, by, common=common)
    c = c.assign(_abs=c["d_revenue"].abs()).sort_values(["_abs", by], ascending=[False, True])
    name = by.capitalize() if isinstance(by, str) else "Group"
    rows = [[str(g), units(nu), delta_units(du), money(nr, compact=False), delta_money_whole(dr)]
            for g, nu, du, nr, dr in zip(c[by], c["new_units"], c["d_units"], c["new_revenue"], c["d_revenue"])]
    rows.append(["Total", units(math.fsum(c["new_units"])), delta_units(math.fsum(c["d_units"])),
                 money(math.fsum(c["new_revenue"]), compact=False), delta_money_whole(math.fsum(c["d_revenue"]))])
    return pd.DataFrame(rows, columns=[name, "Units", "Δ units", "Revenue", "Δ revenue"])


def monthly_revenue(lines: pd.DataFrame | None, year: int | None = None) -> pd.DataFrame:
    """A plan's revenue per month (of `year` when given): period (month start), revenue; empty without lines."""
    if lines is None or not len(lines):
        return pd.DataFrame({"period": pd.Series(dtype="datetime64[ns]"), "revenue": pd.Series(dtype=float)})
    df = pd.DataFrame({"period": period_start(pd.to_datetime(lines["period"])).to_numpy(),
                       "revenue": pd.to_numeric(lines["revenue"], errors="coerce").astype(float).to_numpy()})
    if year is not None:
        df = df[pd.DatetimeIndex(df["period"]).year == int(year)]
    out = df.groupby("period", as_index=False)["revenue"].sum(min_count=1)
    return out.sort_values("period").reset_index(drop=True)


def versions_table(ws: Workspace) -> pd.DataFrame:
    """Every approved version, newest first, as the meeting reads it (text cells from `sop_core.formatting`):
    Version ('v3 · May S&OP'), Approved (date), By, Units, Revenue (whole dollars), Note ('—' when none)."""
    from sop_core.formatting import money, units

    df = list_versions(ws)
    rows = [[f"v{int(r.number)} · {r.name}", f"{pd.Timestamp(r.approved_at):%d %b %Y}", str(r.approved_by),
             units(_num(r.total_units)), money(_num(r.total_revenue), compact=False),
             str(_opt(r.note) or "—")] for r in df.itertuples(index=False)]
    return pd.DataFrame(rows, columns=["Version", "Approved", "By", "Units", "Revenue", "Note"])
