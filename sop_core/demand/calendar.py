"""Country holidays as Prophet holiday rows, placed in the bucket that contains them.

Weekly buckets (`weekly_holidays`): every public holiday of the country (the `holidays` package,
observed days included) on the label of the week that contains it (periods.week_label: for weeks
ending on Friday, Sat..Fri; for Monday weeks, Mon..Sun), so a Sunday holiday lands in the week
whose sales it moved.

Monthly buckets (`monthly_holidays`): a holiday that falls in the same month every year is part
of the yearly seasonality already (an indicator on that month would only repeat it), so only the
holidays that move between months are kept, each on the first day of the month that contains it
that year: Easter Sunday always (Western date: March or April, retail feels it in every country),
and the country's own moving holidays (Good Friday and Easter Monday, Ascension, Chinese New
Year, Eid, Diwali, ...; observed-day shifts are ignored, they only move a fixed holiday by a day
or two). Holidays that fall in the same months as an earlier one in every year of the range (Good
Friday with Easter, most years) would be the same indicator twice: only the first is kept.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from sop_core.periods import anchor_of, week_label

EASTER = "Easter Sunday"
HOLIDAY_COLUMNS: tuple[str, ...] = ("holiday", "ds")


def _empty() -> pd.DataFrame:
    return pd.DataFrame({"holiday": pd.Series(dtype=object), "ds": pd.Series(dtype="datetime64[ns]")})


def country_days(country: str, years: Iterable[int], observed: bool = True) -> pd.DataFrame:
    """The country's public holidays in `years`: holiday (name), ds (the day)."""
    import holidays as hol

    days = hol.country_holidays(country, years=list(years), observed=observed)
    if not days:
        return _empty()
    return pd.DataFrame({"holiday": list(days.values()), "ds": pd.to_datetime(list(days.keys()))})


def easter_days(years: Iterable[int]) -> pd.DataFrame:
    """Western Easter Sunday of each year."""
    from dateutil.easter import easter

    ys = list(years)
    return pd.DataFrame({"holiday": [EASTER] * len(ys), "ds": pd.to_datetime([easter(y) for y in ys])})


def weekly_holidays(country: str, years: Iterable[int], anchor: int) -> pd.DataFrame:
    """The country's holidays on the label of the week (anchored on `anchor`) that contains each."""
    df = country_days(country, years)
    if df.empty:
        return df
    df["ds"] = week_label(df["ds"], anchor).to_numpy()
    return df.drop_duplicates().sort_values(["ds", "holiday"]).reset_index(drop=True)


def monthly_holidays(country: str, years: Iterable[int]) -> pd.DataFrame:
    """Holidays that move between months (Easter and the country's own), on their month's first day."""
    ys = list(years)
    df = pd.concat([easter_days(ys), country_days(country, ys, observed=False)], ignore_index=True)
    df["holiday"] = df["holiday"].astype(str)
    df["ds"] = df["ds"].dt.to_period("M").dt.start_time
    months = df.groupby("holiday")["ds"].transform(lambda d: d.dt.month.nunique())
    df = df[months > 1].drop_duplicates()
    if df.empty:
        return _empty()
    # one indicator per pattern: Good Friday and Easter Monday mostly fall in Easter's month (the same column)
    pattern = df.groupby("holiday", sort=False)["ds"].agg(lambda d: tuple(sorted(d)))
    df = df[df["holiday"].isin(pattern[~pattern.duplicated()].index)]
    return df.drop_duplicates().sort_values(["ds", "holiday"]).reset_index(drop=True)[list(HOLIDAY_COLUMNS)]


def bucket_kind(periods: pd.DatetimeIndex) -> str | None:
    """'week' when consecutive periods are 7 days apart, 'month' when they are consecutive month starts, else None."""
    p = pd.DatetimeIndex(periods)
    if len(p) < 2:
        return None
    days = np.asarray(p.values, dtype="datetime64[D]").astype(np.int64)
    if bool((np.diff(days) == 7).all()):
        return "week"
    months = p.year * 12 + p.month
    if bool((p.day == 1).all()) and bool((np.diff(np.asarray(months)) == 1).all()):
        return "month"
    return None


def prophet_holidays(country: str | None, periods: pd.DatetimeIndex,
                     future: pd.DatetimeIndex) -> pd.DataFrame | None:
    """Prophet's holidays frame for a history at `periods` forecasting `future` (None: no holidays apply)."""
    if not country:
        return None
    kind = bucket_kind(periods)
    if kind is None:
        return None
    last = future[-1] if len(future) else periods[-1]
    years = range(pd.Timestamp(periods[0]).year, pd.Timestamp(last).year + 1)
    df = weekly_holidays(country, years, anchor_of(periods)) if kind == "week" else monthly_holidays(country, years)
    return None if df.empty else df
