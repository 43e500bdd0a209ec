"""S&OP review: the router. Run with `python -m sop_core serve` (or `streamlit run app.py`)."""
from pages.shell.state import run_app

run_app()
