"""The scorecard's SQL aggregates (`kpi_sql`) equal the pandas functions they replace, to the cent.

On the demo company and on a generated company with the awkward cases: blank delivered quantities,
open past-due lines, over-delivery, lines requested after as_of and on it, a month of only lines not
yet due, sales without region or revenue, 0 units, skus without price or cost, several locations and
snapshots a month, and no products table at all (prices derived from sales, no cost).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from test_plan import seasonal_naive  # the statistical frame the plan tests use

from sop_core.demand import consensus, history
from sop_core.intake import company
from sop_core.planning import actuals, finance, inventory, kpi_sql, kpis, service
from sop_core.store.workspace import Provenance

T = pd.Timestamp
CENT = 0.005


def assert_same(sql: pd.DataFrame, pandas: pd.DataFrame) -> None:
    """Same rows, columns, dtype kinds, NaNs where NaN, and numbers within half a cent."""
    assert list(sql.columns) == list(pandas.columns)
    assert len(sql) == len(pandas), (len(sql), len(pandas))
    for c in sql.columns:
        a, b = sql[c].reset_index(drop=True), pandas[c].reset_index(drop=True)
        if pd.api.types.is_datetime64_any_dtype(b) or pd.api.types.is_datetime64_any_dtype(a):
            assert (pd.to_datetime(a) == pd.to_datetime(b)).all(), c
        elif pd.api.types.is_numeric_dtype(b):
            x, y = a.to_numpy(float), b.to_numpy(float)
            assert (np.isnan(x) == np.isnan(y)).all(), c
            assert np.allclose(x[~np.isnan(x)], y[~np.isnan(y)], rtol=0, atol=CENT), c
        else:
            assert a.astype(str).tolist() == b.astype(str).tolist(), c


def pandas_service(ws, as_of=None) -> tuple[pd.Timestamp, pd.DataFrame]:
    orders = ws.table("orders")
    as_of = service.default_as_of(orders) if as_of is None else as_of
    return as_of, service.service_by_month(service.order_lines(orders, as_of))


def check_all(ws) -> None:
    """Every aggregate of `kpi_sql` against its pandas counterpart on the whole tables, and the scorecards."""
    for as_of in (None, T("2026-03-10"), T("2025-12-31")):
        s_as_of, s = kpi_sql.service_by_month(ws, as_of)
        p_as_of, p = pandas_service(ws, as_of)
        assert s_as_of == p_as_of
        assert_same(s, p)
    prod = history.products(ws)
    hist = history.demand_history(ws)
    for back in (24, 6, None):
        assert_same(kpi_sql.monthly_actuals(ws, prod, back), actuals.monthly_actuals(hist, prod, back))
    assert_same(kpi_sql.inventory_at_cost(ws, prod), actuals.inventory_at_cost(ws.table("inventory"), prod))
    assert_same(kpi_sql.inventory_at_cost(ws, None), actuals.inventory_at_cost(ws.table("inventory"), None))
    assert_same(kpi_sql.latest_on_hand(ws), inventory.latest_on_hand(ws.table("inventory")))
    # the scorecard from the SQL inputs equals the one from the whole tables
    sql_in = kpis.inputs_from_workspace(ws)
    recent = actuals.normalise_history(hist)
    recent = recent[recent["period"] > recent["period"].max() - pd.DateOffset(months=24)]
    assert_same(kpi_sql.recent_history(ws, prod), recent.sort_values(["sku", "region", "period"]))
    whole = kpis.ScorecardInputs(orders=ws.table("orders"), inventory=ws.table("inventory"),
                                 products=sql_in.products, history=hist, capacity=sql_in.capacity,
                                 budget=sql_in.budget, targets=sql_in.targets)
    same_cards(sql_in, whole)
    assert_same(kpi_sql.recent_history(ws, prod, by_region=False),
                recent.assign(region="All").groupby(["sku", "region", "family", "period"], as_index=False)[
                    ["quantity", "revenue"]].sum(min_count=1).sort_values(["sku", "region", "period"]))
    # with a forward plan: the outlook built here from the history (regions kept), or given (regions summed)
    cons = consensus.apply_overrides(seasonal_naive(hist, 12))
    with_plan = kpis.inputs_from_workspace(ws, consensus=cons)
    assert (with_plan.history["region"] != "All").any() or (hist["region"] == "All").all()
    same_cards(with_plan, dataclasses.replace(whole, consensus=cons))
    year = int((hist["period"].max() + pd.DateOffset(months=1)).year)
    outlook = finance.outlook(hist, cons, year, hist["period"].max(), prod)
    given = kpis.inputs_from_workspace(ws, consensus=cons, outlook=outlook)
    assert (given.history["region"] == "All").all()
    same_cards(given, dataclasses.replace(whole, consensus=cons, outlook=outlook))


def same_cards(a_in: kpis.ScorecardInputs, b_in: kpis.ScorecardInputs) -> None:
    """The two inputs give the same scorecard: keys, statuses, notes, values and trends."""
    for a, b in zip(kpis.scorecard(a_in), kpis.scorecard(b_in), strict=True):
        assert (a.key, a.status, a.note, a.missing_table) == (b.key, b.status, b.note, b.missing_table)
        assert (a.value is None) == (b.value is None) and (a.value is None or a.value == pytest.approx(b.value))
        assert_same(a.trend, b.trend)


def test_sql_aggregates_equal_pandas_on_the_demo(workspace):
    company.reset_to_demo(workspace)
    check_all(workspace)
    _, s = kpi_sql.service_by_month(workspace)
    assert s["lines"].sum() > 1000 and s["past_due_lines"].sum() >= 0


def awkward_company() -> dict[str, pd.DataFrame]:
    """A small company built to hit every rule's edge; deterministic."""
    rng = np.random.default_rng(15)
    skus = [f"S{i}" for i in range(8)]
    n = 600
    req = T("2025-01-01") + pd.to_timedelta(rng.integers(0, 450, n), unit="D")  # to late March 2026
    lag = rng.integers(-3, 12, n)
    delivered = req + pd.to_timedelta(lag, unit="D")
    rq = rng.integers(0, 40, n).astype(float)
    dq = np.round(rq * rng.choice([0.5, 0.9, 1.0, 1.0, 1.3], n), 2)
    is_open = rng.random(n) < 0.12
    blank_qty = rng.random(n) < 0.08
    orders = pd.DataFrame({
        "order_id": [f"O{i}" for i in range(n)], "sku": rng.choice(skus, n), "requested_date": req,
        "requested_qty": rq,
        "delivered_date": pd.Series(delivered).where(~is_open),
        "delivered_qty": pd.Series(dq).where(~(is_open | blank_qty)),
    })
    # a month of only lines not yet due (requested after as_of), one line on as_of itself, open and delivered
    extra = pd.DataFrame({
        "order_id": ["X1", "X2", "X3", "X4"], "sku": ["S0", "S1", "S2", "S3"],
        "requested_date": [T("2026-06-03"), T("2026-06-20"), T("2026-03-10"), T("2026-03-10")],
        "requested_qty": [5.0, 7.0, 3.0, 4.0],
        "delivered_date": [T("2026-03-01"), pd.NaT, pd.NaT, T("2026-03-10")],
        "delivered_qty": [5.0, np.nan, np.nan, np.nan],
    })
    orders = pd.concat([orders, extra], ignore_index=True)
    days = pd.date_range("2024-03-01", "2026-02-20", freq="7D")
    sales = pd.DataFrame([(d, s, r) for d in days for s in skus for r in ("North", None)],
                         columns=["date", "sku", "region"])
    m = len(sales)
    sales["channel"] = "Retail"
    sales["family"] = np.where(sales["sku"].isin(["S0", "S1", "S2"]), "Alpha", None)
    sales["quantity"] = np.where(rng.random(m) < 0.1, 0.0, np.round(rng.gamma(2.0, 10.0, m), 1))
    sales["revenue"] = np.where(rng.random(m) < 0.3, np.nan, np.round(sales["quantity"] * 3.17, 2))
    sales.loc[sales["sku"] == "S7", "revenue"] = np.nan  # no revenue and (below) no price: unpriced
    products = pd.DataFrame({
        "sku": skus[:7], "family": ["Alpha"] * 3 + ["Beta"] * 4,
        "unit_price": [3.0, 4.5, np.nan, 2.25, 9.99, 1.0, 7.5],
        "unit_cost": [1.2, np.nan, 2.0, 1.1, 4.0, np.nan, 3.3],
    })
    snaps = pd.date_range("2025-01-03", "2026-03-01", freq="9D")
    inv = pd.DataFrame([(d, s, loc) for d in snaps for s in skus for loc in ("DC1", "DC2")],
                       columns=["date", "sku", "location"])
    inv["on_hand"] = np.round(rng.gamma(3.0, 50.0, len(inv)), 1)
    inv = inv[~((inv["location"] == "DC2") & (rng.random(len(inv)) < 0.3))]  # a location missing some days
    return {"orders": orders, "sales": sales, "products": products, "inventory": inv}


