"""Planning buckets: a period is identified by its first day (month start or ISO Monday)."""
from __future__ import annotations

from typing import Literal

import pandas as pd

Bucket = Literal["month", "week"]
BUCKETS: tuple[str, ...] = ("month", "week")
SEASON_LENGTH: dict[str, int] = {"month": 12, "week": 52}
PANDAS_FREQ: dict[str, str] = {"month": "MS", "week": "W-MON"}


def check_bucket(bucket: str) -> Bucket:
    """Return `bucket` if it is a known planning bucket, else raise ValueError."""
    if bucket not in BUCKETS:
        raise ValueError(f"unknown planning bucket {bucket!r}: use one of {', '.join(BUCKETS)}")
    return bucket  # type: ignore[return-value]


def period_start(dates: pd.Series | pd.DatetimeIndex, bucket: str = "month") -> pd.Series:
    """First day of the bucket each date falls in."""
    check_bucket(bucket)
    d = pd.to_datetime(pd.Series(dates)).dt.normalize()
    if bucket == "month":
        return d.dt.to_period("M").dt.start_time
    return d - pd.to_timedelta(d.dt.weekday, unit="D")


def sql_period(column: str, bucket: str = "month") -> str:
    """DuckDB expression giving the bucket start of a quoted date column."""
    check_bucket(bucket)
    return f"CAST(date_trunc('{bucket}', \"{column}\") AS DATE)"


def period_range(start: pd.Timestamp, periods: int, bucket: str = "month") -> pd.DatetimeIndex:
    """`periods` consecutive bucket starts beginning at `start`."""
    return pd.date_range(pd.Timestamp(start), periods=periods, freq=PANDAS_FREQ[check_bucket(bucket)])


def next_period(period: pd.Timestamp, bucket: str = "month", n: int = 1) -> pd.Timestamp:
    """The bucket start `n` buckets after `period`."""
    p = pd.Timestamp(period)
    if check_bucket(bucket) == "month":
        return p + pd.DateOffset(months=n)
    return p + pd.Timedelta(weeks=n)


def days_in_period(period: pd.Timestamp, bucket: str = "month") -> int:
    """Number of days in the bucket starting at `period`."""
    if check_bucket(bucket) == "week":
        return 7
    return pd.Timestamp(period).days_in_month
