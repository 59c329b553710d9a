"""Bybit v5 public market data, linear perpetuals and spot: pure parsers to :mod:`flowdesk.records`.

Nothing here opens a socket. The generic feed opens ``wss://stream.bybit.com/v5/public/linear``
(or ``/spot``), sends the :func:`subscribe_messages` this module builds, pings with
``{"op":"ping"}`` every 20 s and hands every frame to the parser from ``make_parser``.

WebSocket docs: https://bybit-exchange.github.io/docs/v5/ws/connect
Topics: https://bybit-exchange.github.io/docs/v5/websocket/public/orderbook (and ``trade``,
``ticker``, ``kline``, ``all-liquidation`` beside it)
REST docs: https://bybit-exchange.github.io/docs/v5/market/instrument

Every data frame is ``{"topic": "<channel>.<symbol>", "type": "snapshot"|"delta", "ts": ...,
"data": ...}``; the parser dispatches on the topic without its symbol (``orderbook.200``,
``publicTrade``, ``tickers``, ``kline.1``, ``allLiquidation``). Control replies carry ``op`` and
``success`` instead of a topic.

Symbols: linear USDT perpetuals and all spot pairs are spelled as flowdesk spells them
(``BTCUSDT``); Bybit's USDC perpetuals are ``<BASE>PERP`` (``BTCPERP`` <-> ``BTCUSDC``).
Quantities are in base units on both markets (Bybit linear contracts are one coin each), so
``contract_size`` is 1.0 everywhere.

Timestamps: trades use the trade time ``T``; books the matching-engine time ``cts`` (the
message time ``ts`` when absent); tickers the message time ``ts``; candles the bar's
``timestamp``; liquidations ``T``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from flowdesk.records import (
    BookDelta,
    BookSnapshot,
    Candle,
    Liquidation,
    MarkFunding,
    OpenInterest,
    Quote,
    Record,
    Ticker24h,
    Trade,
)
from flowdesk.streaming.venues.base import (
    FIELD_ERRORS,
    ParseError,
    ParseFn,
    UnknownMessage,
    VenueError,
    as_bool,
    as_int,
    as_json,
    as_str,
    build_many,
    build_one,
    field_error,
    levels,
    new_record,
    opt_float,
    trade_id_of,
)
from flowdesk.streaming.venues.protocol import Instrument, VenueProtocol

EXCHANGE = "bybit"
LINEAR = "linear"
SPOT = "spot"

WS_URL = "wss://stream.bybit.com"
REST_URL = "https://api.bybit.com"
DOCS_URL = "https://bybit-exchange.github.io/docs/v5/intro"
#: the public WebSocket path of each market
WS_PATHS: dict[str, str] = {LINEAR: "/v5/public/linear", SPOT: "/v5/public/spot"}
INSTRUMENTS_PATH = "/v5/market/instruments-info"
#: spot accepts at most 10 topics per subscribe request; linear has no count limit but a
#: length limit on ``args``, so both markets get requests of 10 topics
MAX_ARGS_PER_REQUEST = 10
PING = '{"op":"ping"}'
PING_INTERVAL_S = 20.0
#: "600 requests within a 5-second window per IP" (https://bybit-exchange.github.io/docs/v5/rate-limit)
MAX_REQUESTS_PER_MINUTE = 7200

# ---------------------------------------------------------------------------------------------
# Streams, topics and symbols
# ---------------------------------------------------------------------------------------------

#: flowdesk stream setting -> Bybit topic prefix (the topic is ``<prefix>.<venue symbol>``).
#: ``orderbook`` is the 50-level book; ``orderbook.200``/``orderbook.1000`` replace it (one book
#: depth per feed). ``orderbook.1`` is Bybit's level-1 book, collected as :class:`Quote` records.
LINEAR_CHANNELS: dict[str, str] = {
    "publicTrade": "publicTrade",
    "orderbook": "orderbook.50",
    "orderbook.200": "orderbook.200",
    "orderbook.1000": "orderbook.1000",
    "orderbook.1": "orderbook.1",
    "tickers": "tickers",
    "allLiquidation": "allLiquidation",
    "kline.1": "kline.1",
}
SPOT_CHANNELS: dict[str, str] = {k: v for k, v in LINEAR_CHANNELS.items() if k != "allLiquidation"}
CHANNELS: dict[str, dict[str, str]] = {LINEAR: LINEAR_CHANNELS, SPOT: SPOT_CHANNELS}
BOOK_STREAMS = ("orderbook", "orderbook.200", "orderbook.1000")

#: Bybit kline interval -> flowdesk interval name (Binance's spelling)
INTERVALS: dict[str, str] = {
    "1": "1m", "3": "3m", "5": "5m", "15": "15m", "30": "30m", "60": "1h", "120": "2h",
    "240": "4h", "360": "6h", "720": "12h", "D": "1d", "W": "1w", "M": "1M",
}


def linear_to_venue(symbol: str) -> str:
    """flowdesk -> Bybit linear symbol: ``BTCUSDT`` stays, ``BTCUSDC`` -> ``BTCPERP``."""
    return symbol[:-4] + "PERP" if symbol.endswith("USDC") else symbol


def linear_from_venue(venue_symbol: str) -> str:
    """Bybit linear -> flowdesk symbol: ``BTCPERP`` -> ``BTCUSDC``, anything else as is."""
    return venue_symbol[:-4] + "USDC" if venue_symbol.endswith("PERP") else venue_symbol


def spot_symbol(symbol: str) -> str:
    """Spot symbols are the same on both sides (``BTCUSDT``)."""
    return symbol


TO_VENUE: dict[str, Callable[[str], str]] = {LINEAR: linear_to_venue, SPOT: spot_symbol}
FROM_VENUE: dict[str, Callable[[str], str]] = {LINEAR: linear_from_venue, SPOT: spot_symbol}


def topics(market: str, symbols: Iterable[str], streams: Iterable[str]) -> list[str]:
    """Bybit topics for every (symbol, stream setting) pair, symbol by symbol.

    >>> topics("linear", ["BTCUSDT", "BTCUSDC"], ["publicTrade", "orderbook"])
    ['publicTrade.BTCUSDT', 'orderbook.50.BTCUSDT', 'publicTrade.BTCPERP', 'orderbook.50.BTCPERP']
    """
    channels = CHANNELS[market]
    wanted = list(streams)
    unknown = [s for s in wanted if s not in channels]
    if unknown:
        raise ValueError(f"unknown bybit_{market} streams {unknown} (known: {sorted(channels)})")
    if sum(s in BOOK_STREAMS for s in wanted) > 1:
        raise ValueError(f"bybit_{market}: configure one book depth of {BOOK_STREAMS}, not several")
    to_venue = TO_VENUE[market]
    return [f"{channels[s]}.{to_venue(sym)}" for sym in symbols for s in wanted]


def _requests(op: str, args: list[str]) -> list[str]:
    """``{"op": op, "args": [...]}`` texts with at most :data:`MAX_ARGS_PER_REQUEST` args each."""
    step = MAX_ARGS_PER_REQUEST
    return [
        orjson.dumps({"op": op, "args": args[i : i + step]}).decode()
        for i in range(0, len(args), step)
    ]


def subscribe_messages(market: str, symbols: Iterable[str], streams: Iterable[str]) -> list[str]:
    """The subscribe requests for a fresh connection, e.g.
    ``{"op":"subscribe","args":["publicTrade.BTCUSDT","orderbook.50.BTCUSDT"]}``."""
    return _requests("subscribe", topics(market, symbols, streams))


def resubscribe_messages(market: str, symbol: str, streams: Iterable[str]) -> list[str]:
    """Unsubscribe + subscribe of one symbol's book topic: Bybit answers the subscribe with a
    fresh snapshot, which restarts the ``u`` chain. ``[]`` when no book stream is configured."""
    book = [s for s in streams if s in BOOK_STREAMS]
    if not book:
        return []
    args = topics(market, [symbol], book[:1])
    return _requests("unsubscribe", args) + _requests("subscribe", args)


def ws_target(market: str, base: str) -> str:
    """The URL to open: ``<base>/v5/public/<market>`` (a base that already ends with the path is
    taken as it is)."""
    path = WS_PATHS[market]
    base = base.rstrip("/")
    return base if base.endswith(path) else base + path


# ---------------------------------------------------------------------------------------------
# WebSocket parsing (the hot path)
# ---------------------------------------------------------------------------------------------

_int = as_int
_SIDE = {"Buy": "buy", "Sell": "sell"}  # publicTrade S: the taker's side
#: allLiquidation S is the side of the liquidated *position* ("Buy": a long was liquidated), so
#: the liquidation order itself is the opposite side
_LIQUIDATION_ORDER_SIDE = {"Buy": "sell", "Sell": "buy"}
_QUOTE_KEYS = frozenset({"bid1Price", "bid1Size", "ask1Price", "ask1Size"})
_MARK_KEYS = frozenset({"markPrice", "indexPrice", "fundingRate", "nextFundingTime"})
_OI_KEYS = frozenset({"openInterest"})
_TICKER_KEYS = frozenset({
    "lastPrice", "prevPrice24h", "highPrice24h", "lowPrice24h", "volume24h", "turnover24h",
    "price24hPcnt",
})
BOOK_DEPTHS = (50, 200, 500, 1000)  # 500 was linear's deep book before 1000 replaced it

_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError


def _ms(value: Any) -> int:
    """A millisecond time sent as a JSON integer or a decimal string (``"1786320000000"``)."""
    return value if type(value) is int else int(as_str(value))


def _opt_ms(value: Any) -> int | None:
    """:func:`_ms`, or ``None`` for ``"0"``/``""``/absent (no next funding: dated futures)."""
    if value in (None, "", "0", 0):
        return None
    return _ms(value)


class _SymbolMap(dict[str, str]):
    """Bybit symbol -> flowdesk symbol, filled from the instruments and learned on first use."""

    def __init__(self, from_venue: Callable[[str], str], known: Mapping[str, str]) -> None:
        super().__init__(known)
        self._from_venue = from_venue

    def __missing__(self, venue_symbol: str) -> str:
        symbol = self[venue_symbol] = self._from_venue(as_str(venue_symbol))
        return symbol


class BybitParser:
    """One feed's parser: :meth:`parse` turns a frame into records. Holds the per-symbol ticker
    state that Bybit's ``tickers`` deltas (only the changed fields) are merged into."""

    def __init__(self, market: str, instruments: Mapping[str, Instrument] | None = None) -> None:
        self.market = market
        self.venue = f"{EXCHANGE}_{market}"
        known = {i.venue_symbol: i.symbol for i in (instruments or {}).values()}
        self.symbols = _SymbolMap(FROM_VENUE[market], known)
        #: Bybit symbol -> the merged ``tickers`` data (the snapshot, updated by every delta)
        self.tickers: dict[str, dict[str, Any]] = {}
        handlers: dict[str, Callable[[dict[str, Any], int], list[Record]]] = {
            "publicTrade": self._trades,
            "tickers": self._tickers,
            "orderbook.1": self._level1,
        }
        handlers.update({f"orderbook.{n}": self._book for n in BOOK_DEPTHS})
        handlers.update({f"kline.{iv}": self._kline for iv in INTERVALS})
        if market == LINEAR:
            handlers["allLiquidation"] = self._liquidations
        self.handlers = handlers

    def parse(self, raw: bytes | str, recv_ns: int) -> list[Record]:
        """Parse one frame received at ``recv_ns``: records for data frames, ``[]`` for acks and
        pongs. Raises :class:`ParseError` (broken frame), :class:`VenueError` (error reply) or
        :class:`UnknownMessage` (a topic or message kind not handled here)."""
        try:
            msg = _loads(raw)
        except _JSONDecodeError as exc:
            raise ParseError(f"{self.venue}: bad JSON: {exc}") from None
        try:
            topic = msg["topic"]
            handler = self.handlers[topic[: topic.rindex(".")]]
        except (KeyError, TypeError, ValueError, AttributeError):
            return self._other(msg)
        try:
            return handler(msg, recv_ns)
        except ParseError:
            raise
        except FIELD_ERRORS as exc:
            raise field_error(f"{self.venue} {topic} {msg.get('type')}", exc) from None

    # -- handlers: each returns the records of one data frame ------------------------------------

    def _trades(self, msg: dict[str, Any], recv_ns: int) -> list[Record]:
        """``publicTrade`` -> :class:`Trade` s (``S`` is the taker side); block trades (``BT``,
        negotiated off the book) are skipped. Linear ids are UUIDs, spot ids decimal strings::

            {"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1786310819681,"data":[{
             "T":1786310819680,"s":"BTCUSDT","S":"Sell","v":"0.004","p":"65114.20","L":"MinusTick",
             "i":"a9188a0a-82bc-50de-be60-03eedbe3cdd7","BT":false,"RPI":false,"seq":753843954913}]}
        """
        out: list[Record] = []
        symbols, market = self.symbols, self.market
        for d in msg["data"]:
            if d.get("BT"):
                continue
            tid = trade_id_of(d["i"])
            out.append(new_record(Trade, (
                EXCHANGE, market, symbols[d["s"]], tid, float(d["p"]), float(d["v"]),
                _SIDE[d["S"]], _int(d["T"]), recv_ns, tid, tid, "ws",
            )))
        return out

    def _book(self, msg: dict[str, Any], recv_ns: int) -> list[Record]:
        """``orderbook.{50,200,1000}`` -> :class:`BookSnapshot` or :class:`BookDelta`; ``u`` is
        the update id (+1 per message; a snapshot, also ``u=1`` after a restart, replaces the
        book), so a delta carries ``first = last = u`` and no ``prev`` (-1)::

            {"topic":"orderbook.200.BTCUSDT","type":"delta","ts":1786310818130,"data":{
             "s":"BTCUSDT","b":[["65095.30","0.005"],["65093.10","0"]],"a":[["65116.60","0"]],
             "u":15076953,"seq":753843913870},"cts":1786310818129}
        """
        d = msg["data"]
        kind = msg["type"]
        symbol = self.symbols[d["s"]]
        u = _int(d["u"])
        ts = _int(msg.get("cts") or msg["ts"])
        if kind == "delta":
            return [new_record(BookDelta, (
                EXCHANGE, self.market, symbol, u, u, -1, levels(d["b"]), levels(d["a"]), ts, recv_ns,
            ))]
        if kind == "snapshot":
            return [new_record(BookSnapshot, (
                EXCHANGE, self.market, symbol, u, levels(d["b"]), levels(d["a"]), ts, recv_ns,
            ))]
        raise KeyError(f"type {kind!r}")

    def _level1(self, msg: dict[str, Any], recv_ns: int) -> list[Record]:
        """``orderbook.1`` (level-1 snapshots, repeated every 3 s when unchanged) -> :class:`Quote`
        with ``update_id = u``; ``[]`` while a side is empty::

            {"topic":"orderbook.1.BTCUSDT","type":"snapshot","ts":1709891679000,"data":{
             "s":"BTCUSDT","b":[["27450.00","0.500"]],"a":[["27451.00","0.750"]],
             "u":123456789,"seq":987654321}}
        """
        d = msg["data"]
        bids, asks = d["b"], d["a"]
        if not bids or not asks:
            return []
        bid, bid_qty = bids[0][0], bids[0][1]
        ask, ask_qty = asks[0][0], asks[0][1]
        return [new_record(Quote, (
            EXCHANGE, self.market, self.symbols[d["s"]], float(bid), float(bid_qty), float(ask),
            float(ask_qty), _int(d["u"]), _int(msg.get("cts") or msg["ts"]), recv_ns,
        ))]

    def _tickers(self, msg: dict[str, Any], recv_ns: int) -> list[Record]:
        """``tickers``: a snapshot replaces the symbol's state, a delta (linear: only the
        changed fields) is merged into it. Each record kind whose fields the frame touches is
        built complete from the merged state: :class:`Quote` (bid1/ask1, ``update_id`` = ``cs``),
        :class:`MarkFunding`, :class:`OpenInterest` (when ``openInterest`` changes; base units)
        and :class:`Ticker24h`. Spot sends snapshots with 24h statistics only::

            {"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT",
             "bid1Price":"65114.20","bid1Size":"6.054","ask1Price":"65114.30","ask1Size":"10.486"},
             "cs":753843907770,"ts":1786310817883}
        """
        d = msg["data"]
        venue_symbol = d["symbol"]
        kind = msg["type"]
        if kind == "snapshot":
            state = self.tickers[venue_symbol] = d
        elif kind == "delta":
            state = self.tickers.setdefault(venue_symbol, {})
            state.update(d)
        else:
            raise KeyError(f"type {kind!r}")
        symbol, ts = self.symbols[venue_symbol], _int(msg["ts"])
        keys = d.keys()
        out: list[Record] = []
        if not keys.isdisjoint(_QUOTE_KEYS):
            out.append(self._quote(symbol, state, _int(msg["cs"]), ts, recv_ns))
        if not keys.isdisjoint(_MARK_KEYS):
            out.append(self._mark(symbol, state, ts, recv_ns))
        if not keys.isdisjoint(_OI_KEYS):
            out.append(new_record(OpenInterest, (
                EXCHANGE, self.market, symbol, float(state["openInterest"]),
                opt_float(state.get("openInterestValue")), ts, recv_ns,
            )))
        if not keys.isdisjoint(_TICKER_KEYS):
            out.append(self._ticker24h(symbol, state, ts, recv_ns))
        return out

    def _quote(self, symbol: str, s: dict[str, Any], update_id: int, ts: int, recv_ns: int) -> Quote:
        return new_record(Quote, (
            EXCHANGE, self.market, symbol, float(s["bid1Price"]), float(s["bid1Size"]),
            float(s["ask1Price"]), float(s["ask1Size"]), update_id, ts, recv_ns,
        ))

    def _mark(self, symbol: str, s: dict[str, Any], ts: int, recv_ns: int) -> MarkFunding:
        return new_record(MarkFunding, (
            EXCHANGE, self.market, symbol, float(s["markPrice"]), opt_float(s.get("indexPrice")),
            opt_float(s.get("fundingRate")), _opt_ms(s.get("nextFundingTime")), ts, recv_ns,
        ))

    def _ticker24h(self, symbol: str, s: dict[str, Any], ts: int, recv_ns: int) -> Ticker24h:
        """``price24hPcnt`` is a fraction (0.0015 = 0.15 %); the record holds percent."""
        return new_record(Ticker24h, (
            EXCHANGE, self.market, symbol, float(s["lastPrice"]), float(s["prevPrice24h"]),
            float(s["highPrice24h"]), float(s["lowPrice24h"]), float(s["volume24h"]),
            float(s["turnover24h"]), float(s["price24hPcnt"]) * 100.0, None, ts, recv_ns,
        ))

    def _kline(self, msg: dict[str, Any], recv_ns: int) -> list[Record]:
        """``kline.{interval}`` -> :class:`Candle` s (``confirm``: the bar is closed); the symbol
        is the topic's last part. Bybit gives no trade count or taker volume::

            {"topic":"kline.1.BTCUSDT","data":[{"start":1786310760000,"end":1786310819999,
             "interval":"1","open":"65119.9","close":"65114.3","high":"65119.9","low":"65114.2",
             "volume":"1.576","turnover":"102627.995","confirm":false,"timestamp":1786310818440}],
             "ts":1786310818440,"type":"snapshot"}
        """
        topic: str = msg["topic"]
        symbol = self.symbols[topic[topic.rindex(".") + 1 :]]
        return [new_record(Candle, (
            EXCHANGE, self.market, symbol, INTERVALS[k["interval"]], _int(k["start"]),
            _int(k["end"]), float(k["open"]), float(k["high"]), float(k["low"]),
            float(k["close"]), float(k["volume"]), float(k["turnover"]), None, None,
            as_bool(k["confirm"]), _int(k["timestamp"]), recv_ns,
        )) for k in msg["data"]]

    def _liquidations(self, msg: dict[str, Any], recv_ns: int) -> list[Record]:
        """``allLiquidation`` (linear) -> :class:`Liquidation` s. ``S`` is the liquidated
        position's side, ``p`` the bankruptcy price, ``v`` the size; Bybit sends no order
        status, average price or filled size (``status`` is ``""``)::

            {"topic":"allLiquidation.ROSEUSDT","type":"snapshot","ts":1739502303204,"data":[{
             "T":1739502302929,"s":"ROSEUSDT","S":"Sell","v":"20000","p":"0.04499"}]}
        """
        return [new_record(Liquidation, (
            EXCHANGE, self.market, self.symbols[d["s"]], _LIQUIDATION_ORDER_SIDE[d["S"]],
            float(d["p"]), None, float(d["v"]), None, "", _ms(d["T"]), recv_ns,
        )) for d in msg["data"]]

    # -- the slow path --------------------------------------------------------------------------

    def _other(self, msg: Any) -> list[Record]:
        """Control replies, error replies and unknown objects.

        Acks and pongs: ``{"success":true,"ret_msg":"","conn_id":"d8bu1olkndm7crnfs1e0-j6akw",
        "req_id":"","op":"subscribe"}``, ``{"success":true,"ret_msg":"pong",...,"op":"ping"}``.
        Errors: ``{"success":false,"ret_msg":"error:handler not found,topic:x.BTCUSDT",...}``.
        """
        if not isinstance(msg, dict):
            raise ParseError(f"{self.venue}: expected a JSON object, got {type(msg).__name__}")
        if "success" in msg:
            if msg["success"] is True:
                return []
            raise VenueError(f"{self.venue} error reply: {orjson.dumps(msg).decode()[:300]}")
        if msg.get("op") == "pong":  # the private-stream pong shape, should a proxy send it
            return []
        if msg.get("retCode", 0) != 0:  # REST-style error body
            raise VenueError(f"{self.venue} error reply: {orjson.dumps(msg).decode()[:300]}")
        if "topic" in msg:
            raise UnknownMessage(f"{self.venue}: unknown topic {msg['topic']!r}")
        raise UnknownMessage(f"{self.venue}: object without a topic, keys {sorted(msg)[:8]}")


