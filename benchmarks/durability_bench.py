"""Durability drills: concurrent saves, kill -9 during saves and bulk loads, a flipped or torn write-ahead log.

Run: ``python benchmarks/durability_bench.py`` (``--quick`` for smaller counts). Prints one table.
tests/test_faults.py runs the same functions and asserts on their results.

- ``concurrent_saves``: N writer threads × M saves through one Workspace (decision records, status
  changes, setting upserts, overrides, and a repeated event id every 25th save); attempted,
  acknowledged, present, lost, saves per second.
- ``crash_saves``: a child process saves in a loop (overrides, decisions, approvals, PK upserts,
  table replacement = DDL) printing each acknowledged id; the parent SIGKILLs it at a random time,
  reopens the workspace and checks every acknowledged save is present, nothing is half-applied
  and the ledger check finds nothing missing.
- ``crash_bulk_loads``: the same during 100k-row table replacements, each crossing an automatic
  checkpoint (threshold lowered to 1 MB): the table is always one complete load.
- ``wal_damage``: commits in a child killed with -9 (the WAL stays), then one byte of the WAL
  flipped (or its tail cut); DuckDB opens silently with fewer commits (or refuses to open), and
  the start-up check reports the missing events.
"""
from __future__ import annotations

import argparse
import logging
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make sop_core importable
    sys.path.insert(0, str(ROOT))

from sop_core.demand import consensus as C  # noqa: E402
from sop_core.demand import overrides as O  # noqa: E402
from sop_core.meetings import decisions as D  # noqa: E402
from sop_core.meetings import versions as V  # noqa: E402
from sop_core.store import recovery  # noqa: E402
from sop_core.store.workspace import Provenance, Workspace, WorkspaceDamaged  # noqa: E402

RUN = "durability-run"
PERIODS = pd.date_range("2026-01-01", periods=6, freq="MS")
SKUS = [f"s{i}" for i in range(8)]
DUE = "2099-12-31"


def tiny_statistical() -> pd.DataFrame:
    """8 skus × 1 region × 6 months of 100 units: the forecast the overrides are made on."""
    rows = [{"series_id": f"{s} | N", "sku": s, "region": "N", "family": "F", "period": p, "value": 100.0,
             "lower": 0.0, "upper": 0.0, "model": "naive"} for s in SKUS for p in PERIODS]
    return pd.DataFrame(rows)


def tiny_plan(units: float) -> pd.DataFrame:
    """A three-line plan to approve."""
    return pd.DataFrame({"sku": ["s0", "s1", "s2"], "region": "N", "family": "F", "period": PERIODS[0],
                         "units": [units, units + 1, units + 2]})


def _override(ws: Workspace, prepared: C.Prepared, sku: str, period: pd.Timestamp, value: float, event_id: str,
              author: str) -> O.Override:
    """Save a units override, passing the latest entry on its scope as the expected one (no stale refusals)."""
    ov = O.OverrideInput(sku=sku, period_from=period, period_to=period, kind="units", value=value,
                         reason="Promotion", event_id=event_id)
    latest = O.latest_touching(ws, prepared, ov)
    return O.save_override(ws, RUN, prepared, ov, author, expected_latest=latest.override_id if latest else None)


# -- 1. concurrent writers ------------------------------------------------------------------------

