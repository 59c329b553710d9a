"""OKX v5 perpetual swaps: pure parsers from wire bytes to :mod:`flowdesk.records`.

Nothing here opens a socket or touches storage. One public WebSocket
(``wss://ws.okx.com:8443/ws/v5/public``) carries every collected channel; 1-minute candles,
which OKX serves only on its ``/ws/v5/business`` socket, are polled over REST instead.

Docs: https://www.okx.com/docs-v5/en/ (WebSocket: ``#overview-websocket``, market data:
``#order-book-trading-market-data``, public data: ``#public-data``). See docs/venues/okx.md.

Symbols: flowdesk ``BTCUSDT`` is OKX ``BTC-USDT-SWAP``. Sizes on the wire are **contracts**;
records carry base units. Linear swaps (USDT/USDC-margined, ``ctType=linear``) hold ``ctVal``
base units per contract. Inverse swaps (``X-USD-SWAP``, coin-margined, ``ctType=inverse``)
hold ``ctVal`` USD per contract, so base units are ``sz * ctVal / price``; their
:class:`~flowdesk.streaming.venues.protocol.Instrument` carries ``ctVal`` in USD and the parser
tells the two apart by the instrument id (every OKX ``-USD-SWAP`` is inverse).

Timestamps: every OKX push carries its own ``ts`` (ms, as a decimal string); records use it.
"""

from __future__ import annotations

import math
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
    ParseFn,
    UnknownMessage,
    VenueError,
    as_json,
    build_many,
    build_one,
    field_error,
    new_record,
    opt_float,
    split_symbol,
)
from flowdesk.streaming.venues.protocol import Instrument, RestCall, TradeBackfill, VenueProtocol

EXCHANGE = "okx"
MARKET = "swap"
VENUE = "okx_swap"

WS_URL = "wss://ws.okx.com:8443"
WS_PATH = "/ws/v5/public"
REST_URL = "https://www.okx.com"
DOCS_URL = "https://www.okx.com/docs-v5/en/"

INSTRUMENTS_PATH = "/api/v5/public/instruments"
HISTORY_TRADES_PATH = "/api/v5/market/history-trades"
CANDLES_PATH = "/api/v5/market/candles"

#: WebSocket channels collected (the flowdesk stream names are OKX's channel names)
WS_CHANNELS = (
    "trades", "books", "tickers", "mark-price", "funding-rate", "open-interest",
    "liquidation-orders", "index-tickers",
)
#: streams served by REST polling: 1m candles (OKX's ``candle1m`` lives on /ws/v5/business)
POLLED_STREAMS = ("candle1m",)
STREAMS = frozenset(WS_CHANNELS + POLLED_STREAMS)
#: quote currencies of OKX swaps; ``USD`` swaps are inverse (coin-margined)
QUOTES = ("USDT", "USDC", "USD")
#: subscription args per ``subscribe`` message (OKX caps one request at 64 KB)
ARGS_PER_MESSAGE = 100
#: the most trades ``/api/v5/market/history-trades`` returns per call
HISTORY_TRADES_LIMIT = 100
#: 1m bars asked per candle poll: covers polls up to ``CANDLE_POLL_BARS - 1`` minutes apart
CANDLE_POLL_BARS = 5
CANDLE_MS = 60_000

# ---------------------------------------------------------------------------------------------
# Symbols
# ---------------------------------------------------------------------------------------------


def to_venue(symbol: str) -> str:
    """``BTCUSDT`` -> ``BTC-USDT-SWAP`` (``BTCUSD`` -> the inverse ``BTC-USD-SWAP``); raises
    ``ValueError`` for a symbol that does not end in a known quote currency."""
    base, quote = split_symbol(symbol, QUOTES, VENUE)  # USDT and USDC before USD
    return f"{base}-{quote}-SWAP"


def from_venue(inst_id: str) -> str:
    """``BTC-USDT-SWAP`` -> ``BTCUSDT``; raises ``ValueError`` for anything but a swap id."""
    parts = inst_id.split("-")
    if len(parts) != 3 or parts[2] != "SWAP" or not parts[0] or not parts[1]:
        raise ValueError(f"{VENUE}: {inst_id!r} is not an OKX swap instrument id")
    return parts[0] + parts[1]


