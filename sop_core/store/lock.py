"""One server per workspace: an advisory lock file `<workspace>.lock` holding the owner's PID and host.

`acquire(path)` takes an exclusive `fcntl.flock` on the lock file and writes "PID host" into it.
A second process gets `WorkspaceLocked("store locked by PID 1234 on host … — stop it, or set
SOP_WORKSPACE to another file")`. The kernel drops the lock when its holder dies, so a lock file
left behind by a killed process (a dead PID) is simply taken over. Several Workspace objects in
one process share the process's lock (reference counted). On systems without `fcntl` only
DuckDB's own file lock applies (mapped to the same message by the Workspace).

The full message (PID, host, workspace path) is for the command line and the server log; a page
shown to any visitor uses `WorkspaceLocked.public_message`, which names none of them. A lock file
that cannot be created (a read-only volume) raises OSError from `acquire`; the Workspace turns it
into `WorkspaceReadOnly` (or, opening read-only, goes on without the lock).
"""
from __future__ import annotations

import errno
import os
import re
import socket
import threading
from pathlib import Path

from sop_core import config

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


PUBLIC_LOCKED_MESSAGE = ("This workspace is in use by another server, so this one cannot open it. Ask the "
                         "administrator to stop the other server or to give this one its own workspace.")


class WorkspaceLocked(RuntimeError):
    """Another process holds the workspace file open for writing.

    str() names the holder's PID, host and the workspace path (command line, server log);
    `public_message` is the same news without them, for a page any visitor sees.
    """

    public_message = PUBLIC_LOCKED_MESSAGE


class WorkspaceReadOnly(RuntimeError):
    """The workspace cannot be written: its volume is read-only (or the files are not writable), or it was
    opened read-only. str() says what still works and what to do."""

    public_message = ("This workspace is stored where the server cannot write, so nothing can be saved. Ask the "
                      "administrator to make its volume writable.")


def read_only_message(path: str | Path, exc: OSError) -> str:
    """Why the workspace cannot be opened for writing, and what to do."""
    folder = Path(path).resolve().parent
    if exc.errno in (errno.EACCES, errno.EPERM) or "Permission denied" in str(exc):
        why = f"the workspace folder {folder} is not writable for this user"
    elif exc.errno in (errno.EROFS, None) or "Read-only file system" in str(exc):
        why = f"the workspace folder {folder} is on a read-only volume"
    else:
        why = f"the lock file {lock_path(path)} cannot be written"
    reason = exc.strerror or str(exc)
    return (f"{why} ({reason}), so the workspace cannot be opened for changes: mount it writable, or point "
            "SOP_WORKSPACE (or --workspace) at a copy on a writable volume; `status` and `check` still work "
            "read-only.")


_HELD: dict[str, tuple[int, int]] = {}  # resolved lock path -> (fd, reference count)
_GUARD = threading.Lock()
_BORROWED: set[str] = set()  # keys held by this process through a descriptor this module did not open
INHERITED_ENV = config.LOCK_FD  # "fd:resolved lock path" handed over by `python -m sop_core serve`


def lock_path(path: str | Path) -> Path:
    """The lock file of a workspace file: `<workspace>.lock`."""
    p = Path(path)
    return p.with_name(p.name + ".lock")


def locked_message(path: str | Path, pid: int | str | None, host: str | None) -> str:
    """The user-facing text of WorkspaceLocked."""
    who = f"PID {pid}" if pid else "another process"
    return (f"store locked by {who} on host {host or socket.gethostname()} — stop it, or set SOP_WORKSPACE to "
            f"another file (workspace {path})")


def holder(path: str | Path) -> tuple[int | None, str | None]:
    """(PID, host) written in the lock file of a workspace, or (None, None)."""
    try:
        text = lock_path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None, None
    m = re.match(r"\s*(\d+)\s+(\S+)", text)
    return (int(m.group(1)), m.group(2)) if m else (None, None)


class StoreLock:
    """This process's hold on a workspace's lock file; `release()` once per `acquire()`."""

    def __init__(self, key: str | None) -> None:
        self._key = key

    def release(self) -> None:
        """Drop this reference; the file lock is released with the last one in the process."""
        key, self._key = self._key, None
        if key is None:
            return
        with _GUARD:
            fd, count = _HELD[key]
            if count > 1:
                _HELD[key] = (fd, count - 1)
                return
            del _HELD[key]
            if key in _BORROWED:  # the lock itself is held by the earlier descriptor: leave the file as is
                _BORROWED.discard(key)
                os.close(fd)
                return
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
            os.close(fd)  # closing the descriptor releases the flock


def acquire(path: str | Path) -> StoreLock:
    """Take the workspace's lock (shared within this process); WorkspaceLocked when another process holds it."""
    if fcntl is None:  # pragma: no cover - Windows: DuckDB's file lock is the only guard
        return StoreLock(None)
    lp = lock_path(path)
    key = str(lp.resolve())
    with _GUARD:
        _adopt_inherited()
        if key in _HELD:
            fd, count = _HELD[key]
            _HELD[key] = (fd, count + 1)
            return StoreLock(key)
        fd = os.open(lp, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pid, host = holder(path)
            if pid == os.getpid() and host == socket.gethostname():
                # held by this very process through a descriptor an earlier import of this module
                # opened (Streamlit re-imports changed modules in a running server): not a conflict
                _BORROWED.add(key)
                _HELD[key] = (fd, 1)
                return StoreLock(key)
            os.close(fd)
            raise WorkspaceLocked(locked_message(path, pid, host)) from None
        # we hold it: whatever PID the file names is gone (a stale lock), so take it over
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        _HELD[key] = (fd, 1)
        return StoreLock(key)


def hand_over(path: str | Path) -> dict[str, str]:
    """Keep the held lock of `path` open across exec: the environment that tells the new program it holds it.

    `python -m sop_core serve` takes the lock, then execs Streamlit with this environment; the
    server's first `acquire` adopts the descriptor, so the lock is never released in between
    (exec keeps the PID, and the lock file names it).
    """
    key = str(lock_path(path).resolve())
    with _GUARD:
        fd, _ = _HELD[key]
    os.set_inheritable(fd, True)
    return {INHERITED_ENV: f"{fd}:{key}"}


def _adopt_inherited() -> None:
    """Take over a lock descriptor handed over through the environment (once per process; caller holds _GUARD)."""
    value = config.take(INHERITED_ENV)
    if not value or fcntl is None:
        return
    fd_text, _, key = value.partition(":")
    try:
        fd = int(fd_text)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # already ours: succeeds at once; a stray value fails
    except (ValueError, OSError):
        return
    os.set_inheritable(fd, False)
    # one reference that is never released: the server holds its workspace for its whole life
    _HELD[key] = (fd, 1)


def duckdb_lock_holder(message: str) -> int | None:
    """The PID named in DuckDB's 'Conflicting lock is held in … (PID 1234)' error, if any."""
    m = re.search(r"PID\s+(\d+)", message)
    return int(m.group(1)) if m else None
