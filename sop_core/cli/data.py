"""`load` and `status` subcommands of `python -m sop_core`: check and store a data file, list what is loaded."""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from sop_core import contract
from sop_core.cli.registry import add_command, open_workspace
from sop_core.intake import company, health
from sop_core.intake.errors import IntakeError
from sop_core.intake.load import Prepared, WideSpec, append, commit, is_money
from sop_core.intake.readers import check_path
from sop_core.intake.storing import PERIOD_COLUMN
from sop_core.intake.worker import WorkerLimits
from sop_core.intake.worker import prepare_isolated as prepare
from sop_core.store.workspace import Workspace

# -- load ----------------------------------------------------------------------------------------

def file_worker() -> WorkerLimits:
    """The worker's limits for a file given on the command line (up to Limits.max_file_bytes): the time and DuckDB
    memory to stream it (about a minute for 10 million order lines on 2 cores)."""
    return WorkerLimits(seconds=900.0)

def _configure_load(p: argparse.ArgumentParser) -> None:
    """Arguments of `load`."""
    p.add_argument("file", type=Path, help="CSV, Excel (.xlsx) or Parquet file")
    p.add_argument("--table", choices=list(contract.TABLES), help="contract table (guessed when omitted)")
    p.add_argument("--map", action="append", default=[], metavar='COLUMN="Header"',
                   help="map a contract column to a header of the file, e.g. --map sku=\"Item No\"; repeatable; "
                        "an empty header (--map region=) leaves the column out")
    order = p.add_mutually_exclusive_group()
    order.add_argument("--dayfirst", dest="dayfirst", action="store_const", const=True,
                       help="read dates like 01/02/2026 as day/month")
    order.add_argument("--monthfirst", dest="dayfirst", action="store_const", const=False,
                       help="read dates like 01/02/2026 as month/day")
    p.add_argument("--sheet", help="Excel sheet to read")
    p.add_argument("--wide-date", metavar="COLUMN",
                   help="wide layout: COLUMN holds dates, every other column is one series")
    p.add_argument("--decimal", choices=[".", ","], help="decimal separator of numbers (default '.')")
    p.add_argument("--encoding", help="text encoding when the file is not UTF-8, e.g. cp1252")
    p.add_argument("--delimiter", help="column delimiter when detection fails, e.g. ';' or '\\t'")
    p.add_argument("--default-sku", help="sku for every row of a file without a sku column")
    p.add_argument("--money", action="store_true", default=None,
                   help="sales: the amounts are money (sales value), not units; forecasts and plans are then in "
                        "currency (a file with a revenue column and no quantity column is read so without it)")
    p.add_argument("--author", help="name recorded with the load")
    p.add_argument("--dry-run", action="store_true", help="check the file without storing it")
    p.add_argument("--append", action="store_true",
                   help="add the file's periods to the table, replacing only the periods (dates) the file covers "
                        "and keeping the rest (sales, supply, inventory, capacity, plan, orders)")
    p.add_argument("--new-company", action="store_true",
                   help="when the workspace holds the demo company: set it aside (backup first) and start yours")


def parse_map(items: Sequence[str]) -> dict[str, str | None]:
    """['sku=Item No', 'region='] -> {'sku': 'Item No', 'region': None}."""
    out: dict[str, str | None] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--map {item!r}: use COLUMN=Header, e.g. --map sku=\"Item No\"")
        column, header = item.split("=", 1)
        out[column.strip()] = header if header.strip() else None
    return out


