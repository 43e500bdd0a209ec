"""Intake: a company's files into the workspace, checked.

readers (CSV, Excel, Parquet), mapping (columns to the contract), validate and units (the checks),
load (prepare and commit a table), worker (parsing in a limited process), health (what is loaded and
how fresh), company and demo (one company per workspace; the built-in demo company).
"""

__all__ = ["company", "demo", "health", "load", "mapping", "readers", "units", "validate", "worker"]
