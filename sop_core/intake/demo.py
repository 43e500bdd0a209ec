"""The built-in demo company, Northwind Outdoor: a deterministic data set for every contract table.

Northwind Outdoor makes tents, backpacks, cookware and sleeping bags on three production
resources and sells them in three regions through retail partners and online. The data is
generated from a seed with numpy's Generator relative to the clock's current month: its history
ends with the last complete month before `clock.today()` (in December 2026, with November 2026),
so the demo is always current, and the same seed in the same month always gives the same frames
and byte-identical CSV files (`write_csv`, `python -m sop_core demo --export DIR`). Annual plan,
capacity, supply, inventory and orders move with the calendar. It is built to show every page of
the app something worth discussing:

- 46 months of monthly sales (trend, yearly seasonality, promotions, noise), one product
  launched 7 months before the end of history and one intermittent commercial product;
- a revenue gap to the annual plan for the current year;
- the tent assembly line (ASSY-2) overloaded for three months of next year's peak season
  when the future is projected as last year's same month grown by the last year's trend;
- some skus below safety stock and some with more than six months of cover;
- order lines with an OTIF of about 90%.
"""
from __future__ import annotations

import functools
import hashlib
import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from sop_core import clock, contract
from sop_core.store.workspace import Provenance

COMPANY = "Northwind Outdoor"
DEFAULT_SEED = 20260101
HISTORY_MONTHS = 46
HORIZON_MONTHS = 24
FILE_PREFIX = "demo/"  # file_name of the demo's loads: demo/sales.csv, ...

REGIONS: tuple[str, ...] = ("North", "South", "West")
CHANNELS: tuple[str, ...] = ("Retail", "Online")
LOCATIONS: tuple[str, ...] = ("DC-East", "DC-West")  # DC-East serves North and South, DC-West serves West

NEW_SKU = "TN-1007"  # launched 7 months before the end of history
INTERMITTENT_SKU = "CW-3008"  # commercial stockpot: occasional bulk orders
SHORT_SKUS: tuple[str, ...] = ("TN-1001", "CW-3001", "SB-4002")  # below safety stock at the last snapshot
EXCESS_SKUS: tuple[str, ...] = ("TN-1006", "BP-2007", "SB-4004")  # more than six months of cover
OVERLOADED_RESOURCE = "ASSY-2"
OVERLOADED_MONTHS = 3  # months of the coming peak season above available hours
SECOND_SHIFT_YEAR_OFFSET = 2  # ASSY-2 adds a planned second shift from January of end year + 2

MAINTENANCE: tuple[tuple[str, int, float], ...] = (
    # resource, month offset from the first month after history (negative = in history), share available
    ("PRESS-3", -16, 0.70),
    ("ASSY-2", 1, 0.75),
    ("SEW-1", 2, 0.65),
    ("PRESS-3", 9, 0.70),
)

# A planned line upgrade takes hours off ASSY-2 in next year's peak (May–July), on top of the sizing
# above: the overload then shows against any reasonable forecast, not only against the trend projection.
PEAK_UPGRADE: tuple[str, tuple[int, ...], float] = ("ASSY-2", (6, 7, 8), 0.85)

PROMOTIONS: tuple[tuple[str, int, float, str | None], ...] = (
    # sku, month index from the start of history, lift, channel (None = all channels)
    ("SB-4001", 9, 0.40, None),
    ("TN-1003", 16, 0.45, "Online"),
    ("CW-3001", 22, 0.50, None),
    ("BP-2003", 26, 0.40, None),
    ("CW-3005", 34, 0.60, "Online"),
    ("TN-1001", 39, 0.40, None),
    ("BP-2002", 43, 0.40, "Retail"),
)
POST_PROMO_DIP = 0.12  # demand pulled forward from the month after a promotion


