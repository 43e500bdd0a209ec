import dataclasses
import uuid
from datetime import timedelta

import pandas as pd
import streamlit as st

from pages.shell import compare, decision_log, share
from pages.shell import plan_view as pv
from pages.shell.state import author, may, page_header, workspace
from sop_core import clock, escape
from sop_core.demand import overrides
from sop_core.formatting import metric_delta, money, pct
from sop_core.formatting import units as fmt_units
from sop_core.meetings import agenda, decisions, links
from sop_core.planning import scenarios
from sop_core.planning.kpi_catalogue import MEASURES

page_header("pre_sop")
link = share.link_state("pre_sop")
ws = workspace()
pv.require_tables(ws, "pre-S&OP", ["sales", "products"])
run, cons = pv.demand_plan(ws)
view = pv.plan_view(ws, run, cons)
result = view.result
items = agenda.agenda(result, overrides.history(ws), ws.table("products"))
open_log = decisions.log(ws, status=("open", "in progress"))

# -- the answer: what is at stake, what needs deciding -------------------------------------------------------
k = result.kpis
cov = result.coverage
unseen = cov.incomplete()  # checks that did not see the whole plan: said in words, never "no exception"
m = st.columns(4)
metric_items: list[dict] = []  # the headline figures, as a snapshot link keeps them
snapshot: list[dict] = [{"kind": "metrics", "items": metric_items}]  # what a snapshot link keeps, in the page's order
gap, gap_pct = agenda.gap_to_plan(result) or (None, None)
share.metric(metric_items, m[0], f"{result.year} revenue gap to plan", money(gap) if gap is not None else "Not checked",
             delta=None if gap_pct is None else metric_delta(pct(gap_pct, 1, signed=True)),
             note=None if gap_pct is None else pct(gap_pct, 1, signed=True),
             help=f"{MEASURES['gap_to_plan'].formula.capitalize()}; revenue = {MEASURES['revenue'].formula}.")
share.metric(metric_items, m[1], "Money at stake (all exceptions)",
             money(at_stake) if (at_stake := agenda.money_at_stake(items, bool(unseen))) is not None else "Not checked",
             help=f"Sum of the At stake column below, over mixed periods: the {result.year} full-year revenue gap, "
                 "then over the whole plan horizon revenue at risk from supply gaps and stockouts, the value of "
                 "large overrides, and inventory at cost (safety stock to restore, excess stock). It sizes the "
                 "agenda; it is not one period's number.")
share.metric(metric_items, m[2], "Exceptions to decide", f"{len(items)}")
share.metric(metric_items, m[3], "Open decisions", f"{len(open_log)}")

# -- the exceptions, ranked by money ----------------------------------------------------------------------------
st.subheader("Exceptions that need a decision", anchor=False)
if items.empty and not unseen:
    answer = ("No exception: the plan meets the annual plan, within capacity, with no stockout and inventory "
              "within its limits.")
    st.success(answer, icon=":material/verified:")
    snapshot.append(share.text_block(answer))
elif items.empty:
    st.info("No exception in what could be checked — but not everything could be:", icon=":material/visibility_off:")
    snapshot.append(share.text_block("No exception in what could be checked — but not everything could be:"))
if unseen:
    st.markdown("\n".join(f"- {c.text}" for c in unseen))
    snapshot += [share.text_block(c.text, "plain") for c in unseen]
