"""The production configuration, checked against a real server on loopback and in the sources."""
from __future__ import annotations

import base64
import http.client
import os
import re
from pathlib import Path

import pytest
from browser.conftest import Server

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("srv") / "workspace.duckdb")
    srv.start()
    yield srv
    srv.stop()


def _ws_handshake(port: int, host: str, origin: str | None = None) -> int:
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Host": host, "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode()}
    if origin:
        headers["Origin"] = origin
    con.request("GET", "/_stcore/stream", headers=headers)
    status = con.getresponse().status
    con.close()
    return status


def test_websocket_from_a_host_not_allowed_is_refused(live):
    assert _ws_handshake(live.port, f"127.0.0.1:{live.port}") == 101
    assert _ws_handshake(live.port, "evil.example.com") == 403


def test_websocket_from_a_foreign_origin_is_refused(live):
    assert _ws_handshake(live.port, f"127.0.0.1:{live.port}", origin="https://evil.example.com") == 403


def test_upload_without_an_xsrf_token_is_refused(live):
    con = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
    body = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.csv\"\r\n\r\na,b\r\n--b--\r\n"
    con.request("PUT", "/_stcore/upload_file/session/file", body=body,
                headers={"Host": f"127.0.0.1:{live.port}", "Content-Type": "multipart/form-data; boundary=b"})
    assert con.getresponse().status == 403


def test_config_hides_tracebacks_and_limits_uploads():
    text = (ROOT / ".streamlit" / "config.toml").read_text()
    assert re.search(r'showErrorDetails\s*=\s*"none"', text)
    assert re.search(r"enableXsrfProtection\s*=\s*true", text)
    assert re.search(r'toolbarMode\s*=\s*"viewer"', text)
    assert re.search(r"maxUploadSize\s*=\s*\d+", text)
    assert re.search(r"allowedHosts\s*=\s*\[", text)
    assert re.search(r"disableDataExport\s*=\s*true", text)  # dataframe CSV downloads do not neutralise


def test_no_page_renders_raw_html():
    """User text must never reach unsafe_allow_html or st.html: the app uses neither."""
    offenders = [f"{p.relative_to(ROOT)}:{i}" for p in [ROOT / "app.py", *ROOT.glob("pages/**/*.py")]
                 for i, line in enumerate(p.read_text().splitlines(), 1)
                 if re.search(r"unsafe_allow_html\s*=\s*True|\bst\.html\(", line)]
    assert offenders == []


def test_without_sign_in_the_server_listens_on_loopback_only(tmp_path, monkeypatch):
    """Sign-in off means everyone is an admin: `serve` binds 127.0.0.1 unless told otherwise."""
    from sop_core.cli import serve as cli_serve

    monkeypatch.delenv("STREAMLIT_SERVER_ADDRESS", raising=False)
    assert cli_serve.bind_address(["--server.port", "8501"], signed_in=False) == "127.0.0.1"
    assert cli_serve.bind_address(["--server.address", "0.0.0.0"], signed_in=False) is None  # said explicitly
    assert cli_serve.bind_address(["--server.address=10.0.0.5"], signed_in=False) is None
    assert cli_serve.bind_address([], signed_in=True) is None  # sign-in on: the deployment decides
    monkeypatch.setenv("STREAMLIT_SERVER_ADDRESS", "0.0.0.0")
    assert cli_serve.bind_address([], signed_in=False) is None
    folder = tmp_path / ".streamlit"
    folder.mkdir()
    assert cli_serve.sign_in_configured((folder,)) is False
    (folder / "secrets.toml").write_text('[auth]\nclient_id = "x"\n', encoding="utf-8")
    assert cli_serve.sign_in_configured((folder,)) is True


def test_forecast_workers_do_not_inherit_the_servers_secrets(monkeypatch):
    import os

    from sop_core.demand import executor

    monkeypatch.setenv("SOP_OIDC_CLIENT_SECRET", "s3cret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "t0ken")
    monkeypatch.setenv("SOP_HARMLESS_SETTING", "kept")
    executor.scrub_environment()  # what every worker runs first
    assert "SOP_OIDC_CLIENT_SECRET" not in os.environ and "AWS_SESSION_TOKEN" not in os.environ
    assert os.environ["SOP_HARMLESS_SETTING"] == "kept" and os.environ["PATH"]
    ex = executor.LocalExecutor(workers=2)
    try:
        assert ex._get_pool()._initializer is executor.scrub_environment
        assert ex.map_chunks(os.getenv, ["SOP_OIDC_CLIENT_SECRET", "PATH"])[0] is None
    finally:
        ex.shutdown()


def test_the_served_app_forbids_framing_and_closes_the_metrics_endpoint(tmp_path):
    """`serve` puts the app behind security headers; /_stcore/metrics (no sign-in there) is not served."""
    import urllib.error
    import urllib.request

    from browser.conftest import Server

    srv = Server(tmp_path / "workspace.duckdb")
    srv.start()
    try:
        with urllib.request.urlopen(f"{srv.url}/", timeout=10) as page:
            headers = {k.lower(): v for k, v in page.headers.items()}
        assert headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        with pytest.raises(urllib.error.HTTPError) as closed:
            urllib.request.urlopen(f"{srv.url}/_stcore/metrics", timeout=10)
        assert closed.value.code == 404
        with urllib.request.urlopen(f"{srv.url}/_stcore/health", timeout=10) as health:
            assert health.status == 200
    finally:
        srv.stop()
