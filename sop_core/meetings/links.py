"""Share links: the ONE module that knows the query parameters of a view (like Datasette's url_builder).

A link names a page (the URL path), a scenario, the filters on screen and the data it was made on:

    key      ViewState field  value
    (path)   page             page URL path, e.g. 'financials' ([a-z0-9_], up to 64); also read from ?page=
    s        scenario_id      scenario id (the shape of scenarios.new_scenario_id)
    cmp      compare          up to MAX_COMPARE scenario ids to compare, comma-separated
    family   family           family filter (text, up to MAX_VALUE characters)
    region   region           region filter
    sku      sku              sku filter
    h        horizon          buckets shown (months or weeks), 1 to MAX_HORIZON
    pb       prebuild_months      plan setting: pre-build horizon, whole months 0 to 6
    xc       excess_cover_months  plan setting: excess beyond this many months of cover, whole, 1 to 24
    sl       service_level        plan setting: safety-stock service level in percent, 50 to 99.9 (stored 0.5-0.999)
    snap     snapshot         a snapshot of the view's numbers stored with the link (`save_snapshot`, 32 hex digits)
    fp       fingerprint      `fingerprint(ws)` when the link was made: data + overrides (16 hex digits)

The plan settings (bounds and defaults in `sop_core.planning.settings`) are left out of a link when
they equal the defaults (`plan.DEFAULTS`), so most links stay short. A link made by the app always
has a fingerprint; such a link states all three: a setting it leaves out is the default, whatever
the workspace's saved plan settings are now (`LinkStatus.settings`). A link without a fingerprint
(typed by hand) fixes only the settings it names.

Reading a link never raises and never trusts it. `from_params` drops, each with a message: unknown
keys, repeated keys, values over MAX_VALUE characters, control characters, malformed numbers and
fingerprints; a malformed plan setting gives its default, one out of its bounds the nearest bound,
each with a problem. A scenario id that is malformed, repeated, oversized or unknown all give the same
generic SCENARIO_NOT_FOUND ("showing the baseline"): the page cannot tell a typo from a probe and
says nothing about which ids exist. Ids are only ever passed to `scenarios.get`, which checks
their shape before a parameterised query. `check` then looks the scenarios up and compares the
link's fingerprint with the workspace's: when the data or the overrides changed it says so, and
since when the link's data and overrides were current.

The fingerprint covers what the numbers are computed from: the loaded tables
(Workspace.fingerprint, the content hash of each table's latest load) and the consensus inputs,
the overrides in force (named by the newest entry of the append-only overrides table, one indexed
query). With no override it is the data fingerprint alone, so links made before any override was
saved keep matching.

Snapshot links. A live link shows today's numbers (and, when the data or the overrides changed since
it was made, says so and shows them only when asked). A snapshot link also names a snapshot: the
numbers of the view when the link was made (small: the page's headline figures, its chart frames and
tables, as `blocks`), stored in the workspace table `link_snapshots` with the page, the link's
parameters, the fingerprint and the planning date (`sop_core.clock.today`) they were made on. Opened
after a later override, it shows those numbers "as of" that date instead of nothing, with a way to
compare with today. A snapshot id that is malformed or unknown, made for another page, or made before
the workspace's company was last reset (the old company's numbers) gives SNAPSHOT_NOT_FOUND and the
link opens as a live one.

Blocks (JSON, at most MAX_SNAPSHOT_BYTES): dicts with a `kind`:
    {"kind": "text", "text": str, "style": "bold" | "plain" | "caption"}
    {"kind": "metrics", "items": [{"label": str, "value": str, "caption": str}]}
    {"kind": "table", "title": str, "frame": frame_data(df)}    (cells as shown: text from sop_core.formatting)
    {"kind": "chart", "chart": a key of charts.SNAPSHOT_CHARTS, "title": str, "frame": frame_data(df)}
Text in blocks is user data (family names...): the page escapes it when it shows it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import pandas as pd

from sop_core import clock
from sop_core.demand import overrides
from sop_core.planning import scenarios
from sop_core.planning import settings as plan_settings
from sop_core.planning.plan import DEFAULTS as PLAN_DEFAULTS
from sop_core.planning.scenarios import Scenario
from sop_core.store import access
from sop_core.store.workspace import Workspace, new_id, utcnow

KEYS: dict[str, str] = {  # query key -> ViewState field, in link order
    "page": "page", "s": "scenario_id", "cmp": "compare", "family": "family", "region": "region", "sku": "sku",
    "h": "horizon", "pb": "prebuild_months", "xc": "excess_cover_months", "sl": "service_level", "snap": "snapshot",
    "fp": "fingerprint",
}
SETTING_KEYS = {"pb": "prebuild_months", "xc": "excess_cover_months", "sl": "service_level"}  # plan settings
SETTING_PATTERNS = {"pb": re.compile(r"[0-9]{1,3}", re.ASCII), "xc": re.compile(r"[0-9]{1,3}", re.ASCII),
                    "sl": re.compile(r"[0-9]{1,3}(\.[0-9]{1,2})?", re.ASCII)}
_PB, _XC, _SL = (plan_settings.BOUNDS[n] for n in ("prebuild_months", "excess_cover_months", "service_level"))
SETTING_RULES = {"pb": f"(pre-build months) must be a whole number from {_PB[0]:g} to {_PB[1]:g}",
                 "xc": f"(excess cover months) must be a whole number from {_XC[0]:g} to {_XC[1]:g}",
                 "sl": f"(service level %) must be a number from {_SL[0] * 100:g} to {_SL[1] * 100:g}"}
IGNORED_KEYS = frozenset({"embed", "embed_options"})  # Streamlit's own parameters
MAX_VALUE = 200
MAX_COMPARE = 4
MAX_HORIZON = 78  # buckets: the longest forecast horizon (78 weeks)
MAX_PROBLEMS = 12
PAGE_PATTERN = re.compile(r"[a-z0-9_]{1,64}", re.ASCII)
HORIZON_PATTERN = re.compile(r"[0-9]{1,3}", re.ASCII)
FINGERPRINT_PATTERN = re.compile(r"[0-9a-f]{16}", re.ASCII)
SNAPSHOT_PATTERN = re.compile(r"[0-9a-f]{32}", re.ASCII)
MAX_SNAPSHOT_BYTES = 256_000  # a view's aggregates, never the workspace
BLOCK_KINDS = frozenset({"text", "metrics", "table", "chart"})
BIDI = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

SCENARIO_NOT_FOUND = "Scenario not found — showing the baseline."
COMPARED_NOT_FOUND = "A scenario to compare was not found — it is left out."
DATA_CHANGED = "This link was made on {when}; the data or the overrides changed since this link was made."
KNOWN_WHEN = "the data and overrides as of {at:%d %b %Y %H:%M} UTC"
UNKNOWN_WHEN = "earlier data and overrides (no longer in this workspace)"
SNAPSHOT_NOT_FOUND = "The snapshot in this link was not found — the link shows today's numbers."


@dataclass(frozen=True)
class ViewState:
    """What a share link shows: page, scenario, compared scenarios, filters, horizon, plan settings, fingerprint.

    prebuild_months, excess_cover_months, service_level: None = not named by the link (`settings_of`
    reads them with the defaults filled in; `with_settings` sets them from a settings dict).
    """

    page: str | None = None
    scenario_id: str | None = None
    family: str | None = None
    region: str | None = None
    sku: str | None = None
    horizon: int | None = None
    compare: tuple[str, ...] = ()
    fingerprint: str | None = None
    snapshot: str | None = None
    prebuild_months: int | None = None
    excess_cover_months: float | None = None
    service_level: float | None = None

    def to_params(self) -> dict[str, str]:
        """Query parameters in link order (page, s, cmp, family, region, sku, h, pb, xc, sl, fp).

        Unset fields are left out, and so are plan settings equal to their defaults.
        """
        out: dict[str, str] = {}
        for key, name in KEYS.items():
            v = getattr(self, name)
            if name == "compare":
                v = ",".join(v) if v else None
            elif key in SETTING_KEYS:
                v = _setting_param(key, v)
            if v is not None and v != "":
                out[key] = str(v)
        return out


def _setting_param(key: str, value: float | None) -> str | None:
    """A plan setting as its query value ('97.5' for a service level of 0.975), None when unset or the default."""
    name = SETTING_KEYS[key]
    if value is None or abs(float(value) - float(PLAN_DEFAULTS[name])) < 1e-9:
        return None
    return f"{round(float(value) * 100, 2):g}" if key == "sl" else f"{float(value):g}"


def settings_of(state: ViewState) -> dict[str, int | float]:
    """The plan settings a link shows: the ones it names, the defaults for the rest."""
    return {name: (getattr(state, name) if getattr(state, name) is not None else PLAN_DEFAULTS[name])
            for name in plan_settings.NAMES}


def with_settings(state: ViewState, settings: Mapping[str, Any]) -> ViewState:
    """`state` naming the plan `settings` (each clamped into its bounds; values equal to the defaults left unset)."""
    named: dict[str, Any] = {}
    for name in plan_settings.NAMES:
        v = plan_settings.clamp(name, settings[name]) if settings.get(name) is not None else None
        named[name] = None if v is None or abs(float(v) - float(PLAN_DEFAULTS[name])) < 1e-9 else v
    return dataclasses.replace(state, **named)


def url(base_url: str, state: ViewState) -> str:
    """The link: base_url/page?s=...&cmp=...&family=... (page in the path, the rest urlencoded)."""
    parts = urlsplit(base_url)
    params = state.to_params()
    page = params.pop("page", None)
    path = parts.path.rstrip("/") + "/" + (quote(page, safe="") if page else "")
    query = urlencode(params, quote_via=quote, safe=",")
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def _combine(data_fingerprint: str, latest_override: str | None) -> str:
    """The link fingerprint of a data fingerprint and the newest override id (the data's alone when None)."""
    if latest_override is None:
        return data_fingerprint
    return hashlib.sha256(f"{data_fingerprint}|overrides:{latest_override}".encode()).hexdigest()[:16]


def fingerprint(ws: Workspace) -> str:
    """16 hex digits naming the loaded data and the overrides in force: what a link's numbers are computed on."""
    return _combine(ws.fingerprint(), overrides.latest_id(ws))


def stamp(ws: Workspace, state: ViewState) -> ViewState:
    """The state with the workspace's current fingerprint (data + overrides), ready to share."""
    return dataclasses.replace(state, fingerprint=fingerprint(ws))


# -- reading a link -------------------------------------------------------------------------------
def _values(params: Mapping[str, Any], key: Any) -> list[Any]:
    """Every value given for `key` (st.query_params.get_all, a parse_qs list, or a single value)."""
    get_all = getattr(params, "get_all", None)
    if callable(get_all):
        return list(get_all(key))
    v = params[key]
    return list(v) if isinstance(v, (list, tuple)) else [v]


def _shown(key: Any) -> str:
    text = str(key)
    return repr(text if len(text) <= 40 else text[:40] + "…")


def _bad_chars(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cs") or ch in BIDI for ch in text)


def _page(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    v = value.strip().strip("/")
    return v if PAGE_PATTERN.fullmatch(v) else None


def from_params(params: Mapping[str, Any], page: str | None = None) -> tuple[ViewState, list[str]]:
    """ViewState from query parameters plus the problems found (never raises); `page` (the URL path) wins over ?page=."""
    problems: list[str] = []
    fields_: dict[str, Any] = {}

    def problem(text: str) -> None:
        if text not in problems:
            problems.append(text)

    try:
        keys = list(params.keys())
    except Exception:  # noqa: BLE001 - not a mapping at all
        keys = []
        problem("the link's parameters could not be read; showing the default view")
    for key in keys:
        try:
            _read_one(params, key, fields_, problem)
        except Exception:  # noqa: BLE001 - a link must never crash the page
            problem(f"parameter {_shown(key)} could not be read; ignored")
    if page is not None:
        p = _page(page)
        if p is not None:
            fields_["page"] = p
        else:
            fields_.pop("page", None)
            problem("the page in the link is not a page of this app; showing the default page")
    if len(problems) > MAX_PROBLEMS:
        extra = len(problems) - (MAX_PROBLEMS - 1)
        problems = problems[:MAX_PROBLEMS - 1] + [f"… and {extra} more problems with the link"]
    return ViewState(**fields_), problems


def _read_one(params: Mapping[str, Any], key: Any, out: dict[str, Any], problem: Any) -> None:
    """Validate one query key into `out` (a ViewState field) or report a problem."""
    if key in IGNORED_KEYS:
        return
    if not isinstance(key, str) or key not in KEYS:
        problem(f"unknown parameter {_shown(key)} ignored")
        return
    name = KEYS[key]
    is_scenario = key in ("s", "cmp")
    generic = SCENARIO_NOT_FOUND if key == "s" else COMPARED_NOT_FOUND
    values = _values(params, key)
    if len(values) != 1:
        problem(generic if is_scenario else f"parameter {key!r} is given {len(values)} times; ignored")
        return
    value = values[0]
    if not isinstance(value, str) or len(value) > MAX_VALUE or _bad_chars(value):
        why = ("is not text" if not isinstance(value, str) else
               f"is longer than {MAX_VALUE} characters" if len(value) > MAX_VALUE else "contains control characters")
        problem(generic if is_scenario else f"parameter {key!r} {why}; ignored")
        return
    value = value.strip()
    if value == "":
        return
    if key == "s":
        if scenarios.is_valid_id(value):
            out[name] = value
        else:
            problem(SCENARIO_NOT_FOUND)
    elif key == "cmp":
        ids: list[str] = []
        for piece in (p.strip() for p in value.split(",")):
            if not piece:
                continue
            if not scenarios.is_valid_id(piece):
                problem(COMPARED_NOT_FOUND)
            elif piece not in ids:
                ids.append(piece)
        if len(ids) > MAX_COMPARE:
            problem(f"at most {MAX_COMPARE} scenarios are compared; the rest are left out")
            ids = ids[:MAX_COMPARE]
        if ids:
            out[name] = tuple(ids)
    elif key == "h":
        if HORIZON_PATTERN.fullmatch(value) and 1 <= int(value) <= MAX_HORIZON:
            out[name] = int(value)
        else:
            problem(f"parameter 'h' (buckets shown) must be a whole number from 1 to {MAX_HORIZON}; ignored")
    elif key in SETTING_KEYS:
        out[name] = _read_setting(key, value, problem)
    elif key == "snap":
        if SNAPSHOT_PATTERN.fullmatch(value.lower()):
            out[name] = value.lower()
        else:
            problem(SNAPSHOT_NOT_FOUND)
    elif key == "fp":
        if FINGERPRINT_PATTERN.fullmatch(value.lower()):
            out[name] = value.lower()
        else:
            problem("parameter 'fp' is not a data fingerprint; cannot tell whether the data changed since the link "
                    "was made")
    elif key == "page":
        p = _page(value)
        if p is not None:
            out[name] = p
        else:
            problem("the page in the link is not a page of this app; showing the default page")
    else:
        out[name] = value


def _read_setting(key: str, value: str, problem: Any) -> int | float:
    """A plan setting from its query value: the default when malformed, else clamped into its bounds (with a problem)."""
    name = SETTING_KEYS[key]
    default = PLAN_DEFAULTS[name]
    shown = (lambda v: f"{float(v) * 100:g}%") if key == "sl" else (lambda v: f"{float(v):g}")
    if not SETTING_PATTERNS[key].fullmatch(value):
        problem(f"parameter {key!r} {SETTING_RULES[key]}; the default {shown(default)} is used")
        return plan_settings.clamp(name, default)
    number = float(value) / 100 if key == "sl" else float(value)
    clamped = plan_settings.clamp(name, number)
    if abs(float(clamped) - number) > 1e-9:
        problem(f"parameter {key!r} {SETTING_RULES[key]}; {shown(clamped)} is used")
    return clamped


# -- checking a link against the workspace ------------------------------------------------------
@dataclass(frozen=True)
class LinkStatus:
    """A link checked against the workspace: what to show and what to tell the user.

    state: the view to render: unknown scenario ids removed, fingerprint = the data and overrides now.
    scenario: the scenario shown (None = baseline); compared: the scenarios found for comparison.
    scenario_missing: the link named a scenario that is not shown (unknown, malformed or tampered).
    data_changed: the link's fingerprint differs from the workspace's (the data or the overrides
    changed); link_state_since: since when the link's data and overrides were current (None when
    unknown). settings: the plan settings the link fixes (name -> value): all three for a link with a
    fingerprint (left out = the default), else only those it names. messages: everything to show, in order.
    """

    state: ViewState
    scenario: Scenario | None = None
    compared: tuple[Scenario, ...] = ()
    scenario_missing: bool = False
    data_changed: bool = False
    link_state_since: datetime | None = None
    messages: tuple[str, ...] = field(default=())
    settings: dict[str, Any] = field(default_factory=dict)
    snapshot: Snapshot | None = None
    snapshot_changed: bool = False  # the data or the overrides changed since the snapshot was made

    @property
    def ok(self) -> bool:
        """True when the link opens exactly as it was made, with nothing to say."""
        return not self.messages


def _moment(at: Any) -> datetime:
    """A stored timestamp as a datetime."""
    return at.to_pydatetime() if hasattr(at, "to_pydatetime") else at


def state_since(ws: Workspace, link_fingerprint: str, now: str | None = None) -> datetime | None:
    """Since when the data and overrides with that link fingerprint were current, or None when unknown.

    Replays the load log and the overrides log in time order, computing the fingerprint after each
    entry the way `fingerprint` does; the time is that of the entry that completed the state. The
    replay must end at the current fingerprint (`now`, computed when None), else None.
    """
    try:
        loads = ws.query("SELECT table_name, content_sha256, loaded_at FROM loads ORDER BY loaded_at, load_id")
        saved = ws.query("SELECT override_id, created_at FROM overrides ORDER BY seq")
    except Exception:  # noqa: BLE001
        return None
    events = sorted(
        [(_moment(at), 0, i, str(name), str(content))
         for i, (name, content, at) in enumerate(loads.itertuples(index=False))]
        + [(_moment(at), 1, i, "", str(oid)) for i, (oid, at) in enumerate(saved.itertuples(index=False))],
        key=lambda ev: ev[:3],
    )
    tables: dict[str, str] = {}
    latest_override: str | None = None
    found: datetime | None = None
    fp = None
    for at, kind, _, name, value in events:
        if kind == 0:
            tables[name] = value
        else:
            latest_override = value
        data = hashlib.sha256("|".join(f"{n}:{tables[n]}" for n in sorted(tables)).encode()).hexdigest()[:16]
        fp = _combine(data, latest_override)
        if fp == link_fingerprint:
            found = at
    if fp != (now if now is not None else fingerprint(ws)):  # no longer computed this way: do not guess
        return None
    return found


def _when(at: datetime | None) -> str:
    return KNOWN_WHEN.format(at=at) if at is not None else UNKNOWN_WHEN


def check(ws: Workspace, state: ViewState) -> LinkStatus:
    """Look up the link's scenarios and compare its fingerprint with the data and overrides now (never raises)."""
    messages: list[str] = []
    scenario = scenarios.get(ws, state.scenario_id) if state.scenario_id is not None else None
    missing = state.scenario_id is not None and scenario is None
    if missing:
        messages.append(SCENARIO_NOT_FOUND)
    compared = []
    for cid in state.compare:
        sc = scenarios.get(ws, cid)
        if sc is None:
            if COMPARED_NOT_FOUND not in messages:
                messages.append(COMPARED_NOT_FOUND)
        else:
            compared.append(sc)
    now = fingerprint(ws)
    changed = state.fingerprint is not None and state.fingerprint != now
    since = state_since(ws, state.fingerprint, now) if changed and state.fingerprint else None
    if changed:
        messages.append(DATA_CHANGED.format(when=_when(since)))
    snap = get_snapshot(ws, state.snapshot) if state.snapshot is not None else None
    if snap is not None and state.page is not None and snap.page != state.page:
        snap = None  # made for another page: not this page's numbers
    if state.snapshot is not None and snap is None:
        messages.append(SNAPSHOT_NOT_FOUND)
    shown = dataclasses.replace(state, scenario_id=scenario.scenario_id if scenario else None,
                                compare=tuple(c.scenario_id for c in compared), fingerprint=now,
                                snapshot=snap.snapshot_id if snap is not None else None)
    fixed = settings_of(state) if state.fingerprint is not None else \
        {n: getattr(state, n) for n in plan_settings.NAMES if getattr(state, n) is not None}
    return LinkStatus(state=shown, scenario=scenario, compared=tuple(compared), scenario_missing=missing,
                      data_changed=changed, link_state_since=since, messages=tuple(messages), settings=fixed,
                      snapshot=snap, snapshot_changed=snap is not None and snap.fingerprint != now)


def open_link(ws: Workspace, params: Mapping[str, Any], page: str | None = None) -> LinkStatus:
    """`from_params` then `check`: the link's problems first, then the lookup's messages, each once."""
    state, problems = from_params(params, page)
    status = check(ws, state)
    messages = list(problems)
    for m in status.messages:
        if m not in messages:
            messages.append(m)
    return dataclasses.replace(status, messages=tuple(messages),
                               scenario_missing=status.scenario_missing or SCENARIO_NOT_FOUND in problems)


# -- snapshots: the numbers of a view, stored with its link ---------------------------------------
@dataclass(frozen=True)
class Snapshot:
    """The numbers a view showed when its link was made (see the module docstring)."""

    snapshot_id: str
    page: str
    params: dict[str, str]  # the link's query parameters (without snap)
    fingerprint: str  # `fingerprint(ws)` when it was made
    as_of: date  # the planning date (`clock.today`) it was made on
    created_at: datetime  # when (UTC)
    author: str | None
    blocks: tuple[dict[str, Any], ...]

    @property
    def as_of_text(self) -> str:
        """'as of 06 Dec 2026 (made 09:51 UTC)'."""
        return f"as of {self.as_of:%d %b %Y} (made {self.created_at:%H:%M} UTC)"


def _jsonable(v: Any) -> Any:
    """A frame cell as JSON: numbers (NaN/inf → None), text, dates as ISO text."""
    if v is None or v is pd.NaT:
        return None
    if isinstance(v, (pd.Timestamp, datetime, date)):
        return pd.Timestamp(v).isoformat()
    if isinstance(v, (bool,)):
        return v
    if hasattr(v, "item") and not isinstance(v, str):  # numpy scalars
        v = v.item()
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, (int, str)):
        return v
    return str(v)


def frame_data(frame: pd.DataFrame) -> dict[str, Any]:
    """A small frame as JSON-ready data: {"columns": [...], "rows": [[...], ...]} (dates as ISO text)."""
    return {"columns": [str(c) for c in frame.columns],
            "rows": [[_jsonable(v) for v in row] for row in frame.itertuples(index=False, name=None)]}


def data_frame(data: Mapping[str, Any]) -> pd.DataFrame:
    """`frame_data` back to a frame (dates stay ISO text: the chart builders parse the columns they need)."""
    columns = [str(c) for c in data.get("columns", [])]
    rows = [list(r) for r in data.get("rows", [])]
    if any(len(r) != len(columns) for r in rows):
        raise ValueError("a snapshot table has rows of another length than its columns")
    return pd.DataFrame(rows, columns=columns)


def _check_blocks(blocks: Any) -> list[dict[str, Any]]:
    if not isinstance(blocks, (list, tuple)) or not blocks:
        raise ValueError("a snapshot needs at least one block of numbers")
    out = []
    for b in blocks:
        if not isinstance(b, Mapping) or b.get("kind") not in BLOCK_KINDS:
            raise ValueError(f"a snapshot block must be a dict with a kind in {sorted(BLOCK_KINDS)}")
        out.append(dict(b))
    return out


def save_snapshot(ws: Workspace, state: ViewState, blocks: Sequence[Mapping[str, Any]], author: str | None = None,
                  ) -> tuple[ViewState, Snapshot]:
    """Store `blocks` (the view's numbers now) for the link to `state`; returns the state naming the snapshot.

    The state is stamped with today's fingerprint. One transaction writes one row; ValueError when the
    blocks are malformed or larger than MAX_SNAPSHOT_BYTES (a snapshot holds a view's aggregates).
    """
    if state.page is None or not PAGE_PATTERN.fullmatch(state.page):
        raise ValueError("a snapshot link needs the page it opens")
    content = json.dumps(_check_blocks(blocks), ensure_ascii=False, allow_nan=False, default=_jsonable,
                         separators=(",", ":"))
    size = len(content.encode("utf-8"))
    if size > MAX_SNAPSHOT_BYTES:
        raise ValueError(f"the snapshot is {size:,} bytes, over the {MAX_SNAPSHOT_BYTES:,} a link may store: "
                         "a snapshot keeps a view's headline numbers and small tables, not its data")
    stamped = dataclasses.replace(stamp(ws, state), snapshot=None)
    params = stamped.to_params()
    params.pop("page", None)
    snap = Snapshot(snapshot_id=new_id(), page=state.page, params=params, fingerprint=str(stamped.fingerprint),
                    as_of=clock.today(), created_at=utcnow(), author=access.author(author),
                    blocks=tuple(json.loads(content)))
    with ws.transaction() as cur:
        cur.execute("INSERT INTO link_snapshots (snapshot_id, page, params, fingerprint, as_of, created_at, author, "
                    "content, bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [snap.snapshot_id, snap.page, json.dumps(params, sort_keys=True), snap.fingerprint, snap.as_of,
                     snap.created_at, snap.author, content, size])
    return dataclasses.replace(stamped, snapshot=snap.snapshot_id), snap


def _company_since(ws: Workspace) -> datetime | None:
    """When the workspace's company was last set (a reset or a new company), None when unknown."""
    try:
        df = ws.query("SELECT updated_at FROM settings WHERE key = 'company'")
    except Exception:  # noqa: BLE001
        return None
    return _moment(df.iloc[0, 0]) if len(df) and pd.notna(df.iloc[0, 0]) else None


def get_snapshot(ws: Workspace, snapshot_id: str | None) -> Snapshot | None:
    """The stored snapshot with that id, or None (malformed id, unknown, unreadable, or older than the company)."""
    if not isinstance(snapshot_id, str) or not SNAPSHOT_PATTERN.fullmatch(snapshot_id):
        return None
    try:
        df = ws.query("SELECT snapshot_id, page, params, fingerprint, as_of, created_at, author, content "
                      "FROM link_snapshots WHERE snapshot_id = ?", [snapshot_id])
    except Exception:  # noqa: BLE001 - a link never crashes the page
        return None
    if not len(df):
        return None
    row = df.iloc[0]
    created = _moment(row["created_at"])
    since = _company_since(ws)
    if since is not None and created < since:
        return None  # the numbers of a company this workspace no longer holds
    try:
        blocks = tuple(_check_blocks(json.loads(row["content"])))
        params = {str(k): str(v) for k, v in json.loads(row["params"]).items()}
    except (ValueError, TypeError, AttributeError):
        return None
    return Snapshot(snapshot_id=str(row["snapshot_id"]), page=str(row["page"]), params=params,
                    fingerprint=str(row["fingerprint"]), as_of=pd.Timestamp(row["as_of"]).date(), created_at=created,
                    author=None if pd.isna(row["author"]) else str(row["author"]), blocks=blocks)


def compare_blocks(then: Sequence[Mapping[str, Any]], now: Sequence[Mapping[str, Any]],
                   ) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """What a snapshot said against what the same view says today.

    Returns (metrics, texts): metrics = (label, value then, value today) for every metric label of the
    snapshot ('—' today when the view no longer shows it); texts = (then, today) for each bold line of
    the snapshot that reads differently today (bold lines matched in order).
    """
    def metrics(blocks: Sequence[Mapping[str, Any]]) -> dict[str, str]:
        out: dict[str, str] = {}
        for b in blocks:
            if b.get("kind") == "metrics":
                for item in b.get("items", []):
                    out.setdefault(str(item.get("label", "")), str(item.get("value", "—")))
        return out

    def bold(blocks: Sequence[Mapping[str, Any]]) -> list[str]:
        return [str(b.get("text", "")) for b in blocks if b.get("kind") == "text" and b.get("style") == "bold"]

    m_then, m_now = metrics(then), metrics(now)
    rows = [(label, value, m_now.get(label, "—")) for label, value in m_then.items()]
    texts = [(a, b) for a, b in zip(bold(then), bold(now)) if a != b]
    return rows, texts