def index_of(inst_id: str) -> str:
    """The index (underlying) id of an instrument: ``BTC-USDT-SWAP`` -> ``BTC-USDT``."""
    return inst_id.rsplit("-", 1)[0] if inst_id.endswith("-SWAP") else inst_id


def is_inverse(inst_id: str) -> bool:
    """True for OKX's coin-margined contracts, whose quote segment is ``USD``."""
    parts = inst_id.split("-")
    return len(parts) >= 2 and parts[1] == "USD"


# ---------------------------------------------------------------------------------------------
# Client messages
# ---------------------------------------------------------------------------------------------


def ws_target(base: str, symbols: tuple[str, ...] = (), streams: tuple[str, ...] = ()) -> str:
    """The public WebSocket URL: ``<base>/ws/v5/public`` (a base already ending in the path is
    kept as it is)."""
    base = base.rstrip("/")
    return base if base.endswith(WS_PATH) else base + WS_PATH


def channel_args(symbols: Iterable[str], streams: Iterable[str]) -> list[dict[str, str]]:
    """OKX subscription args for every (symbol, WebSocket stream) pair; ``liquidation-orders``
    is one arg for all swaps (``instType: SWAP``); polled streams are skipped.

    >>> channel_args(["BTCUSDT"], ["trades", "index-tickers", "liquidation-orders"])
    [{'channel': 'trades', 'instId': 'BTC-USDT-SWAP'}, {'channel': 'index-tickers', \
'instId': 'BTC-USDT'}, {'channel': 'liquidation-orders', 'instType': 'SWAP'}]
    """
    wanted = list(streams)
    unknown = [s for s in wanted if s not in STREAMS]
    if unknown:
        raise ValueError(f"unknown {VENUE} streams {unknown} (known: {sorted(STREAMS)})")
    args: list[dict[str, str]] = []
    for symbol in symbols:
        inst_id = to_venue(symbol)
        for stream in wanted:
            if stream == "index-tickers":
                args.append({"channel": stream, "instId": index_of(inst_id)})
            elif stream in WS_CHANNELS and stream != "liquidation-orders":
                args.append({"channel": stream, "instId": inst_id})
    if "liquidation-orders" in wanted:
        args.append({"channel": "liquidation-orders", "instType": "SWAP"})
    return args


def op_messages(op: str, args: list[dict[str, str]]) -> list[str]:
    """``{"op": op, "args": [...]}`` texts, at most :data:`ARGS_PER_MESSAGE` args each."""
    return [
        orjson.dumps({"op": op, "args": args[i : i + ARGS_PER_MESSAGE]}).decode()
        for i in range(0, len(args), ARGS_PER_MESSAGE)
    ]


def subscribe(symbols: tuple[str, ...], streams: tuple[str, ...]) -> list[str]:
    """The subscribe messages to send once the socket is open."""
    return op_messages("subscribe", channel_args(symbols, streams))


def resubscribe(symbol: str, streams: tuple[str, ...]) -> list[str]:
    """Unsubscribe + subscribe ``books`` of ``symbol``: OKX answers the subscription with a
    fresh full snapshot, which restarts the ``seqId`` chain."""
    arg = [{"channel": "books", "instId": to_venue(symbol)}]
    return op_messages("unsubscribe", arg) + op_messages("subscribe", arg)


def ping() -> str:
    """The client heartbeat: the bare text ``ping`` (OKX answers the text ``pong``)."""
    return "ping"


# ---------------------------------------------------------------------------------------------
# WebSocket parser (the hot path)
# ---------------------------------------------------------------------------------------------

_SIDES = {"buy": "buy", "sell": "sell"}
_PONG = frozenset({"pong", b"pong"})
#: control events that carry nothing to record: acks, connection-count reports, and the
#: service-upgrade ``notice`` (the socket closes soon after; the feed reconnects then)
_CONTROL_EVENTS = frozenset({"subscribe", "unsubscribe", "notice", "channel-conn-count"})
_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError
NAN = math.nan


