"""Forecast runs: settings, zero-filling, storage, the fit-once cache, family level, executor and CLI."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sop_core.cli import main as cli
from sop_core.demand import forecast as F
from sop_core.demand.executor import LocalExecutor, SerialExecutor, chunked
from sop_core.store.workspace import Provenance, Workspace

LAST = pd.Timestamp("2026-10-01")
SETTINGS = F.ForecastSettings(horizon=6)


def small_sales() -> pd.DataFrame:
    """Five sku × region series, 36 months to Oct 2026: two seasonal, one intermittent, one new, one gappy."""
    months = pd.date_range(end=LAST, periods=36, freq="MS")
    t = np.arange(36)
    rng = np.random.default_rng(7)
    rows = []

    def add(sku: str, region: str, family: str, qty: np.ndarray, dates: pd.DatetimeIndex = months) -> None:
        for d, q in zip(dates, qty):
            rows.append({"date": d, "sku": sku, "region": region, "channel": None, "family": family,
                         "quantity": float(q), "revenue": float(q) * 10})

    add("A1", "North", "Alpha", 200 + 3 * t + 60 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 8, 36))
    add("A2", "North", "Alpha", 80 + 20 * np.sin(2 * np.pi * (t + 3) / 12) + rng.normal(0, 5, 36))
    intermittent = np.where(rng.random(36) < 0.25, rng.integers(1, 9, 36), 0)
    intermittent[0] = 4
    add("B1", "North", "Beta", intermittent)
    add("B2", "North", "Beta", np.array([5, 9, 14, 20, 27]), months[-5:])  # a launch ramping up
    gappy = months[[m for m in range(36) if m % 5]]  # every fifth month missing: zero-filled
    add("B3", "South", "Beta", 50 + rng.normal(0, 3, len(gappy)), gappy)
    # a sale with no quantity before the first one, far back, must not start the series
    rows.append({"date": months[0] - pd.DateOffset(months=6), "sku": "A2", "region": "North", "channel": None,
                 "family": "Alpha", "quantity": 0.0, "revenue": 0.0})
    return pd.DataFrame(rows)


def load_sales(ws: Workspace, df: pd.DataFrame, name: str = "sales.csv") -> None:
    """Store a sales frame as the workspace's sales table."""
    ws.replace_table("sales", df, Provenance(file_name=name, sha256=name))


