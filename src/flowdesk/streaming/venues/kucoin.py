"""KuCoin spot and KuCoin futures: pure parsers from wire bytes to :mod:`flowdesk.records`.

Nothing here opens a socket. Both markets speak KuCoin's classic WebSocket protocol: a public
token from ``POST /api/v1/bullet-public`` (:func:`parse_bullet`), a ``welcome`` on connect,
``subscribe`` requests acknowledged with ``ack``, a JSON ``ping`` every announced
``pingInterval`` answered by ``pong``, ``error`` replies, and data frames
``{"type":"message","topic":"<channel>:<symbol>","subject":...,"data":{...}}``.

Spot symbols: ``BTCUSDT`` <-> ``BTC-USDT`` (the flowdesk symbol is KuCoin's symbol *code* without
the dash, so the renamed ``BCHSV-USDT`` stays ``BCHSVUSDT``). Futures symbols: ``BTCUSDT`` <->
``XBTUSDTM`` (linear USDT/USDC perpetuals; KuCoin spells BTC ``XBT``). Futures sizes count lots:
base units = lots * ``multiplier`` from ``/api/v1/contracts/active``; a futures parser without the
contract of a symbol raises :class:`ParseError` rather than guess.

Docs: https://www.kucoin.com/docs-new/websocket-api/base-info/introduction (protocol),
https://www.kucoin.com/docs-new/3470068w0 (spot level2), https://www.kucoin.com/docs-new/3470082w0
(futures level2); the rest are cited in ``docs/venues/kucoin.md``.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction
from typing import Any

import orjson

from flowdesk.records import (
    BookDelta,
    BookSnapshot,
    Candle,
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
    as_int,
    as_json,
    as_str,
    build_many,
    build_one,
    field_error,
    levels,
    new_record,
    opt_float,
    split_symbol,
    trade_id_of,
)
from flowdesk.streaming.venues.protocol import Handshake, Instrument, RestCall, VenueProtocol

EXCHANGE = "kucoin"
SPOT, FUTURES = "spot", "futures"
SPOT_VENUE, FUTURES_VENUE = "kucoin_spot", "kucoin_futures"

SPOT_REST_URL = "https://api.kucoin.com"
FUTURES_REST_URL = "https://api-futures.kucoin.com"
#: the public endpoints bullet-public announced when this was written; the feed opens the one the
#: handshake returns, these are only the settings' defaults
SPOT_WS_URL = "wss://ws-api-spot.kucoin.com"
FUTURES_WS_URL = "wss://ws-api-futures.kucoin.com"

BULLET_PATH = "/api/v1/bullet-public"
SPOT_SYMBOLS_PATH = "/api/v2/symbols"
SPOT_DEPTH_PATH = "/api/v1/market/orderbook/level2_100"  # the full book needs an API key
FUTURES_CONTRACTS_PATH = "/api/v1/contracts/active"
#: per-symbol contract details; ``{symbol}`` is the venue symbol (a path parameter)
FUTURES_CONTRACT_PATH = "/api/v1/contracts/{symbol}"
#: what the open-interest poll asks for: one contract's details (the feed fills ``{symbol}``);
#: parse_futures_contract also reads the whole ``contracts/active`` list
CONTRACT_POLL_PATH = FUTURES_CONTRACT_PATH
FUTURES_DEPTH_PATH = "/api/v1/level2/snapshot"

#: stream setting -> topic channel
SPOT_TOPICS: dict[str, str] = {
    "match": "/market/match",
    "level2": "/market/level2",
    "ticker": "/market/ticker",
    "snapshot": "/market/snapshot",
    "candles": "/market/candles",
}
FUTURES_TOPICS: dict[str, str] = {
    "execution": "/contractMarket/execution",
    "level2": "/contractMarket/level2",
    "tickerV2": "/contractMarket/tickerV2",
    "instrument": "/contract/instrument",
}
#: KuCoin candle type -> (flowdesk interval, bar length in ms); the feed subscribes 1min
CANDLE_TYPES: dict[str, tuple[str, int]] = {
    "1min": ("1m", 60_000), "3min": ("3m", 180_000), "15min": ("15m", 900_000),
    "30min": ("30m", 1_800_000), "1hour": ("1h", 3_600_000), "2hour": ("2h", 7_200_000),
    "4hour": ("4h", 14_400_000), "6hour": ("6h", 21_600_000), "8hour": ("8h", 28_800_000),
    "12hour": ("12h", 43_200_000), "1day": ("1d", 86_400_000), "1week": ("1w", 604_800_000),
}
CANDLE_TYPE = "1min"
#: symbols per subscribe topic (KuCoin's limit)
TOPIC_SYMBOLS = 100
#: ``funding.rate`` granularity of the 1-minute *predicted* rate; any other granularity (8 h,
#: 4 h, 1 h) is the funding rate of the current period
PREDICTED_GRANULARITY_MS = 60_000
#: what bullet-public announces today (ms); the handshake overrides it per connection
PING_INTERVAL_MS, PING_TIMEOUT_MS = 18_000, 10_000

#: quote currencies of KuCoin spot markets, longest first (BTCUSDT -> BTC-USDT)
SPOT_QUOTES = tuple(sorted(
    ("USDT", "USDC", "TUSD", "USDD", "USD1", "FDUSD", "PYUSD", "BTC", "ETH", "KCS", "DAI", "TRX",
     "EUR", "BRL"), key=len, reverse=True))
FUTURES_QUOTES = ("USDT", "USDC")  # linear perpetuals (``...M``); inverse XBTUSDM is not supported
FUTURES_QUOTES_M = tuple(f"{q}M" for q in FUTURES_QUOTES)

_int = as_int
_str = as_str
_SIDE = {"buy": "buy", "sell": "sell"}  # KuCoin's side is the taker's
_ids = itertools.count(1)

# ---------------------------------------------------------------------------------------------
# Symbols
# ---------------------------------------------------------------------------------------------


def spot_to_venue(symbol: str) -> str:
    """``BTCUSDT`` -> ``BTC-USDT``; ``ValueError`` when no known quote currency ends it."""
    base, quote = split_symbol(symbol, SPOT_QUOTES, SPOT_VENUE)
    return f"{base}-{quote}"


def spot_from_venue(venue_symbol: str) -> str:
    """``BTC-USDT`` -> ``BTCUSDT``."""
    return venue_symbol.replace("-", "")


def futures_to_venue(symbol: str) -> str:
    """``BTCUSDT`` -> ``XBTUSDTM``, ``ETHUSDC`` -> ``ETHUSDCM``; ``ValueError`` otherwise."""
    base, quote = split_symbol(symbol, FUTURES_QUOTES, FUTURES_VENUE)
    return f"{'XBT' if base == 'BTC' else base}{quote}M"


def futures_from_venue(venue_symbol: str) -> str:
    """``XBTUSDTM`` -> ``BTCUSDT``; ``ValueError`` for anything but a linear perpetual."""
    if not venue_symbol.endswith("M") or venue_symbol != venue_symbol.upper():
        raise ValueError(f"{FUTURES_VENUE}: {venue_symbol!r} is not a linear perpetual symbol")
    base, quote = split_symbol(venue_symbol[:-1], FUTURES_QUOTES, FUTURES_VENUE)
    return f"{'BTC' if base == 'XBT' else base}{quote}"


# ---------------------------------------------------------------------------------------------
# Client messages
# ---------------------------------------------------------------------------------------------


def request_message(kind: str, topic: str) -> str:
    """A ``subscribe``/``unsubscribe`` request for ``topic`` (acknowledged: ``response`` true)."""
    return orjson.dumps({
        "id": str(next(_ids)), "type": kind, "topic": topic, "privateChannel": False, "response": True,
    }).decode()


def ping_message() -> str:
    """The client heartbeat ``{"id":"7","type":"ping"}`` (KuCoin answers ``pong``)."""
    return orjson.dumps({"id": str(next(_ids)), "type": "ping"}).decode()


def _chunks(items: list[str], n: int) -> Iterable[list[str]]:
    return (items[i: i + n] for i in range(0, len(items), n))


def spot_topics(symbols: Iterable[str], streams: Iterable[str]) -> list[str]:
    """Spot topics for the symbols and stream settings: up to 100 symbols a topic; candles and
    symbol snapshots take one symbol a topic.

    >>> spot_topics(["BTCUSDT", "ETHUSDT"], ["match", "candles"])
    ['/market/match:BTC-USDT,ETH-USDT', '/market/candles:BTC-USDT_1min', '/market/candles:ETH-USDT_1min']
    """
    venue_symbols = [spot_to_venue(s) for s in symbols]
    out: list[str] = []
    for stream in streams:
        channel = _channel(SPOT_TOPICS, stream, SPOT_VENUE)
        if stream == "candles":
            out += [f"{channel}:{vs}_{CANDLE_TYPE}" for vs in venue_symbols]
        elif stream == "snapshot":
            out += [f"{channel}:{vs}" for vs in venue_symbols]
        else:
            out += [f"{channel}:{','.join(chunk)}" for chunk in _chunks(venue_symbols, TOPIC_SYMBOLS)]
    return out


def futures_topics(symbols: Iterable[str], streams: Iterable[str]) -> list[str]:
    """Futures topics, one symbol a topic (KuCoin's futures docs name one symbol per topic)."""
    venue_symbols = [futures_to_venue(s) for s in symbols]
    return [f"{_channel(FUTURES_TOPICS, st, FUTURES_VENUE)}:{vs}" for st in streams for vs in venue_symbols]


def _channel(table: Mapping[str, str], stream: str, venue: str) -> str:
    try:
        return table[stream]
    except KeyError:
        raise ValueError(f"unknown {venue} stream {stream!r} (known: {sorted(table)})") from None


def spot_subscribe(symbols: tuple[str, ...], streams: tuple[str, ...]) -> list[str]:
    """The subscribe requests a spot connection sends after ``welcome``."""
    return [request_message("subscribe", t) for t in spot_topics(symbols, streams)]


def futures_subscribe(symbols: tuple[str, ...], streams: tuple[str, ...]) -> list[str]:
    """The subscribe requests a futures connection sends after ``welcome``."""
    return [request_message("subscribe", t) for t in futures_topics(symbols, streams)]


def spot_resubscribe(symbol: str, streams: tuple[str, ...]) -> list[str]:
    """Unsubscribe then subscribe ``symbol``'s spot topics (a fresh stream for one symbol)."""
    topics = spot_topics((symbol,), streams)
    return [request_message("unsubscribe", t) for t in topics] + [request_message("subscribe", t) for t in topics]


def futures_resubscribe(symbol: str, streams: tuple[str, ...]) -> list[str]:
    """Unsubscribe then subscribe ``symbol``'s futures topics."""
    topics = futures_topics((symbol,), streams)
    return [request_message("unsubscribe", t) for t in topics] + [request_message("subscribe", t) for t in topics]


def ws_target(base: str, symbols: tuple[str, ...], streams: tuple[str, ...]) -> str:
    """KuCoin's URL comes from the handshake (endpoint + token); the configured base is returned
    unchanged for a feed that connects without one."""
    return base


# ---------------------------------------------------------------------------------------------
# Handshake and REST envelope
# ---------------------------------------------------------------------------------------------


def unwrap(payload: Any, what: str) -> Any:
    """The ``data`` of a KuCoin REST answer ``{"code":"200000","data":...}``; another ``code``
    (``{"code":"400100","msg":"..."}``) raises :class:`VenueError`, a broken body ParseError."""
    doc = as_json(payload)
    if not isinstance(doc, dict):
        raise ParseError(f"kucoin {what}: expected a JSON object, got {type(doc).__name__}")
    if doc.get("code") != "200000":
        raise VenueError(f"kucoin {what}: error reply {orjson.dumps(doc).decode()[:300]}")
    if "data" not in doc:
        raise ParseError(f"kucoin {what}: missing field 'data'")
    return doc["data"]


def parse_bullet(payload: Any, connect_id: str) -> Handshake:
    """``POST /api/v1/bullet-public`` -> :class:`Handshake` with the URL
    ``<endpoint>?token=<token>&connectId=<connect_id>`` and ``pingInterval`` in seconds::

        {"code":"200000","data":{"token":"2neAiuYv...","instanceServers":[{"endpoint":
         "wss://ws-api-spot.kucoin.com/","encrypt":true,"protocol":"websocket",
         "pingInterval":18000,"pingTimeout":10000}]}}
    """

    def build(d: dict[str, Any]) -> Handshake:
        server = d["instanceServers"][0]
        url = f"{_str(server['endpoint'])}?token={_str(d['token'])}&connectId={connect_id}"
        return Handshake(url, _int(server["pingInterval"]) / 1000)

    return build_one("kucoin bullet-public", build, unwrap(payload, "bullet-public"))


async def handshake(rest: Any) -> Handshake:
    """Ask ``rest`` (the feed's RestClient on the market's REST base) for a public token; a
    fresh ``connectId`` per connection (KuCoin echoes it in ``welcome`` and ``error``)."""
    return parse_bullet(await rest.post(BULLET_PATH, {}), uuid.uuid4().hex)


# ---------------------------------------------------------------------------------------------
# The WebSocket hot path: decode once, dispatch on the topic's channel
# ---------------------------------------------------------------------------------------------

_Handler = Callable[[dict[str, Any], str, int], list[Record]]
_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError


def _dispatcher(venue: str, handlers: Mapping[str, _Handler]) -> ParseFn:
    """``parse(raw, recv_ns)`` routing data frames by topic channel to ``handlers``."""

    def parse(raw: bytes | str, recv_ns: int) -> list[Record]:
        try:
            msg = _loads(raw)
        except _JSONDecodeError as exc:
            raise ParseError(f"{venue}: bad JSON: {exc}") from None
        try:
            topic = msg["topic"]
        except (KeyError, TypeError):
            return _control(venue, msg)
        try:
            channel, _, venue_symbol = topic.partition(":")
        except AttributeError:
            raise ParseError(f"{venue}: topic is not a string: {topic!r}") from None
        try:
            handler = handlers[channel]
        except KeyError:
            raise UnknownMessage(f"{venue}: unknown topic {topic!r}") from None
        try:
            return handler(msg, venue_symbol, recv_ns)
        except ParseError:
            raise
        except FIELD_ERRORS as exc:
            raise field_error(f"{venue} {channel}", exc) from None

    return parse


def _control(venue: str, msg: Any) -> list[Record]:
    """Frames without a topic: ``welcome``/``ack``/``pong`` -> ``[]``, ``error`` -> VenueError::

        {"id":"hQvf8jkno","type":"welcome"}   {"id":"1545910660739","type":"ack"}
        {"id":"1","type":"error","code":415,"data":"type is not supported"}
    """
    if not isinstance(msg, dict):
        raise ParseError(f"{venue}: expected a JSON object, got {type(msg).__name__}")
    kind = msg.get("type")
    if kind in ("welcome", "ack", "pong"):
        return []
    if kind == "error":
        raise VenueError(f"{venue} error reply: {orjson.dumps(msg).decode()[:300]}")
    if kind == "message":
        raise ParseError(f"{venue} message: missing field 'topic'")
    raise UnknownMessage(f"{venue}: unknown message type {kind!r}")


def _ns_ms(value: Any) -> int:
    """A nanosecond time (JSON number or decimal string) in milliseconds."""
    return int(value) // 1_000_000


# -- spot ------------------------------------------------------------------------------------


def _spot_match(msg: dict[str, Any], vs: str, recv_ns: int) -> list[Record]:
    """Trade -> :class:`Trade` (hex ``tradeId`` s of older symbols are hashed, see base)::

        {"type":"message","topic":"/market/match:BTC-USDT","subject":"trade.l3match","data":{
         "makerOrderId":"671b5007389355000701b1d3","price":"67523","sequence":"11067996711960577",
         "side":"buy","size":"0.003","symbol":"BTC-USDT","takerOrderId":"671b50161777ff00074c168d",
         "time":"1729843222921000000","tradeId":"11067996711960577","type":"match"}}
    """
    d = msg["data"]
    t = trade_id_of(d["tradeId"])
    return [new_record(Trade, (
        EXCHANGE, SPOT, vs.replace("-", ""), t, float(d["price"]), float(d["size"]), _SIDE[d["side"]],
        _ns_ms(d["time"]), recv_ns, t, t, "ws",
    ))]


def _changes(rows: list[list[str]]) -> list[tuple[float, float]]:
    """``[[price, size, sequence], ...]`` -> levels; price "0" only advances the sequence."""
    return [(float(r[0]), float(r[1])) for r in rows if r[0] != "0"]


def _spot_level2(msg: dict[str, Any], vs: str, recv_ns: int) -> list[Record]:
    """Book changes -> :class:`BookDelta` spanning ``sequenceStart..sequenceEnd``; frames recorded
    before KuCoin added ``time`` (2021) take our receive time::

        {"topic":"/market/level2:BTC-USDT","type":"message","subject":"trade.l2update","data":{
         "changes":{"asks":[["67993.3","1.21427407","14701689783"]],"bids":[]},
         "sequenceEnd":14701689783,"sequenceStart":14701689783,"symbol":"BTC-USDT",
         "time":1729816425625}}
    """
    d = msg["data"]
    changes = d["changes"]
    return [new_record(BookDelta, (
        EXCHANGE, SPOT, vs.replace("-", ""), _int(d["sequenceStart"]), _int(d["sequenceEnd"]), -1,
        _changes(changes["bids"]), _changes(changes["asks"]), _int(d.get("time") or recv_ns // 1_000_000),
        recv_ns,
    ))]


def _spot_ticker(msg: dict[str, Any], vs: str, recv_ns: int) -> list[Record]:
    """Best bid/ask -> :class:`Quote` (``update_id`` is ``sequence``)::

        {"type":"message","topic":"/market/ticker:SNX-BTC","subject":"trade.ticker","data":{
         "sequence":"1612844051653","bestAsk":"0.00028717","size":"0.01745248",
         "bestBidSize":"3.70422021","price":"0.00028676","time":1619378326323,
         "bestAskSize":"14.04274325","bestBid":"0.00028678"}}
    """
    d = msg["data"]
    return [new_record(Quote, (
        EXCHANGE, SPOT, vs.replace("-", ""), float(d["bestBid"]), float(d["bestBidSize"]),
        float(d["bestAsk"]), float(d["bestAskSize"]), int(d["sequence"]), _int(d["time"]), recv_ns,
    ))]


def _spot_snapshot(msg: dict[str, Any], vs: str, recv_ns: int) -> list[Record]:
    """Symbol snapshot (every 2 s) -> :class:`Ticker24h`; ``changeRate`` is a fraction and
    ``open`` (absent from older frames) is ``lastTradedPrice - changePrice`` then::

        {"topic":"/market/snapshot:BTC-USDT","type":"message","subject":"trade.snapshot","data":{
         "sequence":"14691517895","data":{"symbol":"BTC-USDT","lastTradedPrice":67158.1,
         "open":66842.9,"high":67611.8,"low":65257.1,"vol":2227.69895852,"volValue":147972941.07,
         "changePrice":315.2,"changeRate":0.0047,"datetime":1729758286011, ...}}}
    """
    s = msg["data"]["data"]
    last = float(s["lastTradedPrice"])
    open_ = s.get("open")
    return [new_record(Ticker24h, (
        EXCHANGE, SPOT, _str(s["symbol"]).replace("-", ""), last,
        float(open_) if open_ is not None else last - float(s["changePrice"]), float(s["high"]),
        float(s["low"]), float(s["vol"]), float(s["volValue"]), float(s["changeRate"]) * 100, None,
        _int(s["datetime"]), recv_ns,
    ))]


def _candle(vs: str, kind: str, row: list[Any], closed: bool, ts: int, recv_ns: int) -> Candle:
    """``[start s, open, close, high, low, volume, turnover]`` -> :class:`Candle`."""
    interval, length_ms = CANDLE_TYPES[kind]
    open_ts = int(row[0]) * 1000
    return new_record(Candle, (
        EXCHANGE, SPOT, vs.replace("-", ""), interval, open_ts, open_ts + length_ms - 1, float(row[1]),
        float(row[3]), float(row[4]), float(row[2]), float(row[5]), float(row[6]), None, None, closed,
        ts, recv_ns,
    ))


def _spot_candles_handler() -> _Handler:
    """A stateful candle handler: KuCoin only pushes updates of the current bar, so the first
    update of a newer bar also emits the previous bar's last update as ``closed``::

        {"data":{"symbol":"DAPPT-BTC","candles":["1619378280","0.0000001117","0.0000001126",
         "0.0000001126","0.0000001117","3799.1984","0.00042624222239"],
         "time":1619378332805085744},"subject":"trade.candles.update",
         "topic":"/market/candles:DAPPT-BTC_1min","type":"message"}
    """
    bars: dict[str, list[Any]] = {}

    def handle(msg: dict[str, Any], vs: str, recv_ns: int) -> list[Record]:
        d = msg["data"]
        row = d["candles"]
        symbol, _, kind = vs.rpartition("_")
        ts = _ns_ms(d["time"])
        out: list[Record] = []
        prev = bars.get(vs)
        if prev is not None and int(prev[0]) < int(row[0]):
            out.append(_candle(symbol, kind, prev, True, ts, recv_ns))
        if prev is None or int(prev[0]) <= int(row[0]):
            bars[vs] = row
        out.append(_candle(symbol, kind, row, False, ts, recv_ns))
        return out

    return handle


def make_spot_parser(instruments: Mapping[str, Instrument] | None = None) -> ParseFn:
    """A fresh spot parser (spot quantities are base units: ``instruments`` is not needed).
    Its closure holds the last candle per topic."""
    return _dispatcher(SPOT_VENUE, {
        "/market/match": _spot_match,
        "/market/level2": _spot_level2,
        "/market/ticker": _spot_ticker,
        "/market/snapshot": _spot_snapshot,
        "/market/candles": _spot_candles_handler(),
    })


# -- futures ---------------------------------------------------------------------------------


def lot_ratio(contract_size: float) -> tuple[int, int]:
    """``contract_size`` as ``(numerator, denominator)``: ``lots * num / den`` is the correctly
    rounded base quantity (``5044 * 0.001`` is 5.0440000000000005, ``5044 * 1 / 1000`` 5.044)."""
    ratio = Fraction(repr(float(contract_size))).limit_denominator(10**12)
    return ratio.numerator, ratio.denominator


def _contracts(instruments: Mapping[str, Instrument]) -> dict[str, tuple[str, int, int]]:
    return {i.venue_symbol: (i.symbol, *lot_ratio(i.contract_size)) for i in instruments.values()}


def make_futures_parser(instruments: Mapping[str, Instrument]) -> ParseFn:
    """A fresh futures parser converting lots with ``instruments``' contract sizes. Its closure
    holds the current funding rate per symbol (merged into the mark-price records)."""
    contracts = _contracts(instruments)
    funding: dict[str, float] = {}

    def contract(vs: str) -> tuple[str, int, int]:
        try:
            return contracts[vs]
        except KeyError:
            raise ParseError(f"{FUTURES_VENUE}: no contract size known for {vs!r} (instruments not loaded)") from None

    def execution(msg: dict[str, Any], vs: str, recv_ns: int) -> list[Record]:
        """Trade -> :class:`Trade` (size in lots)::

            {"topic":"/contractMarket/execution:XBTUSDTM","type":"message","subject":"match",
             "sn":1728107666597,"data":{"symbol":"XBTUSDTM","sequence":1728107666597,
             "side":"sell","size":1,"price":"39615","takerOrderId":"139484352366002178",
             "makerOrderId":"139484331675557890","tradeId":"1728107666597",
             "ts":1706068863101000000}}
        """
        symbol, num, den = contract(vs)
        d = msg["data"]
        t = trade_id_of(d["tradeId"])
        return [new_record(Trade, (
            EXCHANGE, FUTURES, symbol, t, float(d["price"]), float(d["size"]) * num / den, _SIDE[d["side"]],
            _ns_ms(d["ts"]), recv_ns, t, t, "ws",
        ))]

    def level2(msg: dict[str, Any], vs: str, recv_ns: int) -> list[Record]:
        """One book change "price,side,size" -> :class:`BookDelta` with first = last = sequence::

            {"topic":"/contractMarket/level2:XBTUSDTM","type":"message","subject":"level2",
             "sn":1709400450243,"data":{"sequence":1709400450243,"change":"90631.2,sell,2",
             "timestamp":1731897467182}}
        """
        symbol, num, den = contract(vs)
        d = msg["data"]
        price, side, qty = d["change"].split(",")
        level = [(float(price), float(qty) * num / den)]
        seq = _int(d["sequence"])
        bids, asks = _BOOK_SIDES[side](level)
        return [new_record(BookDelta, (
            EXCHANGE, FUTURES, symbol, seq, seq, -1, bids, asks, _int(d["timestamp"]), recv_ns,
        ))]

    def ticker(msg: dict[str, Any], vs: str, recv_ns: int) -> list[Record]:
        """Best bid/ask (sizes in lots) -> :class:`Quote`::

            {"topic":"/contractMarket/tickerV2:XBTUSDTM","type":"message","subject":"tickerV2",
             "sn":1713516609293,"data":{"symbol":"XBTUSDTM","sequence":1713516609293,
             "bestBidSize":5044,"bestBidPrice":"86454.5","bestAskPrice":"86454.6",
             "bestAskSize":73,"ts":1740641976241000000}}
        """
        symbol, num, den = contract(vs)
        d = msg["data"]
        return [new_record(Quote, (
            EXCHANGE, FUTURES, symbol, float(d["bestBidPrice"]), float(d["bestBidSize"]) * num / den,
            float(d["bestAskPrice"]), float(d["bestAskSize"]) * num / den, _int(d["sequence"]), _ns_ms(d["ts"]),
            recv_ns,
        ))]

    def instrument(msg: dict[str, Any], vs: str, recv_ns: int) -> list[Record]:
        """``mark.index.price`` -> :class:`MarkFunding` with the last funding rate seen (``None``
        before the first); ``funding.rate`` only updates that rate (the 1-minute *predicted* rate,
        granularity 60000, is not the current rate and is skipped)::

            {"topic":"/contract/instrument:XBTUSDTM","type":"message","subject":"mark.index.price",
             "data":{"markPrice":39610.11,"indexPrice":39615.44,"granularity":1000,
             "timestamp":1706068801000}}
            {"topic":"/contract/instrument:XBTUSDTM","type":"message","subject":"funding.rate",
             "data":{"granularity":28800000,"fundingRate":0.000039,"timestamp":1706068800000}}
        """
        subject, d = msg["subject"], msg["data"]
        if subject == "mark.index.price":
            symbol = contracts[vs][0] if vs in contracts else futures_from_venue(vs)
            return [new_record(MarkFunding, (
                EXCHANGE, FUTURES, symbol, float(d["markPrice"]), opt_float(d.get("indexPrice")),
                funding.get(vs), None, _int(d["timestamp"]), recv_ns,
            ))]
        if subject == "funding.rate":
            rate = float(d["fundingRate"])
            if _int(d["granularity"]) != PREDICTED_GRANULARITY_MS:
                funding[vs] = rate
            return []
        raise UnknownMessage(f"{FUTURES_VENUE}: unknown /contract/instrument subject {subject!r}")

    return _dispatcher(FUTURES_VENUE, {
        "/contractMarket/execution": execution,
        "/contractMarket/level2": level2,
        "/contractMarket/tickerV2": ticker,
        "/contract/instrument": instrument,
    })


_Level = list[tuple[float, float]]
_BOOK_SIDES: dict[str, Callable[[_Level], tuple[_Level, _Level]]] = {
    "buy": lambda level: (level, []),
    "sell": lambda level: ([], level),
}

# ---------------------------------------------------------------------------------------------
# REST parsers: payload is decoded JSON or the raw body
# ---------------------------------------------------------------------------------------------


def parse_spot_snapshot(payload: Any, symbol: str, recv_ns: int,
                        instruments: Mapping[str, Instrument] | None = None) -> list[Record]:
    """``GET /api/v1/market/orderbook/level2_100`` (100 levels a side) -> ``[BookSnapshot]``
    with ``last_update_id`` = ``sequence``::

        {"code":"200000","data":{"time":1619378326628,"sequence":"1613277183892",
         "bids":[["242.649","5"],["242.646","0.68148185"], ...],"asks":[["242.66","1.2"], ...]}}
    """

    def build(d: dict[str, Any]) -> BookSnapshot:
        return new_record(BookSnapshot, (
            EXCHANGE, SPOT, symbol, int(d["sequence"]), levels(d["bids"]), levels(d["asks"]),
            _int(d["time"]), recv_ns,
        ))

    return [build_one(f"{SPOT_VENUE} orderbook snapshot", build, unwrap(payload, "orderbook snapshot"))]


def _contract_size(instruments: Mapping[str, Instrument] | None, symbol: str) -> float:
    try:
        return instruments[symbol].contract_size  # type: ignore[index]
    except (KeyError, TypeError):
        raise ParseError(f"{FUTURES_VENUE}: no contract size known for {symbol!r}") from None


def parse_futures_snapshot(payload: Any, symbol: str, recv_ns: int,
                           instruments: Mapping[str, Instrument] | None) -> list[Record]:
    """``GET /api/v1/level2/snapshot`` -> ``[BookSnapshot]`` in base units (sizes are lots)::

        {"code":"200000","data":{"symbol":"XBTUSDTM","sequence":1709400450243,
         "bids":[[90631.1,512],[90631.0,7]],"asks":[[90631.2,2]],"ts":1731897467200000000}}
    """
    num, den = lot_ratio(_contract_size(instruments, symbol))

    def build(d: dict[str, Any]) -> BookSnapshot:
        bids = [(p, q * num / den) for p, q in levels(d["bids"])]
        asks = [(p, q * num / den) for p, q in levels(d["asks"])]
        return new_record(BookSnapshot, (
            EXCHANGE, FUTURES, symbol, _int(d["sequence"]), bids, asks, _ns_ms(d["ts"]), recv_ns,
        ))

    return [build_one(f"{FUTURES_VENUE} level2 snapshot", build, unwrap(payload, "level2 snapshot"))]


def parse_spot_symbols(payload: Any) -> dict[str, Instrument]:
    """``GET /api/v2/symbols`` -> ``{flowdesk symbol: Instrument}``; status ``enabled`` or
    ``disabled`` (``enableTrading``). One entry, abridged::

        {"symbol":"BTC-USDT","name":"BTC-USDT","baseCurrency":"BTC","quoteCurrency":"USDT",
         "baseIncrement":"0.00000001","priceIncrement":"0.1","enableTrading":true, ...}
    """

    def build(s: dict[str, Any]) -> Instrument:
        vs = _str(s["symbol"])
        return Instrument(spot_from_venue(vs), vs, float(s["priceIncrement"]), float(s["baseIncrement"]),
                          1.0, "enabled" if s["enableTrading"] is True else "disabled")

    rows = build_many(f"{SPOT_VENUE} symbols", build, unwrap(payload, "symbols"))
    return {i.symbol: i for i in rows}


def parse_futures_contracts(payload: Any) -> dict[str, Instrument]:
    """``GET /api/v1/contracts/active`` -> ``{flowdesk symbol: Instrument}`` for the linear
    perpetuals (``type`` FFWCSX, not inverse, ``...USDTM``/``...USDCM``). ``contract_size`` is
    ``multiplier``; ``step_size`` is ``lotSize * multiplier`` in base units. Abridged::

        {"symbol":"XBTUSDTM","type":"FFWCSX","baseCurrency":"XBT","quoteCurrency":"USDT",
         "lotSize":1,"tickSize":0.1,"multiplier":0.001,"isInverse":false,"status":"Open", ...}
    """
    rows = unwrap(payload, "contracts")
    if not isinstance(rows, list):
        raise ParseError(f"{FUTURES_VENUE} contracts: expected a JSON array")
    out: dict[str, Instrument] = {}
    for i, row in enumerate(rows):
        inst = build_one(f"{FUTURES_VENUE} contracts[{i}]", _contract_instrument, row)
        if inst is not None:
            out[inst.symbol] = inst
    return out


def _contract_instrument(c: dict[str, Any]) -> Instrument | None:
    vs = _str(c["symbol"])
    if c["type"] != "FFWCSX" or c["isInverse"] is not False or not vs.endswith(FUTURES_QUOTES_M):
        return None
    size = float(c["multiplier"])
    num, den = lot_ratio(size)
    return Instrument(futures_from_venue(vs), vs, float(c["tickSize"]), float(c["lotSize"]) * num / den, size,
                      _str(c["status"]))



def parse_futures_contract(payload: Any, symbol: str, recv_ns: int,
                           instruments: Mapping[str, Instrument] | None = None) -> list[Record]:
    """``GET /api/v1/contracts/{symbol}`` (one contract), or ``/api/v1/contracts/active`` (every
    contract: ``symbol``'s row is used), polled -> :class:`OpenInterest` (lots * ``multiplier``,
    value at the mark price), :class:`MarkFunding` (current ``fundingFeeRate``, next funding time)
    and :class:`Ticker24h`. The answer has no timestamp: ``ts`` is our receive time.
    ``nextFundingRateDateTime`` (ms) is preferred to the older ``nextFundingRateTime`` (ms
    *left*). A record whose fields are absent is not emitted::

        {"code":"200000","data":{"symbol":"XBTUSDTM","multiplier":0.001,"openInterest":"9295921",
         "markPrice":39995.94,"indexPrice":39999.2,"fundingFeeRate":0.000038,
         "nextFundingRateDateTime":1706083200000,"lastTradePrice":39996.6,"highPrice":40253,
         "lowPrice":38560,"priceChg":523.4,"priceChgPct":0.0132,"volumeOf24h":15131.243,
         "turnoverOf24h":594135187.19, ...}}
    """
    now_ms = recv_ns // 1_000_000
    data = unwrap(payload, "contract")
    if isinstance(data, list):
        data = _contract_row(data, symbol, instruments)
    return build_one(f"{FUTURES_VENUE} contract", lambda c: _contract_records(c, symbol, now_ms, recv_ns), data)


def _contract_row(rows: list[Any], symbol: str, instruments: Mapping[str, Instrument] | None) -> Any:
    """``symbol``'s row of a contracts list; ParseError when it is not listed."""
    inst = (instruments or {}).get(symbol)
    venue_symbol = inst.venue_symbol if inst is not None else futures_to_venue(symbol)
    for row in rows:
        if isinstance(row, dict) and row.get("symbol") == venue_symbol:
            return row
    raise ParseError(f"{FUTURES_VENUE} contracts: {venue_symbol!r} is not listed")


def _contract_records(c: dict[str, Any], symbol: str, now_ms: int, recv_ns: int) -> list[Record]:
    out: list[Record] = []
    num, den = lot_ratio(float(c["multiplier"]))
    mark = opt_float(c.get("markPrice"))
    oi = opt_float(c.get("openInterest"))
    if oi is not None:
        base = oi * num / den
        out.append(new_record(OpenInterest, (
            EXCHANGE, FUTURES, symbol, base, None if mark is None else base * mark, now_ms, recv_ns,
        )))
    if mark is not None:
        out.append(new_record(MarkFunding, (
            EXCHANGE, FUTURES, symbol, mark, opt_float(c.get("indexPrice")), opt_float(c.get("fundingFeeRate")),
            _next_funding(c, now_ms), now_ms, recv_ns,
        )))
    last, change = opt_float(c.get("lastTradePrice")), opt_float(c.get("priceChg"))
    if last is not None and change is not None:
        out.append(new_record(Ticker24h, (
            EXCHANGE, FUTURES, symbol, last, last - change, float(c["highPrice"]), float(c["lowPrice"]),
            float(c["volumeOf24h"]), float(c["turnoverOf24h"]), float(c["priceChgPct"]) * 100, None,
            now_ms, recv_ns,
        )))
    return out


def _next_funding(c: dict[str, Any], now_ms: int) -> int | None:
    if c.get("nextFundingRateDateTime"):
        return _int(c["nextFundingRateDateTime"])
    left = c.get("nextFundingRateTime")
    return None if left is None else now_ms + _int(left)


# ---------------------------------------------------------------------------------------------
# Request weights (KuCoin's "public weight"; the public pool is 2000 per 30 s)
# ---------------------------------------------------------------------------------------------

SPOT_WEIGHTS: dict[str, int] = {BULLET_PATH: 10, SPOT_DEPTH_PATH: 4, SPOT_SYMBOLS_PATH: 4}
FUTURES_WEIGHTS: dict[str, int] = {BULLET_PATH: 10, FUTURES_DEPTH_PATH: 3, FUTURES_CONTRACTS_PATH: 3}
_CONTRACT_PREFIX = FUTURES_CONTRACT_PATH.split("{", 1)[0]


def spot_request_weight(path: str, params: Mapping[str, Any]) -> int:
    """The weight of a spot REST call; ``ValueError`` for a path this module does not know."""
    try:
        return SPOT_WEIGHTS[path]
    except KeyError:
        raise ValueError(f"{SPOT_VENUE}: no request weight known for {path!r}") from None


def futures_request_weight(path: str, params: Mapping[str, Any]) -> int:
    """The weight of a futures REST call (the contract path with or without its symbol)."""
    if path in FUTURES_WEIGHTS:
        return FUTURES_WEIGHTS[path]
    if path.startswith(_CONTRACT_PREFIX):
        return 3
    raise ValueError(f"{FUTURES_VENUE}: no request weight known for {path!r}")


def _symbol_query(venue_symbol: str) -> dict[str, Any]:
    return {"symbol": venue_symbol}


def _no_query(venue_symbol: str) -> dict[str, Any]:
    return {}


# ---------------------------------------------------------------------------------------------
# The protocol descriptions
# ---------------------------------------------------------------------------------------------

_SPOT_UNAVAILABLE = {
    "MarkFunding": "spot market: KuCoin spot has no mark price or funding",
    "OpenInterest": "spot market: no open interest",
    "Liquidation": "KuCoin publishes no public liquidation feed for spot or margin",
}
_FUTURES_UNAVAILABLE = {
    "Liquidation": "KuCoin Futures has no public liquidation stream or endpoint (only the private "
                   "position channel of one's own account)",
    "Candle": "not collected: KuCoin documents the volume of /contractMarket/limitCandle as incorrect "
              "('please do not use it'); bars can be built from trades",
}

PROTOCOLS: dict[str, VenueProtocol] = {
    SPOT_VENUE: VenueProtocol(
        name=SPOT_VENUE, exchange=EXCHANGE, market=SPOT,
        streams=frozenset(SPOT_TOPICS), default_streams=tuple(SPOT_TOPICS),
        ws_url=SPOT_WS_URL, rest_url=SPOT_REST_URL, to_venue=spot_to_venue,
        make_parser=make_spot_parser, ws_target=ws_target, subscribe=spot_subscribe,
        book="rest_next", snapshot=RestCall(SPOT_DEPTH_PATH, _symbol_query, parse_spot_snapshot),
        resubscribe=spot_resubscribe, polls=(),
        instruments=("GET", SPOT_SYMBOLS_PATH, {}, parse_spot_symbols),
        trades_by_id=None, contiguous_trade_ids=False,
        ping=ping_message, ping_interval_s=PING_INTERVAL_MS / 1000, handshake=handshake,
        request_weight=spot_request_weight, weight_header=None, max_weight_per_minute=2000,
        unavailable=_SPOT_UNAVAILABLE, taker_fee_bps=10.0,
        docs="https://www.kucoin.com/docs-new/websocket-api/base-info/introduction",
    ),
    FUTURES_VENUE: VenueProtocol(
        name=FUTURES_VENUE, exchange=EXCHANGE, market=FUTURES,
        streams=frozenset(FUTURES_TOPICS), default_streams=tuple(FUTURES_TOPICS),
        ws_url=FUTURES_WS_URL, rest_url=FUTURES_REST_URL, to_venue=futures_to_venue,
        make_parser=make_futures_parser, ws_target=ws_target, subscribe=futures_subscribe,
        book="rest_next", snapshot=RestCall(FUTURES_DEPTH_PATH, _symbol_query, parse_futures_snapshot),
        resubscribe=futures_resubscribe,
        polls=(RestCall(CONTRACT_POLL_PATH, _no_query, parse_futures_contract, every="open_interest_poll_s"),),
        instruments=("GET", FUTURES_CONTRACTS_PATH, {}, parse_futures_contracts),
        trades_by_id=None, contiguous_trade_ids=False,
        ping=ping_message, ping_interval_s=PING_INTERVAL_MS / 1000, handshake=handshake,
        request_weight=futures_request_weight, weight_header=None, max_weight_per_minute=2000,
        unavailable=_FUTURES_UNAVAILABLE, taker_fee_bps=6.0,
        docs="https://www.kucoin.com/docs-new/websocket-api/base-info/introduction",
    ),
}