@dataclass(frozen=True)
class Family:
    """A product family: seasonality (Jan..Dec), yearly growth, region and online shares."""

    name: str
    season: tuple[float, ...]
    growth: float
    region_share: tuple[float, float, float]
    online_share: float
    plan_volume_uplift: tuple[float, float]  # annual plan volume over expected, current and next year
    plan_price_uplift: tuple[float, float]  # price increase assumed by the annual plan


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("Tents", (0.40, 0.50, 0.80, 1.20, 1.60, 1.75, 1.55, 1.10, 0.80, 0.60, 0.70, 0.90),
               0.08, (0.30, 0.25, 0.45), 0.30, (1.02, 1.04), (1.02, 1.03)),
        Family("Backpacks", (0.75, 0.75, 0.90, 1.00, 1.05, 1.15, 1.35, 1.50, 1.05, 0.85, 0.85, 1.00),
               0.04, (0.38, 0.27, 0.35), 0.38, (1.04, 1.05), (1.02, 1.03)),
        Family("Cookware", (0.80, 0.75, 0.85, 0.90, 0.95, 0.95, 0.90, 0.90, 0.95, 1.10, 1.45, 1.60),
               0.025, (0.42, 0.33, 0.25), 0.34, (1.06, 1.05), (1.03, 1.03)),
        Family("Sleeping Bags", (0.95, 0.80, 0.80, 0.90, 1.05, 1.15, 1.10, 1.00, 0.95, 1.05, 1.15, 1.30),
               0.015, (0.40, 0.22, 0.38), 0.32, (1.07, 1.05), (1.02, 1.03)),
    )
}


@dataclass(frozen=True)
class Sku:
    """One product of the demo catalogue and the parameters of its demand."""

    sku: str
    description: str
    family: str
    category: str
    unit_price: float
    unit_cost: float
    resource: str | None  # None: bought in (purchase orders), not made
    hours_per_unit: float | None
    lead_time_weeks: int
    ss_months: float | None  # safety stock in months of demand; None leaves it blank
    base_units: float  # monthly units at the start of history, before seasonality
    growth_adj: float = 0.0  # added to the family's yearly growth
    amplitude: float = 1.0  # scales the family's seasonal swing


