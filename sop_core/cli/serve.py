"""`python -m sop_core serve`: start the app on a workspace this process has locked, or refuse to start.

`streamlit run app.py` takes the workspace lock when the first page opens, so a second server on
the same file starts and then shows "store locked" on every page. `serve` takes the lock first,
checks that the workspace opens (loading the demo company into a new one), and then replaces
itself (exec, same PID) with `streamlit run pages/shell/server.py` (app.py behind security
headers), handing the locked descriptor over: a second `serve` on the same workspace exits at
once with "store locked by PID …" and status 2. Without sign-in it binds 127.0.0.1 only.
Before anything else it checks the sign-in settings of the secrets files Streamlit will read
(`sop_core.store.signin`) and asks the provider for its configuration: a missing, malformed or
placeholder setting, an unknown role or an unreachable provider stops it with one sentence
(status 2), never an open server.
"""
from __future__ import annotations

import argparse
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

from sop_core import config
from sop_core.cli.registry import add_command
from sop_core.config import PROJECT_ROOT
from sop_core.intake import company
from sop_core.store import access, signin
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
    try:  # wrong sign-in settings or an unreachable provider: stop here, never serve an open app
        settings = sign_in_settings(args.passthrough)
        if settings is not None:
            signin.check_provider(settings.metadata_url)
    except signin.SignInConfigError as exc:
        print(f"error: sign-in is set up wrongly, so the server does not start: {exc}", file=sys.stderr, flush=True)
        return 2
    lock = acquire(path)  # WorkspaceLocked → "error: store locked by PID …", exit 2 (cli.main)
    with Workspace(path) as ws, access.acting_as(access.SYSTEM):
        # migrations run and start-up faults surface here, before a server is announced; the demo
        # company is loaded (or brought to this month) now, so the first page does not wait for it
        company.ensure_demo(ws)
    env = dict(os.environ, **{ENV_VAR: str(path)}, **hand_over(path))
    print(f"serving workspace {path} (locked by PID {os.getpid()})", file=sys.stderr, flush=True)
    address = bind_address(args.passthrough, settings is not None)
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


def secrets_files(passthrough: list[str]) -> list[Path]:
    """The secrets files Streamlit will read, in its order: --secrets.files, else config.toml's, else its defaults."""
    given = [v for i, a in enumerate(passthrough)
             for v in ([passthrough[i + 1]] if a == "--secrets.files" and i + 1 < len(passthrough) else
                       [a.split("=", 1)[1]] if a.startswith("--secrets.files=") else [])]
    if given:
        return [Path(v) for v in given]
    configured = _configured("secrets", "files")
    if configured:
        return [Path(v) for v in ([configured] if isinstance(configured, str) else configured)]
    return [Path.home() / ".streamlit" / "secrets.toml", Path.cwd() / ".streamlit" / "secrets.toml",
            SERVER.parent / ".streamlit" / "secrets.toml"]  # global, project (cwd), then the script's folder


def sign_in_settings(passthrough: list[str]) -> signin.Settings | None:
    """The checked sign-in settings the server will run with (None: sign-in is off); SignInConfigError if wrong."""
    return signin.settings(signin.read_files(secrets_files(passthrough)))


def sign_in_configured(folders: tuple[Path, ...] = (PROJECT_ROOT / ".streamlit", Path.home() / ".streamlit")) -> bool:
    """True when a secrets.toml in `folders` sets sign-in up ([auth] or [sop]), even wrongly or unreadably."""
    try:
        return signin.settings(signin.read_files(f / "secrets.toml" for f in folders)) is not None
    except signin.SignInConfigError:
        return True


def bind_address(passthrough: list[str], signed_in: bool) -> str | None:
    """The address to bind when none is given: loopback while sign-in is off (everyone would be an admin)."""
    given = any(a == "--server.address" or a.startswith("--server.address=") for a in passthrough)
    return None if given or signed_in or config.server_address() or _configured_address() \
        else "127.0.0.1"


def _configured_address() -> str | None:
    """server.address of the project's .streamlit/config.toml, when a deployment sets one."""
    return _configured("server", "address")


def _configured(section: str, key: str) -> Any:
    """[section] key of the project's .streamlit/config.toml (None when unset or unreadable)."""
    try:
        with open(PROJECT_ROOT / ".streamlit" / "config.toml", "rb") as f:
            return tomllib.load(f).get(section, {}).get(key)
    except (OSError, tomllib.TOMLDecodeError):
        return None


add_command("serve", "start the app on the workspace, refusing to start when another server holds it",
            _configure, _serve)
