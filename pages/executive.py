import dataclasses
import uuid

import pandas as pd
import streamlit as st

from pages.shell import compare, decision_log, nav, share
from pages.shell import plan_view as pv
from pages.shell import scorecard as sc
from pages.shell.state import author, may, page_header, page_link, workspace
from sop_core import escape
from sop_core.formatting import delta_money, delta_units, money, plural, units
from sop_core.meetings import agenda, charts, cycle, decisions, links, pack, versions
from sop_core.planning import finance, kpis, scenarios
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
snapshot: list[dict] = [{"kind": "text", "text": record, "style": "plain"},
                        {"kind": "text", "text": sentence, "style": "bold"}]  # what a snapshot link keeps

# -- the plan in three charts (full width: they stay readable at 1024 px on a projector) ---------------------
CHART = {"displayModeBar": False}
old = versions.load_version(ws, latest.version_id) if latest is not None else None
r = view.result
if r.coverage.prices.state != "none":
    st.subheader(f"Revenue by month, {year}", anchor=False)
    monthly = agenda.revenue_by_month(finance.monthly_outlook(r.outlook_constrained, view.budget_monthly),
                                      versions.monthly_revenue(old, year))
    what = ("Bars: actual months, then the outlook (constrained plan). Lines: the annual plan"
            + (f" and the last approved plan ({escape.plain(latest.label)}, its demand plan at its prices)."
               if latest is not None and monthly["approved_revenue"].notna().any() else "."))
    st.caption(what)
    st.plotly_chart(charts.revenue_by_month(monthly), key="exec_chart_revenue", config=CHART)
    snapshot.append({"kind": "chart", "chart": "revenue_by_month", "title": f"Revenue by month, {year}",
                     "frame": links.frame_data(monthly), "caption": what})
    if r.coverage.annual_plan.state != "none":
        st.subheader("From the annual plan to the outlook", anchor=False)
        st.plotly_chart(charts.plan_bridge(r.bridge), key="exec_chart_plan_bridge", config=CHART)
        st.caption("The axis does not start at zero, so the steps can be read; the Financials page explains each.")
        snapshot.append({"kind": "chart", "chart": "bridge", "title": "From the annual plan to the outlook",
                         "frame": links.frame_data(r.bridge[["step", "kind", "value"]])})
st.subheader("Demand and supply by family", anchor=False)
if view.result.coverage.capacity.state == "none":
    st.caption(view.result.coverage.capacity.text)
else:
    fam = agenda.family_supply(r.constrained)
    months = sorted(pd.to_datetime(r.constrained["period"]).unique())
    span = f"{pd.Timestamp(months[0]):%b %Y}–{pd.Timestamp(months[-1]):%b %Y}" if months else "the plan horizon"
    said = (f"{span}: demand {units(fam['demand'].sum())} units, supplied {units(fam['supplied'].sum())}, "
            f"short {units(fam['short'].sum())} after pre-build.")
    st.caption(escape.plain(said))
    st.plotly_chart(charts.family_supply(fam), key="exec_chart_family_supply", config=CHART)
    snapshot.append({"kind": "chart", "chart": "family_supply", "title": "Demand and supply by family",
                     "frame": links.frame_data(fam), "caption": said})

cards = sc.scorecard(ws, run, view)
status = kpis.by_status(cards)
m = st.columns(3)
m[0].metric("KPIs on target", f"{len(status['green'])} of {len(cards)}",
            help="Scorecard KPIs at or better than their target; every KPI with its trend is in the full scorecard "
                 "below and on the Scorecard page.")
groups = [("red", "Off target"), ("amber", "Watch"), ("missing", "Not checked")]
off = [f":{ {'red': 'red', 'amber': 'orange'}.get(s, 'gray')}[{word}: {escape.plain(', '.join(status[s]))}]"
       for s, word in groups if status[s]]
m[0].caption(" · ".join(off) or "Every KPI on target")
kpi_caption = " · ".join(f"{word}: {', '.join(status[s])}" for s, word in groups if status[s]) or "Every KPI on target"
cov = view.result.coverage
unseen = cov.incomplete()  # checks that did not see the whole plan: said in words, never "nothing to decide"
overloaded = int(k["overloaded_resource_months"]) if pd.notna(k.get("overloaded_resource_months")) else 0
capacity_seen = cov.capacity.state != "none"
m[1].metric("Units short", units(k.get("units_short")) if capacity_seen else "Not checked",
            help="Demand the constrained plan cannot make over the plan horizon, after pre-build (Supply review): "
                 + MEASURES["units_short"].formula + ".")
m[1].caption(f"{plural(overloaded, 'overloaded resource-month')}"
             + ("" if cov.capacity.complete else f" · capacity {cov.capacity.summary}") if capacity_seen else
             cov.capacity.text)
stockouts = k.get("stockouts")
stock_seen = cov.inventory.state != "none" and pd.notna(stockouts)
m[2].metric("Projected stockouts", units(stockouts) if stock_seen else "Not checked",
            help=MEASURES["stockouts"].formula.capitalize() + " over the plan horizon (Inventory).")
