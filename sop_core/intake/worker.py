"""Parse uploads in a short-lived, locked-down child process, so a hostile or broken file cannot harm the server.

`prepare_isolated(name, data, table, ws=ws, **options)` returns what `intake.prepare` returns,
but the reading, mapping and validation run in a fresh Python process:

- started with `subprocess` (exec, never fork of the threaded server) and a scrubbed environment
  (`worker_environment`): only PATH, locale and the Python path pass; every name containing
  SECRET, TOKEN, PASSWORD, KEY, AUTH, CREDENTIAL, COOKIE, SESSION, PRIVATE and every SOP_*
  variable is dropped, HOME/TMPDIR point at the worker's own temporary folder. (multiprocessing's
  'spawn' start method would hand the child the server's full environment.)
- resource limits set first thing in the child: RLIMIT_AS (memory), RLIMIT_CPU, RLIMIT_FSIZE and
  no core dumps; the parent kills the worker's process group after a wall-clock timeout.
- any DuckDB connection it opens comes from `hardened_connection(temp_dir)`: no file access
  outside its temp folder, no extension installs or autoloading, a memory limit, one thread,
  configuration locked.
- it only sees the upload bytes and a snapshot of the remembered column mappings (never the
  workspace file), and returns its result as JSON plus Parquet files (no pickle).

A crash, abort, memory exhaustion or timeout comes back as a Prepared with one IntakeError
("could not parse file — the file may be corrupt or too complex (worker exited with signal 6)";
a file that needs more than the time limit is "too large to load here", never "corrupt");
the server keeps serving everyone else.

At most `WorkerLimits.concurrent` workers run at once on the machine (lock files in
`WorkerLimits.slots_dir`, shared by every server and command-line process of the user, freed by the
system when a process dies): a further upload waits up to `queue_seconds` for a free slot, then gets
"the server is busy reading N other files: try again in a minute".
"""
from __future__ import annotations

import dataclasses
import errno
import fcntl
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sop_core import config
from sop_core.intake.hardened import hardened_connection
from sop_core.store.access import SENSITIVE_ENV

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

    from sop_core.intake.load import Prepared
    from sop_core.store.workspace import Workspace

log = logging.getLogger(__name__)
MB = 1024 * 1024
PASSED_ENV = ("PATH", "LANG", "LANGUAGE", "TZ", "SYSTEMROOT", "PYTHONPATH")
OPTIONS = ("mapping", "dayfirst", "sheet", "decimal", "wide", "encoding", "delimiter", "default_sku", "today",
           "limits", "conversions", "money")
CRASH_MESSAGE = "could not parse file — the file may be corrupt or too complex"
TOO_SLOW_MESSAGE = ("too large to load here: reading it took longer than the {seconds:g} s limit — save it as CSV or "
                    "Parquet (or split it) and load that")



@dataclass(frozen=True)
class WorkerLimits:
    """What one parse may use: address space, wall-clock and CPU seconds, DuckDB memory, output file size;
    and how many parses run at once on the machine (`concurrent`, counted with lock files in `slots_dir`)
    and how long an upload waits for its turn (`queue_seconds`)."""

    memory_mb: int = 4096
    seconds: float = 120.0
    duckdb_memory_mb: int = 256
    stream_memory_mb: int = 1024  # DuckDB's memory for a streamed file (it spills to the worker's folder beyond)
    max_file_mb: int = 4096
    concurrent: int = field(default_factory=config.parse_workers)
    queue_seconds: float = 60.0
    slots_dir: str = field(default_factory=config.parse_slots_dir)


class WorkersBusy(Exception):
    """Every parse slot stayed taken for `queue_seconds`."""

    def __init__(self, busy: int) -> None:
        super().__init__(busy)
        self.busy = busy


DEFAULT_WORKER_LIMITS = WorkerLimits()


# -- hardened DuckDB --------------------------------------------------------------------------------

