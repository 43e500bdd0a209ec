from types import SimpleNamespace

import numpy as np
import pandas as pd

from sop_core import agenda

PRODUCTS = pd.DataFrame({"sku": ["A", "B", "C"], "unit_price": [10.0, 20.0, 5.0], "family": ["F", "F", "G"]})


def _result(**kw):
    constrained = pd.DataFrame({
        "sku": ["A", "B", "A", "C"], "region": ["N"] * 4, "family": ["F", "F", "F", "G"], "resource": ["R1"] * 4,
        "period": pd.to_datetime(["2027-06-01", "2027-06-01", "2027-07-01", "2027-07-01"]),
        "short_units": [10.0, 5.0, 2.0, 0.0]})
    exceptions = pd.DataFrame({"sku": ["C", "A"], "family": ["G", "F"], "kind": ["stockout", "excess"],
                               "first_period": pd.to_datetime(["2027-01-01", "2026-11-01"]),
                               "units": [40.0, 500.0], "value": [200.0, 9999.0]})
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