SKUS: tuple[Sku, ...] = (
    Sku("TN-1001", "Trailhead 2P Backpacking Tent", "Tents", "Backpacking tents", 228.95, 112.5, "ASSY-2", 0.85, 8, 0.6, 900, 0.02),
    Sku("TN-1002", "Trailhead 3P Backpacking Tent", "Tents", "Backpacking tents", 278.95, 138.0, "ASSY-2", 0.95, 8, 0.6, 520),
    Sku("TN-1003", "Basecamp 4P Family Dome Tent", "Tents", "Family tents", 348.95, 171.0, "ASSY-2", 1.10, 8, 0.7, 610, 0.0, 1.1),
    Sku("TN-1004", "Basecamp 6P Family Cabin Tent", "Tents", "Family tents", 448.95, 224.0, "ASSY-2", 1.35, 10, 0.7, 340, -0.01, 1.1),
    Sku("TN-1005", "Summit 2P Four-Season Tent", "Tents", "Mountaineering tents", 498.95, 236.0, "ASSY-2", 1.50, 10, 0.8, 120, 0.01, 0.3),
    Sku("TN-1006", "Festival 2P Pop-Up Tent", "Tents", "Festival tents", 98.95, 46.0, "ASSY-2", 0.45, 6, 0.5, 780, 0.03, 1.3),
    Sku("TN-1007", "UltraLite 1P Trekking Tent", "Tents", "Backpacking tents", 328.95, 152.0, "ASSY-2", 1.05, 8, None, 650),
    Sku("TN-1008", "Canopy 3x3 Event Shelter", "Tents", "Shelters", 178.95, 84.0, "ASSY-2", 0.70, 6, 0.6, 300, 0.0, 0.9),
    Sku("BP-2001", "Ridge 22L Daypack", "Backpacks", "Daypacks", 68.95, 29.5, "SEW-1", 0.40, 6, 0.5, 1400),
    Sku("BP-2002", "Ridge 30L Daypack", "Backpacks", "Daypacks", 88.95, 38.0, "SEW-1", 0.45, 6, 0.5, 1100),
    Sku("BP-2003", "Traverse 45L Trekking Pack", "Backpacks", "Trekking packs", 168.95, 74.0, "SEW-1", 0.80, 8, 0.6, 520),
    Sku("BP-2004", "Traverse 65L Expedition Pack", "Backpacks", "Trekking packs", 228.95, 101.0, "SEW-1", 0.95, 8, 0.6, 310),
    Sku("BP-2005", "Metro 25L Commuter Pack", "Backpacks", "Urban packs", 98.95, 41.0, "SEW-1", 0.50, 6, None, 850, 0.0, 0.5),
    Sku("BP-2006", "Trail Runner 12L Hydration Vest", "Backpacks", "Running packs", 78.95, 33.0, "SEW-1", 0.35, 6, 0.5, 460, 0.06),
    Sku("BP-2007", "Scout 15L Kids' Pack", "Backpacks", "Kids' packs", 44.95, 19.0, "SEW-1", 0.30, 6, 0.5, 500, -0.24),
    Sku("CW-3001", "Camp Cook Set, 4-Piece Aluminium", "Cookware", "Camp cookware", 58.95, 24.0, "PRESS-3", 0.22, 4, 0.5, 1500),
    Sku("CW-3002", "Carbon Steel Skillet 10in", "Cookware", "Skillets", 44.95, 17.5, "PRESS-3", 0.18, 4, 0.5, 1200),
    Sku("CW-3003", "Stainless Steel Kettle 1.2L", "Cookware", "Kettles", 34.95, 13.2, "PRESS-3", 0.15, 4, 0.5, 1300),
    Sku("CW-3004", "Enamel Dutch Oven 6qt", "Cookware", "Dutch ovens", 88.95, 37.0, "PRESS-3", 0.30, 6, 0.6, 650, 0.0, 1.2),
    Sku("CW-3005", "Nonstick Fry Pan 12in", "Cookware", "Skillets", 48.95, 19.0, "PRESS-3", 0.16, 4, 0.5, 1100),
    Sku("CW-3006", "Stainless Saucepan Set, 3-Piece", "Cookware", "Pots and pans", 118.95, 49.0, "PRESS-3", 0.35, 4, 0.5, 480, 0.01, 1.3),
    Sku("CW-3007", "Titanium Spork, 3-Pack", "Cookware", "Utensils", 18.95, 6.4, None, None, 12, 0.8, 1600, 0.02),
    Sku("CW-3008", "Commercial Stockpot 60qt", "Cookware", "Commercial", 188.95, 88.0, "PRESS-3", 0.60, 6, 2.0, 0.0),
    Sku("SB-4001", "Nightfall 30F Synthetic Sleeping Bag", "Sleeping Bags", "Synthetic bags", 98.95, 41.0, "SEW-1", 0.55, 6, 0.6, 900),
    Sku("SB-4002", "Nightfall 15F Synthetic Sleeping Bag", "Sleeping Bags", "Synthetic bags", 128.95, 54.0, "SEW-1", 0.65, 6, 0.6, 620, 0.01),
    Sku("SB-4003", "Alpine 0F Down Sleeping Bag", "Sleeping Bags", "Down bags", 348.95, 158.0, "SEW-1", 0.90, 10, 0.7, 210, 0.02, 0.6),
    Sku("SB-4004", "Breeze 50F Summer Travel Bag", "Sleeping Bags", "Synthetic bags", 68.95, 28.0, "SEW-1", 0.40, 6, 0.5, 520, -0.16, 1.4),
    Sku("SB-4005", "Camper Kids' Sleeping Bag", "Sleeping Bags", "Kids' bags", 48.95, 20.0, "SEW-1", 0.35, 6, 0.5, 640),
    Sku("SB-4006", "Silk Sleeping Bag Liner", "Sleeping Bags", "Accessories", 58.95, 21.0, None, None, 12, 0.8, 380, 0.03),
)

INTERMITTENT_CHANCE = 0.28  # chance of a bulk order in a month
INTERMITTENT_LOTS = (2, 9)  # a bulk order is this many cases of 6 (upper bound exclusive)
NEW_SKU_RAMP_MONTHS = 2.5  # time constant of the launch ramp-up

_SEEDS = {"sales": 1, "products": 2, "inventory": 3, "supply": 4, "orders": 5, "shares": 6}


@dataclass(frozen=True)
class _Calendar:
    """History and horizon months of one generation."""

    months: pd.DatetimeIndex  # history followed by the horizon, month starts
    history: int  # number of history months

    @property
    def end(self) -> pd.Timestamp:
        """Last day of history."""
        return self.months[self.history - 1] + pd.offsets.MonthEnd(0)


def _calendar(end: str) -> _Calendar:
    """Months of history ending with the month of `end`, followed by the horizon."""
    last = pd.Timestamp(end).to_period("M")
    start = (last - (HISTORY_MONTHS - 1)).to_timestamp()
    months = pd.date_range(start, periods=HISTORY_MONTHS + HORIZON_MONTHS, freq="MS")
    return _Calendar(months, HISTORY_MONTHS)


