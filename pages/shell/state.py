"""Session-wide state for the pages: the shared workspace, the current user, the page header."""
from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from sop_core import demo, ledger
from sop_core.workspace import Workspace, default_path

from . import nav


@st.cache_resource(show_spinner=False, max_entries=4)
def _open(path: str) -> Workspace:
    ws = Workspace(path)
    demo.ensure_demo(ws)
    ws.startup_messages = ledger.startup_check(ws)  # acknowledged saves the database lost, if any
    return ws


def workspace() -> Workspace:
    """The one workspace of this server process (opened once, shared by every session)."""
    return _open(str(default_path()))


def author() -> str:
    """Who is acting: the signed-in user's e-mail, else the name typed in the sidebar."""
    try:
        if st.user.is_logged_in:
            return str(st.user.get("email") or st.user.get("name"))
    except (AttributeError, KeyError):
        pass
    return st.session_state.get("author") or "planner"


def run_app() -> None:
    """The app's frame: page config, navigation grouped by meeting, sidebar, then the chosen page."""
    st.set_page_config(page_title="S&OP review", page_icon=":material/sync_alt:", layout="wide")
    page = nav.navigation()
    sidebar()
    page.run()


def sidebar() -> None:
    """The sidebar below the navigation: who you are."""
    with st.sidebar:
        st.text_input("Your name", key="author", placeholder="planner",
                      help="Recorded with every override, scenario and decision you make.")


def page_header(url_path: str) -> None:
    """Title and one-line help of a page; repairs a cold-start deep link first.

    With a `pages/` folder, Streamlit runs a deep link before anyone opened the root URL in
    its legacy multipage mode: the page script alone, without app.py. The page then builds the
    app's frame itself (the router resolves the same page from the URL and runs it) and stops
    the legacy run. No rerun: widget events of this run (a click) are kept.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        run_app()
        st.stop()
    page = nav.spec(url_path)
    st.title(page.title, anchor=False)
    st.caption(page.help)
