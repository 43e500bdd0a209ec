import json

import pandas as pd
import streamlit as st

from pages.shell.state import author, page_header, workspace
from sop_core import contract, escape
from sop_core.demand.history import is_money
from sop_core.formatting import plural, units
from sop_core.intake import company, errors, health, load, readers, text_files, worker
from sop_core.intake.storing import PERIOD_COLUMN

page_header("data")
ws = workspace()
UNMAPPED = "(not in file)"
DATE_ORDERS = {"Detect from the values": None, "Day first (DD/MM/YYYY)": True, "Month first (MM/DD/YYYY)": False}
# how a text file is read (text_files.read_csv): detection reads UTF-8 and files with a byte-order mark
ENCODINGS = {"Detect automatically": None, "UTF-8": "utf-8", "Windows-1252 (Excel on Windows)": "cp1252",
             "Latin-1 (ISO-8859-1)": "latin-1", "Latin-9 (ISO-8859-15)": "iso8859-15", "Mac Roman": "mac-roman"}
DELIMITERS = {"Detect automatically": None} | {n.capitalize(): d for d, n in text_files.DELIMITER_NAMES.items()}
DECIMALS = {"Point (1,234.5)": ".", "Comma (1.234,5)": ","}
REPLACE, APPEND = "Replace the table", "Add these periods"

# -- the answer first: is last month's data in and clean? ------------------------------------------
table_health = health.table_health(ws)
fresh = health.freshness(ws)
loaded = table_health[table_health["loaded"]]
c1, c2, c3, c4 = st.columns(4)
c1.metric("Tables loaded", f"{len(loaded)} of {len(table_health)}",
          help="Only sales is required; each view says which table it still needs.")
if fresh["last_period"] is not None:
    c2.metric("Sales history through", fresh["last_period"].strftime("%b %Y"),
              delta="up to date" if fresh["fresh"] else f"{plural(fresh['months_behind'], 'month')} behind",
              delta_color="normal" if fresh["fresh"] else "inverse",
              help="Up to date when last month's actuals are in.")
else:
    c2.metric("Sales history through", "—", help="Load a sales file.")
last_load = loaded["loaded_at"].max() if len(loaded) else None
if last_load is not None:  # the day as the value, the time beside it: whole at 1024 px
    c3.metric("Last load", f"{pd.Timestamp(last_load):%-d %b}", delta=f"{pd.Timestamp(last_load):%H:%M} UTC",
              delta_color="off", delta_arrow="off")
else:
    c3.metric("Last load", "—")
n_warn = int(table_health["warnings"].map(len).sum())
c4.metric("Warnings", f"{n_warn}", help="Warnings don't block a load: they are listed per table below.")
if is_money(ws):
    st.caption(":material/payments: The sales history is in money (sales values, no units): forecasts and plans are "
               "in currency; the supply review and the inventory projection need a sales file in units.")

st.subheader("Data health", anchor=False)


def _period(first: object, last: object) -> str:
    """'Jan 2023 – Oct 2026', one month alone, or '—' for a table without dates (products)."""
    if first is None or last is None or pd.isna(first) or pd.isna(last):
        return "—"
    a, b = pd.Timestamp(first), pd.Timestamp(last)
    return f"{a:%b %Y}" if (a.year, a.month) == (b.year, b.month) else f"{a:%b %Y} – {b:%b %Y}"


view = table_health.assign(
    status=table_health["loaded"].map({True: "Loaded", False: "Missing"}),
    period=[_period(a, b) for a, b in zip(table_health["first_date"], table_health["last_date"])],
    file_name=table_health["file_name"].fillna("—"),
    loaded_at=[f"{pd.Timestamp(t):%-d %b %Y, %H:%M}" if t is not None and not pd.isna(t) else "—"
               for t in table_health["loaded_at"]],
    # what a loaded table warns about; for a missing one, the views that wait for it
    notes=[("; ".join(w) if w else "") if ok else "Needed by " + ", ".join(v) if v else ""
           for ok, w, v in zip(table_health["loaded"], table_health["warnings"], table_health["views_waiting"])],
)
st.dataframe(
    view[["label", "status", "rows", "period", "file_name", "loaded_at", "notes"]],
    hide_index=True, width="stretch",
    column_config={
        "label": "Table", "status": "Status", "rows": st.column_config.NumberColumn("Rows", format="localized"),
        "period": "Period", "file_name": "Last file",
        "loaded_at": st.column_config.TextColumn("Loaded (UTC)"),
        "notes": st.column_config.TextColumn("Notes", help="Warnings of a loaded table (they don't "
                                             "block a load); for a missing table, the views waiting for it"),
    },
)

