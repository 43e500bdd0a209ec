"""Planner overrides of the statistical forecast: validated, append-only, audited, concurrency-safe.

An override is a scope (family, region, sku: each None for all; a family or a sku is required),
a period range (period_from..period_to, bucket starts, inclusive), a kind and a value:
``percent`` (10.0 = +10%, at least -100) or ``units`` (the TOTAL wanted for the scope in each
period of the range, >= 0), with a reason from the workspace list ``override_reasons`` (edited
with ``set_reasons``: Demand review page, or ``python -m sop_core reasons --set ...``) and an
optional comment; a saved override keeps its reason when that reason later leaves the list.
How overrides combine into the consensus plan is documented in ``sop_core.demand.consensus``.

Table ``overrides`` is append-only: nothing is updated or deleted. Undo appends a new entry whose
``undoes`` names the cancelled override (scope, periods, kind, value and reason copied from it).
``before_units`` / ``after_units`` are the scope's consensus total over the range just before and
after the entry, computed at save. ``seq`` is the save order; ``created_at`` never decreases with it.
``history_table`` shapes the history for the page (whole units, '+10%', 'All' for an open scope).

Saves are safe to repeat and to race:
- ``event_id`` (client-supplied, e.g. one uuid per form render) makes Save idempotent: a second
  save with the same event_id returns the stored override and writes nothing.
- ``expected_latest`` is the override_id the planner's screen showed as the latest entry touching
  the scope (``latest_touching``), or None if none. If another entry touching any of the same
  sku × region × period rows was saved since, ``StaleOverride`` is raised ("changed by alice at
  10:02 — reload to see it") and only an audit event of the refused attempt is written.
- The check, the insert, the audit event and the refreshed consensus of the run are one
  transaction on the workspace's serialised write path, so concurrent saves never interleave.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from sop_core.demand import consensus as cons_mod
from sop_core.demand.review import Scope
from sop_core.formatting import demand as fmt_demand
from sop_core.store import access
from sop_core.store.workspace import Workspace, new_id, retry_write, utcnow

REASONS_SETTING = "override_reasons"
DEFAULT_REASONS: tuple[str, ...] = (
    "Promotion", "New customer", "Lost business", "Price change", "Market intelligence", "Other",
)
KINDS = cons_mod.KINDS
MAX_COMMENT = 2000
MAX_REASON = 60  # characters of one reason code
HISTORY_COLUMNS = (
    "override_id", "created_at", "author", "family", "region", "sku", "period_from", "period_to", "kind",
    "value", "reason", "comment", "before_units", "after_units", "undoes", "undone",
)
HISTORY_TABLE_COLUMNS = (
    "override_id", "created_at", "author", "family", "region", "sku", "periods", "change", "reason",
    "before_units", "after_units", "status", "comment",
)
_RETRIES = 3

_SELECT = """
    SELECT o.override_id, o.created_at, o.author, o.family, o.region, o.sku, o.period_from, o.period_to,
           o.kind, o.value, o.reason, o.comment, o.before_units, o.after_units, o.undoes,
           coalesce(o.override_id IN (SELECT undoes FROM overrides WHERE undoes IS NOT NULL), false) AS undone,
           o.run_key, o.seq, o.event_id
    FROM overrides o
"""


class StaleOverride(RuntimeError):
    """The scope was changed by someone else since the planner's screen was drawn."""

    def __init__(self, message: str, latest: Override) -> None:
        super().__init__(message)
        self.latest = latest
        self.author = latest.author
        self.at = latest.created_at


@dataclass(frozen=True, kw_only=True)
class OverrideInput:
    """What a planner submits: scope, periods, kind, value, reason, comment and an idempotency key."""

    period_from: Any
    period_to: Any
    kind: str
    value: float
    reason: str
    family: str | None = None
    region: str | None = None
    sku: str | None = None
    comment: str | None = None
    event_id: str | None = None


