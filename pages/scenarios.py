import dataclasses
import uuid

import pandas as pd
import streamlit as st

from pages.shell import compare, share
from pages.shell import plan_view as pv
from pages.shell.state import author, may, page_header, workspace
from sop_core import escape
from sop_core.demand.consensus import KINDS
from sop_core.meetings import links
from sop_core.planning import scenarios

page_header("scenarios")
link = share.link_state("scenarios")
ws = workspace()
pv.require_tables(ws, "scenario comparison", ["sales", "products"])
run, cons = pv.demand_plan(ws)
ALL = "All"
PICK = "sc_compare"
MONTHS = "sc_months"

saved = scenarios.list_scenarios(ws)
status = share.visit().status
known = {s.scenario_id: s for s in saved}
for sc in (status.scenario, *status.compared):  # a link may name an archived scenario: still shown
    if sc is not None:
        known.setdefault(sc.scenario_id, sc)
plan_months = sorted(pd.to_datetime(cons["period"]).unique())
month_label = {pd.Timestamp(m): f"{pd.Timestamp(m):%b %Y}" for m in plan_months}
plan_months = list(month_label)

# -- what to compare (the view a link names) --------------------------------------------------------------
linked = list(dict.fromkeys(([link.scenario_id] if link.scenario_id else []) + list(link.compare)))
top = st.columns([5, 2, 1.4], vertical_alignment="bottom")  # "Share" whole at 1024 px
share.init_widget(PICK, linked[:links.MAX_COMPARE], list(known), [], "scenarios")
added = st.session_state.pop("_sc_added", None)  # a scenario saved by the form below: compare it straight away
if added in known:
    chosen = [i for i in st.session_state.get(PICK, []) if i in known and i != added]
    st.session_state[PICK] = (chosen + [added])[-links.MAX_COMPARE:]


def _label(sid: str) -> str:
    sc = known[sid]
    return f"{sc.name} · {sc.author} · {sc.created_at:%d %b %Y}"


selected = top[0].multiselect("Compare with the baseline", list(known), key=PICK, format_func=_label,
                              max_selections=links.MAX_COMPARE, placeholder="Choose one to four scenarios",
                              help="Scenarios are changes over the consensus plan; they never edit the data.")
share.init_widget(MONTHS, link.horizon, range(1, len(plan_months) + 1), len(plan_months), "months")
months = top[1].slider("Months in the charts", 1, len(plan_months), key=MONTHS,
                       help="The KPIs cover the outlook year or the whole plan, as the table says.")
state = share.sync_url(dataclasses.replace(link, scenario_id=None, compare=tuple(selected), horizon=months,
                                           family=None, region=None, sku=None))
share.share_button(state, top[2])

for w in st.session_state.pop("_sc_warnings", []):
    st.warning(escape.plain(w), icon=":material/warning:")
if not selected:
    st.info("Choose one to four scenarios above to compare them with the baseline, or build one below: it is "
            "compared as soon as it is saved." if known else
            "No scenario yet: build the first one below. It is compared with the baseline as soon as it is saved.",
            icon=":material/compare_arrows:")
compare.render_comparison(ws, run, selected, horizon=months, key="sc", fingerprint=state.fingerprint)

# -- build a scenario ------------------------------------------------------------------------------------
st.subheader("Build a scenario", anchor=False)
names = scenarios.known_names(ws)
families = names["families"] or []
regions = names["regions"] or []
resources = names["resources"] or []
whole = (plan_months[0], plan_months[-1])


def _span(rng: tuple[pd.Timestamp, pd.Timestamp]) -> tuple[str | None, str | None]:
    """A month range as the engine reads it; the whole plan is 'all months' (open ends)."""
    return (None, None) if tuple(rng) == whole else (f"{rng[0]:%Y-%m}", f"{rng[1]:%Y-%m}")


# Widget keys end in a form generation: a save (or new data, which changes the choices) starts a fresh, empty form.
signature = hash((tuple(families), tuple(regions), tuple(resources), tuple(plan_months)))
if st.session_state.get("_sc_form_sig") != signature:
    st.session_state["_sc_form_sig"] = signature
    st.session_state["_sc_form_gen"] = st.session_state.get("_sc_form_gen", 0) + 1
