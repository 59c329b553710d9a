"""The Binance USD-M futures feed: one combined-stream connection for all configured symbols.

Wires the pure parsers of :mod:`flowdesk.streaming.venues.binance_usdm` to the shared
machinery: the reconnecting socket, the sequenced books, the batcher, REST polling and trade
backfill. Book sync follows Binance's documented procedure (see ``SequencedBook``); a trade-id
jump (e.g. after a reconnect) is backfilled over REST by id so that no id is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from flowdesk import records as r
from flowdesk.settings import Settings, VenueSettings
from flowdesk.streaming.batcher import Batcher
from flowdesk.streaming.book import SequencedBook
from flowdesk.streaming.connection import run_connection
from flowdesk.streaming.health import FeedHealth
from flowdesk.streaming.ratelimit import WeightLimiter
from flowdesk.streaming.rest import RestClient, RestError
from flowdesk.streaming.venues import binance_usdm as bn
from flowdesk.streaming.venues.base import ParseError, UnknownMessage

log = logging.getLogger(__name__)

#: a longer gap than this is recorded as too large instead of being fetched
MAX_BACKFILL_TRADES = 200_000


class BinanceUsdmFeed:
    """Collects every configured stream of Binance USD-M futures into the batcher."""

    exchange = bn.EXCHANGE
    market = bn.MARKET

    def __init__(self, venue: VenueSettings, settings: Settings, batcher: Batcher, sql: Any) -> None:
        self.venue = venue
        self.settings = settings
        self.batcher = batcher
        self.sql = sql  # callable(sql, params): ordered bookkeeping writes (trade_gaps, instruments)
        self.health = FeedHealth(venue.name)
        self.limiter = WeightLimiter(venue.max_weight_per_minute)
        self.rest = RestClient(venue.rest_url, self.limiter, bn.request_weight)
        self.books = {s: SequencedBook() for s in venue.symbols} if "depth" in venue.streams else {}
        self.last_trade_id: dict[str, int] = {}
        #: record kind ("Quote", "Trade", ...) -> symbol -> the newest record seen live
        self.latest: dict[str, dict[str, tuple]] = {k.__name__: {} for k in r.STORED_TYPES}
        self._latest_trade = self.latest["Trade"]
        self.tick_sizes: dict[str, float] = {}
        self._snapshot_tasks: dict[str, asyncio.Task[None]] = {}
        self._ws: Any = None
        #: callables fed every parsed record (after the book is updated), e.g. the feature engine
        self.taps: list[Any] = []
        self._book_clock: dict[str, tuple[int, int]] = {}  # symbol -> (exchange ms, recv ns) of last diff
        self._tasks: set[asyncio.Task[Any]] = set()
        self._trade_path = "/fapi/v1/aggTrades" if "aggTrade" in venue.streams else "/fapi/v1/historicalTrades"
        self._handlers = {
            r.Trade: self._on_trade,
            r.Quote: self._keeper(r.Quote),
            r.MarkFunding: self._keeper(r.MarkFunding),
            r.Liquidation: self._keeper(r.Liquidation),
            r.Ticker24h: self._keeper(r.Ticker24h),
            r.Candle: self._on_candle,
            r.BookDelta: self._on_delta,
        }

    # ---- lifecycle -------------------------------------------------------------------------

    def url(self) -> str:
        names = bn.stream_names(self.venue.symbols, self.venue.streams, self.venue.depth_speed_ms)
        return bn.ws_url(self.venue.ws_url, names)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop``: the socket, REST polling, and book resyncs."""
        self._spawn(self._load_instruments())
        self._spawn(self._poll(stop, "/fapi/v1/openInterest", self.venue.open_interest_poll_s, bn.parse_open_interest))
        self._spawn(self._poll(stop, "/fapi/v1/ticker/24hr", self.venue.ticker_poll_s, bn.parse_ticker_24h))
        self._spawn(self._poll(stop, "/fapi/v1/premiumIndex", self.venue.ticker_poll_s, bn.parse_premium_index))
        try:
            await run_connection(
                self.url,
                self.on_frame,
                self.health,
                stop,
                on_open=self._on_open,
                on_close=self._on_close,
                initial_s=self.settings.reconnect_initial_s,
                max_s=self.settings.reconnect_max_s,
            )
        finally:
            for task in list(self._tasks) + list(self._snapshot_tasks.values()):
                task.cancel()
            await asyncio.gather(*self._tasks, *self._snapshot_tasks.values(), return_exceptions=True)
            await self.rest.aclose()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _on_open(self, ws: Any) -> None:
        self._ws = ws
        for symbol in self.books:
            self._request_snapshot(symbol)

    def reconnect(self) -> bool:
        """Close the current socket; the connection loop reconnects and resubscribes (and the
        trade-id gap, if any, is backfilled). Returns False when no socket is open."""
        ws = self._ws
        if ws is None or not self.health.connected:
            return False
        self._spawn(ws.close(code=1000, reason="reconnect requested"))
        return True

    def resync(self, symbol: str) -> None:
        """Drop the live book of ``symbol`` and sync it again from a fresh REST snapshot."""
        book = self.books[symbol]
        book.reset()
        self.health.book_resyncs += 1
        self._request_snapshot(symbol)

    def _on_close(self) -> None:
        """A dropped socket breaks every book chain: mark them stale and resync on reconnect."""
        for symbol, book in self.books.items():
            if book.synced:
                book.reset()
                self.health.book_resyncs += 1
            task = self._snapshot_tasks.pop(symbol, None)
            if task is not None:
                task.cancel()

    # ---- the hot path ----------------------------------------------------------------------

    def on_frame(self, raw: str | bytes, recv_ns: int) -> None:
        """Parse one frame and route its records. Malformed and unknown frames are counted."""
        try:
            recs = bn.parse_message(raw, recv_ns)
        except UnknownMessage:
            self.health.unknown += 1
            return
        except ParseError as exc:
            self.health.malformed += 1
            self.health.error(f"malformed frame: {exc}")
            return
        handlers = self._handlers
        for rec in recs:
            handlers[type(rec)](rec)
        if self.taps:
            for tap in self.taps:
                for rec in recs:
                    tap(rec)

    def latest_record(self, symbol: str, kind: str) -> tuple | None:
        """The newest record of ``kind`` (a record class name) seen live for ``symbol``."""
        return self.latest.get(kind, {}).get(symbol)

    def _keeper(self, kind: type) -> Any:
        """A handler that keeps the newest record per symbol and batches it (hot path: no
        per-record key building)."""
        latest = self.latest[kind.__name__]
        add = self.batcher.add

        def keep(rec: tuple) -> None:
            latest[rec[2]] = rec
            add(rec)

        return keep

    def _on_latest(self, rec: tuple) -> None:
        self.latest[type(rec).__name__][rec[2]] = rec
        self.batcher.add(rec)

    def _on_candle(self, rec: r.Candle) -> None:
        self.latest["Candle"][rec.symbol] = rec
        if rec.closed:
            self.batcher.add(rec)

    def _on_trade(self, t: r.Trade) -> None:
        last = self.last_trade_id.get(t.symbol)
        if last is None or t.trade_id > last:
            if last is not None and t.trade_id > last + 1:
                self._gap(t.symbol, last + 1, t.trade_id - 1)
            self.last_trade_id[t.symbol] = t.trade_id
        self._latest_trade[t.symbol] = t
        self.batcher.add(t)

    def _on_delta(self, d: r.BookDelta) -> None:
        book = self.books.get(d.symbol)
        if book is None:
            return
        self._book_clock[d.symbol] = (d.ts, d.recv_ns)
        if book.on_delta(d) == "gap":
            self.health.book_resyncs += 1
            self._request_snapshot(d.symbol)

    # ---- book snapshots --------------------------------------------------------------------

    def _request_snapshot(self, symbol: str) -> None:
        task = self._snapshot_tasks.get(symbol)
        if task is None or task.done():
            self._snapshot_tasks[symbol] = asyncio.ensure_future(self._sync_book(symbol))

    async def _sync_book(self, symbol: str) -> None:
        """Fetch snapshots until the book is synced (Binance: one that a buffered diff straddles)."""
        book = self.books[symbol]
        delay = 0.05
        while not book.synced:
            await asyncio.sleep(delay)  # let a few diffs buffer first, as Binance advises
            try:
                payload = await self.rest.get("/fapi/v1/depth", {"symbol": symbol, "limit": self.venue.snapshot_limit})
                snap = bn.parse_depth_snapshot(payload, symbol, time.time_ns())
            except (RestError, ParseError) as exc:
                self.health.error(f"depth snapshot {symbol}: {exc}")
                delay = min(delay * 2, 5.0)
                continue
            outcome = book.on_snapshot(snap)
            while outcome == "waiting" and not book.synced:
                await asyncio.sleep(0.05)
                if book.needs_snapshot:
                    break
            delay = min(delay * 2, 2.0)
        self.health.rest_rate_limited = self.rest.rate_limited

    # ---- trade backfill --------------------------------------------------------------------

    def _gap(self, symbol: str, lo: int, hi: int) -> None:
        self.health.gaps_detected += 1
        if self.venue.backfill_trades:
            self._spawn(self._backfill(symbol, lo, hi))
        else:  # left for the data-ops workflows (fill_gaps) or an operator
            key = (self.exchange, self.market, symbol, lo, hi)
            self.sql(
                "INSERT INTO trade_gaps VALUES (?, ?, ?, ?, ?, now()::TIMESTAMP, NULL, 0, 'open', ?)",
                [*key, "collector backfill disabled (venues.<name>.backfill_trades: false)"],
            )

    async def _backfill(self, symbol: str, lo: int, hi: int) -> None:
        """Fetch trade ids lo..hi over REST by id and store them; record the gap and its outcome."""
        key = (self.exchange, self.market, symbol, lo, hi)
        self.sql(
            "INSERT INTO trade_gaps VALUES (?, ?, ?, ?, ?, now()::TIMESTAMP, NULL, NULL, 'open', NULL)",
            [*key],
        )
        if hi - lo + 1 > MAX_BACKFILL_TRADES:
            self._close_gap(key, 0, "too_large", f"{hi - lo + 1} trades exceed the backfill cap")
            return
        fetched, cursor = 0, lo
        try:
            while cursor <= hi:
                trades = await self._fetch_trades(symbol, cursor)
                wanted = [t for t in trades if lo <= t.trade_id <= hi]
                if not wanted:
                    break
                self.batcher.extend(wanted)
                fetched += len(wanted)
                cursor = wanted[-1].trade_id + 1
        except (RestError, ParseError) as exc:
            self.health.error(f"backfill {symbol} {lo}..{hi}: {exc}")
            self._close_gap(key, fetched, "failed", str(exc)[:200])
            return
        self.batcher.flush()
        self.health.trades_backfilled += fetched
        complete = fetched == hi - lo + 1
        if complete:
            self.health.gaps_backfilled += 1
        self._close_gap(key, fetched, "filled" if complete else "partial", None)

    async def _fetch_trades(self, symbol: str, from_id: int) -> list[r.Trade]:
        payload = await self.rest.get(self._trade_path, {"symbol": symbol, "fromId": from_id, "limit": 1000})
        parse = bn.parse_agg_trades if self._trade_path.endswith("aggTrades") else bn.parse_historical_trades
        return parse(payload, symbol, time.time_ns())

    def _close_gap(self, key: tuple, fetched: int, status: str, detail: str | None) -> None:
        self.sql(
            "UPDATE trade_gaps SET filled_ts = now()::TIMESTAMP, filled_count = ?, status = ?, detail = ? "
            "WHERE exchange = ? AND market = ? AND symbol = ? AND from_id = ? AND to_id = ?",
            [fetched, status, detail, *key],
        )

    # ---- REST polling ----------------------------------------------------------------------

    async def _poll(self, stop: asyncio.Event, path: str, every_s: float, parse: Any) -> None:
        """Poll ``path`` for every symbol every ``every_s`` seconds (what the socket lacks)."""
        while not stop.is_set():
            for symbol in self.venue.symbols:
                try:
                    rec = parse(await self.rest.get(path, {"symbol": symbol}), time.time_ns())
                except (RestError, ParseError) as exc:
                    self.health.error(f"GET {path} {symbol}: {exc}")
                    continue
                self._on_latest(rec)
            self.health.rest_rate_limited = self.rest.rate_limited
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every_s)

    async def _load_instruments(self) -> None:
        """Tick sizes from exchangeInfo into the ``instruments`` table (analytics bin by tick)."""
        try:
            infos = bn.parse_exchange_info(await self.rest.get("/fapi/v1/exchangeInfo", {}))
        except (RestError, ParseError) as exc:
            self.health.error(f"exchangeInfo: {exc}")
            return
        for symbol in self.venue.symbols:
            info = infos.get(symbol)
            if info is None:
                self.health.error(f"exchangeInfo has no symbol {symbol}")
                continue
            self.tick_sizes[symbol] = info.tick_size
            self.sql(
                "INSERT OR REPLACE INTO instruments VALUES (?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP)",
                [self.exchange, self.market, symbol, symbol, info.tick_size, info.step_size, info.status],
            )

    # ---- the read side ---------------------------------------------------------------------

    def exchange_clock_ms(self, symbol: str, now_ns: int) -> int:
        """The venue's clock now, estimated from the last diff's event time plus the local time
        elapsed since it arrived (equals the wall clock live; follows the capture in replay)."""
        ts, recv_ns = self._book_clock.get(symbol, (now_ns // 1_000_000, now_ns))
        return ts + (now_ns - recv_ns) // 1_000_000

    def snapshot_rows(self, now_ns: int, levels: int, band_pcts: tuple[float, ...]) -> list[tuple]:
        """Top-N levels and depth bands of every synced book, stamped with the venue's clock."""
        rows: list[tuple] = []
        for symbol, sb in self.books.items():
            if not sb.synced:
                continue
            now_ms = self.exchange_clock_ms(symbol, now_ns)
            book = sb.book
            bids, asks = book.top(levels)
            uid = book.last_update_id
            for side, lv in (("bid", bids), ("ask", asks)):
                for i, (price, qty) in enumerate(lv):
                    rows.append(r.BookLevel(self.exchange, self.market, symbol, now_ms, uid, side, i, price, qty))
            mid = book.mid()
            if mid is None:
                continue
            for pct in band_pcts:
                band = book.depth_within(pct)
                if band is not None:
                    rows.append(r.DepthBand(self.exchange, self.market, symbol, now_ms, mid, pct, *band))
        return rows

    def book_state(self, symbol: str, now_ns: int) -> dict[str, Any] | None:
        sb = self.books.get(symbol)
        if sb is None:
            return None
        return {
            "synced": sb.synced,
            "stale": sb.stale,
            "resyncs": sb.resyncs,
            "age_s": None if sb.age_ms(now_ns) is None else round(sb.age_ms(now_ns) / 1000, 3),
            "last_update_id": sb.book.last_update_id if sb.synced else None,
        }
