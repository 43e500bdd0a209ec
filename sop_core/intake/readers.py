"""Read an uploaded file (CSV, Excel .xlsx, Parquet) into text cells, without guessing types: the entry points.

`read_file` checks an upload's size and kind and hands it to the reader for its type
(`text_files.read_csv`, `excel.read_xlsx`, `parquet.read_parquet`). Each returns a `RawTable` (see
`raw_table`): the original headers, every value as a string, and the row number each data row has
in the file as the user sees it (header = row 1). `copy_path` copies the command line's upload from
disk for the worker (`read_path` reads it as bytes). Anything that makes the file unreadable raises `IntakeError` with a message meant for the user.
File names are only ever used for display: they are sanitised (`sanitise_name`) and never used as paths.
"""
from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from pathlib import PurePosixPath

from sop_core.intake.errors import IntakeError, strip_bidi
from sop_core.intake.excel import part_name, read_xlsx
from sop_core.intake.parquet import read_parquet
from sop_core.intake.raw_table import DEFAULT_LIMITS, MB, Limits, RawTable
from sop_core.intake.text_files import read_csv

CSV_EXTENSIONS = frozenset({".csv", ".txt", ".tsv", ".tab", ".dat", ""})
EXCEL_EXTENSIONS = frozenset({".xlsx", ".xlsm"})
PARQUET_EXTENSIONS = frozenset({".parquet", ".pq"})
COMPRESSED_EXTENSIONS = frozenset({".gz", ".gzip", ".zip", ".bz2", ".xz", ".7z", ".zst", ".tgz", ".rar"})
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"7z\xbc\xaf\x27\x1c", b"\x28\xb5\x2f\xfd", b"Rar!")


# -- names and types -----------------------------------------------------------------------------

def sanitise_name(name: str, max_len: int = 120) -> str:
    """Display name for an uploaded file: last path component, no control or bidi chars or ':' streams, <= max_len."""
    text = strip_bidi(str(name or ""))
    text = re.sub(r"[\x00-\x1f\x7f-\x9f]", "", text)
    text = re.split(r"[\\/]", text)[-1]
    text = text.replace(":", "_").strip().lstrip(".").strip()
    if not text:
        text = "upload"
    if len(text) > max_len:
        suffix = PurePosixPath(text).suffix
        suffix = suffix if len(suffix) <= 10 else ""
        text = text[: max_len - len(suffix) - 1] + "…" + suffix
    return text


def extension(name: str) -> str:
    """Lower-case extension of a sanitised name ('' when none)."""
    return PurePosixPath(name).suffix.lower()


# -- entry point ---------------------------------------------------------------------------------

def read_file(name: str, data: bytes, *, sheet: str | None = None, encoding: str | None = None,
              delimiter: str | None = None, limits: Limits = DEFAULT_LIMITS) -> RawTable:
    """Read an upload into a RawTable (all values as text); raises IntakeError with a user-facing message."""
    file_name = sanitise_name(name)
    ext = extension(file_name)
    if len(data) > limits.max_bytes:
        raise IntakeError(file_name, f"file is {len(data) / MB:,.1f} MB; max {limits.max_bytes / MB:,.0f} MB",
                          kind="too_large")
    if ext in COMPRESSED_EXTENSIONS or data.startswith(_COMPRESSED_MAGIC):
        raise IntakeError(file_name, "compressed uploads are not allowed — upload the .csv, .xlsx or .parquet "
                                     "file itself", kind="compressed")
    if not data.strip():
        raise IntakeError(file_name, "file is empty", kind="empty")
    if ext in EXCEL_EXTENSIONS:
        return read_xlsx(file_name, data, sheet=sheet, limits=limits)
    if ext in PARQUET_EXTENSIONS:
        return read_parquet(file_name, data, limits=limits)
    if ext == ".xls":
        raise IntakeError(file_name, "old Excel 97-2003 (.xls) files are not supported — save as .xlsx",
                          kind="wrong_type")
    if ext in CSV_EXTENSIONS:
        return read_csv(file_name, data, encoding=encoding, delimiter=delimiter, limits=limits)
    raise IntakeError(file_name, f"unsupported file type '{ext}' — upload CSV, Excel (.xlsx) or Parquet",
                      kind="wrong_type")


def read_path(path: str | os.PathLike, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """The bytes of the regular file at `path`, checked before anything is read (see `open_path`; cap `max_bytes`)."""
    chunks: list[bytes] = []
    _copy_checked(path, limits.max_bytes, chunks.append)
    return b"".join(chunks)


def check_path(path: str | os.PathLike, limits: Limits = DEFAULT_LIMITS) -> int:
    """The size of the regular file at `path` if it may be loaded (see `copy_path`); nothing is read."""
    fd = _open_regular(path, limits.max_file_bytes)
    try:
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def copy_path(path: str | os.PathLike, dest: str | os.PathLike, limits: Limits = DEFAULT_LIMITS) -> str:
    """Copy the regular file at `path` to `dest` (the command line's upload, for the worker); returns its SHA-256.

    Opened without blocking (a FIFO never hangs), then the open file itself is checked: devices, FIFOs,
    sockets and folders are refused, and so is a file over `limits.max_file_bytes`; the copy is bounded too,
    so what the worker reads is what was checked and hashed. Raises IntakeError naming the file, the limit
    and what to do (OSError when it cannot be opened).
    """
    import hashlib

    digest = hashlib.sha256()
    with open(dest, "wb") as out:
        def write(chunk: bytes) -> None:
            digest.update(chunk)
            out.write(chunk)

        _copy_checked(path, limits.max_file_bytes, write)
    return digest.hexdigest()


def _open_regular(path: str | os.PathLike, cap: int) -> int:
    """A read-only descriptor of the regular file at `path` of at most `cap` bytes; IntakeError otherwise."""
    shown = part_name(str(path), 200) or "file"
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(fd)  # the file opened, not whatever the path names by now
        if not stat.S_ISREG(info.st_mode):
            what = ("a folder" if stat.S_ISDIR(info.st_mode) else "a pipe (FIFO)" if stat.S_ISFIFO(info.st_mode)
                    else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
                    else "a socket" if stat.S_ISSOCK(info.st_mode) else "not a regular file")
            raise IntakeError(shown, f"not read: it is {what}, not a file — give the path of a CSV, Excel (.xlsx) "
                                     "or Parquet file", kind="not_a_file")
        if info.st_size > cap:
            raise IntakeError(shown, f"not read: the file is {info.st_size / MB:,.1f} MB; at most "
                                     f"{cap / MB:,.0f} MB can be loaded — split it, or keep only the "
                                     "columns the table needs", kind="too_large")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _copy_checked(path: str | os.PathLike, cap: int, sink: Callable[[bytes], object]) -> None:
    """Hand the bytes of the checked regular file at `path` to `sink` in chunks, never more than `cap` bytes."""
    shown = part_name(str(path), 200) or "file"
    fd = _open_regular(path, cap)
    size = 0
    try:
        while size <= cap:
            chunk = os.read(fd, min(16 * MB, cap + 1 - size))
            if not chunk:
                break
            sink(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > cap:  # it grew while being read
        raise IntakeError(shown, f"not read: the file grew past {cap / MB:,.0f} MB while being read",
                          kind="too_large")
