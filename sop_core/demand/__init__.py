"""Demand: history, the statistical forecast and the consensus.

history (demand by period), models and metrics (candidates and errors), backtest, forecast (the
stored forecast run), executor and dask_executor (where fits run), forecast_jobs (background runs),
review (flagged series, scopes), overrides and consensus (planners' changes and their result).
"""

__all__ = [
    "backtest",
    "consensus",
    "dask_executor",
    "executor",
    "forecast",
    "forecast_jobs",
    "history",
    "metrics",
    "models",
    "overrides",
    "review",
]
