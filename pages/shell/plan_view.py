"""The plan behind the Supply review, Inventory and Financials pages: one `sop_core.planning.plan.evaluate`, cached by content.

Every number on those pages comes from `plan.evaluate(plan.PlanInputs.from_workspace(ws, consensus, ...))`,
the function the scenario comparison runs too, so a page and a scenario baseline never disagree.
The result is cached per (workspace file, data fingerprint + loaded tables, forecast run key, content
hash of the consensus, plan settings): a rerun that changes none of them costs a few small queries
and an unpickle, never the engines. Under that session cache the evaluated plan is stored in the
workspace (`sop_core.planning.plan_store`), so other sessions and a restarted server read it too.

The page frames (utilisation matrix, gap table, exception list, monthly outlook, ...) come with the
plan from `sop_core.planning.plan.build_view` (a `plan.PlanView`); the reshapes themselves live in
`sop_core.planning.supply`, `sop_core.planning.inventory` and `sop_core.planning.finance`.

Also here: the "this page needs table X" and "run the demand review first" empty states, the plan
settings of the session (pre-build months, excess cover, service level: set on the Supply review and
Inventory pages or by a link, `use_settings`; saved as the workspace's plan settings, which the board
pack uses, with `save_button`), and the pages' small text helpers (the caption naming what the
numbers are built on, `st.metric` delta arguments, an engine module's rules as Markdown).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from sop_core import contract
from sop_core.demand import forecast
from sop_core.demand.history import is_money
from sop_core.escape import plain
from sop_core.intake import demo
from sop_core.intake.health import DataState, data_state
from sop_core.planning import plan, plan_store
from sop_core.planning import settings as plan_settings
from sop_core.planning.scenarios import Scenario
from sop_core.store import access
from sop_core.store.workspace import Workspace, frame_sha256

from .demand import consensus_frame, forecast_run
from .state import author, may, page_link

PREBUILD_KEY = "plan_prebuild_months"  # session keys shared by the plan pages
EXCESS_KEY = "plan_excess_cover_months"
SERVICE_KEY = "plan_service_level"
SESSION_KEYS = {"prebuild_months": PREBUILD_KEY, "excess_cover_months": EXCESS_KEY, "service_level": SERVICE_KEY}
WIDGET_KEYS = {PREBUILD_KEY: "sr_prebuild", EXCESS_KEY: "inv_excess_cover", SERVICE_KEY: "inv_service_level"}
PREBUILD_RANGE = tuple(int(b) for b in plan_settings.BOUNDS["prebuild_months"])
EXCESS_RANGE = tuple(int(b) for b in plan_settings.BOUNDS["excess_cover_months"])
SAVE_LABEL = "Save as the plan settings"
ALL = "All"


# -- empty states ----------------------------------------------------------------------------------
def require_tables(ws: Workspace, page: str, tables: Sequence[str]) -> DataState:
    """Say plainly that nothing was checked and which table the page still needs (with the demo company's file as
    an example), and stop. A history in money needs no products table (its prices are 1 per currency unit).

    Returns the data state (tables present, content key) for the page's notes and `plan_view`.
    """
    data = data_state(ws)
    if is_money(ws):  # a history in money is valued at its amounts: products only add families and costs
        tables = [t for t in tables if t != "products"]
    missing = [t for t in tables if t not in data.present]
    if not missing:
        return data
    names = " and ".join(missing)
    plural = len(missing) > 1
    st.info(f"Not checked: the {page} needs the {names} table{'s' if plural else ''} — load "
            f"{'them' if plural else 'it'} on the Data page.", icon=":material/database:")
    for name in missing:
        spec = contract.TABLES[name]
        cols = ", ".join(f"**{c}**" if c in spec.required else c for c in spec.column_names)
        either = "".join(f" (at least one of {' or '.join(g)})" for g in spec.one_of)
        st.markdown(f"**{spec.label}** (`{name}`), {spec.grain}: {cols}{either}. Bold columns are required.")
        st.download_button(f"Example: the demo company's {name}.csv", demo.csv_bytes(name),
                           file_name=f"{name}.csv", mime="text/csv", icon=":material/download:",
                           key=f"example_{name}", on_click="ignore")
    page_link("data.py", label="Go to Data", icon=":material/database:")
    st.stop()


def demand_plan(ws: Workspace) -> tuple[forecast.ForecastRun, pd.DataFrame]:
    """The forecast run and consensus of the current data and settings; stops with a link when there is none.

    These pages never fit: the Demand review runs the forecast.
    """
    run = forecast_run(ws, forecast.saved_settings(ws))
    if run is None:
        st.info("Run the demand review first: these numbers start from its consensus demand plan, and there is "
                "no forecast yet for the current data and forecast settings.", icon=":material/trending_up:")
        st.page_link("pages/demand_review.py", label="Go to the Demand review", icon=":material/trending_up:")
        st.stop()
    return run, consensus_frame(ws, run)


# -- settings in the session ------------------------------------------------------------------------
def saved_settings(ws: Workspace) -> dict[str, Any]:
    """The workspace's plan settings (what the board pack and `PlanInputs.from_workspace` use)."""
    return plan_settings.saved(ws)


