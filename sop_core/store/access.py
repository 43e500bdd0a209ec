"""Who may change what: roles (viewer, planner, admin) checked on the single write path.

Every change to the workspace writes an audit event (`Workspace.audit`), and that is where the
acting user's role is checked, so a write refused here is refused whatever triggered it (a page,
a replayed widget event, a callback). Access control is off unless the app turns it on (the local
demo and the command line run with it off); when it is on, a write with no signed-in actor is refused.
"""
from __future__ import annotations

import contextvars
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

ROLES: tuple[str, ...] = ("viewer", "planner", "admin")
# environment variables never handed to a child process (parse workers, forecast workers)
SENSITIVE_ENV = re.compile(r"SECRET|TOKEN|PASSW|KEY|AUTH|CREDENTIAL|COOKIE|SESSION|PRIVATE", re.IGNORECASE)
# audit event kinds a role may write (admin: all)
PLANNER_KINDS = frozenset({
    "consensus", "forecast", "override", "override_refused", "override_undo", "scenario", "scenario_archive",
    "decision", "decision_status", "decision_refused", "setting",
})
ROLE_KINDS: dict[str, frozenset[str] | None] = {"viewer": frozenset(), "planner": PLANNER_KINDS, "admin": None}
# settings that point the server somewhere (a Dask scheduler exchanges pickled tasks): admins only
ADMIN_SETTINGS = frozenset({"dask_scheduler"})
ACTIONS = {"admin_setting": "change where the server sends work (the Dask scheduler)", "load": "load data", "reset": "reset the data", "plan_approved": "approve a plan",
           "decision_linked": "link decisions to a plan version", "override": "save an override",
           "scenario": "save a scenario", "decision": "record a decision", "forecast": "run the forecast",
           "mapping": "remember how a file's columns map to the data"}  # mapping: with a load, so admins only


class NotPermitted(PermissionError):
    """The acting user's role does not allow this change."""


@dataclass(frozen=True)
class Actor:
    """A signed-in user and their role."""

    email: str
    role: str

    def can(self, kind: str) -> bool:
        """True when the role may write audit events of `kind`."""
        allowed = ROLE_KINDS.get(self.role, frozenset())
        return allowed is None or kind in allowed


_enabled = False
_UNSET = Actor("", "viewer")  # no actor was set in this context: ask the resolver (see resolve_with)
_actor: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("sop_actor", default=_UNSET)
_resolver: Callable[[], Actor | None] | None = None


def enable(on: bool = True) -> None:
    """Turn access control on (the app does, when sign-in is configured) or off."""
    global _enabled
    _enabled = bool(on)


def enabled() -> bool:
    """True when writes are checked against the acting user's role."""
    return _enabled


def set_actor(actor: Actor | None) -> None:
    """Set who is acting in this thread (the app sets it at the start of every script run)."""
    _actor.set(actor)


def resolve_with(resolver: Callable[[], Actor | None] | None) -> None:
    """Who acts in a context where nobody set an actor: the app's signed-in user of the current script run.

    A Streamlit fragment reruns only its own function, in a thread of its own, without the app's frame
    that calls set_actor: the resolver finds the user of that run (None outside a script run).
    """
    global _resolver
    _resolver = resolver


def current() -> Actor | None:
    """Who is acting in this thread (None when nobody is signed in)."""
    actor = _actor.get()
    if actor is _UNSET:
        return _resolver() if _resolver is not None else None
    return actor


@contextmanager
def acting_as(actor: Actor | None) -> Iterator[None]:
    """Run a block as `actor`."""
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def check(kind: str) -> None:
    """Raise NotPermitted when access control is on and the acting user may not write an event of `kind`."""
    if not _enabled:
        return
    actor = current()
    if actor is None:
        raise NotPermitted(f"not permitted: sign in to {ACTIONS.get(kind, 'change the plan')}")
    if not actor.can(kind):
        raise NotPermitted(f"not permitted: {actor.email} is a {actor.role} and cannot {ACTIONS.get(kind, 'do this')}"
                           f" — ask an {'admin' if kind in ACTIONS and kind not in PLANNER_KINDS else 'admin or planner'}")


def author(given: str | None) -> str | None:
    """The author to record for a change: with access control on, the signed-in user, whatever `given` says.

    None becomes the acting user's identity; a different name is refused (NotPermitted). Off, or acting
    as SYSTEM (the demo company loading), `given` is kept.
    """
    actor = current()
    if not _enabled or actor is None or actor == SYSTEM:
        return given
    if given is not None and given.strip().casefold() != actor.email.casefold():
        raise NotPermitted(f"not permitted: {actor.email} cannot record a change in the name of {given.strip()!r}")
    return actor.email


def setting_kind(key: str) -> str:
    """The audit kind of saving setting `key`: 'admin_setting' for ADMIN_SETTINGS, else 'setting'."""
    return "admin_setting" if key in ADMIN_SETTINGS else "setting"


# who loads the built-in demo company into an empty workspace, whoever opened the app first
SYSTEM = Actor("system (demo company)", "admin")


def allowed(actor: Actor | None, kind: str) -> bool:
    """Whether `actor` may write `kind` (always True with access control off)."""
    return not _enabled or (actor is not None and actor.can(kind))


def role_for(email: str | None, roles: Mapping[str, object]) -> str:
    """The role of `email` from a mapping like {'admin': [...], 'planner': [...], 'default': 'viewer'}."""
    default = str(roles.get("default", "viewer"))
    if default not in ROLES:
        raise ValueError(f"unknown default role {default!r}: use one of {', '.join(ROLES)}")
    if not email:
        return default
    e = email.strip().lower()
    for role in ("admin", "planner", "viewer"):  # the highest role listed wins
        members = roles.get(role) or []
        if isinstance(members, str):
            members = [members]
        if e in {str(m).strip().lower() for m in members}:  # type: ignore[union-attr]
            return role
    return default
