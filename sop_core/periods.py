"""Planning buckets and their calendar: a period is identified by its label day.

Months: the first day of the month. Weeks keep the data's own weekday, the *anchor* (0 = Monday
.. 6 = Sunday; `dominant_weekday` finds it in the sales dates when they are weekly, Monday when
they are not): a Monday labels the week it starts (Mon..Sun, the ISO week, the default); any other
weekday labels the week it ends, as week-ending sales reports stamp them (a Friday: Sat..Fri; a
Sunday: Mon..Sun). A date, a holiday included, belongs to the week that contains it
(`period_start`, `sql_period`), so a file stamped on week-ending Fridays stays on Fridays and a
Sunday holiday lands in the week ending the Friday after it.
"""
from __future__ import annotations

from typing import Literal

import pandas as pd

Bucket = Literal["month", "week"]
BUCKETS: tuple[str, ...] = ("month", "week")
SEASON_LENGTH: dict[str, int] = {"month": 12, "week": 52}
WEEKDAYS: tuple[str, ...] = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
ISO_ANCHOR = 0  # Monday: weeks start on Monday (ISO) unless the data says otherwise
WEEKLY_SHARE = 0.5  # more than half the distinct dates on one weekday: the data is weekly on that day
PANDAS_FREQ: dict[str, str] = {"month": "MS", "week": "W-MON"}  # the default (Monday) calendar


def check_bucket(bucket: str) -> Bucket:
    """Return `bucket` if it is a known planning bucket, else raise ValueError."""
    if bucket not in BUCKETS:
        raise ValueError(f"unknown planning bucket {bucket!r}: use one of {', '.join(BUCKETS)}")
    return bucket  # type: ignore[return-value]


def check_anchor(anchor: int) -> int:
    """Return `anchor` as an int if it is a weekday 0 (Monday) .. 6 (Sunday), else raise ValueError."""
    if int(anchor) != anchor or not 0 <= int(anchor) <= 6:
        raise ValueError(f"week anchor must be a weekday 0 (Monday) to 6 (Sunday), got {anchor!r}")
    return int(anchor)


def week_ends_on_label(anchor: int) -> bool:
    """True when a week labelled on `anchor` ends that day (every weekday but Monday, which starts it)."""
    return check_anchor(anchor) != ISO_ANCHOR


def dominant_weekday(dates: pd.Series | pd.DatetimeIndex) -> int:
    """The weekday of more than half the distinct dates (weekly data), else Monday (daily or monthly data)."""
    d = pd.DatetimeIndex(pd.to_datetime(pd.Series(dates)).dropna().dt.normalize().unique())
    if len(d) == 0:
        return ISO_ANCHOR
    counts = pd.Series(d.weekday).value_counts()
    return int(counts.index[0]) if counts.iloc[0] > WEEKLY_SHARE * len(d) else ISO_ANCHOR


def anchor_of(periods: pd.Series | pd.DatetimeIndex) -> int:
    """The anchor of weekly bucket labels (the weekday of the first one; Monday when there are none)."""
    p = pd.DatetimeIndex(pd.to_datetime(pd.Series(periods)).dropna())
    return int(p[0].weekday()) if len(p) else ISO_ANCHOR


def bucket_freq(bucket: str, anchor: int = ISO_ANCHOR) -> str:
    """The pandas frequency of the bucket labels: 'MS' for months, 'W-FRI' for weeks anchored on Friday."""
    if check_bucket(bucket) == "month":
        return "MS"
    return f"W-{WEEKDAYS[check_anchor(anchor)]}"


def week_label(dates: pd.Series | pd.DatetimeIndex, anchor: int = ISO_ANCHOR) -> pd.Series:
    """The label of the week (anchored on `anchor`) each date falls in (see the module docstring)."""
    a = check_anchor(anchor)
    d = pd.to_datetime(pd.Series(dates)).dt.normalize()
    wd = d.dt.weekday
    if week_ends_on_label(a):
        return d + pd.to_timedelta((a - wd) % 7, unit="D")
    return d - pd.to_timedelta((wd - a) % 7, unit="D")


def week_days(label: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last day of the week a label stands for (its anchor is the label's weekday)."""
    p = pd.Timestamp(label).normalize()
    if week_ends_on_label(p.weekday()):
        return p - pd.Timedelta(days=6), p
    return p, p + pd.Timedelta(days=6)


def period_start(dates: pd.Series | pd.DatetimeIndex, bucket: str = "month", anchor: int = ISO_ANCHOR) -> pd.Series:
    """The label of the bucket each date falls in: its month's first day, or its week's anchor day."""
    check_bucket(bucket)
    if bucket == "month":
        return pd.to_datetime(pd.Series(dates)).dt.normalize().dt.to_period("M").dt.start_time
    return week_label(dates, anchor)


def sql_period(column: str, bucket: str = "month", anchor: int = ISO_ANCHOR) -> str:
    """DuckDB expression giving the bucket label (period_start) of a quoted date column."""
    check_bucket(bucket)
    a = check_anchor(anchor)
    if bucket == "month" or not week_ends_on_label(a):
        return f"CAST(date_trunc('{bucket}', \"{column}\") AS DATE)"
    # isodow: Monday 1 .. Sunday 7; forward to the next `a` (the week's last day), the day itself included
    return f"(CAST(\"{column}\" AS DATE) + CAST(({a} + 8 - isodow(\"{column}\")) % 7 AS INTEGER))"


def period_range(start: pd.Timestamp, periods: int, bucket: str = "month") -> pd.DatetimeIndex:
    """`periods` consecutive bucket labels beginning at `start` (weeks keep the weekday of `start`)."""
    s = pd.Timestamp(start)
    return pd.date_range(s, periods=periods, freq=bucket_freq(bucket, s.weekday() if bucket == "week" else 0))


def next_period(period: pd.Timestamp, bucket: str = "month", n: int = 1) -> pd.Timestamp:
    """The bucket label `n` buckets after `period`."""
    p = pd.Timestamp(period)
    if check_bucket(bucket) == "month":
        return p + pd.DateOffset(months=n)
    return p + pd.Timedelta(weeks=n)


def days_in_period(period: pd.Timestamp, bucket: str = "month") -> int:
    """Number of days in the bucket labelled `period`."""
    if check_bucket(bucket) == "week":
        return 7
    return pd.Timestamp(period).days_in_month