def concurrent_saves(path: str | Path, writers: int = 8, saves: int = 200, override_every: int = 8) -> dict[str, Any]:
    """`writers` threads × `saves` saves through one Workspace; counts and throughput.

    Saves rotate through decision records, status changes (with the expected status) and setting
    upserts; every `override_every`-th save is an override (the costliest: it refreshes the consensus).
    """
    prepared = C.prepare(tiny_statistical())
    acked: list[tuple[str, Any]] = []
    errors: list[BaseException] = []
    guard = threading.Lock()
    repeats = 0
    ws = Workspace(path)
    barrier = threading.Barrier(writers)

    def writer(t: int) -> None:
        nonlocal repeats
        sku = SKUS[t % len(SKUS)]
        decision = None
        barrier.wait()
        for i in range(saves):
            try:
                kind = 3 if i % override_every == override_every - 1 else (0, 1, 2)[(i % override_every) % 3]
                if kind == 1 and decision is None:
                    kind = 0
                if kind == 0:
                    decision = D.record(ws, title=f"w{t} save {i}", owner="ops", due_date=DUE, author=f"w{t}",
                                        event_id=f"w{t}-{i}")
                    item: tuple[str, Any] = ("decision", decision)
                    if i % 24 == 0:  # a double click: same event id again
                        again = D.record(ws, title=f"w{t} save {i}", owner="ops", due_date=DUE, author=f"w{t}",
                                         event_id=f"w{t}-{i}")
                        assert again == decision
                        with guard:
                            repeats += 1
                elif kind == 1:
                    D.set_status(ws, decision, "in progress", f"w{t}", expected_status="open")
                    item = ("status", decision)
                elif kind == 2:
                    ws.set_setting(f"bench.w{t}.{i}", i, author=f"w{t}")
                    item = ("setting", (f"bench.w{t}.{i}", i))
                else:
                    o = _override(ws, prepared, sku, PERIODS[(i // override_every) % len(PERIODS)], float(i),
                                  f"o{t}-{i}", f"w{t}")
                    item = ("override", o.override_id)
                with guard:
                    acked.append(item)
            except BaseException as exc:  # noqa: BLE001 - counted and reported
                with guard:
                    errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(writers)]
    started = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    seconds = time.perf_counter() - started
    ws.close()
    with Workspace(path) as ws:  # reopened: what survived
        present = sum(_present(ws, kind, ident) for kind, ident in acked)
        bad = half_applied(ws, prepared)
        report = recovery.check(ws)
        duplicates = int(ws.scalar("SELECT count(*) - count(DISTINCT event_id) FROM decisions"))
    return {"attempted": writers * saves, "acknowledged": len(acked), "present": present,
            "lost": len(acked) - present, "errors": len(errors), "error_examples": [repr(e) for e in errors[:3]],
            "double_clicks": repeats, "duplicate_rows": duplicates, "half_applied": len(bad),
            "ledger_missing": len(report.missing), "seconds": seconds, "saves_per_s": len(acked) / seconds}


def _present(ws: Workspace, kind: str, ident: Any) -> bool:
    """True when an acknowledged save of that kind is in the database with its audit event."""
    def n(sql: str, params: list[Any]) -> int:
        return int(ws.scalar(sql, params) or 0)

    if kind == "decision":
        return n("SELECT count(*) FROM decisions WHERE decision_id = ?", [ident]) == 1 and \
            n("SELECT count(*) FROM audit_log WHERE kind = 'decision' AND subject = ?", [ident]) == 1
    if kind == "status":
        return n("SELECT count(*) FROM decision_events WHERE decision_id = ? AND kind = 'status' AND "
                 "new_status = 'in progress'", [ident]) == 1
    if kind == "setting":
        key, value = ident
        return ws.get_setting(key) == value
    if kind == "override":
        return n("SELECT count(*) FROM overrides WHERE override_id = ?", [ident]) == 1 and \
            n("SELECT count(*) FROM audit_log WHERE kind = 'override' AND subject = ?", [ident]) == 1
    if kind == "version":
        return n("SELECT count(*) FROM plan_versions WHERE version_id = ?", [ident]) == 1 and V.verify(ws, ident)
    if kind == "load":
        return n("SELECT count(*) FROM loads WHERE load_id = ?", [ident]) == 1
    raise ValueError(kind)


def half_applied(ws: Workspace, prepared: C.Prepared | None = None) -> list[str]:
    """Every way a save could be partly stored, checked over the whole database; [] when none."""
    bad: list[str] = []

    def rows(sql: str) -> list[tuple]:
        return list(ws.query(sql).itertuples(index=False, name=None))

    bad += [f"override {r[0]} without its audit event" for r in rows(
        "SELECT override_id FROM overrides o WHERE NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.subject = "
        "o.override_id AND a.kind IN ('override', 'override_undo'))")]
    bad += [f"audit event for override {r[0]} without the override" for r in rows(
        "SELECT subject FROM audit_log a WHERE kind IN ('override', 'override_undo') AND NOT EXISTS "
        "(SELECT 1 FROM overrides o WHERE o.override_id = a.subject)")]
    seqs = [r[0] for r in rows("SELECT seq FROM overrides ORDER BY seq")]
    if seqs != list(range(1, len(seqs) + 1)):
        bad.append("override seq has gaps")
    if prepared is not None and seqs:
        stored = C.load_consensus(ws, RUN)
        expected = C.apply_overrides(prepared, O.active(ws, RUN))
        if stored is None:
            bad.append("overrides saved but no consensus stored")
        else:
            key = ["sku", "region", "period"]
            a = stored.sort_values(key)["consensus"].to_numpy()
            b = expected.assign(period=pd.to_datetime(expected["period"])).sort_values(key)["consensus"].to_numpy()
            if len(a) != len(b) or abs(a - b).max() > 1e-9:
                bad.append("stored consensus differs from the overrides")
    bad += [f"decision {r[0]} without its created event or audit" for r in rows(
        "SELECT decision_id FROM decisions d WHERE NOT EXISTS (SELECT 1 FROM decision_events e WHERE "
        "e.decision_id = d.decision_id AND e.kind = 'created') OR NOT EXISTS (SELECT 1 FROM audit_log a WHERE "
        "a.kind = 'decision' AND a.subject = d.decision_id)")]
    bad += [f"audit event for decision {r[0]} without the decision" for r in rows(
        "SELECT subject FROM audit_log a WHERE kind = 'decision' AND NOT EXISTS (SELECT 1 FROM decisions d "
        "WHERE d.decision_id = a.subject)")]
    bad += [f"status change of {r[0]} without its audit event" for r in rows(
        "SELECT decision_id FROM decision_events e WHERE kind = 'status' GROUP BY decision_id HAVING count(*) > "
        "(SELECT count(*) FROM audit_log a WHERE a.kind = 'decision_status' AND a.subject = e.decision_id)")]
    for vid, n_lines in rows("SELECT version_id, n_lines FROM plan_versions"):
        lines = int(ws.scalar("SELECT count(*) FROM plan_version_lines WHERE version_id = ?", [vid]))
        if lines != n_lines or not V.verify(ws, vid):
            bad.append(f"plan version {vid} lines incomplete")
    bad += [f"plan version {r[0]} without its audit event" for r in rows(
        "SELECT version_id FROM plan_versions v WHERE NOT EXISTS (SELECT 1 FROM audit_log a WHERE "
        "a.kind = 'plan_approved' AND a.subject = v.version_id)")]
    bad += [f"audit event for version {r[0]} without the version" for r in rows(
        "SELECT subject FROM audit_log a WHERE kind = 'plan_approved' AND NOT EXISTS (SELECT 1 FROM plan_versions "
        "v WHERE v.version_id = a.subject)")]
    bad += [f"orphan lines of version {r[0]}" for r in rows(
        "SELECT DISTINCT version_id FROM plan_version_lines l WHERE NOT EXISTS (SELECT 1 FROM plan_versions v "
        "WHERE v.version_id = l.version_id)")]
    bad += [f"setting {r[0]} without its audit event" for r in rows(
        "SELECT key FROM settings s WHERE NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.kind = 'setting' AND "
        "a.subject = s.key)")]
    bad += [f"load {r[0]} without its audit event" for r in rows(
        "SELECT load_id FROM loads l WHERE NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.kind = 'load' AND "
        "a.detail LIKE '%' || l.load_id || '%')")]
    latest = ws.latest_loads()
    for name, n_rows in latest[["table_name", "rows"]].itertuples(index=False):
        if not ws.has_table(name):
            bad.append(f"table {name} missing after its load")
            continue
        table = ws.table(name)
        if len(table) != n_rows:
            bad.append(f"table {name} has {len(table)} rows, its last load {n_rows}")
    return bad


# -- 2. kill -9 during saves ----------------------------------------------------------------------

def _child_env() -> dict[str, str]:
    """The children's environment: this one, with the project importable and single-threaded BLAS."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def _child_saves(path: str, iteration: int, mode: str) -> None:
    """Child process: open the workspace and save forever, printing 'ack KIND ID' after each acknowledged save."""
    ws = Workspace(path)
    if mode == "wal":
        for i in range(iteration):  # `iteration` = number of commits; then wait to be killed (the WAL stays)
            d = D.record(ws, title=f"wal {i}", owner="ops", due_date=DUE, author="wal", event_id=f"wal-{i}")
            print(f"ack decision {d}", flush=True)
        print(f"done {os.getpid()}", flush=True)
        time.sleep(600)
        return
    if mode == "bulk":
        ws.execute("SET checkpoint_threshold = '1MB'")  # every bulk commit crosses an automatic checkpoint
    prepared = C.prepare(tiny_statistical())
    rng = random.Random(iteration)
    print(f"ready {os.getpid()}", flush=True)
    i = 0
    while True:
        tag = f"c{iteration}-{i}"
        if mode == "bulk":
            n = 100_000 + iteration * 100 + i  # the row count tells which load is stored
            frame = pd.DataFrame({"sku": [f"b{k}" for k in range(n)], "family": "F", "unit_price": 1.0,
                                  "unit_cost": 0.5})
            load_id = ws.replace_table("products", frame, Provenance(f"bulk-{tag}.csv", tag, author="crash"))
            print(f"ack load {load_id} {n}", flush=True)
        else:
            kind = i % 5
            if kind == 0:
                o = _override(ws, prepared, rng.choice(SKUS), PERIODS[rng.randrange(len(PERIODS))],
                              float(rng.randrange(50, 150)), tag, "crash")
                print(f"ack override {o.override_id}", flush=True)
            elif kind == 1:
                d = D.record(ws, title=f"crash {tag}", owner="ops", due_date=DUE, author="crash", event_id=tag)
                print(f"ack decision {d}", flush=True)
            elif kind == 2:
                v = V.approve(ws, tiny_plan(float(i)), name=f"crash {tag}", scenario_id=None,
                              fingerprints={"run": RUN}, approved_by="crash", event_id=tag)
                print(f"ack version {v.version_id}", flush=True)
            elif kind == 3:
                ws.set_setting(f"crash.{tag}", i, author="crash")
                print(f"ack setting crash.{tag} {i}", flush=True)
            else:
                frame = pd.DataFrame({"sku": [f"p{k}" for k in range(i % 7 + 1)], "family": "F", "unit_price": 2.0,
                                      "unit_cost": 1.0})
                load_id = ws.replace_table("products", frame, Provenance(f"p-{tag}.csv", tag, author="crash"))
                print(f"ack load {load_id} {len(frame)}", flush=True)
        i += 1


def _zygote() -> None:
    """Zygote process: modules imported once; per 'start PATH N MODE' line, fork a child running _child_saves.

    Prints 'exit PID STATUS' when the child is gone. Forking a process that has imported but never
    connected to DuckDB avoids ~2 s of imports per crash iteration; the child is a real process
    that opens the workspace itself and dies by SIGKILL like any other.
    """
    for line in sys.stdin:
        parts = line.split()
        if not parts or parts[0] != "start":
            continue
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                _child_saves(parts[1], int(parts[2]), parts[3])
            except BaseException as exc:  # noqa: BLE001 - reported to the parent
                print(f"child error {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
                code = 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        print(f"\nexit {pid} {status}", flush=True)


ACK = re.compile(r"^ack (override|decision|version|setting|load) (\S+)(?: (\S+))?$")


class Crasher:
    """Runs saving children (forked from a zygote) and kills them with SIGKILL."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--zygote"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=_child_env(), cwd=str(ROOT), text=True, bufsize=1)
        self._lines: list[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self._lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._lines.append("zygote gone")
            self._cond.notify_all()

    def _wait_for(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self._lines:
                    if line.startswith(prefix) or line == "zygote gone":
                        if line == "zygote gone":
                            err = self.proc.stderr.read() if self.proc.stderr else ""
                            raise RuntimeError(f"crash zygote exited: {err[-2000:]}")
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"no {prefix!r} from the crash child within {timeout:.0f} s")
                self._cond.wait(left)

    def run(self, path: Path, n: int, mode: str, delay: float | None) -> list[list[str]]:
        """Start a child; kill it `delay` s after 'ready' (mode wal: once 'done'); its acknowledged lines."""
        with self._cond:
            self._lines.clear()
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"start {path.resolve()} {n} {mode}\n")
        self.proc.stdin.flush()
        first = self._wait_for("done" if mode == "wal" else "ready", 120)
        pid = int(first.split()[1])
        if delay:
            time.sleep(delay)
        with self._cond:
            early = any(line.startswith("exit ") for line in self._lines)
        if early:
            raise RuntimeError("crash child exited before it was killed; see the zygote's stderr")
        os.kill(pid, signal.SIGKILL)
        self._wait_for("exit ", 60)
        with self._cond:
            lines = list(self._lines)
        return [line.split() for line in lines if ACK.match(line)]

    def close(self) -> None:
        """Stop the zygote."""
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Crasher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def crash_saves(path: str | Path, iterations: int = 20, seed: int = 7, mode: str = "saves",
                delays: tuple[float, float] = (0.1, 1.2)) -> dict[str, Any]:
    """`iterations` × (child saving in a loop, kill -9 at a random time, reopen and verify)."""
    path = Path(path)
    rng = random.Random(seed)
    prepared = C.prepare(tiny_statistical())
    acked = present = missing = 0
    half: list[str] = []
    bulk_ok = True
    with Crasher() as crasher:
        for it in range(iterations):
            acks = crasher.run(path, it, mode, rng.uniform(*delays))
            ok, complete, bad, gaps = _verify_after_crash(path, acks, mode, prepared)
            acked += len(acks)
            present += ok
            bulk_ok &= complete
            half += [f"iteration {it}: {b}" for b in bad]
            missing += gaps
    return {"iterations": iterations, "acknowledged": acked, "present": present, "lost": acked - present,
            "half_applied": len(half), "half_examples": half[:5], "ledger_missing": missing,
            "bulk_all_or_nothing": bulk_ok}


