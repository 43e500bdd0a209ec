"""S&OP review: the router. Run with `streamlit run app.py`."""
from pages.shell.state import run_app

run_app()
