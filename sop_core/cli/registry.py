"""The command registry of `python -m sop_core`: each command module adds its subcommands here.

A command is a `configure(parser)` that adds its arguments and a `handler(args) -> exit code`;
`add_command` registers it under a name. Handlers print results on stdout and problems on stderr,
and return 0 on success, 1 on rejected input, 2 on usage or workspace errors.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from sop_core.store.workspace import Workspace

Handler = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Command:
    """A subcommand: its help text, how to add its arguments, and what runs it."""

    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    handler: Handler


COMMANDS: dict[str, Command] = {}


def add_command(name: str, help: str, configure: Callable[[argparse.ArgumentParser], None],
                handler: Handler) -> None:
    """Register a subcommand (later registrations of the same name replace earlier ones)."""
    COMMANDS[name] = Command(help, configure, handler)


def open_workspace(args: argparse.Namespace) -> Workspace:
    """The workspace named by --workspace, else the app's default ($SOP_WORKSPACE)."""
    return Workspace(args.workspace) if getattr(args, "workspace", None) else Workspace()
