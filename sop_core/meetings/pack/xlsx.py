"""The executive pack's Excel workbook: the plan and the pack's tables, values only (`build_xlsx`).

As a finance team would hand it out: headers in words ("Outlook revenue 2026", "Gross margin %"),
units, money and percentages stored as numbers with Excel number formats (units `#,##0`, money
`$#,##0`, percentages `0.0%` on fractions), dates as dates, the header row frozen and the label
column with it, columns as wide as what they show (`exports.to_xlsx_bytes`, which also keeps every
text cell from being read as a formula).
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from sop_core.meetings import exports
from sop_core.meetings.pack.content import PackContent, step_text

UNITS, MONEY, PRICE, PCT, HOURS = "#,##0", "$#,##0", "$#,##0.00", "0.0%", "#,##0"
KPI_FORMATS = {"pct": PCT, "money": MONEY, "units": UNITS, "count": UNITS, "ratio": '0.0"×"',
               "days": '#,##0" days"'}
KPI_STATUS = {"green": "On target", "amber": "Watch", "red": "Off target", "missing": "Not checked"}
NEEDED_KIND = {"decision": "Decide"}
PAGE_TITLES = {"pre_sop": "Pre-S&OP", "supply_review": "Supply review", "inventory": "Inventory",
               "financials": "Financials", "demand_review": "Demand review", "executive": "Executive S&OP"}
PLAN_COLUMNS = {"sku": "SKU", "region": "Region", "family": "Family", "period": "Month", "units": "Units",
                "unit_price": "Unit price", "revenue": "Revenue", "cogs": "COGS"}


def _words(frame: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """The columns of `names`, in its order, renamed to its words."""
    return frame[[c for c in names if c in frame.columns]].rename(columns=names)


def _text(v: Any) -> Any:
    """Text for a cell, None (a blank cell) for a missing value: never the words 'None' or 'nan'."""
    return None if v is None or (not isinstance(v, str) and pd.isna(v)) or v == "" else str(v)


# -- Excel ---------------------------------------------------------------------------------------------
def xlsx_sheets(content: PackContent) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, Any]], dict[str, int]]:
    """The workbook's frames (sheet name -> frame), number formats ({sheet: {column: format}}) and label columns
    ({sheet: how many first columns label the rows}); values only, no formulas."""
    y = content.year
    # a history in money: the plan's units are currency, its revenue column says it (no units, no unit price)
    in_units = (lambda names: names) if not content.in_money else \
        (lambda names: {c: w for c, w in names.items() if c not in ("units", "unit_price")})
    plan_sheet = _words(content.plan_lines, in_units(PLAN_COLUMNS))
    fs = _words(content.family_summary, in_units({
        "family": "Family", "units": "Plan units (horizon)", "revenue": "Plan revenue (horizon)",
        "cogs": "Plan COGS (horizon)", "gross_margin_pct": "Gross margin %", "outlook_revenue": f"Outlook revenue {y}",
        "plan_revenue": f"Annual plan revenue {y}", "gap": f"Gap to annual plan {y}", "gap_pct": "Gap to annual plan %"}))
    by_month = _words(content.family_plan, in_units({"family": "Family", "period": "Month", "units": "Units",
                                                     "revenue": "Revenue", "cogs": "COGS"}))
    b = content.bridge
    bridge = pd.DataFrame({"Step": b["step"], "Revenue": b["value"], "Running total": b["cumulative"],
                           "What it measures": [step_text(s, n, content.in_money) for s, n in zip(b["step"], b["note"])]})
    cap = _words(content.capacity, {
        "resource": "Resource", "basis": "Basis", "months": "Months", "peak_utilisation": "Peak utilisation",
        "peak_period": "Peak month", "average_utilisation": "Average utilisation",
        "overloaded_months": "Overloaded months", "over_hours": "Hours over capacity",
        "top_families": "Families at the peak"})
    card = pd.DataFrame([{
        "KPI": k.label, "Latest month": k.latest_period, "Latest month's value": k.latest, "Value": k.value,
        "Status": KPI_STATUS.get(k.status, k.status),
        "Status on": ("latest month" if k.basis == "latest" else "12 months" if k.basis else "value"),
        "Target": _text(k.target_text), "Note": _text(k.missing_message or k.note), "Formula": _text(k.formula),
        "Key": k.key} for k in content.scorecard],
        columns=["KPI", "Latest month", "Latest month's value", "Value", "Status", "Status on", "Target", "Note",
                 "Formula", "Key"])
    card["Latest month"] = pd.to_datetime(card["Latest month"])
    card_formats = [KPI_FORMATS.get(k.unit) for k in content.scorecard]
    n = content.needed
    needed = pd.DataFrame({
        "What": [NEEDED_KIND.get(k, str(k).capitalize()) for k in n["kind"]], "Subject": n["subject"],
        "Detail": n["detail"], "Money": n["money"], "Overdue": ["Yes" if o else "No" for o in n["overdue"]],
        "Explained on": [PAGE_TITLES.get(p, p) for p in n["page"]]})
    d = content.decisions
    dec = pd.DataFrame({
        "Due": pd.to_datetime(d["due_date"]), "Decision": d["title"], "Owner": d["owner"], "Status": d["status"],
        "Overdue": ["Yes" if o else "No" for o in d["overdue"]], "Detail": d["detail"].map(_text),
        "Recorded by": d["created_by"], "Recorded at": pd.to_datetime(d["created_at"]),
        "Plan version": d["version_id"].map(_text), "Scenario": d["scenario_id"].map(_text)})
    v = content.version
    about = [("Company", _text(content.company)), ("Pack", content.title), ("Plan", content.plan_label),
             ("Plan version id", v.version_id if v else None), ("Content SHA-256", v.content_sha256 if v else None),
             ("Outlook year", y), ("Cycle month", content.cycle_month),
             ("Generated (UTC)", pd.Timestamp(content.generated_at)), ("Data fingerprint", content.fingerprint),
             ("Scenario", content.scenario.name if content.scenario is not None else None),
             ("Link", _text(content.link))]
    about_sheet = pd.DataFrame({"Item": [a for a, _ in about], "Value": pd.Series([b for _, b in about], dtype=object)})
    about_formats = ["0" if a == "Outlook year" else exports.MONTH_FORMAT if a == "Cycle month" else None
                     for a, _ in about]
    sheets = {"Plan": plan_sheet, "Family summary": fs, "Family by month": by_month, "Bridge": bridge,
              "Capacity": cap, "Scorecard": card, "Decisions needed": needed, "Decisions": dec, "About": about_sheet}
    formats: dict[str, dict[str, Any]] = {
        "Plan": {"Units": UNITS, "Unit price": PRICE, "Revenue": MONEY, "COGS": MONEY},
        "Family summary": {"Plan units (horizon)": UNITS, "Plan revenue (horizon)": MONEY, "Plan COGS (horizon)": MONEY,
                           "Gross margin %": PCT, f"Outlook revenue {y}": MONEY, f"Annual plan revenue {y}": MONEY,
                           f"Gap to annual plan {y}": MONEY, "Gap to annual plan %": PCT},
        "Family by month": {"Units": UNITS, "Revenue": MONEY, "COGS": MONEY},
        "Bridge": {"Revenue": MONEY, "Running total": MONEY},
        "Capacity": {"Months": UNITS, "Peak utilisation": PCT, "Peak month": exports.MONTH_FORMAT,
                     "Average utilisation": PCT, "Overloaded months": UNITS, "Hours over capacity": HOURS},
        "Scorecard": {"Value": card_formats, "Latest month's value": card_formats},
        "Decisions needed": {"Money": MONEY},
        "Decisions": {"Due": exports.DATE_FORMAT, "Recorded at": exports.DATETIME_FORMAT},
        "About": {"Value": about_formats},
    }
    labels = {"Plan": 1, "Family summary": 1, "Family by month": 1, "Bridge": 1, "Capacity": 1, "Scorecard": 1,
              "Decisions": 0, "Decisions needed": 0, "About": 1}
    return sheets, formats, labels


def build_xlsx(content: PackContent) -> bytes:
    """The plan as an Excel workbook, values only.

    Sheets: Plan (SKU, Region, Family, Month, Units, Unit price, Revenue, COGS), Family summary,
    Family by month, Bridge, Capacity, Scorecard, Decisions needed (as on the Executive page),
    Decisions (the log), About. Text from uploaded data is neutralised.
    """
    sheets, formats, labels = xlsx_sheets(content)
    return exports.to_xlsx_bytes(sheets, formats, labels)