# -- load files -----------------------------------------------------------------------------------
st.subheader("Load files", anchor=False)
st.caption("CSV, Excel (.xlsx) or Parquet, one table per file. Columns are matched by name; confirm the "
           "mapping, check the report, then load. A file with errors is never loaded, and nothing stored changes.")
uploads = st.file_uploader("Upload files", type=["csv", "txt", "tsv", "xlsx", "parquet"], accept_multiple_files=True,
                           key="uploads", label_visibility="collapsed")


def _options(file_id: str) -> dict:
    return st.session_state.setdefault(f"intake_opts_{file_id}", {"table": None, "mapping": None, "dayfirst": None,
                                                                 "sheet": None, "long": False, "encoding": None,
                                                                 "delimiter": None, "decimal": None,
                                                                 "money": None})


def _prepared(upload, opts: dict) -> load.Prepared:
    """Prepare an upload once per set of options (kept in the session: reruns don't re-read the file)."""
    cache = st.session_state.setdefault("intake_cache", {})
    # products give the unit conversions: a products load re-checks the files shown
    key = (upload.file_id, json.dumps(opts, sort_keys=True, default=str), ws.fingerprint(["products"]))
    if key not in cache:
        mapping = opts["mapping"] if opts["mapping"] is not None else ({} if opts["long"] else None)
        with st.spinner(f"Reading {escape.plain(upload.name)}…"):
            # parsed in a short-lived child process with memory and time limits: a hostile or broken
            # file cannot take the server down for everyone
            cache[key] = worker.prepare_isolated(upload.name, upload.getvalue(), opts["table"], mapping=mapping,
                                                        dayfirst=opts["dayfirst"], sheet=opts["sheet"],
                                                        encoding=opts["encoding"], delimiter=opts["delimiter"],
                                                        decimal=opts["decimal"], money=opts["money"], ws=ws)
    return cache[key]


def _set(file_id: str, name: str, widget_key: str, transform=lambda v: v) -> None:
    opts = _options(file_id)
    opts[name] = transform(st.session_state[widget_key])
    if name in ("table", "sheet", "long", "encoding", "delimiter"):  # the headers may change: map them again
        opts["mapping"] = None
        if name != "table" and opts["table"] is None:  # the table was a guess: show the guess from the new read
            st.session_state.pop(f"table_{file_id}", None)


def _set_mapping(file_id: str, columns: list[str]) -> None:
    opts = _options(file_id)
    opts["mapping"] = {c: (None if st.session_state[f"map_{file_id}_{c}"] == UNMAPPED
                           else st.session_state[f"map_{file_id}_{c}"]) for c in columns}


