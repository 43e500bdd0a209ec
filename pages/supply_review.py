import dataclasses

import pandas as pd
import streamlit as st

from pages.shell import plan_view as pv
from pages.shell import share
from pages.shell.state import page_header, page_link, workspace
from sop_core import escape
from sop_core.demand.history import is_money
from sop_core.formatting import money, pct, plural, units
from sop_core.meetings import agenda, charts, links
from sop_core.planning import supply
from sop_core.planning.coverage import needs_units
from sop_core.planning.kpi_catalogue import MEASURES

page_header("supply_review")
link = share.link_state("supply_review", scenario_banner=True)
ws = workspace()
if is_money(ws):  # capacity and stock are in units: a history in money cannot be checked against them
    st.info(needs_units("supply review"), icon=":material/straighten:")
    page_link("data.py", label="Go to Data", icon=":material/database:")
    st.stop()
data = pv.require_tables(ws, "supply review", ["sales", "products", "capacity"])
run, cons = pv.demand_plan(ws)

saved = pv.saved_settings(ws)
current = pv.settings(ws, saved)
top = st.columns([3, 1])
with top[1].popover(f"Pre-build: {plural(current['prebuild_months'], 'month')}", icon=":material/tune:", width="stretch"):
    pv.prebuild_input(current)
    pv.save_button(ws, current, saved)
view = pv.plan_view(ws, run, cons, data, current, scenario=share.scenario())
r, k = view.result, view.kpis
top[0].caption(pv.run_caption(run, view))
if note := pv.settings_note(current, saved):
    top[0].caption(note)

# -- the answer -------------------------------------------------------------------------------------
util = r.utilisation
peak = view.peak
cov = r.coverage.capacity
seen = cov.state != "none"  # no sku loaded on capacity: nothing below is evidence of anything
NOT_CHECKED = "Not checked"
n_over = int(k["overloaded_resource_months"])
short_units = k["units_short"]
at_risk = view.shortage_revenue
m = st.columns(4)
items: list[dict] = []  # the headline figures, as a snapshot link keeps them
snapshot: list[dict] = [{"kind": "metrics", "items": items}]  # what a snapshot link keeps, in the page's order
share.metric(items, m[0], "Overloaded resource-months", f"{n_over} of {len(util)}" if seen else NOT_CHECKED,
             caption=cov.summary[:1].upper() + cov.summary[1:],
             help=MEASURES["overloaded_resource_months"].formula + " (before pre-build).")
peak_at = f"{peak['resource']} · {pd.Timestamp(peak['period']):%b %Y}" if peak is not None and seen else None
share.metric(items, m[1], "Peak utilisation", pct(peak["utilisation"]) if peak is not None and seen else "—",
             delta=escape.plain(peak_at) if peak_at else None, note=peak_at,
             delta_color="red" if peak is not None and peak["utilisation"] > 1 else "gray", delta_arrow="off",
             help=MEASURES["peak_utilisation"].formula)
share.metric(items, m[2], "Units short after pre-build", units(short_units) if seen else NOT_CHECKED,
             delta=f"{pct(short_units / k['units_demand'], 1)} of demand" if short_units > 0.5 and k["units_demand"]
             else None, delta_color="inverse", delta_arrow="off",
             help=MEASURES["units_short"].formula + f", with {plural(view.settings['prebuild_months'], 'month')} of pre-build.")
share.metric(items, m[3], "Revenue at risk from shortage", money(at_risk) if seen else NOT_CHECKED,
             help="Σ short units × unit_price over the plan horizon (demand revenue − constrained plan revenue).")

if not seen:
    pv.coverage_note(cov)
elif short_units > 0.5:
    answer = (f"Capacity cannot make the whole consensus: **{units(short_units)} units** "
              f"({escape.plain(money(at_risk))} of revenue) are short after "
              f"{plural(view.settings['prebuild_months'], 'month')} of pre-build. The gap table below shows which "
              "families and months.")
    st.warning(answer, icon=":material/warning:")
    snapshot.append(share.text_block(answer.replace(" The gap table below shows which families and months.", "")))
