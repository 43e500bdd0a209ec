"""Planning buckets: weeks keep the data's weekday (Monday starts its week, any other day ends it)."""
from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from sop_core import periods as P


def test_monday_weeks_are_iso_weeks_and_months_their_first_day() -> None:
    d = pd.Series(pd.to_datetime(["2026-11-02", "2026-11-08", "2026-11-09", "2026-11-15"]))
    assert P.period_start(d, "week").dt.strftime("%Y-%m-%d").tolist() == [
        "2026-11-02", "2026-11-02", "2026-11-09", "2026-11-09"]
    assert P.period_start(d).dt.strftime("%Y-%m-%d").tolist() == ["2026-11-01"] * 4
    assert P.bucket_freq("week") == "W-MON" and P.bucket_freq("month") == "MS"


def test_friday_weeks_end_on_friday() -> None:
    # the week ending Friday 9 July 2021 runs Saturday 3 July .. Friday 9 July
    d = pd.Series(pd.to_datetime(["2021-07-02", "2021-07-03", "2021-07-04", "2021-07-09", "2021-07-10"]))
    got = P.period_start(d, "week", anchor=4).dt.strftime("%Y-%m-%d").tolist()
    assert got == ["2021-07-02", "2021-07-09", "2021-07-09", "2021-07-09", "2021-07-16"]
    assert P.week_days(pd.Timestamp("2021-07-09")) == (pd.Timestamp("2021-07-03"), pd.Timestamp("2021-07-09"))
    assert P.week_days(pd.Timestamp("2021-07-05")) == (pd.Timestamp("2021-07-05"), pd.Timestamp("2021-07-11"))
    assert P.bucket_freq("week", 4) == "W-FRI"
    assert list(P.period_range(pd.Timestamp("2021-07-09"), 3, "week").strftime("%a")) == ["Fri"] * 3


@pytest.mark.parametrize("anchor", range(7))
def test_sql_period_matches_period_start_for_every_anchor(anchor: int) -> None:
    days = pd.date_range("2024-12-20", periods=21, freq="D")
    want = P.period_start(pd.Series(days), "week", anchor).dt.date.tolist()
    con = duckdb.connect()
    con.register("t", pd.DataFrame({"date": days.date}))
    got = [r[0] for r in con.execute(f"SELECT {P.sql_period('date', 'week', anchor)} FROM t").fetchall()]
    assert got == want
    assert all(pd.Timestamp(g).weekday() == anchor for g in got)


def test_dominant_weekday_only_for_weekly_dates() -> None:
    assert P.dominant_weekday(pd.date_range("2024-01-05", periods=30, freq="W-FRI")) == 4
    fridays_and_one_odd = pd.date_range("2024-01-05", periods=30, freq="W-FRI").append(
        pd.DatetimeIndex(["2024-03-03"]))
    assert P.dominant_weekday(fridays_and_one_odd) == 4
    assert P.dominant_weekday(pd.date_range("2024-01-01", periods=90, freq="D")) == 0  # daily: ISO weeks
    assert P.dominant_weekday(pd.date_range("2020-01-01", periods=48, freq="MS")) == 0  # monthly
    assert P.dominant_weekday(pd.Series([], dtype="datetime64[ns]")) == 0
    assert P.anchor_of(pd.date_range("2024-01-06", periods=3, freq="W-SAT")) == 5


def test_bad_anchor_is_refused() -> None:
    with pytest.raises(ValueError, match="weekday 0"):
        P.bucket_freq("week", 7)
