"""The decision log: record, status changes logged with who and when, links to plan versions, reopen."""
from __future__ import annotations

import json
from datetime import date, timedelta

import pandas as pd
import pytest

from sop_core.meetings import decisions as D
from sop_core.meetings import versions as V
from sop_core.store.workspace import Workspace

TODAY = date(2026, 11, 2)


def plan() -> pd.DataFrame:
    return pd.DataFrame({"sku": ["t1"], "region": ["North"], "family": ["Tents"],
                         "period": [pd.Timestamp("2027-01-01")], "units": [10.0], "revenue": [1000.0]})


def version(ws: Workspace, name: str = "November S&OP") -> V.Version:
    return V.approve(ws, plan(), name=name, scenario_id=None, fingerprints={}, approved_by="ceo")


def record(ws: Workspace, **kw) -> str:
    kw.setdefault("title", "Add a second shift on ASSY-2 from May")
    kw.setdefault("owner", "Head of Operations")
    kw.setdefault("due_date", TODAY + timedelta(days=30))
    kw.setdefault("author", "ceo")
    kw.setdefault("today", TODAY)
    return D.record(ws, **kw)


def test_record_opens_a_decision(workspace):
    did = record(workspace, detail="Costs 40k a month; covers the tent peak", scenario_id="sc-9")
    log = D.log(workspace, today=TODAY)
    assert list(log.columns) == list(D.LOG_COLUMNS) and len(log) == 1
    row = log.iloc[0]
    assert row["decision_id"] == did and row["status"] == "open" and not row["overdue"]
    assert row["owner"] == "Head of Operations" and row["created_by"] == "ceo" and row["scenario_id"] == "sc-9"
    assert pd.Timestamp(row["due_date"]).date() == TODAY + timedelta(days=30) and pd.isna(row["version_id"])
    ev = D.events(workspace, did)
    assert ev["kind"].tolist() == ["created"] and ev["new_status"].tolist() == ["open"]
    audit = workspace.query("SELECT * FROM audit_log WHERE kind = 'decision'")
    assert audit["subject"].tolist() == [did] and json.loads(audit["detail"].iloc[0])["owner"] == "Head of Operations"


@pytest.mark.parametrize("kw, message", [
    ({"owner": ""}, "an owner"),
    ({"owner": "   "}, "an owner"),
    ({"owner": None}, "an owner"),
    ({"title": ""}, "a title"),
    ({"author": " "}, "the author"),
    ({"due_date": None}, "a due date is required"),
    ({"due_date": "not a date"}, "not a date"),
    ({"due_date": TODAY - timedelta(days=1)}, r"due date 2026-11-01 is in the past \(today is 2026-11-02\)"),
    ({"version_id": "no-such-version"}, "no approved plan version"),
])
def test_invalid_decisions_are_refused_with_a_clear_message(workspace, kw, message):
    with pytest.raises(ValueError, match=message):
        record(workspace, **kw)
    assert int(workspace.scalar("SELECT count(*) FROM decisions")) == 0
    assert int(workspace.scalar("SELECT count(*) FROM decision_events")) == 0


def test_due_today_is_allowed(workspace):
    record(workspace, due_date=TODAY)
    assert len(D.log(workspace, today=TODAY)) == 1


def test_status_changes_are_logged_with_who_and_when(workspace):
    did = record(workspace)
    assert D.set_status(workspace, did, "in progress", "ops lead") is True
    assert D.set_status(workspace, did, "In Progress", "ops lead") is False  # no change, no event
    assert D.set_status(workspace, did, "done", "coo") is True
    ev = D.events(workspace, did)
    assert ev["kind"].tolist() == ["created", "status", "status"]
    assert ev["author"].tolist() == ["ceo", "ops lead", "coo"]
    assert ev["old_status"].tolist()[1:] == ["open", "in progress"]
    assert ev["new_status"].tolist() == ["open", "in progress", "done"]
    assert ev["at"].is_monotonic_increasing and ev["seq"].tolist() == [1, 2, 3]
    d = D.get(workspace, did)
    assert d.status == "done" and d.status_by == "coo"
    assert d.title == "Add a second shift on ASSY-2 from May"  # title/owner/due never change
    assert int(workspace.scalar("SELECT count(*) FROM audit_log WHERE kind = 'decision_status'")) == 2
    with pytest.raises(ValueError, match="unknown status 'closed'"):
        D.set_status(workspace, did, "closed", "coo")
    with pytest.raises(KeyError):
        D.set_status(workspace, "nope", "done", "coo")
    with pytest.raises(ValueError, match="author"):
        D.set_status(workspace, did, "open", "")


