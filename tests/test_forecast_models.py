"""Catalog availability, conformal intervals, ensembles and the router."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from conftest import real_file
from flowdesk.forecasting.catalog import CATALOG, available_specs, describe, unavailable_reason
from flowdesk.forecasting.engine import Forecaster
from flowdesk.forecasting.ensemble import combine, ensemble_cv, inverse_mse_weights
from flowdesk.forecasting.errors import ForecastError, ModelUnavailable
from flowdesk.forecasting.intervals import (
    ACI_GAMMA,
    adaptive_level,
    conformal_offsets,
    interval,
    measured_coverage,
    min_calibration,
)
from flowdesk.forecasting.router import route
from flowdesk.forecasting.series import TargetSeries, csv_series
from flowdesk.forecasting.validation import CVConfig, run_cv

DEEP = ("nbeats", "nhits", "tft", "tide", "tsmixer", "dlinear", "nlinear", "tcn", "rnn", "lstm", "gru")


def _real(target: str, n: int) -> TargetSeries:
    return csv_series(real_file("series/coinbase_btcusd_1h.csv"), target, lookback_bars=n)


# -- catalog ---------------------------------------------------------------------------------------


def test_catalog_groups_every_family_the_issue_names():
    families = {s.family for s in CATALOG.values()}
    assert {"naive", "exponential_smoothing", "theta", "arima", "prophet", "regression", "deep",
            "foundation"} <= families
    assert set(DEEP) <= set(CATALOG)
    assert {"chronos2", "timesfm", "auto_arima", "auto_ets", "auto_theta", "lightgbm", "random_forest"} <= set(CATALOG)


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="torch is installed here")
def test_torch_models_report_the_deep_extra_and_refuse_to_build():
    for name in DEEP:
        entry = describe(CATALOG[name])
        assert entry["available"] is False and "deep" in entry["unavailable_reason"]
    with pytest.raises(ModelUnavailable, match="deep"):
        Forecaster(CATALOG["nbeats"], horizon=3, season=24, level=False)


@pytest.mark.skipif(importlib.util.find_spec("statsforecast") is not None, reason="statsforecast is installed")
def test_statsforecast_models_say_why_they_are_missing():
    assert "statsforecast" in unavailable_reason(CATALOG["auto_arima"])


def test_foundation_models_need_local_weights(monkeypatch, tmp_path):
    monkeypatch.delenv("FLOWDESK_CHRONOS2_DIR", raising=False)
    reason = unavailable_reason(CATALOG["chronos2"])
    assert reason and ("deep" in reason or "FLOWDESK_CHRONOS2_DIR" in reason)
    monkeypatch.setenv("FLOWDESK_TIMESFM_DIR", str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    if importlib.util.find_spec("torch") is not None:
        assert "model.safetensors" in unavailable_reason(CATALOG["timesfm"])
    from flowdesk.forecasting.catalog import weights_dir

    with pytest.raises(ModelUnavailable, match="model.safetensors"):
        weights_dir("FLOWDESK_TIMESFM_DIR")


def test_the_cpu_models_run_here():
    names = {s.name for s in available_specs()}
    assert {"naive_last", "naive_seasonal", "exp_smoothing", "theta", "arima", "linear_regression",
            "lightgbm", "random_forest"} <= names


# -- intervals -------------------------------------------------------------------------------------


def test_conformal_offsets_use_finite_sample_ranks():
    resid = np.arange(1.0, 20.0)[:, None]  # 19 residuals 1..19
    lo, mid, hi = conformal_offsets(resid, 0.8)
    # alpha/2 = 0.1: floor(20*0.1) = 2nd smallest, ceil(20*0.9) = 18th smallest
    assert (lo[0], mid[0], hi[0]) == (2.0, 10.0, 18.0)
    assert min_calibration(0.8) == 9
    with pytest.raises(ForecastError, match="too few"):
        conformal_offsets(resid[:8], 0.8)


def test_interval_contains_the_median_and_is_clipped_for_non_negative_targets():
    rng = np.random.default_rng(0)
    resid = rng.standard_normal((40, 3)) * [1.0, 2.0, 3.0]
    band = interval(np.array([0.5, 0.5, 0.5]), resid, 0.8, nonneg=True)
    assert np.all(band.lower <= band.median) and np.all(band.median <= band.upper)
    assert np.all(band.lower >= 0.0)
    assert band.upper[2] - band.lower[2] > band.upper[0] - band.lower[0]


def test_measured_coverage_is_near_nominal_on_a_random_walk():
    rng = np.random.default_rng(11)
    values = np.cumsum(rng.standard_normal(1500)) + 500.0
    s = TargetSeries("x", "spot", "RW", "1h", "close", pd.date_range("2024-01-01", periods=1500, freq="1h"),
                     values, "test")
    res = run_cv(s, Forecaster(CATALOG["naive_last"], horizon=1, season=24, level=True),
                 CVConfig(horizon=1, scheme="expanding", folds=600))
    cov = measured_coverage(res, 0.8)
    assert cov["n"] > 550 and 0.75 <= cov["measured"] <= 0.85


def test_normalized_intervals_keep_their_coverage_when_volatility_falls():
    rng = np.random.default_rng(4)
    sigma = np.where(np.arange(2000) < 1300, 3.0, 1.0)  # a calm regime follows a wild one
    values = np.cumsum(rng.standard_normal(2000) * sigma) + 1000.0
    s = TargetSeries("x", "spot", "RW", "1h", "close", pd.date_range("2024-01-01", periods=2000, freq="1h"),
                     values, "test")
    res = run_cv(s, Forecaster(CATALOG["naive_last"], horizon=1, season=24, level=True),
                 CVConfig(horizon=1, scheme="expanding", folds=1000, scale_window=50, interval_window=50))
    assert 0.75 <= measured_coverage(res, 0.8, gamma=0.0)["measured"] <= 0.85
    raw = measured_coverage(replace(res, iscale=np.ones_like(res.scale)), 0.8, gamma=0.0)["measured"]
    assert raw > 0.9  # raw residuals from the wild regime make calm-regime intervals too wide
    band = interval(np.zeros(1), res.residuals, 0.8, scales=res.interval_scale, scale_now=2.0)
    narrow = interval(np.zeros(1), res.residuals, 0.8, scales=res.interval_scale, scale_now=1.0)
    np.testing.assert_allclose(band.upper - band.lower, 2 * (narrow.upper - narrow.lower))


def test_the_interval_scale_uses_its_own_shorter_window():
    rng = np.random.default_rng(5)
    sigma = np.where(np.arange(1500) < 1400, 1.0, 4.0)  # the last 100 bars are wild
    values = np.cumsum(rng.standard_normal(1500) * sigma) + 1000.0
    s = TargetSeries("x", "spot", "RW", "1h", "close", pd.date_range("2024-01-01", periods=1500, freq="1h"),
                     values, "test")
    res = run_cv(s, Forecaster(CATALOG["naive_last"], horizon=1, season=24, level=True),
                 CVConfig(horizon=1, scheme="expanding", folds=2, interval_window=50))
    # 50 wild bars against 1,000 mostly calm ones: the interval scale has caught up, MASE's has not
    assert res.interval_scale[-1] > 2.5 * res.scale[-1]
    assert res.interval_scale[-1] == pytest.approx(np.mean(np.abs(np.diff(values[res.folds[-1].train_end - 50:
                                                                                 res.folds[-1].train_end]))))


def _shifted(n: int = 240, at: int = 120, jump: float = 3.0, seed: int = 8):
    """A one-step CV result whose residuals triple in size at fold ``at`` while the interval
    scale (ones) does not see it: a regime shift the normalization misses."""
    rng = np.random.default_rng(seed)
    s = TargetSeries("x", "spot", "RW", "1h", "log_return", pd.date_range("2024-01-01", periods=n + 50, freq="1h"),
                     rng.standard_normal(n + 50), "test")
    res = run_cv(s, Forecaster(CATALOG["naive_mean"], horizon=1, season=24, level=False),
                 CVConfig(horizon=1, scheme="walk_forward", folds=n))
    noise = rng.standard_normal(n) * np.where(np.arange(n) < at, 1.0, jump)
    return replace(res, forecasts=np.zeros((n, 1)), actuals=noise[:, None], iscale=np.ones(n))


def test_adaptive_conformal_recovers_coverage_after_a_regime_shift():
    res = _shifted()
    after = range(150, 240)  # once ACI has had 30 folds to react
    fixed = measured_coverage(res, 0.8, folds=after, gamma=0.0)["measured"]
    adaptive = measured_coverage(res, 0.8, folds=after, gamma=ACI_GAMMA)["measured"]
    assert fixed < 0.6  # split conformal keeps the calm-regime width and misses
    assert adaptive > fixed + 0.15 and adaptive >= 0.7  # ACI widens the intervals after the misses
    # and the level a live forecast would use now asks for more than nominal coverage
    assert adaptive_level(res, 0.8)[0] < 0.2
    assert adaptive_level(res, 0.8, gamma=0.0)[0] == pytest.approx(0.2)


def test_adaptive_level_rises_after_hits_and_intervals_always_contain_the_median():
    res = _shifted(jump=0.2)  # outcomes calm down: intervals over-cover, so ACI narrows them
    assert adaptive_level(res, 0.8)[0] > 0.2
    rng = np.random.default_rng(1)
    resid = rng.standard_normal((30, 4))
    for levels in ([-3.0] * 4, [0.2] * 4, [0.9] * 4, [5.0] * 4, [-1.0, 0.1, 0.5, 2.0]):
        band = interval(np.ones(4), resid, 0.8, levels=np.array(levels))
        assert np.all(band.lower <= band.median) and np.all(band.median <= band.upper)
    widest = interval(np.zeros(1), resid[:, :1], 0.8, levels=np.array([-3.0]))
    assert widest.lower[0] == resid[:, 0].min() and widest.upper[0] == resid[:, 0].max()


def test_adaptive_coverage_never_looks_ahead():
    res = _shifted()
    base = measured_coverage(res, 0.8, folds=range(100, 150))
    later = res.actuals.copy()
    later[150:] *= 50.0  # what happens after fold 149 cannot change how folds 100..149 were covered
    again = measured_coverage(replace(res, actuals=later), 0.8, folds=range(100, 150))
    assert again == base
    assert measured_coverage(replace(res, actuals=later), 0.8, folds=range(150, 240)) != \
        measured_coverage(res, 0.8, folds=range(150, 240))


# -- ensembles -------------------------------------------------------------------------------------


def test_ensemble_weights_come_only_from_folds_already_resolved():
    s = _real("realized_vol", 400)
    cfg = CVConfig(horizon=2, scheme="expanding", folds=6)
    a = run_cv(s, Forecaster(CATALOG["naive_last"], horizon=2, season=24, level=False), cfg)
    b = run_cv(s, Forecaster(CATALOG["naive_mean"], horizon=2, season=24, level=False), cfg)
    ens = ensemble_cv([a, b], "weighted")
    np.testing.assert_allclose(ens.forecasts[0], (a.forecasts[0] + b.forecasts[0]) / 2)  # nothing known yet
    w = inverse_mse_weights([a, b], a.known_before(3))
    np.testing.assert_allclose(ens.forecasts[3], w[0] * a.forecasts[3] + w[1] * b.forecasts[3])
    assert sum(ens.members.values()) == pytest.approx(1.0)
    np.testing.assert_allclose(combine(np.array([[1.0, 4.0], [3.0, 8.0], [2.0, 0.0]]), "median"), [2.0, 4.0])
    best = ensemble_cv([a, b], "mean", top=1)  # the member is chosen from resolved folds only
    np.testing.assert_allclose(best.forecasts[0], (a.forecasts[0] + b.forecasts[0]) / 2)
    for k in range(1, 6):
        rows = a.known_before(k)
        better = a if np.mean(a.residuals[rows] ** 2) <= np.mean(b.residuals[rows] ** 2) else b
        np.testing.assert_allclose(best.forecasts[k], better.forecasts[k])


# -- router ----------------------------------------------------------------------------------------


def _score(model: str, mase: float, fit_s: float = 0.01, folds: int = 10) -> dict:
    return {"model": model, "version": 1, "status": "ok", "mase": mase, "fit_s": fit_s, "predict_s": 0.0,
            "folds": folds, "scheme": "expanding", "scored_ts": datetime(2024, 1, 1), "params": {}}


def test_router_without_scores_falls_back_for_realtime_and_asks_for_evaluation_otherwise():
    s = _real("realized_vol", 600)
    d = route(s, 6, "realtime", [])
    assert d.model == "naive_last" and d.scores_from == "fallback" and "no out-of-sample scores" in d.reason
    d = route(s, 6, "fast", [])
    assert d.model is None and "lightgbm" in d.evaluate and "random_forest" not in d.evaluate
    assert "arima" not in d.evaluate  # heavy: over the fast budget without a measured time


def test_router_picks_the_lowest_recorded_mase_within_the_budget():
    s = _real("realized_vol", 600)
    scores = [_score("naive_last", 1.0), _score("theta", 0.8), _score("random_forest", 0.6, fit_s=50.0)]
    d = route(s, 6, "fast", scores)
    assert d.model == "theta" and d.scores_from == "registry"
    assert "0.800" in d.reason and "naive last value 1.000" in d.reason
    assert route(s, 6, "accurate", scores).model == "random_forest"
    # a measured time inside the budget makes a heavy model eligible for fast
    quick = [_score("naive_last", 1.0), _score("random_forest", 0.6, fit_s=5.0, folds=10)]
    assert route(s, 6, "fast", quick).model == "random_forest"


def test_router_skips_models_the_series_is_too_short_for():
    s = _real("realized_vol", 40)
    d = route(s, 6, "accurate", [_score("lightgbm", 0.5), _score("naive_last", 1.0)])
    assert d.model == "naive_last"
    why = {c["model"]: c["why"] for c in d.candidates}
    assert why["lightgbm"].startswith("needs")
