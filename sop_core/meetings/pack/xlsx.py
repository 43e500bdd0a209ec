"""The executive pack's Excel workbook: the plan and the pack's tables, values only (`build_xlsx`)."""
from __future__ import annotations

import pandas as pd

from sop_core.meetings import exports
from sop_core.meetings.pack.content import STEP_TEXT, PackContent, kpi_value_text, month_label

PLAN_COLUMNS = ("sku", "region", "family", "period", "units", "revenue", "cogs")


# -- Excel ---------------------------------------------------------------------------------------------
def xlsx_sheets(content: PackContent) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, str]]]:
    """The workbook's frames (sheet name -> frame) and number formats (values only, no formulas)."""
    lines = content.plan_lines
    plan_sheet = pd.DataFrame({c: lines[c] for c in PLAN_COLUMNS})
    fs = content.family_summary.drop(columns="is_total").rename(columns={
        "units": "plan_units", "revenue": "plan_revenue_horizon", "cogs": "plan_cogs_horizon",
        "outlook_revenue": f"outlook_revenue_{content.year}", "plan_revenue": f"annual_plan_revenue_{content.year}",
        "gap": "gap", "gap_pct": "gap_pct"})
    card = pd.DataFrame([{
        "key": k.key, "kpi": k.label, "value": k.value, "shown_as": kpi_value_text(k), "unit": k.unit,
        "status": k.status, "target": k.target_text, "note": k.missing_message or k.note, "formula": k.formula,
    } for k in content.scorecard])
    dec = content.decisions[["due_date", "title", "owner", "status", "overdue", "detail", "created_by",
                             "created_at", "version_id", "scenario_id"]].copy()
    dec["due_date"] = pd.to_datetime(dec["due_date"])
    bridge = content.bridge[["step", "kind", "value", "cumulative"]].assign(
        what_it_measures=[STEP_TEXT.get(s, n) for s, n in zip(content.bridge["step"], content.bridge["note"])])
    cap = content.capacity.copy()
    v = content.version
    about = pd.DataFrame({"item": ["company", "pack", "plan", "version_id", "content_sha256", "outlook_year",
                                   "cycle_month", "generated_at_utc", "data_fingerprint", "scenario", "link"],
                          "value": [content.company, content.title, content.plan_label,
                                    v.version_id if v else "", v.content_sha256 if v else "", str(content.year),
                                    month_label(content.cycle_month) if content.cycle_month is not None else "",
                                    f"{content.generated_at:%Y-%m-%d %H:%M}", content.fingerprint,
                                    content.scenario.name if content.scenario is not None else "",
                                    content.link or ""]})
    sheets = {"Plan": plan_sheet, "Family summary": fs, "Family by month": content.family_plan, "Bridge": bridge,
              "Capacity": cap, "Scorecard": card, "Decisions": dec, "About": about}
    n0, m0, p1 = "#,##0", "#,##0.00", "0.0%"
    formats = {
        "Plan": {"units": n0, "revenue": m0, "cogs": m0},
        "Family summary": {"plan_units": n0, "plan_revenue_horizon": m0, "plan_cogs_horizon": m0,
                           "gross_margin_pct": p1, f"outlook_revenue_{content.year}": m0,
                           f"annual_plan_revenue_{content.year}": m0, "gap": m0, "gap_pct": p1},
        "Family by month": {"units": n0, "revenue": m0, "cogs": m0},
        "Bridge": {"value": m0, "cumulative": m0},
        "Capacity": {"peak_utilisation": p1, "average_utilisation": p1, "over_hours": n0},
        "Decisions": {"created_at": "yyyy-mm-dd hh:mm"},
    }
    return sheets, formats


def build_xlsx(content: PackContent) -> bytes:
    """The plan as an Excel workbook, values only.

    Sheets: Plan (sku, region, family, period, units, revenue, cogs), Family summary, Family by
    month, Bridge, Capacity, Scorecard, Decisions, About. Text from uploaded data is neutralised.
    """
    sheets, formats = xlsx_sheets(content)
    return exports.to_xlsx_bytes(sheets, formats)
