"""Demand review page: the override reason list edited on the page (streamlit.testing.v1.AppTest).

The reasons grid is a keyed st.data_editor; a test edits it the way the browser does, by giving
its edit state (edited_rows, added_rows, deleted_rows) before the run.
"""
from __future__ import annotations

import pytest

from apptest_support import app, app_workspace, demo_workspace_file, open_page  # noqa: F401  (fixtures)
from sop_core import access, overrides

AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32, "client_id": "id",
        "client_secret": "secret", "server_metadata_url": "https://id.example.com/.well-known/openid-configuration"}
ROLES = {"admin": ["ada@example.com"], "planner": ["pat@example.com"], "default": "viewer"}


@pytest.fixture(autouse=True)
def _reset_access():
    yield
    access.enable(False)
    access.set_actor(None)


def signed_in(at, email: str):
    """The app with sign-in on and `email` signed in (roles as in ROLES)."""
    at.secrets["auth"] = AUTH
    at.secrets["sop"] = {"roles": ROLES}
    at.user = {"email": email, "is_logged_in": True}
    return at


def edit_reasons(at, edited: dict[int, str] | None = None, added: list[str] | None = None,
                 deleted: list[int] | None = None):
    """Edit the reasons grid (rows by position) and press Save reasons."""
    at.session_state["reasons_grid"] = {"edited_rows": {i: {"reason": v} for i, v in (edited or {}).items()},
                                        "added_rows": [{"reason": v} for v in added or []],
                                        "deleted_rows": list(deleted or [])}
    at.run()
    assert not at.exception, at.exception
    at.button(key="reasons_save").click().run()
    assert not at.exception, at.exception
    return at


def save_override(at, reason: str) -> None:
    """Save a +10% override on family Tents with `reason` through the override panel."""
    at.selectbox(key="dr_family").set_value("Tents").run()
    at.slider(key="ov_pct").set_value(10).run()
    at.selectbox(key="ov_reason").set_value(reason).run()
    at.button(key="ov_save").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def history_reasons(at) -> list[str]:
    """The Reason column of the override history table on the page."""
    table = next(df.value for df in at.dataframe if "reason" in df.value.columns and "before_units" in df.value.columns)
    return list(table["reason"])


def test_reasons_edited_on_the_page_are_offered_and_old_overrides_keep_theirs(app):
    at = open_page(app, "demand_review")
    assert [e.label for e in at.expander if e.label == "Override reasons"] == ["Override reasons"]
    assert list(at.data_editor(key="reasons_grid").value["reason"]) == list(overrides.DEFAULT_REASONS)
    assert at.button(key="reasons_save").disabled  # nothing edited yet
    save_override(at, "Other")

    # rename Promotion, remove Other (row 5), add Weather
    edit_reasons(at, edited={0: "Tender won"}, added=["Weather"], deleted=[5])
    expected = ["Tender won", "New customer", "Lost business", "Price change", "Market intelligence", "Weather"]
    assert not at.error, [e.value for e in at.error]
    assert overrides.reasons(app_workspace(at)) == expected
    assert at.selectbox(key="ov_reason").options == expected
    assert list(at.data_editor(key="reasons_grid").value["reason"]) == expected
    assert history_reasons(at) == ["Other"]  # the saved override keeps the reason that left the list

    save_override(at, "Weather")
    assert sorted(history_reasons(at)) == ["Other", "Weather"]
    assert sorted(overrides.history(app_workspace(at))["reason"]) == ["Other", "Weather"]


@pytest.mark.parametrize("edit, message", [
    ({"edited": {1: "promotion"}}, "'promotion' is listed twice"),
    ({"edited": {2: "   "}}, "override reason 3 is empty"),
    ({"added": ["x" * (overrides.MAX_REASON + 1)]}, f"keep a reason to {overrides.MAX_REASON} characters"),
    ({"deleted": list(range(len(overrides.DEFAULT_REASONS)))}, "cannot be empty"),
])
def test_a_bad_reason_list_is_refused_with_a_message_and_nothing_stored(app, edit, message):
    at = open_page(app, "demand_review")
    edit_reasons(at, **edit)
    errors = [e.value for e in at.error]
    assert any(message in e and e.startswith("Reasons not saved") for e in errors), errors
    ws = app_workspace(at)
    assert ws.get_setting(overrides.REASONS_SETTING) is None
    assert overrides.reasons(ws) == list(overrides.DEFAULT_REASONS)
    assert at.selectbox(key="ov_reason").options == list(overrides.DEFAULT_REASONS)


@pytest.mark.parametrize("email, shown", [("vic@example.com", False), ("pat@example.com", True),
                                          ("ada@example.com", True)])
def test_only_roles_that_may_change_settings_see_the_reasons_control(app, email, shown):
    at = signed_in(app, email)
    at.run()
    at.switch_page("pages/demand_review.py")
    at.run()
    assert not at.exception, at.exception
    assert ("Override reasons" in [e.label for e in at.expander]) is shown
    assert any(d.key == "reasons_grid" for d in at.data_editor) is shown
    assert any(b.key == "reasons_save" for b in at.button) is shown