def _load(args: argparse.Namespace) -> int:
    """Check a file and, unless --dry-run, store it as its table.

    The file is parsed in the same limited worker process as an upload in the app (`prepare_isolated`);
    with --append only the periods the file covers are replaced (`load.append`).
    """
    started = time.perf_counter()
    try:
        overrides = parse_map(args.map)
        check_path(args.file)
    except (ValueError, OSError, IntakeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.append and args.table and args.table not in PERIOD_COLUMN:
        print(f"error: --append adds periods: {args.table} has none (use it with {', '.join(PERIOD_COLUMN)})",
              file=sys.stderr)
        return 2
    delimiter = "\t" if args.delimiter in ("\\t", "tab") else args.delimiter
    wide = WideSpec(date_column=args.wide_date) if args.wide_date else None

    def read(ws: Workspace) -> Prepared:
        """The file checked in the limited worker (a large CSV or Parquet file streamed, its table kept on disk)."""
        try:
            return prepare(args.file.name, None, args.table, path=args.file, keep_staged=True, worker=file_worker(),
                           mapping=overrides or None, dayfirst=args.dayfirst, sheet=args.sheet, decimal=args.decimal,
                           wide=wide, ws=ws, encoding=args.encoding, delimiter=delimiter, default_sku=args.default_sku,
                           money=args.money)
        except (IntakeError, OSError) as exc:  # refused or gone while copying it for the worker (it changed since)
            failed = Prepared(file_name=args.file.name, sha256="")
            failed.errors.append(exc if isinstance(exc, IntakeError) else
                                 IntakeError(args.file.name, f"could not be read ({exc.strerror or exc})",
                                             kind="not_a_file"))
            return failed

    with open_workspace(args) as ws:
        prepared = read(ws)
        for note in prepared.notes:
            print(f"note: {note}")
        for warning in prepared.warnings:
            print(f"warning: {warning}")
        if not prepared.ok:
            for err in prepared.errors:
                print(f"error: {err}", file=sys.stderr)
            if prepared.date_choice_needed:
                print("hint: add --dayfirst or --monthfirst", file=sys.stderr)
            if any(e.choices for e in prepared.errors if e.kind == "sheet_choice"):
                print("hint: add --sheet NAME", file=sys.stderr)
            print(f"nothing loaded; {prepared.file_name} rejected", file=sys.stderr)
            return 1
        mapping = ", ".join(f"{c} <- {h!r}" for c, h in prepared.mapping.items())
        print(f"mapping ({prepared.mapping_source}): {mapping}")
        if args.dry_run:
            print(f"dry run: {prepared.stats['rows_kept']:,} rows for {prepared.table} would be loaded "
                  f"({prepared.seconds:.2f} s); nothing stored")
            return 0
        if company.current(ws).is_demo:
            if not args.new_company:
                print(f"error: {prepared.file_name} not loaded: this workspace holds the demo company; add "
                      "--new-company to set the demo aside (a backup is written first) and start your company",
                      file=sys.stderr)
                return 1
            saved = company.start_company(ws, author=args.author)
            print(f"demo company set aside{f' in the backup {saved}' if saved else ''}; your company starts here")
            prepared = read(ws)  # without the demo's products
        try:
            if args.append:
                done = append(ws, prepared, author=args.author)
            else:
                commit(ws, prepared, author=args.author)
        except IntakeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        if args.append:
            span = f"{done.first_period} – {done.last_period}" if done.periods > 1 else str(done.first_period)
            print(f"appended {done.rows_added:,} rows to {prepared.table} from {prepared.file_name}: {done.periods:,} "
                  f"{'period' if done.periods == 1 else 'periods'} ({span}) replaced {done.rows_replaced:,} rows; "
                  f"{done.rows_kept:,} rows of other periods kept ({time.perf_counter() - started:.2f} s)")
        else:
            basis = " (a history in money)" if is_money(prepared) else ""
            print(f"loaded {prepared.stats['rows_kept']:,} rows into {prepared.table}{basis} from {prepared.file_name} "
                  f"in {time.perf_counter() - started:.2f} s")
    return 0


# -- status --------------------------------------------------------------------------------------

def _configure_status(p: argparse.ArgumentParser) -> None:
    """Arguments of `status` (none)."""


def status_rows(ws: Workspace) -> list[dict[str, str]]:
    """One row per loaded contract table: table, rows, dates (first – last), file, loaded (UTC), by."""
    loads = ws.latest_loads().set_index("table_name")
    out = []
    for _, h in health.table_health(ws).iterrows():
        if not h["loaded"]:
            continue
        span = f"{_day(h['first_date'])} – {_day(h['last_date'])}" if pd.notna(h["first_date"]) else "-"
        by = loads["author"].get(h["table"]) if h["table"] in loads.index else None
        out.append({"table": h["table"], "rows": f"{h['rows']:,}", "dates": span, "file": h["file_name"] or "-",
                    "loaded (UTC)": f"{h['loaded_at']:%Y-%m-%d %H:%M}" if pd.notna(h["loaded_at"]) else "-",
                    "by": str(by) if by else "-"})
    return out


def _day(value: object) -> str:
    """A date value as YYYY-MM-DD."""
    return str(value)[:10]


def format_table(rows: list[dict[str, str]]) -> str:
    """Rows as a plain aligned text table with a header line."""
    if not rows:
        return ""
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}
    lines = ["  ".join(c.ljust(widths[c]) for c in cols), "  ".join("-" * widths[c] for c in cols)]
    lines += ["  ".join(r[c].ljust(widths[c]) for c in cols) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def _status(args: argparse.Namespace) -> int:
    """Print the loaded tables with row counts, date ranges and their last load."""
    with open_workspace(args) as ws:
        rows = status_rows(ws)
        print(f"workspace: {ws.path}")
        if not rows:
            print("no tables loaded — load one with: python -m sop_core load FILE --table sales")
            return 0
        print(format_table(rows))
        missing = [t for t in contract.TABLE_ORDER if t not in {r["table"] for r in rows}]
        if missing:
            print(f"not loaded: {', '.join(missing)}")
    return 0


add_command("load", "check a data file and load it into a workspace table", _configure_load, _load)
add_command("status", "list loaded tables, rows, date ranges and last loads", _configure_status, _status)
