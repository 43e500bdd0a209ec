"""The decision log as the meeting pages show it: the table, and a status update (the only change allowed)."""
from __future__ import annotations

import streamlit as st

from sop_core.escape import plain
from sop_core.meetings import decisions, versions
from sop_core.planning import scenarios
from sop_core.store.workspace import Workspace

from .state import author, may


def render(ws: Workspace, key: str, empty: str = "No decision recorded yet.") -> None:
    """Every decision with its owner, due date, status, option and plan version; a picker to update a status."""
    log = decisions.log(ws)
    if log.empty:
        st.caption(empty)
        return
    version_label = {r["version_id"]: f"v{r['number']}" for _, r in versions.list_versions(ws).iterrows()}
    option = {s.scenario_id: s.name for s in scenarios.list_scenarios(ws, include_archived=True)}
    table = log.assign(version=log["version_id"].map(version_label), option=log["scenario_id"].map(option))
    st.dataframe(
        table[["title", "owner", "due_date", "status", "overdue", "option", "version", "created_by"]],
        hide_index=True, width="stretch", key=f"{key}_log",
        column_config={"title": "Decision", "owner": "Owner",
                       "due_date": st.column_config.DateColumn("Due", format="D MMM YYYY"), "status": "Status",
                       "overdue": st.column_config.CheckboxColumn("Overdue"), "option": "Option",
                       "version": "Plan version", "created_by": "Raised by"})
    by_id = log.set_index("decision_id")
    s = st.columns([3, 1.5, 1], vertical_alignment="bottom")
    pick = s[0].selectbox("Update a decision's status", list(log["decision_id"]), index=None, key=f"{key}_dec_pick",
                          format_func=lambda i: by_id.loc[i, "title"], placeholder="Choose a decision")
    new_status = s[1].selectbox("Status", list(decisions.STATUSES), key=f"{key}_dec_status")
    if s[2].button("Update", disabled=pick is None or not may("decision_status"), key=f"{key}_dec_update"):
        try:
            decisions.set_status(ws, pick, new_status, author(), expected_status=by_id.loc[pick, "status"])
        except (ValueError, PermissionError, decisions.StaleDecision) as exc:
            st.error(plain(exc))  # may name the decision: data
        else:
            st.rerun()
