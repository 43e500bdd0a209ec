"""Sign-in settings that fail safe: checked before the server starts and on every page, one sentence each.

The README's two examples are read out of README.md (the browser tests run the app with the local
one), so the documentation and what is tested cannot drift apart.
"""
from __future__ import annotations

import copy
import json
import socket
import subprocess
import sys
import threading
import tomllib
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from apptest_support import app, demo_workspace_file, reset_access  # noqa: F401  (fixtures)

from sop_core import escape
from sop_core.store import access, signin

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
EXAMPLE_FILE = ROOT / ".streamlit" / "secrets.example.toml"
COMMON = "<!-- sign-in example: a common provider"
LOCAL = "<!-- sign-in example: the local test provider"
LOCAL_PROVIDER = "http://localhost:9400"  # the address in the README's local example, swapped by the tests


def readme_example(marker: str) -> str:
    """The TOML block that follows `marker` in README.md."""
    text = README.read_text(encoding="utf-8")
    start = text.index(marker)
    body = text.index("```toml\n", start) + len("```toml\n")
    return text[body:text.index("```", body)]


def local_example(provider_url: str) -> str:
    """The README's local-provider example with the provider's address swapped for `provider_url`."""
    text = readme_example(LOCAL)
    assert text.count(LOCAL_PROVIDER) == 1, "the README's local example no longer names the local provider"
    return text.replace(LOCAL_PROVIDER, provider_url)


def _one_sentence(message: str) -> None:
    assert "\n" not in message and message.endswith("."), message
    assert "Traceback" not in message and "{" not in message.replace("{port}", ""), message


# -- the README's examples ----------------------------------------------------------------------------------
def test_the_readme_shows_the_example_file_whole():
    assert readme_example(COMMON) == EXAMPLE_FILE.read_text(encoding="utf-8")


def test_the_example_file_stops_until_every_placeholder_is_replaced():
    secrets = tomllib.loads(EXAMPLE_FILE.read_text(encoding="utf-8"))
    with pytest.raises(signin.SignInConfigError, match="still the example's placeholder") as caught:
        signin.settings(secrets)
    _one_sentence(str(caught.value))
    filled = copy.deepcopy(secrets)
    filled["auth"].update(cookie_secret="k" * 43, client_id="1234.apps.googleusercontent.com", client_secret="GOCSPX-1")
    settings = signin.settings(filled)
    assert settings is not None and settings.metadata_url.startswith("https://accounts.google.com/")
    assert settings.role("coo@example.com") == "admin" and settings.role("someone@example.com") == "viewer"


def test_the_local_example_is_a_working_configuration():
    settings = signin.settings(tomllib.loads(local_example("http://127.0.0.1:9999")))
    assert settings is not None and settings.identity == "email"
    assert settings.metadata_url == "http://127.0.0.1:9999/.well-known/openid-configuration"
    assert [settings.role(e) for e in ("coo@example.com", "DEMAND.planner@example.com", "vic@example.com")] == [
        "admin", "planner", "viewer"]


# -- wrong settings: one sentence each ----------------------------------------------------------------------
def _local() -> dict:
    return tomllib.loads(local_example("http://127.0.0.1:9999"))


def _without(d: dict, *path: str) -> dict:
    target = d
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return d


WRONG = {
    "roles without [auth]": (lambda s: _without(s, "auth"), "has no [auth] section"),
    "[auth] not a table": (lambda s: {**s, "auth": "google"}, "must be a table"),
    "no client_secret": (lambda s: _without(s, "auth", "client_secret"), "has no client_secret"),
    "empty client_id": (lambda s: {**s, "auth": {**s["auth"], "client_id": " "}}, "client_id in [auth] must be"),
    "short cookie secret": (lambda s: {**s, "auth": {**s["auth"], "cookie_secret": "x" * 31}}, "at least 32"),
    "callback path": (lambda s: {**s, "auth": {**s["auth"], "redirect_uri": "http://localhost:8501/"}},
                      "must end with /oauth2callback"),
    "plain http provider": (lambda s: {**s, "auth": {**s["auth"], "server_metadata_url": "http://id.example.com/x"}},
                            "must use https"),
    "no [sop]": (lambda s: _without(s, "sop"), "no [sop.roles]"),
    "no [sop.roles]": (lambda s: {**s, "sop": {"identity": "email"}}, "no [sop.roles]"),
    "roles not a table": (lambda s: {**s, "sop": {"roles": ["coo@example.com"]}}, "must be a table"),
    "unknown role": (lambda s: {**s, "sop": {"roles": {**s["sop"]["roles"], "admins": ["x@example.com"]}}},
                     "names a role 'admins'"),
    "unknown default": (lambda s: {**s, "sop": {"roles": {**s["sop"]["roles"], "default": "superuser"}}},
                        "default in [sop.roles] is 'superuser'"),
    "a name, not an address": (lambda s: {**s, "sop": {"roles": {"admin": ["Casey"]}}}, "is not an e-mail address"),
    "members not a list": (lambda s: {**s, "sop": {"roles": {"admin": 7}}}, "must be a list"),
    "unknown identity": (lambda s: {**s, "sop": {**s["sop"], "identity": "name"}}, "identity in [sop] must be"),
}


