"""History, export, statistics, regime, anomaly and change-point tools: on the collected real
capture (checked against sums over the raw frames) and on constructed series."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from flowdesk.analytics import anomalies as an
from flowdesk.analytics import regimes as rg
from flowdesk.settings import load_settings
from flowdesk.tools.registry import ToolError, call_tool
from test_features_support import captured_db, use_db
from test_orderflow_support import add_trades, capture_trades, insert, new_store

pytestmark = pytest.mark.e2e


@pytest.fixture
def real(btc_capture: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> dict[str, Any]:
    info = captured_db(btc_capture, tmp_path_factory.getbasetemp())
    settings = load_settings(env={"FLOWDESK_DATA_DIR": str(tmp_path), "FLOWDESK_FEATURES_EXPORT_DIR": str(tmp_path / "out")})
    use_db(info["db"], settings)
    return {**info, "out": tmp_path / "out"}


def test_query_history_selects_checked_columns(real: dict[str, Any]) -> None:
    out = call_tool("query_history", {"stream": "trades", "symbol": "BTCUSDT", "columns": ["ts", "price", "side"], "limit": 5})
    assert out["columns"] == ["ts", "price", "side"] and len(out["rows"]) == 5 and out["truncated"]
    assert out["rows"][0][0] <= out["rows"][-1][0]
    newest = call_tool("query_history", {"stream": "trades", "symbol": "BTCUSDT", "limit": 1, "newest_first": True})
    assert newest["rows"][0][newest["columns"].index("trade_id")] > 0 and newest["source"]["as_of"]
    feats = call_tool("query_history", {"stream": "features", "symbol": "BTCUSDT", "name": "mid", "limit": 10})
    assert {r[feats["columns"].index("name")] for r in feats["rows"]} == {"mid"}
    for args, message in [
        ({"stream": "trades; DROP TABLE trades", "symbol": "BTCUSDT"}, "unknown stream"),
        ({"stream": "trades", "symbol": "BTCUSDT", "columns": ["price", "1; select"]}, "no column"),
        ({"stream": "trades", "symbol": "BTC' OR '1'='1"}, "unknown symbol"),
        ({"stream": "trades", "symbol": "BTCUSDT", "limit": 50_000}, "limit"),
    ]:
        with pytest.raises(ToolError, match=message):
            call_tool("query_history", args)


def test_trade_bars_equal_the_raw_frames(real: dict[str, Any], btc_capture: Path) -> None:
    out = call_tool("aggregate_by_timeframe", {"stream": "trades", "symbol": "BTCUSDT", "timeframe": "1m"})
    bars = pd.DataFrame(out["rows"], columns=out["columns"])
    raw = capture_trades(btc_capture)
    raw["signed"] = raw["qty"].where(raw["side"] == "buy", -raw["qty"])
    expected = raw.groupby(raw["ts"].dt.floor("1min")).agg(
        open=("price", "first"), high=("price", "max"), low=("price", "min"), close=("price", "last"),
        volume=("qty", "sum"), trades=("qty", "size"))
    assert len(bars) == len(expected)
    for col in ("open", "high", "low", "close", "trades"):
        assert bars[col].tolist() == expected[col].tolist(), col
    assert bars["volume"].tolist() == pytest.approx(expected["volume"].tolist(), rel=1e-12)
    spread = call_tool("aggregate_by_timeframe", {"stream": "features", "symbol": "BTCUSDT", "name": "spread_bps", "stat": "max"})
    assert spread["columns"] == ["time", "value_max"] and all(v > 0 for _, v in spread["rows"])
    with pytest.raises(ToolError, match="needs name"):
        call_tool("aggregate_by_timeframe", {"stream": "features", "symbol": "BTCUSDT"})


def test_export_writes_only_under_the_export_dir(real: dict[str, Any], tmp_path: Path) -> None:
    window = {"start": "2024-08-08T23:50:00Z", "end": "2024-08-09T00:00:00Z"}
    out = call_tool("export_data", {"stream": "trades", "symbol": "BTCUSDT", **window})
    path = Path(out["path"])
    assert path.parent == real["out"].resolve() and path.suffix == ".parquet"
    assert pq.read_table(path).num_rows == out["rows"] > 20_000
    csv = call_tool("export_data", {"stream": "quotes", "symbol": "BTCUSDT", "format": "csv", "name": "../../etc/passwd",
                                    "columns": ["ts", "bid", "ask"], **window})
    assert Path(csv["path"]) == real["out"].resolve() / "passwd.csv"
    assert pd.read_csv(csv["path"]).shape == (csv["rows"], 3)
    with pytest.raises(ToolError, match="no usable characters"):
        call_tool("export_data", {"stream": "trades", "symbol": "BTCUSDT", "name": "../..", **window})
    outside = tmp_path / "outside.csv"
    os.symlink(outside, real["out"] / "link.csv")
    with pytest.raises(ToolError, match="outside the export directory"):
        call_tool("export_data", {"stream": "trades", "symbol": "BTCUSDT", "format": "csv", "name": "link.csv", **window})
    assert not outside.exists()
    with pytest.raises(ToolError, match="max_rows"):
        call_tool("export_data", {"stream": "trades", "symbol": "BTCUSDT", "max_rows": 10, **window})
    assert sorted(p.name for p in real["out"].iterdir()) == sorted([path.name, "passwd.csv", "link.csv"])


def test_feature_statistics_and_correlations(real: dict[str, Any]) -> None:
    stats = call_tool("get_feature_statistics", {"symbol": "BTCUSDT", "names": ["spread_bps", "vpin"], "detail": True})
    con = use_db(real["db"])
    count, mean = con.execute("SELECT count(*), avg(value) FROM features WHERE name = 'spread_bps'").fetchone()
    s = stats["statistics"]["spread_bps"]
    assert (s["count"], s["mean"]) == (count, pytest.approx(mean, rel=1e-5)) and s["min"] <= s["p50"] <= s["max"]
    assert stats["missing"] == ["vpin"]  # 6 minutes of data: fewer buckets than the VPIN window
    corr = call_tool("get_feature_correlations", {"symbol": "BTCUSDT", "names": ["return_1m", "signed_volume_1m", "ofi_1m"]})
    m = corr["matrix"]
    assert m["return_1m"]["return_1m"] == 1.0 and m["ofi_1m"]["return_1m"] == m["return_1m"]["ofi_1m"]
    assert corr["pairs"][0]["r"] > 0.5  # aggressive flow moves the price on the capture


def test_features_tool_is_compact_and_honest(real: dict[str, Any]) -> None:
    out = call_tool("get_features", {"symbol": "BTCUSDT"})
    assert out["origin"] == "stored" and out["as_of"] == "2024-08-09T00:00:00.000Z"
    assert out["features"]["prices"]["mid"] == pytest.approx(61659.75)
    assert "funding_z" in out["missing"] and "rv_15m" in out["missing"]
    assert "two venues" in out["cross_venue"]["unavailable"]
    assert len(str(out)) < 8_000
    with pytest.raises(ToolError, match="group"):
        call_tool("get_features", {"symbol": "BTCUSDT", "group": "astrology"})


def _stored_series(values: np.ndarray, name: str = "spread_bps") -> list[int]:
    con = new_store()
    add_trades(con, [("2024-08-08T00:00:00Z", 100.0, 1.0, "buy")])
    t = 1_723_075_200_000 + np.arange(len(values)) * 1000
    insert(con, "features", pd.DataFrame({"exchange": "binance", "market": "usdm", "symbol": "BTCUSDT",
                                          "ts": pd.to_datetime(t, unit="ms"), "name": name, "value": values}))
    return t.tolist()


def test_anomaly_methods_find_an_injected_spike() -> None:
    rng = np.random.default_rng(2)
    values = rng.normal(1.0, 0.05, 600)
    values[400] = 3.0
    times = _stored_series(values)
    for method in an.METHODS:
        out = call_tool("detect_anomalies", {"symbol": "BTCUSDT", "series": "spread_bps", "method": method,
                                             "start": "2024-08-08T00:00:00Z", "end": "2024-08-08T00:10:00Z"})
        found = [a["time"] for a in out["anomalies"]]
        assert pd.Timestamp(times[400], unit="ms").isoformat() in "".join(found), method
        if method != "isolation_forest":
            assert out["anomalies_count"] == 1, method


def test_changepoints_locate_a_level_shift() -> None:
    rng = np.random.default_rng(4)
    values = np.r_[rng.normal(1.0, 0.05, 300), rng.normal(2.0, 0.05, 300)]
    times = _stored_series(values)
    for method in ("pelt", "binseg"):
        out = call_tool("detect_changepoints", {"symbol": "BTCUSDT", "series": "spread_bps", "method": method,
                                                "start": "2024-08-08T00:00:00Z", "end": "2024-08-08T00:10:00Z"})
        assert out["changepoints"] == [pd.Timestamp(times[300], unit="ms").isoformat(timespec="milliseconds") + "Z"], method
        assert [round(s["mean"]) for s in out["segments"]] == [1, 2]
    starts, params = an.changepoints(values, "binseg", "l2", None, 1, 5)
    assert starts == [300] and params["n_bkps"] == 1


@pytest.mark.parametrize(("values", "regime", "rule"), [
    ({"return_15m": 60, "rv_15m": 20, "efficiency_15m": 0.5, "rv_1m": 5, "range_pos_5m": 0.8}, "trending_up", 3),
    ({"return_15m": -60, "rv_15m": 20, "efficiency_15m": 0.5, "rv_1m": 5, "range_pos_5m": 0.2}, "trending_down", 4),
    ({"return_15m": 60, "rv_15m": 20, "efficiency_15m": 0.5, "rv_1m": 9, "range_pos_5m": 0.95}, "breakout", 1),
    ({"return_15m": -60, "rv_15m": 20, "efficiency_15m": 0.2, "rv_1m": 9, "range_pos_5m": 0.05}, "breakdown", 2),
    ({"return_15m": 10, "rv_15m": 20, "efficiency_15m": 0.1, "rv_1m": 5, "range_pos_5m": 0.5}, "ranging", 5),
    ({"rv_15m": 20}, "unknown", 0),
])
def test_regime_rules(values: dict[str, float], regime: str, rule: int) -> None:
    names, rules = rg.direction_regime(values)
    assert (str(names), int(rules)) == (regime, rule)


def test_volatility_regime_by_percentile() -> None:
    history = np.linspace(1, 100, 100)
    assert rg.volatility_regime(95.0, history)["regime"] == "high"
    assert rg.volatility_regime(5.0, history)["regime"] == "low"
    assert rg.volatility_regime(50.0, history)["regime"] == "normal"
    assert rg.volatility_regime(50.0, history[:10])["regime"] is None


def test_tools_compute_features_from_the_streams_when_none_are_stored(real: dict[str, Any], tmp_path: Path) -> None:
    import shutil

    import duckdb

    copy = tmp_path / "nofeatures.duckdb"
    shutil.copy(real["db"], copy)
    with duckdb.connect(str(copy)) as con:
        stored = dict(con.execute("SELECT name, value FROM features WHERE ts = (SELECT max(ts) FROM features)").fetchall())
        con.execute("DELETE FROM features")
    use_db(copy)
    out = call_tool("get_features", {"symbol": "BTCUSDT", "group": "trades"})
    assert out["origin"] == "history" and out["warnings"]
    # the same engine over the stored streams: the trade features equal what the live engine stored
    for name, value in out["features"]["trades"].items():
        assert value == pytest.approx(stored[name], rel=1e-5), name
    stats = call_tool("get_feature_statistics", {"symbol": "BTCUSDT", "names": ["volume_1m"], "start": "2024-08-08T23:50:00Z"})
    assert stats["origin"] == "history" and stats["statistics"]["volume_1m"]["count"] > 200


def test_long_windows_are_read_at_a_coarser_step() -> None:
    from flowdesk.analytics.features.store import frame
    from flowdesk.analytics.orderflow.common import MarketKey

    t = _stored_series(np.arange(1200.0))  # one value per second, 20 minutes
    con = new_store()
    add_trades(con, [("2024-08-08T00:00:00Z", 100.0, 1.0, "buy")])
    insert(con, "features", pd.DataFrame({"exchange": "binance", "market": "usdm", "symbol": "BTCUSDT",
                                          "ts": pd.to_datetime(t[::60], unit="ms"), "name": "mid", "value": 1.0}))
    key = MarketKey("binance", "usdm", "BTCUSDT")
    day = 86_400_000
    f, origin = frame(con.cursor(), key, ["mid"], t[0], t[0] + day, load_settings(env={}))
    assert origin == "stored" and f.attrs["step_ms"] == day // 50_000 + (day % 50_000 > 0)
    assert len(f) == 20 and f["mid"].eq(1.0).all()
    short, _ = frame(con.cursor(), key, ["mid"], t[0], t[0] + 3_600_000, load_settings(env={}))
    assert short.attrs["step_ms"] is None and len(short) == 20
