"""Binance USD-M futures: pure parsers from wire bytes to :mod:`flowdesk.records`.

Nothing here opens a socket or touches storage; the controller owns networking and calls
:func:`parse_message` for every WebSocket frame (the hot path) and the ``parse_*`` functions
for REST payloads. flowdesk symbols are Binance's own uppercase symbols (``BTCUSDT``).

WebSocket docs: https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams
REST docs: https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api

Timestamps: trades use the trade time ``T``; quotes and book diffs the transaction time ``T``
(``E`` when absent); mark price, tickers and candles the event time ``E``; liquidations the
order's trade time ``o.T``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

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
    opt_ts,
)
from flowdesk.streaming.venues.protocol import Instrument, RestCall, TradeBackfill, VenueProtocol

EXCHANGE = "binance"
MARKET = "usdm"
VENUE = "binance_usdm"

# ---------------------------------------------------------------------------------------------
# Channels and URLs
# ---------------------------------------------------------------------------------------------

#: flowdesk stream setting -> Binance stream name; ``{s}`` is the lower-case symbol and
#: ``{speed}`` the diff-depth speed suffix (see :func:`stream_names`).
CHANNELS: dict[str, str] = {
    "aggTrade": "{s}@aggTrade",
    "trade": "{s}@trade",
    "bookTicker": "{s}@bookTicker",
    "depth": "{s}@depth{speed}",
    "markPrice": "{s}@markPrice@1s",
    "forceOrder": "{s}@forceOrder",
    "kline_1m": "{s}@kline_1m",
}

#: diff-depth update speeds in ms; 250 is Binance's default and has no suffix. 0 is not in the
#: docs, but Binance serves ``@depth@0ms`` (the shared BTCUSDT capture was recorded from it).
DEPTH_SPEEDS_MS = (0, 100, 250, 500)


def stream_names(symbols: Iterable[str], streams: Iterable[str], depth_speed_ms: int = 100) -> list[str]:
    """Binance stream names for every (symbol, stream setting) pair, symbol by symbol.

    >>> stream_names(["BTCUSDT"], ["aggTrade", "depth"])
    ['btcusdt@aggTrade', 'btcusdt@depth@100ms']
    """
    if depth_speed_ms not in DEPTH_SPEEDS_MS:
        raise ValueError(f"depth_speed_ms must be one of {DEPTH_SPEEDS_MS}, got {depth_speed_ms}")
    speed = "" if depth_speed_ms == 250 else f"@{depth_speed_ms}ms"
    wanted = list(streams)
    unknown = [s for s in wanted if s not in CHANNELS]
    if unknown:
        raise ValueError(f"unknown {VENUE} streams {unknown} (known: {sorted(CHANNELS)})")
    return [CHANNELS[st].format(s=sym.lower(), speed=speed) for sym in symbols for st in wanted]


def ws_url(base: str, names: Iterable[str]) -> str:
    """The combined-stream URL: ``wss://fstream.binance.com/stream?streams=a/b/c``."""
    return f"{base.rstrip('/')}/stream?streams={'/'.join(names)}"


# ---------------------------------------------------------------------------------------------
# WebSocket handlers (the hot path): one per event type, each returning a list of records
# ---------------------------------------------------------------------------------------------

_int = as_int  # validating field readers (see base): TypeError on a wrong JSON type
_str = as_str
_TAKER = {True: "sell", False: "buy"}  # m (buyer is maker) -> aggressor side
_ORDER_SIDE = {"BUY": "buy", "SELL": "sell"}
#: trade-stream ``X`` values that are not order-book trades (tardis-node drops them too)
_OFF_BOOK = frozenset({"INSURANCE_FUND", "ADL", "NA"})


def _agg_trade(d: dict[str, Any], recv_ns: int) -> list[Record]:
    """Aggregate trade -> :class:`Trade` with the aggregate id and the raw ids it covers::

        {"stream":"ctkusdt@aggTrade","data":{"e":"aggTrade","E":1626992741575,"a":16599292,
         "s":"CTKUSDT","p":"1.01100","q":"10","f":23961322,"l":23961322,"T":1626992741421,
         "m":false}}
    """
    return [new_record(Trade, (
        EXCHANGE, MARKET, _str(d["s"]), _int(d["a"]), float(d["p"]), float(d["q"]),
        _TAKER[d["m"]], _int(d["T"]), recv_ns, _int(d["f"]), _int(d["l"]), "ws",
    ))]


