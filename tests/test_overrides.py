"""Planner overrides: validation, append-only storage, undo, idempotent and concurrent saves.

Same hand-worked forecast as test_consensus (flat over Jan-Mar 2026, units per month):
family A: a1 N 100, a1 S 50, a2 N 30, a2 S 20 (total 200); family B: b1 N 10, b1 S 0, b2 N 5, b2 S 0.
"""
from __future__ import annotations

import json
import threading
import uuid

import numpy as np
import pandas as pd
import pytest

from sop_core.demand import consensus as C
from sop_core.demand import overrides as O
from sop_core.demand.overrides import OverrideInput, StaleOverride
from sop_core.store import access
from sop_core.store.workspace import Workspace

JAN, FEB, MAR = pd.Timestamp("2026-01-01"), pd.Timestamp("2026-02-01"), pd.Timestamp("2026-03-01")
FORECAST = {"A": {"a1": {"N": 100, "S": 50}, "a2": {"N": 30, "S": 20}},
            "B": {"b1": {"N": 10, "S": 0}, "b2": {"N": 5, "S": 0}}}
RUN = "run-1"


def make_statistical(periods=(JAN, FEB, MAR), scale: float = 1.0) -> pd.DataFrame:
    """The hand-worked forecast in the forecast engine's layout."""
    rows = []
    for family, skus in FORECAST.items():
        for sku, regions in skus.items():
            for region, v in regions.items():
                for p in periods:
                    rows.append({"series_id": f"{sku} | {region}", "sku": sku, "region": region, "family": family,
                                 "period": p, "value": float(v) * scale, "lower": 0.0, "upper": 0.0, "model": "ets"})
    return pd.DataFrame(rows)


def inp(**kw) -> OverrideInput:
    """An override input with a default reason."""
    kw.setdefault("reason", "Promotion")
    return OverrideInput(**kw)


def family_total(df: pd.DataFrame, family: str, period: pd.Timestamp) -> float:
    """Consensus total of a family in one period."""
    return float(df[(df["family"] == family) & (df["period"] == period)]["consensus"].sum())


def n_rows(ws: Workspace, table: str = "overrides", where: str = "") -> int:
    """Row count of a workspace table."""
    return int(ws.scalar(f"SELECT count(*) FROM {table} {where}"))


@pytest.fixture
def stat() -> pd.DataFrame:
    return make_statistical()


@pytest.fixture
def ws(tmp_path):
    w = Workspace(tmp_path / "ws.duckdb")
    yield w
    w.close()


# -- reasons and validation ------------------------------------------------------------------
def test_reasons_default_and_configurable(ws, stat):
    assert O.reasons(ws) == ["Promotion", "New customer", "Lost business", "Price change", "Market intelligence",
                             "Other"]
    O.set_reasons(ws, ["Tender won", " Promotion "], author="admin")
    assert O.reasons(ws) == ["Tender won", "Promotion"]
    saved = O.save_override(ws, RUN, stat, inp(family="A", period_from=JAN, period_to=JAN, kind="percent",
                                               value=5, reason="tender WON"), "alice")
    assert saved.reason == "Tender won"  # stored in the list's spelling
    with pytest.raises(ValueError, match="unknown reason 'Other'.*Tender won, Promotion"):
        O.save_override(ws, RUN, stat, inp(family="A", period_from=FEB, period_to=FEB, kind="percent",
                                           value=5, reason="Other"), "alice")


def test_reason_is_required_and_must_be_in_the_list(ws, stat):
    for reason in ("", "   ", None):
        with pytest.raises(ValueError, match="a reason is required"):
            O.save_override(ws, RUN, stat, inp(family="A", period_from=JAN, period_to=JAN, kind="percent",
                                               value=5, reason=reason), "alice")
    with pytest.raises(ValueError, match="unknown reason 'Weather'"):
        O.save_override(ws, RUN, stat, inp(family="A", period_from=JAN, period_to=JAN, kind="percent",
                                           value=5, reason="Weather"), "alice")
    assert n_rows(ws) == 0