@dataclass(frozen=True)
class Override:
    """One stored entry of table overrides."""

    override_id: str
    run_key: str
    seq: int
    created_at: pd.Timestamp
    author: str
    family: str | None
    region: str | None
    sku: str | None
    period_from: pd.Timestamp
    period_to: pd.Timestamp
    kind: str
    value: float
    reason: str
    comment: str | None
    before_units: float | None
    after_units: float | None
    undoes: str | None
    event_id: str | None

    def scope_label(self) -> str:
        """Readable scope and range, e.g. 'family Bikes, all regions, 2026-01 to 2026-03'."""
        return scope_label(self.family, self.region, self.sku, self.period_from, self.period_to)


# -- reasons ---------------------------------------------------------------------------------
def reasons(ws: Workspace) -> list[str]:
    """The reason codes planners choose from (workspace setting 'override_reasons', else the default)."""
    value = ws.get_setting(REASONS_SETTING)
    if isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
        return [v.strip() for v in value]
    return list(DEFAULT_REASONS)


def clean_reasons(values: Sequence[Any]) -> list[str]:
    """The reason list trimmed and checked (non-empty texts of at most MAX_REASON characters, unique ignoring case)."""
    cleaned: list[str] = []
    for i, v in enumerate(values, start=1):
        if not isinstance(v, str) or not v.strip():
            raise ValueError(f"override reason {i} is empty: give every reason a text, or leave the empty one out")
        text = v.strip()
        if len(text) > MAX_REASON:
            raise ValueError(f"override reason {i} ({text[:20]!r}...) is {len(text)} characters long: keep a reason to "
                             f"{MAX_REASON} characters, and put the detail in the override's comment")
        if text.casefold() in {c.casefold() for c in cleaned}:
            raise ValueError(f"override reason {text!r} is listed twice (reasons are compared ignoring case)")
        cleaned.append(text)
    if not cleaned:
        raise ValueError("the list of override reasons cannot be empty: planners must have a reason to choose")
    return cleaned


def set_reasons(ws: Workspace, values: Sequence[Any], author: str | None = None) -> list[str]:
    """Check and store the reason list (setting 'override_reasons', audit kind 'setting'); returns it.

    Nothing is stored when a value is rejected. Overrides already saved keep their reason.
    """
    cleaned = clean_reasons(values)
    ws.set_setting(REASONS_SETTING, cleaned, author)
    return cleaned


# -- labels ----------------------------------------------------------------------------------
def scope_label(family: Any = None, region: Any = None, sku: Any = None,
                period_from: Any = None, period_to: Any = None) -> str:
    """Readable scope, e.g. 'sku A-1 in family Bikes, region North, 2026-01 to 2026-03'."""
    if not _blank(sku):
        who = f"sku {sku}" + ("" if _blank(family) else f" in family {family}")
    else:
        who = f"family {family}" if not _blank(family) else "all skus"
    where = "all regions" if _blank(region) else f"region {region}"
    parts = [who, where]
    if not _blank(period_from):
        a, b = pd.Timestamp(period_from), pd.Timestamp(period_to)
        parts.append(f"{a:%Y-%m-%d}" if a == b else f"{a:%Y-%m-%d} to {b:%Y-%m-%d}")
    return ", ".join(parts)


def change_label(kind: str, value: float, bucket: str = "month", in_money: bool = False) -> str:
    """The change as a planner reads it: '+10%' / '−5%' (percent), 'set to 500 units/month' (units: the total;
    'set to $1.2M/month' for a history in money)."""
    if kind == "percent":
        v = float(value)
        return ("+" if v > 0 else "−" if v < 0 else "") + f"{abs(v):,.4g}%"
    if kind == "units":
        return f"set to {fmt_demand(value, in_money, with_unit=True)}/{bucket}"
    raise ValueError(f"unknown override kind {kind!r}: use one of {', '.join(KINDS)}")


