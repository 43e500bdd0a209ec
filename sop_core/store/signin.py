"""Sign-in settings: `[auth]` (the OpenID Connect provider st.login uses) and `[sop]` (roles), checked before use.

Sign-in is what stands between the network and "everyone may change everything", so a setting
that is missing, malformed or still the example's placeholder must stop the server (or, under
plain `streamlit run`, every page) with one plain sentence, never leave the app open or half on.
`settings(secrets)` returns the checked settings, None when sign-in is off (no `[auth]` and no
`[sop]`), or raises `SignInConfigError` with that sentence. `check_provider(url)` asks the
provider for its OpenID configuration, so an unreachable or wrong provider is found at start-up
and at the sign-in button, not in a stack trace after the redirect.

This module reads files and the network, never Streamlit: `python -m sop_core serve` checks the
secrets files before it starts the server, and the app checks `st.secrets` on every run.
"""
from __future__ import annotations

import json
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .access import ROLES, role_for
from .identity import MODES

AUTH_KEYS: tuple[str, ...] = ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")
ROLE_KEYS: tuple[str, ...] = (*ROLES, "default")
MIN_COOKIE_SECRET = 32
# the values of .streamlit/secrets.example.toml that must be replaced before sign-in can work
PLACEHOLDERS = frozenset({"replace with a long random string", "your-client-id", "your-client-secret"})
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
METADATA_KEYS: tuple[str, ...] = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
GENERATE = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


class SignInConfigError(ValueError):
    """Sign-in is set up wrongly or its provider cannot be used: the message is one plain sentence."""


@dataclass(frozen=True)
class Settings:
    """Checked sign-in settings: the `[auth]` table, the roles and how users are identified."""

    auth: Mapping[str, Any]
    roles: Mapping[str, Any] = field(default_factory=dict)
    identity: str = "email"

    @property
    def metadata_url(self) -> str:
        return str(self.auth["server_metadata_url"])

    def role(self, who: str | None) -> str:
        """The role of identity `who` (None: the default role)."""
        return role_for(who, self.roles)