class Contract(NamedTuple):
    """How one instrument's contract sizes turn into base units: ``sz * mul / div`` (one of
    them 1). 0.1-ETH contracts divide by 10, so 3 contracts give 0.3, not the
    0.30000000000000004 of ``3 * 0.1``."""

    symbol: str
    size: float  # base units per contract (linear) or USD per contract (inverse)
    inverse: bool
    mul: float
    div: float


def contract(symbol: str, size: float, inverse: bool) -> Contract:
    """The :class:`Contract` of a size, dividing by ``1/size`` where that is a whole number."""
    if 0 < size < 1:
        inv = 1.0 / size
        if abs(inv - round(inv)) < 1e-9:
            return Contract(symbol, size, inverse, 1.0, float(round(inv)))
    return Contract(symbol, size, inverse, size, 1.0)


def contracts_of(instruments: Mapping[str, Instrument]) -> dict[str, Contract]:
    """OKX instrument id -> :class:`Contract` for every loaded instrument."""
    return {
        i.venue_symbol: contract(i.symbol, i.contract_size, is_inverse(i.venue_symbol))
        for i in instruments.values()
    }


def _ms(value: Any) -> int:
    """OKX's millisecond timestamps are decimal strings; ``int`` validates them."""
    return int(value)


def _opt_ms(value: Any) -> int | None:
    """A timestamp string that may be ``""`` or ``"0"`` (none) -> ``None``."""
    return (int(value) or None) if value else None


def _book_levels(rows: list[Any], c: Contract) -> list[tuple[float, float]]:
    """``[["8476.98", "415", "0", "13"], ...]`` (price, contracts, -, orders) -> base units."""
    if c.inverse:
        size = c.size
        out = []
        for row in rows:
            px = float(row[0])
            out.append((px, float(row[1]) * size / px))
        return out
    mul, div = c.mul, c.div
    try:  # OKX always sends four columns: unpacking is the fast way
        return [(float(p), float(q) * mul / div) for p, q, _, _ in rows]
    except ValueError:  # other column counts (or a bad number): read by index
        return [(float(row[0]), float(row[1]) * mul / div) for row in rows]


def _base_qty(sz: Any, px: float, c: Contract) -> float:
    """Contracts at ``px`` in base units."""
    return float(sz) * c.size / px if c.inverse else float(sz) * c.mul / c.div


