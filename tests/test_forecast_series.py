"""Series for forecasting: bars built in DuckDB from candles, trades and CSV files."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from conftest import real_file
from flowdesk.forecasting.errors import ForecastError
from flowdesk.forecasting.series import (
    check_target,
    csv_series,
    load_csv_bars,
    load_store_bars,
    make_target,
    store_series,
)
from flowdesk.storage.schema import MIGRATIONS

T0 = pd.Timestamp("2024-03-01 00:00:00")


def _db() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for m in MIGRATIONS:
        con.execute(m.sql)
    return con


def _insert(con: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame) -> None:
    con.register("_rows", df)
    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _rows")
    con.unregister("_rows")


def _candles(closes: list[float], start: pd.Timestamp = T0, skip: tuple[int, ...] = ()) -> pd.DataFrame:
    ts = pd.Series([start + pd.Timedelta(minutes=i) for i in range(len(closes))]).astype("datetime64[us]")
    c = np.array(closes, dtype=float)
    df = pd.DataFrame({
        "exchange": "binance", "market": "usdm", "symbol": "BTCUSDT", "interval": "1m", "open_ts": ts,
        "close_ts": ts + pd.Timedelta(seconds=59), "open": c - 0.5, "high": c + 1.0, "low": c - 1.0,
        "close": c, "volume": 2.0, "quote_volume": 2.0 * c, "trade_count": 5, "taker_buy_volume": 1.0,
        "closed": True, "ts": ts + pd.Timedelta(minutes=1), "recv_ts": ts + pd.Timedelta(minutes=1),
    })
    return df.drop(index=list(skip)).reset_index(drop=True)


def test_candles_aggregate_to_bars_with_realized_vol_from_minute_returns():
    con = _db()
    closes = [100 + i + (i % 3) for i in range(12)]  # 12 one-minute bars from 00:00
    _insert(con, "candles", _candles(closes))
    bars = load_store_bars(con, "BTCUSDT", "5m")
    # 00:00-00:04 and 00:05-00:09 are complete; 00:10-00:11 is partial and dropped
    assert list(bars.frame.index) == [T0, T0 + pd.Timedelta(minutes=5)]
    second = bars.frame.iloc[1]
    assert second["open"] == closes[5] - 0.5 and second["close"] == closes[9]
    assert second["high"] == max(closes[5:10]) + 1.0 and second["low"] == min(closes[5:10]) - 1.0
    assert second["volume"] == 10.0
    r = np.diff(np.log(closes))[4:9]  # returns into minutes 5..9
    assert second["realized_vol"] == pytest.approx(np.sqrt(np.sum(r**2)))
    assert second["log_return"] == pytest.approx(np.log(closes[9] / closes[4]))
    assert bars.source == "candles" and bars.as_of == (T0 + pd.Timedelta(minutes=10)).to_pydatetime()


def test_gaps_are_filled_with_the_previous_close_and_counted():
    con = _db()
    _insert(con, "candles", _candles([100.0] * 5 + [101.0] * 5, skip=(6, 7)))
    bars = load_store_bars(con, "BTCUSDT", "5m")
    assert int(bars.frame["n_filled"].sum()) == 2
    assert bars.frame["volume"].iloc[1] == 6.0  # three minutes of 2.0
    assert any("filled" in n for n in bars.notes)


def test_a_re_sent_candle_uses_the_newest_version():
    con = _db()
    first = _candles([100.0] * 5)
    newer = first.iloc[[2]].assign(close=150.0, high=151.0, recv_ts=first["recv_ts"].iloc[2] + pd.Timedelta(seconds=5))
    _insert(con, "candles", pd.concat([first, newer], ignore_index=True))
    bars = load_store_bars(con, "BTCUSDT", "5m")
    assert bars.frame["high"].iloc[0] == 151.0


def test_trades_make_bars_and_leave_out_the_forming_minute():
    con = _db()
    n = 11 * 60  # one trade a second for 11 minutes
    ts = pd.Series([T0 + pd.Timedelta(seconds=i) for i in range(n)]).astype("datetime64[us]")
    price = 100.0 + np.arange(n) / 60.0
    _insert(con, "trades", pd.DataFrame({
        "exchange": "binance", "market": "usdm", "symbol": "ETHUSDT", "trade_id": np.arange(n),
        "price": price, "qty": 1.0, "side": "buy", "ts": ts, "recv_ts": ts, "first_id": np.arange(n),
        "last_id": np.arange(n), "source": "ws"}))
    bars = load_store_bars(con, "ETHUSDT", "5m")
    assert bars.source == "trades"
    assert list(bars.frame.index) == [T0, T0 + pd.Timedelta(minutes=5)]  # minute 10 is still forming
    assert bars.frame["volume"].iloc[0] == 300.0
    assert bars.frame["close"].iloc[1] == price[10 * 60 - 1]


def test_funding_is_attached_per_bar_and_carried_forward():
    con = _db()
    _insert(con, "candles", _candles([100.0 + i for i in range(20)]))
    ts = pd.Series([T0 - pd.Timedelta(hours=1), T0 + pd.Timedelta(minutes=12)]).astype("datetime64[us]")
    _insert(con, "mark_funding", pd.DataFrame({
        "exchange": "binance", "market": "usdm", "symbol": "BTCUSDT", "mark_price": 100.0,
        "index_price": 100.0, "funding_rate": [0.0001, 0.0003], "next_funding_ts": ts, "ts": ts, "recv_ts": ts}))
    series = store_series(con, "BTCUSDT", "funding", "5m", lookback_bars=10)
    assert list(series.values) == [0.0001, 0.0001, 0.0003, 0.0003]
    with pytest.raises(ForecastError, match="open_interest"):
        store_series(con, "BTCUSDT", "open_interest", "5m")


def test_missing_symbol_and_bad_arguments_are_errors():
    con = _db()
    with pytest.raises(ForecastError, match="no closed 1m candles or trades stored for XRPUSDT"):
        load_store_bars(con, "XRPUSDT", "1h")
    with pytest.raises(ForecastError, match="unknown target"):
        check_target("sentiment")
    assert check_target("returns") == "log_return" and check_target("rv") == "realized_vol"


def test_coinbase_hourly_csv_is_read_oldest_first():
    bars = load_csv_bars(real_file("series/coinbase_btcusd_1h.csv"))
    frame = bars.frame
    assert (bars.exchange, bars.symbol, bars.bar) == ("coinbase", "BTCUSD", "1h")
    assert len(frame) == 20111 and frame.index.is_monotonic_increasing
    assert frame.index[0] == pd.Timestamp("2017-07-01 11:00") and frame.index[-1] == pd.Timestamp("2019-10-17 09:00")
    # 12-PM / 12-AM rows parse to noon and midnight
    assert frame.loc[pd.Timestamp("2017-07-01 12:00"), "close"] == 2488.43
    # one base bar per bar: the Parkinson range estimator
    row = frame.iloc[100]
    assert row["realized_vol"] == pytest.approx(abs(np.log(row["high"] / row["low"])) / np.sqrt(4 * np.log(2)))


def test_ftx_minutes_aggregate_like_an_independent_resample():
    path = real_file("series/ftx_btc-perp_1m_2022-01.csv")
    bars = load_csv_bars(path, "1h")
    raw = pd.read_csv(path, parse_dates=["timestamp"]).set_index("timestamp")
    hourly = raw.resample("1h").agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    counts = raw["close"].resample("1h").count()
    hourly = hourly[counts == 60]  # complete hours only
    assert len(bars.frame) == len(hourly) == 749
    for col in ("open", "high", "low", "close", "volume"):
        np.testing.assert_allclose(bars.frame[col].to_numpy(), hourly[col].to_numpy())
    r = np.log(raw["close"]).diff()
    rv = np.sqrt((r**2).resample("1h").sum())
    np.testing.assert_allclose(bars.frame["realized_vol"].to_numpy(), rv.reindex(bars.frame.index).to_numpy())


def test_csv_series_targets_and_lookback():
    path = real_file("series/ftx_btc-perp_1m_2022-01.csv")
    s = csv_series(path, "log_return", "5m", covariates=("volume",), lookback_bars=500)
    assert len(s) == 500 and s.season == 288 and s.info.level is False
    assert set(s.covariates) == {"volume"} and len(s.covariates["volume"]) == 500
    assert np.isfinite(s.values).all() and s.index.freqstr == "5min"
    bars = load_csv_bars(path, "1h")
    with pytest.raises(ForecastError, match="funding"):
        make_target(bars, "funding")
    with pytest.raises(ForecastError, match="not a multiple"):
        load_csv_bars(real_file("series/coinbase_btcusd_1h.csv"), "30m")
