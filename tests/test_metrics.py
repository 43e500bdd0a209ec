"""Accuracy metrics against hand-worked examples (primer formulas, e = F − A)."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from sop_core.demand import metrics as M

A = [10.0, 20.0, 30.0]
F = [12.0, 18.0, 33.0]  # e = +2, −2, +3; |e| = 2, 2, 3; ΣA = 60


def test_wape_and_accuracy_by_hand() -> None:
    assert M.wape(A, F) == pytest.approx(7 / 60)
    assert M.accuracy(A, F) == pytest.approx(1 - 7 / 60)


def test_accuracy_can_go_below_zero() -> None:
    assert M.accuracy([10.0], [35.0]) == pytest.approx(1 - 2.5)


def test_bias_sign_positive_means_over_forecast() -> None:
    assert M.bias(A, F) == pytest.approx(3 / 60)
    assert M.bias([100.0], [80.0]) == pytest.approx(-0.2)  # under-forecast: negative
    assert M.bias([100.0], [120.0]) == pytest.approx(0.2)


def test_mape_skips_zero_actuals_and_counts_them() -> None:
    value, skipped = M.mape([0.0, 10.0, 20.0], [5.0, 12.0, 15.0])
    assert value == pytest.approx((0.2 + 0.25) / 2)
    assert skipped == 1
    value, skipped = M.mape([0.0, 0.0], [1.0, 2.0])
    assert math.isnan(value) and skipped == 2


def test_zero_actual_total_gives_nan_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(M.wape([0, 0], [1, 2]))
        assert math.isnan(M.accuracy([0, 0], [1, 2]))
        assert math.isnan(M.bias([0, 0], [1, 2]))
        assert math.isnan(M.wape([], []))


def test_missing_pairs_are_left_out() -> None:
    assert M.wape([10.0, np.nan, 20.0], [12.0, 5.0, np.nan]) == pytest.approx(2 / 10)


def test_tracking_signal_by_hand() -> None:
    # Σe = 3, MAD = 7/3 -> TS = 9/7
    assert M.tracking_signal(A, F) == pytest.approx(9 / 7)
    assert M.tracking_signal([5.0, 5.0], [5.0, 5.0]) == 0.0
    assert math.isnan(M.tracking_signal([], []))
    # a consistently low forecast: TS = −n, n up to the window (6)
    assert M.tracking_signal([10.0] * 6, [8.0] * 6) == pytest.approx(-6.0)
    assert M.tracking_signal([10.0] * 9, [8.0] * 9) == pytest.approx(-6.0)
    assert M.tracking_signal([10.0] * 9, [8.0] * 9, window=None) == pytest.approx(-9.0)


def test_tracking_signal_window_is_six_periods_and_printed() -> None:
    assert M.TS_WINDOW == 6 and M.TS_REVIEW_THRESHOLD == 4.0
    assert M.FORMULAS["tracking_signal"] == (
        "Tracking signal = Σe / MAD over the last 6 periods, MAD = mean|e| over the same 6 periods; e of each "
        "period from its latest backtest forecast (review the series when |TS| > 4)")
    with pytest.raises(ValueError, match="at least 1"):
        M.tracking_signal([1.0], [2.0], window=0)


def test_tracking_signal_a_recent_bias_crosses_four() -> None:
    # e = −6 −6 +3 +5 +4 −1 +6 +1: the forecast turned high in the last six periods
    actual = [100.0] * 8
    forecast = [94.0, 94.0, 103.0, 105.0, 104.0, 99.0, 106.0, 101.0]
    # last 6: Σe = 3+5+4−1+6+1 = 18, MAD = 20/6 -> TS = 18 / (20/6) = 5.4 > 4
    assert M.tracking_signal(actual, forecast) == pytest.approx(5.4)
    # the running sum over all 8 hides it: Σe = 6, MAD = 32/8 = 4 -> 1.5
    assert M.tracking_signal(actual, forecast, window=None) == pytest.approx(1.5)


def test_tracking_signal_an_unbiased_noisy_series_stays_under_four() -> None:
    # 12 old periods alternating +6, −2, then 6 recent ones +4 −4 +3 −3 +2 −2 (no bias)
    e = [6.0, -2.0] * 6 + [4.0, -4.0, 3.0, -3.0, 2.0, -2.0]
    actual = [100.0] * 18
    forecast = [100.0 + x for x in e]
    assert M.tracking_signal(actual, forecast) == 0.0  # last 6: Σe = 0
    # over all 18 periods: Σe = 24, MAD = 66/18 -> TS = 24 · 18 / 66 = 6.55: flagged on old errors
    assert M.tracking_signal(actual, forecast, window=None) == pytest.approx(24 * 18 / 66)


def test_mase_uses_in_sample_seasonal_naive() -> None:
    insample = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]  # seasonal (m=2) differences all 2 -> scale 2
    assert M.naive_scale(insample, 2) == pytest.approx(2.0)
    assert M.mase([7.0, 8.0], [8.0, 8.0], insample, 2) == pytest.approx(0.5 / 2.0)


def test_mase_falls_back_to_lag_one_when_history_is_short() -> None:
    assert M.naive_scale([1.0, 3.0, 4.0], 12) == pytest.approx(1.5)  # |3-1|, |4-3|
    assert math.isnan(M.naive_scale([5.0], 12))
    assert math.isnan(M.naive_scale([5.0, 5.0, 5.0], 1))  # constant: scale 0 -> NaN
    assert math.isnan(M.mase([1.0], [2.0], [5.0, 5.0], 1))


def test_fva_previous_minus_this() -> None:
    assert M.fva(0.24, 0.18) == pytest.approx(0.06)
    np.testing.assert_allclose(M.fva([0.3, 0.1], [0.2, 0.2]), [0.1, -0.1])


def test_formulas_cover_every_reported_metric() -> None:
    for key in ("wape", "accuracy", "mape", "bias", "tracking_signal", "mase", "fva", "wape_seasonal_naive"):
        assert key in M.FORMULAS and M.FORMULAS[key]
    assert "F − A" in M.FORMULAS["error"]


def _points() -> pd.DataFrame:
    """Two series, two origins each: hand-checkable."""
    return pd.DataFrame({
        "series_id": ["s1"] * 4 + ["s2"] * 4,
        "family": ["X"] * 8,
        "origin": pd.to_datetime(["2026-01-01", "2026-01-01", "2026-02-01", "2026-02-01"] * 2),
        "period": pd.to_datetime(["2026-02-01", "2026-03-01", "2026-03-01", "2026-04-01"] * 2),
        "actual": [10, 10, 10, 10, 0, 0, 0, 0],
        "forecast": [12, 8, 11, 13, 1, 0, 1, 2],
        "naive": [10, 14, 10, 16, 0, 0, 0, 0],
        "scale": [2.0] * 4 + [np.nan] * 4,
    })


def test_summarise_per_series_by_hand() -> None:
    out = M.summarise(_points(), "series_id").set_index("series_id")
    assert list(out.columns) == list(M.SUMMARY_COLUMNS)
    s1 = out.loc["s1"]
    assert s1["wape"] == pytest.approx((2 + 2 + 1 + 3) / 40)
    assert s1["accuracy"] == pytest.approx(1 - 8 / 40)
    assert s1["bias"] == pytest.approx((2 - 2 + 1 + 3) / 40)
    assert s1["wape_seasonal_naive"] == pytest.approx((0 + 4 + 0 + 6) / 40)
    assert s1["fva"] == pytest.approx(10 / 40 - 8 / 40)
    assert s1["mase"] == pytest.approx(np.mean([2, 2, 1, 3]) / 2.0)
    # each period's latest forecast: Feb +2 (Jan origin), Mar +1 and Apr +3 (Feb origin) -> Σe 6 / MAD 2
    assert s1["tracking_signal"] == pytest.approx(6 / 2)
    assert s1["n"] == 4
    s2 = out.loc["s2"]  # ΣA = 0: ratios undefined, no exception
    assert math.isnan(s2["wape"]) and math.isnan(s2["bias"]) and math.isnan(s2["mase"])
    assert s2["n"] == 4


def test_summarise_total_and_group_tracking_signal_on_period_sums() -> None:
    total = M.summarise(_points(), None)
    assert len(total) == 1
    assert total["wape"].iloc[0] == pytest.approx((8 + 4) / 40)
    assert total["n"].iloc[0] == 8
    fam = M.summarise(_points(), ["family"]).iloc[0]
    # latest forecast of each period, errors summed per period: Feb +2 +1 = 3, Mar +1 +1 = 2, Apr +3 +2 = 5
    # -> TS = 10 / (10/3)
    assert fam["tracking_signal"] == pytest.approx(3.0)


def _windowed_points() -> pd.DataFrame:
    """Series b (biased lately) and u (unbiased lately), A = 100, origins Dec, Mar, Jun with 4 steps each.

    Each period's latest forecast: Jan–Mar from Dec, Apr–Jun from Mar, Jul–Oct from Jun; the
    window (6 periods) is May–Oct. Listed: each origin's errors e = F − A, step 1 first.
    """
    e = {
        "b": {"2024-12-01": [-5, -5, -5, -5], "2025-03-01": [20, 4, 6, -30], "2025-06-01": [5, -1, 3, 7]},
        "u": {"2024-12-01": [9, 8, 7, 1], "2025-03-01": [10, 6, -5, 12], "2025-06-01": [4, -6, 3, -1]},
    }
    rows = []
    for sid, by_origin in e.items():
        for origin, errors in by_origin.items():
            for step, err in enumerate(errors, start=1):
                period = pd.Timestamp(origin) + pd.DateOffset(months=step)
                rows.append({"series_id": sid, "family": "X", "origin": pd.Timestamp(origin), "step": step,
                             "period": period, "actual": 100.0, "forecast": 100.0 + err, "naive": 100.0})
    return pd.DataFrame(rows)


def test_summarise_tracking_signal_over_the_last_six_periods_of_latest_forecasts() -> None:
    pts = _windowed_points()
    out = M.summarise(pts, "series_id").set_index("series_id")
    # b, May–Oct: +4 +6 (Mar origin), then Jul from the Jun origin (+5, not the Mar origin's −30), −1 +3 +7
    # Σe = 24, MAD = 26/6 -> TS = 24 · 6 / 26 = 5.54 > 4: review
    assert out.loc["b", "tracking_signal"] == pytest.approx(24 * 6 / 26)
    # u, May–Oct: +6 −5 +4 −6 +3 −1: Σe = 1, MAD = 25/6 -> TS = 0.24
    assert out.loc["u", "tracking_signal"] == pytest.approx(6 / 25)
    # over every period (Jan +9 +8 +7, Apr +10 from the Mar origin, ...) u's old bias would flag it:
    # Σe = 35, MAD = 59/10 -> 5.93
    every = M.summarise(pts, "series_id", ts_window=None).set_index("series_id")
    assert every.loc["u", "tracking_signal"] == pytest.approx(35 / 5.9)
    assert out.loc["b", "n"] == 12  # the other metrics still use every point
    # the family: per-period sums May 10, Jun 1, Jul 9, Aug −7, Sep 6, Oct 6 -> Σe 25, MAD 39/6
    fam = M.summarise(pts, "family").iloc[0]
    assert fam["tracking_signal"] == pytest.approx(25 * 6 / 39)
    with pytest.raises(ValueError, match="at least 1"):
        M.summarise(pts, "series_id", ts_window=0)
