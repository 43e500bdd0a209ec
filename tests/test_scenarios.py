"""Scenarios: validation, unguessable ids, storage that survives a reopen, and get() that never trusts its input."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from sop_core.planning import scenarios as S
from sop_core.planning.scenarios import Changes, DemandChange, PriceChange, Scenario
from sop_core.store.workspace import Provenance, Workspace

CHANGES = {
    "demand": [{"family": "Tents", "region": None, "period_from": "2027-01", "period_to": "2027-03", "pct": 10}],
    "price": [{"family": None, "pct": -3}],
    "capacity": [{"resource": "ASSY-2", "pct": -20}],
    "overrides": [{"family": "Tents", "sku": "TN-1001", "period_from": "2027-02-01", "period_to": "2027-02-01",
                   "kind": "units", "value": 500, "reason": "Promotion"}],
}


def load_products(ws: Workspace) -> None:
    """A small products and capacity table so names can be checked."""
    products = pd.DataFrame({"sku": ["TN-1001", "BP-2001"], "family": ["Tents", "Backpacks"],
                             "unit_price": [100.0, 50.0], "unit_cost": [60.0, 20.0], "resource": ["ASSY-2", "SEW-1"],
                             "hours_per_unit": [1.0, 0.5]})
    ws.replace_table("products", products, Provenance("products.csv", "x"))
    capacity = pd.DataFrame({"period": [pd.Timestamp("2027-01-01")] * 2, "resource": ["ASSY-2", "SEW-1"],
                             "available_hours": [100.0, 100.0]})
    ws.replace_table("capacity", capacity, Provenance("capacity.csv", "y"))


# -- validation ---------------------------------------------------------------------------------
def test_changes_are_parsed_and_normalised() -> None:
    ch = S.parse_changes(CHANGES)
    d = ch.demand[0]
    assert d == DemandChange(pct=10.0, family="Tents", region=None, period_from=pd.Timestamp("2027-01-01"),
                             period_to=pd.Timestamp("2027-03-01"))
    assert ch.price == (PriceChange(pct=-3.0),)
    assert ch.capacity[0].resource == "ASSY-2" and ch.capacity[0].pct == -20.0
    o = ch.overrides[0]
    assert (o.kind, o.value, o.period_from, o.sku) == ("units", 500.0, pd.Timestamp("2027-02-01"), "TN-1001")
    assert S.parse_changes(ch.to_dict()) == ch  # to_dict round-trips
    assert S.parse_changes({"demand": [d]}) == Changes(demand=(d,))  # dataclass items accepted
    assert S.parse_changes(None).is_empty()


def test_a_mid_month_date_means_its_month() -> None:
    ch = S.parse_changes({"demand": [{"pct": 5, "period_from": "2027-01-15", "period_to": "2027-02-20"}]})
    assert ch.demand[0].period_from == pd.Timestamp("2027-01-01")
    assert ch.demand[0].period_to == pd.Timestamp("2027-02-01")


@pytest.mark.parametrize("changes, message", [
    ({"demand": [{"pct": 2000}]}, r"demand change 1: pct must be from -100 to 1000 \(percent points"),
    ({"demand": [{"pct": -101}]}, "demand change 1: pct must be from -100"),
    ({"demand": [{"pct": 5}, {"pct": "ten"}]}, "demand change 2: pct must be a number, got 'ten'"),
    ({"demand": [{"pct": float("nan")}]}, "demand change 1: pct must be a finite number"),
    ({"demand": [{"pct": True}]}, "demand change 1: pct must be a number"),
    ({"demand": [{}]}, "demand change 1: pct must be a number, got None"),
    ({"demand": [{"pct": 5, "familly": "Tents"}]}, "demand change 1: unknown field"),
    ({"demand": [{"pct": 5, "period_from": "2027-05", "period_to": "2027-02"}]}, "empty period range"),
    ({"demand": [{"pct": 5, "period_from": "someday"}]}, "period_from 'someday' is not a date"),
    ({"demand": [{"pct": 5, "family": 7}]}, "family must be text"),
    ({"demand": [{"pct": 5, "family": "x" * 201}]}, "family is 201 characters long"),
    ({"price": [{"pct": -100}]}, "price change 1: pct must be above -100 to 1000"),
    ({"capacity": [{"pct": 1001, "resource": "L1"}]}, "capacity change 1: pct must be from -100 to 1000"),
    ({"overrides": [{"kind": "double", "value": 1, "period_from": "2027-01-01", "period_to": "2027-01-01"}]},
     "override 1: kind must be 'percent' or 'units'"),
    ({"overrides": [{"kind": "units", "value": -1, "period_from": "2027-01-01", "period_to": "2027-01-01"}]},
     "override 1: units -1 is negative"),
    ({"overrides": [{"kind": "percent", "value": -150, "period_from": "2027-01-01", "period_to": "2027-01-01"}]},
     "below -100%"),
    ({"overrides": [{"kind": "units", "value": 5}]}, "override 1: choose the first and last period"),
    ({"prices": []}, "unknown change type"),
    ({"demand": {"pct": 5}}, "demand: expected a list of changes"),
    ({"demand": ["Tents +10%"]}, "demand change 1: expected a dict of fields"),
    ({"demand": [{"pct": 1}] * (S.MAX_CHANGES + 1)}, f"at most {S.MAX_CHANGES}"),
    ("demand +10%", "changes must be a dict"),
])
def test_invalid_changes_say_which_and_why(changes, message) -> None:
    with pytest.raises(ValueError, match=message):
        S.parse_changes(changes)


def test_create_requires_a_name_and_an_author(workspace: Workspace) -> None:
    with pytest.raises(ValueError, match="scenario name is required"):
        S.create(workspace, "  ", CHANGES, "alice")
    with pytest.raises(ValueError, match="author"):
        S.create(workspace, "Peak", CHANGES, "")
    with pytest.raises(ValueError, match="note is 2001 characters"):
        S.create(workspace, "Peak", CHANGES, "alice", note="n" * 2001)
    with pytest.raises(ValueError, match="demand change 1"):
        S.create(workspace, "Peak", {"demand": [{"pct": 5000}]}, "alice")
    assert workspace.scalar("SELECT count(*) FROM scenarios") == 0


def test_unknown_names_warn_but_do_not_fail(workspace: Workspace) -> None:
    load_products(workspace)
    sc = S.create(workspace, "Typos", {"demand": [{"family": "Tentz", "pct": 10}, {"region": "Mars", "pct": 1}],
                                      "price": [{"family": "Tents", "pct": -3}],
                                      "capacity": [{"resource": "LINE-9", "pct": -20}]}, "alice")
    assert sc.warnings == (
        "demand change 1: family 'Tentz' is not in the data, so this change changes nothing",
        "capacity change 1: resource 'LINE-9' is not in the data, so this change changes nothing",
    )  # regions are not checked without a sales table; 'Tents' is known
    assert S.create(workspace, "Nothing", {}, "alice").warnings == (
        "the scenario has no changes: it equals the baseline",)
    audit = json.loads(workspace.scalar("SELECT detail FROM audit_log WHERE kind = 'scenario' AND subject = ?",
                                        [sc.scenario_id]))
    assert len(audit["warnings"]) == 2


# -- storage ------------------------------------------------------------------------------------
def test_create_get_list_and_audit(workspace: Workspace) -> None:
    sc = S.create(workspace, "Tents +10%", CHANGES, "alice", note="<b>peak</b> season")
    assert S.is_valid_id(sc.scenario_id)
    assert sc.base_fingerprint == workspace.fingerprint()
    got = S.get(workspace, sc.scenario_id)
    assert got == sc and got.note == "<b>peak</b> season"  # stored as text, as typed
    assert got.changes == S.parse_changes(CHANGES)
    second = S.create(workspace, "Price down", {"price": [{"pct": -3}]}, "bob")
    assert [s.scenario_id for s in S.list_scenarios(workspace)] == [second.scenario_id, sc.scenario_id]
    row = workspace.query("SELECT author, kind, subject FROM audit_log WHERE kind = 'scenario' ORDER BY \"at\"")
    assert row.values.tolist() == [["alice", "scenario", sc.scenario_id], ["bob", "scenario", second.scenario_id]]


def test_archive_hides_from_the_list_but_keeps_the_link(workspace: Workspace) -> None:
    sc = S.create(workspace, "Old idea", CHANGES, "alice")
    assert S.archive(workspace, sc.scenario_id, "bob") is True
    assert S.archive(workspace, sc.scenario_id, "bob") is False  # already archived
    assert S.archive(workspace, "' OR 1=1 --", "bob") is False
    assert S.list_scenarios(workspace) == []
    assert [s.scenario_id for s in S.list_scenarios(workspace, include_archived=True)] == [sc.scenario_id]
    got = S.get(workspace, sc.scenario_id)
    assert got is not None and got.archived
    assert workspace.scalar("SELECT count(*) FROM audit_log WHERE kind = 'scenario_archive'") == 1


def test_a_repeated_event_id_returns_the_stored_scenario(workspace: Workspace) -> None:
    a = S.create(workspace, "Once", CHANGES, "alice", event_id="form-1")
    b = S.create(workspace, "Once", CHANGES, "alice", event_id="form-1")
    assert a == b
    assert workspace.scalar("SELECT count(*) FROM scenarios") == 1


def test_ids_are_unguessable_tokens(workspace: Workspace) -> None:
    ids = [S.create(workspace, f"s{i}", {"price": [{"pct": 1}]}, "alice").scenario_id for i in range(1000)]
    assert len(set(ids)) == 1000
    assert all(len(i) == 22 and S.ID_PATTERN.fullmatch(i) for i in ids)
    assert ids != sorted(ids)  # not a counter: creation order is not id order
    assert sum(a[:4] == b[:4] for a, b in zip(ids, ids[1:])) <= 1  # neighbours share no prefix
    same = [S.create(workspace, "twin", CHANGES, "alice").scenario_id for _ in range(2)]
    assert same[0] != same[1]  # not a content hash


@pytest.mark.parametrize("tampered", [
    "", "' OR 1=1 --", "x" * 10_000, "AAAAAAAAAAAAAAAAAAAAAA", None, 12345, ["a"], "é" * 22, "ɑ" * 22,
    "abcdefghijklmnopqrstu\n", "abcdefghijklmnopqrstuv\n", "abc%27%20OR%201=1--xxxxx", "../../../../etc/passwd",
    "a' UNION SELECT *--aaaa", "\x00" * 22,
])
def test_get_never_trusts_its_input(workspace: Workspace, tampered) -> None:
    sc = S.create(workspace, "Real", CHANGES, "alice")
    assert S.get(workspace, tampered) is None
    assert S.get(workspace, sc.scenario_id) == sc  # nothing broken


def test_get_of_a_corrupted_row_is_none_not_a_crash(workspace: Workspace) -> None:
    sc = S.create(workspace, "Real", CHANGES, "alice")
    workspace.execute("UPDATE scenarios SET changes = '{not json' WHERE scenario_id = ?", [sc.scenario_id])
    assert S.get(workspace, sc.scenario_id) is None
    assert S.list_scenarios(workspace) == []


def test_scenarios_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        sc = S.create(ws, "Keep me", CHANGES, "alice", note="n")
    with Workspace(path) as ws:
        assert S.get(ws, sc.scenario_id) == sc
        assert S.list_scenarios(ws) == [sc]


def test_json_round_trip_and_bad_json() -> None:
    sc = Scenario(scenario_id=S.new_scenario_id(), name="J", author="a",
                  created_at=pd.Timestamp("2026-11-01 10:00:00.123456").to_pydatetime(),
                  changes=S.parse_changes(CHANGES), note="x", base_fingerprint="0123456789abcdef",
                  warnings=("w",))
    back = Scenario.from_json(sc.to_json())
    assert back == sc and back.warnings == ("w",)
    for bad in ("", "[]", "{}", "{not json", json.dumps({"scenario_id": "x", "name": "n", "author": "a",
                                                         "created_at": "2026-01-01", "changes": {"bad": []}})):
        with pytest.raises(ValueError):
            Scenario.from_json(bad)


def test_describe_reads_like_the_meeting_talks() -> None:
    lines = S.describe(S.parse_changes(CHANGES))
    assert lines == [
        "Override 500 units per period · family Tents, sku TN-1001 · 2027-02-01 – 2027-02-01",
        "Demand +10% · family Tents · all regions · Jan 2027 – Mar 2027",
        "Price -3% · all families",
        "Capacity -20% · ASSY-2 · all months",
    ]


# -- changes entered as table rows ----------------------------------------------------------------
def test_changes_from_rows_skips_empty_rows_and_reads_all_as_all() -> None:
    rows = pd.DataFrame({"family": ["Tents", None, "All", ""], "region": ["All", None, "North", "  "],
                         "period_from": ["2027-01-01", None, None, None], "period_to": ["2027-03-01", None, None, None],
                         "pct": [10.0, float("nan"), -5.0, float("nan")], "note": ["ignored", None, None, None]})
    got = S.changes_from_rows("demand", rows, all_label="All")
    assert got == [{"family": "Tents", "region": None, "period_from": "2027-01-01", "period_to": "2027-03-01",
                    "pct": 10.0},
                   {"family": None, "region": "North", "period_from": None, "period_to": None, "pct": -5.0}]
    assert S.parse_changes({"demand": got}).demand == (
        DemandChange(10.0, "Tents", None, pd.Timestamp("2027-01-01"), pd.Timestamp("2027-03-01")),
        DemandChange(-5.0, None, "North"))
    # without all_label, 'All' is a name like any other
    assert S.changes_from_rows("demand", rows.iloc[[2]])[0]["family"] == "All"
    assert S.changes_from_rows("price", pd.DataFrame(columns=["family", "pct"])) == []
    assert S.changes_from_rows("capacity", None) == []


def test_changes_from_rows_leaves_checking_to_the_engine() -> None:
    rows = pd.DataFrame({c: [None] for c in S.ROW_FIELDS["overrides"]}).astype(object)
    rows.loc[0, ["family", "period_from", "period_to", "kind", "value"]] = ["Tents", "2027-02-01", "2027-02-01",
                                                                            "percent", -150.0]
    got = S.changes_from_rows("overrides", rows, "All")
    assert got == [{"family": "Tents", "region": None, "sku": None, "period_from": "2027-02-01",
                    "period_to": "2027-02-01", "kind": "percent", "value": -150.0, "reason": None}]
    with pytest.raises(ValueError, match="override 1: percent change -150% is below -100%"):
        S.parse_changes({"overrides": got})
    partly = S.changes_from_rows("capacity", pd.DataFrame({"resource": ["ASSY-2"], "period_from": [None],
                                                           "period_to": [None], "pct": [None]}))
    with pytest.raises(ValueError, match="capacity change 1: pct must be a number, got None"):
        S.parse_changes({"capacity": partly})  # a row with a name but no % is an error, not ignored
    with pytest.raises(ValueError, match="missing column"):
        S.changes_from_rows("price", pd.DataFrame({"pct": [5.0]}))
    with pytest.raises(ValueError, match="unknown change type"):
        S.changes_from_rows("discounts", pd.DataFrame())
