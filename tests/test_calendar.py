"""Holidays fall in the bucket that contains them: weeks keep the data's weekday, months get moving holidays."""
from __future__ import annotations

import pandas as pd

from sop_core.demand import calendar as K
from sop_core.demand import models as M


def test_a_sunday_holiday_lands_in_the_friday_week_that_contains_it() -> None:
    # 4 July 2021 was a Sunday: in the week ending Friday 9 July (Sat 3 .. Fri 9), not the one ending 2 July
    fridays = pd.date_range("2020-01-03", "2021-06-25", freq="W-FRI")
    hol = M.ProphetModel(holidays_country="US")._holidays(fridays, pd.date_range("2021-07-02", periods=8,
                                                                                freq="W-FRI"))
    july4 = hol[hol["holiday"] == "Independence Day"]
    assert pd.Timestamp("2021-07-09") in set(july4["ds"]) and pd.Timestamp("2021-07-02") not in set(july4["ds"])
    assert (hol["ds"].dt.day_of_week == 4).all()  # every holiday on a Friday label
    # Christmas 2022 (Sunday) -> week ending Friday 30 December; on Monday weeks -> the week of Mon 19 Dec
    fri = K.weekly_holidays("US", [2022], anchor=4)
    mon = K.weekly_holidays("US", [2022], anchor=0)
    assert pd.Timestamp("2022-12-30") in set(fri.loc[fri["holiday"] == "Christmas Day", "ds"])
    assert pd.Timestamp("2022-12-19") in set(mon.loc[mon["holiday"] == "Christmas Day", "ds"])


def test_easter_moves_between_march_and_april_in_monthly_buckets() -> None:
    hol = K.monthly_holidays("US", range(2023, 2027))
    easter = hol[hol["holiday"] == K.EASTER].set_index(hol.loc[hol["holiday"] == K.EASTER, "ds"].dt.year)["ds"]
    # Easter Sunday: 9 Apr 2023, 31 Mar 2024, 20 Apr 2025, 5 Apr 2026
    assert easter.to_dict() == {2023: pd.Timestamp("2023-04-01"), 2024: pd.Timestamp("2024-03-01"),
                                2025: pd.Timestamp("2025-04-01"), 2026: pd.Timestamp("2026-04-01")}
    assert "Christmas Day" not in set(hol["holiday"])  # same month every year: the yearly seasonality has it
    assert "Thanksgiving Day" not in set(hol["holiday"])
    de = K.monthly_holidays("DE", range(2015, 2027))
    assert {"Good Friday", "Easter Monday", K.EASTER} <= set(de["holiday"])  # Easter Monday 2016: 28 March
    assert "Easter Monday" not in set(K.monthly_holidays("DE", range(2023, 2027))["holiday"])  # April every year
    assert (de["ds"].dt.day == 1).all()


def test_monthly_prophet_gets_the_moving_holidays_and_quarters_none() -> None:
    month = M.prophet_for_bucket("month", holidays_country="US")
    assert month.holidays_country == "US"
    hol = month._holidays(pd.date_range("2022-01-01", periods=36, freq="MS"),
                          pd.date_range("2025-01-01", periods=12, freq="MS"))
    assert set(hol["holiday"]) == {K.EASTER} and len(hol) == 4
    assert M.prophet_for_bucket("month")._holidays(pd.date_range("2022-01-01", periods=36, freq="MS"),
                                                   pd.date_range("2025-01-01", periods=2, freq="MS")) is None
    assert month._holidays(pd.date_range("2020-01-01", periods=12, freq="QS"),
                           pd.date_range("2023-01-01", periods=2, freq="QS")) is None


def test_monthly_prophet_fits_with_an_easter_indicator() -> None:
    months = pd.date_range("2019-01-01", periods=60, freq="MS")
    easter_month = K.monthly_holidays("US", range(2019, 2026))["ds"]
    y = 100 + 10 * (months.month == 12) + 40 * months.isin(easter_month)
    f = months[-1] + pd.DateOffset(months=1)
    future = pd.date_range(f, periods=12, freq="MS")  # 2024: Easter 31 March
    value, _, _ = M.prophet_for_bucket("month", holidays_country="US").predict(y.astype(float), months, future)
    by = dict(zip(future.month, value))
    assert by[3] > by[4] + 20  # the Easter lift moved to March with Easter
