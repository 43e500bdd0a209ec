"""KPI targets and statuses: the red / amber / green thresholds of the scorecard KPIs and how a value is judged.

Statuses: 'green' / 'amber' / 'red' against the targets (DEFAULT_TARGETS with the workspace's overrides,
`merge_targets`), 'missing' when the value cannot be computed. Direction (`kpi_catalogue.Measure.better`)
'higher': green when value ≥ green, amber when ≥ amber; 'lower': green when ≤ green, amber when ≤ amber;
'band': with a number t, |value| ≤ t (bias); with a pair (lo, hi), lo ≤ value ≤ hi (days of supply).

A KPI with one point a month (LATEST_MONTH_KEYS) is judged on the month its target names (`basis`): 'latest'
(the latest month, the default: a bad October is not hidden by a good year) or '12m' (all 12 months pooled).
Targets stored under a key from before the KPI catalogue (`kpi_catalogue.RENAMED_SCORECARD_KEYS`: 'fill_rate',
'gross_margin_pct') are read as the key now (`current_keys`), so a workspace saved then keeps its targets.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

from sop_core.planning.kpi_catalogue import MEASURES, RENAMED_SCORECARD_KEYS, SCORECARD_KEYS

DIRECTIONS: tuple[str, ...] = ("higher", "lower", "band")
STATUSES: tuple[str, ...] = ("green", "amber", "red", "missing")

Threshold = float | tuple[float, float]

DEFAULT_TARGETS: dict[str, dict[str, Any]] = {
    "forecast_accuracy": {"green": 0.75, "amber": 0.65},
    "bias": {"green": 0.05, "amber": 0.10},
    "otif": {"green": 0.95, "amber": 0.90},
    "order_fill_rate": {"green": 0.98, "amber": 0.95},
    "inventory_turns": {"green": 6.0, "amber": 4.0},
    "days_of_supply": {"green": (30.0, 90.0), "amber": (15.0, 120.0)},
    "capacity_utilisation": {"green": 0.90, "amber": 1.00},
    "revenue_vs_plan": {"green": 0.0, "amber": -0.05},
    "gross_margin_pct_12m": {"green": 0.35, "amber": 0.30},
}


# KPIs with one point a month, whose status can be on the latest month or on the 12 months pooled
LATEST_MONTH_KEYS: tuple[str, ...] = ("forecast_accuracy", "bias", "otif", "order_fill_rate", "gross_margin_pct_12m")
BASES: dict[str, str] = {"latest": "the latest month", "12m": "the last 12 months"}
DEFAULT_BASIS = "latest"


def current_keys(overrides: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """Target overrides with keys stored before the KPI catalogue renamed as now ('fill_rate' -> 'order_fill_rate').

    A key stored under both names keeps the value of the current one.
    """
    out: dict[str, dict[str, Any]] = {}
    for key, t in (overrides or {}).items():
        new = RENAMED_SCORECARD_KEYS.get(key, key)
        if new != key and new in (overrides or {}):
            continue
        out[new] = dict(t)
    return out


def _as_threshold(v: Any) -> Threshold:
    """A float, or a (lo, hi) pair of floats."""
    if isinstance(v, (list, tuple)):
        if len(v) != 2:
            raise ValueError(f"a band target is a pair (low, high), got {v!r}")
        return (float(v[0]), float(v[1]))
    return float(v)


def merge_targets(overrides: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, dict[str, Threshold]]:
    """DEFAULT_TARGETS with `overrides` ({key: {'green': .., 'amber': ..}}, partial, old keys read as now) applied, checked."""
    out: dict[str, dict[str, Any]] = {
        k: {lvl: _as_threshold(v) for lvl, v in t.items()} for k, t in copy.deepcopy(DEFAULT_TARGETS).items()}
    for key in LATEST_MONTH_KEYS:
        out[key]["basis"] = DEFAULT_BASIS
    for key, t in current_keys(overrides).items():
        if key not in out:
            raise ValueError(f"unknown KPI {key!r}: use one of {', '.join(SCORECARD_KEYS)}")
        for lvl, v in dict(t).items():
            if lvl == "basis":
                if key not in LATEST_MONTH_KEYS or v not in BASES:
                    raise ValueError(f"KPI {key}: basis {v!r} is not one of "
                                     f"{', '.join(BASES) if key in LATEST_MONTH_KEYS else 'its bases (none)'}")
                out[key]["basis"] = v
                continue
            if lvl not in ("green", "amber"):
                raise ValueError(f"KPI {key}: unknown level {lvl!r} (use 'green', 'amber' and 'basis')")
            out[key][lvl] = _as_threshold(v)
    for key, t in out.items():
        _check_levels(key, MEASURES[key].better or "", t["green"], t["amber"])
    return out


def _check_levels(key: str, direction: str, green: Threshold, amber: Threshold) -> None:
    """Raise ValueError when the amber level is not looser than the green one."""
    if isinstance(green, tuple) != isinstance(amber, tuple):
        raise ValueError(f"KPI {key}: green and amber must both be numbers or both be (low, high) bands")
    if isinstance(green, tuple) and isinstance(amber, tuple):
        ok = green[0] <= green[1] and amber[0] <= green[0] and green[1] <= amber[1]
        if not ok:
            raise ValueError(f"KPI {key}: the amber band {amber} must contain the green band {green}")
        return
    g, a = float(green), float(amber)  # type: ignore[arg-type]
    ok = {"higher": g >= a, "lower": g <= a, "band": 0 <= g <= a}[direction]
    if not ok:
        raise ValueError(f"KPI {key}: green {g} and amber {a} are in the wrong order for a '{direction}' KPI")


def status_of(value: float | None, direction: str, green: Threshold, amber: Threshold) -> str:
    """'green' | 'amber' | 'red' for a value against its thresholds, 'missing' for None or NaN."""
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}: use one of {', '.join(DIRECTIONS)}")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "missing"
    v = float(value)

    def within(level: Threshold) -> bool:
        if isinstance(level, tuple):
            return level[0] <= v <= level[1]
        if direction == "higher":
            return v >= level
        if direction == "lower":
            return v <= level
        return abs(v) <= level

    return "green" if within(green) else "amber" if within(amber) else "red"


def threshold_text(t: Threshold | None, direction: str, unit: str) -> str:
    """Human text of one threshold."""
    if t is None:
        return ""

    def fmt(x: float) -> str:
        return f"{x:.0%}" if unit == "pct" else f"{x:g} days" if unit == "days" else f"{x:g}"

    if isinstance(t, tuple):
        return f"{fmt(t[0])}–{fmt(t[1])}" if unit != "days" else f"{t[0]:g}–{t[1]:g} days"
    return {"higher": "≥ ", "lower": "≤ ", "band": "|x| ≤ "}[direction] + fmt(t)


def threshold_words(t: Threshold | None, direction: str, unit: str) -> str:
    """One threshold in plain words: 'at least 95%', 'at most 90%', 'within ±5%', 'between 30 and 90 days'."""
    if t is None:
        return ""

    def fmt(x: float) -> str:
        text = (f"{x * 100:.4g}%" if unit == "pct" else f"{x:g}×" if unit == "ratio"
                else f"{x:,.0f}" if unit == "money" else f"{x:g}")
        return text.replace("-", "−")

    days = " days" if unit == "days" else ""
    if isinstance(t, tuple):
        return f"between {fmt(t[0])} and {fmt(t[1])}{days}"
    if direction == "band":
        return f"within ±{fmt(abs(t))}{days}"
    return {"higher": "at least ", "lower": "at most "}[direction] + fmt(t) + days