gen = st.session_state["_sc_form_gen"]


def fk(name: str) -> str:
    """The key of form widget `name` in this form generation (tests find widgets by the prefix)."""
    return f"{name}_{gen}"


def _more_changes() -> dict[str, pd.DataFrame]:
    """Editable tables of extra changes, one per kind (columns scenarios.ROW_FIELDS); empty rows mean nothing."""
    pick = st.column_config.SelectboxColumn
    month = {"options": [f"{m:%Y-%m-%d}" for m in plan_months], "format_func": lambda v: f"{pd.Timestamp(v):%b %Y}"}
    scope = {"family": pick("Family", options=[ALL] + families, help="Empty or All = all families"),
             "region": pick("Region", options=[ALL] + regions, help="Empty or All = all regions"),
             "sku": pick("SKU", options=[ALL] + (names["skus"] or []), help="Empty or All = all skus"),
             "resource": pick("Resource", options=[ALL] + resources, help="Empty or All = all resources"),
             "period_from": pick("From", **month, help="Empty = from the first month"),
             "period_to": pick("To", **month, help="Empty = to the last month")}
    pct = st.column_config.NumberColumn
    extra = {
        "demand": ("Demand changes", {"pct": pct("Demand change %", min_value=scenarios.DEMAND_PCT[0],
                                                 max_value=scenarios.DEMAND_PCT[1], step=1.0)}),
        "price": ("Price changes", {"pct": pct("Price change %", min_value=-99.0, max_value=scenarios.PRICE_PCT[1],
                                               step=0.5)}),
        "capacity": ("Capacity changes", {"pct": pct("Capacity change %", min_value=scenarios.CAPACITY_PCT[0],
                                                     max_value=scenarios.CAPACITY_PCT[1], step=5.0)}),
        "overrides": ("Override set · applied to the consensus before the demand changes; From and To are required",
                      {"period_from": pick("From", **month, required=True),
                       "period_to": pick("To", **month, required=True),
                       "kind": pick("Kind", options=list(KINDS), help="percent scales the scope's units; units sets "
                                    "its total per month"),
                       "value": pct("Value", help="Percent points (10 = +10%) or units per month"),
                       "reason": st.column_config.TextColumn("Reason", max_chars=scenarios.MAX_TEXT)}),
    }
    out = {}
    for kind, (title, config) in extra.items():
        st.markdown(f"**{title}**")
        cols = scenarios.ROW_FIELDS[kind]
        empty = pd.DataFrame({c: pd.Series(dtype="float64" if c in ("pct", "value") else "object") for c in cols})
        out[kind] = st.data_editor(empty, key=fk(f"sc_more_{kind}"), num_rows="dynamic", hide_index=True,
                                   width="stretch", column_config={c: config.get(c, scope.get(c)) for c in cols})
    return out


with st.form("sc_form", border=True):
    c = st.columns([2, 3])
    name = c[0].text_input("Name", max_chars=scenarios.MAX_NAME, key=fk("sc_name"),
                           placeholder="e.g. Tents +10%, ASSY-2 at 80%")
    note = c[1].text_input("Note", max_chars=scenarios.MAX_NOTE, key=fk("sc_note"),
                           placeholder="Why, and what it assumes (optional)")
    st.markdown("**Demand change** · consensus units of a family and region over a range of months")
    d = st.columns([1, 1, 2, 1])
    d_family = d[0].selectbox("Family", [ALL] + families, key=fk("sc_d_family"))
    d_region = d[1].selectbox("Region", [ALL] + regions, key=fk("sc_d_region"))
    d_months = d[2].select_slider("Months", plan_months, value=whole, format_func=month_label.get,
                                  key=fk("sc_d_months"))
    d_pct = d[3].number_input("Demand change %", *scenarios.DEMAND_PCT, value=0.0, step=1.0, key=fk("sc_d_pct"),
                              help="10 = +10% of the consensus units; 0 = no demand change.")
    st.markdown("**Price change** · list price (unit_price) of a family's skus for the plan months")
    p = st.columns([1, 1, 2, 1])
    p_family = p[0].selectbox("Family", [ALL] + families, key=fk("sc_p_family"))
    p_pct = p[3].number_input("Price change %", -99.0, scenarios.PRICE_PCT[1], value=0.0, step=0.5,
                              key=fk("sc_p_pct"),
                              help="−3 = prices 3% lower; actual months keep their recorded revenue.")
    st.markdown("**Capacity change** · available hours of a resource over a range of months")
    k = st.columns([2, 2, 1])
    k_resource = k[0].selectbox("Resource", [ALL] + resources, key=fk("sc_k_resource"))
    k_months = k[1].select_slider("Months", plan_months, value=whole, format_func=month_label.get,
                                  key=fk("sc_k_months"))
    k_pct = k[2].number_input("Capacity change %", *scenarios.CAPACITY_PCT, value=0.0, step=5.0,
                              key=fk("sc_k_pct"),
                              help="−20 = the line at 80% of its hours; +50 = a partial second shift.")
    with st.expander("More changes: several families or resources, an override set", expanded=False):
        more = _more_changes()
    submitted = st.form_submit_button("Save scenario", type="primary", icon=":material/save:",
                                      disabled=not may("scenario"))