def _file_options(fid: str, opts: dict, p: load.Prepared) -> None:
    """The 'File options' row of a text upload: encoding, delimiter, decimal separator."""
    st.markdown("**File options**")
    cols = st.columns([2, 2, 2, 2])
    current = next(k for k, v in ENCODINGS.items() if v == opts["encoding"])
    cols[0].selectbox("Encoding", list(ENCODINGS), index=list(ENCODINGS).index(current), key=f"enc_{fid}",
                      on_change=_set, args=(fid, "encoding", f"enc_{fid}", ENCODINGS.get),
                      help="Detection reads UTF-8, and UTF-16 or UTF-32 with a byte-order mark. A CSV saved by "
                           "Excel on Windows is usually Windows-1252.")
    current = next(k for k, v in DELIMITERS.items() if v == opts["delimiter"])
    cols[1].selectbox("Delimiter", list(DELIMITERS), index=list(DELIMITERS).index(current), key=f"delim_{fid}",
                      on_change=_set, args=(fid, "delimiter", f"delim_{fid}", DELIMITERS.get),
                      help="What separates the columns; detection picks the one that splits the first lines "
                           "most evenly.")
    decimal = opts["decimal"] or p.options.get("decimal") or "."  # remembered for this layout, else point
    current = next(k for k, v in DECIMALS.items() if v == decimal)
    cols[2].selectbox("Decimal separator", list(DECIMALS), index=list(DECIMALS).index(current), key=f"decimal_{fid}",
                      on_change=_set, args=(fid, "decimal", f"decimal_{fid}", DECIMALS.get),
                      help="Comma for numbers written like 1.234,5 (the dot then groups thousands).")


def _option_hints(p: load.Prepared) -> list[str]:
    """Which file option may fix the errors of a text upload (the errors themselves come from the engine)."""
    kinds = {e.kind for e in p.errors}
    hints = []
    if "encoding" in kinds:
        hints.append("Choose the file's **Encoding** under File options above (Windows-1252 for a CSV saved by "
                     "Excel on Windows), or re-save the file as UTF-8.")
    if "not_number" in kinds and p.options.get("decimal") == ".":
        hints.append("Numbers written like 1.234,5? Set **Decimal separator** to comma under File options above.")
    if "ragged" in kinds or (kinds and p.raw is not None and len(p.raw.headers) == 1):  # no table has one column
        hints.append("Columns split on the wrong character? Choose the **Delimiter** under File options above.")
    return hints