class _Parser:
    """One feed's parser: the contract map and the state merged across channels (the latest
    funding rate and index price, which OKX pushes on channels of their own)."""

    def __init__(self, instruments: Mapping[str, Instrument]) -> None:
        self.contracts = contracts_of(instruments)
        self.marks: dict[str, float] = {}
        self.funding: dict[str, tuple[float | None, int | None]] = {}
        self.index: dict[str, float] = {}
        self.handlers: dict[str, Callable[[dict[str, Any], list[Any], int], list[Record]]] = {
            "trades": self._trades,
            "books": self._books,
            "tickers": self._tickers,
            "mark-price": self._mark_price,
            "funding-rate": self._funding_rate,
            "open-interest": self._open_interest,
            "liquidation-orders": self._liquidations,
            "index-tickers": self._index_tickers,
        }

    def contract(self, inst_id: Any) -> Contract:
        """The contract of ``inst_id``; ``ParseError`` when the instruments map lacks it (the
        parser never guesses a contract size)."""
        try:
            return self.contracts[inst_id]
        except KeyError:
            raise ParseError(f"{VENUE}: no contract size for {inst_id!r} (instruments not loaded)") from None

    def symbol(self, inst_id: str) -> str:
        """The flowdesk symbol of ``inst_id`` (no contract size needed)."""
        c = self.contracts.get(inst_id)
        return c.symbol if c is not None else from_venue(inst_id)

    def __call__(self, raw: bytes | str, recv_ns: int) -> list[Record]:
        """Parse one frame; see :func:`make_parser`."""
        if len(raw) == 4 and raw in _PONG:
            return []
        try:
            msg = _loads(raw)
        except _JSONDecodeError as exc:
            raise ParseError(f"{VENUE}: bad JSON: {exc}") from None
        try:
            arg, data = msg["arg"], msg["data"]
            handler = self.handlers[arg["channel"]]
        except (KeyError, TypeError):
            return self._other(msg)
        try:
            return handler(msg, data, recv_ns)
        except ParseError:
            raise
        except FIELD_ERRORS as exc:
            raise field_error(f"{VENUE} {arg['channel']}", exc) from None

    def _other(self, msg: Any) -> list[Record]:
        """Events (acks, errors, notices) and unknown objects: the slow path."""
        if not isinstance(msg, dict):
            raise ParseError(f"{VENUE}: expected a JSON object, got {type(msg).__name__}")
        event = msg.get("event")
        if event == "error":
            raise VenueError(f"{VENUE} error {msg.get('code')}: {msg.get('msg')}")
        if event in _CONTROL_EVENTS:
            return []
        if event is not None:
            raise UnknownMessage(f"{VENUE}: unknown event {event!r}")
        arg = msg.get("arg")
        if isinstance(arg, dict) and "data" in msg:
            raise UnknownMessage(f"{VENUE}: unknown channel {arg.get('channel')!r}")
        if isinstance(arg, dict):
            raise ParseError(f"{VENUE} {arg.get('channel')}: push without 'data'")
        raise UnknownMessage(f"{VENUE}: object without arg or event, keys {sorted(msg)[:8]}")

    # -- channels ----------------------------------------------------------------------------

    def _trades(self, msg: dict[str, Any], data: list[Any], recv_ns: int) -> list[Record]:
        """Aggregated trades -> :class:`Trade`; ``tradeId`` is the last id of the ``count``
        trades one taker order filled at one price, so ``first_id = tradeId - count + 1``::

            {"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT",
             "tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"buy",
             "ts":"1630048897897","count":"3","source":"0","seqId":1234}]}
        """
        contracts = self.contracts
        out: list[Record] = []
        for d in data:
            c = contracts.get(d["instId"]) or self.contract(d["instId"])
            px, sz, last = float(d["px"]), float(d["sz"]), int(d["tradeId"])
            count = d.get("count")
            out.append(new_record(Trade, (
                EXCHANGE, MARKET, c.symbol, last, px,
                sz * c.size / px if c.inverse else sz * c.mul / c.div, _SIDES[d["side"]],
                int(d["ts"]), recv_ns, last - int(count) + 1 if count else last, last, "ws",
            )))
        return out

    def _books(self, msg: dict[str, Any], data: list[Any], recv_ns: int) -> list[Record]:
        """400-level book: ``action`` ``snapshot`` -> :class:`BookSnapshot`, ``update`` ->
        :class:`BookDelta` chained by ``prevSeqId`` == previous ``seqId`` (``checksum`` is
        deprecated and always 0)::

            {"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{
             "asks":[["8476.98","415","0","13"]],"bids":[["8476.97","256","0","12"]],
             "ts":"1597026383085","checksum":0,"prevSeqId":123456,"seqId":123457}]}
        """
        snapshot = _BOOK_ACTIONS[msg["action"]]
        c = self.contract(msg["arg"]["instId"])
        out: list[Record] = []
        for d in data:
            seq = int(d["seqId"])
            bids, asks = _book_levels(d["bids"], c), _book_levels(d["asks"], c)
            if snapshot:
                out.append(new_record(BookSnapshot, (
                    EXCHANGE, MARKET, c.symbol, seq, bids, asks, _ms(d["ts"]), recv_ns,
                )))
            else:
                prev = int(d["prevSeqId"])
                out.append(new_record(BookDelta, (
                    EXCHANGE, MARKET, c.symbol, min(prev + 1, seq), seq, prev, bids, asks,
                    _ms(d["ts"]), recv_ns,
                )))
        return out

    def _tickers(self, msg: dict[str, Any], data: list[Any], recv_ns: int) -> list[Record]:
        """Ticker -> :class:`Quote` (best bid/ask; ``update_id`` is ``ts``, OKX tickers carry
        no sequence) and :class:`Ticker24h` (``volCcy24h`` is base units for swaps; the quote
        volume is known only for inverse swaps, ``vol24h * ctVal`` USD, else NaN)::

            {"arg":{"channel":"tickers","instId":"BTC-USDT-SWAP"},"data":[{"instType":"SWAP",
             "instId":"BTC-USDT-SWAP","last":"9999.99","lastSz":"1","askPx":"9999.99",
             "askSz":"11","bidPx":"8888.88","bidSz":"5","open24h":"9000","high24h":"10000",
             "low24h":"8888.88","volCcy24h":"2222","vol24h":"222200","sodUtc0":"9100",
             "sodUtc8":"9050","ts":"1597026383085"}]}
        """
        out: list[Record] = []
        for d in data:
            c = self.contract(d["instId"])
            ts = _ms(d["ts"])
            bid, ask = opt_float(d["bidPx"]), opt_float(d["askPx"])
            if bid is not None and ask is not None:  # "" while a side is empty (pre-open)
                out.append(new_record(Quote, (
                    EXCHANGE, MARKET, c.symbol, bid, _base_qty(d["bidSz"], bid, c), ask,
                    _base_qty(d["askSz"], ask, c), ts, ts, recv_ns,
                )))
            last, open_ = float(d["last"]), float(d["open24h"])
            quote_volume = float(d["vol24h"]) * c.size if c.inverse else NAN
            change = (last / open_ - 1.0) * 100.0 if open_ else NAN
            out.append(new_record(Ticker24h, (
                EXCHANGE, MARKET, c.symbol, last, open_, float(d["high24h"]), float(d["low24h"]),
                float(d["volCcy24h"]), quote_volume, change, None, ts, recv_ns,
            )))
        return out

    def _mark_price(self, msg: dict[str, Any], data: list[Any], recv_ns: int) -> list[Record]:
        """Mark price -> :class:`MarkFunding`, with the latest funding rate, funding time and
        index price seen on their own channels (``None`` until they arrive)::

            {"arg":{"channel":"mark-price","instId":"BTC-USDT-SWAP"},"data":[{
             "instType":"SWAP","instId":"BTC-USDT-SWAP","markPx":"42310.6","ts":"1630049139746"}]}
        """
        out: list[Record] = []
        for d in data:
            inst_id = d["instId"]
            symbol = self.symbol(inst_id)
            mark = self.marks[symbol] = float(d["markPx"])
            rate, next_ts = self.funding.get(symbol, (None, None))
            out.append(new_record(MarkFunding, (
                EXCHANGE, MARKET, symbol, mark, self.index.get(index_of(inst_id)), rate, next_ts,
                _ms(d["ts"]), recv_ns,
            )))
        return out

    def _funding_rate(self, msg: dict[str, Any], data: list[Any], recv_ns: int) -> list[Record]:
        """Funding rate (every 30-90 s) -> kept for the mark-price records, and a
        :class:`MarkFunding` at once when a mark price is known; ``fundingTime`` is the
        settlement time of ``fundingRate``::

            {"arg":{"channel":"funding-rate","instId":"BTC-USD-SWAP"},"data":[{
             "fundingRate":"0.0001875391284828","fundingTime":"1700726400000",
             "instId":"BTC-USD-SWAP","instType":"SWAP","method":"current_period",
             "nextFundingTime":"1700755200000","settState":"settled","ts":"1700724675402"}]}
        """
        out: list[Record] = []
        for d in data:
            inst_id = d["instId"]
            symbol = self.symbol(inst_id)
            rate, next_ts = opt_float(d["fundingRate"]), _opt_ms(d.get("fundingTime"))
            ts = _ms(d["ts"])
            self.funding[symbol] = (rate, next_ts)
            mark = self.marks.get(symbol)
            if mark is not None:
                out.append(new_record(MarkFunding, (
                    EXCHANGE, MARKET, symbol, mark, self.index.get(index_of(inst_id)), rate,
                    next_ts, ts, recv_ns,
                )))
        return out

    def _open_interest(self, msg: dict[str, Any], data: list[Any], recv_ns: int) -> list[Record]:
        """Open interest (every 3 s) -> :class:`OpenInterest` in base units (``oiCcy``), valued
        by ``oiUsd`` when sent, else ``oi * ctVal`` for inverse swaps, else ``None``::

            {"arg":{"channel":"open-interest","instId":"LTC-USD-SWAP"},"data":[{
             "instType":"SWAP","instId":"LTC-USD-SWAP","oi":"5000","oiCcy":"555.55",
             "oiUsd":"50000","ts":"1597026383085"}]}
        """
        out: list[Record] = []
        for d in data:
            inst_id = d["instId"]
            value = opt_float(d.get("oiUsd"))
            c = self.contracts.get(inst_id)
            if value is None and c is not None and c.inverse:
                value = float(d["oi"]) * c.size
            out.append(new_record(OpenInterest, (
                EXCHANGE, MARKET, self.symbol(inst_id), float(d["oiCcy"]), value, _ms(d["ts"]),
                recv_ns,
            )))
        return out

    def _liquidations(self, msg: dict[str, Any], data: list[Any], recv_ns: int) -> list[Record]:
        """Liquidations of all swaps -> :class:`Liquidation` for the loaded instruments only;
        ``side`` is the liquidation order's side, ``price`` the bankruptcy price ``bkPx``; OKX
        gives no order state, average price or filled size on this channel::

            {"arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[{"details":[
             {"bkLoss":"0","bkPx":"0.007831","ccy":"","posSide":"short","side":"buy",
             "sz":"13","ts":"1692266434010"}],"instFamily":"IOST-USDT",
             "instId":"IOST-USDT-SWAP","instType":"SWAP","uly":"IOST-USDT"}]}
        """
        out: list[Record] = []
        for d in data:
            c = self.contracts.get(d["instId"])
            if c is None:
                continue  # a swap this feed does not collect
            for x in d["details"]:
                px = float(x["bkPx"])
                out.append(new_record(Liquidation, (
                    EXCHANGE, MARKET, c.symbol, _SIDES[x["side"]], px, None,
                    _base_qty(x["sz"], px, c), None, "", _ms(x["ts"]), recv_ns,
                )))
        return out

    def _index_tickers(self, msg: dict[str, Any], data: list[Any], recv_ns: int) -> list[Record]:
        """Index price -> kept as the ``index_price`` of the next mark-price records::

            {"arg":{"channel":"index-tickers","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT",
             "idxPx":"42310.6","high24h":"43000","low24h":"41000","open24h":"42000",
             "sodUtc0":"42100","sodUtc8":"42050","ts":"1630049139746"}]}
        """
        for d in data:
            self.index[d["instId"]] = float(d["idxPx"])
        return []


