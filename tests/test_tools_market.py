"""Market tools over a hand-built database: exact values, honest gaps, argument errors, and the
same answers through the REST surface generated from the registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from flowdesk.records import MarkFunding, OpenInterest, Quote, Trade
from flowdesk.server.mcp import build_mcp
from flowdesk.server.rest import rest_routes
from flowdesk.settings import load_settings
from flowdesk.storage.store import Store
from flowdesk.storage.writer import BatchWriter
from flowdesk.tools.context import ToolContext, set_context
from flowdesk.tools.market import get_market_snapshot, get_recent_trades, get_streaming_status
from flowdesk.tools.registry import ToolError, call_tool

T0 = 1_723_161_256_000


def _t(i: int, side: str, price: float) -> Trade:
    return Trade("binance", "usdm", "BTCUSDT", 100 + i, price, 0.5 + i, side, T0 + i * 1000, 0, 100 + i, 100 + i, "ws")


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[ToolContext]:
    settings = load_settings(env={"FLOWDESK_DATA_DIR": str(tmp_path), "FLOWDESK_SYMBOLS": "BTCUSDT,ETHUSDT"})
    store = Store(settings.db_path)
    with BatchWriter(store) as writer:
        writer.write_batch_sync(
            {
                Trade: [_t(0, "buy", 61000.0), _t(1, "sell", 61000.5), _t(2, "buy", 61001.0)],
                Quote: [Quote("binance", "usdm", "BTCUSDT", 61000.9, 2.0, 61001.0, 1.5, 7, T0 + 2500, 0)],
                MarkFunding: [MarkFunding("binance", "usdm", "BTCUSDT", 61000.7, 60999.0, 0.0001, T0 + 3_600_000, T0 + 2000, 0)],
            }
        )
    context = ToolContext(settings=settings, connection=store.connection)
    set_context(context)
    yield context
    set_context(None)
    context.close()
    store.close()


def test_snapshot_values_and_missing_parts(ctx: ToolContext) -> None:
    snap = get_market_snapshot("btcusdt")
    assert snap["last_price"] == 61001.0
    assert (snap["bid"], snap["ask"], snap["spread"]) == (61000.9, 61001.0, 0.1)
    assert snap["mark_price"] == 61000.7 and snap["funding_rate"] == 0.0001
    assert snap["next_funding_time"] == "2024-08-09T00:54:16Z"
    assert snap["open_interest"] is None and snap["high_24h"] is None
    assert sorted(snap["missing"]) == ["OpenInterest", "Ticker24h"]
    assert snap["source"]["as_of"] == "2024-08-08T23:54:18.500000Z"
    assert snap["source"]["data_age_s"] > 0


def test_snapshot_open_interest_value_from_mark_when_the_venue_sends_quantity_only(ctx: ToolContext) -> None:
    snap = get_market_snapshot("BTCUSDT")
    assert snap["open_interest_value"] is None and "open_interest_value_note" not in snap  # no OI yet
    oi = OpenInterest("binance", "usdm", "BTCUSDT", 80_000.5, None, T0 + 2600, 0)
    BatchWriter(SimpleNamespace(connection=ctx.connection)).write_batch_sync({OpenInterest: [oi]})  # type: ignore[arg-type]
    snap = get_market_snapshot("BTCUSDT")
    assert snap["open_interest"] == 80_000.5
    assert snap["open_interest_value"] == round(80_000.5 * 61000.7, 2)
    assert "mark_price" in snap["open_interest_value_note"]
    sent = oi._replace(open_interest_value=4.9e9, ts=T0 + 2700)  # the venue's own value wins
    BatchWriter(SimpleNamespace(connection=ctx.connection)).write_batch_sync({OpenInterest: [sent]})  # type: ignore[arg-type]
    snap = get_market_snapshot("BTCUSDT")
    assert snap["open_interest_value"] == 4.9e9 and "open_interest_value_note" not in snap


def test_snapshot_errors(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="unknown symbol 'DOGEUSDT'.*BTCUSDT"):
        get_market_snapshot("DOGEUSDT")
    with pytest.raises(ToolError, match="no data stored yet for ETHUSDT"):
        get_market_snapshot("ETHUSDT")
    with pytest.raises(ToolError, match="unknown exchange 'kraken'"):
        get_market_snapshot("BTCUSDT", exchange="kraken")
    assert get_market_snapshot("BTCUSDT", exchange="binance")["last_price"] == 61001.0


def test_recent_trades(ctx: ToolContext) -> None:
    out = get_recent_trades("BTCUSDT", limit=2)
    assert [t["trade_id"] for t in out["trades"]] == [102, 101]
    assert out["buy_volume"] == 2.5 and out["sell_volume"] == 1.5
    for bad in (0, 1001, "10", True):
        with pytest.raises(ToolError, match="limit"):
            get_recent_trades("BTCUSDT", limit=bad)  # type: ignore[arg-type]


def test_status_without_collector(ctx: ToolContext) -> None:
    status = get_streaming_status()
    assert status["collector_running"] is False and status["feeds"] == []
    assert status["tables"]["trades"]["rows"] == 3
    assert status["tables"]["quotes"]["newest"] == "2024-08-08T23:54:18.500000Z"


def test_call_tool_checks_argument_names(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="unknown argument"):
        call_tool("get_recent_trades", {"symbol": "BTCUSDT", "lim": 3})
    with pytest.raises(ToolError, match="missing required"):
        call_tool("get_recent_trades", {})


def test_rest_surface_matches_tools(ctx: ToolContext) -> None:
    app = Starlette(routes=rest_routes(build_mcp()))
    client = TestClient(app)
    listed = {t["name"] for t in client.get("/api/tools").json()}
    assert {"get_market_snapshot", "get_recent_trades", "get_streaming_status"} <= listed
    r = client.get("/api/tools/get_recent_trades", params={"symbol": "BTCUSDT", "limit": "2"})
    assert r.status_code == 200 and r.json()["count"] == 2
    r = client.post("/api/get_market_snapshot", json={"symbol": "BTCUSDT"})
    assert r.status_code == 200 and r.json()["last_price"] == 61001.0
    r = client.get("/api/tools/get_recent_trades", params={"symbol": "BTCUSDT", "limit": "x"})
    assert r.status_code == 400 and "limit" in r.json()["error"]
    r = client.get("/api/tools/get_recent_trades", params={"symbol": "NOPE"})
    assert r.status_code == 400 and "unknown symbol" in r.json()["error"]
    r = client.post("/api/tools/get_recent_trades", content=b"[1]")
    assert r.status_code == 400 and "JSON object" in r.json()["error"]
    assert client.get("/api/tools/not_a_tool").status_code == 404
