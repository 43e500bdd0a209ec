import dataclasses
import uuid

import pandas as pd
import streamlit as st

from pages.shell import share
from pages.shell.demand import (
    accuracy,
    backtest_points,
    consensus_frame,
    ensure_forecast,
    history,
    prepared_statistical,
)
from pages.shell.state import author, may, page_header, page_link, workspace
from sop_core import escape
from sop_core.demand import consensus, dask_executor, forecast, metrics, overrides, review, selection
from sop_core.demand.history import is_money, plan_in_measure
from sop_core.demand.review import Scope
from sop_core.formatting import delta_demand, demand, demand_noun, metric_delta, pct, pts
from sop_core.meetings import charts
from sop_core.store import access

page_header("demand_review")
link = share.link_state("demand_review")
ws = workspace()
settings = forecast.saved_settings(ws)
ALL = "All"

if not ws.has_table("sales"):
    st.info("The demand review needs the **sales** table: load it on the Data page.", icon=":material/database:")
    page_link("data.py", label="Go to Data", icon=":material/database:")
    st.stop()

# -- settings and the forecast run -----------------------------------------------------------------
with st.expander("Forecast settings", icon=":material/tune:"):
    with st.form("forecast_settings", border=False):
        c = st.columns(3)
        bucket = c[0].selectbox("Planning bucket", list(forecast.BUCKETS), index=list(forecast.BUCKETS).index(settings.bucket),
                                format_func=str.capitalize)
        horizon = c[1].slider("Horizon (planning buckets: months or weeks)", *forecast.HORIZON_RANGE,
                              value=settings.horizon,
                              help=f"Up to {forecast.HORIZON_MAX_MONTHS} months, or {forecast.HORIZON_RANGE[1]} weeks "
                                   "(18 months planned weekly).")
        level = c[2].selectbox("Forecast level", list(forecast.LEVELS), index=list(forecast.LEVELS).index(settings.level),
                               format_func={"sku": "SKU × region", "family": "Family × region, split to SKUs"}.get,
                               help="Family level suits sparse SKU histories: SKUs get their share of the last 12 buckets.")
        c = st.columns(3)
        mode = c[0].selectbox("Model choice", list(forecast.MODES), index=list(forecast.MODES).index(settings.mode),
                              format_func={"auto": "Automatic (best or combined on backtest)",
                                           "prophet": "Prophet for every series"}.get)
        seasonality = c[1].selectbox("Seasonality", list(forecast.SEASONALITY_MODES),
                                     index=list(forecast.SEASONALITY_MODES).index(settings.seasonality_mode),
                                     format_func=str.capitalize)
        country = c[2].text_input("Holidays country (ISO code)", value=settings.holidays_country or "",
                                  max_chars=3, placeholder="e.g. US",
                                  help="Weeks: every public holiday, in the week that contains it. Months: the "
                                       "holidays that move between months, such as Easter.")
        inactive_after = st.number_input(
            "Inactive after (buckets without sales; 0 = 24 months or 52 weeks)", min_value=0,
            max_value=forecast.INACTIVE_RANGE[1], value=settings.inactive_after, step=1,
            help="A series with no sales for this many buckets is not fitted and forecast zero; the Demand review "
                 "lists it.")
        scheduler = st.text_input("Dask scheduler (optional)", value=ws.get_setting(dask_executor.SCHEDULER_SETTING) or "",
                                  placeholder="tcp://scheduler-host:8786",
                                  disabled=not may(access.setting_kind(dask_executor.SCHEDULER_SETTING)),
                                  help="Fit on a running Dask cluster (same results as this machine); admins set "
                                       f"it. Empty: ${dask_executor.SCHEDULER_ENV} if set, else this machine's "
                                       "processes.")
        if st.form_submit_button("Apply settings", type="primary", disabled=not may("setting")):
            try:
                new = forecast.ForecastSettings(bucket=bucket, horizon=horizon, level=level, mode=mode,
                                                seasonality_mode=seasonality, holidays_country=country.strip() or None,
                                                origins=settings.origins, inactive_after=int(inactive_after))
                address = dask_executor.normalize_address(scheduler)
            except (ValueError, PermissionError) as exc:
                st.error(escape.plain(exc))
            else:
                forecast.save_settings(ws, new, author())
                if address != ws.get_setting(dask_executor.SCHEDULER_SETTING):
                    ws.set_setting(dask_executor.SCHEDULER_SETTING, address, author())
                st.rerun()

