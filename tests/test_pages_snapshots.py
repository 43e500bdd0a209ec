"""Snapshot links on the meeting pages with a Share button (issue 14, item 6), on the demo company (AppTest).

A pre-read link made with "Make a snapshot link" keeps the page's headline numbers: opened after a later
override it shows them as they were, marked "as of" the day it was made, with "Compare with today" showing the
snapshot's figures beside today's above the live page. The Executive page's own tests are in
test_pages_executive.py; this file runs the same story on the other pages.
"""
from __future__ import annotations

import pytest
from apptest_support import app, app_workspace, demo_workspace_file, open_page  # noqa: F401
from streamlit.testing.v1 import AppTest

from sop_core import clock
from sop_core.demand import forecast, overrides
from sop_core.meetings import links
from sop_core.store.workspace import Workspace


def late_override(ws: Workspace, family: str = "Tents", pct: float = 40.0) -> None:
    """An override saved after the pre-read went out: more Tents from the first plan month on."""
    run = forecast.load_run(ws, forecast.saved_settings(ws))
    overrides.save_override(ws, run.run_key, run.forecast, overrides.OverrideInput(
        family=family, period_from="2026-12-01", period_to="2027-06-01", kind="percent", value=pct,
        reason="Promotion"), author="alice")


def make_snapshot(at: AppTest, page: str) -> links.Snapshot:
    """Click "Make a snapshot link" in the page's Share popover; the snapshot its link names."""
    at.button(key="share_make_snapshot").click().run()
    assert not at.exception, at.exception
    code = [c.value for c in at.code if "snap=" in c.value]
    assert len(code) == 1, [c.value for c in at.code]
    snap = links.get_snapshot(app_workspace(at), code[0].split("snap=")[1].split("&")[0])
    assert snap is not None and snap.page == page and snap.as_of == clock.today()
    return snap


def reader_of(at: AppTest, page: str, snap: links.Snapshot) -> AppTest:
    """Another session opening the snapshot link (its snap and fp parameters) on `page`."""
    reader = AppTest.from_file(str(at._script_path), default_timeout=120)
    reader.query_params.update({"snap": snap.snapshot_id, "fp": snap.fingerprint} | snap.params)
    reader.switch_page(f"pages/{page}.py")
    reader.run()
    assert not reader.exception, reader.exception
    return reader


def shown_metrics(at: AppTest) -> dict[str, str]:
    """Label -> value of every st.metric, labels as the browser shows them (a snapshot escapes its labels)."""
    return {m.label.replace("\\", ""): m.value for m in at.metric}


PAGES = {  # page -> (the blocks its snapshot must hold, the end of the title of a table it must hold)
    "financials": ({"metrics", "revenue_by_month", "bridge"}, "By family"),
    "supply_review": ({"metrics", "text", "family_supply"}, "resource-months and the families causing the load"),
    "inventory": ({"metrics", "text"}, "Exceptions, largest money first"),
    "pre_sop": ({"metrics"}, "Exceptions that need a decision, ranked by money"),
    "demand_review": ({"metrics"}, "consensus by month"),
}


@pytest.mark.parametrize("page", list(PAGES))
def test_a_snapshot_link_shows_the_page_numbers_as_of_when_it_was_made_after_a_later_override(app, page):
    at = open_page(app, page)
    before = shown_metrics(at)
    assert before
    snap = make_snapshot(at, page)
    kinds = {b.get("chart") or b["kind"] for b in snap.blocks}
    needed, table = PAGES[page]
    assert needed <= kinds, kinds
    assert [b for b in snap.blocks if b["kind"] == "table" and table in b["title"]], snap.blocks
    stored = {i["label"]: i["value"] for b in snap.blocks if b["kind"] == "metrics" for i in b["items"]}
    assert stored and stored == {label: before[label] for label in stored}  # the headline figures, as shown
    assert len(stored) >= len(before) - 1  # all of them (the Demand review's override preview is not a headline)
    cells = [str(c) for b in snap.blocks if b["kind"] == "table" for row in b["frame"]["rows"] for c in row]
    assert cells and all(isinstance(c, str) for c in cells) and "None" not in cells and "nan" not in cells

    late_override(app_workspace(at))
    reader = reader_of(at, page, snap)
    shown = "\n".join(i.value.replace("\\", "") for i in reader.info)
    assert f"Snapshot {snap.as_of_text}" in shown, shown
    assert shown_metrics(reader) == stored  # the old numbers, not today's
    assert [m for m in reader.markdown if table in m.value.replace("\\", "")]  # the table's title, then the table
    assert "share_make_snapshot" not in [b.key for b in reader.button]  # not today's page

    reader.button(key="share_compare").click().run()  # compare with today: the live page under the snapshot
    assert not reader.exception, reader.exception
    assert [e for e in reader.expander if e.label.startswith("Snapshot as of")]
    then_today = next(df.value for df in reader.dataframe if "Today" in df.value.columns).set_index("")
    assert list(then_today.index) == list(stored)
    assert then_today.iloc[:, 0].to_dict() == stored
    assert (then_today.iloc[:, 0] != then_today["Today"]).any(), then_today  # the late override moved a number
