"""Theta, damped ETS, ARIMA, STL, the combination, TSB, ADIDA and the recent-window classification: known answers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sop_core.demand import candidates as C
from sop_core.demand import intermittent as I
from sop_core.demand import models as M

PERIODS = pd.date_range("2022-01-01", periods=48, freq="MS")


def _future(n: int, h: int) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    periods = pd.date_range("2020-01-01", periods=n, freq="MS")
    return periods, pd.date_range(periods[-1] + pd.DateOffset(months=1), periods=h, freq="MS")


def test_theta_on_a_straight_line_is_the_last_value_plus_half_the_slope() -> None:
    y = 50.0 + 2.0 * np.arange(30)
    periods, future = _future(30, 6)
    value, lower, upper = C.Theta(12).predict(y, periods, future)
    # SES on a line picks α = 1 (level = last value); drift = slope / 2 per step
    np.testing.assert_allclose(value, y[-1] + 1.0 * np.arange(1, 7))
    assert (lower <= value).all() and (value <= upper).all()


def test_seasonal_indices_recover_a_multiplicative_season() -> None:
    season = np.array([0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.2, 1.1, 1.0, 0.9, 0.8, 0.7])
    season = season / season.mean()
    y = 100.0 * np.tile(season, 4)
    idx, mult = C.seasonal_indices(y, 12)
    assert mult
    np.testing.assert_allclose(idx, season, rtol=1e-9)
    assert C.seasonal_indices(np.linspace(1, 2, 48), 12) is None  # a plain line has no season


def test_seasonal_candidates_repeat_a_pure_season() -> None:
    season = 100.0 + 30.0 * np.sin(2 * np.pi * np.arange(12) / 12)
    y = np.tile(season, 4)
    periods, future = _future(48, 12)
    for model in (C.Theta(12), C.DampedETS(12), C.Arima(12), C.StlDamped(12)):
        value, _, _ = model.predict(y, periods, future)
        np.testing.assert_allclose(value, season, rtol=0.02, err_msg=model.name)


def test_damped_ets_flat_on_a_constant_and_damped_on_a_line() -> None:
    periods, future = _future(24, 12)
    value, _, _ = C.DampedETS(12).predict(np.full(24, 7.0), periods, future)
    np.testing.assert_allclose(value, 7.0)
    y = 10.0 + 3.0 * np.arange(24)
    value, _, _ = C.DampedETS(12).predict(y, periods, future)
    steps = np.diff(np.r_[y[-1], value])
    assert (steps > 0).all() and (np.diff(steps) <= 1e-9).all()  # rising, each step no larger than the last
    assert value[-1] < y[-1] + 3.0 * 12  # below the undamped line


def test_arima_continues_a_line_and_an_ar1_in_differences() -> None:
    periods, future = _future(30, 5)
    y = 20.0 + 4.0 * np.arange(30)
    value, _, _ = C.Arima(12).predict(y, periods, future)
    np.testing.assert_allclose(value, y[-1] + 4.0 * np.arange(1, 6), rtol=1e-9)  # drift kept: exact fit
    d = 0.5 ** np.arange(29) * 64.0 * np.where(np.arange(29) % 2, -1, 1)  # d_t = −0.5 d_{t−1}
    y = np.r_[1000.0, 1000.0 + np.cumsum(d)]
    out, _, p = C.ar_diff_forecast(y, 3)
    assert p >= 1
    assert out[0] == pytest.approx(y[-1] - 0.5 * d[-1], abs=1e-6)


def test_combination_is_the_mean_of_its_members() -> None:
    y = np.arange(1.0, 25.0)
    periods, future = _future(24, 3)
    combo = C.Combination([M.NaiveModel(), M.MovingAverage(3)])
    value, _, _ = combo.predict(y, periods, future)
    np.testing.assert_allclose(value, (24.0 + 23.0) / 2)
    with pytest.raises(ValueError):
        C.Combination([])


def test_tsb_decays_when_sales_stop_and_keeps_a_steady_demand() -> None:
    periods, future = _future(20, 3)
    value, _, _ = I.TSB().predict(np.full(20, 5.0), periods, future)
    np.testing.assert_allclose(value, 5.0)
    y = np.r_[np.full(20, 5.0), np.zeros(4)]
    periods, future = _future(24, 3)
    p0 = 20 / 24
    p = (1 - (1 - p0) * 0.9 ** 20) * 0.9 ** 4
    value, _, _ = I.TSB(alpha=0.1, beta=0.1).predict(y, periods, future)
    np.testing.assert_allclose(value, p * 5.0)
    sba, _, _ = M.CrostonSBA().predict(y, periods, future)
    assert value[0] < sba[0]  # Croston keeps the old rate, TSB does not


def test_adida_sums_blocks_of_the_mean_interval() -> None:
    periods, future = _future(20, 4)
    value, _, _ = I.Adida().predict(np.tile([0.0, 4.0], 10), periods, future)
    np.testing.assert_allclose(value, 2.0)  # blocks of 2 buckets hold 4 each
    value, _, _ = I.Adida().predict(np.zeros(20), periods, future)
    np.testing.assert_allclose(value, 0.0)


def test_intermittency_is_judged_on_the_recent_window() -> None:
    rng = np.random.default_rng(3)
    old = 40 + rng.normal(0, 3, 36)
    recent = np.where(np.arange(24) % 4 == 0, 10.0, 0.0)  # demand once in 4 months for two years
    y = np.r_[old, recent]
    assert np.mean(y == 0) < 0.5  # the whole-history rule would call it smooth
    kind, adi, cv2 = I.classify(y, I.recent_window(12))
    assert kind == "intermittent" and adi == pytest.approx(4.0) and cv2 == 0.0
    assert I.classify(np.r_[y, np.zeros(24)], 24)[0] == "inactive"
    assert I.classify(old, 24)[0] == "smooth"
    lumpy = np.where(np.arange(24) % 3 == 0, [1.0, 30.0] * 12, 0.0)
    assert I.classify(lumpy, 24)[0] == "lumpy"


def test_mstl_recovers_a_yearly_and_a_quarterly_season_of_weekly_data() -> None:
    # a known answer: level 200 + a yearly wave (52 weeks) + a quarterly wave (13 weeks), three years, no noise
    t = np.arange(156 + 26)
    y = 200.0 + 30.0 * np.sin(2 * np.pi * t / 52) + 10.0 * np.cos(2 * np.pi * t / 13)
    weeks = pd.date_range("2023-01-06", periods=len(t), freq="W-FRI")
    assert C.mstl_periods(52) == (13, 52) and C.mstl_periods(12) == (12,)
    value, lower, upper = C.Mstl(52).predict(y[:156], weeks[:156], weeks[156:])
    np.testing.assert_allclose(value, y[156:], atol=2.0)  # within 1% of the level, 26 weeks ahead
    assert (lower <= value).all() and (value <= upper).all()
    # fewer than two years: no season to estimate, damped-trend ETS on a constant stays flat
    flat, _, _ = C.Mstl(52).predict(np.full(60, 7.0), weeks[:60], weeks[60:66])
    np.testing.assert_allclose(flat, 7.0)


def test_mstl_at_exactly_two_seasons_is_stl() -> None:
    t = np.arange(104 + 8)
    y = 100.0 + 20.0 * np.sin(2 * np.pi * t / 52)
    weeks = pd.date_range("2023-01-06", periods=len(t), freq="W-FRI")
    got = C.Mstl(52).predict(y[:104], weeks[:104], weeks[104:])[0]
    np.testing.assert_allclose(got, C.StlDamped(52).predict(y[:104], weeks[:104], weeks[104:])[0])
