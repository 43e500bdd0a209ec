"""A planner moves the override slider on the Demand review: how long until the page shows the new consensus (issue 15).

Run: ``python benchmarks/slider_bench.py [--moves 15] [--family Tents]``. Prints one table.

The demo company with its forecast fitted, served by ``python -m sop_core serve`` on loopback, opened in headless
Chromium on the Demand review of one family. Each move presses the right arrow on the "Change %" slider once
(the value changes by one step, as a planner's key press or drag does) and times, in the browser, from the key
press to the moment the "Consensus in these periods" figure shows its new value (the page's rerun, the engine's
preview and the new chart drawn). The table gives the median, the 90th percentile and the slowest move, next to
the baseline measured in the same run: the engine's own preview of a move (benchmarks/consensus_bench.py), the
part of the time that is not Streamlit's round trip and the browser's drawing. The goal is 200 ms.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sessions_bench import _serve, demo_workspace  # noqa: E402 - the same demo server as the sessions bench

METRIC = "Consensus in these periods"
# the figure's text in the browser, and the time the page's JavaScript clock says now
READ = """(label) => {
  const m = [...document.querySelectorAll('[data-testid=stMetric]')].find(e => e.innerText.includes(label));
  return m ? m.querySelector('[data-testid=stMetricValue]').innerText : null;
}"""
CHANGED = """([label, before]) => {
  const m = [...document.querySelectorAll('[data-testid=stMetric]')].find(e => e.innerText.includes(label));
  const v = m && m.querySelector('[data-testid=stMetricValue]').innerText;
  return v && v !== before && !document.querySelector('[data-testid=stStatusWidget]') ? performance.now() : false;
}"""
IDLE = "() => !document.querySelector('[data-testid=stStatusWidget]')"


def _moves(page, n: int) -> list[float]:
    """Milliseconds from each right-arrow press on the slider to the new figure shown and the run finished."""
    slider = page.get_by_role("slider", name="Change %")
    out = []
    for _ in range(n):
        page.wait_for_function(IDLE, timeout=60_000)
        before = page.evaluate(READ, METRIC)
        slider.focus()
        start = page.evaluate("() => performance.now()")
        slider.press("ArrowRight")
        end = page.wait_for_function(CHANGED, arg=[METRIC, before], timeout=60_000, polling=5).json_value()
        out.append(float(end) - float(start))
    return out


def _engine() -> list[dict]:
    """The engine's share of a move: the consensus preview on a cached prepare() (benchmarks/consensus_bench.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from consensus_bench import bench_consensus  # type: ignore[import-not-found]

    return [r for r in bench_consensus(repeat=10, persist_repeat=1) if r["case"].startswith("preview")]


def _row(name: str, ms: list[float]) -> str:
    q = statistics.quantiles(ms, n=10)[-1] if len(ms) >= 2 else ms[0]
    return f"| {name} | {statistics.median(ms):.0f} ms | {q:.0f} ms | {max(ms):.0f} ms | {len(ms)} |"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--moves", type=int, default=15)
    ap.add_argument("--family", default="Tents")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "workspace.duckdb"
        demo_workspace(path)
        port = 8900 + os.getpid() % 90
        server = _serve(path, port)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"http://127.0.0.1:{port}/demand_review?family={args.family}", timeout=300_000)
                page.get_by_text(METRIC).wait_for(timeout=300_000)
                _moves(page, 3)  # warm-up: the first runs fill the caches
                moves = _moves(page, args.moves)
                browser.close()
        finally:
            server.terminate()
            server.wait(30)
    print(f"| Demand review, family {args.family} (demo, headless Chromium) | median | 90th pct | slowest | moves |")
    print("|---|---|---|---|---|")
    print(_row("slider moved one step → the new consensus shown", moves))
    for r in _engine():
        print(f"| baseline: the engine's preview alone, {r['frame']} | {r['median_ms']:.1f} ms | "
              f"{r['p95_ms']:.1f} ms (p95) | | {r['runs']} |")
    print(f"goal 200 ms; machine load {load:.1f} on {os.cpu_count()} cores before the run")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