def _trade(d: dict[str, Any], recv_ns: int) -> list[Record]:
    """Raw trade -> :class:`Trade`; off-book fills (``X`` INSURANCE_FUND/ADL/NA) give ``[]``::

        {"stream":"btcusdt@trade","data":{"e":"trade","E":1723161256322,"T":1723161256322,
         "s":"BTCUSDT","t":5266583935,"p":"61800.30","q":"0.006","X":"MARKET","m":false}}
    """
    if d.get("X") in _OFF_BOOK:
        return []
    t = _int(d["t"])
    return [new_record(Trade, (
        EXCHANGE, MARKET, _str(d["s"]), t, float(d["p"]), float(d["q"]),
        _TAKER[d["m"]], _int(d["T"]), recv_ns, t, t, "ws",
    ))]


def _book_ticker(d: dict[str, Any], recv_ns: int) -> list[Record]:
    """Best bid/ask -> :class:`Quote` (``update_id`` is ``u``)::

        {"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":5123107839020,
         "s":"BTCUSDT","b":"61800.20","B":"2.507","a":"61800.30","A":"2.510",
         "T":1723161256313,"E":1723161256313}}
    """
    return [new_record(Quote, (
        EXCHANGE, MARKET, _str(d["s"]), float(d["b"]), float(d["B"]), float(d["a"]),
        float(d["A"]), _int(d["u"]), _int(d.get("T") or d["E"]), recv_ns,
    ))]


def _depth_update(d: dict[str, Any], recv_ns: int) -> list[Record]:
    """Diff depth -> :class:`BookDelta` carrying ``U``/``u``/``pu`` for the book sync::

        {"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":1723161601105,
         "T":1723161601054,"s":"BTCUSDT","U":5123135475514,"u":5123135475514,
         "pu":5123135221461,"b":[["61631.70","0.283"],["61632.60","0.000"]],"a":[]}}
    """
    return _book_delta(d, levels(d["b"]), levels(d["a"]), recv_ns)


def _book_delta(d: dict[str, Any], bids: list[tuple[float, float]], asks: list[tuple[float, float]],
                recv_ns: int) -> list[Record]:
    return [new_record(BookDelta, (
        EXCHANGE, MARKET, _str(d["s"]), _int(d["U"]), _int(d["u"]), _int(d["pu"]),
        bids, asks, _int(d.get("T") or d["E"]), recv_ns,
    ))]


def _depth_numeric(raw: str, recv_ns: int) -> list[Record] | None:
    """Fast path for a combined-stream diff-depth frame; ``None`` when it does not apply.

    A diff carries dozens of ``["price","qty"]`` string pairs at the end of the frame
    (``..."b":[[...]],"a":[[...]]}}``). Dropping the quotes from that tail lets orjson read the
    levels as numbers in the same pass that decodes the frame, instead of making a string per
    value and converting each one afterwards: about a third less time per diff. Anything
    unexpected (other fields after ``b``, spellings JSON numbers do not allow, rows that are not
    pairs, another event type) returns ``None`` and the frame takes the regular path, which
    raises the precise error."""
    cut = raw.find(',"b":[')
    if cut < 0:
        return None
    tail = raw[cut + 6:].replace('"', "").replace(",a:[", ',"a":[', 1)
    try:
        d = _loads("".join((raw[:cut], ',"b":[', tail)))["data"]
        if d["e"] != "depthUpdate":
            return None
        bids = [(float(p), float(q)) for p, q in d["b"]]
        asks = [(float(p), float(q)) for p, q in d["a"]]
        return _book_delta(d, bids, asks, recv_ns)
    except (_JSONDecodeError, *FIELD_ERRORS):
        return None


