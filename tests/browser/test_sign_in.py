"""Sign-in for real: a local OpenID Connect provider, `python -m sop_core serve` configured with the README's
example, and Chromium going through the whole `st.login` redirect flow for each user and role.

The provider (oidc-provider-mock) runs in this process on loopback and issues real signed ID tokens for
the users below; the app exchanges the code, checks the token and reads the claims exactly as it does
with Google or Entra. Nothing here sets an actor or fakes `st.user`.
"""
from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from apptest_support import demo_workspace_file  # noqa: F401  (the demo company with its forecast fitted)
from test_sign_in_config import local_example

from sop_core.store import ledger

from .conftest import Server, choose, wait_idle

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots16")
# subject → claims, as the provider issues them; roles come from the README's example [sop.roles]
USERS: dict[str, dict[str, object]] = {
    "coo": {"email": "coo@example.com", "email_verified": True, "name": "Casey Ortiz"},  # admin
    "dana": {"email": "demand.planner@example.com", "email_verified": True, "name": "Dana Park"},  # planner
    "sam": {"email": "supply.planner@example.com", "email_verified": True, "name": "Sam Poe"},  # planner
    "vic": {"email": "vic@example.com", "email_verified": True, "name": "Vic Viewer"},  # not listed: viewer
    "impostor": {"email": "coo@example.com", "email_verified": False, "name": "coo@example.com"},
    "nomail": {"name": "coo@example.com", "preferred_username": "coo@example.com"},
}
MEETING_PAGES = ["", "demand_review", "supply_review", "inventory", "financials", "scenarios", "pre_sop",
                 "executive", "scorecard"]
# enabled controls that change nothing stored: the frame, help icons, table toolbars, dialogs, sign-out
READ_ONLY = re.compile(r"^(Sign out|Collapse sidebar|Expand sidebar|Main menu|Help for .*|Fullscreen|Search|"
                       r"Show/hide columns|Download.*|Prepare the board pack|Close|Dismiss|Open|Only series flagged for review.*|"
                       r"Months in the charts|)$")


class Provider:
    """oidc-provider-mock on a free loopback port, in a thread of this process."""

    def __init__(self, users: dict[str, dict[str, object]]) -> None:
        import oidc_provider_mock
        import werkzeug.serving

        app = oidc_provider_mock.app(user_claims=[oidc_provider_mock.User(sub=s, claims=c) for s, c in users.items()])
        self.server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def signed_in_server(provider: Provider, folder: Path, template: Path) -> Server:
    """`serve` on a copy of the demo, with the README's local-provider example (the provider's address swapped)."""
    folder.mkdir(parents=True, exist_ok=True)
    secrets = folder / "secrets.toml"
    secrets.write_text(local_example(provider.url), encoding="utf-8")
    shutil.copy(template, folder / "workspace.duckdb")
    # the browser uses the redirect_uri's host name: the sign-in cookie belongs to it
    return Server(folder / "workspace.duckdb", ("--secrets.files", str(secrets)), host="localhost")


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    p = Provider(USERS)
    yield p
    p.stop()


@pytest.fixture(scope="module")
def app_server(provider, demo_workspace_file, tmp_path_factory) -> Iterator[Server]:
    srv = signed_in_server(provider, tmp_path_factory.mktemp("signin"), demo_workspace_file)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def browser_for(chromium):
    """browser_for() → a page in a fresh browser context (its own cookies: one user each)."""
    contexts = []

    def make():
        context = chromium.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(120_000)  # pages that evaluate the plan can take a while on 2 busy cores
        contexts.append(context)
        return context.new_page()

    yield make
    for c in contexts:
        c.close()


def sign_in(page, server: Server, sub: str, path: str = "") -> None:
    """Open the app, press Sign in, pick `sub` on the provider's page, and come back signed in."""
    page.goto(f"{server.url}/{path}")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/oauth2/authorize"))  # the provider's own page
    if page.locator(f'button[name="sub"][value="{sub}"]').count():
        page.locator(f'button[name="sub"][value="{sub}"]').click()
    else:  # a user the provider was not told about: typed in
        page.locator('input[name="sub"]').fill(sub)
        page.get_by_role("button", name="Authorize").click()
    page.get_by_text("Signed in as").wait_for()
    assert page.url.startswith(server.url), page.url
    wait_idle(page)


