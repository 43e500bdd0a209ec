"""Accuracy metrics against hand-worked examples (primer formulas, e = F − A)."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from sop_core import metrics as M

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
    # a consistently low forecast: TS = −n
    assert M.tracking_signal([10.0] * 6, [8.0] * 6) == pytest.approx(-6.0)


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
    assert s1["tracking_signal"] == pytest.approx((1 + 3) / 2)  # latest origin: e = +1, +3
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
    # latest origin, errors summed per period: March +1 +1 = 2, April +3 +2 = 5 -> TS = 7 / 3.5
    assert fam["tracking_signal"] == pytest.approx(7 / 3.5)