def test_stale_status_change_is_refused(workspace):
    did = record(workspace)
    D.set_status(workspace, did, "dropped", "cfo", expected_status="open")
    with pytest.raises(D.StaleDecision, match="set to 'dropped' by cfo"):
        D.set_status(workspace, did, "done", "coo", expected_status="open")
    assert D.get(workspace, did).status == "dropped"
    assert int(workspace.scalar("SELECT count(*) FROM audit_log WHERE kind = 'decision_refused'")) == 1


def test_overdue_and_status_filter(workspace):
    a = record(workspace, title="a", due_date=TODAY + timedelta(days=3))
    b = record(workspace, title="b", due_date=TODAY + timedelta(days=1))
    c = record(workspace, title="c", due_date=TODAY + timedelta(days=10))
    D.set_status(workspace, b, "done", "ops")
    later = TODAY + timedelta(days=5)  # a and b are past due; b is done so not overdue
    log = D.log(workspace, today=later).set_index("title")
    assert log["overdue"].to_dict() == {"b": False, "a": True, "c": False}
    assert D.log(workspace, today=later)["title"].tolist() == ["b", "a", "c"]  # earliest due first
    assert D.log(workspace, status="done")["decision_id"].tolist() == [b]
    D.set_status(workspace, c, "in progress", "ops")
    assert set(D.log(workspace, status=["open", "in progress"])["decision_id"]) == {a, c}
    assert D.log(workspace, status="open")["decision_id"].tolist() == [a]


def test_event_id_makes_record_idempotent(workspace):
    a = record(workspace, event_id="form-1")
    b = record(workspace, event_id="form-1", title="something else")
    assert a == b and int(workspace.scalar("SELECT count(*) FROM decisions")) == 1


def test_link_version_once(workspace):
    v1, v2 = version(workspace), version(workspace, "December S&OP")
    a, b = record(workspace, title="a"), record(workspace, title="b")
    assert D.link_version(workspace, [a, b], v1.version_id) == [a, b]
    assert D.get(workspace, a).version_id == v1.version_id
    assert D.link_version(workspace, [a], v1.version_id) == []  # the same link again: nothing to do
    with pytest.raises(ValueError, match="already linked to plan version v1"):
        D.link_version(workspace, a, v2.version_id)
    c = record(workspace, title="c")
    with pytest.raises(ValueError, match="already linked"):  # all or none: c is not linked either
        D.link_version(workspace, [c, a], v2.version_id)
    assert D.get(workspace, c).version_id is None
    with pytest.raises(ValueError, match="no approved plan version"):
        D.link_version(workspace, [c], "nope")
    ev = D.events(workspace, a)
    assert ev["kind"].tolist() == ["created", "linked"] and ev["author"].iloc[-1] == "ceo"  # the approver
    assert D.log(workspace).set_index("title").loc["a", "status"] == "open"  # linking leaves the status
    d = record(workspace, title="d", version_id=v2.version_id)  # recorded against a version directly
    assert D.get(workspace, d).version_id == v2.version_id
    with pytest.raises(ValueError, match="already linked to plan version v2"):
        D.link_version(workspace, [d], v1.version_id)


def test_decisions_survive_a_reopen(tmp_path):
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        v = version(ws)
        did = record(ws, version_id=v.version_id)
        D.set_status(ws, did, "in progress", "ops")
        before = D.log(ws, today=TODAY)
    with Workspace(path) as ws:
        after = D.log(ws, today=TODAY)
        pd.testing.assert_frame_equal(after, before)
        assert D.events(ws, did)["kind"].tolist() == ["created", "status"]
        assert D.set_status(ws, did, "done", "ops", expected_status="in progress")
        assert D.get(ws, did).status == "done"