def render_upload(upload) -> None:
    """Options, mapping, validation report, preview and the load button of one uploaded file."""
    fid = upload.file_id
    opts = _options(fid)
    p = _prepared(upload, opts)
    done = st.session_state.get(f"intake_loaded_{fid}")
    st.markdown(f"**{escape.plain(p.file_name)}** · {units(upload.size / 1024)} KB")
    raw = p.raw
    text_file = readers.extension(p.file_name) in readers.CSV_EXTENSIONS
    cols = st.columns([2, 2, 2, 2])
    tables = list(contract.TABLES)
    cols[0].selectbox("Table", tables, index=tables.index(p.table) if p.table in tables else None,
                      format_func=lambda t: f"{contract.TABLES[t].label} ({t})", key=f"table_{fid}",
                      placeholder="Choose the table", on_change=_set, args=(fid, "table", f"table_{fid}"))
    if raw is not None and len(raw.sheet_names) > 1:
        cols[1].selectbox("Sheet", raw.sheet_names, index=raw.sheet_names.index(raw.sheet) if raw.sheet else 0,
                          key=f"sheet_{fid}", on_change=_set, args=(fid, "sheet", f"sheet_{fid}"))
    sheet_err = next((e for e in p.errors if e.kind == "sheet_choice" and e.choices), None)
    if sheet_err is not None:
        cols[1].selectbox("Sheet", sheet_err.choices, index=None, placeholder="Choose the sheet", key=f"sheet_{fid}",
                          on_change=_set, args=(fid, "sheet", f"sheet_{fid}"))
    if p.table and any(c.type == contract.DATE for c in contract.TABLES[p.table].columns):
        current = next(k for k, v in DATE_ORDERS.items() if v == opts["dayfirst"])
        cols[2].selectbox("Date order", list(DATE_ORDERS), index=list(DATE_ORDERS).index(current),
                          key=f"dates_{fid}", on_change=_set, args=(fid, "dayfirst", f"dates_{fid}", DATE_ORDERS.get),
                          help="Dates like 03/01/19 can be 3 January or March 1: choose when the file can't tell.")
    if p.wide is not None or opts["long"]:
        cols[3].toggle("One column per series", value=p.wide is not None, key=f"wide_{fid}",
                       on_change=_set, args=(fid, "long", f"wide_{fid}", lambda v: not v),
                       help="Wide layout: a date column, then one column of values per series (each becomes a sku).")
    if p.table == "sales":
        st.checkbox("Amounts are money, not units", value=load.is_money(p), key=f"money_{fid}", on_change=_set,
                    args=(fid, "money", f"money_{fid}"),
                    help="A history of sales values only (revenue, no quantities): forecasts and plans are then in "
                         "currency, and the supply and inventory views say they need units. Detected when the file "
                         "has a revenue column and no quantity column.")
    if text_file:
        _file_options(fid, opts, p)

    if p.table and raw is not None and p.wide is None:
        spec = contract.TABLES[p.table]
        source = {"remembered": "remembered from an earlier file with this layout", "user": "as you set it",
                  "proposed": "proposed from the column names"}.get(p.mapping_source, p.mapping_source)
        with st.expander(f"Column mapping — {source}", expanded=not p.ok and p.mapping_source != "remembered"):
            options = [UNMAPPED] + list(raw.headers)
            grid = st.columns(4)
            for i, col in enumerate(spec.mappable):
                current = p.mapping.get(col.name)
                grid[i % 4].selectbox(
                    f"{col.name}{' *' if col.required else ''}", options,
                    index=options.index(current) if current in options else 0, key=f"map_{fid}_{col.name}",
                    on_change=_set_mapping, args=(fid, list(spec.mappable_names)),
                    help=("required" if col.required else "optional") + f" · {col.type.lower()}",
                )
            st.caption("* required. Columns of the file mapped to nothing are ignored.")

    if p.date_choice_needed:
        st.warning("The dates could be day-first or month-first: choose the date order above.", icon=":material/event:")
    for err in p.errors:  # the engine's sentences name the file's columns and values: data
        st.error(escape.plain(err), icon=":material/error:")
    if text_file:
        for hint in _option_hints(p):
            st.info(hint, icon=":material/tune:")
    for w in p.warnings:
        st.warning(escape.plain(w), icon=":material/warning:")
    for n in p.notes:
        st.caption(escape.plain(n))
    s = p.stats
    st.caption(f"Rows read {s.get('rows_read', 0):,} · kept {s.get('rows_kept', 0):,} · blank dropped "
               f"{s.get('blank_rows', 0):,} · duplicates summed {s.get('duplicates_summed', 0):,} · "
               f"{p.seconds:.2f} s")
    if p.ok:
        with st.expander(f"Preview {p.table} ({len(p.frame):,} rows)"):
            st.dataframe(p.frame.head(200), hide_index=True, width="stretch")
    if done:
        st.success(escape.plain(done), icon=":material/check_circle:")
        return
    if holder.is_demo:  # one company per workspace: the user's file starts their company
        st.info(f"This workspace holds the demo company, {escape.plain(holder.name or 'Northwind Outdoor')}. Loading your own file "
                "starts your company: the demo's tables, overrides, scenarios, decisions and plan versions are set "
                "aside in a backup first, and the settings go back to their defaults. Nothing of the demo will "
                "apply to your data.", icon=":material/domain_add:")
        if st.button("Start my company with this file", key=f"start_{fid}", type="primary", disabled=not p.ok):
            with st.spinner("Setting the demo aside and loading your file…"):
                try:
                    saved = company.start_company(ws, author=author())
                except PermissionError as exc:
                    st.error(escape.plain(exc))
                    return
                st.session_state["company_notice"] = _set_aside_note("The demo company", saved)
                _commit(upload, fid, _prepared(upload, opts))  # read again: the demo's products no longer apply
        return
    mode = REPLACE
    if p.table in PERIOD_COLUMN and p.table in set(loaded["table"]):
        mode = st.radio(
            "How to load", [REPLACE, APPEND], key=f"mode_{fid}", horizontal=True,
            help=f"Replace: the file becomes the whole {p.table} table. Add: the file's periods (each distinct "
                 f"{PERIOD_COLUMN[p.table]}) replace those periods in the table, and every other period is kept — "
                 "for a new month of actuals. Checked the same way, and all or nothing.")
    label = f"Add to {p.table}" if mode == APPEND else (f"Load into {p.table}" if p.table else "Load")
    if st.button(label, key=f"load_{fid}", type="primary", disabled=not p.ok):
        _commit(upload, fid, p, append=mode == APPEND)


