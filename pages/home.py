import streamlit as st

from pages.shell import nav
from pages.shell.demand import consensus_frame, ensure_forecast
from pages.shell.plan_view import plan_view
from pages.shell.state import author, may, page_header, page_link, workspace
from sop_core import escape
from sop_core.demand import forecast
from sop_core.intake import health
from sop_core.meetings import cycle, decisions

page_header("home")
ws = workspace()
ICONS = {"complete": ":material/check_circle:", "ready": ":material/pending_actions:",
         "in_progress": ":material/pending:", "not_started": ":material/radio_button_unchecked:"}
COLORS = {"complete": "green", "ready": "blue", "in_progress": "orange", "not_started": "gray"}

run = ensure_forecast(ws, forecast.saved_settings(ws), author()) if ws.has_table("sales") else None
result = plan_view(ws, run, consensus_frame(ws, run)).result if run is not None else None  # coverage: what was seen
facts = cycle.facts_from_workspace(ws, run.metrics if run is not None else None,
                                   result.kpis if result is not None else None,
                                   result.coverage if result is not None else None)
steps = cycle.steps(facts)
now = cycle.current_step(steps)

# -- the answer: which cycle, where it stands ----------------------------------------------------------
month = f"{facts.cycle_month:%B %Y}" if facts.cycle_month is not None else "no data yet"
st.subheader(f"{month} cycle", anchor=False)
if now is None:
    st.success("Every step of this cycle is complete: the plan is approved.", icon=":material/verified:")
else:
    n_open = len(now.open_items)
    st.markdown(f"Next up: **{now.title}** — " + (f"{n_open} open item{'s' if n_open != 1 else ''}, listed below"
                                                    if n_open else escape.plain(now.summary)))

cols = st.columns(len(steps))
for col, step in zip(cols, steps):
    with col.container(border=True):
        st.markdown(f":{COLORS[step.status]}[{ICONS[step.status]} **{cycle.STATUS_LABELS[step.status]}**]")
        spec = next((p for p in nav.all_pages() if p.url_path == step.page), None)
        st.markdown(f"**{step.title}**")  # text wraps in a narrow card where a link's label is cut off
        if spec is not None:
            page_link(spec.script, label="Open", icon=spec.icon)
        st.caption(escape.plain(step.summary))  # the executive step names the approved version: data
        for item in step.open_items:
            st.markdown(f"- {item}")  # counts, money and coverage texts: no user data
        if facts.cycle_month is not None:
            marked = step.key in facts.marked_complete
            if st.toggle("Marked complete", value=marked, key=f"mark_{step.key}",
                         help="Record that this meeting has taken place for the cycle.",
                         disabled=not may("setting")) != marked:
                cycle.mark_complete(ws, facts.cycle_month, step.key, not marked, author())
                st.rerun()

# -- data freshness and the decisions still open ---------------------------------------------------------
left, right = st.columns([1, 2])
with left:
    st.subheader("Data freshness", anchor=False)
    table_health = health.table_health(ws)
    for _, row in table_health.iterrows():
        when = f"{row['loaded_at']:%d %b %Y}" if row["loaded"] else "not loaded"
        span = f" · to {row['last_date']:%b %Y}" if row["loaded"] and row["last_date"] == row["last_date"] else ""
        mark = ":green[●]" if row["loaded"] else ":gray[○]"
        st.markdown(f"{mark} **{row['label']}** — {when}{span}")
    page_link("data.py", label="Load or check data", icon=":material/database:")
with right:
    st.subheader("Open decisions", anchor=False)
    log = decisions.log(ws, status=("open", "in progress"))
    if log.empty:
        st.caption("No open decisions.")
    else:
        st.dataframe(log[["title", "owner", "due_date", "status", "overdue"]], hide_index=True, width="stretch",
                     column_config={"title": "Decision", "owner": "Owner",
                                    "due_date": st.column_config.DateColumn("Due", format="D MMM YYYY"),
                                    "status": "Status", "overdue": st.column_config.CheckboxColumn("Overdue")})
