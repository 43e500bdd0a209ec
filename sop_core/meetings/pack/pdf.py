"""The executive pack as PDF (fpdf2, landscape A4): fonts, page builders and `build_pdf`.

Pages: summary and scorecard, gap and bridge, family plans, capacity, decisions. A chart that was
not exported becomes a framed note; the tables carry the same numbers.
"""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

import pandas as pd

from sop_core.formatting import delta_money, delta_units, money, pct, units
from sop_core.meetings import decisions
from sop_core.meetings.pack.content import PackContent, kpi_value_text, month_label, step_text
from sop_core.meetings.pack.images import CHART_SIZES, ChartImages, render_charts
from sop_core.planning import supply

MAX_DECISIONS = 30
MONTHS_PER_TABLE = 12


# -- PDF ---------------------------------------------------------------------------------------------
FONT_FILES: tuple[tuple[str, str], ...] = (
    ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    ("LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf"),
)
_ASCII = str.maketrans({"−": "-", "—": "-", "–": "-", "≥": ">=", "≤": "<=", "Σ": "sum ", "Δ": "d", "…": "...",
                        "“": '"', "”": '"', "‘": "'", "’": "'", "→": "->", "≈": "~"})
# resource-month load colours of the capacity heatmap: red from just above 100% (supply.load_band)
LOAD_FILL = {"green": (206, 236, 214), "amber": (253, 224, 150), "red": (236, 112, 92), "missing": (240, 242, 245)}
HEAT_MONTHS = 24  # months per heatmap block (one block for every horizon the app allows)
STATUS_FILL = {"green": (220, 242, 228), "amber": (255, 240, 204), "red": (252, 222, 214), "missing": (236, 238, 242)}
INK, MUTED, RULE = (27, 36, 48), (96, 104, 118), (214, 219, 227)
HEAD_FILL = (232, 238, 246)
PAGE_W, MARGIN = 297.0, 10.0
NOTE_H = 22.0  # height of the note that stands in for a chart that could not be exported
BODY_W = PAGE_W - 2 * MARGIN


