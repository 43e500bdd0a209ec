"""Forecast accuracy metrics, exactly as the S&OP primer defines them.

Sign convention: error e = F − A (forecast minus actual); a positive bias means over-forecasting.
A and F are summed over the population being measured. Pairs where the actual or the forecast is
missing (NaN) are left out. When ΣA = 0 a ratio to ΣA is undefined and the functions return NaN
(never inf, never an exception).

`summarise(points, by)` turns backtest points (columns actual, forecast, naive and optionally
scale, origin) into one row per group: wape, accuracy, bias, mase, tracking_signal,
wape_seasonal_naive, fva, n.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

FORMULAS: dict[str, str] = {
    "error": "e = F − A (forecast minus actual; positive = over-forecast)",
    "wape": "WAPE = Σ|F − A| / ΣA",
    "accuracy": "Forecast accuracy = 1 − WAPE (can go below 0)",
    "mape": "MAPE = mean(|F − A| / A) over rows with A > 0 (A = 0 rows are skipped and counted)",
    "bias": "Bias % = Σ(F − A) / ΣA (positive = over-forecasting)",
    "tracking_signal": "Tracking signal = Σe / MAD, MAD = mean|e| (review the series when |TS| > 4)",
    "mase": "MASE = MAE / MAE of the seasonal naive forecast on the training data (< 1 beats naive)",
    "wape_seasonal_naive": "WAPE of the seasonal naive forecast (same bucket last season) on the same points",
    "fva": "Forecast value added = error(previous step) − error(this step), here WAPE(seasonal naive) − WAPE(model)",
}

TS_REVIEW_THRESHOLD = 4.0
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


def tracking_signal(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Tracking signal = Σe / MAD with MAD = mean|e|; 0 when every error is 0, NaN with no points."""
    a, f = _pairs(actual, forecast)
    if a.size == 0:
        return float("nan")
    e = f - a
    mad = np.abs(e).mean()
    return float(e.sum() / mad) if mad > 0 else 0.0


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


def summarise(points: pd.DataFrame, by: Sequence[str] | str | None = None) -> pd.DataFrame:
    """Per-group metrics of backtest points.

    Input columns: actual, forecast, naive (seasonal naive forecast of the same point); optional
    scale (the in-sample seasonal naive MAE of the point's training window, for MASE) and origin.
    Output: the `by` columns, then wape, accuracy, bias, mase, tracking_signal,
    wape_seasonal_naive, fva (= wape_seasonal_naive − wape), n (points used). `by` empty or None
    gives one total row. MASE is the mean of |e| / scale over the points. The tracking signal runs
    over the most recent origin of each group (the forecast made one horizon ago, tracked against
    the actuals since; all points when there is no origin column), on the group's errors summed
    per period (so a family's signal is that of its total, not a sum over its skus' points).
    """
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
    if "origin" in df:
        latest = df.groupby(grp_keys, dropna=False)["origin"].transform("max")
        in_ts = (df["origin"] == latest).to_numpy()
    else:
        in_ts = np.ones(len(df), dtype=bool)
    ts_rows = work.loc[in_ts, grp_keys + ["e"]].copy()
    ts_rows["_t"] = df.loc[in_ts, "period"].to_numpy() if "period" in df else np.arange(int(in_ts.sum()))
    per_period = ts_rows.groupby(grp_keys + ["_t"], dropna=False, sort=False)["e"].sum().reset_index()
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