@pytest.mark.parametrize("values, message", [
    ([], "cannot be empty"),
    (["Promotion", "  "], "override reason 2 is empty"),
    (["Promotion", None], "override reason 2 is empty"),
    (["Promotion", float("nan")], "override reason 2 is empty"),
    (["Promotion", " promotion"], "'promotion' is listed twice"),
    (["Promotion", "x" * (O.MAX_REASON + 1)], f"override reason 2 .* is {O.MAX_REASON + 1} characters long"),
])
def test_a_bad_reason_list_is_refused_and_nothing_stored(ws, values, message):
    O.set_reasons(ws, ["Tender won", "Promotion"], author="admin")
    with pytest.raises(ValueError, match=message):
        O.set_reasons(ws, values, author="admin")
    assert O.reasons(ws) == ["Tender won", "Promotion"]
    assert n_rows(ws, "audit_log", "WHERE kind = 'setting'") == 1  # only the first, accepted list
    assert O.set_reasons(ws, ["x" * O.MAX_REASON]) == ["x" * O.MAX_REASON]  # the limit itself is allowed


def test_a_removed_reason_stays_on_saved_overrides_and_their_undo(ws, stat):
    kept = O.save_override(ws, RUN, stat, inp(family="A", period_from=JAN, period_to=JAN, kind="percent",
                                               value=5, reason="Other"), "alice")
    O.set_reasons(ws, ["Promotion", "Tender won"], author="admin")
    assert list(O.history(ws)["reason"]) == ["Other"]
    assert O.get(ws, kept.override_id).reason == "Other"
    undo = O.undo(ws, kept.override_id, "bob", statistical=stat)  # an undo copies the reason, listed or not
    assert undo.reason == "Other"
    assert sorted(O.history(ws)["reason"]) == ["Other", "Other"]
    with pytest.raises(ValueError, match="unknown reason 'Other'"):  # new overrides choose from the new list
        O.save_override(ws, RUN, stat, inp(family="A", period_from=JAN, period_to=JAN, kind="percent",
                                           value=5, reason="Other"), "alice")


def test_changing_reasons_is_a_setting_change_refused_to_viewers(ws):
    access.enable(True)
    try:
        with access.acting_as(access.Actor("vic@example.com", "viewer")):
            with pytest.raises(access.NotPermitted, match="vic@example.com is a viewer"):
                O.set_reasons(ws, ["Weather"], author="vic@example.com")
        assert ws.get_setting(O.REASONS_SETTING) is None and O.reasons(ws) == list(O.DEFAULT_REASONS)
        with access.acting_as(access.Actor("pat@example.com", "planner")):
            O.set_reasons(ws, ["Weather"], author="pat@example.com")
    finally:
        access.enable(False)
    assert O.reasons(ws) == ["Weather"]
    audit = ws.query("SELECT author, detail FROM audit_log WHERE kind = 'setting'")
    assert list(audit["author"]) == ["pat@example.com"]
    assert json.loads(audit["detail"].iloc[0]) == {"value": ["Weather"]}


@pytest.mark.parametrize("kw, message", [
    ({"family": "A", "period_from": FEB, "period_to": JAN, "kind": "percent", "value": 5}, "empty period range"),
    ({"family": "A", "period_from": JAN, "period_to": JAN, "kind": "percent", "value": -150}, "below -100%"),
    ({"family": "A", "period_from": JAN, "period_to": JAN, "kind": "units", "value": -1}, "negative"),
    ({"family": "Z", "period_from": JAN, "period_to": JAN, "kind": "percent", "value": 5}, "matches no forecast rows"),
    ({"sku": "b1", "family": "A", "period_from": JAN, "period_to": JAN, "kind": "percent", "value": 5},
     "matches no forecast rows"),
    ({"family": "A", "period_from": "2027-01-01", "period_to": "2027-02-01", "kind": "units", "value": 5},
     "inside the forecast horizon"),
    ({"region": "N", "period_from": JAN, "period_to": JAN, "kind": "percent", "value": 5}, "family or a sku"),
    ({"family": "A", "period_from": JAN, "period_to": JAN, "kind": "factor", "value": 5}, "unknown override kind"),
    ({"family": "A", "period_from": JAN, "period_to": JAN, "kind": "units", "value": float("nan")}, "finite"),
    ({"family": "A", "period_from": "2026-01-15", "period_to": FEB, "kind": "units", "value": 5},
     "not a period start"),
])
def test_invalid_overrides_are_refused_with_a_clear_message(ws, stat, kw, message):
    with pytest.raises(ValueError, match=message):
        O.save_override(ws, RUN, stat, inp(**kw), "alice")
    assert n_rows(ws) == 0 and n_rows(ws, "consensus") == 0


