"""Planning: what the consensus means for capacity, inventory and money.

supply (capacity and the constrained plan), inventory (projection, safety stock), finance (revenue,
margin, the annual plan), plan (a plan evaluated end to end) and settings, scenarios, coverage
(what could not be checked), kpis (the scorecard).
"""

__all__ = ["coverage", "finance", "inventory", "kpis", "plan", "scenarios", "settings", "supply"]
