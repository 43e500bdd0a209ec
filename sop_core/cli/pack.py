"""`pack` subcommand of `python -m sop_core`: the executive S&OP pack as PDF (and the plan as Excel).

    python -m sop_core pack --pdf pack.pdf [--xlsx plan.xlsx] [--version ID]

The plan is the approved version ID, else the latest approved version, else the current consensus
("current consensus (not yet approved)"). Progress and warnings go to stderr, the files written to
stdout. When the charts cannot be exported (no Chrome/Chromium: install it or set BROWSER_PATH)
the PDF is still written, with a note in place of each chart, and a warning is printed. Exit codes:
0 written, 1 no plan or unknown version, 2 a file could not be written (or the workspace is locked).

Registered by `sop_core.cli.main` importing this module.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from sop_core.cli.registry import add_command, open_workspace


def _configure(p: argparse.ArgumentParser) -> None:
    """Arguments of `pack`."""
    p.add_argument("--pdf", type=Path, required=True, metavar="FILE", help="write the executive pack PDF to FILE")
    p.add_argument("--xlsx", type=Path, metavar="FILE", help="also write the plan as an Excel workbook (values only)")
    p.add_argument("--version", metavar="ID",
                   help="approved plan version id (default: the latest approved version, else the current consensus)")
    link = p.add_mutually_exclusive_group()
    link.add_argument("--base-url", metavar="URL",
                      help="the app's address, e.g. https://sop.example.com, to print a full share link")
    link.add_argument("--link", metavar="URL", help="print this share link as it is")
    p.add_argument("--company", help="company name on the title line (default: the workspace setting company_name)")
    p.add_argument("--no-charts", action="store_true", help="skip the chart export (no browser needed; faster)")


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _write(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically (a temporary file in the same folder, then renamed)."""
    path = path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _size(n: int) -> str:
    return f"{n / 1024:,.0f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:,.1f} MB"


def _pack(args: argparse.Namespace) -> int:
    """Gather the pack from the workspace, export the charts, write the PDF (and the workbook)."""
    from sop_core.meetings import pack

    start = time.perf_counter()
    with open_workspace(args) as ws:
        _say(f"workspace: {ws.path}")
        _say("gathering the pack: plan, scorecard, bridge, capacity, decisions…")
        try:
            content = pack.gather(ws, args.version or None, link=args.link, base_url=args.base_url,
                                  company=args.company)
        except (KeyError, ValueError) as exc:
            _say(f"error: {exc.args[0] if exc.args else exc}")
            return 1
    _say(f"plan: {content.plan_label} · outlook year {content.year}")
    if args.no_charts:
        images = pack.ChartImages(error="the charts were not exported (--no-charts)")
    else:
        _say("exporting the charts (plotly + kaleido, Chromium)…")
        images = pack.render_charts(content)
        if images.error:
            _say(f"warning: charts not exported: {images.error}. The PDF has a note in place of each chart.")
    for note in content.notes:
        _say(f"note: {note}")
    try:
        pdf = pack.build_pdf(content, images)
        _write(args.pdf, pdf)
        print(f"wrote {args.pdf} ({_size(len(pdf))}): {content.title} · plan: {content.plan_label}")
        if args.xlsx is not None:
            xlsx = pack.build_xlsx(content)
            _write(args.xlsx, xlsx)
            print(f"wrote {args.xlsx} ({_size(len(xlsx))}): {len(content.plan_lines):,} plan lines, values only")
    except OSError as exc:
        _say(f"error: {exc}")
        return 2
    _say(f"done in {time.perf_counter() - start:.1f} s")
    return 0


def register() -> None:
    """Add the pack command to the CLI."""
    add_command("pack", "write the executive S&OP pack (PDF) and the plan (Excel)", _configure, _pack)


register()
