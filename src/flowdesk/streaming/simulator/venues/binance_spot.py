"""Binance spot in the simulator: ``/stream`` and ``/ws`` sockets and the ``/api/v3`` REST paths.

Renders the server's neutral events the way ``wss://stream.binance.com:9443`` sends them:
combined-stream envelopes ``{"stream":"btcusdt@trade","data":{...}}`` with Binance spot's field
names and 8-decimal strings. ``/stream?streams=a/b`` subscribes on open (from the URL query);
both paths take live ``SUBSCRIBE``, ``UNSUBSCRIBE``, ``LIST_SUBSCRIPTIONS``, ``SET_PROPERTY`` and
``GET_PROPERTY`` requests, answered ``{"result":...,"id":...}`` or with Binance's documented
``{"code":...,"msg":...}`` errors. Keep-alive is WebSocket ping/pong frames, which the server's
socket library handles; a text ``ping`` is not JSON and gets Binance's "Invalid JSON" error.
The book rule is ``rest_next``: diffs carry ``U == u == n`` (the neutral change counter) and the
REST snapshot's ``lastUpdateId`` is the book's ``n``, so a snapshot and the diffs after it chain.

Topics are ``(flowdesk stream setting, flowdesk symbol)``, e.g. ``("depth", "BTCUSDT")``. A trade
is published on both ``trade`` and ``aggTrade`` (an aggregate of exactly that trade).

What the venue has and the neutral market lacks is derived, not read back by the parser: a 24h
ticker's weighted average is quote volume over volume, its ``x`` (price before the window) is
the open, its best bid/ask and last quantity come from the newest quote and trade, and trade-id
ranges (``F``/``L``, kline ``f``/``L``) count back from the newest trade id (ids are contiguous).

Limits: ``encode`` cannot tell connections apart, so a ``/ws`` connection also receives the
combined envelope (Binance would send the bare event unless ``SET_PROPERTY combined`` is true);
flowdesk's parser accepts both. Binance spot answers an unknown REST path with a bare HTML 404;
the simulator answers 404 with the JSON error the USD-M gateway uses (``-5000``, "Path ...,
Method GET is invalid"), so clients see the same shape as every other Binance error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson

from flowdesk.records import BookDelta, Candle, Quote, Record, Ticker24h, Trade
from flowdesk.streaming.simulator.venue_api import SimClient, SimContext, Topic
from flowdesk.streaming.venues import binance_spot as bs

DAY_MS = 86_400_000
WS_PATHS = ("/stream", "/ws")
#: a lower-cased stream kind -> the topic channel (a flowdesk stream setting)
_KINDS: dict[str, str] = {
    "trade": "trade",
    "aggtrade": "aggTrade",
    "bookticker": "bookTicker",
    "depth@100ms": "depth",
    "depth": "depth",  # the 1000 ms variant gets the same diffs
    "kline_1m": "kline_1m",
    "ticker": "ticker",
}
_METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
_RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": bs.MAX_WEIGHT_PER_MINUTE},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
]


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def _error(code: int, msg: str, request_id: Any = None) -> str:
    return _dumps({"code": code, "msg": msg, "id": request_id})


def price(ctx: SimContext, symbol: str, x: float) -> str:
    """The price ``x`` rounded to the symbol's tick grid, as Binance spot writes it: 8 decimals
    (``"61837.63000000"``)."""
    spec = ctx.spec(symbol)
    return _pad(spec.price(round(x * 10**spec.price_decimals)), spec.price_decimals)


def qty(ctx: SimContext, symbol: str, x: float) -> str:
    """The quantity ``x`` rounded to the symbol's lot grid, with 8 decimals (``"0.02000000"``)."""
    spec = ctx.spec(symbol)
    return _pad(spec.qty(round(x * 10**spec.qty_decimals)), spec.qty_decimals)


