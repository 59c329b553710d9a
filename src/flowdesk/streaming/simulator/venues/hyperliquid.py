"""Hyperliquid perpetuals in the simulator: the ``/ws`` socket and ``POST /info``.

Renders the server's neutral events the way ``wss://api.hyperliquid.xyz/ws`` sends them
(``{"channel": <type>, "data": ...}`` with decimal strings), answers subscribe / unsubscribe /
ping in Hyperliquid's format and serves the info requests flowdesk makes
(``metaAndAssetCtxs``, ``meta``, ``l2Book``). Topics are ``(subscription type, flowdesk symbol)``.

What the venue has and the neutral market lacks is filled in plainly, never read back by the
parser as data: order counts ``n`` are 1, trade hashes and user addresses are derived from the
trade id, ``premium`` is mark over oracle. ``l2Book`` is pushed at most every 500 ms of
exchange time (the venue pushes a full book per block, at least 0.5 s apart); every push is the
whole book, so a skipped push never breaks a client's book. The synthetic price grid comes
from :mod:`flowdesk.streaming.simulator.config` and does not follow Hyperliquid's
5-significant-figure tick rule.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

import orjson

from flowdesk.records import BookDelta, Candle, MarkFunding, OpenInterest, Quote, Record, Trade
from flowdesk.streaming.simulator.venue_api import SimClient, SimContext, Topic
from flowdesk.streaming.venues import hyperliquid as hl
from flowdesk.streaming.venues.base import UnknownMessage

BOOK_DEPTH = 20  # levels a side, as the venue sends
BOOK_PUSH_MS = 500
RECENT_TRADES = 30  # trades replayed on a trades subscription (the real capture shows 30)
CANDLE_INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "8h", "12h", "1d", "3d", "1w", "1M")
_SIDE = {"buy": "B", "sell": "A"}
_PONG = '{"channel":"pong"}'


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def num(x: float) -> str:
    """A float as Hyperliquid writes decimals: plain notation, ``"105055.0"``, ``"0.0000125"``."""
    text = format(Decimal(repr(float(x))), "f")
    return text if "." in text else text + ".0"


def _price(ctx: SimContext, symbol: str, x: float) -> str:
    spec = ctx.spec(symbol)
    return num(float(spec.price(round(x * 10**spec.price_decimals))))


def _size(ctx: SimContext, symbol: str, x: float) -> str:
    spec = ctx.spec(symbol)
    return num(float(spec.qty(round(x * 10**spec.qty_decimals))))


def _hex(seed: str, nbytes: int) -> str:
    return "0x" + hashlib.blake2b(seed.encode(), digest_size=nbytes).hexdigest()


def _frame(channel: str, data: Any) -> str:
    return _dumps({"channel": channel, "data": data})


def _error(text: str) -> str:
    return _frame("error", text)


class HyperliquidSim:
    """The :class:`~flowdesk.streaming.simulator.venue_api.VenueSim` of ``hyperliquid_perp``."""

    name = hl.VENUE
    ws_paths = (hl.WS_PATH,)
    idle_timeout_s: float | None = 60.0  # the venue closes a connection silent for 60 s

    def __init__(self) -> None:
        #: (id of the server's context, symbol) -> exchange time of the last l2Book push
        self._last_book_push: dict[tuple[int, str], int] = {}

    # -- WebSocket: client messages -------------------------------------------------------------

    def on_open(self, client: SimClient, path: str, query: dict[str, str], ctx: SimContext) -> list[str]:
        """Nothing is sent on connect; returns ``[]``."""
        return []

    def on_message(self, client: SimClient, text: str, ctx: SimContext) -> list[str]:
        """Answer ping with pong and subscribe/unsubscribe with ``subscriptionResponse`` (plus the
        current book, recent trades or asset context for those channels); anything else gets
        ``{"channel":"error","data":"..."}``. Returns the frames to send."""
        try:
            msg = orjson.loads(text)
            method = msg["method"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return [_error(f"Error parsing JSON into valid websocket request: {text}")]
        if method == "ping":
            return [_PONG]
        if method not in ("subscribe", "unsubscribe"):
            return [_error(f"Error parsing JSON into valid websocket request: {text}")]
        sub = msg.get("subscription")
        topic = self._topic(sub, ctx)
        if topic is None:
            return [_error(f"Invalid subscription {_dumps(sub)}")]
        if method == "unsubscribe":
            if topic not in client.topics:
                return [_error(f"Already unsubscribed: {_dumps(sub)}")]
            client.unsubscribe([topic])
            return [_frame("subscriptionResponse", {"method": method, "subscription": sub})]
        if topic in client.topics:
            return [_error(f"Already subscribed: {_dumps(sub)}")]
        client.subscribe([topic])
        return [_frame("subscriptionResponse", {"method": method, "subscription": sub}), *self._initial(topic, ctx)]

    @staticmethod
    def _topic(sub: Any, ctx: SimContext) -> Topic | None:
        """The topic of a subscription object, or ``None`` when it is invalid here."""
        if not isinstance(sub, dict) or sub.get("type") not in hl.STREAMS.values():
            return None
        if sub["type"] == "candle" and sub.get("interval") not in CANDLE_INTERVALS:
            return None
        try:
            symbol = hl.from_venue(sub.get("coin"))
        except (UnknownMessage, TypeError):
            return None
        return (sub["type"], symbol) if symbol in ctx.symbols else None

    def _initial(self, topic: Topic, ctx: SimContext) -> list[str]:
        """What follows a subscription ack: the full book, the recent trades, the asset context."""
        channel, symbol = topic
        if channel == "l2Book":
            return [self._book_frame(symbol, ctx.now_ms(), ctx)]
        if channel == "trades":
            trades = ctx.trades(symbol, None, RECENT_TRADES)
            return [_frame("trades", [self._trade(t, ctx) for t in trades])] if trades else []
        if channel == "activeAssetCtx":
            mark, oi = ctx.latest(symbol, "MarkFunding"), ctx.latest(symbol, "OpenInterest")
            if isinstance(mark, MarkFunding) and isinstance(oi, OpenInterest):
                return [self._ctx_frame(mark, oi, ctx)]
        return []

    # -- WebSocket: neutral events -> frames -----------------------------------------------------

    def encode(self, event: Record, ctx: SimContext) -> list[tuple[Topic, str]]:
        """The frames of one neutral event with their topics; ``[]`` for kinds the venue does not
        publish (liquidations, 24h tickers), candles other than 1m, and throttled book pushes."""
        kind = type(event)
        if kind is Trade:
            return [(("trades", event.symbol), _frame("trades", [self._trade(event, ctx)]))]
        if kind is BookDelta:
            return self._book_push(event, ctx)
        if kind is Quote:
            return [(("bbo", event.symbol), self._bbo_frame(event, ctx))]
        if kind is MarkFunding or kind is OpenInterest:
            return self._asset_ctx(event, ctx)
        if kind is Candle and event.interval == hl.CANDLE_INTERVAL:
            return [(("candle", event.symbol), _frame("candle", self._candle(event, ctx)))]
        return []

    def _trade(self, t: Trade, ctx: SimContext) -> dict[str, Any]:
        coin = hl.to_venue(t.symbol)
        seed = f"{t.symbol}:{t.trade_id}"
        return {
            "coin": coin, "side": _SIDE[t.side], "px": _price(ctx, t.symbol, t.price),
            "sz": _size(ctx, t.symbol, t.qty), "time": t.ts, "hash": _hex(seed, 32),
            "tid": t.trade_id, "users": [_hex(seed + ":buyer", 20), _hex(seed + ":seller", 20)],
        }

    def _book_push(self, delta: BookDelta, ctx: SimContext) -> list[tuple[Topic, str]]:
        key = (id(ctx), delta.symbol)
        last = self._last_book_push.get(key)
        if last is not None and last <= delta.ts < last + BOOK_PUSH_MS:
            return []  # a clock that went back (a replay loop) pushes at once
        self._last_book_push[key] = delta.ts
        return [(("l2Book", delta.symbol), self._book_frame(delta.symbol, delta.ts, ctx))]

    def _book_frame(self, symbol: str, time_ms: int, ctx: SimContext) -> str:
        return _frame("l2Book", self._book_data(symbol, time_ms, ctx))

    @staticmethod
    def _book_data(symbol: str, time_ms: int, ctx: SimContext) -> dict[str, Any]:
        """A ``WsBook`` (also the REST ``l2Book`` answer) of the server's current book."""
        book = ctx.book(symbol, BOOK_DEPTH)
        levels = [
            [{"px": _price(ctx, symbol, p), "sz": _size(ctx, symbol, q), "n": 1} for p, q in side]
            for side in (book.bids, book.asks)
        ]
        return {"coin": hl.to_venue(symbol), "time": time_ms, "levels": levels}

    def _bbo_frame(self, q: Quote, ctx: SimContext) -> str:
        s = q.symbol
        bbo = [
            {"px": _price(ctx, s, q.bid), "sz": _size(ctx, s, q.bid_qty), "n": 1},
            {"px": _price(ctx, s, q.ask), "sz": _size(ctx, s, q.ask_qty), "n": 1},
        ]
        return _frame("bbo", {"coin": hl.to_venue(s), "time": q.ts, "bbo": bbo})

    def _asset_ctx(self, event: MarkFunding | OpenInterest, ctx: SimContext) -> list[tuple[Topic, str]]:
        """One ``activeAssetCtx`` frame from the event and the newest of the other kind; ``[]``
        until both a mark price and an open interest exist (the venue always sends both)."""
        mark = event if isinstance(event, MarkFunding) else ctx.latest(event.symbol, "MarkFunding")
        oi = event if isinstance(event, OpenInterest) else ctx.latest(event.symbol, "OpenInterest")
        if not isinstance(mark, MarkFunding) or not isinstance(oi, OpenInterest):
            return []
        return [(("activeAssetCtx", event.symbol), self._ctx_frame(mark, oi, ctx))]

    def _ctx_frame(self, mark: MarkFunding, oi: OpenInterest, ctx: SimContext) -> str:
        return _frame("activeAssetCtx", {"coin": hl.to_venue(mark.symbol), "ctx": self._ctx(mark, oi, ctx)})

    def _ctx(self, mark: MarkFunding, oi: OpenInterest | None, ctx: SimContext) -> dict[str, Any]:
        """A perp asset context (``PerpsAssetCtx``) from the newest neutral state of a symbol."""
        s = mark.symbol
        oracle = mark.index_price if mark.index_price is not None else mark.mark_price
        quote, ticker = ctx.latest(s, "Quote"), ctx.latest(s, "Ticker24h")
        bid, ask = (quote.bid, quote.ask) if isinstance(quote, Quote) else (mark.mark_price, mark.mark_price)
        day_open = getattr(ticker, "open", mark.mark_price)
        return {
            "funding": num(mark.funding_rate or 0.0),
            "openInterest": num(oi.open_interest) if oi is not None else "0.0",
            "prevDayPx": _price(ctx, s, day_open),
            "dayNtlVlm": num(getattr(ticker, "quote_volume", 0.0)),
            "premium": num(round(mark.mark_price / oracle - 1, 8)),
            "oraclePx": _price(ctx, s, oracle),
            "markPx": _price(ctx, s, mark.mark_price),
            "midPx": _price(ctx, s, (bid + ask) / 2),
            "impactPxs": [_price(ctx, s, bid), _price(ctx, s, ask)],
            "dayBaseVlm": num(getattr(ticker, "volume", 0.0)),
        }

    def _candle(self, k: Candle, ctx: SimContext) -> dict[str, Any]:
        s = k.symbol
        return {
            "t": k.open_ts, "T": k.close_ts, "s": hl.to_venue(s), "i": k.interval,
            "o": _price(ctx, s, k.open), "c": _price(ctx, s, k.close), "h": _price(ctx, s, k.high),
            "l": _price(ctx, s, k.low), "v": _size(ctx, s, k.volume), "n": k.trade_count or 0,
        }

    # -- REST: POST /info ------------------------------------------------------------------------

    def rest(self, method: str, path: str, query: dict[str, Any], ctx: SimContext) -> tuple[int, Any]:
        """``POST /info`` with the decoded JSON body as ``query``: ``meta``, ``metaAndAssetCtxs``
        and ``l2Book``. Returns ``(status, body)``: 404 for another path, 405 for another
        method, 422 with the venue's deserialize message for a body it cannot serve."""
        if path != hl.INFO_PATH:
            return 404, f"404 page not found: {path}"
        if method.upper() != "POST":
            return 405, "Method Not Allowed"
        kind = query.get("type")
        if kind == "meta":
            return 200, self._meta(ctx)
        if kind == "metaAndAssetCtxs":
            return 200, [self._meta(ctx), [self._rest_ctx(s, ctx) for s in ctx.symbols]]
        if kind == "l2Book":
            return self._rest_book(query, ctx)
        return 422, f"Failed to deserialize the JSON body into the target type: {_dumps(query)[:200]}"

    def _meta(self, ctx: SimContext) -> dict[str, Any]:
        universe = [
            {"szDecimals": ctx.spec(s).qty_decimals, "name": hl.to_venue(s), "maxLeverage": 40, "marginTableId": 40}
            for s in ctx.symbols
        ]
        return {"universe": universe, "marginTables": []}

    def _rest_ctx(self, symbol: str, ctx: SimContext) -> dict[str, Any]:
        mark = ctx.latest(symbol, "MarkFunding")
        oi = ctx.latest(symbol, "OpenInterest")
        if not isinstance(mark, MarkFunding):  # before the first mark: the book's mid stands in
            book = ctx.book(symbol, 1)
            mid = (book.bids[0][0] + book.asks[0][0]) / 2 if book.bids and book.asks else ctx.spec(symbol).start_price
            mark = MarkFunding(hl.EXCHANGE, hl.MARKET, symbol, mid, mid, 0.0, None, ctx.now_ms(), 0)
        return self._ctx(mark, oi if isinstance(oi, OpenInterest) else None, ctx)

    def _rest_book(self, query: dict[str, Any], ctx: SimContext) -> tuple[int, Any]:
        try:
            symbol = hl.from_venue(query.get("coin"))
        except (UnknownMessage, TypeError):
            symbol = ""
        if symbol not in ctx.symbols:
            return 422, f"Failed to deserialize the JSON body into the target type: {_dumps(query)[:200]}"
        return 200, self._book_data(symbol, ctx.now_ms(), ctx)


SIMS: dict[str, HyperliquidSim] = {hl.VENUE: HyperliquidSim()}
