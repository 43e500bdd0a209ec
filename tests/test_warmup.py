"""The baseline plan evaluated in the background (`warmup`, issue 15): stored under the key a page asks for, once per
data version and forecast run, after a running fit, never for a read-only workspace or without a forecast."""
from __future__ import annotations

import shutil

import pandas as pd
import pytest
from apptest_support import app, demo_workspace_file, open_page  # noqa: F401 - fixtures

from sop_core.demand import consensus, forecast, overrides
from sop_core.planning import plan, plan_store, warmup
from sop_core.planning import settings as plan_settings
from sop_core.store.workspace import Provenance, Workspace, frame_sha256


@pytest.fixture
def demo_ws(demo_workspace_file, tmp_path):
    path = tmp_path / "ws.duckdb"
    shutil.copy(demo_workspace_file, path)
    with Workspace(path) as ws:
        yield ws


def page_view(ws: Workspace) -> plan.PlanView:
    """The baseline as a page asks for it (`pages/shell/plan_view.plan_view` with the saved settings)."""
    run = forecast.load_run(ws, run_id=forecast.latest_run_id(ws, forecast.saved_settings(ws)))
    cons = overrides.run_consensus(ws, run.run_key, lambda: consensus.prepare(run.forecast))
    return plan_store.view(ws, cons, run.run_key, plan_settings.saved(ws), consensus_sha=frame_sha256(cons))


def test_the_baseline_is_stored_under_the_key_a_page_reads(demo_ws, monkeypatch):
    assert plan_store.stored_count(demo_ws) == 0
    view = warmup.baseline(demo_ws)
    assert view is not None and plan_store.stored_count(demo_ws) == 1
    assert warmup.baseline(demo_ws) is None  # stored already: not evaluated again

    def no_evaluation(*a, **k):
        raise AssertionError("the page evaluated the plan again")

    monkeypatch.setattr(plan, "build_view", no_evaluation)
    got = page_view(demo_ws)
    pd.testing.assert_frame_equal(got.result.consensus, view.result.consensus)
    assert got.result.kpis.keys() == view.result.kpis.keys()


def test_kick_runs_once_per_data_version_and_again_after_a_load(demo_ws):
    warmup.forget()
    first = warmup.kick(demo_ws)
    assert first is not None
    assert warmup.kick(demo_ws) is None  # running or done for this state: not again
    warmup.join(300)
    assert plan_store.stored_count(demo_ws) == 1 and warmup.kick(demo_ws) is None
    # new capacity: same forecast run, other data -> the baseline of the new data
    cap = demo_ws.table("capacity")
    cap["available_hours"] = cap["available_hours"] * 0.5
    demo_ws.replace_table("capacity", cap, Provenance("capacity.csv", "test"))
    assert warmup.kick(demo_ws) is not None
    warmup.join(300)
    assert plan_store.stored_count(demo_ws) == 1  # the old data's result pruned, the new one stored
    assert page_view(demo_ws).result.utilisation["utilisation"].max() > 0


def test_nothing_to_do_without_a_forecast_run_or_on_a_read_only_workspace(demo_ws, tmp_path):
    warmup.forget()
    sales = demo_ws.table("sales")
    demo_ws.replace_table("sales", sales.iloc[:-10], Provenance("sales.csv", "test"))  # no run for these data
    assert forecast.latest_run_id(demo_ws, forecast.saved_settings(demo_ws)) is None
    assert warmup.state_key(demo_ws) is None and warmup.kick(demo_ws) is None
    assert warmup.baseline(demo_ws) is None and plan_store.stored_count(demo_ws) == 0
    path = demo_ws.path
    demo_ws.close()
    with Workspace(path, read_only=True) as ro:
        assert warmup.kick(ro) is None


def test_the_app_stores_the_baseline_in_the_background_before_a_plan_page_opens(app):
    warmup.forget()
    open_page(app, "data")  # a page that evaluates no plan
    warmup.join(300)
    from pages.shell import state

    ws = state.workspace()  # the app's own (one connection per file in a process)
    assert ws.path == app.workspace_path and plan_store.stored_count(ws) == 1
