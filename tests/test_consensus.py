"""Consensus plan: overrides applied to the statistical forecast, worked by hand.

The forecast below is flat over three months (units per month):

    family A: a1 N 100, a1 S 50, a2 N 30, a2 S 20   (family total 200)
    family B: b1 N 10,  b1 S 0,  b2 N 5,  b2 S 0    (family total 15)
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from sop_core.demand import consensus as C
from sop_core.demand.overrides import OverrideInput

JAN, FEB, MAR = pd.Timestamp("2026-01-01"), pd.Timestamp("2026-02-01"), pd.Timestamp("2026-03-01")
FORECAST = {"A": {"a1": {"N": 100, "S": 50}, "a2": {"N": 30, "S": 20}},
            "B": {"b1": {"N": 10, "S": 0}, "b2": {"N": 5, "S": 0}}}


def make_statistical() -> pd.DataFrame:
    """The hand-worked forecast in the forecast engine's layout."""
    rows = []
    for family, skus in FORECAST.items():
        for sku, regions in skus.items():
            for region, v in regions.items():
                for p in (JAN, FEB, MAR):
                    rows.append({"series_id": f"{sku} | {region}", "sku": sku, "region": region, "family": family,
                                 "period": p, "value": float(v), "lower": 0.8 * v, "upper": 1.2 * v, "model": "ets"})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=1).reset_index(drop=True)  # order must not matter


def ov(seconds: int = 0, **kw) -> dict:
    """An override row as the consensus engine reads it, saved `seconds` after a fixed time."""
    base = {"family": None, "region": None, "sku": None, "reason": "Promotion",
            "created_at": pd.Timestamp("2026-01-10 09:00") + pd.Timedelta(seconds=seconds)}
    base.update(kw)
    return base


def cell(df: pd.DataFrame, sku: str, region: str, period: pd.Timestamp, col: str = "consensus") -> float:
    """One value of a consensus frame."""
    hit = df[(df["sku"] == sku) & (df["region"] == region) & (df["period"] == period)]
    assert len(hit) == 1
    return float(hit[col].iloc[0])


@pytest.fixture
def stat() -> pd.DataFrame:
    return make_statistical()


def test_no_overrides_consensus_equals_statistical(stat):
    out = C.apply_overrides(stat, None)
    assert list(out.columns) == list(C.CONSENSUS_COLUMNS)
    assert len(out) == len(stat)
    np.testing.assert_array_equal(out["consensus"].to_numpy(), out["statistical"].to_numpy())
    assert not out["overridden"].any()
    # sorted by sku, region, period whatever the input order
    assert out[["sku", "region", "period"]].equals(out.sort_values(["sku", "region", "period"])[["sku", "region", "period"]].reset_index(drop=True))
    empty = C.apply_overrides(stat, pd.DataFrame(columns=list(C.OVERRIDE_COLUMNS)))
    assert empty["consensus"].equals(out["consensus"])


def test_percent_on_family_splits_pro_rata_and_sums_back(stat):
    out = C.apply_overrides(stat, [ov(family="A", period_from=JAN, period_to=FEB, kind="percent", value=10.0)])
    for p in (JAN, FEB):
        assert cell(out, "a1", "N", p) == pytest.approx(110)
        assert cell(out, "a1", "S", p) == pytest.approx(55)
        assert cell(out, "a2", "N", p) == pytest.approx(33)
        assert cell(out, "a2", "S", p) == pytest.approx(22)
        fam = out[(out["family"] == "A") & (out["period"] == p)]
        assert fam["consensus"].sum() == pytest.approx(220)  # 200 × 1.10
        assert fam["overridden"].all()
    assert cell(out, "a1", "N", MAR) == 100  # outside the range
    assert not out[out["family"] == "B"]["overridden"].any()
    assert out[out["family"] == "B"]["consensus"].sum() == 45


def test_units_on_family_sets_total_and_keeps_sku_mix(stat):
    out = C.apply_overrides(stat, [ov(family="A", period_from=FEB, period_to=FEB, kind="units", value=400.0)])
    # 400 / 200 = 2×: a1N 200, a1S 100, a2N 60, a2S 40
    assert cell(out, "a1", "N", FEB) == pytest.approx(200)
    assert cell(out, "a1", "S", FEB) == pytest.approx(100)
    assert cell(out, "a2", "N", FEB) == pytest.approx(60)
    assert cell(out, "a2", "S", FEB) == pytest.approx(40)
    feb = out[(out["family"] == "A") & (out["period"] == FEB)]
    assert feb["consensus"].sum() == pytest.approx(400, abs=1e-9)
    shares = feb.set_index(["sku", "region"])["consensus"] / 400
    assert shares.to_dict() == pytest.approx({("a1", "N"): 0.5, ("a1", "S"): 0.25, ("a2", "N"): 0.15, ("a2", "S"): 0.10})
    assert out[(out["family"] == "A") & (out["period"] != FEB)]["consensus"].sum() == pytest.approx(400)  # Jan+Mar