def _rng(seed: int, part: str) -> np.random.Generator:
    """An independent generator per table, so tuning one table never reshuffles another."""
    return np.random.default_rng([seed, _SEEDS[part]])


def _expected(cal: _Calendar) -> np.ndarray:
    """Noise-free monthly units per sku (rows) and month (columns), without promotions."""
    t = np.arange(len(cal.months))
    moy = cal.months.month.to_numpy() - 1
    out = np.zeros((len(SKUS), len(t)))
    for i, s in enumerate(SKUS):
        fam = FAMILIES[s.family]
        season = np.asarray(fam.season) / np.mean(fam.season)
        season = 1.0 + s.amplitude * (season - 1.0)
        level = s.base_units * season[moy] * (1.0 + fam.growth + s.growth_adj) ** (t / 12.0)
        if s.sku == NEW_SKU:
            launch = cal.history - 7
            level = np.where(t >= launch, level * (1.0 - np.exp(-(t - launch + 1) / NEW_SKU_RAMP_MONTHS)), 0.0)
        if s.sku == INTERMITTENT_SKU:
            level = np.full(len(t), INTERMITTENT_CHANCE * 6.0 * np.mean(INTERMITTENT_LOTS))
        out[i] = level
    return out


def _shares(seed: int, cal: _Calendar) -> tuple[np.ndarray, np.ndarray]:
    """Region shares per sku (sku × region) and online share per sku and month (sku × month)."""
    rng = _rng(seed, "shares")
    region = np.zeros((len(SKUS), len(REGIONS)))
    online = np.zeros((len(SKUS), len(cal.months)))
    ramp = np.arange(len(cal.months)) / (cal.history - 1)
    for i, s in enumerate(SKUS):
        fam = FAMILIES[s.family]
        region[i] = rng.dirichlet(np.asarray(fam.region_share) * 60.0)
        online[i] = np.clip(fam.online_share + rng.normal(0.0, 0.03) + 0.12 * ramp, 0.1, 0.8)
    return region, online


def _sales(seed: int, cal: _Calendar, expected: np.ndarray) -> pd.DataFrame:
    """Monthly sales per sku × region × channel over the history (zero rows are left out)."""
    rng = _rng(seed, "sales")
    region_share, online_share = _shares(seed, cal)
    h = cal.history
    lift = np.ones((len(SKUS), h, len(CHANNELS)))
    index = {s.sku: i for i, s in enumerate(SKUS)}
    for sku, month, up, channel in PROMOTIONS:
        if not 0 <= month < h:
            continue
        cols = [CHANNELS.index(channel)] if channel else list(range(len(CHANNELS)))
        lift[index[sku], month, cols] *= 1.0 + up
        if month + 1 < h:
            lift[index[sku], month + 1, cols] *= 1.0 - POST_PROMO_DIP
    rows: list[tuple] = []
    for i, s in enumerate(SKUS):
        if s.sku == INTERMITTENT_SKU:
            for m in range(h):
                if rng.random() < INTERMITTENT_CHANCE:
                    r = int(rng.integers(len(REGIONS)))
                    qty = 6 * int(rng.integers(*INTERMITTENT_LOTS))
                    rows.append((m, s.sku, REGIONS[r], "Retail", s.family, qty))
            continue
        common = rng.lognormal(-0.07**2 / 2, 0.07, size=h)  # shared by all series of the sku
        for r, region in enumerate(REGIONS):
            for c, channel in enumerate(CHANNELS):
                chan = online_share[i, :h] if channel == "Online" else 1.0 - online_share[i, :h]
                mean = expected[i, :h] * region_share[i, r] * chan * common * lift[i, :, c]
                mean = mean * rng.lognormal(-0.10**2 / 2, 0.10, size=h)
                qty = rng.poisson(mean)
                for m in np.flatnonzero(qty > 0):
                    rows.append((int(m), s.sku, region, channel, s.family, int(qty[m])))
    df = pd.DataFrame(rows, columns=["m", "sku", "region", "channel", "family", "quantity"])
    df["date"] = cal.months[df["m"].to_numpy()]
    price = {s.sku: s.unit_price for s in SKUS}
    df["revenue"] = [round(int(q) * float(price[k]), 2) for q, k in zip(df["quantity"], df["sku"])]
    df = df.sort_values(["date", "sku", "region", "channel"], kind="mergesort").reset_index(drop=True)
    return df[list(contract.TABLES["sales"].column_names)]


