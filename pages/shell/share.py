"""Share links on the pages: read a link once per page visit, keep the address bar a shareable link, the Share button.

`sop_core.meetings.links` is the ONE module that knows the query parameters; this module only moves a
`links.ViewState` between `st.query_params`, the session and the page's widgets:

    link = share.link_state("demand_review")          # right after page_header: reads and checks the link once
    share.init_widget("dr_family", link.family, [ALL] + families, ALL, "family")   # before the widget
    family = st.selectbox("Family", [ALL] + families, key="dr_family")
    state = dataclasses.replace(link, family=..., region=..., sku=...)
    share.sync_url(state)                               # the address bar is always a link to what is on screen
    share.share_button(state)                           # a popover with the full link and its copy button
    share.share_button(state, snapshot=lambda: blocks)  # ... and a snapshot link keeping the page's numbers
    share.compare_with_snapshot(blocks)                 # last: a snapshot link's numbers beside today's

Building a page's snapshot blocks while it draws its numbers (so a figure is written once):

    items = []; blocks = [{"kind": "metrics", "items": items}]
    share.metric(items, m[0], "Units short", units(x), delta=..., caption=...)   # st.metric + the snapshot's item
    blocks.append(share.text_block(answer))               # a bold line the page wrote in Markdown
    blocks.append(share.table_block("By family", frame, {"family": ("Family", None), "revenue": ("Revenue", money)}))

A Share button inside a fragment (a family filter) is drawn before the rest of the page: build the
blocks below it first, so a click (which reruns only up to the button) finds every number.

What a link can say, and how the page answers (the messages are links.py's):

* a malformed, tampered, repeated, oversized or unknown scenario id: "Scenario not found — showing the
  baseline." and the baseline, never an exception;
* the data or the overrides changed since the link was made (its `fp`, `links.fingerprint`,
  differs): a warning, what the link shows, and a "Show on today's data" button; the view is not
  shown until it is pressed, because the numbers would not be the ones the sender saw;
* a snapshot link (`snap`, `links.save_snapshot`) opened after the data or the overrides changed:
  the numbers as they were, marked "as of …", and a "Compare with today" button that shows today's
  view under them; opened while nothing changed, today's view, which has the same numbers;
* a filter value the data does not have: a note next to the filters, and the filter's default;
* the plan settings (pre-build months, excess cover, service level): they hold for the whole
  session, not one page, so `link_state` puts the ones the link fixes (`LinkStatus.settings`: all
  three for a link the app made) into the session when the visit starts (`plan_view.use_settings`),
  and `sync_url` / `share_url` write the session's settings into every link.

User text (scenario names, filter values from a link) is escaped with `plain` before it reaches
Markdown, and never reaches `unsafe_allow_html` or `st.html`. The "Copy link" button is a small
component of fixed HTML, CSS and JavaScript (`_copy_button`); the link reaches it as data and is
only ever written to the clipboard, never into the page.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pandas as pd
import streamlit as st

from sop_core.escape import plain
from sop_core.meetings import charts, links
from sop_core.meetings.links import LinkStatus, ViewState
from sop_core.planning import settings as plan_settings
from sop_core.planning.scenarios import Scenario

from . import plan_view as pv
from .state import author, workspace

VISIT_KEY = "_share_visit"
TODAY_BUTTON = "Show on today's data"
COMPARE_BUTTON = "Compare with today"
SNAPSHOT_BUTTON = "Make a snapshot link"
_DATA_CHANGED_START = links.DATA_CHANGED.split("{", 1)[0]
_SCENARIO_MESSAGES = (links.SCENARIO_NOT_FOUND, links.COMPARED_NOT_FOUND)


@dataclass
class Visit:
    """One visit of a page: the link it was opened with, checked once, and what the page has written since."""

    page: str
    params: dict[str, list[str]]  # the query parameters as last read or written by this visit
    status: LinkStatus
    state: ViewState
    accepted: bool  # data and overrides unchanged since the link (or its snapshot) was made, or a button was pressed
    initialised: set[str] = field(default_factory=set)  # widget keys set from the link
    notes: dict[str, str] = field(default_factory=dict)  # widget key -> why the link's value was not used
    compare_box: Any = None  # where `compare_with_snapshot` writes "then and today", above the live view


def _params() -> dict[str, list[str]]:
    qp = st.query_params
    return {str(k): [str(v) for v in qp.get_all(k)] for k in qp.keys()}


def visit() -> Visit | None:
    """The current page visit (None before `link_state` ran in this session)."""
    return st.session_state.get(VISIT_KEY)


def link_state(page: str, *, scenario_banner: bool = False) -> ViewState:
    """The view the page was opened with: its link read from st.query_params ONCE per page visit, and checked.

    A visit starts when the page differs from the last one that called this, or when the query
    parameters differ from what this visit last read or wrote (another link opened in this session).
    The plan settings the link fixes go into the session when the visit starts.
    Shows the link's messages; stops the page behind a "Show on today's data" button when the data
    or the overrides changed since the link was made. With `scenario_banner`, a page that shows the scenario's numbers
    says so ("Scenario: <name>") with a button back to the baseline.
    """
    params = _params()
    v = visit()
    if v is None or v.page != page or v.params != params:
        status = links.open_link(workspace(), st.query_params, page)
        changed = status.snapshot_changed if status.snapshot is not None else status.data_changed
        v = Visit(page=page, params=params, status=status, state=dataclasses.replace(status.state, page=page),
                  accepted=not changed)
        st.session_state[VISIT_KEY] = v
        pv.use_settings(status.settings)
    _show_messages(v)
    if scenario_banner:
        _scenario_banner(v)
    return v.state


def _describe(state: ViewState, status: LinkStatus) -> str:
    """What a link shows, in words (escaped)."""
    parts = []
    if status.scenario is not None:
        parts.append(f"scenario {plain(status.scenario.name)}")
    if status.compared:
        parts.append("comparing " + ", ".join(plain(s.name) for s in status.compared) + " with the baseline")
    for name in ("family", "region", "sku"):
        value = getattr(state, name)
        if value:
            parts.append(f"{name} {plain(value)}")
    if state.horizon:
        parts.append(f"{state.horizon} months")
    named = tuple(n for n in plan_settings.NAMES if getattr(state, n) is not None)
    if named:
        parts.append(plan_settings.describe(links.settings_of(state), named))
    return " · ".join(parts) if parts else "the page's default view"


def _show_messages(v: Visit) -> None:
    status = v.status
    ignored = []
    for message in status.messages:
        if message.startswith(_DATA_CHANGED_START):
            continue
        if message in _SCENARIO_MESSAGES:
            st.info(message, icon=":material/search_off:")  # links.py's own words: no user text in them
        else:
            ignored.append(message)
    if ignored:
        st.caption(":material/link_off: Parts of the link were ignored: " + "; ".join(plain(m) for m in ignored))
    if status.snapshot is not None:
        _show_snapshot(v, status.snapshot)
        return
    if status.data_changed and not v.accepted:
        text = next((m for m in status.messages if m.startswith(_DATA_CHANGED_START)),
                    links.DATA_CHANGED.format(when=links.UNKNOWN_WHEN))
        with st.container(border=True):
            st.warning(f"{plain(text)} The numbers it showed were computed on those data and overrides and can't "
                       "be shown again: opened now, the view shows today's data and overrides, so its numbers may "
                       "differ from the sender's.", icon=":material/update:")
            st.markdown(f"The link shows: {_describe(v.state, status)}.")
            if st.button(TODAY_BUTTON, type="primary", icon=":material/refresh:", key="share_today"):
                v.accepted = True
                st.rerun()
        st.stop()


def _compare() -> None:
    v = visit()
    if v is not None:
        v.accepted = True


def render_blocks(blocks: Sequence[Mapping[str, Any]], key: str = "snap") -> None:
    """Draw a snapshot's blocks (`links` module docstring): text, metrics, tables, charts; user text escaped."""
    for i, b in enumerate(blocks):
        try:
            kind = b.get("kind")
            if kind == "text":
                text = plain(str(b.get("text", "")))
                style = b.get("style")
                st.caption(text) if style == "caption" else st.markdown(f"**{text}**" if style == "bold" else text)
            elif kind == "metrics":
                items = list(b.get("items", []))
                widths = [max(len(str(i.get("value", ""))), len(str(i.get("label", ""))) / 2, 6) for i in items]
                for col, item in zip(st.columns(widths or 1), items):  # a long figure gets the room to show whole
                    col.metric(plain(str(item.get("label", ""))), str(item.get("value", "—")))
                    if item.get("caption"):
                        col.caption(plain(str(item["caption"])))
            elif kind in ("table", "chart"):
                if b.get("title"):
                    st.markdown(f"**{plain(str(b['title']))}**")
                if b.get("caption"):  # as the page has it: what the chart shows, above it
                    st.caption(plain(str(b["caption"])))
                frame = links.data_frame(b.get("frame", {}))
                if kind == "table":  # numbers right-aligned, text (months, names) left; every row, no scrolling
                    st.dataframe(frame, hide_index=True, width="stretch", height=35 * (len(frame) + 1) + 3,
                                 column_config={c: st.column_config.TextColumn(c, alignment="right")
                                                for c in frame.columns[1:] if _numeric(frame[c])})
                else:
                    st.plotly_chart(charts.from_snapshot(str(b.get("chart")), frame), key=f"{key}_chart_{i}",
                                    config={"displayModeBar": False})
        except (ValueError, KeyError, TypeError, AttributeError):
            st.caption(":material/broken_image: This part of the snapshot can't be shown.")


