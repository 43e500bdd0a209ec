"""Cached reads of the demand plan shared by the pages: keyed by content (run id, data fingerprint)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from sop_core import access, consensus, forecast, overrides
from sop_core.dask_executor import SCHEDULER_SETTING, ClusterError
from sop_core.executor import Executor, get_executor
from sop_core.history import demand_history
from sop_core.workspace import Workspace


@st.cache_data(show_spinner=False, max_entries=8)
def _run(_ws: Workspace, path: str, run_id: str) -> forecast.ForecastRun | None:
    return forecast.load_run(_ws, run_id=run_id)


def forecast_run(ws: Workspace, settings: forecast.ForecastSettings) -> forecast.ForecastRun | None:
    """The stored forecast run for the current data and settings, or None when it must be fitted."""
    run_id = ws.scalar("SELECT run_id FROM forecast_runs WHERE run_key = ? ORDER BY created_at DESC LIMIT 1",
                       [forecast.run_key_for(ws, settings)])
    return None if run_id is None else _run(ws, str(ws.path), run_id)


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


def ensure_forecast(ws: Workspace, settings: forecast.ForecastSettings, author: str | None,
                    executor: Executor | None = None) -> forecast.ForecastRun:
    """The stored run for the current data and settings; fits it first (with a progress bar) when there is none.

    executor: where to fit; default the workspace's Dask scheduler setting, else $SOP_DASK_SCHEDULER,
    else the local pool.
    """
    run = forecast_run(ws, settings)
    if run is not None:
        return run
    if not access.allowed(access.current(), "forecast"):
        st.info("The forecast for the latest data has not been run yet: a planner runs it by opening the Demand "
                "review.", icon=":material/lock:")
        st.stop()
    with st.status("Forecasting demand on the new data…", expanded=True) as status:
        bar = st.progress(0.0, text="Preparing the series")

        def _progress(done: int, total: int) -> None:
            bar.progress(done / total if total else 1.0, text=f"{done:,} of {total:,} series fitted and backtested")

        try:
            ex = executor if executor is not None else get_executor(ws.get_setting(SCHEDULER_SETTING))
            fitted = forecast.run_forecast(ws, settings, progress=_progress, executor=ex, author=author)
        except (ValueError, ImportError, ClusterError) as exc:
            status.update(label="Could not forecast", state="error")
            st.error(str(exc))
            st.stop()
        status.update(label=f"Forecast ready: {fitted.n_series:,} series in {fitted.seconds:.1f} s",
                      state="complete", expanded=False)
    return forecast_run(ws, settings)


def consensus_frame(ws: Workspace, run: forecast.ForecastRun) -> pd.DataFrame:
    """The persisted consensus of the run (computed and stored on first use)."""
    cons = consensus.load_consensus(ws, run.run_key)
    if cons is None:
        if access.allowed(access.current(), "consensus"):
            cons = consensus.refresh(ws, run.run_key, prepared_statistical(ws, run))
        else:  # a viewer reads the consensus without storing it
            cons = consensus.apply_overrides(prepared_statistical(ws, run), overrides.active(ws))
    return cons
