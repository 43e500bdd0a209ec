"""Read a Parquet file into a RawTable: every column and page (so corruption anywhere is caught), as text."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa

from sop_core.intake.errors import IntakeError
from sop_core.intake.raw_table import (
    DEFAULT_LIMITS,
    Limits,
    RawTable,
    arrow_reason,
    check_headers,
    finish_table,
    looks_like,
)

# -- Parquet ---------------------------------------------------------------------------------------

def read_parquet(file_name: str, data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> RawTable:
    """Read every column and page of a Parquet file (so corruption anywhere is caught) into text."""
    import pyarrow.parquet as pq

    if not (data.startswith(b"PAR1") and data.endswith(b"PAR1")):
        what = looks_like(data)
        detail = f" (looks like {what})" if what and what != "a Parquet file" else ""
        raise IntakeError(file_name, f"corrupt Parquet file{detail} — not a complete Parquet file", kind="corrupt")
    try:
        pf = pq.ParquetFile(io.BytesIO(data), page_checksum_verification=True)
        if pf.metadata.num_rows > limits.max_rows:
            raise IntakeError(file_name, f"too many rows: max {limits.max_rows:,} rows", kind="too_many_rows")
        table = pf.read()
    except IntakeError:
        raise
    except Exception as exc:  # pyarrow raises OSError/ArrowInvalid/... for damaged files
        raise IntakeError(file_name, f"corrupt Parquet file ({arrow_reason(exc)})", kind="corrupt") from None
    headers = [str(n) for n in table.column_names]
    check_headers(file_name, headers)
    cols = {i: _arrow_text(table.column(i)) for i in range(table.num_columns)}
    body = pd.DataFrame(cols)
    if table.num_rows == 0:
        raise IntakeError(file_name, "no data rows", kind="no_rows")
    numbers = np.arange(2, 2 + len(body), dtype=np.int64)
    raw = finish_table(file_name, headers, body, numbers)
    raw.kind, raw.size_bytes = "parquet", len(data)
    raw.notes.append("Parquet rows are numbered from 2, as if below a header row")
    return raw


def _arrow_text(col: pa.ChunkedArray) -> pd.Series:
    """One Arrow column as text ('' for null and for a float NaN, which pyarrow, Polars and Spark write for blanks; dates as ISO)."""
    t = col.type
    if pa.types.is_floating(t):
        import pyarrow.compute as pc

        col = pc.if_else(pc.is_nan(col), pa.scalar(None, t), col)
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        s = pd.Series(col.to_pandas())
        s = pd.to_datetime(s)
        if getattr(s.dt, "tz", None) is not None:
            s = s.dt.tz_localize(None)
        fmt = "%Y-%m-%d" if (s.dropna() == s.dropna().dt.normalize()).all() else "%Y-%m-%d %H:%M:%S"
        return s.dt.strftime(fmt).fillna("").astype("str")
    if pa.types.is_nested(t) or pa.types.is_dictionary(t) and pa.types.is_nested(t.value_type):
        return pd.Series(col.to_pandas()).map(lambda v: "" if v is None else str(v)).astype("str")
    try:
        as_text = col.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pd.Series(col.to_pandas()).map(lambda v: "" if v is None else str(v)).astype("str")
    return pd.Series(as_text.to_pandas(), dtype="str").fillna("")
