"""Issue 13 item 3: data is always shown as text — every page on a workspace whose names are hostile.

A user's files name skus, families, regions, channels, resources, descriptions, locations and
sources; planners name scenarios, decisions, override reasons and comments, and plan versions;
a file has a name. Any of them may look like Markdown or HTML: an image fetched from outside
(`![t](http://evil.example/x.png)`), a live link, coloured text (`:red[…]`), a KaTeX formula, raw
HTML, bold, a heading. The workspace here is built the way a user's files arrive
(`sop_core.intake.load.load`), once per module, with every such name hostile; then every page runs
(AppTest), with a few choices that bring the names into headings, captions and cards, and no
Markdown-rendering element — markdown, captions, headings, alerts, metric label/value/delta,
expander, popover and widget labels, help texts, toasts — may hold a hostile name whose markup
characters are not escaped (`escape.plain`). Names drawn by plotly must be HTML-escaped.

The history is 18 months long (the short-history fallback: no Prophet fit), 3 skus × 2 regions,
horizon 6, one backtest origin: the forecast, fitted in a child process, takes seconds.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
from apptest_support import APP
from apptest_support import open_copy as _open
from google.protobuf.message import Message
from streamlit.testing.v1 import AppTest

from sop_core import escape

IMAGE = "![t](http://evil.example/x.png)"
LINK = "[click](https://evil.example)"
COLOR = ":red[alarm]"
MATH = "$x^2$"
HTML = "<img src=x onerror=alert(1)>"
BOLD = "**bold**"
HEADING = "# head"
HOSTILE = (IMAGE, LINK, COLOR, MATH, HTML, BOLD, HEADING)

PAGES = ("home", "data", "demand_review", "supply_review", "inventory", "financials", "scenarios", "pre_sop",
         "executive", "scorecard")

# -- the checker ----------------------------------------------------------------------------------------
MARKUP = set("\\`*_{}[]()#+-.!|~<>$:=&")  # what escape.plain backslash-escapes
JOINER = escape.WORD_JOINER


def _pattern(hostile: str) -> re.Pattern:
    """`hostile` as shown, each markup character optionally escaped (its own group), word joiners allowed."""
    parts = []
    for c in hostile:
        if c in MARKUP:
            parts.append(r"(\\)?" + re.escape(c))
        elif c.isspace():
            parts.append(r"\s+")
        else:
            parts.append(re.escape(c))
        parts.append(f"{JOINER}?")
    return re.compile("".join(parts))


PATTERNS = {h: _pattern(h) for h in HOSTILE}


def unescaped(text: str) -> list[str]:
    """The hostile names in `text` (Markdown source) with a markup character not preceded by a backslash."""
    found = []
    for pattern in PATTERNS.values():
        for m in pattern.finditer(text):
            if any(g is None for g in m.groups()):
                found.append(m.group(0))
    return found


def test_the_checker_finds_raw_names_and_passes_escaped_ones():
    for h in HOSTILE:
        assert unescaped(f"**Override** · {h} · x") == [h], h
        assert unescaped(f"**Override** · {escape.plain(h)} · x") == [], h
        assert unescaped(escape.plain(f"Scenario {h}, family {h}.")) == [], h
    half = escape.plain(IMAGE).replace("\\(", "(")  # one markup character left bare is enough
    assert unescaped(half) == [half]
    assert unescaped(":red[Off target: Bias]") == []  # our own Markdown is not a hostile name


# Fields of Streamlit's element protos that the browser renders as Markdown (labels, bodies, help,
# metric values and deltas, progress and spinner texts). Plain-text elements are not read.
MARKDOWN_FIELDS = {"body", "label", "help", "delta", "text", "caption"}
PLAIN_MESSAGES = {"Text", "Code", "Json", "Html", "Exception", "Arrow", "ArrowTable", "PlotlyChart"}


def _markdown_strings(msg: Message, path: str = "") -> Iterator[tuple[str, str]]:
    """(where, text) of every Markdown-rendered string field in `msg` and the messages inside it."""
    name = msg.DESCRIPTOR.name
    if name in PLAIN_MESSAGES:
        return
    for field, value in msg.ListFields():
        where = f"{path}{name}.{field.name}"
        if field.type == field.TYPE_MESSAGE:
            for item in ([value] if isinstance(value, Message) else value):
                if isinstance(item, Message):
                    yield from _markdown_strings(item, where + "/")
        elif field.type == field.TYPE_STRING and field.name in MARKDOWN_FIELDS:
            for item in ([value] if isinstance(value, str) else value):
                yield where, item


def _nodes(node) -> Iterator:
    yield node
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        for child in children.values():
            yield from _nodes(child)


def markdown_texts(at: AppTest) -> list[tuple[str, str]]:
    """(where, Markdown source) of every element and block of the page, sidebar included."""
    out = []
    for node in _nodes(at._tree):
        proto = getattr(node, "proto", None)
        if isinstance(proto, Message):
            out += list(_markdown_strings(proto))
    return out


def plotly_specs(at: AppTest) -> list[str]:
    return [c.proto.spec for c in at.get("plotly_chart")]


def assert_all_escaped(at: AppTest, page: str) -> list[str]:
    """No Markdown text of the page holds a hostile name unescaped, no chart a raw HTML name; the texts."""
    assert not at.exception, at.exception
    texts = markdown_texts(at)
    bad = [(where, text) for where, text in texts if unescaped(text)]
    assert not bad, (page, bad)
    for spec in plotly_specs(at):
        figure = json.dumps(json.loads(spec))  # plotly reads its text as HTML: names must come escaped
        for raw in ("<img", "<a "):  # (Markdown means nothing to plotly)
            assert raw not in figure, (page, raw)
    return [text for _, text in texts]


# -- the workspace ------------------------------------------------------------------------------------
SKUS = (IMAGE, LINK, MATH)
FAMILY = {IMAGE: COLOR, LINK: COLOR, MATH: BOLD}
REGIONS = (HTML, HEADING)
RESOURCE = {IMAGE: HTML, LINK: HTML, MATH: COLOR}
SALES_FILE = f"{HTML} {BOLD}.csv"  # the name the user's sales file had

BUILD = r'''
import sys
from datetime import date, timedelta

import numpy as np
import pandas as pd

from sop_core.intake import company, load as intake
from sop_core.demand import consensus, forecast, overrides
from sop_core.meetings import decisions, versions
from sop_core.planning import plan, scenarios
from sop_core.store.workspace import Workspace

path = sys.argv[1]
IMAGE, LINK, COLOR, MATH, HTML, BOLD, HEADING, SALES_FILE = sys.argv[2:10]
SKUS = (IMAGE, LINK, MATH)
FAMILY = {IMAGE: COLOR, LINK: COLOR, MATH: BOLD}
REGIONS = (HTML, HEADING)
RESOURCE = {IMAGE: HTML, LINK: HTML, MATH: COLOR}
rng = np.random.default_rng(13)
months = pd.date_range("2025-05-01", "2026-10-01", freq="MS")
sales = pd.DataFrame([(m.date().isoformat(), s, r, LINK, FAMILY[s], float(q := rng.integers(80, 160)), q * 20.0)
                      for s in SKUS for r in REGIONS for m in months],
                     columns=["date", "sku", "region", "channel", "family", "quantity", "revenue"])
products = pd.DataFrame({"sku": SKUS, "description": HEADING, "family": [FAMILY[s] for s in SKUS],
                         "unit_price": 20.0, "unit_cost": 12.0, "resource": [RESOURCE[s] for s in SKUS],
                         "hours_per_unit": 1.0, "lead_time_weeks": 4.0})
inventory = pd.DataFrame({"date": "2026-10-31", "sku": SKUS, "location": MATH, "on_hand": [5.0, 400.0, 2000.0]})
future = pd.date_range("2026-11-01", periods=14, freq="MS")
capacity = pd.DataFrame([(m.date().isoformat(), res, hours) for m in future
                         for res, hours in ((HTML, 150.0), (COLOR, 2000.0))],
                        columns=["period", "resource", "available_hours"])
supply = pd.DataFrame({"date": "2026-12-01", "sku": SKUS, "quantity": 10.0, "source": BOLD})
year = pd.date_range("2026-01-01", periods=12, freq="MS")
plan_table = pd.DataFrame([(m.date().isoformat(), f, 2000.0, 90_000.0, 30_000.0) for m in year for f in (COLOR, BOLD)],
                          columns=["period", "family", "volume_plan", "revenue_plan", "margin_plan"])
orders = pd.DataFrame([(f"{HEADING} {i}", SKUS[i % 3], (months[-1 - i % 6] + pd.Timedelta(days=9)).date().isoformat(),
                        50.0, (months[-1 - i % 6] + pd.Timedelta(days=12)).date().isoformat(), 40.0 + i % 11)
                       for i in range(24)],
                      columns=["order_id", "sku", "requested_date", "requested_qty", "delivered_date", "delivered_qty"])

with Workspace(path) as ws:
    company.start_company(ws, "test", name=COLOR)
    for table, frame, name in (("sales", sales, SALES_FILE), ("products", products, f"{HTML}.csv"),
                               ("inventory", inventory, "inventory.csv"), ("capacity", capacity, "capacity.csv"),
                               ("supply", supply, "supply.csv"), ("plan", plan_table, "plan.csv"),
                               ("orders", orders, "orders.csv")):
        p = intake.load(ws, name, frame.to_csv(index=False).encode(), table, author=MATH)
        assert p.ok, (table, [str(e) for e in p.errors])
    settings = forecast.ForecastSettings(horizon=6, origins=1)
    forecast.save_settings(ws, settings, "test")
    run = forecast.run_forecast(ws, settings)
    overrides.set_reasons(ws, [BOLD, "Promotion"], "test")
    start = run.forecast["period"].min()
    overrides.save_override(ws, run.run_key, run.forecast, overrides.OverrideInput(
        period_from=start, period_to=start, kind="percent", value=10.0, reason=BOLD, family=COLOR, comment=LINK),
        HEADING)
    sc = scenarios.create(ws, IMAGE, {"demand": [{"family": COLOR, "pct": 10}],
                                      "capacity": [{"resource": HTML, "pct": -20}]}, MATH, note=LINK)
    decisions.record(ws, title=IMAGE, owner=COLOR, due_date=date(2026, 11, 15) + timedelta(days=14), detail=LINK,
                     scenario_id=sc.scenario_id, author=HTML)
    inputs = plan.PlanInputs.from_workspace(ws, consensus.load_consensus(ws, run.run_key))
    last = plan.evaluate_scenario(inputs, {"demand": [{"family": COLOR, "pct": -10}]})
    versions.approve(ws, last, name=f"{HEADING} {LINK}", scenario_id=None, fingerprints={}, approved_by=MATH)
    print(sc.scenario_id)
'''


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> tuple[str, str]:
    """(workspace file, scenario id): every table, the scenario, decision, override and version named hostilely."""
    path = tmp_path_factory.mktemp("hostile") / "workspace.duckdb"
    done = subprocess.run([sys.executable, "-c", BUILD, str(path), *HOSTILE, SALES_FILE], cwd=APP.parent,
                          check=True, timeout=600, capture_output=True, text=True)
    return str(path), done.stdout.strip().splitlines()[-1]


def _choose(at: AppTest, page: str, scenario_id: str) -> list[AppTest]:
    """The choices that bring names into headings, captions and cards (each state is swept)."""
    states = []
    if page == "demand_review":
        at.selectbox(key="dr_family").set_value(COLOR).run()
        states.append(at)
        at.selectbox(key="dr_region").set_value(HTML).run()
        at.selectbox(key="dr_sku").set_value(IMAGE).run()
    elif page == "supply_review":
        at.selectbox(key="sr_family").set_value(BOLD).run()
    elif page == "inventory":
        at.selectbox(key="inv_family").set_value(COLOR).run()
        at.selectbox(key="inv_sku").set_value(IMAGE).run()
    elif page == "financials":
        at.selectbox(key="fin_family").set_value(COLOR).run()
    elif page in ("scenarios", "pre_sop", "executive"):
        key = {"scenarios": "sc_compare", "pre_sop": "presop_cmp", "executive": "exec_cmp"}[page]
        at.multiselect(key=key).set_value([scenario_id]).run()
    states.append(at)
    return states


# -- the sweep --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_every_page_shows_hostile_names_as_text(hostile, tmp_path, monkeypatch, page):
    template, scenario_id = hostile
    at = _open(template, tmp_path, monkeypatch, page)
    shown = assert_all_escaped(at, page)
    for state in _choose(at, page, scenario_id):
        shown += assert_all_escaped(state, page)
    if page in ("demand_review", "supply_review", "inventory", "scenarios", "pre_sop", "executive"):
        # the sweep is not empty: the page showed some name, escaped
        assert any(escape.plain(h) in text for h in HOSTILE for text in shown), (page, shown)


def test_demand_review_names_the_scope_and_the_saved_override_as_text(hostile, tmp_path, monkeypatch):
    template, _ = hostile
    at = _open(template, tmp_path, monkeypatch, "demand_review")
    at.selectbox(key="dr_family").set_value(COLOR).run()
    assert_all_escaped(at, "demand_review")
    heads = [h.value for h in at.subheader]
    assert f"Demand plan — {escape.plain(COLOR)}" in heads, heads
    assert f"**Override** · {escape.plain(COLOR)}" in [m.value for m in at.markdown]


def test_supply_review_names_the_bottleneck_resource_as_text(hostile, tmp_path, monkeypatch):
    template, _ = hostile
    at = _open(template, tmp_path, monkeypatch, "supply_review")
    peak = next(m for m in at.metric if m.label == "Peak utilisation")
    assert peak.proto.delta.startswith(escape.plain(HTML)), peak.proto.delta
    heat = next(json.loads(s) for s in plotly_specs(at) if '"heatmap"' in s)
    assert "&lt;img src=x onerror=alert(1)&gt;" in heat["data"][0]["y"]


def test_scenario_cards_and_the_version_name_are_text(hostile, tmp_path, monkeypatch):
    template, scenario_id = hostile
    at = _open(template, tmp_path, monkeypatch, "executive")
    at.multiselect(key="exec_cmp").set_value([scenario_id]).run()
    shown = assert_all_escaped(at, "executive")
    assert f"**{escape.plain(IMAGE)}**" in shown  # the scenario's card
    assert any(escape.plain(f"{HEADING} {LINK}") in t for t in shown), shown  # the plan of record


def test_data_page_upload_with_a_hostile_name_headers_and_values_is_text(hostile, tmp_path, monkeypatch):
    template, _ = hostile
    at = _open(template, tmp_path, monkeypatch, "data")
    rows = "\n".join(f"2026-0{m}-01,{IMAGE},{HTML},{BOLD if m == 3 else 12}" for m in range(1, 6))
    data = f"date,sku,region,quantity,{COLOR}\n" + "\n".join(r + f",{MATH}" for r in rows.splitlines())
    name = f"{HTML} {MATH} {BOLD} {HEADING}.csv"  # (a browser sends no "/" or ":" in a file name)
    at.file_uploader(key="uploads").set_value((name, data.encode(), "text/csv")).run()
    shown = assert_all_escaped(at, "data")
    assert f"**{escape.plain(name)}** · 0 KB" in shown, shown
    assert any(t.startswith(escape.plain(f"{name}, column 'quantity': 1 row is not a number")) for t in shown), shown
    assert escape.plain(f"ignored columns: '{COLOR}'") in shown, shown
