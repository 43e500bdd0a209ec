"""`reasons` subcommand of `python -m sop_core`: list or replace the override reason codes.

    python -m sop_core reasons                                  # the list, one reason per line
    python -m sop_core reasons --set "Promotion" "Price change" # replace the whole list, print it

The list is the workspace setting `override_reasons` (sop_core.demand.overrides.set_reasons); overrides
already saved keep their reason when it leaves the list. Exit codes: 0 listed or stored, 1 the new
list was rejected (empty, a blank or too long reason, a duplicate; nothing stored), 2 workspace locked.

Registered by `sop_core.cli.main` importing this module.
"""
from __future__ import annotations

import argparse
import sys

from sop_core.cli.registry import add_command, open_workspace
from sop_core.demand import overrides


def _configure(p: argparse.ArgumentParser) -> None:
    """Arguments of `reasons`."""
    p.add_argument("--set", nargs="*", metavar="REASON", dest="values",
                   help="replace the list with these reasons, in this order (quote reasons with spaces)")
    p.add_argument("--author", help="name recorded with the change")


def _reasons(args: argparse.Namespace) -> int:
    """Print the reason list, or replace it with --set and print the stored list."""
    with open_workspace(args) as ws:
        if args.values is not None:
            try:
                stored = overrides.set_reasons(ws, args.values, args.author)
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                print("nothing changed; the reasons are still: " + ", ".join(overrides.reasons(ws)), file=sys.stderr)
                return 1
            print(f"stored {len(stored)} override reasons; overrides already saved keep theirs", file=sys.stderr)
        elif ws.get_setting(overrides.REASONS_SETTING) is None:
            print("the default override reasons; replace them with --set", file=sys.stderr)
        for reason in overrides.reasons(ws):
            print(reason)
    return 0


add_command("reasons", "list the override reasons planners choose from, or replace them with --set", _configure,
            _reasons)
