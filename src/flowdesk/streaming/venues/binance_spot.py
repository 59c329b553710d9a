"""Binance spot: pure parsers from wire bytes to :mod:`flowdesk.records`, and its protocol.

Nothing here opens a socket or touches storage. flowdesk symbols are Binance's own upper-case
symbols (``BTCUSDT``); stream names use the lower-case form (``btcusdt@trade``). Quantities are
base units already (spot has no contracts), so the parser needs no instruments.

WebSocket docs: https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams
REST docs: https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints

Where the spot wire format is the USD-M one (``trade``, ``aggTrade``, ``kline``, ``24hrTicker``,
REST trades, klines and the 24h ticker), the functions of :mod:`.binance_usdm` are reused as they
are: the same code objects, bound to this module's ``MARKET``/``VENUE`` (see :func:`_spot`).
What differs on spot is written here: ``bookTicker`` frames carry no event type and no time,
diff-depth frames carry no ``pu`` (the chain is ``U == previous u + 1``), REST depth snapshots
carry no time, and ``exchangeInfo`` lists no contract type.

Timestamps: trades use the trade time ``T``; book diffs, candles and tickers the event time
``E``; quotes the receive time (spot ``bookTicker`` carries no exchange time; ``T``/``E`` are
used if Binance ever adds them); REST snapshots the receive time.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import orjson

from flowdesk.records import BookDelta, Quote, Record
from flowdesk.streaming.venues import binance_usdm as _usdm
from flowdesk.streaming.venues.base import (
    FIELD_ERRORS,
    ParseError,
    ParseFn,
    as_int,
    as_json,
    as_str,
    build_many,
    build_one,
    field_error,
    levels,
    new_record,
)
from flowdesk.streaming.venues.protocol import Instrument, RestCall, TradeBackfill, VenueProtocol

EXCHANGE = "binance"
MARKET = "spot"
VENUE = "binance_spot"

WS_URL = "wss://stream.binance.com:9443"
REST_URL = "https://api.binance.com"
DOCS_URL = "https://developers.binance.com/docs/binance-spot-api-docs"

_F = TypeVar("_F", bound=Callable[..., Any])

#: binance_usdm's globals with this market's names: its functions run here unchanged
_SPOT_GLOBALS: dict[str, Any] = {**vars(_usdm), "MARKET": MARKET, "VENUE": VENUE}


def _spot(fn: _F, doc: str) -> _F:
    """``fn`` of :mod:`.binance_usdm` (whose wire format spot shares) as a spot function: the
    same code object bound to globals where ``MARKET`` is ``"spot"`` and ``VENUE`` is
    ``"binance_spot"``, so it costs nothing per call and is not a copy. Returns the new function
    with the spot docstring ``doc``."""
    clone = types.FunctionType(fn.__code__, _SPOT_GLOBALS, fn.__name__, fn.__defaults__, fn.__closure__)
    clone.__kwdefaults__ = fn.__kwdefaults__
    clone.__doc__ = doc
    clone.__module__ = __name__
    return clone  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Symbols, channels and URLs
# ---------------------------------------------------------------------------------------------

#: flowdesk stream setting -> Binance stream name (``{s}``: the lower-case symbol, ``{speed}``:
#: the diff-depth speed suffix, see :func:`stream_names`)
CHANNELS: dict[str, str] = {
    "trade": "{s}@trade",
    "aggTrade": "{s}@aggTrade",
    "bookTicker": "{s}@bookTicker",
    "depth": "{s}@depth{speed}",
    "kline_1m": "{s}@kline_1m",
    "ticker": "{s}@ticker",
}
#: diff-depth update speeds spot offers, in ms (1000 is Binance's default and has no suffix)
DEPTH_SPEEDS_MS = (100, 1000)
STREAMS = frozenset(CHANNELS)
DEFAULT_STREAMS = ("aggTrade", "bookTicker", "depth", "kline_1m")
#: Binance closes a connection that asks for more streams than this
MAX_STREAMS_PER_CONNECTION = 1024


def to_venue(symbol: str) -> str:
    """flowdesk ``BTCUSDT`` -> Binance ``BTCUSDT`` (the same spelling, upper case); a symbol
    that is not plain letters and digits (``BTC-USDT``) raises ``ValueError``."""
    if not symbol.isalnum() or not symbol.isascii():
        raise ValueError(f"{VENUE}: {symbol!r} is not a Binance symbol (letters and digits only)")
    return symbol.upper()


def from_venue(venue_symbol: str) -> str:
    """Binance ``BTCUSDT`` (or the stream spelling ``btcusdt``) -> flowdesk ``BTCUSDT``."""
    return to_venue(venue_symbol)


def stream_names(symbols: Iterable[str], streams: Iterable[str], depth_speed_ms: int = 100) -> list[str]:
    """Binance stream names for every (symbol, stream setting) pair, symbol by symbol.

    >>> stream_names(["BTCUSDT"], ["aggTrade", "depth"])
    ['btcusdt@aggTrade', 'btcusdt@depth@100ms']
    """
    if depth_speed_ms not in DEPTH_SPEEDS_MS:
        raise ValueError(f"{VENUE}: depth_speed_ms must be one of {DEPTH_SPEEDS_MS}, got {depth_speed_ms}")
    speed = "" if depth_speed_ms == 1000 else f"@{depth_speed_ms}ms"
    wanted = list(streams)
    unknown = [s for s in wanted if s not in CHANNELS]
    if unknown:
        raise ValueError(f"unknown {VENUE} streams {unknown} (known: {sorted(CHANNELS)})")
    return [CHANNELS[st].format(s=to_venue(sym).lower(), speed=speed) for sym in symbols for st in wanted]


def ws_target(base: str, symbols: tuple[str, ...], streams: tuple[str, ...], depth_speed_ms: int = 100) -> str:
    """The combined-stream URL ``<base>/stream?streams=btcusdt@aggTrade/...``; ``ValueError``
    beyond Binance's 1024 streams per connection."""
    names = stream_names(symbols, streams, depth_speed_ms)
    if len(names) > MAX_STREAMS_PER_CONNECTION:
        raise ValueError(f"{VENUE}: {len(names)} streams, Binance allows {MAX_STREAMS_PER_CONNECTION} per connection")
    return _usdm.ws_url(base, names)


