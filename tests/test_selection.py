"""The choice rule and the honest backtest of the procedure (selection.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sop_core.demand import backtest as B
from sop_core.demand import candidates as C
from sop_core.demand import models as M
from sop_core.demand import selection as S

LAST = pd.Timestamp("2026-10-01")
SMOOTH = S.CandidateSet((M.SeasonalNaive(12), C.Theta(12), C.DampedETS(12), C.Arima(12)), S.DEFAULT_MEMBERS)


def _series(n: int = 84, seed: int = 0) -> tuple[pd.DatetimeIndex, np.ndarray]:
    t = np.arange(n)
    y = 200 + 1.5 * t + 40 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(seed).normal(0, 8, n)
    return pd.date_range(end=LAST, periods=n, freq="MS"), y


def test_near_ties_go_to_the_combination_and_to_the_simpler_model() -> None:
    cands = S.CandidateSet((M.SeasonalNaive(12), C.Theta(12), C.DampedETS(12), M.ProphetModel()),
                           ("theta", "ets_damped", "arima"))
    errors = {"seasonal_naive": 130.0, "theta": 100.0, "ets_damped": 101.0, "prophet": 102.0}
    choice = S.decide(errors, cands, lambda members: 103.0)  # best single only 3% better: combination
    assert choice.model == S.COMBINATION and choice.members == ("theta", "ets_damped", "prophet")
    errors = {"seasonal_naive": 130.0, "theta": 93.0, "ets_damped": 120.0, "prophet": 90.0}
    choice = S.decide(errors, cands, lambda members: 110.0)  # Prophet clearly best, Theta within 5%: Theta
    assert choice.model == "theta" and "simpler" in choice.why
    errors = {"seasonal_naive": 130.0, "theta": 80.0, "ets_damped": 120.0, "prophet": 100.0}
    assert S.decide(errors, cands, lambda members: 110.0).model == "theta"
    assert S.decide({}, cands).model == S.COMBINATION  # no evidence: the default combination
    assert S.decide({}, cands).members == ("theta", "ets_damped")  # default members that are candidates


def test_each_origin_is_scored_with_a_choice_made_before_it() -> None:
    """Changing what happens after an origin never changes the forecast scored at that origin."""
    periods, y = _series()
    plan = B.plan_backtest(LAST, len(y), 12, 12, "MS", origins=4)
    assert plan.origins == 4 and plan.step == 12
    origins = S.run_origins("s", periods, y, SMOOTH, plan.cutoffs, plan.horizon, plan.min_train, 12)
    points, final = S.replay("s", origins, SMOOTH)
    # the first origin has no evidence: it informs the later choices and is not scored (the forward choice never
    # goes without evidence)
    assert points["origin"].nunique() == 3 and plan.cutoffs[0] not in set(points["origin"])
    assert points.groupby("origin").size().eq(12).all()
    for j, cutoff in enumerate(plan.cutoffs):
        # make every candidate look terrible or perfect after this origin: choices up to it must not move
        y2 = y.copy()
        after = periods > cutoff
        y2[after] = y2[after] * np.where(np.arange(after.sum()) % 2, 3.0, 0.1)
        o2 = S.run_origins("s", periods, y2, SMOOTH, plan.cutoffs, plan.horizon, plan.min_train, 12)
        p2, _ = S.replay("s", o2, SMOOTH)
        for c in plan.cutoffs[:j + 1]:
            a = points[points["origin"] == c]
            b = p2[p2["origin"] == c]
            assert list(a["model"]) == list(b["model"])
            np.testing.assert_allclose(a["forecast"], b["forecast"])


def test_reported_accuracy_never_uses_the_points_it_chose_on() -> None:
    """A candidate that is perfect on the scored points only cannot make the reported error zero."""
    periods, y = _series()
    plan = B.plan_backtest(LAST, len(y), 12, 12, "MS", origins=3)

    class Oracle(M.Model):
        """Knows the future of the last origin only (a selection score would reward it)."""

        name = "prophet"

        def predict(self, yy: np.ndarray, pp: pd.DatetimeIndex, future: pd.DatetimeIndex) -> M.Prediction:
            n = len(yy)
            f = y[n:n + len(future)] if pp[-1] == plan.cutoffs[-1] else np.full(len(future), 1e6)
            return f, f, f

    cands = S.CandidateSet((M.SeasonalNaive(12), C.Theta(12), Oracle()), ("theta",))
    origins = S.run_origins("s", periods, y, cands, plan.cutoffs, plan.horizon, plan.min_train, 12)
    points, final = S.replay("s", origins, cands)
    last = points[points["origin"] == plan.cutoffs[-1]]
    assert (last["model"] != "prophet").all()  # chosen before the oracle's good origin was seen
    assert np.abs(last["forecast"] - last["actual"]).sum() > 0
    # the selection score on all points is a different, optimistic number, and labelled as such
    assert S.selection_wape(origins, final) != B.metrics.wape(points["actual"], points["forecast"])


def test_candidate_sets_follow_the_recent_class() -> None:
    periods, y = _series(48)
    smooth = S.candidate_set(y, periods, "month", 12)
    assert smooth.names == ("seasonal_naive", "theta", "ets_damped", "arima", "stl", "prophet")
    recent = np.r_[y[:24], np.where(np.arange(24) % 4 == 0, 10.0, 0.0)]
    inter = S.candidate_set(recent, periods, "month", 12)
    assert inter.names == ("sba", "tsb", "adida") and "intermittent" in inter.note
    stopped = np.r_[y[:24], np.zeros(24)]
    assert S.candidate_set(stopped, periods, "month", 12).names == ("zero",)
    short = S.candidate_set(y[-10:], periods[-10:], "month", 12)
    assert short.default == (short.names[0],) and "theta" in short.names
    assert S.candidate_set(y, periods, "month", 12, mode="prophet").names == ("prophet",)


def test_inactive_series_are_not_fitted_and_forecast_zero() -> None:
    from sop_core.demand import forecast as F

    periods, y = _series(48)
    stopped = np.r_[y[:40], np.zeros(8)]  # no sales for 8 months
    assert S.candidate_set(stopped, periods, "month", 12).kind != "inactive"  # default: 24 quiet months
    cands = S.candidate_set(stopped, periods, "month", 12, inactive_after=6)
    assert cands.kind == "inactive" and cands.names == ("zero",) and cands.note.startswith(S.INACTIVE_PREFIX)
    plan = B.plan_backtest(periods[-1], 48, 6, 12, "MS")
    cfg = F.FitConfig("month", "MS", 12, 6, "auto", "additive", None, plan, inactive_after=6)
    fc, points, choice = F.fit_series(F.SeriesTask("gone", periods[0], stopped), cfg)
    assert (fc["value"] == 0).all() and (fc["model"] == "zero").all() and points.empty
    assert choice["reason"].startswith(S.INACTIVE_PREFIX) and choice["n_origins"] == 0
    mets = pd.DataFrame({"series_id": ["gone", "live"], "reason": [choice["reason"], "mean of the best 3"]})
    assert list(F.inactive_series(mets)["series_id"]) == ["gone"]
    with pytest.raises(ValueError):
        F.ForecastSettings(inactive_after=2)
    assert F.ForecastSettings(inactive_after=6).key() != F.ForecastSettings().key()


def test_the_last_runs_choice_is_kept_unless_the_evidence_changes() -> None:
    cands = S.CandidateSet((M.SeasonalNaive(12), C.Theta(12), C.DampedETS(12)), ("theta", "ets_damped"))
    errors = {("theta",): 100.0, ("ets_damped",): 103.0, ("seasonal_naive",): 150.0}

    def err(members):  # type: ignore[no-untyped-def]
        return errors[tuple(members)]

    new = S.Choice("theta", ("theta",), "best")
    kept = S.keep_previous(new, ("ets_damped",), cands, err)  # 3% worse: within the margin, kept
    assert kept.model == "ets_damped" and "kept from the last run" in kept.why
    assert S.keep_previous(new, ("seasonal_naive",), cands, err) is new  # 50% worse: the evidence changed
    assert S.keep_previous(new, ("prophet",), cands, err) is new  # no longer a candidate
    # end to end: replaying the same evidence with the previous choice as input returns it again
    periods, y = _series()
    plan = B.plan_backtest(LAST, len(y), 12, 12, "MS", origins=3)
    origins = S.run_origins("s", periods, y, SMOOTH, plan.cutoffs, plan.horizon, plan.min_train, 12)
    points, first = S.replay("s", origins, SMOOTH)
    again_points, again = S.replay("s", origins, SMOOTH, first.members)
    assert again.members == first.members
    pd.testing.assert_frame_equal(points, again_points)  # the previous choice never touches the scored points


def test_seasonal_models_sit_out_windows_shorter_than_two_seasons() -> None:
    periods, y = _series(48)
    cands = S.candidate_set(y, periods, "month", 12)
    plan = B.plan_backtest(LAST, 48, 12, 12, "MS", origins=4, step=6, min_train=13)
    origins = S.run_origins("s", periods, y, cands, plan.cutoffs, plan.horizon, plan.min_train, 12)
    short = [o for o in origins if int(periods.searchsorted(o.cutoff, side="right")) < 24]
    assert short and all(o.forecasts["theta"] is None and o.forecasts["prophet"] is None
                         and o.forecasts["seasonal_naive"] is not None for o in short)
    points, final = S.replay("s", origins, cands)
    assert (points.loc[points["origin"].isin([o.cutoff for o in short]), "model"] == "seasonal_naive").all()
    assert final.model != "zero" and points["origin"].nunique() == len(origins) - 1  # the first informs only


def test_only_origins_chosen_on_evidence_are_scored(monkeypatch: pytest.MonkeyPatch) -> None:
    periods, y = _series()
    plan = B.plan_backtest(LAST, len(y), 12, 12, "MS", origins=3)
    origins = S.run_origins("s", periods, y, SMOOTH, plan.cutoffs, plan.horizon, plan.min_train, 12)
    scored, _ = S.replay("s", origins, SMOOTH)
    assert list(scored["origin"].unique()) == list(plan.cutoffs[1:])
    monkeypatch.setattr(S, "SCORE_INFORMED_ONLY", False)
    every, final = S.replay("s", origins, SMOOTH)
    assert (every.loc[every["origin"] == plan.cutoffs[0], "model"] == S.COMBINATION).all()  # the default
    later = every[every["origin"] != plan.cutoffs[0]].reset_index(drop=True)
    pd.testing.assert_frame_equal(later, scored.reset_index(drop=True))  # the same choices, fewer points
    # a single origin has no evidence at all: it is kept, the series' only accuracy evidence
    monkeypatch.setattr(S, "SCORE_INFORMED_ONLY", True)
    one, _ = S.replay("s", origins[-1:], SMOOTH)
    assert list(one["origin"].unique()) == [plan.cutoffs[-1]]


def test_mstl_joins_the_set_only_for_the_season_lengths_named(monkeypatch: pytest.MonkeyPatch) -> None:
    weeks = pd.date_range("2023-01-06", periods=120, freq="W-FRI")
    y = 100 + 20 * np.sin(2 * np.pi * np.arange(120) / 52) + np.random.default_rng(1).normal(0, 3, 120)
    assert "mstl" not in S.candidate_set(y, weeks, "week", 52).names  # measured: no gain in the procedure
    monkeypatch.setattr(S, "MSTL_SEASONS", (52,))
    cands = S.candidate_set(y, weeks, "week", 52)
    assert "mstl" in cands.names and "mstl" in cands.needs_two_seasons
