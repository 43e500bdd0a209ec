"""Command line: `python -m sop_core <command>` on the same workspace the app uses.

`main` builds one parser from the commands registered in `registry.COMMANDS` by the command
modules imported below (one module per group: data, forecast, export, admin, pack, serve, reasons), runs the
chosen handler and turns workspace errors into one sentence and an exit code.
"""
from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Sequence

import duckdb

from sop_core import config

# The command modules register their subcommands when imported (the order is the order of `--help`).
from sop_core.cli import admin, data, export, forecast, pack, reasons, serve  # noqa: F401
from sop_core.cli.registry import COMMANDS
from sop_core.store.ledger import SaveNotConfirmed
from sop_core.store.lock import WorkspaceReadOnly, read_only_message
from sop_core.store.workspace import (
    ENV_VAR,
    QueryStopped,
    WorkspaceError,
    WorkspaceLocked,
    corrupt_message,
    is_corruption,
    read_only_opens,
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one subparser per registered command (handler in args.func)."""
    parser = argparse.ArgumentParser(
        prog="python -m sop_core",
        description=f"S&OP workspace tools. The workspace file is ${ENV_VAR} or data/workspace.duckdb.",
    )
    parser.add_argument("--workspace", metavar="PATH", help=f"workspace file (default: ${ENV_VAR} or the app's)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, cmd in COMMANDS.items():
        p = sub.add_parser(name, help=cmd.help, description=cmd.help)
        cmd.configure(p)
        p.set_defaults(func=cmd.handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run the command, return its exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # only a command that passes options on (`serve` → streamlit) takes unknown ones
        if not hasattr(args, "passthrough"):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.passthrough = [*args.passthrough, *extra]
    path = args.workspace or str(config.workspace_path())
    read_only_commands = {"status", "check"}  # they only read: on a read-only volume they open the file read-only
    read_only = False  # set when a command that only reads meets a read-only volume: it runs again, read-only
    while True:
        try:
            if read_only:
                with read_only_opens():
                    return int(args.func(args) or 0)
            return int(args.func(args) or 0)
        except WorkspaceLocked as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except WorkspaceReadOnly as exc:  # the volume cannot be written: `status` and `check` read it read-only
            if read_only or args.command not in read_only_commands:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            read_only = True
            print(f"note: {str(exc).split(', so ')[0]}; opening it read-only", file=sys.stderr)
        except (WorkspaceError, QueryStopped) as exc:  # damaged file, stopped database: one sentence, what to do
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except SaveNotConfirmed as exc:  # stored in the database, but its audit-ledger line could not be written
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except duckdb.Error as exc:  # e.g. a damaged block met while reading a table
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            if is_corruption(exc):
                print(f"error: {corrupt_message(path, first)}", file=sys.stderr)
            else:
                print(f"error: the workspace {path} could not be read or written ({type(exc).__name__}: {first}); "
                      "nothing was changed by the failed step", file=sys.stderr)
            return 2
        except OSError as exc:  # e.g. the lock file on a read-only volume (`serve` takes it before opening)
            if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise
            print(f"error: {read_only_message(path, exc)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