def url_for(venue: Any) -> str:
    """The URL to open for a feed's settings (``ws_url``, ``symbols``, ``streams`` and
    ``depth_speed_ms``: 100 or 1000)."""
    return ws_target(venue.ws_url, tuple(venue.symbols), tuple(venue.streams), venue.depth_speed_ms)


def subscribe(symbols: tuple[str, ...], streams: tuple[str, ...]) -> list[str]:
    """Messages to send on open: none, the streams are named in the URL (:func:`ws_target`)."""
    return []


def subscribe_message(symbols: Iterable[str], streams: Iterable[str], request_id: int = 1) -> str:
    """A live ``SUBSCRIBE`` request (for a ``/ws`` connection); Binance answers
    ``{"result":null,"id":<request_id>}``."""
    return _request("SUBSCRIBE", stream_names(symbols, streams), request_id)


def unsubscribe_message(symbols: Iterable[str], streams: Iterable[str], request_id: int = 1) -> str:
    """A live ``UNSUBSCRIBE`` request; answered like :func:`subscribe_message`."""
    return _request("UNSUBSCRIBE", stream_names(symbols, streams), request_id)


def _request(method: str, params: list[str], request_id: int) -> str:
    return orjson.dumps({"method": method, "params": params, "id": request_id}).decode()


# ---------------------------------------------------------------------------------------------
# WebSocket handlers (the hot path)
# ---------------------------------------------------------------------------------------------

_int = as_int
_str = as_str

_trade = _spot(_usdm._trade, """Raw trade -> :class:`Trade` (``m`` true: the seller was the taker)::

    {"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT",
     "t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}}
""")

_agg_trade = _spot(_usdm._agg_trade, """Aggregate trade -> :class:`Trade` (aggregate id, raw ids)::

    {"stream":"nknusdt@aggTrade","data":{"e":"aggTrade","E":1633998523963,"s":"NKNUSDT",
     "a":15683430,"p":"0.35280000","q":"58.00000000","f":19862790,"l":19862790,
     "T":1633998523963,"m":false,"M":true}}
""")