def periods_label(period_from: Any, period_to: Any, bucket: str = "month") -> str:
    """'Nov 2026–Jan 2027' or 'Nov 2026' (weeks: '02 Nov 2026–16 Nov 2026'); the range is inclusive."""
    fmt = "%b %Y" if bucket == "month" else "%d %b %Y"
    a, b = pd.Timestamp(period_from), pd.Timestamp(period_to)
    return f"{a:{fmt}}" if a == b else f"{a:{fmt}}–{b:{fmt}}"


def summary(family: Any, region: Any, sku: Any, period_from: Any, period_to: Any, kind: str, value: float,
            reason: str, bucket: str = "month", in_money: bool = False) -> str:
    """One line per override: 'Tents · Nov 2026–Jan 2027 · +10% (Promotion)'."""
    scope = Scope(_clean_text(family), _clean_text(region), _clean_text(sku)).label()
    return (f"{scope} · {periods_label(period_from, period_to, bucket)} · "
            f"{change_label(kind, value, bucket, in_money)} ({reason})")


def saved_text(entry: Override, bucket: str = "month", in_money: bool = False) -> str:
    """What a save did: 'Tents · Nov 2026–Jan 2027 · +10% (Promotion): 12,199 → 13,419 units' ('$1.2M → $1.3M' for
    a history in money)."""
    text = summary(entry.family, entry.region, entry.sku, entry.period_from, entry.period_to, entry.kind,
                   entry.value, entry.reason, bucket, in_money)
    if entry.before_units is None or entry.after_units is None:
        return text
    before, after = (fmt_demand(x, in_money, with_unit=True) for x in (entry.before_units, entry.after_units))
    return f"{text}: {before.removesuffix(' units')} → {after}"


def history_table(history: pd.DataFrame, bucket: str = "month", in_money: bool = False) -> pd.DataFrame:
    """The override history (`history` frame) as the page shows it: HISTORY_TABLE_COLUMNS, same row order.

    family, region, sku: text; region and sku 'All' when the override covers all of them, family blank
    when a sku names the scope. periods: `periods_label`; change: `change_label`; comment: blank when
    none; before_units / after_units: whole units (Int64, <NA> when not recorded); status: 'In force',
    'Undone' (cancelled by a later entry) or 'Undo' (the entry cancelling another).
    """
    missing = [c for c in HISTORY_COLUMNS if c not in history.columns]
    if missing:
        raise ValueError(f"override history is missing columns: {', '.join(missing)}")

    def text(col: str, empty: str) -> pd.Series:
        return history[col].map(lambda v: empty if _blank(v) else str(v))

    def whole(col: str) -> pd.Series:
        return pd.to_numeric(history[col], errors="coerce").round(0).astype("Int64")

    undo_entry = history["undoes"].map(lambda v: not _blank(v))
    status = pd.Series("In force", index=history.index, dtype=object)
    status[history["undone"].astype(bool)] = "Undone"
    status[undo_entry] = "Undo"
    out = pd.DataFrame({
        "override_id": history["override_id"],
        "created_at": pd.to_datetime(history["created_at"]),
        "author": text("author", ""),
        "family": text("family", ""),
        "region": text("region", "All"),
        "sku": text("sku", "All"),
        "periods": [periods_label(a, b, bucket) for a, b in zip(history["period_from"], history["period_to"])],
        "change": [change_label(k, v, bucket, in_money) for k, v in zip(history["kind"], history["value"])],
        "reason": text("reason", ""),
        "before_units": whole("before_units"),
        "after_units": whole("after_units"),
        "status": status,
        "comment": text("comment", ""),
    }, index=history.index)
    return out[list(HISTORY_TABLE_COLUMNS)]


def undoable(history: pd.DataFrame) -> pd.DataFrame:
    """The entries of `history` (as from `history`) that can still be undone: in force and not an undo themselves."""
    return history[history["undoes"].isna() & ~history["undone"].astype(bool)]