def parser_factory(market: str) -> Callable[[Mapping[str, Instrument]], ParseFn]:
    """``make_parser(instruments) -> parse`` for one market (a fresh state per feed)."""

    def make_parser(instruments: Mapping[str, Instrument]) -> ParseFn:
        return BybitParser(market, instruments).parse

    return make_parser


# ---------------------------------------------------------------------------------------------
# REST: instruments
# ---------------------------------------------------------------------------------------------


def instruments_params(market: str) -> dict[str, Any]:
    """The query of ``GET /v5/market/instruments-info`` (one page of up to 1000 instruments;
    Bybit listed 800 linear and 557 spot instruments in 2026)."""
    return {"category": market, "status": "Trading", "limit": 1000}


def _result_list(payload: Any, where: str) -> Any:
    """``result.list`` of a v5 REST answer; :class:`VenueError` when ``retCode`` is not 0."""
    doc = as_json(payload)
    code = build_one(where, lambda p: p["retCode"], doc)
    if code != 0:
        raise VenueError(f"{where}: retCode {code} {str(doc.get('retMsg'))[:200]}")
    return build_one(where, lambda p: p["result"]["list"], doc)


def parse_linear_instruments(payload: Any) -> dict[str, Instrument]:
    """``GET /v5/market/instruments-info?category=linear`` -> ``{flowdesk symbol: Instrument}``
    for the perpetuals (``LinearPerpetual``; dated ``LinearFutures`` such as
    ``BTCUSDT-14AUG26`` are left out: their names are not flowdesk symbols). One entry, abridged::

        {"symbol":"BTCUSDT","contractType":"LinearPerpetual","status":"Trading","baseCoin":"BTC",
         "quoteCoin":"USDT","priceFilter":{"minPrice":"0.10","maxPrice":"1999999.80",
         "tickSize":"0.10"},"lotSizeFilter":{"maxOrderQty":"1500.000","minOrderQty":"0.001",
         "qtyStep":"0.001"},"settleCoin":"USDT"}
    """
    rows = _result_list(payload, "bybit_linear instruments-info")
    perps = [r for r in rows if isinstance(r, dict) and r.get("contractType") == "LinearPerpetual"]
    infos = build_many("bybit_linear instruments-info list", _linear_instrument, perps)
    return {i.symbol: i for i in infos}


