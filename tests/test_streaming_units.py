"""Unit tests of the shared streaming machinery: backoff, weight limiter, batcher, maintenance."""

from __future__ import annotations

import asyncio
import queue
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flowdesk.records import Quote, Trade
from flowdesk.settings import load_settings
from flowdesk.storage.store import Store
from flowdesk.storage.writer import BatchWriter
from flowdesk.streaming.batcher import Batcher
from flowdesk.streaming.connection import backoff_delay
from flowdesk.streaming.controller import Controller
from flowdesk.streaming.ratelimit import WeightLimiter


def test_backoff_is_bounded_exponential_with_jitter() -> None:
    rng = random.Random(1)
    for attempt in range(12):
        cap = min(30.0, 0.5 * 2**attempt)
        delays = [backoff_delay(attempt, 0.5, 30.0, rng) for _ in range(200)]
        assert all(0 <= d <= cap for d in delays)
        assert max(delays) > cap * 0.8, "jitter spans the whole window"
        assert len(set(delays)) > 150, "delays are jittered, not fixed"


def test_limiter_waits_when_budget_spent_and_honours_bans() -> None:
    async def run() -> tuple[float, float, int]:
        lim = WeightLimiter(max_weight_per_minute=10, window_s=0.4)
        t0 = time.monotonic()
        await lim.acquire(6)
        await lim.acquire(4)
        await lim.acquire(5)  # budget spent: must wait for the window to roll
        waited = time.monotonic() - t0
        lim.ban(0.3)
        t1 = time.monotonic()
        await lim.acquire(1)
        return waited, time.monotonic() - t1, lim.waits

    waited, banned, waits = asyncio.run(run())
    assert waited >= 0.35
    assert banned >= 0.28
    assert waits >= 2


def test_limiter_syncs_from_venue_header() -> None:
    lim = WeightLimiter(100)
    lim._spent.append((time.monotonic(), 10))
    lim.sync_used(60)
    assert lim.used() == 60
    lim.sync_used(5)  # never lowers our own count
    assert lim.used() == 60


def _trade(i: int) -> Trade:
    return Trade("binance", "usdm", "BTCUSDT", i, 100.0 + i, 1.0, "buy", 1_700_000_000_000 + i, 0, i, i, "ws")


class _FullOnce:
    """A writer whose queue is full on the first non-blocking put."""

    def __init__(self) -> None:
        self.batches: list[dict] = []
        self.nowait_calls = 0

    def put_nowait(self, batch: dict) -> None:
        self.nowait_calls += 1
        if self.nowait_calls == 1:
            raise queue.Full
        self.batches.append(batch)

    def put(self, batch: dict, timeout: float | None = None) -> None:
        self.batches.append(batch)


def test_batcher_flushes_by_size_and_blocks_when_full() -> None:
    w = _FullOnce()
    b = Batcher(w, batch_rows=3)
    for i in range(7):
        b.add(_trade(i))
    assert [sum(len(v) for v in batch.values()) for batch in w.batches] == [3, 3]
    assert b.blocked == 1 and b.count == 1
    b.add(Quote("binance", "usdm", "BTCUSDT", 1, 1, 2, 1, 5, 0, 0))
    b.flush()
    assert set(w.batches[-1]) == {Trade, Quote}
    b.flush()  # nothing pending: no empty batch
    assert len(w.batches) == 3


def test_maintenance_runs_through_the_writer(tmp_path: Path) -> None:
    settings = load_settings(env={"FLOWDESK_DATA_DIR": str(tmp_path), "FLOWDESK_RETENTION_DAYS": "2"})
    store = Store(settings.db_path)
    writer = BatchWriter(store)
    writer.start()
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    old_ms = int((datetime.now(UTC) - timedelta(days=3)).timestamp() * 1000)
    rows = [_trade(1)._replace(ts=old_ms), _trade(2)._replace(ts=now_ms)]
    writer.write_batch_sync({Trade: rows})
    controller = Controller(settings, store, writer)
    controller._maintain()
    assert writer.flush(timeout=10)
    ids = [r[0] for r in store.connection.cursor().execute("SELECT trade_id FROM trades").fetchall()]
    writer.stop()
    store.close()
    assert ids == [2]
    assert controller.feeds[0].last_trade_id == {"BTCUSDT": 2}


@pytest.mark.parametrize("attempt", [0, 3])
def test_backoff_zero_and_cap(attempt: int) -> None:
    assert backoff_delay(attempt, 1.0, 2.0, random.Random(0)) <= 2.0


def test_feed_checks_trade_id_ranges_for_aggregated_trades(tmp_path) -> None:
    """OKX-style trades cover first_id..last_id: a jump past the range is a gap, a range that
    continues the previous one is not (a check on trade_id alone would see false gaps)."""
    from flowdesk.records import Trade
    from flowdesk.settings import load_settings
    from flowdesk.streaming.feeds.venue import VenueFeed
    from flowdesk.streaming.venues.registry import protocol

    settings = load_settings(env={"FLOWDESK_DATA_DIR": str(tmp_path)},
                             overrides={"venues": {"okx_swap": {"enabled": True, "backfill_trades": False}}})
    added, sql = [], []

    class Sink:
        def add(self, rec): added.append(rec)

    feed = VenueFeed(protocol("okx_swap"), settings.venues["okx_swap"], settings, Sink(), lambda q, p: sql.append(p))

    def trade(first: int, last: int) -> Trade:
        return Trade("okx", "swap", "BTCUSDT", last, 1.0, 1.0, "buy", 0, 0, first, last, "ws")

    for first, last in ((1, 3), (4, 4), (5, 9), (12, 12), (13, 15)):
        feed._on_trade(trade(first, last))
    assert len(added) == 5
    assert [p[3:5] for p in sql] == [[10, 11]]
    assert feed.last_trade_id["BTCUSDT"] == 15