def test_author_is_required(ws, stat):
    with pytest.raises(ValueError, match="author"):
        O.save_override(ws, RUN, stat, inp(family="A", period_from=JAN, period_to=JAN, kind="units", value=1), " ")


# -- saving ----------------------------------------------------------------------------------
def test_save_records_before_after_audit_and_refreshes_consensus(ws, stat):
    o = O.save_override(ws, RUN, stat, inp(family="A", period_from=JAN, period_to=FEB, kind="percent", value=10,
                                           comment="spring promo"), "alice")
    assert o.before_units == pytest.approx(400) and o.after_units == pytest.approx(440)  # 2 months × 200
    assert (o.author, o.run_key, o.seq, o.comment, o.undoes) == ("alice", RUN, 1, "spring promo", None)
    cons = C.load_consensus(ws, RUN)
    assert cons is not None and list(cons.columns) == list(C.CONSENSUS_COLUMNS)
    assert family_total(cons, "A", JAN) == pytest.approx(220) and family_total(cons, "A", MAR) == 200
    pd.testing.assert_frame_equal(cons, C.apply_overrides(stat, O.active(ws)), check_dtype=False)
    audit = ws.query("SELECT * FROM audit_log WHERE kind = 'override'")
    assert len(audit) == 1 and audit["subject"].iloc[0] == o.override_id
    assert json.loads(audit["detail"].iloc[0])["value"] == 10

    # units on the same family in February: before 220 (after the +10%), after 300
    u = O.save_override(ws, RUN, stat, inp(family="A", period_from=FEB, period_to=FEB, kind="units", value=300),
                        "alice", expected_latest=o.override_id)
    assert (u.before_units, u.after_units) == (pytest.approx(220), pytest.approx(300))
    cons = C.load_consensus(ws, RUN)
    assert family_total(cons, "A", FEB) == pytest.approx(300)
    assert cons[(cons["sku"] == "a1") & (cons["region"] == "N") & (cons["period"] == FEB)]["consensus"].iloc[0] == \
        pytest.approx(150)


def test_history_newest_first_with_documented_columns(ws, stat):
    a = O.save_override(ws, RUN, stat, inp(family="A", period_from=JAN, period_to=JAN, kind="percent", value=10), "alice")
    b = O.save_override(ws, "run-2", stat, inp(sku="b1", period_from=MAR, period_to=MAR, kind="units", value=40), "bob")
    h = O.history(ws)
    assert list(h.columns[: len(O.HISTORY_COLUMNS)]) == list(O.HISTORY_COLUMNS)
    assert list(h["override_id"]) == [b.override_id, a.override_id]
    assert h["created_at"].is_monotonic_decreasing
    assert list(O.history(ws, RUN)["override_id"]) == [a.override_id]
    assert O.get(ws, b.override_id) == b


