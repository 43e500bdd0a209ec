"""Every environment variable the app and the engine read, with its meaning and default, in one list.

`VARIABLES` is the declaration: name, default (in words when it is computed), meaning. The README's
"Settings" table is `markdown_table()` (a test compares the two). The engine reads the environment
only through the functions below, so a variable's name and default live here and nowhere else.
Values are read at each call, not at import: a test or a server can set them at any time.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]

WORKSPACE = "SOP_WORKSPACE"
TODAY = "SOP_TODAY"
QUERY_TIMEOUT = "SOP_QUERY_TIMEOUT_S"
MEMORY_LIMIT = "SOP_MEMORY_LIMIT"
WORKERS = "SOP_WORKERS"
DASK_SCHEDULER = "SOP_DASK_SCHEDULER"
PARSE_WORKERS = "SOP_PARSE_WORKERS"
PARSE_SLOTS_DIR = "SOP_PARSE_SLOTS_DIR"
BROWSER_PATH = "BROWSER_PATH"
SERVER_ADDRESS = "STREAMLIT_SERVER_ADDRESS"
LOCK_FD = "SOP_LOCK_FD"

DEFAULT_QUERY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Variable:
    """An environment variable: its name, its default (in words when computed) and what it sets."""

    name: str
    default: str
    meaning: str


VARIABLES: tuple[Variable, ...] = (
    Variable(WORKSPACE, "data/workspace.duckdb", "the workspace file (DuckDB) the app and the command line use"),
    Variable(TODAY, "the real date (UTC)",
             "the planning date, YYYY-MM-DD: runs the app and the engine as of that day"),
    Variable(QUERY_TIMEOUT, f"{DEFAULT_QUERY_TIMEOUT_S:g}", "seconds a read may run before it is stopped; 0 turns the limit off"),
    Variable(MEMORY_LIMIT, "DuckDB's default", "DuckDB's memory limit for the workspace, e.g. 4GB or 50%"),
    Variable(WORKERS, "the number of CPUs", "forecast worker processes on this machine"),
    Variable(DASK_SCHEDULER, "none: forecasts run on this machine",
             "a Dask scheduler (tcp://host:8786) that forecasts fan out to; the CLI flag and the app's setting win"),
    Variable(PARSE_WORKERS, "one per 8 GB of memory, 2 to 8", "uploaded files parsed at once on this machine"),
    Variable(PARSE_SLOTS_DIR, "a folder of this user's in the system's temp folder",
             "where the lock files that count the parses in progress live"),
    Variable(BROWSER_PATH, "chromium or chrome on the PATH", "the browser that draws the board pack's charts"),
    Variable(SERVER_ADDRESS, "127.0.0.1 when sign-in is off", "Streamlit's own: the address `serve` binds to"),
    Variable(LOCK_FD, "none", "internal: the workspace lock `serve` hands to the app; never set it yourself"),
)
_NAMES = frozenset(v.name for v in VARIABLES)


def value(name: str) -> str | None:
    """The variable's value, stripped; None when unset or blank. Only declared variables may be read."""
    if name not in _NAMES:
        raise KeyError(f"{name} is not declared in sop_core.config.VARIABLES")
    return os.environ.get(name, "").strip() or None


def take(name: str) -> str | None:
    """The variable's value, removed from the environment (a hand-over that child processes must not inherit)."""
    found = value(name)
    os.environ.pop(name, None)
    return found


def _positive_int(name: str) -> int | None:
    """A whole number ≥ 1 from the variable, else None (unset or not a number)."""
    try:
        return max(1, int(value(name) or ""))
    except ValueError:
        return None


def workspace_path() -> Path:
    """The workspace file: $SOP_WORKSPACE, else data/workspace.duckdb in the project."""
    env = value(WORKSPACE)
    return Path(env).expanduser() if env else PROJECT_ROOT / "data" / "workspace.duckdb"


def today_text() -> str | None:
    """$SOP_TODAY as given (checked by `clock.today`), or None."""
    return value(TODAY)


def query_timeout_s() -> float:
    """Seconds a read may run: $SOP_QUERY_TIMEOUT_S, else 30 (0 or less: no limit)."""
    try:
        return float(value(QUERY_TIMEOUT) or DEFAULT_QUERY_TIMEOUT_S)
    except ValueError:
        return DEFAULT_QUERY_TIMEOUT_S


def memory_limit() -> str | None:
    """DuckDB memory_limit of the workspace: $SOP_MEMORY_LIMIT ('4GB', '50%'), else None (DuckDB's default)."""
    return value(MEMORY_LIMIT)


def forecast_workers() -> int:
    """Forecast worker processes: $SOP_WORKERS, else the number of CPUs."""
    return _positive_int(WORKERS) or os.cpu_count() or 1


def dask_scheduler() -> str | None:
    """$SOP_DASK_SCHEDULER as given (normalised by the Dask executor), or None."""
    return value(DASK_SCHEDULER)


def parse_workers() -> int:
    """Uploads parsed at once: $SOP_PARSE_WORKERS, else one per 8 GB of memory (each may use 4 GB), 2 to 8."""
    given = _positive_int(PARSE_WORKERS)
    if given:
        return given
    try:
        total_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 2
    return max(2, min(8, total_mb // (2 * 4096)))


def parse_slots_dir() -> str:
    """$SOP_PARSE_SLOTS_DIR, else a folder of this user's in the system's temp folder."""
    return value(PARSE_SLOTS_DIR) or os.path.join(tempfile.gettempdir(), f"sop-parse-slots-{os.getuid()}")


def browser_path() -> str | None:
    """$BROWSER_PATH (the browser for chart images), or None."""
    return value(BROWSER_PATH)


def server_address() -> str | None:
    """$STREAMLIT_SERVER_ADDRESS (Streamlit's own variable), or None."""
    return value(SERVER_ADDRESS)


def markdown_table() -> str:
    """The README's table of the variables: name, default, meaning."""
    rows = ["| variable | default | what it sets |", "|---|---|---|"]
    rows += [f"| `{v.name}` | {v.default} | {v.meaning} |" for v in VARIABLES]
    return "\n".join(rows)
