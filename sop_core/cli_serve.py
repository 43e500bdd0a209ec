"""`python -m sop_core serve`: start the app on a workspace this process has locked, or refuse to start.

`streamlit run app.py` takes the workspace lock when the first page opens, so a second server on
the same file starts and then shows "store locked" on every page. `serve` takes the lock first,
checks that the workspace opens (loading the demo company into a new one), and then replaces itself (exec, same PID) with
`streamlit run app.py`, handing the locked descriptor over: a second `serve` on the same
workspace exits at once with "store locked by PID …" and status 2.
"""
from __future__ import annotations

import argparse
import os
import sys

from . import access, company
from .cli import add_command
from .store_lock import acquire, hand_over
from .workspace import ENV_VAR, PROJECT_ROOT, Workspace, default_path

APP = PROJECT_ROOT / "app.py"


def _configure(p: argparse.ArgumentParser) -> None:
    """Arguments of `serve`: anything after it goes to `streamlit run` (e.g. --server.port 8502)."""
    p.set_defaults(passthrough=[])
    p.epilog = "Other options go to streamlit run, e.g. --server.port 8502 --server.headless true."


def _serve(args: argparse.Namespace) -> int:
    """Lock the workspace, check it opens, then exec Streamlit holding the lock."""
    path = (default_path() if not args.workspace else os.path.abspath(args.workspace))
    lock = acquire(path)  # WorkspaceLocked → "error: store locked by PID …", exit 2 (cli.main)
    with Workspace(path) as ws, access.acting_as(access.SYSTEM):
        # migrations run and start-up faults surface here, before a server is announced; the demo
        # company is loaded (or brought to this month) now, so the first page does not wait for it
        company.ensure_demo(ws)
    env = dict(os.environ, **{ENV_VAR: str(path)}, **hand_over(path))
    print(f"serving workspace {path} (locked by PID {os.getpid()})", file=sys.stderr, flush=True)
    # a server does not re-import changed code under running sessions (later options override this)
    argv = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.fileWatcherType", "none",
            *args.passthrough]
    try:
        os.execve(sys.executable, argv, env)
    finally:  # only reached when exec itself failed
        lock.release()
    return 2  # pragma: no cover - execve does not return


add_command("serve", "start the app on the workspace, refusing to start when another server holds it",
            _configure, _serve)
