"""The command line, run as a user would: `python -m sop_core ...` in a subprocess."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import shared_file

from sop_core.cli import main as cli
from sop_core.cli.data import parse_map
from sop_core.cli.main import build_parser
from sop_core.cli.registry import COMMANDS

ROOT = Path(__file__).resolve().parents[1]


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run `python -m sop_core ARGS` on a workspace under tmp_path."""
    env = {**os.environ, "SOP_WORKSPACE": str(tmp_path / "ws.duckdb"), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "sop_core", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_load_good_and_bad_file_then_status(tmp_path: Path) -> None:
    good = tmp_path / "sales.csv"
    good.write_text("Posting Date,Item No,Units\n2024-01-01,00123,5\n2024-02-01,00123,7\n")
    ok = run(tmp_path, "load", str(good), "--table", "sales")
    assert ok.returncode == 0, ok.stderr
    assert "loaded 2 rows into sales from sales.csv in" in ok.stdout and " s" in ok.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("date,sku,quantity\n2024-01-01,A,-5\n")
    rejected = run(tmp_path, "load", str(bad), "--table", "sales")
    assert rejected.returncode == 1
    assert "bad.csv, column 'quantity': 1 row is negative (row 2)" in rejected.stderr
    assert "nothing loaded" in rejected.stderr
    status = run(tmp_path, "status")
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert any(line.startswith("table") and "rows" in line and "dates" in line for line in lines)
    row = next(line for line in lines if line.startswith("sales"))
    assert "2" in row and "2024-01-01 – 2024-02-01" in row and "sales.csv" in row


def test_load_with_map_and_dayfirst(tmp_path: Path) -> None:
    f = tmp_path / "odd.csv"
    f.write_text("When,Article Code,Shipped\n01/02/2024,A,5\n03/04/2024,B,7\n")
    ambiguous = run(tmp_path, "load", str(f), "--table", "sales", "--map", "date=When", "--map", "sku=Article Code",
                    "--map", "quantity=Shipped")
    assert ambiguous.returncode == 1
    assert "ambiguous date format" in ambiguous.stderr and "--dayfirst" in ambiguous.stderr
    ok = run(tmp_path, "load", str(f), "--table", "sales", "--map", "date=When", "--map", "sku=Article Code",
             "--map", "quantity=Shipped", "--dayfirst")
    assert ok.returncode == 0, ok.stderr
    again = run(tmp_path, "load", str(f))  # the layout, table and day-first choice are remembered
    assert again.returncode == 0, again.stderr
    assert "mapping (remembered)" in again.stdout


def test_load_wide_file(tmp_path: Path, shared_data) -> None:
    path = shared_file("australian_wines/AustralianWines_6varieties.csv")
    out = run(tmp_path, "load", str(path), "--table", "sales", "--wide-date", "Month")
    assert out.returncode == 0, out.stderr
    assert "loaded 1,078 rows into sales" in out.stdout and "'*'" in out.stdout


def test_missing_file_and_bad_map_are_usage_errors(tmp_path: Path) -> None:
    assert run(tmp_path, "load", str(tmp_path / "nope.csv")).returncode == 2
    assert run(tmp_path, "load", str(tmp_path / "nope.csv"), "--map", "sku").returncode == 2


def test_parser_is_extensible() -> None:
    assert {"load", "status", "reasons"} <= set(COMMANDS)
    args = build_parser().parse_args(["load", "x.csv", "--map", "sku=Item No", "--monthfirst"])
    assert args.func is COMMANDS["load"].handler and args.dayfirst is False
    assert parse_map(["sku=Item No", "region="]) == {"sku": "Item No", "region": None}
    with pytest.raises(ValueError):
        parse_map(["sku"])


def test_reasons_lists_replaces_and_refuses_a_bad_list(tmp_path: Path) -> None:
    from sop_core.demand import overrides
    from sop_core.store.workspace import Workspace

    listed = run(tmp_path, "reasons")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == list(overrides.DEFAULT_REASONS)
    assert "default" in listed.stderr
    stored = run(tmp_path, "reasons", "--set", "Promotion", " Price change ", "Tender won", "--author", "ada")
    assert stored.returncode == 0, stored.stderr
    assert stored.stdout.splitlines() == ["Promotion", "Price change", "Tender won"]
    assert "stored 3 override reasons" in stored.stderr
    for bad, message in ((["Promotion", "PROMOTION"], "'PROMOTION' is listed twice"),
                         ([], "cannot be empty"),
                         (["Promotion", ""], "override reason 2 is empty"),
                         (["x" * (overrides.MAX_REASON + 1)], f"keep a reason to {overrides.MAX_REASON} characters")):
        refused = run(tmp_path, "reasons", "--set", *bad)
        assert refused.returncode == 1, (bad, refused.stderr)
        assert "error: " in refused.stderr and message in refused.stderr, refused.stderr
        assert "nothing changed; the reasons are still: Promotion, Price change, Tender won" in refused.stderr
        assert refused.stdout == ""
    assert run(tmp_path, "reasons").stdout.splitlines() == ["Promotion", "Price change", "Tender won"]
    with Workspace(tmp_path / "ws.duckdb") as ws:
        assert overrides.reasons(ws) == ["Promotion", "Price change", "Tender won"]
        audit = ws.query("SELECT author FROM audit_log WHERE kind = 'setting' AND subject = 'override_reasons'")
        assert list(audit["author"]) == ["ada"]  # one accepted change; the refused ones wrote nothing


def test_a_save_the_ledger_could_not_confirm_is_an_error_not_a_traceback(tmp_path, monkeypatch, capsys):
    from sop_core.store import ledger

    def broken(self, events, source="commit"):
        raise ledger.LedgerAppendFailed("PermissionError: [Errno 13] Permission denied")

    monkeypatch.setattr(ledger.Ledger, "append", broken)
    path = tmp_path / "sales.csv"
    path.write_text("date,sku,quantity\n2026-09-01,A,5\n", encoding="utf-8")
    code = cli.main(["--workspace", str(tmp_path / "ws.duckdb"), "load", str(path), "--table", "sales"])
    err = capsys.readouterr().err
    assert code == 1 and "Save not confirmed" in err and "Traceback" not in err


# -- issue 13 item 10: the command line checks before it reads, and parses in the limited worker ---------------

def test_load_refuses_devices_pipes_folders_and_oversize_files_before_reading(tmp_path: Path) -> None:
    """`load /dev/zero` read until memory ran out; a FIFO would hang. Each is refused up front, naming the file."""
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.csv"
    with open(huge, "wb") as fh:  # sparse: 4,097 MB on paper (the cap of a file loaded by path is 4 GB), nothing on disk
        fh.truncate(4097 * 1024 * 1024)
    for path, what in (("/dev/zero", "it is a device, not a file"), (str(fifo), "it is a pipe (FIFO), not a file"),
                       (str(tmp_path), "it is a folder, not a file"),
                       (str(huge), "the file is 4,097.0 MB; at most 4,096 MB can be loaded — split it")):
        out = run(tmp_path, "load", path, "--table", "sales")
        assert out.returncode == 2, (path, out.stderr)
        assert f"error: {path}: not read: {what}" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr
    assert not (tmp_path / "ws.duckdb").exists()  # nothing opened, nothing stored


def test_load_parses_in_the_same_limited_worker_as_the_app(tmp_path: Path) -> None:
    good = tmp_path / "sales.csv"
    good.write_text("date,sku,quantity\n2024-01-01,A,5\n")
    slots = tmp_path / "slots"
    env = {**os.environ, "SOP_WORKSPACE": str(tmp_path / "ws.duckdb"), "PYTHONPATH": str(ROOT),
           "SOP_PARSE_SLOTS_DIR": str(slots), "SOP_PARSE_WORKERS": "1"}
    out = subprocess.run([sys.executable, "-m", "sop_core", "load", str(good), "--table", "sales"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "loaded 1 rows into sales from sales.csv" in out.stdout
    assert [p.name for p in slots.iterdir()] == ["slot-0.lock"]  # it took the one parse slot: it used the worker


def test_load_over_the_demo_needs_new_company_and_then_sets_the_demo_aside(tmp_path, capsys):
    from sop_core.intake import company
    from sop_core.store.workspace import Workspace

    ws_path = tmp_path / "ws.duckdb"
    assert cli.main(["--workspace", str(ws_path), "demo"]) == 0
    assert "demo company Northwind Outdoor loaded" in capsys.readouterr().out
    path = tmp_path / "my_sales.csv"
    path.write_text("date,sku,quantity\n2026-09-01,MINE-1,5\n2026-10-01,MINE-1,6\n", encoding="utf-8")
    assert cli.main(["--workspace", str(ws_path), "load", str(path), "--table", "sales"]) == 1
    assert "--new-company" in capsys.readouterr().err
    with Workspace(ws_path) as ws:  # refused: the demo is whole
        assert company.current(ws).is_demo and len(ws.loaded_tables()) == 7
    assert cli.main(["--workspace", str(ws_path), "load", str(path), "--table", "sales", "--new-company"]) == 0
    out = capsys.readouterr().out
    assert "demo company set aside in the backup" in out and "loaded 2 rows into sales" in out
    with Workspace(ws_path) as ws:
        assert company.current(ws).kind == company.OWN and ws.loaded_tables() == ["sales"]
    assert cli.main(["--workspace", str(ws_path), "demo"]) == 0  # and back, the user's company in a backup
    assert "what was in the workspace is in the backup" in capsys.readouterr().out