def visible_text(text: str) -> str:
    """Text as read: without the invisible word joiner the app puts after '@' (so no address becomes a link)."""
    return text.replace("\u2060", "")


def sidebar(page) -> str:
    return visible_text(page.locator('[data-testid="stSidebar"]').inner_text())


def nav_titles(page) -> list[str]:
    """The page titles in the sidebar navigation (each link's last line: the first is its icon's name)."""
    return [t.strip().splitlines()[-1] for t in page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()]


def open_page(page, server: Server, path: str, heading: str | None = None) -> None:
    page.goto(f"{server.url}/{path}")
    page.get_by_text("Signed in as").wait_for()
    if heading:
        page.get_by_role("heading", name=heading, exact=True).wait_for()
    wait_idle(page, 300)


def writable_controls(page) -> list[str]:
    """Labels of the enabled actions (buttons, toggles, uploads) that are not read-only.

    Fields, sliders and pickers only preview: nothing is stored until an action is taken.
    """
    labels = page.evaluate("""() => [...document.querySelectorAll(
        'button, input[type=checkbox], [role=switch], [role=checkbox], [data-testid=stFileUploaderDropzone]')]
      .filter(e => !e.disabled && e.getAttribute('aria-disabled') !== 'true' && e.offsetParent !== null)
      .filter(e => {  // a form's fields change nothing unless it can be submitted
        const form = e.closest('[data-testid=stForm]');
        return !form || [...form.querySelectorAll('button')].some(b => /FormSubmit/.test(b.dataset.testid || '')
                                                                       && !b.disabled);
      })
      .filter(e => !e.closest('[data-testid=stSelectbox], [data-testid=stMultiSelect], [data-testid=stRadio],'
                              + '[data-testid=stSelectSlider], [data-testid=stDateInput], [data-testid=stExpander]'
                              + ' summary, [data-testid=stDataFrame], [data-testid=stPopover],'
                              // Streamlit's own "Stop" of a script run in progress: it stores nothing
                              + '[data-testid=stStatusWidget]'))
      .map(e => (e.getAttribute('aria-label') || e.innerText || e.getAttribute('data-testid') || e.tagName)
                .replace(/^[a-z_]+\\n/, '').trim())""")
    return [x for x in labels if not READ_ONLY.match(x)]


def ledger_entries(server: Server, kind: str) -> list[ledger.LedgerEntry]:
    return [e for e in ledger.read(ledger.ledger_path(server.workspace)).entries if e.kind == kind]


def save_override(page, server: Server, family: str = "Tents", frames: list | None = None) -> bytes | None:
    """Save a +10% Promotion override on `family`; with `frames` (the page's sent WebSocket frames), the click's."""
    open_page(page, server, f"demand_review?family={family}", "Demand review")
    page.get_by_text("Consensus in these periods").wait_for()
    slider = page.get_by_role("slider", name="Change %")
    slider.focus()
    for _ in range(10):
        slider.press("ArrowRight")
    wait_idle(page)
    choose(page, page.get_by_label("Reason").first, "Promotion")
    wait_idle(page)
    before = len(ledger_entries(server, "override"))
    mark = len(frames) if frames is not None else 0
    page.get_by_role("button", name="Save override").click()
    wait_idle(page)
    page.wait_for_function("() => !document.body.innerText.includes('not permitted')")
    deadline = time.monotonic() + 60
    while len(ledger_entries(server, "override")) == before:  # stored, and its audit line written
        assert time.monotonic() < deadline, page.inner_text("body")[-1500:]
        time.sleep(0.3)
    clicked = [f for f in (frames or [])[mark:] if isinstance(f, bytes) and b"ov_save" in f]
    return clicked[0] if clicked else None