def store(ws, tables: dict[str, pd.DataFrame]) -> None:
    for name, df in tables.items():
        ws.replace_table(name, df, Provenance(f"{name}.csv", "test"))


def test_sql_aggregates_equal_pandas_on_an_awkward_company(workspace):
    t = awkward_company()
    store(workspace, t)
    o = workspace.table("orders")
    assert o["delivered_qty"].isna().sum() > 40 and (o["delivered_qty"] > o["requested_qty"]).any()
    check_all(workspace)
    as_of, s = kpi_sql.service_by_month(workspace)
    assert as_of == T("2026-03-23") or as_of > T("2026-03-10")
    assert s["past_due_lines"].sum() > 10 and s["not_due_lines"].sum() >= 2 and s["qty_assumed_lines"].sum() > 10
    june = s[s["period"] == T("2026-06-01")].iloc[0]
    assert june["lines"] == 0 and np.isnan(june["otif"]) and june["not_due_lines"] == 2
    a = kpi_sql.monthly_actuals(workspace, history.products(workspace), None)
    assert a["unpriced_units"].sum() > 0 and a["uncosted_units"].sum() > 0


def test_sql_aggregates_equal_pandas_without_products(workspace):
    t = awkward_company()
    del t["products"]
    store(workspace, t)
    assert history.products(workspace)["derived"].all()
    check_all(workspace)