def _verify_after_crash(path: Path, acks: list[list[str]], mode: str,
                        prepared: C.Prepared) -> tuple[int, bool, list[str], int]:
    """Reopen after a crash: acknowledged saves present, bulk table complete, half-applied saves, ledger gaps."""
    with Workspace(path) as ws:
        present = 0
        for ack in acks:
            ident: Any = (ack[2], int(ack[3])) if ack[1] == "setting" else ack[2]
            present += _present(ws, ack[1], ident)
        complete = True
        if mode == "bulk":
            loads = ws.latest_loads()
            row = loads[loads["table_name"] == "products"]
            if len(row):
                complete = int(ws.scalar('SELECT count(*) FROM "products"')) == int(row["rows"].iloc[0])
        bad = half_applied(ws, prepared if mode != "bulk" else None)
        report = recovery.check(ws)
    return present, complete, bad, len(report.missing) + len(report.altered)


# -- 3. damaged write-ahead log ---------------------------------------------------------------------

def _wal_entries(data: bytes) -> list[int]:
    """Offsets of the WAL's [u64 size][u64 checksum][payload] entries, if the layout is recognised."""
    for start in range(0, min(512, len(data))):
        offsets, pos = [], start
        while pos + 16 <= len(data):
            size = struct.unpack_from("<Q", data, pos)[0]
            if size == 0 or pos + 16 + size > len(data):
                break
            offsets.append(pos)
            pos += 16 + size
        if pos == len(data) and len(offsets) >= 4:
            return offsets
    return []


