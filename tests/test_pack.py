"""The executive pack on the demo company: gather, PDF (text checked with pypdf), XLSX (values only), CLI.

The charts go through kaleido and the system Chromium once for the module (`images`); the other
PDFs are built without a chart export. No Prophet: the consensus is a seasonal naive forecast.
"""
from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import zipfile
from datetime import date, timedelta
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from pypdf import PdfReader

from sop_core.demand import consensus, forecast, history, overrides
from sop_core.formatting import delta_money, money, pct
from sop_core.intake import company
from sop_core.intake.demo import COMPANY
from sop_core.meetings import agenda, decisions, exports, links, pack, versions
from sop_core.meetings.pack.pdf import LOAD_FILL
from sop_core.planning import kpis, plan, scenarios
from sop_core.store.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
F_ELEMENT = re.compile(rb"<(?:\w+:)?f[\s>/]")
EVIL = '=HYPERLINK("http://evil.example","Add a second shift on ASSY-2")'


def seasonal_naive(hist: pd.DataFrame, horizon: int = 18) -> pd.DataFrame:
    """Statistical forecast frame: each series' same month of the last year (0 where there was none)."""
    last = hist["period"].max()
    y = hist.set_index(["sku", "region", "period"])["quantity"]
    rows = []
    for (sku, region, family), _ in hist.groupby(["sku", "region", "family"]):
        for k in range(1, horizon + 1):
            p = last + pd.DateOffset(months=k)
            src = p - pd.DateOffset(months=12 * ((k - 1) // 12 + 1))
            rows.append((sku, region, family, p, float(y.get((sku, region, src), 0.0))))
    return pd.DataFrame(rows, columns=["sku", "region", "family", "period", "value"])


def naive_points(hist: pd.DataFrame) -> pd.DataFrame:
    """Backtest-like points for the last 12 months: forecast = the same month a year earlier."""
    s = hist.groupby(["sku", "region", "family", "period"], as_index=False)["quantity"].sum()
    last = s["period"].max()
    recent = s[s["period"] > last - pd.DateOffset(months=12)]
    naive = s.assign(period=s["period"] + pd.DateOffset(months=12)).rename(columns={"quantity": "forecast"})
    pts = recent.merge(naive, on=["sku", "region", "family", "period"], how="left").fillna({"forecast": 0.0})
    return pts.rename(columns={"quantity": "actual"})


def demo_workspace(path: Path) -> tuple[Workspace, pd.DataFrame]:
    ws = Workspace(path)
    company.reset_to_demo(ws)
    return ws, consensus.apply_overrides(seasonal_naive(history.demand_history(ws)))


def pdf_text(data: bytes) -> str:
    return "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages)


def flat(text: str) -> str:
    """PDF text with line breaks and repeated spaces folded, to find phrases wrapped across lines."""
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    ws, cons = demo_workspace(Path(tmp_path_factory.mktemp("pack")) / "ws.duckdb")
    yield ws, cons
    ws.close()


@pytest.fixture(scope="module")
def content(demo) -> pack.PackContent:
    ws, cons = demo
    return pack.gather(ws, consensus=cons, accuracy_points=naive_points(history.demand_history(ws)))


@pytest.fixture(scope="module")
def images(content) -> pack.ChartImages:
    """The charts, exported once for the module through kaleido and the system Chromium."""
    if pack.browser_path() is None:
        pytest.skip("no Chrome/Chromium on this machine (install chromium or set BROWSER_PATH)")
    return pack.render_charts(content)


@pytest.fixture(scope="module")
def pdf_bytes(content, images) -> bytes:
    return pack.build_pdf(content, images)


# -- gather ----------------------------------------------------------------------------------------------
def test_gather_takes_the_consensus_when_nothing_is_approved(demo, content):
    ws, cons = demo
    assert content.version is None and not content.approved
    assert content.plan_label == pack.CONSENSUS_LABEL == "current consensus (not yet approved)"
    assert content.company == COMPANY and content.cycle_month == pd.Timestamp("2026-11-01")
    assert content.title == f"{COMPANY} · S&OP executive pack · November 2026 cycle"
    assert list(content.plan_lines.columns) == list(versions.LINE_COLUMNS)
    assert content.plan_lines["units"].sum() == pytest.approx(cons["consensus"].sum())
    # the same plan as the pages: plan.evaluate on the consensus
    r = plan.evaluate(plan.PlanInputs.from_workspace(ws, cons))
    for key in ("revenue", "plan_revenue", "gap_to_plan", "gap_to_plan_pct", "peak_utilisation", "units_short"):
        assert content.plan_kpis[key] == pytest.approx(r.kpis[key]), key
    assert content.headline.gap == pytest.approx(r.kpis["gap_to_plan"]) and content.headline.gap < 0
    assert content.headline.text.startswith(f"Outlook {content.year}: ")


def test_scorecard_bridge_family_and_capacity_agree(content):
    card = {k.key: k for k in content.scorecard}
    assert list(card) == list(kpis.KPI_KEYS)
    assert card["otif"].value == pytest.approx(0.914, abs=0.001) and card["forecast_accuracy"].status != "missing"
    # the scorecard's revenue vs plan is the headline gap (both on the constrained outlook)
    assert card["revenue_vs_plan"].value == pytest.approx(content.headline.gap_pct)
    assert card["capacity_utilisation"].value <= content.plan_kpis["peak_utilisation"] + 1e-9
    b = content.bridge
    assert b["step"].iloc[0] == "Annual plan" and b["step"].iloc[-1] == "Outlook"
    assert b.loc[b["kind"] == "effect", "value"].sum() == pytest.approx(content.headline.gap)
    fs = content.family_summary
    total = fs[fs["is_total"]].iloc[0]
    assert total["revenue"] == pytest.approx(content.plan_lines["revenue"].sum())
    assert total["units"] == pytest.approx(content.plan_lines["units"].sum())
    assert total["gap"] == pytest.approx(content.headline.gap)
    assert sorted(fs.loc[~fs["is_total"], "family"]) == ["Backpacks", "Cookware", "Sleeping Bags", "Tents"]
    assert content.capacity["peak_utilisation"].max() == pytest.approx(content.plan_kpis["peak_utilisation"])
    assert set(content.capacity["resource"]) == {"ASSY-2", "PRESS-3", "SEW-1"}
    assert content.decisions.empty and content.scenario is None
    assert content.link.startswith("/executive?") and f"fp={content.fingerprint}" in content.link


def test_unknown_version_and_no_plan_are_clear_errors(tmp_path, demo):
    ws, _ = demo
    with pytest.raises(KeyError, match="no approved plan version"):
        pack.gather(ws, "no-such-version")
    empty = Workspace(tmp_path / "empty.duckdb")
    try:
        company.reset_to_demo(empty)
        with pytest.raises(ValueError, match="run the forecast"):
            pack.gather(empty)
    finally:
        empty.close()


# -- the PDF -----------------------------------------------------------------------------------------------
def test_charts_are_exported_through_kaleido(images):
    assert images.error is None, images.error
    assert set(images.images) == {"bridge", "outlook", "family_plan"}  # the capacity heatmap is a table
    assert all(png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000 for png in images.images.values())


def test_pdf_has_every_section_with_formatted_numbers(content, pdf_bytes):
    reader = PdfReader(io.BytesIO(pdf_bytes))
    assert pdf_bytes[:5] == b"%PDF-" and len(reader.pages) >= 5
    text = pdf_text(pdf_bytes)
    one_line = flat(text)
    card = {k.key: k for k in content.scorecard}
    # scorecard numbers exactly as formatted
    assert pack.kpi_value_text(card["otif"]) == "91.4%" and "91.4%" in text
    for key in ("order_fill_rate", "gross_margin_pct_12m", "revenue_vs_plan", "capacity_utilisation",
                "forecast_accuracy"):
        assert pct(card[key].value, 1) in text, key
    # the headline gap to plan and the bridge
    h = content.headline
    assert f"Gap to the annual plan {content.year}: {delta_money(h.gap)} ({pct(h.gap_pct, 1, signed=True)})" in text
    assert money(h.plan_revenue) in text and money(h.revenue) in text
    assert "−$" in text  # negative money printed with a real minus sign
    for step in content.bridge["step"]:
        assert step in text
    # title line, plan, family plans, capacity, decisions, scenario link
    for phrase in (content.title, "Plan: current consensus (not yet approved)", "Scorecard", "Family plans",
                   "Plan units by month", "Capacity (rough-cut)", "ASSY-2", "Decisions", "No open decisions",
                   "Scenario and link", content.link, "Backpacks", "Sleeping Bags"):
        assert phrase in one_line, phrase
    assert "Chart not available" not in text
    n_images = sum(len(p.images) for p in reader.pages)
    assert n_images == 3


def test_the_capacity_heatmap_names_every_resource_and_month_and_is_red_above_100(content):
    """The heatmap is drawn as text in coloured cells: every resource, month and load can be read (and found)."""
    data = pack.build_pdf(content, pack.ChartImages(error="not exported in this test"))
    reader = PdfReader(io.BytesIO(data))
    page = next(p for p in reader.pages if "Capacity (rough-cut)" in (p.extract_text() or ""))
    text = flat(page.extract_text())
    util = content.utilisation
    assert "Utilisation by resource and month" in text
    for resource in util["resource"].unique():
        assert resource in text, resource
    for month in sorted(util["period"].unique()):
        assert f"{pd.Timestamp(month):%b %y}" in text, month
    over = util[util["utilisation"] > 1.0]
    assert len(over), "the demo has overloaded resource-months"
    for v in over["utilisation"]:
        assert f"{v:.0%}" in text
    # the red fill is drawn (as fpdf2 writes an RGB fill operator), and only where the load is above 100%
    ops = page.get_contents().get_data()
    red = " ".join(f"{c / 255:.4f}" for c in LOAD_FILL["red"]).encode() + b" rg"
    assert ops.count(red) >= len(over)
    quiet = pack.build_pdf(content.__class__(**{**content.__dict__, "utilisation": util.assign(
        utilisation=util["utilisation"].clip(upper=0.99))}), pack.ChartImages(error="not exported"))
    quiet_page = next(p for p in PdfReader(io.BytesIO(quiet)).pages if "Capacity (rough" in (p.extract_text() or ""))
    assert red not in quiet_page.get_contents().get_data()


def test_every_pack_page_renders_as_an_image_kept_to_look_at(content, pdf_bytes, tmp_path):
    """Each page rasterised with poppler's pdftoppm (as a print preview would), kept in tests/browser/artefacts/
    (or $SOP_ARTEFACTS) as pack-N.png; every page has ink inside its margins and none is blank."""
    from PIL import Image

    tool = shutil.which("pdftoppm")
    assert tool, "pdftoppm not found: apt-get install -y poppler-utils (the README's test command does)"
    src = tmp_path / "pack.pdf"
    src.write_bytes(pdf_bytes)
    out = Path(os.environ.get("SOP_ARTEFACTS") or ROOT / "tests" / "browser" / "artefacts")
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([tool, "-r", "80", "-png", str(src), str(out / "pack")], check=True, timeout=120)
    n = len(PdfReader(io.BytesIO(pdf_bytes)).pages)
    pngs = sorted(out.glob("pack-*.png"))[-n:]
    assert len(pngs) == n
    for png in pngs:
        im = Image.open(png).convert("L")
        w, h = im.size
        assert abs(w - 297 / 25.4 * 80) < 2 and abs(h - 210 / 25.4 * 80) < 2, (png, w, h)  # landscape A4
        inked = im.point(lambda v: 255 if v < 200 else 0).getbbox()
        assert inked is not None, f"{png.name} is blank"
        left, top, right, bottom = inked
        # nothing drawn into the 10 mm margins (8 mm of slack for the running header and footer)
        margin = 8 / 25.4 * 80
        assert left >= margin and right <= w - margin and top >= margin / 2 and bottom <= h - margin / 3, (png, inked)


def test_pdf_still_builds_without_a_browser(content, monkeypatch):
    monkeypatch.setenv("BROWSER_PATH", "/nonexistent/chromium")
    imgs = pack.render_charts(content, timeout=30)
    assert imgs.images == {} and "no Chrome/Chromium browser found" in imgs.error
    text = flat(pdf_text(pack.build_pdf(content, imgs)))
    assert "Chart not available: no Chrome/Chromium browser found" in text
    assert "91.4%" in text and "Bridge from the annual plan to the outlook" in text


# -- the workbook ------------------------------------------------------------------------------------------
def test_xlsx_is_the_plan_in_values(content):
    data = pack.build_xlsx(content)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                assert not F_ELEMENT.search(z.read(name)), name
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert wb.sheetnames[:1] == ["Plan"] and {"Family summary", "Scorecard", "Decisions"} <= set(wb.sheetnames)
    ws = wb["Plan"]
    rows = list(ws.iter_rows(values_only=True))
    assert list(rows[0]) == ["SKU", "Region", "Family", "Month", "Units", "Unit price", "Revenue", "COGS"]
    assert len(rows) - 1 == len(content.plan_lines)
    assert sum(r[4] for r in rows[1:]) == pytest.approx(content.plan_lines["units"].sum())
    assert sum(r[6] for r in rows[1:]) == pytest.approx(content.plan_lines["revenue"].sum())
    assert ws["E2"].data_type == "n" and ws["D2"].is_date and ws["D2"].number_format == "mmm yyyy"
    card = {r[-1]: r for r in wb["Scorecard"].iter_rows(values_only=True)}
    head = list(card["Key"])
    otif = dict(zip(head, card["otif"]))
    assert otif["Value"] == pytest.approx(0.914, abs=0.001)  # 91.4% through its number format
    assert otif["Status"] in {"On target", "Watch", "Off target", "Not checked"}
    assert otif["Status on"] == "latest month" and 0 < otif["Latest month's value"] <= 1
    assert otif["Latest month"].day == 1  # a real date, the month's start


def header(ws) -> dict[str, int]:
    """Column number of each header word on a sheet."""
    return {c.value: c.column for c in ws[1]}


def test_xlsx_reads_like_a_finance_workbook(content):
    """Headers in words, numbers as numbers with Excel formats, frozen header and label column, widths that fit."""
    wb = openpyxl.load_workbook(io.BytesIO(pack.build_xlsx(content)))
    y = content.year
    expected = {
        "Plan": {"Units": "#,##0", "Unit price": "$#,##0.00", "Revenue": "$#,##0", "COGS": "$#,##0"},
        "Family summary": {"Plan units (horizon)": "#,##0", "Plan revenue (horizon)": "$#,##0",
                           "Gross margin %": "0.0%", f"Outlook revenue {y}": "$#,##0",
                           f"Annual plan revenue {y}": "$#,##0", f"Gap to annual plan {y}": "$#,##0",
                           "Gap to annual plan %": "0.0%"},
        "Family by month": {"Units": "#,##0", "Revenue": "$#,##0", "COGS": "$#,##0"},
        "Bridge": {"Revenue": "$#,##0", "Running total": "$#,##0"},
        "Capacity": {"Peak utilisation": "0.0%", "Average utilisation": "0.0%", "Hours over capacity": "#,##0"},
    }
    for sheet, cols in expected.items():
        ws = wb[sheet]
        h = header(ws)
        assert all("_" not in str(c) for c in h), (sheet, list(h))
        assert ws.freeze_panes == "B2", sheet  # the header row and the label column stay in view
        for col, fmt in cols.items():
            cells = [r[h[col] - 1] for r in ws.iter_rows(min_row=2)]
            assert cells, (sheet, col)
            for c in cells:
                assert c.value is None or (c.data_type == "n" and isinstance(c.value, (int, float))), (sheet, col, c.value)
                if c.value is not None:
                    assert c.number_format == fmt, (sheet, col, c.number_format)
    fs = wb["Family summary"]
    h = header(fs)
    total = [r for r in fs.iter_rows(min_row=2, values_only=True) if r[0] == "Total"][0]
    tot = content.family_summary[content.family_summary["is_total"]].iloc[0]
    assert total[h["Gross margin %"] - 1] == pytest.approx(tot["gross_margin_pct"]) and 0 < total[h["Gross margin %"] - 1] < 1
    assert total[h[f"Outlook revenue {y}"] - 1] == pytest.approx(tot["outlook_revenue"])
    cap = wb["Capacity"]
    peak = cap.cell(2, header(cap)["Peak month"])
    assert peak.is_date and peak.number_format == "mmm yyyy"
    # widths fit: a long text column is wider than Excel's default, a money column fits "$34,040,887"
    bridge = wb["Bridge"]
    bh = header(bridge)
    assert bridge.column_dimensions[openpyxl.utils.get_column_letter(bh["What it measures"])].width > 40
    assert bridge.column_dimensions[openpyxl.utils.get_column_letter(bh["Running total"])].width >= len("$34,040,887")
    sc = wb["Scorecard"]
    col = header(sc)["Value"] - 1
    formats = {r[-1].value: r[col].number_format for r in sc.iter_rows(min_row=2) if r[col].value is not None}
    assert formats["otif"] == "0.0%" and formats["inventory_turns"] != "0.0%"
    about = {r[0].value: r[1] for r in wb["About"].iter_rows(min_row=2)}
    assert about["Generated (UTC)"].is_date and about["Outlook year"].value == y
    assert about["Data fingerprint"].value == content.fingerprint
    for ws in wb.worksheets:  # no cell reads None or nan, no number stored as text
        assert ws.freeze_panes is not None and ws.freeze_panes.endswith("2"), ws.title
        for row in ws.iter_rows(min_row=2):
            for c in row:
                if isinstance(c.value, str):
                    assert c.value.strip().lower() not in {"none", "nan", "nat", "<na>"}, (ws.title, c.coordinate)
                    assert not re.fullmatch(r"[−-]?\$?[\d,]+(\.\d+)?%?", c.value), (ws.title, c.coordinate, c.value)


# -- an approved version with a scenario and decisions -------------------------------------------------------
@pytest.fixture(scope="module")
def approved(tmp_path_factory: pytest.TempPathFactory):
    """Two approved versions (v2 built on a scenario) and decisions, one with formula-like text."""
    ws, cons = demo_workspace(Path(tmp_path_factory.mktemp("approved")) / "ws.duckdb")
    prod = history.products(ws)
    v1 = versions.approve(ws, cons.assign(units=cons["consensus"]), name="Oct S&OP", scenario_id=None,
                          fingerprints={"sales": ws.fingerprint(["sales"])}, approved_by="ceo", products=prod)
    sc = scenarios.create(ws, "Tents push", {"demand": [{"family": "Tents", "pct": 10}]}, "alice")
    r = plan.evaluate_scenario(plan.PlanInputs.from_workspace(ws, cons), sc)
    v2 = versions.approve(ws, r.consensus.assign(units=r.consensus["consensus"]), name="Nov S&OP",
                          scenario_id=sc.scenario_id, fingerprints={"sales": ws.fingerprint(["sales"])},
                          approved_by="ceo", products=prod)
    today = date.today()
    decisions.record(ws, title=EVIL, owner="ops director", due_date=today + timedelta(days=30),
                     detail="+cmd overtime first", version_id=v2.version_id, scenario_id=sc.scenario_id, author="ceo")
    decisions.record(ws, title="Price Tents +3% from January", owner="CFO", due_date=today + timedelta(days=10),
                     author="ceo")
    yield ws, v1, v2, sc
    ws.close()


def test_pack_of_the_latest_approved_version(approved):
    ws, v1, v2, sc = approved
    c = pack.gather(ws, base_url="https://sop.example.com")
    assert c.version.version_id == v2.version_id and c.plan_label.startswith("v2 · Nov S&OP (approved by ceo")
    assert c.plan_lines["units"].sum() == pytest.approx(v2.total_units)
    assert c.scenario.scenario_id == sc.scenario_id and c.scenario_lines == sc.describe()
    assert c.link.startswith("https://sop.example.com/executive?s=") and sc.scenario_id in c.link
    assert c.previous_label == v1.label
    tents = c.changes.set_index("family").loc["Tents"]
    assert tents["d_units"] > 0 and c.changes.set_index("family").loc["Cookware", "d_units"] == pytest.approx(0)
    assert list(c.decisions["title"]) == ["Price Tents +3% from January", EVIL]
    assert list(c.needed.loc[c.needed["kind"] == "decision", "subject"]) == ["Price Tents +3% from January"]
    old = pack.gather(ws, v1.version_id)
    assert old.version.number == 1 and old.changes is None and old.scenario is None

    text = flat(pdf_text(pack.build_pdf(c, pack.ChartImages(error="not exported in this test"))))
    for phrase in ("Plan: v2 · Nov S&OP", f"What changed since {v1.label}", "Tents push", sc.describe()[0],
                   "2 open decisions", EVIL, "Price Tents +3% from January", "ops director", c.link):
        assert phrase in text, phrase

    data = pack.build_xlsx(c)
    assert exports.formula_cells(data) == []
    wb = openpyxl.load_workbook(io.BytesIO(data))
    titles = [r[1] for r in wb["Decisions"].iter_rows(min_row=2, values_only=True)]
    assert "'" + EVIL in titles  # a formula-like title is text in the workbook
    details = [r[5] for r in wb["Decisions"].iter_rows(min_row=2, values_only=True)]
    assert "'+cmd overtime first" in details
    assert all(cell.data_type != "f" for row in wb["Decisions"].iter_rows() for cell in row)


# -- one decision list and one fingerprint, the Executive page's ------------------------------------------------
def test_the_pack_shows_the_executive_pages_decisions_and_one_fingerprint(tmp_path: Path) -> None:
    """With an override saved (so the data fingerprint alone is not the link's) and two decisions asked for, one
    with an option: the pack's decisions needed are the Executive page's engine call, and the cover and the link
    carry the same fingerprint."""
    ws, _ = demo_workspace(tmp_path / "ws.duckdb")
    try:
        stat = seasonal_naive(history.demand_history(ws))
        run_key = forecast.run_key_for(ws, forecast.saved_settings(ws))
        overrides.save_override(ws, run_key, stat, overrides.OverrideInput(
            family="Tents", period_from=stat["period"].min(), period_to=stat["period"].max(), kind="percent",
            value=10.0, reason="Promotion"), author="alice")
        due = date.today() + timedelta(days=14)
        sc = scenarios.create(ws, "Tents 3% cheaper", {"price": [{"family": "Tents", "pct": -3}]}, "cfo")
        decisions.record(ws, title="Cut tent prices by 3%", owner="CFO", due_date=due, scenario_id=sc.scenario_id,
                         author="ana")
        decisions.record(ws, title="Approve overtime on ASSY-2", owner="COO", due_date=due, author="ana")
        cons = consensus.load_consensus(ws, run_key)  # the stored consensus, with the override

        # the Executive page: its baseline plan (pv.plan_view) and agenda.executive_decisions on it
        inputs = plan.PlanInputs.from_workspace(ws, cons)
        base = plan.evaluate_scenario(inputs, None)
        _, page = agenda.executive_decisions(ws, base, lambda s: plan.evaluate_scenario(inputs, s).kpis["revenue"])
        assert list(page["kind"][:2]) == ["decision", "decision"] and len(page) == 2 + agenda.TOP_EXCEPTIONS

        stale = "https://sop.example.com/executive?cmp=x&fp=0123456789abcdef"  # made before the override
        for c in (pack.gather(ws, consensus=cons), pack.gather(ws, consensus=cons, link=stale)):
            pd.testing.assert_frame_equal(c.needed.reset_index(drop=True), page.reset_index(drop=True))
            assert c.fingerprint == links.fingerprint(ws) != ws.fingerprint()  # data + overrides, as links carry
            assert re.search(r"[?&]fp=([0-9a-f]+)", c.link).group(1) == c.fingerprint
            text = flat(pdf_text(pack.build_pdf(c, pack.ChartImages(error="not exported in this test"))))
            assert text.count(c.fingerprint) >= 2 and "0123456789abcdef" not in text  # cover and link: one string
            assert "No open decisions" not in text and f"{len(page)} decisions needed (2 decisions asked" in text
            for subject in page["subject"]:
                assert subject in text, subject
            sheet = openpyxl.load_workbook(io.BytesIO(pack.build_xlsx(c)))["Decisions needed"]
            rows = list(sheet.iter_rows(min_row=2, values_only=True))
            assert [r[1] for r in rows] == list(page["subject"])
            assert rows[0][3] == pytest.approx(page["money"].iloc[0]) and rows[0][3] < 0  # the option's effect
        assert c.link.startswith("https://sop.example.com/executive?cmp=x&fp=")
    finally:
        ws.close()


# -- command line ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed workspace with the demo and a consensus stored for the saved forecast settings (no version)."""
    path = Path(tmp_path_factory.mktemp("cli")) / "ws.duckdb"
    ws, cons = demo_workspace(path)
    try:
        consensus.persist_consensus(ws, forecast.run_key_for(ws, forecast.saved_settings(ws)), cons)
        assert pack.current_consensus(ws) is not None
    finally:
        ws.close()
    return path


def run_cli(args: list[str], workspace: Path, **env: str) -> subprocess.CompletedProcess:
    e = {**os.environ, "SOP_WORKSPACE": str(workspace), "PYTHONPATH": str(ROOT), **env}
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=e, capture_output=True, text=True,
                          timeout=300)


def check_outputs(pdf: Path, xlsx: Path) -> str:
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert exports.formula_cells(xlsx.read_bytes()) == []
    assert openpyxl.load_workbook(xlsx).sheetnames[0] == "Plan"
    return flat(pdf_text(pdf.read_bytes()))


def test_cli_pack_writes_pdf_and_xlsx(cli_workspace, tmp_path):
    """`python -m sop_core pack --pdf out.pdf --xlsx out.xlsx` (charts through Chromium)."""
    pdf, xlsx = tmp_path / "out.pdf", tmp_path / "out.xlsx"
    res = run_cli(["sop_core", "pack", "--pdf", str(pdf), "--xlsx", str(xlsx)], cli_workspace)
    assert res.returncode == 0, res.stderr
    assert f"wrote {pdf}" in res.stdout and f"wrote {xlsx}" in res.stdout
    assert "exporting the charts" in res.stderr and "warning" not in res.stderr
    text = check_outputs(pdf, xlsx)
    assert "Plan: current consensus (not yet approved)" in text and "Chart not available" not in text


def test_cli_without_a_browser_warns_and_still_writes_both_files(cli_workspace, tmp_path):
    pdf, xlsx = tmp_path / "sub" / "pack.pdf", tmp_path / "sub" / "plan.xlsx"
    res = run_cli(["sop_core", "pack", "--pdf", str(pdf), "--xlsx", str(xlsx)], cli_workspace,
                  BROWSER_PATH="/nonexistent/chromium")
    assert res.returncode == 0, res.stderr
    assert "warning: charts not exported: no Chrome/Chromium browser found" in res.stderr
    text = check_outputs(pdf, xlsx)
    assert "Chart not available" in text and "91.4%" in text
    bad = run_cli(["sop_core", "pack", "--pdf", str(pdf), "--version", "nope", "--no-charts"],
                  cli_workspace)
    assert bad.returncode == 1 and "no approved plan version 'nope'" in bad.stderr


def test_pack_modules_never_import_streamlit():
    code = ("import sys; import sop_core.meetings.pack, sop_core.cli.pack, sop_core.meetings.exports, sop_core.meetings.charts; "
            "sys.exit(1 if 'streamlit' in sys.modules else 0)")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr or "streamlit was imported"


def test_the_packs_scorecard_says_not_checked_where_the_plan_saw_no_capacity(tmp_path: Path) -> None:
    """No green in the pack without evidence: with no capacity loaded, utilisation is 'not checked', as on the page."""
    ws, cons = demo_workspace(tmp_path / "ws.duckdb")
    try:
        with ws.transaction() as cur:
            cur.execute('DROP TABLE "capacity"')
        content = pack.gather(ws, consensus=cons)
        card = {k.key: k for k in content.scorecard}
        util = card["capacity_utilisation"]
        assert util.status == "missing" and util.value is None
        assert "capacity" in util.not_checked_text
        text = flat(pdf_text(pack.build_pdf(content, pack.ChartImages(error="not exported in this test"))))
        assert "not checked" in text and "Not checked: " in text
    finally:
        ws.close()
