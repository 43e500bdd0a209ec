"""The S&OP engine: plain Python, pandas and DuckDB, no Streamlit.

Layers, each importing only those below it: `store` → `intake` and `demand` (side by side) →
`planning` → `meetings` → `cli`. Beside them, used by all: `contract` (the input tables), `periods`,
`formatting`, `clock` (what "today" is), `escape` (user text in markdown) and `config` (every
environment variable). `python -m sop_core` is the command line (`cli.main`).
"""