def _opens_silently(db: Path, wal: Path, position: int, probe: Path) -> int | None:
    """Audit events DuckDB shows when `wal` has one byte flipped at `position`; None when it refuses to open."""
    import duckdb

    shutil.rmtree(probe, ignore_errors=True)
    probe.mkdir()
    shutil.copyfile(db, probe / "p.duckdb")
    data = bytearray(wal.read_bytes())
    data[position] ^= 0xFF
    (probe / "p.duckdb.wal").write_bytes(bytes(data))
    try:
        con = duckdb.connect(str(probe / "p.duckdb"))
    except duckdb.Error:
        return None
    try:
        return int(con.execute("SELECT count(*) FROM audit_log").fetchall()[0][0])
    finally:
        con.close()


def find_flip(db: Path, wal: Path, events_in_full: int, want: str = "silent") -> int | None:
    """A WAL byte near the middle whose flip DuckDB accepts silently while dropping commits (want='silent') or
    refuses to replay (want='refuse'); None if none found."""
    data = wal.read_bytes()
    middle = len(data) // 2
    entries = sorted(_wal_entries(data), key=lambda off: abs(off - middle))
    if want == "silent":
        candidates = [off + 7 for off in entries[:20]]  # most significant byte of an entry's size field
    else:
        candidates = [off + 20 for off in entries[:20]]  # inside an entry's payload
    candidates += sorted(range(len(data) // 3, 2 * len(data) // 3), key=lambda p: abs(p - middle))[:400]
    with tempfile.TemporaryDirectory() as tmp:
        for pos in candidates:
            seen = _opens_silently(db, wal, pos, Path(tmp) / "probe")
            if want == "silent" and seen is not None and 0 < seen < events_in_full:
                return pos
            if want == "refuse" and seen is None:
                return pos
    return None


def damage_wal(folder: str | Path, commits: int = 40, how: str = "flip") -> tuple[Path, list[str], dict[str, Any]]:
    """Commit in a child killed with -9 and damage its WAL (`flip` silently, `refuse` flip, `truncate`).

    Returns the workspace path, the acknowledged decision ids and what was done.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"wal-{how}.duckdb"
    Workspace(path).close()  # schema checkpointed into the file: the WAL will hold only the commits
    with Crasher() as crasher:
        ids = [ack[2] for ack in crasher.run(path, commits, "wal", None)]
    wal = path.with_name(path.name + ".wal")
    result: dict[str, Any] = {"how": how, "committed": len(ids),
                              "wal_bytes": wal.stat().st_size if wal.exists() else 0}
    data = bytearray(wal.read_bytes())
    if how in ("flip", "refuse"):
        pos = find_flip(path, wal, len(ids), "silent" if how == "flip" else "refuse")
        if pos is None:
            what = "accepts silently" if how == "flip" else "refuses"
            raise RuntimeError(f"no WAL byte found whose flip DuckDB {what}")
        data[pos] ^= 0xFF
        result["position"] = pos
    else:
        data = data[: len(data) - 100]
    wal.write_bytes(bytes(data))
    return path, ids, result


def wal_damage(folder: str | Path, commits: int = 40, how: str = "flip") -> dict[str, Any]:
    """damage_wal, then open the workspace as the app does (setting a refused WAL aside) and run the start-up check."""
    path, ids, result = damage_wal(folder, commits, how)
    refused = False
    try:
        ws = Workspace(path)
    except WorkspaceDamaged as exc:
        refused = True
        result["open_error"] = str(exc)
        recovery.set_aside_wal(path)
        ws = Workspace(path)
    with ws:
        present = sum(_present(ws, "decision", d) for d in ids)
        messages = recovery.startup_check(ws)
        report = recovery.check(ws)
    result.update({"duckdb_refused_open": refused, "present": present, "lost": len(ids) - present,
                   "reported_missing": len(report.missing), "messages": messages,
                   "detected": (len(ids) - present) > 0 and len(report.missing) == len(ids) - present})
    return result


# -- report ---------------------------------------------------------------------------------------

def run_all(quick: bool = False) -> list[tuple[str, str]]:
    """Run every drill in a temporary folder; rows of (measure, value) for the printed table."""
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="sop-durability-") as tmp:
        writers, saves = (8, 40) if quick else (8, 200)
        c = concurrent_saves(Path(tmp) / "concurrent.duckdb", writers, saves)
        rows += [(f"{writers} writers × {saves} saves: attempted", f"{c['attempted']:,}"),
                 ("  acknowledged", f"{c['acknowledged']:,}"), ("  present after reopen", f"{c['present']:,}"),
                 ("  lost", f"{c['lost']:,}"), ("  errors", f"{c['errors']:,}"),
                 ("  double clicks (same event id) / duplicate rows", f"{c['double_clicks']} / {c['duplicate_rows']}"),
                 ("  saves per second", f"{c['saves_per_s']:,.0f}")]
        k = crash_saves(Path(tmp) / "crash.duckdb", iterations=5 if quick else 20)
        rows += [("kill -9 during saves: iterations", f"{k['iterations']}"),
                 ("  acknowledged", f"{k['acknowledged']:,}"), ("  present after reopen", f"{k['present']:,}"),
                 ("  lost", f"{k['lost']:,}"), ("  half-applied", f"{k['half_applied']:,}"),
                 ("  ledger events missing from the DB", f"{k['ledger_missing']:,}")]
        b = crash_bulk_loads(Path(tmp) / "bulk.duckdb", iterations=2 if quick else 4)
        rows += [("kill -9 during 100k-row loads: iterations", f"{b['iterations']}"),
                 ("  acknowledged / present / lost", f"{b['acknowledged']} / {b['present']} / {b['lost']}"),
                 ("  table always one complete load", "yes" if b["bulk_all_or_nothing"] else "NO")]
        for how, label in (("flip", "flipped WAL byte (DuckDB opens silently)"),
                           ("refuse", "flipped WAL byte (DuckDB refuses to open)"), ("truncate", "torn WAL tail")):
            w = wal_damage(Path(tmp) / "wal", how=how)
            rows += [(f"{label}: commits acknowledged", f"{w['committed']}"),
                     ("  DuckDB refused to open", "yes" if w["duckdb_refused_open"] else "no"),
                     ("  commits lost", f"{w['lost']}"),
                     ("  reported missing by the start-up check", f"{w['reported_missing']}"),
                     ("  loss detected", "yes" if w["detected"] else "NO")]
    return rows


def crash_bulk_loads(path: str | Path, iterations: int = 4, seed: int = 11) -> dict[str, Any]:
    """kill -9 during 100k-row table replacements (each crossing an automatic checkpoint)."""
    return crash_saves(path, iterations=iterations, seed=seed, mode="bulk", delays=(0.8, 3.0))


def format_rows(rows: list[tuple[str, str]]) -> str:
    """The measures as an aligned two-column table."""
    width = max(len(m) for m, _ in rows)
    return "\n".join(f"{m.ljust(width)}  {v}" for m, v in rows)


def main(argv: list[str] | None = None) -> int:
    """Entry point: the drills, or one of the child roles used by them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    parser.add_argument("--child", nargs=3, metavar=("PATH", "ITERATION", "MODE"), help=argparse.SUPPRESS)
    parser.add_argument("--zygote", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child_saves(args.child[0], int(args.child[1]), args.child[2])
        return 0
    if args.zygote:
        _zygote()
        return 0
    logging.getLogger("sop_core").setLevel(logging.CRITICAL)  # the drills' expected losses are in the table
    started = time.perf_counter()
    rows = run_all(quick=args.quick)
    print(format_rows(rows))
    print(f"(total {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