def _font_dirs() -> list[Path]:
    dirs = [Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"),
            Path("/usr/share/fonts/truetype/liberation"), Path("/usr/share/fonts/liberation")]
    spec = importlib.util.find_spec("matplotlib")  # ships DejaVu Sans; located, not imported
    if spec is not None and spec.origin:
        dirs.append(Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf")
    return dirs


def find_fonts() -> tuple[Path, Path] | None:
    """A Unicode TrueType sans (regular, bold) for the PDF, or None (then the core Helvetica, text in Latin-1)."""
    for regular, bold in FONT_FILES:
        for d in _font_dirs():
            if (d / regular).is_file() and (d / bold).is_file():
                return d / regular, d / bold
    return None


def _pdf_class() -> type:
    from fpdf import FPDF

    class PackPDF(FPDF):
        """Landscape A4 with a running header (after the first page) and a page-numbered footer."""

        running_title = ""
        family_name = "helvetica"
        unicode = False

        def t(self, text: Any) -> str:
            """Text the current font can draw (Latin-1 stand-ins for the core font)."""
            s = "" if text is None else str(text)
            if self.unicode:
                return s
            return s.translate(_ASCII).encode("latin-1", "replace").decode("latin-1")

        def header(self) -> None:
            if self.page_no() > 1:
                self.set_font(self.family_name, "", 7.5)
                self.set_text_color(*MUTED)
                self.cell(0, 4, self.t(self.running_title), new_x="LMARGIN", new_y="NEXT", align="L")
                self.ln(2)
                self.set_text_color(*INK)

        def footer(self) -> None:
            self.set_y(-9)
            self.set_font(self.family_name, "", 7.5)
            self.set_text_color(*MUTED)
            self.cell(0, 4, self.t(f"Page {self.page_no()} of {{nb}}"), align="R")
            self.set_text_color(*INK)

    return PackPDF


def _new_pdf(content: PackContent) -> Any:
    pdf = _pdf_class()(orientation="L", unit="mm", format="A4")
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(True, margin=12)
    fonts = find_fonts()
    if fonts is not None:
        pdf.add_font("PackSans", "", str(fonts[0]))
        pdf.add_font("PackSans", "B", str(fonts[1]))
        pdf.family_name, pdf.unicode = "PackSans", True
    pdf.running_title = content.title + f" · plan: {content.plan_label}"
    pdf.set_title(content.title)
    pdf.set_author(content.company or "S&OP")
    pdf.set_creator("sop_core.meetings.pack")
    pdf.set_creation_date(content.generated_at)
    pdf.alias_nb_pages()
    return pdf


def _font(pdf: Any, size: float, bold: bool = False, color: tuple[int, int, int] = INK) -> None:
    pdf.set_font(pdf.family_name, "B" if bold else "", size)
    pdf.set_text_color(*color)


def _heading(pdf: Any, text: str, lead: str | None = None) -> None:
    _font(pdf, 15, True)
    pdf.multi_cell(BODY_W, 7.5, pdf.t(text), new_x="LMARGIN", new_y="NEXT", align="L")
    if lead:
        _font(pdf, 10.5)
        pdf.multi_cell(BODY_W, 5.2, pdf.t(lead), new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.ln(2)


def _subheading(pdf: Any, text: str) -> None:
    _font(pdf, 11.5, True)
    pdf.multi_cell(BODY_W, 6, pdf.t(text), new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.ln(0.5)


def _small(pdf: Any, text: str, color: tuple[int, int, int] = MUTED) -> None:
    _font(pdf, 8.5, color=color)
    pdf.multi_cell(BODY_W, 4.2, pdf.t(text), new_x="LMARGIN", new_y="NEXT", align="L")


def _table(pdf: Any, headers: list[str], rows: list[list[str]], widths: list[float], align: list[str],
           *, size: float = 8.5, fills: dict[tuple[int, int], tuple[int, int, int]] | None = None,
           bold_rows: set[int] | None = None, width: float | None = None,
           bold_cells: set[tuple[int, int]] | None = None) -> None:
    """A table with a shaded header row (repeated after a page break); widths in mm."""
    from fpdf.fonts import FontFace

    fills, bold_rows, bold_cells = fills or {}, bold_rows or set(), bold_cells or set()
    _font(pdf, size)
    total = width if width is not None else sum(widths)
    head = FontFace(family=pdf.family_name, emphasis="BOLD", size_pt=size, color=INK, fill_color=HEAD_FILL)
    with pdf.table(col_widths=tuple(widths), width=total, align="LEFT", text_align=tuple(align),
                   headings_style=head, line_height=size * 0.5, borders_layout="HORIZONTAL_LINES",
                   padding=(1.0, 1.2, 1.0, 1.2), first_row_as_headings=True, repeat_headings=1) as table:
        hr = table.row()
        for h in headers:
            hr.cell(pdf.t(h))
        for i, row in enumerate(rows):
            tr = table.row()
            for j, v in enumerate(row):
                fill = fills.get((i, j))
                bold = i in bold_rows or (i, j) in bold_cells
                style = None
                if fill is not None or bold:
                    style = FontFace(family=pdf.family_name, emphasis="BOLD" if bold else None,
                                     size_pt=size, color=INK, fill_color=fill)
                tr.cell(pdf.t(v), style=style)
    pdf.ln(2)


def _chart(pdf: Any, images: ChartImages, name: str, w: float, h: float, x: float | None = None,
           y: float | None = None) -> float:
    """The chart image at (x, y), or a framed note saying why it is missing; returns the height used (mm)."""
    x = MARGIN if x is None else x
    y = pdf.get_y() if y is None else y
    png = images.images.get(name)
    if png:
        from io import BytesIO

        pdf.image(BytesIO(png), x=x, y=y, w=w, h=h)
        return h
    box = min(h, NOTE_H)
    pdf.set_draw_color(*RULE)
    pdf.set_fill_color(246, 247, 249)
    pdf.rect(x, y, w, box, style="DF")
    pdf.set_xy(x + 4, y + 4)
    _font(pdf, 9, color=MUTED)
    why = images.error or "the chart export was not run"
    pdf.multi_cell(w - 8, 4.6, pdf.t(f"Chart not available: {why}. The tables have the same numbers."), align="L")
    return box


def _month_tables(pdf: Any, title: str, label: str, wide: pd.DataFrame, fmt: Any, *, row_totals: bool,
                  total_row: bool, per_table: int = MONTHS_PER_TABLE, fill: Any = None) -> None:
    """A rows × months table in blocks of `per_table` months, optionally with a Total column and row.

    fill: value -> RGB fill of a month cell, or None for no fill (e.g. a heatmap's colours).
    """
    periods = list(wide.columns)
    for b in range(0, len(periods), per_table):
        block = periods[b:b + per_table]
        if pdf.get_y() + 8 + 5.2 * (len(wide) + 2) > pdf.h - 14:
            pdf.add_page()
        _subheading(pdf, f"{title}, {month_label(block[0])} – {month_label(block[-1])}")
        rows = [[str(i)] + [fmt(_num(wide.at[i, p])) for p in block]
                + ([fmt(float(wide.loc[i, block].sum()))] if row_totals else []) for i in wide.index]
        if total_row:
            rows.append(["Total"] + [fmt(float(wide[p].sum())) for p in block]
                        + ([fmt(float(wide[block].to_numpy().sum()))] if row_totals else []))
        fills = {} if fill is None else {(i, j + 1): fill(_num(wide.at[r, p])) for i, r in enumerate(wide.index)
                                         for j, p in enumerate(block)}
        extra = 22 if row_totals else 0
        # the label column as wide as its longest name (1.6 mm a character at 7.5 pt), 26–44 mm
        lw = min(44.0, max(26.0, 1.6 * max([len(str(i)) for i in wide.index] + [len(label)])))
        mw = min(18.5, (BODY_W - lw - extra) / len(block))
        _table(pdf, [label] + [f"{pd.Timestamp(p):%b %y}" for p in block] + (["Total"] if row_totals else []), rows,
               [lw] + [mw] * len(block) + ([extra] if row_totals else []),
               ["LEFT"] + ["RIGHT"] * (len(block) + (1 if row_totals else 0)), size=7.5,
               bold_rows={len(rows) - 1} if total_row else None, fills=fills)


def _num(v: Any) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


def _fmt_pct(v: Any, signed: bool = False, digits: int = 1) -> str:
    return pct(None if v is None or pd.isna(v) else float(v), digits, signed=signed)


def _fmt_money(v: Any) -> str:
    return money(None if v is None or pd.isna(v) else float(v))


def _fmt_delta(v: Any) -> str:
    return delta_money(None if v is None or pd.isna(v) else float(v))


def _title_page(pdf: Any, c: PackContent) -> None:
    pdf.add_page()
    _font(pdf, 20, True)
    pdf.multi_cell(BODY_W, 10, pdf.t(c.title), new_x="LMARGIN", new_y="NEXT", align="L")
    _font(pdf, 10.5, color=MUTED)
    pdf.multi_cell(BODY_W, 5.5, pdf.t(
        f"Plan: {c.plan_label} · outlook year {c.year} · generated {c.generated_at:%d %b %Y %H:%M} UTC · "
        f"data {c.fingerprint}"), new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.ln(3)
    # the answers first
    lines = [("Revenue", c.headline.text), ("Capacity", c.capacity_text), ("Decisions", _needed_text(c.needed))]
    if c.scenario is not None:
        lines.append(("Scenario", f"The plan is built on the scenario “{c.scenario.name}”."))
    for note in c.notes:
        lines.append(("Note", note))
    top = pdf.get_y()
    pdf.set_fill_color(244, 247, 251)
    pdf.set_draw_color(*RULE)
    # measure, then draw the box behind the lines
    _font(pdf, 10.5)
    heights = [len(pdf.multi_cell(BODY_W - 36, 5.4, pdf.t(t), dry_run=True, output="LINES", align="L")) * 5.4
               for _, t in lines]
    box_h = sum(heights) + 2.5 * len(lines) + 4
    pdf.rect(MARGIN, top, BODY_W, box_h, style="DF")
    pdf.set_y(top + 3)
    for (label, text), hh in zip(lines, heights):
        y = pdf.get_y()
        pdf.set_x(MARGIN + 4)
        _font(pdf, 10.5, True)
        pdf.cell(28, 5.4, pdf.t(label))
        pdf.set_xy(MARGIN + 32, y)
        _font(pdf, 10.5)
        pdf.multi_cell(BODY_W - 36, 5.4, pdf.t(text), new_x="LMARGIN", new_y="NEXT", align="L")
        pdf.set_y(y + hh + 2.5)
    pdf.set_y(top + box_h + 5)
    # scorecard
    _subheading(pdf, "Scorecard")
    rows, fills, bold_cells = [], {}, set()
    months = pd.Series([k.latest_period for k in c.scorecard if k.basis and k.latest_period is not None])
    common = months.mode().iloc[0] if len(months) else None  # the latest month most KPIs share: in the header
    for i, kp in enumerate(c.scorecard):
        how = kp.formula
        if kp.key == "revenue_vs_plan":
            how += " (in this pack the outlook uses the constrained plan, as in the bridge)"
        if kp.status == "missing" and kp.not_checked_text:
            how = f"Not checked: {kp.not_checked_text}. {how}"
        status = "not checked" if kp.status == "missing" else kp.status
        monthly = kp.basis and kp.latest is not None and kp.status != "missing"
        latest = "—"
        if monthly:
            latest = kpi_value_text(kp, kp.latest)
            latest += f" ({kp.latest_period:%b %y})" if kp.latest_period != common else ""
        if monthly:  # the figure the status judges is in bold
            bold_cells.add((i, 1 if kp.basis == "latest" else 2))
        rows.append([kp.label, latest, kpi_value_text(kp), kp.target_text or "—", status, how])
        fills[(i, 4)] = STATUS_FILL.get(kp.status, STATUS_FILL["missing"])
    latest_head = f"{common:%b %Y}" if common is not None else "Latest month"
    _table(pdf, ["KPI", latest_head, "Value", "Target", "Status", "How it is measured"], rows,
           [46, 20, 18, 22, 16, BODY_W - 122], ["LEFT", "RIGHT", "RIGHT", "LEFT", "CENTER", "LEFT"], size=7.5,
           fills=fills, bold_cells=bold_cells)
    _small(pdf, "Status against the KPI targets on the figure in bold (a monthly KPI's latest month unless its target "
                "says 12 months); Value: the last 12 months unless its row says otherwise.")


def _gap_page(pdf: Any, c: PackContent, images: ChartImages) -> None:
    pdf.add_page()
    h = c.headline
    title = (f"Gap to the annual plan {c.year}: {delta_money(h.gap)} ({pct(h.gap_pct, 1, signed=True)})"
             if math.isfinite(h.plan_revenue) else f"Revenue outlook {c.year}: {money(h.revenue)}")
    _heading(pdf, title, h.text)
    y = pdf.get_y()
    bw, bh = CHART_SIZES["bridge"]
    ow, oh = CHART_SIZES["outlook"]
    used = _chart(pdf, images, "bridge", bw, bh, x=MARGIN, y=y)
    used = max(used, _chart(pdf, images, "outlook", ow, oh, x=MARGIN + bw + (BODY_W - bw - ow), y=y))
    pdf.set_y(y + used + 3)
    mo = c.monthly_outlook
    if "outlook" not in images.images and len(mo):
        by = mo.groupby("period").agg(revenue=("revenue", "sum"), plan_revenue=("plan_revenue", "first"),
                                      source=("source", "last"))
        wide = pd.DataFrame([by["revenue"], by["plan_revenue"]],
                            index=["Outlook (actual, then plan)", "Annual plan"])
        _month_tables(pdf, f"Revenue by month {c.year}", "", wide, money, row_totals=True, total_row=False)
    _subheading(pdf, "Bridge from the annual plan to the outlook")
    rows, bold = [], set()
    for i, s in enumerate(c.bridge.itertuples()):
        total = s.kind == "total"
        if total:
            bold.add(i)
        rows.append([s.step, _fmt_money(s.value) if total else _fmt_delta(s.value), _fmt_money(s.cumulative),
                     step_text(s.step, s.note, c.in_money)])
    _table(pdf, ["Step", "Effect", "Running total", "What it measures"], rows, [40, 28, 28, BODY_W - 96],
           ["LEFT", "RIGHT", "RIGHT", "LEFT"], bold_rows=bold)
    _small(pdf, "Outlook = actuals to date + the constrained plan for the rest of the year, at list prices. "
                "The effects add up exactly to the gap.")


def _family_pages(pdf: Any, c: PackContent, images: ChartImages) -> None:
    pdf.add_page()
    fam = c.family_plan
    periods = sorted(pd.to_datetime(fam["period"]).unique()) if len(fam) else []
    span = f"{month_label(periods[0])} – {month_label(periods[-1])}" if periods else "no months"
    tot = c.family_summary[c.family_summary["is_total"]]
    planned = "" if c.in_money else f"{units(float(tot['units'].iloc[0]))} units, " if len(tot) else ""
    lead = (f"{planned}{_fmt_money(tot['revenue'].iloc[0])} of {'consensus ' if c.in_money else ''}revenue over the "
            f"plan horizon ({span}); {c.year} outlook by family against the annual plan.") if len(tot) else None
    _heading(pdf, "Family plans", lead)
    unit_cols = 0 if c.in_money else 1  # a history in money has no units: its plan is the revenue column
    rows, bold = [], set()
    for i, s in enumerate(c.family_summary.itertuples()):
        if s.is_total:
            bold.add(i)
        rows.append([s.family] + [units(s.units)] * unit_cols + [
                     _fmt_money(s.revenue), _fmt_pct(s.gross_margin_pct),
                     _fmt_money(s.outlook_revenue), _fmt_money(s.plan_revenue), _fmt_delta(s.gap),
                     _fmt_pct(s.gap_pct, signed=True)])
    _table(pdf, ["Family"] + ["Plan units"] * unit_cols + ["Consensus revenue" if c.in_money else "Plan revenue",
                 "Gross margin %", f"Outlook {c.year}", f"Annual plan {c.year}", "Gap", "Gap %"], rows,
           [60 + 30 * (1 - unit_cols)] + [30] * unit_cols + [32, 30, 32, 32, 30, 31], ["LEFT"] + ["RIGHT"] * (6 + unit_cols),
           bold_rows=bold)
    if "family_plan" in images.images or images.error:
        _subheading(pdf, f"{c.measure} by family and month")
        w, h = CHART_SIZES["family_plan"]
        if pdf.get_y() + h > pdf.h - 14:
            pdf.add_page()
        y = pdf.get_y()
        pdf.set_y(y + _chart(pdf, images, "family_plan", w, h, y=y) + 2)
    if periods:
        wide = fam.pivot_table(index="family", columns="period", values="revenue" if c.in_money else "units",
                               aggfunc="sum").fillna(0.0)
        _month_tables(pdf, f"{c.measure} by month", "Family", wide, _fmt_money if c.in_money else units,
                      row_totals=True, total_row=True)
    if c.changes is not None and len(c.changes):
        if pdf.get_y() + 8 + 5.2 * (len(c.changes) + 2) > pdf.h - 14:
            pdf.add_page()
        _subheading(pdf, f"What changed since {c.previous_label}")
        ch = c.changes
        n = 0 if c.in_money else 3  # a history in money: revenue only
        rows = [[str(s.family)] + [units(s.old_units), units(s.new_units), delta_units(s.d_units)][:n]
                + [_fmt_money(s.old_revenue), _fmt_money(s.new_revenue), _fmt_delta(s.d_revenue)]
                for s in ch.itertuples()]
        rows.append(["Total"] + [units(ch["old_units"].sum()), units(ch["new_units"].sum()),
                                 delta_units(ch["d_units"].sum())][:n]
                    + [_fmt_money(ch["old_revenue"].sum()), _fmt_money(ch["new_revenue"].sum()),
                       _fmt_delta(ch["d_revenue"].sum())])
        _table(pdf, ["Family"] + ["Previous units", "Units", "Change"][:n] + ["Previous revenue", "Revenue", "Change"],
               rows, [60 + 94 * (n == 0)] + [32, 32, 30][:n] + [34, 34, 30], ["LEFT"] + ["RIGHT"] * (3 + n),
               bold_rows={len(rows) - 1})
    if c.approved:
        _small(pdf, "Revenue and COGS of the plan as approved (the version's frozen prices and costs).")


def _capacity_page(pdf: Any, c: PackContent) -> None:
    pdf.add_page()
    _heading(pdf, "Capacity (rough-cut)", c.capacity_text)
    if len(c.utilisation):
        # drawn as a coloured table, not an image: sharp in print, and every label is text
        _month_tables(pdf, "Utilisation by resource and month", "Resource",
                      supply.utilisation_matrix(c.utilisation), lambda v: _fmt_pct(v, digits=0),
                      row_totals=False, total_row=False, per_table=HEAT_MONTHS,
                      fill=lambda v: LOAD_FILL[supply.load_band(v)])
        _small(pdf, f"Required / available. Green below {supply.LOAD_AMBER:.0%}, amber from {supply.LOAD_AMBER:.0%}, "
                    f"red above {supply.LOAD_RED:.0%}; grey: no capacity given for the month.")
        pdf.ln(2)
    cap = c.capacity
    if len(cap):
        rows, fills = [], {}
        for i, s in enumerate(cap.itertuples()):
            over = s.overloaded_months > 0
            if over:
                fills[(i, 5)] = STATUS_FILL["red"]
            rows.append([s.resource, "hours" if s.basis == "hours" else "units", _fmt_pct(s.peak_utilisation, digits=0),
                         month_label(s.peak_period), _fmt_pct(s.average_utilisation, digits=0),
                         f"{units(s.overloaded_months)} of {units(s.months)}", units(s.over_hours), s.top_families])
        _table(pdf, ["Resource", "Measured in", "Peak", "Peak month", "Average", "Months over 100%",
                     "Hours over", "Load at the peak from"], rows,
               [32, 24, 18, 24, 20, 32, 24, BODY_W - 174], ["LEFT", "LEFT", "RIGHT", "LEFT", "RIGHT", "RIGHT",
                                                            "RIGHT", "LEFT"], fills=fills)
        _small(pdf, "Required = planned units × hours per unit (units where capacity is given in units); before "
                    "pre-build. Hours over = required − available, summed over the overloaded months.")
    elif not c.in_money:  # a history in money: the heading's sentence says why nothing is checked
        _small(pdf, "No capacity table is loaded, or no sku has a resource and hours per unit: capacity is not "
                    "checked.", color=INK)


def _needed_text(n: pd.DataFrame) -> str:
    """The cover's line on the decisions needed (the Executive page's list): how many, of which kind, the first."""
    if not len(n):
        return "Nothing to decide: no open decision and no exception on the agenda."
    asked = int((n["kind"] == "decision").sum())
    overdue = int(n["overdue"].sum())
    parts = [f"{asked} decision{'s' if asked != 1 else ''} asked for in pre-S&OP" if asked else "",
             f"{len(n) - asked} top exception{'s' if len(n) - asked != 1 else ''}" if len(n) > asked else ""]
    first = n.iloc[0]
    return (f"{len(n)} decision{'s' if len(n) != 1 else ''} needed ({', '.join(p for p in parts if p)}"
            + (f", {overdue} overdue" if overdue else "") + f"), first: {first['subject']}"
            + (f" ({first['money_text']})" if first["money_text"] != "—" else "") + " — listed at the end of the pack.")


def _needed_table(pdf: Any, n: pd.DataFrame) -> None:
    """The decisions needed, as on the Executive page: money, what, subject — detail."""
    rows, fills = [], {}
    for i, r in enumerate(n.itertuples()):
        if r.overdue:
            fills[(i, 2)] = STATUS_FILL["red"]
        kind = "Decide" if r.kind == "decision" else str(r.kind).capitalize()
        rows.append([str(r.money_text), kind, f"{r.subject} — {r.detail}"])
    _table(pdf, ["Money", "What", "Subject"], rows, [28, 36, BODY_W - 28 - 36], ["RIGHT", "LEFT", "LEFT"],
           fills=fills)


def _decisions_page(pdf: Any, c: PackContent) -> None:
    pdf.add_page()
    n = c.needed
    _heading(pdf, "Decisions needed", (f"The decisions asked for in pre-S&OP, then the top exceptions of the current "
                                       f"plan, as on the Executive S&OP page. Money: at stake for an exception; "
                                       f"for a decision, its option's effect on the {c.year} outlook.")
             if len(n) else _needed_text(n))
    if len(n):
        _needed_table(pdf, n)
    pdf.ln(3)
    d = c.decisions
    open_n = int((~d["status"].isin(decisions.CLOSED)).sum()) if len(d) else 0
    overdue = int(d["overdue"].sum()) if len(d) else 0
    if len(d):
        lead = (f"{open_n} open decision{'s' if open_n != 1 else ''}" + (f", {overdue} overdue" if overdue else "")
                + "." + (" Decisions linked to this plan version are listed whatever their status." if c.approved
                         else ""))
    else:
        lead = "No open decisions" + (", and none linked to this plan version." if c.approved else ".")
    _subheading(pdf, "Decision log")
    _small(pdf, lead, color=INK)
    if len(d):
        rows, fills = [], {}
        for i, s in enumerate(d.head(MAX_DECISIONS).itertuples()):
            status = s.status + (" · overdue" if s.overdue else "")
            if s.overdue:
                fills[(i, 4)] = STATUS_FILL["red"]
            detail = str(s.detail or "")
            detail = detail if len(detail) <= 180 else detail[:177] + "…"
            rows.append([f"{pd.Timestamp(s.due_date):%d %b %Y}", str(s.title), detail, str(s.owner), status])
        _table(pdf, ["Due", "Decision", "Detail", "Owner", "Status"], rows,
               [24, 80, BODY_W - 24 - 80 - 40 - 34, 40, 34], ["LEFT"] * 5, fills=fills)
        if len(d) > MAX_DECISIONS:
            _small(pdf, f"… and {len(d) - MAX_DECISIONS} more in the decision log (Executive S&OP page).")
    pdf.ln(3)
    _subheading(pdf, "Scenario and link")
    _font(pdf, 10)
    if c.scenario is not None:
        pdf.multi_cell(BODY_W, 5.2, pdf.t(f"The plan is built on the scenario “{c.scenario.name}” "
                                          f"(by {c.scenario.author}):"), new_x="LMARGIN", new_y="NEXT", align="L")
        for line in c.scenario_lines or ["no changes to the baseline"]:
            pdf.set_x(MARGIN + 4)
            pdf.multi_cell(BODY_W - 4, 5.2, pdf.t(f"• {line}"), new_x="LMARGIN", new_y="NEXT", align="L")
    else:
        pdf.multi_cell(BODY_W, 5.2, pdf.t("The plan is the baseline: no scenario changes."),
                       new_x="LMARGIN", new_y="NEXT", align="L")
    if c.link:
        pdf.ln(1)
        absolute = c.link.startswith(("http://", "https://"))
        _font(pdf, 10)
        pdf.multi_cell(BODY_W, 5.2, pdf.t("Open it in the app:" if absolute else
                                          "Open it in the app (path after the app's address):"),
                       new_x="LMARGIN", new_y="NEXT", align="L")
        _font(pdf, 9, color=(31, 95, 168))
        pdf.multi_cell(BODY_W, 5, pdf.t(c.link), new_x="LMARGIN", new_y="NEXT", align="L",
                       link=c.link if absolute else None)
        _small(pdf, "The link names the view and the data it was made on; if the data changes, the app says so.")


def build_pdf(content: PackContent, images: ChartImages | None = None) -> bytes:
    """The executive pack as PDF bytes: summary and scorecard, gap and bridge, family plans, capacity, decisions.

    images: the charts from `render_charts(content)` (exported now when None); a missing chart
    becomes a note on its page.
    """
    images = images if images is not None else render_charts(content)
    pdf = _new_pdf(content)
    _title_page(pdf, content)
    _gap_page(pdf, content, images)
    _family_pages(pdf, content, images)
    _capacity_page(pdf, content)
    _decisions_page(pdf, content)
    return bytes(pdf.output())
