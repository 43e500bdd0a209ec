"""A room full of people: N browser sessions open a page at the same moment, against one session alone.

Starts `python -m sop_core serve` on a copy of the demo company with its forecast fitted, then, in headless
Chromium, opens the page in one session (the baseline, measured in the same run), and in N sessions at
once. Each round uses fresh sessions (fresh Streamlit sessions: nothing of an earlier session's state
is reused, only what the server shares across sessions). Prints a table of the time until each page
showed its answer (median and last of the N) and the server's peak resident memory.

The browsers run on the server's own cores, so a browser row measures the N Chromium tabs (each parses
Streamlit's JavaScript and the 4.6 MB Plotly chunk) as much as the server: each row gives the CPU
seconds the server and the browsers used. The "server only" row is what N people on their own
machines cost the server: N clients that fetch the files a browser fetched for the page (index, every
JavaScript and CSS chunk) and open the page over Streamlit's WebSocket protocol, timed until the
answer's text arrived and until the page's script run finished.

    python benchmarks/sessions_bench.py [--sessions 10] [--rounds 3] [--page demand_review] [--server-only]

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
from concurrent.futures import ThreadPoolExecutor
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


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its waited-for children (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and every live descendant (the browser: Chromium's many processes)."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += _cpu_seconds(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return total


def demo_workspace(path: Path) -> None:
    """The demo company with its forecast fitted, written to `path` (in a child process: no fork pool left here)."""
    script = ("import sys; from sop_core.intake import company; from sop_core.demand import forecast; "
              "from sop_core.store.workspace import Workspace\n"
              "with Workspace(sys.argv[1]) as ws:\n"
              "    company.reset_to_demo(ws); forecast.run_forecast(ws, forecast.saved_settings(ws))\n")
    subprocess.run([sys.executable, "-c", script, str(path)], cwd=ROOT, check=True)


def _serve(workspace: Path, port: int) -> subprocess.Popen:
    """`python -m sop_core serve` on `workspace` and `port`, once healthy."""
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


CHART = ".js-plotly-plot .main-svg"  # a Plotly chart drawn


def _open_at_once(browser, url: str, ready: str, n: int, files: list[str] | None = None,
                  chart: bool = False) -> tuple[list[float], list[float]]:
    """Seconds until each of n fresh sessions, all started together, shows `ready` (and, with chart, its first chart).

    files: collects the same-origin files the first session fetched (the page's HTML, JavaScript and CSS).
    """
    contexts = [browser.new_context(viewport={"width": 1280, "height": 800}) for _ in range(n)]
    try:
        pages = [c.new_page() for c in contexts]
        if files is not None:
            origin = url.split("/", 3)[:3]
            pages[0].on("request", lambda r: files.append(r.url) if r.url.split("/", 3)[:3] == origin
                        and r.resource_type in ("document", "script", "stylesheet", "font") else None)
        started = time.monotonic()
        for page in pages:
            page.goto(url, wait_until="commit")
        done, charts = [], []
        for page in pages:
            page.wait_for_function(f"() => document.body.innerText.includes({ready!r})", timeout=300_000)
            done.append(time.monotonic() - started)
        for page in pages if chart else []:
            page.wait_for_selector(CHART, timeout=300_000)
            charts.append(time.monotonic() - started)
        return done, charts
    finally:
        for c in contexts:
            c.close()


def _protocol_open(port: int, page: str, ready: str, files: list[str]) -> tuple[float, float]:
    """One fresh session without a browser: fetch `files`, open `page` over the WebSocket; seconds to `ready`, to done."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.sync.client import connect  # a dependency of Streamlit

    started = time.monotonic()
    for f in files:
        with urllib.request.urlopen(f, timeout=120) as r:
            r.read()
    with connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"], max_size=None,
                 origin=f"http://127.0.0.1:{port}", open_timeout=120) as ws:
        msg = BackMsg()
        msg.rerun_script.page_name = page
        ws.send(msg.SerializeToString())
        shown = None
        while True:
            data = ws.recv(timeout=300)
            if shown is None and ready.encode() in data:
                shown = time.monotonic() - started
            fwd = ForwardMsg()
            fwd.ParseFromString(data)
            if fwd.WhichOneof("type") == "script_finished":
                return shown if shown is not None else float("nan"), time.monotonic() - started


def _protocol_at_once(port: int, page: str, ready: str, files: list[str], n: int) -> tuple[list[float], list[float]]:
    """n protocol sessions started together: seconds to the answer's text, and to the script run's end."""
    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(lambda _: _protocol_open(port, page, ready, files), range(n)))
    return [r[0] for r in results], [r[1] for r in results]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--page", choices=sorted(READY), default="demand_review")
    ap.add_argument("--server-only", action="store_true",
                    help="only the server-only row (one browser session still learns the page's files)")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "workspace.duckdb"
        demo_workspace(path)
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
        rows: list[tuple[str, float, float, float | None, float, float]] = []
        files: list[str] = []
        chart = args.page == "demand_review"
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
                _open_at_once(browser, url, READY[args.page], 1, files=files, chart=chart)  # warm-up: imports, caches
                me = os.getpid()
                cases = [("1 session alone (baseline)", 1, "browser"),
                         (f"{args.sessions} sessions at once", args.sessions, "browser"),
                         (f"{args.sessions} at once, server only", args.sessions, "protocol")]
                for label, n, how in cases[2:] if args.server_only else cases:
                    lasts, medians, chart_lasts, server_cpu, other_cpu = [], [], [], [], []
                    for _ in range(args.rounds):
                        s0, b0 = _cpu_seconds(server.pid), _tree_cpu_seconds(me) - _tree_cpu_seconds(server.pid)
                        if how == "browser":
                            done, charts = _open_at_once(browser, url, READY[args.page], n, chart=chart)
                        else:
                            done, charts = _protocol_at_once(port, args.page, READY[args.page], files, n)
                        server_cpu.append(_cpu_seconds(server.pid) - s0)
                        other_cpu.append(_tree_cpu_seconds(me) - _tree_cpu_seconds(server.pid) - b0)
                        lasts.append(max(done))
                        medians.append(statistics.median(done))
                        if charts:
                            chart_lasts.append(max(charts))
                    rows.append((label, statistics.median(medians), statistics.median(lasts),
                                 statistics.median(chart_lasts) if chart_lasts else None,
                                 statistics.median(server_cpu), statistics.median(other_cpu)))
                browser.close()
        finally:
            stop.set()
            server.terminate()
            server.wait(20)
    print(f"\n{args.page}: {args.rounds} rounds each, medians; machine load before {load_before:.1f} (1-minute "
          f"average, {os.cpu_count()} cores; the browsers then add their own)")
    print(f"{'case':<30} {'median page ready':>18} {'last page ready':>16} {'last chart / done':>18} "
          f"{'server CPU':>11} {'clients CPU':>12}")
    for label, med, last, extra, server_cpu, other_cpu in rows:
        shown = f"{extra:.1f}s" if extra is not None else "—"
        print(f"{label:<30} {med:>17.1f}s {last:>15.1f}s {shown:>18} {server_cpu:>10.1f}s {other_cpu:>11.1f}s")
    print("page ready: the answer's text shown (browser) or received (server only); last chart / done: the last "
          "session's chart drawn (browser) or its script run finished (server only)")
    print(f"server peak memory: {peak[0]:,.0f} MB")


if __name__ == "__main__":
    main()
