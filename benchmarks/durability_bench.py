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
- ``crash_bulk_loads``: the same during 200k-row table replacements that cross DuckDB's
  auto-checkpoint: the table is always one complete load.
- ``wal_damage``: commits in a child killed with -9 (the WAL stays), then one byte of the WAL
  flipped (or its tail cut); DuckDB opens silently with fewer commits (or refuses to open), and
  the start-up check reports the missing events.
"""
from __future__ import annotations

import argparse
import os
import random
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

from sop_core import consensus as C  # noqa: E402
from sop_core import decisions as D  # noqa: E402
from sop_core import ledger  # noqa: E402
from sop_core import overrides as O  # noqa: E402
from sop_core import versions as V  # noqa: E402
from sop_core.workspace import Provenance, Workspace, WorkspaceDamaged  # noqa: E402

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

def concurrent_saves(path: str | Path, writers: int = 8, saves: int = 200) -> dict[str, Any]:
    """`writers` threads × `saves` saves through one Workspace; counts and throughput."""
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
                kind = i % 4
                if kind == 0:
                    decision = D.record(ws, title=f"w{t} save {i}", owner="ops", due_date=DUE, author=f"w{t}",
                                        event_id=f"w{t}-{i}")
                    item: tuple[str, Any] = ("decision", decision)
                    if i % 25 == 0:  # a double click: same event id again
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
                    o = _override(ws, prepared, sku, PERIODS[(i // 4) % len(PERIODS)], float(i), f"o{t}-{i}", f"w{t}")
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
        report = ledger.check(ws)
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
    """The child's environment: this one, with the project importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def _child_saves(path: str, iteration: int, mode: str) -> None:
    """Child process: open the workspace and save forever, printing 'ack KIND ID' after each acknowledged save."""
    ws = Workspace(path)
    prepared = C.prepare(tiny_statistical())
    rng = random.Random(iteration)
    print("ready", flush=True)
    i = 0
    while True:
        tag = f"c{iteration}-{i}"
        if mode == "bulk":
            n = 200_000 + iteration * 100 + i
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


def _run_and_kill(path: Path, iteration: int, mode: str, delay: float) -> list[list[str]]:
    """Start a saving child, SIGKILL it `delay` s after it is ready; the acknowledged lines it printed."""
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child", str(path), str(iteration),
                             mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_child_env(),
                            cwd=str(ROOT))
    lines: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            text = raw.decode()
            if not text.endswith("\n"):
                break  # a torn line was never fully acknowledged
            if text.strip() == "ready":
                ready.set()
            lines.append(text.strip())
        ready.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    if not ready.wait(60):
        proc.kill()
        raise RuntimeError("crash child did not start")
    time.sleep(delay)
    if proc.poll() is not None:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise RuntimeError(f"crash child exited early ({proc.returncode}): {err[-2000:]}")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    reader.join(10)
    return [line.split() for line in lines if line.startswith("ack ")]


def crash_saves(path: str | Path, iterations: int = 20, seed: int = 7, mode: str = "saves",
                delays: tuple[float, float] = (0.05, 0.6)) -> dict[str, Any]:
    """`iterations` × (child saving in a loop, kill -9 at a random time, reopen and verify)."""
    path = Path(path)
    rng = random.Random(seed)
    prepared = C.prepare(tiny_statistical())
    acked_total = present = 0
    half: list[str] = []
    missing_events = 0
    bulk_ok = True
    for it in range(iterations):
        acks = _run_and_kill(path, it, mode, rng.uniform(*delays))
        with Workspace(path) as ws:
            for ack in acks:
                kind = ack[1]
                ident: Any = ack[2]
                if kind == "setting":
                    ident = (ack[2], int(ack[3]))
                ok = _present(ws, kind, ident)
                acked_total += 1
                present += ok
            if mode == "bulk":
                loads = ws.latest_loads()
                row = loads[loads["table_name"] == "products"]
                if len(row):
                    n = int(ws.scalar('SELECT count(*) FROM "products"'))
                    bulk_ok &= n == int(row["rows"].iloc[0])
            half += [f"iteration {it}: {b}" for b in half_applied(ws, prepared if mode != "bulk" else None)]
            report = ledger.check(ws)
            missing_events += len(report.missing) + len(report.altered)
    return {"iterations": iterations, "acknowledged": acked_total, "present": present, "lost": acked_total - present,
            "half_applied": len(half), "half_examples": half[:5], "ledger_missing": missing_events,
            "bulk_all_or_nothing": bulk_ok}


# -- 3. damaged write-ahead log ---------------------------------------------------------------------

def _child_commits(path: str, n: int) -> None:
    """Child process: n decision records, each acknowledged on stdout, then wait to be killed (WAL kept)."""
    ws = Workspace(path)
    for i in range(n):
        d = D.record(ws, title=f"wal {i}", owner="ops", due_date=DUE, author="wal", event_id=f"wal-{i}")
        print(f"ack decision {d}", flush=True)
    print("done", flush=True)
    time.sleep(600)


