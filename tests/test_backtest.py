"""Rolling-origin backtest: the plan, the points, the choice and its guarantee."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import shared_file

from sop_core.demand import backtest as B
from sop_core.demand import metrics
from sop_core.demand import models as M

LAST = pd.Timestamp("2026-10-01")


def test_plan_for_46_months_and_18_ahead() -> None:
    plan = B.plan_backtest(LAST, 46, 18, 12, "MS", origins=3)
    # two windows fit: 15 months apart (3 months of overlap), not 3 apart (36 points on 24 months)
    assert plan.horizon == 18 and plan.step == 15 and plan.origins == 2 and "overlap" in plan.note
    assert plan.cutoffs == (pd.Timestamp("2024-01-01"), pd.Timestamp("2025-04-01"))
    assert plan.cutoffs[-1] + pd.DateOffset(months=18) == LAST  # last origin's window ends at the last actual


def test_origins_do_not_overlap_when_history_allows() -> None:
    for n, h in ((120, 12), (100, 18), (60, 6)):
        plan = B.plan_backtest(LAST, n, h, 12, "MS", origins=3)
        assert plan.origins == 3 and plan.step == plan.horizon == h and plan.note == ""
        windows = [set(pd.date_range(c, periods=h + 1, freq="MS")[1:]) for c in plan.cutoffs]
        assert sum(len(w) for w in windows) == len(set().union(*windows)) == 3 * h  # every point a distinct month
    weekly = B.plan_backtest(pd.Timestamp("2026-10-05"), 150, 13, 52, "W-MON", origins=3)
    assert weekly.origins == 3 and weekly.step == 13


def test_plan_caps_the_horizon_and_the_origins() -> None:
    plan = B.plan_backtest(LAST, 30, 18, 12, "MS", origins=3)
    # one 17-month window would leave the choice without earlier evidence: two 8-month windows instead
    assert plan.horizon == 8 and plan.origins == 2 and "capped at 8" in plan.note
    plan = B.plan_backtest(LAST, 15, 18, 12, "MS", origins=3)
    assert plan.origins == 2 and plan.horizon == 1
    plan = B.plan_backtest(LAST, 13, 18, 12, "MS", origins=3)
    assert plan.origins == 0 and "no backtest" in plan.note


def _series(n: int = 40, seed: int = 0) -> tuple[pd.DatetimeIndex, np.ndarray]:
    t = np.arange(n)
    y = 100 + 2 * t + 25 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(seed).normal(0, 6, n)
    return pd.date_range(end=LAST, periods=n, freq="MS"), y


def test_points_hold_candidate_and_seasonal_naive() -> None:
    periods, y = _series()
    plan = B.plan_backtest(LAST, len(y), 12, 12, "MS", origins=3, step=3)
    pts = B.backtest_series("s", periods, y, M.MovingAverage(3), plan, 12)
    assert list(pts.columns) == list(B.POINT_COLUMNS)
    assert len(pts) == 3 * 12 and pts["origin"].nunique() == 3
    first = pts[pts["origin"] == plan.cutoffs[0]]
    n_train = int(periods.searchsorted(plan.cutoffs[0], side="right"))
    np.testing.assert_allclose(first["naive"], y[n_train - 12:n_train])  # same month last year
    np.testing.assert_allclose(first["actual"], y[n_train:n_train + 12])
    np.testing.assert_allclose(first["forecast"], y[n_train - 3:n_train].mean())
    assert first["scale"].iloc[0] == pytest.approx(metrics.naive_scale(y[:n_train], 12))
    assert (pts["model"] == "moving_average").all() and list(first["step"]) == list(range(1, 13))


def test_series_too_short_sits_out() -> None:
    periods, y = _series(40)
    plan = B.plan_backtest(LAST, 40, 12, 12, "MS")
    pts = B.backtest_series("short", periods[-20:], y[-20:], M.NaiveModel(), plan, 12)
    assert pts.empty


def _pts(actual, forecast, naive, origins=3) -> pd.DataFrame:
    n = len(actual)
    return pd.DataFrame({"series_id": "s", "origin": np.repeat(np.arange(origins), n // origins), "actual": actual,
                         "forecast": forecast, "naive": naive})


def test_choice_and_reason_text() -> None:
    pts = _pts([100.0] * 3, [82.0] * 3, [76.0] * 3)  # Prophet WAPE 18%, naive 24%
    model, reason, w_c, w_n, k = B.choose(pts, "prophet", "auto")
    assert model == "prophet" and reason == "Prophet WAPE 18% vs seasonal naive 24% on 3 origins"
    model, reason, *_ = B.choose(_pts([100.0] * 3, [76.0] * 3, [82.0] * 3), "prophet", "auto")
    assert model == "seasonal_naive" and reason.endswith("seasonal naive kept")
    model, reason, *_ = B.choose(_pts([100.0] * 3, [80.0] * 3, [120.0] * 3), "prophet", "auto")
    assert model == "seasonal_naive"  # tie (both 20%) goes to seasonal naive
    model, reason, *_ = B.choose(_pts([100.0] * 3, [76.0] * 3, [82.0] * 3), "prophet", "prophet")
    assert model == "prophet" and "forced by setting" in reason
    model, reason, *_ = B.choose(B.empty_points(), "prophet", "auto", no_backtest="no backtest: 7 buckets")
    assert model == "prophet" and "no backtest" in reason


def test_automatic_choice_never_worse_than_seasonal_naive() -> None:
    """Over varied series and candidates, the chosen model's backtest WAPE <= seasonal naive's."""
    rows = []
    for seed in range(6):
        periods, y = _series(40, seed)
        if seed % 2:
            y = np.cumsum(np.random.default_rng(seed).normal(0, 10, 40)) + 300  # random walk
        rows.append(pd.DataFrame({"series_id": f"s{seed}", "period": periods, "y": y}))
    hist = pd.concat(rows, ignore_index=True)
    for candidate in (M.MovingAverage(3), M.NaiveModel(), M.CrostonSBA()):
        pts, plan = B.backtest(hist, candidate, 18, 12, "MS")
        choices = B.select(pts, "auto")
        assert len(choices) == 6
        summary = B.summary(pts, choices).set_index("series_id")
        assert (summary["wape"] <= summary["wape_seasonal_naive"] + 1e-12).all()
        assert (summary["fva"] >= -1e-12).all()


def test_cement_automatic_choice_not_worse_than_seasonal_naive() -> None:
    """FPP3's cement split: the choice between Prophet and seasonal naive on a rolling backtest."""
    df = pd.read_csv(shared_file("cement/fpp2_qcement.csv"), parse_dates=["ds"])
    df = df[(df["ds"] >= "1988-01-01") & (df["ds"] <= "2007-12-31")]
    hist = pd.DataFrame({"series_id": "cement", "period": df["ds"], "y": df["y"] * 1000})
    pts, plan = B.backtest(hist, M.fpp3_cement_prophet(), 10, 4, "QS", origins=3)
    assert plan.origins == 3 and plan.horizon == 10
    choice = B.select(pts, "auto").iloc[0]
    chosen = B.summary(pts, B.select(pts, "auto")).iloc[0]
    assert chosen["wape"] <= chosen["wape_seasonal_naive"]
    assert "on 3 origins" in choice["reason"]


