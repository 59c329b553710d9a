"""The forecasting tools over a store holding real 1-minute BTC-PERP bars as BTCUSDT candles."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from conftest import real_file
from flowdesk.forecasting import service
from flowdesk.forecasting.registry import Registry
from flowdesk.forecasting.series import store_series
from flowdesk.forecasting.validation import CVConfig
from flowdesk.settings import Settings
from flowdesk.storage.schema import MIGRATIONS
from flowdesk.tools.context import ToolContext, set_context
from flowdesk.tools.registry import REGISTRY, ToolError, call_tool, load_tools

TOOLS = ("forecast", "list_models", "cross_validate", "tune_model", "detect_drift", "backtest_forecast",
         "get_model_performance", "get_latest_forecast")


def candles_from_csv(con: duckdb.DuckDBPyConnection, minutes: int) -> None:
    """The last ``minutes`` real FTX bars, inserted through Arrow/pandas as closed 1m candles."""
    raw = pd.read_csv(real_file("series/ftx_btc-perp_1m_2022-01.csv"), parse_dates=["timestamp"]).tail(minutes)
    ts = raw["timestamp"].astype("datetime64[us]")
    df = pd.DataFrame({
        "exchange": "binance", "market": "usdm", "symbol": "BTCUSDT", "interval": "1m", "open_ts": ts,
        "close_ts": ts + pd.Timedelta(seconds=59), "open": raw["open"], "high": raw["high"], "low": raw["low"],
        "close": raw["close"], "volume": raw["volume"] / raw["close"], "quote_volume": raw["volume"],
        "trade_count": 1, "taker_buy_volume": 0.0, "closed": True, "ts": ts + pd.Timedelta(minutes=1),
        "recv_ts": ts + pd.Timedelta(minutes=1)})
    con.register("_candles", df)
    con.execute("INSERT INTO candles BY NAME SELECT * FROM _candles")
    con.unregister("_candles")


@pytest.fixture(scope="module")
def store() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for m in MIGRATIONS:
        con.execute(m.sql)
    candles_from_csv(con, 4000)
    set_context(ToolContext(Settings(), con))
    yield con
    set_context(None)


def test_every_forecasting_tool_is_registered_with_a_description():
    load_tools()
    for name in TOOLS:
        assert REGISTRY[name].domain == "forecasting" and "Returns" in REGISTRY[name].description


def test_list_models_says_what_runs_and_why_not(store):
    out = call_tool("list_models")
    assert "lightgbm" in out["available"] and "naive_last" in out["available"]
    assert set(out["unavailable"]) >= {"auto_arima", "prophet"}
    assert all(reason for reason in out["unavailable"].values())


def test_forecast_from_stored_candles_carries_intervals_and_provenance(store):
    out = call_tool("forecast", {"symbol": "btcusdt", "target": "realized_vol", "bar": "5m", "horizon": 6,
                                 "priority": "realtime"})
    assert out["model"]["name"] == "naive_last" and out["router"]["scores_from"] == "fallback"
    pts = out["points"]
    assert [p["step"] for p in pts] == list(range(1, 7))
    assert all(p["lower"] <= p["median"] <= p["upper"] and p["lower"] >= 0 for p in pts)
    assert pts[0]["ts"] == "2022-02-01T05:30:00Z"  # the bar after the last complete one
    assert out["interval"]["coverage_nominal"] == 0.8 and out["interval"]["coverage_measured"] is not None
    assert len(out["interval"]["aci_miscoverage"]) == 6 and "adaptive conformal" in out["interval"]["method"]
    src = out["source"]
    assert src["exchanges"] == ["binance_usdm"] and src["symbol"] == "BTCUSDT" and src["as_of"] == pts[0]["ts"]
    assert src["built_from"] == "candles" and src["data_age_s"] > 0


def test_forecast_of_an_asked_model_and_errors(store):
    out = call_tool("forecast", {"symbol": "BTCUSDT", "target": "close", "bar": "15m", "horizon": 4,
                                 "model": "theta"})
    assert out["model"]["name"] == "theta" and out["cv"]["mase"] is not None
    with pytest.raises(ToolError, match="no closed 1m candles or trades stored for DOGEUSDT"):
        call_tool("forecast", {"symbol": "DOGEUSDT"})
    with pytest.raises(ToolError, match="unknown model"):
        call_tool("forecast", {"symbol": "BTCUSDT", "model": "gpt"})
    with pytest.raises(ToolError, match="deep"):
        call_tool("forecast", {"symbol": "BTCUSDT", "model": "nbeats", "bar": "5m"})


def test_cross_validate_compares_models_with_naive(store):
    out = call_tool("cross_validate", {"symbol": "BTCUSDT", "target": "realized_vol", "bar": "5m", "horizon": 3,
                                       "models": ["theta", "naive_mean"], "folds": 12})
    rows = {r["model"]: r for r in out["rows"]}
    assert {"naive_last", "theta", "naive_mean", "ensemble_mean"} <= set(rows)
    assert rows["naive_last"]["rel_mae"] == pytest.approx(1.0)
    assert all(r["status"] == "ok" for r in rows.values())
    assert out["cv"]["folds"] == 12 and set(out["lead_mase"]["theta"]) == {"1", "3"}
    with_volume = call_tool("forecast", {"symbol": "BTCUSDT", "target": "realized_vol", "bar": "5m", "horizon": 3,
                                         "model": "linear_regression", "covariates": ["volume"]})
    assert with_volume["model"]["params"]["strategy"] == "direct" and len(with_volume["points"]) == 3


def test_tune_drift_and_backtest_tools(store):
    tuned = call_tool("tune_model", {"symbol": "BTCUSDT", "model": "theta", "bar": "5m", "horizon": 3,
                                     "budget_s": 15, "max_trials": 4, "folds": 4})
    assert tuned["trials"] == 4 and tuned["best_value"] is not None
    drift = call_tool("detect_drift", {"symbol": "BTCUSDT", "bar": "5m", "reference_bars": 300,
                                       "recent_bars": 100})
    assert {f["detector"] for f in drift["findings"]} == {"ks", "psi", "page_hinkley", "adwin"}
    assert drift["errors_from"].startswith("walk-forward") and isinstance(drift["retrain_recommended"], bool)
    bt = call_tool("backtest_forecast", {"symbol": "BTCUSDT", "model": "naive_mean", "bar": "5m",
                                         "n_bars": 200, "lookback_bars": 700})
    assert bt["bars"] == 200 and bt["grade"] in {"A", "B", "C", "D", "F", "n/a"}
    assert 0 <= bt["max_drawdown"] < 1 and bt["buy_and_hold"]["sharpe"] is not None


def test_performance_and_latest_forecast_read_the_registry(store):
    with pytest.raises(ToolError, match="no scores recorded"):
        call_tool("get_model_performance", {"symbol": "BTCUSDT"})
    cur = store.cursor()
    reg = Registry(cur)
    series = store_series(cur, "BTCUSDT", "log_return", "5m", lookback_bars=500)
    service.record(reg, service.evaluate(series, ["naive_mean"], CVConfig(horizon=2, scheme="expanding",
                                                                          folds=10)))
    perf = call_tool("get_model_performance", {"symbol": "BTCUSDT", "horizon": 2})
    assert perf["champions"] and {r["model"] for r in perf["rows"]} >= {"naive_last", "naive_mean"}
    out = service.forecast(series, 2, registry=reg)
    reg.save_forecast(series.key, 2, out["model"]["name"], out["model"]["version"], series.as_of, out["points"], 0.8)
    latest = call_tool("get_latest_forecast", {"symbol": "BTCUSDT", "target": "log_return"})
    assert latest["model"]["name"] == out["model"]["name"] and len(latest["points"]) == 2
    assert latest["source"]["as_of"] == "2022-02-01T05:30:00Z"
