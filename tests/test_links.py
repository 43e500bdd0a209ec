"""Share links: round trips, junk that never raises, tampered scenario ids, links to data or overrides that changed."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from sop_core.demand import overrides
from sop_core.meetings import links
from sop_core.meetings.links import COMPARED_NOT_FOUND, SCENARIO_NOT_FOUND, ViewState
from sop_core.planning import plan, scenarios
from sop_core.store.workspace import Provenance, Workspace

ID1, ID2, ID3, ID4, ID5 = (scenarios.new_scenario_id() for _ in range(5))
FULL = ViewState(page="financials", scenario_id=ID1, family="Tents & Shelters, 2P=ü", region="North",
                 sku="TN-1001", horizon=18, compare=(ID2, ID3), fingerprint="0123456789abcdef")


class QueryParams:
    """Behaves like st.query_params: [] gives the last value, get_all every value."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def keys(self) -> list[str]:
        return list(dict.fromkeys(k for k, _ in self.pairs))

    def __getitem__(self, key: str) -> str:
        return [v for k, v in self.pairs if k == key][-1]

    def get_all(self, key: str) -> list[str]:
        return [v for k, v in self.pairs if k == key]


def from_url(u: str, base_path: str = "/app/") -> tuple[ViewState, list[str]]:
    """Parse a link the way the app does: the path after the app's base for the page, the query for the rest."""
    parts = urlsplit(u)
    assert parts.path.startswith(base_path)
    page = parts.path[len(base_path):] or None
    return links.from_params(parse_qs(parts.query, keep_blank_values=True), page=page)


# -- building and reading -----------------------------------------------------------------------------
def test_params_are_short_and_stable() -> None:
    assert FULL.to_params() == {
        "page": "financials", "s": ID1, "cmp": f"{ID2},{ID3}", "family": "Tents & Shelters, 2P=ü", "region": "North",
        "sku": "TN-1001", "h": "18", "fp": "0123456789abcdef",
    }
    assert ViewState().to_params() == {}


@pytest.mark.parametrize("state", [FULL, ViewState(), ViewState(page="home"), ViewState(scenario_id=ID1),
                                   ViewState(compare=(ID4,), horizon=1), ViewState(family="家族 😀", horizon=60)])
def test_round_trip_params_and_url(state: ViewState) -> None:
    assert links.from_params(state.to_params()) == (state, [])
    assert from_url(links.url("https://sop.example.com/app/", state)) == (state, [])
    assert links.from_params(QueryParams(list(state.to_params().items()))) == (state, [])


def test_url_puts_the_page_in_the_path() -> None:
    u = links.url("http://localhost:8501/", ViewState(page="financials", scenario_id=ID1, family="A&B"))
    assert u == f"http://localhost:8501/financials?s={ID1}&family=A%26B"
    assert links.url("http://localhost:8501", ViewState()) == "http://localhost:8501/"
    assert links.url("http://localhost:8501/?old=1#x", ViewState(horizon=6)) == "http://localhost:8501/?h=6"


def test_the_path_wins_over_a_page_parameter() -> None:
    state, problems = links.from_params({"page": "inventory"}, page="/financials")
    assert state.page == "financials" and problems == []
    state, problems = links.from_params({}, page="../../etc")
    assert state.page is None and problems == ["the page in the link is not a page of this app; showing the default page"]


# -- junk never raises -------------------------------------------------------------------------------
def test_repeated_keys_are_dropped_with_a_problem() -> None:
    state, problems = links.from_params({"family": ["Tents", "Bags"], "h": "12"})
    assert state == ViewState(horizon=12)
    assert problems == ["parameter 'family' is given 2 times; ignored"]
    state, problems = links.from_params(QueryParams([("s", ID1), ("s", ID2), ("region", "North")]))
    assert state == ViewState(region="North") and problems == [SCENARIO_NOT_FOUND]


