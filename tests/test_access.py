import pandas as pd
import pytest

from sop_core.demand import overrides
from sop_core.meetings import decisions
from sop_core.store import access
from sop_core.store.workspace import Provenance, Workspace

VIEWER = access.Actor("vic@example.com", "viewer")
PLANNER = access.Actor("pat@example.com", "planner")
ADMIN = access.Actor("ada@example.com", "admin")


@pytest.fixture
def control():
    access.enable(True)
    yield
    access.enable(False)
    access.set_actor(None)


def _sales() -> pd.DataFrame:
    return pd.DataFrame({"date": pd.to_datetime(["2026-01-01"]), "sku": ["A"], "quantity": [1.0]})


def _counts(ws: Workspace) -> tuple:
    return (ws.scalar("SELECT count(*) FROM audit_log"), ws.scalar("SELECT count(*) FROM loads"),
            ws.scalar("SELECT count(*) FROM settings"))


def test_roles_from_the_mapping():
    roles = {"admin": ["ADA@example.com "], "planner": ["pat@example.com", "ada@example.com"], "default": "viewer"}
    assert access.role_for("ada@example.com", roles) == "admin"
    assert access.role_for("pat@example.com", roles) == "planner"
    assert access.role_for("stranger@example.com", roles) == "viewer"
    assert access.role_for(None, roles) == "viewer"
    with pytest.raises(ValueError):
        access.role_for("x", {"default": "boss"})


def test_off_by_default_everyone_writes(tmp_path):
    assert not access.enabled()
    with Workspace(tmp_path / "w.duckdb") as ws:
        ws.replace_table("sales", _sales(), Provenance("s.csv", "x"))
        assert ws.has_table("sales")


def test_viewer_cannot_write_anything_and_nothing_changes(tmp_path, control):
    with Workspace(tmp_path / "w.duckdb") as ws:
        with access.acting_as(ADMIN):
            ws.replace_table("sales", _sales(), Provenance("s.csv", "x"))
        before = _counts(ws)
        with access.acting_as(VIEWER):
            with pytest.raises(access.NotPermitted, match="viewer and cannot load data"):
                ws.replace_table("sales", _sales().assign(quantity=9.0), Provenance("s.csv", "y"))
            with pytest.raises(access.NotPermitted):
                ws.set_setting("kpi_targets", {})
            with pytest.raises(access.NotPermitted):
                decisions.record(ws, title="t", owner="o", due_date="2099-01-01", author="vic")
        assert _counts(ws) == before
        assert ws.scalar("SELECT sum(quantity) FROM sales") == 1.0


def test_planner_overrides_but_cannot_load_or_approve(tmp_path, control):
    stat = pd.DataFrame({"series_id": ["A | N"], "sku": ["A"], "region": ["N"], "family": ["F"],
                         "period": pd.to_datetime(["2027-01-01"]), "value": [10.0], "lower": [8.0], "upper": [12.0],
                         "model": ["prophet"]})
    with Workspace(tmp_path / "w.duckdb") as ws:
        with access.acting_as(PLANNER):
            ov = overrides.OverrideInput(period_from="2027-01-01", period_to="2027-01-01", kind="percent", value=10,
                                         reason="Promotion", family="F")
            saved = overrides.save_override(ws, "run1", stat, ov, PLANNER.email)
            assert saved.after_units == pytest.approx(11.0)
            with pytest.raises(access.NotPermitted, match="cannot load data"):
                ws.replace_table("sales", _sales(), Provenance("s.csv", "x"))
        assert not ws.has_table("sales")


def test_no_actor_is_refused_when_control_is_on(tmp_path, control):
    with Workspace(tmp_path / "w.duckdb") as ws:
        with pytest.raises(access.NotPermitted, match="sign in"):
            ws.set_setting("x", 1)


def test_pointing_the_server_at_a_dask_scheduler_is_for_admins(tmp_path, control):
    from sop_core.demand import dask_executor

    assert dask_executor.SCHEDULER_SETTING in access.ADMIN_SETTINGS
    with Workspace(tmp_path / "w.duckdb") as ws:
        access.set_actor(PLANNER)
        ws.set_setting("kpi_targets", {"wape": 0.2})  # ordinary settings: planners may
        with pytest.raises(access.NotPermitted, match="cannot change where the server sends work"):
            ws.set_setting(dask_executor.SCHEDULER_SETTING, "tcp://10.0.0.9:8786")
        assert ws.get_setting(dask_executor.SCHEDULER_SETTING) is None
        access.set_actor(ADMIN)
        ws.set_setting(dask_executor.SCHEDULER_SETTING, "tcp://10.0.0.9:8786")
        assert ws.get_setting(dask_executor.SCHEDULER_SETTING) == "tcp://10.0.0.9:8786"


def test_a_thread_nobody_set_an_actor_in_asks_the_resolver(control, workspace):
    """A Streamlit fragment reruns in a thread of its own, without the app's frame: the resolver names its user."""
    import threading

    results: list[object] = []

    def in_thread() -> None:  # a fresh thread: no actor set in its context
        results.append(access.current())
        try:
            workspace.set_setting("some_setting", 1, None)
            results.append("saved")
        except access.NotPermitted as exc:
            results.append(str(exc))

    try:
        access.resolve_with(lambda: PLANNER)
        t = threading.Thread(target=in_thread)
        t.start()
        t.join()
        assert results == [PLANNER, "saved"]
        assert workspace.scalar("SELECT author FROM audit_log WHERE subject = 'some_setting'") == PLANNER.email
        with access.acting_as(None):  # set explicitly: nobody, whatever the resolver says
            assert access.current() is None
        access.resolve_with(None)
        results.clear()
        t = threading.Thread(target=in_thread)
        t.start()
        t.join()
        assert results[0] is None and "sign in" in str(results[1])
    finally:
        access.resolve_with(None)


def test_a_change_in_someone_elses_name_is_refused(control, workspace):
    with access.acting_as(PLANNER):
        with pytest.raises(access.NotPermitted, match="in the name of 'ada@example.com'"):
            workspace.set_setting("some_setting", 1, "ada@example.com")
        workspace.set_setting("some_setting", 2, "PAT@example.com ")  # the same person, however typed
        workspace.set_setting("other_setting", 3, None)  # no name given: the signed-in user
    authors = workspace.query("SELECT subject, author FROM audit_log WHERE kind = 'setting'")
    assert sorted(map(tuple, authors.values.tolist())) == [("other_setting", PLANNER.email),
                                                           ("some_setting", PLANNER.email)]
