"""One company per workspace: the demo, an atomic reset to it, starting one's own company, start-up repair."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from sop_core import contract
from sop_core.demand import forecast, overrides
from sop_core.demand.overrides import OverrideInput
from sop_core.intake import company, demo
from sop_core.intake import load as intake
from sop_core.intake.errors import IntakeError
from sop_core.meetings import decisions, links
from sop_core.planning import kpis, scenarios
from sop_core.store import backup
from sop_core.store.workspace import Provenance, Workspace

ROOT = Path(__file__).resolve().parents[1]
OWN_SALES = b"date,sku,quantity\n2026-08-01,MY-1,5\n2026-09-01,MY-1,7\n2026-10-01,MY-1,9\n"


def _statistical(ws: Workspace) -> pd.DataFrame:
    """A small statistical forecast over the demo's Tents skus (enough to save an override on)."""
    prods = ws.table("products")
    tents = prods[prods["family"] == "Tents"]["sku"].head(2)
    periods = pd.date_range(pd.Timestamp(demo.demo_end()) + pd.offsets.MonthBegin(1), periods=3, freq="MS")
    rows = [{"series_id": f"{s} | North", "sku": s, "region": "North", "family": "Tents", "period": p,
             "value": 100.0, "lower": 80.0, "upper": 120.0, "model": "prophet"} for s in tents for p in periods]
    return pd.DataFrame(rows)


def _plan_on_demo(ws: Workspace) -> None:
    """What planners do on the demo: an override, a scenario, a decision and changed settings."""
    stat = _statistical(ws)
    overrides.save_override(ws, "run-demo", stat, OverrideInput(
        family="Tents", period_from=stat["period"].min(), period_to=stat["period"].max(), kind="percent",
        value=10.0, reason="Promotion"), author="alice")
    scenarios.create(ws, "Tents +10%", {"demand": [{"family": "Tents", "pct": 10}]}, author="alice")
    decisions.record(ws, title="Overtime on ASSY-2", owner="COO", due_date="2026-12-15", author="alice")
    forecast.save_settings(ws, forecast.ForecastSettings(bucket="week", horizon=24), author="alice")
    kpis.save_targets(ws, {"otif": {"green": 0.99, "amber": 0.95}}, author="alice")


def _counts(ws: Workspace) -> dict[str, int]:
    return {t: int(ws.scalar(f'SELECT count(*) FROM "{t}"')) for t in ("overrides", "scenarios", "decisions")}


def test_a_new_workspace_gets_the_demo_and_knows_it(workspace: Workspace) -> None:
    assert company.current(workspace).kind is None
    assert company.ensure_demo(workspace) is True
    assert workspace.loaded_tables() == list(contract.TABLE_ORDER)
    held = company.current(workspace)
    assert held.is_demo and held.name == demo.COMPANY and held.demo_end == "2026-10"
    loads = workspace.latest_loads().set_index("table_name")
    assert loads.loc["sales", "file_name"] == "demo/sales.csv" and loads.loc["sales", "author"] == "demo"
    fingerprint = workspace.fingerprint()
    assert company.ensure_demo(workspace) is False  # nothing to do the second time
    assert workspace.fingerprint() == fingerprint