@pytest.mark.parametrize("params, expected, problem", [
    ({"utm_source": "mail"}, ViewState(), "unknown parameter 'utm_source' ignored"),
    ({"x" * 500: "1"}, ViewState(), "unknown parameter '" + "x" * 40 + "…' ignored"),
    ({"family": "x" * 201}, ViewState(), "parameter 'family' is longer than 200 characters; ignored"),
    ({"region": "North\x00"}, ViewState(), "parameter 'region' contains control characters; ignored"),
    ({"sku": "A\u202eB"}, ViewState(), "parameter 'sku' contains control characters; ignored"),
    ({"sku": 5}, ViewState(), "parameter 'sku' is not text; ignored"),
    ({"sku": None}, ViewState(), "parameter 'sku' is not text; ignored"),
    ({"family": []}, ViewState(), "parameter 'family' is given 0 times; ignored"),
    ({"h": "abc"}, ViewState(), "parameter 'h' (buckets shown) must be a whole number from 1 to 78; ignored"),
    ({"h": "0"}, ViewState(), "parameter 'h' (buckets shown) must be a whole number from 1 to 78; ignored"),
    ({"h": "-5"}, ViewState(), "parameter 'h' (buckets shown) must be a whole number from 1 to 78; ignored"),
    ({"h": "1e3"}, ViewState(), "parameter 'h' (buckets shown) must be a whole number from 1 to 78; ignored"),
    ({"fp": "' OR 1=1 --"}, ViewState(),
     "parameter 'fp' is not a data fingerprint; cannot tell whether the data changed since the link was made"),
    ({"page": "<script>"}, ViewState(), "the page in the link is not a page of this app; showing the default page"),
    ({"s": "' OR 1=1 --"}, ViewState(), SCENARIO_NOT_FOUND),
    ({"s": "x" * 10_000}, ViewState(), SCENARIO_NOT_FOUND),
    ({"s": ID1 + "\n"}, ViewState(), SCENARIO_NOT_FOUND),
    ({"s": f" {ID1} "}, ViewState(scenario_id=ID1), None),  # surrounding spaces are trimmed
    ({"s": "é" * 22}, ViewState(), SCENARIO_NOT_FOUND),
    ({"cmp": f"{ID1},junk,{ID1}"}, ViewState(compare=(ID1,)), COMPARED_NOT_FOUND),
    ({"cmp": ",".join([ID1, ID2, ID3, ID4, ID5])}, ViewState(compare=(ID1, ID2, ID3, ID4)),
     "at most 4 scenarios are compared; the rest are left out"),
    ({"s": "", "family": "  ", "embed": "true"}, ViewState(), None),  # blanks and Streamlit's own keys
])
def test_junk_is_dropped_with_a_problem(params, expected, problem) -> None:
    state, problems = links.from_params(params)
    assert state == expected
    assert problems == ([problem] if problem else [])


def test_a_params_object_that_misbehaves_never_raises() -> None:
    class Broken:
        def keys(self):
            raise RuntimeError("boom")

    class BrokenValue(dict):
        def __getitem__(self, key):
            raise KeyError(key)

    assert links.from_params(Broken()) == (ViewState(), ["the link's parameters could not be read; showing the "
                                                         "default view"])
    assert links.from_params(BrokenValue({"family": "x"})) == (ViewState(),
                                                                ["parameter 'family' could not be read; ignored"])
    assert links.from_params(None)[0] == ViewState()


def test_many_problems_are_summarised() -> None:
    state, problems = links.from_params({f"k{i}": "1" for i in range(50)})
    assert len(problems) == links.MAX_PROBLEMS
    assert problems[-1] == "… and 39 more problems with the link"


# -- plan settings ----------------------------------------------------------------------------------
PLANNED = ViewState(page="supply_review", family="Tents", prebuild_months=0, excess_cover_months=3,
                    service_level=0.975, fingerprint="0123456789abcdef")


def test_plan_settings_are_carried_in_link_order() -> None:
    assert PLANNED.to_params() == {"page": "supply_review", "family": "Tents", "pb": "0", "xc": "3", "sl": "97.5",
                                   "fp": "0123456789abcdef"}
    assert links.url("http://localhost:8501/", PLANNED) == \
        "http://localhost:8501/supply_review?family=Tents&pb=0&xc=3&sl=97.5&fp=0123456789abcdef"


@pytest.mark.parametrize("state", [PLANNED, ViewState(prebuild_months=6, excess_cover_months=24, service_level=0.999),
                                   ViewState(service_level=0.9), ViewState(prebuild_months=1, service_level=0.5)])
def test_plan_settings_round_trip(state: ViewState) -> None:
    assert links.from_params(state.to_params()) == (state, [])
    assert from_url(links.url("https://sop.example.com/app/", state)) == (state, [])
    assert links.settings_of(links.from_params(state.to_params())[0]) == links.settings_of(state)


