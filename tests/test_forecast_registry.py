"""The model registry in DuckDB (migration 3) and tuning with Optuna."""

from __future__ import annotations

from dataclasses import replace

import duckdb
import numpy as np
import pandas as pd
import pytest

from conftest import real_file
from flowdesk.forecasting import service
from flowdesk.forecasting.catalog import CATALOG
from flowdesk.forecasting.errors import ForecastError
from flowdesk.forecasting.registry import Registry
from flowdesk.forecasting.series import SeriesKey, csv_series
from flowdesk.forecasting.tuning import tune
from flowdesk.forecasting.validation import CVConfig
from flowdesk.storage.schema import MIGRATIONS

KEY = SeriesKey("coinbase", "csv", "BTCUSD", "realized_vol", "1h")
RUN = {"scheme": "expanding", "folds": 10, "purge": 0, "embargo": 0}


def _registry() -> Registry:
    con = duckdb.connect()
    for m in MIGRATIONS:
        con.execute(m.sql)
    return Registry(con)


def _ok(mase: float) -> dict:
    return {"status": "ok", "mase": mase, "mae": mase, "fit_s": 0.1, "predict_s": 0.01, "n": 10}


def test_migration_3_is_the_forecasting_registry():
    m = MIGRATIONS[2]
    assert (m.version, m.name) == (3, "forecasting registry")
    con = duckdb.connect()
    for mig in MIGRATIONS[:2]:
        con.execute(mig.sql)
    with pytest.raises(ForecastError, match="migration 3"):
        Registry(con)


def test_versions_follow_parameters():
    reg = _registry()
    v1 = reg.register(KEY, 12, "theta", "theta", {"theta": 2.0})
    assert reg.register(KEY, 12, "theta", "theta", {"theta": 2.0}) == v1 == 1
    assert reg.register(KEY, 12, "theta", "theta", {"theta": 1.5}) == 2
    assert reg.params_of(KEY, 12, "theta", 2) == {"theta": 1.5}
    roles = dict(reg.con.execute("SELECT version, role FROM forecast_models").fetchall())
    assert roles == {1: "retired", 2: "challenger"}


def test_a_challenger_must_beat_the_champion_strictly():
    reg = _registry()
    for name, mase in (("naive_last", 1.0), ("theta", 0.8)):
        reg.record_score(KEY, 12, name, reg.register(KEY, 12, name, "x", {}), RUN, _ok(mase))
    assert reg.update_roles(KEY, 12)["model"] == "theta"
    reg.record_score(KEY, 12, "lightgbm", reg.register(KEY, 12, "lightgbm", "regression", {}), RUN, _ok(0.8))
    assert reg.update_roles(KEY, 12)["model"] == "theta"  # a tie keeps the champion
    reg.record_score(KEY, 12, "lightgbm", 1, RUN, _ok(0.7))
    assert reg.update_roles(KEY, 12)["model"] == "lightgbm"
    assert reg.champion(KEY, 12)["model"] == "lightgbm"
    reg.record_score(KEY, 12, "arima", reg.register(KEY, 12, "arima", "arima", {}), RUN,
                     {"status": "failed", "error": "LinAlgError"})
    rows = reg.performance("BTCUSD", None, None, 12, 10)
    assert rows[-1]["model"] == "arima" and rows[-1]["status"] == "failed" and rows[-1]["mase"] is None


def test_forecasts_are_stored_and_resolved_against_realized_bars():
    reg = _registry()
    ts = pd.date_range("2024-01-01 10:00", periods=3, freq="1h")
    points = pd.DataFrame({"step": [1, 2, 3], "ts": ts, "value": [1.0, 2.0, 3.0], "median": 1.0,
                           "lower": 0.0, "upper": 4.0})
    fid = reg.save_forecast(KEY, 3, "theta", 1, ts[0].to_pydatetime(), points, 0.8)
    rows = reg.latest_forecast("BTCUSD")
    assert [r["step"] for r in rows] == [1, 2, 3] and rows[0]["forecast_id"] == fid
    actual = pd.Series([1.5, 9.0], index=[ts[0], ts[1]])
    errors = reg.resolved_errors(KEY, actual)
    assert list(errors) == [0.5]  # only step-1 forecasts count


def test_an_evaluation_is_recorded_and_the_router_reads_it_back():
    reg = _registry()
    s = csv_series(real_file("series/coinbase_btcusd_1h.csv"), "realized_vol", lookback_bars=400)
    ev = service.evaluate(s, ["naive_mean", "theta"], CVConfig(horizon=3, scheme="expanding", folds=10))
    champion = service.record(reg, ev)
    best = min((r for r in ev.table() if r["status"] == "ok"), key=lambda r: r["mase"])
    assert champion["model"] == best["model"]
    out = service.forecast(s, 3, priority="fast", registry=reg)
    assert out["model"]["name"] == best["model"] and out["router"]["scores_from"] == "registry"
    tuned = {"theta": 1.0, "seasonal": False}
    service.record(reg, service.evaluate(s, ["theta"], CVConfig(horizon=3, scheme="expanding", folds=10),
                                         params={"theta": tuned}, ensembles=False))
    named = service.forecast(s, 3, model="theta", registry=reg)
    best_theta = min((r for r in reg.latest_scores(KEY, 3) if r["model"] == "theta"), key=lambda r: r["mase"])
    assert named["model"]["version"] == best_theta["version"] and named["model"]["params"] == best_theta["params"]


def test_tuning_reports_trial_states_and_starts_from_the_defaults():
    s = csv_series(real_file("series/coinbase_btcusd_1h.csv"), "realized_vol", lookback_bars=400)
    out = tune(s, "theta", CVConfig(horizon=3, scheme="expanding", folds=5), budget_s=20, max_trials=6)
    assert out["trials"] == out["complete"] + out["pruned"] + out["failed"] == 6
    assert out["trial_rows"][0]["params"] == {"theta": 2.0, "seasonal": False}
    assert out["default_value"] == out["trial_rows"][0]["value"]
    assert out["best_value"] <= out["default_value"] and out["status"] == "ok"


def test_tuning_with_every_trial_failing_has_no_best(monkeypatch):
    def broken(a, p):  # noqa: ANN001, ANN202
        raise np.linalg.LinAlgError("singular matrix")

    monkeypatch.setitem(CATALOG, "theta", replace(CATALOG["theta"], build=broken))
    s = csv_series(real_file("series/coinbase_btcusd_1h.csv"), "realized_vol", lookback_bars=300)
    out = tune(s, "theta", CVConfig(horizon=3, scheme="expanding", folds=4), budget_s=10, max_trials=3)
    assert out["failed"] == 3 and out["complete"] == 0
    assert out["best_value"] is None and out["best_params"] is None and out["status"].startswith("failed")
    assert "singular matrix" in out["trial_rows"][0]["error"]


def test_models_needing_more_history_than_the_folds_have_are_reported_not_fatal():
    s = csv_series(real_file("series/coinbase_btcusd_1h.csv"), "realized_vol", lookback_bars=200)
    ev = service.evaluate(s, ["har", "theta"], CVConfig(horizon=3, scheme="expanding", folds=5))
    rows = {r["model"]: r for r in ev.table()}
    assert rows["theta"]["status"] == "ok"
    assert rows["har"]["status"] == "failed" and "training bars" in rows["har"]["error"]
