"""First open of a fresh install: time to the first page, and time until the forecast is ready.

Run: ``python benchmarks/first_open_bench.py [--runs N] [--baseline REV] [--app-root DIR]``. Prints one table.

Each run starts ``python -m sop_core serve`` (headless, a free loopback port) on a new temporary
workspace ($SOP_WORKSPACE=<tmp>/ws.duckdb: the server loads the demo company on opening it, and
no forecast is stored), opens the root URL in headless Chromium (Playwright) and records, from
the moment the browser asks for the page:

- first page: the Cycle overview's title is visible (target: under 3 s);
- progress: the background forecast's progress bar is visible ("Forecasting demand: ...");
- first run done: the page's first script run has ended (no "Running" indicator): the page is usable;
  with the blocking fit of before, that is when the forecast is ready;
- forecast ready: the page has filled in with the forecast (the "<month> <year> cycle" heading);
- also the server start (spawn to a healthy /_stcore/health) and the whole time since the spawn.

--baseline REV measures the same on a `git archive` export of commit REV (e.g. the commit before
the background forecast, where the page fitted the forecast before drawing anything below the
title), in the same process, each server started the same way. --app-root runs another checkout.
The Chromium helpers and the free port come from tests/browser/conftest.py.
"""
from __future__ import annotations

import argparse
import io
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from browser.conftest import CHROMIUM, _free_port  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
TITLE = "Cycle overview"
READY = re.compile(r"(cycle)$")  # the home page's "<Month YYYY> cycle" subheader, drawn once the forecast is there


def start_server(app_root: Path, workspace: Path, log: Path, timeout: float = 120.0) -> tuple[subprocess.Popen, int]:
    """`python -m sop_core serve` on a free port; returns once /_stcore/health answers."""
    port = _free_port()
    env = dict(os.environ, SOP_WORKSPACE=str(workspace))
    proc = subprocess.Popen(
        [sys.executable, "-m", "sop_core", "serve", "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.headless", "true"],
        cwd=app_root, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the server was not healthy in {timeout:.0f} s")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def first_open(browser: Any, app_root: Path, timeout: float) -> dict[str, float | None]:
    """One fresh install opened once: the timings in seconds (None: not seen before the timeout)."""
    with tempfile.TemporaryDirectory(prefix="sop-first-open-") as tmp:
        spawn = time.perf_counter()
        proc, port = start_server(app_root, Path(tmp) / "ws.duckdb", Path(tmp) / "server.log")
        healthy = time.perf_counter()
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        seen: dict[str, float | None] = {"progress": None}
        try:
            asked = time.perf_counter()
            page.goto(f"http://127.0.0.1:{port}/", wait_until="commit")
            page.get_by_role("heading", name=TITLE).wait_for(timeout=timeout * 1000)
            titled = time.perf_counter()
            ready_heading = page.get_by_role("heading", name=READY)
            bar = page.locator('[data-testid="stProgress"]')
            running = page.locator('[data-testid="stStatusWidget"]')
            deadline = titled + timeout
            ready = idle = None
            while time.perf_counter() < deadline:
                now = time.perf_counter()
                if seen["progress"] is None and bar.count():
                    seen["progress"] = now - asked
                if idle is None and not running.count():  # the first script run has ended: the page is usable
                    idle = now - asked
                if ready_heading.count():
                    ready = time.perf_counter()
                    idle = ready - asked if idle is None else idle
                    break
                time.sleep(0.05)
            return {"server_start": healthy - spawn, "first_page": titled - asked, "progress": seen["progress"],
                    "page_idle": idle, "forecast_ready": None if ready is None else ready - asked,
                    "since_spawn": None if ready is None else ready - spawn}
        finally:
            context.close()
            stop_server(proc)


def export(rev: str, into: Path) -> Path:
    """The tree of commit `rev` written under `into` (git archive: the checkout is not touched)."""
    data = subprocess.run(["git", "archive", "--format=tar", rev], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into


def fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1, help="fresh installs opened per version (median shown)")
    ap.add_argument("--baseline", metavar="REV", help="also measure this commit (a git archive export)")
    ap.add_argument("--app-root", type=Path, default=ROOT, help="the checkout to serve (default: this one)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for each milestone")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    versions: list[tuple[str, Path]] = [(f"background ({args.app_root.name})", args.app_root)]
    with tempfile.TemporaryDirectory(prefix="sop-baseline-") as base, sync_playwright() as pw:
        if args.baseline:
            versions.insert(0, (f"baseline {args.baseline}", export(args.baseline, Path(base))))
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        results: dict[str, list[dict[str, float | None]]] = {label: [] for label, _ in versions}
        for i in range(1, args.runs + 1):  # versions alternate, so neither gets all the cold-browser runs
            for label, root in versions:
                r = first_open(browser, root, args.timeout)
                results[label].append(r)
                print(f"{label} run {i}: " + ", ".join(f"{k} {fmt(v)} s" for k, v in r.items()), file=sys.stderr)
        rows = []
        for label, _ in versions:
            runs = results[label]
            rows.append((label, {k: (statistics.median([r[k] for r in runs]) if all(r[k] is not None for r in runs)
                                     else None) for k in runs[0]}))
        browser.close()
    cols = [("server_start", "server start"), ("first_page", "first page (title)"), ("progress", "progress shown"),
            ("page_idle", "first run done"), ("forecast_ready", "forecast ready"), ("since_spawn", "ready since spawn")]
    width = max(len(r[0]) for r in rows) + 2
    print(f"\nFirst open of a fresh workspace (demo company, {os.cpu_count()} CPUs, median of {args.runs}); seconds "
          "from the browser's request unless noted\n")
    print("version".ljust(width) + "".join(h.rjust(20) for _, h in cols))
    for label, med in rows:
        print(label.ljust(width) + "".join(fmt(med[k]).rjust(20) for k, _ in cols))
    ok = all(med["first_page"] is not None and med["first_page"] < 3.0 for label, med in rows
             if not label.startswith("baseline"))
    print(f"\nTarget: first page under 3 s: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