def test_history_table_reads_as_a_planner_expects(ws, stat):
    a = O.save_override(ws, RUN, stat, inp(family="A", period_from=JAN, period_to=MAR, kind="percent", value=10,
                                           comment="launch"), "alice")
    O.save_override(ws, RUN, stat, inp(sku="b1", region="N", period_from=MAR, period_to=MAR, kind="units", value=40),
                    "bob")
    O.undo(ws, a.override_id, "carol", statistical=stat)
    t = O.history_table(O.history(ws))
    assert list(t.columns) == list(O.HISTORY_TABLE_COLUMNS)
    cols = ["author", "family", "region", "sku", "periods", "change", "reason", "before_units", "after_units", "status",
            "comment"]
    assert [tuple(r) for r in t[cols].itertuples(index=False)] == [
        ("carol", "A", "All", "All", "Jan 2026–Mar 2026", "+10%", "Promotion", 660, 600, "Undo", ""),
        ("bob", "", "N", "b1", "Mar 2026", "set to 40 units/month", "Promotion", 10, 40, "In force", ""),
        ("alice", "A", "All", "All", "Jan 2026–Mar 2026", "+10%", "Promotion", 600, 660, "Undone", "launch"),
    ]
    assert str(t["before_units"].dtype) == "Int64" and str(t["after_units"].dtype) == "Int64"
    assert "None" not in t.to_string() and "nan" not in t.to_string().lower()
    assert O.saved_text(a) == "A · Jan 2026–Mar 2026 · +10% (Promotion): 600 → 660 units"
    assert list(O.history_table(O.history(ws).iloc[0:0]).columns) == list(O.HISTORY_TABLE_COLUMNS)
    with pytest.raises(ValueError, match="missing columns: before_units, after_units"):
        O.history_table(O.history(ws).drop(columns=["before_units", "after_units"]))


@pytest.mark.parametrize("kind, value, bucket, text", [
    ("percent", 10.0, "month", "+10%"), ("percent", -5.0, "month", "−5%"), ("percent", 12.5, "month", "+12.5%"),
    ("percent", 0.0, "month", "0%"), ("units", 1500.4, "month", "set to 1,500 units/month"),
    ("units", 0.0, "week", "set to 0 units/week"),
])
def test_change_label(kind, value, bucket, text):
    assert O.change_label(kind, value, bucket) == text


def test_a_history_in_money_says_amounts_not_units(ws, stat):
    assert O.change_label("units", 1_250_000.0, "month", in_money=True) == "set to $1.25M/month"
    assert O.change_label("percent", 10.0, "month", in_money=True) == "+10%"
    a = O.save_override(ws, RUN, stat, inp(family="A", period_from=JAN, period_to=MAR, kind="percent", value=10),
                        "alice")
    O.save_override(ws, RUN, stat, inp(sku="b1", region="N", period_from=MAR, period_to=MAR, kind="units", value=40),
                    "bob")
    assert O.saved_text(a, in_money=True) == "A · Jan 2026–Mar 2026 · +10% (Promotion): $600 → $660"
    assert O.saved_text(a) == "A · Jan 2026–Mar 2026 · +10% (Promotion): 600 → 660 units"
    table = O.history_table(O.history(ws), in_money=True)
    assert table["change"].tolist() == ["set to $40/month", "+10%"]


def test_periods_label_and_a_bad_kind():
    assert O.periods_label(JAN, JAN) == "Jan 2026"
    assert O.periods_label(pd.Timestamp("2026-11-02"), pd.Timestamp("2026-11-16"), "week") == "02 Nov 2026–16 Nov 2026"
    with pytest.raises(ValueError, match="unknown override kind 'pct'"):
        O.change_label("pct", 10)


def test_double_save_with_same_event_id_writes_once(ws, stat):
    event = uuid.uuid4().hex
    o = inp(family="A", period_from=JAN, period_to=JAN, kind="percent", value=10, event_id=event)
    first = O.save_override(ws, RUN, stat, o, "alice")
    second = O.save_override(ws, RUN, stat, o, "alice")  # rerun: the screen still says "no override yet"
    assert second == first
    assert n_rows(ws) == 1
    assert n_rows(ws, "audit_log", "WHERE kind = 'override'") == 1
    assert family_total(C.load_consensus(ws, RUN), "A", JAN) == pytest.approx(220)  # applied once, not 242