# -- the sign-in itself ------------------------------------------------------------------------------------
def test_a_signed_out_visitor_sees_only_the_sign_in_and_sign_out_ends_the_session(app_server, browser_for):
    page = browser_for()
    page.goto(f"{app_server.url}/demand_review")  # a shared link, before anyone signed in
    page.get_by_role("button", name="Sign in").wait_for()
    wait_idle(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "sign_in_page.png"))
    body = page.inner_text("body")
    assert "Page not found" not in body and "Demand review" not in body and "Data" not in nav_titles(page)
    assert page.locator('[data-testid="stSidebarNav"]').count() == 0, "page names are listed before sign-in"

    sign_in(page, app_server, "coo")
    assert "Signed in as coo@example.com · admin" in sidebar(page)
    assert "Data" in nav_titles(page) and page.get_by_label("Your name").count() == 0
    cookies = {c["name"] for c in page.context.cookies()}
    assert "_streamlit_user" in cookies

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="End session").click()  # the provider's own sign-out page
    page.get_by_role("button", name="Sign in").wait_for()
    assert "_streamlit_user" not in {c["name"] for c in page.context.cookies()}
    page.goto(f"{app_server.url}/executive")  # a page of the app, after signing out: the sign-in again
    page.get_by_role("button", name="Sign in").wait_for()
    wait_idle(page)
    assert "Signed in as" not in page.inner_text("body") and page.get_by_text("Approve the plan").count() == 0


def test_a_viewer_sees_every_meeting_page_and_no_control_that_changes_anything(app_server, browser_for):
    page = browser_for()
    sign_in(page, app_server, "vic")
    assert "Signed in as vic@example.com · viewer" in sidebar(page)
    assert nav_titles(page) == ["Cycle overview", "Demand review", "Supply review", "Inventory", "Financials",
                                "Scenarios", "Pre-S&OP", "Executive S&OP", "Scorecard"]
    for path in MEETING_PAGES:
        open_page(page, app_server, path)
        assert page.locator("h1").count() >= 1
        assert not page.locator('[data-testid="stException"]').count()
        assert writable_controls(page) == [], (path, writable_controls(page))
        assert "not permitted" not in page.inner_text("body")
    open_page(page, app_server, "demand_review?family=Tents", "Demand review")
    page.get_by_text("Override history").wait_for()
    assert page.get_by_role("button", name="Save override").is_disabled()
    page.screenshot(path=str(SHOTS / "viewer_demand_review.png"))
    # an edited URL: the Data page does not exist for a viewer
    page.goto(f"{app_server.url}/data")
    page.get_by_text("Signed in as").wait_for()
    wait_idle(page)
    assert page.get_by_role("heading", name="Data", exact=True).count() == 0
    assert page.get_by_test_id("stFileUploaderDropzone").count() == 0


# -- planners and admins ----------------------------------------------------------------------------------
def test_a_planner_overrides_builds_a_scenario_and_records_a_decision_but_cannot_load_or_approve(
        app_server, browser_for):
    page = browser_for()
    sign_in(page, app_server, "sam")
    assert "Signed in as supply.planner@example.com · planner" in sidebar(page)
    assert "Data" not in nav_titles(page) and page.get_by_label("Your name").count() == 0

    save_override(page, app_server, family="Tents")
    page.get_by_text("supply.planner@example.com").first.wait_for(state="attached")  # the override history
    assert ledger_entries(app_server, "override")[-1].author == "supply.planner@example.com"

    open_page(page, app_server, "scenarios", "Scenarios")
    page.get_by_label("Name").first.fill("Tents +10% (Sam)")
    page.get_by_role("spinbutton", name="Demand change %").fill("10")
    page.get_by_role("spinbutton", name="Demand change %").press("Tab")
    page.get_by_role("button", name="Save scenario").click()
    page.get_by_text("Tents +10% (Sam)").first.wait_for(state="attached")
    assert ledger_entries(app_server, "scenario")[-1].author == "supply.planner@example.com"

    open_page(page, app_server, "pre_sop", "Pre-S&OP")
    page.get_by_label("Decision to ask for").fill("Overtime on ASSY-2 (Sam)")
    page.get_by_label("Owner").fill("COO")
    page.get_by_role("button", name="Add decision").click()
    page.get_by_text("Overtime on ASSY-2 (Sam)").first.wait_for(state="attached")
    assert ledger_entries(app_server, "decision")[-1].author == "supply.planner@example.com"

    open_page(page, app_server, "executive", "Executive S&OP")
    page.screenshot(path=str(SHOTS / "planner_executive.png"), full_page=True)
    page.get_by_role("button", name="Approve and freeze this plan").wait_for()
    assert page.get_by_role("button", name="Approve and freeze this plan").is_disabled()
    page.goto(f"{app_server.url}/data")  # edited URL
    page.get_by_text("Signed in as").wait_for()
    wait_idle(page)
    assert page.get_by_test_id("stFileUploaderDropzone").count() == 0
    page.screenshot(path=str(SHOTS / "planner_view.png"))
    assert not ledger_entries(app_server, "plan_approved")
    assert "supply.planner@example.com" not in {e.author for e in ledger_entries(app_server, "load")}


