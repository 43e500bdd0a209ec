import streamlit as st

from pages.shell.state import page_header, workspace

page_header("data")
st.write("data page")
