"""Where a workspace's companion files live: the backups folder beside it and the backups in it."""
from __future__ import annotations

from pathlib import Path

MANIFEST = "manifest.json"  # a folder is a backup once its manifest is written (the last step)


def default_dir(workspace_path: str | Path) -> Path:
    """Where backups go by default: a `backups` folder next to the workspace file."""
    return Path(workspace_path).resolve().parent / "backups"


def list_backups(dest_dir: str | Path) -> list[Path]:
    """Backup folders (with a manifest) under `dest_dir`, oldest first."""
    folder = Path(dest_dir)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).exists())
