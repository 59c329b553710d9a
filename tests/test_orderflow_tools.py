"""The order-flow tools as the servers see them: registered once, documented, JSON-clean
results that carry ``source``, and clear errors for unknown symbols."""

from __future__ import annotations

import json

import pytest

from flowdesk.tools import orderflow
from flowdesk.tools.registry import REGISTRY, ToolError
from test_orderflow_support import add_trades, new_store

TOOLS = {
    "get_key_levels": {"symbol": "BTCUSDT"},
    "get_volume_profile": {"symbol": "BTCUSDT", "tpo": True},
    "get_footprint": {"symbol": "BTCUSDT", "timeframe": "1m"},
    "get_orderflow_metrics": {"symbol": "BTCUSDT", "timeframe": "5m"},
    "stream_liquidations": {"symbol": "BTCUSDT"},
}


def test_tools_are_registered_with_docs() -> None:
    names = {"get_key_levels", "get_volume_profile", "get_footprint", "get_orderflow_metrics",
             "get_orderbook_depth_delta", "stream_liquidations", "get_funding_and_oi"}
    assert names <= set(REGISTRY)
    for name in names:
        spec = REGISTRY[name]
        assert spec.domain == "orderflow" and spec.fn is getattr(orderflow, name)
        assert "symbol" in spec.parameters() and len(spec.description) > 200
        assert "exchange" in spec.parameters() and spec.parameters()["exchange"].default == "binance"


@pytest.mark.parametrize("name", sorted(TOOLS))
def test_results_are_json_and_carry_source(name: str) -> None:
    con = new_store()
    add_trades(con, [(f"2024-08-08T0{h}:{m:02d}:00Z", 100.0 + (h * m % 7) / 10, 1 + m % 3, "buy" if m % 2 else "sell")
                     for h in range(4) for m in range(0, 60, 7)])
    out = REGISTRY[name].fn(**TOOLS[name])
    text = json.dumps(out, allow_nan=False)
    assert '"source"' in text
    assert out["source"]["exchanges"] == ["binance"] and out["source"]["symbol"] == "BTCUSDT"
    assert out["source"]["window"] and "warnings" in out


def test_unknown_symbol_lists_known_symbols() -> None:
    con = new_store()
    add_trades(con, [("2024-08-08T00:00:00Z", 100.0, 1, "buy")])
    add_trades(con, [("2024-08-08T00:00:00Z", 10.0, 1, "buy")], symbol="ETHUSDT")
    for name, args in TOOLS.items():
        with pytest.raises(ToolError, match=r"unknown symbol 'XRPUSDT'.*\['BTCUSDT', 'ETHUSDT'\]"):
            REGISTRY[name].fn(**{**args, "symbol": "xrpusdt"})
    with pytest.raises(ToolError, match="no data stored for binance/spot"):
        orderflow.get_footprint("BTCUSDT", "1m", market="spot")
    with pytest.raises(ToolError, match="unknown symbol"):
        orderflow.get_orderbook_depth_delta("XRPUSDT")
    with pytest.raises(ToolError, match="unknown symbol"):
        orderflow.get_funding_and_oi("XRPUSDT")


def test_symbol_without_trades_is_explicit() -> None:
    con = new_store()
    add_trades(con, [("2024-08-08T00:00:00Z", 100.0, 1, "buy")])
    con.execute("INSERT INTO open_interest VALUES ('binance', 'usdm', 'SOLUSDT', 5, NULL, "
                "TIMESTAMP '2024-08-08 00:00:00', TIMESTAMP '2024-08-08 00:00:00')")
    with pytest.raises(ToolError, match="no trades stored for binance/usdm/SOLUSDT"):
        orderflow.get_key_levels("SOLUSDT")
    assert orderflow.get_funding_and_oi("SOLUSDT")["open_interest"]["open_interest"] == 5.0