def _history_units(sales: pd.DataFrame, cal: _Calendar) -> np.ndarray:
    """Actual units per sku (rows) and history month (columns)."""
    m = cal.months[: cal.history]
    pivot = sales.pivot_table(index="sku", columns="date", values="quantity", aggfunc="sum", fill_value=0)
    pivot = pivot.reindex(index=[s.sku for s in SKUS], columns=m, fill_value=0)
    return pivot.to_numpy(dtype=float)


def _products(cal: _Calendar, expected: np.ndarray) -> pd.DataFrame:
    """The product master, with safety stock sized from the last 12 months of expected demand."""
    h = cal.history
    rows = []
    for i, s in enumerate(SKUS):
        ss = None
        if s.ss_months is not None:
            ss = max(10, int(round(s.ss_months * expected[i, h - 12: h].mean() / 10.0)) * 10)
        rows.append((s.sku, s.description, s.family, s.category, s.unit_price, s.unit_cost, s.resource,
                     s.hours_per_unit, s.lead_time_weeks, ss, None, None))  # counted in EA, no case packs
    df = pd.DataFrame(rows, columns=list(contract.TABLES["products"].column_names))
    df["hours_per_unit"] = df["hours_per_unit"].astype("float64")
    df["lead_time_weeks"] = df["lead_time_weeks"].astype("int64")
    df["safety_stock_units"] = df["safety_stock_units"].astype("Int64")
    return df


def _workdays(cal: _Calendar) -> np.ndarray:
    """Monday-to-Friday days in each month of the calendar."""
    starts = cal.months.to_numpy().astype("datetime64[D]")
    ends = (cal.months + pd.offsets.MonthBegin(1)).to_numpy().astype("datetime64[D]")
    return np.busday_count(starts, ends).astype(float)


def projected_load(history_load: np.ndarray, horizon: int = HORIZON_MONTHS) -> np.ndarray:
    """Future required hours: last year's same month × (1 + trend), trend = last 12 months over the 12 before."""
    growth = history_load[-12:].sum() / history_load[-24:-12].sum()
    out = np.zeros(horizon)
    for k in range(horizon):
        years = k // 12 + 1
        out[k] = history_load[len(history_load) - 12 * years + k] * growth**years
    return out


def _capacity(cal: _Calendar, units: np.ndarray) -> pd.DataFrame:
    """Available hours per resource and month, sized so that only ASSY-2 is overloaded next peak season."""
    h, n = cal.history, len(cal.months)
    workdays = _workdays(cal)
    resources = sorted({s.resource for s in SKUS if s.resource})
    rows = []
    for res in resources:
        hpu = np.array([s.hours_per_unit if s.resource == res else 0.0 for s in SKUS])
        load_hist = hpu @ units
        load = np.concatenate([load_hist, projected_load(load_hist, n - h)])
        factor = np.ones(n)
        for name, offset, share in MAINTENANCE:
            if name == res and 0 <= h + offset < n:
                factor[h + offset] = share
        per_day = load / (workdays * factor)  # hours a day needed to meet the load
        daily = np.full(n, np.ceil(per_day.max() / 0.88))  # everyone else peaks near 88% utilisation
        if res == OVERLOADED_RESOURCE:
            season = np.sort(per_day[h: h + 12])[::-1]
            hours = round((season[OVERLOADED_MONTHS - 1] + season[OVERLOADED_MONTHS]) / 2.0, 1)
            shift = np.flatnonzero((cal.months.year == cal.months[h - 1].year + SECOND_SHIFT_YEAR_OFFSET)
                                   & (cal.months.month == 1))
            daily[:] = hours
            if len(shift):
                later = per_day[shift[0]:].max() / 0.92
                daily[shift[0]:] = float(np.ceil(max(hours, later)))
        if res == PEAK_UPGRADE[0]:
            for offset in PEAK_UPGRADE[1]:
                if 0 <= h + offset < n:
                    factor[h + offset] *= PEAK_UPGRADE[2]
        available = np.round(daily * workdays * factor, 1)
        for m in range(n):
            rows.append((cal.months[m], res, float(available[m]), None))
    df = pd.DataFrame(rows, columns=list(contract.TABLES["capacity"].column_names))
    df["capacity_units"] = df["capacity_units"].astype("float64")
    return df.sort_values(["period", "resource"], kind="mergesort").reset_index(drop=True)