def test_two_users_signed_in_at_once_see_each_others_saves_under_their_own_names(app_server, browser_for):
    dana, sam = browser_for(), browser_for()
    sign_in(dana, app_server, "dana")
    sign_in(sam, app_server, "sam")
    save_override(dana, app_server, family="Backpacks")
    open_page(sam, app_server, "pre_sop", "Pre-S&OP")
    sam.get_by_label("Decision to ask for").fill("Second shift on ASSY-1")
    sam.get_by_label("Owner").fill("Plant manager")
    sam.get_by_role("button", name="Add decision").click()
    sam.get_by_text("Second shift on ASSY-1").first.wait_for(state="attached")

    # each sees the other's save, under the other's name
    open_page(sam, app_server, "demand_review?family=Backpacks", "Demand review")
    history = sam.locator('[data-testid="stDataFrame"]').filter(has=sam.get_by_text("demand.planner@example.com"))
    history.first.wait_for(state="attached")
    open_page(dana, app_server, "pre_sop", "Pre-S&OP")
    log = dana.locator('[data-testid="stDataFrame"]').filter(has=dana.get_by_text("Second shift on ASSY-1"))
    log.first.wait_for(state="attached")
    assert log.first.get_by_text("supply.planner@example.com").count() >= 1
    assert "Signed in as demand.planner@example.com" in sidebar(dana)
    assert "Signed in as supply.planner@example.com" in sidebar(sam)

    overrides = [e for e in ledger_entries(app_server, "override") if "Backpacks" in (e.detail or "")]
    assert [e.author for e in overrides] == ["demand.planner@example.com"]
    decided = [e for e in ledger_entries(app_server, "decision") if "Second shift on ASSY-1" in (e.detail or "")]
    assert [e.author for e in decided] == ["supply.planner@example.com"]


@pytest.mark.parametrize("sub, why", [
    ("impostor", "has not confirmed the e-mail address coo@example.com"),
    ("nomail", "carries no e-mail address"),
    ("someone.new@example.com", "has not confirmed the e-mail address someone.new@example.com"),
])
def test_a_user_without_a_verified_address_is_a_viewer_whatever_their_name_says(app_server, browser_for, sub, why):
    page = browser_for()
    sign_in(page, app_server, sub)  # the last one is typed in on the provider's page: a user nobody listed
    text = sidebar(page)
    assert "· viewer" in text and why in text, text
    assert "Data" not in nav_titles(page)
    open_page(page, app_server, "executive", "Executive S&OP")
    assert page.get_by_role("button", name="Approve and freeze this plan").is_disabled()


# -- a crafted request -------------------------------------------------------------------------------------
def _capture_websocket(page) -> dict:
    """Relay the page's Streamlit WebSocket through the test: frames sent and received, and the server side."""
    relay: dict = {"sent": [], "received": [], "server": None}

    def handler(ws) -> None:
        server = ws.connect_to_server()
        relay["server"] = server
        ws.on_message(lambda m: (relay["sent"].append(m), server.send(m)))
        server.on_message(lambda m: (relay["received"].append(m), ws.send(m)))

    page.route_web_socket(re.compile(r"/_stcore/stream"), handler)
    return relay


