"""The one clock of the app and the engine: what "today" is for planning.

Every planning date (the last complete month, the cycle month, the demo company's calendar,
"due date in the past", "months behind") comes from `today()`. It is the real date (UTC) unless
`$SOP_TODAY` names another one (`2027-01-15`), which is how the tests pin the calendar and how a
demo or a training session can be run "as of" a chosen day. Timestamps of events (when an
override was saved, when a file was loaded) are the real time (`workspace.utcnow`), not this.
"""
from __future__ import annotations

from datetime import date, datetime, timezone

import pandas as pd

from sop_core import config

TODAY_ENV = config.TODAY


def today() -> date:
    """Today's date for planning: $SOP_TODAY (YYYY-MM-DD) when set, else the real date in UTC."""
    text = config.today_text()
    if text:
        try:
            return date.fromisoformat(text[:10])
        except ValueError as exc:
            raise ValueError(f"${TODAY_ENV}={text!r} is not a date like 2027-01-15") from exc
    return datetime.now(timezone.utc).date()


def today_ts() -> pd.Timestamp:
    """`today()` as a midnight pandas Timestamp."""
    return pd.Timestamp(today())


def last_complete_month(on: date | None = None) -> pd.Timestamp:
    """First day of the last complete calendar month before `on` (default today): 6 Dec 2026 → 1 Nov 2026."""
    day = pd.Timestamp(on if on is not None else today())
    return (day.to_period("M") - 1).start_time
