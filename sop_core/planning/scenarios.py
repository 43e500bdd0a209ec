"""Scenarios: named sets of changes over the baseline plan, stored in the workspace; they never edit uploaded data.

A scenario holds four lists of changes and a note:

* demand: family | None, region | None, period_from | None, period_to | None (months, inclusive;
  None = open end), pct. The consensus units of the rows in scope are scaled by (1 + pct/100).
* price: family | None, pct. unit_price (the list price of the products table) of the family's
  skus is scaled by (1 + pct/100); the plan months are valued at it, actuals keep their revenue.
* capacity: resource | None, period_from | None, period_to | None, pct. available_hours and
  capacity_units of the resource are scaled by (1 + pct/100).
* overrides: extra overrides (family, region, sku, period_from, period_to, kind 'percent' | 'units',
  value, optional reason) applied after the baseline consensus with ``consensus.apply_overrides``
  semantics (a units override sets the scope's total per period, a percent one scales it).

``pct`` is in percent points: 10 means +10 %, -3 means -3 %. None for family / region / resource
means all. Several changes of one kind compound in the order given. How the changes turn into
plan inputs is ``plan.apply_scenario``'s job; this module validates, stores and reads them.

Bounds (ValueError, saying which change and what is allowed): demand pct from -100 to 1000,
price pct above -100 up to 1000, capacity pct from -100 to 1000; override percent >= -100,
units >= 0; period_from <= period_to; names and scope values up to 200 characters; at most
MAX_CHANGES changes of each kind. Names that match nothing in the data (a family, region, sku or
resource the workspace does not know) are not errors: they are returned as warnings
(``check_names``, ``Scenario.warnings`` on create), because such a change changes nothing.

Table ``scenarios`` (migration 040_scenarios): scenario_id (PK), name, author, created_at, changes
(JSON of ``Changes.to_dict``), note, base_fingerprint (``Workspace.fingerprint()`` at creation),
event_id (UNIQUE, makes create idempotent), archived_at. Every create and archive writes an
audit event ('scenario', 'scenario_archive') in the same transaction.

Ids are ``secrets.token_urlsafe(16)``: 22 characters of A-Z a-z 0-9 _ -, 128 random bits, neither
a counter nor a content hash, because share links carry them. ``get`` checks the id against a
strict pattern before any query, queries with parameters and never raises: a malformed, tampered
or unknown id gives None.
"""
from __future__ import annotations

import json
import logging
import math
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from sop_core.demand.consensus import KINDS, is_blank
from sop_core.store.workspace import Workspace, utcnow

log = logging.getLogger(__name__)

ID_BYTES = 16
ID_LENGTH = 22  # len(secrets.token_urlsafe(16))
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{22}", re.ASCII)
MAX_NAME = 120
MAX_NOTE = 2000
MAX_TEXT = 200
MAX_CHANGES = 100
DEMAND_PCT = (-100.0, 1000.0)  # inclusive
PRICE_PCT = (-100.0, 1000.0)  # lower bound exclusive: a price cannot drop to zero
CAPACITY_PCT = (-100.0, 1000.0)  # inclusive
CHANGE_KINDS: tuple[str, ...] = ("demand", "price", "capacity", "overrides")

_COLUMNS = "scenario_id, name, author, created_at, changes, note, base_fingerprint, event_id, archived_at"


# -- the changes ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class DemandChange:
    """Consensus units × (1 + pct/100) for a family and region (None = all) over months period_from..period_to."""

    pct: float
    family: str | None = None
    region: str | None = None
    period_from: pd.Timestamp | None = None
    period_to: pd.Timestamp | None = None


@dataclass(frozen=True)
class PriceChange:
    """unit_price × (1 + pct/100) for the skus of a family (None = all)."""

    pct: float
    family: str | None = None


@dataclass(frozen=True)
class CapacityChange:
    """available_hours and capacity_units × (1 + pct/100) for a resource (None = all) over months period_from..period_to."""

    pct: float
    resource: str | None = None
    period_from: pd.Timestamp | None = None
    period_to: pd.Timestamp | None = None


@dataclass(frozen=True)
class ScenarioOverride:
    """An extra override applied on top of the baseline consensus (consensus.apply_overrides semantics)."""

    kind: str
    value: float
    period_from: pd.Timestamp
    period_to: pd.Timestamp
    family: str | None = None
    region: str | None = None
    sku: str | None = None
    reason: str | None = None

    def as_override(self) -> dict[str, Any]:
        """The override as the consensus engine reads it (family, region, sku, period_from, period_to, kind, value)."""
        return {"family": self.family, "region": self.region, "sku": self.sku, "period_from": self.period_from,
                "period_to": self.period_to, "kind": self.kind, "value": self.value}