def _button_id(frames: list, label: str) -> str:
    """The widget id of the button labelled `label`, from the elements the server sent."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    for frame in reversed(frames):
        if not isinstance(frame, bytes):
            continue
        msg = ForwardMsg.FromString(frame)
        if msg.WhichOneof("type") == "delta" and msg.delta.new_element.WhichOneof("type") == "button":
            button = msg.delta.new_element.button
            if button.label == label:
                return button.id
    raise AssertionError(f"no button {label!r} was sent")


def test_a_viewers_forged_save_is_processed_and_changes_nothing(app_server, browser_for):
    """A viewer sends the rerun of their own override panel with a changed slider AND a press of the disabled Save
    button (a forged widget message): the server runs it (the preview follows the forged slider) and stores nothing."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    page = browser_for()
    relay = _capture_websocket(page)
    sign_in(page, app_server, "vic")
    open_page(page, app_server, "demand_review?family=Tents", "Demand review")
    page.get_by_text("Consensus in these periods").wait_for()
    choose(page, page.get_by_label("Reason").first, "Promotion")
    wait_idle(page)
    slider = page.get_by_role("slider", name="Change %")
    slider.focus()
    for _ in range(10):
        slider.press("ArrowRight")
    wait_idle(page)
    metric = page.get_by_test_id("stMetric").filter(has_text="Consensus in these periods")
    at_ten = metric.inner_text()
    assert page.get_by_role("button", name="Save override").is_disabled()
    save_id = _button_id(relay["received"], "Save override")
    reruns = [BackMsg.FromString(f) for f in relay["sent"] if isinstance(f, bytes)]
    own = [m for m in reruns if m.WhichOneof("type") == "rerun_script"
           and any(w.id.endswith("ov_pct") for w in m.rerun_script.widget_states.widgets)][-1]
    forged = BackMsg()
    forged.CopyFrom(own)
    for w in forged.rerun_script.widget_states.widgets:
        if w.id.endswith("ov_pct"):
            assert w.WhichOneof("value") == "double_array_value", w  # a slider sends [value]
            w.double_array_value.data[:] = [40.0]
    forged.rerun_script.widget_states.widgets.append(WidgetState(id=save_id, trigger_value=True))
    overrides_before = len(ledger_entries(app_server, "override"))
    relay["server"].send(forged.SerializeToString())
    page.wait_for_function("(before) => !document.body.innerText.includes(before)", arg=at_ten.splitlines()[-1])
    wait_idle(page)
    assert metric.inner_text() != at_ten  # the forged message was run: the preview shows +40%
    time.sleep(2)
    assert len(ledger_entries(app_server, "override")) == overrides_before
    assert "Saved:" not in page.inner_text("body")


def test_an_admin_approves_the_plan_and_loads_data(app_server, browser_for, tmp_path):
    """Last in this module: the upload replaces the demo company on this server."""
    page = browser_for()
    sign_in(page, app_server, "coo")
    page.screenshot(path=str(SHOTS / "admin_view.png"))
    open_page(page, app_server, "executive", "Executive S&OP")
    page.get_by_text("Approve the plan").wait_for()
    page.get_by_role("button", name="Approve and freeze this plan").click()
    page.get_by_text("Plan of record: v1").wait_for()
    approved = ledger_entries(app_server, "plan_approved")
    assert [e.author for e in approved] == ["coo@example.com"]

    rows = ["Order Date,Item No,Qty"] + [f"{y}-{m:02d}-15,MY-{i},{20 + 3 * m + i}"
                                         for y in (2024, 2025) for m in range(1, 13) for i in range(3)]
    rows += [f"2026-{m:02d}-15,MY-{i},{28 + 3 * m + i}" for m in range(1, 11) for i in range(3)]
    csv = tmp_path / "my_sales.csv"
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    open_page(page, app_server, "data", "Data")
    with page.expect_file_chooser() as chooser:
        page.get_by_test_id("stFileUploaderDropzone").get_by_role("button", name="Upload").last.click()
    chooser.value.set_files(str(csv))
    page.get_by_text(csv.name).first.wait_for()
    wait_idle(page)
    page.get_by_role("button", name="Start my company with this file").click()
    page.get_by_text("Loaded into sales.", exact=True).wait_for()
    assert [e.author for e in ledger_entries(app_server, "load")][-1:] == ["coo@example.com"]


def test_an_unreachable_provider_stops_the_sign_in_with_one_sentence(demo_workspace_file, browser_for, tmp_path):
    """The provider was up when the server started and is down when a user presses Sign in."""
    provider = Provider(USERS)
    srv = signed_in_server(provider, tmp_path / "down", demo_workspace_file)
    srv.start()
    try:
        provider.stop()
        page = browser_for()
        page.goto(srv.url)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("Sign-in is not available right now: the sign-in provider cannot be reached.").wait_for()
        wait_idle(page)
        assert page.url.startswith(srv.url) and "Signed in as" not in page.inner_text("body")
        assert page.locator('[data-testid="stSidebarNav"]').count() == 0
    finally:
        srv.stop()