money = is_money(ws)  # a history in money: every demand figure below is currency, not units
noun = demand_noun(money)
if money:
    st.caption(":material/payments: The sales history is in money (sales values, no units): the forecast, the "
               "consensus and the overrides are in currency.")
run = ensure_forecast(ws, settings, author())
for w in run.warnings:  # they name series (skus, regions): data
    st.caption(escape.plain(w))

hist = history(ws, settings.bucket)
stat = run.forecast
prepared = prepared_statistical(ws, run)
cons = consensus_frame(ws, run)
budget = plan_in_measure(ws.table("plan") if ws.has_table("plan") else None, money)

# -- filters -------------------------------------------------------------------------------------
fc = st.columns([1, 1, 1, 2])
families = sorted(stat["family"].dropna().unique())
share.init_widget("dr_family", link.family, [ALL] + families, ALL, "family")
family = fc[0].selectbox("Family", [ALL] + families, key="dr_family")
regions = sorted(stat["region"].dropna().unique())
share.init_widget("dr_region", link.region, [ALL] + regions, ALL, "region")
region = fc[1].selectbox("Region", [ALL] + regions, key="dr_region")
skus = sorted(stat.loc[stat["family"] == family, "sku"].unique()) if family != ALL else sorted(stat["sku"].unique())
share.init_widget("dr_sku", link.sku, [ALL] + skus, ALL, "sku")
if st.session_state.get("dr_sku") not in [ALL] + skus:
    st.session_state["dr_sku"] = ALL
sku = fc[2].selectbox("SKU", [ALL] + skus, key="dr_sku")
scope = Scope(None if family == ALL else family, None if region == ALL else region, None if sku == ALL else sku)
fc[3].caption(f"Forecast of {run.created_at:%d %b %Y %H:%M} on data through {run.last_actual:%b %Y} · "
              f"{run.n_series:,} series · {settings.bucket}ly buckets, horizon {settings.horizon} {settings.bucket}s")
if link.horizon and link.horizon != settings.horizon:
    st.caption(f":material/link: The link was made with a horizon of {link.horizon} {settings.bucket}s; the forecast "
               f"settings now use {settings.horizon}.")
view = share.sync_url(dataclasses.replace(link, family=scope.family, region=scope.region, sku=scope.sku,
                                          horizon=settings.horizon))
share_box = fc[3]  # the Share button is drawn at the end, when the snapshot has every number of the page

# -- the answer ---------------------------------------------------------------------------------
head = review.headline(hist, cons, budget, run.last_actual, scope, bucket=settings.bucket, horizon=settings.horizon)
points = backtest_points(ws, run, settings)
# the accuracy every page quotes: the held-out points of the last 12 months (the scorecard's 12-month figure)
acc, acc_window = accuracy(ws, run, settings, scope)  # cached per run and scope, for every session
m = st.columns(4)
items: list[dict] = []  # the headline figures, as a snapshot link keeps them
snap_blocks: list[dict] = [{"kind": "metrics", "items": items}]  # what a snapshot link keeps, in the page's order
vs_last = f"{pct(head.vs_last_12, signed=True)} vs {head.past_window}" if head.vs_last_12 is not None else None
share.metric(items, m[0], f"Consensus {noun}, {head.window}", demand(head.next_12, money),
             delta=metric_delta(vs_last), note=vs_last,
             help=f"{head.past_window.capitalize()}: {demand(head.last_12, money, with_unit=True)}. Statistical "
                  f"forecast: {demand(head.statistical_next_12, money)}.")
plan_column = "revenue_plan" if money else "volume_plan"
if head.plan_next_12 is not None:
    vs_plan = delta_demand(head.next_12 - head.plan_next_12, money, with_unit=True)
    share.metric(items, m[1], "Against the annual plan", pct(head.vs_plan, signed=True), delta=metric_delta(vs_plan),
                 note=vs_plan, help=f"{'Revenue' if money else 'Volume'} plan: "
                                    f"{demand(head.plan_next_12, money, with_unit=True)} over the same {head.periods} "
                                    f"{head.bucket}s.")
else:
    share.metric(items, m[1], "Against the annual plan", "—",
                 help=f"Needs the plan table with {plan_column} covering the {head.window}.")