def _pad(text: str, decimals: int) -> str:
    """A fixed-point string with ``decimals`` decimals padded with zeros to 8."""
    if decimals >= 8:
        return text
    return text + ("." if decimals == 0 else "") + "0" * (8 - decimals)


def _amount(x: float) -> str:
    """A derived amount (quote volume, average price) with 8 decimals."""
    return f"{x:.8f}"


def stream_topic(name: str) -> Topic | None:
    """The topic of a Binance stream name: ``btcusdt@depth@100ms`` -> ``("depth", "BTCUSDT")``;
    ``None`` for names this simulator has no data for (they stay subscribed and simply receive
    nothing, as on the venue)."""
    sym, _, kind = name.partition("@")
    channel = _KINDS.get(kind.lower())
    if channel is None or not sym.isalnum():
        return None
    return channel, sym.upper()


def topic_stream(topic: Topic) -> str:
    """The stream name frames of ``topic`` are published under: ``("depth", "BTCUSDT")`` ->
    ``btcusdt@depth@100ms``."""
    channel, symbol = topic
    return bs.CHANNELS[channel].format(s=symbol.lower(), speed="@100ms")


class BinanceSpotSim:
    """The :class:`~flowdesk.streaming.simulator.venue_api.VenueSim` of ``binance_spot``."""

    name = bs.VENUE
    ws_paths = WS_PATHS
    idle_timeout_s: float | None = None  # the venue pings; it does not close idle clients

    # -- WebSocket: client messages -------------------------------------------------------------

    def on_open(self, client: SimClient, path: str, query: dict[str, str], ctx: SimContext) -> list[str]:
        """``/stream?streams=a/b`` subscribes the URL's streams (combined payloads); ``/ws`` starts
        with none. Binance sends nothing on connect: returns ``[]``."""
        client.state["combined"] = path.rstrip("/") == "/stream"
        client.state["streams"] = {}
        names = [n for n in query.get("streams", "").split("/") if n]
        self._subscribe(client, names)
        return []

    def on_message(self, client: SimClient, text: str, ctx: SimContext) -> list[str]:
        """Answer one request: subscribe/unsubscribe/list/properties get ``{"result":...,"id":...}``,
        anything else Binance's ``{"code":...,"msg":...}`` error. Returns the frames to send."""
        try:
            req = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            return [_error(3, f"Invalid JSON: expected value at line {exc.lineno} column {exc.colno}")]
        if not isinstance(req, dict):
            return [_error(2, "Invalid request: expected an object")]
        if "method" not in req:
            return [_error(2, "Invalid request: missing field `method`")]
        rid = req.get("id", _MISSING)
        if not _valid_id(rid):
            return [_error(2, "Invalid request: request ID must be an unsigned integer")]
        method = req["method"]
        handler = self._handlers().get(method) if isinstance(method, str) else None
        if handler is None:
            variants = ", ".join(f"`{m}`" for m in _METHODS)
            return [_error(2, f"Invalid request: unknown variant `{method}`, expected one of {variants}", rid)]
        return [handler(client, req.get("params"), rid)]

    def _handlers(self) -> dict[str, Callable[[SimClient, Any, Any], str]]:
        return {
            "SUBSCRIBE": self._on_subscribe,
            "UNSUBSCRIBE": self._on_unsubscribe,
            "LIST_SUBSCRIPTIONS": self._on_list,
            "SET_PROPERTY": self._on_set_property,
            "GET_PROPERTY": self._on_get_property,
        }

    def _on_subscribe(self, client: SimClient, params: Any, rid: Any) -> str:
        if not _stream_list(params):
            return _error(1, "Invalid value type: expected array", rid)
        self._subscribe(client, params)
        return _dumps({"result": None, "id": rid})

    def _on_unsubscribe(self, client: SimClient, params: Any, rid: Any) -> str:
        if not _stream_list(params):
            return _error(1, "Invalid value type: expected array", rid)
        streams: dict[str, Topic | None] = client.state["streams"]
        gone = [streams.pop(name) for name in params if name in streams]
        still = set(streams.values())
        client.unsubscribe([t for t in gone if t is not None and t not in still])
        return _dumps({"result": None, "id": rid})

    @staticmethod
    def _on_list(client: SimClient, params: Any, rid: Any) -> str:
        return _dumps({"result": list(client.state["streams"]), "id": rid})

    def _on_set_property(self, client: SimClient, params: Any, rid: Any) -> str:
        if not isinstance(params, list) or len(params) != 2 or params[0] != "combined":
            return _error(0, "Unknown property", rid)
        if not isinstance(params[1], bool):
            return _error(1, "Invalid value type: expected Boolean", rid)
        client.state["combined"] = params[1]
        return _dumps({"result": None, "id": rid})

    def _on_get_property(self, client: SimClient, params: Any, rid: Any) -> str:
        if params != ["combined"]:
            return _error(0, "Unknown property", rid)
        return _dumps({"result": client.state["combined"], "id": rid})

    @staticmethod
    def _subscribe(client: SimClient, names: Iterable[str]) -> None:
        streams: dict[str, Topic | None] = client.state["streams"]
        topics = []
        for name in names:
            topic = stream_topic(name)
            streams[name] = topic
            if topic is not None:
                topics.append(topic)
        client.subscribe(topics)

    # -- WebSocket: neutral events -> frames -----------------------------------------------------

    def encode(self, event: Record, ctx: SimContext) -> list[tuple[Topic, str]]:
        """The frames of one neutral event with their topics; ``[]`` for what spot does not
        publish (mark price, funding, open interest, liquidations) and non-1m candles."""
        kind = type(event)
        if kind is Trade:
            return self._trade_frames(event, ctx)
        if kind is Quote:
            return [_framed(("bookTicker", event.symbol), self._book_ticker(event, ctx))]
        if kind is BookDelta:
            return [_framed(("depth", event.symbol), self._depth(event, ctx))]
        if kind is Candle and event.interval == "1m":
            return [_framed(("kline_1m", event.symbol), self._kline(event, ctx))]
        if kind is Ticker24h:
            return [_framed(("ticker", event.symbol), self._ticker(event, ctx))]
        return []

    @staticmethod
    def _trade_frames(t: Trade, ctx: SimContext) -> list[tuple[Topic, str]]:
        s, p, q, maker = t.symbol, price(ctx, t.symbol, t.price), qty(ctx, t.symbol, t.qty), t.side == "sell"
        raw = {"e": "trade", "E": t.ts, "s": s, "t": t.trade_id, "p": p, "q": q, "T": t.ts, "m": maker, "M": True}
        agg = {
            "e": "aggTrade", "E": t.ts, "s": s, "a": t.trade_id, "p": p, "q": q, "f": t.first_id,
            "l": t.last_id, "T": t.ts, "m": maker, "M": True,
        }
        return [_framed(("trade", s), raw), _framed(("aggTrade", s), agg)]

    @staticmethod
    def _book_ticker(q: Quote, ctx: SimContext) -> dict[str, Any]:
        s = q.symbol
        return {
            "u": q.update_id, "s": s, "b": price(ctx, s, q.bid), "B": qty(ctx, s, q.bid_qty),
            "a": price(ctx, s, q.ask), "A": qty(ctx, s, q.ask_qty),
        }

    @staticmethod
    def _depth(d: BookDelta, ctx: SimContext) -> dict[str, Any]:
        s = d.symbol
        return {
            "e": "depthUpdate", "E": d.ts, "s": s, "U": d.first_update_id, "u": d.last_update_id,
            "b": _levels(ctx, s, d.bids), "a": _levels(ctx, s, d.asks),
        }

    @staticmethod
    def _kline(k: Candle, ctx: SimContext) -> dict[str, Any]:
        s, count = k.symbol, k.trade_count or 0
        first, last = _id_range(ctx, s, count, k.close_ts)
        avg = k.quote_volume / k.volume if k.volume else 0.0
        buy = k.taker_buy_volume or 0.0
        bar = {
            "t": k.open_ts, "T": k.close_ts, "s": s, "i": k.interval, "f": first, "L": last,
            "o": price(ctx, s, k.open), "c": price(ctx, s, k.close), "h": price(ctx, s, k.high),
            "l": price(ctx, s, k.low), "v": qty(ctx, s, k.volume), "n": count, "x": k.closed,
            "q": _amount(k.quote_volume), "V": qty(ctx, s, buy), "Q": _amount(buy * avg), "B": "0",
        }
        return {"e": "kline", "E": k.ts, "s": s, "k": bar}

    @staticmethod
    def _ticker(t: Ticker24h, ctx: SimContext) -> dict[str, Any]:
        return {"e": "24hrTicker", "E": t.ts, **_ticker_fields(t, ctx, stream=True)}

    # -- REST -----------------------------------------------------------------------------------

    def rest(self, method: str, path: str, query: dict[str, str], ctx: SimContext) -> tuple[int, Any]:
        """``GET /api/v3/{ping,time,exchangeInfo,depth,ticker/24hr,aggTrades,historicalTrades,
        klines}``. Returns ``(status, body)``: Binance's ``{"code":...,"msg":...}`` with 400 for
        a bad parameter and 404 for another path or method."""
        route = _ROUTES.get(path) if method.upper() == "GET" else None
        if route is None:
            return 404, {"code": -5000, "msg": f"Path {path}, Method {method.upper()} is invalid"}
        try:
            return 200, route(query, ctx)
        except _ApiError as exc:
            return 400, {"code": exc.code, "msg": exc.msg}