def test_tracking_signal_flags_a_biased_series_not_an_unbiased_noisy_one() -> None:
    """Backtest → summary: a trend the candidate lags is flagged (|TS| > 4), zig-zag noise around it is not."""
    periods = pd.date_range(end=LAST, periods=40, freq="MS")
    t = np.arange(40)
    hist = pd.concat([
        pd.DataFrame({"series_id": "trend", "period": periods, "y": 100.0 + 5 * t}),
        pd.DataFrame({"series_id": "zigzag", "period": periods, "y": 100.0 + np.where(t % 2, -10.0, 10.0)}),
    ], ignore_index=True)
    pts, plan = B.backtest(hist, M.MovingAverage(2), 12, 12, "MS", origins=3)
    assert plan.horizon == 12 and plan.cutoffs[-1] == LAST - pd.DateOffset(months=12)
    summary = B.summary(pts, B.select(pts, "prophet")).set_index("series_id")  # keep the candidate
    # trend: the 2-month average lags a rising line, every error < 0 -> Σe / MAD = −6 over the 6 periods
    assert summary.loc["trend", "tracking_signal"] == pytest.approx(-metrics.TS_WINDOW)
    # zigzag: the average is 100, errors alternate ±10 in the last 6 periods -> Σe = 0
    assert summary.loc["zigzag", "tracking_signal"] == pytest.approx(0.0)
    assert summary.loc["zigzag", "wape"] == pytest.approx(0.1)
    flagged = summary["tracking_signal"].abs() > metrics.TS_REVIEW_THRESHOLD
    assert flagged.to_dict() == {"trend": True, "zigzag": False}


def test_residual_band() -> None:
    value = np.array([100.0, 100.0])
    assert B.residual_band(np.ones(5), np.ones(5), value) is None  # fewer than 8 points
    actual = np.arange(90.0, 110.0)
    lower, upper = B.residual_band(actual, np.full(20, 100.0), value)
    assert (lower <= value).all() and (upper >= value).all() and (lower >= 0).all()
    assert upper[0] - lower[0] == pytest.approx(np.quantile(actual - 100, 0.9) - np.quantile(actual - 100, 0.1))