stock_caption = (cov.inventory.text if not stock_seen else
                 f"{money(k.get('revenue_at_risk'))} revenue at risk" if stockouts > 0 else
                 "None over the plan horizon" + ("" if cov.inventory.complete else f" · stock {cov.inventory.summary}"))
m[2].caption(stock_caption)
snapshot.append({"kind": "metrics", "items": [
    {"label": "KPIs on target", "value": f"{len(status['green'])} of {len(cards)}",
     "caption": kpi_caption},  # the same groups as the screen's caption (escaped when shown)
    {"label": "Units short", "value": units(k.get("units_short")) if capacity_seen else "Not checked"},
    {"label": "Projected stockouts", "value": units(stockouts) if stock_seen else "Not checked",
     "caption": stock_caption}]})

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
    snapshot.append({"kind": "text", "text": "Decisions needed", "style": "bold"})
    snapshot += [{"kind": "text", "style": "plain",
                  "text": f"{row.money_text} · {'Decide' if row.kind == 'decision' else row.kind.capitalize()}: "
                          f"{row.subject} — {row.detail}"} for row in needed.itertuples()]
    st.caption(f"Money: at stake for an exception; for a decision, its option's effect on the {year} outlook. "
               "Each line links to the page that explains it.")
    for row in needed.itertuples():
        line = st.columns([1.1, 5.4, 2.3], vertical_alignment="center")  # the page's name whole at 1024 px
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
    sc.render(cards, columns=2, key="exec_sc")  # 2 a row: whole KPI names at 1024 px

# -- the options to choose between ------------------------------------------------------------------------------
st.subheader("Options", anchor=False)
linked = list(dict.fromkeys(([link.scenario_id] if link.scenario_id else []) + list(link.compare)))
share.init_widget("exec_cmp", linked[:links.MAX_COMPARE], list(known), [], "scenarios")
c = st.columns([4, 1.3], vertical_alignment="bottom")  # "Share" whole at 1024 px
chosen = c[0].multiselect("Options to compare with the baseline", list(known), key="exec_cmp",
                          max_selections=links.MAX_COMPARE, format_func=lambda i: known[i].name, disabled=not known,
                          placeholder="Choose the scenarios prepared in pre-S&OP" if known else
                          "No scenarios prepared yet")
state = share.sync_url(dataclasses.replace(link, scenario_id=None, compare=tuple(chosen), family=None, region=None,
                                           sku=None))
share_box = c[1]  # the Share button is drawn at the end, when the snapshot has every number of the page
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
    months = versions.common_periods(old, current)
    span = (f"the {len(months)} month{'s' if len(months) != 1 else ''} both plans cover "
            f"({months[0]:%b %Y}–{months[-1]:%b %Y})" if months else "the two plans (no month in common)")
    steps = {measure: versions.change_bridge(old, current, by="family", measure=measure, old_label=f"v{latest.number} approved",
                                             new_label="Current plan", common=True, top=8, min_change=0.5)
             for measure in ("revenue", "units")}
    moved = any((s_["kind"] == "relative").any() for s_ in steps.values())
    totals = {m_: (float(s_["value"].iloc[0]), float(s_["value"].iloc[-1])) for m_, s_ in steps.items()}
    said = (f"Over {span}: revenue {money(totals['revenue'][0])} → {money(totals['revenue'][1])} "
            f"({delta_money(totals['revenue'][1] - totals['revenue'][0])}), volume {units(totals['units'][0])} → "
            f"{units(totals['units'][1])} units ({delta_units(totals['units'][1] - totals['units'][0])}), "
            f"against {latest.label}.")
    if not moved:
        same = f"No change since {latest.label}: the current plan has the same units and revenue per family over {span}."
        st.success(escape.plain(same), icon=":material/check_circle:")
        snapshot.append({"kind": "text", "text": same, "style": "bold"})
    else:
        st.caption(escape.plain(said))
        for measure, title, key in (("revenue", "Revenue by family", "exec_bridge"),
                                    ("units", "Volume by family (units)", "exec_bridge_units")):
            st.markdown(f"**{title}**")
            st.plotly_chart(charts.change_waterfall(steps[measure], money=measure == "revenue"), key=key, config=CHART)
        changes = versions.change_table(old, current, by="family", common=True)
        st.dataframe(changes, hide_index=True, width="stretch",
                     column_config={c: st.column_config.TextColumn(c, alignment="right") for c in changes.columns[1:]})
        snapshot += [{"kind": "text", "text": f"What changed since {latest.label}. {said}", "style": "bold"},
                     {"kind": "chart", "chart": "change_revenue", "title": "Revenue by family",
                      "frame": links.frame_data(steps["revenue"])},
                     {"kind": "chart", "chart": "change_units", "title": "Volume by family (units)",
                      "frame": links.frame_data(steps["units"])},
                     {"kind": "table", "title": "By family", "frame": links.frame_data(changes)}]
    with st.expander("Approved versions"):
        st.dataframe(versions.versions_table(ws), hide_index=True, width="stretch")

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

# -- the Share button (in the Options row), last: a snapshot link keeps every number above ------------------------
share.share_button(state, share_box, snapshot=lambda: snapshot)
share.compare_with_snapshot(snapshot)  # a snapshot link after "Compare with today": its numbers beside today's
