"""Benchmark: recomputing and persisting the consensus plan after a planner's override.

Run: ``python benchmarks/consensus_bench.py`` (or ``python -m benchmarks.consensus_bench``).
``bench_consensus()`` returns the rows; benchmarks/forecast_bench.py imports it.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

if __package__ in (None, ""):  # run as a script: make sop_core importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sop_core.demand import consensus as C  # noqa: E402
from sop_core.demand import overrides as O  # noqa: E402
from sop_core.store.workspace import Workspace  # noqa: E402

REGIONS = ("North", "South", "West")
PERIODS = 18


def demo_statistical(families: int = 4, skus_per_family: int = 8, regions: int = 3, periods: int = PERIODS,
                     seed: int = 0) -> pd.DataFrame:
    """A synthetic statistical forecast: families × skus × regions × monthly periods (forecast.py's layout)."""
    rng = np.random.default_rng(seed)
    months = pd.date_range("2026-01-01", periods=periods, freq="MS")
    skus = [f"F{f:02d}-S{s:02d}" for f in range(families) for s in range(skus_per_family)]
    idx = pd.MultiIndex.from_product([skus, list(REGIONS[:regions]) or ["All"], months],
                                     names=["sku", "region", "period"])
    df = idx.to_frame(index=False)
    df["family"] = df["sku"].str.slice(0, 3)
    df["series_id"] = df["sku"] + " | " + df["region"]
    df["value"] = rng.gamma(2.0, 60.0, len(df)).round(1)
    df["lower"], df["upper"], df["model"] = df["value"] * 0.8, df["value"] * 1.2, "ets"
    return df[["series_id", "sku", "region", "family", "period", "value", "lower", "upper", "model"]]


def random_overrides(statistical: pd.DataFrame, n: int, seed: int = 1) -> list[dict[str, Any]]:
    """`n` saved-looking overrides: family / family × region / sku scopes, percent and units, 1-6 month ranges."""
    rng = np.random.default_rng(seed)
    families = sorted(statistical["family"].unique())
    skus = sorted(statistical["sku"].unique())
    regions = sorted(statistical["region"].unique())
    months = sorted(statistical["period"].unique())
    out = []
    for i in range(n):
        a = int(rng.integers(0, len(months)))
        b = min(len(months) - 1, a + int(rng.integers(0, 6)))
        pick = i % 3
        scope = ({"family": families[int(rng.integers(0, len(families)))]} if pick == 0 else
                 {"family": families[int(rng.integers(0, len(families)))],
                  "region": regions[int(rng.integers(0, len(regions)))]} if pick == 1 else
                 {"sku": skus[int(rng.integers(0, len(skus)))]})
        kind = "percent" if i % 2 else "units"
        value = float(rng.integers(-30, 40)) if kind == "percent" else float(rng.integers(50, 5000))
        out.append({"family": None, "region": None, "sku": None, **scope, "period_from": pd.Timestamp(months[a]),
                    "period_to": pd.Timestamp(months[b]), "kind": kind, "value": value, "reason": "Promotion",
                    "created_at": pd.Timestamp("2026-01-05") + pd.Timedelta(minutes=i), "seq": i + 1})
    return out


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Median and p95 wall time in milliseconds over `repeat` runs (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]


def bench_consensus(repeat: int = 30, persist_repeat: int = 10) -> list[dict[str, Any]]:
    """Time apply_overrides after one new override (0/10/50 existing), preview, persist_consensus, save_override.

    Each row: case, frame, rows, existing_overrides, median_ms, p95_ms, runs.
    """
    rows: list[dict[str, Any]] = []
    frames = {"demo (4 fam × 8 sku × 3 reg × 18 mo)": demo_statistical(),
              "10× demo (40 fam × 8 sku × 3 reg × 18 mo)": demo_statistical(families=40)}
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "bench.duckdb")
        try:
            for label, stat in frames.items():
                new = random_overrides(stat, 1, seed=99)[0]
                new["created_at"] = pd.Timestamp("2027-01-01")
                for n in (0, 10, 50):
                    existing = random_overrides(stat, n)
                    med, p95 = _timed(lambda stat=stat, existing=existing, new=new: C.apply_overrides(stat, [*existing, new]), repeat)
                    rows.append({"case": "apply_overrides (recompute after 1 new)", "frame": label, "rows": len(stat),
                                 "existing_overrides": n, "median_ms": med, "p95_ms": p95, "runs": repeat})
                prepared = C.prepare(stat)
                existing = random_overrides(stat, 50)
                med, p95 = _timed(lambda prepared=prepared, existing=existing, new=new: C.preview(prepared, existing, new), repeat)
                rows.append({"case": "preview on a cached prepare() (slider)", "frame": label, "rows": len(stat),
                             "existing_overrides": 50, "median_ms": med, "p95_ms": p95, "runs": repeat})
                cons = C.apply_overrides(stat, existing)
                med, p95 = _timed(lambda cons=cons: C.persist_consensus(ws, "bench", cons), persist_repeat)
                rows.append({"case": "persist_consensus", "frame": label, "rows": len(stat),
                             "existing_overrides": 50, "median_ms": med, "p95_ms": p95, "runs": persist_repeat})
            # end to end: validate, stale check, before/after, insert, audit, persist — demo size, 50 saved
            stat = frames["demo (4 fam × 8 sku × 3 reg × 18 mo)"]
            prepared = C.prepare(stat)
            months = sorted(stat["period"].unique())
            families = sorted(stat["family"].unique())
            for i, ov in enumerate(random_overrides(stat, 50)):
                _save(ws, f"bench-{i}", prepared, _input(ov))
            counter = iter(range(10**6))

            def one_save() -> None:
                i = next(counter)
                month = months[i % len(months)]
                _save(ws, "bench-save", prepared, O.OverrideInput(
                    family=families[i % len(families)], period_from=month, period_to=month, kind="percent",
                    value=1.0, reason="Other"))

            med, p95 = _timed(one_save, persist_repeat)
            rows.append({"case": "save_override end to end (+ latest_touching)", "frame": "demo", "rows": len(stat),
                         "existing_overrides": 50, "median_ms": med, "p95_ms": p95, "runs": persist_repeat})
        finally:
            ws.close()
    return rows


def _save(ws: Workspace, run_key: str, prepared: C.Prepared, ov: O.OverrideInput) -> O.Override:
    """Save as the page does: read the latest entry touching the scope, then save against it."""
    latest = O.latest_touching(ws, prepared, ov)
    return O.save_override(ws, run_key, prepared, ov, "bench", expected_latest=latest.override_id if latest else None)


def _input(ov: dict[str, Any]) -> O.OverrideInput:
    """An OverrideInput from a random_overrides row."""
    return O.OverrideInput(**{k: ov[k] for k in ("family", "region", "sku", "period_from", "period_to", "kind",
                                                  "value", "reason")})


def print_table(rows: list[dict[str, Any]]) -> None:
    """Print benchmark rows as an aligned text table."""
    head = f"{'case':<46} {'frame':<42} {'rows':>6} {'ovr':>4} {'median ms':>10} {'p95 ms':>8}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['case']:<46} {r['frame']:<42} {r['rows']:>6} {r['existing_overrides']:>4} "
              f"{r['median_ms']:>10.1f} {r['p95_ms']:>8.1f}")


if __name__ == "__main__":
    print_table(bench_consensus())
