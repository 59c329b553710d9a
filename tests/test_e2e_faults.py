"""Fault tests: the production collector against the simulator replaying the real capture,
with a dropped socket, a depth sequence gap, a malformed frame and HTTP 429 answers."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from capture_facts import capture_facts
from flowdesk.server.app import Runtime
from flowdesk.server.simulate import point_venues_at
from flowdesk.settings import load_settings
from flowdesk.streaming.simulator import FaultConfig, Simulator, SimulatorConfig

pytestmark = pytest.mark.e2e


async def _collect(capture: Path, data_dir: Path, faults: FaultConfig, expected_trades: int) -> dict[str, Any]:
    sim = Simulator(SimulatorConfig(mode="replay", captures=[capture], speed=0, faults=faults))
    await sim.start()
    settings = load_settings(env={"FLOWDESK_DATA_DIR": str(data_dir), "FLOWDESK_SYMBOLS": "BTCUSDT"})
    settings = point_venues_at(settings, sim.ws_url, sim.rest_url, ["BTCUSDT"])
    runtime = Runtime(settings)
    await runtime.start()
    feed = runtime.controller.feeds[0]
    t0 = time.monotonic()
    try:
        await sim.wait_replay_done(timeout=120)
        while time.monotonic() - t0 < 120:
            stored = runtime.store.connection.cursor().execute("SELECT count(*) FROM trades").fetchone()[0]
            if stored >= expected_trades and feed.books["BTCUSDT"].synced:
                break
            runtime.controller.batcher.flush()
            await asyncio.sleep(0.2)
        runtime.controller.batcher.flush()
        runtime.writer.flush(timeout=30)
        cur = runtime.store.connection.cursor()
        out = {
            "elapsed": time.monotonic() - t0,
            "health": feed.health.as_dict(),
            "ids": [r[0] for r in cur.execute("SELECT trade_id FROM trades ORDER BY trade_id").fetchall()],
            "gaps": cur.execute("SELECT from_id, to_id, status, filled_count FROM trade_gaps").fetchall(),
            "book_synced": feed.books["BTCUSDT"].synced,
            "book_top": feed.books["BTCUSDT"].book.top(5) if feed.books["BTCUSDT"].synced else None,
            "limiter_bans": feed.limiter.bans,
            "rest_rate_limited": feed.rest.rate_limited,
            "sim": dict(sim.stats),
            "limiter_waits": feed.limiter.waits,
        }
    finally:
        await runtime.stop()
        await sim.stop()
    return out


def _run(capture: Path, tmp_path: Path, **faults: Any) -> dict[str, Any]:
    expected = capture_facts(capture).trades
    return asyncio.run(_collect(capture, tmp_path, FaultConfig(**faults), expected))


def test_dropped_socket_backfills_every_trade_id(btc_capture: Path, tmp_path: Path) -> None:
    facts = capture_facts(btc_capture)
    out = _run(btc_capture, tmp_path, close_after_frames=20_000, drop_frames_on_close=3_000)
    assert out["health"]["reconnects"] >= 1
    assert out["ids"] == sorted(facts.trade_ids), "every trade id stored exactly once"
    assert out["gaps"] and all(status == "filled" for _, _, status, _ in out["gaps"])
    assert out["health"]["trades_backfilled"] == sum(n for *_, n in out["gaps"]) > 0


def test_sequence_gap_resyncs_book(btc_capture: Path, tmp_path: Path) -> None:
    # late in the replay (of 6,551 diffs), so the gap falls after the first sync however fast
    # the replay outruns the initial snapshot
    out = _run(btc_capture, tmp_path, skip_depth_at=4_000)
    assert out["health"]["book_resyncs"] >= 1
    assert out["book_synced"]
    bids, asks = out["book_top"]
    assert bids[0][0] < asks[0][0], "book not crossed after resync"


def test_malformed_frame_is_counted_and_skipped(btc_capture: Path, tmp_path: Path) -> None:
    facts = capture_facts(btc_capture)
    out = _run(btc_capture, tmp_path, malformed_at_frame=500)
    assert out["health"]["malformed_frames"] == 1
    assert out["health"]["reconnects"] == 0
    assert out["ids"] == sorted(facts.trade_ids)


def test_http_429_backs_off(btc_capture: Path, tmp_path: Path) -> None:
    out = _run(btc_capture, tmp_path, rest_429_count=2, retry_after_s=1.0)
    assert out["rest_rate_limited"] >= 2 and out["limiter_bans"] >= 2
    assert out["book_synced"], "book synced once the 429s stopped"
    assert out["limiter_waits"] >= 1, "the collector waited out Retry-After before retrying"
    assert out["sim"]["rest_429_sent"] == 2


def test_reconnect_on_request_and_resync(tmp_path: Path) -> None:
    """Controller.reconnect closes the socket and the loop reconnects; resync_book resyncs."""

    async def run() -> tuple[int, int, bool, int]:
        sim = Simulator(SimulatorConfig(mode="synthetic", symbols=["BTCUSDT"], rate_hz=200))
        await sim.start()
        settings = load_settings(env={"FLOWDESK_DATA_DIR": str(tmp_path), "FLOWDESK_SYMBOLS": "BTCUSDT"})
        settings = point_venues_at(settings, sim.ws_url, sim.rest_url, ["BTCUSDT"])
        runtime = Runtime(settings, services=False)
        await runtime.start()
        feed = runtime.controller.feeds[0]
        try:
            while not feed.books["BTCUSDT"].synced:
                await asyncio.sleep(0.05)
            assert runtime.controller.reconnect("binance_usdm") is True
            for _ in range(400):
                if feed.health.connects >= 2:
                    break
                await asyncio.sleep(0.05)
            resyncs = feed.health.book_resyncs
            runtime.controller.resync_book("binance", "usdm", "BTCUSDT")
            for _ in range(400):
                if feed.books["BTCUSDT"].synced:
                    break
                await asyncio.sleep(0.05)
            return feed.health.connects, feed.health.reconnects, feed.books["BTCUSDT"].synced, feed.health.book_resyncs - resyncs
        finally:
            await runtime.stop()
            await sim.stop()

    connects, reconnects, synced, resynced = asyncio.run(run())
    assert connects >= 2 and reconnects >= 1
    assert synced and resynced >= 1, "the requested resync is counted and the book synced again"