if len(acc):
    a = acc.iloc[0]
    vs_naive = f"{pts(a['fva'])} vs seasonal naive"
    share.metric(items, m[2], "Forecast accuracy, 12 months", pct(a["accuracy"]), delta=metric_delta(vs_naive),
                 note=vs_naive, delta_color="off" if pts(a["fva"]) == pts(0.0) else "normal",  # a tie: neither way
                 help=f"Held out, {acc_window}: the same points as the scorecard's 12-month figure. "
                 + metrics.FORMULAS["accuracy"] + "; " + metrics.FORMULAS["wape"] + ". "
                 + metrics.FORMULAS["held_out"] + ". Delta: " + metrics.FORMULAS["fva"])
    share.metric(items, m[3], "Bias, 12 months", pct(a["bias"], signed=True),
                 help=f"Held out, {acc_window}. " + metrics.FORMULAS["bias"])
else:
    share.metric(items, m[2], "Forecast accuracy (1 − WAPE)", "—", help="Not enough history for a backtest.")
    share.metric(items, m[3], "Bias", "—")

# -- chart and overrides (a fragment: a slider move redraws only this) -----------------------------
future = sorted(stat["period"].unique())
labels = {p: pd.Timestamp(p).strftime("%b %Y" if settings.bucket == "month" else "%d %b %Y") for p in future}
snapshot = overrides.history(ws)  # what this screen shows: the stale check compares against it


@st.fragment
def plan_and_overrides() -> None:
    """The plan chart with the override panel whose slider previews the consensus."""
    if st.session_state.pop("_ov_reset", False):  # a save: start the next override from no change, no reason
        st.session_state["ov_pct"] = 0
        st.session_state["ov_reason"] = None
        st.session_state["ov_comment"] = ""
    st.session_state.setdefault("ov_pct", 0)  # the slider's start (not value=: a save resets it through the state)
    left, right = st.columns([3, 1.25])
    with right:
        st.markdown(f"**Override** · {escape.plain(scope.label())}")
        if saved_text := st.session_state.pop("_ov_saved", None):
            st.success(f"Saved: {escape.plain(saved_text)}", icon=":material/check_circle:")
        rng = st.select_slider("Periods", options=future, value=(future[0], future[min(2, len(future) - 1)]),
                               format_func=labels.get, key="ov_range")
        change = st.slider("Change %", -50, 100, step=1, key="ov_pct",
                           help="Applied to every SKU × region of the scope in the periods; a family change is split "
                                "to its SKUs in proportion to their forecast.")
        reason = st.selectbox("Reason", overrides.reasons(ws), index=None, placeholder="Required", key="ov_reason")
        comment = st.text_input("Comment", key="ov_comment", placeholder="Optional")
        ov = overrides.OverrideInput(period_from=rng[0], period_to=rng[1], kind="percent", value=float(change),
                                     reason=reason or "", family=scope.family, region=scope.region, sku=scope.sku,
                                     comment=comment or None, event_id=st.session_state.setdefault("ov_event", uuid.uuid4().hex))
        active = overrides.active(ws)
        shown = consensus.preview(prepared, active, ov) if change else cons
        before = consensus.scope_total(cons, scope.family, scope.region, scope.sku, rng[0], rng[1])
        after = consensus.scope_total(shown, scope.family, scope.region, scope.sku, rng[0], rng[1])
        st.metric("Consensus in these periods", demand(after, money, with_unit=True),
                  delta=metric_delta(delta_demand(after - before, money, with_unit=True)) if change else None)
        if scope.family is None and scope.sku is None:
            st.caption("Choose a family or a SKU above to save an override.")
        if st.button("Save override", type="primary", key="ov_save", help="Needs a change, a reason and a family or SKU.",
                     disabled=(change == 0 or not reason or (scope.family is None and scope.sku is None)
                               or not may("override"))):
            expected = overrides.latest_touching_in(prepared, snapshot, ov)
            try:
                saved = overrides.save_override(ws, run.run_key, prepared, ov, author(),
                                                expected_latest=expected.override_id if expected else None)
            except overrides.StaleOverride as exc:
                st.error(escape.plain(exc), icon=":material/sync_problem:")
            except (ValueError, PermissionError) as exc:
                st.error(escape.plain(exc))
            else:
                st.session_state.pop("ov_event", None)
                st.session_state["_ov_reset"] = True  # widgets are reset on the rerun, before they are drawn
                st.session_state["_ov_saved"] = overrides.saved_text(saved, settings.bucket, money)
                st.toast("Override saved", icon=":material/check_circle:")  # the panel says what was saved
                st.rerun(scope="app")
    with left:
        h, s, c = review.chart_series(hist, stat, shown, scope)
        st.plotly_chart(charts.plan_chart(h, s, c, run.last_actual, units_label="Revenue" if money else "Units"),
                        key="plan_chart", config={"displayModeBar": False})