#: books ``action`` -> is it a full snapshot
_BOOK_ACTIONS = {"snapshot": True, "update": False}


def make_parser(instruments: Mapping[str, Instrument]) -> ParseFn:
    """A fresh parser for one feed: ``parse(raw, recv_ns) -> records``.

    ``instruments`` ({flowdesk symbol: Instrument}) gives contract sizes; frames of an
    instrument missing from it raise :class:`ParseError` where a size is needed (liquidations of
    other swaps are skipped). ``pong``, subscription acks and notices give ``[]``; an ``error``
    event raises :class:`VenueError`; other events and channels raise :class:`UnknownMessage`.
    """
    return _Parser(instruments)


# ---------------------------------------------------------------------------------------------
# REST parsers: payload is decoded JSON or the raw body
# ---------------------------------------------------------------------------------------------


def rest_data(payload: Any, what: str) -> Any:
    """The ``data`` of an OKX REST reply ``{"code":"0","msg":"","data":[...]}``; a non-zero
    ``code`` (e.g. ``51001`` instrument does not exist) raises :class:`ParseError`."""
    doc = as_json(payload)

    def build(p: dict[str, Any]) -> Any:
        if p["code"] != "0":
            raise ParseError(f"{VENUE} {what}: error {p['code']}: {p.get('msg')}")
        return p["data"]

    return build_one(f"{VENUE} {what}", build, doc)


