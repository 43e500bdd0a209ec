"""The Demand review's accuracy figures: computed once per run, scope and grouping for every session (issue 15).

`review.recent_accuracy` is what the page quotes (the scope's held-out points of the last 12 months,
summarised); `pages.shell.demand.accuracy` caches it by content: the run (data + forecast settings),
the settings, the scope and the grouping. An override does not change the backtest, so it is not a key.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import streamlit as st

from pages.shell import demand
from sop_core.demand import forecast, metrics, review
from sop_core.demand.review import Scope


def points(seed: int = 3) -> pd.DataFrame:
    """Held-out points of 4 series (2 families × 2 regions) over 30 months."""
    rng = np.random.default_rng(seed)
    periods = pd.date_range("2024-03-01", periods=30, freq="MS")
    keys = [("a", "Tents", "North"), ("b", "Tents", "South"), ("c", "Packs", "North"), ("d", "Packs", "South")]
    rows = [{"series_id": s, "sku": s.upper(), "family": f, "region": r, "origin": p - pd.DateOffset(months=1),
             "period": p} for s, f, r in keys for p in periods]
    pts = pd.DataFrame(rows)
    pts["actual"] = rng.integers(50, 150, len(pts)).astype(float)
    pts["forecast"] = pts["actual"] * rng.uniform(0.7, 1.3, len(pts))
    pts["naive"] = pts["actual"] * rng.uniform(0.6, 1.4, len(pts))
    pts["scale"] = 10.0
    return pts


@pytest.mark.parametrize("scope", [Scope(), Scope(family="Tents"), Scope(region="South"), Scope(sku="C"),
                                   Scope(family="Tents", region="North")])
@pytest.mark.parametrize("by", [(), ("family",)])
def test_recent_accuracy_is_the_summary_of_the_scopes_last_twelve_months(scope, by):
    pts = points()
    recent, window = review.recent_points(pts[scope.mask(pts)])
    got, got_window = review.recent_accuracy(pts, scope, by)
    pd.testing.assert_frame_equal(got, metrics.summarise(recent, list(by)))
    assert got_window == window == "Sep 2025 – Aug 2026"


def test_recent_accuracy_without_points_is_empty():
    assert review.recent_accuracy(None)[1] == ""
    assert review.recent_accuracy(None)[0].empty
    empty, window = review.recent_accuracy(points().iloc[0:0], Scope(family="Tents"))
    assert empty.empty and window == ""
    none_in_scope, _ = review.recent_accuracy(points(), Scope(family="Stoves"))
    assert none_in_scope.empty


@dataclass
class FakeWorkspace:
    """What the cached readers use of a workspace: its path."""

    path: Path


@dataclass
class FakeRun:
    """What the cached readers use of a forecast run: its id."""

    run_id: str


@pytest.fixture
def counted(monkeypatch):
    """Counts of the backtest reads and of the summaries computed behind `demand.accuracy` (caches cleared)."""
    st.cache_data.clear()
    calls = {"points": 0, "summaries": 0}

    def read(ws, settings, *args, **kwargs):
        calls["points"] += 1
        return points()

    real = review.recent_accuracy

    def summarise(*args, **kwargs):
        calls["summaries"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(forecast, "backtest_points", read)
    monkeypatch.setattr(review, "recent_accuracy", summarise)
    yield calls
    st.cache_data.clear()


def test_accuracy_is_computed_once_per_run_scope_and_grouping(counted, tmp_path):
    ws, settings = FakeWorkspace(tmp_path / "w.duckdb"), forecast.ForecastSettings()
    run = FakeRun("run-1")
    first = demand.accuracy(ws, run, settings, Scope(family="Tents"))
    again = demand.accuracy(ws, run, settings, Scope(family="Tents"))  # another session, same content
    pd.testing.assert_frame_equal(first[0], again[0])
    assert counted == {"points": 1, "summaries": 1}

    demand.accuracy(ws, run, settings, Scope(family="Packs"))  # another scope: summarised, points not re-read
    demand.accuracy(ws, run, settings, Scope(family="Tents"), by=("family",))  # another grouping
    assert counted == {"points": 1, "summaries": 3}

    demand.accuracy(ws, FakeRun("run-2"), settings, Scope(family="Tents"))  # new data: a new run
    assert counted == {"points": 2, "summaries": 4}
    demand.accuracy(ws, run, forecast.ForecastSettings(horizon=settings.horizon + 1), Scope(family="Tents"))
    assert counted == {"points": 3, "summaries": 5}  # new settings

    # an override changes neither the run nor the settings: every cached answer still serves
    for scope in (Scope(family="Tents"), Scope(family="Packs")):
        demand.accuracy(ws, run, settings, scope)
    assert counted == {"points": 3, "summaries": 5}


def test_accuracy_of_the_whole_company_is_the_scope_all(counted, tmp_path):
    ws, run, settings = FakeWorkspace(tmp_path / "w.duckdb"), FakeRun("run-1"), forecast.ForecastSettings()
    total, window = demand.accuracy(ws, run, settings)
    assert window == "Sep 2025 – Aug 2026"
    pd.testing.assert_frame_equal(total, demand.accuracy(ws, run, settings, Scope())[0])
    assert counted["summaries"] == 1
    expected = metrics.summarise(review.recent_points(points())[0], [])
    pd.testing.assert_frame_equal(total, expected)
