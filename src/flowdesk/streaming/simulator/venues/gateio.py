"""Gate.io USDT perpetual futures in the simulator: ``/v4/ws/usdt`` and the v4 REST paths.

Renders the server's neutral events as ``wss://fx-ws.gateio.ws/v4/ws/usdt`` sends them
(``{"time", "time_ms", "channel": "futures.<x>", "event": "update", "result"}``, sizes as
integer contract counts, prices as decimal strings), answers subscribe / unsubscribe /
``futures.ping`` in Gate's format and serves the REST paths flowdesk uses: the contracts list
(instruments and the funding poll), the order book with ``with_id`` and the public trades.
Topics are ``(flowdesk stream name, flowdesk symbol)``, e.g. ``("order_book_update", "BTCUSDT")``.

Choices the neutral market forces:

* The contract size (``quanto_multiplier``) of every simulated contract is the symbol's lot
  step (``SymbolSpec.step_size``), so every neutral quantity is a whole number of contracts,
  as Gate sends them to a client that did not ask for decimal sizes. The contracts answer
  publishes that size, so a client converts back exactly.
* Book sequence: Gate's ``U``/``u`` are the neutral ``n`` (one change per diff), and the REST
  book's ``id`` is the book's ``seq``: snapshot + diffs chain under ``rest_next``.
* ``futures.tickers`` carries mark, index, funding, open interest and 24h statistics in one
  object; a frame is rendered for each neutral ``MarkFunding``, ``OpenInterest`` or
  ``Ticker24h`` from the newest value of the other two (none until all three exist).
"""

from __future__ import annotations

from typing import Any

import orjson

from flowdesk.records import (
    BookDelta,
    Candle,
    Liquidation,
    MarkFunding,
    OpenInterest,
    Quote,
    Record,
    Ticker24h,
    Trade,
)
from flowdesk.streaming.simulator.venue_api import SimClient, SimContext, Topic
from flowdesk.streaming.venues import gateio as gt

FUNDING_INTERVAL_S = 28_800
DEFAULT_BOOK_LIMIT = 10  # Gate's default depth of /order_book
MAX_BOOK_LIMIT = 300  # more answers 400 {"label":"TOO_BIG","message":"limit 300"}
DEFAULT_TRADES_LIMIT = 100
MAX_TRADES_LIMIT = 1000
#: Gate channel -> the flowdesk stream (topic channel) it feeds
STREAM_OF = {channel: stream for stream, channel in gt.CHANNELS.items()}
_DATA_KIND: dict[type, str] = {MarkFunding: "MarkFunding", OpenInterest: "OpenInterest", Ticker24h: "Ticker24h"}


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def num(x: float, places: int) -> str:
    """A decimal string as Gate writes them: at most ``places`` decimals, no trailing zeros
    (``"0.2983"``, ``"57"``)."""
    text = f"{x:.{places}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def contract_size(ctx: SimContext, symbol: str) -> float:
    """Base units per contract of a simulated contract: the symbol's lot step."""
    return float(ctx.spec(symbol).step_size)


def contracts(ctx: SimContext, symbol: str, qty: float) -> int:
    """A base quantity as a whole number of contracts."""
    return round(qty / contract_size(ctx, symbol))


def _price(ctx: SimContext, symbol: str, x: float) -> str:
    return num(x, ctx.spec(symbol).price_decimals)


def _levels(ctx: SimContext, symbol: str, rows: list[tuple[float, float]]) -> list[dict[str, Any]]:
    return [{"p": _price(ctx, symbol, p), "s": contracts(ctx, symbol, q)} for p, q in rows]