def test_the_demo_moves_with_the_calendar_and_keeps_the_planners_work(workspace: Workspace,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    company.ensure_demo(workspace)
    _plan_on_demo(workspace)
    monkeypatch.setenv("SOP_TODAY", "2027-01-04")  # two months later, across a year end
    assert company.ensure_demo(workspace) is True
    assert pd.Timestamp(workspace.scalar('SELECT max("date") FROM sales')) == pd.Timestamp("2026-12-01")
    assert company.current(workspace).demo_end == "2026-12"
    assert _counts(workspace) == {"overrides": 1, "scenarios": 1, "decisions": 1}


def test_a_workspace_of_ones_own_is_never_touched(workspace: Workspace) -> None:
    workspace.replace_table("sales", pd.DataFrame({"date": [pd.Timestamp("2025-01-01")], "sku": ["X-1"],
                                                   "quantity": [3.0]}),
                            Provenance(file_name="mine.csv", sha256="0" * 64))
    assert company.current(workspace).kind == company.OWN
    assert company.ensure_demo(workspace) is False
    assert workspace.loaded_tables() == ["sales"]


def test_an_old_half_done_reset_is_finished_at_start_up(workspace: Workspace) -> None:
    for name, (frame, prov) in list(demo.tables().items())[:2]:  # the old reset died after two loads
        workspace.replace_table(name, frame, prov)
    assert workspace.loaded_tables() == ["sales", "products"]
    assert company.current(workspace).is_demo
    assert company.ensure_demo(workspace) is True
    assert workspace.loaded_tables() == list(contract.TABLE_ORDER)


def test_reset_returns_everything_to_the_demo_and_backs_up_first(workspace: Workspace, tmp_path: Path) -> None:
    company.reset_to_demo(workspace)
    _plan_on_demo(workspace)
    workspace.set_setting("dask_scheduler", "tcp://cluster:8786")
    links.save_snapshot(workspace, links.ViewState(page="executive"),
                        [{"kind": "text", "text": "2026 outlook $32.1M"}], "alice")  # a pre-read of the old company
    before_events = int(workspace.scalar("SELECT count(*) FROM audit_log"))
    saved = company.reset_to_demo(workspace, author="admin", backup_dir=tmp_path / "backups")
    assert workspace.scalar("SELECT count(*) FROM link_snapshots") == 0
    assert saved is not None and saved.parent == tmp_path / "backups"
    assert _counts(workspace) == {"overrides": 0, "scenarios": 0, "decisions": 0}
    assert forecast.saved_settings(workspace) == forecast.ForecastSettings()  # monthly again
    assert kpis.load_targets(workspace) == kpis.merge_targets()  # the default targets
    assert workspace.get_setting("dask_scheduler") == "tcp://cluster:8786"  # the server's, not the company's
    assert workspace.loaded_tables() == list(contract.TABLE_ORDER)
    assert int(workspace.scalar("SELECT count(*) FROM audit_log")) > before_events  # history is never cleared
    manifest = backup.read_manifest(saved)
    assert manifest["tables"]["overrides"]["rows"] == 1 and manifest["tables"]["scenarios"]["rows"] == 1
    assert manifest["tables"]["decisions"]["rows"] == 1


def test_starting_ones_company_sets_the_demo_aside(workspace: Workspace, tmp_path: Path) -> None:
    company.reset_to_demo(workspace)
    _plan_on_demo(workspace)
    with pytest.raises(IntakeError, match="holds the demo company") as err:
        intake.load(workspace, "my_sales.csv", OWN_SALES, "sales")
    assert err.value.kind == "demo_company"
    assert workspace.loaded_tables() == list(contract.TABLE_ORDER)  # refused: nothing changed
    saved = company.start_company(workspace, author="admin", backup_dir=tmp_path / "b")
    assert company.current(workspace).kind == company.OWN
    assert workspace.loaded_tables() == [] and _counts(workspace) == {"overrides": 0, "scenarios": 0, "decisions": 0}
    prepared = intake.load(workspace, "my_sales.csv", OWN_SALES, "sales")
    assert prepared.ok and workspace.loaded_tables() == ["sales"]
    assert overrides.active(workspace).empty  # no demo override applies to the user's data
    assert scenarios.list_scenarios(workspace, include_archived=True) == []
    assert decisions.log(workspace).empty
    assert forecast.saved_settings(workspace) == forecast.ForecastSettings()
    assert company.ensure_demo(workspace) is False  # a restart does not bring the demo back
    assert backup.read_manifest(saved)["tables"]["overrides"]["rows"] == 1  # the demo's work is in the backup
    # replacing a table of one's own company stays as it was: no switch, no backup
    again = intake.load(workspace, "my_sales.csv", OWN_SALES.replace(b",9\n", b",11\n"), "sales")
    assert again.ok and company.current(workspace).kind == company.OWN
    assert list((tmp_path / "b").iterdir()) == [saved]


_KILLED_CHILD = """
import sys, time
from pathlib import Path
from sop_core.intake import company
from sop_core.store.workspace import Workspace

path, action, marker = sys.argv[1], sys.argv[2], Path(sys.argv[3])
calls = []
original = Workspace.store_table

def slow_store(self, cur, name, df, provenance):
    calls.append(name)
    load_id = original(self, cur, name, df, provenance)
    if len(calls) == 3:  # three of seven tables written inside the transaction: wait to be killed
        marker.write_text("mid-transaction")
        time.sleep(600)
    return load_id

Workspace.store_table = slow_store
ws = Workspace(path)
if action == "reset":
    company.reset_to_demo(ws, author="admin")
"""


def _kill_midway(path: Path, action: str, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", _KILLED_CHILD, str(path), action, str(marker)], env=env)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, "the child ended before the midway point"
            assert time.monotonic() < deadline, "the child never reached the midway point"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)


def test_a_reset_killed_midway_leaves_the_old_company_whole(tmp_path: Path) -> None:
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        assert intake.load(ws, "my_sales.csv", OWN_SALES, "sales").ok
        before = ws.fingerprint()
    _kill_midway(path, "reset", tmp_path)
    with Workspace(path) as ws:  # reopened after kill -9: the old company, whole
        assert ws.loaded_tables() == ["sales"] and ws.fingerprint() == before
        assert company.current(ws).kind == company.OWN
        assert company.ensure_demo(ws) is False
        saved = company.reset_to_demo(ws, author="admin")  # done again, to the end
        assert ws.loaded_tables() == list(contract.TABLE_ORDER) and company.current(ws).is_demo
        assert saved is not None and backup.read_manifest(saved)["tables"]["sales"]["rows"] == 3
