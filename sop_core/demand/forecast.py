"""The statistical forecast: settings, the parallel fit-and-backtest run, and its storage.

`run_forecast(ws, settings)` reads the demand history (weeks on the data's own weekday, periods.py:
the forecast's periods, backtest cut-offs, overrides and exports follow it), fills missing buckets
with zero per series (from its first sale to the last actual period, never before), gives each
series its candidate set (selection.candidate_set: Prophet, seasonal naive, Theta, damped ETS,
ARIMA, STL; Croston SBA, TSB, ADIDA for intermittent demand; short-history
fallbacks), fits every candidate at every backtest origin, replays the choice origin by origin
(selection.replay: each origin scored with the model or combination chosen from earlier origins
only, the first origin informing only), fits the forward choice on the whole
history and forecasts `horizon` buckets. Fits run in the executor's process pool, series sent in
chunks; progress is reported in series. Results are stored in the workspace under
run_key = data fingerprint (sales + products) + settings.key(); a second call with the same key
returns the stored run without refitting (`run.cached` is True), in this session or any other.

Accuracy: every metric of a run (wape, accuracy, bias, MASE, tracking signal, and what the
Demand review, scorecard, pack and `backtest --json` show) is computed on the procedure's
points, so it is the out-of-sample error of the whole procedure, model choice included.
`wape_candidate` is the selection score of the forward choice (its WAPE on the points it was
chosen on): lower than what to expect, and never shown as an accuracy.

Intervals (lower, upper): the forecast plus the 10th and 90th percentiles of the series' own
procedure backtest errors (A − F, every origin and step: out-of-sample errors), or the model's
own 80% interval when the series has fewer than 8 backtest points (`interval_source` 'backtest'
or 'model').

Level 'family': each family × region is forecast as one series and split to its skus by their
share of the family × region's last 12 buckets (evenly when those are all zero); lower/upper are
split the same way. Backtest metrics then describe the family × region series (sku is NULL).

Frames
- forecast (FORECAST_FRAME_COLUMNS): series_id, sku, region, family, period, value, lower, upper, model
- metrics (METRIC_COLUMNS): series_id, sku, region, family, model, reason, wape, accuracy, bias,
  mase, tracking_signal, wape_seasonal_naive, fva, flags ('naive beats model', '|TS|>4',
  'no backtest', joined by '; '), candidate (the chosen model or the combination's members, comma-joined),
  wape_candidate (the selection score), n_origins, n_obs, n, interval_source
- points (backtest.POINT_COLUMNS): every scored point of the procedure (model = the choice at that origin),
  with seasonal naive on the same points

Stored tables: forecast_runs, forecast_values, forecast_series, backtest_points (schema.py,
migration 010_forecast), all keyed by run_id.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sop_core.demand import metrics, selection
from sop_core.demand.backtest import (
    POINT_COLUMNS,
    BacktestPlan,
    empty_points,
    plan_backtest,
    residual_band,
)
from sop_core.demand.candidates import Combination
from sop_core.demand.executor import Executor, chunked, get_executor
from sop_core.demand.history import SERIES_SEP, demand_history
from sop_core.demand.models import (
    MODEL_LABELS,
    Model,
    NaiveModel,
    future_periods,
    warm_up,
)
from sop_core.periods import BUCKETS, PANDAS_FREQ, SEASON_LENGTH, anchor_of, bucket_freq
from sop_core.store import access
from sop_core.store.workspace import Workspace, new_id, utcnow

# 4: weeks on the data's weekday, moving holidays for months, only informed origins scored; 3: candidates and the honest
# procedure backtest (selection.py); 2: windowed tracking signal
ENGINE_VERSION = "4"
LEVELS: tuple[str, ...] = ("sku", "family")
MODES: tuple[str, ...] = ("auto", "prophet")
SEASONALITY_MODES: tuple[str, ...] = ("additive", "multiplicative")
HORIZON_RANGE: tuple[int, int] = (6, 78)  # buckets; months stop at HORIZON_MAX_MONTHS
HORIZON_MAX_MONTHS = 24  # 78 weeks plan 18 months weekly; 24 months is the monthly plan's reach
INACTIVE_RANGE: tuple[int, int] = (3, 104)
SHARE_BUCKETS = 12
KEEP_RUNS = 20
SETTINGS_KEY = "forecast_settings"
FORECAST_FRAME_COLUMNS: tuple[str, ...] = (
    "series_id", "sku", "region", "family", "period", "value", "lower", "upper", "model",
)
METRIC_COLUMNS: tuple[str, ...] = (
    "series_id", "sku", "region", "family", "model", "reason", "wape", "accuracy", "bias", "mase",
    "tracking_signal", "wape_seasonal_naive", "fva", "flags", "candidate", "wape_candidate", "n_origins", "n_obs",
    "n", "interval_source",
)
FLAG_NAIVE_BEATS = "naive beats model"
FLAG_TS = "|TS|>4"
FLAG_NO_BACKTEST = "no backtest"


@dataclass(frozen=True)
class ForecastSettings:
    """What to forecast and how; `key()` identifies the settings in the run cache."""

    bucket: str = "month"
    horizon: int = 18
    level: str = "sku"
    mode: str = "auto"
    seasonality_mode: str = "additive"
    holidays_country: str | None = None
    origins: int = 3
    inactive_after: int = 0  # buckets without sales that make a series inactive; 0 = 24 months / 52 weeks

    def __post_init__(self) -> None:
        if self.bucket not in BUCKETS:
            raise ValueError(f"bucket must be one of {', '.join(BUCKETS)}, got {self.bucket!r}")
        top = HORIZON_MAX_MONTHS if self.bucket == "month" else HORIZON_RANGE[1]
        if not isinstance(self.horizon, (int, np.integer)) or not HORIZON_RANGE[0] <= self.horizon <= top:
            raise ValueError(f"horizon must be a whole number of {self.bucket}s from {HORIZON_RANGE[0]} to "
                             f"{top}, got {self.horizon!r}")
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {self.level!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.seasonality_mode not in SEASONALITY_MODES:
            raise ValueError(f"seasonality_mode must be one of {', '.join(SEASONALITY_MODES)}, "
                             f"got {self.seasonality_mode!r}")
        if not isinstance(self.origins, (int, np.integer)) or not 1 <= self.origins <= 12:
            raise ValueError(f"origins must be a whole number from 1 to 12, got {self.origins!r}")
        if not isinstance(self.inactive_after, (int, np.integer)) or not (
                self.inactive_after == 0 or INACTIVE_RANGE[0] <= self.inactive_after <= INACTIVE_RANGE[1]):
            raise ValueError(f"inactive_after must be 0 (default) or a whole number of buckets from "
                             f"{INACTIVE_RANGE[0]} to {INACTIVE_RANGE[1]}, got {self.inactive_after!r}")
        object.__setattr__(self, "inactive_after", int(self.inactive_after))
        if self.holidays_country is not None:
            import holidays

            code = str(self.holidays_country).upper()
            if code not in holidays.list_supported_countries():
                raise ValueError(f"unknown holidays country {self.holidays_country!r}: use an ISO code such as 'US'")
            object.__setattr__(self, "holidays_country", code)
        object.__setattr__(self, "horizon", int(self.horizon))
        object.__setattr__(self, "origins", int(self.origins))

    @property
    def season_length(self) -> int:
        """Buckets per year (12 months, 52 weeks)."""
        return SEASON_LENGTH[self.bucket]

    @property
    def freq(self) -> str:
        """The pandas frequency of the bucket on the default calendar (weeks on Monday; see `freq_of`)."""
        return PANDAS_FREQ[self.bucket]

    def freq_of(self, periods: pd.Series | pd.DatetimeIndex) -> str:
        """The pandas frequency of these bucket labels: weeks keep their weekday ('W-FRI' for Fridays)."""
        return bucket_freq(self.bucket, anchor_of(periods) if self.bucket == "week" else 0)

    def key(self) -> str:
        """Canonical text of every setting that changes the result (and the engine version)."""
        country = self.holidays_country or "none"
        inactive = f".ia{self.inactive_after}" if self.inactive_after else ""
        return (f"{self.bucket}.h{self.horizon}.{self.level}.{self.mode}.{self.seasonality_mode}."
                f"hol-{country}.o{self.origins}{inactive}.e{ENGINE_VERSION}")

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> ForecastSettings:
        """Settings from a dict (unknown keys ignored, missing ones default)."""
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in (d or {}).items() if k in names})


@dataclass
class ForecastRun:
    """A stored forecast run; `cached` is True when this call reused it instead of fitting."""

    run_id: str
    run_key: str
    settings: ForecastSettings
    fingerprint: str
    created_at: pd.Timestamp
    seconds: float
    n_series: int
    last_actual: pd.Timestamp | None
    forecast: pd.DataFrame
    metrics: pd.DataFrame
    cached: bool = False
    fitted: int = 0
    backtest: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


# -- worker side: plain data in, plain data out ------------------------------------------------
@dataclass(frozen=True)
class FitConfig:
    """Everything a worker needs to fit one series (picklable; no workspace)."""

    bucket: str
    freq: str
    season_length: int
    horizon: int
    mode: str
    seasonality_mode: str
    holidays_country: str | None
    plan: BacktestPlan
    inactive_after: int = 0


@dataclass(frozen=True)
class SeriesTask:
    """One series: id, first bucket start and the consecutive bucket values."""

    series_id: str
    start: pd.Timestamp
    y: np.ndarray
    previous: tuple[str, ...] = ()  # the last run's choice (members), kept while the evidence allows


def fit_series(task: SeriesTask, cfg: FitConfig) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Backtest every candidate, replay the choice origin by origin, fit the choice: (forecast rows, points, choice).

    The points are the procedure's (selection.replay): each origin scored with the model chosen from
    earlier origins only. wape_candidate is the selection score of the forward choice (its WAPE on
    the points it was chosen on), not an accuracy.
    """
    y = np.asarray(task.y, dtype=float)
    periods = pd.date_range(task.start, periods=len(y), freq=cfg.freq)
    m = cfg.season_length
    cands = selection.candidate_set(y, periods, cfg.bucket, m, cfg.mode, cfg.seasonality_mode, cfg.holidays_country,
                                    cfg.inactive_after)
    cutoffs = () if cands.kind == "inactive" else cfg.plan.cutoffs  # inactive: not fitted, not backtested
    origins = selection.run_origins(task.series_id, periods, y, cands, cutoffs, cfg.plan.horizon,
                                    cfg.plan.min_train, m)
    points, choice = selection.replay(task.series_id, origins, cands, task.previous)
    if points.empty:
        points = empty_points()
    k = int(points["origin"].nunique()) if len(points) else 0
    need = cfg.plan.min_train + max(cfg.plan.horizon, 1)
    lead = f"{cands.note}; " if cands.note else ""
    if k:
        held = metrics.wape(points["actual"], points["forecast"])
        held_txt = f"{held:.0%}" if np.isfinite(held) else "n/a (no demand)"
        reason = (f"{lead}{choice.why}; held-out WAPE of the procedure {held_txt} on {k} origin"
                  f"{'s' if k != 1 else ''}")
    elif cands.kind == "inactive":
        reason = cands.note
    else:
        no_bt = (f"no backtest: {len(y)} buckets of history, a backtest needs {need}" if cfg.plan.cutoffs
                 else cfg.plan.note or "no backtest")
        reason = f"{lead}{choice.why}; {no_bt}"
    chosen = choice.model
    future = future_periods(periods[-1], cfg.horizon, cfg.freq)
    members = selection.models_of(cands, choice)
    try:
        final: Model = members[0] if len(members) == 1 else Combination(members)
        value, lower, upper = final.predict(y, periods, future)
    except (RuntimeError, ValueError, IndexError, np.linalg.LinAlgError) as exc:
        reason += f"; {MODEL_LABELS.get(chosen, chosen)} failed on the full history ({exc}): naive used"
        chosen = NaiveModel.name
        value, lower, upper = NaiveModel().predict(y, periods, future)
    source = "model"
    if len(points):
        band = residual_band(points["actual"].to_numpy(), points["forecast"].to_numpy(), value)
        if band is not None:
            lower, upper = band
            source = "backtest"
    fc_frame = pd.DataFrame({"series_id": task.series_id, "period": future, "value": value, "lower": lower,
                             "upper": upper, "model": chosen})
    naive_w = metrics.wape(points["actual"], points["naive"]) if len(points) else np.nan
    choice_row = {"series_id": task.series_id, "model": chosen, "candidate": ",".join(choice.members),
                  "reason": reason, "wape_candidate": selection.selection_wape(origins, choice),
                  "wape_naive": naive_w, "n_origins": k, "n_obs": len(y), "interval_source": source}
    return fc_frame, points[list(POINT_COLUMNS)], choice_row