SNAPSHOT_ROWS = 40  # rows a snapshot table keeps: a view's headline table, never a fact table


def metric(items: list[dict[str, str]], box: Any, label: str, value: str, *, delta: str | None = None,
           caption: str | None = None, note: str | None = None, **kwargs: Any) -> None:
    """`box.metric(label, value, delta, ...)` (and `caption` under it, as Markdown the page wrote) that also puts the
    figure into `items`, the page's snapshot metrics (`{"kind": "metrics", "items": items}`).

    note: the item's caption as plain text (the snapshot escapes it when it shows it); by default the delta, or
    else the caption, with the page's Markdown escapes dropped.
    """
    box.metric(label, value, delta=delta, **kwargs)
    if caption:
        box.caption(caption)
    note = note if note is not None else _unmarked(str(delta or caption or ""))
    items.append({"label": label, "value": value} | ({"caption": note} if note else {}))


def _unmarked(text: str) -> str:
    """A caption as plain text: the page's own Markdown escapes and emphasis dropped (it is escaped again when shown)."""
    return text.replace("\\", "").replace("**", "").replace("\u2060", "")


def text_block(markdown: str, style: str = "bold") -> dict[str, str]:
    """A snapshot text block of a line the page wrote in Markdown (its escapes and ** dropped: shown escaped)."""
    return {"kind": "text", "text": _unmarked(markdown), "style": style}


