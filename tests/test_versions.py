"""Approved plan versions: immutable, numbered, idempotent, comparable, and they survive a reopen."""
from __future__ import annotations

import json
import threading

import pandas as pd
import pytest

from sop_core.meetings import versions as V
from sop_core.planning import plan, scenarios
from sop_core.store.workspace import Workspace, frame_sha256

JAN, FEB = pd.Timestamp("2026-01-01"), pd.Timestamp("2026-02-01")
PRODUCTS = pd.DataFrame({"sku": ["t1", "t2", "b1"], "unit_price": [100.0, 200.0, 50.0],
                         "unit_cost": [40.0, 90.0, 20.0]})


def make_plan(t1: float = 10, t2: float = 5, b1: float = 20) -> pd.DataFrame:
    """Tents t1, t2 and Backpacks b1, one region, January and February, same units each month."""
    rows = []
    for p in (JAN, FEB):
        rows += [("t1", "North", "Tents", p, t1), ("t2", "North", "Tents", p, t2), ("b1", "North", "Backpacks", p, b1)]
    return pd.DataFrame(rows, columns=["sku", "region", "family", "period", "units"])


def approve(ws: Workspace, plan: pd.DataFrame, name: str = "January S&OP", **kw) -> V.Version:
    kw.setdefault("scenario_id", None)
    kw.setdefault("fingerprints", {"sales": "f-sales-1", "forecast_run": "run-1"})
    kw.setdefault("approved_by", "ceo")
    return V.approve(ws, plan, name=name, products=PRODUCTS, **kw)


def header_hash(ws: Workspace, version_id: str) -> str:
    """Hash of the stored header row."""
    return frame_sha256(ws.query("SELECT * FROM plan_versions WHERE version_id = ?", [version_id]))


def lines_hash(ws: Workspace, version_id: str) -> str:
    """Hash of every stored line column, line_no included."""
    return frame_sha256(ws.query("SELECT * FROM plan_version_lines WHERE version_id = ? ORDER BY line_no",
                                 [version_id]))


def test_approve_stores_lines_with_money_and_totals(workspace):
    v = approve(workspace, make_plan(), note="base case")
    assert v.number == 1 and len(v.version_id) == 32 and v.label == "v1 · January S&OP"
    assert v.fingerprints == {"sales": "f-sales-1", "forecast_run": "run-1"} and v.note == "base case"
    lines = V.load_version(workspace, v.version_id)
    assert list(lines.columns) == list(V.LINE_COLUMNS) and len(lines) == 6 == v.n_lines
    # revenue per month = 10 × 100 + 5 × 200 + 20 × 50 = 3,000; cogs = 400 + 450 + 400 = 1,250
    assert v.total_units == 70 and v.total_revenue == pytest.approx(6000) and v.total_cogs == pytest.approx(2500)
    assert lines["unit_price"].tolist() == [100.0, 200.0, 50.0] * 2
    assert V.verify(workspace, v.version_id)
    audit = workspace.query("SELECT * FROM audit_log WHERE kind = 'plan_approved'")
    assert len(audit) == 1 and audit["subject"].iloc[0] == v.version_id and audit["author"].iloc[0] == "ceo"
    assert json.loads(audit["detail"].iloc[0])["number"] == 1


def test_plan_is_stored_as_given(workspace):
    # revenue given by the caller is kept (a discount), unit_price follows it; no products: cogs stays NULL
    plan = make_plan().assign(revenue=[900.0, 1000.0, 1000.0] * 2)
    v = V.approve(workspace, plan, name="given", scenario_id="sc-1", fingerprints={}, approved_by="cfo")
    lines = V.load_version(workspace, v.version_id)
    assert lines["revenue"].tolist() == [900.0, 1000.0, 1000.0] * 2
    assert lines["unit_price"].tolist() == [90.0, 200.0, 50.0] * 2
    assert lines["cogs"].isna().all() and v.total_cogs is None and v.scenario_id == "sc-1"


def test_second_approval_leaves_the_first_byte_identical(workspace):
    v1 = approve(workspace, make_plan())
    h1, l1, c1 = header_hash(workspace, v1.version_id), lines_hash(workspace, v1.version_id), v1.content_sha256
    v2 = approve(workspace, make_plan(t1=12, b1=18), name="February S&OP")
    assert (v1.number, v2.number) == (1, 2) and v1.version_id != v2.version_id
    assert header_hash(workspace, v1.version_id) == h1 and lines_hash(workspace, v1.version_id) == l1
    assert V.get(workspace, v1.version_id).content_sha256 == c1 and V.verify(workspace, v1.version_id)
    assert V.latest(workspace).version_id == v2.version_id
    assert V.list_versions(workspace)["number"].tolist() == [2, 1]


