import pandas as pd
import streamlit as st

from pages.shell import scorecard as sc
from pages.shell.demand import consensus_frame, forecast_run
from pages.shell.plan_view import plan_view
from pages.shell.state import author, may, page_header, workspace
from sop_core import escape
from sop_core.demand import forecast
from sop_core.planning import kpis
from sop_core.planning.kpi_catalogue import MEASURES

BASIS_WORDS = {"latest": "Latest month", "12m": "12 months"}

page_header("scorecard")
ws = workspace()
run = forecast_run(ws, forecast.saved_settings(ws)) if ws.has_table("sales") else None
view = plan_view(ws, run, consensus_frame(ws, run)) if run is not None and ws.has_table("products") else None
if run is None:
    st.info("Forecast accuracy and the forward-looking KPIs need the demand review's forecast: open the Demand "
            "review once.", icon=":material/trending_up:")
cards = sc.scorecard(ws, run, view)

counts = pd.Series([k.status for k in cards]).value_counts()
m = st.columns(4)
m[0].metric("On target", int(counts.get("green", 0)))
m[1].metric("Watch", int(counts.get("amber", 0)))
m[2].metric("Off target", int(counts.get("red", 0)))
m[3].metric("Not checked", int(counts.get("missing", 0)),
            help="A KPI whose data is missing is not checked (never on target): its tile names what to load.")
sc.render(cards)

with st.expander("Targets", icon=":material/flag:"):
    st.caption("Green when the value meets the first threshold, amber when it meets the second, red otherwise. "
               "Days of supply and bias are bands (bias: within ± the threshold). A monthly KPI is judged on the "
               "latest month unless its target says 12 months.")
    targets = kpis.load_targets(ws)
    rows = []
    for key in kpis.KPI_KEYS:
        label, direction = MEASURES[key].label, MEASURES[key].better
        g, a = targets[key]["green"], targets[key]["amber"]
        band = isinstance(g, tuple)
        basis = targets[key].get("basis")
        rows.append({"key": key, "KPI": label, "direction": direction,
                     "green": g[0] if band else g, "green_high": g[1] if band else None,
                     "amber": a[0] if band else a, "amber_high": a[1] if band else None,
                     "basis": BASIS_WORDS[basis] if basis else None})
    frame = pd.DataFrame(rows).set_index("key")
    edited = st.data_editor(frame, key="targets_editor", width="stretch", disabled=["KPI", "direction"],
                            column_config={"green": st.column_config.NumberColumn("Green", format="%.3g"),
                                           "green_high": st.column_config.NumberColumn("Green (high)", format="%.3g"),
                                           "amber": st.column_config.NumberColumn("Amber", format="%.3g"),
                                           "amber_high": st.column_config.NumberColumn("Amber (high)", format="%.3g"),
                                           "basis": st.column_config.SelectboxColumn(
                                               "Status on", options=list(BASIS_WORDS.values()),
                                               help="Monthly KPIs only: judge the latest month (default) or the "
                                                    "last 12 months pooled")})
    if st.button("Save targets", key="targets_save", disabled=edited.equals(frame) or not may("setting")):
        new = {}
        for key, r in edited.iterrows():
            if pd.notna(r["green_high"]):
                new[key] = {"green": (r["green"], r["green_high"]), "amber": (r["amber"], r["amber_high"])}
            else:
                new[key] = {"green": r["green"], "amber": r["amber"]}
            if isinstance(r["basis"], str) and r["basis"]:
                new[key]["basis"] = {w: b for b, w in BASIS_WORDS.items()}[r["basis"]]
        try:
            kpis.save_targets(ws, new, author())
        except (ValueError, PermissionError) as exc:
            st.error(escape.plain(exc))  # a refusal names the user: data
        else:
            st.toast("Targets saved", icon=":material/check_circle:")
            st.rerun()
