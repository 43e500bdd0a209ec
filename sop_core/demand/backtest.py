"""Rolling-origin backtest plan and helpers; the honest replay of the procedure is in selection.py.

A plan (`plan_backtest`) sets cut-offs shared by every series: the last one leaves `horizon`
buckets after it to the last actual, earlier ones are `step` buckets before (default: the
horizon, so the windows do not overlap). The horizon is the planning horizon capped by the
history, so the earliest cut-off keeps `min_train` buckets (a season + 1) of
the longest series; a series shorter than that at a cut-off sits that origin out.

Points frame (`POINT_COLUMNS`): series_id, origin (cut-off = last training bucket), step
(1..horizon), period, actual, forecast, naive (seasonal naive fitted on the same training
window), scale (in-sample seasonal naive MAE of that window, for MASE), model. In a stored
forecast run the points are the procedure's (selection.replay): at each origin the forecast of
the model chosen with the data before that origin only, so their error is an out-of-sample
accuracy of the whole procedure, model choice included.

`backtest_series`, `choose` and `select` are the single-candidate backtest against seasonal
naive (a candidate kept when strictly better on the same points): their WAPE is a selection
score, not an accuracy; benchmarks and tests use them, the forecast run does not.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sop_core.demand import metrics
from sop_core.demand.models import HISTORY_COLUMNS, INTERVAL_WIDTH, MODEL_LABELS, InvalidSeries, Model, SeasonalNaive

POINT_COLUMNS: tuple[str, ...] = (
    "series_id", "origin", "step", "period", "actual", "forecast", "naive", "scale", "model",
)
CHOICE_COLUMNS: tuple[str, ...] = (
    "series_id", "model", "candidate", "reason", "wape_candidate", "wape_naive", "n_origins",
)
NAIVE = SeasonalNaive.name
MIN_BAND_POINTS = 8
MODES: tuple[str, ...] = ("auto", "prophet")


@dataclass(frozen=True)
class BacktestPlan:
    """Cut-offs (last training bucket of each origin, oldest first), horizon, and the rules used."""

    cutoffs: tuple[pd.Timestamp, ...]
    horizon: int
    step: int
    min_train: int
    note: str = ""

    @property
    def origins(self) -> int:
        """Number of origins."""
        return len(self.cutoffs)


def plan_backtest(last_period: pd.Timestamp, n_periods: int, horizon: int, season_length: int, freq: str,
                  origins: int = 3, step: int | None = None, min_train: int | None = None) -> BacktestPlan:
    """Cut-offs for a history of `n_periods` buckets ending at `last_period` (the longest series).

    The backtest horizon is the planning horizon, capped by the history. By default origins are a
    horizon apart, so their windows do not overlap and every point scores a different bucket; when
    the history holds fewer than two such windows, the step shrinks to fit two origins, or, when
    even that fails, the horizon halves (the note says so). The earliest cut-off keeps two seasons
    of training when that still leaves as many origins, windows overlapping by at most half (seasonal
    models need two seasons, and
    accuracy measured on one-season fits would understate the forecast made from the full history);
    otherwise a season + 1. `min_train` (a season + 1) is what a series needs to take part.
    """
    if min_train is None and step is None:
        k = max(1, int(origins))
        wide = _plan(last_period, n_periods, horizon, freq, origins, None, 2 * season_length)
        base = _plan(last_period, n_periods, horizon, freq, origins, None, season_length + 1)
        if (wide.origins and wide.origins >= min(k, base.origins) and wide.horizon == base.horizon
                and 2 * wide.step >= wide.horizon):
            return BacktestPlan(wide.cutoffs, wide.horizon, wide.step, season_length + 1, wide.note)
        return base
    return _plan(last_period, n_periods, horizon, freq, origins, step,
                 season_length + 1 if min_train is None else int(min_train))


def _plan(last_period: pd.Timestamp, n_periods: int, horizon: int, freq: str, origins: int, step: int | None,
          min_train: int) -> BacktestPlan:
    """plan_backtest with the earliest cut-off keeping `min_train` buckets."""
    k = max(1, int(origins))
    unit = "months" if str(freq).upper().startswith("M") else "weeks"
    h = min(int(horizon), n_periods - min_train)
    if h < 1:
        return BacktestPlan((), 0, 1 if step is None else max(1, int(step)), min_train,
                            f"no backtest: {n_periods} {unit} of history, at least {min_train + 1} needed")
    if step is None and k >= 2 and n_periods - min_train - h < 1 and (n_periods - min_train) // 2 >= 1:
        h = (n_periods - min_train) // 2  # two shorter windows beat one: the choice needs earlier evidence
    room = n_periods - min_train - h  # buckets the earliest cut-off can move back
    notes = []
    if step is None:
        step = h
        if k >= 2 and room < h and room >= 1:
            step = room
            notes.append(f"accuracy tested from cut-offs {step} {unit} apart, so the test windows overlap "
                         f"({n_periods} {unit} of history)")
    step = max(1, int(step))
    fit = min(k, 1 + room // step)
    timeline = pd.date_range(end=pd.Timestamp(last_period), periods=n_periods, freq=freq)
    cutoffs = tuple(timeline[n_periods - 1 - h - j * step] for j in reversed(range(fit)))
    if h < int(horizon):
        notes.append(f"accuracy tested {h} of {horizon} {unit} ahead: capped at {h} by {n_periods} {unit} of history")
    if fit < k:
        notes.append(f"{fit} cut-off{'s' if fit != 1 else ''} instead of {k}")
    return BacktestPlan(cutoffs, h, step, min_train, "; ".join(notes))


def backtest_series(series_id: str, periods: pd.DatetimeIndex, y: np.ndarray, candidate: Model,
                    plan: BacktestPlan, season_length: int) -> pd.DataFrame:
    """Backtest points (POINT_COLUMNS) of one series: the candidate and seasonal naive at each origin."""
    periods = pd.DatetimeIndex(periods)
    y = np.asarray(y, dtype=float)
    naive_model = SeasonalNaive(season_length)
    frames = []
    for cutoff in plan.cutoffs:
        n_train = int(periods.searchsorted(cutoff, side="right"))
        if n_train < plan.min_train or n_train + plan.horizon > len(y) or periods[n_train - 1] != cutoff:
            continue
        train, test = y[:n_train], y[n_train:n_train + plan.horizon]
        future = periods[n_train:n_train + plan.horizon]
        try:
            value, _, _ = candidate.predict(train, periods[:n_train], future)
        except (InvalidSeries, RuntimeError, ValueError):
            continue  # e.g. a constant training window or a failed optimisation: this origin sits out
        naive, _, _ = naive_model.predict(train, periods[:n_train], future)
        frames.append(pd.DataFrame({
            "series_id": series_id, "origin": cutoff, "step": np.arange(1, plan.horizon + 1), "period": future,
            "actual": test, "forecast": value, "naive": naive,
            "scale": metrics.naive_scale(train, season_length), "model": candidate.name,
        }))
    if not frames:
        return empty_points()
    return pd.concat(frames, ignore_index=True)[list(POINT_COLUMNS)]


def backtest(history: pd.DataFrame, candidate: Model, horizon: int, season_length: int, freq: str,
             origins: int = 3, step: int | None = None) -> tuple[pd.DataFrame, BacktestPlan]:
    """Backtest one candidate model on every series of a long history (series_id, period, y), serially."""
    missing = [c for c in HISTORY_COLUMNS if c not in history.columns]
    if missing:
        raise ValueError(f"history is missing column(s) {', '.join(missing)}")
    lengths = history.groupby("series_id").size()
    plan = plan_backtest(history["period"].max(), int(lengths.max()) if len(lengths) else 0, horizon,
                         season_length, freq, origins, step)
    frames = [
        backtest_series(str(sid), pd.DatetimeIndex(part["period"]), part["y"].to_numpy(dtype=float), candidate,
                        plan, season_length)
        for sid, part in history.sort_values(["series_id", "period"]).groupby("series_id", sort=True)
    ]
    frames = [f for f in frames if len(f)]
    return (pd.concat(frames, ignore_index=True) if frames else empty_points()), plan


def empty_points() -> pd.DataFrame:
    """An empty points frame with the right columns and dtypes."""
    return pd.DataFrame({
        "series_id": pd.Series(dtype=object), "origin": pd.Series(dtype="datetime64[ns]"),
        "step": pd.Series(dtype="int64"), "period": pd.Series(dtype="datetime64[ns]"),
        "actual": pd.Series(dtype=float), "forecast": pd.Series(dtype=float), "naive": pd.Series(dtype=float),
        "scale": pd.Series(dtype=float), "model": pd.Series(dtype=object),
    })


def _pct(x: float) -> str:
    """A fraction as a whole percentage, or 'n/a'."""
    return f"{x:.0%}" if np.isfinite(x) else "n/a"


def choose(points: pd.DataFrame, candidate: str, mode: str = "auto", prefix: str = "",
           no_backtest: str = "") -> tuple[str, str, float, float, int]:
    """Pick the model of one series from its points: (model, reason, wape_candidate, wape_naive, n_origins)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    label = MODEL_LABELS.get(candidate, candidate)
    lead = f"{prefix}; " if prefix else ""
    if points.empty:
        return candidate, f"{prefix or label}; {no_backtest or 'no backtest: history too short'}", np.nan, np.nan, 0
    w_c = metrics.wape(points["actual"], points["forecast"])
    w_n = metrics.wape(points["actual"], points["naive"])
    k = int(points["origin"].nunique())
    on = f"on {k} origin{'s' if k != 1 else ''}"
    if candidate == NAIVE:
        return NAIVE, f"{lead}seasonal naive WAPE {_pct(w_n)} {on}", w_c, w_n, k
    if not (np.isfinite(w_c) and np.isfinite(w_n)):
        return candidate, f"{lead}{label}: no demand in the backtest windows {on}", w_c, w_n, k
    if mode == "prophet":
        return candidate, (f"{lead}{label} (forced by setting): WAPE {_pct(w_c)} vs seasonal naive "
                           f"{_pct(w_n)} {on}"), w_c, w_n, k
    if w_c < w_n:
        return candidate, f"{lead}{label} WAPE {_pct(w_c)} vs seasonal naive {_pct(w_n)} {on}", w_c, w_n, k
    return NAIVE, (f"{lead}seasonal naive WAPE {_pct(w_n)} vs {label} {_pct(w_c)} {on}: "
                   "seasonal naive kept"), w_c, w_n, k


