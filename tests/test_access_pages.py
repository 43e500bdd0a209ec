"""Sign-in and roles in the app (AppTest with secrets and a seeded st.user)."""
from __future__ import annotations

import pytest
from apptest_support import ROLES, app, demo_workspace_file, reset_access, signed_in  # noqa: F401  (fixtures)

from sop_core import escape

pytestmark = pytest.mark.usefixtures("reset_access")


def test_signed_out_users_see_only_the_sign_in(app):
    at = signed_in(app, None)
    at.run()
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.metric


def test_viewer_cannot_open_the_data_page_and_cannot_save(app, monkeypatch):
    at = signed_in(app, "vic@example.com")
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(c.value.endswith("Load or check data is for admins: ask one to do it.") for c in at.caption)
    assert any(escape.plain("vic@example.com") in c.value and "viewer" in c.value for c in at.sidebar.caption)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/data.py")  # not registered for a viewer: a URL to it finds nothing
    at.switch_page("pages/demand_review.py")
    at.run()
    assert not at.exception
    at.selectbox(key="dr_family").set_value("Tents").run()
    at.slider(key="ov_pct").set_value(10).run()
    at.selectbox(key="ov_reason").set_value("Promotion").run()
    assert at.button(key="ov_save").disabled
    # a client replaying the save (the widget enabled by a forged state) is refused on the server
    import pages.demand_review  # noqa: F401  (the page module is exec'd, so patch the shared helper)
    monkeypatch.setattr("pages.shell.state.may", lambda kind: True)
    at.run()
    at.button(key="ov_save").click().run()
    from apptest_support import app_workspace

    ws = app_workspace(at)
    assert ws.scalar("SELECT count(*) FROM overrides") == 0
    assert any("not permitted" in e.value for e in at.error), [e.value for e in at.error]


def test_planner_saves_an_override_but_cannot_approve(app):
    at = signed_in(app, "pat@example.com")
    at.run()
    at.switch_page("pages/demand_review.py")
    at.run()
    at.selectbox(key="dr_family").set_value("Tents").run()
    at.slider(key="ov_pct").set_value(10).run()
    at.selectbox(key="ov_reason").set_value("Promotion").run()
    at.button(key="ov_save").click().run()
    assert not at.exception
    from apptest_support import app_workspace

    ws = app_workspace(at)
    assert ws.scalar("SELECT author FROM overrides") == "pat@example.com"
    at.switch_page("pages/executive.py")
    at.run()
    approve = next(b for b in at.button if b.label == "Approve and freeze this plan")
    assert approve.disabled


def test_a_failing_page_shows_an_incident_id_not_a_traceback(app, monkeypatch):
    def boom(ws):
        raise RuntimeError("secret detail /etc/passwd")

    monkeypatch.setattr("sop_core.intake.health.table_health", boom)
    at = app
    at.run()
    at.switch_page("pages/data.py")
    at.run()
    assert not at.exception  # no traceback element reaches the browser
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "incident" in errors[0] and "secret detail" not in errors[0]


def test_viewer_pages_never_send_unit_costs(app):
    at = signed_in(app, "vic@example.com")
    at.run()
    for page in ("home", "demand_review", "supply_review", "inventory", "financials", "scenarios", "pre_sop",
                 "executive", "scorecard"):
        at.switch_page(f"pages/{page}.py")
        at.run()
        assert not at.exception, page
        for df in at.dataframe:
            assert "unit_cost" not in [str(c).lower() for c in df.value.columns], page


def test_a_second_server_on_the_same_workspace_says_it_is_locked(app):
    import subprocess
    import sys
    import time

    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from sop_core.store.workspace import Workspace; "
                               "ws = Workspace(sys.argv[1]); print('open', flush=True); time.sleep(60)",
                               str(app.workspace_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        from pages.shell.state import _open

        _open.clear()
        app.run()
        assert not app.exception
        errors = [e.value for e in app.error]
        assert any("in use by another server" in e for e in errors), errors
        assert not any("PID" in e or str(app.workspace_path) in e for e in errors), errors  # details: the log only
    finally:
        holder.kill()
        holder.wait()
        time.sleep(0.1)


@pytest.mark.parametrize("claims, why", [
    ({"email": "ada@example.com", "email_verified": False}, "has not confirmed the e-mail address"),
    ({"email": "ada@example.com"}, "has not confirmed the e-mail address"),
    ({"name": "ada@example.com", "email_verified": True}, "carries no e-mail address"),
])
def test_an_admins_address_without_a_verified_email_is_a_viewer(app, claims, why):
    """A display name or an unverified address that reads like an admin's never makes an admin."""
    admin = next(iter(ROLES["admin"]))
    claims = {k: (admin if v == "ada@example.com" else v) for k, v in claims.items()}
    at = signed_in(app, admin)
    at.user = {**claims, "is_logged_in": True}
    at.run()
    assert not at.exception
    assert any("viewer" in c.value for c in at.sidebar.caption), [c.value for c in at.sidebar.caption]
    assert any(escape.plain(why) in w.value for w in at.sidebar.warning), [w.value for w in at.sidebar.warning]
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/data.py")  # the admin-only page does not exist for this user


def test_the_provider_subject_can_be_the_identity(app):
    at = signed_in(app, None)
    at.secrets["sop"] = {"identity": "sub", "roles": {"admin": ["sub-123"]}}
    at.user = {"sub": "sub-123", "name": "Ada", "is_logged_in": True}
    at.run()
    assert not at.exception
    assert any("admin" in c.value for c in at.sidebar.caption), [c.value for c in at.sidebar.caption]
