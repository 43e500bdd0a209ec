"""Session-wide state for the pages: the shared workspace, the signed-in user and role, the page header."""
from __future__ import annotations

import logging
import uuid
from typing import Any

import streamlit as st
from streamlit.errors import FragmentHandledException
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import get_script_run_ctx

from sop_core import config, escape
from sop_core.demand import forecast_jobs
from sop_core.intake import company
from sop_core.planning import warmup
from sop_core.store import access, identity, ledger, recovery, signin
from sop_core.store.lock import WorkspaceReadOnly
from sop_core.store.workspace import QueryStopped, Workspace, WorkspaceError, WorkspaceLocked

from . import nav


@st.cache_resource(show_spinner=False, max_entries=4)
def _open(path: str) -> Workspace:
    ws = Workspace(path)
    with access.acting_as(access.SYSTEM):  # the first visitor may be a viewer; the demo loads all the same
        company.ensure_demo(ws)
    ws.startup_messages = recovery.startup_check(ws)  # acknowledged saves the database lost, if any
    forecast_jobs.prefetch(ws)  # the forecast fits in the background from now (a page needing it joins)
    # the baseline plan evaluated and stored in the background, after the first page is drawn
    warmup.kick(ws, delay=forecast_jobs.PREFETCH_DELAY)
    return ws


def workspace() -> Workspace:
    """The one workspace of this server process (opened once, shared by every session)."""
    return _open(str(config.workspace_path()))


log = logging.getLogger("sop")


def _secrets() -> dict[str, Any]:
    """st.secrets as a dict ({} when there is no secrets file; SignInConfigError when one cannot be read)."""
    try:
        return {k: st.secrets[k] for k in st.secrets}
    except st.errors.StreamlitSecretNotFoundError as exc:
        if getattr(exc, "error_id", None) == "no-secrets-found":
            return {}
        log.error("secrets cannot be read: %s", exc)  # a broken file must not turn sign-in off
        raise signin.SignInConfigError("the secrets file cannot be read (the server log says why).") from None
    except (FileNotFoundError, KeyError):
        return {}


def sign_in_settings() -> signin.Settings | None:
    """The checked sign-in settings ([auth] and [sop] of secrets.toml), None when sign-in is off.

    Raises signin.SignInConfigError (one plain sentence) when they are missing, malformed or placeholders.
    """
    return signin.settings(_secrets())


def sign_in_required() -> bool:
    """True when sign-in is configured ([auth] or [sop] in secrets.toml, even wrongly): access control is then on."""
    try:
        return sign_in_settings() is not None
    except signin.SignInConfigError:
        return True  # fail closed: run_app shows why and stops


def _claims() -> dict[str, Any]:
    return {k: st.user.get(k) for k in ("email", "email_verified", "name", "sub", "iss")}


def unverified_reason() -> str | None:
    """Why the signed-in user is only a viewer whatever [sop.roles] says (None when their identity is verified)."""
    settings = _settings_or_none()
    if settings is None or not st.user.is_logged_in:
        return None
    return identity.identity(_claims(), settings.identity)[1]


def _settings_or_none() -> signin.Settings | None:
    try:
        return sign_in_settings()
    except signin.SignInConfigError:
        return None


def actor() -> access.Actor | None:
    """The signed-in user with their role from [sop.roles] (None when sign-in is off or nobody signed in).

    Roles go by the verified e-mail address (or the provider's subject, `[sop] identity = "sub"`); a
    user without one is a viewer, named by what the provider sent, never promoted by a display name.
    """
    settings = _settings_or_none()  # wrong settings: nobody is signed in (run_app stops the page)
    if settings is None or not st.user.is_logged_in:
        return None
    who, _ = identity.identity(_claims(), settings.identity)
    if who is None:
        shown = str(st.user.get("email") or st.user.get("name") or "unknown user")
        return access.Actor(f"{shown} (unverified)", "viewer")
    return access.Actor(who, settings.role(who))


def _run_actor() -> access.Actor | None:
    """The signed-in user of the script run on this thread (None outside one: a background thread sets its own)."""
    return actor() if get_script_run_ctx() is not None else None


def role() -> str:
    """The acting role: 'admin' when sign-in is off (the local demo), else the signed-in user's role."""
    a = actor()
    return "admin" if not sign_in_required() else (a.role if a else "viewer")


def may(kind: str) -> bool:
    """Whether the acting user may make changes of audit kind `kind` (for disabling widgets; the write path enforces)."""
    return access.allowed(actor(), kind)


def page_link(script: str, label: str, icon: str | None = None, **kwargs: Any) -> None:
    """st.page_link to pages/<script> when the acting role has that page; otherwise say who can use it."""
    if any(p.script == script for specs in nav.pages_for(role()).values() for p in specs):
        st.page_link(f"pages/{script}", label=label, icon=icon, **kwargs)
    else:
        st.caption(f":material/lock: {label.removeprefix('Go to ')} is for admins: ask one to do it.")


