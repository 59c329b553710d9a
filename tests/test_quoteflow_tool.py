"""``analyze_order_flow`` and ``get_quoteflow_status`` against a real redis-server: the XML and
JSON documents, stored pattern onsets, and the errors (unknown ticker, stale quotes, bad
arguments, Redis unreachable)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime
from xml.etree import ElementTree as ET

import duckdb
import pytest
import redis

from flowdesk.analytics.quoteflow.processor import Processor
from flowdesk.analytics.quoteflow.service import threshold_config
from flowdesk.analytics.quoteflow.status import now_ms
from flowdesk.server.mcp import build_mcp
from flowdesk.settings import Settings
from flowdesk.storage.redis_quotes import RedisQuoteSource, quotes_key
from flowdesk.tools.context import ToolContext, set_context
from flowdesk.tools.registry import ToolError, call_tool
from quoteflow_sequences import baseline, held, members, then
from redis_server import RedisServer, settings_for

pytest_plugins = ("redis_fixtures",)


@pytest.fixture
def context(redis_settings: Settings) -> Iterator[Settings]:
    con = duckdb.connect()
    set_context(ToolContext(settings=redis_settings, connection=con))
    yield redis_settings
    set_context(None)
    con.close()


def feed(client: redis.Redis, ticker: str, rows: list, names: str = "broker") -> None:
    client.zadd(quotes_key(ticker), members(rows, names))


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def stacking_then_quiet(now: int) -> tuple[list, list, int]:
    """Stacking that ends ~20 s before ``now`` (rows, onset time), then quiet rows up to ``now``."""
    stack = [(100.0, 100.02, s, 1000) for s in (1000, 1300, 1700, 2200, 2800, 3500)]
    first = then(baseline(now - 20_000, 280), stack)
    start = first[-1][0] + 50
    rest = [(t, 100.0 + 0.03 * (i % 2), 100.02 + 0.03 * (i % 2), 1000.0, 1000.0)
            for i, t in enumerate(range(start, now + 1, 50))]
    return first, rest, first[-1][0]


def test_xml_document(context: Settings, redis_server: RedisServer, redis_client: redis.Redis) -> None:
    now = now_ms()
    first, rest, onset_at = stacking_then_quiet(now)
    feed(redis_client, "SPY", first)
    source = RedisQuoteSource.connect("127.0.0.1", redis_server.port)
    Processor(source, threshold_config(context), tickers=["SPY"]).run_cycle(onset_at)
    feed(redis_client, "SPY", rest)
    out = call_tool("analyze_order_flow", {"ticker": "SPY"})
    assert out["format"] == "xml" and out["ticker"] == "SPY"
    root = ET.fromstring(out["xml"])
    last = rest[-1]
    assert root.tag == "order_flow_data" and root.get("ticker") == "SPY" and root.get("history_window") == "300s"
    assert float(root.get("current_price")) == pytest.approx((last[1] + last[2]) / 2)
    assert abs(ms(root.get("timestamp")) - now) < 5_000
    assert float(root.find("current_quote/bid/price").text) == last[1]
    assert float(root.find("current_quote/ask/size").text) == pytest.approx(last[4])
    for w in ("last_10s", "last_60s", "last_300s"):
        lifts, drops = int(root.find(f"momentum/{w}/lifts").text), int(root.find(f"momentum/{w}/drops").text)
        assert abs(lifts - drops) <= 6  # the quiet baseline alternates up and down
    assert root.find("size_metrics/thresholds/preset").text == "relative"
    assert root.find("size_metrics/last_60s/acceleration/bid_size/trend").text in {"STABLE", "INCREASING", "DECREASING"}
    end = ms(root.get("timestamp"))
    in_10s = sum(1 for r in rest if end - 10_000 < r[0] <= end)
    assert float(root.find("velocity/last_10s/quotes_per_s").text) == pytest.approx(in_10s / 10)
    assert {b.tag for b in root.find("behaviors")} >= {"bid_stacking", "ask_pulling", "momentum_building"}
    assert all(b.text in {"YES", "NO"} for b in root.find("behaviors"))
    patterns = root.find("detected_patterns")
    stacked = [p for p in patterns if p.find("type").text == "stacking"]
    assert len(stacked) == 1 and stacked[0].find("status").text == "recent"
    assert float(stacked[0].find("seconds_ago").text) == pytest.approx((now - onset_at) / 1000, abs=5)
    assert root.find("price_levels/bid").get("count") is not None
    assert out["source"]["key"] == "orderflow:quotes:SPY" and out["source"]["data_age_s"] < 5
    assert out["processor"]["results_age_s"] is not None


def test_json_matches_xml_and_marks_active_patterns(context: Settings, redis_server: RedisServer,
                                                    redis_client: redis.Redis) -> None:
    now = now_ms()
    rows = then(baseline(now - 700, 300), held(12, 100.0, 100.02, [3500], 1000))
    feed(redis_client, "QQQ", rows)
    source = RedisQuoteSource.connect("127.0.0.1", redis_server.port)
    Processor(source, threshold_config(context), tickers=["QQQ"]).run_cycle(rows[-1][0])
    out = call_tool("analyze_order_flow", {"ticker": "QQQ", "format": "json", "history": "2mins"})
    doc = out["order_flow"]
    assert doc["history_window"] == "120s" and set(doc["momentum"]) == {"last_10s", "last_60s"}
    end = ms(doc["timestamp"])
    assert doc["window_quotes"] == {f"last_{w}s": sum(1 for r in rows if end - w * 1000 < r[0] <= end) for w in (10, 60)}
    active = [p for p in doc["patterns"] if p["status"] == "active"]
    assert [(p["type"], p["side"], p["since"]) for p in active] == [("absorption", "bid", rows[-1][0])]
    assert doc["behaviors"]["large_bid"] == "YES"
    assert doc["price_levels"]["bid"][0]["price"] == 100.0
    assert doc["current_quote"]["bid_ask_ratio"] == pytest.approx(3.5)
    xml = ET.fromstring(call_tool("analyze_order_flow", {"ticker": "QQQ", "history": "2mins"})["xml"])
    assert float(xml.find("current_quote/bid/size").text) == doc["current_quote"]["bid"]["size"] == 3500
    assert [p.find("type").text for p in xml.find("detected_patterns")] == [p["type"] for p in doc["patterns"]]
    assert xml.find("behaviors/large_bid").text == "YES"
    quiet = call_tool("analyze_order_flow", {"ticker": "QQQ", "format": "json", "include_patterns": False})
    assert "patterns" not in quiet["order_flow"]


def test_errors_say_what_is_wrong(context: Settings, redis_client: redis.Redis) -> None:
    now = now_ms()
    feed(redis_client, "SPY", baseline(now - 400_000, 60))
    with pytest.raises(ToolError, match=r"no recent quotes for SPY: the last one is 40\d s old .*300s history"):
        call_tool("analyze_order_flow", {"ticker": "SPY"})
    assert call_tool("analyze_order_flow", {"ticker": "SPY", "history": "10mins", "format": "json"})["order_flow"]
    with pytest.raises(ToolError, match=r"unknown ticker 'spy'.*did you mean 'SPY'.*known: \['SPY'\]"):
        call_tool("analyze_order_flow", {"ticker": "spy"})
    bad = [
        ({"ticker": "SPY SPX"}, "ticker must be"),
        ({"ticker": ""}, "ticker must be"),
        ({"ticker": "SPY", "history": "5 parsecs"}, "history must look like"),
        ({"ticker": "SPY", "history": "2h"}, "history must be from 10s to 60mins"),
        ({"ticker": "SPY", "history": "5s"}, "history must be from"),
        ({"ticker": "SPY", "format": "yaml"}, "format must be 'xml' or 'json'"),
        ({"ticker": "SPY", "include_patterns": "yes"}, "include_patterns must be true or false"),
    ]
    for args, message in bad:
        with pytest.raises(ToolError, match=message):
            call_tool("analyze_order_flow", args)
    redis_client.set(quotes_key("STR"), "x")
    with pytest.raises(ToolError, match="WRONGTYPE"):
        call_tool("analyze_order_flow", {"ticker": "STR"})


def test_redis_unreachable_is_a_clear_error_and_degraded_status(redis_client: redis.Redis) -> None:
    from redis_server import free_port

    settings = settings_for(free_port())
    con = duckdb.connect()
    set_context(ToolContext(settings=settings, connection=con))
    try:
        with pytest.raises(ToolError, match="unavailable.*REDIS_HOST"):
            call_tool("analyze_order_flow", {"ticker": "SPY"})
        status = call_tool("get_quoteflow_status")
        assert status["status"] == "degraded" and status["redis"]["reachable"] is False
    finally:
        set_context(None)
        con.close()


def test_status_lists_tickers_and_settings(context: Settings, redis_client: redis.Redis) -> None:
    feed(redis_client, "SPY", baseline(now_ms(), 5))
    feed(redis_client, "BTCUSDT", baseline(now_ms(), 5), names="binance")
    status = call_tool("get_quoteflow_status")
    assert status["redis"]["reachable"] is True and status["tickers"] == ["BTCUSDT", "SPY"]
    assert status["settings"]["processor_enabled"] is True and status["settings"]["tickers"] == "discover"


def test_tools_are_served_over_mcp_with_their_schema() -> None:
    async def listing() -> dict:
        return {t.name: t for t in await build_mcp().list_tools()}

    tools = asyncio.run(listing())
    schema = tools["analyze_order_flow"].inputSchema
    assert schema["required"] == ["ticker"]
    assert set(schema["properties"]) == {"ticker", "history", "include_patterns", "format"}
    assert schema["properties"]["history"]["default"] == "5mins"
    assert tools["get_quoteflow_status"].annotations.readOnlyHint is True
