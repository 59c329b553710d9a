"""The server that runs one venue's :class:`VenueSim` over a seeded synthetic market.

The market is the Binance simulator's :class:`SyntheticSource` (same seed, same path), turned
into *neutral events* (:mod:`flowdesk.records` with the flowdesk symbol, see ``venue_api``):
its frames are parsed back with the Binance USD-M parser, book diffs are applied to a neutral
book and re-numbered ``n = 1, 2, ...`` per symbol, trade ids count from 1, and once a second
(with the mark price) the server adds open interest and a rolling 24h ticker. The VenueSim
renders each event in its venue's wire format; this module does the rest: WebSocket (one port)
and REST (a second port: the venues' POST endpoints need a plain HTTP server), subscriptions,
pacing on the source clock, batching writes, idle timeouts and fault injection
(``close_after_frames``, ``skip_depth_at``, ``malformed_at_frame``, ``rest_429_count``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from flowdesk import records as r
from flowdesk.streaming.book import OrderBook
from flowdesk.streaming.simulator.config import (
    SYNTHETIC_EPOCH_MS,
    FaultConfig,
    SymbolSpec,
    spec_for,
)
from flowdesk.streaming.simulator.faults import FaultState
from flowdesk.streaming.simulator.frames import DEPTH, MARK, SNAPSHOT, Frame
from flowdesk.streaming.simulator.hub import text_frame
from flowdesk.streaming.simulator.state import OI_BASE_NOTIONAL, OI_VOLUME_SHARE
from flowdesk.streaming.simulator.synthetic import SyntheticSource
from flowdesk.streaming.simulator.venue_api import Topic, VenueSim
from flowdesk.streaming.venues import binance_usdm as bn
from flowdesk.streaming.venues.registry import VENUE_IDS

log = logging.getLogger(__name__)

BATCH = 256  # events between flushes at speed 0
MAX_TRADES = 200_000  # neutral trades kept per symbol for REST backfill
DAY_MS = 86_400_000


@dataclass
class SimBookView:
    """A book as :meth:`VenueSimServer.book` hands it out (``SimBook``)."""

    seq: int
    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]


class _Client:
    """One WebSocket connection (``SimClient``)."""

    def __init__(self, conn: ServerConnection, close_at: int | None) -> None:
        self.conn = conn
        self.topics: set[Topic] = set()
        self.state: dict[str, Any] = {}
        self.buf: list[bytes] = []
        self.sent = 0
        self.close_at = close_at
        self.closed = False
        self.last_heard = time.monotonic()

    def subscribe(self, topics: Iterable[Topic]) -> None:
        self.topics.update(topics)

    def unsubscribe(self, topics: Iterable[Topic]) -> None:
        self.topics.difference_update(topics)


@dataclass
class _Market:
    """Neutral state of one symbol."""

    spec: SymbolSpec
    book: OrderBook = field(default_factory=OrderBook)
    seq: int = 0
    trade_id: int = 0
    trades: deque[r.Trade] = field(default_factory=lambda: deque(maxlen=MAX_TRADES))
    candles: deque[r.Candle] = field(default_factory=lambda: deque(maxlen=1440))
    latest: dict[str, r.Record] = field(default_factory=dict)
    volume: float = 0.0
    quote_volume: float = 0.0
    first_price: float | None = None
    day: deque[tuple[int, float, float]] = field(default_factory=deque)  # (ts, price, qty) for 24h


class VenueSimServer:
    """One venue's simulated exchange: ``await start()``, then use :attr:`ws_url` / :attr:`rest_url`."""

    def __init__(
        self,
        sim: VenueSim,
        symbols: list[str],
        *,
        seed: int = 7,
        rate_hz: float = 50.0,
        speed: float = 1.0,
        faults: FaultConfig | None = None,
        start_ms: int = SYNTHETIC_EPOCH_MS,
    ) -> None:
        self.sim = sim
        self.exchange, self.market = VENUE_IDS[sim.name]
        self.symbols = [s.upper() for s in symbols]
        self.speed = speed
        self.source = SyntheticSource(self.symbols, seed, start_ms, rate_hz)
        self.markets = {s: _Market(spec_for(s)) for s in self.symbols}
        self.faults = FaultState(faults or FaultConfig())
        self.clients: list[_Client] = []
        self.ws_url = self.rest_url = ""
        self.connections = self.rest_requests = self.events = self.frames_sent = 0
        self._now_ms = start_ms
        self._active = asyncio.Event()
        self._ws_server: Server | None = None
        self._http_server: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        for frame in self.source.initial_frames():
            self._load_snapshot(frame)

    # ---- SimContext ------------------------------------------------------------------------

    def spec(self, symbol: str) -> SymbolSpec:
        return self.markets[symbol].spec if symbol in self.markets else spec_for(symbol)

    def now_ms(self) -> int:
        return self._now_ms

    def book(self, symbol: str, depth: int) -> SimBookView:
        m = self.markets[symbol]
        bids, asks = m.book.top(depth)
        return SimBookView(m.seq, bids, asks)

    def latest(self, symbol: str, kind: str) -> r.Record | None:
        m = self.markets.get(symbol)
        return None if m is None else m.latest.get(kind)

    def trades(self, symbol: str, from_id: int | None, limit: int) -> list[r.Trade]:
        m = self.markets.get(symbol)
        if m is None or not m.trades:
            return []
        if from_id is None:
            return list(m.trades)[-limit:]
        first = m.trades[0].trade_id
        start = max(0, from_id - first)
        return [m.trades[i] for i in range(start, min(len(m.trades), start + limit))]

    def candles(self, symbol: str, limit: int) -> list[r.Record]:
        m = self.markets.get(symbol)
        if m is None:
            return []
        out: list[r.Record] = list(m.candles)[-limit:]
        live = m.latest.get("Candle")
        if live is not None and not live.closed:  # type: ignore[union-attr]
            out = [*out[-(limit - 1):], live] if limit > 1 else [live]
        return out

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", ws_port: int = 0, rest_port: int = 0) -> None:
        """Listen (0 = any free port) and start producing once a client subscribes."""
        self._ws_server = await serve(
            self._handle, host, ws_port, process_request=self._ws_request, compression=None, max_size=2**20
        )
        ws_bound = self._ws_server.sockets[0].getsockname()
        self.ws_url = f"ws://{ws_bound[0]}:{ws_bound[1]}"
        self._http_server = await asyncio.start_server(self._http, host, rest_port)
        rest_bound = self._http_server.sockets[0].getsockname()
        self.rest_url = f"http://{rest_bound[0]}:{rest_bound[1]}"
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._produce()), loop.create_task(self._watch_idle())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._ws_server is not None:
            self._ws_server.close()
            await self._ws_server.wait_closed()
        if self._http_server is not None:
            self._http_server.close()
            await self._http_server.wait_closed()

    @property
    def stats(self) -> dict[str, Any]:
        """Counters: events produced, frames sent, connections, REST requests, faults fired."""
        return {
            "venue": self.sim.name,
            "events": self.events,
            "frames_sent": self.frames_sent,
            "connections": self.connections,
            "clients": sum(1 for c in self.clients if not c.closed),
            "rest_requests": self.rest_requests,
            "faults_fired": dict(self.faults.fired),
        }

    # ---- neutral events --------------------------------------------------------------------

    def _load_snapshot(self, frame: Frame) -> None:
        _, bids, asks = frame.payload
        m = self.markets[frame.sym]
        snap = r.BookSnapshot(
            self.exchange, self.market, frame.sym, 0,
            [(float(p), float(q)) for p, q in bids], [(float(p), float(q)) for p, q in asks],
            frame.e_ms, 0,
        )
        m.book.apply_snapshot(snap)

    def _events(self, frame: Frame) -> list[r.Record]:
        """The neutral events of one source frame (empty for duplicates and unused kinds)."""
        if frame.kind == SNAPSHOT:
            self._load_snapshot(frame)
            return []
        key, data = frame.outs[0]
        if key.endswith("@aggTrade"):
            return []
        m = self.markets[frame.sym]
        out: list[r.Record] = []
        for rec in bn.parse_message(data, 0):
            rec = rec._replace(exchange=self.exchange, market=self.market)
            out.extend(self._neutral(m, rec, frame))
        return out

    def _neutral(self, m: _Market, rec: r.Record, frame: Frame) -> list[r.Record]:
        kind = type(rec)
        if kind is r.BookDelta:
            m.seq += 1
            rec = rec._replace(first_update_id=m.seq, last_update_id=m.seq, prev_update_id=m.seq - 1)
            m.book.apply_delta(rec)  # type: ignore[arg-type]
            return [rec]
        if kind is r.Trade:
            return [self._trade(m, rec)]  # type: ignore[arg-type]
        if kind is r.Quote:
            rec = rec._replace(update_id=m.seq)
        elif kind is r.Candle and rec.closed:  # type: ignore[union-attr]
            m.candles.append(rec)  # type: ignore[arg-type]
        m.latest[kind.__name__] = rec
        if frame.kind == MARK:
            return [rec, *self._per_second(m, rec)]
        return [rec]

    def _trade(self, m: _Market, t: r.Trade) -> r.Trade:
        m.trade_id += 1
        t = t._replace(trade_id=m.trade_id, first_id=m.trade_id, last_id=m.trade_id)
        m.trades.append(t)
        m.latest["Trade"] = t
        m.volume += t.qty
        m.quote_volume += t.qty * t.price
        if m.first_price is None:
            m.first_price = t.price
        m.day.append((t.ts, t.price, t.qty))
        while m.day and m.day[0][0] < t.ts - DAY_MS:
            m.day.popleft()
        return t

    def _per_second(self, m: _Market, mark: r.Record) -> list[r.Record]:
        """Open interest and the rolling 24h ticker, published with each mark price."""
        ts, sym = mark.ts, mark.symbol
        out: list[r.Record] = []
        ref = m.first_price or mark.mark_price  # type: ignore[union-attr]
        oi = OI_BASE_NOTIONAL / ref + OI_VOLUME_SHARE * m.volume
        out.append(r.OpenInterest(self.exchange, self.market, sym, oi, oi * mark.mark_price, ts, 0))  # type: ignore[union-attr]
        if m.day:
            prices = [p for _, p, _ in m.day]
            vol = sum(q for _, _, q in m.day)
            qvol = sum(p * q for _, p, q in m.day)
            first, last = prices[0], prices[-1]
            out.append(r.Ticker24h(
                self.exchange, self.market, sym, last, first, max(prices), min(prices), vol, qvol,
                (last / first - 1) * 100, len(prices), ts, 0,
            ))
        for rec in out:
            m.latest[type(rec).__name__] = rec
        return out

    # ---- producer --------------------------------------------------------------------------

    async def _produce(self) -> None:
        await self._active.wait()
        loop = asyncio.get_running_loop()
        start, paused, pending = loop.time(), 0.0, 0
        for frame in self.source.frames():
            if not self._active.is_set():
                await self._flush()
                t = loop.time()
                await self._active.wait()
                paused += loop.time() - t
            if self.speed > 0:
                wait = start + paused + frame.t_ns / 1e9 / self.speed - loop.time()
                if wait > 0.002:
                    await self._flush()
                    await asyncio.sleep(wait)
                    pending = 0
            if frame.e_ms:
                self._now_ms = frame.e_ms
            for event in self._events(frame):
                self.events += 1
                if frame.kind == DEPTH and self.faults.skip_depth_pending and self.faults.skip_this_depth():
                    continue
                self._deliver(event)
            pending += 1
            if pending >= BATCH:
                await self._flush()
                pending = 0

    def _deliver(self, event: r.Record) -> None:
        clients = [c for c in self.clients if c.topics and not c.closed]
        if not clients:
            return
        for topic, text in self.sim.encode(event, self):
            data: bytes | None = None
            for c in clients:
                if topic in c.topics:
                    data = data or text.encode()
                    self._queue(c, data)

    def _queue(self, c: _Client, data: bytes) -> None:
        c.sent += 1
        malformed = self.faults.malformed_at()
        if malformed is not None and c.sent == malformed:
            c.buf.append(text_frame(data[: len(data) // 2].decode("utf-8", "ignore").encode()))
            self.faults.malformed_pending = False
            self.faults.fired["malformed"] += 1
        c.buf.append(text_frame(data))
        self.frames_sent += 1
        if c.close_at is not None and c.sent >= c.close_at:
            self.faults.fired["close"] += 1
            c.closed = True
            asyncio.get_running_loop().create_task(self._fault_close(c))

    async def _fault_close(self, c: _Client) -> None:
        self._write(c)
        await c.conn.close(1001, "simulator fault: close_after_frames")

    async def _flush(self) -> None:
        for c in list(self.clients):
            if c.buf and not c.closed:
                self._write(c)
        for c in list(self.clients):
            if not c.closed:
                with contextlib.suppress(Exception):
                    await c.conn.drain()  # type: ignore[attr-defined]
        await asyncio.sleep(0)

    @staticmethod
    def _write(c: _Client) -> None:
        """Write the client's queued frames in one socket write (while it is open)."""
        frames, c.buf = c.buf, []
        if not frames or c.conn.protocol.state is not State.OPEN:
            return
        try:
            c.conn.transport.write(b"".join(frames))
        except Exception:
            c.closed = True

    # ---- WebSocket ---------------------------------------------------------------------------

    def _ws_request(self, conn: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path in self.sim.ws_paths:
            return None
        body = orjson.dumps({"error": f"no WebSocket endpoint at {path}"})
        headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return Response(404, "Not Found", headers, body)

    async def _handle(self, conn: ServerConnection) -> None:
        assert conn.request is not None
        parts = urlsplit(conn.request.path)
        client = _Client(conn, self.faults.close_at_for_new_connection())
        self.connections += 1
        self.clients.append(client)
        try:
            self._reply(client, self.sim.on_open(client, parts.path, dict(parse_qsl(parts.query)), self))
            async for message in conn:
                client.last_heard = time.monotonic()
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                self._reply(client, self.sim.on_message(client, text, self))
        except ConnectionClosed:
            pass
        finally:
            client.closed = True
            self.clients.remove(client)
            self._update_active()

    def _reply(self, client: _Client, replies: list[str]) -> None:
        """Queue replies behind the frames already queued (a book snapshot must precede the
        diffs that follow it) and write them now."""
        for text in replies:
            client.buf.append(text_frame(text.encode()))
        if client.buf and not client.closed:
            self._write(client)
        self._update_active()

    def _update_active(self) -> None:
        if any(c.topics and not c.closed for c in self.clients):
            self._active.set()
        else:
            self._active.clear()

    async def _watch_idle(self) -> None:
        """Close connections silent for longer than the venue allows (its heartbeat rule)."""
        limit = self.sim.idle_timeout_s
        if not limit:
            return
        while True:
            await asyncio.sleep(min(1.0, limit / 4))
            now = time.monotonic()
            for c in list(self.clients):
                if not c.closed and now - c.last_heard > limit:
                    c.closed = True
                    self.faults.fired.setdefault("idle_close", 0)
                    self.faults.fired["idle_close"] += 1
                    await c.conn.close(1000, "idle: no ping received")

    # ---- REST ----------------------------------------------------------------------------------

    async def _http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A minimal HTTP/1.1 server: one request per connection, JSON answers."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            headers = dict(
                (k.strip().lower(), v.strip())
                for k, _, v in (line.partition(":") for line in head.decode().split("\r\n")[1:] if line)
            )
            body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
            status, payload, extra = self._rest(method, target, body)
            data = orjson.dumps(payload)
            lines = [f"HTTP/1.1 {status} {'OK' if status < 400 else 'Error'}", "Content-Type: application/json",
                     f"Content-Length: {len(data)}", "Connection: close", *(f"{k}: {v}" for k, v in extra.items())]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    def _rest(self, method: str, target: str, body: bytes) -> tuple[int, Any, dict[str, str]]:
        self.rest_requests += 1
        parts = urlsplit(target)
        query = dict(parse_qsl(parts.query))
        if method == "POST" and body:
            try:
                doc = orjson.loads(body)
            except orjson.JSONDecodeError:
                return 400, {"error": "request body is not JSON"}, {}
            if isinstance(doc, dict):
                query.update({k: v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in doc.items()})
        code = self.faults.rest_error(parts.path)
        if code is not None:
            return code, {"error": "rate limited (simulator fault)"}, {"Retry-After": self.faults.retry_after_header()}
        status, payload = self.sim.rest(method, parts.path, query, self)
        return status, payload, {}
