"""The KPI catalogue: one entry per measure, every key the plan and the scorecard use is in it, and targets stored
under the keys from before the catalogue are read as the keys now."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from sop_core.intake import company
from sop_core.planning import kpi_catalogue, kpi_targets, kpis, plan
from sop_core.planning.kpi_catalogue import MEASURES, PLAN_KEYS, SCORECARD_KEYS
from sop_core.planning.kpis import ScorecardInputs

ROOT = Path(__file__).resolve().parents[1]


def test_every_plan_and_scorecard_key_is_in_the_catalogue():
    assert plan.KPI_KEYS == PLAN_KEYS and kpis.KPI_KEYS == SCORECARD_KEYS  # test_plan: evaluate gives KPI_KEYS
    assert set(kpi_targets.DEFAULT_TARGETS) == set(SCORECARD_KEYS)  # a target for every scorecard KPI, no other
    assert set(kpis.COVERAGE_OF) <= set(SCORECARD_KEYS)
    cards = kpis.scorecard(ScorecardInputs())
    assert [k.key for k in cards] == list(SCORECARD_KEYS)
    for k in cards:  # each card takes its label, unit, direction and formula from the catalogue
        m = MEASURES[k.key]
        assert (k.label, k.unit, k.direction, k.formula) == (m.label, m.unit, m.better, m.formula)
        assert k.status_basis == m.window and k.trend_basis.startswith(m.trend)  # (a missing KPI has no month)


def test_no_key_means_two_things():
    keys = [m.key for m in kpi_catalogue._MEASURES]
    assert len(keys) == len(set(keys)) and list(MEASURES) == keys
    assert all(MEASURES[k].key == k for k in MEASURES)
    assert not set(PLAN_KEYS) & set(SCORECARD_KEYS) and set(PLAN_KEYS) | set(SCORECARD_KEYS) == set(MEASURES)
    # the two fill rates and the two gross margin percentages are told apart by their keys and scopes
    assert MEASURES["plan_fill_rate"].scope == "horizon" and MEASURES["order_fill_rate"].scope == "last_12m"
    assert MEASURES["gross_margin_pct"].scope == "year" and MEASURES["gross_margin_pct_12m"].scope == "last_12m"
    assert "fill_rate" not in MEASURES  # the old, ambiguous key is gone
    for m in MEASURES.values():
        assert m.unit in kpi_catalogue.UNITS and m.better in kpi_catalogue.BETTER
        assert m.scope in kpi_catalogue.SCOPES and m.source in kpi_catalogue.SOURCES
        assert m.label and m.formula and m.window
        assert bool(m.trend) == (m.source == "scorecard")
    assert set(kpi_catalogue.RENAMED_SCORECARD_KEYS.values()) <= set(SCORECARD_KEYS)


def _string_keys(path: Path, names: set[str]) -> set[str]:
    """String subscripts and .get() keys of `names` (e.g. k["revenue"], kpis.get("units_short")) in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in names
                and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):
            found.add(node.slice.value)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                and isinstance(node.func.value, ast.Name) and node.func.value.id in names and node.args
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.add(node.args[0].value)
    return found


@pytest.mark.parametrize("path", ["pages/supply_review.py", "pages/inventory.py", "pages/financials.py",
                                  "pages/executive.py", "pages/pre_sop.py", "pages/shell/compare.py",
                                  "sop_core/meetings/agenda.py", "sop_core/meetings/cycle.py"])
def test_the_pages_read_only_catalogue_keys(path):
    used = _string_keys(ROOT / path, {"k", "kpis", "MEASURES"})
    assert used <= set(MEASURES), sorted(used - set(MEASURES))


# -- targets stored before the catalogue -----------------------------------------------------------------
def test_old_target_keys_are_read_as_the_keys_now():
    old = {"fill_rate": {"green": 0.97, "amber": 0.9}, "gross_margin_pct": {"green": 0.4, "amber": 0.3},
           "otif": {"green": 0.96}}
    assert kpi_targets.current_keys(old) == {"order_fill_rate": {"green": 0.97, "amber": 0.9},
                                             "gross_margin_pct_12m": {"green": 0.4, "amber": 0.3},
                                             "otif": {"green": 0.96}}
    t = kpi_targets.merge_targets(old)
    assert t["order_fill_rate"] == {"green": 0.97, "amber": 0.9, "basis": "latest"}
    assert t["gross_margin_pct_12m"] == {"green": 0.4, "amber": 0.3, "basis": "latest"} and t["otif"]["green"] == 0.96
    # stored under both names (cannot happen from the app): the current key wins
    both = {"fill_rate": {"green": 0.97}, "order_fill_rate": {"green": 0.99}}
    assert kpi_targets.merge_targets(both)["order_fill_rate"]["green"] == 0.99
    assert kpi_targets.current_keys(None) == {}


def test_a_workspace_saved_before_the_rename_shows_the_same_statuses(workspace):
    company.reset_to_demo(workspace)
    before = {k.key: k for k in kpis.scorecard(kpis.inputs_from_workspace(workspace))}
    margin = before["gross_margin_pct_12m"].value
    fill = before["order_fill_rate"].value
    assert margin is not None and fill is not None
    # targets stored as an older app did: the scorecard's keys were 'fill_rate' and 'gross_margin_pct'
    old = {"fill_rate": {"green": fill + 0.01, "amber": fill - 0.01},
           "gross_margin_pct": {"green": margin + 0.02, "amber": margin + 0.01}}
    workspace.set_setting(kpis.TARGETS_SETTING, old)
    loaded = kpis.load_targets(workspace)
    assert loaded["order_fill_rate"] == {"green": fill + 0.01, "amber": fill - 0.01, "basis": "latest"}
    assert loaded["gross_margin_pct_12m"]["green"] == pytest.approx(margin + 0.02)
    after = {k.key: k for k in kpis.scorecard(kpis.inputs_from_workspace(workspace))}
    # DuckDB's parallel sums may differ in the last bit from one query to the next
    assert after["order_fill_rate"].value == pytest.approx(fill, rel=1e-12)
    fill_now, margin_now = after["order_fill_rate"], after["gross_margin_pct_12m"]
    # judged on the latest month against the old targets, read under the keys now
    assert fill_now.status == kpi_targets.status_of(fill_now.judged, "higher", fill + 0.01, fill - 0.01) != "missing"
    assert margin_now.value == pytest.approx(margin, rel=1e-12)
    assert margin_now.status == kpi_targets.status_of(margin_now.judged, "higher", margin + 0.02, margin + 0.01)
    assert kpis.plan_scorecard(workspace, None, None)[3].status == fill_now.status
    # saving them again stores the keys now
    kpis.save_targets(workspace, old)
    assert set(workspace.get_setting(kpis.TARGETS_SETTING)) == {"order_fill_rate", "gross_margin_pct_12m"}
    assert kpis.load_targets(workspace) == loaded
