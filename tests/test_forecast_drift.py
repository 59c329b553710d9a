"""Drift detectors: KS, PSI, Page-Hinkley and ADWIN with the paper's bound."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import real_file
from flowdesk.forecasting.drift import (
    Adwin,
    adwin_changes,
    error_drift,
    input_drift,
    page_hinkley,
    ph_in_control_run_length,
    psi,
    summarize,
)
from flowdesk.forecasting.series import csv_series


def test_psi_is_zero_for_the_same_sample_and_large_for_a_shift():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal(2000)
    assert psi(ref, ref) == pytest.approx(0.0, abs=1e-12)
    assert psi(ref, rng.standard_normal(2000)) < 0.05
    assert psi(ref, rng.standard_normal(2000) + 1.0) > 0.25


def test_ks_and_psi_flag_a_shift_but_not_the_same_distribution():
    rng = np.random.default_rng(1)
    ref = rng.standard_normal(1000)
    same = input_drift(ref, rng.standard_normal(300))
    moved = input_drift(ref, rng.standard_normal(300) * 2.0 + 0.5)
    assert not any(f.drift for f in same)
    assert all(f.drift for f in moved)


def test_adwin_bound_is_the_variance_form_with_delta_over_n():
    det = Adwin(delta=0.01)
    n0, n1, var = np.array([40.0]), np.array([60.0]), 0.25
    m = 1 / (1 / 40 + 1 / 60)
    dd = math.log(2 / (0.01 / 100))
    expected = math.sqrt(2 / m * var * dd) + 2 / (3 * m) * dd
    assert det.eps_cut(n0, n1, var)[0] == pytest.approx(expected)


def test_adwin_rarely_cuts_a_stationary_stream_and_finds_a_mean_shift():
    false_alarms = sum(len(adwin_changes(np.random.default_rng(s).standard_normal(600))) for s in range(15))
    assert false_alarms <= 1
    rng = np.random.default_rng(99)
    stream = np.concatenate([rng.standard_normal(500), rng.standard_normal(300) + 1.0])
    cuts = adwin_changes(stream)
    assert cuts and 500 <= cuts[0] <= 650


def test_page_hinkley_defaults_have_a_long_in_control_run_and_detect_a_one_sigma_rise():
    assert ph_in_control_run_length(0.1, 25.0) > 5000
    rng = np.random.default_rng(5)
    alarms, _ = page_hinkley(rng.standard_normal(3000))
    assert alarms == []
    shifted = np.concatenate([rng.standard_normal(1000), rng.standard_normal(200) + 1.0])
    alarms, stat = page_hinkley(shifted)
    assert alarms and 1000 <= alarms[0] <= 1080 and stat.max() > 25


def test_error_drift_counts_only_alarms_after_the_reference():
    rng = np.random.default_rng(7)
    calm = error_drift(rng.standard_normal(600), 500)
    assert not any(f.drift for f in calm)
    worse = error_drift(np.concatenate([rng.standard_normal(500), rng.standard_normal(150) * 3.0]), 500)
    assert all(f.drift for f in worse)
    verdict = summarize(worse)
    assert verdict["drift"] and verdict["retrain_recommended"]


def test_real_hourly_returns_from_2017_and_2019_differ_in_distribution():
    s = csv_series(real_file("series/coinbase_btcusd_1h.csv"), "log_return")
    early, late = s.values[:2000], s.values[-2000:]
    findings = {f.detector: f for f in input_drift(early, late)}
    assert findings["ks"].drift  # 2017's returns are far more volatile than late 2019's
