"""Cross-validation: fold layouts, purge/embargo, no look-ahead, metrics, failures."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from conftest import real_file
from flowdesk.forecasting.catalog import CATALOG
from flowdesk.forecasting.engine import Forecaster
from flowdesk.forecasting.errors import ForecastError
from flowdesk.forecasting.series import TargetSeries, csv_series
from flowdesk.forecasting.validation import CVConfig, make_folds, run_cv, run_cv_many, score


def _series(values: np.ndarray, target: str = "realized_vol") -> TargetSeries:
    index = pd.date_range("2024-01-01", periods=len(values), freq="1h")
    return TargetSeries("x", "spot", "TEST", "1h", target, index, np.asarray(values, float), "test")


def _real(target: str, n: int = 700) -> TargetSeries:
    return csv_series(real_file("series/coinbase_btcusd_1h.csv"), target, lookback_bars=n)


def test_expanding_folds_are_non_overlapping_blocks_separated_by_the_embargo():
    folds = make_folds(100, CVConfig(horizon=5, scheme="expanding", folds=4, embargo=2, purge=3), min_train=10)
    assert [f.origin for f in folds] == [74, 81, 88, 95]
    assert all(f.train_start == 0 and f.train_end == f.origin - 3 for f in folds)
    assert folds[-1].origin + 5 == 100


def test_sliding_folds_keep_a_fixed_training_window():
    folds = make_folds(100, CVConfig(horizon=5, scheme="sliding", folds=3, train_window=30), min_train=10)
    assert all(f.train_end - f.train_start == 30 for f in folds)
    with pytest.raises(ForecastError, match="train_window"):
        make_folds(100, CVConfig(horizon=5, scheme="sliding", folds=3), min_train=10)


def test_walk_forward_steps_every_bar_and_drops_folds_without_enough_training():
    folds = make_folds(50, CVConfig(horizon=3, scheme="walk_forward", folds=10), min_train=42)
    assert [f.origin for f in folds] == [42, 43, 44, 45, 46, 47]
    with pytest.raises(ForecastError, match="too short"):
        make_folds(20, CVConfig(horizon=3, folds=5), min_train=30)


class Spy(Forecaster):
    """A real naive forecaster that remembers the newest position it was given."""

    seen: list[pd.Timestamp]

    def fit(self, series):  # noqa: ANN001, ANN201
        self.seen.append(series.index[-1])
        return super().fit(series)


@pytest.mark.parametrize("scheme", ["expanding", "walk_forward"])
def test_a_fold_never_sees_data_at_or_after_its_cutoff(scheme):
    s = _real("realized_vol", 400)
    spy = Spy(CATALOG["naive_mean"], horizon=4, season=s.season, level=False)
    spy.seen = []
    cfg = CVConfig(horizon=4, scheme=scheme, folds=6, purge=2)
    res = run_cv(s, spy, cfg)
    assert res.ok and len(spy.seen) == len(res.folds)
    for fold, last_seen in zip(res.folds, spy.seen, strict=True):
        assert last_seen == s.index[fold.train_end - 1] < s.index[fold.origin]
        assert fold.origin - fold.train_end == 2


@pytest.mark.parametrize("model", ["linear_regression", "exp_smoothing", "lightgbm", "har"])
def test_changing_the_future_of_a_fold_leaves_its_forecast_unchanged(model):
    s = _real({"exp_smoothing": "log_return", "har": "realized_vol"}.get(model, "close"), 600)
    cfg = CVConfig(horizon=3, scheme="expanding", folds=4, refit_every=2)
    params = {"n_estimators": 20} if model == "lightgbm" else {}
    fc = Forecaster(CATALOG[model], horizon=3, season=s.season, level=s.info.level, params=params)
    base = run_cv(s, fc, cfg)
    assert base.ok
    k = 1
    poisoned = s.values.copy()
    poisoned[base.folds[k].train_end :] *= 3.0
    fc2 = Forecaster(CATALOG[model], horizon=3, season=s.season, level=s.info.level, params=params)
    again = run_cv(replace(s, values=poisoned), fc2, cfg)
    np.testing.assert_allclose(again.forecasts[: k + 1], base.forecasts[: k + 1])
    assert not np.allclose(again.actuals[k + 1 :], base.actuals[k + 1 :])


def test_har_features_are_trailing_means_that_never_reach_past_their_bar():
    from flowdesk.forecasting.catalog import har_features, har_windows

    x = np.arange(1.0, 201.0)
    f = har_features(x, 24)
    assert har_windows(24) == (24, 168)
    assert har_windows(1440) == (10, 60, 1440, 10080)  # minute bars add the intraday components
    assert f[99, 0] == pytest.approx(x[76:100].mean()) and f[199, 1] == pytest.approx(x[32:200].mean())
    assert f[5, 1] == pytest.approx(x[:6].mean())  # shorter at the start
    changed = x.copy()
    changed[150:] = -1e6
    np.testing.assert_allclose(har_features(changed, 24)[:150], f[:150])
    minute = har_features(x, 1440)
    assert minute.shape == (200, 4) and minute[99, 0] == pytest.approx(x[90:100].mean())
    assert minute[99, 1] == pytest.approx(x[40:100].mean())
    np.testing.assert_allclose(har_features(changed, 1440)[:150], minute[:150])


def test_the_training_cap_never_cuts_below_what_a_model_needs():
    minutes = csv_series(real_file("series/ftx_btc-perp_1m_2022-01.csv"), "realized_vol", lookback_bars=12000)
    har = Forecaster.for_series("har", minutes, 3)
    assert har.min_length() > har.spec.max_train  # a week of minutes is more than the cap
    assert len(har.fit(minutes.window(0, 11000))._history) == har.min_length()
    assert np.all(har.predict(3) >= 0)


def test_tree_models_forecast_level_changes_so_they_can_leave_the_training_range():
    trend = _series(np.linspace(100.0, 200.0, 400), target="close")
    fc = Forecaster(CATALOG["lightgbm"], horizon=5, season=24, level=True, params={"n_estimators": 30})
    out = fc.fit(trend).predict(5)
    assert out[-1] > 200.0  # a tree on raw levels could never exceed its training maximum


def test_skewed_targets_are_modelled_on_a_log_scale_and_mapped_back():
    s = _real("realized_vol", 500)
    assert s.info.skewed
    fc = Forecaster.for_series("naive_mean", s, 3)
    out = fc.fit(s).predict(3)
    m = np.median(s.values[s.values > 0])
    np.testing.assert_allclose(out, m * np.expm1(np.mean(np.log1p(s.values / m))))
    assert out[0] < s.values.mean()  # a median-like level, not the spike-pulled mean
    plain = Forecaster(CATALOG["naive_mean"], horizon=3, season=24, level=False).fit(s).predict(3)
    np.testing.assert_allclose(plain, s.values.mean())


def test_score_matches_hand_computed_metrics():
    f = np.array([[1.0, 2.0], [3.0, 3.0]])
    y = np.array([[2.0, 2.0], [1.0, 5.0]])
    last = np.array([1.5, 2.0])
    scale = np.array([1.0, 2.0])
    m = score(f, y, last, scale, signed=False)
    assert m["mae"] == pytest.approx((1 + 0 + 2 + 2) / 4)
    assert m["rmse"] == pytest.approx(np.sqrt((1 + 0 + 4 + 4) / 4))
    assert m["mase"] == pytest.approx((1 / 1 + 0 + 2 / 2 + 2 / 2) / 4)
    assert m["smape"] == pytest.approx(np.mean([200 * 1 / 3, 0.0, 200 * 2 / 4, 200 * 2 / 8]))
    # direction against the last seen value: (down vs up) (up vs up) (up vs down) (up vs up)
    assert m["directional_accuracy"] == pytest.approx(2 / 4)
    signed = score(np.array([[0.1, -0.2]]), np.array([[0.3, 0.1]]), np.array([0.0]), np.array([1.0]), True)
    assert signed["directional_accuracy"] == 0.5
    flat = score(np.array([[1.5, 1.5]]), np.array([[2.0, 1.0]]), np.array([1.5]), np.array([1.0]), False)
    assert flat["directional_accuracy"] is None  # a forecast that does not move has no direction


def test_naive_last_value_has_mase_one_on_a_one_step_random_walk():
    rng = np.random.default_rng(3)
    s = _series(np.cumsum(rng.standard_normal(3000)) + 1000.0, target="close")
    res = run_cv(s, Forecaster(CATALOG["naive_last"], horizon=1, season=24, level=True),
                 CVConfig(horizon=1, scheme="expanding", folds=400))
    assert res.metrics()["mase"] == pytest.approx(1.0, abs=0.1)


def test_the_mase_scale_is_the_recent_naive_error_common_to_all_models():
    calm_after_storm = np.concatenate([np.cumsum(np.full(500, 10.0)), 5000.0 + np.cumsum(np.full(500, 1.0))])
    s = _series(calm_after_storm, target="close")
    cfg = CVConfig(horizon=1, scheme="expanding", folds=3, scale_window=100)
    res = run_cv(s, Forecaster(CATALOG["naive_last"], horizon=1, season=24, level=True), cfg)
    np.testing.assert_allclose(res.scale, 1.0)  # the last 100 bars moved 1 a bar, not 10
    assert res.metrics()["mase"] == pytest.approx(1.0)


def test_a_failing_model_is_reported_failed_without_scores(monkeypatch):
    def broken(a, p):  # noqa: ANN001, ANN202
        raise RuntimeError("solver diverged")

    monkeypatch.setitem(CATALOG, "theta", replace(CATALOG["theta"], build=broken))
    s = _real("realized_vol", 300)
    fcs = [Forecaster(CATALOG[n], horizon=2, season=s.season, level=False) for n in ("naive_last", "theta")]
    out = run_cv_many(s, fcs, CVConfig(horizon=2, scheme="expanding", folds=3))
    assert out["naive_last"].ok
    assert not out["theta"].ok and "solver diverged" in out["theta"].error
    assert out["theta"].metrics()["mase"] is None


def test_models_not_started_before_the_deadline_are_skipped_not_failed():
    s = _real("realized_vol", 300)
    fcs = [Forecaster(CATALOG[n], horizon=2, season=s.season, level=False) for n in ("naive_last", "theta")]
    out = run_cv_many(s, fcs, CVConfig(horizon=2, scheme="expanding", folds=3), deadline=0.0)
    assert all(r.skipped and not r.ok for r in out.values())