def _mark_price(d: dict[str, Any], recv_ns: int) -> list[Record]:
    """Mark price -> :class:`MarkFunding`; ``i``/``r`` may be ``""`` or absent and ``T`` 0
    (delivery contracts have no funding), which become ``None``::

        {"stream":"btcusdt@markPrice@1s","data":{"e":"markPriceUpdate","E":1597536008000,
         "s":"BTCUSDT","p":"11857.56000000","i":"11851.86949091","r":"0.00015640",
         "T":1597564800000}}
    """
    return [new_record(MarkFunding, (
        EXCHANGE, MARKET, _str(d["s"]), float(d["p"]), opt_float(d.get("i")),
        opt_float(d.get("r")), opt_ts(d.get("T")), _int(d["E"]), recv_ns,
    ))]


def _force_order(d: dict[str, Any], recv_ns: int) -> list[Record]:
    """Liquidation order -> :class:`Liquidation` (side of the liquidation order itself)::

        {"stream":"btcusdt@forceOrder","data":{"e":"forceOrder","E":1584059031426,
         "o":{"s":"BTCUSDT","S":"BUY","o":"LIMIT","f":"IOC","q":"0.014","p":"4793.91",
         "ap":"4706.04","X":"FILLED","l":"0.015","z":"0.014","T":1584059031421}}}
    """
    o = d["o"]
    avg = opt_float(o.get("ap"))
    return [new_record(Liquidation, (
        EXCHANGE, MARKET, _str(o["s"]), _ORDER_SIDE[o["S"]], float(o["p"]),
        avg or None,  # "0" until the order has a fill: no average price yet
        float(o["q"]), opt_float(o.get("z")), _str(o["X"]), _int(o["T"]), recv_ns,
    ))]


def _kline(d: dict[str, Any], recv_ns: int) -> list[Record]:
    """Kline -> :class:`Candle`; ``k.x`` says whether the bar is closed::

        {"stream":"ctkusdt@kline_1m","data":{"e":"kline","E":1626992741424,"s":"CTKUSDT",
         "k":{"t":1626992700000,"T":1626992759999,"s":"CTKUSDT","i":"1m","f":23961275,
         "L":23961322,"o":"1.01000","c":"1.01100","h":"1.01100","l":"1.01000","v":"3917",
         "n":48,"x":false,"q":"3957.89900","V":"1729","Q":"1748.01900","B":"0"}}}
    """
    k = d["k"]
    return [new_record(Candle, (
        EXCHANGE, MARKET, _str(d["s"]), _str(k["i"]), _int(k["t"]), _int(k["T"]),
        float(k["o"]), float(k["h"]), float(k["l"]), float(k["c"]), float(k["v"]),
        float(k["q"]), _int(k["n"]), float(k["V"]), as_bool(k["x"]), _int(d["E"]), recv_ns,
    ))]


def _ticker(d: dict[str, Any], recv_ns: int) -> list[Record]:
    """24-hour rolling statistics -> :class:`Ticker24h` (``P`` is the change in percent)::

        {"stream":"btcusdt@ticker","data":{"e":"24hrTicker","E":1568693103467,"s":"BTCUSDT",
         "p":"-88.17","P":"-0.855","w":"10223.98","c":"10223.74","Q":"2.097","o":"10311.91",
         "h":"10329.38","l":"10080.70","v":"20248.900","q":"207024349.13","O":1568606704662,
         "C":1568693103463,"F":148927,"L":181349,"n":32423}}
    """
    return [new_record(Ticker24h, (
        EXCHANGE, MARKET, _str(d["s"]), float(d["c"]), float(d["o"]), float(d["h"]),
        float(d["l"]), float(d["v"]), float(d["q"]), float(d["P"]), _int(d["n"]),
        _int(d["E"]), recv_ns,
    ))]


_Handler = Callable[[dict[str, Any], int], list[Record]]

#: Binance event type ``e`` -> handler
HANDLERS: dict[str, _Handler] = {
    "aggTrade": _agg_trade,
    "trade": _trade,
    "bookTicker": _book_ticker,
    "depthUpdate": _depth_update,
    "markPriceUpdate": _mark_price,
    "forceOrder": _force_order,
    "kline": _kline,
    "24hrTicker": _ticker,
}

_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError


