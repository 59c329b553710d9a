"""The generic venue feed: one WebSocket connection for all configured symbols of one market.

Everything venue-specific comes from the venue module's :class:`VenueProtocol` (where to
connect, what to send, the book rule, REST polls, backfill, heartbeat, handshake); this module
wires it to the shared machinery: the reconnecting socket, the sequenced books, the batcher,
REST polling and trade backfill. Binance USD-M is one protocol among nine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from flowdesk import records as r
from flowdesk.settings import Settings, VenueSettings
from flowdesk.streaming.batcher import Batcher
from flowdesk.streaming.book import SequencedBook, StreamBook, make_book
from flowdesk.streaming.connection import run_connection
from flowdesk.streaming.health import FeedHealth
from flowdesk.streaming.ratelimit import WeightLimiter
from flowdesk.streaming.rest import RestClient, RestError
from flowdesk.streaming.venues.base import ParseError, UnknownMessage, VenueError
from flowdesk.streaming.venues.protocol import Instrument, RestCall, VenueProtocol, rest_path

log = logging.getLogger(__name__)

#: what a failed REST exchange raises: transport/HTTP, an unreadable answer, the venue's error body
REST_FAILURES = (RestError, ParseError, VenueError)

#: a longer gap than this is recorded as too large instead of being fetched
MAX_BACKFILL_TRADES = 200_000
#: instrument loads tried before connecting without them (retried in the background after)
INSTRUMENT_TRIES = 3


class VenueFeed:
    """Collects every configured stream of one venue market into the batcher."""

    def __init__(
        self, protocol: VenueProtocol, venue: VenueSettings, settings: Settings, batcher: Batcher, sql: Any
    ) -> None:
        self.protocol = protocol
        self.exchange, self.market = protocol.exchange, protocol.market
        self.venue = venue
        self.settings = settings
        self.batcher = batcher
        self.sql = sql  # callable(sql, params): ordered bookkeeping writes (trade_gaps, instruments)
        self.health = FeedHealth(venue.name)
        self.limiter = WeightLimiter(venue.max_weight_per_minute or protocol.max_weight_per_minute)
        self.rest = RestClient(
            venue.rest_url, self.limiter, protocol.request_weight, weight_header=protocol.weight_header
        )
        self.symbols = tuple(venue.symbols)
        self.venue_symbols = {s: protocol.to_venue(s) for s in self.symbols}
        collects_book = protocol.book != "none" and protocol.book_stream in (None, *venue.streams)
        self.books: dict[str, SequencedBook | StreamBook] = (
            {s: make_book(protocol.book) for s in self.symbols} if collects_book else {}
        )
        self.last_trade_id: dict[str, int] = {}
        #: record kind ("Quote", "Trade", ...) -> symbol -> the newest record seen live
        self.latest: dict[str, dict[str, tuple]] = {k.__name__: {} for k in r.STORED_TYPES}
        self._latest_trade = self.latest["Trade"]
        self.instruments: dict[str, Instrument] = {}
        self.tick_sizes: dict[str, float] = {}
        self._parse = protocol.make_parser({})
        self._snapshot_tasks: dict[str, asyncio.Task[None]] = {}
        self._ws: Any = None
        self._ping_s = protocol.ping_interval_s
        #: callables fed every parsed record (after the book is updated), e.g. the feature engine
        self.taps: list[Any] = []
        self._book_clock: dict[str, tuple[int, int]] = {}  # symbol -> (exchange ms, recv ns) of last book msg
        self._tasks: set[asyncio.Task[Any]] = set()
        self._handlers = {
            r.Trade: self._on_trade,
            r.Quote: self._keeper(r.Quote),
            r.MarkFunding: self._keeper(r.MarkFunding),
            r.OpenInterest: self._keeper(r.OpenInterest),
            r.Liquidation: self._keeper(r.Liquidation),
            r.Ticker24h: self._keeper(r.Ticker24h),
            r.Candle: self._on_candle,
            r.BookDelta: self._on_delta,
            r.BookSnapshot: self._on_ws_snapshot,
        }
        self._check_ids = protocol.contiguous_trade_ids
        self._id_range = protocol.trade_id_range
        backfill = protocol.trades_by_id
        self._backfill_call = backfill if backfill and (backfill.stream in (None, *venue.streams)) else None

    @property
    def unavailable(self) -> Mapping[str, str]:
        """Record kind -> why this venue has no public source for it."""
        return self.protocol.unavailable

    # ---- lifecycle -------------------------------------------------------------------------

    async def url(self) -> str:
        """The URL to open now (after the venue's handshake, if it has one)."""
        p = self.protocol
        if p.handshake is not None:
            try:
                hs = await p.handshake(self.rest)
            except REST_FAILURES as exc:
                raise ConnectionError(f"{self.venue.name} handshake failed: {exc}") from exc
            if hs.ping_interval_s:
                self._ping_s = hs.ping_interval_s
            return hs.url
        if p.url_for is not None:
            return p.url_for(self.venue)
        return p.ws_target(self.venue.ws_url, self.symbols, tuple(self.venue.streams))

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop``: instruments, the socket, REST polling, book resyncs, pings."""
        await self._load_instruments(stop)
        for call in self.protocol.polls:
            if call.stream is None or call.stream in self.venue.streams:
                self._spawn(self._poll(stop, call))
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
                headers=dict(self.protocol.ws_headers),
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
        for message in self.protocol.subscribe(self.symbols, tuple(self.venue.streams)):
            await ws.send(message)
        if self.protocol.ping is not None:
            self._spawn(self._pinger(ws))

    async def _pinger(self, ws: Any) -> None:
        """Send the venue's client ping every interval while this socket is the current one."""
        ping = self.protocol.ping
        assert ping is not None
        while self._ws is ws and self.health.connected:
            await asyncio.sleep(self._ping_s)
            if self._ws is not ws or not self.health.connected:
                return
            try:
                await ws.send(ping())
                self.health.pings_sent += 1
            except Exception as exc:  # the socket is closing; the connection loop reconnects
                self.health.error(f"ping failed: {exc}")
                return

    def reconnect(self) -> bool:
        """Close the current socket; the connection loop reconnects and resubscribes (and the
        trade-id gap, if any, is backfilled). Returns False when no socket is open."""
        ws = self._ws
        if ws is None or not self.health.connected:
            return False
        self._spawn(ws.close(code=1000, reason="reconnect requested"))
        return True

    def resync(self, symbol: str) -> None:
        """Drop the live book of ``symbol`` and sync it again from a fresh snapshot."""
        book = self.books[symbol]
        book.reset()
        self.health.book_resyncs += 1
        self._resync_book(symbol)

    def _on_close(self) -> None:
        """A dropped socket breaks every book chain: mark them stale and resync on reconnect."""
        self._ws = None
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
            recs = self._parse(raw, recv_ns)
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
        kind = type(rec)
        if kind is r.Candle:
            self._on_candle(rec)  # type: ignore[arg-type]
            return
        if kind is r.Trade:
            self.batcher.add(rec)
            return
        self.latest[kind.__name__][rec[2]] = rec
        self.batcher.add(rec)

    def _on_candle(self, rec: r.Candle) -> None:
        self.latest["Candle"][rec.symbol] = rec
        if rec.closed:
            self.batcher.add(rec)

    def _on_trade(self, t: r.Trade) -> None:
        if self._check_ids:
            first, last_id = (t.first_id, t.last_id) if self._id_range else (t.trade_id, t.trade_id)
            last = self.last_trade_id.get(t.symbol)
            if last is None or last_id > last:
                if last is not None and first > last + 1:
                    self._gap(t.symbol, last + 1, first - 1)
                self.last_trade_id[t.symbol] = last_id
        self._latest_trade[t.symbol] = t
        self.batcher.add(t)

    def _on_delta(self, d: r.BookDelta) -> None:
        book = self.books.get(d.symbol)
        if book is None:
            return
        self._book_clock[d.symbol] = (d.ts, d.recv_ns)
        outcome = book.on_delta(d)
        if outcome == "gap":
            self.health.book_resyncs += 1
            self._resync_book(d.symbol)
        elif outcome == "buffered" and book.needs_snapshot:
            self._request_snapshot(d.symbol)

    def _on_ws_snapshot(self, snap: r.BookSnapshot) -> None:
        book = self.books.get(snap.symbol)
        if book is None:
            return
        self._book_clock[snap.symbol] = (snap.ts, snap.recv_ns)
        book.on_snapshot(snap)

    # ---- book snapshots --------------------------------------------------------------------

    def _resync_book(self, symbol: str) -> None:
        """Get a fresh snapshot: over REST (rest_* rules), by resubscribing, else reconnect."""
        p = self.protocol
        if p.book.startswith("rest_"):
            self._request_snapshot(symbol)
        elif p.book == "ws_full":
            pass  # the next message is a full snapshot anyway
        elif p.resubscribe is not None and self._ws is not None:
            self._spawn(self._send_all(p.resubscribe(symbol, tuple(self.venue.streams))))
        else:
            self.reconnect()

    async def _send_all(self, messages: list[str]) -> None:
        ws = self._ws
        try:
            for message in messages:
                await ws.send(message)
        except Exception as exc:
            self.health.error(f"resubscribe failed: {exc}")

    def _request_snapshot(self, symbol: str) -> None:
        task = self._snapshot_tasks.get(symbol)
        if task is None or task.done():
            self._snapshot_tasks[symbol] = asyncio.ensure_future(self._sync_book(symbol))

    async def _sync_book(self, symbol: str) -> None:
        """Fetch REST snapshots until the book is synced (one that a buffered diff straddles)."""
        call = self.protocol.snapshot
        assert call is not None
        book = self.books[symbol]
        delay = 0.05
        while not book.synced:
            await asyncio.sleep(delay)  # let a few diffs buffer first, as the venues advise
            try:
                snap = await self._fetch_snapshot(call, symbol)
            except REST_FAILURES as exc:
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

    async def _fetch_snapshot(self, call: RestCall, symbol: str) -> r.BookSnapshot:
        params = call.params(self.venue_symbols[symbol])
        if "limit" in params and self.venue.snapshot_limit is not None:
            params["limit"] = self.venue.snapshot_limit  # the setting overrides the venue's depth
        payload = await self.rest.request(call.method, self._path(call.path, symbol), params)
        recs = call.parse(payload, symbol, time.time_ns(), self.instruments)
        if len(recs) != 1 or not isinstance(recs[0], r.BookSnapshot):
            raise ParseError(f"{call.path}: expected one book snapshot")
        return recs[0]

    # ---- trade backfill --------------------------------------------------------------------

    def _gap(self, symbol: str, lo: int, hi: int) -> None:
        self.health.gaps_detected += 1
        if self.venue.backfill_trades and self._backfill_call is not None:
            self._spawn(self._backfill(symbol, lo, hi))
            return
        why = (
            "collector backfill disabled (venues.<name>.backfill_trades: false)"
            if self._backfill_call is not None
            else f"{self.venue.name} offers no trades-by-id endpoint for the collected trade stream"
        )
        key = (self.exchange, self.market, symbol, lo, hi)
        self.sql("INSERT INTO trade_gaps VALUES (?, ?, ?, ?, ?, now()::TIMESTAMP, NULL, 0, 'open', ?)", [*key, why])

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
        except REST_FAILURES as exc:
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
        call = self._backfill_call
        assert call is not None
        params = call.params(self.venue_symbols[symbol], from_id, call.limit)
        payload = await self.rest.get(self._path(call.path, symbol), params)
        return call.parse(payload, symbol, time.time_ns(), self.instruments)  # type: ignore[return-value]

    def _close_gap(self, key: tuple, fetched: int, status: str, detail: str | None) -> None:
        self.sql(
            "UPDATE trade_gaps SET filled_ts = now()::TIMESTAMP, filled_count = ?, status = ?, detail = ? "
            "WHERE exchange = ? AND market = ? AND symbol = ? AND from_id = ? AND to_id = ?",
            [fetched, status, detail, *key],
        )

    # ---- REST polling ----------------------------------------------------------------------

    async def _poll(self, stop: asyncio.Event, call: RestCall) -> None:
        """Poll ``call`` for every symbol on its interval (what the socket lacks)."""
        every_s = getattr(self.venue, call.every)
        while not stop.is_set():
            for symbol in self.symbols:
                try:
                    path = self._path(call.path, symbol)
                    payload = await self.rest.request(call.method, path, call.params(self.venue_symbols[symbol]))
                    recs = call.parse(payload, symbol, time.time_ns(), self.instruments)
                except REST_FAILURES as exc:
                    self.health.error(f"{call.method} {call.path} {symbol}: {exc}")
                    continue
                for rec in recs:
                    self._on_latest(rec)
            self.health.rest_rate_limited = self.rest.rate_limited
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every_s)

    def _path(self, path: str, symbol: str) -> str:
        """A REST path with ``{symbol}`` replaced by the venue's spelling of ``symbol``."""
        return rest_path(path, self.venue_symbols[symbol])

    async def _load_instruments(self, stop: asyncio.Event) -> None:
        """Tick sizes and contract sizes before connecting (contract venues need them to turn
        contracts into base units); after a few failures, go on and retry in the background."""
        if self.protocol.instruments is None:
            return
        for attempt in range(INSTRUMENT_TRIES):
            if await self._try_instruments() or stop.is_set():
                return
            await asyncio.sleep(0.5 * 2**attempt)
        self._spawn(self._retry_instruments(stop))

    async def _retry_instruments(self, stop: asyncio.Event) -> None:
        delay = 5.0
        while not stop.is_set() and not await self._try_instruments():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, 300.0)

    async def _try_instruments(self) -> bool:
        """Load the instruments endpoint into :attr:`instruments` and the ``instruments`` table;
        rebuild the parser with them. False (and a health error) on failure."""
        method, path, params, parse = self.protocol.instruments  # type: ignore[misc]
        try:
            infos = parse(await self.rest.request(method, path, dict(params)))
        except REST_FAILURES as exc:
            self.health.error(f"instruments {path}: {exc}")
            return False
        for symbol in self.symbols:
            info = infos.get(symbol)
            if info is None:
                self.health.error(f"instruments list has no symbol {symbol} ({self.venue_symbols[symbol]})")
                continue
            self.instruments[symbol] = info
            self.tick_sizes[symbol] = info.tick_size
            self.sql(
                "INSERT OR REPLACE INTO instruments VALUES (?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP)",
                [self.exchange, self.market, symbol, info.venue_symbol, info.tick_size, info.step_size, info.status],
            )
        self._parse = self.protocol.make_parser(dict(self.instruments))
        return True

    # ---- the read side ---------------------------------------------------------------------

    def exchange_clock_ms(self, symbol: str, now_ns: int) -> int:
        """The venue's clock now, estimated from the last book message's event time plus the
        local time elapsed since it arrived (equals the wall clock live; follows a replay)."""
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
        age = sb.age_ms(now_ns)
        return {
            "synced": sb.synced,
            "stale": sb.stale,
            "resyncs": sb.resyncs,
            "age_s": None if age is None else round(age / 1000, 3),
            "last_update_id": sb.book.last_update_id if sb.synced else None,
        }
