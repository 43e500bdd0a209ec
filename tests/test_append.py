"""Appending periods to a table (`load.append`, `storing.append_rows`, `load --append`): replaced, kept, all or nothing."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from test_intake import snapshot

from sop_core.cli import main as cli
from sop_core.intake.errors import IntakeError
from sop_core.intake.load import append, commit, load, prepare
from sop_core.intake.raw_table import Limits
from sop_core.intake.worker import prepare_isolated
from sop_core.store import ledger
from sop_core.store.workspace import Workspace

JAN_JUN = b"date,sku,quantity\n" + b"".join(f"2026-{m:02d}-01,{s},{m}\n".encode() for m in range(1, 7) for s in "AB")
MAY_AUG = b"date,sku,quantity\n" + b"".join(f"2026-{m:02d}-01,{s},{100 + m}\n".encode()
                                            for m in range(5, 9) for s in "ABC")


def sales(ws: Workspace) -> pd.DataFrame:
    """The stored sales, sorted."""
    out = ws.query('SELECT strftime("date", \'%Y-%m\') AS month, sku, quantity FROM sales ORDER BY month, sku')
    return out


def test_overlapping_periods_are_replaced_and_the_others_kept(workspace: Workspace) -> None:
    assert load(workspace, "jan-jun.csv", JAN_JUN, "sales").ok
    before = workspace.fingerprint(["sales"])
    p = prepare("may-aug.csv", MAY_AUG, "sales", ws=workspace)
    done = append(workspace, p)
    stored = sales(workspace)
    assert stored[stored["month"] <= "2026-04"]["quantity"].tolist() == [1, 1, 2, 2, 3, 3, 4, 4]  # kept
    assert stored[stored["month"] >= "2026-05"]["quantity"].tolist() == [105, 105, 105, 106, 106, 106, 107, 107, 107,
                                                                        108, 108, 108]  # May-Jun replaced, Jul-Aug new
    assert (done.rows_added, done.periods, done.rows_replaced, done.rows_kept) == (12, 4, 4, 8)
    assert (done.first_period, done.last_period) == ("2026-05-01", "2026-08-01")
    assert workspace.fingerprint(["sales"]) != before  # caches keyed on the data see the change
    latest = workspace.latest_loads().set_index("table_name").loc["sales"]
    assert latest["file_name"] == "may-aug.csv" and latest["rows"] == 12 and latest["load_id"] == done.load_id
    event = workspace.query("""SELECT * FROM audit_log WHERE kind = 'load' ORDER BY "at" DESC LIMIT 1""").iloc[0]
    detail = json.loads(event["detail"])
    assert detail["mode"] == "append" and detail["load_id"] == done.load_id and detail["rows_replaced"] == 4
    assert detail["rows_in_table"] == 20
    assert done.load_id in {json.loads(e.detail)["load_id"] for e in ledger.read(workspace.ledger.path).entries
                            if e.kind == "load"}


def test_a_bad_file_appends_nothing(workspace: Workspace) -> None:
    assert load(workspace, "jan-jun.csv", JAN_JUN, "sales").ok
    before = snapshot(workspace)
    p = prepare("bad.csv", MAY_AUG + b"2026-09-01,A,n/a\n", "sales", ws=workspace)
    assert not p.ok
    with pytest.raises(IntakeError, match="cannot be loaded"):
        append(workspace, p)
    assert snapshot(workspace) == before


def test_a_failure_inside_the_transaction_changes_nothing(workspace: Workspace) -> None:
    assert load(workspace, "jan-jun.csv", JAN_JUN, "sales").ok
    before = snapshot(workspace)
    p = prepare("may-aug.csv", MAY_AUG, "sales", ws=workspace)
    p.frame["quantity"] = pd.Series(["not a number"] * len(p.frame), dtype=object)  # the CAST fails mid-way
    with pytest.raises(IntakeError, match="could not be stored, nothing changed"):
        append(workspace, p)
    assert snapshot(workspace) == before


def test_a_streamed_file_appends_from_its_staged_table(workspace: Workspace) -> None:
    assert load(workspace, "jan-jun.csv", JAN_JUN, "sales").ok
    p = prepare_isolated("may-aug.csv", MAY_AUG, "sales", ws=workspace, keep_staged=True,
                         limits=Limits(stream_bytes=0))
    assert p.ok and p.frame is None and p.staged is not None and Path(p.staged).exists()
    done = append(workspace, p)
    assert (done.rows_added, done.rows_replaced, done.rows_kept) == (12, 4, 8)
    assert sales(workspace)["quantity"].sum() == 1 * 2 + 2 * 2 + 3 * 2 + 4 * 2 + 3 * (105 + 106 + 107 + 108)
    staged = p.staged
    del p
    assert not Path(staged).exists()  # the staged file goes with its Prepared


def test_append_to_a_table_not_loaded_yet_creates_it_and_products_cannot_be_appended(workspace: Workspace) -> None:
    done = append(workspace, prepare("may-aug.csv", MAY_AUG, "sales", ws=workspace))
    assert (done.rows_added, done.rows_replaced, done.rows_kept) == (12, 0, 0) and len(sales(workspace)) == 12
    p = prepare("p.csv", b"sku,family,unit_price,unit_cost\nA,F,1,1\n", "products", ws=workspace)
    with pytest.raises(IntakeError, match="products has no periods"):
        append(workspace, p)
    assert not workspace.has_table("products")


def test_capacity_appends_by_month(workspace: Workspace) -> None:
    first = b"period,resource,available_hours\n2026-01-01,L1,10\n2026-02-01,L1,20\n"
    assert load(workspace, "c1.csv", first, "capacity").ok
    done = append(workspace, prepare("c2.csv", b"period,resource,available_hours\n2026-02-15,L1,25\n2026-03-01,L1,30\n",
                                     "capacity", ws=workspace))
    stored = workspace.query("SELECT period, available_hours FROM capacity ORDER BY period")
    assert stored["available_hours"].tolist() == [10, 25, 30] and done.rows_replaced == 1


def test_load_append_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws_path = tmp_path / "ws.duckdb"
    (tmp_path / "jan-jun.csv").write_bytes(JAN_JUN)
    (tmp_path / "may-aug.csv").write_bytes(MAY_AUG)
    assert cli.main(["--workspace", str(ws_path), "load", str(tmp_path / "jan-jun.csv"), "--table", "sales"]) == 0
    capsys.readouterr()
    assert cli.main(["--workspace", str(ws_path), "load", str(tmp_path / "may-aug.csv"), "--table", "sales",
                     "--append"]) == 0
    out = capsys.readouterr().out
    assert "appended 12 rows to sales from may-aug.csv: 4 periods (2026-05-01 – 2026-08-01) replaced 4 rows; 8 rows " \
           "of other periods kept" in out
    with Workspace(ws_path) as ws:
        assert len(sales(ws)) == 20
    assert cli.main(["--workspace", str(ws_path), "load", str(tmp_path / "may-aug.csv"), "--table", "products",
                     "--append"]) == 2
    assert "--append adds periods: products has none" in capsys.readouterr().err


def test_commit_of_a_staged_file_replaces_the_table(workspace: Workspace) -> None:
    assert load(workspace, "jan-jun.csv", JAN_JUN, "sales").ok
    p = prepare_isolated("may-aug.csv", MAY_AUG, "sales", ws=workspace, keep_staged=True,
                         limits=Limits(stream_bytes=0))
    commit(workspace, p)
    assert len(sales(workspace)) == 12
    assert workspace.latest_loads().set_index("table_name").loc["sales", "rows"] == 12
