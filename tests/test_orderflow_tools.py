"""The order-flow tools as the servers see them: registered once, documented, JSON-clean
results that carry ``source``, and clear errors for unknown symbols."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from flowdesk.tools import orderflow
from flowdesk.tools.registry import REGISTRY, ToolError
from test_orderflow_support import KEY, add_trades, insert, new_store

TOOLS = {
    "get_key_levels": {"symbol": "BTCUSDT"},
    "get_volume_profile": {"symbol": "BTCUSDT", "tpo": True},
    "get_footprint": {"symbol": "BTCUSDT", "timeframe": "1m"},
    "get_orderflow_metrics": {"symbol": "BTCUSDT", "timeframe": "5m"},
    "stream_liquidations": {"symbol": "BTCUSDT"},
}


def test_tools_are_registered_with_docs() -> None:
    names = {
        "get_key_levels",
        "get_volume_profile",
        "get_footprint",
        "get_orderflow_metrics",
        "get_orderbook_depth_delta",
        "stream_liquidations",
        "get_funding_and_oi",
    }
    assert names <= set(REGISTRY)
    for name in names:
        spec = REGISTRY[name]
        assert spec.domain == "orderflow" and spec.fn is getattr(orderflow, name)
        assert "symbol" in spec.parameters() and len(spec.description) > 200
        params = spec.parameters()
        assert "exchange" in params and params["exchange"].default == "binance_usdm"
        assert "market" not in params


@pytest.mark.parametrize("name", sorted(TOOLS))
def test_results_are_json_and_carry_source(name: str) -> None:
    con = new_store()
    add_trades(
        con,
        [
            (
                f"2024-08-08T0{h}:{m:02d}:00Z",
                100.0 + (h * m % 7) / 10,
                1 + m % 3,
                "buy" if m % 2 else "sell",
            )
            for h in range(4)
            for m in range(0, 60, 7)
        ],
    )
    out = REGISTRY[name].fn(**TOOLS[name])
    text = json.dumps(out, allow_nan=False)
    assert '"source"' in text
    assert out["source"]["exchanges"] == ["binance_usdm"] and out["source"]["symbol"] == "BTCUSDT"
    assert out["exchange"] == "binance_usdm" and "market" not in out
    assert out["source"]["window"] and "warnings" in out


def test_unknown_symbol_lists_known_symbols() -> None:
    con = new_store()
    add_trades(con, [("2024-08-08T00:00:00Z", 100.0, 1, "buy")])
    add_trades(con, [("2024-08-08T00:00:00Z", 10.0, 1, "buy")], symbol="ETHUSDT")
    for name, args in TOOLS.items():
        with pytest.raises(ToolError, match=r"unknown symbol 'XRPUSDT'.*\['BTCUSDT', 'ETHUSDT'\]"):
            REGISTRY[name].fn(**{**args, "symbol": "xrpusdt"})
    with pytest.raises(ToolError, match=r"unknown exchange 'coinbase'.*'binance_usdm'"):
        orderflow.get_footprint("BTCUSDT", "1m", exchange="coinbase")
    with pytest.raises(TypeError, match="market"):
        orderflow.get_footprint("BTCUSDT", "1m", market="usdm")
    with pytest.raises(ToolError, match="unknown symbol"):
        orderflow.get_orderbook_depth_delta("XRPUSDT")
    with pytest.raises(ToolError, match="unknown symbol"):
        orderflow.get_funding_and_oi("XRPUSDT")


def test_symbol_without_trades_is_explicit() -> None:
    con = new_store()
    add_trades(con, [("2024-08-08T00:00:00Z", 100.0, 1, "buy")])
    con.execute(
        "INSERT INTO open_interest VALUES ('binance', 'usdm', 'SOLUSDT', 5, NULL, "
        "TIMESTAMP '2024-08-08 00:00:00', TIMESTAMP '2024-08-08 00:00:00')"
    )
    with pytest.raises(ToolError, match="no trades stored for binance/usdm/SOLUSDT"):
        orderflow.get_key_levels("SOLUSDT")
    assert orderflow.get_funding_and_oi("SOLUSDT")["open_interest"]["open_interest"] == 5.0


def test_exchange_accepts_venue_ids() -> None:
    con = new_store()
    add_trades(con, [("2024-08-08T00:00:00Z", 100.0, 1, "buy")])
    for exchange in ("binance", "binance_usdm", "binance:usdm", "Binance"):
        out = orderflow.get_footprint("BTCUSDT", "1m", exchange=exchange)
        assert out["exchange"] == "binance_usdm" and out["bars"][0]["volume"] == 1.0
        assert out["source"]["exchanges"] == ["binance_usdm"]


def test_tools_work_through_the_generated_rest_api() -> None:
    """The servers are generated from the registry: the signatures must survive that."""
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from flowdesk.server.mcp import build_mcp
    from flowdesk.server.rest import rest_routes

    con = new_store()
    add_trades(
        con, [("2024-08-08T00:00:01Z", 100.0, 1, "buy"), ("2024-08-08T00:01:01Z", 100.1, 2, "sell")]
    )
    client = TestClient(Starlette(routes=rest_routes(build_mcp())))
    r = client.get(
        "/api/tools/get_footprint", params={"symbol": "BTCUSDT", "timeframe": "1m", "max_bars": "5"}
    )
    assert r.status_code == 200 and [b["delta"] for b in r.json()["bars"]] == [1.0, -2.0]
    r = client.post(
        "/api/tools/get_key_levels",
        json={"symbol": "BTCUSDT", "sessions": {"asia": "00:00-08:00 UTC"}},
    )
    assert r.status_code == 200 and r.json()["today"]["sessions"]["asia"]["high"] == 100.1
    r = client.get("/api/tools/get_footprint", params={"symbol": "BTCUSDT", "timeframe": "7x"})
    assert r.status_code == 400 and "timeframe" in r.json()["error"]
    r = client.get(
        "/api/tools/get_footprint",
        params={"symbol": "BTCUSDT", "timeframe": "1m", "exchange": "binance:usdm"},
    )
    assert r.status_code == 200 and r.json()["source"]["exchanges"] == ["binance_usdm"]
    # the signature: get_orderbook_depth_delta(symbol, percent, windowSec, lookback)
    insert(
        con,
        "depth_bands",
        pd.DataFrame(
            {
                **KEY,
                "ts": pd.to_datetime(["2024-08-08T00:00:30", "2024-08-08T00:01:30"]),
                "mid": 100.0,
                "band_pct": 1.0,
                "bid_qty": [4.0, 6.0],
                "ask_qty": [5.0, 5.0],
                "bid_notional": [400.0, 600.0],
                "ask_notional": [500.0, 500.0],
            }
        ),
    )
    args = {"symbol": "BTCUSDT", "percent": "1", "windowSec": "60", "lookback": "120"}
    r = client.get("/api/tools/get_orderbook_depth_delta", params=args)
    body = r.json()
    assert r.status_code == 200 and (body["windowSec"], body["lookback"]) == (60, 120)
    assert body["samples"]["bid_qty"] == [4.0, 6.0] and body["exchange"] == "binance_usdm"
    r = client.get(
        "/api/tools/get_orderbook_depth_delta",
        params={"symbol": "BTCUSDT", "window_sec": "60", "lookback_sec": "120"},
    )
    assert r.status_code == 400 and "unknown argument" in r.json()["error"]
