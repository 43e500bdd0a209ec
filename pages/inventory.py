import dataclasses

import pandas as pd
import streamlit as st

from pages.shell import plan_view as pv
from pages.shell import share
from pages.shell.state import page_header, page_link, workspace
from sop_core import escape
from sop_core.demand.history import is_money
from sop_core.formatting import money, plural, units
from sop_core.meetings import charts
from sop_core.meetings.exports import to_csv_bytes
from sop_core.planning import inventory
from sop_core.planning.coverage import needs_units
from sop_core.planning.kpi_catalogue import MEASURES

page_header("inventory")
link = share.link_state("inventory", scenario_banner=True)
ws = workspace()
if is_money(ws):  # capacity and stock are in units: a history in money cannot be checked against them
    st.info(needs_units("inventory projection"), icon=":material/straighten:")
    page_link("data.py", label="Go to Data", icon=":material/database:")
    st.stop()
data = pv.require_tables(ws, "inventory projection", ["sales", "products", "inventory"])
run, cons = pv.demand_plan(ws)

saved = pv.saved_settings(ws)
current = pv.settings(ws, saved)
top = st.columns([3, 1])
with top[1].popover(f"Excess beyond {current['excess_cover_months']:g} months · service "
                    f"{current['service_level'] * 100:g}%", icon=":material/tune:", width="stretch"):
    pv.excess_input(current)
    pv.service_level_input(current)
    st.caption("The pre-build horizon of the constrained production is set on the Supply review.")
    pv.save_button(ws, current, saved)
view = pv.plan_view(ws, run, cons, data, current, scenario=share.scenario())
r = view.result
top[0].caption(pv.run_caption(run, view) + " · receipts = constrained production + planned receipts")
if note := pv.settings_note(current, saved):
    top[0].caption(note)
if "supply" not in data.present:
    st.caption(":material/info: No planned receipts table (supply): receipts are the constrained production only.")
if "capacity" not in data.present:
    st.caption(":material/info: No capacity table: production is assumed to make the whole consensus.")

# -- the answer -------------------------------------------------------------------------------------------
c = view.exception_counts
cov = r.coverage.inventory
seen = cov.state != "none"  # no sku of the plan has a stock record: no count below is evidence
NOT_CHECKED = "Not checked"
excess_months = view.settings["excess_cover_months"]
m = st.columns(4)
items: list[dict] = []  # the headline figures, as a snapshot link keeps them
snapshot: list[dict] = [{"kind": "metrics", "items": items}]  # what a snapshot link keeps, in the page's order
share.metric(items, m[0], "Projected stockouts", plural(c['stockouts'], "sku") if seen else NOT_CHECKED,
             caption=cov.summary[:1].upper() + cov.summary[1:], help=MEASURES["stockouts"].formula)
share.metric(items, m[1], "Revenue at risk from stockouts", money(c["revenue_at_risk"]) if seen else NOT_CHECKED,
             help=MEASURES["revenue_at_risk"].formula)
share.metric(items, m[2], "Safety-stock breaches", plural(c['breaches'], "sku") if seen else NOT_CHECKED,
             delta=f"{money(c['breach_value'])} at cost to restore" if c["breaches"] else None,
             delta_color="off", delta_arrow="off",
             help="Skus whose projected balance goes below safety stock without a stockout; value = the largest gap "
                  "× unit_cost.")
share.metric(items, m[3], "Excess stock at cost", money(c["excess_value"]) if seen else NOT_CHECKED,
             delta=plural(c['excess'], "sku") if c["excess"] else None, delta_color="off", delta_arrow="off",
             help=f"Stock beyond the next {excess_months:g} months of demand, at its largest, × unit_cost.")

answer = None
if not seen:
    pv.coverage_note(cov)
elif c["stockouts"]:
    answer = (f"**{plural(c['stockouts'], 'sku')}** run out of stock in the projection: "
              f"{escape.plain(money(c['revenue_at_risk']))} of revenue at risk.")
    st.warning(answer + " They lead the exception list below.", icon=":material/warning:")
elif c["breaches"]:
    answer = f"No stockout is projected, but {plural(c['breaches'], 'sku')} dip below safety stock."
    st.info(answer, icon=":material/info:")
elif cov.complete:
    answer = "No stockout and no safety-stock breach is projected."
    st.success(answer, icon=":material/check_circle:")
else:  # part of the plan has no stock record: no green
    answer = (f"No stockout and no safety-stock breach is projected for the {cov.checked:,} of {cov.total:,} skus "
              f"with a stock record; the other {cov.total - cov.checked:,} are not checked.")
    st.info(answer, icon=":material/info:")
if answer:
    snapshot.append(share.text_block(answer))
if seen:
    pv.coverage_note(cov)

# -- projection chart (a fragment: the filters redraw only this) --------------------------------------------
proj = r.projection
safety = r.safety.set_index("sku")
families = sorted(proj["family"].dropna().astype(str).unique())
urgent = view.exception_rows[view.exception_rows["kind"].isin(["stockout", "below safety stock"])].sort_values(
    "kind", key=lambda k: k.ne("stockout"), kind="stable")  # stockouts first, then by money
if "inv_family" not in st.session_state and len(urgent):  # open the chart on the most costly stockout or breach
    st.session_state["inv_family"], st.session_state["inv_sku"] = str(urgent["family"].iloc[0]), str(urgent["sku"].iloc[0])