# -- frames ---------------------------------------------------------------------------------------


def _framed(topic: Topic, data: dict[str, Any]) -> tuple[Topic, str]:
    """``(topic, '{"stream":"<name>","data":{...}}')``."""
    return topic, _dumps({"stream": topic_stream(topic), "data": data})


def _levels(ctx: SimContext, symbol: str, rows: Iterable[tuple[float, float]]) -> list[list[str]]:
    return [[price(ctx, symbol, p), qty(ctx, symbol, q)] for p, q in rows]


def _id_range(ctx: SimContext, symbol: str, count: int, until_ms: int) -> tuple[int, int]:
    """``(first, last)`` trade ids of the ``count`` trades up to ``until_ms``, counted back from the
    newest trade at or before it; ``(-1, -1)`` without trades (as Binance writes it)."""
    if count <= 0:
        return -1, -1
    recent = ctx.trades(symbol, None, 200)
    last = next((t.trade_id for t in reversed(recent) if t.ts <= until_ms), None)
    if last is None:
        return -1, -1
    return max(1, last - count + 1), last


def _ticker_fields(t: Ticker24h, ctx: SimContext, *, stream: bool) -> dict[str, Any]:
    """A 24h ticker's fields, in the stream's one-letter names or the REST names."""
    s = t.symbol
    quote, trade = ctx.latest(s, "Quote"), ctx.latest(s, "Trade")
    bid, bid_qty, ask, ask_qty = (quote.bid, quote.bid_qty, quote.ask, quote.ask_qty) if isinstance(quote, Quote) else (
        0.0, 0.0, 0.0, 0.0)
    count = t.trade_count or 0
    last_id = trade.trade_id if isinstance(trade, Trade) and count else -1
    first_id = max(1, last_id - count + 1) if count and last_id > 0 else -1
    values = {
        "s": s, "p": price(ctx, s, t.last - t.open), "P": f"{t.price_change_pct:.3f}",
        "w": _amount(t.quote_volume / t.volume if t.volume else 0.0), "x": price(ctx, s, t.open),
        "c": price(ctx, s, t.last), "Q": qty(ctx, s, trade.qty if isinstance(trade, Trade) else 0.0),
        "b": price(ctx, s, bid), "B": qty(ctx, s, bid_qty), "a": price(ctx, s, ask), "A": qty(ctx, s, ask_qty),
        "o": price(ctx, s, t.open), "h": price(ctx, s, t.high), "l": price(ctx, s, t.low),
        "v": qty(ctx, s, t.volume), "q": _amount(t.quote_volume), "O": t.ts - DAY_MS, "C": t.ts,
        "F": first_id, "L": last_id, "n": count,
    }
    if stream:
        return values
    return {rest_name: values[key] for key, rest_name in _TICKER_REST_NAMES.items()}