elif n_over:
    answer = (f"{n_over} resource-months are overloaded, but pre-building in earlier months covers the whole "
              "consensus: nothing is short.")
    st.info(answer, icon=":material/info:")
    snapshot.append(share.text_block(answer))
else:
    where = f" (peak {pct(peak['utilisation'])} on {escape.plain(peak['resource'])} in {pd.Timestamp(peak['period']):%b %Y})" \
        if peak is not None else ""
    if cov.complete:
        answer = f"Capacity covers the consensus: no resource is overloaded in any month{where}."
        st.success(answer, icon=":material/check_circle:")
    else:  # part of the plan unseen: no green
        answer = (f"No resource is overloaded in any month for the {cov.checked:,} of {cov.total:,} skus checked"
                  f"{where}; the other {cov.total - cov.checked:,} are not checked.")
        st.info(answer, icon=":material/info:")
    snapshot.append(share.text_block(answer))
if seen:
    pv.coverage_note(cov)

# -- load vs capacity ----------------------------------------------------------------------------------
st.subheader("Utilisation by resource and month", anchor=False)
matrix = view.util_matrix
if matrix.empty:
    st.caption("No resource could be loaded: see the skus the capacity check can't see below.")
else:
    st.plotly_chart(charts.utilisation_heatmap(matrix), key="util_heatmap", config={"displayModeBar": False})
    basis = util.groupby("resource")["basis"].first()
    in_units = sorted(basis[basis == "units"].index)
    st.caption("Required / available per resource × month; amber from 85%, red above 100%. Blank: no capacity "
               "given for the month."
               + (f" Measured in units (capacity_units): {escape.plain(', '.join(in_units))}." if in_units else
                  " Measured in hours (units × hours_per_unit vs available_hours)."))
if view.unloaded_note:
    st.caption(f":material/visibility_off: {escape.plain(view.unloaded_note)}")

# -- the gap --------------------------------------------------------------------------------------------
st.subheader("Supply gap", anchor=False)
gaps = view.gaps
if gaps.empty and not seen:
    st.caption("Not checked: no sku of the plan could be loaded on a resource with capacity.")
elif gaps.empty:
    st.caption(f"No family is short in any month with {plural(view.settings['prebuild_months'], 'month')} of pre-build"
               + ("." if cov.complete else f" among the {cov.checked:,} of {cov.total:,} skus checked."))
else:
    st.caption("Units short per family and month, after pre-build.")
    labels = {c: (pd.Timestamp(c).strftime("%b %Y") if c != "Total" else c) for c in gaps.columns}
    snapshot.append(share.table_block("Supply gap: units short per family and month, after pre-build", gaps,
                                      {c: (label, units) for c, label in labels.items()}, index="Family"))
    st.dataframe(gaps.rename(columns=labels), width="stretch",
                 column_config={"family": "Family"} | {v: st.column_config.NumberColumn(v, format="%,.0f")
                                                       for v in labels.values()})
title = "Overloaded resource-months and the families causing the load" if n_over else \
    "Tightest resource-months and the families causing the load"
st.markdown(f"**{title}**")
snapshot.append(share.table_block(title, view.tight.assign(utilisation=lambda d: pd.to_numeric(d["utilisation"],
                                                                                            errors="coerce")), {
    "resource": ("Resource", None), "period": ("Month", None), "utilisation": ("Utilisation", lambda v: pct(v, 0)),
    "required_hours": ("Required", units), "available_hours": ("Available", units), "over_hours": ("Over capacity", units),
    "top_families": ("Families causing the load", None)}))