class _Snapshot:
    """Stands in for the Workspace inside the worker: only the remembered column mappings, in a hardened DuckDB."""

    def __init__(self, con: duckdb.DuckDBPyConnection, tables: set[str]) -> None:
        self._con = con
        self._tables = tables

    @classmethod
    def build(cls, temp_dir: Path, mappings: list[list[Any]], memory_mb: int) -> _Snapshot:
        """Load the column_mappings rows into a hardened in-memory database."""
        con = hardened_connection(temp_dir, memory_mb)
        con.execute("CREATE TABLE column_mappings (layout_key VARCHAR PRIMARY KEY, table_name VARCHAR, "
                    "mapping VARCHAR, options VARCHAR)")
        if mappings:
            con.executemany("INSERT INTO column_mappings VALUES (?, ?, ?, ?)", mappings)
        return cls(con, {"column_mappings"})

    def query(self, sql: str, params: Any = None) -> Any:
        """A read on a fresh cursor, as a DataFrame."""
        cur = self._con.cursor()
        try:
            return cur.execute(sql, params).df() if params is not None else cur.execute(sql).df()
        finally:
            cur.close()

    def scalar(self, sql: str, params: Any = None) -> Any:
        """First cell of a read, or None."""
        df = self.query(sql, params)
        return df.iloc[0, 0] if len(df) else None

    def has_table(self, name: str) -> bool:
        """Only the snapshot's own tables exist here (cross-table checks run in the server afterwards)."""
        return name in self._tables


# -- environment ------------------------------------------------------------------------------------