def _commit_and_kill(path: Path, n: int) -> list[str]:
    """Run _child_commits, SIGKILL it once done; the acknowledged decision ids."""
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--wal-child", str(path), str(n)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_child_env(), cwd=str(ROOT))
    ids = []
    assert proc.stdout is not None
    for raw in proc.stdout:
        text = raw.decode().strip()
        if text == "done":
            break
        if text.startswith("ack "):
            ids.append(text.split()[2])
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return ids


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


def find_silent_flip(db: Path, wal: Path, events_in_full: int) -> int | None:
    """A WAL byte near the middle whose flip DuckDB accepts silently while dropping commits; None if none found."""
    data = wal.read_bytes()
    middle = len(data) // 2
    entries = sorted(_wal_entries(data), key=lambda off: abs(off - middle))
    candidates = [off + 7 for off in entries[:20]]  # most significant byte of an entry's size field
    candidates += sorted(range(len(data) // 3, 2 * len(data) // 3), key=lambda p: abs(p - middle))[:400]
    with tempfile.TemporaryDirectory() as tmp:
        for pos in candidates:
            seen = _opens_silently(db, wal, pos, Path(tmp) / "probe")
            if seen is not None and 0 < seen < events_in_full:
                return pos
    return None


def wal_damage(folder: str | Path, commits: int = 40, how: str = "flip") -> dict[str, Any]:
    """Commit in a child killed with -9, damage the WAL (`flip` silently, `refuse` flip, `truncate`), check."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"wal-{how}.duckdb"
    Workspace(path).close()  # schema checkpointed into the file: the WAL will hold only the commits
    ids = _commit_and_kill(path, commits)
    wal = path.with_name(path.name + ".wal")
    result: dict[str, Any] = {"how": how, "committed": len(ids), "wal_bytes": wal.stat().st_size if wal.exists() else 0}
    data = bytearray(wal.read_bytes())
    if how == "flip":
        pos = find_silent_flip(path, wal, len(ids))
        if pos is None:
            raise RuntimeError("no WAL byte found whose flip DuckDB accepts silently")
        data[pos] ^= 0xFF
        result["position"] = pos
    elif how == "refuse":
        pos = len(data) // 2
        data[pos] ^= 0x01
        result["position"] = pos
    else:
        data = data[: len(data) - 100]
    wal.write_bytes(bytes(data))
    refused = False
    try:
        ws = Workspace(path)
    except WorkspaceDamaged as exc:
        refused = True
        result["open_error"] = str(exc)
        ledger.set_aside_wal(path)
        ws = Workspace(path)
    with ws:
        present = sum(_present(ws, "decision", d) for d in ids)
        messages = ledger.startup_check(ws)
        report = ledger.check(ws)
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
        rows += [(f"kill -9 during saves: iterations", f"{k['iterations']}"),
                 ("  acknowledged", f"{k['acknowledged']:,}"), ("  present after reopen", f"{k['present']:,}"),
                 ("  lost", f"{k['lost']:,}"), ("  half-applied", f"{k['half_applied']:,}"),
                 ("  ledger events missing from the DB", f"{k['ledger_missing']:,}")]
        b = crash_bulk_loads(Path(tmp) / "bulk.duckdb", iterations=2 if quick else 4)
        rows += [(f"kill -9 during 200k-row loads: iterations", f"{b['iterations']}"),
                 ("  acknowledged / present / lost", f"{b['acknowledged']} / {b['present']} / {b['lost']}"),
                 ("  table always one complete load", "yes" if b["bulk_all_or_nothing"] else "NO")]
        for how, label in (("flip", "flipped WAL byte (DuckDB opens silently)"),
                           ("refuse", "flipped WAL byte (DuckDB refuses to open)"), ("truncate", "torn WAL tail")):
            w = wal_damage(Path(tmp) / "wal", how=how)
            rows += [(f"{label}: commits acknowledged", f"{w['committed']}"),
                     ("  DuckDB refused to open", "yes" if w["duckdb_refused_open"] else "no"),
                     ("  commits lost", f"{w['lost']}"), ("  reported missing by the start-up check", f"{w['reported_missing']}"),
                     ("  loss detected", "yes" if w["detected"] else "NO")]
    return rows


def crash_bulk_loads(path: str | Path, iterations: int = 4, seed: int = 11) -> dict[str, Any]:
    """kill -9 during 200k-row table replacements (crossing DuckDB's auto-checkpoint)."""
    return crash_saves(path, iterations=iterations, seed=seed, mode="bulk", delays=(0.5, 2.5))


def format_rows(rows: list[tuple[str, str]]) -> str:
    """The measures as an aligned two-column table."""
    width = max(len(m) for m, _ in rows)
    return "\n".join(f"{m.ljust(width)}  {v}" for m, v in rows)


def main(argv: list[str] | None = None) -> int:
    """Entry point: the drills, or one of the child roles used by them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    parser.add_argument("--child", nargs=3, metavar=("PATH", "ITERATION", "MODE"), help=argparse.SUPPRESS)
    parser.add_argument("--wal-child", nargs=2, metavar=("PATH", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child_saves(args.child[0], int(args.child[1]), args.child[2])
        return 0
    if args.wal_child:
        _child_commits(args.wal_child[0], int(args.wal_child[1]))
        return 0
    started = time.perf_counter()
    rows = run_all(quick=args.quick)
    print(format_rows(rows))
    print(f"(total {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