def test_plan_settings_at_their_defaults_are_left_out() -> None:
    defaults = ViewState(prebuild_months=2, excess_cover_months=6.0, service_level=0.95)
    assert defaults.to_params() == {}
    assert links.with_settings(ViewState(), plan.DEFAULTS) == ViewState()
    assert links.with_settings(ViewState(family="Tents"), {**plan.DEFAULTS, "prebuild_months": 0}).to_params() == \
        {"family": "Tents", "pb": "0"}
    assert links.settings_of(ViewState()) == plan.DEFAULTS
    assert links.settings_of(ViewState(prebuild_months=0)) == {**plan.DEFAULTS, "prebuild_months": 0}
    # values out of bounds are clamped when a link is made, never written as given
    assert links.with_settings(ViewState(), {"prebuild_months": 12, "excess_cover_months": 0.2,
                                             "service_level": 1.0}).to_params() == {"pb": "6", "xc": "1", "sl": "99.9"}


PB_RULE = "parameter 'pb' (pre-build months) must be a whole number from 0 to 6"
XC_RULE = "parameter 'xc' (excess cover months) must be a whole number from 1 to 24"
SL_RULE = "parameter 'sl' (service level %) must be a number from 50 to 99.9"


@pytest.mark.parametrize("params, expected, problem", [
    ({"pb": "abc"}, ViewState(prebuild_months=2), f"{PB_RULE}; the default 2 is used"),
    ({"pb": "-1"}, ViewState(prebuild_months=2), f"{PB_RULE}; the default 2 is used"),
    ({"pb": "1.5"}, ViewState(prebuild_months=2), f"{PB_RULE}; the default 2 is used"),
    ({"pb": "9"}, ViewState(prebuild_months=6), f"{PB_RULE}; 6 is used"),
    ({"pb": "99999"}, ViewState(prebuild_months=2), f"{PB_RULE}; the default 2 is used"),
    ({"pb": " 0 "}, ViewState(prebuild_months=0), None),
    ({"xc": "0"}, ViewState(excess_cover_months=1), f"{XC_RULE}; 1 is used"),
    ({"xc": "100"}, ViewState(excess_cover_months=24), f"{XC_RULE}; 24 is used"),
    ({"xc": "2.5"}, ViewState(excess_cover_months=6), f"{XC_RULE}; the default 6 is used"),
    ({"sl": "100"}, ViewState(service_level=0.999), f"{SL_RULE}; 99.9% is used"),
    ({"sl": "5"}, ViewState(service_level=0.5), f"{SL_RULE}; 50% is used"),
    ({"sl": "95%"}, ViewState(service_level=0.95), f"{SL_RULE}; the default 95% is used"),
    ({"sl": "1e3"}, ViewState(service_level=0.95), f"{SL_RULE}; the default 95% is used"),
    ({"sl": "nan"}, ViewState(service_level=0.95), f"{SL_RULE}; the default 95% is used"),
    ({"sl": "0.95"}, ViewState(service_level=0.5), f"{SL_RULE}; 50% is used"),  # percent, not a fraction
    ({"pb": ["0", "1"]}, ViewState(), "parameter 'pb' is given 2 times; ignored"),
    ({"pb": "0\x00"}, ViewState(), "parameter 'pb' contains control characters; ignored"),
    ({"pb": ""}, ViewState(), None),
])
def test_tampered_plan_settings_fall_back_or_are_clamped(params, expected, problem) -> None:
    state, problems = links.from_params(params)
    assert state == expected
    assert problems == ([problem] if problem else [])
    p = state.prebuild_months
    assert p is None or 0 <= p <= 6  # whatever the link says, the engines get a value they accept


def test_a_link_the_app_made_fixes_every_plan_setting(workspace: Workspace) -> None:
    fp = links.fingerprint(workspace)
    made = links.open_link(workspace, {"fp": fp, "pb": "0"})
    assert made.ok and made.settings == {**plan.DEFAULTS, "prebuild_months": 0}
    assert links.open_link(workspace, {"fp": fp}).settings == plan.DEFAULTS  # left out = the default
    tampered = links.open_link(workspace, {"fp": fp, "sl": "<b>"})
    assert tampered.settings == plan.DEFAULTS
    assert tampered.messages == (f"{SL_RULE}; the default 95% is used",)
    # a link typed by hand (no fingerprint) fixes only what it names; a bare address fixes nothing
    assert links.open_link(workspace, {"pb": "0"}).settings == {"prebuild_months": 0}
    assert links.open_link(workspace, {}).settings == {}