def worker_environment(temp_dir: str | Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The child's environment: locale, PATH and Python path only; no secrets, no SOP_* settings."""
    import site

    source = dict(os.environ if base is None else base)
    env = {k: v for k, v in source.items()
           if (k in PASSED_ENV or k.startswith("LC_")) and not SENSITIVE_ENV.search(k) and not k.startswith("SOP_")}
    paths = [str(config.PROJECT_ROOT)] + [p for p in source.get("PYTHONPATH", "").split(os.pathsep) if p]
    user_site = site.getusersitepackages() if site.ENABLE_USER_SITE else None
    if user_site and user_site in sys.path:  # HOME changes below; keep packages installed with --user
        paths.append(user_site)
    folder = str(temp_dir)
    env.update({
        "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths)), "HOME": folder, "TMPDIR": folder, "TMP": folder,
        "TEMP": folder, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8", "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1",
    })
    return env


# -- parent side ----------------------------------------------------------------------------------

def prepare_isolated(name: str, data: bytes | None, table: str | None = None, *, ws: Workspace | None = None,
                     worker: WorkerLimits = DEFAULT_WORKER_LIMITS, entry: str = "prepare",
                     path: str | os.PathLike | None = None, keep_staged: bool = False, **options: Any) -> Prepared:
    """`intake.prepare` in a locked-down child process; a crash or timeout is a Prepared with one error.

    The upload is `data`, or the file at `path` (the command line's: copied for the worker with the checks of
    `readers.copy_path`, which raises IntakeError before anything is started). A large CSV or Parquet file is
    streamed through DuckDB in the worker (`load.prepare_file`); its checked table comes back as a frame, or
    with `keep_staged` as a Parquet file (`Prepared.staged`, removed when the Prepared is dropped) that
    `load.commit` copies into the workspace without pandas.
    `options` are intake.prepare's (mapping, dayfirst, sheet, decimal, wide, encoding, delimiter,
    default_sku, today, limits, conversions, money); the unit conversions default to those of the products
    stored in `ws`, which the worker cannot see. `entry` names the function the worker runs (see
    ENTRIES; tests use the fault injectors).
    """
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise TypeError(f"prepare_isolated got unexpected options: {', '.join(unknown)}")
    if entry not in ENTRIES:
        raise ValueError(f"unknown worker entry {entry!r}")
    if ws is not None and options.get("conversions") is None:
        from sop_core.intake.units import workspace_conversions

        options["conversions"] = workspace_conversions(ws)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sop-ingest-") as tmp:
        folder = Path(tmp)
        if path is not None:
            from sop_core.intake.raw_table import DEFAULT_LIMITS
            from sop_core.intake.readers import copy_path

            sha256 = copy_path(path, folder / "input.bin", options.get("limits") or DEFAULT_LIMITS)
        else:
            assert data is not None, "prepare_isolated needs data or path"
            (folder / "input.bin").write_bytes(data)
            sha256 = hashlib.sha256(data).hexdigest()
        request = {"entry": entry, "name": name, "table": table, "options": _encode_options(options),
                   "mappings": _mappings(ws), "duckdb_memory_mb": worker.duckdb_memory_mb,
                   "stream_memory_mb": worker.stream_memory_mb, "sha256": sha256}
        (folder / "request.json").write_text(json.dumps(request), encoding="utf-8")
        try:
            with parse_slot(worker):
                outcome = _run(folder, worker)
        except WorkersBusy as busy:
            log.warning("ingest: %r refused, all %d parse slots busy for %.0f s", name, busy.busy,
                        worker.queue_seconds)
            other = "1 other file" if busy.busy == 1 else f"{busy.busy} other files"
            return _failed(name, sha256, f"not read: the server is busy reading {other} (at most {worker.concurrent} "
                                       f"at a time; waited {worker.queue_seconds:g} s): try again in a minute",
                           started, kind="busy")
        if outcome is not None:
            kind = "too_large" if outcome == TOO_SLOW_MESSAGE.format(seconds=worker.seconds) else "worker_failed"
            return _failed(name, sha256, outcome, started, kind=kind)
        try:
            prepared = _read_result(folder, keep_staged)
        except Exception as exc:  # noqa: BLE001 - a broken result is a failed parse, not a server error
            log.error("ingest worker result for %r unreadable: %s", name, exc)
            return _failed(name, sha256, f"{CRASH_MESSAGE} (the worker returned no readable result)", started)
    if ws is not None and prepared.table is not None:
        from sop_core.intake.load import cross_table_warnings, key_frame

        keys = key_frame(prepared)
        if keys is not None:
            prepared.warnings += [w for w in cross_table_warnings(keys, prepared.table, ws)
                                  if w not in prepared.warnings]
    prepared.stats["worker_seconds"] = round(time.perf_counter() - started, 3)
    return prepared


@contextmanager
def parse_slot(worker: WorkerLimits) -> Iterator[int]:
    """Hold one of `worker.concurrent` machine-wide parse slots (an flock'd file each) while the block runs.

    Waits up to `worker.queue_seconds` for a free slot, then raises WorkersBusy. The system drops the
    lock of a process that dies, so a killed server never leaves a slot taken.
    """
    folder = Path(worker.slots_dir)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    count = max(1, int(worker.concurrent))
    deadline = time.monotonic() + max(0.0, worker.queue_seconds)
    while True:
        for i in range(count):
            fh = open(folder / f"slot-{i}.lock", "a+b")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                fh.close()
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    continue
                raise
            try:
                yield i
            finally:
                fh.close()  # closing the file releases its lock
            return
        if time.monotonic() >= deadline:
            raise WorkersBusy(count)
        time.sleep(0.2)


def _run(folder: Path, worker: WorkerLimits) -> str | None:
    """Run the worker on `folder`; None on success, else the user-facing reason it failed."""
    cmd = [sys.executable, "-m", "sop_core.intake.worker", str(folder), str(int(worker.memory_mb)),
           str(max(1, int(worker.seconds) + 5)), str(int(worker.max_file_mb))]
    with open(folder / "stderr.log", "wb") as err:
        proc = subprocess.Popen(cmd, cwd=folder, env=worker_environment(folder), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err, close_fds=True, start_new_session=True)
        try:
            rc = proc.wait(timeout=worker.seconds)
        except subprocess.TimeoutExpired:
            _kill(proc)
            log.warning("ingest worker %d stopped after %.0f s", proc.pid, worker.seconds)
            return TOO_SLOW_MESSAGE.format(seconds=worker.seconds)
        except BaseException:
            _kill(proc)
            raise
    if rc == 0 and (folder / "result.json").exists():
        return None
    tail = (folder / "stderr.log").read_bytes()[-2000:].decode("utf-8", errors="replace")
    log.warning("ingest worker %d exited with %d: %s", proc.pid, rc, tail)
    if rc == -signal.SIGXCPU:  # RLIMIT_CPU: as slow as the wall-clock limit, only counted in CPU seconds
        return TOO_SLOW_MESSAGE.format(seconds=worker.seconds)
    if rc < 0:
        return f"{CRASH_MESSAGE} (worker exited with signal {-rc})"
    return f"{CRASH_MESSAGE} (worker exited with code {rc})"


def _kill(proc: subprocess.Popen) -> None:
    """SIGKILL the worker and anything it started (its own session), then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()


def _mappings(ws: Workspace | None) -> list[list[Any]] | None:
    """The remembered column mappings of the workspace, as rows for the worker (None without one)."""
    if ws is None:
        return None
    try:
        df = ws.query("SELECT layout_key, table_name, mapping, options FROM column_mappings")
    except Exception:  # noqa: BLE001 - remembering is a convenience; parse without it
        return []
    return [[None if v is None or v != v else str(v) for v in row] for row in df.itertuples(index=False, name=None)]


def _encode_options(options: dict[str, Any]) -> dict[str, Any]:
    """intake.prepare options as JSON (WideSpec, date and Limits as dicts)."""
    out = dict(options)
    if dataclasses.is_dataclass(out.get("wide")):
        out["wide"] = {"spec": dataclasses.asdict(out["wide"])}
    if isinstance(out.get("today"), date):
        out["today"] = out["today"].isoformat()
    if dataclasses.is_dataclass(out.get("limits")):
        out["limits"] = dataclasses.asdict(out["limits"])
    return out


def _decode_options(options: dict[str, Any]) -> dict[str, Any]:
    """The inverse of _encode_options, in the worker."""
    from sop_core.intake.load import WideSpec
    from sop_core.intake.raw_table import Limits

    out = dict(options)
    if isinstance(out.get("wide"), dict):
        spec = dict(out["wide"]["spec"])
        spec["missing_markers"] = tuple(spec.get("missing_markers", ("*", "")))
        out["wide"] = WideSpec(**spec)
    if isinstance(out.get("today"), str):
        out["today"] = date.fromisoformat(out["today"])
    if isinstance(out.get("limits"), dict):
        out["limits"] = Limits(**out["limits"])
    if isinstance(out.get("conversions"), dict):
        out["conversions"] = {sku: (base, per_case) for sku, (base, per_case) in out["conversions"].items()}
    return out


def _failed(name: str, sha256: str, message: str, started: float, kind: str = "worker_failed") -> Prepared:
    """A Prepared holding one IntakeError (nothing can be committed)."""
    from sop_core.intake.errors import IntakeError
    from sop_core.intake.load import Prepared, finish_prepared
    from sop_core.intake.readers import sanitise_name

    p = Prepared(file_name=sanitise_name(name), sha256=sha256)
    p.errors.append(IntakeError(p.file_name, message, kind=kind))
    return finish_prepared(p, started)


# -- result transport (JSON + Parquet, no pickle) ------------------------------------------------

_ERROR_FIELDS = ("file", "message", "column", "rows", "count", "kind", "choices")
_RAW_FIELDS = ("file_name", "kind", "headers", "sheet", "sheet_names", "encoding", "delimiter", "notes",
               "warnings", "size_bytes", "blank_rows")
_PREPARED_FIELDS = ("file_name", "sha256", "table", "mapping", "mapping_source", "layout_key", "warnings", "notes",
                    "stats", "date_choice_needed", "seconds", "options", "ignored_columns", "key_values")


def _json_default(v: Any) -> Any:
    """numpy scalars, dates and tuples for json.dumps."""
    if hasattr(v, "item"):
        return v.item()
    if isinstance(v, (date,)):
        return v.isoformat()
    if isinstance(v, (set, tuple)):
        return list(v)
    return str(v)


def _write_result(folder: Path, p: Prepared) -> None:
    """Store a Prepared as result.json (+ raw.parquet, frame.parquet); result.json is written last."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    doc: dict[str, Any] = {k: getattr(p, k) for k in _PREPARED_FIELDS}
    doc["errors"] = [{k: getattr(e, k) for k in _ERROR_FIELDS} for e in p.errors]
    doc["wide"] = dataclasses.asdict(p.wide) if p.wide is not None else None
    doc["raw"] = None
    if p.raw is not None:
        doc["raw"] = {k: getattr(p.raw, k) for k in _RAW_FIELDS}
        body = p.raw.data.copy()
        body.columns = [f"c{i}" for i in range(body.shape[1])]
        body["__line__"] = p.raw.line_numbers
        pq.write_table(pa.Table.from_pandas(body, preserve_index=False), folder / "raw.parquet")
    doc["frame"] = p.frame is not None
    doc["staged"] = os.path.relpath(p.staged, folder) if p.staged is not None else None
    if p.frame is not None:
        pq.write_table(pa.Table.from_pandas(p.frame, preserve_index=False), folder / "frame.parquet")
    tmp = folder / "result.json.tmp"
    tmp.write_text(json.dumps(doc, default=_json_default), encoding="utf-8")
    os.replace(tmp, folder / "result.json")


def _read_result(folder: Path, keep_staged: bool = False) -> Prepared:
    """Rebuild the Prepared written by the worker (a staged table kept as its Parquet file, or read as the frame)."""
    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq

    from sop_core.intake.errors import IntakeError
    from sop_core.intake.load import Prepared, WideSpec
    from sop_core.intake.raw_table import RawTable

    doc = json.loads((folder / "result.json").read_text(encoding="utf-8"))
    p = Prepared(**{k: doc[k] for k in _PREPARED_FIELDS})
    for e in doc["errors"]:
        p.errors.append(IntakeError(e["file"], e["message"], e["column"], e["rows"], e["count"], kind=e["kind"],
                                    choices=e["choices"]))
    if doc.get("wide"):
        spec = dict(doc["wide"])
        spec["missing_markers"] = tuple(spec.get("missing_markers", ("*", "")))
        p.wide = WideSpec(**spec)
    if doc.get("raw"):
        r = doc["raw"]
        body = pq.read_table(folder / "raw.parquet").to_pandas()
        lines = body.pop("__line__").to_numpy(dtype=np.int64)
        body.columns = pd.Index(list(r["headers"]), dtype="object")
        p.raw = RawTable(file_name=r["file_name"], kind=r["kind"], headers=list(r["headers"]), data=body,
                         line_numbers=lines, sheet=r["sheet"], sheet_names=list(r["sheet_names"]),
                         encoding=r["encoding"], delimiter=r["delimiter"], notes=list(r["notes"]),
                         warnings=list(r["warnings"]), size_bytes=int(r["size_bytes"]), blank_rows=int(r["blank_rows"]))
    if doc.get("frame"):
        p.frame = pq.read_table(folder / "frame.parquet").to_pandas()
    if doc.get("staged"):
        staged = folder / doc["staged"]
        assert staged.resolve().is_relative_to(folder.resolve())
        if keep_staged:
            p.staged = _keep(staged, p)
        else:
            frame = pq.read_table(staged).to_pandas(date_as_object=False)
            for c in frame.columns:  # as the in-memory checks give them
                if pd.api.types.is_datetime64_any_dtype(frame[c]):
                    frame[c] = frame[c].astype("datetime64[ns]")
            p.frame = frame
    return p


def _keep(staged: Path, owner: Prepared) -> str:
    """Move a staged Parquet file out of the worker's folder; it is removed when `owner` is dropped."""
    import shutil
    import weakref

    fd, kept = tempfile.mkstemp(prefix="sop-staged-", suffix=".parquet")
    os.close(fd)
    shutil.move(str(staged), kept)
    weakref.finalize(owner, _remove, kept)
    return kept


def _remove(path: str) -> None:
    """Delete a file if it is still there."""
    try:
        os.unlink(path)
    except OSError:
        pass


# -- worker side ----------------------------------------------------------------------------------

def _set_limits(memory_mb: int, cpu_seconds: int, file_mb: int) -> None:
    """Resource limits of the worker process (before it reads anything)."""
    import resource

    def cap(which: int, value: int) -> None:
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value if hard == resource.RLIM_INFINITY else hard))

    cap(resource.RLIMIT_AS, memory_mb * MB)
    cap(resource.RLIMIT_CPU, cpu_seconds)
    cap(resource.RLIMIT_FSIZE, file_mb * MB)
    cap(resource.RLIMIT_CORE, 0)