def table_block(title: str, frame: pd.DataFrame, columns: Mapping[str, tuple[str, Callable[[Any], str] | None]],
                *, index: str | None = None, caption: str | None = None) -> dict[str, Any]:
    """A snapshot table of `frame` as the page shows it: `columns` maps each column kept to (its header, the
    `sop_core.formatting` function that writes its cells; None = text as is, a blank as an em dash).

    caption: plain text shown above the table (what its columns mean).
    index: keep the frame's index as the first column under this header. At most SNAPSHOT_ROWS rows (the first,
    said in the title when there are more: the page's order, largest first).
    """
    df = frame.head(SNAPSHOT_ROWS)
    if len(frame) > SNAPSHOT_ROWS:
        title = f"{title} (the first {SNAPSHOT_ROWS} of {len(frame):,} rows)"
    if index is not None:
        df = df.rename_axis("__index").reset_index()
        columns = {"__index": (index, None)} | dict(columns)
    out = pd.DataFrame({header: [_cell(v, fmt) for v in df[col]] for col, (header, fmt) in columns.items()})
    return {"kind": "table", "title": title, "frame": links.frame_data(out)} | ({"caption": caption} if caption else {})


def _cell(v: Any, fmt: Callable[[Any], str] | None) -> str:
    if v is None or (not isinstance(v, str) and pd.api.types.is_scalar(v) and pd.isna(v)):
        return "—"
    if fmt is None:
        return f"{pd.Timestamp(v):%b %Y}" if isinstance(v, (pd.Timestamp, dt.date)) else str(v)
    return fmt(v)


