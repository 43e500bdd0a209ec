"""The demand review's engine answers: which series are flagged for review (sop_core.demand.review.flagged)."""
from __future__ import annotations

import pandas as pd
import pytest

from sop_core.demand import forecast, review


def test_flagged_means_naive_beats_model_or_biased_not_a_missing_backtest():
    m = pd.DataFrame({"series_id": list("abcdefg"), "flags": [
        forecast.FLAG_NAIVE_BEATS, forecast.FLAG_TS, f"{forecast.FLAG_TS}; {forecast.FLAG_NO_BACKTEST}",
        forecast.FLAG_NO_BACKTEST, "", None, f"{forecast.FLAG_NAIVE_BEATS}; {forecast.FLAG_TS}"]})
    assert review.flagged(m).tolist() == [True, True, True, False, False, False, True]
    assert review.flagged(m).index.equals(m.index)
    assert review.flagged(m.iloc[0:0]).tolist() == []


def test_flagged_reads_the_flags_the_forecast_engine_writes():
    rows = pd.DataFrame({"wape": [0.2, 0.1, 0.1, 0.1], "wape_seasonal_naive": [0.1, 0.3, 0.3, None],
                         "tracking_signal": [0.0, 5.0, -1.0, None], "n_origins": [3, 3, 3, 0]})
    rows["flags"] = forecast._flags(rows)
    assert review.flagged(rows).tolist() == [True, True, False, False]  # the last: no backtest, not judged


def test_flagged_needs_the_flags_column():
    with pytest.raises(ValueError, match="no 'flags' column"):
        review.flagged(pd.DataFrame({"sku": ["a"]}))


def test_the_headline_window_follows_the_bucket_and_stops_at_the_horizon():
    weeks = pd.date_range("2026-06-01", periods=60, freq="W-MON")
    hist = pd.DataFrame({"sku": "A", "region": "N", "family": "F", "period": weeks[:40], "quantity": 10.0})
    future = weeks[40:58]  # an 18-week horizon
    cons = pd.DataFrame({"sku": "A", "region": "N", "family": "F", "period": future, "consensus": 12.0,
                         "statistical": 11.0})
    head = review.headline(hist, cons, None, weeks[39], bucket="week", horizon=18)
    assert (head.periods, head.bucket, head.window, head.past_window) == (18, "week", "next 18 weeks", "last 18 weeks")
    assert head.next_12 == 18 * 12.0 and head.last_12 == 18 * 10.0  # 18 weeks against 18 weeks, not a year
    monthly = review.headline(hist.assign(period=pd.date_range("2023-01-01", periods=40, freq="MS")),
                              cons.assign(period=pd.date_range("2026-05-01", periods=18, freq="MS")), None,
                              pd.Timestamp("2026-04-01"), horizon=18)
    assert (monthly.periods, monthly.window) == (12, "next 12 months") and monthly.next_12 == 12 * 12.0


def test_weekly_plans_reach_78_weeks_and_monthly_ones_24_months():
    assert forecast.ForecastSettings(bucket="week", horizon=78).horizon == 78
    with pytest.raises(ValueError, match="months from 6 to 24"):
        forecast.ForecastSettings(bucket="month", horizon=30)


def test_recent_points_are_the_scorecards_twelve_months() -> None:
    """The Demand review quotes the accuracy of the same held-out points as the scorecard's 12-month figure."""
    import numpy as np

    from sop_core.demand import metrics
    from sop_core.planning import kpis

    rng = np.random.default_rng(3)
    periods = pd.date_range("2024-03-01", periods=30, freq="MS")
    pts = pd.DataFrame({"series_id": np.repeat(["a", "b"], len(periods)), "period": np.tile(periods, 2),
                        "actual": rng.integers(50, 150, 2 * len(periods)).astype(float)})
    pts["forecast"] = pts["actual"] * rng.uniform(0.7, 1.3, len(pts))
    pts["naive"] = pts["actual"] * rng.uniform(0.6, 1.4, len(pts))
    recent, span = review.recent_points(pts)
    assert span == "Sep 2025 – Aug 2026" and recent["period"].nunique() == 12
    quoted = metrics.summarise(recent, []).iloc[0]["accuracy"]
    assert quoted == pytest.approx(kpis.accuracy_kpis(pts)[0].value)
    assert quoted != pytest.approx(metrics.summarise(pts, []).iloc[0]["accuracy"])  # not all 30 months
    weekly = pts.assign(period=pts["period"] + pd.Timedelta(days=4))  # any bucket: months of the period
    assert review.recent_points(weekly)[1] == span
    assert review.recent_points(pts.iloc[0:0]) [1] == ""
