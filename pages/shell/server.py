"""The server's front door: the app (app.py) behind security headers, with Streamlit's metrics endpoint closed.

`python -m sop_core serve` runs `streamlit run pages/shell/server.py`; Streamlit finds the `app`
below and serves app.py through it (Streamlit's ASGI mode), so every HTTP response carries
headers that forbid framing the app in another site (clickjacking) and MIME sniffing, and
`/_stcore/metrics` (which answers without sign-in) is not served. Plain `streamlit run app.py`
still works, without these.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse

APP = Path(__file__).resolve().parents[2] / "app.py"
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)
CLOSED_PATHS: tuple[str, ...] = ("/_stcore/metrics",)


class SecurityHeaders:
    """ASGI middleware: add SECURITY_HEADERS to every HTTP response; answer 404 on CLOSED_PATHS."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope.get("path", "").rstrip("/").endswith(CLOSED_PATHS):
            await PlainTextResponse("Not found", status_code=404)(scope, receive, send)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                known = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in known]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


app = st.App(str(APP), middleware=[Middleware(SecurityHeaders)])
