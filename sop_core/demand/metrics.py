"""Forecast accuracy metrics, exactly as the S&OP primer defines them.

Sign convention: error e = F − A (forecast minus actual); a positive bias means over-forecasting.
A and F are summed over the population being measured. Pairs where the actual or the forecast is
missing (NaN) are left out. When ΣA = 0 a ratio to ΣA is undefined and the functions return NaN
(never inf, never an exception).

`summarise(points, by)` turns backtest points (columns actual, forecast, naive and optionally
scale, origin, period, series_id) into one row per group: wape, accuracy, bias, mase,
tracking_signal, wape_seasonal_naive, fva, n.

Tracking signal: the windowed signal demand planners use, TS = Σe / MAD with MAD = mean|e|, both
over the same most recent TS_WINDOW periods (the primer's running sum of errors, over a window).
N = 6 buckets: 6 months on the monthly plan (6 weeks on weekly buckets), the short end of the usual
6–12 month practice, so a bias that began this half-year shows. |TS| ≤ N always, and |TS| > 4 over
6 periods needs |Σe| > ⅔ Σ|e|: errors mostly of one sign. Over a long window the signal flags mere
noise: over 18 periods |TS| > 4 needs only |Σe| > 22% of Σ|e|. In a backtest each period's error
is that of its latest forecast (the most recent origin that forecast it: the shortest lead the
backtest has), so the window holds one error per period.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

TS_REVIEW_THRESHOLD = 4.0
TS_WINDOW = 6  # periods (buckets) in the tracking signal: 6 months on the monthly plan

FORMULAS: dict[str, str] = {
    "error": "e = F − A (forecast minus actual; positive = over-forecast)",
    "wape": "WAPE = Σ|F − A| / ΣA",
    "accuracy": "Forecast accuracy = 1 − WAPE (can go below 0)",
    "mape": "MAPE = mean(|F − A| / A) over rows with A > 0 (A = 0 rows are skipped and counted)",
    "bias": "Bias % = Σ(F − A) / ΣA (positive = over-forecasting)",
    "tracking_signal": (f"Tracking signal = Σe / MAD over the last {TS_WINDOW} periods, MAD = mean|e| over the "
                        f"same {TS_WINDOW} periods; e of each period from its latest backtest forecast (review the "
                        f"series when |TS| > {TS_REVIEW_THRESHOLD:g})"),
    "mase": "MASE = MAE / MAE of the seasonal naive forecast on the training data (< 1 beats naive)",
    "wape_seasonal_naive": "WAPE of the seasonal naive forecast (same bucket last season) on the same points",
    "fva": "Forecast value added = error(previous step) − error(this step), here WAPE(seasonal naive) − WAPE(model)",
    "held_out": ("Accuracy shown = held-out error of the whole procedure: at each past cut-off the model (or "
                 "combination) is chosen from earlier cut-offs only, fitted on the data up to that cut-off, and scored "
                 "on the buckets that followed; model choice included, no bucket scored by a choice that saw it "
                 "(the first cut-off, with no earlier evidence to choose from, only informs the later choices)"),
    "selection_score": ("Selection score = WAPE of the chosen model on the same backtest buckets it was chosen on: "
                        "optimistic, used to choose, never reported as accuracy"),
}

SUMMARY_COLUMNS: tuple[str, ...] = (
    "wape", "accuracy", "bias", "mase", "tracking_signal", "wape_seasonal_naive", "fva", "n",
)


class MapeResult(NamedTuple):
    """MAPE over the A > 0 rows and the number of A = 0 rows skipped."""

    value: float
    skipped: int


def _pairs(actual: ArrayLike, forecast: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Float arrays of the pairs where both actual and forecast are finite."""
    a = np.asarray(actual, dtype=float).ravel()
    f = np.asarray(forecast, dtype=float).ravel()
    if a.shape != f.shape:
        raise ValueError(f"actual and forecast differ in length ({a.size} vs {f.size})")
    ok = np.isfinite(a) & np.isfinite(f)
    return a[ok], f[ok]