if submitted:
    d_from, d_to = _span(d_months)
    k_from, k_to = _span(k_months)
    changes = {
        "demand": [{"pct": d_pct, "family": None if d_family == ALL else d_family,
                    "region": None if d_region == ALL else d_region, "period_from": d_from, "period_to": d_to}]
        if d_pct else [],
        "price": [{"pct": p_pct, "family": None if p_family == ALL else p_family}] if p_pct else [],
        "capacity": [{"pct": k_pct, "resource": None if k_resource == ALL else k_resource, "period_from": k_from,
                      "period_to": k_to}] if k_pct else [],
        "overrides": [],
    }
    for kind, rows in more.items():  # the extra rows come after the single-row change; the engine validates all
        changes[kind] += scenarios.changes_from_rows(kind, rows, ALL)
    if not (name or "").strip():
        st.error("Give the scenario a name: it is how the meeting will refer to it.", icon=":material/edit:")
    elif not any(changes.values()):
        st.error("Set at least one change (a percentage other than 0): a scenario without changes is the baseline.",
                 icon=":material/edit:")
    else:
        try:
            created = scenarios.create(ws, name, changes, author(), note,
                                       event_id=st.session_state.setdefault("sc_event", uuid.uuid4().hex))
        except ValueError as exc:  # names the families, regions or skus it does not know: data
            st.error(escape.plain(exc))
        else:
            st.session_state.pop("sc_event", None)
            st.session_state["_sc_form_gen"] = gen + 1
            st.session_state["_sc_added"] = created.scenario_id
            st.session_state["_sc_warnings"] = [w for w in created.warnings]
            st.toast(f"Scenario saved: {escape.plain(created.name)}", icon=":material/check_circle:")
            st.rerun()

# -- saved scenarios ------------------------------------------------------------------------------------
st.subheader("Saved scenarios", anchor=False)
if not saved:
    st.caption("None yet.")
else:
    fp = ws.fingerprint()  # the data only: a scenario's base_fingerprint (the link's fp also covers overrides)
    table = pd.DataFrame({
        "name": [s.name for s in saved],
        "changes": ["; ".join(s.describe()) for s in saved],
        "note": [s.note for s in saved],
        "author": [s.author for s in saved],
        "created_at": [s.created_at for s in saved],
        "data": ["today's data" if s.base_fingerprint == fp else "earlier data" for s in saved],
        "compared": [s.scenario_id in selected for s in saved],
    })
    st.dataframe(table, hide_index=True, width="stretch", key="sc_saved",
                 column_order=["name", "changes", "author", "created_at", "data", "compared"], column_config={
        "name": "Scenario", "changes": st.column_config.TextColumn("Changes"), "note": "Note",
        "author": "By", "created_at": st.column_config.DatetimeColumn("Saved", format="D MMM YYYY"),
        "data": st.column_config.TextColumn("Built on", help="A scenario is a set of changes: it applies to today's "
                                            "data either way; 'earlier data' says the data changed since it was saved."),
        "compared": st.column_config.CheckboxColumn("Compared"),
    })