def test_units_on_one_sku_one_period(stat):
    out = C.apply_overrides(stat, [ov(sku="a2", period_from=MAR, period_to=MAR, kind="units", value=100.0)])
    # a2 total 50 (N 30, S 20) -> 100: N 60, S 40
    assert cell(out, "a2", "N", MAR) == pytest.approx(60)
    assert cell(out, "a2", "S", MAR) == pytest.approx(40)
    assert out["overridden"].sum() == 2
    assert cell(out, "a1", "N", MAR) == 100 and cell(out, "a2", "N", FEB) == 30
    one = C.apply_overrides(stat, [ov(sku="a2", region="S", period_from=MAR, period_to=MAR, kind="units", value=25.0)])
    assert cell(one, "a2", "S", MAR) == 25 and cell(one, "a2", "N", MAR) == 30
    assert one["overridden"].sum() == 1


def test_region_scope(stat):
    out = C.apply_overrides(stat, [ov(family="A", region="S", period_from=JAN, period_to=MAR, kind="percent", value=50.0)])
    for p in (JAN, FEB, MAR):
        assert cell(out, "a1", "S", p) == pytest.approx(75)
        assert cell(out, "a2", "S", p) == pytest.approx(30)
        assert cell(out, "a1", "N", p) == 100 and cell(out, "a2", "N", p) == 30
    assert out["overridden"].sum() == 6


def test_overlapping_overrides_apply_in_created_at_order(stat):
    pct = ov(0, family="A", period_from=JAN, period_to=JAN, kind="percent", value=10.0)
    units = ov(60, sku="a1", period_from=JAN, period_to=JAN, kind="units", value=300.0)
    # +10% first: a1N 110, a1S 55, a2N 33, a2S 22; then a1 165 -> 300: a1N 200, a1S 100
    out = C.apply_overrides(stat, [units, pct])  # list order is not save order
    assert cell(out, "a1", "N", JAN) == pytest.approx(200)
    assert cell(out, "a1", "S", JAN) == pytest.approx(100)
    assert cell(out, "a2", "N", JAN) == pytest.approx(33)
    assert out[(out["family"] == "A") & (out["period"] == JAN)]["consensus"].sum() == pytest.approx(355)
    # the other way round: a1 300 (N 200, S 100), then +10% on the family: 220 + 110 + 33 + 22 = 385
    rev = C.apply_overrides(stat, [ov(0, **{k: v for k, v in units.items() if k != "created_at"}),
                                   ov(60, **{k: v for k, v in pct.items() if k != "created_at"})])
    assert cell(rev, "a1", "N", JAN) == pytest.approx(220)
    assert rev[(rev["family"] == "A") & (rev["period"] == JAN)]["consensus"].sum() == pytest.approx(385)


def test_later_override_on_same_scope_supersedes(stat):
    first = ov(0, family="A", period_from=JAN, period_to=FEB, kind="units", value=400.0)
    second = ov(1, family="A", period_from=JAN, period_to=FEB, kind="units", value=300.0)
    out = C.apply_overrides(stat, [first, second])
    for p in (JAN, FEB):
        assert out[(out["family"] == "A") & (out["period"] == p)]["consensus"].sum() == pytest.approx(300)
        assert cell(out, "a1", "N", p) == pytest.approx(150)  # still half of the family


def test_seq_breaks_created_at_ties(stat):
    t = pd.Timestamp("2026-01-10 09:00")
    a = {**ov(family="A", period_from=JAN, period_to=JAN, kind="units", value=400.0), "created_at": t, "seq": 2}
    b = {**ov(family="A", period_from=JAN, period_to=JAN, kind="units", value=300.0), "created_at": t, "seq": 1}
    out = C.apply_overrides(stat, pd.DataFrame([a, b]))
    assert out[(out["family"] == "A") & (out["period"] == JAN)]["consensus"].sum() == pytest.approx(400)


