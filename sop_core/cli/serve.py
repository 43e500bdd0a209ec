"""`python -m sop_core serve`: start the app on a workspace this process has locked, or refuse to start.

`streamlit run app.py` takes the workspace lock when the first page opens, so a second server on
the same file starts and then shows "store locked" on every page. `serve` takes the lock first,
checks that the workspace opens (loading the demo company into a new one), and then replaces
itself (exec, same PID) with `streamlit run pages/shell/server.py` (app.py behind security
headers), handing the locked descriptor over: a second `serve` on the same workspace exits at
once with "store locked by PID …" and status 2. Without sign-in it binds 127.0.0.1 only.
"""
from __future__ import annotations

import argparse
import os
import sys
import tomllib
from pathlib import Path

from sop_core import config
from sop_core.cli.registry import add_command
from sop_core.config import PROJECT_ROOT
from sop_core.intake import company
from sop_core.store import access
from sop_core.store.lock import acquire, hand_over
from sop_core.store.workspace import ENV_VAR, Workspace

APP = PROJECT_ROOT / "app.py"
SERVER = PROJECT_ROOT / "pages" / "shell" / "server.py"  # app.py behind security headers (see there)


def _configure(p: argparse.ArgumentParser) -> None:
    """Arguments of `serve`: anything after it goes to `streamlit run` (e.g. --server.port 8502)."""
    p.set_defaults(passthrough=[])
    p.epilog = "Other options go to streamlit run, e.g. --server.port 8502 --server.headless true."


def _serve(args: argparse.Namespace) -> int:
    """Lock the workspace, check it opens, then exec Streamlit holding the lock."""
    path = (config.workspace_path() if not args.workspace else os.path.abspath(args.workspace))
    lock = acquire(path)  # WorkspaceLocked → "error: store locked by PID …", exit 2 (cli.main)
    with Workspace(path) as ws, access.acting_as(access.SYSTEM):
        # migrations run and start-up faults surface here, before a server is announced; the demo
        # company is loaded (or brought to this month) now, so the first page does not wait for it
        company.ensure_demo(ws)
    env = dict(os.environ, **{ENV_VAR: str(path)}, **hand_over(path))
    print(f"serving workspace {path} (locked by PID {os.getpid()})", file=sys.stderr, flush=True)
    address = bind_address(args.passthrough, sign_in_configured())
    if address:
        print(f"sign-in is off: listening on {address} only (set up sign-in, or pass --server.address "
              "0.0.0.0 to open it to the network anyway)", file=sys.stderr, flush=True)
    # a server does not re-import changed code under running sessions (later options override this)
    argv = [sys.executable, "-m", "streamlit", "run", str(SERVER), "--server.fileWatcherType", "none",
            *(["--server.address", address] if address else []), *args.passthrough]
    try:
        os.execve(sys.executable, argv, env)
    finally:  # only reached when exec itself failed
        lock.release()
    return 2  # pragma: no cover - execve does not return


def sign_in_configured(folders: tuple[Path, ...] = (PROJECT_ROOT / ".streamlit", Path.home() / ".streamlit")) -> bool:
    """True when a secrets.toml Streamlit reads has an [auth] section (sign-in, and so roles, are on)."""
    for folder in folders:
        try:
            with open(folder / "secrets.toml", "rb") as f:
                if "auth" in tomllib.load(f):
                    return True
        except (OSError, tomllib.TOMLDecodeError):
            continue
    return False


def bind_address(passthrough: list[str], signed_in: bool) -> str | None:
    """The address to bind when none is given: loopback while sign-in is off (everyone would be an admin)."""
    given = any(a == "--server.address" or a.startswith("--server.address=") for a in passthrough)
    return None if given or signed_in or config.server_address() or _configured_address() \
        else "127.0.0.1"


def _configured_address() -> str | None:
    """server.address of the project's .streamlit/config.toml, when a deployment sets one."""
    try:
        with open(PROJECT_ROOT / ".streamlit" / "config.toml", "rb") as f:
            return tomllib.load(f).get("server", {}).get("address")
    except (OSError, tomllib.TOMLDecodeError):
        return None


add_command("serve", "start the app on the workspace, refusing to start when another server holds it",
            _configure, _serve)