def _frame(channel: str, event: str, now_ms: int, result: Any) -> str:
    return _dumps({"time": now_ms // 1000, "time_ms": now_ms, "channel": channel, "event": event, "result": result})


def _error(channel: Any, event: Any, message: str, now_ms: int, req_id: Any = None) -> str:
    """Gate's reply to a request it rejects: ``error`` set and ``result.status`` "fail"."""
    reply: dict[str, Any] = {"time": now_ms // 1000, "time_ms": now_ms, "channel": channel, "event": event}
    if req_id is not None:
        reply["id"] = req_id
    reply.update({"error": {"code": 2, "message": message}, "result": {"status": "fail"}})
    return _dumps(reply)


def _rest_error(status: int, label: str, message: str) -> tuple[int, Any]:
    return status, {"label": label, "message": message}


class GateioSim:
    """The :class:`~flowdesk.streaming.simulator.venue_api.VenueSim` of ``gateio_futures``."""

    name = gt.VENUE
    ws_paths = (gt.WS_PATH,)
    idle_timeout_s: float | None = None  # Gate pings at the protocol level itself

    # -- WebSocket: client messages ------------------------------------------------------------

    def on_open(self, client: SimClient, path: str, query: dict[str, str], ctx: SimContext) -> list[str]:
        """Nothing is sent on connect; returns ``[]``."""
        return []

    def on_message(self, client: SimClient, text: str, ctx: SimContext) -> list[str]:
        """``futures.ping`` -> ``futures.pong``; subscribe/unsubscribe -> ``result.status``
        success (the book is a REST book: no snapshot follows); anything else -> an ``error``
        reply. Returns the frames to send."""
        now = ctx.now_ms()
        try:
            msg = orjson.loads(text)
            channel, event = msg.get("channel"), msg.get("event")
        except (orjson.JSONDecodeError, AttributeError):
            return [_error("", "", "invalid argument struct", now)]
        if channel == "futures.ping":
            pong = {"time": now // 1000, "time_ms": now, "channel": "futures.pong", "event": "", "result": None}
            return [_dumps(pong)]
        if channel not in STREAM_OF or event not in ("subscribe", "unsubscribe"):
            return [_error(channel, event, f"unknown channel {channel!r} or event {event!r}", now, msg.get("id"))]
        topics = self._topics(STREAM_OF[channel], msg.get("payload"), ctx)
        if isinstance(topics, str):
            return [_error(channel, event, topics, now, msg.get("id"))]
        (client.subscribe if event == "subscribe" else client.unsubscribe)(topics)
        reply: dict[str, Any] = {"time": now // 1000, "time_ms": now, "channel": channel, "event": event}
        if msg.get("id") is not None:
            reply["id"] = msg["id"]
        reply["result"] = {"status": "success"}
        return [_dumps(reply)]

    @staticmethod
    def _topics(stream: str, payload: Any, ctx: SimContext) -> list[Topic] | str:
        """The topics a subscription payload names, or the error message for a bad payload."""
        if not isinstance(payload, list) or not payload or not all(isinstance(p, str) for p in payload):
            return "invalid argument: payload must be a non-empty list of strings"
        names = payload
        if stream == "order_book_update":
            if len(payload) not in (2, 3) or payload[1] not in ("20ms", "100ms"):
                return "invalid argument: payload is [contract, \"20ms\"|\"100ms\", level]"
            level = payload[2] if len(payload) == 3 else "100"
            if level not in ("20", "50", "100") or (payload[1] == "20ms" and level != "20"):
                return f"invalid argument: level {level} with frequency {payload[1]}"
            names = payload[:1]
        elif stream == "candlesticks_1m":
            if len(payload) != 2 or payload[0] != gt.CANDLE_INTERVAL:
                return "invalid argument: payload is [\"1m\", contract] (the simulator makes 1m bars)"
            names = payload[1:]
        topics = []
        for name in names:
            try:
                symbol = gt.from_venue(name)
            except ValueError:
                return f"unknown contract {name}"
            if symbol not in ctx.symbols:
                return f"unknown contract {name}"
            topics.append((stream, symbol))
        return topics

    # -- WebSocket: neutral events -> frames ---------------------------------------------------

    def encode(self, event: Record, ctx: SimContext) -> list[tuple[Topic, str]]:
        """The frames of one neutral event with their topics (``[]`` for kinds Gate has no
        stream for, e.g. a candle of another interval)."""
        if isinstance(event, Trade):
            return [(("trades", event.symbol), self._trade(event, ctx))]
        if isinstance(event, BookDelta):
            return [(("order_book_update", event.symbol), self._delta(event, ctx))]
        if isinstance(event, Quote):
            return [(("book_ticker", event.symbol), self._quote(event, ctx))]
        if isinstance(event, MarkFunding | OpenInterest | Ticker24h):
            frame = self._ticker(event, ctx)
            return [] if frame is None else [(("tickers", event.symbol), frame)]
        if isinstance(event, Candle) and event.interval == gt.CANDLE_INTERVAL:
            return [(("candlesticks_1m", event.symbol), self._candle(event, ctx))]
        if isinstance(event, Liquidation):
            return [(("public_liquidates", event.symbol), self._liquidation(event, ctx))]
        return []

    @staticmethod
    def _trade(t: Trade, ctx: SimContext) -> str:
        size = contracts(ctx, t.symbol, t.qty)
        row = {
            "size": size if t.side == "buy" else -size, "id": t.trade_id, "create_time": t.ts // 1000,
            "create_time_ms": t.ts, "price": _price(ctx, t.symbol, t.price), "contract": gt.to_venue(t.symbol),
        }
        return _frame("futures.trades", "update", ctx.now_ms(), [row])

    @staticmethod
    def _delta(d: BookDelta, ctx: SimContext) -> str:
        result = {
            "t": d.ts, "s": gt.to_venue(d.symbol), "U": d.first_update_id, "u": d.last_update_id,
            "b": _levels(ctx, d.symbol, d.bids), "a": _levels(ctx, d.symbol, d.asks), "l": str(gt.BOOK_LEVELS),
        }
        return _frame("futures.order_book_update", "update", ctx.now_ms(), result)

    @staticmethod
    def _quote(q: Quote, ctx: SimContext) -> str:
        result = {
            "t": q.ts, "u": q.update_id, "s": gt.to_venue(q.symbol), "b": _price(ctx, q.symbol, q.bid),
            "B": contracts(ctx, q.symbol, q.bid_qty), "a": _price(ctx, q.symbol, q.ask),
            "A": contracts(ctx, q.symbol, q.ask_qty),
        }
        return _frame("futures.book_ticker", "update", ctx.now_ms(), result)

    @staticmethod
    def _ticker(event: MarkFunding | OpenInterest | Ticker24h, ctx: SimContext) -> str | None:
        """The ``futures.tickers`` frame after ``event``, or ``None`` until mark, open interest
        and 24h statistics are all known."""
        symbol = event.symbol
        parts = {k: (event if type(event) is cls else ctx.latest(symbol, k)) for cls, k in _DATA_KIND.items()}
        mark, oi, tk = parts["MarkFunding"], parts["OpenInterest"], parts["Ticker24h"]
        if not (isinstance(mark, MarkFunding) and isinstance(oi, OpenInterest) and isinstance(tk, Ticker24h)):
            return None
        return _frame("futures.tickers", "update", ctx.now_ms(), [ticker_json(mark, oi, tk, event.ts, ctx)])

    @staticmethod
    def _candle(c: Candle, ctx: SimContext) -> str:
        qd = ctx.spec(c.symbol).qty_decimals
        row = {
            "t": c.open_ts // 1000, "v": contracts(ctx, c.symbol, c.volume), "c": _price(ctx, c.symbol, c.close),
            "h": _price(ctx, c.symbol, c.high), "l": _price(ctx, c.symbol, c.low), "o": _price(ctx, c.symbol, c.open),
            "n": f"{c.interval}_{gt.to_venue(c.symbol)}", "a": num(c.volume, qd), "w": c.closed,
        }
        return _frame("futures.candlesticks", "update", ctx.now_ms(), [row])

    @staticmethod
    def _liquidation(liq: Liquidation, ctx: SimContext) -> str:
        size = contracts(ctx, liq.symbol, liq.qty)
        row = {
            "price": _price(ctx, liq.symbol, liq.price), "size": size if liq.side == "buy" else -size,
            "time": liq.ts, "contract": gt.to_venue(liq.symbol),
        }
        return _frame("futures.public_liquidates", "update", ctx.now_ms(), [row])

    # -- REST -----------------------------------------------------------------------------------

    def rest(self, method: str, path: str, query: dict[str, str], ctx: SimContext) -> tuple[int, Any]:
        """``(status, body)`` for the contracts list (and one contract), the order book and the
        public trades; Gate's ``{"label", "message"}`` error body otherwise."""
        if method != "GET":
            return _rest_error(405, "METHOD_NOT_ALLOWED", f"{method} {path} is not allowed")
        if path == gt.CONTRACTS_PATH:
            return 200, [contract_json(s, ctx) for s in ctx.symbols]
        if path.startswith(gt.CONTRACTS_PATH + "/"):
            symbol = _symbol(path.rsplit("/", 1)[1], ctx)
            if symbol is None:
                return _rest_error(400, "CONTRACT_NOT_FOUND", "Contract not found")
            return 200, contract_json(symbol, ctx)
        if path in (gt.ORDER_BOOK_PATH, gt.TRADES_PATH):
            symbol = _symbol(query.get("contract", ""), ctx)
            if symbol is None:
                return _rest_error(400, "CONTRACT_NOT_FOUND", "Contract not found")
            if path == gt.ORDER_BOOK_PATH:
                return order_book_json(symbol, query, ctx)
            return trades_json(symbol, query, ctx)
        return _rest_error(404, "NOT_FOUND", f"{path} not found")


def _symbol(contract: str, ctx: SimContext) -> str | None:
    """The flowdesk symbol of a contract the simulator runs, else ``None``."""
    try:
        symbol = gt.from_venue(contract)
    except ValueError:
        return None
    return symbol if symbol in ctx.symbols else None


def _limit(query: dict[str, str], default: int, most: int) -> int | None:
    try:
        limit = int(query.get("limit", default))
    except ValueError:
        return None
    return limit if 1 <= limit <= most else None


def order_book_json(symbol: str, query: dict[str, str], ctx: SimContext) -> tuple[int, Any]:
    """``/futures/usdt/order_book``: ``limit`` levels a side, ``id`` when ``with_id=true``."""
    limit = _limit(query, DEFAULT_BOOK_LIMIT, MAX_BOOK_LIMIT)
    if limit is None:  # Gate's answer to limit=301 and above
        return _rest_error(400, "TOO_BIG", f"limit {MAX_BOOK_LIMIT}")
    book = ctx.book(symbol, limit)
    now_s = ctx.now_ms() / 1000
    body: dict[str, Any] = {
        "current": now_s, "update": now_s,
        "asks": _levels(ctx, symbol, book.asks[:limit]), "bids": _levels(ctx, symbol, book.bids[:limit]),
    }
    if query.get("with_id") == "true":
        body["id"] = book.seq
    return 200, body


def trades_json(symbol: str, query: dict[str, str], ctx: SimContext) -> tuple[int, Any]:
    """``/futures/usdt/trades``: the newest ``limit`` trades, newest first; times in seconds."""
    limit = _limit(query, DEFAULT_TRADES_LIMIT, MAX_TRADES_LIMIT)
    if limit is None:
        return _rest_error(400, "INVALID_PARAM_VALUE", f"limit must be 1..{MAX_TRADES_LIMIT}")
    rows = []
    for t in reversed(ctx.trades(symbol, None, limit)):
        size = contracts(ctx, symbol, t.qty)
        rows.append({
            "id": t.trade_id, "create_time": t.ts / 1000, "create_time_ms": t.ts / 1000,
            "contract": gt.to_venue(symbol), "size": size if t.side == "buy" else -size,
            "price": _price(ctx, symbol, t.price),
        })
    return 200, rows


def _mark_of(symbol: str, ctx: SimContext) -> tuple[float, float | None, float | None, int | None]:
    """``(mark, index, funding rate, next funding ms)`` from the newest neutral events."""
    mark = ctx.latest(symbol, "MarkFunding")
    if isinstance(mark, MarkFunding):
        return mark.mark_price, mark.index_price, mark.funding_rate, mark.next_funding_ts
    trade = ctx.latest(symbol, "Trade")
    price = trade.price if isinstance(trade, Trade) else ctx.spec(symbol).start_price
    return price, None, None, None


def contract_json(symbol: str, ctx: SimContext) -> dict[str, Any]:
    """One row of ``/futures/usdt/contracts`` (Gate's field names; the simulated values)."""
    spec = ctx.spec(symbol)
    mark, index, rate, next_ms = _mark_of(symbol, ctx)
    now_s = ctx.now_ms() // 1000
    oi, trade = ctx.latest(symbol, "OpenInterest"), ctx.latest(symbol, "Trade")
    pd = spec.price_decimals
    return {
        "name": gt.to_venue(symbol), "type": "direct", "quanto_multiplier": spec.step_size,
        "order_price_round": spec.tick_size, "mark_price_round": spec.tick_size, "order_size_min": 1,
        "order_size_max": 1_000_000, "mark_type": "index", "mark_price": num(mark, pd),
        "index_price": num(index if index is not None else mark, pd),
        "last_price": num(trade.price if isinstance(trade, Trade) else mark, pd),
        "funding_rate": num(rate if rate is not None else 0.0001, 8),
        "funding_rate_indicative": num(rate if rate is not None else 0.0001, 8),
        "funding_interval": FUNDING_INTERVAL_S, "funding_offset": 0,
        "funding_next_apply": next_ms // 1000 if next_ms else (now_s // FUNDING_INTERVAL_S + 1) * FUNDING_INTERVAL_S,
        "position_size": contracts(ctx, symbol, oi.open_interest) if isinstance(oi, OpenInterest) else 0,
        "trade_id": trade.trade_id if isinstance(trade, Trade) else 0,
        "orderbook_id": ctx.book(symbol, 1).seq, "in_delisting": False,
    }


def ticker_json(mark: MarkFunding, oi: OpenInterest, tk: Ticker24h, ts: int, ctx: SimContext) -> dict[str, Any]:
    """One ``futures.tickers`` object; sizes in contracts, ``change_price`` = last - open."""
    symbol = mark.symbol
    pd = ctx.spec(symbol).price_decimals
    rate = num(mark.funding_rate, 8) if mark.funding_rate is not None else ""
    return {
        "contract": gt.to_venue(symbol), "last": num(tk.last, pd), "change_percentage": num(tk.price_change_pct, 4),
        "change_from": "24h", "change_price": num(tk.last - tk.open, pd), "funding_rate": rate,
        "funding_rate_indicative": rate, "mark_price": num(mark.mark_price, pd),
        "index_price": num(mark.index_price, pd) if mark.index_price is not None else "",
        "total_size": str(contracts(ctx, symbol, oi.open_interest)),
        "volume_24h": str(contracts(ctx, symbol, tk.volume)),
        "volume_24h_base": num(tk.volume, ctx.spec(symbol).qty_decimals),
        "volume_24h_quote": num(tk.quote_volume, 2), "volume_24h_settle": num(tk.quote_volume, 2),
        "quanto_base_rate": "", "low_24h": num(tk.low, pd), "high_24h": num(tk.high, pd),
        "price_type": "last", "t": ts,
    }


SIMS: dict[str, GateioSim] = {gt.VENUE: GateioSim()}