def unit_edits(before: pd.DataFrame, after: pd.DataFrame, reason: str, *, region: str | None = None,
               comment: str | None = None) -> list[OverrideInput]:
    """One units override per changed cell of a sku × period grid (index sku, one column per period start).

    `after` is `before` as edited; a cell counts as changed when its value differs (NaN equals NaN).
    The overrides set the cell's units for that sku and period, in `region` (None: all regions).
    """
    b = before.astype(float)
    a = after.reindex(index=b.index, columns=b.columns).astype(float)
    changed = (a != b) & ~(a.isna() & b.isna())
    cells = changed.stack()
    cells = cells[cells]
    return [OverrideInput(period_from=period, period_to=period, kind="units", value=float(a.at[sku, period]),
                          reason=reason, sku=sku, region=region, comment=comment or None)
            for sku, period in cells.index]


def _when(ts: Any) -> str:
    t = pd.Timestamp(ts)
    return f"{t:%H:%M}" if t.date() == utcnow().date() else f"{t:%Y-%m-%d %H:%M}"


# -- validation ------------------------------------------------------------------------------
def _blank(v: Any) -> bool:
    return cons_mod.is_blank(v)


def _clean_text(v: Any) -> str | None:
    return None if _blank(v) else str(v).strip()


def validate(ws: Workspace, override: OverrideInput, author: str,
             prepared: cons_mod.Prepared | None = None) -> OverrideInput:
    """Check an override (and its scope against the forecast when given); return it normalised or raise ValueError."""
    if _blank(author):
        raise ValueError("author is required: who is making this override?")
    family, region, sku = (_clean_text(override.family), _clean_text(override.region), _clean_text(override.sku))
    if family is None and sku is None:
        raise ValueError("choose a family or a sku: an override needs at least one of them")
    if override.kind not in KINDS:
        raise ValueError(f"unknown override kind {override.kind!r}: use 'percent' or 'units'")
    try:
        value = float(override.value)
    except (TypeError, ValueError):
        raise ValueError(f"override value {override.value!r} is not a number") from None
    if isinstance(override.value, bool) or not math.isfinite(value):
        raise ValueError(f"override value {override.value!r} is not a finite number")
    if override.kind == "percent" and value < -100:
        raise ValueError(f"percent change {value:g}% is below -100%: demand cannot go below zero")
    if override.kind == "units" and value < 0:
        raise ValueError(
            f"units {value:g} is negative: units is the total wanted for the scope in each period, 0 or more"
        )
    if _blank(override.period_from) or _blank(override.period_to):
        raise ValueError("choose the first and last period of the override")
    try:
        p_from, p_to = pd.Timestamp(override.period_from), pd.Timestamp(override.period_to)
    except (TypeError, ValueError):
        raise ValueError(f"periods {override.period_from!r} .. {override.period_to!r} are not dates") from None
    if p_to < p_from:
        raise ValueError(f"empty period range: the last period {p_to:%Y-%m-%d} is before the first {p_from:%Y-%m-%d}")
    allowed = reasons(ws)
    if _blank(override.reason):
        raise ValueError(f"a reason is required: choose one of {', '.join(allowed)}")
    match = [r for r in allowed if r.casefold() == str(override.reason).strip().casefold()]
    if not match:
        raise ValueError(
            f"unknown reason {override.reason!r}: choose one of {', '.join(allowed)} "
            f"(the list is the workspace setting '{REASONS_SETTING}')"
        )
    comment = _clean_text(override.comment)
    if comment is not None and len(comment) > MAX_COMMENT:
        raise ValueError(f"comment is {len(comment)} characters long: keep it under {MAX_COMMENT}")
    out = OverrideInput(period_from=p_from, period_to=p_to, kind=override.kind, value=value, reason=match[0],
                        family=family, region=region, sku=sku, comment=comment,
                        event_id=_clean_text(override.event_id))
    if prepared is not None:
        periods = prepared.periods()
        for name, p in (("first", p_from), ("last", p_to)):
            if len(periods) and periods[0] <= p <= periods[-1] and p not in periods:
                raise ValueError(
                    f"the {name} period {p:%Y-%m-%d} is not a period start of this forecast: periods are "
                    f"identified by their first day, e.g. {periods[0]:%Y-%m-%d}"
                )
        if not prepared.mask(family, region, sku, p_from, p_to).any():
            raise ValueError(
                f"the override matches no forecast rows ({scope_label(family, region, sku, p_from, p_to)}): "
                "check the family, sku and region, and that the periods are inside the forecast horizon"
            )
    return out