class CountingExecutor(SerialExecutor):
    """A serial executor that counts the chunks it was asked to fit."""

    def __init__(self) -> None:
        self.chunks = 0

    def map_chunks(self, fn, chunks, on_done=None):  # type: ignore[no-untyped-def]
        self.chunks += len(chunks)
        return super().map_chunks(fn, chunks, on_done)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A workspace file with the small sales loaded and one stored run (closed afterwards)."""
    path = tmp_path_factory.mktemp("fc") / "ws.duckdb"
    ex = CountingExecutor()
    calls: list[tuple[int, int]] = []
    with Workspace(path) as ws:
        load_sales(ws, small_sales())
        run = F.run_forecast(ws, SETTINGS, progress=lambda d, t: calls.append((d, t)), executor=ex)
        second = F.run_forecast(ws, SETTINGS, executor=ex)
    return {"path": path, "run": run, "second": second, "executor": ex, "calls": calls}


def test_settings_are_validated() -> None:
    for bad in ({"horizon": 5}, {"horizon": 25}, {"bucket": "day"}, {"level": "region"}, {"mode": "ets"},
                {"seasonality_mode": "x"}, {"holidays_country": "XX"}, {"origins": 0}):
        with pytest.raises(ValueError):
            F.ForecastSettings(**bad)
    s = F.ForecastSettings(bucket="week", holidays_country="us")
    assert s.holidays_country == "US" and s.season_length == 52
    assert F.ForecastSettings().key() == F.ForecastSettings().key()
    assert F.ForecastSettings().key() != F.ForecastSettings(horizon=12).key()
    # monthly buckets use the holidays that move between months (Easter): the country splits that cache too
    assert F.ForecastSettings(holidays_country="US").key() != F.ForecastSettings().key()
    assert F.ForecastSettings.from_dict(s.to_dict()) == s


def test_fill_buckets_from_first_sale_to_last_actual() -> None:
    h = pd.DataFrame({"series_id": ["a", "a", "a", "b"],
                      "period": pd.to_datetime(["2026-01-01", "2026-02-01", "2026-05-01", "2026-04-01"]),
                      "y": [0.0, 3.0, 4.0, 1.0]})
    out = F.fill_buckets(h, "MS", pd.Timestamp("2026-06-01"))
    a = out[out["series_id"] == "a"]
    assert list(a["period"].dt.month) == [2, 3, 4, 5, 6]  # starts at the first sale, not the zero row
    assert list(a["y"]) == [3.0, 0.0, 0.0, 4.0, 0.0]
    assert list(out[out["series_id"] == "b"]["y"]) == [1.0, 0.0, 0.0]


def test_run_stores_forecast_in_the_long_format(fitted: dict) -> None:
    run = fitted["run"]
    fc = run.forecast
    assert list(fc.columns) == list(F.FORECAST_FRAME_COLUMNS)
    assert fc.groupby("series_id").size().eq(6).all() and fc["series_id"].nunique() == 5
    assert fc["period"].min() == pd.Timestamp("2026-11-01") and fc["period"].max() == pd.Timestamp("2027-04-01")
    assert (fc[["value", "lower", "upper"]] >= 0).all().all()
    assert (fc["lower"] <= fc["value"] + 1e-9).all() and (fc["value"] <= fc["upper"] + 1e-9).all()
    assert not run.cached and run.fitted == 5 and run.n_series == 5


def test_fallbacks_say_what_they_are(fitted: dict) -> None:
    m = fitted["run"].metrics.set_index("series_id")
    assert list(fitted["run"].metrics.columns) == list(F.METRIC_COLUMNS)
    assert m.loc["B1 | North", "model"] in ("sba", "tsb", "adida", "combination")
    assert "intermittent" in m.loc["B1 | North", "reason"] or "lumpy" in m.loc["B1 | North", "reason"]
    assert m.loc["B2 | North", "model"] == "naive" and "ramping up" in m.loc["B2 | North", "reason"]
    assert F.FLAG_NO_BACKTEST in m.loc["B2 | North", "flags"]
    assert m.loc["A1 | North", "model"] in ("prophet", "seasonal_naive", "theta", "ets_damped", "arima", "stl",
                                            "combination")
    assert "origins" in m.loc["A1 | North", "reason"] and "held-out" in m.loc["A1 | North", "reason"]


def test_reported_accuracy_is_the_held_out_error_of_the_stored_procedure_points(fitted: dict) -> None:
    """Per series, wape/bias are those of the stored points: the procedure's forecasts, not a selection score."""
    with Workspace(fitted["path"]) as ws:
        pts = F.backtest_points(ws, SETTINGS, chosen=False)  # model = the choice made at each origin
        total = F.accuracy_total(ws, SETTINGS)
    m = fitted["run"].metrics.set_index("series_id")
    assert len(pts) and pts["origin"].nunique() >= 2
    for sid, part in pts.groupby("series_id"):
        assert m.loc[sid, "wape"] == pytest.approx(np.abs(part["forecast"] - part["actual"]).sum() / part["actual"].sum())
    assert total["wape"] == pytest.approx(np.abs(pts["forecast"] - pts["actual"]).sum() / pts["actual"].sum())
    # the first origin has no earlier evidence and under two seasons of training: seasonal naive, the
    # only candidate that forecast there (the seasonal models sit such windows out)
    first = pts[pts["origin"] == pts["origin"].min()]
    assert first.loc[first["series_id"] == "A1 | North", "model"].eq("seasonal_naive").all()


