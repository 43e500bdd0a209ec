"""The executive S&OP pack: one PDF to read before the meeting, one Excel workbook of the plan.

    content = gather(ws)                       # what the pack says (pure data, no rendering)
    images = render_charts(content)            # the charts as PNG (plotly + kaleido + Chromium)
    pdf = build_pdf(content, images)           # bytes of the PDF
    xlsx = build_xlsx(content)                 # bytes of the workbook (values only)

Which plan: the approved plan version `version_id`, else the latest approved version, else the
current consensus of the demand review ("current consensus (not yet approved)"): the consensus
given to `gather`, else the one stored for the workspace's forecast settings, else the stored
forecast run with the active overrides applied (computed, not stored: the pack writes nothing).

Every number is assembled by `plan.evaluate` on that plan (the function behind the Supply review,
Inventory and Financials pages and the scenario comparison), so the pack and the pages agree:

* scorecard: `kpis.scorecard` with the plan as the forward plan, the plan's utilisation, and the
  constrained outlook (so "Revenue vs annual plan" is the headline gap %); forecast accuracy and
  bias from the stored backtest of the forecast run, when there is one;
* headline gap and bridge: outlook (actuals to date + constrained plan) vs the annual plan for the
  outlook year, `finance.bridge` steps;
* family plans: the plan's lines (the version as approved: its frozen revenue and COGS) per family
  and month, and per family against the annual plan; what changed since the previous version;
* capacity: `supply.utilisation` per resource × month, and per resource its peak;
* decisions needed: `agenda.executive_decisions` on the current consensus, the Executive page's list
  (the decisions asked for in pre-S&OP, then the top exceptions); the decision log's open decisions
  and those linked to the version;
* scenario link: the version's scenario and a share link (`links.url`) to the Executive page,
  carrying the pack's fingerprint (`links.fingerprint`: data + overrides), the one on the cover.

Charts are built with the app's own figure builders (`sop_core/meetings/charts.py`, plain plotly) and
exported once per pack through one kaleido browser session. Kaleido finds the browser through
choreographer: $BROWSER_PATH, else chromium / chrome on the PATH (here /usr/bin/chromium). When
the export fails (no browser, a timeout), `render_charts` says why in `ChartImages.error` and the
PDF shows a note in place of each chart; the tables carry the same numbers.

The modules (imports point down: content <- images <- pdf, content <- xlsx):

* `content`: `PackContent`, `Headline`, `gather` and the helpers that compute what the pack says
  (the plan, family plans, capacity summary, headline, decisions, link), `current_consensus`, and
  the numbers as the pack prints them (`kpi_value_text`);
* `images`: `ChartImages`, `figures`, `browser_path`, `export_pngs`, `render_charts` (kaleido, Chromium);
* `pdf`: the fonts (`find_fonts`), the fpdf2 page builders and `build_pdf`;
* `xlsx`: `xlsx_sheets` and `build_xlsx`.
"""
from __future__ import annotations

from sop_core.meetings.pack.content import (
    CONSENSUS_LABEL,
    Headline,
    PackContent,
    capacity_summary,
    company_name,
    current_consensus,
    family_plan,
    gather,
    kpi_value_text,
)
from sop_core.meetings.pack.images import CHART_TIMEOUT, ChartImages, browser_path, export_pngs, figures, render_charts
from sop_core.meetings.pack.pdf import build_pdf, find_fonts
from sop_core.meetings.pack.xlsx import build_xlsx, xlsx_sheets

__all__ = [
    "CHART_TIMEOUT",
    "CONSENSUS_LABEL",
    "ChartImages",
    "Headline",
    "PackContent",
    "browser_path",
    "build_pdf",
    "build_xlsx",
    "capacity_summary",
    "company_name",
    "current_consensus",
    "export_pngs",
    "family_plan",
    "figures",
    "find_fonts",
    "gather",
    "kpi_value_text",
    "render_charts",
    "xlsx_sheets",
]