_NUMBER = re.compile(r"[+−-]?\$?[\d,.]+(%| pts|[KMB])?|—")


def _numeric(column: pd.Series) -> bool:
    """Whether every cell of a snapshot table's column is a number as formatted (12,345 · −$1.2M · +3.4% · —)."""
    cells = [str(v).strip() for v in column]
    return any(c != "—" for c in cells) and all(_NUMBER.fullmatch(c) for c in cells)


def _show_snapshot(v: Visit, snap: links.Snapshot) -> None:
    """A snapshot link: its numbers "as of" when the data changed since (and stop), else say today's are the same."""
    who = f" by {plain(snap.author)}" if snap.author else ""
    if not v.status.snapshot_changed:
        st.caption(f":material/photo_camera: Snapshot link made {plain(snap.as_of_text)}{who}. The data and the "
                   "overrides have not changed since: the numbers below are the snapshot's.")
        return
    if not v.accepted:
        with st.container(border=True, key="snapshot_view"):
            c = st.columns([3, 1.5], vertical_alignment="center")  # "Compare with today" whole at 1024 px
            c[0].info(f"**Snapshot {plain(snap.as_of_text)}**{who}: the numbers as they were when the link was made. "
                      "The data or the overrides changed since, so today's numbers differ.",
                      icon=":material/photo_camera:")
            c[1].button(COMPARE_BUTTON, type="primary", icon=":material/compare_arrows:", key="share_compare",
                        on_click=_compare, width="stretch")
            render_blocks(snap.blocks)
        st.stop()
    v.compare_box = st.container(key="snapshot_compare")
    with st.expander(f"Snapshot {snap.as_of_text} — every number the link was made with",
                     icon=":material/photo_camera:"):
        render_blocks(snap.blocks)
    st.info("Below: today's data and overrides.", icon=":material/today:")


def compare_with_snapshot(blocks: Sequence[Mapping[str, Any]]) -> None:
    """After "Compare with today": the snapshot's headline numbers beside today's (`blocks`: the page's snapshot
    blocks as it would store them now), drawn above the live view. Nothing when no snapshot is being compared."""
    v = visit()
    if v is None or v.compare_box is None or v.status.snapshot is None or not v.accepted:
        return
    snap = v.status.snapshot
    rows, texts = links.compare_blocks(snap.blocks, blocks)
    with v.compare_box:
        st.markdown(f"**The snapshot, {plain(snap.as_of_text)}, and today**")
        if rows:
            then = f"As of {snap.as_of:%d %b %Y}"
            frame = pd.DataFrame(rows, columns=["", then, "Today"])
            st.dataframe(frame, hide_index=True, width="stretch",
                         column_config={then: st.column_config.TextColumn(then, alignment="right"),
                                        "Today": st.column_config.TextColumn("Today", alignment="right")})
        for was, now in texts:
            st.markdown(f"As of {snap.as_of:%d %b %Y}: {plain(was)}  \n**Today: {plain(now)}**")
        if not rows and not texts:
            st.caption("The headline numbers read the same today.")


def scenario() -> Scenario | None:
    """The scenario the current visit shows (None = the baseline)."""
    v = visit()
    if v is None or v.state.scenario_id is None or v.status.scenario is None:
        return None
    return v.status.scenario if v.status.scenario.scenario_id == v.state.scenario_id else None


def _to_baseline() -> None:
    v = visit()
    if v is not None:
        v.state = dataclasses.replace(v.state, scenario_id=None)


