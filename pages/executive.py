import dataclasses
import uuid

import pandas as pd
import streamlit as st

from pages.shell import compare, decision_log, nav, share
from pages.shell import plan_view as pv
from pages.shell import scorecard as sc
from pages.shell.state import author, may, page_header, page_link, workspace
from sop_core import escape
from sop_core.formatting import delta_money, delta_units, money, units
from sop_core.meetings import agenda, charts, cycle, decisions, links, pack, versions
from sop_core.planning import kpis, scenarios
from sop_core.planning.kpi_catalogue import MEASURES

page_header("executive")
link = share.link_state("executive")
ws = workspace()
pv.require_tables(ws, "executive S&OP", ["sales", "products"])
run, cons = pv.demand_plan(ws)
view = pv.plan_view(ws, run, cons)
k = view.kpis
year = view.result.year
latest = versions.latest(ws)
saved = scenarios.list_scenarios(ws)
known = {s.scenario_id: s for s in saved}
open_log = decisions.log(ws, status=("open", "in progress"))
unlinked = open_log[open_log["version_id"].isna()]

# -- are we on plan? -------------------------------------------------------------------------------------------
approved, record = agenda.record_status(latest, cycle.cycle_start(ws))
(st.success if approved else st.warning)(escape.plain(record),
                                         icon=":material/verified:" if approved else ":material/pending_actions:")
sentence = agenda.plan_vs_annual(k, view.result.bridge, year, coverage=view.result.coverage)
st.markdown(f"**{escape.plain(sentence)}**")
if note := pv.settings_note(pv.settings(ws), pv.saved_settings(ws)):  # the pack uses the saved ones
    st.caption(note)

cards = sc.scorecard(ws, run, view)
status = kpis.by_status(cards)
m = st.columns(3)
m[0].metric("KPIs on target", f"{len(status['green'])} of {len(cards)}",
            help="Scorecard KPIs at or better than their target; every KPI with its trend is in the full scorecard "
                 "below and on the Scorecard page.")
off = [f":red[Off target: {escape.plain(', '.join(status['red']))}]" if status["red"] else "",
       f":orange[Watch: {escape.plain(', '.join(status['amber']))}]" if status["amber"] else "",
       f"Not checked: {escape.plain(', '.join(status['missing']))}" if status["missing"] else ""]
m[0].caption(" · ".join(t for t in off if t) or "Every KPI on target")
cov = view.result.coverage
unseen = cov.incomplete()  # checks that did not see the whole plan: said in words, never "nothing to decide"
overloaded = int(k["overloaded_resource_months"]) if pd.notna(k.get("overloaded_resource_months")) else 0
capacity_seen = cov.capacity.state != "none"
m[1].metric("Units short", units(k.get("units_short")) if capacity_seen else "Not checked",
            help="Demand the constrained plan cannot make over the plan horizon, after pre-build (Supply review): "
                 + MEASURES["units_short"].formula + ".")
m[1].caption(f"{overloaded} overloaded resource-month{'s' if overloaded != 1 else ''}"
             + ("" if cov.capacity.complete else f" · capacity {cov.capacity.summary}") if capacity_seen else
             cov.capacity.text)
stockouts = k.get("stockouts")
stock_seen = cov.inventory.state != "none" and pd.notna(stockouts)
m[2].metric("Projected stockouts", units(stockouts) if stock_seen else "Not checked",
            help=MEASURES["stockouts"].formula.capitalize() + " over the plan horizon (Inventory).")
m[2].caption(cov.inventory.text if not stock_seen else
             f"{money(k.get('revenue_at_risk'))} revenue at risk" if stockouts > 0 else
             "None over the plan horizon" + ("" if cov.inventory.complete else f" · stock {cov.inventory.summary}"))

# -- what needs deciding -----------------------------------------------------------------------------------------
st.subheader("Decisions needed", anchor=False)
items, needed = agenda.executive_decisions(  # the Pre-S&OP ranking and open decisions; the board pack's list too
    ws, view.result, lambda s: pv.plan_view(ws, run, cons, scenario=s).kpis["revenue"])
if needed.empty and not unseen:
    st.success("Nothing to decide: no open decision, and the plan meets the annual plan within capacity with no "
               "stockout.", icon=":material/verified:")
