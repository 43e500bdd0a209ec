"""S&OP review: the router. Run with `streamlit run app.py`."""
import streamlit as st

from pages.shell import nav
from pages.shell.state import sidebar

st.set_page_config(page_title="S&OP review", page_icon=":material/sync_alt:", layout="wide")
page = nav.navigation()
sidebar()
page.run()