# -- reads -----------------------------------------------------------------------------------
def _query(source: Workspace | Any, where: str = "", params: list[Any] | None = None,
           order: str = "o.seq") -> pd.DataFrame:
    """Override entries from the workspace (fresh cursor) or from a transaction's cursor."""
    sql = f"{_SELECT} {where} ORDER BY {order}"
    if isinstance(source, Workspace):
        df = source.query(sql, params or [])
    else:
        df = source.execute(sql, params or []).df()
    for c in ("created_at", "period_from", "period_to"):
        df[c] = pd.to_datetime(df[c])
    df["undone"] = df["undone"].astype(bool)
    return df


def history(ws: Workspace, run_key: str | None = None) -> pd.DataFrame:
    """Every entry, newest first: HISTORY_COLUMNS, then run_key, seq, event_id (one run when given)."""
    if run_key is None:
        return _query(ws, order="o.seq DESC")
    return _query(ws, "WHERE o.run_key = ?", [run_key], order="o.seq DESC")


def active_on(cur: Workspace | Any, run_key: str | None = None) -> pd.DataFrame:
    """Overrides in effect (not undo entries, not undone), oldest first, read on a transaction's cursor."""
    where = "WHERE o.undoes IS NULL AND NOT undone"
    if run_key is None:
        return _query(cur, where)
    return _query(cur, where + " AND o.run_key = ?", [run_key])


def active(ws: Workspace, run_key: str | None = None) -> pd.DataFrame:
    """Overrides in effect, in application order; run_key=None: all runs (what the consensus uses)."""
    return active_on(ws, run_key)


def get(ws: Workspace, override_id: str) -> Override | None:
    """One stored entry by id, or None."""
    df = _query(ws, "WHERE o.override_id = ?", [override_id])
    return _to_override(df.iloc[0]) if len(df) else None


def latest_touching(ws: Workspace, statistical: pd.DataFrame | cons_mod.Prepared,
                    override: OverrideInput) -> Override | None:
    """The newest entry (override or undo, any run) touching the rows of `override`'s scope and range.

    Pass its override_id back as ``expected_latest`` when saving.
    """
    prepared = statistical if isinstance(statistical, cons_mod.Prepared) else cons_mod.prepare(statistical)
    return latest_touching_in(prepared, history(ws), override)


def latest_touching_in(prepared: cons_mod.Prepared, stored: pd.DataFrame, ov: OverrideInput) -> Override | None:
    """Newest entry of `stored` whose sku × region × period rows intersect those of `ov`."""
    if stored.empty:
        return None
    p_from, p_to = pd.Timestamp(ov.period_from), pd.Timestamp(ov.period_to)
    target = prepared.mask(ov.family, ov.region, ov.sku, p_from, p_to)
    if not target.any():
        return None
    cand = stored[(stored["period_from"] <= p_to) & (stored["period_to"] >= p_from)]
    for col, val in (("family", ov.family), ("region", ov.region), ("sku", ov.sku)):
        if not _blank(val):
            cand = cand[cand[col].isna() | (cand[col] == val)]
    for _, row in cand.sort_values("seq", ascending=False).iterrows():
        m = prepared.mask(row["family"], row["region"], row["sku"], row["period_from"], row["period_to"])
        if (m & target).any():
            return _to_override(row)
    return None


