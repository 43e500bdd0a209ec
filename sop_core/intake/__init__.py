"""Intake: a company's files into the workspace, checked.

readers (the entry points: an upload to a raw_table of text cells, through text_files for CSV,
excel or parquet), mapping (columns to the contract), checks, validate and units (the checks: per
column, per table, units of measure; errors says how they are worded), load (prepare and commit a
table), worker (parsing in a limited process, hardened its DuckDB), staging and staged_checks (a large CSV
or Parquet file streamed into DuckDB and checked in SQL), storing (a checked table replaced or appended to),
health (what is loaded and how fresh), company and
demo (one company per workspace; the built-in demo company).
"""

__all__ = ["checks", "company", "demo", "errors", "excel", "hardened", "health", "load", "mapping", "parquet",
           "raw_table", "readers", "staged_checks", "staging", "storing", "text_files", "units", "validate", "worker"]