st.subheader(f"Demand plan — {escape.plain(scope.label())}", anchor=False)
plan_and_overrides()
_, _, plan_by = review.chart_series(hist, stat, cons, scope)  # the chart's consensus, as a snapshot link keeps it
snap_blocks.append(share.table_block(
    f"Demand plan — {scope.label()}: consensus by {settings.bucket}",
    plan_by.assign(change=plan_by["consensus"] - plan_by["statistical"]),
    {"period": (settings.bucket.capitalize(),
                lambda v: f"{pd.Timestamp(v):%b %Y}" if settings.bucket == "month" else f"{pd.Timestamp(v):%d %b %Y}"), "statistical": ("Statistical forecast", lambda v: demand(v, money)),
     "consensus": ("Consensus", lambda v: demand(v, money)), "change": ("Overrides", lambda v: delta_demand(v, money))}))

# -- unit edits per sku × period ---------------------------------------------------------------------
with st.expander(f"Edit {'amounts' if money else 'units'} per SKU and period", icon=":material/edit:"):
    edit_periods = future[:12]
    grid = review.edit_grid(cons, scope, edit_periods)  # columns: period starts, shown by their labels
    st.caption(f"Consensus {noun}{' in region ' + escape.plain(scope.region) if scope.region else ' (all regions)'}; "
               f"a changed cell becomes {'an amount' if money else 'a units'} override, split over regions in "
               "proportion to the forecast.")
    edited = st.data_editor(grid.rename(columns=labels), key="unit_grid", width="stretch",
                            column_config={labels[p]: st.column_config.NumberColumn(labels[p], min_value=0, step=1,
                                                                                    format="%d")
                                           for p in grid.columns})
    ec = st.columns([1, 2, 1])
    edit_reason = ec[0].selectbox("Reason", overrides.reasons(ws), index=None, placeholder="Required", key="grid_reason")
    edit_comment = ec[1].text_input("Comment", key="grid_comment", placeholder="Optional")
    changed = overrides.unit_edits(grid, edited.set_axis(grid.columns, axis=1), edit_reason or "",
                                   region=scope.region, comment=edit_comment)
    if ec[2].button(f"Save {len(changed)} edits", disabled=not changed or not edit_reason or not may("override"), key="grid_save"):
        saved_n = 0
        for ov in changed:
            expected = overrides.latest_touching_in(prepared, snapshot, ov)
            try:
                overrides.save_override(ws, run.run_key, prepared, ov, author(),
                                        expected_latest=expected.override_id if expected else None)
                saved_n += 1
            except (overrides.StaleOverride, ValueError, PermissionError) as exc:
                st.error(escape.plain(f"{ov.sku} {labels[ov.period_from]}: {exc}"))
        if saved_n:
            st.session_state.pop("unit_grid", None)
            st.toast(f"{saved_n} {'amount' if money else 'unit'} edits saved", icon=":material/check_circle:")
            st.rerun()

# -- the reason list (a workspace setting: shown only to roles that may save it) ------------------
if may(access.setting_kind(overrides.REASONS_SETTING)):
    with st.expander("Override reasons", icon=":material/label:"):
        current = overrides.reasons(ws)
        st.caption("The reasons planners choose from when they save an override: add, rename or remove rows. "
                   "Overrides already saved keep their reason, also one removed from this list.")
        edited_reasons = st.data_editor(
            pd.DataFrame({"reason": current}), key="reasons_grid", num_rows="dynamic", hide_index=True,
            width="stretch", column_config={"reason": st.column_config.TextColumn(
                "Reason", max_chars=overrides.MAX_REASON, required=True)})
        new_reasons = [None if pd.isna(r) else r for r in edited_reasons["reason"]]
        if st.button("Save reasons", key="reasons_save", disabled=new_reasons == current):
            try:
                stored = overrides.set_reasons(ws, new_reasons, author())
            except (ValueError, PermissionError) as exc:
                st.error(f"Reasons not saved: {escape.plain(exc)}", icon=":material/error:")
            else:
                st.session_state.pop("reasons_grid", None)
                st.toast(f"{len(stored)} override reasons saved", icon=":material/check_circle:")
                st.rerun()