def _failed_series(task: SeriesTask, cfg: FitConfig, exc: Exception) -> tuple[pd.DataFrame, pd.DataFrame,
                                                                              dict[str, Any]]:
    """A naive forecast for a series whose pipeline raised, with the error in the reason."""
    y = np.nan_to_num(np.asarray(task.y, dtype=float))
    periods = pd.date_range(task.start, periods=max(len(y), 1), freq=cfg.freq)
    future = future_periods(periods[-1], cfg.horizon, cfg.freq)
    value, lower, upper = NaiveModel().predict(y if len(y) else np.zeros(1), periods, future)
    fc = pd.DataFrame({"series_id": task.series_id, "period": future, "value": value, "lower": lower,
                       "upper": upper, "model": NaiveModel.name})
    choice = {"series_id": task.series_id, "model": NaiveModel.name, "candidate": NaiveModel.name,
              "reason": f"could not be forecast ({type(exc).__name__}: {exc}): naive (repeats the last bucket)",
              "wape_candidate": np.nan, "wape_naive": np.nan, "n_origins": 0, "n_obs": len(y),
              "interval_source": "model"}
    return fc, empty_points(), choice


def fit_chunk(payload: tuple[FitConfig, list[SeriesTask]]) -> tuple[pd.DataFrame, pd.DataFrame, list[dict[str, Any]]]:
    """Worker entry point: fit a chunk of series -> (forecast rows, backtest points, choices)."""
    cfg, tasks = payload
    warm_up()
    forecasts, points, choices = [], [], []
    for task in tasks:
        try:
            f, p, c = fit_series(task, cfg)
        except Exception as exc:  # one bad series must not sink the run: it gets a naive forecast and says why
            f, p, c = _failed_series(task, cfg, exc)
        forecasts.append(f)
        if len(p):
            points.append(p)
        choices.append(c)
    return (pd.concat(forecasts, ignore_index=True),
            pd.concat(points, ignore_index=True) if points else empty_points(), choices)