def test_stale_save_is_refused_naming_the_other_author(ws, stat):
    shown = None  # both planners opened the page when family A had no override
    alice = O.save_override(ws, RUN, stat, inp(family="A", period_from=JAN, period_to=FEB, kind="units", value=400),
                            "alice", expected_latest=shown)
    before_rows = n_rows(ws)
    before_cons = C.load_consensus(ws, RUN)
    # bob edits a1 (inside family A) in February from his stale screen
    with pytest.raises(StaleOverride, match=r"changed by alice at \d\d:\d\d — reload to see it") as err:
        O.save_override(ws, RUN, stat, inp(sku="a1", period_from=FEB, period_to=MAR, kind="units", value=10),
                        "bob", expected_latest=shown)
    assert err.value.author == "alice" and err.value.latest.override_id == alice.override_id
    assert n_rows(ws) == before_rows == 1
    pd.testing.assert_frame_equal(C.load_consensus(ws, RUN), before_cons)  # alice's value is not overwritten
    refused = ws.query("SELECT * FROM audit_log WHERE kind = 'override_refused'")
    assert len(refused) == 1 and refused["author"].iloc[0] == "bob"
    assert json.loads(refused["detail"].iloc[0])["latest_author"] == "alice"
    # scopes that do not share a row are not stale; after a reload bob's save goes through
    O.save_override(ws, RUN, stat, inp(family="B", period_from=JAN, period_to=FEB, kind="percent", value=5), "bob")
    O.save_override(ws, RUN, stat, inp(family="A", period_from=MAR, period_to=MAR, kind="percent", value=5), "bob")
    latest = O.latest_touching(ws, stat, inp(sku="a1", period_from=FEB, period_to=MAR, kind="units", value=10))
    assert latest is not None and latest.author == "bob" and latest.period_from == MAR
    ok = O.save_override(ws, RUN, stat, inp(sku="a1", period_from=FEB, period_to=MAR, kind="units", value=10),
                         "bob", expected_latest=latest.override_id)
    assert ok.author == "bob" and n_rows(ws) == 4


def test_undo_restores_the_previous_consensus(ws, stat):
    first = O.save_override(ws, RUN, stat, inp(family="A", period_from=JAN, period_to=FEB, kind="percent", value=10),
                            "alice")
    after_first = C.load_consensus(ws, RUN)
    second = O.save_override(ws, RUN, stat, inp(sku="a1", period_from=JAN, period_to=JAN, kind="units", value=300),
                             "bob", expected_latest=first.override_id)
    assert family_total(C.load_consensus(ws, RUN), "A", JAN) == pytest.approx(355)
    u = O.undo(ws, second.override_id, "carol")
    assert u.undoes == second.override_id and u.author == "carol"
    assert (u.before_units, u.after_units) == (pytest.approx(300), pytest.approx(165))  # a1 in January
    pd.testing.assert_frame_equal(C.load_consensus(ws, RUN), after_first)
    h = O.history(ws)
    assert n_rows(ws) == 3  # append-only: the undo is a new entry
    assert h.set_index("override_id")["undone"].to_dict() == {first.override_id: False, second.override_id: True,
                                                              u.override_id: False}
    assert list(O.active(ws, RUN)["override_id"]) == [first.override_id]
    with pytest.raises(ValueError, match="already undone by carol"):
        O.undo(ws, second.override_id, "dave")
    with pytest.raises(ValueError, match="itself an undo"):
        O.undo(ws, u.override_id, "dave")
    with pytest.raises(ValueError, match="no override"):
        O.undo(ws, "nope", "dave")
    # undoing the first one too brings back the statistical forecast; a double click writes once
    ev = uuid.uuid4().hex
    u1 = O.undo(ws, first.override_id, "carol", statistical=stat, event_id=ev)
    assert O.undo(ws, first.override_id, "carol", statistical=stat, event_id=ev) == u1
    cons = C.load_consensus(ws, RUN)
    assert (cons["consensus"] == cons["statistical"]).all() and not cons["overridden"].any()
    assert n_rows(ws) == 4 and n_rows(ws, "audit_log", "WHERE kind = 'override_undo'") == 2


