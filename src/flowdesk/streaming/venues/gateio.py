"""Gate.io USDT-settled perpetual futures (API v4): pure parsers from wire bytes to records.

Nothing here opens a socket. :func:`make_parser` returns the hot-path ``parse(raw, recv_ns)``
for WebSocket frames; the ``parse_*`` functions turn REST payloads into records. Settings key
``gateio_futures``; records carry exchange ``"gateio"`` and market ``"futures"``.

WebSocket docs: https://www.gate.com/docs/developers/futures/ws/en/
REST docs: https://www.gate.com/docs/developers/apiv4/en/#futures

* Symbols: flowdesk ``BTCUSDT`` <-> Gate contract ``BTC_USDT``.
* Sizes are **contracts** (integers, or decimal strings on a connection opened with the
  ``X-Gate-Size-Decimal: 1`` header); a trade's size is signed, its sign is the taker side.
  Base units = ``|size| * quanto_multiplier`` of the contract (``/futures/usdt/contracts``).
  The parser therefore needs the instruments map: a contract without a known multiplier is a
  :class:`ParseError`, never a guessed 1.
* Every frame is ``{"time": s, "time_ms": ms, "channel": "futures.<x>", "event": ..., "result":
  ...}``; replies to ``subscribe`` carry ``result.status`` and, when rejected, ``error``.
* Book: ``futures.order_book_update`` diffs (``U``/``u``) on a REST snapshot taken with
  ``with_id=true`` -- rule ``rest_next`` (first diff ``U <= id + 1 <= u``, then ``U == u + 1``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
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
    new_record,
    opt_float,
)
from flowdesk.streaming.venues.protocol import Instrument, RestCall, VenueProtocol

EXCHANGE = "gateio"
MARKET = "futures"
VENUE = "gateio_futures"
SETTLE = "usdt"

WS_URL = "wss://fx-ws.gateio.ws"
WS_PATH = "/v4/ws/usdt"
REST_URL = "https://api.gateio.ws"
CONTRACTS_PATH = "/api/v4/futures/usdt/contracts"
ORDER_BOOK_PATH = "/api/v4/futures/usdt/order_book"
TRADES_PATH = "/api/v4/futures/usdt/trades"
WS_DOCS = "https://www.gate.com/docs/developers/futures/ws/en/"

#: flowdesk stream setting -> Gate channel
CHANNELS: dict[str, str] = {
    "trades": "futures.trades",
    "order_book_update": "futures.order_book_update",
    "book_ticker": "futures.book_ticker",
    "tickers": "futures.tickers",
    "candlesticks_1m": "futures.candlesticks",
    "public_liquidates": "futures.public_liquidates",
}
#: ``futures.order_book_update`` frequency and depth level. The REST snapshot must ask for the
#: same number of levels (Gate: "the subscribed level should match the REST limit").
BOOK_FREQUENCY = "100ms"
BOOK_LEVELS = 100
CANDLE_INTERVAL = "1m"
#: candle interval names Gate uses -> milliseconds
INTERVAL_MS: dict[str, int] = {
    "10s": 10_000, "1m": 60_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": 3_600_000, "4h": 14_400_000, "8h": 28_800_000, "1d": 86_400_000, "7d": 604_800_000,
}

# ---------------------------------------------------------------------------------------------
# Symbols and client messages
# ---------------------------------------------------------------------------------------------


def to_venue(symbol: str) -> str:
    """``BTCUSDT`` -> ``BTC_USDT``; ``ValueError`` for a symbol that is not ``<BASE>USDT``."""
    s = symbol.upper()
    if len(s) <= 4 or not s.endswith("USDT"):
        raise ValueError(f"{VENUE}: {symbol!r} is not a USDT-settled symbol (<BASE>USDT)")
    return f"{s[:-4]}_USDT"


def from_venue(contract: str) -> str:
    """``BTC_USDT`` -> ``BTCUSDT``; ``ValueError`` for a name without ``<BASE>_<QUOTE>``."""
    base, _, quote = contract.partition("_")
    if not base or not quote or "_" in quote:
        raise ValueError(f"{VENUE}: {contract!r} is not a contract name like BTC_USDT")
    return base + quote


def ws_target(base: str, symbols: tuple[str, ...], streams: tuple[str, ...]) -> str:
    """The one public USDT-futures path: ``wss://fx-ws.gateio.ws/v4/ws/usdt`` (a base URL that
    already ends in that path is kept as it is)."""
    base = base.rstrip("/")
    return base if base.endswith(WS_PATH) else base + WS_PATH


def request(channel: str, event: str | None, payload: list[str] | None = None) -> str:
    """One client request frame: ``{"time": <now s>, "channel": ..., "event": ..., "payload":
    [...]}`` (``event``/``payload`` left out when ``None``)."""
    msg: dict[str, Any] = {"time": int(time.time()), "channel": channel}
    if event is not None:
        msg["event"] = event
    if payload is not None:
        msg["payload"] = payload
    return orjson.dumps(msg).decode()


def _payloads(stream: str, contracts: list[str]) -> list[list[str]]:
    """Subscription payloads of one stream: one list of contracts where the channel takes a
    list, one payload per contract where it takes parameters."""
    if stream == "order_book_update":
        return [[c, BOOK_FREQUENCY, str(BOOK_LEVELS)] for c in contracts]
    if stream == "candlesticks_1m":
        return [[CANDLE_INTERVAL, c] for c in contracts]
    return [contracts]


def subscribe(symbols: Iterable[str], streams: Iterable[str], event: str = "subscribe") -> list[str]:
    """Subscribe (or ``event="unsubscribe"``) messages for every configured stream::

        {"time":1684930165,"channel":"futures.order_book_update","event":"subscribe",
         "payload":["BTC_USDT","100ms","100"]}
    """
    contracts = [to_venue(s) for s in symbols]
    out: list[str] = []
    for stream in streams:
        if stream not in CHANNELS:
            raise ValueError(f"unknown {VENUE} stream {stream!r} (known: {sorted(CHANNELS)})")
        out.extend(request(CHANNELS[stream], event, p) for p in _payloads(stream, contracts))
    return out


def ping() -> str:
    """The application-level ping, answered by ``futures.pong``: ``{"time":..,"channel":"futures.ping"}``."""
    return request("futures.ping", None)


# ---------------------------------------------------------------------------------------------
# The WebSocket parser (the hot path)
# ---------------------------------------------------------------------------------------------

_int = as_int
_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError
#: contract -> (flowdesk symbol, mul, div): base units = contracts * mul / div
Scale = tuple[str, float, float]


def scale_of(multiplier: float) -> tuple[float, float]:
    """``(mul, div)`` with ``contracts * mul / div`` = base units. A multiplier like 0.0001 is
    applied as a division by 10000, which rounds correctly (``29510 / 10000 == 2.951`` where
    ``29510 * 0.0001`` gives ``2.9510000000000005``)."""
    if 0 < multiplier < 1:
        inverse = round(1 / multiplier)
        if abs(inverse * multiplier - 1) < 1e-12:
            return 1.0, float(inverse)
    return multiplier, 1.0


def _ms(value: Any) -> int:
    """A timestamp in ms from seconds (``< 1e11``, e.g. Gate's old ``time``) or milliseconds."""
    v = int(value)
    return v * 1000 if v < 100_000_000_000 else v


def _frame_ms(msg: dict[str, Any]) -> int:
    """The frame's send time in ms (``time_ms``; ``time`` in seconds in frames before 2022)."""
    return int(msg.get("time_ms") or msg["time"] * 1000)


class GateParser:
    """The stateful parse of one feed: holds the contract sizes it was built with. Use
    :func:`make_parser`; :meth:`parse` is the ``ParseFn``."""

    def __init__(self, instruments: Mapping[str, Instrument]) -> None:
        self.contracts: dict[str, Scale] = {
            i.venue_symbol: (i.symbol, *scale_of(i.contract_size)) for i in instruments.values()
        }
        self.handlers = {
            "futures.trades": self._trades,
            "futures.order_book_update": self._book_update,
            "futures.book_ticker": self._book_ticker,
            "futures.tickers": self._tickers,
            "futures.candlesticks": self._candles,
            "futures.public_liquidates": self._liquidates,
        }

    def parse(self, raw: bytes | str, recv_ns: int) -> list[Record]:
        """One frame -> records. ``[]`` for acks, pongs and system notices; ``VenueError`` for a
        frame with an ``error``; ``UnknownMessage`` for other channels; ``ParseError`` for broken
        frames and contracts whose size is unknown."""
        try:
            msg = _loads(raw)
        except _JSONDecodeError as exc:
            raise ParseError(f"{VENUE}: bad JSON: {exc}") from None
        try:
            channel = msg["channel"]
            event = msg["event"]
        except (KeyError, TypeError):
            return self._other(msg)
        if event == "update":
            handler = self.handlers.get(channel)
            if handler is not None and not msg.get("error"):  # frames before 2022 carry "error": null
                try:
                    return handler(msg, recv_ns)
                except ParseError:
                    raise
                except FIELD_ERRORS as exc:
                    raise field_error(f"{VENUE} {channel}", exc) from None
        return self._control(msg, channel, event)

    def contract(self, name: Any) -> Scale:
        """``(symbol, mul, div)`` of a contract; ``ParseError`` when its size is not known."""
        try:
            return self.contracts[name]
        except (KeyError, TypeError):
            raise ParseError(f"{VENUE}: unknown contract {name!r} (no contract size loaded)") from None

    # -- control frames ----------------------------------------------------------------------

    def _control(self, msg: dict[str, Any], channel: Any, event: Any) -> list[Record]:
        """Acks, pongs, notices and errors::

            {"time":1684930165,"time_ms":0,"channel":"futures.trades","event":"subscribe",
             "result":{"status":"success"}}
        """
        if msg.get("error"):
            raise VenueError(f"{VENUE} error reply: {orjson.dumps(msg).decode()[:300]}")
        if channel == "futures.pong" or channel == "futures.system":
            return []  # a pong; a service-upgrade notice (the server closes the socket itself)
        if event in ("subscribe", "unsubscribe"):
            result = msg.get("result")
            if isinstance(result, dict) and result.get("status", "success") != "success":
                raise VenueError(f"{VENUE} {event} refused: {orjson.dumps(msg).decode()[:300]}")
            return []
        raise UnknownMessage(f"{VENUE}: unknown channel/event {channel!r}/{event!r}")

    def _other(self, msg: Any) -> list[Record]:
        """A frame without ``channel``/``event``: an error object, else unknown or broken."""
        if not isinstance(msg, dict):
            raise ParseError(f"{VENUE}: expected a JSON object, got {type(msg).__name__}")
        if msg.get("error"):
            raise VenueError(f"{VENUE} error reply: {orjson.dumps(msg).decode()[:300]}")
        raise UnknownMessage(f"{VENUE}: object without channel/event, keys {sorted(msg)[:8]}")

    # -- data channels -----------------------------------------------------------------------

    def _trades(self, msg: dict[str, Any], recv_ns: int) -> list[Record]:
        """Public trades; ``size`` < 0 is a taker sell. ``is_internal`` trades (insurance fund /
        ADL taking over a liquidation, off the book, not in candles) are skipped::

            {"channel":"futures.trades","event":"update","time":1614556850,"result":[{"size":2000,
             "id":13654527,"create_time":1614556850,"create_time_ms":1614556850860,
             "price":"45300","contract":"BTC_USDT"}]}
        """
        out: list[Record] = []
        for r in msg["result"]:
            if r.get("is_internal"):
                continue
            symbol, mul, div = self.contract(r["contract"])
            size = float(r["size"])
            tid = _int(r["id"])
            out.append(new_record(Trade, (
                EXCHANGE, MARKET, symbol, tid, float(r["price"]), abs(size) * mul / div,
                "buy" if size > 0 else "sell", int(r.get("create_time_ms") or r["create_time"] * 1000),
                recv_ns, tid, tid, "ws",
            )))
        return out

    def _book_update(self, msg: dict[str, Any], recv_ns: int) -> list[Record]:
        """Book diff -> :class:`BookDelta` (``U``/``u``; no previous id: -1). A frame flagged
        ``full`` (Gate resends the whole book) -> :class:`BookSnapshot` at ``u``::

            {"time":1684930165,"time_ms":1684930165254,"channel":"futures.order_book_update",
             "event":"update","result":{"U":203083177,"a":[{"p":"0.2983","s":0}],"b":[],
             "s":"RDNT_USDT","t":1684930165217,"u":203083177}}
        """
        r = msg["result"]
        symbol, mul, div = self.contract(r["s"])
        bids = [(float(lv["p"]), float(lv["s"]) * mul / div) for lv in r["b"]]
        asks = [(float(lv["p"]), float(lv["s"]) * mul / div) for lv in r["a"]]
        if r.get("full"):
            bids.sort(reverse=True)
            asks.sort()
            return [new_record(BookSnapshot, (
                EXCHANGE, MARKET, symbol, _int(r["u"]), bids, asks, _int(r["t"]), recv_ns,
            ))]
        return [new_record(BookDelta, (
            EXCHANGE, MARKET, symbol, _int(r["U"]), _int(r["u"]), -1, bids, asks, _int(r["t"]), recv_ns,
        ))]

    def _book_ticker(self, msg: dict[str, Any], recv_ns: int) -> list[Record]:
        """Best bid/ask -> :class:`Quote`; a side with no orders (``"b": ""``) gives ``[]``::

            {"time":1684930165,"time_ms":1684930165631,"channel":"futures.book_ticker",
             "event":"update","result":{"t":1684930165621,"u":6159967,"s":"PHB_USDT",
             "b":"0.7379","B":814,"a":"0.739","A":677}}
        """
        r = msg["result"]
        symbol, mul, div = self.contract(r["s"])
        bid, ask = r["b"], r["a"]
        if bid == "" or ask == "":
            return []  # an empty book side: no best price to record
        return [new_record(Quote, (
            EXCHANGE, MARKET, symbol, float(bid), float(r["B"]) * mul / div, float(ask),
            float(r["A"]) * mul / div, _int(r["u"]), _int(r["t"]), recv_ns,
        ))]

    def _tickers(self, msg: dict[str, Any], recv_ns: int) -> list[Record]:
        """Contract ticker -> :class:`MarkFunding`, :class:`OpenInterest` (``total_size``
        contracts; value at mark) and :class:`Ticker24h` (see :func:`_ticker_records`)::

            {"time":1677629168,"time_ms":1677629168840,"channel":"futures.tickers","event":"update",
             "result":[{"contract":"BTC_USDT","last":"23160.2","change_percentage":"-1.3224",
             "total_size":"153482780","volume_24h":"155496714","volume_24h_base":"15549",
             "volume_24h_quote":"360157621","volume_24h_settle":"360157621","mark_price":"23175.64",
             "funding_rate":"0.0001","funding_rate_indicative":"0.0001","index_price":"23173.35",
             "quanto_base_rate":"","low_24h":"23018.3","high_24h":"23589.2"}]}
        """
        result = msg["result"]
        rows = [result] if isinstance(result, dict) else result
        out: list[Record] = []
        for r in rows:
            out.extend(_ticker_records(r, self.contract(r["contract"]), r.get("t") or _frame_ms(msg), recv_ns))
        return out

    def _candles(self, msg: dict[str, Any], recv_ns: int) -> list[Record]:
        """Candles -> :class:`Candle`; ``n`` is ``<interval>_<contract>``, ``t`` the open time in
        seconds, ``v`` the volume in contracts. ``w`` (closed) is absent in older frames (2023):
        then a bar is closed once the frame time passed its end::

            {"time":1684930165,"time_ms":1684930165934,"channel":"futures.candlesticks",
             "event":"update","result":[{"t":1684930140,"v":0,"c":"0.1701","h":"0.1701",
             "l":"0.1701","o":"0.1701","n":"1m_FRONT_USDT"}]}
        """
        frame_ms = _frame_ms(msg)
        out: list[Record] = []
        for r in msg["result"]:
            interval, _, name = r["n"].partition("_")
            symbol, mul, div = self.contract(name)
            open_ms = int(r["t"]) * 1000
            close_ms = open_ms + INTERVAL_MS[interval] - 1
            w = r.get("w")
            out.append(new_record(Candle, (
                EXCHANGE, MARKET, symbol, interval, open_ms, close_ms, float(r["o"]), float(r["h"]),
                float(r["l"]), float(r["c"]), abs(float(r["v"])) * mul / div, None, None, None,
                close_ms < frame_ms if w is None else as_bool(w), frame_ms, recv_ns,
            )))
        return out

    def _liquidates(self, msg: dict[str, Any], recv_ns: int) -> list[Record]:
        """Public liquidation orders -> :class:`Liquidation`; ``size`` > 0 is a buy order (a
        short liquidated). ``time`` is in ms since 2026-08, in seconds before (with ``time_ms``)::

            {"channel":"futures.public_liquidates","event":"update","time":1541505434,
             "time_ms":1541505434123,"result":[{"price":"215.1","size":"-124.5",
             "time":1541486601123,"contract":"BTC_USDT"}]}
        """
        out: list[Record] = []
        for r in msg["result"]:
            symbol, mul, div = self.contract(r["contract"])
            size = float(r["size"])
            out.append(new_record(Liquidation, (
                EXCHANGE, MARKET, symbol, "buy" if size > 0 else "sell", float(r["price"]), None,
                abs(size) * mul / div, None, None, _ms(r.get("time_ms") or r["time"]), recv_ns,
            )))
        return out


def _ticker_records(r: dict[str, Any], scale: Scale, ts: Any, recv_ns: int) -> list[Record]:
    """MarkFunding, OpenInterest and Ticker24h of one ticker object. Gate sends no next funding
    time (the contracts poll has it), no 24h open (``last - change_price``, else derived from
    ``change_percentage``) and no trade count."""
    symbol, mul, div = scale
    ts = int(ts)
    mark = float(r["mark_price"])
    last = float(r["last"])
    pct = float(r["change_percentage"])
    change = r.get("change_price")
    open_ = last - float(change) if change not in (None, "") else last / (1 + pct / 100)
    oi = float(r["total_size"]) * mul / div
    return [
        new_record(MarkFunding, (
            EXCHANGE, MARKET, symbol, mark, opt_float(r.get("index_price")),
            opt_float(r.get("funding_rate")), None, ts, recv_ns,
        )),
        new_record(OpenInterest, (EXCHANGE, MARKET, symbol, oi, oi * mark, ts, recv_ns)),
        new_record(Ticker24h, (
            EXCHANGE, MARKET, symbol, last, open_, float(r["high_24h"]), float(r["low_24h"]),
            float(r["volume_24h"]) * mul / div, float(r["volume_24h_quote"]), pct, None, ts, recv_ns,
        )),
    ]


def make_parser(instruments: Mapping[str, Instrument]) -> ParseFn:
    """A fresh ``parse(raw, recv_ns) -> list[Record]`` using ``instruments``' contract sizes."""
    return GateParser(instruments).parse


# ---------------------------------------------------------------------------------------------
# REST parsers: payload is decoded JSON or the raw body
# ---------------------------------------------------------------------------------------------


def _scale_for(symbol: str, instruments: Mapping[str, Instrument], where: str) -> tuple[float, float]:
    """``(mul, div)`` of ``symbol``; ``ParseError`` when its contract size is not loaded."""
    info = instruments.get(symbol)
    if info is None:
        raise ParseError(f"{VENUE} {where}: no contract size for {symbol} (instruments not loaded)")
    return scale_of(info.contract_size)


def parse_order_book(payload: Any, symbol: str, recv_ns: int, instruments: Mapping[str, Instrument]) -> list[Record]:
    """``GET /futures/usdt/order_book?contract=..&limit=100&with_id=true`` -> ``[BookSnapshot]``
    at ``id``; ``ts`` is the book's change time ``update`` (seconds, float)::

        {"current":1684930166.384,"update":1684930166.35,"asks":[{"s":803,"p":"0.2974"},...],
         "bids":[{"s":500,"p":"0.297"},...],"id":203083287}
    """
    mul, div = _scale_for(symbol, instruments, "order_book")

    def build(p: dict[str, Any]) -> BookSnapshot:
        return new_record(BookSnapshot, (
            EXCHANGE, MARKET, symbol, _int(p["id"]),
            [(float(lv["p"]), float(lv["s"]) * mul / div) for lv in p["bids"]],
            [(float(lv["p"]), float(lv["s"]) * mul / div) for lv in p["asks"]],
            round(float(p.get("update") or p["current"]) * 1000), recv_ns,
        ))

    return [build_one(f"{VENUE} order_book", build, as_json(payload))]


def _status(c: dict[str, Any]) -> str:
    """A contract's trading status: ``status`` where Gate sends it, else from ``in_delisting``."""
    status = c.get("status")
    if isinstance(status, str) and status:
        return status
    return "delisting" if as_bool(c["in_delisting"]) else "trading"


def _instrument(c: dict[str, Any]) -> Instrument:
    name = as_str(c["name"])
    size = float(c["quanto_multiplier"])
    if size <= 0:
        raise ValueError(f"quanto_multiplier {size} of {name}")
    # one contract is the smallest size step of an order, in base units
    return Instrument(from_venue(name), name, float(c["order_price_round"]), size, size, _status(c))


def parse_contracts(payload: Any) -> dict[str, Instrument]:
    """``GET /futures/usdt/contracts`` -> ``{flowdesk symbol: Instrument}``: tick
    ``order_price_round``, contract size ``quanto_multiplier`` (base units per contract, also
    the size step). One row, abridged::

        {"name":"BTC_USDT","type":"direct","quanto_multiplier":"0.0001","order_price_round":"0.1",
         "mark_price":"26704.26","funding_next_apply":1684944000,"in_delisting":false,...}
    """
    rows = build_many(f"{VENUE} contracts", _instrument, as_json(payload))
    return {i.symbol: i for i in rows}


def _contract_row(doc: Any, venue_symbol: str) -> dict[str, Any]:
    """The row of ``venue_symbol`` in a contracts list (or the single contract object)."""
    if isinstance(doc, dict):
        rows = [doc]
    elif isinstance(doc, list):
        rows = doc
    else:
        raise ParseError(f"{VENUE} contracts: expected a JSON array, got {type(doc).__name__}")
    for row in rows:
        if isinstance(row, dict) and row.get("name") == venue_symbol:
            return row
    raise ParseError(f"{VENUE} contracts: no contract {venue_symbol}")


def parse_contract_poll(payload: Any, symbol: str, recv_ns: int, instruments: Mapping[str, Instrument]) -> list[Record]:
    """The contracts poll -> ``[MarkFunding, OpenInterest]`` for ``symbol``: what the socket
    lacks is the next funding time ``funding_next_apply`` (seconds). Open interest is
    ``position_size`` contracts. The endpoint has no timestamp: ``ts`` is our receive time."""
    row = _contract_row(as_json(payload), to_venue(symbol))
    mul, div = _scale_for(symbol, instruments, "contracts")
    ts = recv_ns // 1_000_000

    def build(c: dict[str, Any]) -> list[Record]:
        mark = float(c["mark_price"])
        oi = float(c["position_size"]) * mul / div
        nxt = c.get("funding_next_apply")
        return [
            new_record(MarkFunding, (
                EXCHANGE, MARKET, symbol, mark, opt_float(c.get("index_price")),
                opt_float(c.get("funding_rate")), _ms(nxt) if nxt else None, ts, recv_ns,
            )),
            new_record(OpenInterest, (EXCHANGE, MARKET, symbol, oi, oi * mark, ts, recv_ns)),
        ]

    return build_one(f"{VENUE} contracts {row.get('name')}", build, row)


def _rest_ms(value: Any) -> int:
    """REST ``create_time_ms`` is seconds with 3 decimals (``1545136464.123``) -> ms."""
    v = float(value)
    return round(v * 1000) if v < 100_000_000_000 else round(v)


def parse_trades(payload: Any, symbol: str, recv_ns: int, instruments: Mapping[str, Instrument]) -> list[Record]:
    """``GET /futures/usdt/trades?contract=..`` (newest first) -> :class:`Trade` s ascending by
    id, ``source="rest"``; internal trades skipped as on the socket::

        [{"id":121234231,"create_time":1514764800.123,"create_time_ms":1514764800.123,
          "contract":"BTC_USDT","size":-100,"price":"100.123"}]
    """
    mul, div = _scale_for(symbol, instruments, "trades")

    def build(r: dict[str, Any]) -> Trade | None:
        if r.get("is_internal"):
            return None
        size = float(r["size"])
        tid = _int(r["id"])
        return new_record(Trade, (
            EXCHANGE, MARKET, symbol, tid, float(r["price"]), abs(size) * mul / div,
            "buy" if size > 0 else "sell", _rest_ms(r.get("create_time_ms") or r["create_time"]),
            recv_ns, tid, tid, "rest",
        ))

    trades = [t for t in build_many(f"{VENUE} trades", build, as_json(payload)) if t is not None]
    trades.sort(key=lambda t: t.trade_id)
    return trades  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# The protocol
# ---------------------------------------------------------------------------------------------


def _order_book_params(contract: str) -> dict[str, Any]:
    """Query of the depth snapshot: as many levels as the diff stream carries, with the id."""
    return {"contract": contract, "limit": BOOK_LEVELS, "with_id": "true"}


def _no_params(contract: str) -> dict[str, Any]:
    """The contracts list takes no query: every symbol's poll reads its own row from it."""
    return {}


PROTOCOLS: dict[str, VenueProtocol] = {
    VENUE: VenueProtocol(
        name=VENUE,
        exchange=EXCHANGE,
        market=MARKET,
        streams=frozenset(CHANNELS),
        default_streams=tuple(CHANNELS),
        ws_url=WS_URL,
        rest_url=REST_URL,
        to_venue=to_venue,
        make_parser=make_parser,
        ws_target=ws_target,
        subscribe=subscribe,
        book="rest_next",
        snapshot=RestCall(ORDER_BOOK_PATH, _order_book_params, parse_order_book),
        resubscribe=None,  # a REST book: a gap is repaired by a new snapshot
        polls=(RestCall(CONTRACTS_PATH + "/{symbol}", _no_params, parse_contract_poll, every="ticker_poll_s"),),
        instruments=("GET", CONTRACTS_PATH, {}, parse_contracts),
        trades_by_id=None,  # /trades pages backwards from last_id (deprecated): no fetch from an id on
        contiguous_trade_ids=False,  # not documented as +1 per trade; internal trades are dropped
        ws_headers={"X-Gate-Size-Decimal": "1"},  # fractional contract sizes as decimals, not floored
        ping=ping,
        ping_interval_s=10.0,
        max_weight_per_minute=1200,  # public REST: 200 requests per 10 s per endpoint and IP
        unavailable={},
        taker_fee_bps=5.0,
        docs=WS_DOCS,
    ),
}
