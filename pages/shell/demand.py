"""Cached reads of the demand plan shared by the pages: keyed by content (run id, data fingerprint)."""
from __future__ import annotations

from typing import cast

import pandas as pd
import streamlit as st

from sop_core.demand import consensus, forecast, forecast_jobs, overrides, review
from sop_core.demand.executor import Executor
from sop_core.demand.history import demand_history
from sop_core.escape import plain
from sop_core.store.workspace import Workspace


@st.cache_data(show_spinner=False, max_entries=8)
def _run(_ws: Workspace, path: str, run_id: str) -> forecast.ForecastRun | None:
    return forecast.load_run(_ws, run_id=run_id)


def forecast_run(ws: Workspace, settings: forecast.ForecastSettings) -> forecast.ForecastRun | None:
    """The stored forecast run for the current data and settings, or None when it must be fitted."""
    run_id = forecast.latest_run_id(ws, settings)
    return None if run_id is None else _run(ws, str(ws.path), run_id)


@st.cache_data(show_spinner=False, max_entries=8)
def _points(_ws: Workspace, path: str, run_id: str, settings: forecast.ForecastSettings) -> pd.DataFrame | None:
    return forecast.backtest_points(_ws, settings)


def backtest_points(ws: Workspace, run: forecast.ForecastRun,
                    settings: forecast.ForecastSettings) -> pd.DataFrame | None:
    """The run's held-out backtest points (`forecast.backtest_points`), read once per run and shared by reruns."""
    return _points(ws, str(ws.path), run.run_id, settings)


@st.cache_data(show_spinner=False, max_entries=256)
def _accuracy(_ws: Workspace, path: str, run_id: str, settings: forecast.ForecastSettings,
              scope: tuple[str | None, str | None, str | None], by: tuple[str, ...]) -> tuple[pd.DataFrame, str]:
    return review.recent_accuracy(_points(_ws, path, run_id, settings), review.Scope(*scope), by)


def accuracy(ws: Workspace, run: forecast.ForecastRun, settings: forecast.ForecastSettings,
             scope: review.Scope | None = None, by: tuple[str, ...] = ()) -> tuple[pd.DataFrame, str]:
    """`review.recent_accuracy` of the run's backtest points: computed once per run, scope and grouping, for every session.

    The points are the statistical procedure's (overrides do not change them): a new run (new data or
    settings) is a new key, an override is not.
    """
    scope = scope or review.Scope()
    return _accuracy(ws, str(ws.path), run.run_id, settings, (scope.family, scope.region, scope.sku), tuple(by))


@st.cache_data(show_spinner=False, max_entries=8)
def _history(_ws: Workspace, path: str, fingerprint: str, bucket: str) -> pd.DataFrame:
    return demand_history(_ws, bucket)


def history(ws: Workspace, bucket: str) -> pd.DataFrame:
    """Demand history at the bucket, cached by the content fingerprint of sales and products."""
    return _history(ws, str(ws.path), ws.fingerprint(["sales", "products"]), bucket)


@st.cache_resource(show_spinner=False, max_entries=8)
def _prepared(path: str, run_id: str, _statistical: pd.DataFrame) -> consensus.Prepared:
    return consensus.prepare(_statistical)


def prepared_statistical(ws: Workspace, run: forecast.ForecastRun) -> consensus.Prepared:
    """The run's statistical forecast indexed for fast override previews (built once per run)."""
    return _prepared(str(ws.path), run.run_id, run.forecast)


POLL_SECONDS = 1.0  # how often a page waiting for the background forecast looks at its progress
VIEWER_MESSAGE = ("The forecast for the latest data has not been run yet: a planner runs it by opening the Demand "
                  "review.")


def ensure_forecast(ws: Workspace, settings: forecast.ForecastSettings, author: str | None,
                    executor: Executor | None = None, *, stop: bool = True) -> forecast.ForecastRun | None:
    """The stored run for the current data and settings; when there is none, its fit runs in the background.

    The fit is a `forecast_jobs` job shared by every session of the server (one per run key),
    started here when the acting user may forecast. Until it is stored, this renders the job's
    progress (polled by a fragment that reruns the page when the job ends) and stops the page
    script: what the page drew before the call (title, help, navigation) stays on screen. A
    failed job is shown as an error with its message (and a "Try again" button for those who
    may forecast). A viewer never starts a fit: they see that a planner runs it, or the
    progress of a job already running.

    executor: where to fit; default the workspace's Dask scheduler setting, else $SOP_DASK_SCHEDULER,
    else the local pool. stop=False: return None instead of stopping the page after the progress
    (or the error or the viewer's message), for a page that can draw the rest without the forecast.
    """
    found = forecast_jobs.ensure(ws, settings, lambda: forecast_run(ws, settings), author=author, executor=executor)
    if found.run is not None:
        return found.run
    if found.waiting == forecast_jobs.WAITING_VIEWER:
        st.info(VIEWER_MESSAGE, icon=":material/lock:")
        return _stop(stop)
    if found.waiting == forecast_jobs.WAITING_NO_HISTORY:
        st.error(plain(found.message), icon=":material/error:")
        return _stop(stop)
    if found.waiting == forecast_jobs.WAITING_FAILED:
        _failed(ws, settings, found.state, author, executor, found.may_fit)
    else:
        st.info("The statistical forecast for the latest data and settings is being fitted in the background "
                "(Prophet and baselines, each backtested), once for everyone. This page fills in by itself when "
                "it is ready; pages that do not need the forecast work meanwhile.",
                icon=":material/hourglass_top:")
        _progress(found.state.path, found.state.key)
    return _stop(stop)


def _stop(stop: bool) -> None:
    """End the page script here (stop=True), else let the page go on without the forecast."""
    if stop:
        st.stop()
    return None


def _failed(ws: Workspace, settings: forecast.ForecastSettings, state: forecast_jobs.JobState, author: str | None,
            executor: Executor | None, may_fit: bool) -> None:
    """The error of a failed background forecast, with a button to run it again for those who may."""
    st.error(f"Could not forecast: {plain(state.error)}", icon=":material/error:")  # may name a series
    if not may_fit:
        st.caption("A planner can run it again from the Demand review.")
        return
    if st.button("Try again", icon=":material/refresh:", key="forecast_job_retry"):
        forecast_jobs.start(ws, settings, author=author, executor=executor, retry=True)
        st.rerun()


@st.fragment(run_every=POLL_SECONDS)
def _progress(path: str, run_key: str) -> None:
    """The background job's progress bar; reruns the whole page once the job has ended (done or failed)."""
    state = forecast_jobs.JOBS.get_key((path, run_key))
    if state is None or state.status != forecast_jobs.RUNNING:
        st.rerun()  # the page now shows the forecast, or the error
    st.progress(state.fraction, text=f"{state.text()} · {state.seconds:.0f} s")


def consensus_frame(ws: Workspace, run: forecast.ForecastRun) -> pd.DataFrame:
    """The persisted consensus of the run (`overrides.run_consensus`: computed on first use, stored if the role may)."""
    # never None: the factory always gives the run's forecast
    return cast(pd.DataFrame, overrides.run_consensus(ws, run.run_key, lambda: prepared_statistical(ws, run)))
