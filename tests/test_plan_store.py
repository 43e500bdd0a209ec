"""Evaluated plans stored in the workspace (`plan_store`, issue 15): exact round trips, keys that change when the data,
the overrides, the settings or the scenario change and only then, reuse after a restart, cleared with the company."""
from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from sop_core.demand import consensus, history
from sop_core.intake import company
from sop_core.planning import plan, plan_store, scenarios
from sop_core.store.workspace import Provenance, Workspace, frame_sha256

SETTINGS = {"prebuild_months": 2, "service_level": 0.95, "excess_cover_months": 6.0}


def demo_consensus(ws: Workspace) -> pd.DataFrame:
    """A seasonal-naive consensus for the 12 months after the demo's history (no forecast fitted)."""
    h = history.demand_history(ws)
    last = h["period"].max()
    stat = h[h["period"] > last - pd.DateOffset(months=12)]
    stat = stat.assign(period=stat["period"] + pd.DateOffset(months=12)).rename(columns={"quantity": "value"})
    return consensus.apply_overrides(stat[["sku", "region", "family", "period", "value"]])


def assert_same_view(a: plan.PlanView, b: plan.PlanView) -> None:
    for obj_a, obj_b in ((a, b), (a.result, b.result)):
        for f in dataclasses.fields(obj_a):
            x, y = getattr(obj_a, f.name), getattr(obj_b, f.name)
            if isinstance(x, pd.DataFrame):
                pd.testing.assert_frame_equal(x, y, check_exact=True)
                assert list(x.columns) == list(y.columns) and [str(d) for d in x.dtypes] == [str(d) for d in y.dtypes]
            elif f.name == "kpis":
                assert x.keys() == y.keys() and all(x[k] == y[k] or (x[k] != x[k] and y[k] != y[k]) for k in x)
            elif f.name != "result":
                assert x == y, f.name


@pytest.fixture
def demo_ws(workspace):
    company.reset_to_demo(workspace)
    return workspace


def test_a_stored_view_reads_back_exactly_and_after_a_restart_is_not_evaluated_again(demo_ws, monkeypatch):
    cons = demo_consensus(demo_ws)
    first = plan_store.view(demo_ws, cons, "run-1", SETTINGS)
    assert plan_store.stored_count(demo_ws) == 1
    key = plan_store.result_key(demo_ws.fingerprint(), "run-1", frame_sha256(cons), SETTINGS)
    assert_same_view(plan_store.load(demo_ws, key), first)
    path = demo_ws.path
    demo_ws.close()

    def no_evaluation(*a, **k):
        raise AssertionError("evaluated again")

    monkeypatch.setattr(plan, "build_view", no_evaluation)
    with Workspace(path) as again:  # a restarted server: a new Workspace on the same file
        assert_same_view(plan_store.view(again, cons, "run-1", SETTINGS), first)
        assert plan_store.stored_count(again) == 1


def test_the_key_changes_when_data_overrides_settings_or_scenario_change_and_only_then(demo_ws):
    cons = demo_consensus(demo_ws)
    fp, sha = demo_ws.fingerprint(), frame_sha256(cons)
    base = plan_store.result_key(fp, "run-1", sha, SETTINGS)
    assert plan_store.result_key(fp, "run-1", frame_sha256(demo_consensus(demo_ws)), dict(SETTINGS)) == base
    changes = scenarios.parse_changes({"demand": [{"pct": 10}]})
    scen = scenarios.Scenario("s1", "Up 10%", "ann", pd.Timestamp("2026-01-01").to_pydatetime(), changes)
    overridden = cons.assign(consensus=cons["consensus"] * (1 + (cons.index == 0) * 0.1))
    other = [
        plan_store.result_key("another-fingerprint", "run-1", sha, SETTINGS),  # data
        plan_store.result_key(fp, "run-2", sha, SETTINGS),  # forecast run
        plan_store.result_key(fp, "run-1", frame_sha256(overridden), SETTINGS),  # an override
        plan_store.result_key(fp, "run-1", sha, {**SETTINGS, "prebuild_months": 3}),  # settings
        plan_store.result_key(fp, "run-1", sha, {**SETTINGS, "service_level": 0.975}),
        plan_store.result_key(fp, "run-1", sha, SETTINGS, scen),  # scenario
        plan_store.result_key(fp, "run-1", sha, SETTINGS, dataclasses.replace(
            scen, changes=scenarios.parse_changes({"demand": [{"pct": 20}]}))),  # its changes
        plan_store.result_key(fp, "run-1", sha, SETTINGS, year=2031),
    ]
    assert len({base, *other}) == len(other) + 1
    # a renamed scenario with the same id and changes is the same plan
    assert plan_store.result_key(fp, "run-1", sha, SETTINGS, dataclasses.replace(scen, name="Renamed")) == other[5]
    # new data gives a new fingerprint, so a new key; stored results of the old data are dropped on the next save
    plan_store.view(demo_ws, cons, "run-1", SETTINGS)
    sales = demo_ws.table("sales")
    demo_ws.replace_table("sales", sales.assign(quantity=sales["quantity"] + 1), Provenance("sales.csv", "test"))
    assert demo_ws.fingerprint() != fp
    plan_store.view(demo_ws, cons, "run-1", SETTINGS)
    assert demo_ws.scalar("SELECT count(DISTINCT fingerprint) FROM plan_results") == 1
    assert plan_store.stored_count(demo_ws) == 1


