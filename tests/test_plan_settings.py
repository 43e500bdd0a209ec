"""Plan settings: checking, the saved set (audited, role-checked, bad stored values ignored) and who reads it."""
from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from sop_core.planning import plan
from sop_core.planning import settings as plan_settings
from sop_core.planning.settings import DEFAULTS, PLAN_SETTINGS
from sop_core.store import access
from sop_core.store.workspace import Workspace

PLANNER = access.Actor("pat@example.com", "planner")
VIEWER = access.Actor("vic@example.com", "viewer")
CHANGED = {"prebuild_months": 0, "excess_cover_months": 3, "service_level": 0.99}


@pytest.fixture
def control():
    access.enable(True)
    yield
    access.enable(False)
    access.set_actor(None)


def test_check_fills_the_defaults_and_types_the_values() -> None:
    assert plan_settings.check({}) == DEFAULTS
    got = plan_settings.check({"prebuild_months": 0.0, "excess_cover_months": 3, "service_level": 0.975})
    assert got == {"prebuild_months": 0, "excess_cover_months": 3.0, "service_level": 0.975}
    assert isinstance(got["prebuild_months"], int) and isinstance(got["excess_cover_months"], float)


@pytest.mark.parametrize("values, words", [
    ({"prebuild_months": 7}, "prebuild_months (pre-build horizon (months)) must be a whole number from 0 to 6, not 7"),
    ({"prebuild_months": 1.5}, "must be a whole number from 0 to 6, not 1.5"),
    ({"prebuild_months": True}, "must be a whole number from 0 to 6, not True"),
    ({"excess_cover_months": 0}, "excess_cover_months (excess cover (months)) must be a whole number from 1 to 24"),
    ({"service_level": 95}, "service_level (service level) must be a number from 0.5 to 0.999, not 95"),
    ({"service_level": float("nan")}, "must be a number from 0.5 to 0.999, not nan"),
    ({"service_level": "0.95"}, "must be a number from 0.5 to 0.999, not '0.95'"),
    ({"horizon": 12}, "unknown plan setting 'horizon'"),
])
def test_check_names_the_bad_setting(values, words) -> None:
    with pytest.raises(ValueError, match=re.escape(words)):
        plan_settings.check(values)


def test_clamp_moves_values_into_bounds() -> None:
    assert plan_settings.clamp("prebuild_months", 9) == 6
    assert plan_settings.clamp("prebuild_months", -3) == 0
    assert plan_settings.clamp("excess_cover_months", 2.6) == 3.0
    assert plan_settings.clamp("service_level", 1.0) == 0.999
    assert plan_settings.clamp("service_level", 0.975) == 0.975


def test_saved_is_the_defaults_until_saved_and_save_is_audited(workspace: Workspace) -> None:
    assert plan_settings.saved(workspace) == DEFAULTS
    stored = plan_settings.save(workspace, CHANGED, "pat")
    assert stored == plan_settings.saved(workspace) == {"prebuild_months": 0, "excess_cover_months": 3.0,
                                                        "service_level": 0.99}
    event = workspace.query("SELECT author, kind, subject, detail FROM audit_log WHERE kind = 'setting'").iloc[-1]
    assert (event["author"], event["subject"]) == ("pat", PLAN_SETTINGS)
    assert json.loads(event["detail"]) == {"value": stored}


def test_a_bad_value_stores_nothing(workspace: Workspace) -> None:
    plan_settings.save(workspace, CHANGED, "pat")
    events = workspace.scalar("SELECT count(*) FROM audit_log")
    with pytest.raises(ValueError, match="service_level"):
        plan_settings.save(workspace, {**CHANGED, "prebuild_months": 2, "service_level": 1.5}, "pat")
    assert plan_settings.saved(workspace)["prebuild_months"] == 0
    assert workspace.scalar("SELECT count(*) FROM audit_log") == events


def test_a_bad_stored_value_gives_its_default(workspace: Workspace) -> None:
    workspace.set_setting(PLAN_SETTINGS, {"prebuild_months": "lots", "excess_cover_months": 4, "service_level": 7})
    assert plan_settings.saved(workspace) == {**DEFAULTS, "excess_cover_months": 4.0}
    workspace.set_setting(PLAN_SETTINGS, ["not", "a", "mapping"])
    assert plan_settings.saved(workspace) == DEFAULTS


def test_planners_save_viewers_are_refused(workspace: Workspace, control) -> None:
    with access.acting_as(VIEWER), pytest.raises(access.NotPermitted):
        plan_settings.save(workspace, CHANGED, VIEWER.email)
    assert plan_settings.saved(workspace) == DEFAULTS
    with access.acting_as(PLANNER):
        plan_settings.save(workspace, CHANGED, PLANNER.email)
    assert plan_settings.saved(workspace)["prebuild_months"] == 0


def test_plan_inputs_use_the_saved_settings_unless_told(workspace: Workspace) -> None:
    cons = pd.DataFrame(columns=list(plan.CONSENSUS_COLUMNS))
    inputs = plan.PlanInputs.from_workspace(workspace, cons)
    assert (inputs.prebuild_months, inputs.excess_cover_months, inputs.service_level) == (2, 6.0, 0.95)
    plan_settings.save(workspace, CHANGED, "pat")
    inputs = plan.PlanInputs.from_workspace(workspace, cons)
    assert (inputs.prebuild_months, inputs.excess_cover_months, inputs.service_level) == (0, 3.0, 0.99)
    inputs = plan.PlanInputs.from_workspace(workspace, cons, prebuild_months=4)
    assert (inputs.prebuild_months, inputs.service_level) == (4, 0.99)


def test_describe_and_differing() -> None:
    assert plan_settings.describe(DEFAULTS) == "pre-build 2 months · excess beyond 6 months · service level 95%"
    assert plan_settings.describe({**DEFAULTS, "prebuild_months": 1, "service_level": 0.975},
                                  ("prebuild_months", "service_level")) == "pre-build 1 month · service level 97.5%"
    assert plan_settings.differing(DEFAULTS, {**DEFAULTS, "excess_cover_months": 6}) == ()
    assert plan_settings.differing(CHANGED, DEFAULTS) == plan_settings.NAMES