@dataclass(frozen=True)
class Changes:
    """Everything a scenario changes over the baseline; build with `parse_changes` to validate."""

    demand: tuple[DemandChange, ...] = ()
    price: tuple[PriceChange, ...] = ()
    capacity: tuple[CapacityChange, ...] = ()
    overrides: tuple[ScenarioOverride, ...] = ()

    def is_empty(self) -> bool:
        """True when the scenario changes nothing."""
        return not (self.demand or self.price or self.capacity or self.overrides)

    def to_dict(self) -> dict[str, list[dict[str, Any]]]:
        """JSON-ready dict: {'demand': [...], 'price': [...], 'capacity': [...], 'overrides': [...]}, dates as YYYY-MM-DD."""
        return {kind: [_jsonable(asdict(c)) for c in getattr(self, kind)] for kind in CHANGE_KINDS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Changes:
        """Validated Changes from a dict like `to_dict`'s (raises ValueError)."""
        return parse_changes(data)


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.strftime("%Y-%m-%d") if isinstance(v, (pd.Timestamp, datetime)) else v) for k, v in d.items()}


def _item_dict(item: Any, where: str) -> dict[str, Any]:
    if isinstance(item, Mapping):
        return dict(item)
    if is_dataclass(item) and not isinstance(item, type):
        return {f.name: getattr(item, f.name) for f in fields(item)}
    raise ValueError(f"{where}: expected a dict of fields, got {type(item).__name__}")


def _reject_unknown(d: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    unknown = sorted(str(k) for k in d if k not in set(allowed))
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; "
                         f"use {', '.join(allowed)}")


def _text(v: Any, what: str, where: str, limit: int = MAX_TEXT) -> str | None:
    """Optional text: stripped, None when blank; raises when not text or too long."""
    if is_blank(v):
        return None
    if not isinstance(v, str):
        raise ValueError(f"{where}: {what} must be text, got {v!r}")
    v = v.strip()
    if len(v) > limit:
        raise ValueError(f"{where}: {what} is {len(v)} characters long; keep it to {limit}")
    return v


def _number(v: Any, what: str, where: str) -> float:
    if isinstance(v, bool) or v is None:
        raise ValueError(f"{where}: {what} must be a number, got {v!r}")
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {what} must be a number, got {v!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"{where}: {what} must be a finite number, got {v!r}")
    return x


def _pct(v: Any, bounds: tuple[float, float], where: str, lower_open: bool = False) -> float:
    x = _number(v, "pct", where)
    lo, hi = bounds
    if (x <= lo if lower_open else x < lo) or x > hi:
        low = f"above {lo:g}" if lower_open else f"from {lo:g}"
        raise ValueError(f"{where}: pct must be {low} to {hi:g} (percent points: 10 means +10%), got {x:g}")
    return x


def _date(v: Any, what: str, where: str, month: bool) -> pd.Timestamp | None:
    """Optional date; the month start when `month`."""
    if is_blank(v):
        return None
    if isinstance(v, bool) or not (isinstance(v, (str, np.datetime64)) or hasattr(v, "year")):
        raise ValueError(f"{where}: {what} {v!r} is not a date (use YYYY-MM or YYYY-MM-DD)")
    try:
        ts = pd.Timestamp(v)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {what} {v!r} is not a date (use YYYY-MM or YYYY-MM-DD)") from None
    if pd.isna(ts):
        return None
    ts = ts.tz_localize(None) if ts.tzinfo is not None else ts
    ts = ts.normalize()
    return ts.to_period("M").to_timestamp() if month else ts


def _range(d: Mapping[str, Any], where: str, month: bool, required: bool = False) -> tuple[Any, Any]:
    p_from = _date(d.get("period_from"), "period_from", where, month)
    p_to = _date(d.get("period_to"), "period_to", where, month)
    if required and (p_from is None or p_to is None):
        raise ValueError(f"{where}: choose the first and last period (period_from, period_to)")
    if p_from is not None and p_to is not None and p_to < p_from:
        raise ValueError(f"{where}: empty period range: period_to {p_to:%Y-%m-%d} is before "
                         f"period_from {p_from:%Y-%m-%d}")
    return p_from, p_to