def _inventory(seed: int, cal: _Calendar, expected: np.ndarray, units: np.ndarray,
               products: pd.DataFrame) -> pd.DataFrame:
    """Month-end on hand per sku × DC for the last 12 months of history."""
    rng = _rng(seed, "inventory")
    region_share, _ = _shares(seed, cal)
    h = cal.history
    snaps = list(range(h - 12, h))
    ss = products.set_index("sku")["safety_stock_units"]
    rows = []
    for i, s in enumerate(SKUS):
        trailing = np.array([units[i, max(0, m - 2): m + 1].mean() for m in snaps])
        forward = np.array([expected[i, m + 1: m + 4].mean() for m in snaps])
        demand = 0.5 * trailing + 0.5 * forward
        cover = rng.uniform(1.4, 2.4) * np.exp(np.cumsum(rng.normal(0.0, 0.08, len(snaps))))
        total = cover * demand
        if s.sku == INTERMITTENT_SKU:
            total = 6.0 * np.round(rng.uniform(14, 26) + np.cumsum(rng.normal(0.0, 2.0, len(snaps))))
        sku_ss = ss[s.sku]
        if s.sku in SHORT_SKUS:
            final = rng.uniform(0.3, 0.6) * float(sku_ss)
        elif s.sku in EXCESS_SKUS:
            final = rng.uniform(7.5, 10.0) * trailing[-1]
        else:
            low = 1.15 * float(sku_ss) if not pd.isna(sku_ss) else 0.0
            final = float(np.clip(total[-1], low, max(low, 5.5 * trailing[-1])))
        if s.sku in SHORT_SKUS + EXCESS_SKUS:
            w = np.clip((np.arange(len(snaps)) - (len(snaps) - 7)) / 6.0, 0.0, 1.0)
            total = np.exp((1 - w) * np.log(np.maximum(total, 1.0)) + w * np.log(max(final, 1.0)))
        total[-1] = final
        if s.sku == NEW_SKU:  # stock is built from the month before launch
            total = np.where(np.array(snaps) >= h - 8, total, np.nan)
        east = np.clip(region_share[i, 0] + region_share[i, 1] + rng.normal(0.0, 0.04, len(snaps)), 0.2, 0.9)
        for k, m in enumerate(snaps):
            if np.isnan(total[k]):
                continue
            qty = int(round(total[k]))
            e = int(round(qty * east[k]))
            date = cal.months[m] + pd.offsets.MonthEnd(0)
            rows.append((date, s.sku, LOCATIONS[0], e))
            rows.append((date, s.sku, LOCATIONS[1], qty - e))
    df = pd.DataFrame(rows, columns=list(contract.TABLES["inventory"].column_names))
    return df.sort_values(["date", "sku", "location"], kind="mergesort").reset_index(drop=True)


def _supply(seed: int, cal: _Calendar, expected: np.ndarray) -> pd.DataFrame:
    """Planned receipts for the next four months: production orders and purchase orders."""
    rng = _rng(seed, "supply")
    h = cal.history
    rows = []
    for i, s in enumerate(SKUS):
        if s.sku in EXCESS_SKUS:
            continue
        if s.resource is None:  # bought in: one purchase order a month, in cases of 50
            for k in range(4):
                qty = 50 * round(expected[i, h + k: h + k + 2].mean() * rng.uniform(0.9, 1.15) / 50)
                day = cal.months[h + k] + pd.Timedelta(days=int(rng.integers(5, 20)))
                rows.append((day, s.sku, qty, "PO"))
            continue
        if s.sku == INTERMITTENT_SKU:
            rows.append((cal.months[h + 1] + pd.Timedelta(days=9), s.sku, 48, "Production"))
            continue
        if rng.random() < 0.2 and s.sku not in SHORT_SKUS:
            continue  # not on the production plan yet
        for k in range(4):
            month = cal.months[h + k]
            mondays = pd.date_range(month, month + pd.offsets.MonthEnd(0), freq="W-MON")
            need = expected[i, h + k: h + k + 3].mean()  # builds ahead of a rising season
            for day in mondays[[0, 2]]:
                if s.sku == "SB-4002" and k == 0:
                    continue  # the short sku that waits a month for its next production run
                qty = 10 * round(need / 2 * rng.uniform(0.85, 1.15) / 10)
                rows.append((day, s.sku, qty, "Production"))
        if s.sku in ("TN-1001", "CW-3001"):  # expedited runs for the skus below safety stock
            rows.append((cal.months[h] + pd.Timedelta(days=3), s.sku,
                         10 * round(expected[i, h] * 0.5 / 10), "Production"))
    df = pd.DataFrame(rows, columns=list(contract.TABLES["supply"].column_names))
    df["quantity"] = df["quantity"].astype("int64")
    df = df.groupby(["date", "sku", "source"], as_index=False, sort=True)["quantity"].sum()
    return df[list(contract.TABLES["supply"].column_names)].reset_index(drop=True)