def test_versions_cannot_be_edited():
    public = [n for n in dir(V) if not n.startswith("_") and callable(getattr(V, n))]
    assert not [n for n in public if any(w in n.lower() for w in ("update", "delete", "edit", "remove", "replace"))]


def test_event_id_makes_approval_idempotent(workspace):
    a = approve(workspace, make_plan(), event_id="click-1")
    b = approve(workspace, make_plan(t1=99), event_id="click-1")  # the double click: nothing new is stored
    assert a == b
    assert int(workspace.scalar("SELECT count(*) FROM plan_versions")) == 1
    assert int(workspace.scalar("SELECT count(*) FROM plan_version_lines")) == 6
    assert int(workspace.scalar("SELECT count(*) FROM audit_log WHERE kind = 'plan_approved'")) == 1
    assert approve(workspace, make_plan(), event_id="click-2").number == 2


def test_concurrent_approvals_get_distinct_numbers(workspace):
    out: list[V.Version] = []
    threads = [threading.Thread(target=lambda i=i: out.append(approve(workspace, make_plan(t1=i), name=f"p{i}")))
               for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(v.number for v in out) == [1, 2, 3, 4]


@pytest.mark.parametrize("plan, kw, message", [
    (make_plan().iloc[0:0], {}, "empty"),
    (make_plan().drop(columns="units"), {}, "needs columns units"),
    (make_plan().assign(units=[1, -1, 1, 1, 1, 1]), {}, "negative units"),
    (make_plan(), {"name": "  "}, "version name is required"),
    (make_plan(), {"approved_by": ""}, "approved_by"),
])
def test_invalid_approvals_store_nothing(workspace, plan, kw, message):
    with pytest.raises(ValueError, match=message):
        approve(workspace, plan, **kw)
    assert int(workspace.scalar("SELECT count(*) FROM plan_versions")) == 0
    assert int(workspace.scalar("SELECT count(*) FROM plan_version_lines")) == 0


def test_compare_and_bridge_sum_to_the_difference(workspace):
    old = V.load_version(workspace, approve(workspace, make_plan()).version_id)
    new = V.load_version(workspace, approve(workspace, make_plan(t1=12, t2=4, b1=26)).version_id)
    c = V.compare(old, new)
    assert list(c.columns) == ["family"] + list(V.COMPARE_VALUES)
    # Tents: old 2 × (10 × 100 + 5 × 200) = 4,000; new 2 × (12 × 100 + 4 × 200) = 4,000 → d 0 (units 30 → 32)
    # Backpacks: old 2 × 20 × 50 = 2,000; new 2 × 26 × 50 = 2,600 → d +600 (units 40 → 52)
    got = c.set_index("family")
    assert got.loc["Tents", ["old_units", "new_units", "d_units"]].tolist() == [30, 32, 2]
    assert got.loc["Tents", ["old_revenue", "new_revenue", "d_revenue"]].tolist() == [4000, 4000, 0]
    assert got.loc["Backpacks", ["d_units", "d_revenue"]].tolist() == [12, 600]
    b = V.change_bridge(old, new)
    assert b["label"].tolist() == ["Previous plan", "Backpacks", "New plan"]  # Tents did not change
    assert b["kind"].tolist() == ["total", "relative", "total"]
    rel = b.loc[b["kind"] == "relative", "value"].sum()
    assert rel == pytest.approx(b["value"].iloc[-1] - b["value"].iloc[0]) and b["value"].iloc[0] == 6000
    # by sku: t1 +400, t2 −400, b1 +600: the steps sum exactly to the difference
    b = V.change_bridge(old, new, by="sku")
    assert b["label"].tolist() == ["Previous plan", "b1", "t1", "t2", "New plan"]
    assert b["value"].iloc[1:-1].sum() == pytest.approx(600) == b["value"].iloc[-1] - b["value"].iloc[0]
    units = V.change_bridge(old, new, measure="units")
    assert units["value"].iloc[1:-1].sum() == pytest.approx(units["value"].iloc[-1] - units["value"].iloc[0]) == 14


def test_compare_against_no_earlier_version(workspace):
    new = V.load_version(workspace, approve(workspace, make_plan()).version_id)
    c = V.compare(None, new)
    assert c["old_revenue"].sum() == 0 and c["d_revenue"].sum() == pytest.approx(6000)
    b = V.change_bridge(None, new)
    assert b["value"].iloc[0] == 0 and b["value"].iloc[-1] == pytest.approx(6000)


def test_versions_survive_a_reopen(tmp_path):
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        v1 = approve(ws, make_plan())
        v2 = approve(ws, make_plan(t1=11), name="February S&OP", event_id="e-2")
        l1 = lines_hash(ws, v1.version_id)
        lines2 = V.load_version(ws, v2.version_id)
    with Workspace(path) as ws:
        assert V.list_versions(ws)["version_id"].tolist() == [v2.version_id, v1.version_id]
        assert V.get(ws, v1.version_id) == v1 and V.latest(ws) == v2
        assert lines_hash(ws, v1.version_id) == l1 and V.verify(ws, v1.version_id) and V.verify(ws, v2.version_id)
        pd.testing.assert_frame_equal(V.load_version(ws, v2.version_id), lines2)
        assert approve(ws, make_plan(), event_id="e-2") == v2  # idempotency holds across a reopen
        assert approve(ws, make_plan()).number == 3


def test_stale_inputs_and_unknown_versions(workspace):
    v = approve(workspace, make_plan())
    assert V.stale_inputs(v, {"sales": "f-sales-1", "forecast_run": "run-1"}) == []
    assert V.stale_inputs(v, {"sales": "f-sales-2"}) == ["forecast_run", "sales"]
    with pytest.raises(KeyError):
        V.load_version(workspace, "nope")
    assert V.get(workspace, "nope") is None


# -- approving an evaluated plan: frozen at the prices it was valued at ---------------------------------------------
PLAN_PRODUCTS = PRODUCTS.assign(family=["Tents", "Tents", "Backpacks"])
TENTS_CHEAPER = {"price": [{"family": "Tents", "pct": -3}]}


def plan_inputs() -> plan.PlanInputs:
    """make_plan() as the plan engine's inputs: no stock, capacity, supply, annual plan or history."""
    empty = pd.DataFrame({"sku": pd.Series(dtype=object), "date": pd.Series(dtype="datetime64[us]")})
    capacity = pd.DataFrame({"period": pd.Series(dtype="datetime64[us]"), "resource": pd.Series(dtype=object),
                             "available_hours": pd.Series(dtype=float)})
    budget = pd.DataFrame({"period": pd.Series(dtype="datetime64[us]"), "family": pd.Series(dtype=object),
                           "revenue_plan": pd.Series(dtype=float)})
    history = pd.DataFrame(columns=["series_id", "sku", "region", "family", "period", "quantity", "revenue"])
    return plan.PlanInputs(consensus=plan.as_consensus(make_plan()), products=PLAN_PRODUCTS,
                           inventory=empty.assign(on_hand=pd.Series(dtype=float)), capacity=capacity,
                           supply=empty.assign(quantity=pd.Series(dtype=float)), budget=budget, history=history)


def test_approving_a_price_scenario_freezes_the_scenario_prices(workspace):
    sc = scenarios.create(workspace, "Tents −3%", TENTS_CHEAPER, "cfo")
    base = plan.evaluate(plan_inputs())
    result = plan.evaluate_scenario(plan_inputs(), sc)
    v = V.approve(workspace, result, name="Price cut", scenario_id=sc.scenario_id, fingerprints={},
                  approved_by="ceo")
    lines = V.load_version(workspace, v.version_id)
    # Tents at 97 and 194 (−3%), Backpacks at 50: per month 10 × 97 + 5 × 194 + 20 × 50 = 2,940, two months 5,880
    assert lines["unit_price"].tolist() == pytest.approx([97.0, 194.0, 50.0] * 2)
    assert v.total_revenue == pytest.approx(5880.0) == result.kpis["horizon_revenue_unconstrained"]
    assert base.kpis["horizon_revenue_unconstrained"] == pytest.approx(6000.0)  # the list prices
    assert v.total_revenue != pytest.approx(base.kpis["horizon_revenue_unconstrained"])
    assert v.total_cogs == pytest.approx(2500.0) and v.total_units == 70 and v.scenario_id == sc.scenario_id
    # line by line the plan the page shows: the scenario's valued plan per family × month
    frozen = lines.assign(period=pd.to_datetime(lines["period"])).groupby(["family", "period"])["revenue"].sum()
    shown = result.valued_plan.set_index(["family", "period"])["revenue"]
    pd.testing.assert_series_equal(frozen.sort_index(), shown.sort_index(), check_names=False, check_index_type=False)
    assert V.plan_lines(base)["revenue"].sum() == pytest.approx(6000.0)


@pytest.mark.parametrize("kw, message", [
    ({"scenario_id": None}, "not the scenario the plan was evaluated for"),
    ({"products": PLAN_PRODUCTS}, "own prices"),
])
def test_an_evaluated_plan_cannot_be_approved_with_other_prices_or_scenario(workspace, kw, message):
    sc = scenarios.create(workspace, "Tents −3%", TENTS_CHEAPER, "cfo")
    result = plan.evaluate_scenario(plan_inputs(), sc)
    kw = {"scenario_id": sc.scenario_id, **kw}
    with pytest.raises(ValueError, match=message):
        V.approve(workspace, result, name="Price cut", fingerprints={}, approved_by="ceo", **kw)
    assert int(workspace.scalar("SELECT count(*) FROM plan_versions")) == 0


# -- what changed, as the Executive page shows it ------------------------------------------------------------
def test_the_change_table_has_whole_units_and_whole_dollars_and_a_total(workspace) -> None:
    old = V.prepare_lines(make_plan(t1=10.4, t2=5.0, b1=20.0), PRODUCTS)
    new = V.prepare_lines(make_plan(t1=12.6, t2=5.0, b1=19.5), PRODUCTS)
    table = V.change_table(old, new)
    assert list(table.columns) == ["Family", "Units", "Δ units", "Revenue", "Δ revenue"]
    assert table.to_dict("records") == [
        {"Family": "Tents", "Units": "35", "Δ units": "+4", "Revenue": "$4,520", "Δ revenue": "+$440"},
        {"Family": "Backpacks", "Units": "39", "Δ units": "−1", "Revenue": "$1,950", "Δ revenue": "−$50"},
        {"Family": "Total", "Units": "74", "Δ units": "+3", "Revenue": "$6,470", "Δ revenue": "+$390"}]


def test_common_months_leave_out_a_month_the_cycle_rolled_in_or_out() -> None:
    old = V.prepare_lines(make_plan(), PRODUCTS)
    new = V.prepare_lines(make_plan(t1=11).assign(period=lambda d: d["period"] + pd.DateOffset(months=1)), PRODUCTS)
    assert V.common_periods(old, new) == [FEB]
    c = V.compare(old, new, common=True).set_index("family")
    assert c.loc["Tents", "d_units"] == 1 and c.loc["Backpacks", "d_units"] == 0  # February only
    assert V.compare(old, new).set_index("family").loc["Backpacks", "d_units"] == 0  # Jan out, Mar in
    assert V.common_periods(None, new) == []


def test_change_bridge_keeps_the_largest_steps_and_drops_float_noise() -> None:
    old = V.prepare_lines(make_plan(), PRODUCTS)
    new = V.prepare_lines(make_plan(t1=10 + 1e-9, b1=25), PRODUCTS)
    steps = V.change_bridge(old, new, measure="units", min_change=0.5)
    assert list(steps["label"]) == ["Previous plan", "Backpacks", "New plan"]
    lines = pd.concat([make_plan().assign(family=f"F{i}", units=10.0 + i) for i in range(5)], ignore_index=True)
    more = lines.assign(units=lines["units"] + lines["family"].str[1].astype(int) + 1)
    top = V.change_bridge(V.prepare_lines(lines, PRODUCTS), V.prepare_lines(more, PRODUCTS), measure="units", top=3)
    assert list(top["label"]) == ["Previous plan", "F4", "F3", "Other families", "New plan"]
    assert top["value"].iloc[1:-1].sum() == pytest.approx(top["value"].iloc[-1] - top["value"].iloc[0])


def test_monthly_revenue_and_the_versions_table(workspace) -> None:
    v = approve(workspace, make_plan(), note="")
    lines = V.load_version(workspace, v.version_id)
    month = V.monthly_revenue(lines, 2026)
    assert list(month["period"]) == [JAN, FEB] and list(month["revenue"]) == [3000.0, 3000.0]
    assert V.monthly_revenue(lines, 2027).empty and V.monthly_revenue(None).empty
    table = V.versions_table(workspace)
    assert table.to_dict("records") == [{"Version": "v1 · January S&OP", "Approved": f"{v.approved_at:%d %b %Y}",
                                         "By": "ceo", "Units": "70", "Revenue": "$6,000", "Note": "—"}]