# -- accuracy ----------------------------------------------------------------------------------------
st.subheader("Forecast accuracy", anchor=False)
st.caption("Held-out accuracy of the whole procedure (rolling origin): at several past cut-offs the model is chosen "
           "from earlier cut-offs only, refitted on the data up to the cut-off and scored on the buckets that followed, "
           "against a seasonal naive forecast (same bucket last season); the first cut-off, with no earlier evidence, only "
           "informs the choice. Error e = F − A.")
mets = run.metrics[scope.mask(run.metrics)] if len(run.metrics) else run.metrics
inactive = forecast.inactive_series(mets, hist)
if inactive is not None and len(inactive):
    with st.expander(f"Inactive series ({len(inactive)}): no recent sales, not fitted, forecast zero",
                     icon=":material/do_not_disturb_on:"):
        st.dataframe(inactive, hide_index=True, width="stretch",
                     column_order=[c for c in ("sku", "region", "family", "last_sale", "reason") if c in inactive],
                     column_config={"sku": "SKU", "region": "Region", "family": "Family", "reason": "Why",
                                    "last_sale": st.column_config.DateColumn("Last sale", format="D MMM YYYY")})
PCT = "%.1f%%"  # percentages with one decimal (the columns hold percent, not fractions: see `in_percent`)
RATIOS = ["accuracy", "bias", "wape", "wape_seasonal_naive", "fva"]


def in_percent(frame: pd.DataFrame) -> pd.DataFrame:
    """The ratio columns × 100, for one-decimal percent columns (and fva in points)."""
    return frame.assign(**{c: frame[c] * 100 for c in RATIOS if c in frame})


if len(mets):
    # by family over the headline's 12 months, so the families add up to the figure quoted above
    fam = accuracy(ws, run, settings, by=("family",))[0] if points is not None and len(points) else None
    value_added = st.column_config.NumberColumn("Value added", format="%+.1f pts", help=metrics.FORMULAS["fva"])
    if fam is not None and len(fam) and scope.sku is None:
        fam = fam[scope.mask(fam)] if scope.family else fam
        st.caption(f"By family, held out {acc_window}; per series below, over every scored cut-off (the evidence "
                   "each model was chosen on).")
        snap_blocks.append(share.table_block(f"Forecast accuracy by family, {acc_window}", fam, {
            "family": ("Family", None), "accuracy": ("Accuracy", pct), "bias": ("Bias", lambda v: pct(v, signed=True)),
            "fva": ("Value added", pts), "wape": ("WAPE", pct), "wape_seasonal_naive": ("WAPE seasonal naive", pct)}))
        st.dataframe(in_percent(fam), hide_index=True, width="stretch",
                     column_order=["family", "accuracy", "bias", "fva", "wape", "wape_seasonal_naive", "n"],
                     column_config={
            "family": "Family", "wape": st.column_config.NumberColumn("WAPE", format=PCT, help=metrics.FORMULAS["wape"]),
            "accuracy": st.column_config.NumberColumn("Accuracy", format=PCT, help=metrics.FORMULAS["accuracy"]),
            "bias": st.column_config.NumberColumn("Bias", format=PCT, help=metrics.FORMULAS["bias"]),
            "wape_seasonal_naive": st.column_config.NumberColumn("WAPE seasonal naive", format=PCT,
                                                                 help=metrics.FORMULAS["wape_seasonal_naive"]),
            "fva": value_added,
            "n": st.column_config.NumberColumn("Points", format="localized"),
        })
    flagged = review.flagged(mets)
    only_flagged = st.toggle(f"Only series flagged for review ({int(flagged.sum())})", key="dr_flagged",
                             help=f"Flagged for review: {review.FLAGGED_MEANING} — the seasonal naive forecast (same "
                                  "bucket last year) beat the model on the backtest, or |tracking signal| > "
                                  f"{metrics.TS_REVIEW_THRESHOLD:g}. The Cycle overview counts the same series.")
    table = in_percent(mets[flagged] if only_flagged else mets).assign(
        model=lambda d: [(lambda t: t[:1].upper() + t[1:])(selection.label(m)) for m in d["model"]],
        flags=lambda d: d["flags"].fillna("").astype(str))
    series_config = {
        "sku": "SKU", "region": "Region", "family": "Family", "model": "Model", "reason": "Why this model",
        "accuracy": st.column_config.NumberColumn("Accuracy", format=PCT, help=metrics.FORMULAS["accuracy"]),
        "wape": st.column_config.NumberColumn("WAPE", format=PCT, help=metrics.FORMULAS["wape"]),
        "wape_seasonal_naive": st.column_config.NumberColumn("WAPE naive", format=PCT,
                                                             help=metrics.FORMULAS["wape_seasonal_naive"]),
        "fva": value_added,
        "bias": st.column_config.NumberColumn("Bias", format=PCT, help=metrics.FORMULAS["bias"]),
        "mase": st.column_config.NumberColumn("MASE", format="%.2f", help=metrics.FORMULAS["mase"]),
        "tracking_signal": st.column_config.NumberColumn("TS", format="%.1f", help=metrics.FORMULAS["tracking_signal"]),
        "flags": "Flags",
    }
    # the meeting's columns; every measure and the model's reason in the detail below (fits at 1280 px)
    st.dataframe(table, hide_index=True, width="stretch", column_config=series_config,
                 column_order=["sku", "region", "family", "model", "accuracy", "fva", "bias", "flags"])
    with st.expander("Every measure and why each model was chosen", icon=":material/table_view:"):
        st.dataframe(table, hide_index=True, width="stretch", column_config=series_config,
                     column_order=["sku", "region", "model", "reason", "wape", "wape_seasonal_naive", "mase",
                                   "tracking_signal"])
    with st.popover("Formulas", icon=":material/function:"):
        for key in ("held_out", "error", "wape", "accuracy", "bias", "mase", "tracking_signal", "fva"):
            st.markdown(f"- {metrics.FORMULAS[key]}")