def test_the_company_reset_clears_stored_plans(demo_ws):
    plan_store.view(demo_ws, demo_consensus(demo_ws), "run-1", SETTINGS)
    assert plan_store.stored_count(demo_ws) == 1
    company.reset_to_demo(demo_ws)
    assert plan_store.stored_count(demo_ws) == 0
    assert demo_ws.scalar("SELECT count(*) FROM plan_result_frames") == 0
    plan_store.view(demo_ws, demo_consensus(demo_ws), "run-1", SETTINGS)
    company.start_company(demo_ws, name="Acme")
    assert plan_store.stored_count(demo_ws) == 0


def test_a_failed_save_stores_nothing(demo_ws, monkeypatch):
    cons = demo_consensus(demo_ws)
    real = plan_store._frame_bytes
    calls = []

    def fail_late(df):
        calls.append(1)
        if len(calls) > 3:
            raise OSError("disk full")
        return real(df)

    monkeypatch.setattr(plan_store, "_frame_bytes", fail_late)
    with pytest.raises(OSError):
        plan_store.view(demo_ws, cons, "run-1", SETTINGS)
    assert plan_store.stored_count(demo_ws) == 0
    assert demo_ws.scalar("SELECT count(*) FROM plan_result_frames") == 0


def test_plan_inputs_read_the_tables_once_per_data_version(demo_ws, monkeypatch):
    from sop_core.demand import history as history_mod

    calls = []
    real = history_mod.demand_history
    monkeypatch.setattr(history_mod, "demand_history", lambda ws, *a, **k: calls.append(1) or real(ws, *a, **k))
    cons = demo_consensus(demo_ws)
    calls.clear()
    first = plan.PlanInputs.from_workspace(demo_ws, cons)
    second = plan.PlanInputs.from_workspace(demo_ws, cons, prebuild_months=4)
    assert len(calls) == 1 and second.prebuild_months == 4
    pd.testing.assert_frame_equal(first.history, second.history)
    first.history.loc[0, "quantity"] = -1.0  # a caller's change of its frames stays its own
    assert plan.PlanInputs.from_workspace(demo_ws, cons).history.loc[0, "quantity"] != -1.0
    # new capacity: the tables are read again and the inputs carry the new ones
    cap = demo_ws.table("capacity").assign(available_hours=1.0)
    demo_ws.replace_table("capacity", cap, Provenance("capacity.csv", "test"))
    calls.clear()
    again = plan.PlanInputs.from_workspace(demo_ws, cons)
    assert len(calls) == 1 and (again.capacity["available_hours"] == 1.0).all()


def test_sessions_asking_for_the_same_plan_at_once_evaluate_it_once(demo_ws, monkeypatch):
    import threading
    import time

    calls = []
    real = plan.build_view

    def slow(*a, **k):
        calls.append(1)
        time.sleep(0.3)  # long enough for every other thread to ask meanwhile
        return real(*a, **k)

    monkeypatch.setattr(plan, "build_view", slow)
    cons = demo_consensus(demo_ws)
    views = []
    threads = [threading.Thread(target=lambda: views.append(plan_store.view(demo_ws, cons, "run-1", SETTINGS)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(views) == 4 and len(calls) == 1
    for v in views[1:]:
        assert_same_view(v, views[0])