def _to_override(row: pd.Series) -> Override:
    def opt_str(v: Any) -> str | None:
        return None if _blank(v) else str(v)

    def opt_float(v: Any) -> float | None:
        return None if _blank(v) else float(v)

    return Override(
        override_id=str(row["override_id"]), run_key=str(row["run_key"]), seq=int(row["seq"]),
        created_at=pd.Timestamp(row["created_at"]), author=str(row["author"]),
        family=opt_str(row["family"]), region=opt_str(row["region"]), sku=opt_str(row["sku"]),
        period_from=pd.Timestamp(row["period_from"]), period_to=pd.Timestamp(row["period_to"]),
        kind=str(row["kind"]), value=float(row["value"]), reason=str(row["reason"]),
        comment=opt_str(row["comment"]), before_units=opt_float(row["before_units"]),
        after_units=opt_float(row["after_units"]), undoes=opt_str(row["undoes"]),
        event_id=opt_str(row["event_id"]),
    )


def _by_event(cur: Any, event_id: str | None) -> Override | None:
    if event_id is None:
        return None
    df = _query(cur, "WHERE o.event_id = ?", [event_id])
    return _to_override(df.iloc[0]) if len(df) else None


# -- writes ----------------------------------------------------------------------------------
def _insert(cur: Any, stored: pd.DataFrame, *, run_key: str, author: str, ov: OverrideInput,
            before: float | None, after: float | None, undoes: str | None) -> Override:
    seq = int(stored["seq"].max()) + 1 if len(stored) else 1
    now = utcnow()
    if len(stored):
        last = pd.Timestamp(stored["created_at"].max()).to_pydatetime()
        now = max(now, last)  # created_at follows save order even if the clock steps back
    entry = Override(
        override_id=new_id(), run_key=run_key, seq=seq, created_at=pd.Timestamp(now), author=author.strip(),
        family=ov.family, region=ov.region, sku=ov.sku,
        period_from=pd.Timestamp(ov.period_from), period_to=pd.Timestamp(ov.period_to),
        kind=ov.kind, value=float(ov.value), reason=ov.reason, comment=ov.comment,
        before_units=before, after_units=after, undoes=undoes, event_id=ov.event_id,
    )
    cur.execute(
        "INSERT INTO overrides (override_id, run_key, seq, created_at, author, family, region, sku, period_from,"
        " period_to, kind, value, reason, comment, before_units, after_units, undoes, event_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [entry.override_id, run_key, seq, _py(entry.created_at), entry.author, entry.family, entry.region,
         entry.sku, entry.period_from.date(), entry.period_to.date(), entry.kind, entry.value, entry.reason,
         entry.comment, before, after, undoes, entry.event_id],
    )
    return entry


def _py(ts: pd.Timestamp) -> datetime:
    return ts.to_pydatetime()


def _detail(entry: Override) -> dict[str, Any]:
    d = asdict(entry)
    return {k: (str(v) if isinstance(v, pd.Timestamp) else v) for k, v in d.items()}


def _retrying(fn: Any, event_id: str | None, ws: Workspace) -> Any:
    """Run a write, retrying DuckDB commit conflicts; a duplicate event_id returns the stored entry."""
    return retry_write(fn, lambda: _by_event(ws, event_id) if event_id is not None else None, _RETRIES)