def _entry_prepare(name: str, data: bytes, table: str | None, **kw: Any) -> Prepared:
    """The real work: intake.prepare."""
    from sop_core.intake.load import prepare

    return prepare(name, data, table, **kw)


def _entry_abort(name: str, data: bytes, table: str | None, **kw: Any) -> Prepared:
    """Fault injector: a parser that crashes the process (case 9)."""
    os.abort()


def _entry_hog(name: str, data: bytes, table: str | None, **kw: Any) -> Prepared:
    """Fault injector: a parser that allocates without bound (stopped by RLIMIT_AS)."""
    hog = []
    while True:
        hog.append(bytearray(64 * MB))


def _entry_sleep(name: str, data: bytes, table: str | None, **kw: Any) -> Prepared:
    """Fault injector: a parser that never finishes (stopped by the timeout)."""
    while True:
        time.sleep(1)


def _entry_probe(name: str, data: bytes, table: str | None, **kw: Any) -> Prepared:
    """Diagnostics: the worker's environment and DuckDB probe results as notes of an otherwise empty Prepared."""
    import hashlib

    from sop_core.intake.load import Prepared

    p = Prepared(file_name=name, sha256=hashlib.sha256(data).hexdigest())
    p.notes = [f"env {k}={v}" for k, v in sorted(os.environ.items())]
    con = hardened_connection(Path.cwd() / "probe")
    for sql in ("SELECT * FROM read_csv('/etc/passwd')", "ATTACH '/tmp/sop-probe.duckdb' AS x", "INSTALL excel",
                "SET memory_limit = '64GB'", "SET enable_external_access = true"):
        try:
            con.execute(sql)
            p.notes.append(f"probe allowed: {sql}")
        except Exception as exc:  # noqa: BLE001 - recorded
            p.notes.append(f"probe refused: {sql}: {type(exc).__name__}")
    import resource

    p.notes.append(f"rlimit_as {resource.getrlimit(resource.RLIMIT_AS)[0]}")
    return p


