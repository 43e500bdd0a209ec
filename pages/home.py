import streamlit as st

from pages.shell.state import page_header, workspace

page_header("home")
ws = workspace()
st.write(ws.loaded_tables())