# -- parent side ------------------------------------------------------------------------------
def data_fingerprint(ws: Workspace) -> str:
    """Fingerprint of the loaded tables a forecast depends on (sales, products)."""
    return ws.fingerprint([t for t in ("sales", "products") if ws.has_table(t)])


def run_key(ws: Workspace, settings: ForecastSettings) -> str:
    """The cache key of a run: data fingerprint + settings key."""
    return f"{data_fingerprint(ws)}:{settings.key()}"


def fill_buckets(history: pd.DataFrame, freq: str, last_period: pd.Timestamp,
                 keys: Sequence[str] = ("series_id",)) -> pd.DataFrame:
    """Zero-fill each series (series_id, period, y) from its first sale (y > 0) to `last_period`."""
    keys = list(keys)
    if history.empty:
        return history.assign(y=pd.Series(dtype=float))[keys + ["period", "y"]]
    h = history.groupby(keys + ["period"], as_index=False, sort=False)["y"].sum()
    sold = h[h["y"] > 0].groupby(keys)["period"].min()
    first = h.groupby(keys)["period"].min()
    start = sold.reindex(first.index).fillna(first).rename("start").reset_index()
    timeline = pd.DataFrame({"period": pd.date_range(h["period"].min(), pd.Timestamp(last_period), freq=freq)})
    grid = start.merge(timeline, how="cross")
    grid = grid[grid["period"] >= grid["start"]].drop(columns="start")
    out = grid.merge(h, on=keys + ["period"], how="left")
    out["y"] = out["y"].fillna(0.0).astype(float)
    return out.sort_values(keys + ["period"]).reset_index(drop=True)


