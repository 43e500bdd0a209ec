from types import SimpleNamespace

import numpy as np
import pandas as pd

from sop_core.meetings import agenda
from sop_core.planning import inventory

PRODUCTS = pd.DataFrame({"sku": ["A", "B", "C"], "unit_price": [10.0, 20.0, 5.0], "family": ["F", "F", "G"]})


def _result(**kw):
    constrained = pd.DataFrame({
        "sku": ["A", "B", "A", "C"], "region": ["N"] * 4, "family": ["F", "F", "F", "G"], "resource": ["R1"] * 4,
        "period": pd.to_datetime(["2027-06-01", "2027-06-01", "2027-07-01", "2027-07-01"]),
        "short_units": [10.0, 5.0, 2.0, 0.0]})
    exceptions = pd.DataFrame({"sku": ["C"], "family": ["G"], "kind": ["stockout"],
                               "first_period": pd.to_datetime(["2027-01-01"]), "units": [40.0], "value": [200.0]})
    consensus = pd.DataFrame({"sku": ["A", "B", "C"], "region": ["N"] * 3, "family": ["F", "F", "G"],
                              "period": pd.to_datetime(["2027-01-01"] * 3), "consensus": [100.0, 100.0, 100.0]})
    base = dict(constrained=constrained, exceptions=exceptions, consensus=consensus, year=2026,
                kpis={"gap_to_plan": -1000.0, "gap_to_plan_pct": -0.1, "plan_revenue": 10_000.0,
                      "horizon_revenue": 10_000.0})
    base.update(kw)
    return SimpleNamespace(**base)


def _override(**kw):
    row = dict(family="F", region=None, sku=None, period_from=pd.Timestamp("2027-01-01"), before_units=200.0,
               after_units=230.0, author="ana", reason="Promotion", comment="spring push", undoes=None, undone=False)
    row.update(kw)
    return row


def test_agenda_ranks_exceptions_by_money():
    overrides = pd.DataFrame([_override(), _override(family="G", after_units=201.0, before_units=200.0)])
    a = agenda.agenda(_result(), overrides, PRODUCTS)
    # revenue gap 1,000; supply gap F: A 12 units × 10 + B 5 × 20 = 220; stockout C 200;
    # override F: +30 units × average F price (100×10 + 100×20)/200 = 15 → 450; override G: 1 × 5 = 5 < 0.5% × 10,000
    assert list(a["kind"]) == ["revenue gap", "large override", "supply gap", "stockout"]
    assert list(a["money"]) == [1000.0, 450.0, 220.0, 200.0]
    gap = a[a["kind"] == "supply gap"].iloc[0]
    assert gap["units"] == 17.0 and gap["period"] == pd.Timestamp("2027-06-01")
    assert gap["subject"] == "F: 17 units short" and "Jun 2027–Jul 2027" in gap["detail"]


def test_no_gap_when_outlook_beats_plan_and_undone_overrides_drop_out():
    r = _result(kpis={"gap_to_plan": 50.0, "horizon_revenue": 10_000.0})
    overrides = pd.DataFrame([_override(undone=True)])
    a = agenda.agenda(r, overrides, PRODUCTS)
    assert set(a["kind"]) == {"supply gap", "stockout"}


def test_empty_agenda_has_the_columns():
    r = _result(constrained=_result().constrained.assign(short_units=0.0),
                exceptions=_result().exceptions.iloc[0:0], kpis={"gap_to_plan": np.nan})
    a = agenda.agenda(r, None, PRODUCTS)
    assert a.empty and list(a.columns) == agenda.AGENDA_COLUMNS


def _inventory_result():
    """A plan result whose inventory frames come from the inventory engine: L has excess stock, K dips below safety."""
    products = pd.DataFrame({"sku": ["L", "K"], "family": ["Lanterns", "Knives"], "unit_price": [10.0, 20.0],
                             "unit_cost": [4.0, 8.0]})
    months = pd.to_datetime(["2027-01-01", "2027-02-01", "2027-03-01"])
    demand = pd.DataFrame({"sku": ["L"] * 3 + ["K"] * 3, "family": ["Lanterns"] * 3 + ["Knives"] * 3,
                           "period": list(months) * 2, "units": [10.0] * 6})
    on_hand = pd.DataFrame({"sku": ["L", "K"], "on_hand": [500.0, 45.0]})
    safety = pd.DataFrame({"sku": ["K"], "safety_stock_units": [40.0]})
    projection = inventory.project(demand, on_hand, None, safety, products=products)
    no_short = _result().constrained.assign(short_units=0.0)
    return _result(constrained=no_short, kpis={"gap_to_plan": np.nan}, on_hand=on_hand, safety=safety,
                   projection=projection, exceptions=inventory.exceptions(projection, products, excess_cover_months=6),
                   inventory_value=inventory.inventory_value(projection))


