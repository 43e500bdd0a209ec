"""Demand review page: override reasons, the override panel and history, flags (streamlit.testing.v1.AppTest).

The reasons grid is a keyed st.data_editor; a test edits it the way the browser does, by giving
its edit state (edited_rows, added_rows, deleted_rows) before the run.
"""
from __future__ import annotations

import pytest
from apptest_support import app, app_workspace, demo_workspace_file, open_page, reset_access, signed_in  # noqa: F401  (fixtures)

from sop_core import escape
from sop_core.demand import forecast, overrides, review

pytestmark = pytest.mark.usefixtures("reset_access")


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


def _metric(at, label: str):
    """The st.metric with `label`."""
    return next(m for m in at.metric if m.label == label)


def _history_table(at):
    """The override history as the page shows it (the frame given to st.dataframe)."""
    return next(df.value for df in at.dataframe if "status" in df.value.columns and "change" in df.value.columns)


def test_a_saved_override_resets_the_panel_and_says_what_was_saved(app):
    at = open_page(app, "demand_review")
    at.selectbox(key="dr_family").set_value("Tents").run()
    before = _metric(at, "Consensus in these periods").value
    at.slider(key="ov_pct").set_value(10).run()
    preview = _metric(at, "Consensus in these periods")
    before_n, after_n = (int(v.removesuffix(" units").replace(",", "")) for v in (before, preview.value))
    assert after_n > before_n
    assert abs(int(preview.delta.removeprefix("+").removesuffix(" units").replace(",", "")) - (after_n - before_n)) <= 1
    assert preview.delta.startswith("+")  # a signed delta: +1,342 units
    at.selectbox(key="ov_reason").set_value("Promotion").run()
    at.button(key="ov_save").click().run()
    assert not at.exception, at.exception

    # the panel starts again from no change: a second click cannot stack another +10%
    assert at.slider(key="ov_pct").value == 0
    assert at.selectbox(key="ov_reason").value is None
    assert at.button(key="ov_save").disabled
    assert _metric(at, "Consensus in these periods").value == preview.value  # the consensus holds the change
    assert [s.value for s in at.success] == [  # names and the reason are data: shown as text
        "Saved: " + escape.plain(f"Tents · Nov 2026–Jan 2027 · +10% (Promotion): {before_n:,} → {after_n:,} units")]
    assert len(overrides.history(app_workspace(at))) == 1

    row = _history_table(at).iloc[0]
    assert (row["family"], row["region"], row["sku"], row["periods"], row["change"], row["reason"], row["comment"],
            row["status"]) == ("Tents", "All", "All", "Nov 2026–Jan 2027", "+10%", "Promotion", "", "In force")
    assert (row["before_units"], row["after_units"]) == (before_n, after_n)
    assert at.selectbox(key="undo_pick").options[0].endswith("planner · Tents · Nov 2026–Jan 2027 · +10% (Promotion)")

    at.slider(key="ov_pct").set_value(5).run()  # the confirmation is for the save just made, not every later run
    assert not at.success


def test_the_flag_toggle_counts_the_series_the_cycle_overview_counts(app):
    app.run()  # the Cycle overview
    assert not app.exception, app.exception
    home = " ".join(m.value for m in app.markdown)
    at = open_page(app, "demand_review")
    ws = app_workspace(at)
    run = forecast.load_run(ws, forecast.saved_settings(ws))
    n = int(review.flagged(run.metrics).sum())
    assert 0 < n < len(run.metrics)
    assert f"{n} series flagged for review: {review.FLAGGED_MEANING}" in home
    assert home.count(review.FLAGGED_MEANING) == 1
    toggle = at.toggle(key="dr_flagged")
    assert toggle.label == f"Only series flagged for review ({n})"
    toggle.set_value(True).run()
    table = next(df.value for df in at.dataframe if "flags" in df.value.columns)
    assert len(table) == n and review.flagged(table).all()


def test_labels_say_sku_and_the_horizon_unit(app):
    at = open_page(app, "demand_review")
    settings = forecast.saved_settings(app_workspace(at))
    assert at.selectbox(key="dr_sku").label == "SKU"
    assert not [w.label for w in at.selectbox if w.label == "Sku"]
    assert any(f"horizon {settings.horizon} {settings.bucket}s" in c.value for c in at.caption)