def settings(ws: Workspace, saved: dict[str, Any] | None = None) -> dict[str, Any]:
    """The plan settings of this session: as set on the pages or by a link, else the saved ones (`saved_settings`)."""
    stored = saved_settings(ws) if saved is None else saved
    return {
        "prebuild_months": int(st.session_state.get(PREBUILD_KEY, stored["prebuild_months"])),
        "service_level": float(st.session_state.get(SERVICE_KEY, stored["service_level"])),
        "excess_cover_months": float(st.session_state.get(EXCESS_KEY, stored["excess_cover_months"])),
    }


def use_settings(values: dict[str, Any]) -> None:
    """Make `values` (name -> value, e.g. a link's `LinkStatus.settings`) the session's plan settings.

    The widgets showing them are reset, so they show the new values when next drawn.
    """
    for name, value in values.items():
        key = SESSION_KEYS[name]
        st.session_state[key] = plan_settings.clamp(name, value)
        st.session_state.pop(WIDGET_KEYS[key], None)


def _copy(src: str, dst: str) -> None:
    st.session_state[dst] = st.session_state[src]


def _session_widget(key: str, widget_key: str, default: Any) -> dict[str, Any]:
    """Keyword arguments of a widget whose value outlives page switches: held in `key`, `widget_key` copies into it.

    (Streamlit drops the state of widgets not on the page.)
    """
    st.session_state.setdefault(key, default)
    if widget_key not in st.session_state:
        st.session_state[widget_key] = st.session_state[key]
    return {"key": widget_key, "on_change": _copy, "args": (widget_key, key)}


def prebuild_input(current: dict[str, Any], container: Any = st) -> int:
    """Pre-build horizon in months (0–6, default 2), kept in the session for every plan page.

    `current`: `settings(ws)` of this rerun.
    """
    container.slider(
        "Pre-build horizon (months)", *PREBUILD_RANGE,
        **_session_widget(PREBUILD_KEY, WIDGET_KEYS[PREBUILD_KEY], int(current["prebuild_months"])),
        help="When a month is short of capacity, spare capacity of up to this many earlier months builds ahead "
             "(nearest month first). 0 = no pre-build.")
    return int(st.session_state[PREBUILD_KEY])


def excess_input(current: dict[str, Any], container: Any = st) -> int:
    """Excess-cover threshold in months (1–24, default 6), kept in the session for every plan page.

    `current`: `settings(ws)` of this rerun.
    """
    container.slider(
        "Excess beyond (months of cover)", *EXCESS_RANGE,
        **_session_widget(EXCESS_KEY, WIDGET_KEYS[EXCESS_KEY], int(round(current["excess_cover_months"]))),
        help="Stock beyond the next this-many months of demand is excess (valued at cost).")
    return int(st.session_state[EXCESS_KEY])


def service_level_input(current: dict[str, Any], container: Any = st) -> float:
    """Service level of the computed safety stock (90, 95, 97.5 or 99 %, default 95), kept in the session.

    A level from a link or the saved settings that is not offered is added to the choices.
    `current`: `settings(ws)` of this rerun.
    """
    level = round(float(current["service_level"]), 4)
    options = sorted(set(plan_settings.SERVICE_LEVELS) | {level})
    container.selectbox(
        "Service level (safety stock)", options, format_func=lambda x: f"{x * 100:g}%",
        **_session_widget(SERVICE_KEY, WIDGET_KEYS[SERVICE_KEY], level),
        help="Computed safety stock = z(service level) × σ(monthly demand) × √(lead time): a higher level holds "
             "more stock. Skus with safety_stock_units in the products table keep theirs.")
    return float(st.session_state[SERVICE_KEY])


def settings_note(current: dict[str, Any], saved: dict[str, Any]) -> str | None:
    """A caption naming the settings this page uses that differ from the saved plan settings (None when none do)."""
    names = plan_settings.differing(current, saved)
    if not names:
        return None
    return (f":material/tune: This view uses {plan_settings.describe(current, names)}; the saved plan settings — "
            f"what the board pack uses — say {plan_settings.describe(saved, names)}.")


def save_button(ws: Workspace, current: dict[str, Any], saved: dict[str, Any], container: Any = st) -> None:
    """The "Save as the plan settings" button: store the session's plan settings in the workspace (audited).

    Disabled when they are the saved ones already or the acting role may not change settings
    (planners and admins may); the write path checks the role again.
    """
    same = not plan_settings.differing(current, saved)
    if container.button(SAVE_LABEL, key="plan_settings_save", icon=":material/save:",
                        disabled=same or not may("setting"),
                        help="Store these plan settings in the workspace: the board pack, a new session and every "
                             "colleague without a link use them."):
        try:
            plan_settings.save(ws, current, author())
        except (ValueError, access.NotPermitted) as exc:
            container.error(plain(exc), icon=":material/error:")
        else:
            st.toast(f"Plan settings saved: {plan_settings.describe(current)}", icon=":material/check_circle:")
            st.rerun()
    elif same:
        container.caption("These are the saved plan settings.")


