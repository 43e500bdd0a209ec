"""AppTest helpers for page tests: the demo workspace with its forecast fitted, and page runners.

Import the fixtures into a test module (`from apptest_support import app, demo_workspace_file`) to
use them there; the helpers are plain functions.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from sop_core.intake import demo
from sop_core.store.workspace import Workspace

APP = Path(__file__).resolve().parents[1] / "app.py"


_TEMPLATE: list[Path] = []
_DEMO_CSV: list[Path] = []


def demo_csv_dir() -> Path:
    """The demo company's seven CSV files as a user would upload them, for the pinned today (written once per process)."""
    if not _DEMO_CSV:
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix="sop-demo-csv-"))
        demo.write_csv(folder)
        _DEMO_CSV.append(folder)
    return _DEMO_CSV[0]


def demo_template(tmp_path_factory) -> Path:
    """The demo company with its forecast fitted, built once per test process (Prophet fits are the slow part).

    Built in a child process, so the test process never holds a forked worker pool while it
    drives Chromium (Playwright's event loop and a fork pool in one process can hang at teardown).
    """
    if not _TEMPLATE:
        path = tmp_path_factory.mktemp("template") / "workspace.duckdb"
        script = ("import sys; from sop_core.intake import company; from sop_core.demand import forecast; "
                  "from sop_core.store.workspace import Workspace\n"
                  "with Workspace(sys.argv[1]) as ws:\n"
                  "    company.reset_to_demo(ws); forecast.run_forecast(ws, forecast.saved_settings(ws))\n")
        subprocess.run([sys.executable, "-c", script, str(path)], cwd=APP.parent, check=True, timeout=900)
        _TEMPLATE.append(path)
    return _TEMPLATE[0]


@pytest.fixture(scope="session")
def demo_workspace_file(tmp_path_factory) -> Path:
    """A workspace with the demo company loaded and its forecast fitted (copy it before use)."""
    return demo_template(tmp_path_factory)


@pytest.fixture
def app(demo_workspace_file, tmp_path, monkeypatch):
    """An AppTest of app.py on a private copy of the demo workspace (`at.workspace_path`).

    To change the copy before the app opens it, use `with Workspace(app.workspace_path) as ws: ...`
    before the first `run`.
    """
    path = tmp_path / "workspace.duckdb"
    shutil.copy(demo_workspace_file, path)
    monkeypatch.setenv("SOP_WORKSPACE", str(path))
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.workspace_path = path
    return at


def open_page(at: AppTest, page: str) -> AppTest:
    """Open the app on pages/<page>.py (a deep link: the Cycle overview does not run first) and assert it raised nothing."""
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, at.exception
    return at


def metrics(at: AppTest) -> dict[str, str]:
    """Label → displayed value of every st.metric on the page."""
    return {m.label: m.value for m in at.metric}


def app_workspace(at: AppTest) -> Workspace:
    """The workspace the app under test has open (the same connection, so reads see its writes)."""
    from pages.shell.state import _open

    return _open(str(at.workspace_path))


def texts(at: AppTest) -> str:
    """Every info, warning, success, error, markdown and caption text of the page, one per line."""
    parts = [e.value for kind in ("info", "warning", "success", "error", "markdown", "caption") for e in at.get(kind)]
    return "\n".join(str(p) for p in parts)


# -- sign-in ----------------------------------------------------------------------------------------------
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32, "client_id": "id",
        "client_secret": "secret", "server_metadata_url": "https://id.example.com/.well-known/openid-configuration"}
ROLES = {"admin": ["ada@example.com"], "planner": ["pat@example.com"], "default": "viewer"}


def signed_in(at: AppTest, email: str | None) -> AppTest:
    """The app with sign-in configured (roles as in ROLES) and `email` signed in (None: nobody)."""
    at.secrets["auth"] = AUTH
    at.secrets["sop"] = {"roles": ROLES}
    at.user = {"email": email, "email_verified": True, "is_logged_in": True} if email else {"is_logged_in": False}
    return at


@pytest.fixture
def reset_access():
    """Turn access control off and forget the actor after the test."""
    from sop_core.store import access

    yield
    access.enable(False)
    access.set_actor(None)


def open_copy(template: str | Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, page: str) -> AppTest:
    """The app on a copy of the workspace file `template`, run once on `page` ('home' or a pages/ script stem)."""
    path = tmp_path / "workspace.duckdb"
    shutil.copy(template, path)
    monkeypatch.setenv("SOP_WORKSPACE", str(path))
    at = AppTest.from_file(str(APP), default_timeout=180)
    if page != "home":
        at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, at.exception
    return at