def test_overrides_carry_forward_to_a_new_forecast_run(ws, stat):
    O.save_override(ws, RUN, stat, inp(family="A", period_from=FEB, period_to=MAR, kind="units", value=400), "alice")
    # next month's forecast: horizon Feb-Apr, 10% higher; the override still holds where it overlaps
    apr = pd.Timestamp("2026-04-01")
    stat2 = make_statistical(periods=(FEB, MAR, apr), scale=1.1)
    assert len(O.active(ws, "run-2")) == 0 and len(O.active(ws)) == 1
    cons2 = O.refresh_consensus(ws, "run-2", stat2)
    assert family_total(cons2, "A", FEB) == pytest.approx(400) and family_total(cons2, "A", MAR) == pytest.approx(400)
    assert family_total(cons2, "A", apr) == pytest.approx(220)
    pd.testing.assert_frame_equal(C.load_consensus(ws, "run-2"), cons2, check_dtype=False)
    assert family_total(C.load_consensus(ws, RUN), "A", JAN) == 200  # the old run is kept as it was
    assert C.load_consensus(ws, "never-run") is None


def test_overrides_and_consensus_survive_reopening(tmp_path, stat):
    path = tmp_path / "persist.duckdb"
    with Workspace(path) as ws:
        o = O.save_override(ws, RUN, stat, inp(family="A", period_from=JAN, period_to=JAN, kind="units", value=500,
                                               event_id="e-1"), "alice")
        O.undo(ws, o.override_id, "bob")
        kept = O.save_override(ws, RUN, stat, inp(sku="a2", period_from=FEB, period_to=FEB, kind="percent",
                                                  value=-50), "alice")
        hist, cons = O.history(ws), C.load_consensus(ws, RUN)
    with Workspace(path) as ws:
        pd.testing.assert_frame_equal(O.history(ws), hist)
        pd.testing.assert_frame_equal(C.load_consensus(ws, RUN), cons)
        assert list(O.active(ws)["override_id"]) == [kept.override_id]
        assert O.save_override(ws, RUN, stat, inp(family="A", period_from=JAN, period_to=JAN, kind="units", value=500,
                                                  event_id="e-1"), "alice") == o  # idempotency survives too
        assert n_rows(ws) == 3


