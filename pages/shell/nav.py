"""The app's pages, grouped by the meeting of the S&OP cycle they serve."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

PAGES_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class PageSpec:
    """One page: its script (whose stem is also its URL path), title, icon and one-line help."""

    script: str
    title: str
    icon: str
    help: str

    @property
    def url_path(self) -> str:
        return Path(self.script).stem


SECTIONS: dict[str, list[PageSpec]] = {
    "Prepare": [
        PageSpec("home.py", "Cycle overview", ":material/home:", "Where this month's S&OP cycle stands."),
        PageSpec("data.py", "Data", ":material/database:", "Load, validate and check the company's files."),
    ],
    "Pre-S&OP meetings": [
        PageSpec("demand_review.py", "Demand review", ":material/trending_up:",
                 "Statistical forecast, accuracy and planner overrides: the consensus demand plan."),
        PageSpec("supply_review.py", "Supply review", ":material/factory:",
                 "Can we make the consensus? Load vs capacity per resource, supply gaps and the constrained plan."),
        PageSpec("inventory.py", "Inventory", ":material/inventory_2:",
                 "Projected stock against safety stock: stockouts, breaches and excess, sku by sku."),
        PageSpec("financials.py", "Financials", ":material/payments:",
                 "The plan in money: full-year outlook against the annual plan, and the bridge between them."),
        PageSpec("scenarios.py", "Scenarios", ":material/science:",
                 "What if demand, price or capacity changed? Build scenarios and compare them with the baseline."),
        PageSpec("pre_sop.py", "Pre-S&OP", ":material/fact_check:",
                 "Reconciliation: the exceptions that need a decision, the options prepared, the decisions to ask for."),
    ],
    "Executive meeting": [
        PageSpec("executive.py", "Executive S&OP", ":material/gavel:",
                 "The decision meeting: plan of record, gap to plan, decisions needed, the options, and the plan to approve."),
        PageSpec("scorecard.py", "Scorecard", ":material/speed:",
                 "Performance control: the KPIs against their targets, with 12-month trends."),
    ],
}


def all_pages() -> list[PageSpec]:
    """Every page spec in navigation order."""
    return [p for specs in SECTIONS.values() for p in specs]


def spec(url_path: str) -> PageSpec:
    """The spec of the page with that URL path."""
    return next(p for p in all_pages() if p.url_path == url_path)


ADMIN_ONLY: frozenset[str] = frozenset({"data.py"})  # loading data is an admin's job


def pages_for(role: str) -> dict[str, list[PageSpec]]:
    """The sections a role sees: a page a role may not use is not registered at all (a URL to it finds nothing)."""
    return {name: [p for p in specs if role == "admin" or p.script not in ADMIN_ONLY]
            for name, specs in SECTIONS.items()}


def navigation(role: str = "admin") -> st.navigation:
    """Build `st.navigation` from the role's sections (the first page is the default)."""
    sections = {
        name: [
            st.Page(str(PAGES_DIR / p.script), title=p.title, icon=p.icon, default=(p.script == "home.py"))
            for p in specs
        ]
        for name, specs in pages_for(role).items()
        if specs
    }
    return st.navigation(sections, position="sidebar", expanded=True)
