"""The streaming controller: runs every enabled venue feed into one storage writer.

It owns the batcher (records -> batches), the periodic jobs that do not belong to one venue
(book snapshots and depth bands at a fixed cadence, flush timer, message-rate ticks, retention)
and the read side the tools use (:class:`flowdesk.tools.context.LiveView`).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Any

from flowdesk.settings import Settings
from flowdesk.storage.retention import retention_statements
from flowdesk.storage.store import Store
from flowdesk.storage.writer import BatchWriter
from flowdesk.streaming.batcher import Batcher
from flowdesk.streaming.feeds.venue import VenueFeed
from flowdesk.streaming.venues.registry import protocol

log = logging.getLogger(__name__)
MAINTENANCE_EVERY_S = 3600.0


#: generation-0 threshold while collecting (Python's default is 700)
GC_GEN0_THRESHOLD = 50_000


def tune_gc() -> None:
    """Keep the cyclic garbage collector off the hot path.

    Frames make short-lived tuples and lists freed by reference counting; the cyclic collector
    would still walk every tracked object each time it runs a full pass, and a server process
    holds a few hundred thousand of them from its imports (DuckDB, Arrow, MCP). Freezing what
    exists at start moves it out of the collector's way, and a higher generation-0 threshold
    makes collections rare. Measured on the ingest benchmark: about 2x frames/s.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


class Controller:
    """Start with :meth:`run`; stop by setting the ``stop`` event passed to it."""

    def __init__(self, settings: Settings, store: Store, writer: BatchWriter, retention: bool = True) -> None:
        self.settings = settings
        self.retention = retention
        self.store = store
        self.writer = writer
        self.batcher = Batcher(writer, settings.writer_batch_rows)
        self.feeds = [
            VenueFeed(protocol(v.name), v, settings, self.batcher, writer.execute) for v in settings.enabled_venues()
        ]
        self._seed_trade_ids()

    def _seed_trade_ids(self) -> None:
        """Continue trade-id gap detection from what is stored, so a restart backfills too."""
        cur = self.store.connection.cursor()
        for feed in self.feeds:
            rows = cur.execute(
                "SELECT symbol, max(trade_id) FROM trades WHERE exchange = ? AND market = ? "
                "AND source = 'ws' GROUP BY symbol",
                [feed.exchange, feed.market],
            ).fetchall()
            feed.last_trade_id.update({sym: int(mx) for sym, mx in rows if sym in feed.venue.symbols})
        cur.close()

    async def run(self, stop: asyncio.Event) -> None:
        tune_gc()
        jobs = [
            asyncio.ensure_future(self._every(stop, self.settings.writer_flush_interval_s, self.batcher.flush)),
            asyncio.ensure_future(self._every(stop, self.settings.book_snapshot_interval_s, self._snapshot_books)),
            asyncio.ensure_future(self._every(stop, 1.0, self._tick_rates)),
        ]
        if self.retention:
            jobs.append(asyncio.ensure_future(self._every(stop, MAINTENANCE_EVERY_S, self._maintain)))
        try:
            await asyncio.gather(*(feed.run(stop) for feed in self.feeds))
        finally:
            for job in jobs:
                job.cancel()
            await asyncio.gather(*jobs, return_exceptions=True)
            self.batcher.flush()

    async def _every(self, stop: asyncio.Event, period_s: float, fn: Any) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=period_s)
                return  # stopping: the caller does the final flush
            except TimeoutError:
                pass
            try:
                fn()
            except Exception as exc:  # a failing periodic job must not stop the collector
                log.exception("periodic job %s failed", getattr(fn, "__name__", fn))
                for feed in self.feeds:
                    feed.health.error(f"{getattr(fn, '__name__', fn)}: {exc}")

    def _snapshot_books(self) -> None:
        now_ns = time.time_ns()
        for feed in self.feeds:
            self.batcher.extend(
                feed.snapshot_rows(now_ns, self.settings.book_snapshot_levels, self.settings.depth_band_pcts)
            )

    def _tick_rates(self) -> None:
        now = time.time_ns()
        for feed in self.feeds:
            feed.health.tick_rate(now)

    def _maintain(self) -> None:
        """Retention then CHECKPOINT, queued on the writer so they never race a write batch."""
        for sql, params in retention_statements(self.settings.retention_days):
            self.writer.execute(sql, params)
        self.writer.execute("CHECKPOINT")

    # ---- LiveView --------------------------------------------------------------------------

    def feed_for(self, exchange: str, market: str) -> VenueFeed | None:
        for feed in self.feeds:
            if feed.exchange == exchange and feed.market == market:
                return feed
        return None

    def reconnect(self, venue: str) -> bool:
        """Close ``venue``'s socket so it reconnects (and backfills); False if it was not open."""
        for feed in self.feeds:
            if feed.venue.name == venue:
                return feed.reconnect()
        raise KeyError(f"no feed for venue {venue!r}")

    def resync_book(self, exchange: str, market: str, symbol: str) -> None:
        """Drop a live book and resync it from a fresh snapshot."""
        feed = self.feed_for(exchange, market)
        if feed is None or symbol not in feed.books:
            raise KeyError(f"no live book for {exchange}_{market} {symbol}")
        feed.resync(symbol)

    def feed_status(self) -> list[dict[str, Any]]:
        now = time.time_ns()
        wstats = self.writer.stats()
        out = []
        for feed in self.feeds:
            d = feed.health.as_dict(now)
            d["exchange"], d["market"], d["symbols"] = feed.exchange, feed.market, list(feed.venue.symbols)
            d["streams"] = list(feed.venue.streams)
            d["unavailable"] = dict(feed.unavailable)
            d["books"] = {s: feed.book_state(s, now) for s in feed.books}
            d["writer"] = {
                "rows_written": wstats.get("rows_written", {}),
                "queue_depth": wstats.get("queue_depth"),
                "queue_capacity": wstats.get("queue_capacity"),
                "errors": wstats.get("errors"),
                "last_error": wstats.get("last_error"),
                "pending_rows": self.batcher.count,
            }
            out.append(d)
        return out

    def latest(self, exchange: str, market: str, symbol: str, kind: str) -> tuple | None:
        feed = self.feed_for(exchange, market)
        return None if feed is None else feed.latest_record(symbol, kind)

    def book_top(self, exchange: str, market: str, symbol: str, depth: int) -> dict[str, Any] | None:
        feed = self.feed_for(exchange, market)
        if feed is None or symbol not in feed.books:
            return None
        sb = feed.books[symbol]
        state = feed.book_state(symbol, time.time_ns()) or {}
        if not sb.synced:
            return {**state, "bids": [], "asks": []}
        bids, asks = sb.book.top(depth)
        return {**state, "bids": bids, "asks": asks}
