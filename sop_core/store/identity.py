"""Who a signed-in user is, for roles: a verified e-mail address (or the provider's subject), never a display name.

The OpenID Connect provider's claims (`st.user` in the app) carry `email`, `email_verified`,
`name`, `sub` and `iss`. A display name is chosen by the user, and on some providers so is an
unverified e-mail address: neither may decide a role. `identity(claims, mode)` returns the
identity the roles in `[sop.roles]` are looked up by, or None with the reason in plain words; a
user without one is a viewer.

Modes (`[sop] identity = "email"` in secrets.toml, the default, or `"sub"`):
- "email": the `email` claim, only when `email_verified` is true;
- "sub": the provider's subject identifier, `sub` (stable and never reassigned by the provider);
  `[sop.roles]` then lists subjects.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MODES: tuple[str, ...] = ("email", "sub")


def _verified(value: Any) -> bool:
    """True for a JSON true or the text 'true' (some providers send strings)."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def identity(claims: Mapping[str, Any], mode: str = "email") -> tuple[str | None, str | None]:
    """(identity, None) for a user the roles can trust, else (None, why not in plain words)."""
    if mode not in MODES:
        raise ValueError(f"[sop] identity = {mode!r} is not one of {', '.join(MODES)}")
    if mode == "sub":
        sub = str(claims.get("sub") or "").strip()
        return (sub, None) if sub else (None, "your sign-in carries no subject identifier (sub)")
    email = str(claims.get("email") or "").strip()
    if not email:
        return None, "your sign-in carries no e-mail address"
    if not _verified(claims.get("email_verified")):
        return None, f"your provider has not confirmed the e-mail address {email} (email_verified is not true)"
    return email.lower(), None
