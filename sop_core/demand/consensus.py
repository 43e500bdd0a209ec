"""The consensus plan: the statistical forecast with the planners' overrides applied.

Frames
------
``statistical`` (input, from the forecast engine): series_id, sku, region, family, period
(datetime64 bucket start), value (units >= 0), lower, upper, model. One row per
sku × region × period; only sku, region, family, period and value are used here. A missing
value counts as 0 and a negative one (float noise) is clipped to 0.

``overrides`` (input): one row per override with family, region, sku (None = all), period_from,
period_to (bucket starts, inclusive), kind ('percent' | 'units') and value, plus created_at and
seq for ordering. This is the frame returned by ``overrides.active``; a sequence of
``Override`` / ``OverrideInput`` objects is accepted too. Undo entries (``undoes`` set) and
undone overrides (``undone`` True) are skipped, so ``overrides.history`` can be passed as is.

``consensus`` (output): sku, region, family, period, statistical, consensus, overridden (bool),
sorted by sku, region, period.

Rules
-----
1. Consensus starts equal to the statistical forecast.
2. Overrides are applied one after the other in the order they were saved: created_at, ties
   broken by the stored sequence number ``seq`` (rows without either keep the order given).
3. A row is in an override's scope when its family, region and sku each equal the override's
   (None matches all) and period_from <= period <= period_to. Periods outside the forecast
   horizon are ignored: an override saved against an earlier forecast run applies to the part
   of its range the current run covers (``overrides.refresh_consensus`` uses every active override of every run,
   so a planner's override does not vanish when the forecast is refreshed).
4. percent: every in-scope row's current consensus is multiplied by (1 + value / 100).
5. units: for each period of the range, the scope's total becomes ``value``, split to its
   sku × region rows in proportion to their current consensus; when that total is 0, in
   proportion to the statistical forecast; when that is 0 too, evenly. A family-level change is
   therefore split to its skus in proportion to their forecast and sums back to ``value``.
6. A later override on the same scope and periods supersedes an earlier one in effect, because
   it is applied after it: a units override sets the total whatever came before; a percent
   override scales whatever came before.
7. ``overridden`` is True for every row in the scope of at least one applied override.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

    from sop_core.store.workspace import Workspace

STATISTICAL_COLUMNS = ("sku", "region", "family", "period", "value")
CONSENSUS_COLUMNS = ("sku", "region", "family", "period", "statistical", "consensus", "overridden")
OVERRIDE_COLUMNS = ("family", "region", "sku", "period_from", "period_to", "kind", "value")
KINDS = ("percent", "units")


# -- the engine ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prepared:
    """A statistical forecast indexed for fast scope masks (build with `prepare`)."""

    frame: pd.DataFrame  # sku, region, family, period, statistical; sorted, index 0..n-1
    statistical: np.ndarray  # float64
    codes: dict[str, np.ndarray]  # family/region/sku -> int codes (-1 = missing)
    lookup: dict[str, dict[str, int]]  # family/region/sku -> {str(value): code}
    period_code: np.ndarray  # index into periods_ns
    periods_ns: np.ndarray  # sorted unique bucket starts, int64 nanoseconds

    def __len__(self) -> int:
        return len(self.statistical)

    def mask(self, family: Any = None, region: Any = None, sku: Any = None,
             period_from: Any = None, period_to: Any = None) -> np.ndarray:
        """Boolean array: rows in the scope (None = all) and in period_from..period_to inclusive."""
        n = len(self.statistical)
        lo = 0 if is_blank(period_from) else int(np.searchsorted(self.periods_ns, _ns(period_from), "left"))
        hi = (len(self.periods_ns) if is_blank(period_to)
              else int(np.searchsorted(self.periods_ns, _ns(period_to), "right")))
        if lo >= hi:
            return np.zeros(n, dtype=bool)
        m: np.ndarray | None = None
        for col, val in (("family", family), ("region", region), ("sku", sku)):
            if is_blank(val):
                continue
            code = self.lookup[col].get(str(val))
            if code is None:
                return np.zeros(n, dtype=bool)
            mm = self.codes[col] == code
            m = mm if m is None else m & mm
        if lo > 0 or hi < len(self.periods_ns):
            pm = (self.period_code >= lo) & (self.period_code < hi)
            m = pm if m is None else m & pm
        return np.ones(n, dtype=bool) if m is None else m

    def periods(self) -> pd.DatetimeIndex:
        """The forecast's bucket starts, ascending."""
        return pd.DatetimeIndex(self.periods_ns.astype("datetime64[ns]"))