def parse_message(raw: bytes | str, recv_ns: int) -> list[Record]:
    """Parse one WebSocket frame received at ``recv_ns`` into records.

    Accepts the combined-stream envelope ``{"stream":..., "data":{...}}``, a bare event, and
    arrays of events (the ``!...@arr`` streams). Subscription replies such as
    ``{"result":null,"id":1}`` give ``[]``. Raises :class:`ParseError` for a malformed frame,
    :class:`UnknownMessage` for an event type not handled here and :class:`VenueError` for an
    error reply (``{"error":{"code":2,"msg":"Invalid request: ..."},"id":1}``).
    """
    if type(raw) is str and raw.find("@depth", 0, 48) > 0:
        recs = _depth_numeric(raw, recv_ns)
        if recs is not None:
            return recs
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
    # _parse_event inlined: one call less per frame on the hot path
    try:
        handler = HANDLERS[data["e"]]
    except (KeyError, TypeError):
        return _parse_other(data, recv_ns)
    try:
        return handler(data, recv_ns)
    except FIELD_ERRORS as exc:
        raise field_error(f"{VENUE} {data['e']}", exc) from None


def _parse_event(data: Any, recv_ns: int) -> list[Record]:
    """One decoded event (an item of an ``@arr`` stream); same outcomes as parse_message."""
    try:
        handler = HANDLERS[data["e"]]
    except (KeyError, TypeError):
        return _parse_other(data, recv_ns)
    try:
        return handler(data, recv_ns)
    except FIELD_ERRORS as exc:
        raise field_error(f"{VENUE} {data['e']}", exc) from None


def _parse_other(obj: Any, recv_ns: int) -> list[Record]:
    """The slow path: event arrays, subscription replies, errors and unknown objects."""
    if isinstance(obj, list):
        return [rec for item in obj for rec in _parse_event(item, recv_ns)]
    return control_reply(obj, VENUE)


def control_reply(obj: Any, venue: str) -> list[Record]:
    """A Binance frame that is not a market event (USD-M and spot alike): ``[]`` for a request
    reply (``{"result":null,"id":1}``), :class:`VenueError` for an error reply,
    :class:`UnknownMessage` for an unknown event, :class:`ParseError` for a non-object."""
    if not isinstance(obj, dict):
        raise ParseError(f"{venue}: expected a JSON object, got {type(obj).__name__}")
    if "error" in obj or ("code" in obj and "msg" in obj):
        raise VenueError(f"{venue} error reply: {orjson.dumps(obj).decode()[:300]}")
    if "result" in obj and "id" in obj:
        return []  # reply to SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS / *_PROPERTY
    if "e" in obj:
        raise UnknownMessage(f"{venue}: unknown event type {obj['e']!r}")
    raise UnknownMessage(f"{venue}: object without an event type, keys {sorted(obj)[:8]}")


# ---------------------------------------------------------------------------------------------
# REST: paths and request weights
# ---------------------------------------------------------------------------------------------

DEPTH_PATH = "/fapi/v1/depth"
OPEN_INTEREST_PATH = "/fapi/v1/openInterest"
PREMIUM_INDEX_PATH = "/fapi/v1/premiumIndex"
TICKER_24H_PATH = "/fapi/v1/ticker/24hr"
EXCHANGE_INFO_PATH = "/fapi/v1/exchangeInfo"
AGG_TRADES_PATH = "/fapi/v1/aggTrades"
HISTORICAL_TRADES_PATH = "/fapi/v1/historicalTrades"
KLINES_PATH = "/fapi/v1/klines"


def _limit(params: Mapping[str, Any], default: int) -> int:
    return int(params.get("limit", default))


def _depth_weight(params: Mapping[str, Any]) -> int:
    limit = _limit(params, 500)  # valid limits: 5, 10, 20, 50, 100, 500, 1000
    return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20


def _klines_weight(params: Mapping[str, Any]) -> int:
    limit = _limit(params, 500)
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


def _per_symbol(one: int, all_symbols: int) -> Callable[[Mapping[str, Any]], int]:
    return lambda params: one if params.get("symbol") else all_symbols


def _fixed(weight: int) -> Callable[[Mapping[str, Any]], int]:
    return lambda params: weight