def author() -> str:
    """Who is acting: the signed-in user's e-mail, else the name typed in the sidebar."""
    a = actor()
    if a is not None:
        return a.email
    return st.session_state.get("author") or "planner"


def run_app() -> None:
    """The app's frame: page config, sign-in, navigation for the role, sidebar, then the chosen page."""
    st.set_page_config(page_title="S&OP review", page_icon=":material/sync_alt:", layout="wide")
    access.enable(sign_in_required())
    access.set_actor(actor())
    access.resolve_with(_run_actor)  # fragments rerun without this frame: they find their user through it
    try:
        settings = sign_in_settings()
    except signin.SignInConfigError as exc:  # never an open app: every page says why and stops
        log.error("sign-in is set up wrongly: %s", exc)
        why = escape.plain(exc)
        _only(lambda: st.error(f"The app is closed because sign-in is set up wrongly: {why}", icon=":material/lock:"))
        st.stop()
    if settings is not None and not st.user.is_logged_in:
        _only(lambda: _sign_in(settings))
        st.stop()
    try:
        ws = workspace()
    except (WorkspaceLocked, WorkspaceError, WorkspaceReadOnly) as exc:  # held elsewhere, damaged, read-only:
        log.error("workspace cannot be opened: %s", exc)  # the details (PID, host, path) go to the log only
        st.error(exc.public_message, icon=":material/lock:")
        st.stop()
    page = nav.navigation(role())
    sidebar()
    for message in getattr(ws, "startup_messages", []) or []:
        st.warning(escape.plain(message), icon=":material/report:")
    try:
        page.run()
    except access.NotPermitted as exc:
        st.error(escape.plain(exc), icon=":material/lock:")
    except QueryStopped as exc:  # a read over the time or memory limit: the message says what to do
        log.warning("query stopped on page %s: %s", getattr(page, "url_path", "?"), exc)
        st.error(escape.plain(exc), icon=":material/block:")
    except ledger.SaveNotConfirmed as exc:  # the message says what was stored and what to do
        log.error("save not confirmed on page %s: %s", getattr(page, "url_path", "?"), exc)
        st.error(escape.plain(exc), icon=":material/report:")
    except FragmentHandledException:
        pass  # a fragment has shown its own error; its traceback is in the log
    except Exception:  # noqa: BLE001 - the browser gets an incident id, the log the traceback
        incident = uuid.uuid4().hex[:8]
        log.exception("incident %s on page %s", incident, getattr(page, "url_path", "?"))
        st.error(f"Something went wrong on this page (incident {incident}). Nothing was changed by the failed step; "
                 "the details are in the server log.", icon=":material/error:")
    finally:  # after the page is drawn (also when it stopped or reran): new data or a new run → the baseline
        warmup.kick(ws)


def _only(render: Any) -> None:
    """Show only `render` (the sign-in, or why the app is closed), whatever URL was asked for.

    A navigation of one hidden page replaces the list Streamlit would otherwise draw from the
    pages/ folder, so a signed-out visitor sees no page names and no way around the gate.
    """
    pages = [st.Page(render, title="S&OP review", url_path="sign_in", default=True)]
    pages += [st.Page(render, title="S&OP review", url_path=p.url_path)  # a shared link lands here, not on "not found"
              for p in nav.all_pages() if p.script != "home.py"]
    st.navigation(pages, position="hidden").run()


def _sign_in(settings: signin.Settings) -> None:
    st.title("S&OP review", anchor=False)
    st.write("Sign in with your company account to open the S&OP meetings.")
    if st.button("Sign in", type="primary", icon=":material/login:"):
        try:  # a provider that is down would otherwise answer the redirect with a bare error page
            signin.check_provider(settings.metadata_url, timeout=5)
        except signin.SignInConfigError as exc:
            log.error("sign-in provider unavailable: %s", exc)
            st.error("Sign-in is not available right now: the sign-in provider cannot be reached. Try again in a "
                     "few minutes, or tell your administrator.", icon=":material/cloud_off:")
            return
        st.login()


def sidebar() -> None:
    """The sidebar below the navigation: who you are."""
    with st.sidebar:
        a = actor()
        if a is not None:
            st.caption(f"Signed in as **{escape.plain(a.email)}** · {a.role}")
            why = unverified_reason()
            if why:
                st.warning(f"You can view but not change anything: {escape.plain(why)}. Ask your administrator.",
                           icon=":material/gpp_maybe:")
            if st.button("Sign out", icon=":material/logout:", key="sign_out"):
                st.logout()
        else:
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
