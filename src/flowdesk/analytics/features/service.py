"""The ``flowdesk serve`` hook: live features from the feed taps, stored in batches.

:func:`service` returns None when ``features.enabled`` is false or no collector runs. Else its
run function:

1. adds a tap to every feed that, until warm-up is done, only buffers records;
2. flushes the collector's batcher and the writer, then replays the newest stored
   ``features.warmup_s`` of every instrument through a fresh engine on a worker thread
   (:func:`.history.replay`: the same code as history), so windows, CVD, funding z-score and
   VPIN continue across restarts; boundaries already stored are not emitted again;
3. feeds the buffered records the replay had not seen (receive time after the newest
   replayed one), then routes every record straight to its engine (the hot path);
4. every ``cadence_s`` hands the rows the engines emitted to the BatchWriter as one bulk
   statement (:func:`.store.insert_statement`: six column lists unnested by DuckDB, applied on
   the writer thread in order with the collector's batches; never one statement per row),
   from a worker thread so the event loop never waits on a full writer queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from flowdesk.analytics.features.book import BookSample, near, scan
from flowdesk.analytics.features.engine import EngineParams, FeatureRow, SymbolEngine
from flowdesk.analytics.features.history import replay
from flowdesk.analytics.features.store import insert_statement, newest_data_ms, newest_feature_ms
from flowdesk.analytics.orderflow.common import MarketKey
from flowdesk.settings import Settings

log = logging.getLogger(__name__)

ServiceFn = Callable[[asyncio.Event], Awaitable[None]]
POLLED_KINDS = ("OpenInterest", "Ticker24h", "MarkFunding")
#: the running services of this process (the tools read their status)
RUNNING: list[FeatureService] = []


def engine_params(settings: Settings, streams: tuple[str, ...] | None = None) -> EngineParams:
    """Engine parameters from settings; ``streams`` are the venue's collected streams
    (liquidation features only exist when ``forceOrder`` is one of them)."""
    f = settings.features
    return EngineParams(
        cadence_ms=int(round(f.cadence_s * 1000)),
        vpin_buckets_per_day=f.vpin_buckets_per_day,
        vpin_window=f.vpin_window,
        liquidations=streams is None or "forceOrder" in streams,
        book_max_age_ms=int(max(5.0, 3 * settings.book_snapshot_interval_s) * 1000),
    )


class LiveBook:
    """Book samples from a feed's in-memory book (top-N levels and the depth bands), taken
    in one vectorised pass (:func:`.book.scan`) whose arrays also give the near-touch levels."""

    def __init__(self, feed: Any, symbol: str, levels: int) -> None:
        self.feed, self.symbol, self.n = feed, symbol, levels
        self._arrays: tuple[Any, ...] | None = None

    def sample(self, t: int) -> BookSample | None:
        self._arrays = None
        sb = self.feed.books.get(self.symbol)
        if sb is None or not sb.synced:
            return None
        found = scan(sb.book.bids, sb.book.asks, t, self.n)
        if found is None:
            return None
        sample, self._arrays = found
        return sample

    def near(self, mid: float, pct: float) -> tuple[dict[float, float], dict[float, float]] | None:
        """The levels within ``pct`` percent of ``mid`` of the last sample (add/cancel)."""
        return None if self._arrays is None else near(self._arrays, mid, pct)


def _poller(feed: Any, symbol: str) -> Callable[[SymbolEngine], None]:
    """Feeds the engine the newest REST-polled records (open interest, ticker, premium
    index) at each boundary; they never pass through the taps."""
    seen: dict[str, Any] = {}

    def poll(engine: SymbolEngine) -> None:
        for kind in POLLED_KINDS:
            rec = feed.latest_record(symbol, kind)
            if rec is not None and rec is not seen.get(kind):
                seen[kind] = rec
                engine.on_record(rec)

    return poll


class FeatureService:
    """Engines for every (feed, symbol) of a running controller."""

    def __init__(self, settings: Settings, controller: Any) -> None:
        self.settings = settings
        self.controller = controller
        self.engines: dict[tuple[int, str], SymbolEngine] = {}
        self.buffers: dict[int, list[Any]] = {}
        self.taps: dict[int, Callable[[Any], None]] = {}
        self.written = 0
        self.batches = 0
        self.warmup: dict[str, Any] = {}
        self.started = time.time()

    # -- taps ------------------------------------------------------------------------------

    def attach(self) -> None:
        """Add a buffering tap to every feed (synchronous: no record is missed)."""
        for i, feed in enumerate(self.controller.feeds):
            buffer: list[Any] = []
            self.buffers[i] = buffer
            feed.taps.append(buffer.append)

    def _go_live(self, i: int, feed: Any, horizon_us: int | None) -> None:
        """Drain the buffer (records the replay had not seen), then route straight to engines."""
        engines = {sym: e for (j, sym), e in self.engines.items() if j == i}
        buffer = self.buffers.pop(i)
        for rec in buffer:
            engine = engines.get(rec[2])
            if engine is not None and (horizon_us is None or rec.recv_ns // 1000 > horizon_us):
                engine.handlers[type(rec)](rec)

        def tap(rec: Any) -> None:
            engine = engines.get(rec[2])
            if engine is not None:
                engine.handlers[type(rec)](rec)

        feed.taps[feed.taps.index(buffer.append)] = tap
        self.taps[i] = tap

    def detach(self) -> None:
        """Remove this service's taps (live or still buffering) from every feed."""
        for i, feed in enumerate(self.controller.feeds):
            buffer = self.buffers.get(i)
            for tap in (self.taps.get(i), None if buffer is None else buffer.append):
                if tap is not None and tap in feed.taps:
                    feed.taps.remove(tap)

    # -- warm-up ---------------------------------------------------------------------------

    async def warm_up(self) -> None:
        """Replay stored history into fresh engines, then switch every feed to live."""
        self.controller.batcher.flush()
        await asyncio.to_thread(self.controller.writer.flush, 60)
        horizons = await asyncio.to_thread(self._replay_all)
        for i, feed in enumerate(self.controller.feeds):
            self._go_live(i, feed, horizons.get(i))

    def _replay_all(self) -> dict[int, int | None]:
        cur = self.controller.store.connection.cursor()
        horizons: dict[int, int | None] = {}
        started = time.perf_counter()
        try:
            for i, feed in enumerate(self.controller.feeds):
                for symbol in feed.venue.symbols:
                    key = MarketKey(feed.exchange, feed.market, symbol)
                    engine, newest = self._warm(cur, key, feed)
                    self.engines[(i, symbol)] = engine
                    if newest is not None:
                        horizons[i] = max(horizons.get(i) or newest, newest)
        finally:
            cur.close()
        self.warmup = {"seconds": round(time.perf_counter() - started, 3), "horizon_us": horizons}
        return horizons

    def _warm(self, cur: Any, key: MarketKey, feed: Any) -> tuple[SymbolEngine, int | None]:
        params = engine_params(self.settings, feed.venue.streams)
        newest = newest_data_ms(cur, key)
        if newest is None:
            engine, replayed = SymbolEngine(key.exchange, key.market, key.symbol, params), None
        else:
            t0 = newest - int(self.settings.features.warmup_s * 1000)
            stored = newest_feature_ms(cur, key)
            emit_from = t0 if stored is None else max(t0, stored + 1)
            engine, replayed = replay(cur, key, t0, None, params, emit_from)
        engine.book = LiveBook(feed, key.symbol, self.settings.book_snapshot_levels)
        engine.poll = _poller(feed, key.symbol)
        return engine, replayed

    # -- output ----------------------------------------------------------------------------

    def take_rows(self) -> list[FeatureRow]:
        rows: list[FeatureRow] = []
        for engine in self.engines.values():
            if engine.rows:
                rows.extend(engine.rows)
                engine.rows = []
        return rows

    async def flush(self) -> None:
        rows = self.take_rows()
        if rows:
            sql, params = insert_statement(rows)
            await asyncio.to_thread(self.controller.writer.execute, sql, params)
            self.written += len(rows)
            self.batches += 1

    def status(self) -> dict[str, Any]:
        """Engine counters per instrument, rows handed to the writer, warm-up time."""
        return {
            "running_s": round(time.time() - self.started, 1),
            "rows_written": self.written,
            "batches": self.batches,
            "warmup": self.warmup,
            "live": not self.buffers,
            "engines": {
                f"{e.key[0]}_{e.key[1]}:{e.key[2]}": {**e.stats, "boundary_s": round(e.stats["boundary_s"], 3),
                                                    "last_boundary_ms": e.latest_ts}
                for e in list(self.engines.values())
            },
        }


def service(settings: Settings, live: Any) -> ServiceFn | None:
    """The background run function, or None when disabled or no collector runs."""
    if not settings.features.enabled or live is None or not getattr(live, "feeds", None):
        return None

    async def run(stop: asyncio.Event) -> None:
        svc = FeatureService(settings, live)
        svc.attach()  # before the first await: the feeds have not read a frame yet
        RUNNING.append(svc)
        try:
            await svc.warm_up()
            log.info("feature engine live for %d instrument(s), warm-up %s", len(svc.engines), svc.warmup)
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=max(settings.features.cadence_s, 0.5))
                await svc.flush()
        finally:
            svc.detach()
            await svc.flush()
            RUNNING.remove(svc)

    return run