def _plan(cal: _Calendar, expected: np.ndarray) -> pd.DataFrame:
    """Annual operating plan per month × family × region for the current and next calendar year."""
    region_share = np.array([FAMILIES[s.family].region_share for s in SKUS])
    year = cal.months[cal.history - 1].year
    rows = []
    for m, month in enumerate(cal.months):
        if month.year not in (year, year + 1):
            continue
        y = month.year - year
        for fam in FAMILIES.values():
            idx = [i for i, s in enumerate(SKUS) if s.family == fam.name]
            for r, region in enumerate(REGIONS):
                vol = sum(expected[i, m] * region_share[i, r] for i in idx) * fam.plan_volume_uplift[y]
                rev = sum(expected[i, m] * region_share[i, r] * SKUS[i].unit_price for i in idx)
                cost = sum(expected[i, m] * region_share[i, r] * SKUS[i].unit_cost for i in idx)
                rev *= fam.plan_volume_uplift[y] * fam.plan_price_uplift[y]
                cost *= fam.plan_volume_uplift[y]
                rows.append((month, fam.name, None, region, int(round(vol)), float(round(rev)),
                             float(round(rev - cost))))
    df = pd.DataFrame(rows, columns=list(contract.TABLES["plan"].column_names))
    df["sku"] = df["sku"].astype("object")
    return df


def _orders(seed: int, cal: _Calendar, units: np.ndarray) -> pd.DataFrame:
    """Order lines of the last 12 months, about 90% delivered on time and in full."""
    rng = _rng(seed, "orders")
    h = cal.history
    end = cal.end
    season_peak = {5, 6}  # tents run late at the peak
    rows = []
    number = 0
    for m in range(h - 12, h):
        month = cal.months[m]
        days = pd.bdate_range(month, month + pd.offsets.MonthEnd(0))
        weights = units[:, m] / units[:, m].sum()
        for _ in range(int(rng.integers(95, 115))):
            number += 1
            order_id = f"SO-{month.year}-{number:05d}"
            requested = days[int(rng.integers(len(days)))]
            lines = int(rng.choice([1, 2, 3, 4], p=[0.45, 0.3, 0.15, 0.1]))
            picked = rng.choice(len(SKUS), size=lines, replace=False, p=weights)
            for i in sorted(picked):
                s = SKUS[i]
                qty = max(1, int(round(rng.gamma(2.0, 6.0 * (150.0 / s.unit_price) ** 0.5))))
                fail = 0.07
                if s.sku in SHORT_SKUS and m >= h - 4:
                    fail = 0.30
                if s.family == "Tents" and month.month in season_peak:
                    fail = 0.18
                delivered, got = requested - pd.Timedelta(days=int(rng.integers(0, 3))), qty
                if rng.random() < fail:
                    kind = rng.choice(["late", "short", "both"], p=[0.5, 0.35, 0.15])
                    if kind in ("late", "both"):
                        delivered = requested + pd.Timedelta(days=int(rng.integers(1, 12)))
                    if kind in ("short", "both"):
                        got = int(np.floor(qty * rng.uniform(0.4, 0.95)))
                if delivered > end:  # not delivered yet at the end of history: an open line
                    rows.append((order_id, s.sku, requested, qty, pd.NaT, None))
                else:
                    rows.append((order_id, s.sku, requested, qty, delivered, got))
    df = pd.DataFrame(rows, columns=list(contract.TABLES["orders"].column_names))
    df["requested_qty"] = df["requested_qty"].astype("int64")
    df["delivered_qty"] = df["delivered_qty"].astype("Int64")
    return df


