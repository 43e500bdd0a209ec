"""The model zoo: Prophet and its fallbacks, all behind one interface and one long format.

Input history (long): series_id, period (bucket start, datetime64), y (units >= 0), one row per
series × period, periods consecutive. Output forecast (long): series_id, period, value, lower,
upper, model — `horizon` rows per series, every number clipped to >= 0, lower/upper an 80%
interval.

Every model implements `predict(y, periods, future) -> (value, lower, upper)` for one series and
inherits `forecast(history, horizon, freq)` for many. Fallbacks are models too; `choose_fallback`
says which one a series needs, and why.

Prophet configuration (`prophet_for_bucket`):
- monthly buckets: yearly seasonality with Fourier order 5 (12 points a year identify at most 6;
  order 5 scored best of 3–6 on 43 windows of 46 months of the shared real series), weekly and
  daily seasonality off; when a country is set, only the holidays that move between months
  (Easter, and the country's own: calendar.monthly_holidays) are added, on the first day of the
  month that holds them (a fixed-date holiday is part of the yearly seasonality);
- weekly buckets: yearly seasonality at Prophet's default order (10); when a country is set, its
  public holidays (the `holidays` package) are added, each on the label of the week that contains
  it (calendar.weekly_holidays; weeks keep the data's weekday, periods.py);
- interval_width 0.8, uncertainty_samples 0: Prophet's sampled intervals cost ~25–50% more per
  fit, so the model's own interval is yhat ± 1.28 σ (σ = Prophet's fitted noise scale) and the
  forecast run replaces it with the empirical 80% band of the series' backtest errors;
- optimizer 'lbfgs': Prophet picks Newton below 100 rows (all 4-year monthly histories), which is
  2.7× slower per fit (175 vs 65 ms) for the same accuracy (backtest WAPE 12.7% LBFGS vs 13.0%
  Newton on those 43 windows). `optimizer=None` keeps Prophet's own choice: that is what
  `fpp3_cement_prophet` uses to reproduce the published FPP3 §12.2 result (RMSE 247.9 vs 248).
"""
from __future__ import annotations

import logging
import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

HISTORY_COLUMNS: tuple[str, ...] = ("series_id", "period", "y")
FORECAST_COLUMNS: tuple[str, ...] = ("series_id", "period", "value", "lower", "upper", "model")
INTERVAL_WIDTH = 0.8
Z80 = 1.2815515655446004  # standard normal quantile for a central 80% interval
MONTHLY_YEARLY_ORDER = 5
WEEKLY_YEARLY_ORDER = 10
INTERMITTENT_ZERO_SHARE = 0.5
SBA_ALPHA = 0.1

Prediction = tuple[np.ndarray, np.ndarray, np.ndarray]
_ALGORITHMS = {"lbfgs": "LBFGS", "bfgs": "BFGS", "newton": "Newton"}


class InvalidSeries(ValueError):
    """A series a model cannot be fitted on; the message says why in planner's words."""


def quiet_logs() -> None:
    """Silence cmdstanpy's progress lines and Prophet's informational warnings."""
    for name in ("cmdstanpy", "prophet", "prophet.plot"):
        logger = logging.getLogger(name)
        if name == "cmdstanpy" and not logger.handlers:
            # cmdstanpy installs a DEBUG-level console handler on first use unless one exists
            logger.addHandler(logging.NullHandler())
        logger.setLevel(logging.ERROR)
    # Prophet 1.5 still uses pandas features deprecated in pandas 3.1 (inplace=True): not ours to fix
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"prophet(\..*)?$")
    warnings.filterwarnings("ignore", message=r".*inplace keyword.*deprecated", module=r"prophet(\..*)?$")


def warm_up() -> None:
    """Import Prophet and statsmodels' STL (slow the first time: 1–3 s each) so forked workers inherit them."""
    quiet_logs()
    import prophet  # noqa: F401
    import statsmodels.tsa.seasonal  # noqa: F401  (candidates.StlDamped)


def future_periods(last: pd.Timestamp, horizon: int, freq: str) -> pd.DatetimeIndex:
    """The `horizon` bucket starts after `last` at pandas frequency `freq`."""
    return pd.date_range(pd.Timestamp(last), periods=horizon + 1, freq=freq)[1:]