@st.fragment
def projection() -> None:
    """Projected available balance for a family, a sku or everything, with the safety-stock band."""
    st.subheader("Projected available balance", anchor=False)
    f = st.columns([1, 1, 2])
    share.init_widget("inv_family", link.family, [pv.ALL] + families, pv.ALL, "family")
    family = f[0].selectbox("Family", [pv.ALL] + families, key="inv_family")
    skus = sorted(proj.loc[proj["family"] == family, "sku"].unique()) if family != pv.ALL else sorted(proj["sku"].unique())
    share.init_widget("inv_sku", link.sku, [pv.ALL] + skus, pv.ALL, "sku")
    if st.session_state.get("inv_sku") not in [pv.ALL] + skus:
        st.session_state["inv_sku"] = pv.ALL
    sku = f[1].selectbox("Sku", [pv.ALL] + skus, key="inv_sku")
    state = share.sync_url(dataclasses.replace(link, family=None if family == pv.ALL else family, region=None,
                                               sku=None if sku == pv.ALL else sku, compare=(), horizon=None))
    share.share_button(state, f[0], snapshot=lambda: snapshot)
    shown = [sku] if sku != pv.ALL else skus
    sources = safety["source"].reindex(shown).fillna("none")
    n_computed = int((sources == "computed").sum())
    label = ("Safety stock (computed)" if n_computed == len(shown) else
             f"Safety stock ({n_computed} of {len(shown)} computed)" if n_computed else "Safety stock")
    series = inventory.projection_series(proj, None if family == pv.ALL else family, None if sku == pv.ALL else sku)
    low = series.loc[series["closing"].idxmin()] if len(series) else None
    scope = sku if sku != pv.ALL else (family if family != pv.ALL else "All skus")
    if low is not None:
        f[2].caption(f"{escape.plain(scope)}: on hand {units(series['opening'].iloc[0])} units at the start; lowest projected "
                     f"balance {units(low['closing'])} in {pd.Timestamp(low['period']):%b %Y} against safety stock "
                     f"{units(low['safety_stock'])}.")
    st.plotly_chart(charts.projection_chart(series, safety_label=label), key="inv_chart",
                    config={"displayModeBar": False})
    if n_computed:
        st.caption("Computed safety stock = z(service level "
                   f"{view.settings['service_level']:.0%}) × σ(monthly demand) × √(lead time in months), for skus "
                   "without safety_stock_units in the products table.")


table = view.exception_rows
if len(table):  # known before the chart's fragment draws the Share button: a snapshot link keeps it
    snapshot.append(share.table_block("Exceptions, largest money first",
                                      table.assign(first_period=pd.to_datetime(table["first_period"])), {
        "sku": ("Sku", None), "family": ("Family", None), "kind": ("Exception", None), "first_period": ("From", None),
        "units": ("Units", units), "value": ("Value", lambda v: money(v, compact=False))},
        caption="Stockout value = revenue at risk (unit_price); breach and excess values at unit_cost."))
projection()

# -- exceptions ------------------------------------------------------------------------------------------
st.subheader("Exceptions", anchor=False)
if table.empty and not seen:
    st.caption("Not checked: no sku of the plan has a stock record in the inventory table.")
elif table.empty:
    st.caption(("No exception: every sku stays above safety stock and within " if cov.complete else
                f"No exception among the {cov.checked:,} skus with a stock record: each stays above safety stock "
                "and within ") + f"{excess_months:g} months of cover.")
else:
    st.caption("One row per sku and kind, largest money first; click a column to sort. Stockout value = revenue at "
               "risk (unit_price); breach and excess values at unit_cost.")
    shown_table = table.assign(first_period=pd.to_datetime(table["first_period"]))
    st.dataframe(
        shown_table, hide_index=True, width="stretch", key="inv_exceptions",
        column_config={
            "sku": "Sku", "family": "Family", "kind": "Exception",
            "first_period": st.column_config.DateColumn("From", format="MMM YYYY",
                                                        help="First month the condition holds"),
            "units": st.column_config.NumberColumn("Units", format="%,.0f",
                                                   help="Deepest shortage, largest gap to safety stock, or largest excess"),
            "value": st.column_config.NumberColumn("Value", format="$%,.0f"),
            "value_basis": "Valued as",
            "safety_stock_units": st.column_config.NumberColumn("Safety stock", format="%,.0f"),
            "safety_source": st.column_config.TextColumn(
                "Safety stock source", help="products: from the products table; computed: z × σ × √lead time"),
        },
    )
    st.download_button("Download the exception list (CSV)", lambda: to_csv_bytes(inventory.exception_export(table)),
                       file_name="inventory_exceptions.csv",
                       mime="text/csv", icon=":material/download:", key="inv_download", on_click="ignore")

with st.expander("Safety stock by sku", icon=":material/shield:"):
    ss = r.safety.merge(r.on_hand, on="sku", how="left")
    st.dataframe(
        ss[["sku", "on_hand", "as_of", "safety_stock_units", "source", "demand_sd", "lead_time_weeks"]],
        hide_index=True, width="stretch",
        column_config={
            "sku": "Sku", "on_hand": st.column_config.NumberColumn("On hand", format="%,.0f"),
            "as_of": st.column_config.DateColumn("As of", format="D MMM YYYY"),
            "safety_stock_units": st.column_config.NumberColumn("Safety stock", format="%,.0f"),
            "source": st.column_config.TextColumn("Source", help="products: given; computed: z × σ × √lead time"),
            "demand_sd": st.column_config.NumberColumn("σ monthly demand", format="%,.0f"),
            "lead_time_weeks": st.column_config.NumberColumn("Lead time (weeks)", format="%.0f"),
        },
    )
with st.expander("How the projection works", icon=":material/function:"):
    st.markdown(pv.rules(inventory))
share.compare_with_snapshot(snapshot)  # a snapshot link after "Compare with today": its numbers beside today's