def parse_instruments(payload: Any) -> dict[str, Instrument]:
    """``GET /api/v5/public/instruments?instType=SWAP`` -> ``{flowdesk symbol: Instrument}``.
    ``contract_size`` is ``ctVal * ctMult`` and ``step_size`` ``lotSz`` contracts of it, both in
    base units (USD for inverse swaps, whose base value depends on the price). One row,
    abridged::

        {"instId":"BTC-USDT-SWAP","instType":"SWAP","ctType":"linear","ctVal":"0.01",
         "ctMult":"1","ctValCcy":"BTC","settleCcy":"USDT","tickSz":"0.1","lotSz":"1",
         "minSz":"1","state":"live","uly":"BTC-USDT"}
    """
    rows = rest_data(payload, "instruments")
    infos = build_many(f"{VENUE} instruments", _instrument, rows)
    return {i.symbol: i for i in infos if i is not None}


def _instrument(row: dict[str, Any]) -> Instrument | None:
    """One SWAP row as an :class:`Instrument`; ``None`` for other types and quote currencies."""
    inst_id = row["instId"]
    parts = inst_id.split("-")
    if row["instType"] != "SWAP" or len(parts) != 3 or parts[1] not in QUOTES:
        return None
    size = float(row["ctVal"]) * float(row.get("ctMult") or 1)
    c = contract(inst_id, size, is_inverse(inst_id))
    step = float(row["lotSz"]) * c.mul / c.div  # lot in base units (USD for inverse swaps)
    return Instrument(from_venue(inst_id), inst_id, float(row["tickSz"]), step, size, str(row["state"]))