def _linear_instrument(r: dict[str, Any]) -> Instrument:
    venue_symbol = as_str(r["symbol"])
    return Instrument(
        linear_from_venue(venue_symbol), venue_symbol, float(r["priceFilter"]["tickSize"]),
        float(r["lotSizeFilter"]["qtyStep"]), 1.0, as_str(r["status"]),
    )


def parse_spot_instruments(payload: Any) -> dict[str, Instrument]:
    """``GET /v5/market/instruments-info?category=spot`` -> ``{symbol: Instrument}``; the lot
    step is ``basePrecision`` (spot has no ``qtyStep``). One entry, abridged::

        {"symbolId":9,"symbol":"BTCUSDT","baseCoin":"BTC","quoteCoin":"USDT","status":"Trading",
         "lotSizeFilter":{"basePrecision":"0.000001","quotePrecision":"0.0000001",
         "minOrderQty":"0.000001","maxOrderQty":"230"},"priceFilter":{"tickSize":"0.1"}}
    """
    rows = _result_list(payload, "bybit_spot instruments-info")
    infos = build_many("bybit_spot instruments-info list", _spot_instrument, rows)
    return {i.symbol: i for i in infos}


def _spot_instrument(r: dict[str, Any]) -> Instrument:
    symbol = as_str(r["symbol"])
    return Instrument(
        symbol, symbol, float(r["priceFilter"]["tickSize"]),
        float(r["lotSizeFilter"]["basePrecision"]), 1.0, as_str(r["status"]),
    )