elif needed.empty:
    st.info("No open decision and no exception in what could be checked — but not everything could be:",
            icon=":material/visibility_off:")
if unseen:
    st.markdown("\n".join(f"- {c.text}" for c in unseen))
if len(needed):
    st.caption(f"Money: at stake for an exception; for a decision, its option's effect on the {year} outlook. "
               "Each line links to the page that explains it.")
    for row in needed.itertuples():
        line = st.columns([1.2, 7, 1.6], vertical_alignment="center")
        line[0].markdown(f"**{escape.plain(row.money_text)}**")
        kind = "Decide" if row.kind == "decision" else row.kind.capitalize()
        line[1].markdown(f"**{escape.plain(kind)}:** {escape.plain(row.subject)} — "
                         + (f":red[{escape.plain(row.detail)}]" if row.overdue else escape.plain(row.detail)))
        with line[2]:
            target = nav.spec(row.page)
            page_link(target.script, label=target.title, icon=target.icon)
    more = len(items) - int((needed["kind"] != "decision").sum())
    if more > 0:
        page_link("pre_sop.py", label=f"{more} more exception{'s' if more != 1 else ''} on the Pre-S&OP page",
                  icon=":material/fact_check:")

with st.expander("Full KPI scorecard", icon=":material/speed:"):
    sc.render(cards, columns=3, key="exec_sc")

# -- the options to choose between ------------------------------------------------------------------------------
st.subheader("Options", anchor=False)
linked = list(dict.fromkeys(([link.scenario_id] if link.scenario_id else []) + list(link.compare)))
share.init_widget("exec_cmp", linked[:links.MAX_COMPARE], list(known), [], "scenarios")
c = st.columns([6, 1], vertical_alignment="bottom")
chosen = c[0].multiselect("Options to compare with the baseline", list(known), key="exec_cmp",
                          max_selections=links.MAX_COMPARE, format_func=lambda i: known[i].name, disabled=not known,
                          placeholder="Choose the scenarios prepared in pre-S&OP" if known else
                          "No scenarios prepared yet")
state = share.sync_url(dataclasses.replace(link, scenario_id=None, compare=tuple(chosen), family=None, region=None,
                                           sku=None))
share.share_button(state, c[1])
if not known:
    st.info("No scenarios prepared yet — build them on the Scenarios page.", icon=":material/science:")
    page_link("scenarios.py", label="Scenarios", icon=":material/science:")
results = compare.render_comparison(ws, run, chosen, key="exec") if chosen else {}

# -- approve the plan ----------------------------------------------------------------------------------------------
st.subheader("Approve the plan", anchor=False)
options = ["Baseline"] + chosen
with st.form("approve", clear_on_submit=True):
    a = st.columns([2, 2, 3])
    pick = a[0].selectbox("Plan to approve", options, format_func=lambda o: o if o == "Baseline" else known[o].name)
    cycle = run.last_actual + pd.DateOffset(months=1) if run.last_actual is not None else None
    name = a[1].text_input("Version name", value=f"{cycle:%B %Y} S&OP" if cycle is not None else "S&OP plan")
    note = a[2].text_input("Note", placeholder="What was decided, in a line")
    link_ids = st.multiselect("Decisions taken with it", list(unlinked["decision_id"]),
                              format_func=lambda i: unlinked.set_index("decision_id").loc[i, "title"])
    if st.form_submit_button("Approve and freeze this plan", type="primary", disabled=not may("plan_approved"),
                             help="Admins approve plans."):
        sc_obj = None if pick == "Baseline" else known[pick]
        plan_result = (view if sc_obj is None else pv.plan_view(ws, run, cons, scenario=sc_obj)).result
        try:  # the plan as valued on screen: the scenario's units at the scenario's prices
            version = versions.approve(
                ws, plan_result, name=name, scenario_id=plan_result.scenario_id,
                fingerprints={"data": ws.fingerprint(), "forecast_run": run.run_key}, approved_by=author(),
                note=note, event_id=st.session_state.setdefault("exec_approve_event", uuid.uuid4().hex))
            if link_ids:
                decisions.link_version(ws, link_ids, version.version_id, author())
        except (ValueError, PermissionError) as exc:
            st.error(escape.plain(exc))
        else:
            st.session_state.pop("exec_approve_event", None)
            st.toast(f"{escape.plain(version.label)} approved and frozen", icon=":material/verified:")
            st.rerun()