def _set_aside_note(what: str, saved) -> str:
    """What the page says after a company switch: where the backup of what was there is."""
    if saved is None:
        return f"{what} is set aside (there was nothing to back up)."
    return (f"{what} is set aside in the backup `{saved}`: `python -m sop_core restore` brings it back "
            "into a workspace file of its own.")


def _appended_text(table: str, done: load.Appended) -> str:
    """What an append did, in a sentence: rows added for which periods, rows replaced and kept."""
    span = done.first_period[:10] if done.first_period == done.last_period else \
        f"{done.first_period[:10]} to {done.last_period[:10]}"
    return (f"Added {plural(done.rows_added, 'row')} to {table} for {plural(done.periods, 'period')} ({span}); "
            f"{plural(done.rows_replaced, 'row')} of those periods replaced, {plural(done.rows_kept, 'row')} "
            "of other periods kept.")


def _commit(upload, fid: str, p: load.Prepared, append: bool = False) -> None:
    """Store a checked upload (the whole table, or `append`: its periods only), then rerun the page (errors are
    shown in place, nothing stored changes)."""
    if not p.ok:
        for err in p.errors:
            st.error(escape.plain(err), icon=":material/error:")
        return
    with st.spinner(f"{'Adding' if append else 'Loading'} {escape.plain(p.file_name)}…"):
        try:
            if append:
                done = _appended_text(p.table, load.append(ws, p, author=author()))
            else:
                load.commit(ws, p, author=author())
        except (errors.IntakeError, PermissionError) as exc:
            st.error(escape.plain(exc))
            return
    st.session_state[f"intake_loaded_{fid}"] = done if append else f"Loaded into {p.table}."
    st.toast(f"{escape.plain(p.file_name)}: {len(p.frame):,} rows {'added to' if append else 'loaded into'} {p.table}",
             icon=":material/check_circle:")
    st.rerun()


holder = company.current(ws)
notice = st.session_state.pop("company_notice", None)
if notice:
    st.success(notice, icon=":material/inventory:")
for up in uploads or []:
    with st.container(border=True):
        render_upload(up)

# -- preview what is stored -----------------------------------------------------------------------
st.subheader("Stored tables", anchor=False)
if len(loaded):
    name = st.selectbox("Table", list(loaded["table"]), format_func=lambda t: contract.TABLES[t].label,
                        key="preview_table")
    rows = int(loaded.set_index("table").loc[name, "rows"])
    st.caption(f"{rows:,} rows" + (" · first 1,000 shown" if rows > 1000 else ""))
    kinds = {c.name: c.type for c in contract.TABLES[name].columns}
    st.dataframe(health.table_preview(ws, name, limit=1000), hide_index=True, width="stretch",
                 column_config={
                     col: (st.column_config.DateColumn(col, format="D MMM YYYY") if kind == contract.DATE
                           else st.column_config.NumberColumn(col, format="localized") if kind == contract.NUMBER
                           else col)
                     for col, kind in kinds.items()})
else:
    st.info("Nothing is loaded yet. Upload a sales file, or reset to the demo company.")

with st.popover("Reset to the demo company", icon=":material/restart_alt:"):
    st.write("Replaces everything in this workspace with the demo company as it ships: its seven tables, no "
             "overrides, scenarios, decisions or plan versions, and the default settings. What is here now is "
             "written to a backup first.")
    if st.button("Reset now", type="primary", key="reset_demo"):
        with st.spinner("Backing up, then loading the demo company…"):
            saved = company.reset_to_demo(ws, author=author())
        st.session_state.pop("intake_cache", None)
        st.session_state["company_notice"] = _set_aside_note("What was in this workspace", saved)
        st.toast("Demo company loaded", icon=":material/check_circle:")
        st.rerun()