PARSE_INSTRUMENTS: dict[str, Callable[[Any], dict[str, Instrument]]] = {
    LINEAR: parse_linear_instruments,
    SPOT: parse_spot_instruments,
}

# ---------------------------------------------------------------------------------------------
# The protocol descriptions
# ---------------------------------------------------------------------------------------------

_NO_SPOT = {
    "MarkFunding": "Bybit spot has no mark price or funding rate (perpetuals only)",
    "OpenInterest": "Bybit spot has no open interest (derivatives only)",
    "Liquidation": "Bybit publishes liquidations for derivatives only (allLiquidation); "
    "spot margin liquidations have no public stream",
}


def _protocol(market: str, defaults: tuple[str, ...], fee_bps: float, unavailable: dict[str, str]) -> VenueProtocol:
    return VenueProtocol(
        name=f"{EXCHANGE}_{market}",
        exchange=EXCHANGE,
        market=market,
        streams=frozenset(CHANNELS[market]),
        default_streams=defaults,
        ws_url=WS_URL,
        rest_url=REST_URL,
        to_venue=TO_VENUE[market],
        make_parser=parser_factory(market),
        ws_target=lambda base, symbols, streams: ws_target(market, base),
        subscribe=lambda symbols, streams: subscribe_messages(market, symbols, streams),
        book="ws_next",
        resubscribe=lambda symbol, streams: resubscribe_messages(market, symbol, streams),
        polls=(),  # open interest and funding come with the tickers stream
        instruments=("GET", INSTRUMENTS_PATH, instruments_params(market), PARSE_INSTRUMENTS[market]),
        trades_by_id=None,  # Bybit has no trades-by-id endpoint (recent-trade only)
        contiguous_trade_ids=False,
        ping=lambda: PING,
        ping_interval_s=PING_INTERVAL_S,
        max_weight_per_minute=MAX_REQUESTS_PER_MINUTE,
        unavailable=unavailable,
        taker_fee_bps=fee_bps,
        docs=DOCS_URL,
    )


PROTOCOLS: dict[str, VenueProtocol] = {
    "bybit_linear": _protocol(
        LINEAR, ("publicTrade", "orderbook", "tickers", "allLiquidation", "kline.1"), 5.5, {},
    ),
    "bybit_spot": _protocol(
        SPOT, ("publicTrade", "orderbook", "orderbook.1", "tickers", "kline.1"), 10.0, _NO_SPOT,
    ),
}