# -- checking against the workspace -------------------------------------------------------------
def load(ws: Workspace, price: float) -> None:
    """Load a one-row products table."""
    ws.replace_table("products", pd.DataFrame({"sku": ["A"], "family": ["F"], "unit_price": [price],
                                               "unit_cost": [1.0]}), Provenance("products.csv", str(price)))


def test_a_found_scenario_opens_as_made(workspace: Workspace) -> None:
    load(workspace, 10.0)
    sc = scenarios.create(workspace, "Up", {"demand": [{"pct": 10}]}, "alice")
    other = scenarios.create(workspace, "Down", {"demand": [{"pct": -10}]}, "bob")
    state = links.stamp(workspace, ViewState(page="financials", scenario_id=sc.scenario_id,
                                             compare=(other.scenario_id,)))
    status = links.open_link(workspace, parse_qs(urlsplit(links.url("http://h/", state)).query), page="financials")
    assert status.ok and status.messages == ()
    assert status.scenario == sc and status.compared == (other,)
    assert status.state == state and not status.scenario_missing and not status.data_changed


@pytest.mark.parametrize("tampered", ["' OR 1=1 --", "x" * 10_000, "AAAAAAAAAAAAAAAAAAAAAA", "é" * 22, "%00",
                                      "<img src=x onerror=alert(1)>", ["dup", "dup"]])
def test_every_tampered_scenario_id_gets_the_same_generic_message(workspace: Workspace, tampered) -> None:
    sc = scenarios.create(workspace, "Real", {"demand": [{"pct": 10}]}, "alice")
    status = links.open_link(workspace, {"s": tampered, "family": "Tents"})
    assert status.messages == (SCENARIO_NOT_FOUND,)
    assert status.scenario is None and status.scenario_missing
    assert status.state == ViewState(family="Tents", fingerprint=links.fingerprint(workspace))
    assert scenarios.get(workspace, sc.scenario_id) == sc  # nothing broken


def test_an_unknown_compared_scenario_is_left_out(workspace: Workspace) -> None:
    sc = scenarios.create(workspace, "Real", {"demand": [{"pct": 10}]}, "alice")
    status = links.check(workspace, ViewState(compare=(ID5, sc.scenario_id, ID4)))
    assert status.compared == (sc,) and status.state.compare == (sc.scenario_id,)
    assert status.messages == (COMPARED_NOT_FOUND,)


def test_a_link_to_data_that_changed_says_since_when_its_data_was_current(workspace: Workspace) -> None:
    load(workspace, 10.0)
    loaded_at = workspace.scalar("SELECT max(loaded_at) FROM loads")
    state = links.stamp(workspace, ViewState(page="financials"))
    assert links.check(workspace, state).ok
    load(workspace, 11.0)  # someone uploads new prices
    status = links.check(workspace, state)
    assert status.data_changed and status.link_state_since == loaded_at
    assert status.messages == (f"This link was made on the data and overrides as of {loaded_at:%d %b %Y %H:%M} "
                               "UTC; the data or the overrides changed since this link was made.",)
    assert status.state.fingerprint == links.fingerprint(workspace)  # what is shown now is the new data
    load(workspace, 10.0)  # the same content again: the link's data is back
    assert links.check(workspace, state).ok


def test_a_fingerprint_this_workspace_never_had(workspace: Workspace) -> None:
    load(workspace, 10.0)
    status = links.check(workspace, ViewState(fingerprint="ffffffffffffffff"))
    assert status.data_changed and status.link_state_since is None
    assert status.messages == ("This link was made on earlier data and overrides (no longer in this workspace); "
                               "the data or the overrides changed since this link was made.",)


# -- the fingerprint covers the overrides (the consensus inputs) -----------------------------------
JAN = pd.Timestamp("2026-01-01")
RUN = "run-1"
STATISTICAL = pd.DataFrame({"series_id": ["A | N"], "sku": ["A"], "region": ["N"], "family": ["F"], "period": [JAN],
                            "value": [100.0], "lower": [90.0], "upper": [110.0], "model": ["prophet"]})


