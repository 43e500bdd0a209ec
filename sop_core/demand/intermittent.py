"""Intermittent demand: the Syntetos–Boylan classification on a recent window, TSB and ADIDA.

`classify(y, window)` looks at the last `window` buckets only (a series that sold every month
years ago and has been mostly zero since is intermittent now): ADI = buckets in the window ÷
buckets with demand (average inter-demand interval), CV² = squared coefficient of variation of
the non-zero demand sizes. Syntetos, Boylan & Croston (2005): ADI > 1.32 means intermittent
(CV² ≤ 0.49) or lumpy (CV² > 0.49); otherwise smooth or erratic. No demand in the window at all
is 'inactive'.

Models (all `models.Model`; Croston SBA stays in models.py):
- `TSB` (Teunter, Syntetos & Babai 2011): the demand probability is updated every bucket, the
  size only when there is demand; forecast = probability × size, so it decays when sales stop.
- `Adida` (Nikolopoulos et al. 2011): sum the history into non-overlapping blocks of k buckets
  (k = the rounded ADI, at least 2), smooth the block totals (SES), forecast total ÷ k per bucket.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sop_core.demand.models import INTERVAL_WIDTH, Model, Prediction, _clip, zeros

ADI_CUT = 1.32
CV2_CUT = 0.49
CLASSES: tuple[str, ...] = ("smooth", "erratic", "intermittent", "lumpy", "inactive")
TSB_ALPHA = 0.1
TSB_BETA = 0.1
ADIDA_ALPHA = 0.2


def recent_window(season_length: int) -> int:
    """Buckets judged for intermittency: two years of months (24), one year of weeks (52)."""
    return max(24, int(season_length))


def adi_cv2(y: np.ndarray) -> tuple[float, float]:
    """(ADI, CV²) of a window; ADI = inf when there is no demand, CV² = 0 with fewer than two demands."""
    y = np.asarray(y, dtype=float)
    nz = y[y > 0]
    if nz.size == 0:
        return math.inf, 0.0
    adi = len(y) / nz.size
    cv2 = float(np.var(nz) / np.mean(nz) ** 2) if nz.size > 1 else 0.0
    return float(adi), cv2


def classify(y: np.ndarray, window: int) -> tuple[str, float, float]:
    """(class, ADI, CV²) of the last `window` buckets of y (CLASSES)."""
    recent = np.asarray(y, dtype=float)[-int(window):]
    adi, cv2 = adi_cv2(recent)
    if not math.isfinite(adi):
        return "inactive", adi, cv2
    if adi > ADI_CUT:
        return ("lumpy" if cv2 > CV2_CUT else "intermittent"), adi, cv2
    return ("erratic" if cv2 > CV2_CUT else "smooth"), adi, cv2


def is_intermittent(kind: str) -> bool:
    """True for the classes Croston-type methods are meant for."""
    return kind in ("intermittent", "lumpy")


def _quantile_band(y: np.ndarray, value: np.ndarray) -> Prediction:
    """Value with the 10th–90th percentile of the buckets as interval."""
    lo, hi = np.quantile(np.asarray(y, dtype=float), [(1 - INTERVAL_WIDTH) / 2, (1 + INTERVAL_WIDTH) / 2])
    return _clip(value, np.full(len(value), lo), np.full(len(value), hi))


class TSB(Model):
    """Teunter–Syntetos–Babai: probability of demand × demand size, the probability updated every bucket."""

    name = "tsb"
    label = "TSB (intermittent)"

    def __init__(self, alpha: float = TSB_ALPHA, beta: float = TSB_BETA) -> None:
        self.alpha, self.beta = float(alpha), float(beta)

    def predict(self, y: np.ndarray, periods: pd.DatetimeIndex, future: pd.DatetimeIndex) -> Prediction:
        """Flat p·z; p starts at the first bucket's occurrence share of the history, z at the first demand."""
        y = np.asarray(y, dtype=float)
        h = len(future)
        nz = np.flatnonzero(y > 0)
        if nz.size == 0:
            return zeros(h)
        p, size = float(nz.size / len(y)), float(y[nz[0]])
        for v in y:
            occurred = v > 0
            p += self.beta * (float(occurred) - p)
            if occurred:
                size += self.alpha * (v - size)
        return _quantile_band(y, np.full(h, p * size))

    def __repr__(self) -> str:
        return f"TSB(alpha={self.alpha}, beta={self.beta})"


class Adida(Model):
    """Aggregate–disaggregate: SES on non-overlapping block totals, divided back to buckets."""

    name = "adida"
    label = "ADIDA (intermittent)"

    def __init__(self, alpha: float = ADIDA_ALPHA, block: int | None = None) -> None:
        self.alpha = float(alpha)
        self.block = None if block is None else max(1, int(block))

    def predict(self, y: np.ndarray, periods: pd.DatetimeIndex, future: pd.DatetimeIndex) -> Prediction:
        """Blocks of k buckets counted back from the last bucket (k = rounded ADI ≥ 2 unless given)."""
        y = np.asarray(y, dtype=float)
        h = len(future)
        adi, _ = adi_cv2(y)
        if not math.isfinite(adi):
            return zeros(h)
        k = self.block or max(2, int(round(adi)))
        k = min(k, len(y))
        usable = len(y) - len(y) % k
        totals = y[len(y) - usable:].reshape(-1, k).sum(axis=1)
        level = totals[0]
        for v in totals[1:]:
            level += self.alpha * (v - level)
        return _quantile_band(y, np.full(h, level / k))

    def __repr__(self) -> str:
        return f"Adida(alpha={self.alpha}, block={self.block})"