def _parse_demand(d: Mapping[str, Any], where: str) -> DemandChange:
    _reject_unknown(d, ("pct", "family", "region", "period_from", "period_to"), where)
    p_from, p_to = _range(d, where, month=True)
    return DemandChange(pct=_pct(d.get("pct"), DEMAND_PCT, where), family=_text(d.get("family"), "family", where),
                        region=_text(d.get("region"), "region", where), period_from=p_from, period_to=p_to)


def _parse_price(d: Mapping[str, Any], where: str) -> PriceChange:
    _reject_unknown(d, ("pct", "family"), where)
    return PriceChange(pct=_pct(d.get("pct"), PRICE_PCT, where, lower_open=True),
                       family=_text(d.get("family"), "family", where))


def _parse_capacity(d: Mapping[str, Any], where: str) -> CapacityChange:
    _reject_unknown(d, ("pct", "resource", "period_from", "period_to"), where)
    p_from, p_to = _range(d, where, month=True)
    return CapacityChange(pct=_pct(d.get("pct"), CAPACITY_PCT, where),
                          resource=_text(d.get("resource"), "resource", where), period_from=p_from, period_to=p_to)


def _parse_override(d: Mapping[str, Any], where: str) -> ScenarioOverride:
    _reject_unknown(d, ("kind", "value", "period_from", "period_to", "family", "region", "sku", "reason"), where)
    kind = d.get("kind")
    if kind not in KINDS:
        raise ValueError(f"{where}: kind must be 'percent' or 'units', got {kind!r}")
    value = _number(d.get("value"), "value", where)
    if kind == "percent" and value < -100:
        raise ValueError(f"{where}: percent change {value:g}% is below -100%: demand cannot go below zero")
    if kind == "units" and value < 0:
        raise ValueError(f"{where}: units {value:g} is negative: units is the total wanted for the scope in each "
                         "period, 0 or more")
    p_from, p_to = _range(d, where, month=False, required=True)
    return ScenarioOverride(kind=str(kind), value=value, period_from=p_from, period_to=p_to,
                            family=_text(d.get("family"), "family", where),
                            region=_text(d.get("region"), "region", where), sku=_text(d.get("sku"), "sku", where),
                            reason=_text(d.get("reason"), "reason", where))


_PARSERS = {"demand": ("demand change", _parse_demand), "price": ("price change", _parse_price),
            "capacity": ("capacity change", _parse_capacity), "overrides": ("override", _parse_override)}


def parse_changes(changes: Changes | Mapping[str, Any] | None) -> Changes:
    """Validate scenario changes given as `Changes` or a dict of lists (keys demand, price, capacity, overrides).

    Items may be dicts or the change dataclasses. Raises ValueError naming the change ('demand change 2: ...').
    """
    if changes is None:
        return Changes()
    if isinstance(changes, Changes):
        data: Mapping[str, Any] = {k: list(getattr(changes, k)) for k in CHANGE_KINDS}
    elif isinstance(changes, Mapping):
        data = changes
    else:
        raise ValueError(f"changes must be a dict with keys {', '.join(CHANGE_KINDS)}, got {type(changes).__name__}")
    unknown = [str(k) for k in data if k not in CHANGE_KINDS]
    if unknown:
        raise ValueError(f"unknown change type(s) {', '.join(map(repr, unknown))}: use {', '.join(CHANGE_KINDS)}")
    out: dict[str, tuple[Any, ...]] = {}
    for kind in CHANGE_KINDS:
        items = data.get(kind) or []
        if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
            raise ValueError(f"{kind}: expected a list of changes, got {type(items).__name__}")
        items = list(items)
        if len(items) > MAX_CHANGES:
            raise ValueError(f"{kind}: {len(items)} changes; at most {MAX_CHANGES} of each kind")
        label, parse = _PARSERS[kind]
        out[kind] = tuple(parse(_item_dict(item, f"{label} {i}"), f"{label} {i}") for i, item in enumerate(items, 1))
    return Changes(**out)


# -- changes entered as table rows (the Scenarios page's editors) -------------------------------
ROW_FIELDS: dict[str, tuple[str, ...]] = {
    "demand": ("family", "region", "period_from", "period_to", "pct"),
    "price": ("family", "pct"),
    "capacity": ("resource", "period_from", "period_to", "pct"),
    "overrides": ("family", "region", "sku", "period_from", "period_to", "kind", "value", "reason"),
}
_SCOPE_FIELDS = ("family", "region", "sku", "resource")


