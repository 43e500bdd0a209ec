import dataclasses

import pandas as pd
import streamlit as st

from pages.shell import plan_view as pv
from pages.shell import share
from pages.shell.state import page_header, workspace
from sop_core import escape
from sop_core.demand.history import is_money
from sop_core.formatting import delta_money, delta_money_whole, money, pct, pts
from sop_core.meetings import agenda, charts, links
from sop_core.planning import finance
from sop_core.planning.kpi_catalogue import MEASURES

page_header("financials")
link = share.link_state("financials", scenario_banner=True)
ws = workspace()
data = pv.require_tables(ws, "financial view", ["sales"])  # no plan table: the outlook, "not checked" against a plan
run, cons = pv.demand_plan(ws)
current = pv.settings(ws)
view = pv.plan_view(ws, run, cons, data, current, scenario=share.scenario())
head = st.columns([3, 1])
if len(view.outlook_years) > 1:
    year = head[1].radio("Outlook year", view.outlook_years, index=view.outlook_years.index(view.result.year),
                         horizontal=True, key="fin_year",
                         help="Years the actuals and the plan cover in full, with an annual plan.")
    if year != view.result.year:
        view = pv.plan_view(ws, run, cons, data, current, scenario=share.scenario(), year=year)
r, k = view.result, view.kpis
year = r.year
actual_months = r.outlook_constrained.loc[r.outlook_constrained["source"] == "actual", "period"]
last_actual = pd.Timestamp(actual_months.max()) if len(actual_months) else None
through = f"actuals Jan–{last_actual:%b} + constrained plan for the rest" if last_actual is not None \
    else "constrained plan for every month"
head[0].caption(f"Full year {year}: {through} · {pv.run_caption(run, view)} (set on the Supply review)")
prices, annual = r.coverage.prices, r.coverage.annual_plan
if prices.state == "none":  # nothing of the plan has a price: no "$0" outlook
    pv.coverage_note(prices)
    if annual.state == "none":
        pv.coverage_note(annual)
    st.stop()
if is_money(ws):  # the plan is in currency already: no prices to apply
    st.caption(":material/payments: The sales history is in money: the outlook is the consensus amounts themselves; "
               "gross margin needs unit_price and unit_cost in the products table (their ratio is the cost of sales).")
elif "products" not in data.present:
    st.caption(":material/info: No products table: prices are derived from sales revenue and costs are unknown, "
               "so gross margin can't be computed. Load the products table on the Data page.")
pv.coverage_note(prices)
compared = annual.state != "none"  # the annual plan gives revenue for some family of the outlook
NOT_CHECKED = "Not checked"

# -- the answer ---------------------------------------------------------------------------------------------
gap, gap_pct = (k["gap_to_plan"], k["gap_to_plan_pct"]) if compared else (float("nan"), float("nan"))
gm, gm_plan = k["gross_margin_pct"], view.plan_margin_pct
m = st.columns(4)
items: list[dict] = []  # the headline figures, as a snapshot link keeps them
snapshot: list[dict] = [{"kind": "metrics", "items": items}]  # what a snapshot link keeps, in the page's order
share.metric(items, m[0], f"Full-year outlook {year}", money(k["revenue"]),
             delta=f"{pct(gap_pct, 1, signed=True)} vs annual plan" if pd.notna(gap_pct) else None,
             help=MEASURES["revenue"].formula, **pv.trend(gap_pct))
share.metric(items, m[1], f"Annual plan {year}", money(k["plan_revenue"]) if compared else NOT_CHECKED,
             caption=None if compared else "Load the plan table (revenue_plan)", help=MEASURES["plan_revenue"].formula)
share.metric(items, m[2], "Gap to annual plan", delta_money(gap) if compared else NOT_CHECKED,
             delta=pct(gap_pct, 1, signed=True) if pd.notna(gap_pct) else None, **pv.trend(gap_pct),
             help=MEASURES["gap_to_plan"].formula + "; % = " + MEASURES["gap_to_plan_pct"].formula)
gm_delta = gm - gm_plan if pd.notna(gm) and pd.notna(gm_plan) else None
share.metric(items, m[3], "Gross margin %", pct(gm) if pd.notna(gm) else NOT_CHECKED,
             delta=f"{pts(gm_delta)} vs plan" if gm_delta is not None else None, **pv.trend(gm_delta),
             caption="Needs unit_cost for every sku (products table)" if pd.isna(gm) else None,
             help=MEASURES["gross_margin_pct"].formula + (f"; annual plan {pct(gm_plan)} (Σ margin_plan / "
                                                              "Σ revenue_plan)" if pd.notna(gm_plan) else ""))
pv.coverage_note(annual)

bridge = r.bridge.set_index("step")["value"]
if compared and pd.notna(gap) and abs(gap) >= 0.5:
    effects = bridge.drop(["Annual plan", "Outlook"], errors="ignore")
    effects = effects[effects.abs() >= 0.5].sort_values(key=lambda s: s.abs(), ascending=False)
    drivers = ", ".join(f"{step.lower()} {delta_money(v)}" for step, v in effects.head(3).items())
    text = (f"The outlook is **{money(abs(gap))} ({pct(abs(gap_pct), 1)})** "
            f"{'below' if gap < 0 else 'above'} the annual plan for {year}" + (f": {drivers}." if drivers else "."))
    snapshot.append({"kind": "text", "text": text.replace("**", ""), "style": "bold"})
    if gap < 0:
        st.warning(text, icon=":material/warning:")
    elif annual.complete and prices.complete:
        st.success(text, icon=":material/check_circle:")
    else:  # above plan on part of the evidence: no green
        st.info(text, icon=":material/info:")

