"""Series life in a stored run: a series that stopped selling is inactive (zero, not fitted, listed with its last
sale); a series that started recently starts at its first sale, not padded with zeros before it."""
from __future__ import annotations

import numpy as np
import pandas as pd

from sop_core.demand import forecast as F
from sop_core.demand import selection as S
from sop_core.demand.executor import SerialExecutor
from sop_core.demand.history import demand_history
from sop_core.store.workspace import Provenance, Workspace

LAST = pd.Timestamp("2026-10-01")


def _sales() -> pd.DataFrame:
    months = pd.date_range(end=LAST, periods=40, freq="MS")
    t = np.arange(40)
    rng = np.random.default_rng(3)
    rows = []

    def add(sku: str, dates: pd.DatetimeIndex, qty: np.ndarray) -> None:
        rows.extend({"date": d, "sku": sku, "region": None, "channel": None, "family": "Fam", "quantity": float(q),
                     "revenue": float(q)} for d, q in zip(dates, qty))

    add("LIVE", months, 100 + 20 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 4, 40))
    add("GONE", months[:30], 50 + rng.normal(0, 3, 30))  # last sale Dec 2025: 10 months without sales
    add("GONE", months[30:31], np.zeros(1))  # a zero row after the stop is not a sale
    add("NEW", months[-5:], np.array([8.0, 11.0, 10.0, 12.0, 13.0]))  # launched in June 2026
    return pd.DataFrame(rows)


def test_stopped_series_are_inactive_and_new_ones_start_at_their_first_sale(workspace: Workspace) -> None:
    workspace.replace_table("sales", _sales(), Provenance(file_name="s.csv", sha256="s"))
    settings = F.ForecastSettings(horizon=6, inactive_after=6)
    run = F.run_forecast(workspace, settings, executor=SerialExecutor())
    mets = run.metrics.set_index("sku")
    fc = run.forecast.groupby("sku")["value"].sum()
    assert mets.loc["GONE", "reason"].startswith(S.INACTIVE_PREFIX) and fc["GONE"] == 0
    assert mets.loc["GONE", "n_origins"] == 0 and mets.loc["GONE", "model"] == "zero"  # not fitted nor backtested
    assert not mets.loc["LIVE", "reason"].startswith(S.INACTIVE_PREFIX) and fc["LIVE"] > 0
    # the new series: 5 buckets from its launch (no zeros before), a short-history forecast at its level
    assert mets.loc["NEW", "n_obs"] == 5 and not mets.loc["NEW", "reason"].startswith(S.INACTIVE_PREFIX)
    assert 8 <= run.forecast.loc[run.forecast["sku"] == "NEW", "value"].mean() <= 14
    hist = demand_history(workspace, "month")
    listed = F.inactive_series(run.metrics, hist)
    assert list(listed["sku"]) == ["GONE"] and listed["last_sale"].iloc[0] == pd.Timestamp("2025-12-01")
    # with the default (24 months without sales) the same series is still forecast
    default = F.run_forecast(workspace, F.ForecastSettings(horizon=6), executor=SerialExecutor())
    assert F.inactive_series(default.metrics).empty


def test_inactive_series_at_family_level_gets_the_familys_last_sale() -> None:
    mets = pd.DataFrame({"series_id": ["Fam | All", "Other | All"], "sku": [None, None],
                         "reason": [f"{S.INACTIVE_PREFIX} no sales", "mean of the best 3"]})
    hist = pd.DataFrame({"series_id": ["A | All", "B | All"], "family": ["Fam", "Fam"], "region": ["All", "All"],
                         "period": pd.to_datetime(["2025-01-01", "2025-04-01"]), "quantity": [3.0, 2.0]})
    out = F.inactive_series(mets, hist)
    assert list(out["series_id"]) == ["Fam | All"] and out["last_sale"].iloc[0] == pd.Timestamp("2025-04-01")