def changes_from_rows(kind: str, rows: pd.DataFrame | None, all_label: str | None = None) -> list[dict[str, Any]]:
    """Change dicts of `kind` (as `parse_changes` reads them) from table rows with the columns ROW_FIELDS[kind].

    Blank cells (None, NaN, empty text) become None and rows with every cell blank are skipped; a scope cell
    (family, region, sku, resource) equal to `all_label` means all (None). Other columns are ignored. The values
    are not checked here: `parse_changes` (so `create`) does that, numbering the changes in the order given.
    """
    if kind not in ROW_FIELDS:
        raise ValueError(f"unknown change type {kind!r}: use {', '.join(CHANGE_KINDS)}")
    if rows is None or not len(rows):
        return []
    cols = ROW_FIELDS[kind]
    missing = [c for c in cols if c not in rows.columns]
    if missing:
        raise ValueError(f"{kind} rows: missing column(s) {', '.join(missing)}; expected {', '.join(cols)}")
    out = []
    for rec in rows[list(cols)].to_dict("records"):
        d = {k: None if is_blank(v) else v for k, v in rec.items()}
        if all(v is None for v in d.values()):
            continue
        out.append({k: None if k in _SCOPE_FIELDS and all_label is not None and v == all_label else v
                    for k, v in d.items()})
    return out


# -- warnings: names that match nothing ---------------------------------------------------------
def check_names(changes: Changes, families: Iterable[str] | None = None, regions: Iterable[str] | None = None,
                resources: Iterable[str] | None = None, skus: Iterable[str] | None = None) -> list[str]:
    """Warnings for names the data does not know (such a change changes nothing); None skips a check."""
    known = {k: (None if v is None else {str(x) for x in v if not is_blank(x)})
             for k, v in (("family", families), ("region", regions), ("resource", resources), ("sku", skus))}
    out: list[str] = []

    def look(where: str, what: str, value: str | None) -> None:
        names = known[what]
        if value is not None and names is not None and value not in names:
            out.append(f"{where}: {what} {value!r} is not in the data, so this change changes nothing")

    for i, d in enumerate(changes.demand, 1):
        look(f"demand change {i}", "family", d.family)
        look(f"demand change {i}", "region", d.region)
    for i, p in enumerate(changes.price, 1):
        look(f"price change {i}", "family", p.family)
    for i, c in enumerate(changes.capacity, 1):
        look(f"capacity change {i}", "resource", c.resource)
    for i, o in enumerate(changes.overrides, 1):
        for what in ("family", "region", "sku"):
            look(f"override {i}", what, getattr(o, what))
    if changes.is_empty():
        out.append("the scenario has no changes: it equals the baseline")
    return out


def known_names(ws: Workspace) -> dict[str, list[str] | None]:
    """Families, regions, resources and skus in the workspace's data (None when no loaded table tells).

    families: products (else sales: family, or the sku); skus: products and sales; resources: products
    and capacity; regions: sales ('All' for rows without one, as in the demand history).
    """
    tables = set(ws.scalar("SELECT list(table_name) FROM duckdb_tables() WHERE schema_name = 'main'") or [])
    parts: dict[str, list[str]] = {
        "families": (['SELECT family FROM products'] if "products" in tables else
                     ['SELECT coalesce(family, sku) FROM sales'] if "sales" in tables else []),
        "skus": [f"SELECT sku FROM {t}" for t in ("products", "sales") if t in tables],
        "resources": [f'SELECT "resource" FROM {t}' for t in ("products", "capacity") if t in tables],
        "regions": ["SELECT coalesce(region, 'All') FROM sales"] if "sales" in tables else [],
    }
    asked = {k: v for k, v in parts.items() if v}
    found: dict[str, Any] = {}
    if asked:
        fields_sql = ", ".join(f"'{k}': (SELECT list(DISTINCT v) FROM ({' UNION ALL '.join(v)}) AS t(v))"
                               for k, v in asked.items())
        found = ws.scalar(f"SELECT {{{fields_sql}}}") or {}
    return {k: (sorted(str(x) for x in (found.get(k) or []) if x is not None) if k in asked else None)
            for k in parts}