def series_frame(history: pd.DataFrame, settings: ForecastSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The long series to fit (series_id, period, y) and their attributes (series_id, sku, region, family)."""
    last = pd.Timestamp(history["period"].max())
    if settings.level == "sku":
        attrs = history.groupby("series_id", as_index=False).agg(sku=("sku", "first"), region=("region", "first"),
                                                                  family=("family", "first"))
        long = fill_buckets(history.rename(columns={"quantity": "y"})[["series_id", "period", "y"]],
                            settings.freq_of(history["period"]), last)
        return long, attrs
    fam = history.assign(series_id=history["family"].astype(str) + SERIES_SEP + history["region"].astype(str))
    attrs = fam.groupby("series_id", as_index=False).agg(region=("region", "first"), family=("family", "first"))
    attrs.insert(1, "sku", None)
    long = fill_buckets(fam.rename(columns={"quantity": "y"})[["series_id", "period", "y"]],
                        settings.freq_of(history["period"]), last)
    return long, attrs


def disaggregate(family_forecast: pd.DataFrame, history: pd.DataFrame, settings: ForecastSettings) -> pd.DataFrame:
    """Split family × region forecasts to skus by their share of the last 12 buckets (FORECAST_FRAME_COLUMNS)."""
    last = pd.Timestamp(history["period"].max())
    since = last - (pd.DateOffset(months=SHARE_BUCKETS - 1) if settings.bucket == "month"
                    else pd.Timedelta(weeks=SHARE_BUCKETS - 1))
    skus = history.groupby(["sku", "region", "family"], as_index=False).agg(
        series_id=("series_id", "first"))
    recent = history[history["period"] >= since].groupby(["sku", "region"], as_index=False)["quantity"].sum()
    skus = skus.merge(recent, on=["sku", "region"], how="left").fillna({"quantity": 0.0})
    skus["fam_id"] = skus["family"].astype(str) + SERIES_SEP + skus["region"].astype(str)
    total = skus.groupby("fam_id")["quantity"].transform("sum")
    count = skus.groupby("fam_id")["quantity"].transform("size")
    skus["share"] = np.where(total > 0, skus["quantity"] / total.where(total > 0, 1.0), 1.0 / count)
    out = family_forecast.rename(columns={"series_id": "fam_id"}).merge(
        skus[["fam_id", "series_id", "sku", "region", "family", "share"]], on="fam_id", how="inner")
    for c in ("value", "lower", "upper"):
        out[c] = out[c] * out["share"]
    return out[list(FORECAST_FRAME_COLUMNS)].sort_values(["series_id", "period"]).reset_index(drop=True)


def previous_choices(ws: Workspace, settings: ForecastSettings) -> dict[str, tuple[str, ...]]:
    """series_id -> members of the forward choice of the latest stored run with these settings (any data)."""
    run_id = ws.scalar("SELECT run_id FROM forecast_runs WHERE settings_key = ? ORDER BY created_at DESC LIMIT 1",
                       [settings.key()])
    if run_id is None:
        return {}
    df = ws.query("SELECT series_id, candidate FROM forecast_series WHERE run_id = ?", [run_id])
    return {str(r.series_id): tuple(str(r.candidate).split(",")) for r in df.itertuples() if r.candidate}


def inactive_series(mets: pd.DataFrame, history: pd.DataFrame | None = None) -> pd.DataFrame:
    """The rows of a run's metrics for inactive series (no recent sales: not fitted, forecast zero).

    With the demand history (history.demand_history at the run's bucket), a `last_sale` column gives
    the last bucket with sales of each (NaT when none); rows are then sorted oldest last sale first.
    """
    if mets is None or mets.empty:
        return mets
    out = mets[mets["reason"].astype(str).str.startswith(selection.INACTIVE_PREFIX)]
    if history is None:
        return out
    sold = history[history["quantity"] > 0]
    family_level = "sku" in out.columns and len(out) > 0 and out["sku"].isna().all()
    ids = (sold["family"].astype(str) + SERIES_SEP + sold["region"].astype(str)) if family_level \
        else sold["series_id"]
    last = sold.groupby(ids.to_numpy())["period"].max()
    out = out.assign(last_sale=pd.to_datetime(out["series_id"].map(last)))
    return out.sort_values(["last_sale", "series_id"], na_position="first", kind="stable")


def _flags(df: pd.DataFrame) -> pd.Series:
    """'; '-joined review flags per metrics row (|TS|>4: the windowed tracking signal, metrics.TS_WINDOW periods)."""
    beats = (df["wape_seasonal_naive"] < df["wape"]).fillna(False)
    ts = (df["tracking_signal"].abs() > metrics.TS_REVIEW_THRESHOLD).fillna(False)
    none = df["n_origins"].fillna(0).astype(int) == 0
    parts = [beats.map({True: FLAG_NAIVE_BEATS, False: ""}), ts.map({True: FLAG_TS, False: ""}),
             none.map({True: FLAG_NO_BACKTEST, False: ""})]
    return pd.Series(["; ".join(p for p in row if p) for row in zip(*parts)], index=df.index, dtype=object)


def metrics_frame(points: pd.DataFrame, choices: pd.DataFrame, attrs: pd.DataFrame) -> pd.DataFrame:
    """Per-series metrics of the procedure's held-out points (METRIC_COLUMNS)."""
    summ = metrics.summarise(points, ["series_id"]) if len(points) else \
        pd.DataFrame(columns=["series_id", *metrics.SUMMARY_COLUMNS])
    df = attrs.merge(choices.rename(columns={"wape_naive": "_wn"}), on="series_id", how="inner")
    df = df.merge(summ, on="series_id", how="left")
    df["n"] = df["n"].fillna(0).astype("int64")
    df["n_origins"] = df["n_origins"].fillna(0).astype("int64")
    df["flags"] = _flags(df)
    return df[list(METRIC_COLUMNS)].sort_values("series_id").reset_index(drop=True)


_KEY_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_KEY_LOCKS_GUARD = threading.Lock()


def _key_lock(ws: Workspace, key: str) -> threading.Lock:
    """One lock per workspace file and run key, so concurrent sessions fit a key once."""
    with _KEY_LOCKS_GUARD:
        return _KEY_LOCKS.setdefault((str(ws.path.resolve()), key), threading.Lock())


def run_forecast(ws: Workspace, settings: ForecastSettings | None = None,
                 progress: Callable[[int, int], None] | None = None, executor: Executor | None = None,
                 *, force: bool = False, author: str | None = None) -> ForecastRun:
    """Fit, backtest and store the forecast for the workspace's data and `settings`; reuse a stored run.

    progress(done, total) is called in the calling thread, counting series. `force` refits and
    replaces a stored run with the same key.
    """
    settings = settings or ForecastSettings()
    if not ws.has_table("sales"):
        raise ValueError("no sales history loaded: load a sales file (or the demo) before forecasting")
    key = run_key(ws, settings)
    with _key_lock(ws, key):
        if not force:
            existing = load_run(ws, run_key=key)
            if existing is not None:
                if progress:
                    progress(existing.n_series, existing.n_series)
                return existing
        t0 = time.perf_counter()
        history = demand_history(ws, settings.bucket)
        if history.empty:
            raise ValueError("the sales history is empty: nothing to forecast")
        long, attrs = series_frame(history, settings)
        last = pd.Timestamp(long["period"].max())
        lengths = long.groupby("series_id").size()
        freq = settings.freq_of(long["period"])  # weeks keep the data's weekday (periods.py)
        plan = plan_backtest(last, int(lengths.max()), settings.horizon, settings.season_length, freq,
                             settings.origins)
        cfg = FitConfig(settings.bucket, freq, settings.season_length, settings.horizon, settings.mode,
                        settings.seasonality_mode, settings.holidays_country, plan, settings.inactive_after)
        previous = previous_choices(ws, settings)
        tasks = [SeriesTask(str(sid), pd.Timestamp(part["period"].iloc[0]), part["y"].to_numpy(dtype=float),
                            previous.get(str(sid), ()))
                 for sid, part in long.groupby("series_id", sort=True)]
        warm_up()  # import Prophet before the pool forks, so workers inherit it
        ex = executor if executor is not None else get_executor()
        chunks = chunked(tasks, ex.workers)
        total, done = len(tasks), 0
        if progress:
            progress(0, total)

        def on_done(i: int) -> None:
            nonlocal done
            done += len(chunks[i])
            if progress:
                progress(done, total)

        results = ex.map_chunks(fit_chunk, [(cfg, c) for c in chunks], on_done)
        fc = pd.concat([r[0] for r in results], ignore_index=True)
        pts = [r[1] for r in results if len(r[1])]
        points = pd.concat(pts, ignore_index=True) if pts else empty_points()
        choices = pd.DataFrame([c for r in results for c in r[2]])
        if settings.level == "sku":
            forecast = fc.merge(attrs, on="series_id", how="left")[list(FORECAST_FRAME_COLUMNS)]
        else:
            forecast = disaggregate(fc, history, settings)
        forecast = forecast.sort_values(["series_id", "period"]).reset_index(drop=True)
        mets = metrics_frame(points, choices, attrs)
        seconds = time.perf_counter() - t0
        warnings = [plan.note] if plan.note else []
        run = ForecastRun(
            run_id=new_id(), run_key=key, settings=settings, fingerprint=key.split(":", 1)[0],
            created_at=pd.Timestamp(utcnow()), seconds=seconds, n_series=total, last_actual=last,
            forecast=forecast, metrics=mets, cached=False, fitted=total,
            backtest={"cutoffs": [str(c.date()) for c in plan.cutoffs], "horizon": plan.horizon,
                      "step": plan.step, "min_train": plan.min_train, "note": plan.note},
            warnings=warnings,
        )
        _store(ws, run, points, author)
        return run


def _store(ws: Workspace, run: ForecastRun, points: pd.DataFrame, author: str | None) -> None:
    """Write a run and its frames in one transaction (bulk INSERT ... SELECT), replacing a run with its key."""
    values = run.forecast.copy()
    series = run.metrics.copy()
    pts = points.copy()
    pts.insert(0, "run_id", run.run_id)
    values.insert(0, "run_id", run.run_id)
    series.insert(0, "run_id", run.run_id)
    with ws.transaction() as cur:
        old = [r[0] for r in cur.execute("SELECT run_id FROM forecast_runs WHERE run_key = ?", [run.run_key]).fetchall()]
        _delete_runs(cur, old)
        cur.execute(
            "INSERT INTO forecast_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run.run_id, run.run_key, run.fingerprint, run.settings.key(), json.dumps(run.settings.to_dict()),
             run.created_at.to_pydatetime(), author, run.seconds, run.n_series,
             run.last_actual.date() if run.last_actual is not None else None, json.dumps(run.backtest),
             json.dumps(run.warnings)],
        )
        for table, frame, cols in (
            ("forecast_values", values, ["run_id", *FORECAST_FRAME_COLUMNS]),
            ("forecast_series", series, None),
            ("backtest_points", pts, ["run_id", *POINT_COLUMNS]),
        ):
            cur.register("_frame", frame)
            try:
                target = f" ({', '.join(cols)})" if cols else " (run_id, " + ", ".join(METRIC_COLUMNS) + ")"
                select = ", ".join(cols) if cols else "run_id, " + ", ".join(METRIC_COLUMNS)
                cur.execute(f"INSERT INTO {table}{target} SELECT {select} FROM _frame")
            finally:
                cur.unregister("_frame")
        stale = [r[0] for r in cur.execute(
            "SELECT run_id FROM forecast_runs ORDER BY created_at DESC OFFSET ?", [KEEP_RUNS]).fetchall()]
        _delete_runs(cur, stale)
        ws.audit(cur, "forecast", run.run_key, {"run_id": run.run_id, "series": run.n_series,
                                                 "seconds": round(run.seconds, 2)}, author)


def _delete_runs(cur: Any, run_ids: Sequence[str]) -> None:
    """Delete runs and their rows."""
    for rid in run_ids:
        for table in ("forecast_values", "forecast_series", "backtest_points", "forecast_runs"):
            cur.execute(f"DELETE FROM {table} WHERE run_id = ?", [rid])


# -- reading stored runs ------------------------------------------------------------------------
def _run_row(ws: Workspace, settings: ForecastSettings | None, run_key: str | None, run_id: str | None,
             allow_stale: bool) -> pd.Series | None:
    """The forecast_runs row asked for, or None."""
    if run_id is not None:
        df = ws.query("SELECT * FROM forecast_runs WHERE run_id = ?", [run_id])
    elif run_key is not None:
        df = ws.query("SELECT * FROM forecast_runs WHERE run_key = ? ORDER BY created_at DESC LIMIT 1", [run_key])
    else:
        settings = settings or ForecastSettings()
        if not ws.has_table("sales"):
            return None
        df = ws.query("SELECT * FROM forecast_runs WHERE run_key = ? ORDER BY created_at DESC LIMIT 1",
                      [run_key_for(ws, settings)])
        if df.empty and allow_stale:
            df = ws.query("SELECT * FROM forecast_runs WHERE settings_key = ? ORDER BY created_at DESC LIMIT 1",
                          [settings.key()])
    return None if df.empty else df.iloc[0]


def run_key_for(ws: Workspace, settings: ForecastSettings) -> str:
    """Alias of run_key (the key a run for the current data and `settings` has)."""
    return run_key(ws, settings)


def latest_run_id(ws: Workspace, settings: ForecastSettings) -> str | None:
    """The run_id of the newest stored run for the current data and `settings`, or None when it must be fitted.

    One indexed query: `load_run(ws, run_id=...)` reads the run itself (a page caches that by run_id).
    """
    run_id = ws.scalar("SELECT run_id FROM forecast_runs WHERE run_key = ? ORDER BY created_at DESC LIMIT 1",
                       [run_key_for(ws, settings)])
    return None if run_id is None else str(run_id)


def may_fit() -> bool:
    """Whether the acting user may start (or retry) a forecast fit: their role may write 'forecast' events."""
    return access.allowed(access.current(), "forecast")


def load_run(ws: Workspace, settings: ForecastSettings | None = None, *, run_key: str | None = None,
             run_id: str | None = None, allow_stale: bool = False) -> ForecastRun | None:
    """The stored run for the current data and settings (or a given run_key / run_id), `cached=True`; None if absent.

    allow_stale: when the data changed since, return the latest run with the same settings.
    """
    row = _run_row(ws, settings, run_key, run_id, allow_stale)
    if row is None:
        return None
    rid = row["run_id"]
    return ForecastRun(
        run_id=rid, run_key=row["run_key"], settings=ForecastSettings.from_dict(json.loads(row["settings"])),
        fingerprint=row["data_fingerprint"], created_at=pd.Timestamp(row["created_at"]),
        seconds=float(row["seconds"]) if pd.notna(row["seconds"]) else float("nan"),
        n_series=int(row["n_series"]),
        last_actual=pd.Timestamp(row["last_actual"]) if pd.notna(row["last_actual"]) else None,
        forecast=_values(ws, rid), metrics=_series(ws, rid), cached=True, fitted=0,
        backtest=json.loads(row["backtest"]) if row["backtest"] else {},
        warnings=json.loads(row["warnings"]) if row["warnings"] else [],
    )


def _values(ws: Workspace, run_id: str) -> pd.DataFrame:
    """Stored forecast rows of a run (FORECAST_FRAME_COLUMNS)."""
    df = ws.query(f"SELECT {', '.join(FORECAST_FRAME_COLUMNS)} FROM forecast_values WHERE run_id = ? "
                  "ORDER BY series_id, period", [run_id])
    df["period"] = pd.to_datetime(df["period"])
    return df


def _series(ws: Workspace, run_id: str) -> pd.DataFrame:
    """Stored per-series metrics of a run (METRIC_COLUMNS)."""
    return ws.query(f"SELECT {', '.join(METRIC_COLUMNS)} FROM forecast_series WHERE run_id = ? ORDER BY series_id",
                    [run_id])


def latest_forecast(ws: Workspace, settings: ForecastSettings | None = None,
                    allow_stale: bool = False) -> pd.DataFrame | None:
    """The stored forecast (FORECAST_FRAME_COLUMNS) for the current data and settings, or None."""
    row = _run_row(ws, settings, None, None, allow_stale)
    return None if row is None else _values(ws, row["run_id"])


def backtest_metrics(ws: Workspace, settings: ForecastSettings | None = None,
                     allow_stale: bool = False) -> pd.DataFrame | None:
    """Stored per-series backtest metrics and model choice (METRIC_COLUMNS), or None."""
    row = _run_row(ws, settings, None, None, allow_stale)
    return None if row is None else _series(ws, row["run_id"])


def backtest_points(ws: Workspace, settings: ForecastSettings | None = None, chosen: bool = True,
                    allow_stale: bool = False) -> pd.DataFrame | None:
    """Stored backtest points joined to series attributes; chosen=True gives the chosen model's forecast."""
    row = _run_row(ws, settings, None, None, allow_stale)
    if row is None:
        return None
    # points hold the procedure's forecasts already (each origin: the model chosen before it); `chosen`
    # only decides whether `model` names the forward choice (True) or the choice made at that origin
    forecast_sql = "p.forecast"
    model_sql = "s.model" if chosen else "p.model"
    df = ws.query(
        f"""SELECT p.series_id, s.sku, s.region, s.family, p.origin, p.step, p.period, p.actual,
                   {forecast_sql} AS forecast, p.naive, p.scale, {model_sql} AS model
            FROM backtest_points p JOIN forecast_series s ON s.run_id = p.run_id AND s.series_id = p.series_id
            WHERE p.run_id = ? ORDER BY p.series_id, p.origin, p.step""",
        [row["run_id"]],
    )
    for c in ("origin", "period"):
        df[c] = pd.to_datetime(df[c])
    return df


def accuracy_summary(ws: Workspace, settings: ForecastSettings | None = None,
                     by: Sequence[str] = ("family",), allow_stale: bool = False) -> pd.DataFrame | None:
    """Backtest metrics of the chosen models per group (`by` columns of the points; [] = total), or None.

    Errors are taken per series and bucket, then summed over the group (metrics.summarise).
    """
    pts = backtest_points(ws, settings, chosen=True, allow_stale=allow_stale)
    if pts is None:
        return None
    return metrics.summarise(pts, list(by))


def accuracy_total(ws: Workspace, settings: ForecastSettings | None = None,
                   allow_stale: bool = False) -> dict[str, float] | None:
    """The total row of accuracy_summary as a dict (wape, accuracy, bias, mase, ... , n), or None."""
    df = accuracy_summary(ws, settings, by=(), allow_stale=allow_stale)
    if df is None:
        return None
    if df.empty:
        return {c: (0 if c == "n" else float("nan")) for c in metrics.SUMMARY_COLUMNS}
    row = df.iloc[0]
    return {c: (int(row[c]) if c == "n" else float(row[c])) for c in metrics.SUMMARY_COLUMNS}


def saved_settings(ws: Workspace) -> ForecastSettings:
    """The forecast settings stored in the workspace (defaults when none or invalid)."""
    try:
        return ForecastSettings.from_dict(ws.get_setting(SETTINGS_KEY))
    except (TypeError, ValueError):
        return ForecastSettings()


def save_settings(ws: Workspace, settings: ForecastSettings, author: str | None = None) -> None:
    """Store the forecast settings in the workspace."""
    ws.set_setting(SETTINGS_KEY, settings.to_dict(), author)