@pytest.mark.parametrize("case", list(WRONG))
def test_wrong_settings_stop_with_one_sentence(case):
    change, words = WRONG[case]
    with pytest.raises(signin.SignInConfigError) as caught:
        signin.settings(change(_local()))
    assert words in str(caught.value), str(caught.value)
    _one_sentence(str(caught.value))


def test_no_settings_means_sign_in_is_off():
    assert signin.settings({}) is None
    assert signin.settings({"other": {"api_key": "x"}}) is None


def test_secrets_files_merge_like_streamlit_and_bad_toml_stops(tmp_path):
    first, second, bad = tmp_path / "a.toml", tmp_path / "b.toml", tmp_path / "bad.toml"
    first.write_text('[sop.roles]\nadmin = ["a@example.com"]\n[auth]\nclient_id = "first"\n', encoding="utf-8")
    second.write_text('[auth]\nclient_id = "second"\n', encoding="utf-8")
    bad.write_text('[auth\nclient_id = "x"\n', encoding="utf-8")
    merged = signin.read_files([first, tmp_path / "missing.toml", second])
    assert merged["auth"] == {"client_id": "second"} and merged["sop"]["roles"]["admin"] == ["a@example.com"]
    with pytest.raises(signin.SignInConfigError, match="is not valid TOML") as caught:
        signin.read_files([first, bad])
    _one_sentence(str(caught.value))


# -- the provider --------------------------------------------------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when this returns: nothing listens there


class _NotOidc(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = json.dumps({"issuer": "x"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_an_unreachable_or_wrong_provider_is_one_sentence():
    url = f"http://127.0.0.1:{_closed_port()}/.well-known/openid-configuration"
    with pytest.raises(signin.SignInConfigError, match="cannot be reached at") as caught:
        signin.check_provider(url, timeout=3)
    _one_sentence(str(caught.value))
    server = HTTPServer(("127.0.0.1", 0), _NotOidc)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(signin.SignInConfigError, match="is not an OpenID Connect configuration") as caught:
            signin.check_provider(f"http://127.0.0.1:{server.server_port}/.well-known/openid-configuration")
        _one_sentence(str(caught.value))
    finally:
        server.shutdown()
        server.server_close()


def test_the_local_test_provider_answers_the_check():
    import oidc_provider_mock
    import werkzeug.serving

    server = werkzeug.serving.make_server("127.0.0.1", 0, oidc_provider_mock.app(), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        metadata = signin.check_provider(f"http://127.0.0.1:{server.server_port}/.well-known/openid-configuration")
        assert metadata["issuer"] == f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


# -- `serve` refuses to start ---------------------------------------------------------------------------------
SERVE_CASES = {
    "not TOML": ("[auth\n", "is not valid TOML"),
    "[auth] half filled in": ('[auth]\nclient_id = "x"\n[sop.roles]\nadmin = ["a@example.com"]\n', "has no redirect_uri"),
    "roles without [auth]": ('[sop.roles]\nadmin = ["a@example.com"]\n', "has no [auth] section"),
    "no [sop.roles]": (None, "no [sop.roles]"),
    "unknown role": (None, "names a role 'owner'"),
    "provider down": (None, "cannot be reached at http://127.0.0.1:"),
}


def _serve_secrets(case: str) -> str:
    text, _ = SERVE_CASES[case]
    if text is not None:
        return text
    local = local_example(f"http://127.0.0.1:{_closed_port()}")
    if case == "no [sop.roles]":
        return local[:local.index("[sop.roles]")]
    if case == "unknown role":
        return local.replace("default = ", 'owner = ["o@example.com"]\ndefault = ')
    return local


@pytest.mark.parametrize("case", list(SERVE_CASES))
def test_serve_refuses_to_start_with_wrong_sign_in_settings(case, tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(_serve_secrets(case), encoding="utf-8")
    workspace = tmp_path / "workspace.duckdb"
    port = _closed_port()
    done = subprocess.run(
        [sys.executable, "-m", "sop_core", "serve", "--workspace", str(workspace), "--secrets.files", str(secrets),
         "--server.port", str(port), "--server.headless", "true"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: sign-in is set up wrongly, so the server does not "
                                                   "start: "), done.stderr
    assert SERVE_CASES[case][1] in lines[0]
    _one_sentence(lines[0])
    assert not workspace.exists(), "the workspace was opened before the settings were checked"
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "something listens: the server started"


# -- plain `streamlit run app.py`: every page says why, nothing else ----------------------------------------
@pytest.mark.usefixtures("reset_access")
@pytest.mark.parametrize("secrets, words", [
    ({"sop": {"roles": {"admin": ["ada@example.com"]}}}, "has no [auth] section"),
    ({"auth": {"client_id": "id"}, "sop": {"roles": {"admin": ["ada@example.com"]}}}, "has no redirect_uri"),
    ({"auth": "x", "sop": {"roles": {}}}, "must be a table"),
])
def test_the_app_is_closed_while_sign_in_is_set_up_wrongly(app, secrets, words):
    for key, value in secrets.items():
        app.secrets[key] = value
    app.user = {"email": "ada@example.com", "email_verified": True, "is_logged_in": True}
    at = app.run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] and escape.plain(words) in at.error[0].value, [e.value for e in at.error]
    assert at.error[0].value.startswith("The app is closed because sign-in is set up wrongly: ")
    assert not at.button and not at.metric and not at.sidebar.caption and not at.text_input
    assert access.enabled(), "access control is off while sign-in is set up wrongly"
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/demand_review.py")  # no page of the app is reachable
