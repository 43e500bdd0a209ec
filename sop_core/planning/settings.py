"""The plan settings: pre-build horizon, excess-cover threshold and inventory service level — bounds, saved values.

    name                 meaning                                            bounds         default
    prebuild_months      months of spare capacity that may build ahead      0 to 6, whole  2
    excess_cover_months  stock beyond this many months of demand is excess  1 to 24, whole 6
    service_level        service level of the computed safety stock         0.5 to 0.999   0.95

The defaults are `DEFAULTS` here; the Inventory page offers SERVICE_LEVELS. The workspace keeps
one set, "the plan settings" (workspace setting `PLAN_SETTINGS`): what `PlanInputs.from_workspace`,
and so the board pack, uses when not told otherwise. `save` checks a set and stores it through
`Workspace.set_setting` (one transaction, audited as a 'setting' event, so the role check applies);
`saved` reads it back, a stored value that fails the check falling back to its default.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

from sop_core.store.workspace import Workspace

PLAN_SETTINGS = "plan_settings"  # workspace setting: {"prebuild_months": 2, "service_level": 0.95, ...}
DEFAULTS: dict[str, Any] = {"prebuild_months": 2, "service_level": 0.95, "excess_cover_months": 6.0}

NAMES: tuple[str, ...] = ("prebuild_months", "excess_cover_months", "service_level")
BOUNDS: dict[str, tuple[float, float]] = {"prebuild_months": (0, 6), "excess_cover_months": (1, 24),
                                          "service_level": (0.5, 0.999)}
WHOLE = frozenset({"prebuild_months", "excess_cover_months"})  # whole months
SERVICE_LEVELS: tuple[float, ...] = (0.90, 0.95, 0.975, 0.99)  # offered on the Inventory page
LABELS = {"prebuild_months": "pre-build horizon (months)", "excess_cover_months": "excess cover (months)",
          "service_level": "service level"}


def _typed(name: str, value: float) -> int | float:
    """The setting's stored type: int pre-build months, float excess months, service level to 4 decimals."""
    if name == "prebuild_months":
        return int(value)
    if name == "excess_cover_months":
        return float(value)
    return round(float(value), 4)


def clamp(name: str, value: float) -> int | float:
    """`value` moved into the setting's bounds (whole months rounded), in the setting's type."""
    lo, hi = BOUNDS[name]
    v = min(max(float(value), lo), hi)
    return _typed(name, round(v) if name in WHOLE else v)


def check(values: Mapping[str, Any]) -> dict[str, int | float]:
    """All three settings from `values` (missing ones = the defaults); ValueError naming the first bad setting."""
    unknown = [k for k in values if k not in NAMES]
    if unknown:
        raise ValueError(f"unknown plan setting {unknown[0]!r}: use {', '.join(NAMES)}")
    out: dict[str, int | float] = {}
    for name in NAMES:
        raw = values.get(name, DEFAULTS[name])
        lo, hi = BOUNDS[name]
        rule = f"a whole number from {lo:g} to {hi:g}" if name in WHOLE else f"a number from {lo:g} to {hi:g}"
        if isinstance(raw, bool) or not isinstance(raw, numbers.Real) or not math.isfinite(raw):
            raise ValueError(f"plan setting {name} ({LABELS[name]}) must be {rule}, not {raw!r}")
        if not lo <= raw <= hi or (name in WHOLE and float(raw) != int(raw)):
            raise ValueError(f"plan setting {name} ({LABELS[name]}) must be {rule}, not {raw!r}")
        out[name] = _typed(name, raw)
    return out


def saved(ws: Workspace) -> dict[str, int | float]:
    """The workspace's plan settings over the defaults (a stored value that fails `check` gives its default)."""
    stored = ws.get_setting(PLAN_SETTINGS, {}) or {}
    out = check({})
    if isinstance(stored, Mapping):
        for name in NAMES:
            if name in stored:
                try:
                    out[name] = check({name: stored[name]})[name]
                except ValueError:
                    pass
    return out


def save(ws: Workspace, values: Mapping[str, Any], author: str | None = None) -> dict[str, int | float]:
    """Check `values` and store them as the workspace's plan settings (audited); returns what was stored.

    Raises ValueError (nothing stored) for a bad value, access.NotPermitted when the acting role may not.
    """
    clean = check(values)
    ws.set_setting(PLAN_SETTINGS, clean, author)
    return clean


def describe(values: Mapping[str, Any], names: tuple[str, ...] = NAMES) -> str:
    """'pre-build 2 months · excess beyond 6 months · service level 95%' for the `names` given."""
    words = {
        "prebuild_months": lambda v: f"pre-build {int(v)} month{'s' if int(v) != 1 else ''}",
        "excess_cover_months": lambda v: f"excess beyond {float(v):g} months",
        "service_level": lambda v: f"service level {float(v) * 100:g}%",
    }
    return " · ".join(words[n](values[n]) for n in names)


def differing(using: Mapping[str, Any], stored: Mapping[str, Any]) -> tuple[str, ...]:
    """The names of the settings whose values differ between `using` and `stored`."""
    return tuple(n for n in NAMES if not math.isclose(float(using[n]), float(stored[n]), abs_tol=1e-9))
