"""Match uploaded column headers to the data contract, and remember confirmed mappings per layout.

A mapping is a dict {canonical column: original header}, over a table's stored and intake-only
columns (`contract.Table.mappable`). Proposals come from the contract's
synonyms (compared with `contract.normalise_header`); a confirmed mapping is stored in the
workspace's `column_mappings` table under a key derived from the file's headers, so the next
upload of the same layout is mapped without questions.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sop_core import contract
from sop_core.contract import normalise_header
from sop_core.store import access
from sop_core.store.workspace import Workspace, utcnow

MAPPING_KIND = "mapping"  # audit kind of remembering a layout's mapping (see access.ACTIONS)


@dataclass(frozen=True)
class Remembered:
    """A mapping confirmed earlier for a layout."""

    table: str
    mapping: dict[str, str]
    options: dict[str, Any] = field(default_factory=dict)


def _by_normal(headers: Iterable[str]) -> dict[str, str]:
    """Normalised header -> original header (first occurrence wins)."""
    out: dict[str, str] = {}
    for h in headers:
        out.setdefault(normalise_header(h), h)
    return out


def propose_mapping(headers: Sequence[str], table: str) -> dict[str, str]:
    """Proposed {canonical: original header}: exact names, then synonyms (required columns first, by rank).

    Each original header is used at most once.
    """
    spec = contract.TABLES[table]
    lookup = _by_normal(headers)
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for col in spec.mappable:  # pass 1: the canonical name itself
        h = lookup.get(normalise_header(col.name))
        if h is not None and h not in used:
            mapping[col.name] = h
            used.add(h)
    candidates = sorted(
        ((not col.required, rank, i, col.name, normalise_header(syn))
         for i, col in enumerate(spec.mappable) if col.name not in mapping
         for rank, syn in enumerate(col.synonyms)),
    )
    for _optional, _rank, _i, name, syn in candidates:  # pass 2: required columns first, best synonym rank
        h = lookup.get(syn)
        if name in mapping or h is None or h in used:
            continue
        mapping[name] = h
        used.add(h)
    return {c: mapping[c] for c in spec.mappable_names if c in mapping}


def apply_overrides(base: Mapping[str, str], overrides: Mapping[str, str | None], headers: Sequence[str],
                    table: str) -> tuple[dict[str, str], list[str]]:
    """Merge user choices over a proposed mapping; returns (mapping, problems).

    An override value of None or '' unmaps the column; a header named by an override is taken
    away from any other canonical column. Headers are matched exactly, then trimmed, then normalised.
    """
    spec = contract.TABLES[table]
    mapping = dict(base)
    problems: list[str] = []
    for canonical, header in overrides.items():
        if canonical not in spec.mappable_names:
            problems.append(f"'{canonical}' is not a column of {table} (columns: {', '.join(spec.mappable_names)})")
            continue
        if header is None or str(header).strip() == "":
            mapping.pop(canonical, None)
            continue
        found = find_header(str(header), headers)
        if found is None:
            problems.append(f"column '{header}' (for {canonical}) is not in the file; found: "
                            f"{', '.join(h.strip() for h in headers)}")
            continue
        for other in [c for c, h in mapping.items() if h == found and c != canonical]:
            del mapping[other]
        mapping[canonical] = found
    return {c: mapping[c] for c in spec.mappable_names if c in mapping}, problems


def find_header(name: str, headers: Sequence[str]) -> str | None:
    """The original header matching `name` exactly, else trimmed, else normalised; None when absent."""
    if name in headers:
        return name
    for h in headers:
        if h.strip() == name.strip():
            return h
    return _by_normal(headers).get(normalise_header(name))


def ignored_columns(headers: Sequence[str], mapping: Mapping[str, str]) -> list[str]:
    """Headers not used by the mapping, in file order."""
    used = set(mapping.values())
    return [h for h in headers if h not in used]


def layout_key(headers: Sequence[str], table: str) -> str:
    """Identity of a file layout for a table: hash of the table name and the sorted normalised headers."""
    text = table + "\x1e" + "\x1f".join(sorted(normalise_header(h) for h in headers))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def remember_mapping(ws: Workspace, key: str, table: str, mapping: Mapping[str, str],
                     options: Mapping[str, Any] | None = None, author: str | None = None) -> None:
    """Store the confirmed mapping (and reading options) for a layout key, audited as a 'mapping' event.

    The acting user's role must allow it (like a load: admins; `access.NotPermitted` otherwise, and
    nothing is written). `author` defaults to the signed-in user.
    """
    access.check(MAPPING_KIND)  # refused before anything is written; Workspace.audit checks it again
    if author is None and access.current() is not None:
        author = access.current().email
    mapping_text = json.dumps(dict(mapping))
    options_text = json.dumps(dict(options or {}), default=str)
    with ws.transaction() as cur:
        cur.execute(
            "INSERT OR REPLACE INTO column_mappings (layout_key, table_name, mapping, options, updated_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [key, table, mapping_text, options_text, utcnow()],
        )
        ws.audit(cur, MAPPING_KIND, key, {"table": table, "mapping": json.loads(mapping_text),
                                          "options": json.loads(options_text)}, author)


def recall_mapping(ws: Workspace, key: str) -> Remembered | None:
    """The mapping remembered for a layout key, or None."""
    found = ws.query("SELECT table_name, mapping, options FROM column_mappings WHERE layout_key = ?", [key])
    if found.empty:
        return None
    row = found.iloc[0]
    options = json.loads(row["options"]) if isinstance(row["options"], str) and row["options"] else {}
    return Remembered(table=str(row["table_name"]), mapping=json.loads(row["mapping"]), options=options)


def recall_for_headers(ws: Workspace, headers: Sequence[str], table: str | None = None) -> Remembered | None:
    """The remembered mapping for these headers (for `table`, or for any table in contract order)."""
    for name in [table] if table else contract.TABLE_ORDER:
        found = recall_mapping(ws, layout_key(headers, name))
        if found is not None and found.table == name:
            return found
    return None


def missing_required(mapping: Collection[str], table: str) -> list[str]:
    """Required columns (and one_of groups, as 'a or b') the mapping does not cover."""
    spec = contract.TABLES[table]
    missing = [c for c in spec.required if c not in mapping]
    missing += [" or ".join(g) for g in spec.one_of if not set(g) & set(mapping)]
    return missing


def is_money_layout(mapping: Collection[str], table: str) -> bool:
    """True for a sales mapping with a revenue column and no quantity column: a history of sales values only."""
    return table == "sales" and "revenue" in mapping and "quantity" not in mapping


def guess_table(headers: Sequence[str]) -> str | None:
    """The contract table this file most likely is: all required columns matched, strongest match.

    Strength counts a header equal to the canonical name as 1 and a synonym as 0.5, so a file
    with `date, sku, quantity` is sales, not inventory (where quantity is only a synonym of
    on_hand). When no table is complete, the table with at least two required columns matched
    (first in contract order on ties) is returned — e.g. a `ds, y` file is sales without a sku.
    A sales file with revenue and no quantity (`is_money_layout`) is complete: a money history.
    """
    scored = []
    for order, name in enumerate(contract.TABLE_ORDER):
        spec = contract.TABLES[name]
        mapping = propose_mapping(headers, name)
        missing = missing_required(mapping, name)
        if is_money_layout(mapping, name):
            missing = [m for m in missing if m != "quantity"]
        matched_required = len(spec.required) + len(spec.one_of) - len(missing)
        strength = sum(1.0 if normalise_header(h) == normalise_header(c) else 0.5 for c, h in mapping.items())
        scored.append((not missing, strength if not missing else matched_required, strength, -order, name))
    scored.sort(reverse=True)
    best = scored[0]
    if best[0] or best[1] >= 2:
        return best[-1]
    return None
