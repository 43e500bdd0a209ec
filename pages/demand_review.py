import streamlit as st

from pages.shell.state import page_header, workspace

page_header("demand_review")
st.write("demand page")
