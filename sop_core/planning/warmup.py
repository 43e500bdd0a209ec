"""Work done before anyone asks: the baseline plan of the current data evaluated and stored, the scorecard's
aggregates computed, in a background thread of the server.

`baseline(ws)` evaluates (or finds stored) the plan every page starts from: the consensus of the stored forecast run
of the saved forecast settings, with the saved plan settings, no scenario, the default year. It goes through
`plan_store.view` with the key a page computes (`plan_store.result_key`), so the first page opened after a server
start or a data change reads the stored plan instead of evaluating it (2.2 s at 10,000 series) while the user
waits, and the scorecard's DuckDB aggregates over the order lines (`kpi_sql`, memoised per content) are ready too.

`kick(ws)` starts that in the background once per data version and forecast run: the server calls it when it
opens the workspace (after 3 s, so the first page is drawn first) and after each page run (one small query when
nothing changed, `probe`), so a load, a reset or a finished forecast is followed by the baseline without anyone
asking. It never starts a forecast fit: when one is running (the
server's start-up prefetch, or the Demand review's), the thread waits for it. Never raises: a failure is logged,
and the page evaluates the plan itself as before.
"""
from __future__ import annotations

import atexit
import logging
import threading
from typing import TYPE_CHECKING

from sop_core.demand import consensus, forecast, forecast_jobs, overrides
from sop_core.planning import kpis, plan_store
from sop_core.planning import settings as plan_settings
from sop_core.store import access
from sop_core.store.workspace import frame_sha256

if TYPE_CHECKING:  # pragma: no cover
    from sop_core.planning.plan import PlanView
    from sop_core.store.workspace import Workspace

log = logging.getLogger("sop")

WAIT_S = 3600.0  # longest wait for a forecast fit to end before giving up (a 10,000-series fit takes ~9 minutes)

_lock = threading.Lock()
_warmed: dict[str, str] = {}  # workspace file -> the state (`state_key`) last warmed or being warmed
_probed: dict[str, tuple] = {}  # workspace file -> the `probe` last looked at
_threads: dict[str, threading.Thread] = {}
_stopping = threading.Event()  # set at interpreter exit: a thread waiting for a fit gives up
EXIT_WAIT_S = 30.0  # how long the exit waits for an evaluation under way (a daemon thread killed inside DuckDB aborts)


def probe(ws: Workspace) -> tuple:
    """What changes whenever `state_key` may have: the loads, the stored runs, the settings and the running fits
    (one query of three maxima and a count, about 1 ms; `state_key` reads the fingerprints, about 20 ms)."""
    row = ws.query("SELECT (SELECT max(loaded_at) FROM loads) AS l, (SELECT count(*) FROM loads) AS n, "
                   "(SELECT max(created_at) FROM forecast_runs) AS r, (SELECT max(updated_at) FROM settings) AS s")
    return (*row.iloc[0].astype(str).tolist(), len(forecast_jobs.JOBS.running()))


def state_key(ws: Workspace) -> str | None:
    """What the baseline depends on besides overrides and settings: the data (every table), the forecast run key (sales,
    products and the saved forecast settings) and the stored run, or 'fitting' while its fit runs; None when there is neither (nothing to do)."""
    settings = forecast.saved_settings(ws)
    run_id = forecast.latest_run_id(ws, settings)
    if run_id is None:
        job = forecast_jobs.get(ws, settings)
        if job is None or job.status != forecast_jobs.RUNNING:
            return None
    return f"{ws.fingerprint()}|{forecast.run_key(ws, settings)}|{run_id or 'fitting'}"


