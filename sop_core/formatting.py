"""Numbers as a finance person reads them: thousands separators, compact money, signed deltas."""
from __future__ import annotations

import math

CURRENCY = "$"


def _bad(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and (math.isnan(x) or math.isinf(x)))


def money(x: float | None, compact: bool = True, currency: str = CURRENCY) -> str:
    """$1.23M / $84.5M / $845K / $950 (compact) or $1,234,567 (full); negatives as −$1.2M."""
    if _bad(x):
        return "—"
    sign = "−" if x < 0 else ""
    a = abs(float(x))
    if compact:
        for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
            v = a / size
            digits = 2 if v < 10 else 1 if v < 100 else 0
            if round(v, digits) >= 1 and (suffix == "B" or round(v, digits) < 1000):
                return f"{sign}{currency}{v:,.{digits}f}{suffix}"
            if round(v, digits) >= 1000:  # $999,960 rounds to 1,000K: show it as $1.00M
                break
        return f"{sign}{currency}{a:,.0f}"
    return f"{sign}{currency}{a:,.0f}"


def units(x: float | None, compact: bool = False) -> str:
    """12,345 units (or 12.3K compact)."""
    if _bad(x):
        return "—"
    sign = "−" if x < 0 else ""
    a = abs(float(x))
    if compact and a >= 1e6:
        return f"{sign}{a / 1e6:,.2f}M"
    if compact and a >= 1e4:
        return f"{sign}{a / 1e3:,.1f}K"
    return f"{sign}{a:,.0f}"


def pct(x: float | None, digits: int = 1, signed: bool = False) -> str:
    """A fraction as a percentage: 0.123 → 12.3% (+12.3% when signed)."""
    if _bad(x):
        return "—"
    text = f"{abs(x) * 100:,.{digits}f}%"
    if round(abs(x) * 100, digits) == 0:  # no sign on a difference that rounds to nothing ("−0.0%")
        return text
    if x < 0:
        return "−" + text
    return ("+" + text) if signed and x > 0 else text


def pts(x: float | None, digits: int = 1) -> str:
    """A difference of two percentages in percentage points: 0.043 → +4.3 pts, −0.021 → −2.1 pts."""
    if _bad(x):
        return "—"
    text = f"{abs(x) * 100:,.{digits}f} pts"
    if round(abs(x) * 100, digits) == 0:
        return text
    return ("−" if x < 0 else "+") + text


def plural(n: float, word: str, words: str | None = None) -> str:
    """A count with its noun agreeing: 1 month, 3 months, 1,204 series (words: the irregular plural)."""
    many = words if words is not None else word + "s"
    if _bad(n):
        return f"— {many}"
    return f"{units(n)} {word if round(abs(float(n))) == 1 else many}"


def delta_money(x: float | None) -> str:
    """Signed compact money for deltas: +$1.2M / −$300K."""
    if _bad(x):
        return "—"
    return ("+" if x > 0 else "") + money(x)


def delta_units(x: float | None) -> str:
    """Signed units for deltas."""
    if _bad(x):
        return "—"
    return ("+" if x > 0 else "") + units(x)


def metric_delta(text: str | None) -> str | None:
    """A delta text for a metric widget: ASCII minus, which is what decides the arrow's direction and colour."""
    return None if text is None else text.replace("−", "-")


def delta_money_whole(x: float | None) -> str:
    """Signed whole dollars for deltas in tables: +$1,234,567 / −$300 / $0 (no sign on what rounds to nothing)."""
    if _bad(x):
        return "—"
    if round(float(x)) == 0:
        return money(0.0, compact=False)
    return ("+" if x > 0 else "") + money(x, compact=False)


def demand_noun(in_money: bool = False) -> str:
    """What a demand figure counts: 'revenue' for a history in money, else 'units'."""
    return "revenue" if in_money else "units"


def demand(x: float | None, in_money: bool = False, with_unit: bool = False) -> str:
    """A demand figure in its measure: $1.23M for a history in money, else 12,345 (or '12,345 units' with_unit)."""
    if in_money:
        return money(x)
    return f"{units(x)} units" if with_unit and not _bad(x) else units(x)


def delta_demand(x: float | None, in_money: bool = False, with_unit: bool = False) -> str:
    """A signed demand difference in its measure: +$1.2M for a history in money, else +1,234 (units with_unit)."""
    if in_money:
        return delta_money(x)
    return f"{delta_units(x)} units" if with_unit and not _bad(x) else delta_units(x)