def _table(value: Any, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SignInConfigError(f"{name} in secrets.toml must be a table of settings (a [{name.strip('[]')}] "
                                "section), not a single value.")
    return value


def _url(value: str, key: str, *, loopback_http: bool = True) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise SignInConfigError(f"{key} in [auth] must be a full http(s) address, not {value!r}.")
    if parsed.scheme == "http" and not (loopback_http and parsed.hostname in LOOPBACK):
        raise SignInConfigError(f"{key} in [auth] must use https (plain http is allowed only on localhost), "
                                f"not {value!r}.")
    return value


def _check_auth(auth: Mapping[str, Any]) -> None:
    missing = [k for k in AUTH_KEYS if k not in auth]
    if missing:
        raise SignInConfigError(f"[auth] in secrets.toml has no {' and no '.join(missing)} (sign-in needs "
                                f"{', '.join(AUTH_KEYS[:-1])} and {AUTH_KEYS[-1]}).")
    for key in AUTH_KEYS:
        value = auth[key]
        if not isinstance(value, str) or not value.strip():
            raise SignInConfigError(f"{key} in [auth] must be a non-empty text in quotes.")
        if value.strip() in PLACEHOLDERS:
            raise SignInConfigError(f"{key} in [auth] is still the example's placeholder {value!r}: "
                                    "fill in your provider's value.")
    if len(auth["cookie_secret"]) < MIN_COOKIE_SECRET:
        raise SignInConfigError(f"cookie_secret in [auth] must be at least {MIN_COOKIE_SECRET} random characters "
                                f"(make one with {GENERATE}).")
    redirect = _url(auth["redirect_uri"], "redirect_uri")
    if not urlparse(redirect).path.endswith("/oauth2callback"):
        raise SignInConfigError(f"redirect_uri in [auth] must end with /oauth2callback, not {redirect!r}.")
    _url(auth["server_metadata_url"], "server_metadata_url")


def _members(value: Any, role: str, mode: str) -> list[str]:
    members = [value] if isinstance(value, str) else value
    if not isinstance(members, list) or not all(isinstance(m, str) and m.strip() for m in members):
        raise SignInConfigError(f"{role} in [sop.roles] must be a list of {'e-mail addresses' if mode == 'email' else 'subjects'} "
                                f"in quotes, e.g. {role} = [\"someone@example.com\"].")
    if mode == "email":
        for m in members:
            if "@" not in m:
                raise SignInConfigError(f"{m!r} under {role} in [sop.roles] is not an e-mail address (roles go by "
                                        "the verified e-mail; set identity = \"sub\" under [sop] to list subjects).")
    return members


def _check_roles(sop: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    mode = sop.get("identity", "email")
    if mode not in MODES:
        raise SignInConfigError(f"identity in [sop] must be \"email\" or \"sub\", not {mode!r}.")
    if "roles" not in sop:
        raise SignInConfigError("sign-in is on but secrets.toml has no [sop.roles] section: list who is an admin "
                                "and who is a planner (everyone else is a viewer).")
    roles = _table(sop["roles"], "[sop.roles]")
    for key in roles:
        if key not in ROLE_KEYS:
            raise SignInConfigError(f"[sop.roles] names a role {key!r}: the roles are viewer, planner and admin "
                                    "(and default, the role of anyone not listed).")
    default = roles.get("default", "viewer")
    if default not in ROLES:
        raise SignInConfigError(f"default in [sop.roles] is {default!r}: it must be \"viewer\", \"planner\" or "
                                "\"admin\".")
    checked: dict[str, Any] = {"default": default}
    for role in ROLES:
        if role in roles:
            checked[role] = _members(roles[role], role, mode)
    return checked, mode


def settings(secrets: Mapping[str, Any]) -> Settings | None:
    """The checked sign-in settings of `secrets` (None: sign-in is off); SignInConfigError when they are wrong."""
    if "auth" not in secrets:
        if "sop" in secrets:
            raise SignInConfigError("secrets.toml sets [sop] (roles) but has no [auth] section: without sign-in "
                                    "everyone could change everything, so set up [auth] or remove [sop].")
        return None
    auth = _table(secrets["auth"], "[auth]")
    _check_auth(auth)
    if "sop" not in secrets:
        raise SignInConfigError("sign-in is on but secrets.toml has no [sop.roles] section: list who is an admin "
                                "and who is a planner (everyone else is a viewer).")
    roles, mode = _check_roles(_table(secrets["sop"], "[sop]"))
    return Settings(auth=dict(auth), roles=roles, identity=mode)


def read_files(paths: Iterable[str | Path]) -> dict[str, Any]:
    """The secrets of `paths` merged as Streamlit merges them (later files replace earlier top-level sections).

    A missing file is skipped; a file that is not valid TOML raises SignInConfigError.
    """
    merged: dict[str, Any] = {}
    for path in paths:
        p = Path(path)
        if p.is_dir():
            continue  # a Kubernetes-style secrets folder: Streamlit reads it, sign-in settings are not kept there
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise SignInConfigError(f"the secrets file {p} cannot be read ({exc.strerror}).") from None
        try:
            merged.update(tomllib.loads(text))
        except tomllib.TOMLDecodeError as exc:
            raise SignInConfigError(f"the secrets file {p} is not valid TOML ({exc}).") from None
    return merged


def check_provider(url: str, timeout: float = 10.0) -> dict[str, Any]:
    """The provider's OpenID configuration at `url`; SignInConfigError when it cannot be reached or is not one."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": "application/json"}),
                                    timeout=timeout) as response:
            body = response.read(1_000_000)
    except urllib.error.HTTPError as exc:
        raise SignInConfigError(f"the sign-in provider answered {exc.code} at {url}: check server_metadata_url "
                                "in [auth].") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise SignInConfigError(f"the sign-in provider cannot be reached at {url} ({reason}).") from None
    try:
        metadata = json.loads(body)
    except ValueError:
        metadata = None
    if not isinstance(metadata, dict) or any(not metadata.get(k) for k in METADATA_KEYS):
        raise SignInConfigError(f"{url} is not an OpenID Connect configuration (it needs "
                                f"{', '.join(METADATA_KEYS)}): check server_metadata_url in [auth].")
    return metadata
