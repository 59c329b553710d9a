"""Intraday (diurnal) seasonality: the profile, its use by the engine, and no look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flowdesk.forecasting.engine import Forecaster
from flowdesk.forecasting.seasonal import DiurnalProfile, bar_minutes_of, diurnal_keys, is_intraday
from flowdesk.forecasting.series import TargetSeries
from flowdesk.forecasting.validation import CVConfig, run_cv

HOURLY = 0.6 * np.sin(2 * np.pi * np.arange(24) / 24) + 0.3 * np.cos(4 * np.pi * np.arange(24) / 24)


def _series(values: np.ndarray, bar: str = "1h", start: str = "2024-01-01") -> TargetSeries:
    freq = {"1h": "1h", "1m": "1min", "1d": "24h"}[bar]  # darts cannot divide by a Day offset
    index = pd.date_range(start, periods=len(values), freq=freq)
    return TargetSeries("x", "spot", "TEST", bar, "realized_vol", index, np.asarray(values, float), "test")


def _diurnal_vol(n: int, rng: np.random.Generator, amplitude: float = 1.0, phi: float = 0.9,
                 noise: float = 0.25) -> np.ndarray:
    """Hourly volatility: a time-of-day pattern times a persistent log-normal shock."""
    hours = np.arange(n) % 24
    x = np.zeros(n)
    eps = rng.normal(0, noise, n)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + eps[t]
    return 0.01 * np.exp(amplitude * HOURLY[hours] + x)


def test_profile_recovers_a_known_hourly_pattern():
    rng = np.random.default_rng(1)
    index = pd.date_range("2024-01-01", periods=24 * 120, freq="1h")
    z = 2.0 + HOURLY[index.hour] + rng.normal(0, 0.5, len(index))
    prof = DiurnalProfile.fit(index, z, 60)
    est = prof(pd.date_range("2024-06-01", periods=24, freq="1h"))
    assert np.max(np.abs(est - (HOURLY - HOURLY.mean()))) < 0.12
    assert np.corrcoef(est, HOURLY)[0, 1] > 0.98
    assert abs(est.mean()) < 1e-9  # centred: the level stays with the model


def test_profile_recovers_hour_and_minute_of_hour_effects_on_minute_bars():
    rng = np.random.default_rng(2)
    index = pd.date_range("2024-01-01", periods=1440 * 7, freq="1min")
    minute_effect = np.where(np.arange(60) % 15 == 1, 0.5, 0.0)
    minute_effect -= minute_effect.mean()
    z = HOURLY[index.hour] + minute_effect[index.minute] + rng.normal(0, 0.4, len(index))
    prof = DiurnalProfile.fit(index, z, 1)
    hour_est, minute_est = prof.effects
    assert np.corrcoef(hour_est, HOURLY)[0, 1] > 0.99
    assert np.corrcoef(minute_est, minute_effect)[0, 1] > 0.95
    assert np.max(np.abs(minute_est - minute_effect)) < 0.15
    # evaluated at a timestamp, the two effects add up
    ts = pd.DatetimeIndex(["2024-02-01 14:16"])
    assert prof(ts)[0] == pytest.approx(hour_est[14] + minute_est[16])


def test_a_pattern_that_is_not_there_is_shrunk_to_almost_nothing():
    rng = np.random.default_rng(3)
    index = pd.date_range("2024-01-01", periods=24 * 30, freq="1h")
    z = rng.normal(0, 1.0, len(index))
    raw = pd.Series(z).groupby(index.hour).mean().to_numpy()
    prof = DiurnalProfile.fit(index, z, 60)
    assert np.ptp(raw) > 0.5  # the raw hourly means of 30 days of noise do differ ...
    assert prof.amplitude < 0.25 * np.ptp(raw)  # ... the shrunk profile hardly


def test_bucket_keys_follow_the_bar_size():
    idx = pd.date_range("2024-01-01", periods=12, freq="2h")
    (key, n), = diurnal_keys(idx, 120)
    assert n == 12 and list(key) == list(range(12))
    idx = pd.date_range("2024-01-01 13:00", periods=4, freq="15min")
    (hours, nh), (quarters, nq) = diurnal_keys(idx, 15)
    assert (nh, nq) == (24, 4) and list(hours) == [13] * 4 and list(quarters) == [0, 1, 2, 3]
    assert bar_minutes_of(idx) == 15 and is_intraday(15) and is_intraday(60)
    assert not is_intraday(1440) and not is_intraday(None) and not is_intraday(7)


def test_engine_deseasonalizes_skewed_intraday_targets_but_not_baselines_or_daily_bars():
    rng = np.random.default_rng(4)
    s = _series(_diurnal_vol(24 * 60, rng))
    har = Forecaster.for_series("har", s, 6).fit(s)
    assert har.profile is not None and har.profile.amplitude > 0.4  # log1p compresses the 1.6 of log
    assert har.transform["diurnal_profile"] is har.profile and har.transform["log1p_median"] > 0  # saved with artifacts
    assert Forecaster.for_series("har", s, 6, diurnal=False).fit(s).profile is None
    naive = Forecaster.for_series("naive_last", s, 6).fit(s)
    assert naive.profile is None and naive.predict(3)[0] == pytest.approx(s.values[-1])
    daily = _series(_diurnal_vol(400, rng), bar="1d")
    assert Forecaster.for_series("linear_regression", daily, 3).fit(daily).profile is None
    close = TargetSeries("x", "spot", "TEST", "1h", "close", s.index, 100 + np.cumsum(rng.normal(0, 1, len(s))), "t")
    assert Forecaster.for_series("linear_regression", close, 3).fit(close).profile is None


def test_the_profile_is_put_back_at_the_forecast_timestamps():
    rng = np.random.default_rng(5)
    s = _series(_diurnal_vol(24 * 60, rng, noise=0.05))
    fc = Forecaster.for_series("har", s, 24).fit(s)
    path = fc.predict(24)
    nxt = pd.date_range(s.index[-1] + pd.Timedelta(hours=1), periods=24, freq="1h")
    # the forecast rises and falls with the hour of day of the bars it is for
    assert np.corrcoef(np.log(path), HOURLY[nxt.hour])[0, 1] > 0.9
    # a global model given newer bars without a refit forecasts from their end
    longer = _series(_diurnal_vol(24 * 60 + 5, np.random.default_rng(5), noise=0.05))
    later = fc.predict(24, longer)
    nxt5 = pd.date_range(longer.index[-1] + pd.Timedelta(hours=1), periods=24, freq="1h")
    assert np.corrcoef(np.log(later), HOURLY[nxt5.hour])[0, 1] > 0.9


@pytest.mark.parametrize("model", ["har", "linear_regression", "exp_smoothing"])
def test_changing_bars_after_the_cutoff_leaves_the_profile_and_forecast_unchanged(model):
    rng = np.random.default_rng(6)
    s = _series(_diurnal_vol(24 * 45, rng))
    cfg = CVConfig(horizon=6, scheme="expanding", folds=4, refit_every=2)
    fc = Forecaster.for_series(model, s, 6)
    base = run_cv(s, fc, cfg)
    assert base.ok
    fold = base.folds[1]
    changed = s.values.copy()
    # after the cutoff: a different level and the opposite time-of-day pattern
    changed[fold.train_end:] = 0.05 * np.exp(-2 * HOURLY[s.index[fold.train_end:].hour])
    other = run_cv(_series(changed), Forecaster.for_series(model, s, 6), cfg)
    np.testing.assert_allclose(other.forecasts[:2], base.forecasts[:2], rtol=1e-9)
    assert not np.allclose(other.forecasts[2:], base.forecasts[2:])
    # the profile fitted on the bars before the cutoff is the same either way
    a = Forecaster.for_series(model, s, 6).fit(s.window(0, fold.train_end)).profile
    b = Forecaster.for_series(model, s, 6).fit(_series(changed).window(0, fold.train_end)).profile
    np.testing.assert_array_equal(a.effects[0], b.effects[0])


def test_a_pure_diurnal_series_is_forecast_better_with_the_profile():
    rng = np.random.default_rng(7)
    s = _series(_diurnal_vol(24 * 200, rng))
    cfg = CVConfig(horizon=12, folds=30, step=7, refit_every=3)
    scores = {}
    for name in ("har", "linear_regression", "exp_smoothing"):
        for diurnal in (False, True):
            fc = Forecaster.for_series(name, s, 12)
            fc.diurnal = diurnal
            res = run_cv(s, fc, cfg)
            assert res.ok, res.error
            scores[name, diurnal] = res.metrics(upto=12)["mase"]
    for name in ("har", "linear_regression", "exp_smoothing"):
        # linear regression on 48 lags already sees the bar one day back, so gains less
        assert scores[name, True] < (0.95 if name == "linear_regression" else 0.9) * scores[name, False], scores