def select(points: pd.DataFrame, mode: str = "auto", candidates: dict[str, str] | None = None) -> pd.DataFrame:
    """Choose per series from a points frame -> CHOICE_COLUMNS (candidates: series_id -> model name)."""
    rows = []
    for sid, part in points.groupby("series_id", sort=True):
        cand = (candidates or {}).get(sid, str(part["model"].iloc[0]))
        model, reason, w_c, w_n, k = choose(part, cand, mode)
        rows.append((sid, model, cand, reason, w_c, w_n, k))
    return pd.DataFrame(rows, columns=list(CHOICE_COLUMNS))


def chosen_points(points: pd.DataFrame, choices: pd.DataFrame) -> pd.DataFrame:
    """The points of each series' chosen model: forecast replaced by naive where seasonal naive was chosen."""
    df = points.merge(choices[["series_id", "model"]].rename(columns={"model": "chosen"}), on="series_id", how="inner")
    is_naive = df["chosen"] == NAIVE
    df["forecast"] = df["forecast"].where(~is_naive, df["naive"])
    df["model"] = df["chosen"]
    return df[list(POINT_COLUMNS)]


def residual_band(actual: np.ndarray, forecast: np.ndarray, value: np.ndarray,
                  width: float = INTERVAL_WIDTH) -> tuple[np.ndarray, np.ndarray] | None:
    """80% band around `value` from backtest errors A − F (their 10th/90th percentiles); None if < 8 points."""
    a, f = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    ok = np.isfinite(a) & np.isfinite(f)
    if ok.sum() < MIN_BAND_POINTS:
        return None
    lo, hi = np.quantile(a[ok] - f[ok], [(1 - width) / 2, (1 + width) / 2])
    v = np.asarray(value, dtype=float)
    return np.clip(v + min(lo, 0.0), 0.0, None), np.clip(v + max(hi, 0.0), 0.0, None)


def summary(points: pd.DataFrame, choices: pd.DataFrame, by: Sequence[str] = ("series_id",)) -> pd.DataFrame:
    """metrics.summarise of the chosen models' points, grouped by `by` (columns of points)."""
    return metrics.summarise(chosen_points(points, choices), list(by))