def _scenario_banner(v: Visit) -> None:
    sc = scenario()
    if sc is None:
        return
    changes = "; ".join(plain(line) for line in sc.describe()) or "no changes"
    c = st.columns([4, 1], vertical_alignment="center")
    c[0].info(f"**Scenario: {plain(sc.name)}** — {changes}. The numbers on this page are the baseline plan with "
              "these changes.", icon=":material/science:")
    c[1].button("Show the baseline", key="share_baseline", on_click=_to_baseline, icon=":material/undo:",
                width="stretch")


def init_widget(key: str, value: Any, options: Sequence[Any], default: Any, what: str) -> None:
    """Set widget `key` from the link's `value` once per visit, before the widget is created.

    A value (or, for a list, each value) the options do not have is left out, with a note shown
    below the widget's row for the rest of the visit. Later reruns keep what the user chose.
    """
    v = visit()
    if v is None:
        return
    if key not in v.initialised:
        v.initialised.add(key)
        if isinstance(default, list):
            wanted = list(value or [])
            kept = [x for x in wanted if x in options]
            st.session_state[key] = kept if wanted else list(default)
            if len(kept) < len(wanted):
                v.notes[key] = f"Some {what} in the link are not available here; they are left out."
        elif value is None:
            st.session_state[key] = default
        elif value in options:
            st.session_state[key] = value
        else:
            st.session_state[key] = default
            v.notes[key] = f"The link's {what} {value!r} is not in the data; showing {default}."
    if key in v.notes:
        st.caption(f":material/link_off: {plain(v.notes[key])}")


def _complete(state: ViewState) -> ViewState:
    """`state` stamped with today's fingerprint and naming the session's plan settings: a link that opens this view."""
    ws = workspace()
    return links.with_settings(links.stamp(ws, state), pv.settings(ws))


def link_params(state: ViewState) -> dict[str, str]:
    """The query parameters of a link to `state` in this session (for st.page_link): completed like `share_url`."""
    ws = workspace()
    if state.fingerprint is None:
        state = links.stamp(ws, state)
    params = links.with_settings(state, pv.settings(ws)).to_params()
    params.pop("page", None)
    return params


def sync_url(state: ViewState) -> ViewState:
    """Write the view into st.query_params, stamped with today's fingerprint and the session's plan settings.

    The address bar is its link.
    """
    v = visit()
    state = _complete(state)
    if state.snapshot is not None and (v is None or v.status.snapshot is None
                                       or _view_params(state) != _view_params(v.status.snapshot.params)):
        state = dataclasses.replace(state, snapshot=None)  # the view moved away from the snapshot's
    params = state.to_params()
    params.pop("page", None)  # the page is the URL path
    want = {k: [v] for k, v in params.items()}
    if _params() != want:
        st.query_params.from_dict(params)
    if v is not None:
        v.params = want
        v.state = state
    return state


def _view_params(state: ViewState | Mapping[str, str]) -> dict[str, str]:
    """What a link shows, without its fingerprint and snapshot (to tell whether a view is still the snapshot's)."""
    params = dict(state.to_params() if isinstance(state, ViewState) else state)
    for k in ("fp", "snap", "page"):
        params.pop(k, None)
    return params


def _base_url(page: str | None) -> str:
    """The app's address without the page path (from the browser's URL; '' when unknown, e.g. in tests)."""
    try:
        url = st.context.url
    except Exception:  # noqa: BLE001 - no browser context
        url = None
    if not url:
        return ""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if page and path.endswith("/" + page):
        path = path[: -len(page) - 1]
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def share_url(state: ViewState) -> str:
    """The full link to `state`; completed like `sync_url` unless it has a fingerprint (as `sync_url` returns it)."""
    if state.fingerprint is None:
        state = _complete(state)
    return links.url(_base_url(state.page), state)


