"""Every venue end to end offline: its simulator (a real WebSocket + REST server on 127.0.0.1)
-> the generic feed -> DuckDB, through the same Runtime that ``flowdesk serve`` runs.

For each of the eight venues beyond Binance USD-M: the feed connects (after the venue's
handshake, where it has one), subscribes, parses every frame (no malformed, no unknown), keeps
its books in sync under the venue's rule, and stores trades and quotes under the venue's
(exchange, market); record kinds the venue has no public source for stay empty and are reported
as unavailable. Fault runs check book resync after a skipped diff and reconnect after a close.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from flowdesk.server.app import Runtime
from flowdesk.server.simulate import point_venue_at
from flowdesk.settings import load_settings
from flowdesk.streaming.simulator import FaultConfig
from flowdesk.streaming.simulator.venues import load_sim
from flowdesk.streaming.simulator.venues.server import VenueSimServer
from flowdesk.streaming.venues.registry import VENUE_IDS, protocol

VENUES = [name for name in VENUE_IDS if name != "binance_usdm"]
SYMBOLS = ["BTCUSDT", "ETHUSDT"]
KIND_TABLES = {"Trade": "trades", "Quote": "quotes", "MarkFunding": "mark_funding",
               "OpenInterest": "open_interest", "Liquidation": "liquidations"}


async def _collect(name: str, tmp: Path, seconds: float, faults: FaultConfig | None = None,
                   until: Any = None) -> tuple[dict[str, Any], dict[str, int], dict[str, Any]]:
    sim = VenueSimServer(load_sim(name), SYMBOLS, rate_hz=150, faults=faults)
    await sim.start()
    settings = load_settings(
        env={"FLOWDESK_DATA_DIR": str(tmp)},
        overrides={"venues": {**{other: {"enabled": False} for other in VENUE_IDS},
                              name: {"enabled": True, "ticker_poll_s": 0.5, "open_interest_poll_s": 0.5}}},
    )
    settings = point_venue_at(settings, name, sim.ws_url, sim.rest_url, SYMBOLS)
    runtime = Runtime(settings, services=False, retention=False)
    await runtime.start()
    try:
        feed = runtime.controller.feeds[0]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline and not (until and until(feed, sim)):
            await asyncio.sleep(0.1)
        status = runtime.controller.feed_status()[0]
        runtime.controller.batcher.flush()
        await asyncio.to_thread(runtime.writer.flush, 30)
        ex, mk = VENUE_IDS[name]
        cur = runtime.store.connection.cursor()
        counts = {
            kind: cur.execute(f"SELECT count(*) FROM {table} WHERE exchange = ? AND market = ?", [ex, mk]).fetchone()[0]
            for kind, table in KIND_TABLES.items()
        }
        cur.close()
    finally:
        await runtime.stop()
        await sim.stop()
    return status, counts, sim.stats


@pytest.mark.parametrize("name", VENUES)
def test_venue_end_to_end(name: str, tmp_path: Path) -> None:
    proto = protocol(name)

    kinds = ["Trade", "Quote"] + [k for k in ("MarkFunding",) if k not in proto.unavailable]

    def ready(feed: Any, sim: Any) -> bool:
        books_ok = all(b.synced for b in feed.books.values())
        return books_ok and all(feed.latest[k].get(s) for k in kinds for s in SYMBOLS)

    status, counts, _ = asyncio.run(_collect(name, tmp_path, 20, until=ready))
    assert status["connected"], status["last_error"]
    assert status["messages"] > 0
    assert status["malformed_frames"] == 0, status["last_error"]
    assert status["unknown_messages"] == 0
    assert counts["Trade"] > 0 and counts["Quote"] > 0
    if proto.book != "none":
        assert set(status["books"]) == set(SYMBOLS)
        assert all(b["synced"] for b in status["books"].values()), status["books"]
    for kind in ("MarkFunding", "OpenInterest", "Liquidation"):
        if kind in proto.unavailable:
            assert counts[kind] == 0, f"{kind} is unavailable on {name} but rows were stored"
            assert kind in status["unavailable"]
    if "MarkFunding" not in proto.unavailable:
        assert counts["MarkFunding"] > 0


@pytest.mark.parametrize("name", [n for n in VENUES if protocol(n).book not in ("none", "ws_full")])
def test_book_resyncs_after_a_skipped_diff(name: str, tmp_path: Path) -> None:
    def resynced(feed: Any, sim: Any) -> bool:
        fired = sim.faults.fired["skip_depth"]
        return fired and feed.health.book_resyncs > 0 and all(b.synced for b in feed.books.values())

    status, _, stats = asyncio.run(_collect(name, tmp_path, 25, FaultConfig(skip_depth_at=40), until=resynced))
    assert stats["faults_fired"]["skip_depth"] == 1
    assert status["book_resyncs"] >= 1
    assert all(b["synced"] for b in status["books"].values()), status["books"]
    assert status["malformed_frames"] == 0


@pytest.mark.parametrize("name", VENUES)
def test_reconnects_after_the_venue_closes(name: str, tmp_path: Path) -> None:
    def back(feed: Any, sim: Any) -> bool:
        return feed.health.reconnects >= 1 and feed.health.connected and feed.health.messages > 400

    status, _, stats = asyncio.run(
        _collect(name, tmp_path, 25, FaultConfig(close_after_frames=200, close_times=1), until=back)
    )
    assert stats["faults_fired"]["close"] == 1
    assert status["reconnects"] >= 1 and status["connects"] >= 2
    assert status["connected"]


def test_cross_venue_signal_is_live_with_two_venues(tmp_path: Path) -> None:
    """With Binance USD-M and Bybit linear collected together, the live feature engine gives the
    cross-venue inputs (spread vs the other venue, funding divergence) and the arbitrage-pressure
    signal is computed with full confidence instead of being reported unavailable."""
    import duckdb

    from flowdesk.server.simulate import point_venues_at
    from flowdesk.streaming.simulator import Simulator, SimulatorConfig
    from flowdesk.tools.context import ToolContext, set_context
    from flowdesk.tools.registry import call_tool

    async def run() -> Any:
        bsim = Simulator(SimulatorConfig(mode="synthetic", symbols=["BTCUSDT"], rate_hz=100))
        ysim = VenueSimServer(load_sim("bybit_linear"), ["BTCUSDT"], rate_hz=100)
        await bsim.start()
        await ysim.start()
        settings = load_settings(env={"FLOWDESK_DATA_DIR": str(tmp_path), "FLOWDESK_SYMBOLS": "BTCUSDT"})
        settings = point_venues_at(settings, bsim.ws_url, bsim.rest_url, ["BTCUSDT"])
        settings = point_venue_at(settings, "bybit_linear", ysim.ws_url, ysim.rest_url, ["BTCUSDT"])
        settings = dataclasses.replace(settings, venues={
            **settings.venues, "bybit_linear": dataclasses.replace(settings.venues["bybit_linear"], enabled=True)})
        runtime = Runtime(settings, retention=False)
        await runtime.start()
        try:
            await asyncio.sleep(8)
        finally:
            await runtime.stop()
            await ysim.stop()
            await bsim.stop()
        return settings

    settings = asyncio.run(run())
    con = duckdb.connect(str(settings.db_path), read_only=True)
    try:
        set_context(ToolContext(settings=settings, connection=con))
        venues = con.execute("SELECT DISTINCT exchange || '_' || market FROM features WHERE name = 'mid'").fetchall()
        assert sorted(v for (v,) in venues) == ["binance_usdm", "bybit_linear"]
        for exchange in ("binance_usdm", "bybit_linear"):
            out = call_tool("get_signal", {"name": "cross_venue_arbitrage_pressure", "symbol": "BTCUSDT",
                                           "exchange": exchange, "detail": True})
            assert "unavailable" not in out, out
            assert out["confidence"] == 1.0 and -1 <= out["value"] <= 1
    finally:
        con.close()
