"""A real Streamlit server on loopback and headless Chromium driven by Playwright."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`python -m sop_core serve` (the workspace locked, then `streamlit run app.py`) on a free loopback port."""

    def __init__(self, workspace: Path, extra_args: tuple[str, ...] = (), host: str = "127.0.0.1") -> None:
        self.workspace = workspace
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None
        self.log = workspace.with_suffix(".log")
        self.extra_args = extra_args  # more options for `serve` (e.g. --secrets.files)
        self.host = host  # the name the browser uses (sign-in cookies belong to the redirect_uri's host)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        env = dict(os.environ, SOP_WORKSPACE=str(self.workspace))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sop_core", "serve", "--server.port", str(self.port),
             "--server.address", "127.0.0.1", "--server.headless", "true", *self.extra_args],
            cwd=ROOT, env=env, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited: {self.log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_stcore/health", timeout=2)
                return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("streamlit did not become healthy in 60 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "workspace.duckdb")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def demo_server(tmp_path: Path, tmp_path_factory) -> Iterator[Server]:
    """A server on a copy of the demo company with its forecast already fitted (pages open at once)."""
    from apptest_support import demo_template

    path = tmp_path / "workspace.duckdb"
    shutil.copy(demo_template(tmp_path_factory), path)
    srv = Server(path)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(60_000)  # a page that evaluates the plan can take a while on 2 busy cores
    pg = context.new_page()
    yield pg
    context.close()


def wait_idle(page, timeout: float = 60.0) -> None:
    """Wait until Streamlit has finished running the script (no 'Running...' status widget)."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    time.sleep(0.3)
    while time.monotonic() < deadline:
        if page.locator('[data-testid="stStatusWidget"]').count() == 0:
            return
        time.sleep(0.2)
    raise TimeoutError("app still running after %.0f s" % timeout)


def choose(page, box, option: str, *, pick: bool = True) -> None:
    """Open the dropdown `box` and click `option` (or, with pick=False, only see it listed).

    A rerun that lands while the list opens (the address bar being stamped, a fragment
    refreshing) closes it again, so open it once more rather than wait out the timeout.
    """
    choice = page.get_by_role("option", name=option, exact=True)
    for _ in range(6):
        wait_idle(page)
        box.click()
        try:
            choice.wait_for(timeout=5_000)
            if pick:
                choice.click(timeout=5_000)
            return
        except Exception:  # noqa: BLE001 - playwright's TimeoutError
            page.keyboard.press("Escape")
    raise AssertionError(f"{option!r} never showed in the dropdown")
