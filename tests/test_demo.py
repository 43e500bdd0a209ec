"""The demo company: deterministic, contract-shaped, and showing every story the app tells."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sop_core import contract
from sop_core.intake import demo


@pytest.fixture(scope="module")
def generated() -> dict[str, pd.DataFrame]:
    """Frames from the default seed."""
    return demo.generate()


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    """The demo's CSV files, read as the app reads them."""
    return {name: demo.read_csv(demo.csv_bytes(name), name) for name in contract.TABLE_ORDER}


def _history_months(sales: pd.DataFrame) -> pd.DatetimeIndex:
    return pd.date_range(sales["date"].min(), sales["date"].max(), freq="MS")


def test_generate_is_deterministic(generated: dict[str, pd.DataFrame]) -> None:
    again = demo.generate()
    assert list(again) == list(contract.TABLE_ORDER)
    for name, df in generated.items():
        pd.testing.assert_frame_equal(df, again[name])


def test_other_seed_gives_other_sales(generated: dict[str, pd.DataFrame]) -> None:
    other = demo.generate(seed=7)
    assert not other["sales"]["quantity"].equals(generated["sales"]["quantity"])


def test_written_csv_equals_the_bytes_and_is_stable_within_a_month(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    paths = demo.write_csv(tmp_path)
    assert [p.name for p in paths] == [f"{n}.csv" for n in contract.TABLE_ORDER]
    for path in paths:
        assert path.read_bytes() == demo.csv_bytes(path.stem)
    monkeypatch.setenv("SOP_TODAY", "2026-11-29")  # same month, other day: the same files
    assert all(p.read_bytes() == demo.csv_bytes(p.stem) for p in paths)
    monkeypatch.setenv("SOP_TODAY", "2026-12-01")  # a month later: new history
    assert (tmp_path / "sales.csv").read_bytes() != demo.csv_bytes("sales")


def test_csv_format() -> None:
    text = demo.csv_bytes("orders").decode()
    assert "\r" not in text
    header, first = text.splitlines()[:2]
    assert header == ",".join(contract.TABLES["orders"].column_names)
    assert first.split(",")[2][:4].isdigit() and first.split(",")[2][4] == "-"  # ISO date
    sales = demo.csv_bytes("sales").decode().splitlines()[1]
    assert sales.split(",")[0] == "2023-01-01"


@pytest.mark.parametrize("today, end, first", [
    ("2026-11-15", "2026-10", "2023-01"),
    ("2026-12-31", "2026-11", "2023-02"),
    ("2027-01-01", "2026-12", "2023-03"),  # across a year end
    ("2028-03-10", "2028-02", "2024-05"),
    ("2029-12-06", "2029-11", "2026-02"),
])
def test_history_ends_with_the_last_complete_month(today: str, end: str, first: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOP_TODAY", today)
    assert demo.demo_end() == end
    t = demo.generate()
    last, start = pd.Timestamp(end), pd.Timestamp(first)
    assert t["sales"]["date"].max() == last and t["sales"]["date"].min() == start
    assert t["inventory"]["date"].max() == last + pd.offsets.MonthEnd(0)
    assert t["orders"]["requested_date"].max() <= last + pd.offsets.MonthEnd(0)
    assert t["orders"]["requested_date"].min() >= last - pd.DateOffset(months=11)
    assert t["supply"]["date"].min() > last + pd.offsets.MonthEnd(0)  # receipts are all in the future
    assert set(t["plan"]["period"].dt.year) == {last.year, last.year + 1}  # the annual plan of this year and next
    assert t["capacity"]["period"].max() == last + pd.DateOffset(months=demo.HORIZON_MONTHS)
    assert demo.generate()["sales"].equals(t["sales"])  # two runs in the same month: identical data


def test_contract_columns(generated: dict[str, pd.DataFrame], tables: dict[str, pd.DataFrame]) -> None:
    for name in contract.TABLE_ORDER:
        cols = list(contract.TABLES[name].column_names)
        assert list(generated[name].columns) == cols, name
        assert list(pd.read_csv(io.BytesIO(demo.csv_bytes(name)), nrows=1).columns) == cols, name
        assert len(tables[name]) > 0, name
        for col in contract.TABLES[name].required:
            assert tables[name][col].notna().all(), f"{name}.{col} has blanks"


def test_catalogue(tables: dict[str, pd.DataFrame]) -> None:
    products, sales = tables["products"], tables["sales"]
    assert products["sku"].is_unique
    assert products["family"].nunique() >= 3
    assert len(products) >= 24
    assert set(sales["region"]) == {"North", "South", "West"}
    assert set(sales["channel"]) == {"Retail", "Online"}
    assert set(sales["sku"]) <= set(products["sku"])
    made = products[products["resource"].notna()]
    assert made["resource"].nunique() == 3
    assert made["hours_per_unit"].gt(0).all()
    assert products["lead_time_weeks"].notna().all()
    blank_ss = products["safety_stock_units"].isna().sum()
    assert 1 <= blank_ss <= 3  # computed safety stock gets exercised
    assert (products["unit_cost"] < products["unit_price"]).all()
    # the sales family column agrees with the product master
    fam = sales["sku"].map(products.set_index("sku")["family"])
    assert (fam == sales["family"]).all()
    assert len(sales) < 10_000


def test_history_length(tables: dict[str, pd.DataFrame]) -> None:
    sales = tables["sales"]
    months = _history_months(sales)
    assert len(months) >= 36
    assert sales["date"].max() == pd.Timestamp("2026-10-01")
    assert (sales["date"].dt.day == 1).all()


def test_new_and_intermittent_skus(tables: dict[str, pd.DataFrame]) -> None:
    sales = tables["sales"]
    months = _history_months(sales)
    active = sales[sales["quantity"] > 0].groupby("sku")["date"].agg(["min", "nunique"])
    new = active[(active["min"] > months[0]) & (active["nunique"] < 12)]
    assert demo.NEW_SKU in new.index
    zero_share = 1.0 - active["nunique"] / len(months)
    intermittent = zero_share[(zero_share > 0.5) & (active["min"] < months[6])]
    assert demo.INTERMITTENT_SKU in intermittent.index


def test_revenue_is_quantity_times_price(generated: dict[str, pd.DataFrame],
                                         tables: dict[str, pd.DataFrame]) -> None:
    for t in (generated, tables):
        sales = t["sales"]
        price = sales["sku"].map(t["products"].set_index("sku")["unit_price"])
        expected = [round(float(q) * float(p), 2) for q, p in zip(sales["quantity"], price)]
        assert (sales["revenue"].to_numpy() == np.array(expected)).all()
        assert (sales["quantity"] == sales["quantity"].round()).all()
        assert (sales["quantity"] > 0).all()


def test_seasonality(tables: dict[str, pd.DataFrame]) -> None:
    sales = tables["sales"]
    by = sales.groupby(["family", sales["date"].dt.month])["quantity"].sum().unstack()
    assert by.loc["Tents", [5, 6, 7]].mean() > 2 * by.loc["Tents", [1, 2]].mean()
    assert by.loc["Cookware", [11, 12]].mean() > 1.3 * by.loc["Cookware", [2, 3, 4]].mean()


def test_inventory_positions(tables: dict[str, pd.DataFrame]) -> None:
    inv, sales, products = tables["inventory"], tables["sales"], tables["products"]
    assert (inv["on_hand"] >= 0).all()
    assert set(inv["location"]) == {"DC-East", "DC-West"}
    assert inv["date"].nunique() == 12
    last_date = inv["date"].max()
    assert last_date == pd.Timestamp("2026-10-31")
    on_hand = inv[inv["date"] == last_date].groupby("sku")["on_hand"].sum()
    ss = products.set_index("sku")["safety_stock_units"].reindex(on_hand.index)
    below = on_hand[ss.notna() & (on_hand < ss)]
    assert len(below) >= 2
    # cover in months = on hand / average monthly demand of the last 3 months
    recent = sales[sales["date"] >= pd.Timestamp("2026-08-01")].groupby("sku")["quantity"].sum() / 3
    cover = on_hand / recent.reindex(on_hand.index).fillna(0)
    assert (cover > 6).sum() >= 2
    assert set(demo.SHORT_SKUS) <= set(below.index)
    assert set(demo.EXCESS_SKUS) <= set(cover[cover > 6].index)


def test_supply(tables: dict[str, pd.DataFrame]) -> None:
    supply = tables["supply"]
    assert set(supply["source"]) == {"Production", "PO"}
    assert supply["date"].min() > pd.Timestamp("2026-10-31")
    assert supply["date"].max() < pd.Timestamp("2027-03-01")
    assert 10 <= supply["sku"].nunique() < len(tables["products"])
    assert (supply["quantity"] > 0).all()


def test_otif(tables: dict[str, pd.DataFrame]) -> None:
    orders = tables["orders"]
    assert 1000 <= len(orders) <= 5000
    assert orders["requested_date"].min() >= pd.Timestamp("2025-11-01")
    assert orders["requested_date"].max() <= pd.Timestamp("2026-10-31")
    on_time = orders["delivered_date"].notna() & (orders["delivered_date"] <= orders["requested_date"])
    in_full = orders["delivered_qty"].fillna(0) >= orders["requested_qty"]
    otif = (on_time & in_full).mean()
    assert 0.85 <= otif <= 0.95
    assert (~on_time).sum() > 0 and (on_time & ~in_full).sum() > 0


def test_revenue_gap_to_plan(tables: dict[str, pd.DataFrame]) -> None:
    sales, plan = tables["sales"], tables["plan"]
    assert set(plan["period"].dt.year) == {2026, 2027}
    assert plan["sku"].isna().all() and plan["family"].notna().all()
    assert len(plan) == 24 * 3 * plan["family"].nunique()
    actual = sales.loc[sales["date"].dt.year == 2026, "revenue"].sum()
    naive = sales.loc[sales["date"].between("2025-11-01", "2025-12-01"), "revenue"].sum()
    outlook = actual + naive  # Jan-Oct actuals + Nov-Dec as last year
    annual = plan.loc[plan["period"].dt.year == 2026, "revenue_plan"].sum()
    gap = outlook / annual - 1.0
    assert -0.10 < gap < -0.03
    assert (plan["margin_plan"] < plan["revenue_plan"]).all()


def test_capacity_overload(tables: dict[str, pd.DataFrame]) -> None:
    # How it is checked: required hours per resource and month = sales units × hours_per_unit.
    # Trend = hours of the last 12 history months / hours of the 12 months before, minus 1.
    # A future month's demand is last year's same month × (1 + trend) (two years back × (1 + trend)²
    # for the second year of the horizon); it is overloaded when that exceeds available_hours.
    sales, products, capacity = tables["sales"], tables["products"], tables["capacity"]
    months = _history_months(sales)
    hpu = products.set_index("sku")[["resource", "hours_per_unit"]]
    hours = sales.join(hpu, on="sku").dropna(subset=["resource"])
    hours["hours"] = hours["quantity"] * hours["hours_per_unit"]
    load = hours.pivot_table(index="date", columns="resource", values="hours", aggfunc="sum")
    load = load.reindex(months).fillna(0.0)
    available = capacity.pivot(index="period", columns="resource", values="available_hours")
    assert len(available.columns) == 3
    future = available.index[available.index > months[-1]]
    assert len(future) >= 24 and available.index.min() <= months[0]
    overloaded: dict[str, list[pd.Timestamp]] = {}
    for res in load.columns:
        trend = load[res].iloc[-12:].sum() / load[res].iloc[-24:-12].sum() - 1.0
        for period in future:
            years = (period.year - months[-1].year) * 12 + period.month - months[-1].month
            back = (years - 1) // 12 + 1
            projected = load[res].loc[period - pd.DateOffset(years=back)] * (1.0 + trend) ** back
            if projected > available.loc[period, res]:
                overloaded.setdefault(res, []).append(period)
    assert list(overloaded) == [demo.OVERLOADED_RESOURCE]
    peak = overloaded[demo.OVERLOADED_RESOURCE]
    assert 2 <= len(peak) <= 3
    assert all(p.year == 2027 and 4 <= p.month <= 8 for p in peak)