def test_inventory_breach_and_excess_join_the_agenda_with_the_inventory_pages_money():
    a = agenda.agenda(_inventory_result(), None, PRODUCTS)
    # L: closings 490, 480, 470; the next 6 months of demand = 60 -> excess 430 from Jan × cost 4 = 1,720
    # K: closings 35, 25, 15 against safety stock 40 -> largest gap 25 from Jan × cost 8 = 200 (cost to restore)
    assert list(a["kind"]) == ["excess stock", "below safety stock"]
    assert list(a["money"]) == [1720.0, 200.0] and list(a["units"]) == [430.0, 25.0]
    assert list(a["period"]) == [pd.Timestamp("2027-01-01")] * 2 and set(a["page"]) == {"inventory"}
    assert list(a["subject"]) == ["L (Lanterns): 430 units of excess stock", "K (Knives): 25 units below safety stock"]
    assert "valued at cost" in a["detail"].iloc[0] and "cost to restore" in a["detail"].iloc[1]


def _position(values):
    n = len(values)
    return pd.DataFrame({"sku": [f"S{i}" for i in range(n)], "family": ["F"] * n,
                         "kind": ["excess", "below safety stock"] * (n // 2) + ["excess"] * (n % 2),
                         "first_period": pd.date_range("2027-01-01", periods=n, freq="MS")[::-1],
                         "units": [10.0] * n, "value": values, "value_basis": ["at cost"] * n})


def test_inventory_items_are_capped_and_the_rest_summed_in_one_line_last():
    stockout = _result().exceptions  # C runs out: 200 of revenue at risk, never capped
    values = [700.0, 600.0, 500.0, 400.0, 300.0, 250.0, 200.0, 150.0]
    a = agenda.agenda(_result(exceptions=pd.concat([stockout, _position(values)], ignore_index=True),
                              kpis={"gap_to_plan": np.nan}), None, PRODUCTS)
    inv = a[a["page"] == "inventory"]
    assert list(inv["money"]) == [700.0, 600.0, 500.0, 400.0, 300.0, 200.0, 600.0]  # the 5 largest, the stockout, rest
    assert list(inv["kind"])[-2:] == ["stockout", "inventory"] and a["kind"].iloc[-1] == "inventory"
    rest = a.iloc[-1]
    assert rest["subject"] == "3 more inventory exceptions" and np.isnan(rest["units"])
    assert rest["detail"] == "the smaller ones: 2 below safety stock and 1 excess stock; each is on the Inventory page"
    assert rest["period"] == pd.Timestamp("2027-01-01")  # the earliest of the three
    assert a["money"].sum() == sum(values) + 220.0 + 200.0  # nothing is lost: supply gap 220, stockout 200
    one = agenda.inventory_position(_position(values[:6]), top=5).iloc[-1]
    assert one["subject"] == "1 more inventory exception" and one["money"] == 250.0
    assert len(agenda.inventory_position(_position(values[:5]))) == 5  # at the cap: no rest line
    assert agenda.inventory_position(stockout).empty


def test_revenue_gap_subject_names_the_gap_without_a_double_negative():
    a = agenda.revenue_gap({"gap_to_plan": -1_910_000.0, "gap_to_plan_pct": -0.055, "plan_revenue": 34.6e6}, 2026)
    assert a["subject"].iloc[0] == "2026 outlook $1.91M below the annual plan"
    assert a["money"].iloc[0] == 1_910_000.0


# -- the executive meeting's opening ---------------------------------------------------------------------------
def _version(approved_at: str):
    return SimpleNamespace(label="v2 · November S&OP", approved_by="ceo", approved_at=pd.Timestamp(approved_at))


def test_record_status_this_cycle_earlier_or_none():
    started = pd.Timestamp("2026-11-02 08:00")
    ok, text = agenda.record_status(_version("2026-11-20 15:30"), started)
    assert ok and text == "Plan of record: v2 · November S&OP, approved by ceo on 20 Nov 2026."
    ok, text = agenda.record_status(_version("2026-10-20 15:30"), started)  # last month's plan still rules
    assert not ok and text.startswith("No plan approved for this cycle yet.")
    assert "Plan of record: v2 · November S&OP, approved by ceo on 20 Oct 2026." in text
    ok, text = agenda.record_status(None, started)
    assert not ok and text.startswith("No plan approved for this cycle yet") and "no plan of record" in text
    assert not agenda.record_status(_version("2026-11-20"), None)[0]  # no cycle start known: never this cycle


BRIDGE = pd.DataFrame({"step": ["Annual plan", "Volume", "Price", "Mix", "Supply constraint", "Outlook"],
                       "kind": ["total", "effect", "effect", "effect", "effect", "total"],
                       "value": [10_000_000.0, -400_000.0, 50_000.0, 120_000.0, -0.2, 9_769_999.8]})


def test_plan_vs_annual_gives_the_signed_gap_and_the_largest_bridge_steps():
    k = {"revenue": 9_770_000.0, "plan_revenue": 10_000_000.0, "gap_to_plan": -230_000.0, "gap_to_plan_pct": -0.023}
    text = agenda.plan_vs_annual(k, BRIDGE, 2026)
    assert text == ("2026 full-year outlook $9.77M against the annual plan of $10.0M: −$230K (−2.3%) — "
                    "volume −$400K, mix +$120K, price +$50.0K.")  # by size; the 0.2 supply step is left out
    assert agenda.plan_vs_annual(k, BRIDGE, 2026, drivers=1).endswith("— volume −$400K.")
    ahead = {**k, "revenue": 10_500_000.0, "gap_to_plan": 500_000.0, "gap_to_plan_pct": 0.05}
    assert ": +$500K (+5.0%)" in agenda.plan_vs_annual(ahead, None, 2026)
    assert agenda.plan_vs_annual({**k, "gap_to_plan": 0.2}, BRIDGE, 2026).endswith(": on plan.")
    assert agenda.plan_vs_annual({"revenue": 9e6, "plan_revenue": np.nan, "gap_to_plan": np.nan}, None, 2027) == \
        "No annual plan for 2027: the full-year outlook is $9.00M."


def _log(rows):
    base = dict(decision_id="d", title="t", owner="COO", due_date=pd.Timestamp("2026-12-01").date(), status="open",
                created_by="ana", created_at=pd.Timestamp("2026-11-10"), scenario_id=None, version_id=None,
                overdue=False, detail="", status_at=pd.Timestamp("2026-11-10"), status_by="ana")
    return pd.DataFrame([{**base, **r} for r in rows])


def test_decisions_needed_lists_open_decisions_then_the_agenda_top_in_its_order():
    exceptions = agenda.agenda(_result(), pd.DataFrame([_override()]), PRODUCTS)
    log = _log([
        dict(decision_id="a", title="Approve overtime on R1", scenario_id="s1", overdue=True),
        dict(decision_id="b", title="Raise tent prices", status="in progress"),
        dict(decision_id="c", title="Already taken", version_id="v1"),
        dict(decision_id="d", title="Done already", status="done"),
        dict(decision_id="e", title="Dropped", status="dropped"),
    ])
    out = agenda.decisions_needed(exceptions, log, option_names={"s1": "Overtime"}, option_effects={"s1": 42_000.0},
                                  year=2026, top=2)
    assert list(out.columns) == agenda.NEEDED_COLUMNS
    assert list(out["kind"]) == ["decision", "decision", "revenue gap", "large override"]
    assert list(out["subject"][:2]) == ["Approve overtime on R1", "Raise tent prices"]
    first = out.iloc[0]
    assert first["money"] == 42_000.0 and first["money_text"] == "+$42.0K" and bool(first["overdue"])
    assert first["detail"] == ("COO to decide by 01 Dec 2026 (overdue) · option “Overtime”: "
                               "+$42.0K on the 2026 outlook")
    second = out.iloc[1]
    assert np.isnan(second["money"]) and second["money_text"] == "—"
    assert second["detail"].endswith("no option attached")
    assert list(out["page"]) == ["pre_sop", "pre_sop", "financials", "demand_review"]
    assert list(out["money"][2:]) == list(exceptions["money"][:2]) == [1000.0, 450.0]  # the agenda's ranking
    assert list(out["money_text"][2:]) == ["$1.00K", "$450"]


def test_decisions_needed_with_nothing_open_and_no_exception_is_empty_with_the_columns():
    out = agenda.decisions_needed(pd.DataFrame(columns=agenda.AGENDA_COLUMNS), _log([dict(status="done")]))
    assert out.empty and list(out.columns) == agenda.NEEDED_COLUMNS


def test_plan_vs_annual_never_says_zero_without_prices_and_names_the_missing_plan():
    from sop_core.planning import coverage

    def cov(priced: int, planned: int):
        return coverage.PlanCoverage(
            capacity=coverage.Coverage("capacity", 3, 3), inventory=coverage.Coverage("inventory", 3, 3),
            prices=coverage.Coverage("prices", priced, 3, reasons=((("have no unit_price", 3 - priced),) if priced < 3
                                                                   else ()), needs=("products (unit_price)",)),
            annual_plan=coverage.Coverage("annual plan", planned, 2, noun="family"))
    k = {"revenue": 0.0, "plan_revenue": np.nan, "gap_to_plan": np.nan}
    assert agenda.plan_vs_annual(k, None, 2027, coverage=cov(0, 0)) == \
        "The 2027 outlook in money is not checked: no sku of the plan has a price (load products (unit_price))."
    assert agenda.plan_vs_annual({**k, "revenue": 9e6}, None, 2027, coverage=cov(3, 0)) == \
        "No annual plan for 2027: the full-year outlook is $9.00M — the comparison is not checked: load the plan " \
        "table (revenue_plan)."


def test_gap_to_plan_is_not_checked_without_an_annual_plan():
    kpis = {"gap_to_plan": -250_000.0, "gap_to_plan_pct": -0.05}
    covered = SimpleNamespace(kpis=kpis, coverage=SimpleNamespace(annual_plan=SimpleNamespace(state="full")))
    assert agenda.gap_to_plan(covered) == (-250_000.0, -0.05)
    none = SimpleNamespace(kpis=kpis, coverage=SimpleNamespace(annual_plan=SimpleNamespace(state="none")))
    assert agenda.gap_to_plan(none) is None
    nan = SimpleNamespace(kpis={"gap_to_plan": float("nan")}, coverage=covered.coverage)
    assert agenda.gap_to_plan(nan)[1] is None


def test_money_at_stake_is_not_checked_when_nothing_is_listed_and_a_check_did_not_see_everything():
    items = pd.DataFrame({"money": [100.0, 250.5]})
    assert agenda.money_at_stake(items, unseen=True) == 350.5
    assert agenda.money_at_stake(items.iloc[:0], unseen=False) == 0.0
    assert agenda.money_at_stake(items.iloc[:0], unseen=True) is None


# -- the executive meeting's charts ------------------------------------------------------------------------
def test_family_supply_sums_demand_supply_and_short_per_family_largest_first() -> None:
    constrained = pd.DataFrame({
        "family": ["Tents", "Tents", "Bags", None], "units": [100.0, 50.0, 400.0, 5.0],
        "constrained_units": [90.0, 50.0, 400.0, 5.0], "short_units": [10.0, 0.0, 0.0, 0.0]})
    out = agenda.family_supply(constrained)
    assert out.to_dict("records") == [
        {"family": "Bags", "demand": 400.0, "supplied": 400.0, "short": 0.0},
        {"family": "Tents", "demand": 150.0, "supplied": 140.0, "short": 10.0},
        {"family": "(no family)", "demand": 5.0, "supplied": 5.0, "short": 0.0}]
    assert agenda.family_supply(constrained.iloc[:0]).empty


def test_revenue_by_month_puts_the_approved_plan_beside_the_outlook() -> None:
    monthly = pd.DataFrame({"period": pd.date_range("2026-10-01", periods=3, freq="MS"),
                            "source": ["actual", "actual", "plan"], "revenue": [1.0, 2.0, 3.0],
                            "plan_revenue": [1.5, 2.5, 3.5]})
    approved = pd.DataFrame({"period": [pd.Timestamp("2026-12-01")], "revenue": [3.2]})
    out = agenda.revenue_by_month(monthly, approved)
    assert list(out.columns) == ["period", "source", "revenue", "plan_revenue", "approved_revenue"]
    assert out["approved_revenue"].isna().tolist() == [True, True, False] and out["approved_revenue"].iloc[2] == 3.2
    assert agenda.revenue_by_month(monthly, None)["approved_revenue"].isna().all()