def save_override(ws: Workspace, pct: float) -> overrides.Override:
    """A +pct% override of family F in January 2026."""
    return overrides.save_override(ws, RUN, STATISTICAL, overrides.OverrideInput(
        family="F", period_from=JAN, period_to=JAN, kind="percent", value=pct, reason="Promotion"), "alice")


def test_with_no_override_the_fingerprint_is_the_data_fingerprint(workspace: Workspace) -> None:
    load(workspace, 10.0)
    assert overrides.latest_id(workspace) is None
    assert links.fingerprint(workspace) == workspace.fingerprint()  # links made before any override still match


def test_an_override_saved_after_the_link_changes_the_fingerprint(workspace: Workspace) -> None:
    load(workspace, 10.0)
    state = links.stamp(workspace, ViewState(page="demand_review", family="F"))
    assert links.fingerprint(workspace) == state.fingerprint  # no change: the same fingerprint
    assert links.check(workspace, state).ok
    data = workspace.fingerprint()

    first = save_override(workspace, 10.0)
    assert overrides.latest_id(workspace) == first.override_id
    assert workspace.fingerprint() == data  # the loaded tables did not change...
    after = links.fingerprint(workspace)
    assert after != state.fingerprint and re.fullmatch(r"[0-9a-f]{16}", after)  # ...but the link's fingerprint did
    assert links.fingerprint(workspace) == after  # stable while nothing changes
    status = links.check(workspace, state)
    loaded_at = workspace.scalar("SELECT max(loaded_at) FROM loads")
    assert status.data_changed and status.link_state_since == loaded_at
    assert status.messages == (f"This link was made on the data and overrides as of {loaded_at:%d %b %Y %H:%M} "
                               "UTC; the data or the overrides changed since this link was made.",)
    assert status.state.fingerprint == after

    # a link made with the override in force opens as made; undoing the override changes it again
    with_override = links.stamp(workspace, state)
    assert links.check(workspace, with_override).ok
    overrides.undo(workspace, first.override_id, "bob", run_key=RUN, statistical=STATISTICAL)
    status = links.check(workspace, with_override)
    assert status.data_changed
    assert status.link_state_since == pd.Timestamp(first.created_at).to_pydatetime()
    assert links.fingerprint(workspace) not in (state.fingerprint, after)


def test_the_fingerprint_reads_the_overrides_with_one_query(workspace: Workspace, monkeypatch) -> None:
    load(workspace, 10.0)
    save_override(workspace, 5.0)
    calls: list[str] = []
    for name in ("query", "scalar"):
        real = getattr(workspace, name)
        monkeypatch.setattr(workspace, name, lambda sql, *a, _real=real, **k: calls.append(sql) or _real(sql, *a, **k))
    links.fingerprint(workspace)
    assert len(calls) == 2  # the loads (Workspace.fingerprint) and the newest override
    assert sum("overrides" in sql for sql in calls) == 1


# -- snapshot links ------------------------------------------------------------------------------------------------
BLOCKS = [{"kind": "text", "text": "2026 outlook $32.1M", "style": "bold"},
          {"kind": "metrics", "items": [{"label": "Units short", "value": "970"}]},
          {"kind": "table", "title": "By family", "frame": links.frame_data(pd.DataFrame(
              {"Family": ["Tents <b>"], "Units": ["104,998"], "period": [pd.Timestamp("2026-12-01")],
               "x": [float("nan")]}))}]


def snapshot_link(ws: Workspace, page: str = "executive", blocks=BLOCKS) -> tuple[ViewState, links.Snapshot]:
    return links.save_snapshot(ws, ViewState(page=page, family="Tents"), blocks, "alice")