#: 24hrTicker stream field -> ``GET /api/v3/ticker/24hr`` field
_TICKER_REST_NAMES = {
    "s": "symbol", "p": "priceChange", "P": "priceChangePercent", "w": "weightedAvgPrice",
    "x": "prevClosePrice", "c": "lastPrice", "Q": "lastQty", "b": "bidPrice", "B": "bidQty",
    "a": "askPrice", "A": "askQty", "o": "openPrice", "h": "highPrice", "l": "lowPrice",
    "v": "volume", "q": "quoteVolume", "O": "openTime", "C": "closeTime", "F": "firstId",
    "L": "lastId", "n": "count",
}

# -- REST handlers ----------------------------------------------------------------------------------


class _ApiError(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code, self.msg = code, msg


_MISSING = object()


def _valid_id(rid: Any) -> bool:
    """Binance accepts a 64-bit integer, an alphanumeric string of at most 36 characters or null."""
    if rid is None:
        return True
    if type(rid) is int:
        return -(2**63) <= rid < 2**63
    return isinstance(rid, str) and len(rid) <= 36 and rid.isalnum()


def _stream_list(params: Any) -> bool:
    return isinstance(params, list) and all(isinstance(p, str) for p in params)


def _symbol(query: dict[str, str], ctx: SimContext) -> str:
    raw = query.get("symbol", "")
    if not raw:
        raise _ApiError(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
    if raw not in ctx.symbols:  # Binance symbols are case-sensitive upper case
        raise _ApiError(-1121, "Invalid symbol.")
    return raw


def _int(query: dict[str, str], name: str, default: int | None) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not str(raw).isdigit():
        raise _ApiError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.")
    return int(raw)


def _limit(query: dict[str, str], default: int, maximum: int) -> int:
    limit = _int(query, "limit", default)
    assert limit is not None
    if limit < 1:
        raise _ApiError(-1100, "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'.")
    if limit > maximum:
        raise _ApiError(-1130, "Data sent for parameter 'limit' is not valid.")
    return limit


def _exchange_info(query: dict[str, str], ctx: SimContext) -> dict[str, Any]:
    symbols = [_symbol(query, ctx)] if query.get("symbol") else list(ctx.symbols)
    return {
        "timezone": "UTC", "serverTime": ctx.now_ms(), "rateLimits": _RATE_LIMITS, "exchangeFilters": [],
        "symbols": [_symbol_info(s, ctx, query.get("showPermissionSets") != "false") for s in symbols],
    }


def _symbol_info(symbol: str, ctx: SimContext, permission_sets: bool) -> dict[str, Any]:
    spec = ctx.spec(symbol)
    tick, step = _pad(spec.tick_size, spec.price_decimals), _pad(spec.step_size, spec.qty_decimals)
    filters = [
        {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "1000000.00000000", "tickSize": tick},
        {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "9000.00000000", "stepSize": step},
    ]
    return {
        "symbol": symbol, "status": "TRADING", "baseAsset": spec.base, "baseAssetPrecision": 8,
        "quoteAsset": spec.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "isSpotTradingAllowed": True, "isMarginTradingAllowed": False, "filters": filters,
        "permissions": [], "permissionSets": [["SPOT"]] if permission_sets else [],
    }


def _depth_snapshot(query: dict[str, str], ctx: SimContext) -> dict[str, Any]:
    symbol = _symbol(query, ctx)
    limit = min(_limit(query, 100, 1_000_000), 5000)  # Binance truncates a limit above 5000
    book = ctx.book(symbol, limit)
    return {"lastUpdateId": book.seq, "bids": _levels(ctx, symbol, book.bids), "asks": _levels(ctx, symbol, book.asks)}


def _ticker_24h(query: dict[str, str], ctx: SimContext) -> Any:
    symbols = [_symbol(query, ctx)] if query.get("symbol") else list(ctx.symbols)
    rows = [_rest_ticker(s, ctx) for s in symbols]
    return rows[0] if query.get("symbol") else rows


def _rest_ticker(symbol: str, ctx: SimContext) -> dict[str, Any]:
    t = ctx.latest(symbol, "Ticker24h")
    if not isinstance(t, Ticker24h):  # no statistics yet: Binance shows an untraded symbol as zeros
        t = Ticker24h(bs.EXCHANGE, bs.MARKET, symbol, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, ctx.now_ms(), 0)
    return _ticker_fields(t, ctx, stream=False)


def _agg_trades(query: dict[str, str], ctx: SimContext) -> list[dict[str, Any]]:
    symbol = _symbol(query, ctx)
    trades = ctx.trades(symbol, _int(query, "fromId", None), _limit(query, 500, 1000))
    return [
        {"a": t.trade_id, "p": price(ctx, symbol, t.price), "q": qty(ctx, symbol, t.qty), "f": t.first_id,
         "l": t.last_id, "T": t.ts, "m": t.side == "sell", "M": True}
        for t in trades
    ]


def _historical_trades(query: dict[str, str], ctx: SimContext) -> list[dict[str, Any]]:
    symbol = _symbol(query, ctx)
    trades = ctx.trades(symbol, _int(query, "fromId", None), _limit(query, 500, 1000))
    return [
        {"id": t.trade_id, "price": price(ctx, symbol, t.price), "qty": qty(ctx, symbol, t.qty),
         "quoteQty": _amount(t.price * t.qty), "time": t.ts, "isBuyerMaker": t.side == "sell", "isBestMatch": True}
        for t in trades
    ]


def _klines(query: dict[str, str], ctx: SimContext) -> list[list[Any]]:
    symbol = _symbol(query, ctx)
    if query.get("interval") != "1m":  # the simulated market keeps 1-minute bars only
        raise _ApiError(-1120, "Invalid interval.")
    rows = []
    for k in ctx.candles(symbol, _limit(query, 500, 1000)):
        assert isinstance(k, Candle)
        buy = k.taker_buy_volume or 0.0
        avg = k.quote_volume / k.volume if k.volume else 0.0
        rows.append([
            k.open_ts, price(ctx, symbol, k.open), price(ctx, symbol, k.high), price(ctx, symbol, k.low),
            price(ctx, symbol, k.close), qty(ctx, symbol, k.volume), k.close_ts, _amount(k.quote_volume),
            k.trade_count or 0, qty(ctx, symbol, buy), _amount(buy * avg), "0",
        ])
    return rows


_ROUTES: dict[str, Callable[[dict[str, str], SimContext], Any]] = {
    bs.PING_PATH: lambda query, ctx: {},
    bs.TIME_PATH: lambda query, ctx: {"serverTime": ctx.now_ms()},
    bs.EXCHANGE_INFO_PATH: _exchange_info,
    bs.DEPTH_PATH: _depth_snapshot,
    bs.TICKER_24H_PATH: _ticker_24h,
    bs.AGG_TRADES_PATH: _agg_trades,
    bs.HISTORICAL_TRADES_PATH: _historical_trades,
    bs.KLINES_PATH: _klines,
}

SIMS: dict[str, BinanceSpotSim] = {bs.VENUE: BinanceSpotSim()}