def test_eight_threads_fifty_saves_each_none_lost(ws):
    periods = pd.date_range("2026-01-01", periods=50, freq="MS")
    skus = [f"t{i}" for i in range(8)]
    idx = pd.MultiIndex.from_product([skus, ["N", "S"], periods], names=["sku", "region", "period"])
    big = idx.to_frame(index=False)
    big["family"] = "F"
    big["value"] = 10.0
    prepared = C.prepare(big)
    errors: list[BaseException] = []
    saved: list[list[str]] = [[] for _ in skus]

    def worker(t: int) -> None:
        try:
            for i, p in enumerate(periods):  # one sku per thread, one period per save: distinct scopes
                o = O.save_override(ws, RUN, prepared, inp(sku=skus[t], period_from=p, period_to=p, kind="units",
                                                           value=float(100 + i), event_id=f"{t}-{i}"), f"planner{t}")
                saved[t].append(o.override_id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(len(skus))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors[:3]
    assert n_rows(ws) == 400 == sum(len(s) for s in saved)
    assert set(O.history(ws)["override_id"]) == {i for s in saved for i in s}
    assert sorted(ws.query("SELECT seq FROM overrides")["seq"]) == list(range(1, 401))
    assert n_rows(ws, "audit_log", "WHERE kind = 'override'") == 400
    cons = C.load_consensus(ws, RUN)  # the last save's refresh saw all 400
    for sku in skus:
        per = cons[cons["sku"] == sku].groupby("period")["consensus"].sum()
        assert per.to_numpy() == pytest.approx([100.0 + i for i in range(50)])
    assert cons["overridden"].all()


# -- the consensus of a run, as the pages read it -------------------------------------------------
def _counting(stat):
    """A `statistical` factory for `run_consensus` that counts its calls."""
    calls = []

    def factory():
        calls.append(1)
        return stat
    return factory, calls


def test_run_consensus_for_a_viewer_is_computed_not_stored(ws, stat):
    O.save_override(ws, "run-0", stat, inp(family="A", period_from=JAN, period_to=JAN, kind="units", value=400),
                    "alice")
    audits = n_rows(ws, "audit_log")
    factory, calls = _counting(stat)
    access.enable(True)
    try:
        with access.acting_as(access.Actor("vic@example.com", "viewer")):
            cons = O.run_consensus(ws, RUN, factory)
    finally:
        access.enable(False)
    assert calls == [1] and family_total(cons, "A", JAN) == pytest.approx(400)  # the override carries forward
    assert list(cons.columns) == list(C.CONSENSUS_COLUMNS)
    assert C.load_consensus(ws, RUN) is None and n_rows(ws, "audit_log") == audits  # nothing written
    pd.testing.assert_frame_equal(cons, C.apply_overrides(stat, O.active(ws)))


def test_run_consensus_for_a_planner_is_stored(ws, stat):
    O.save_override(ws, "run-0", stat, inp(family="A", period_from=JAN, period_to=JAN, kind="units", value=400),
                    "alice")
    access.enable(True)
    try:
        with access.acting_as(access.Actor("pat@example.com", "planner")):
            cons = O.run_consensus(ws, RUN, lambda: C.prepare(stat), author="pat@example.com")
    finally:
        access.enable(False)
    assert family_total(cons, "A", JAN) == pytest.approx(400)
    pd.testing.assert_frame_equal(C.load_consensus(ws, RUN), cons, check_dtype=False)
    assert n_rows(ws, "audit_log", "WHERE kind = 'consensus' AND author = 'pat@example.com'") == 1


def test_run_consensus_reuses_the_stored_one_and_store_overrides_the_role(ws, stat):
    O.refresh_consensus(ws, RUN, stat)
    factory, calls = _counting(make_statistical(scale=2.0))
    cons = O.run_consensus(ws, RUN, factory)
    assert calls == [] and family_total(cons, "A", JAN) == 200  # stored: the factory is not even called
    other, calls = _counting(stat)
    assert O.run_consensus(ws, "run-2", other, store=False) is not None and calls == [1]  # access off, but asked not to
    assert C.load_consensus(ws, "run-2") is None
    O.run_consensus(ws, "run-2", other, store=True)
    assert C.load_consensus(ws, "run-2") is not None
    assert O.run_consensus(ws, "run-3", lambda: None) is None  # nothing stored, no forecast


def test_unit_edits_are_one_units_override_per_changed_cell():
    periods = pd.to_datetime(["2026-11-01", "2026-12-01", "2027-01-01"])
    before = pd.DataFrame([[10.0, 20.0, np.nan], [5.0, 5.0, 5.0]], index=["A", "B"], columns=periods)
    after = before.copy()
    after.loc["A", periods[1]] = 25.0
    after.loc["B", periods[2]] = 0.0
    edits = O.unit_edits(before, after, "Promo", region="North", comment=" ")
    assert [(e.sku, e.period_from, e.period_to, e.kind, e.value, e.reason, e.region, e.comment) for e in edits] == [
        ("A", periods[1], periods[1], "units", 25.0, "Promo", "North", " "),
        ("B", periods[2], periods[2], "units", 0.0, "Promo", "North", " ")]
    assert O.unit_edits(before, before.copy(), "Promo") == []  # NaN left as NaN is no change


def test_undoable_leaves_out_undone_entries_and_the_undos():
    history = pd.DataFrame({"override_id": ["a", "b", "c"], "undoes": [None, None, "a"], "undone": [True, False, False]})
    assert list(O.undoable(history)["override_id"]) == ["b"]