def parse_history_trades(
    payload: Any, symbol: str, recv_ns: int, instruments: Mapping[str, Instrument]
) -> list[Record]:
    """``GET /api/v5/market/history-trades`` (newest first) -> :class:`Trade` s ascending by id,
    ``source="rest"``; each is one fill (REST trades are not aggregated)::

        {"code":"0","msg":"","data":[{"instId":"BTC-USDT","side":"sell","sz":"0.00001",
         "source":"0","px":"29963.2","tradeId":"242720720","ts":"1654161646974"}]}
    """
    rows = rest_data(payload, "history-trades")
    c = _contract_for(symbol, instruments)

    def build(r: dict[str, Any]) -> Trade:
        px, tid = float(r["px"]), int(r["tradeId"])
        return new_record(Trade, (
            EXCHANGE, MARKET, symbol, tid, px, _base_qty(r["sz"], px, c), _SIDES[r["side"]],
            _ms(r["ts"]), recv_ns, tid, tid, "rest",
        ))

    trades = build_many(f"{VENUE} history-trades", build, rows)
    trades.sort(key=lambda t: t.trade_id)
    return list(trades)


def _contract_for(symbol: str, instruments: Mapping[str, Instrument]) -> Contract:
    info = instruments.get(symbol)
    if info is None:
        raise ParseError(f"{VENUE}: no contract size for {symbol} (instruments not loaded)")
    return contract(symbol, info.contract_size, is_inverse(info.venue_symbol))


def parse_candles(payload: Any, symbol: str, recv_ns: int) -> list[Candle]:
    """``GET /api/v5/market/candles?bar=1m`` (newest first) -> 1m :class:`Candle` s ascending.
    ``volume`` is ``volCcy`` (base units for swaps), ``quote_volume`` ``volCcyQuote``; a bar
    is closed when ``confirm`` is ``"1"``; ``ts`` is the close time of a closed bar, else our
    receive time::

        {"code":"0","msg":"","data":[["1597026383085","3.721","3.743","3.677","3.708",
         "8422410","22698348.04828491","12698348.04828491","1"]]}
    """
    rows = rest_data(payload, "candles")
    now_ms = recv_ns // 1_000_000

    def build(r: list[Any]) -> Candle:
        open_ts = _ms(r[0])
        close_ts = open_ts + CANDLE_MS - 1
        closed = _CONFIRM[r[8]]
        return new_record(Candle, (
            EXCHANGE, MARKET, symbol, "1m", open_ts, close_ts, float(r[1]), float(r[2]),
            float(r[3]), float(r[4]), float(r[6]), float(r[7]), None, None, closed,
            close_ts if closed else now_ms, recv_ns,
        ))

    candles = build_many(f"{VENUE} candles", build, rows)
    candles.sort(key=lambda k: k.open_ts)
    return list(candles)


