"""A room full of people: N browser sessions open a page at the same moment, against one session alone.

Starts `python -m sop_core serve` on a copy of the demo company with its forecast fitted, then, in headless
Chromium, opens the page in one session (the baseline, measured in the same run), and in N sessions at
once. Each round uses fresh sessions (fresh Streamlit sessions: nothing of an earlier session's state
is reused, only what the server shares across sessions). Prints a table of the time until each page
showed its answer (median and last of the N) and the server's peak resident memory.

    python benchmarks/sessions_bench.py [--sessions 10] [--rounds 3] [--page demand_review]

Goal (issue 15): 10 concurrent first opens of the Demand review on the demo, all done in 8 s or less.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

READY = {  # page -> text that shows once the page has its answer
    "demand_review": "Forecast of ",
    "executive": "Plan of record",
    "scorecard": "On target",
}


def _rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB (Linux /proc)."""
    total = 0
    try:
        out = subprocess.run(["ps", "-o", "rss=", "--ppid", str(pid)], capture_output=True, text=True).stdout
        total += sum(int(x) for x in out.split())
        total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError):
        pass
    return total / 1024


def _serve(workspace: Path, port: int) -> subprocess.Popen:
    env = dict(os.environ, SOP_WORKSPACE=str(workspace))
    proc = subprocess.Popen([sys.executable, "-m", "sop_core", "serve", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
            return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("the server did not start in 90 s")


def _open_at_once(browser, url: str, ready: str, n: int) -> list[float]:
    """Seconds until each of n fresh sessions, all started together, shows `ready`."""
    contexts = [browser.new_context(viewport={"width": 1280, "height": 800}) for _ in range(n)]
    try:
        pages = [c.new_page() for c in contexts]
        started = time.monotonic()
        for page in pages:
            page.goto(url, wait_until="commit")
        done = []
        for page in pages:
            page.wait_for_function(f"() => document.body.innerText.includes({ready!r})", timeout=300_000)
            done.append(time.monotonic() - started)
        return done
    finally:
        for c in contexts:
            c.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--page", choices=sorted(READY), default="demand_review")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "workspace.duckdb"
        script = ("import sys; from sop_core.intake import company; from sop_core.demand import forecast; "
                  "from sop_core.store.workspace import Workspace\n"
                  "with Workspace(sys.argv[1]) as ws:\n"
                  "    company.reset_to_demo(ws); forecast.run_forecast(ws, forecast.saved_settings(ws))\n")
        subprocess.run([sys.executable, "-c", script, str(path)], cwd=ROOT, check=True)
        port = 8700 + os.getpid() % 200
        server = _serve(path, port)
        peak = [0.0]
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], _rss_mb(server.pid))
                time.sleep(0.2)

        threading.Thread(target=watch, daemon=True).start()
        url = f"http://127.0.0.1:{port}/{args.page}"
        rows = []
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
                _open_at_once(browser, url, READY[args.page], 1)  # warm-up: imports, caches of the data version
                for label, n in (("1 session alone (baseline)", 1), (f"{args.sessions} sessions at once",
                                                                   args.sessions)):
                    lasts, medians = [], []
                    for _ in range(args.rounds):
                        done = _open_at_once(browser, url, READY[args.page], n)
                        lasts.append(max(done))
                        medians.append(statistics.median(done))
                    rows.append((label, statistics.median(medians), statistics.median(lasts)))
                browser.close()
        finally:
            stop.set()
            server.terminate()
            server.wait(20)
    load = os.getloadavg()[0]
    print(f"\n{args.page}: {args.rounds} rounds each, medians; machine load {load:.1f} on {os.cpu_count()} cores")
    print(f"{'case':<30} {'median page ready':>18} {'last page ready':>16}")
    for label, med, last in rows:
        print(f"{label:<30} {med:>17.1f}s {last:>15.1f}s")
    print(f"server peak memory: {peak[0]:,.0f} MB")


if __name__ == "__main__":
    main()