def validate_series(periods: pd.DatetimeIndex | pd.Series, y: np.ndarray, min_points: int = 2,
                    allow_constant: bool = True) -> str | None:
    """Why a series cannot be fitted (duplicate periods, missing values, < min_points, constant), or None."""
    p = pd.DatetimeIndex(periods)
    y = np.asarray(y, dtype=float)
    if len(p) != len(y):
        return f"{len(p)} periods but {len(y)} values"
    if p.has_duplicates:
        dup = p[p.duplicated()].unique()
        return (f"{len(dup)} duplicated period(s), e.g. {dup[0]:%Y-%m-%d}: "
                "sum the rows of a period before forecasting")
    if np.isnan(y).any():
        return f"{int(np.isnan(y).sum())} missing value(s): fill missing buckets with 0 before forecasting"
    if len(y) < min_points:
        return f"only {len(y)} bucket(s) of history: at least {min_points} needed"
    if not allow_constant and np.all(y == y[0]):
        return f"constant at {y[0]:g} in every bucket: nothing to fit"
    return None


def _clip(value: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> Prediction:
    """Clip to >= 0 and make lower <= value <= upper."""
    v = np.clip(np.asarray(value, dtype=float), 0.0, None)
    lo = np.clip(np.minimum(np.asarray(lower, dtype=float), v), 0.0, None)
    hi = np.clip(np.maximum(np.asarray(upper, dtype=float), v), 0.0, None)
    return v, lo, hi


def _normal_band(value: np.ndarray, sigma: np.ndarray | float) -> Prediction:
    """value ± z80 · sigma, clipped."""
    s = np.nan_to_num(np.asarray(sigma, dtype=float), nan=0.0)
    return _clip(value, value - Z80 * s, value + Z80 * s)


class Model(ABC):
    """A forecasting model: one series in, `horizon` buckets with an 80% interval out."""

    name: str = "model"
    label: str = "model"

    @abstractmethod
    def predict(self, y: np.ndarray, periods: pd.DatetimeIndex, future: pd.DatetimeIndex) -> Prediction:
        """Forecast the `future` bucket starts from history y at `periods`: (value, lower, upper)."""

    def forecast(self, history: pd.DataFrame, horizon: int, freq: str = "MS") -> pd.DataFrame:
        """Forecast every series of a long history (series_id, period, y) -> FORECAST_COLUMNS frame."""
        if horizon < 1:
            raise ValueError(f"horizon must be at least 1, got {horizon}")
        missing = [c for c in HISTORY_COLUMNS if c not in history.columns]
        if missing:
            raise ValueError(f"history is missing column(s) {', '.join(missing)}: expected {', '.join(HISTORY_COLUMNS)}")
        frames = []
        for sid, part in history.sort_values(["series_id", "period"]).groupby("series_id", sort=True):
            periods = pd.DatetimeIndex(part["period"])
            y = part["y"].to_numpy(dtype=float)
            problem = validate_series(periods, y, min_points=1)
            if problem:
                raise InvalidSeries(f"series {sid}: {problem}")
            future = future_periods(periods[-1], horizon, freq)
            value, lower, upper = self.predict(y, periods, future)
            frames.append(pd.DataFrame({"series_id": sid, "period": future, "value": value, "lower": lower,
                                        "upper": upper, "model": self.name}))
        if not frames:
            return pd.DataFrame({c: pd.Series(dtype="float64") for c in FORECAST_COLUMNS})
        return pd.concat(frames, ignore_index=True)[list(FORECAST_COLUMNS)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def zeros(h: int) -> Prediction:
    """A forecast of zero for `h` buckets, interval [0, 0] (no demand to forecast from)."""
    z = np.zeros(h)
    return z, z.copy(), z.copy()


class ZeroModel(Model):
    """Zeros for a series that never sold."""

    name = "zero"
    label = "zero (no sales)"

    def predict(self, y: np.ndarray, periods: pd.DatetimeIndex, future: pd.DatetimeIndex) -> Prediction:
        """All zeros, interval [0, 0]."""
        return zeros(len(future))


class NaiveModel(Model):
    """The last bucket repeated; interval widens with √h (random walk)."""

    name = "naive"
    label = "naive (last bucket)"

    def predict(self, y: np.ndarray, periods: pd.DatetimeIndex, future: pd.DatetimeIndex) -> Prediction:
        """Repeat the last value; σ from in-sample one-step changes."""
        y = np.asarray(y, dtype=float)
        h = np.arange(1, len(future) + 1)
        value = np.full(len(future), y[-1])
        sigma = _rms(np.diff(y)) if len(y) > 1 else 0.0
        return _normal_band(value, sigma * np.sqrt(h))


class SeasonalModel(Model):
    """A model with a season length (buckets per season: 12 for months, 52 for weeks)."""

    def __init__(self, season_length: int = 12) -> None:
        self.season_length = int(season_length)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(season_length={self.season_length})"


class SeasonalNaive(SeasonalModel):
    """The same bucket one season earlier (the last value when history is shorter than a season)."""

    name = "seasonal_naive"
    label = "seasonal naive"

    def predict(self, y: np.ndarray, periods: pd.DatetimeIndex, future: pd.DatetimeIndex) -> Prediction:
        """y[t + h] = y[t + h − m·k]; σ from in-sample seasonal differences, × √(seasons ahead)."""
        y = np.asarray(y, dtype=float)
        m, n, h = self.season_length, len(y), len(future)
        steps = np.arange(1, h + 1)
        if n >= m:
            value = y[n - m + (steps - 1) % m]
            sigma = _rms(y[m:] - y[:-m]) if n > m else (_rms(np.diff(y)) if n > 1 else 0.0)
            widen = np.sqrt((steps - 1) // m + 1)
        else:
            value = np.full(h, y[-1])
            sigma = _rms(np.diff(y)) if n > 1 else 0.0
            widen = np.sqrt(steps)
        return _normal_band(value, sigma * widen)


class MovingAverage(Model):
    """The mean of the last `window` buckets, flat."""

    name = "moving_average"
    label = "moving average"

    def __init__(self, window: int = 3) -> None:
        self.window = max(1, int(window))

    def predict(self, y: np.ndarray, periods: pd.DatetimeIndex, future: pd.DatetimeIndex) -> Prediction:
        """Flat mean of the last window; σ from in-sample one-step moving-average errors."""
        y = np.asarray(y, dtype=float)
        w = min(self.window, len(y))
        value = np.full(len(future), y[-w:].mean())
        if len(y) > w:
            means = np.convolve(y, np.ones(w) / w, mode="valid")[:-1]
            sigma = _rms(y[w:] - means)
        else:
            sigma = float(np.std(y, ddof=1)) if len(y) > 1 else 0.0
        return _normal_band(value, sigma * math.sqrt(1 + 1 / w))

    def __repr__(self) -> str:
        return f"MovingAverage(window={self.window})"


class CrostonSBA(Model):
    """Croston's method with the Syntetos–Boylan bias correction, for intermittent demand."""

    name = "sba"
    label = "Croston SBA (intermittent)"

    def __init__(self, alpha: float = SBA_ALPHA) -> None:
        self.alpha = float(alpha)

    def predict(self, y: np.ndarray, periods: pd.DatetimeIndex, future: pd.DatetimeIndex) -> Prediction:
        """Flat (1 − α/2)·size/interval; interval = 10th–90th percentile of the series' buckets."""
        y = np.asarray(y, dtype=float)
        h = len(future)
        nz = np.flatnonzero(y > 0)
        if nz.size == 0:
            return zeros(h)
        a = self.alpha
        size, interval, last = y[nz[0]], float(nz[0] + 1), nz[0]
        for i in nz[1:]:
            size += a * (y[i] - size)
            interval += a * ((i - last) - interval)
            last = i
        value = np.full(h, (1 - a / 2) * size / interval)
        lo, hi = np.quantile(y, [(1 - INTERVAL_WIDTH) / 2, (1 + INTERVAL_WIDTH) / 2])
        return _clip(value, np.full(h, lo), np.full(h, hi))

    def __repr__(self) -> str:
        return f"CrostonSBA(alpha={self.alpha})"


_PROPHET: Any = None


def _prophet_class() -> Any:
    """A Prophet subclass (imported once per process, logging silenced) with a fast component matrix.

    Prophet 1.5 builds the 0/1 matrix "which feature column belongs to which component" with
    pandas crosstab/concat on every fit and predict: about 40% of a monthly fit's time under
    pandas 3. `regressor_column_matrix` below builds the identical frame with plain Python (same
    index, columns, order, dtype and checks; tests/test_models.py compares it with Prophet's).
    """
    global _PROPHET
    if _PROPHET is None:
        from prophet import Prophet

        quiet_logs()

        class FastProphet(Prophet):  # type: ignore[misc, valid-type]
            """Prophet with a pandas-free regressor_column_matrix (identical output)."""

            def regressor_column_matrix(self, seasonal_features: pd.DataFrame,
                                        modes: dict[str, list[str]]) -> tuple[pd.DataFrame, dict[str, list[str]]]:
                return fast_regressor_column_matrix(self, seasonal_features, modes)

        _PROPHET = FastProphet
    return _PROPHET


def fast_regressor_column_matrix(m: Any, seasonal_features: pd.DataFrame,
                                 modes: dict[str, list[str]]) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Prophet's regressor_column_matrix without crosstab: component → feature columns, as a 0/1 frame."""
    names = [str(c).split("_delim_")[0] for c in seasonal_features.columns]
    members: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        members.setdefault(name, []).append(i)

    def add_group(name: str, group: Any) -> None:
        wanted = set(group)
        cols: list[int] = []
        for comp, idx in members.items():
            if comp in wanted:
                cols.extend(idx)
        cols = list(dict.fromkeys(cols))
        if cols:
            members.setdefault(name, []).extend(cols)

    if m.train_holiday_names is not None:
        add_group("holidays", m.train_holiday_names.unique())
    for mode in ("additive", "multiplicative"):
        add_group(mode + "_terms", modes[mode])
        add_group("extra_regressors_" + mode,
                  [r for r, props in m.extra_regressors.items() if props["mode"] == mode])
        modes[mode].append(mode + "_terms")
        modes[mode].append("extra_regressors_" + mode)
    modes[m.holidays_mode].append("holidays")
    ncol = seasonal_features.shape[1]
    # crosstab sorts the components; the two totals are appended when missing; 'zeros' is dropped
    comps = [c for c in sorted(members) if c != "zeros"]
    comps += [n for n in ("additive_terms", "multiplicative_terms") if n not in members]
    mat = np.zeros((ncol, len(comps)), dtype=np.int64)
    for j, comp in enumerate(comps):
        for i in members.get(comp, ()):
            mat[i, j] += 1
    total = mat[:, comps.index("additive_terms")] + mat[:, comps.index("multiplicative_terms")]
    if ncol and total.max() > 1:
        raise Exception("A bug occurred in seasonal components.")
    train = m.train_component_cols
    if train is not None:
        try:
            order = [comps.index(c) for c in train.columns]
        except ValueError as exc:
            raise Exception("A bug occurred in constructing regressors.") from exc
        if not np.array_equal(mat[:, order], train.to_numpy()):
            raise Exception("A bug occurred in constructing regressors.")
        return train, modes
    component_cols = pd.DataFrame(mat, index=pd.Index(np.arange(ncol), name="col"),
                                  columns=pd.Index(comps, name="component"))
    return component_cols, modes


@dataclass(frozen=True)
class ProphetModel(Model):
    """Prophet with seasonality suited to the bucket (see the module docstring)."""

    yearly_order: int | None = MONTHLY_YEARLY_ORDER  # None = Prophet's 'auto'
    seasonality_mode: str = "additive"
    holidays_country: str | None = None
    interval_width: float = INTERVAL_WIDTH
    uncertainty_samples: int = 0
    optimizer: str | None = "lbfgs"  # None = Prophet's choice (Newton below 100 rows, else LBFGS)
    changepoint_prior_scale: float = 0.05

    name = "prophet"  # type: ignore[misc]
    label = "Prophet"  # type: ignore[misc]

    def __post_init__(self) -> None:
        if self.optimizer is not None and self.optimizer.lower() not in _ALGORITHMS:
            raise ValueError(f"optimizer must be one of {', '.join(_ALGORITHMS)} or None, got {self.optimizer!r}")
        if self.seasonality_mode not in ("additive", "multiplicative"):
            raise ValueError(f"seasonality_mode must be 'additive' or 'multiplicative', got {self.seasonality_mode!r}")

    def _holidays(self, periods: pd.DatetimeIndex, future: pd.DatetimeIndex) -> pd.DataFrame | None:
        """Country holidays in the bucket that contains them (calendar.prophet_holidays: weeks, moving ones for months)."""
        from sop_core.demand.calendar import prophet_holidays

        return prophet_holidays(self.holidays_country, pd.DatetimeIndex(periods), pd.DatetimeIndex(future))

    def predict(self, y: np.ndarray, periods: pd.DatetimeIndex, future: pd.DatetimeIndex) -> Prediction:
        """Fit Prophet on the history and predict `future`; raises InvalidSeries for unfit series."""
        periods = pd.DatetimeIndex(periods)
        problem = validate_series(periods, y, min_points=2, allow_constant=False)
        if problem:
            raise InvalidSeries(problem)
        Prophet = _prophet_class()
        m = Prophet(
            growth="linear",
            yearly_seasonality=self.yearly_order if self.yearly_order is not None else "auto",
            weekly_seasonality=False,
            daily_seasonality=False,
            seasonality_mode=self.seasonality_mode,
            holidays=self._holidays(periods, future),
            interval_width=self.interval_width,
            uncertainty_samples=self.uncertainty_samples,
            changepoint_prior_scale=self.changepoint_prior_scale,
        )
        kwargs = {"algorithm": _ALGORITHMS[self.optimizer.lower()]} if self.optimizer else {}
        m.fit(pd.DataFrame({"ds": periods, "y": np.asarray(y, dtype=float)}), **kwargs)
        out = m.predict(pd.DataFrame({"ds": future}))
        value = out["yhat"].to_numpy(dtype=float)
        if self.uncertainty_samples and "yhat_lower" in out:
            return _clip(value, out["yhat_lower"].to_numpy(dtype=float), out["yhat_upper"].to_numpy(dtype=float))
        sigma = float(np.asarray(m.params["sigma_obs"]).ravel()[0]) * float(m.y_scale)
        return _normal_band(value, sigma)


def _rms(x: np.ndarray) -> float:
    """Root mean square (0 for an empty array)."""
    x = np.asarray(x, dtype=float)
    return float(np.sqrt(np.mean(x * x))) if x.size else 0.0


def prophet_for_bucket(bucket: str, seasonality_mode: str = "additive",
                       holidays_country: str | None = None) -> ProphetModel:
    """The Prophet configuration the app uses for a planning bucket ('month' or 'week')."""
    if bucket == "month":
        return ProphetModel(yearly_order=MONTHLY_YEARLY_ORDER, seasonality_mode=seasonality_mode,
                            holidays_country=holidays_country)
    if bucket == "week":
        return ProphetModel(yearly_order=WEEKLY_YEARLY_ORDER, seasonality_mode=seasonality_mode,
                            holidays_country=holidays_country)
    raise ValueError(f"unknown planning bucket {bucket!r}: use 'month' or 'week'")


def fpp3_cement_prophet() -> ProphetModel:
    """Prophet as FPP3 §12.2 fits quarterly cement: multiplicative yearly seasonality of order 2, Prophet's optimizer."""
    return ProphetModel(yearly_order=2, seasonality_mode="multiplicative", optimizer=None)


def choose_fallback(y: np.ndarray, season_length: int) -> tuple[Model | None, str]:
    """The fallback model a series needs and why, or (None, '') when a statistical model can be fitted.

    All zeros → zero; ≥ 50% zero buckets → Croston SBA; fewer than two seasonal cycles → naive
    when the last three buckets keep rising (a launch ramping up), else a moving average.
    """
    y = np.asarray(y, dtype=float)
    n, m = len(y), int(season_length)
    if n == 0 or not np.any(y > 0):
        return ZeroModel(), f"no sales in {n} bucket(s): forecast is zero"
    zero_share = float(np.mean(y <= 0))
    if zero_share >= INTERMITTENT_ZERO_SHARE:
        return CrostonSBA(), (f"intermittent demand ({zero_share:.0%} of {n} buckets are zero): "
                              "Croston SBA (average demand size ÷ average interval, bias-corrected)")
    if n < 2 * m:
        short = f"only {n} bucket(s) of history, fewer than 2 seasons of {m}"
        if n < 3:
            return NaiveModel(), f"{short}: naive (repeats the last bucket)"
        if y[-1] > y[-2] > y[-3]:
            return NaiveModel(), f"{short}, still ramping up (last 3 buckets rising): naive (repeats the last bucket)"
        window = min(n, max(3, m // 4))
        return MovingAverage(window), f"{short}: moving average of the last {window} buckets"
    return None, ""


MODEL_FACTORIES: dict[str, Callable[..., Model]] = {
    "prophet": ProphetModel,
    "seasonal_naive": SeasonalNaive,
    "naive": NaiveModel,
    "moving_average": MovingAverage,
    "sba": CrostonSBA,
    "zero": ZeroModel,
}
MODEL_LABELS: dict[str, str] = {
    "prophet": ProphetModel.label, "seasonal_naive": SeasonalNaive.label, "naive": NaiveModel.label,
    "moving_average": MovingAverage.label, "sba": CrostonSBA.label, "zero": ZeroModel.label,
    # candidates.py and intermittent.py (labels here so every layer can name them without importing those)
    "theta": "Theta", "ets_damped": "ETS damped trend", "arima": "ARIMA", "stl": "STL + damped trend",
    "mstl": "MSTL + damped trend",
    "combination": "Combination", "tsb": "TSB (intermittent)", "adida": "ADIDA (intermittent)",
}