def prepare(statistical: pd.DataFrame) -> Prepared:
    """Validate the statistical forecast frame and index it for `run`."""
    missing = [c for c in STATISTICAL_COLUMNS if c not in statistical.columns]
    if missing:
        raise ValueError(
            f"statistical forecast is missing column(s) {', '.join(missing)}: expected series_id, sku, "
            "region, family, period, value, lower, upper, model"
        )
    df = statistical.loc[:, ["sku", "region", "family", "period", "value"]]
    period = pd.to_datetime(df["period"])
    df = pd.DataFrame({
        "sku": df["sku"].to_numpy(), "region": df["region"].to_numpy(), "family": df["family"].to_numpy(),
        "period": period.to_numpy(),
        "statistical": np.clip(pd.to_numeric(df["value"], errors="coerce").fillna(0.0).to_numpy(float), 0.0, None),
    })
    df = df.sort_values(["sku", "region", "period"], kind="stable", ignore_index=True)
    keys = ["sku", "region", "period"]
    dup = df.duplicated(keys)
    if dup.any():
        first = df.loc[dup.idxmax(), keys]
        raise ValueError(
            f"statistical forecast has {int(dup.sum())} duplicated sku × region × period row(s), e.g. "
            f"sku {first['sku']!r}, region {first['region']!r}, period {pd.Timestamp(first['period']):%Y-%m-%d}"
        )
    codes: dict[str, np.ndarray] = {}
    lookup: dict[str, dict[str, int]] = {}
    for col in ("family", "region", "sku"):
        c, uniques = pd.factorize(df[col])
        codes[col] = c
        lookup[col] = {str(u): i for i, u in enumerate(uniques)}
    p_ns = pd.DatetimeIndex(df["period"]).as_unit("ns").asi8
    periods_ns, period_code = np.unique(p_ns, return_inverse=True)
    return Prepared(df, df["statistical"].to_numpy(float).copy(), codes, lookup,
                    period_code.astype(np.int64), periods_ns)


