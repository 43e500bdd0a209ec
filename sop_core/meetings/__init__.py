"""Meetings: the S&OP cycle and what it produces.

cycle and agenda (the steps and the exceptions to discuss), decisions, versions (approved plans),
links (shared views), charts (Plotly figures for pages and pack), exports (Excel, CSV) and pack
(the executive board pack).
"""

__all__ = ["agenda", "charts", "cycle", "decisions", "exports", "links", "pack", "versions"]