def test_sql_aggregates_of_missing_tables_are_empty(workspace):
    as_of, s = kpi_sql.service_by_month(workspace)
    assert s.empty and list(s.columns) == list(service.SERVICE_COLUMNS)
    assert kpi_sql.monthly_actuals(workspace, None).empty and kpi_sql.inventory_at_cost(workspace, None).empty
    assert kpi_sql.latest_on_hand(workspace).empty
    cards = {k.key: k for k in kpis.scorecard(kpis.inputs_from_workspace(workspace))}
    assert cards["otif"].missing_table == "orders" and cards["inventory_turns"].missing_table == "inventory"


def test_aggregates_are_computed_once_per_content_of_their_tables(workspace, monkeypatch):
    kpi_sql.memo_clear()
    t = awkward_company()
    store(workspace, t)
    calls: list[str] = []
    for name in ("_service_query", "_actuals_query", "_history_query", "_inventory_query"):
        real = getattr(kpi_sql, name)
        monkeypatch.setattr(kpi_sql, name, lambda *a, _real=real, _name=name: calls.append(_name) or _real(*a))
    prod = history.products(workspace)

    def everything():
        return (kpi_sql.service_by_month(workspace)[1], kpi_sql.monthly_actuals(workspace, prod),
                kpi_sql.recent_history(workspace, prod), kpi_sql.inventory_at_cost(workspace, prod))

    first = everything()
    assert len(calls) == 4
    first[0]["lines"] = -1  # a caller changing its copy changes nothing kept
    again = everything()
    assert len(calls) == 4 and (again[0]["lines"] >= 0).all()
    # new orders: only the service aggregate is computed again, and it counts them
    orders = t["orders"].copy()
    orders.loc[0, "requested_qty"] += 1000
    store(workspace, {"orders": orders})
    after = everything()
    assert calls[4:] == ["_service_query"]
    assert after[0]["ordered_units"].sum() == pytest.approx(again[0]["ordered_units"].sum() + 1000)
    # other prices: the valued aggregates again, not the order lines
    dearer = prod.assign(unit_cost=prod["unit_cost"] * 2)
    kpi_sql.monthly_actuals(workspace, dearer)
    kpi_sql.service_by_month(workspace)
    assert calls[5:] == ["_actuals_query"]


def test_a_money_history_has_no_stock_or_load_kpi_and_says_why(workspace):
    from sop_core import contract

    t = awkward_company()
    store(workspace, t)
    cap = pd.DataFrame({"period": [T("2026-01-01")], "resource": ["R"], "available_hours": [100.0]})
    store(workspace, {"capacity": cap})
    units = {k.key: k for k in kpis.scorecard(kpis.inputs_from_workspace(workspace))}
    assert units["inventory_turns"].status != "missing"
    workspace.set_setting(contract.BASIS_SETTING, contract.MONEY, "test")
    inputs = kpis.inputs_from_workspace(workspace)
    assert inputs.basis == contract.MONEY and inputs.inventory_value is None and inputs.on_hand is None
    cards = {k.key: k for k in kpis.scorecard(inputs)}
    for key in ("inventory_turns", "days_of_supply", "capacity_utilisation"):
        assert cards[key].status == "missing" and cards[key].value is None
        assert "sales history in units" in cards[key].note
    assert cards["otif"].status == units["otif"].status  # order lines count lines, whatever the history measures


def test_an_aggregate_asked_for_at_once_is_computed_once(workspace, monkeypatch):
    import threading
    import time

    kpi_sql.memo_clear()
    store(workspace, awkward_company())
    calls = []
    real = kpi_sql._service_query

    def slow(*a):
        calls.append(1)
        time.sleep(0.3)  # every other thread asks meanwhile
        return real(*a)

    monkeypatch.setattr(kpi_sql, "_service_query", slow)
    got = []
    threads = [threading.Thread(target=lambda: got.append(kpi_sql.service_by_month(workspace)[1])) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(got) == 4 and len(calls) == 1
    for g in got[1:]:
        pd.testing.assert_frame_equal(g, got[0])
