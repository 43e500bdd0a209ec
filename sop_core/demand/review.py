"""The demand review's answers: consensus against last year and the annual plan, and filtered series.

Frames used here:
- history: demand_history columns (series_id, sku, region, family, period, quantity, revenue)
- statistical: forecast frame (series_id, sku, region, family, period, value, lower, upper, model)
- consensus: consensus frame (sku, region, family, period, statistical, consensus, overridden)
- budget: the `plan` contract table (period, family, sku, region, volume_plan, revenue_plan, margin_plan)
- metrics: the forecast run's per-series metrics (forecast.METRIC_COLUMNS; `flags` is what `flagged` reads)

A series is "flagged for review" (FLAGGED_MEANING) when its backtest says the forecast needs a
planner's eye: the seasonal naive forecast beat the model (forecast.FLAG_NAIVE_BEATS) or the
tracking signal shows a bias (forecast.FLAG_TS). A series without a backtest (FLAG_NO_BACKTEST)
cannot be judged and is not flagged. The Cycle overview and the Demand review both count with `flagged`.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from sop_core.demand import metrics
from sop_core.demand.forecast import FLAG_NAIVE_BEATS, FLAG_TS
from sop_core.periods import next_period, period_start

REVIEW_FLAGS: tuple[str, ...] = (FLAG_NAIVE_BEATS, FLAG_TS)
FLAGGED_MEANING = "forecast worse than last year's pattern, or biased"


@dataclass(frozen=True)
class Scope:
    """A family / region / sku filter (None = all)."""

    family: str | None = None
    region: str | None = None
    sku: str | None = None

    def mask(self, frame: pd.DataFrame) -> pd.Series:
        """Rows of `frame` inside the scope."""
        m = pd.Series(True, index=frame.index)
        for col in ("family", "region", "sku"):
            value = getattr(self, col)
            if value is not None and col in frame.columns:
                m &= frame[col] == value
        return m

    def label(self) -> str:
        """'Tents · North' or 'All products'."""
        parts = [v for v in (self.sku, self.family if self.sku is None else None, self.region) if v]
        return " · ".join(parts) if parts else "All products"


@dataclass(frozen=True)
class DemandHeadline:
    """Consensus for the next buckets (12 months, or up to 52 weeks) against as many past ones and the annual plan.

    The `*_12` names are the default window's; `periods` and `bucket` say what the window is.
    """

    next_12: float
    last_12: float
    vs_last_12: float | None  # fraction
    statistical_next_12: float
    plan_next_12: float | None  # volume plan over the same 12 buckets (None when not in the plan table)
    vs_plan: float | None
    first_period: pd.Timestamp | None
    last_period: pd.Timestamp | None
    periods: int = 12  # buckets in the window
    bucket: str = "month"

    @property
    def window(self) -> str:
        """'next 12 months', 'next 18 weeks'."""
        return f"next {self.periods} {self.bucket}{'s' if self.periods != 1 else ''}"

    @property
    def past_window(self) -> str:
        """'last 12 months', 'last 18 weeks'."""
        return f"last {self.periods} {self.bucket}{'s' if self.periods != 1 else ''}"


WINDOW = {"month": 12, "week": 52}  # the headline's window: a year of buckets, cut to the horizon


def headline(history: pd.DataFrame, consensus: pd.DataFrame, budget: pd.DataFrame | None,
             last_actual: pd.Timestamp, scope: Scope = Scope(), periods: int | None = None,
             bucket: str = "month", horizon: int | None = None) -> DemandHeadline:
    """Consensus units over the next `periods` buckets against the last `periods` and the volume plan.

    `periods` defaults to a year of buckets (`WINDOW`), cut to the forecast `horizon` so the window
    never sums past the plan's end.
    """
    if periods is None:
        periods = WINDOW[bucket] if horizon is None else min(WINDOW[bucket], int(horizon))
    first = next_period(last_actual, bucket)
    end = next_period(first, bucket, n=periods)
    start_hist = next_period(last_actual, bucket, n=-(periods - 1))
    c = consensus[scope.mask(consensus) & (consensus["period"] >= first) & (consensus["period"] < end)]
    h = history[scope.mask(history) & (history["period"] >= start_hist) & (history["period"] <= last_actual)]
    nxt, last = float(c["consensus"].sum()), float(h["quantity"].sum())
    plan = None
    if budget is not None and len(budget) and budget["volume_plan"].notna().any():
        b = budget[(pd.to_datetime(budget["period"]) >= first) & (pd.to_datetime(budget["period"]) < end)]
        if scope.sku is None:
            for col in ("family", "region"):
                value = getattr(scope, col)
                if value is not None:
                    b = b[b[col] == value] if b[col].notna().any() else b.iloc[0:0]
        else:
            b = b[b["sku"] == scope.sku]
        covered = pd.to_datetime(b["period"]).nunique()
        plan = float(b["volume_plan"].sum()) if covered == periods else None
    return DemandHeadline(
        next_12=nxt, last_12=last, vs_last_12=(nxt / last - 1) if last > 0 else None,
        statistical_next_12=float(c["statistical"].sum()), plan_next_12=plan,
        vs_plan=(nxt / plan - 1) if plan else None,
        first_period=pd.Timestamp(c["period"].min()) if len(c) else None,
        last_period=pd.Timestamp(c["period"].max()) if len(c) else None,
        periods=periods, bucket=bucket,
    )


def chart_series(history: pd.DataFrame, statistical: pd.DataFrame, consensus: pd.DataFrame,
                 scope: Scope = Scope()) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Scope totals per period: (history: period, quantity), (statistical: period, value, lower, upper),
    (consensus: period, consensus, statistical)."""
    h = history[scope.mask(history)].groupby("period", as_index=False)["quantity"].sum()
    s = (statistical[scope.mask(statistical)].groupby("period", as_index=False)[["value", "lower", "upper"]].sum())
    c = consensus[scope.mask(consensus)].groupby("period", as_index=False)[["consensus", "statistical"]].sum()
    return h, s, c