ENTRIES = {"prepare": _entry_prepare, "abort": _entry_abort, "hog": _entry_hog, "sleep": _entry_sleep,
           "probe": _entry_probe}


def _child_main(argv: list[str]) -> int:
    """Worker process: limits, read the request, run the entry, write the result."""
    folder = Path(argv[0])
    _set_limits(int(argv[1]), int(argv[2]), int(argv[3]))
    request = json.loads((folder / "request.json").read_text(encoding="utf-8"))
    name, table, sha256 = request["name"], request["table"], request["sha256"]
    started = time.perf_counter()
    try:
        ctx = None
        if request.get("mappings") is not None:
            ctx = _Snapshot.build(folder / "duckdb", request["mappings"], int(request["duckdb_memory_mb"]))
        options = _decode_options(request["options"])
        if request["entry"] == "prepare":
            from sop_core.intake.load import prepare_file

            prepared = prepare_file(name, folder / "input.bin", table, work_dir=folder, sha256=sha256,
                                    duckdb_memory_mb=int(request["stream_memory_mb"]), ws=ctx, **options)
        else:
            fn = ENTRIES[request["entry"]]
            prepared = fn(name, (folder / "input.bin").read_bytes(), table, ws=ctx, **options)
    except MemoryError:
        prepared = _failed(name, sha256, "could not parse file — it needs more memory than an upload may use; split "
                                         "it into smaller files", started)
    except Exception as exc:  # noqa: BLE001 - reported to the user as a failed parse
        print(f"ingest worker: {type(exc).__name__}: {exc}", file=sys.stderr)
        prepared = _failed(name, sha256, f"{CRASH_MESSAGE} ({type(exc).__name__})", started)
    _write_result(folder, prepared)
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