def baseline(ws: Workspace) -> PlanView | None:
    """Evaluate and store the baseline plan of the current data, and compute the scorecard's aggregates; the view
    evaluated, or None when there was none to evaluate (no stored forecast run, or the plan is stored already)."""
    settings = forecast.saved_settings(ws)
    run_id = forecast.latest_run_id(ws, settings)
    if run_id is None:
        return None
    run = forecast.load_run(ws, run_id=run_id)
    if run is None:
        return None
    cons = overrides.run_consensus(ws, run.run_key, lambda: consensus.prepare(run.forecast))
    if cons is None or cons.empty:
        return None
    saved, sha = plan_settings.saved(ws), frame_sha256(cons)
    if plan_store.is_stored(ws, plan_store.result_key(ws.fingerprint(), run.run_key, sha, saved)):
        kpis.inputs_from_workspace(ws)  # the aggregates of the orders, sales and inventory
        return None
    view = plan_store.view(ws, cons, run.run_key, saved, consensus_sha=sha)
    kpis.inputs_from_workspace(ws, consensus=view.result.consensus, utilisation=view.result.utilisation,
                               outlook=view.result.outlook_constrained)
    return view


def _warm(ws: Workspace, delay: float) -> None:
    """The thread's work: wait `delay` seconds and for a running forecast fit to end, then the baseline."""
    if _stopping.wait(delay):
        return
    try:
        with access.acting_as(access.SYSTEM):
            job = forecast_jobs.get(ws, forecast.saved_settings(ws))
            if job is not None and job.status == forecast_jobs.RUNNING:
                ended = job
                for _ in range(int(WAIT_S)):
                    ended = forecast_jobs.JOBS.wait((job.path, job.key), timeout=1.0)
                    if _stopping.is_set() or ended is None or ended.status != forecast_jobs.RUNNING:
                        break
                if _stopping.is_set() or ended is None or ended.status != forecast_jobs.DONE:
                    return
            baseline(ws)
    except Exception:  # noqa: BLE001 - a convenience: the page evaluates the plan itself and reports errors
        log.exception("could not evaluate the baseline plan in the background")


def kick(ws: Workspace, delay: float = 0.0) -> threading.Thread | None:
    """Start `baseline` in a background thread unless it ran, or runs, for this data and forecast run already.

    delay: seconds the thread waits first (at the server's start: the first page is drawn meanwhile, and when it
    evaluates the plan itself the thread finds it stored).

    Returns the thread started (None when nothing was started: same state, nothing to evaluate, a read-only workspace).
    """
    if ws.read_only or not ws.has_table("sales"):
        return None
    path = str(ws.path)
    try:
        seen = probe(ws)
        with _lock:
            if _probed.get(path) == seen:
                return None
            _probed[path] = seen
        key = state_key(ws)
    except Exception:  # noqa: BLE001 - e.g. the workspace is being replaced: the next page run tries again
        with _lock:
            _probed.pop(path, None)
        log.exception("could not read the workspace's state for the background plan")
        return None
    if key is None:
        return None
    with _lock:
        running = _threads.get(path)
        if _warmed.get(path) == key:
            return None
        if running is not None and running.is_alive():
            _probed.pop(path, None)  # a thread of an older state finishes first; the next page run starts this one
            return None
        _warmed[path] = key
        thread = threading.Thread(target=_warm, args=(ws, delay), name="sop-baseline", daemon=True)
        _threads[path] = thread
    thread.start()
    return thread


def join(timeout: float | None = None) -> None:
    """Wait for the background threads to end (tests: none outlives its test)."""
    with _lock:
        threads = list(_threads.values())
    for t in threads:
        t.join(timeout)


@atexit.register
def _at_exit() -> None:
    """Let an evaluation under way end before the interpreter stops its thread (a thread stopped inside DuckDB or
    numpy aborts the process: 'FATAL: exception not rethrown'); a thread waiting for a fit stops waiting."""
    _stopping.set()
    join(EXIT_WAIT_S)


def forget() -> None:
    """Stop the threads (a waiting one at once, one evaluating when it is done) and forget what was warmed (tests)."""
    _stopping.set()
    join()
    _stopping.clear()
    with _lock:
        _warmed.clear()
        _probed.clear()
        _threads.clear()
