"""Remembered column mappings (sop_core.intake.mapping): a write like any other, role-checked and audited (issue 13 item 14)."""
from __future__ import annotations

import pytest

from sop_core.intake.load import load
from sop_core.intake.mapping import MAPPING_KIND, layout_key, recall_mapping, remember_mapping
from sop_core.store import access, ledger, recovery
from sop_core.store.workspace import Workspace

HEADERS = ["Posting Date", "Item No", "Units"]
MAPPING = {"date": "Posting Date", "sku": "Item No", "quantity": "Units"}


@pytest.fixture
def access_on():
    access.enable(True)
    try:
        yield
    finally:
        access.enable(False)


def mappings(ws: Workspace) -> int:
    return int(ws.scalar("SELECT count(*) FROM column_mappings"))


def audit_kinds(ws: Workspace) -> list[str]:
    return ws.query('SELECT kind FROM audit_log ORDER BY "at"')["kind"].tolist()


@pytest.mark.parametrize("role", ["viewer", "planner"])
def test_remember_mapping_is_refused_for_a_role_that_may_not_load(workspace: Workspace, access_on, role: str) -> None:
    key = layout_key(HEADERS, "sales")
    with access.acting_as(access.Actor(f"{role}@example.com", role)):
        with pytest.raises(access.NotPermitted, match=f"is a {role} and cannot remember how a file's columns map"):
            remember_mapping(workspace, key, "sales", MAPPING)
    assert mappings(workspace) == 0 and audit_kinds(workspace) == []
    with access.acting_as(None):
        with pytest.raises(access.NotPermitted, match="sign in"):
            remember_mapping(workspace, key, "sales", MAPPING)
    assert mappings(workspace) == 0


def test_remember_mapping_is_audited_in_the_database_and_the_ledger(workspace: Workspace, access_on) -> None:
    key = layout_key(HEADERS, "sales")
    with access.acting_as(access.Actor("ada@example.com", "admin")):
        remember_mapping(workspace, key, "sales", MAPPING, {"dayfirst": True})
    assert recall_mapping(workspace, key).mapping == MAPPING
    row = workspace.query("SELECT kind, subject, author, detail FROM audit_log").iloc[0]
    assert (row["kind"], row["subject"], row["author"]) == (MAPPING_KIND, key, "ada@example.com")
    assert '"Item No"' in row["detail"] and '"dayfirst": true' in row["detail"]
    entries = ledger.read(ledger.ledger_path(workspace.path)).entries
    assert [(e.kind, e.subject) for e in entries] == [(MAPPING_KIND, key)] and recovery.check(workspace).ok


def test_a_load_records_its_mapping_as_an_audited_event(workspace: Workspace) -> None:
    data = b"Posting Date,Item No,Units\n2024-01-01,A,5\n"
    assert load(workspace, "sales.csv", data, "sales").ok
    assert audit_kinds(workspace) == ["load", MAPPING_KIND]
    assert recovery.check(workspace).ok and not recovery.check(workspace).not_in_ledger
