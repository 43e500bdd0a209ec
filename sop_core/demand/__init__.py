"""Demand: history, the statistical forecast and the consensus.

history (demand by period, weeks on the data's weekday), calendar (holidays in their bucket), models and metrics (candidates and errors), candidates (Theta, damped
ETS, ARIMA, STL, combination) and intermittent (Syntetos–Boylan classes, TSB, ADIDA), backtest and
selection (the choice rule and the honest backtest of the procedure), forecast (the stored forecast run), executor and dask_executor (where fits run), forecast_jobs (background runs),
review (flagged series, scopes), overrides and consensus (planners' changes and their result).
"""

__all__ = [
    "backtest",
    "calendar",
    "candidates",
    "consensus",
    "dask_executor",
    "executor",
    "forecast",
    "forecast_jobs",
    "history",
    "intermittent",
    "metrics",
    "models",
    "overrides",
    "review",
    "selection",
]