def test_units_on_zero_total_split_by_statistical_then_evenly(stat):
    # family A at -100% in January, then 100 units: current total 0 -> split by statistical (200)
    out = C.apply_overrides(stat, [
        ov(0, family="A", period_from=JAN, period_to=JAN, kind="percent", value=-100.0),
        ov(1, family="A", period_from=JAN, period_to=JAN, kind="units", value=100.0),
    ])
    assert cell(out, "a1", "N", JAN) == pytest.approx(50)
    assert cell(out, "a2", "S", JAN) == pytest.approx(10)
    # family B region S: b1 S 0 and b2 S 0, statistical 0 too -> evenly, 6 each
    even = C.apply_overrides(stat, [ov(family="B", region="S", period_from=FEB, period_to=FEB, kind="units", value=12.0)])
    assert cell(even, "b1", "S", FEB) == pytest.approx(6)
    assert cell(even, "b2", "S", FEB) == pytest.approx(6)


def test_periods_outside_the_horizon_are_ignored(stat):
    out = C.apply_overrides(stat, [ov(family="A", period_from=pd.Timestamp("2025-11-01"), period_to=JAN,
                                      kind="units", value=100.0)])
    assert out[(out["family"] == "A") & (out["period"] == JAN)]["consensus"].sum() == pytest.approx(100)
    assert out[(out["family"] == "A") & (out["period"] == FEB)]["consensus"].sum() == pytest.approx(200)
    none = C.apply_overrides(stat, [ov(family="Z", period_from=JAN, period_to=MAR, kind="percent", value=10.0)])
    assert not none["overridden"].any()


def test_undo_entries_and_undone_rows_are_skipped(stat):
    rows = pd.DataFrame([
        {**ov(0, family="A", period_from=JAN, period_to=JAN, kind="percent", value=10.0), "undoes": None, "undone": True},
        {**ov(1, family="A", period_from=JAN, period_to=JAN, kind="percent", value=10.0), "undoes": "x", "undone": False},
    ])
    out = C.apply_overrides(stat, rows)
    assert out["consensus"].equals(out["statistical"])


def test_preview_applies_the_new_override_last_without_saving(stat):
    existing = [ov(0, sku="a1", period_from=JAN, period_to=JAN, kind="units", value=300.0)]
    new = OverrideInput(family="A", period_from=JAN, period_to=JAN, kind="percent", value=10.0, reason="Promotion")
    out = C.preview(stat, existing, new)
    assert cell(out, "a1", "N", JAN) == pytest.approx(220)  # units first, then +10%
    assert out[(out["family"] == "A") & (out["period"] == JAN)]["consensus"].sum() == pytest.approx(385)


def test_totals_by_family_and_period(stat):
    out = C.apply_overrides(stat, [ov(family="A", period_from=JAN, period_to=JAN, kind="percent", value=10.0)])
    fam = C.totals(out).set_index("family")
    assert fam.loc["A", "statistical"] == 600 and fam.loc["A", "consensus"] == pytest.approx(620)
    assert fam.loc["A", "change_pct"] == pytest.approx(20 / 6)
    assert bool(fam.loc["A", "overridden"]) and not bool(fam.loc["B", "overridden"])
    by_p = C.totals(out, by=["family", "period"])
    assert len(by_p) == 6
    assert by_p[(by_p["family"] == "A") & (by_p["period"] == JAN)]["consensus"].iloc[0] == pytest.approx(220)
    assert C.scope_total(out, family="A", period_from=JAN, period_to=FEB) == pytest.approx(420)


def test_bad_statistical_frames_are_refused(stat):
    with pytest.raises(ValueError, match="missing column"):
        C.apply_overrides(stat.drop(columns=["family"]))
    with pytest.raises(ValueError, match="duplicated"):
        C.apply_overrides(pd.concat([stat, stat.head(1)]))


def test_ten_thousand_rows_and_fifty_overrides_is_fast():
    rng = np.random.default_rng(0)
    periods = pd.date_range("2026-01-01", periods=18, freq="MS")
    skus = [f"s{i:03d}" for i in range(186)]
    idx = pd.MultiIndex.from_product([skus, ["N", "S", "W"], periods], names=["sku", "region", "period"])
    big = idx.to_frame(index=False)
    big["family"] = big["sku"].map({s: f"F{i % 8}" for i, s in enumerate(skus)})
    big["value"] = rng.gamma(2.0, 50.0, len(big))
    assert len(big) >= 10_000
    ovs = []
    for i in range(50):
        a = int(rng.integers(0, 12))
        scope = {"family": f"F{i % 8}"} if i % 2 else {"sku": skus[int(rng.integers(0, len(skus)))]}
        ovs.append(ov(i, **scope, period_from=periods[a], period_to=periods[a + int(rng.integers(0, 6))],
                      kind="percent" if i % 3 else "units", value=float(rng.integers(5, 500))))
    C.apply_overrides(big, ovs)
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        C.apply_overrides(big, ovs)
        times.append(time.perf_counter() - t0)
    assert float(np.median(times)) < 1.0  # target 0.2 s; generous for a shared CI machine