def share_button(state: ViewState, container: Any = None, *, key: str = "share",
                 snapshot: Callable[[], Sequence[Mapping[str, Any]]] | None = None) -> str:
    """A "Share" popover with the link to `state` in a code box whose copy button copies it; returns the link.

    snapshot: the page's numbers as snapshot blocks (`links` module docstring), called only when the
    user asks for a snapshot link; None offers the live link only.
    """
    live = dataclasses.replace(state, snapshot=None)
    url = share_url(live)
    box = container if container is not None else st
    with box.popover("Share", icon=":material/link:", help="A link that opens exactly this view", key=key):
        st.markdown("**Live link** — today's numbers whenever it is opened:")
        st.code(url, language=None, wrap_lines=True)
        _copy_button(url, f"{key}_copy")
        st.caption("Anyone who can open this app sees this page with these scenarios, filters, months and plan "
                   "settings — also after a restart. If the data or the overrides change before they open it, "
                   "the page tells them.")
        if snapshot is not None:
            _snapshot_part(live, key, snapshot)
    return url


_COPY_HTML = '<button type="button" class="copy"><span class="label">Copy link</span></button>'
_COPY_CSS = """
.copy { font: inherit; font-size: 0.875rem; padding: 0.3rem 0.75rem; border-radius: 0.5rem; cursor: pointer;
        border: 1px solid rgba(49, 51, 63, 0.2); background: var(--st-primary-color, #1f5fa8); color: #fff; }
.copy:hover { filter: brightness(1.1); }
"""
_COPY_JS = """
export default function(component) {
  const { data, parentElement } = component;
  const button = parentElement.querySelector('button.copy');
  const label = parentElement.querySelector('.label');
  if (!button || !label) return;
  button.onclick = async () => {
    const url = data && typeof data.url === 'string' ? data.url : '';
    let ok = false;
    try { await navigator.clipboard.writeText(url); ok = true; } catch (e) {
      const area = document.createElement('textarea');
      area.value = url; area.setAttribute('readonly', ''); area.style.position = 'fixed'; area.style.opacity = '0';
      document.body.appendChild(area); area.select();
      try { ok = document.execCommand('copy'); } catch (e2) { ok = false; }
      document.body.removeChild(area);
    }
    label.textContent = ok ? 'Copied' : 'Select the link and copy it';
    setTimeout(() => { label.textContent = 'Copy link'; }, 2500);
  };
}
"""
_COPY: list[Any] = []


def _copy_button(url: str, key: str) -> None:
    """A visible "Copy link" button that puts `url` on the clipboard (st.code's own copy icon shows on hover only)."""
    if not _COPY:
        _COPY.append(st.components.v2.component("sop_copy_link", html=_COPY_HTML, css=_COPY_CSS, js=_COPY_JS))
    try:
        _COPY[0](data={"url": url}, key=key)
    except Exception:  # noqa: BLE001 - no component runtime (a test harness): the code box's copy icon remains
        pass


def _snapshot_part(state: ViewState, key: str, snapshot: Callable[[], Sequence[Mapping[str, Any]]]) -> None:
    """The popover's snapshot link: made on request, kept for this view until the view changes."""
    st.markdown("**Snapshot link** — keeps the numbers on screen now, for a pre-read: opened after a later "
                "override it still shows them, marked with today's date.")
    made_key = f"{key}_snapshot"
    view = _view_params(state)
    made = st.session_state.get(made_key)
    if made is not None and made[0] != view:
        made = None
    if st.button(SNAPSHOT_BUTTON, icon=":material/photo_camera:", key=f"{key}_make_snapshot"):
        try:
            snapped, snap = links.save_snapshot(workspace(), links.with_settings(state, pv.settings(workspace())),
                                                list(snapshot()), author())
        except (ValueError, PermissionError) as exc:
            st.error(plain(exc), icon=":material/error:")
        else:
            made = (view, links.url(_base_url(state.page), snapped), snap.as_of_text)
            st.session_state[made_key] = made
    if made is not None:
        st.code(made[1], language=None, wrap_lines=True)
        _copy_button(made[1], f"{key}_copy_snapshot")
        st.caption(f"Snapshot {plain(made[2])}.")