# -- the scenario --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scenario:
    """One stored scenario; `warnings` (names the data does not know) is filled by `create` only."""

    scenario_id: str
    name: str
    author: str
    created_at: datetime
    changes: Changes
    note: str = ""
    base_fingerprint: str | None = None
    archived_at: datetime | None = None
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def archived(self) -> bool:
        """True once archived (still readable by id, left out of `list_scenarios`)."""
        return self.archived_at is not None

    def to_json(self) -> str:
        """The scenario as JSON (timestamps ISO 8601, changes as `Changes.to_dict`)."""
        return json.dumps({
            "scenario_id": self.scenario_id, "name": self.name, "author": self.author,
            "created_at": _iso(self.created_at), "changes": self.changes.to_dict(), "note": self.note,
            "base_fingerprint": self.base_fingerprint, "archived_at": _iso(self.archived_at),
            "warnings": list(self.warnings),
        }, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Scenario:
        """Scenario from `to_json` output (raises ValueError when the text is not one)."""
        try:
            d = json.loads(text)
        except (TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a scenario JSON: {exc}") from None
        if not isinstance(d, dict):
            raise ValueError("not a scenario JSON: expected an object")
        try:
            return cls(scenario_id=str(d["scenario_id"]), name=str(d["name"]), author=str(d["author"]),
                       created_at=_from_iso(d["created_at"]), changes=parse_changes(d.get("changes")),
                       note=str(d.get("note") or ""), base_fingerprint=d.get("base_fingerprint"),
                       archived_at=_from_iso(d.get("archived_at")), warnings=tuple(d.get("warnings") or ()))
        except KeyError as exc:
            raise ValueError(f"not a scenario JSON: missing {exc}") from None

    def describe(self) -> list[str]:
        """One readable line per change, e.g. 'Demand +10% · family Tents · all regions · Jan 2027 – Mar 2027'."""
        return describe(self.changes)


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat()


def _from_iso(v: Any) -> datetime | None:
    if is_blank(v):
        return None
    return pd.Timestamp(v).to_pydatetime()


def new_scenario_id() -> str:
    """A fresh unguessable scenario id (secrets.token_urlsafe(16))."""
    return secrets.token_urlsafe(ID_BYTES)


def is_valid_id(value: Any) -> bool:
    """True when `value` has the exact shape of a scenario id (says nothing about whether it exists)."""
    return isinstance(value, str) and len(value) == ID_LENGTH and ID_PATTERN.fullmatch(value) is not None


def _pct_text(pct: float) -> str:
    return f"{pct:+g}%"


def _months_text(p_from: pd.Timestamp | None, p_to: pd.Timestamp | None) -> str:
    if p_from is None and p_to is None:
        return "all months"
    a = f"{p_from:%b %Y}" if p_from is not None else "start"
    b = f"{p_to:%b %Y}" if p_to is not None else "end"
    return f"{a} – {b}"


def describe(changes: Changes) -> list[str]:
    """Readable lines for the changes, in the order they are applied."""
    lines = []
    for o in changes.overrides:
        scope = ", ".join(f"{k} {getattr(o, k)}" for k in ("family", "region", "sku") if getattr(o, k)) or "all"
        value = _pct_text(o.value) if o.kind == "percent" else f"{o.value:,g} units per period"
        lines.append(f"Override {value} · {scope} · {o.period_from:%Y-%m-%d} – {o.period_to:%Y-%m-%d}")
    for d in changes.demand:
        lines.append(f"Demand {_pct_text(d.pct)} · {('family ' + d.family) if d.family else 'all families'} · "
                     f"{d.region or 'all regions'} · {_months_text(d.period_from, d.period_to)}")
    for p in changes.price:
        lines.append(f"Price {_pct_text(p.pct)} · {('family ' + p.family) if p.family else 'all families'}")
    for c in changes.capacity:
        lines.append(f"Capacity {_pct_text(c.pct)} · {c.resource or 'all resources'} · "
                     f"{_months_text(c.period_from, c.period_to)}")
    return lines


# -- storage -------------------------------------------------------------------------------------
def _required_text(v: Any, what: str, limit: int) -> str:
    if is_blank(v) or not isinstance(v, str):
        raise ValueError(f"{what} is required" + ("" if is_blank(v) else f" as text, got {v!r}"))
    v = v.strip()
    if len(v) > limit:
        raise ValueError(f"{what} is {len(v)} characters long; keep it to {limit}")
    return v


def _from_row(row: Mapping[str, Any]) -> Scenario:
    archived = row.get("archived_at")
    return Scenario(
        scenario_id=str(row["scenario_id"]), name=str(row["name"]), author=str(row["author"]),
        created_at=pd.Timestamp(row["created_at"]).to_pydatetime(),
        changes=parse_changes(json.loads(row["changes"])), note=str(row["note"] or ""),
        base_fingerprint=None if is_blank(row["base_fingerprint"]) else str(row["base_fingerprint"]),
        archived_at=None if is_blank(archived) else pd.Timestamp(archived).to_pydatetime(),
    )


def _fetch(source: Workspace | duckdb.DuckDBPyConnection, where: str, params: Sequence[Any]) -> list[Scenario]:
    sql = f"SELECT {_COLUMNS} FROM scenarios {where}"
    if isinstance(source, Workspace):
        df = source.query(sql, list(params))
    else:
        df = source.execute(sql, list(params)).df()
    out = []
    for row in df.to_dict("records"):
        try:
            out.append(_from_row(row))
        except (ValueError, TypeError, KeyError) as exc:  # a row written by a broken client: skip, never crash a page
            log.warning("scenario %s could not be read: %s", row.get("scenario_id"), exc)
    return out


def create(ws: Workspace, name: str, changes: Changes | Mapping[str, Any] | None, author: str, note: str = "",
           event_id: str | None = None) -> Scenario:
    """Validate and store a new scenario with an audit event; a repeated `event_id` returns the stored one.

    Raises ValueError for a blank name or author, a too long note and invalid changes.
    The returned scenario's `warnings` list names the data does not know.
    """
    name = _required_text(name, "a scenario name", MAX_NAME)
    author = _required_text(author, "author (who is making this scenario?)", MAX_TEXT)
    note = "" if is_blank(note) else _required_text(note, "note", MAX_NOTE)
    event_id = _text(event_id, "event_id", "create")
    parsed = parse_changes(changes)
    warnings = tuple(check_names(parsed, **known_names(ws)))
    fingerprint = ws.fingerprint()
    payload = json.dumps(parsed.to_dict(), sort_keys=True)
    for attempt in range(3):
        scenario = Scenario(scenario_id=new_scenario_id(), name=name, author=author, created_at=utcnow(),
                            changes=parsed, note=note, base_fingerprint=fingerprint, warnings=warnings)
        try:
            with ws.transaction() as cur:
                if event_id is not None:
                    existing = _fetch(cur, "WHERE event_id = ?", [event_id])
                    if existing:
                        return existing[0]
                cur.execute(
                    f"INSERT INTO scenarios ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                    [scenario.scenario_id, name, author, scenario.created_at, payload, note, fingerprint, event_id],
                )
                ws.audit(cur, "scenario", scenario.scenario_id, {
                    "name": name, "changes": parsed.to_dict(), "note": note, "base_fingerprint": fingerprint,
                    "warnings": list(warnings), "event_id": event_id,
                }, author)
            return scenario
        except (duckdb.ConstraintException, duckdb.TransactionException):
            if event_id is not None:
                existing = _fetch(ws, "WHERE event_id = ?", [event_id])
                if existing:
                    return existing[0]
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def get(ws: Workspace, scenario_id: Any) -> Scenario | None:
    """The scenario with that id, or None for an unknown, malformed or tampered id (never raises)."""
    if not is_valid_id(scenario_id):
        return None
    try:
        found = _fetch(ws, "WHERE scenario_id = ?", [scenario_id])
    except Exception:  # noqa: BLE001 - a link must never crash the page; details go to the server log
        log.exception("reading scenario failed")
        return None
    return found[0] if found else None


def list_scenarios(ws: Workspace, include_archived: bool = False) -> list[Scenario]:
    """Stored scenarios, newest first (archived ones only when asked)."""
    where = "" if include_archived else "WHERE archived_at IS NULL"
    return _fetch(ws, f"{where} ORDER BY created_at DESC, scenario_id", [])


def archive(ws: Workspace, scenario_id: str, author: str) -> bool:
    """Archive a scenario (kept, readable by id, no longer listed); False when there is no such active scenario."""
    author = _required_text(author, "author", MAX_TEXT)
    if not is_valid_id(scenario_id):
        return False
    with ws.transaction() as cur:
        found = _fetch(cur, "WHERE scenario_id = ? AND archived_at IS NULL", [scenario_id])
        if not found:
            return False
        cur.execute("UPDATE scenarios SET archived_at = ? WHERE scenario_id = ?", [utcnow(), scenario_id])
        ws.audit(cur, "scenario_archive", scenario_id, {"name": found[0].name}, author)
    return True