st.dataframe(
    view.tight[["resource", "period", "utilisation", "required_hours", "available_hours", "over_hours", "top_families"]]
    .assign(utilisation=lambda d: pd.to_numeric(d["utilisation"], errors="coerce") * 100),
    hide_index=True, width="stretch",
    column_config={
        "resource": "Resource", "period": st.column_config.DateColumn("Month", format="MMM YYYY"),
        "utilisation": st.column_config.NumberColumn("Utilisation", format="%.0f%%"),
        "required_hours": st.column_config.NumberColumn("Required", format="%,.0f", help="Hours (or units)"),
        "available_hours": st.column_config.NumberColumn("Available", format="%,.0f", help="Hours (or units)"),
        "over_hours": st.column_config.NumberColumn("Over capacity", format="%,.0f"),
        "top_families": st.column_config.TextColumn("Families causing the load"),
    },
)

# -- constrained vs unconstrained plan (a fragment: the family filter redraws only this) -----------------
families = sorted(r.constrained["family"].dropna().astype(str).unique())
if seen:  # the plan chart's numbers for every family at once (the chart itself shows one family at a time)
    fam_supply = agenda.family_supply(r.constrained)
    snapshot.append({"kind": "chart", "chart": "family_supply", "title": "Demand and supply by family",
                     "frame": links.frame_data(fam_supply),
                     "caption": f"Demand {units(fam_supply['demand'].sum())} units, supplied "
                                f"{units(fam_supply['supplied'].sum())}, short {units(fam_supply['short'].sum())} "
                                "after pre-build."})
if "sr_family" not in st.session_state and len(gaps):  # open the chart on the family with the largest gap
    st.session_state["sr_family"] = str(gaps.index[0])


@st.fragment
def plan_chart() -> None:
    """Constrained vs unconstrained plan for one family or all."""
    st.subheader("Constrained vs unconstrained plan", anchor=False)
    c = st.columns([1, 3])
    share.init_widget("sr_family", link.family, [pv.ALL] + families, pv.ALL, "family")
    family = c[0].selectbox("Family", [pv.ALL] + families, key="sr_family")
    state = share.sync_url(dataclasses.replace(link, family=None if family == pv.ALL else family, region=None,
                                               sku=None, compare=(), horizon=None))
    share.share_button(state, c[0], snapshot=lambda: snapshot)
    series = supply.constrained_series(r.constrained, None if family == pv.ALL else family)
    short = float(series["short_units"].sum())
    c[1].caption(f"{escape.plain(family) if family != pv.ALL else 'All families'}: demand {units(series['units'].sum())} units, "
                 f"supplied {units(series['constrained_units'].sum())} ({units(series['prebuilt_units'].sum())} of "
                 f"them built ahead in earlier months), short {units(short)}.")
    st.plotly_chart(charts.supply_chart(series), key="sr_plan_chart", config={"displayModeBar": False})


plan_chart()

with st.expander("Load vs capacity, every resource-month", icon=":material/table:"):
    st.dataframe(
        util[["resource", "period", "basis", "required_hours", "available_hours", "utilisation", "spare_hours",
              "over_hours", "top_families"]].assign(utilisation=lambda d: pd.to_numeric(d["utilisation"],
                                                                                    errors="coerce") * 100),
        hide_index=True, width="stretch",
        column_config={
            "resource": "Resource", "period": st.column_config.DateColumn("Month", format="MMM YYYY"),
            "basis": "Measured in",
            "required_hours": st.column_config.NumberColumn("Required", format="%,.0f"),
            "available_hours": st.column_config.NumberColumn("Available", format="%,.0f"),
            "utilisation": st.column_config.NumberColumn("Utilisation", format="%.0f%%"),
            "spare_hours": st.column_config.NumberColumn("Spare", format="%,.0f"),
            "over_hours": st.column_config.NumberColumn("Over", format="%,.0f"),
            "top_families": "Families causing the load",
        },
    )
with st.expander("How the capacity check works", icon=":material/function:"):
    st.markdown(pv.rules(supply))
share.compare_with_snapshot(snapshot)  # a snapshot link after "Compare with today": its numbers beside today's