def edit_grid(consensus: pd.DataFrame, scope: Scope, periods: list[pd.Timestamp]) -> pd.DataFrame:
    """Consensus units per sku (rows) × period (columns) in the scope, for the unit-edit table."""
    c = consensus[scope.mask(consensus) & consensus["period"].isin(periods)]
    grid = c.pivot_table(index="sku", columns="period", values="consensus", aggfunc="sum").reindex(columns=periods)
    return grid.fillna(0.0).round(0)


ACCURACY_MONTHS = 12  # the window of the accuracy every page quotes (the scorecard's 12 months)


def recent_points(points: pd.DataFrame, months: int = ACCURACY_MONTHS) -> tuple[pd.DataFrame, str]:
    """The held-out points whose period falls in the last `months` calendar months of the points, and that window
    in words ('Dec 2025 – Nov 2026'): the scorecard's accuracy covers the same points (kpis.accuracy_kpis).

    points: backtest points with a period column (any bucket); ('', empty) when there are none.
    """
    if points is None or len(points) == 0:
        return points.iloc[0:0] if points is not None else pd.DataFrame(), ""
    month = period_start(points["period"]).to_numpy()
    last = pd.Timestamp(month.max())
    first = last - pd.DateOffset(months=months - 1)
    keep = (month >= first) & (month <= last)
    span = f"{last:%b %Y}" if first == last else f"{first:%b %Y} – {last:%b %Y}"
    return points[keep], span


def recent_accuracy(points: pd.DataFrame | None, scope: Scope = Scope(),
                    by: tuple[str, ...] = ()) -> tuple[pd.DataFrame, str]:
    """The accuracy the Demand review quotes: `metrics.summarise` by `by` of the scope's held-out points of the last
    12 months (`recent_points`), and that window in words; (empty frame, '') when there are none.
    """
    if points is None or len(points) == 0:
        return pd.DataFrame(), ""
    recent, window = recent_points(points[scope.mask(points)])
    return (metrics.summarise(recent, list(by)) if len(recent) else pd.DataFrame()), window


def flagged(metrics: pd.DataFrame) -> pd.Series:
    """True for each metrics row flagged for review (a flag of REVIEW_FLAGS in its '; '-joined `flags`)."""
    if "flags" not in metrics.columns:
        raise ValueError("the forecast metrics have no 'flags' column: rerun the forecast")
    parts = metrics["flags"].fillna("").astype(str).str.split("; ")
    return parts.map(lambda flags: any(f in REVIEW_FLAGS for f in flags)).astype(bool)