#: REST path -> its request weight as a function of the query parameters (Binance's
#: documented weights; the IP limit is 2400 per minute, see ``max_weight_per_minute``)
REQUEST_WEIGHTS: dict[str, Callable[[Mapping[str, Any]], int]] = {
    DEPTH_PATH: _depth_weight,
    OPEN_INTEREST_PATH: _fixed(1),
    PREMIUM_INDEX_PATH: _per_symbol(1, 10),
    TICKER_24H_PATH: _per_symbol(1, 40),
    EXCHANGE_INFO_PATH: _fixed(1),
    AGG_TRADES_PATH: _fixed(20),
    HISTORICAL_TRADES_PATH: _fixed(20),
    KLINES_PATH: _klines_weight,
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


class SymbolInfo(NamedTuple):
    """One instrument from ``/fapi/v1/exchangeInfo``: tick and lot step from the
    ``PRICE_FILTER`` and ``LOT_SIZE`` filters."""

    symbol: str
    status: str
    contract_type: str
    tick_size: float
    step_size: float
    price_precision: int
    quantity_precision: int


def parse_depth_snapshot(payload: Any, symbol: str, recv_ns: int) -> BookSnapshot:
    """``GET /fapi/v1/depth`` -> :class:`BookSnapshot`; ``ts`` is the transaction time ``T``
    (``E``, then our receive time, when absent)::

        {"lastUpdateId":600859605926,"E":1626992741264,"T":1626992741261,
         "bids":[["7.6110","6"],["7.6080","161"],...],"asks":[["7.6120","297"],...]}
    """

    def build(p: dict[str, Any]) -> BookSnapshot:
        ts = p.get("T") or p.get("E") or recv_ns // 1_000_000
        return new_record(BookSnapshot, (
            EXCHANGE, MARKET, symbol, _int(p["lastUpdateId"]), levels(p["bids"]),
            levels(p["asks"]), _int(ts), recv_ns,
        ))

    return build_one(f"{VENUE} depth snapshot", build, as_json(payload))


def parse_open_interest(payload: Any, recv_ns: int) -> OpenInterest:
    """``GET /fapi/v1/openInterest`` -> :class:`OpenInterest` (base units; no value given).
    Example from Binance's docs::

        {"openInterest": "10659.509", "symbol": "BTCUSDT", "time": 1589437530011}
    """

    def build(p: dict[str, Any]) -> OpenInterest:
        return new_record(OpenInterest, (
            EXCHANGE, MARKET, _str(p["symbol"]), float(p["openInterest"]), None,
            _int(p["time"]), recv_ns,
        ))

    return build_one(f"{VENUE} openInterest", build, as_json(payload))


def parse_premium_index(payload: Any, recv_ns: int) -> MarkFunding:
    """``GET /fapi/v1/premiumIndex?symbol=...`` -> :class:`MarkFunding`; ``lastFundingRate``
    is ``""`` and ``nextFundingTime`` 0 for delivery contracts (-> ``None``). From the docs::

        {"symbol": "BTCUSDT", "markPrice": "11793.63104562", "indexPrice": "11781.80495970",
         "estimatedSettlePrice": "11781.16138815", "lastFundingRate": "0.00038246",
         "interestRate": "0.00010000", "nextFundingTime": 1597392000000, "time": 1597370495002}
    """

    def build(p: dict[str, Any]) -> MarkFunding:
        return new_record(MarkFunding, (
            EXCHANGE, MARKET, _str(p["symbol"]), float(p["markPrice"]),
            opt_float(p.get("indexPrice")), opt_float(p.get("lastFundingRate")),
            opt_ts(p.get("nextFundingTime")), _int(p["time"]), recv_ns,
        ))

    return build_one(f"{VENUE} premiumIndex", build, as_json(payload))


def parse_ticker_24h(payload: Any, recv_ns: int) -> Ticker24h:
    """``GET /fapi/v1/ticker/24hr?symbol=...`` -> :class:`Ticker24h`; ``ts`` is ``closeTime``::

        {"symbol": "BTCUSDT", "priceChange": "-94.99999800", "priceChangePercent": "-95.960",
         "weightedAvgPrice": "0.29628482", "lastPrice": "4.00000200", "lastQty": "200.00000000",
         "openPrice": "99.00000000", "highPrice": "100.00000000", "lowPrice": "0.10000000",
         "volume": "8913.30000000", "quoteVolume": "15.30000000", "openTime": 1499783499040,
         "closeTime": 1499869899040, "firstId": 28385, "lastId": 28460, "count": 76}
    """

    def build(p: dict[str, Any]) -> Ticker24h:
        return new_record(Ticker24h, (
            EXCHANGE, MARKET, _str(p["symbol"]), float(p["lastPrice"]), float(p["openPrice"]),
            float(p["highPrice"]), float(p["lowPrice"]), float(p["volume"]),
            float(p["quoteVolume"]), float(p["priceChangePercent"]), _int(p["count"]),
            _int(p["closeTime"]), recv_ns,
        ))

    return build_one(f"{VENUE} ticker/24hr", build, as_json(payload))


def parse_agg_trades(payload: Any, symbol: str, recv_ns: int) -> list[Trade]:
    """``GET /fapi/v1/aggTrades`` -> backfilled :class:`Trade` s (``source="rest"``)::

        [{"a": 26129, "p": "0.01633102", "q": "4.70443515", "f": 27781, "l": 27781,
          "T": 1498793709153, "m": true}]
    """

    def build(r: dict[str, Any]) -> Trade:
        return new_record(Trade, (
            EXCHANGE, MARKET, symbol, _int(r["a"]), float(r["p"]), float(r["q"]),
            _TAKER[r["m"]], _int(r["T"]), recv_ns, _int(r["f"]), _int(r["l"]), "rest",
        ))

    return build_many(f"{VENUE} aggTrades", build, as_json(payload))


def parse_historical_trades(payload: Any, symbol: str, recv_ns: int) -> list[Trade]:
    """``GET /fapi/v1/historicalTrades`` -> backfilled :class:`Trade` s (``source="rest"``)::

        [{"id": 28457, "price": "4.00000100", "qty": "12.00000000", "quoteQty": "48.000012",
          "time": 1499865549590, "isBuyerMaker": true}]
    """

    def build(r: dict[str, Any]) -> Trade:
        t = _int(r["id"])
        return new_record(Trade, (
            EXCHANGE, MARKET, symbol, t, float(r["price"]), float(r["qty"]),
            _TAKER[r["isBuyerMaker"]], _int(r["time"]), recv_ns, t, t, "rest",
        ))

    return build_many(f"{VENUE} historicalTrades", build, as_json(payload))


def parse_klines(payload: Any, symbol: str, interval: str, recv_ns: int, now_ms: int) -> list[Candle]:
    """``GET /fapi/v1/klines`` -> :class:`Candle` s. A bar is closed when its close time is
    before ``now_ms``; ``ts`` is the close time of a closed bar, ``now_ms`` for the open one::

        [[1616338800000, "57212.69", "57315.00", "57196.19", "57300.00", "496.263",
          1616339099999, "28425514.78940", 7160, "273.108", "15642623.69718", "0"]]
    """

    def build(r: list[Any]) -> Candle:
        close_ts = _int(r[6])
        return new_record(Candle, (
            EXCHANGE, MARKET, symbol, interval, _int(r[0]), close_ts, float(r[1]),
            float(r[2]), float(r[3]), float(r[4]), float(r[5]), float(r[7]), _int(r[8]),
            float(r[9]), close_ts < now_ms, min(close_ts, now_ms), recv_ns,
        ))

    return build_many(f"{VENUE} klines", build, as_json(payload))


def parse_exchange_info(payload: Any) -> dict[str, SymbolInfo]:
    """``GET /fapi/v1/exchangeInfo`` -> ``{symbol: SymbolInfo}``. One entry, abridged::

        {"symbol":"BTCUSDT","pair":"BTCUSDT","contractType":"PERPETUAL","status":"TRADING",
         "pricePrecision":2,"quantityPrecision":3,"filters":[{"minPrice":"556.72",
         "maxPrice":"1000000","filterType":"PRICE_FILTER","tickSize":"0.01"},{"stepSize":
         "0.001","filterType":"LOT_SIZE","maxQty":"1000","minQty":"0.001"}, ...]}
    """
    doc = as_json(payload)
    rows = build_one(f"{VENUE} exchangeInfo", lambda p: p["symbols"], doc)
    infos = build_many(f"{VENUE} exchangeInfo symbols", _symbol_info, rows)
    return {info.symbol: info for info in infos}


def _symbol_info(s: dict[str, Any]) -> SymbolInfo:
    filters = {f["filterType"]: f for f in s["filters"]}
    return SymbolInfo(
        symbol=_str(s["symbol"]),
        status=_str(s["status"]),
        contract_type=_str(s["contractType"]),
        tick_size=float(filters["PRICE_FILTER"]["tickSize"]),
        step_size=float(filters["LOT_SIZE"]["stepSize"]),
        price_precision=_int(s["pricePrecision"]),
        quantity_precision=_int(s["quantityPrecision"]),
    )


# ---------------------------------------------------------------------------------------------
# The protocol description (what the generic feed needs)
# ---------------------------------------------------------------------------------------------


def _instruments(payload: Any) -> dict[str, Instrument]:
    """``exchangeInfo`` as :class:`Instrument` s (USD-M quantities are base units)."""
    return {
        s: Instrument(s, s, info.tick_size, info.step_size, 1.0, info.status)
        for s, info in parse_exchange_info(payload).items()
    }


def _one(parse: Callable[[Any, int], Record]) -> Callable[[Any, str, int, Mapping[str, Instrument]], list[Record]]:
    return lambda payload, symbol, recv_ns, instruments: [parse(payload, recv_ns)]


def _url_for(venue: Any) -> str:
    return ws_url(venue.ws_url, stream_names(venue.symbols, venue.streams, venue.depth_speed_ms))



def _by_id(venue_symbol: str, from_id: int, limit: int) -> dict[str, Any]:
    return {"symbol": venue_symbol, "fromId": from_id, "limit": limit}


#: trades-by-id calls per collected trade stream: ``aggTrades`` for ``aggTrade`` (aggregate ids),
#: ``historicalTrades`` for ``trade`` (raw trade ids; the feed uses the first, data-ops both)
TRADE_BACKFILLS: dict[str, TradeBackfill] = {
    "aggTrade": TradeBackfill(
        AGG_TRADES_PATH, _by_id,
        lambda payload, symbol, recv_ns, instruments: parse_agg_trades(payload, symbol, recv_ns),
        stream="aggTrade",
    ),
    "trade": TradeBackfill(
        HISTORICAL_TRADES_PATH, _by_id,
        lambda payload, symbol, recv_ns, instruments: parse_historical_trades(payload, symbol, recv_ns),
        stream="trade",
    ),
}

PROTOCOLS: dict[str, VenueProtocol] = {
    VENUE: VenueProtocol(
        name=VENUE,
        exchange=EXCHANGE,
        market=MARKET,
        streams=frozenset(CHANNELS),
        default_streams=("aggTrade", "bookTicker", "depth", "markPrice", "forceOrder", "kline_1m"),
        ws_url="wss://fstream.binance.com",
        rest_url="https://fapi.binance.com",
        to_venue=str.upper,
        make_parser=lambda instruments: parse_message,
        ws_target=lambda base, symbols, streams: ws_url(base, stream_names(symbols, streams)),
        url_for=_url_for,
        subscribe=lambda symbols, streams: [],
        book="rest_prev",
        book_stream="depth",
        snapshot=RestCall(
            DEPTH_PATH,
            lambda s: {"symbol": s, "limit": 1000},
            lambda payload, symbol, recv_ns, instruments: [parse_depth_snapshot(payload, symbol, recv_ns)],
        ),
        polls=(
            RestCall(OPEN_INTEREST_PATH, lambda s: {"symbol": s}, _one(parse_open_interest), "open_interest_poll_s"),
            RestCall(TICKER_24H_PATH, lambda s: {"symbol": s}, _one(parse_ticker_24h), "ticker_poll_s"),
            RestCall(PREMIUM_INDEX_PATH, lambda s: {"symbol": s}, _one(parse_premium_index), "ticker_poll_s"),
        ),
        instruments=("GET", EXCHANGE_INFO_PATH, {}, _instruments),
        trades_by_id=TRADE_BACKFILLS["aggTrade"],  # the feed backfills only when aggTrade is collected
        contiguous_trade_ids=True,
        request_weight=request_weight,
        weight_header="x-mbx-used-weight-1m",
        max_weight_per_minute=2400,
        taker_fee_bps=5.0,
        docs="https://developers.binance.com/docs/derivatives/usds-margined-futures",
    ),
}