def test_a_snapshot_is_stored_with_the_link_and_read_back(workspace: Workspace) -> None:
    load(workspace, 10.0)
    state, snap = snapshot_link(workspace)
    assert state.snapshot == snap.snapshot_id and links.SNAPSHOT_PATTERN.fullmatch(snap.snapshot_id)
    assert state.fingerprint == links.fingerprint(workspace) == snap.fingerprint
    assert state.to_params()["snap"] == snap.snapshot_id
    assert list(state.to_params()) == ["page", "family", "snap", "fp"]  # link order: snap before fp
    assert links.from_params(state.to_params()) == (state, [])
    read = links.get_snapshot(workspace, snap.snapshot_id)
    assert read == snap and read.params == {"family": "Tents", "fp": snap.fingerprint}
    table = links.data_frame(read.blocks[2]["frame"])
    assert table.to_dict("records") == [{"Family": "Tents <b>", "Units": "104,998", "period": "2026-12-01T00:00:00",
                                         "x": None}]  # dates as ISO text, NaN as null: JSON that reads back
    assert read.as_of_text.startswith(f"as of {read.as_of:%d %b %Y} (made ")


def test_a_snapshot_link_keeps_its_numbers_after_a_later_change(workspace: Workspace) -> None:
    load(workspace, 10.0)
    state, snap = snapshot_link(workspace)
    status = links.open_link(workspace, parse_qs(urlsplit(links.url("http://h/", state)).query), page="executive")
    assert status.snapshot == snap and not status.snapshot_changed and not status.data_changed
    load(workspace, 12.0)  # a later change of the data (an override works the same way)
    status = links.open_link(workspace, parse_qs(urlsplit(links.url("http://h/", state)).query), page="executive")
    assert status.snapshot == snap and status.snapshot_changed and status.data_changed
    assert status.snapshot.blocks[0]["text"] == "2026 outlook $32.1M"
    assert status.state.snapshot == snap.snapshot_id


@pytest.mark.parametrize("value", ["0" * 32, "not-a-snapshot", "A" * 32, "'; DROP TABLE link_snapshots;--"])
def test_an_unknown_or_malformed_snapshot_opens_the_link_live(workspace: Workspace, value: str) -> None:
    load(workspace, 10.0)
    status = links.open_link(workspace, {"snap": value}, page="executive")
    assert status.snapshot is None and status.state.snapshot is None
    assert links.SNAPSHOT_NOT_FOUND in status.messages
    assert workspace.scalar("SELECT count(*) FROM link_snapshots") == 0


def test_a_snapshot_of_another_page_or_an_earlier_company_is_not_shown(workspace: Workspace) -> None:
    from sop_core.intake import company

    load(workspace, 10.0)
    state, snap = snapshot_link(workspace, page="financials")
    status = links.open_link(workspace, {"snap": snap.snapshot_id}, page="executive")
    assert status.snapshot is None and links.SNAPSHOT_NOT_FOUND in status.messages
    company.start_company(workspace, "alice", "Acme")  # the numbers of a company the workspace no longer holds
    assert links.get_snapshot(workspace, snap.snapshot_id) is None


def test_a_snapshot_must_be_small_and_well_formed(workspace: Workspace) -> None:
    with pytest.raises(ValueError, match="at least one block"):
        snapshot_link(workspace, blocks=[])
    with pytest.raises(ValueError, match="kind"):
        snapshot_link(workspace, blocks=[{"kind": "html", "text": "<script>"}])
    with pytest.raises(ValueError, match="over the"):
        snapshot_link(workspace, blocks=[{"kind": "text", "text": "x" * (links.MAX_SNAPSHOT_BYTES + 1)}])
    with pytest.raises(ValueError, match="page"):
        links.save_snapshot(workspace, ViewState(), BLOCKS, "alice")
    assert workspace.scalar("SELECT count(*) FROM link_snapshots") == 0


def test_compare_blocks_puts_the_snapshots_numbers_beside_todays() -> None:
    then = [{"kind": "text", "text": "Outlook $32.1M", "style": "bold"}, {"kind": "text", "text": "Same", "style": "bold"},
            {"kind": "metrics", "items": [{"label": "Units short", "value": "830"}, {"label": "Stockouts", "value": "0"}]}]
    now = [{"kind": "text", "text": "Outlook $32.4M", "style": "bold"}, {"kind": "text", "text": "Same", "style": "bold"},
           {"kind": "metrics", "items": [{"label": "Units short", "value": "2,593"}]}]
    rows, texts = links.compare_blocks(then, now)
    assert rows == [("Units short", "830", "2,593"), ("Stockouts", "0", "—")]
    assert texts == [("Outlook $32.1M", "Outlook $32.4M")]
    assert links.compare_blocks(then, then) == ([("Units short", "830", "830"), ("Stockouts", "0", "0")], [])