# -- override history ----------------------------------------------------------------------------------
st.subheader("Override history", anchor=False)
if snapshot.empty:
    st.caption("No overrides yet: the consensus equals the statistical forecast.")
else:
    shown_history = overrides.history_table(snapshot, settings.bucket, money)
    st.dataframe(
        shown_history, hide_index=True, width="stretch",
        column_order=[c for c in overrides.HISTORY_TABLE_COLUMNS if c != "override_id"],
        column_config={
            "created_at": st.column_config.DatetimeColumn("When (UTC)", format="D MMM YYYY HH:mm", width=115),
            "author": st.column_config.TextColumn("Who", width=70),
            "family": st.column_config.TextColumn("Family", width=65),
            "region": st.column_config.TextColumn("Region", width=60),
            "sku": st.column_config.TextColumn("SKU", width=70),
            "periods": st.column_config.TextColumn("Periods", width=130),
            "change": st.column_config.TextColumn("Change", width=65, help="+10%: the consensus scaled by 10%; "
                                                  f"set to N {noun}: the scope's total in each period"),
            "reason": st.column_config.TextColumn("Reason", width=90),
            "before_units": st.column_config.NumberColumn("Before", format="localized", width=65,
                                                          help=f"The scope's consensus {noun} over the periods, before"),
            "after_units": st.column_config.NumberColumn("After", format="localized", width=65,
                                                         help=f"The scope's consensus {noun} over the periods, after"),
            "status": st.column_config.TextColumn("Status", width=65, help="In force; Undone (cancelled by a later "
                                                  "entry); Undo (the entry cancelling another)"),
            "comment": st.column_config.TextColumn("Comment", width="medium"),
        },
    )
    undoable = overrides.undoable(snapshot)
    if len(undoable):
        uc = st.columns([3, 1])
        picks = undoable.set_index("override_id")
        pick = uc[0].selectbox(
            "Undo an override", list(undoable["override_id"]), index=None, placeholder="Choose an override to undo",
            format_func=lambda i: (lambda r: f"{r['created_at']:%d %b %H:%M} · {r['author']} · " + overrides.summary(
                r["family"], r["region"], r["sku"], r["period_from"], r["period_to"], r["kind"], r["value"],
                r["reason"], settings.bucket))(picks.loc[i]),
            key="undo_pick")
        if uc[1].button("Undo", disabled=pick is None or not may("override_undo"), key="undo_btn"):
            try:
                overrides.undo(ws, pick, author(), run_key=run.run_key, statistical=prepared)
            except (ValueError, PermissionError) as exc:
                st.error(escape.plain(exc))
            else:
                st.toast("Override undone (recorded as a new entry)", icon=":material/undo:")
                st.rerun()

# -- the Share button (in the filters row), last: a snapshot link keeps every number above ---------------------
share.share_button(view, share_box, snapshot=lambda: snap_blocks)
share.compare_with_snapshot(snap_blocks)  # a snapshot link after "Compare with today": its numbers beside today's
