"""Scheduled forecast jobs and the ``flowdesk forecast`` command."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import time
from pathlib import Path

import duckdb
import pytest

from conftest import real_file
from flowdesk.forecasting.cli import add_cli
from flowdesk.forecasting.jobs import ForecastJobs, JobSpec
from flowdesk.storage.schema import MIGRATIONS
from test_forecast_tools import candles_from_csv


@pytest.fixture
def store() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for m in MIGRATIONS:
        con.execute(m.sql)
    candles_from_csv(con, 2500)
    return con


def test_jobs_retrain_then_forecast_with_the_champion_and_save_its_artifact(store, tmp_path):
    jobs = ForecastJobs(store, [JobSpec("BTCUSDT", "realized_vol", "5m", 3, "realtime"),
                                JobSpec("NOPEUSDT", "close", "5m", 3, "realtime")], artifacts_dir=tmp_path)
    retrained = jobs.retrain_once()
    assert retrained[0].ok and retrained[0].detail["champion"]
    assert not retrained[1].ok and "NOPEUSDT" in retrained[1].error  # reported, the other job carried on
    done = jobs.forecast_once()[0]
    assert done.ok and done.detail["model"] == retrained[0].detail["champion"]
    path, sha = store.execute("SELECT artifact_path, artifact_sha256 FROM forecast_models "
                              "WHERE role = 'champion' AND symbol = 'BTCUSDT'").fetchone()
    assert Path(path).is_file() and hashlib.sha256(Path(path).read_bytes()).hexdigest() == sha
    assert store.execute("SELECT count(*) FROM forecasts").fetchone()[0] == 3


def test_drift_checks_are_recorded(store):
    jobs = ForecastJobs(store, [JobSpec("BTCUSDT", "log_return", "1m", 1, "realtime")])
    out = jobs.drift_once()[0]
    assert out.ok and {f["detector"] for f in out.detail["findings"]} == {"ks", "psi", "page_hinkley", "adwin"}
    assert store.execute("SELECT count(*) FROM forecast_drift").fetchone()[0] == 4


def test_run_loop_forecasts_on_schedule_and_stops(store):
    jobs = ForecastJobs(store, [JobSpec("BTCUSDT", "log_return", "5m", 2, "realtime")], every_s=0.2,
                        drift_every_s=3600)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(jobs.run(stop))
        for _ in range(100):
            await asyncio.sleep(0.1)
            if store.execute("SELECT count(DISTINCT forecast_id) FROM forecasts").fetchone()[0] >= 2:
                break
        stop.set()
        await asyncio.wait_for(task, timeout=10)

    asyncio.run(scenario())
    assert store.execute("SELECT count(DISTINCT forecast_id) FROM forecasts").fetchone()[0] >= 2


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    parser = argparse.ArgumentParser()
    add_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["forecast", *argv, "--json"])
    args.handler(args)
    return json.loads(capsys.readouterr().out)


def test_cli_models_cv_and_run_on_a_csv(capsys):
    csv = str(real_file("series/coinbase_btcusd_1h.csv"))
    models = _cli(["models"], capsys)["models"]
    assert any(m["name"] == "nbeats" and not m["available"] for m in models)
    cv = _cli(["cv", "--csv", csv, "--target", "realized_vol", "--models", "theta", "--folds", "4",
               "--horizon", "2", "--lookback", "300"], capsys)
    assert {r["model"] for r in cv["rows"]} == {"naive_last", "theta"} and cv["cv"]["folds"] == 4
    run = _cli(["run", "--csv", csv, "--target", "close", "--model", "naive_drift", "--horizon", "3",
                "--lookback", "300"], capsys)
    assert run["model"]["name"] == "naive_drift" and len(run["points"]) == 3


def test_cli_records_into_a_store_file(tmp_path, capsys):
    csv = str(real_file("series/coinbase_btcusd_1h.csv"))
    db = str(tmp_path / "flowdesk.duckdb")
    out = _cli(["cv", "--csv", csv, "--db", db, "--record", "--target", "log_return", "--models", "naive_mean",
                "--folds", "10", "--horizon", "1", "--lookback", "300"], capsys)
    assert out["champion"] in {"naive_last", "naive_mean"}
    con = duckdb.connect(db, read_only=True)
    assert con.execute("SELECT count(*) FROM forecast_scores WHERE symbol = 'BTCUSD'").fetchone()[0] >= 2
    con.close()


def test_cli_errors_exit_with_status_one(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["forecast", "run", "--csv", str(tmp_path / "missing.csv")])
    with pytest.raises(SystemExit) as exc:
        args.handler(args)
    assert exc.value.code == 1 and "does not exist" in capsys.readouterr().err


def test_stopping_interrupts_a_long_pass(store):
    jobs = ForecastJobs(store, [JobSpec("BTCUSDT", "realized_vol", "1m", 12, "accurate")], every_s=300)

    async def scenario() -> float:
        stop = asyncio.Event()
        task = asyncio.create_task(jobs.run(stop))
        await asyncio.sleep(1.0)  # inside the first pass: scoring every model takes far longer
        stop.set()
        started = time.monotonic()
        await asyncio.wait_for(task, timeout=30)
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 10
    assert store.execute("SELECT count(*) FROM forecasts").fetchone()[0] == 0


def test_serve_hook_uses_the_served_store_and_can_be_turned_off(store):
    from flowdesk.forecasting.jobs import service
    from flowdesk.settings import load_settings
    from flowdesk.tools.context import ToolContext, set_context

    env = {"FLOWDESK_SYMBOLS": "BTCUSDT"}
    assert service(load_settings(env={**env, "FLOWDESK_FORECAST_JOBS": "off"})) is None
    settings = load_settings(env={**env, "FLOWDESK_FORECAST_BAR": "5m"})
    set_context(ToolContext(settings, store))
    try:
        run = service(settings)
        jobs = run.__self__
        assert [(j.symbol, j.target, j.bar) for j in jobs.jobs] == [("BTCUSDT", "realized_vol", "5m"),
                                                                    ("BTCUSDT", "log_return", "5m")]
        assert jobs.connection is store and jobs.every_s == 300
    finally:
        set_context(None)


def test_forecasting_settings_from_yaml_and_env_fail_naming_the_key(tmp_path):
    from flowdesk.settings import SettingsError, load_settings

    cfg = tmp_path / "flowdesk.yaml"
    cfg.write_text("forecasting:\n  every_s: 60\n  bar: 15m\n  horizon: 4\n  targets: [rv, volume]\n")
    f = load_settings(cfg, env={}).forecasting
    assert (f.jobs, f.every_s, f.drift_every_s, f.bar, f.horizon, f.targets) == (
        True, 60.0, 3600.0, "15m", 4, ("realized_vol", "volume"))  # aliases become canonical names
    assert load_settings(cfg, env={"FLOWDESK_FORECAST_HORIZON": "24"}).forecasting.horizon == 24  # env wins
    bad = {
        "FLOWDESK_FORECAST_BAR": ("7m", "forecasting.bar"),
        "FLOWDESK_FORECAST_EVERY_S": ("soon", "forecasting.every_s"),
        "FLOWDESK_FORECAST_JOBS": ("maybe", "forecasting.jobs"),
        "FLOWDESK_FORECAST_TARGETS": ("close,price2", "forecasting.targets"),
        "FLOWDESK_FORECAST_HORIZON": ("0", "forecasting.horizon"),
    }
    for var, (value, key) in bad.items():
        with pytest.raises(SettingsError, match=key.replace(".", r"\.")):
            load_settings(env={var: value})
    cfg.write_text("forecasting:\n  every: 60\n")
    with pytest.raises(SettingsError, match="forecasting.every.*unknown key"):
        load_settings(cfg, env={})