def demo_end(today: date | None = None) -> str:
    """The demo's last month of history, 'YYYY-MM': the last complete month before `today` (default the clock's)."""
    return f"{clock.last_complete_month(today):%Y-%m}"


def generate(seed: int = DEFAULT_SEED, end: str | None = None) -> dict[str, pd.DataFrame]:
    """The demo company's tables, one frame per contract table with exactly the contract columns.

    end: last month of history ('YYYY-MM'); default `demo_end()`, the last complete month before today.
    """
    return {name: df.copy() for name, df in _generate(seed, end or demo_end()).items()}


@functools.lru_cache(maxsize=2)
def _generate(seed: int, end: str) -> dict[str, pd.DataFrame]:
    cal = _calendar(end)
    expected = _expected(cal)
    sales = _sales(seed, cal, expected)
    units = _history_units(sales, cal)
    products = _products(cal, expected)
    tables = {
        "sales": sales,
        "products": products,
        "inventory": _inventory(seed, cal, expected, units, products),
        "capacity": _capacity(cal, units),
        "supply": _supply(seed, cal, expected),
        "plan": _plan(cal, expected),
        "orders": _orders(seed, cal, units),
    }
    return {name: tables[name][list(contract.TABLES[name].column_names)] for name in contract.TABLE_ORDER}


def _csv_frame(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """A copy ready for CSV: ISO dates, whole numbers without a decimal point."""
    out = df.copy()
    spec = contract.TABLES[name]
    for col in spec.columns:
        s = out[col.name]
        if col.type == contract.DATE:
            out[col.name] = pd.to_datetime(s).dt.strftime("%Y-%m-%d")
        elif col.type == contract.NUMBER and s.dtype.kind == "f":
            values = s.dropna()
            if len(values) and bool((values == values.round()).all()):
                out[col.name] = s.astype("Int64")
    return out


def csv_bytes(name: str, seed: int = DEFAULT_SEED, end: str | None = None) -> bytes:
    """One demo table as the CSV file a user would upload (UTF-8, LF line ends, ISO dates)."""
    df = _generate(seed, end or demo_end())[name]
    return _csv_frame(df, name).to_csv(index=False, lineterminator="\n").encode("utf-8")


def write_csv(directory: Path, seed: int = DEFAULT_SEED, end: str | None = None) -> list[Path]:
    """Write one CSV per contract table (sales.csv, products.csv, ...) into `directory`; returns their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in contract.TABLE_ORDER:
        path = directory / f"{name}.csv"
        path.write_bytes(csv_bytes(name, seed, end))
        paths.append(path)
    return paths


def read_csv(path: Path | bytes, name: str) -> pd.DataFrame:
    """Read one demo CSV (a path or its bytes) into a frame with the contract's columns and types."""
    spec = contract.TABLES[name]
    text_cols = {c.name: str for c in spec.columns if c.type == contract.TEXT}
    source = io.BytesIO(path) if isinstance(path, bytes) else path
    df = pd.read_csv(source, dtype=text_cols, keep_default_na=False, na_values=[""])
    for col in spec.columns:
        if col.name not in df.columns:
            df[col.name] = None
        elif col.type == contract.DATE:
            df[col.name] = pd.to_datetime(df[col.name], format="%Y-%m-%d")
        elif col.type == contract.NUMBER:
            df[col.name] = pd.to_numeric(df[col.name]).astype("float64")
        else:
            df[col.name] = df[col.name].astype("object").where(df[col.name].notna(), None)
    return df[list(spec.column_names)]


def tables(seed: int = DEFAULT_SEED, end: str | None = None) -> dict[str, tuple[pd.DataFrame, Provenance]]:
    """The demo's seven tables as stored (read back from their CSV bytes) with the provenance of each load."""
    out = {}
    for name in contract.TABLE_ORDER:
        data = csv_bytes(name, seed, end)
        out[name] = (read_csv(data, name),
                     Provenance(file_name=f"{FILE_PREFIX}{name}.csv", sha256=hashlib.sha256(data).hexdigest(),
                                author="demo"))
    return out