# -- plan vs outlook by month (a fragment: the family filter redraws only this) ------------------------------
families = sorted(r.outlook_constrained["family"].dropna().astype(str).unique())
shown: dict[str, dict] = {}  # the monthly chart as the fragment last drew it (its family), for a snapshot link


def blocks() -> list[dict]:
    """The page's numbers as snapshot blocks: the headline, the monthly chart for the family shown, the rest."""
    return snapshot[:head] + ([shown["monthly"]] if "monthly" in shown else []) + snapshot[head:]


@st.fragment
def monthly() -> None:
    """Revenue per month of the year: actual and outlook months against the annual plan."""
    st.subheader(f"Revenue by month, {year}", anchor=False)
    c = st.columns([1, 3])
    share.init_widget("fin_family", link.family, [pv.ALL] + families, pv.ALL, "family")
    family = c[0].selectbox("Family", [pv.ALL] + families, key="fin_family")
    state = share.sync_url(dataclasses.replace(link, family=None if family == pv.ALL else family, region=None,
                                               sku=None, compare=(), horizon=None))
    frame = finance.monthly_outlook(r.outlook_constrained, view.budget_monthly, None if family == pv.ALL else family)
    done = frame[frame["source"] == "actual"]
    vs = (lambda x: f" vs plan {money(x.sum())}") if compared else (lambda x: "")
    to_date = f"actual {money(done['revenue'].sum())}{vs(done['plan_revenue'])} to date; " if len(done) else ""
    said = (f"{family if family != pv.ALL else 'All families'}: {to_date}full year "
            f"{money(frame['revenue'].sum())}{vs(frame['plan_revenue'])}.")
    shown["monthly"] = {"kind": "chart", "chart": "revenue_by_month", "title": f"Revenue by month, {year}",
                        "frame": links.frame_data(agenda.revenue_by_month(frame)), "caption": said}
    share.share_button(state, c[0], snapshot=blocks)
    c[1].caption(f"{escape.plain(said)} "
                 + ("Dark bars: actual months; light bars: plan months." if len(done) else "Every month is plan."))
    st.plotly_chart(charts.outlook_chart(frame), key="fin_monthly", config={"displayModeBar": False})


head = len(snapshot)  # the monthly chart goes after the headline; the blocks below are known before it is drawn
if compared:
    snapshot.append({"kind": "chart", "chart": "bridge", "title": "From the annual plan to the outlook",
                     "frame": links.frame_data(r.bridge[["step", "kind", "value"]])})
fam = view.family_table.drop(columns="is_total")
fam[["gap_pct", "margin_pct"]] = fam[["gap_pct", "margin_pct"]] * 100
hidden = ([] if compared else ["plan_revenue", "gap", "gap_pct"]) + (
    [] if fam["margin_pct"].notna().any() else ["margin_pct"])  # a column of nothing but blanks says nothing
fam = fam.drop(columns=hidden)
FAMILY_CELLS = {"family": ("Family", None), "outlook_revenue": (f"Outlook {year}", lambda v: money(v, compact=False)),
                "plan_revenue": (f"Annual plan {year}", lambda v: money(v, compact=False)),
                "gap": ("Gap ($)", delta_money_whole), "gap_pct": ("Gap %", lambda v: pct(v / 100, 1, signed=True)),
                "margin_pct": ("Gross margin %", lambda v: pct(v / 100))}  # the table's cells as shown
snapshot.append(share.table_block("By family", fam, {c: f for c, f in FAMILY_CELLS.items() if c in fam.columns}))
monthly()

# -- bridge -----------------------------------------------------------------------------------------------
st.subheader("From the annual plan to the outlook", anchor=False)
if compared:
    st.plotly_chart(charts.bridge_chart(r.bridge), key="fin_bridge", config={"displayModeBar": False})
    notes = r.bridge[r.bridge["kind"] == "effect"]
    st.caption("The axis does not start at zero, so the steps can be read. "
               + " · ".join(f"**{s}**: {escape.plain(n)}" for s, n in zip(notes["step"], notes["note"])))
else:
    st.caption(f"Not checked: no annual plan revenue for {year} to start the bridge from — load the plan table "
               "(revenue_plan).")

# -- by family ----------------------------------------------------------------------------------------------
st.subheader("By family", anchor=False)
if hidden:
    st.caption("Not shown: " + "; ".join(
        t for t, cols in (("the annual plan and the gap (no plan revenue for this year)", "plan_revenue"),
                          ("gross margin % (needs unit_cost for every sku)", "margin_pct")) if cols in hidden) + ".")
st.dataframe(
    fam, hide_index=True, width="stretch",
    column_config={
        "family": "Family",
        "outlook_revenue": st.column_config.NumberColumn(f"Outlook {year}", format="$%,.0f"),
        "plan_revenue": st.column_config.NumberColumn(f"Annual plan {year}", format="$%,.0f"),
        "gap": st.column_config.NumberColumn("Gap ($)", format="%+,.0f", help="outlook − annual plan"),
        "gap_pct": st.column_config.NumberColumn("Gap %", format="%+.1f%%", help="gap / annual plan"),
        "margin_pct": st.column_config.NumberColumn("Gross margin %", format="%.1f%%",
                                                    help="(revenue − COGS) / revenue of the outlook"),
    },
)
with st.expander("How the outlook and the bridge are computed", icon=":material/function:"):
    st.markdown(pv.rules(finance))
share.compare_with_snapshot(blocks())  # a snapshot link after "Compare with today": its numbers beside today's