def _ratio(num: float, den: float) -> float:
    """num / den, NaN when den is 0 (or not positive)."""
    return float(num / den) if den > 0 else float("nan")


def wape(actual: ArrayLike, forecast: ArrayLike) -> float:
    """WAPE = Σ|F − A| / ΣA; NaN when ΣA = 0."""
    a, f = _pairs(actual, forecast)
    return _ratio(np.abs(f - a).sum(), a.sum())


def accuracy(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Forecast accuracy = 1 − WAPE; NaN when ΣA = 0."""
    return 1.0 - wape(actual, forecast)


def mape(actual: ArrayLike, forecast: ArrayLike) -> MapeResult:
    """MAPE = mean(|F − A| / A) over A > 0; returns (value, number of A = 0 rows skipped)."""
    a, f = _pairs(actual, forecast)
    pos = a > 0
    skipped = int((~pos).sum())
    value = float(np.mean(np.abs(f[pos] - a[pos]) / a[pos])) if pos.any() else float("nan")
    return MapeResult(value, skipped)


def bias(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Bias % = Σ(F − A) / ΣA (positive = over-forecasting); NaN when ΣA = 0."""
    a, f = _pairs(actual, forecast)
    return _ratio((f - a).sum(), a.sum())


def tracking_signal(actual: ArrayLike, forecast: ArrayLike, window: int | None = TS_WINDOW) -> float:
    """Tracking signal = Σe / MAD, MAD = mean|e|, over the last `window` pairs (in time order; None = all).

    0 when every error in the window is 0, NaN with no points.
    """
    a, f = _pairs(actual, forecast)
    if window is not None:
        if window < 1:
            raise ValueError(f"window must be at least 1 period, got {window}")
        a, f = a[-window:], f[-window:]
    if a.size == 0:
        return float("nan")
    e = f - a
    mad = np.abs(e).mean()
    return float(e.sum() / mad) if mad > 0 else 0.0


def _ts_errors(df: pd.DataFrame, e: pd.Series, grp_keys: list[str], window: int | None) -> pd.DataFrame:
    """Errors entering each group's tracking signal: grp_keys, _t (period), e, for the last `window` periods.

    Per series (series_id when the points have it) and period, the latest origin's error; then
    summed per group and period; then the group's most recent `window` periods.
    """
    ident = grp_keys + (["series_id"] if "series_id" in df and "series_id" not in grp_keys else [])
    rows = df[ident].copy()
    rows["e"] = e.to_numpy()
    rows["_t"] = df["period"].to_numpy() if "period" in df else np.arange(len(df))
    if "origin" in df:
        rows["_o"] = df["origin"].to_numpy()
        latest = rows.groupby(ident + ["_t"], dropna=False)["_o"].transform("max")
        rows = rows[(rows["_o"] == latest).to_numpy()]
    per_period = rows.groupby(grp_keys + ["_t"], dropna=False, sort=False)["e"].sum().reset_index()
    per_period = per_period.sort_values("_t", kind="stable")
    if window is not None:
        per_period = per_period.groupby(grp_keys, dropna=False, sort=False).tail(window)
    return per_period


def naive_scale(insample: ArrayLike, season_length: int) -> float:
    """MAE of the in-sample seasonal naive forecast (lag m; lag 1 when history < m + 1); NaN if undefined."""
    y = np.asarray(insample, dtype=float).ravel()
    y = y[np.isfinite(y)]
    lag = season_length if season_length >= 1 and y.size >= season_length + 1 else 1
    if y.size < lag + 1:
        return float("nan")
    scale = float(np.abs(y[lag:] - y[:-lag]).mean())
    return scale if scale > 0 else float("nan")


def mase(actual: ArrayLike, forecast: ArrayLike, insample: ArrayLike, season_length: int) -> float:
    """MASE = MAE / MAE of the in-sample seasonal naive; NaN when that scale is 0 or undefined."""
    a, f = _pairs(actual, forecast)
    scale = naive_scale(insample, season_length)
    if a.size == 0 or not np.isfinite(scale):
        return float("nan")
    return float(np.abs(f - a).mean() / scale)


def fva(prev_error: ArrayLike | float, this_error: ArrayLike | float) -> np.ndarray | float:
    """Forecast value added = error(previous step) − error(this step); positive = this step helped."""
    out = np.asarray(prev_error, dtype=float) - np.asarray(this_error, dtype=float)
    return float(out) if out.ndim == 0 else out


def summarise(points: pd.DataFrame, by: Sequence[str] | str | None = None,
              ts_window: int | None = TS_WINDOW) -> pd.DataFrame:
    """Per-group metrics of backtest points.

    Input columns: actual, forecast, naive (seasonal naive forecast of the same point); optional
    scale (the in-sample seasonal naive MAE of the point's training window, for MASE), and origin,
    period and series_id (for the tracking signal). Output: the `by` columns, then wape, accuracy,
    bias, mase, tracking_signal, wape_seasonal_naive, fva (= wape_seasonal_naive − wape), n (points
    used). `by` empty or None gives one total row. MASE is the mean of |e| / scale over the points.
    The tracking signal is windowed: Σe / MAD over the group's last `ts_window` periods (None =
    every period), each period's error taken from its latest origin per series (every point when
    there is no origin column; row order when there is no period column), then summed over the
    group per period (so a family's signal is that of its total, not a sum over its skus' points).
    """
    if ts_window is not None and ts_window < 1:
        raise ValueError(f"ts_window must be at least 1 period, got {ts_window}")
    keys = [by] if isinstance(by, str) else list(by or [])
    df = points.copy()
    df = df[np.isfinite(df["actual"].astype(float)) & np.isfinite(df["forecast"].astype(float))]
    grp_keys = keys or ["_all"]
    if not keys:
        df["_all"] = 0
    a = df["actual"].astype(float)
    f = df["forecast"].astype(float)
    naive = df["naive"].astype(float) if "naive" in df else pd.Series(np.nan, index=df.index)
    scale = df["scale"].astype(float) if "scale" in df else pd.Series(np.nan, index=df.index)
    scale = scale.where(scale > 0)
    work = pd.DataFrame({k: df[k] for k in grp_keys})
    work["a"] = a
    work["abs_e"] = (f - a).abs()
    work["e"] = f - a
    naive_ok = naive.notna()
    work["a_naive"] = a.where(naive_ok, 0.0)
    work["abs_naive"] = (naive - a).abs().where(naive_ok, 0.0)
    work["n_naive"] = naive_ok.astype(int)
    work["scaled"] = work["abs_e"] / scale
    per_period = _ts_errors(df, work["e"], grp_keys, ts_window)
    per_period["abs_e"] = per_period["e"].abs()
    ts = per_period.groupby(grp_keys, dropna=False).agg(ts_sum=("e", "sum"), ts_mad=("abs_e", "mean"))
    g = work.groupby(grp_keys, dropna=False, sort=True)
    out = g.agg(
        sum_a=("a", "sum"), sum_abs=("abs_e", "sum"), sum_e=("e", "sum"),
        sum_a_naive=("a_naive", "sum"), sum_abs_naive=("abs_naive", "sum"), n_naive=("n_naive", "sum"),
        mase=("scaled", "mean"), n=("a", "size"),
    )
    out = out.join(ts, how="left").reset_index()
    den = out["sum_a"].where(out["sum_a"] > 0)
    out["wape"] = out["sum_abs"] / den
    out["accuracy"] = 1.0 - out["wape"]
    out["bias"] = out["sum_e"] / den
    naive_den = out["sum_a_naive"].where((out["sum_a_naive"] > 0) & (out["n_naive"] > 0))
    out["wape_seasonal_naive"] = out["sum_abs_naive"] / naive_den
    out["fva"] = out["wape_seasonal_naive"] - out["wape"]
    ts = out["ts_sum"] / out["ts_mad"].where(out["ts_mad"] > 0)
    out["tracking_signal"] = ts.where(out["ts_mad"] > 0, np.where(out["ts_mad"] == 0, 0.0, np.nan))
    out["n"] = out["n"].astype("int64")
    return out[keys + list(SUMMARY_COLUMNS)]