def run(prepared: Prepared, overrides: Any, start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Apply overrides (already in application order) to `start` (default: statistical).

    Returns (consensus values, overridden flags) aligned with ``prepared.frame``.
    """
    cons = prepared.statistical.copy() if start is None else np.array(start, dtype=float, copy=True)
    touched = np.zeros(len(cons), dtype=bool)
    for ov in _rows(overrides):
        mask = prepared.mask(ov["family"], ov["region"], ov["sku"], ov["period_from"], ov["period_to"])
        apply_one(prepared, cons, mask, ov["kind"], float(ov["value"]))
        touched |= mask
    return cons, touched


def apply_one(prepared: Prepared, cons: np.ndarray, mask: np.ndarray, kind: str, value: float) -> None:
    """Apply one override in place to the consensus array `cons` over the rows in `mask`."""
    if kind not in KINDS:
        raise ValueError(f"unknown override kind {kind!r}: use 'percent' or 'units'")
    idx = np.flatnonzero(mask)
    if not len(idx):
        return
    if kind == "percent":
        cons[idx] *= 1.0 + value / 100.0
        return
    pc = prepared.period_code[idx]
    n_periods = len(prepared.periods_ns)
    cur = cons[idx]
    total = np.bincount(pc, weights=cur, minlength=n_periods)[pc]
    if (total > 0).all():
        cons[idx] = value * (cur / total)
        return
    stat = prepared.statistical[idx]
    stat_total = np.bincount(pc, weights=stat, minlength=n_periods)[pc]
    count = np.bincount(pc, minlength=n_periods)[pc]
    share = np.where(
        total > 0, cur / np.where(total > 0, total, 1.0),
        np.where(stat_total > 0, stat / np.where(stat_total > 0, stat_total, 1.0), 1.0 / count),
    )
    cons[idx] = value * share


def consensus_frame(prepared: Prepared, cons: np.ndarray, touched: np.ndarray) -> pd.DataFrame:
    """The consensus frame (CONSENSUS_COLUMNS) for arrays aligned with ``prepared.frame``."""
    f = prepared.frame
    return pd.DataFrame({
        "sku": f["sku"], "region": f["region"], "family": f["family"], "period": f["period"],
        "statistical": prepared.statistical.copy(), "consensus": cons, "overridden": touched,
    })


# -- public pure functions -------------------------------------------------------------------
def apply_overrides(statistical: pd.DataFrame | Prepared, overrides: Any = None) -> pd.DataFrame:
    """Consensus frame (sku, region, family, period, statistical, consensus, overridden) per the rules above."""
    prepared = statistical if isinstance(statistical, Prepared) else prepare(statistical)
    cons, touched = run(prepared, ordered(overrides))
    return consensus_frame(prepared, cons, touched)


def preview(statistical: pd.DataFrame | Prepared, overrides: Any,
            new_override: Any) -> pd.DataFrame:
    """Consensus as it would be with `new_override` (an override object or dict) applied after `overrides`, unsaved."""
    prepared = statistical if isinstance(statistical, Prepared) else prepare(statistical)
    cons, touched = run(prepared, ordered(overrides) + _rows([new_override]))
    return consensus_frame(prepared, cons, touched)


def scope_mask(frame: pd.DataFrame, family: Any = None, region: Any = None, sku: Any = None,
               period_from: Any = None, period_to: Any = None) -> pd.Series:
    """Boolean Series: rows of a consensus/statistical frame in the scope (None = all) and period range."""
    m = pd.Series(True, index=frame.index)
    for col, val in (("family", family), ("region", region), ("sku", sku)):
        if not is_blank(val):
            m &= frame[col].astype(str) == str(val)
    period = pd.to_datetime(frame["period"])
    if not is_blank(period_from):
        m &= period >= pd.Timestamp(period_from)
    if not is_blank(period_to):
        m &= period <= pd.Timestamp(period_to)
    return m


def scope_total(frame: pd.DataFrame, family: Any = None, region: Any = None, sku: Any = None,
                period_from: Any = None, period_to: Any = None, column: str = "consensus") -> float:
    """Sum of `column` over the rows of the scope and period range."""
    return float(frame.loc[scope_mask(frame, family, region, sku, period_from, period_to), column].sum())


def totals(consensus: pd.DataFrame, by: Sequence[str] = ("family",)) -> pd.DataFrame:
    """Statistical and consensus summed by `by` (add 'period' for a time series), with the change."""
    by = [by] if isinstance(by, str) else list(by)
    out = (consensus.groupby(by, dropna=False, sort=True)
           .agg(statistical=("statistical", "sum"), consensus=("consensus", "sum"),
                overridden=("overridden", "any"))
           .reset_index())
    out["change"] = out["consensus"] - out["statistical"]
    out["change_pct"] = np.where(out["statistical"] > 0,
                                 100.0 * out["change"] / out["statistical"].where(out["statistical"] > 0, 1.0),
                                 np.nan)
    return out


def ordered(overrides: Any) -> list[dict[str, Any]]:
    """Override rows in application order (created_at, then seq), skipping undo entries and undone ones."""
    if isinstance(overrides, pd.DataFrame):
        return _ordered_frame(overrides)
    rows = [r for r in _rows(overrides) if is_blank(r.get("undoes")) and not bool(r.get("undone") or False)]
    if any(not is_blank(r.get("created_at")) for r in rows):
        def key(item: tuple[int, dict[str, Any]]) -> tuple[Any, ...]:
            i, r = item
            ca, seq = r.get("created_at"), r.get("seq")
            return (pd.Timestamp.min if is_blank(ca) else pd.Timestamp(ca),
                    float("inf") if is_blank(seq) else float(seq), i)
        rows = [r for _, r in sorted(enumerate(rows), key=key)]
    return rows


def _ordered_frame(df: pd.DataFrame) -> list[dict[str, Any]]:
    """`ordered` for a DataFrame, vectorised (the frame from overrides.active can hold hundreds of rows)."""
    missing = [c for c in OVERRIDE_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"overrides frame is missing column(s) {', '.join(missing)}")
    keep = np.ones(len(df), dtype=bool)
    if "undoes" in df.columns:
        keep &= df["undoes"].map(is_blank).to_numpy(bool)
    if "undone" in df.columns:
        keep &= ~df["undone"].fillna(False).astype(bool).to_numpy()
    df = df[keep]
    if "created_at" in df.columns and len(df):
        ca = pd.to_datetime(df["created_at"]).dt.as_unit("ns").to_numpy("int64", na_value=np.iinfo(np.int64).min)
        seq = (pd.to_numeric(df["seq"], errors="coerce").fillna(np.inf).to_numpy(float) if "seq" in df.columns
               else np.zeros(len(df)))
        df = df.iloc[np.lexsort((np.arange(len(df)), seq, ca))]
    cols = [c for c in (*OVERRIDE_COLUMNS, "created_at", "seq") if c in df.columns]
    return [dict(zip(cols, vals)) for vals in zip(*(df[c].tolist() for c in cols))]


def _rows(overrides: Any) -> list[dict[str, Any]]:
    """Overrides as a list of dicts (from a DataFrame, dataclasses or dicts)."""
    if overrides is None:
        return []
    if isinstance(overrides, pd.DataFrame):
        return _ordered_frame(overrides.drop(columns=["created_at", "seq", "undoes", "undone"], errors="ignore"))
    out = []
    for o in overrides if isinstance(overrides, Iterable) else [overrides]:
        if isinstance(o, dict):
            d = dict(o)
        elif dataclasses.is_dataclass(o):
            d = {f.name: getattr(o, f.name) for f in dataclasses.fields(o)}
        else:
            raise TypeError(f"cannot read an override from {type(o).__name__}")
        for c in ("family", "region", "sku", "period_from", "period_to"):
            d.setdefault(c, None)
        out.append(d)
    return out


def is_blank(v: Any) -> bool:
    """True for None, NaN/NaT and empty or whitespace-only text."""
    if v is None:
        return True
    if isinstance(v, str):
        return v.strip() == ""
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _ns(v: Any) -> int:
    if isinstance(v, pd.Timestamp):
        return int(v.as_unit("ns")._value)
    return int(pd.Timestamp(v).as_unit("ns")._value)


# -- persistence -----------------------------------------------------------------------------
def write_consensus(cur: duckdb.DuckDBPyConnection, run_key: str, consensus: pd.DataFrame) -> int:
    """Replace run `run_key`'s rows of table consensus inside the caller's transaction; returns rows written."""
    missing = [c for c in CONSENSUS_COLUMNS if c not in consensus.columns]
    if missing:
        raise ValueError(f"consensus frame is missing column(s) {', '.join(missing)}")
    frame = pd.DataFrame({
        "sku": consensus["sku"].astype(object).to_numpy(), "region": consensus["region"].astype(object).to_numpy(),
        "family": consensus["family"].astype(object).to_numpy(),
        "period": pd.to_datetime(consensus["period"]).to_numpy(),
        "statistical": consensus["statistical"].to_numpy(float), "consensus": consensus["consensus"].to_numpy(float),
        "overridden": consensus["overridden"].to_numpy(bool),
    })
    cur.execute("DELETE FROM consensus WHERE run_key = ?", [run_key])
    cur.register("_consensus_in", frame)
    try:
        cur.execute(
            "INSERT INTO consensus SELECT ?, CAST(sku AS VARCHAR), CAST(region AS VARCHAR), CAST(family AS VARCHAR),"
            " CAST(period AS DATE), statistical, consensus, overridden FROM _consensus_in",
            [run_key],
        )
    finally:
        cur.unregister("_consensus_in")
    return len(frame)


def persist_consensus(ws: Workspace, run_key: str, consensus: pd.DataFrame, author: str | None = None) -> int:
    """Atomically replace the stored consensus of run `run_key`; returns the number of rows."""
    with ws.transaction() as cur:
        rows = write_consensus(cur, run_key, consensus)
        ws.audit(cur, "consensus", run_key, {"rows": rows}, author)
    return rows


def load_consensus(ws: Workspace, run_key: str) -> pd.DataFrame | None:
    """The stored consensus of run `run_key` (CONSENSUS_COLUMNS), or None when none was stored."""
    df = ws.query(
        "SELECT sku, region, family, period, statistical, consensus, overridden FROM consensus"
        " WHERE run_key = ? ORDER BY sku, region, period",
        [run_key],
    )
    if df.empty:
        return None
    df["period"] = pd.to_datetime(df["period"])
    df["overridden"] = df["overridden"].astype(bool)
    return df


def statistical_from_consensus(consensus: pd.DataFrame) -> pd.DataFrame:
    """Rebuild the statistical input frame (sku, region, family, period, value) from a stored consensus."""
    return consensus[["sku", "region", "family", "period", "statistical"]].rename(columns={"statistical": "value"})