_kline = _spot(_usdm._kline, """Kline -> :class:`Candle`; ``k.x`` says whether the bar is closed::

    {"stream":"nknusdt@kline_1m","data":{"e":"kline","E":1633998523963,"s":"NKNUSDT",
     "k":{"t":1633998480000,"T":1633998539999,"s":"NKNUSDT","i":"1m","f":19862761,
     "L":19862790,"o":"0.35270000","c":"0.35280000","h":"0.35280000","l":"0.35220000",
     "v":"25877.00000000","n":30,"x":false,"q":"9116.04600000","V":"58.00000000",
     "Q":"20.46240000","B":"0"}}}
""")

_ticker = _spot(_usdm._ticker, """24-hour rolling statistics -> :class:`Ticker24h`::

    {"stream":"dogebnb@ticker","data":{"e":"24hrTicker","E":1569805259092,"s":"DOGEBNB",
     "p":"0.00000291","P":"2.068","w":"0.00014188","x":"0.00014069","c":"0.00014360",
     "Q":"51135.00000000","b":"0.00014365","B":"7080.00000000","a":"0.00014498",
     "A":"275033.00000000","o":"0.00014069","h":"0.00014550","l":"0.00013851",
     "v":"20014582.00000000","q":"2839.62578157","O":1569718859088,"C":1569805259088,
     "F":64171,"L":64684,"n":514}}
""")