# -- the cached plan ---------------------------------------------------------------------------------
@st.cache_data(show_spinner="Assembling the plan…", max_entries=16, ttl=6 * 3600)
def _evaluate(path: str, data: str, run_key: str, consensus_sha: str, prebuild_months: int, service_level: float,
              excess_cover_months: float, _ws: Workspace, _consensus: pd.DataFrame, scenario_id: str | None = None,
              _scenario: Scenario | None = None, year: int | None = None) -> plan.PlanView:
    # evaluated once per data, consensus, settings and scenario for every session and restart (plan_store);
    # this cache saves the session the read. A stored scenario never changes: its id keys it here
    return plan_store.view(_ws, _consensus, run_key, {"prebuild_months": prebuild_months, "service_level": service_level,
                                                      "excess_cover_months": excess_cover_months},
                           _scenario, year, consensus_sha=consensus_sha)


def plan_view(ws: Workspace, run: forecast.ForecastRun, consensus: pd.DataFrame,
              data: DataState | None = None, current: dict[str, Any] | None = None,
              scenario: Scenario | None = None, year: int | None = None) -> plan.PlanView:
    """The evaluated plan for this data, run, consensus and session settings (cached by content).

    The baseline, or with `scenario` the baseline with the scenario's changes (`plan.apply_scenario`);
    money KPIs for the outlook `year` (default: the year of the month after the last actuals).
    """
    s = settings(ws) if current is None else current
    data = data_state(ws) if data is None else data
    try:
        return _evaluate(str(ws.path), data.key, run.run_key, frame_sha256(consensus),
                         s["prebuild_months"], s["service_level"], s["excess_cover_months"], ws, consensus,
                         scenario.scenario_id if scenario is not None else None, scenario, year)
    except ValueError as exc:
        st.error(f"The plan could not be assembled: {plain(exc)}", icon=":material/error:")
        st.stop()


def run_caption(run: forecast.ForecastRun, view: plan.PlanView) -> str:
    """One line saying what the numbers are built on."""
    r = view.result
    months = sorted(pd.to_datetime(r.constrained["period"]).unique())
    span = f"{pd.Timestamp(months[0]):%b %Y}–{pd.Timestamp(months[-1]):%b %Y}" if months else "—"
    return (f"Consensus of the demand review (forecast of {run.created_at:%d %b %Y}, data through "
            f"{run.last_actual:%b %Y}) · plan horizon {span} · pre-build {view.settings['prebuild_months']} "
            f"month{'s' if view.settings['prebuild_months'] != 1 else ''}")


def trend(x: float | None, better: str | None = "higher") -> dict[str, str]:
    """`st.metric` keyword arguments (arrow and colour) for a delta of sign `x`.

    Streamlit reads the direction from a leading ASCII '-', but sop_core.formatting writes the
    minus sign '−'; so the arrow is set from the number itself. better: 'higher', 'lower' or None (grey).
    """
    if x is None or not np.isfinite(x) or abs(x) < 1e-12:
        return {"delta_arrow": "off", "delta_color": "gray"}
    good = (x > 0) == (better == "higher") if better in ("higher", "lower") else None
    return {"delta_arrow": "up" if x > 0 else "down",
            "delta_color": "gray" if good is None else ("green" if good else "red")}


COVERAGE_ICON = ":material/visibility_off:"


def coverage_note(cov: Any, container: Any = st) -> None:
    """Say what a check could not see (`sop_core.planning.coverage.Coverage`): an info box when it saw nothing, a caption
    when it saw part of the plan, nothing when it saw everything. The text is the engine's, with no user data."""
    if cov is None or cov.complete:
        return
    if cov.state == "none":
        container.info(cov.text, icon=COVERAGE_ICON)
    else:
        container.caption(f"{COVERAGE_ICON} {cov.text}")


def rules(module: Any) -> str:
    """The 'Rules' section of an engine module's docstring, as the page prints it."""
    doc = module.__doc__ or ""
    i = doc.find("Rules")
    lines = doc[i:].splitlines()[1:] if i >= 0 else doc.splitlines()
    bullets: list[str] = []
    after_formula = False
    for line in lines:
        text = line.strip()
        if not text:
            continue
        if text.startswith("* ") or not bullets:
            bullets.append(text)
            after_formula = False
        elif len(line) - len(line.lstrip()) >= 4:  # a formula line of the docstring: keep it on its own line
            bullets[-1] += f"  \n`{text}`"
            after_formula = True
        else:
            bullets[-1] += ("  \n" if after_formula else " ") + text
            after_formula = False
    return "\n".join(bullets)