# -- what changed since the last approved plan ------------------------------------------------------------------
st.subheader("What changed since the last approved plan", anchor=False)
current = versions.plan_lines(view.result)
if latest is None:
    st.caption("No plan approved yet. Approving one above makes it the reference for next month's meeting.")
else:
    old = versions.load_version(ws, latest.version_id)
    bridges = st.columns(2)
    for col, measure, title, value_text, delta_text in (
            (bridges[0], "revenue", "Revenue", money, delta_money),
            (bridges[1], "units", "Volume (units)", units, delta_units)):
        steps = versions.change_bridge(old, current, by="family", measure=measure, old_label=latest.label,
                                       new_label="Current plan")
        before, after = float(steps["value"].iloc[0]), float(steps["value"].iloc[-1])
        col.markdown(f"**{title} by family** · " + escape.plain(f"{value_text(before)} → {value_text(after)} "
                                                                 f"({delta_text(after - before)})"))
        col.plotly_chart(charts.waterfall(steps, label="label", value="value", kind="kind",
                                          money=measure == "revenue"),
                         key="exec_bridge" if measure == "revenue" else "exec_bridge_units",
                         config={"displayModeBar": False})
    st.dataframe(versions.compare(old, current, by="family"), hide_index=True, width="stretch", column_config={
        "family": "Family",
        "old_units": st.column_config.NumberColumn("Approved units", format="localized"),
        "new_units": st.column_config.NumberColumn("Current units", format="localized"),
        "d_units": st.column_config.NumberColumn("Δ units", format="localized"),
        "old_revenue": st.column_config.NumberColumn("Approved revenue", format="dollar"),
        "new_revenue": st.column_config.NumberColumn("Current revenue", format="dollar"),
        "d_revenue": st.column_config.NumberColumn("Δ revenue", format="dollar")})
    with st.expander("Approved versions"):
        st.dataframe(versions.list_versions(ws), hide_index=True, width="stretch")

# -- decision log -----------------------------------------------------------------------------------------------------
st.subheader("Decision log", anchor=False)
decision_log.render(ws, "exec", "No decision recorded yet: the pre-S&OP page lists the decisions to ask for.")

# -- the board pack -------------------------------------------------------------------------------------------------------
st.subheader("Board pack", anchor=False)
st.caption("The executive pack as a PDF (scorecard, gap and bridge, family plans, capacity, decisions, this view's "
           "link) and the approved plan as an Excel workbook (values only). "
           + ("Built from " + escape.plain(latest.label) + "." if latest else "Built from the current consensus (not yet approved)."))
if st.button("Prepare the board pack", icon=":material/picture_as_pdf:", key="exec_pack"):
    with st.status("Preparing the board pack…", expanded=True) as status:
        st.write("Gathering the plan, scorecard and decisions")
        content = pack.gather(ws, latest.version_id if latest else None, link=share.share_url(state))
        st.write("Drawing the charts")
        images = pack.render_charts(content)
        if images.error:
            st.warning(f"The charts could not be drawn ({escape.plain(images.error)}); the PDF shows their numbers as tables.")
        st.write("Writing the PDF")
        pdf = pack.build_pdf(content, images)
        st.write("Writing the workbook")
        xlsx = pack.build_xlsx(content)
        stem = f"sop-pack-{content.cycle_month:%Y-%m}" if content.cycle_month is not None else "sop-pack"
        st.session_state["exec_pack_files"] = (pdf, xlsx, stem)
        status.update(label="Board pack ready", state="complete", expanded=False)
files = st.session_state.get("exec_pack_files")
if files:
    d = st.columns(2)
    d[0].download_button("Download the PDF", files[0], file_name=f"{files[2]}.pdf", mime="application/pdf",
                         icon=":material/download:", key="exec_pdf", on_click="ignore")
    d[1].download_button("Download the Excel plan", files[1], file_name=f"{files[2]}.xlsx", icon=":material/download:",
                         mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key="exec_xlsx",
                         on_click="ignore")
