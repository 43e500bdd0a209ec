"""Planning: what the consensus means for capacity, inventory and money.

supply (capacity and the constrained plan), inventory (projection, safety stock), finance (revenue,
margin, the annual plan), plan (a plan evaluated end to end) and settings, scenarios, coverage
(what could not be checked), kpis (the scorecard) with kpi_catalogue (every KPI's label, unit,
direction and formula), kpi_targets (targets and statuses), service (OTIF and fill rate of the order
lines) and actuals (sales and stock per month as the scorecard measures them), kpi_sql (the same
aggregated by DuckDB in the workspace, so no fact table is read whole), plan_store (evaluated plans stored in
the workspace by what they depend on, reused by every session and after a restart) and warmup (the baseline
plan evaluated in the background when the server starts, the data change or a forecast ends).
"""

__all__ = ["actuals", "coverage", "finance", "inventory", "kpi_catalogue", "kpi_sql", "kpi_targets", "kpis", "plan",
           "plan_store", "scenarios", "service", "settings", "supply", "warmup"]