def save_override(ws: Workspace, run_key: str, statistical: pd.DataFrame | cons_mod.Prepared,
                  override: OverrideInput, author: str, expected_latest: str | None = None) -> Override:
    """Validate and append an override, record before/after units, audit it and refresh the run's consensus.

    Raises ValueError for invalid input and StaleOverride when another entry touching the scope
    was saved after `expected_latest`. A repeated event_id returns the stored override.
    """
    if not run_key or not str(run_key).strip():
        raise ValueError("run_key is required: which forecast run is this override made on?")
    prepared = statistical if isinstance(statistical, cons_mod.Prepared) else cons_mod.prepare(statistical)
    ov = validate(ws, override, author, prepared)
    target = prepared.mask(ov.family, ov.region, ov.sku, ov.period_from, ov.period_to)

    def write() -> Override:
        refused: StaleOverride | None = None
        with ws.transaction() as cur:
            existing = _by_event(cur, ov.event_id)
            if existing is not None:
                return existing
            stored = _query(cur)
            latest = latest_touching_in(prepared, stored, ov)
            if latest is not None and latest.override_id != expected_latest:
                refused = StaleOverride(
                    f"{scope_label(ov.family, ov.region, ov.sku, ov.period_from, ov.period_to)} was changed by "
                    f"{latest.author} at {_when(latest.created_at)} — reload to see it",
                    latest,
                )
                ws.audit(cur, "override_refused", latest.override_id, {
                    "reason": "stale", "expected_latest": expected_latest, "latest": latest.override_id,
                    "latest_author": latest.author, "run_key": run_key,
                    "attempt": {k: (str(v) if isinstance(v, pd.Timestamp) else v) for k, v in asdict(ov).items()},
                }, author)
            else:
                act = stored[stored["undoes"].isna() & ~stored["undone"]]
                cons, touched = cons_mod.run(prepared, cons_mod.ordered(act))
                before = float(cons[target].sum())
                cons_mod.apply_one(prepared, cons, target, ov.kind, ov.value)
                after = float(cons[target].sum())
                entry = _insert(cur, stored, run_key=run_key, author=author, ov=ov, before=before, after=after,
                                undoes=None)
                ws.audit(cur, "override", entry.override_id, _detail(entry), entry.author)
                cons_mod.write_consensus(cur, run_key, cons_mod.consensus_frame(prepared, cons, touched | target))
        if refused is not None:
            raise refused
        return entry

    return _retrying(write, ov.event_id, ws)


def undo(ws: Workspace, override_id: str, author: str, *, run_key: str | None = None,
         statistical: pd.DataFrame | cons_mod.Prepared | None = None, comment: str | None = None,
         event_id: str | None = None) -> Override:
    """Append an entry cancelling `override_id`; records before/after units and refreshes the run's consensus.

    The run is `run_key` (default: the override's own run) and its forecast `statistical`
    (default: rebuilt from that run's stored consensus; before/after stay empty when none is stored).
    """
    if _blank(author):
        raise ValueError("author is required: who is undoing this override?")
    event_id = _clean_text(event_id)
    prepared_arg = (statistical if isinstance(statistical, cons_mod.Prepared) or statistical is None
                    else cons_mod.prepare(statistical))

    def write() -> Override:
        with ws.transaction() as cur:
            existing = _by_event(cur, event_id)
            if existing is not None:
                return existing
            stored = _query(cur)
            hit = stored[stored["override_id"] == override_id]
            if hit.empty:
                raise ValueError(f"no override {override_id!r} in this workspace")
            target = _to_override(hit.iloc[0])
            if target.undoes is not None:
                raise ValueError("this entry is itself an undo: save the override again to restore it")
            if bool(hit.iloc[0]["undone"]):
                by = stored[stored["undoes"] == override_id].iloc[0]
                raise ValueError(
                    f"this override was already undone by {by['author']} at {_when(by['created_at'])} — reload to see it"
                )
            rk = run_key or target.run_key
            prepared = prepared_arg
            if prepared is None:
                stored_cons = cur.execute(
                    "SELECT sku, region, family, period, statistical AS value FROM consensus WHERE run_key = ?", [rk]
                ).df()
                prepared = cons_mod.prepare(stored_cons) if len(stored_cons) else None
            before = after = None
            frame = None
            if prepared is not None:
                act = stored[stored["undoes"].isna() & ~stored["undone"]]
                mask = prepared.mask(target.family, target.region, target.sku, target.period_from, target.period_to)
                cons_before, _ = cons_mod.run(prepared, cons_mod.ordered(act))
                cons_after, touched = cons_mod.run(prepared, cons_mod.ordered(act[act["override_id"] != override_id]))
                before, after = float(cons_before[mask].sum()), float(cons_after[mask].sum())
                frame = cons_mod.consensus_frame(prepared, cons_after, touched)
            ov = OverrideInput(period_from=target.period_from, period_to=target.period_to, kind=target.kind,
                               value=target.value, reason=target.reason, family=target.family,
                               region=target.region, sku=target.sku, comment=_clean_text(comment), event_id=event_id)
            entry = _insert(cur, stored, run_key=rk, author=author, ov=ov, before=before, after=after,
                            undoes=override_id)
            ws.audit(cur, "override_undo", entry.override_id, _detail(entry), entry.author)
            if frame is not None:
                cons_mod.write_consensus(cur, rk, frame)
        return entry

    return _retrying(write, event_id, ws)