if len(items):
    shown = items.assign(where=items["page"].map(lambda p: f"/{p}"), units=items["units"].map(fmt_units),
                         money=items["money"].map(money))
    config = {
        "kind": "Kind", "subject": "Exception", "detail": "Detail",
        "period": st.column_config.DateColumn("From", format="MMM YYYY"),
        "units": st.column_config.TextColumn("Units"),
        "money": st.column_config.TextColumn("At stake", help="Revenue at risk, the gap, the value of the "
                                             "override's change, or inventory at cost (ranked by it)"),
        "where": st.column_config.LinkColumn("Page", display_text="Open"),
    }
    # ranked by money: the money first; the long explanations in the detail below (fits at 1280 px)
    st.dataframe(shown, hide_index=True, width="stretch", column_config=config,
                 column_order=["money", "subject", "kind", "period", "units", "where"])
    snapshot.append(share.table_block("Exceptions that need a decision, ranked by money", items, {
        "money": ("At stake", money), "subject": ("Exception", None), "kind": ("Kind", None),
        "period": ("From", lambda v: f"{pd.Timestamp(v):%b %Y}"), "units": ("Units", fmt_units)}))
    with st.expander("What each exception means", icon=":material/info:"):
        st.dataframe(shown, hide_index=True, width="stretch", column_config=config,
                     column_order=["money", "subject", "detail"])

if len(open_log):  # the open decisions (the log itself is further down): a snapshot link keeps them too
    snapshot.append(share.table_block("Open decisions, earliest due first", open_log, {
        "title": ("Decision", None), "owner": ("Owner", None), "due_date": ("Due", lambda v: f"{pd.Timestamp(v):%d %b %Y}"),
        "status": ("Status", lambda v: str(v).capitalize())}))

# -- the options prepared for them -------------------------------------------------------------------------------
st.subheader("Options prepared", anchor=False)
saved = scenarios.list_scenarios(ws)
known = {s.scenario_id: s for s in saved}
linked = list(dict.fromkeys(([link.scenario_id] if link.scenario_id else []) + list(link.compare)))
share.init_widget("presop_cmp", linked[:links.MAX_COMPARE], list(known), [], "scenarios")
c = st.columns([5, 1.3], vertical_alignment="bottom")  # "Share" whole at 1024 px
chosen = c[0].multiselect("Scenarios to compare with the baseline", list(known), key="presop_cmp",
                          max_selections=links.MAX_COMPARE,
                          format_func=lambda i: f"{known[i].name} · {known[i].author}",
                          placeholder="Choose up to four scenarios (build them on the Scenarios page)")
state = share.sync_url(dataclasses.replace(link, scenario_id=None, compare=tuple(chosen), family=None, region=None,
                                           sku=None))
share_box = c[1]  # the Share button is drawn at the end, when the snapshot has every number of the page
if chosen:
    compare.render_comparison(ws, run, chosen, key="presop")
else:
    st.caption("No scenario chosen." if saved else "No scenario yet.")
    st.page_link("pages/scenarios.py", label="Build a scenario", icon=":material/alt_route:")

# -- decisions to ask for ------------------------------------------------------------------------------------------
st.subheader("Decisions to ask for", anchor=False)
with st.form("new_decision", clear_on_submit=True):
    f = st.columns([3, 1.2, 1, 1.5])
    title = f[0].text_input("Decision to ask for", placeholder="e.g. Approve overtime on ASSY-2 in June–July")
    owner = f[1].text_input("Owner", placeholder="Who decides")
    due = f[2].date_input("Due", value=clock.today() + timedelta(days=14), min_value=clock.today())
    options = [None] + list(known)
    scenario_id = f[3].selectbox("Option (scenario)", options, format_func=lambda i: "—" if i is None else known[i].name)
    detail = st.text_input("Detail", placeholder="Optional: what is at stake, what the options cost")
    if st.form_submit_button("Add decision", type="primary", disabled=not may("decision")):
        try:
            decisions.record(ws, title=title, owner=owner, due_date=due, detail=detail, scenario_id=scenario_id,
                             author=author(), event_id=st.session_state.setdefault("presop_dec_event", uuid.uuid4().hex))
        except (ValueError, PermissionError) as exc:
            st.error(escape.plain(exc))
        else:
            st.session_state.pop("presop_dec_event", None)
            st.toast("Decision added", icon=":material/check_circle:")
            st.rerun()

decision_log.render(ws, "presop")

# -- the Share button (in the Options row), last: a snapshot link keeps every number above ------------------------
share.share_button(state, share_box, snapshot=lambda: snapshot)
share.compare_with_snapshot(snapshot)  # a snapshot link after "Compare with today": its numbers beside today's