def _book_ticker(d: dict[str, Any], recv_ns: int) -> list[Record]:
    """Best bid/ask -> :class:`Quote`; spot frames have no event type and no time, so ``ts`` is
    the receive time (``T``, else ``E``, would be taken if present)::

        {"stream":"btcusdt@bookTicker","data":{"u":50093239212,"s":"BTCUSDT",
         "b":"61837.63000000","B":"3.78826000","a":"61837.64000000","A":"1.54698000"}}
    """
    return [new_record(Quote, (
        EXCHANGE, MARKET, _str(d["s"]), float(d["b"]), float(d["B"]), float(d["a"]),
        float(d["A"]), _int(d["u"]), _int(d.get("T") or d.get("E") or recv_ns // 1_000_000), recv_ns,
    ))]


def _depth_update(d: dict[str, Any], recv_ns: int) -> list[Record]:
    """Diff depth -> :class:`BookDelta` with ``U``/``u`` (spot has no ``pu``: -1)::

        {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161255308,
         "s":"BTCUSDT","U":50093239203,"u":50093239207,"b":[["55653.87000000","0.00000000"]],
         "a":[["61838.04000000","0.32332000"],["61844.30000000","0.40163000"]]}}
    """
    return [new_record(BookDelta, (
        EXCHANGE, MARKET, _str(d["s"]), _int(d["U"]), _int(d["u"]), -1,
        levels(d["b"]), levels(d["a"]), _int(d["E"]), recv_ns,
    ))]


def _server_shutdown(d: dict[str, Any], recv_ns: int) -> list[Record]:
    """``{"e":"serverShutdown","E":1770123456789}``: the server is about to close the
    connection; nothing to record (the feed reconnects when it closes)."""
    return []


_Handler = Callable[[dict[str, Any], int], list[Record]]

#: Binance event type ``e`` -> handler (``bookTicker`` frames have no ``e``: see parse_message)
HANDLERS: dict[str, _Handler] = {
    "trade": _trade,
    "aggTrade": _agg_trade,
    "bookTicker": _book_ticker,
    "depthUpdate": _depth_update,
    "kline": _kline,
    "24hrTicker": _ticker,
    "serverShutdown": _server_shutdown,
}

_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError
_get_handler = HANDLERS.get


def parse_message(raw: bytes | str, recv_ns: int) -> list[Record]:
    """Parse one WebSocket frame received at ``recv_ns`` into records.

    Accepts the combined-stream envelope ``{"stream":..., "data":{...}}``, a bare event and
    arrays of events. A ``bookTicker`` is recognised by its shape (no ``e``, an ``A`` field).
    Replies such as ``{"result":null,"id":1}`` and ``serverShutdown`` give ``[]``. Raises
    :class:`ParseError` for a malformed frame (naming the frame kind and field),
    :class:`UnknownMessage` for an event type not handled here and :class:`VenueError` for an
    error reply (``{"code":2,"msg":"Invalid request: ...","id":1}``).
    """
    try:
        msg = _loads(raw)
    except _JSONDecodeError as exc:
        raise ParseError(f"{VENUE}: bad JSON: {exc}") from None
    try:
        data = msg["data"]
    except KeyError:
        data = msg
    except TypeError:  # an array or a scalar at the top level
        return _parse_other(msg, recv_ns)
    return _parse_event(data, recv_ns)


def _parse_event(data: Any, recv_ns: int) -> list[Record]:
    """One decoded event (a frame's ``data``, or an item of an event array) into records;
    same outcomes as :func:`parse_message`."""
    if type(data) is not dict:
        return _parse_other(data, recv_ns)
    kind = data.get("e")
    if kind is None:
        if "A" not in data:
            return _parse_other(data, recv_ns)
        kind = "bookTicker"
    handler = _get_handler(kind)
    if handler is None:
        return _parse_other(data, recv_ns)
    try:
        return handler(data, recv_ns)
    except FIELD_ERRORS as exc:
        raise field_error(f"{VENUE} {kind}", exc) from None


def _parse_other(obj: Any, recv_ns: int) -> list[Record]:
    """The slow path: event arrays, then what ``binance_usdm.control_reply`` covers."""
    if isinstance(obj, list):
        return [rec for item in obj for rec in _parse_event(item, recv_ns)]
    return _usdm.control_reply(obj, VENUE)


def make_parser(instruments: Mapping[str, Instrument]) -> ParseFn:
    """The frame parser of one feed. Spot quantities are base units and no stream sends
    deltas to merge, so it needs neither the instruments nor any state: returns
    :func:`parse_message`."""
    return parse_message


# ---------------------------------------------------------------------------------------------
# REST: paths and request weights
# ---------------------------------------------------------------------------------------------

DEPTH_PATH = "/api/v3/depth"
EXCHANGE_INFO_PATH = "/api/v3/exchangeInfo"
TICKER_24H_PATH = "/api/v3/ticker/24hr"
AGG_TRADES_PATH = "/api/v3/aggTrades"
HISTORICAL_TRADES_PATH = "/api/v3/historicalTrades"
KLINES_PATH = "/api/v3/klines"
PING_PATH = "/api/v3/ping"
TIME_PATH = "/api/v3/time"

#: the depth limit of the snapshot the book syncs from (weight 50; 5000 would cost 250)
SNAPSHOT_LIMIT = 1000
WEIGHT_HEADER = "x-mbx-used-weight-1m"
MAX_WEIGHT_PER_MINUTE = 6000  # REQUEST_WEIGHT, 1 minute, per IP


def _depth_weight(params: Mapping[str, Any]) -> int:
    limit = int(params.get("limit", 100))  # default 100, max 5000
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


def _ticker_weight(params: Mapping[str, Any]) -> int:
    if params.get("symbol"):
        return 2
    symbols = params.get("symbols")
    if not symbols:
        return 80
    count = len(symbols) if isinstance(symbols, list | tuple) else len(orjson.loads(symbols))
    return 2 if count <= 20 else 40 if count <= 100 else 80


def _fixed(weight: int) -> Callable[[Mapping[str, Any]], int]:
    return lambda params: weight


#: REST path -> its request weight as a function of the query (Binance spot's documented
#: weights against a 6000-per-minute IP budget)
REQUEST_WEIGHTS: dict[str, Callable[[Mapping[str, Any]], int]] = {
    DEPTH_PATH: _depth_weight,
    EXCHANGE_INFO_PATH: _fixed(20),
    TICKER_24H_PATH: _ticker_weight,
    AGG_TRADES_PATH: _fixed(4),
    HISTORICAL_TRADES_PATH: _fixed(25),
    KLINES_PATH: _fixed(2),
    PING_PATH: _fixed(1),
    TIME_PATH: _fixed(1),
}


def request_weight(path: str, params: Mapping[str, Any]) -> int:
    """The request weight Binance charges for ``GET path?params``; ``ValueError`` for a path
    this module does not know (so a new call cannot slip past the rate limiter unweighed)."""
    try:
        weigh = REQUEST_WEIGHTS[path]
    except KeyError:
        raise ValueError(f"{VENUE}: no request weight known for {path!r}") from None
    return weigh(params)


# ---------------------------------------------------------------------------------------------
# REST parsers: payload is decoded JSON or the raw body (bytes/str)
# ---------------------------------------------------------------------------------------------

parse_depth_snapshot = _spot(_usdm.parse_depth_snapshot, """``GET /api/v3/depth`` ->
:class:`BookSnapshot`; spot snapshots carry no time, so ``ts`` is the receive time::

    {"lastUpdateId":499869752,"bids":[["0.35210000","672.00000000"],...],
     "asks":[["0.35260000","3199.00000000"],...]}
""")

parse_ticker_24h = _spot(_usdm.parse_ticker_24h, """``GET /api/v3/ticker/24hr?symbol=...`` ->
:class:`Ticker24h` (``ts`` is ``closeTime``); the docs' example::

    {"symbol":"BNBBTC","priceChange":"-94.99999800","priceChangePercent":"-95.960",
     "lastPrice":"4.00000200","openPrice":"99.00000000","highPrice":"100.00000000",
     "lowPrice":"0.10000000","volume":"8913.30000000","quoteVolume":"15.30000000",
     "openTime":1499783499040,"closeTime":1499869899040,"firstId":28385,"lastId":28460,
     "count":76, ...}
""")

parse_agg_trades = _spot(_usdm.parse_agg_trades, """``GET /api/v3/aggTrades`` -> backfilled
:class:`Trade` s (``source="rest"``)::

    [{"a":26129,"p":"0.01633102","q":"4.70443515","f":27781,"l":27781,"T":1498793709153,
      "m":true,"M":true}]
""")

parse_historical_trades = _spot(_usdm.parse_historical_trades, """``GET /api/v3/historicalTrades``
-> backfilled :class:`Trade` s (``source="rest"``)::

    [{"id":28457,"price":"4.00000100","qty":"12.00000000","quoteQty":"48.000012",
      "time":1499865549590,"isBuyerMaker":true,"isBestMatch":true}]
""")

parse_klines = _spot(_usdm.parse_klines, """``GET /api/v3/klines`` -> :class:`Candle` s; a bar is
closed when its close time is before ``now_ms``::

    [[1499040000000,"0.01634790","0.80000000","0.01575800","0.01577100","148976.11427815",
      1499644799999,"2434.19055334",308,"1756.87402397","28.46694368","0"]]
""")


def parse_instruments(payload: Any) -> dict[str, Instrument]:
    """``GET /api/v3/exchangeInfo`` -> ``{flowdesk symbol: Instrument}`` with the tick and lot
    step of the ``PRICE_FILTER``/``LOT_SIZE`` filters (contract size 1: spot is base units).
    One entry, abridged::

        {"symbol":"NKNUSDT","status":"TRADING","baseAsset":"NKN","quoteAsset":"USDT",
         "filters":[{"filterType":"PRICE_FILTER","minPrice":"0.00010000",
         "maxPrice":"1000.00000000","tickSize":"0.00010000"},{"filterType":"LOT_SIZE",
         "minQty":"1.00000000","maxQty":"9000000.00000000","stepSize":"1.00000000"}, ...]}
    """
    doc = as_json(payload)
    rows = build_one(f"{VENUE} exchangeInfo", lambda p: p["symbols"], doc)
    return {i.symbol: i for i in build_many(f"{VENUE} exchangeInfo symbols", _instrument, rows)}


def _instrument(s: dict[str, Any]) -> Instrument:
    filters = {f["filterType"]: f for f in s["filters"]}
    venue_symbol = _str(s["symbol"])
    return Instrument(
        symbol=from_venue(venue_symbol),
        venue_symbol=venue_symbol,
        tick_size=float(filters["PRICE_FILTER"]["tickSize"]),
        step_size=float(filters["LOT_SIZE"]["stepSize"]),
        contract_size=1.0,
        status=_str(s["status"]),
    )


# ---------------------------------------------------------------------------------------------
# REST calls the feed makes
# ---------------------------------------------------------------------------------------------


def _snapshot_records(payload: Any, symbol: str, recv_ns: int, instruments: Mapping[str, Instrument]) -> list[Record]:
    """A depth snapshot answer as ``[BookSnapshot]`` for ``symbol``."""
    return [parse_depth_snapshot(payload, symbol, recv_ns)]


def _ticker_records(payload: Any, symbol: str, recv_ns: int, instruments: Mapping[str, Instrument]) -> list[Record]:
    """A 24h ticker answer as ``[Ticker24h]``."""
    return [parse_ticker_24h(payload, recv_ns)]


def _agg_trade_records(payload: Any, symbol: str, recv_ns: int, instruments: Mapping[str, Instrument]) -> list[Record]:
    """An aggTrades answer as backfilled trades, ascending."""
    return list(parse_agg_trades(payload, symbol, recv_ns))


def _historical_trade_records(
    payload: Any, symbol: str, recv_ns: int, instruments: Mapping[str, Instrument],
) -> list[Record]:
    """A historicalTrades answer as backfilled trades, ascending."""
    return list(parse_historical_trades(payload, symbol, recv_ns))


SNAPSHOT_CALL = RestCall(
    path=DEPTH_PATH,
    params=lambda venue_symbol: {"symbol": venue_symbol, "limit": SNAPSHOT_LIMIT},
    parse=_snapshot_records,
)

TICKER_POLL = RestCall(
    path=TICKER_24H_PATH,
    params=lambda venue_symbol: {"symbol": venue_symbol},
    parse=_ticker_records,
    every="ticker_poll_s",
)

#: trade backfill by id, per trade stream: aggregate ids for ``aggTrade``, trade ids for
#: ``trade`` (both count up by one per symbol)
TRADE_BACKFILLS: dict[str, TradeBackfill] = {
    "aggTrade": TradeBackfill(
        path=AGG_TRADES_PATH,
        params=lambda venue_symbol, from_id, limit: {"symbol": venue_symbol, "fromId": from_id, "limit": limit},
        parse=_agg_trade_records,
        limit=1000,
        stream="aggTrade",
    ),
    "trade": TradeBackfill(
        path=HISTORICAL_TRADES_PATH,
        params=lambda venue_symbol, from_id, limit: {"symbol": venue_symbol, "fromId": from_id, "limit": limit},
        parse=_historical_trade_records,
        limit=1000,
        stream="trade",
    ),
}

INSTRUMENTS_CALL: tuple[str, str, dict[str, Any], Callable[[Any], dict[str, Instrument]]] = (
    "GET", EXCHANGE_INFO_PATH, {"showPermissionSets": "false"}, parse_instruments,
)

UNAVAILABLE: dict[str, str] = {
    "MarkFunding": "Binance spot has no mark price and no funding: there is no perpetual contract",
    "OpenInterest": "Binance spot trades assets, not contracts: there is no open interest",
    "Liquidation": "Binance spot publishes no liquidation stream (forceOrder exists on futures "
    "only; margin liquidations are not public)",
}

PROTOCOLS: dict[str, VenueProtocol] = {
    VENUE: VenueProtocol(
        name=VENUE,
        exchange=EXCHANGE,
        market=MARKET,
        streams=STREAMS,
        default_streams=DEFAULT_STREAMS,
        ws_url=WS_URL,
        rest_url=REST_URL,
        to_venue=to_venue,
        make_parser=make_parser,
        ws_target=ws_target,
        url_for=url_for,
        subscribe=subscribe,
        book="rest_next",
        book_stream="depth",
        snapshot=SNAPSHOT_CALL,
        resubscribe=None,  # a broken chain resyncs from a new REST snapshot
        polls=(TICKER_POLL,),
        instruments=INSTRUMENTS_CALL,
        trades_by_id=TRADE_BACKFILLS["aggTrade"],  # used only when aggTrade is collected
        contiguous_trade_ids=True,
        ping=None,  # the server pings (every 20 s); the client only answers with pongs
        ping_interval_s=20.0,
        request_weight=request_weight,
        weight_header=WEIGHT_HEADER,
        max_weight_per_minute=MAX_WEIGHT_PER_MINUTE,
        unavailable=UNAVAILABLE,
        taker_fee_bps=10.0,
        docs=DOCS_URL,
    ),
}