_CONFIRM = {"0": False, "1": True}


class CandlePoll:
    """The candle poll's parse: every poll returns the last few bars again, so each closed
    bar is passed on once (the first poll that sees it closed) and the open bar every time."""

    def __init__(self) -> None:
        self.last_closed: dict[str, int] = {}  # symbol -> open time of the newest closed bar passed on

    def __call__(
        self, payload: Any, symbol: str, recv_ns: int, instruments: Mapping[str, Instrument]
    ) -> list[Record]:
        """New closed bars and the open bar of ``symbol``, ascending."""
        done = self.last_closed.get(symbol, -1)
        out: list[Record] = []
        for k in parse_candles(payload, symbol, recv_ns):
            if not k.closed:
                out.append(k)
            elif k.open_ts > done:
                out.append(k)
                self.last_closed[symbol] = done = k.open_ts
        return out


# ---------------------------------------------------------------------------------------------
# The protocol description
# ---------------------------------------------------------------------------------------------

UNAVAILABLE = {
    "Ticker24h.quote_volume": (
        "OKX tickers give 24h volume in contracts and base currency only; quote volume is known "
        "for inverse (USD) swaps only and is NaN for linear swaps"
    ),
    "Ticker24h.trade_count": "OKX tickers carry no 24h trade count",
}

PROTOCOLS: dict[str, VenueProtocol] = {
    VENUE: VenueProtocol(
        name=VENUE,
        exchange=EXCHANGE,
        market=MARKET,
        streams=STREAMS,
        default_streams=(
            "trades", "books", "tickers", "mark-price", "funding-rate", "open-interest",
            "liquidation-orders", "index-tickers", "candle1m",
        ),
        ws_url=WS_URL,
        rest_url=REST_URL,
        to_venue=to_venue,
        make_parser=make_parser,
        ws_target=ws_target,
        subscribe=subscribe,
        book="ws_prev",
        resubscribe=resubscribe,
        polls=(
            RestCall(
                CANDLES_PATH,
                lambda inst_id: {"instId": inst_id, "bar": "1m", "limit": str(CANDLE_POLL_BARS)},
                CandlePoll(),
                every="ticker_poll_s",
                stream="candle1m",
            ),
        ),
        instruments=("GET", INSTRUMENTS_PATH, {"instType": "SWAP"}, parse_instruments),
        trades_by_id=TradeBackfill(
            HISTORY_TRADES_PATH,
            # "after" returns trades with smaller ids, newest first: ids from_id..from_id+limit-1
            lambda inst_id, from_id, limit: {
                "instId": inst_id, "type": "1", "after": str(from_id + limit), "limit": str(limit),
            },
            parse_history_trades,
            limit=HISTORY_TRADES_LIMIT,
            stream="trades",
        ),
        # ids are contiguous per instrument, but one ws trade covers `count` ids: the feed's
        # trade_id-only gap check would see false gaps (see docs/venues/okx.md)
        contiguous_trade_ids=True,
        trade_id_range=True,
        ping=ping,
        ping_interval_s=20.0,
        # OKX limits per endpoint and IP (history-trades 20/2 s is the tightest): one request
        # is weight 1 and 600 a minute keeps every endpoint under its own limit
        max_weight_per_minute=600,
        unavailable=UNAVAILABLE,
        taker_fee_bps=5.0,
        docs=DOCS_URL,
    ),
}