def count(ws: Workspace) -> int:
    """Number of stored entries (overrides and undos)."""
    return int(ws.scalar("SELECT count(*) FROM overrides") or 0)


def latest_id(ws: Workspace) -> str | None:
    """The override_id of the newest entry (highest seq; undos too), None when there is none.

    The table is append-only, so this one id names every override in force (one indexed query).
    """
    value = ws.scalar("SELECT override_id FROM overrides ORDER BY seq DESC LIMIT 1")
    return None if value is None else str(value)


__all__ = [
    "DEFAULT_REASONS", "HISTORY_COLUMNS", "HISTORY_TABLE_COLUMNS", "MAX_REASON", "Override", "OverrideInput",
    "StaleOverride", "active", "active_on", "change_label", "clean_reasons", "count", "get", "history",
    "history_table", "latest_id", "latest_touching", "periods_label", "reasons", "save_override", "saved_text",
    "scope_label", "set_reasons", "summary", "undo", "validate",
]


def refresh_consensus(ws: Workspace, run_key: str, statistical: pd.DataFrame, author: str | None = None) -> pd.DataFrame:
    """Apply every active override (all runs: carry-forward) to `statistical` and store it as run `run_key`.

    Reading the overrides and writing the consensus happen in one transaction, so a save made at
    the same time is either included or applied after (``save_override`` refreshes too).
    """
    prepared = statistical if isinstance(statistical, cons_mod.Prepared) else cons_mod.prepare(statistical)
    with ws.transaction() as cur:
        cons = cons_mod.apply_overrides(prepared, active_on(cur, None))
        rows = cons_mod.write_consensus(cur, run_key, cons)
        ws.audit(cur, "consensus", run_key, {"rows": rows, "refresh": True}, author)
    return cons


def run_consensus(ws: Workspace, run_key: str,
                  statistical: Callable[[], pd.DataFrame | cons_mod.Prepared | None], *,
                  store: bool | None = None, author: str | None = None) -> pd.DataFrame | None:
    """The consensus of run `run_key`: the stored one, else computed from the run's forecast (stored if allowed).

    Columns `consensus.CONSENSUS_COLUMNS`: sku, region, family, period, statistical, consensus, overridden.

    When none is stored, `statistical()` gives the run's statistical forecast (called only then, so a
    caller can build it lazily) and every active override is applied to it. store=True stores that
    consensus (`refresh_consensus`, audited as `author`); store=False computes it in memory only;
    store=None (default) stores it when the acting user's role may write 'consensus' events
    (`access.allowed`), so a viewer reads the consensus without writing. None when nothing is stored
    and `statistical()` gives None.
    """
    cons = cons_mod.load_consensus(ws, run_key)
    if cons is not None:
        return cons
    stat = statistical()
    if stat is None:
        return None
    if store is None:
        store = access.allowed(access.current(), "consensus")
    if store:
        return refresh_consensus(ws, run_key, stat, author)
    return cons_mod.apply_overrides(stat, active(ws))