def test_progress_counts_series(fitted: dict) -> None:
    calls = fitted["calls"]
    assert calls[0] == (0, 5) and calls[-1] == (5, 5)
    assert all(b == 5 for _, b in calls) and [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_second_call_does_not_refit(fitted: dict) -> None:
    first, second, ex = fitted["run"], fitted["second"], fitted["executor"]
    assert second.cached and second.fitted == 0 and second.run_id == first.run_id
    assert ex.chunks == len(chunked(list(range(5)), 1))  # only the first call sent work
    pd.testing.assert_frame_equal(second.forecast, first.forecast, check_dtype=False)


def test_stored_forecast_survives_reopening(fitted: dict) -> None:
    with Workspace(fitted["path"]) as ws:
        stored = F.latest_forecast(ws, SETTINGS)
        assert stored is not None
        pd.testing.assert_frame_equal(stored, fitted["run"].forecast, check_dtype=False)
        again = F.run_forecast(ws, SETTINGS, executor=CountingExecutor())
        assert again.cached and again.run_key == fitted["run"].run_key
        metrics = F.backtest_metrics(ws, SETTINGS)
        assert set(metrics["series_id"]) == set(fitted["run"].metrics["series_id"])
        assert F.latest_forecast(ws, F.ForecastSettings(horizon=7)) is None  # other settings: not fitted


def test_accuracy_summary_by_family_and_total(fitted: dict) -> None:
    with Workspace(fitted["path"]) as ws:
        fam = F.accuracy_summary(ws, SETTINGS, by=["family"])
        total = F.accuracy_total(ws, SETTINGS)
        pts = F.backtest_points(ws, SETTINGS)
    assert set(fam["family"]) <= {"Alpha", "Beta"} and "Alpha" in set(fam["family"])
    assert {"wape", "bias", "mase", "wape_seasonal_naive", "tracking_signal", "fva", "n"} <= set(total)
    # held-out accuracy of the procedure: not guaranteed to beat seasonal naive (a selection score would be)
    assert total["n"] == len(pts) and 0 < total["wape"] < 1 and np.isfinite(total["wape_seasonal_naive"])


def test_data_change_needs_a_new_run(tmp_path: Path) -> None:
    with Workspace(tmp_path / "w.duckdb") as ws:
        sales = small_sales()
        sales = sales[sales["sku"].isin(["B1", "B2"])]  # fallbacks only: fast
        load_sales(ws, sales)
        run = F.run_forecast(ws, SETTINGS, executor=SerialExecutor())
        load_sales(ws, sales.assign(quantity=sales["quantity"] + 1), "sales2.csv")
        assert F.latest_forecast(ws, SETTINGS) is None
        assert F.load_run(ws, SETTINGS, allow_stale=True).run_id == run.run_id
        assert F.run_forecast(ws, SETTINGS, executor=SerialExecutor()).run_key != run.run_key


def test_no_sales_is_a_clear_error(workspace: Workspace) -> None:
    with pytest.raises(ValueError, match="no sales"):
        F.run_forecast(workspace, SETTINGS)
    assert F.latest_forecast(workspace, SETTINGS) is None


def test_family_level_splits_by_recent_share() -> None:
    hist = pd.DataFrame({
        "series_id": ["a | N", "b | N", "a | N", "b | N"], "sku": ["a", "b", "a", "b"], "region": "N",
        "family": "F", "period": pd.to_datetime(["2026-09-01", "2026-09-01", "2026-10-01", "2026-10-01"]),
        "quantity": [30.0, 10.0, 30.0, 30.0], "revenue": 0.0,
    })
    fam = pd.DataFrame({"series_id": "F | N", "period": pd.to_datetime(["2026-11-01"]), "value": [100.0],
                        "lower": [50.0], "upper": [150.0], "model": "prophet"})
    out = F.disaggregate(fam, hist, F.ForecastSettings()).set_index("sku")
    assert out.loc["a", "value"] == pytest.approx(60.0) and out.loc["b", "value"] == pytest.approx(40.0)
    assert out["value"].sum() == pytest.approx(100.0) and out.loc["a", "lower"] == pytest.approx(30.0)
    assert list(out.columns) == [c for c in F.FORECAST_FRAME_COLUMNS if c != "sku"]


def test_family_level_run_in_the_pool(tmp_path: Path) -> None:
    """Family × region fits through the fork pool; sku rows sum back to the family forecast."""
    with Workspace(tmp_path / "w.duckdb") as ws:
        load_sales(ws, small_sales())
        settings = F.ForecastSettings(horizon=6, level="family")
        run = F.run_forecast(ws, settings, executor=LocalExecutor(workers=2))
        assert set(run.metrics["series_id"]) == {"Alpha | North", "Beta | North", "Beta | South"}
        assert run.metrics["sku"].isna().all()
        fc = run.forecast
        assert set(fc["sku"]) == {"A1", "A2", "B1", "B2", "B3"} and fc.groupby("series_id").size().eq(6).all()
        assert (fc["value"] >= 0).all()


def test_cli_backtest_writes_json_with_totals(fitted: dict, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bt.json"
    code = cli.main(["--workspace", str(fitted["path"]), "backtest", "--horizon", "6", "--json", str(out)])
    assert code == 0
    doc = json.loads(out.read_text())
    assert {"wape", "bias", "mase", "wape_seasonal_naive"} <= set(doc["total"])
    assert 0 <= doc["total"]["wape"] < 1  # a fraction, not a percentage
    assert doc["cached"] is True and len(doc["series"]) == 5
    assert {"series_id", "model", "reason", "wape"} <= set(doc["series"][0])
    assert "wrote" in capsys.readouterr().out


def test_cli_forecast_reports_reuse(fitted: dict, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--workspace", str(fitted["path"]), "forecast", "--horizon", "6"]) == 0
    captured = capsys.readouterr()
    assert "reused, not refitted" in captured.out and "5/5" in captured.err
    assert cli.main(["--workspace", str(fitted["path"]), "forecast", "--horizon", "3"]) == 2


def test_prophet_mode_forces_prophet_where_it_can_fit(tmp_path: Path) -> None:
    with Workspace(tmp_path / "w.duckdb") as ws:
        sales = small_sales()
        load_sales(ws, sales[sales["sku"].isin(["B1", "B2"])])
        run = F.run_forecast(ws, F.ForecastSettings(horizon=6, mode="prophet"), executor=SerialExecutor())
    m = run.metrics.set_index("series_id")
    assert (m["model"] == "prophet").all()  # even the intermittent and the 5-month series
    assert "forced by setting" in m.loc["B1 | North", "reason"]
    assert (run.forecast["value"] >= 0).all()


def _square(chunk: list[int]) -> list[int]:
    """A top-level (picklable) worker function for the executor test."""
    if -1 in chunk:
        raise ValueError("bad chunk")
    return [x * x for x in chunk]


def test_local_executor_keeps_chunk_order_and_reports_each_chunk() -> None:
    ex = LocalExecutor(workers=2)
    try:
        done: list[int] = []
        chunks = chunked(list(range(23)), ex.workers, min_size=5)
        assert [len(c) for c in chunks] == [5, 5, 5, 5, 3]
        out = ex.map_chunks(_square, chunks, done.append)
        assert out == [[x * x for x in c] for c in chunks] and sorted(done) == list(range(len(chunks)))
        assert ex.started  # the pool stays alive for the next call
        with pytest.raises(ValueError, match="bad chunk"):
            ex.map_chunks(_square, [[1], [-1]])
        assert ex.map_chunks(_square, [[2], [3]]) == [[4], [9]]
    finally:
        ex.shutdown()
    assert not ex.started


def _parent_and_prophet(chunk: list[int]) -> list[tuple[int, bool]]:
    """The worker's parent PID, and whether Prophet was imported before the task arrived."""
    import sys

    return [(os.getppid(), "prophet" in sys.modules) for _ in chunk]


def test_local_pool_workers_fork_from_a_clean_server_not_from_this_threaded_process() -> None:
    import threading

    busy = threading.Event()
    thread = threading.Thread(target=busy.wait, daemon=True)  # this process is multi-threaded, like the app
    thread.start()
    ex = LocalExecutor(workers=2)
    try:
        out = [row for chunk in ex.map_chunks(_parent_and_prophet, [[0], [1], [2]]) for row in chunk]
    finally:
        ex.shutdown()
        busy.set()
    parents = {ppid for ppid, _ in out}
    assert os.getpid() not in parents  # forked by the forkserver, which has no thread of ours
    assert all(preloaded for _, preloaded in out)  # Prophet came with the fork, not imported per task


def test_local_pool_workers_never_run_the_main_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under Streamlit, __main__ is app.py: a worker that imported it would run the app (and die)."""
    import sys
    import types

    script = tmp_path / "app_like.py"
    script.write_text("raise SystemExit('a worker ran the main script')\n")
    fake_main = types.ModuleType("__main__")
    fake_main.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", fake_main)
    ex = LocalExecutor(workers=2, chunk_timeout=60)
    try:
        assert ex.map_chunks(_square, [[2], [3], [4]]) == [[4], [9], [16]]
    finally:
        ex.shutdown()


def test_weekly_bucket_with_country_holidays(tmp_path: Path) -> None:
    weeks = pd.date_range(end="2026-10-26", periods=120, freq="W-MON")
    t = np.arange(120)
    rng = np.random.default_rng(2)
    qty = 100 + 30 * np.sin(2 * np.pi * t / 52) + rng.normal(0, 5, 120)
    sales = pd.DataFrame({"date": weeks + pd.Timedelta(days=2), "sku": "W1", "region": "US", "channel": None,
                          "family": "Weekly", "quantity": qty, "revenue": qty})
    with Workspace(tmp_path / "w.duckdb") as ws:
        load_sales(ws, sales)
        settings = F.ForecastSettings(bucket="week", horizon=8, holidays_country="US")
        run = F.run_forecast(ws, settings, executor=SerialExecutor())
    # a file stamped on Wednesdays keeps Wednesday weeks (periods.py): the Wednesday after the last one
    assert run.forecast["period"].min() == pd.Timestamp("2026-11-04")
    assert (run.forecast["period"].dt.day_of_week == 2).all() and len(run.forecast) == 8
    assert run.metrics["n_origins"].iloc[0] == 2  # 3 cut-offs, the first informs the choice only


def test_a_failing_series_gets_a_naive_forecast_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(task, cfg):  # type: ignore[no-untyped-def]
        raise RuntimeError("solver exploded")

    monkeypatch.setattr(F, "fit_series", boom)
    plan = F.plan_backtest(LAST, 12, 6, 12, "MS")
    cfg = F.FitConfig("month", "MS", 12, 6, "auto", "additive", None, plan)
    fc, pts, choices = F.fit_chunk((cfg, [F.SeriesTask("x | N", pd.Timestamp("2026-01-01"), np.arange(10.0))]))
    assert len(fc) == 6 and (fc["value"] == 9.0).all() and pts.empty
    assert choices[0]["model"] == "naive" and "solver exploded" in choices[0]["reason"]


# -- case 51: concurrent forecasts beyond the pool size ----------------------------------------------

def _seeded_fit(chunk: list[int]) -> tuple[int, list[tuple[int, list[float]]]]:
    """A cheap stand-in for a seeded fit: the worker's PID and, per item, its square and three seeded draws."""
    import time

    time.sleep(0.02)  # long enough that chunks wait in the queue while both workers are busy
    return os.getpid(), [(x * x, np.random.default_rng(x).normal(size=3).tolist()) for x in chunk]


def test_two_sessions_sharing_the_pool_are_queued_bounded_and_match_a_serial_run() -> None:
    """Case 51: two callers each send more chunks than there are workers to one shared LocalExecutor.

    Both complete, each caller hears about exactly its own chunks (what feeds its progress bar), every chunk
    of both runs in one of the pool's `workers` processes, and the results equal a serial run on the same data.
    """
    import threading
    import time

    ex = LocalExecutor(workers=2)
    jobs = {"a": chunked(list(range(0, 40)), ex.workers, min_size=2, max_size=2),
            "b": chunked(list(range(100, 130)), ex.workers, min_size=2, max_size=2)}
    assert all(len(chunks) > 2 * ex.workers for chunks in jobs.values())  # beyond the pool: they must queue
    expected = {name: [out for _, out in SerialExecutor().map_chunks(_seeded_fit, chunks)]
                for name, chunks in jobs.items()}
    results: dict[str, list] = {}
    progress: dict[str, list[int]] = {name: [] for name in jobs}
    errors: list[BaseException] = []
    pool_sizes: list[int] = []
    start = threading.Barrier(len(jobs))
    running = threading.Event()
    running.set()

    def session(name: str) -> None:
        try:
            start.wait()
            results[name] = ex.map_chunks(_seeded_fit, jobs[name], progress[name].append)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def watch_pool() -> None:
        while running.is_set():
            pool = ex._pool
            if pool is not None:
                pool_sizes.append(len(pool._pool))
            time.sleep(0.005)

    watcher = threading.Thread(target=watch_pool, daemon=True)
    threads = [threading.Thread(target=session, args=(name,)) for name in jobs]
    watcher.start()
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        assert not any(t.is_alive() for t in threads), "a caller never finished"
        assert not errors, errors
        workers = {p.pid for p in ex._pool._pool}
    finally:
        running.clear()
        watcher.join(10)
        ex.shutdown()
    for name, chunks in jobs.items():
        assert [out for _, out in results[name]] == expected[name]  # same data and seed: the same numbers
        assert sorted(progress[name]) == list(range(len(chunks)))  # each caller saw only its own chunks, once each
    pids = {pid for name in jobs for pid, _ in results[name]}
    assert os.getpid() not in pids and pids <= workers and len(pids) <= ex.workers  # CPU bounded by the pool
    assert pool_sizes and max(pool_sizes) <= ex.workers


def test_latest_run_id_names_the_stored_run_of_the_current_data_and_settings(fitted: dict) -> None:
    with Workspace(fitted["path"]) as ws:
        assert F.latest_run_id(ws, SETTINGS) == fitted["run"].run_id
        assert F.load_run(ws, run_id=F.latest_run_id(ws, SETTINGS)).run_key == fitted["run"].run_key
        assert F.latest_run_id(ws, F.ForecastSettings(horizon=7)) is None  # other settings: not fitted


def test_latest_run_id_is_none_after_the_data_changed(tmp_path: Path) -> None:
    with Workspace(tmp_path / "w.duckdb") as ws:
        assert F.latest_run_id(ws, SETTINGS) is None  # nothing loaded, nothing fitted
        sales = small_sales()
        sales = sales[sales["sku"].isin(["B1", "B2"])]  # fallbacks only: fast
        load_sales(ws, sales)
        run = F.run_forecast(ws, SETTINGS, executor=SerialExecutor())
        assert F.latest_run_id(ws, SETTINGS) == run.run_id
        load_sales(ws, sales.assign(quantity=sales["quantity"] + 1), "sales2.csv")
        assert F.latest_run_id(ws, SETTINGS) is None


def test_only_roles_that_may_forecast_may_fit() -> None:
    from sop_core.store import access

    assert F.may_fit()  # access control off: everyone may
    access.enable(True)
    try:
        with access.acting_as(access.Actor("v@x", "viewer")):
            assert not F.may_fit()
        with access.acting_as(access.Actor("p@x", "planner")):
            assert F.may_fit()
        with access.acting_as(None):
            assert not F.may_fit()  # nobody signed in
    finally:
        access.enable(False)
