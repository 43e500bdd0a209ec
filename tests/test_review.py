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
