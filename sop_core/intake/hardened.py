"""A DuckDB connection for untrusted files: it can touch only its own folder, no extensions, locked settings.

Used by the parse worker (`worker`) for the remembered mappings and for streaming a large file (`staging`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import duckdb


def hardened_connection(temp_dir: str | Path, memory_limit_mb: int = 256) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that can touch only `temp_dir` (where it spills): no other files, extensions or settings."""
    import duckdb

    folder = Path(temp_dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(":memory:", config={
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
        "allow_unsigned_extensions": False,
        "allow_persistent_secrets": False,
        "memory_limit": f"{int(memory_limit_mb)}MB",
        "max_temp_directory_size": f"{int(memory_limit_mb) * 4}MB",
        "threads": 1,
        "temp_directory": str(folder),
        "extension_directory": f"{os.devnull}/no-extensions",  # an impossible path: INSTALL can never write
        "allow_extension_repositories": "forbidden",
    })
    literal = "'" + str(folder).replace("'", "''") + "'"
    con.execute(f"SET allowed_directories = [{literal}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con
