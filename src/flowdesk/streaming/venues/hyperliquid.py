"""Hyperliquid perpetuals: pure parsers from wire bytes to :mod:`flowdesk.records`.

Nothing here opens a socket or touches storage. The generic feed opens ``wss://api.hyperliquid.xyz/ws``,
sends one ``{"method":"subscribe","subscription":{...}}`` per (coin, stream), pings with
``{"method":"ping"}`` and calls the parser that :func:`make_parser` returns for every frame.

Symbols: Hyperliquid perps are USDC-margined and quoted in USD; the venue names the coin only
(``BTC``). flowdesk maps ``BTCUSDT``, ``BTCUSDC`` and ``BTCUSD`` to ``BTC`` and writes records
as ``BTCUSDT`` so that cross-venue tools compare like with like. Coins Hyperliquid lists in
thousands (``kPEPE`` = 1000 PEPE) map to Binance's spelling of the same unit (``1000PEPEUSDT``).
Quantities are coins (base units); there are no contracts (contract size 1).

Timestamps: trades use the block time ``time``; ``l2Book`` and ``bbo`` their ``time``;
``activeAssetCtx`` and ``candle`` frames carry no event time, so their records use our receive
time (a closed candle uses its close time ``T``).

Docs: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/websocket/subscriptions
and https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint/perpetuals
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import orjson

from flowdesk.records import BookSnapshot, Candle, MarkFunding, OpenInterest, Quote, Record, Trade
from flowdesk.streaming.venues.base import (
    FIELD_ERRORS,
    ParseError,
    ParseFn,
    UnknownMessage,
    VenueError,
    as_int,
    as_json,
    as_str,
    build_one,
    field_error,
    new_record,
    split_symbol,
)
from flowdesk.streaming.venues.protocol import Instrument, VenueProtocol

EXCHANGE = "hyperliquid"
MARKET = "perp"
VENUE = "hyperliquid_perp"

WS_URL = "wss://api.hyperliquid.xyz"
WS_PATH = "/ws"
REST_URL = "https://api.hyperliquid.xyz"
INFO_PATH = "/info"
DOCS_URL = "https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api"

#: the quote suffixes a flowdesk symbol may carry for a Hyperliquid perp (all USD-quoted)
QUOTES = ("USDT", "USDC", "USD")
#: the quote flowdesk writes into records
RECORD_QUOTE = "USDT"
#: Hyperliquid's prefix for coins listed in thousands, and Binance's spelling of that unit
_THOUSANDS_VENUE, _THOUSANDS_FLOWDESK = "k", "1000"

#: perps: prices have at most ``6 - szDecimals`` decimals and at most 5 significant figures
PERP_MAX_DECIMALS = 6
PRICE_SIG_FIGS = 5

#: funding is paid every hour (at 1/8 of the computed 8-hour rate)
FUNDING_INTERVAL_MS = 3_600_000

# ---------------------------------------------------------------------------------------------
# Symbols
# ---------------------------------------------------------------------------------------------


def to_venue(symbol: str) -> str:
    """``BTCUSDT``/``BTCUSDC``/``BTCUSD`` -> ``BTC``; ``1000PEPEUSDT`` -> ``kPEPE``.

    Raises ``ValueError`` for a symbol without one of the :data:`QUOTES` suffixes.
    """
    base, _ = split_symbol(symbol, QUOTES, VENUE)
    if base.startswith(_THOUSANDS_FLOWDESK) and len(base) > 4 and base[4].isalpha():
        return _THOUSANDS_VENUE + base[4:]
    return base


def from_venue(coin: str) -> str:
    """``BTC`` -> ``BTCUSDT``; ``kPEPE`` -> ``1000PEPEUSDT``.

    Raises :class:`UnknownMessage` for spot names (``@107``, ``PURR/USDC``) and builder-dex
    names (``xyz:TSLA``), which this perp market does not collect.
    """
    name = as_str(coin)
    if not name.isalnum():
        raise UnknownMessage(f"{VENUE}: {name!r} is not a perp coin of the main dex")
    if name[0] == _THOUSANDS_VENUE and len(name) > 1 and name[1].isupper():
        name = _THOUSANDS_FLOWDESK + name[1:]
    return name.upper() + RECORD_QUOTE


# ---------------------------------------------------------------------------------------------
# Channels and client messages
# ---------------------------------------------------------------------------------------------

#: flowdesk stream setting -> Hyperliquid subscription type (also the data frames' ``channel``)
STREAMS: dict[str, str] = {
    "trades": "trades",
    "l2Book": "l2Book",
    "bbo": "bbo",
    "activeAssetCtx": "activeAssetCtx",
    "candle": "candle",
}
#: the one candle interval collected
CANDLE_INTERVAL = "1m"
PING = '{"method":"ping"}'


def subscription(stream: str, coin: str) -> dict[str, str]:
    """The ``subscription`` object of one stream for one coin, e.g.
    ``{"type": "candle", "coin": "BTC", "interval": "1m"}``; ``ValueError`` for an unknown stream."""
    try:
        sub = {"type": STREAMS[stream], "coin": coin}
    except KeyError:
        raise ValueError(f"unknown {VENUE} stream {stream!r} (known: {sorted(STREAMS)})") from None
    if stream == "candle":
        sub["interval"] = CANDLE_INTERVAL
    return sub


def _messages(method: str, symbols: tuple[str, ...], streams: tuple[str, ...]) -> list[str]:
    return [
        orjson.dumps({"method": method, "subscription": subscription(st, to_venue(sym))}).decode()
        for sym in symbols
        for st in streams
    ]


def subscribe(symbols: tuple[str, ...], streams: tuple[str, ...]) -> list[str]:
    """One subscribe message per (symbol, stream), symbol by symbol::

        {"method":"subscribe","subscription":{"type":"trades","coin":"BTC"}}
    """
    return _messages("subscribe", symbols, streams)


def unsubscribe(symbols: tuple[str, ...], streams: tuple[str, ...]) -> list[str]:
    """One unsubscribe message per (symbol, stream): the subscribe message with
    ``"method":"unsubscribe"``."""
    return _messages("unsubscribe", symbols, streams)


def resubscribe(symbol: str, streams: tuple[str, ...]) -> list[str]:
    """Unsubscribe + subscribe ``l2Book`` of ``symbol`` (a fresh full book follows); ``[]`` when
    the book stream is not collected. Every ``l2Book`` frame already is a full book, so the
    feed rarely needs this."""
    if "l2Book" not in streams:
        return []
    return unsubscribe((symbol,), ("l2Book",)) + subscribe((symbol,), ("l2Book",))


def ping() -> str:
    """The client heartbeat, answered with ``{"channel":"pong"}``."""
    return PING


def ws_target(base: str, symbols: tuple[str, ...], streams: tuple[str, ...]) -> str:
    """The URL to open: ``<base>/ws`` (subscriptions travel as messages, not in the URL)."""
    base = base.rstrip("/")
    return base if base.endswith(WS_PATH) else base + WS_PATH


# ---------------------------------------------------------------------------------------------
# WebSocket parser (the hot path)
# ---------------------------------------------------------------------------------------------

_int = as_int
_str = as_str
#: WsTrade ``side`` is the aggressor's: ``B`` lifted the ask, ``A`` hit the bid
_SIDE = {"B": "buy", "A": "sell"}
#: channels that carry no market data
_CONTROL = frozenset({"subscriptionResponse", "pong"})
#: the plain-text greeting some server versions send on connect (handled by the Python SDK)
_GREETING = "Websocket connection established."
_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError


def _levels(rows: Any) -> list[tuple[float, float]]:
    """``[{"px":"105055.0","sz":"3.03622","n":5}, ...]`` -> ``[(105055.0, 3.03622), ...]``."""
    return [(float(r["px"]), float(r["sz"])) for r in rows]


def next_funding_ts(ts_ms: int) -> int:
    """The next hour boundary after ``ts_ms``: Hyperliquid pays funding every hour on the hour."""
    return (ts_ms // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS


class HyperliquidParser:
    """The stateful parser of one feed: coin -> symbol cache, and the last candle per
    (symbol, interval) so that a bar is reported closed when the next one opens."""

    __slots__ = ("_symbols", "_bars", "_handlers")

    def __init__(self, instruments: Mapping[str, Instrument]) -> None:
        self._symbols: dict[str, str] = {i.venue_symbol: i.symbol for i in instruments.values()}
        self._bars: dict[tuple[str, str], Candle] = {}
        self._handlers: dict[str, Callable[[Any, int], list[Record]]] = {
            "trades": self._trades,
            "l2Book": self._book,
            "bbo": self._bbo,
            "activeAssetCtx": self._asset_ctx,
            "candle": self._candles,
        }

    def parse(self, raw: bytes | str, recv_ns: int) -> list[Record]:
        """Parse one frame received at ``recv_ns`` into records.

        Returns ``[]`` for subscription acks and pongs. Raises :class:`VenueError` for
        ``{"channel":"error","data":"..."}``, :class:`UnknownMessage` for other channels and
        :class:`ParseError` (naming the channel and field) for a malformed frame.
        """
        try:
            msg = _loads(raw)
        except _JSONDecodeError as exc:
            return self._not_json(raw, exc)
        try:
            handler = self._handlers[msg["channel"]]
        except (KeyError, TypeError):
            return self._other(msg)
        try:
            return handler(msg["data"], recv_ns)
        except FIELD_ERRORS as exc:
            raise field_error(f"{VENUE} {msg['channel']}", exc) from None

    # -- the symbol of a coin ------------------------------------------------------------------

    def _symbol(self, coin: Any) -> str:
        try:
            return self._symbols[coin]
        except KeyError:
            sym = self._symbols[coin] = from_venue(coin)
            return sym

    # -- handlers -----------------------------------------------------------------------------

    def _trades(self, rows: list[dict[str, Any]], recv_ns: int) -> list[Record]:
        """``trades`` -> :class:`Trade` s (``tid`` is a 50-bit hash: ids are not contiguous)::

            {"channel":"trades","data":[{"coin":"BTC","hash":"0x84f7...d1d5","px":"105056.0",
             "side":"B","sz":"0.01853","tid":754186699313231,"time":1737918853204,
             "users":["0x592c...c4c7","0x6802...8329"]}]}
        """
        out: list[Record] = []
        for t in rows:
            tid = _int(t["tid"])
            out.append(new_record(Trade, (
                EXCHANGE, MARKET, self._symbol(t["coin"]), tid, float(t["px"]), float(t["sz"]),
                _SIDE[t["side"]], _int(t["time"]), recv_ns, tid, tid, "ws",
            )))
        return out

    def _book(self, d: dict[str, Any], recv_ns: int) -> list[Record]:
        """``l2Book`` (always a full book, bids then asks, best first) -> :class:`BookSnapshot`
        whose ``last_update_id`` is the book ``time`` (the venue sends no sequence number)::

            {"channel":"l2Book","data":{"coin":"BTC","time":1737918843542,"levels":[
             [{"n":5,"px":"105055.0","sz":"3.03622"},...],[{"n":13,"px":"105056.0","sz":"6.34472"},...]]}}
        """
        bids, asks = d["levels"]
        t = _int(d["time"])
        return [new_record(BookSnapshot, (
            EXCHANGE, MARKET, self._symbol(d["coin"]), t, _levels(bids), _levels(asks), t, recv_ns,
        ))]

    def _bbo(self, d: dict[str, Any], recv_ns: int) -> list[Record]:
        """``bbo`` -> :class:`Quote` (``update_id`` is the book ``time``); a side that is
        ``null`` (empty) gives ``[]``, since a quote needs both::

            {"channel":"bbo","data":{"coin":"BTC","time":1790358617881,
             "bbo":[{"px":"83757.0","sz":"22.61305","n":81},{"px":"83758.0","sz":"0.00016","n":1}]}}
        """
        bid, ask = d["bbo"]
        sym = self._symbol(d["coin"])
        if bid is None or ask is None:
            return []
        t = _int(d["time"])
        return [new_record(Quote, (
            EXCHANGE, MARKET, sym, float(bid["px"]), float(bid["sz"]), float(ask["px"]),
            float(ask["sz"]), t, t, recv_ns,
        ))]

    def _asset_ctx(self, d: dict[str, Any], recv_ns: int) -> list[Record]:
        """``activeAssetCtx`` -> :class:`MarkFunding` (oracle price as index, the hourly funding
        rate, next funding at the next hour) and :class:`OpenInterest` (coins, and coins x mark
        in USD). The frame has no time: both records carry our receive time::

            {"channel":"activeAssetCtx","data":{"coin":"MOODENG","ctx":{"funding":"0.00004863",
             "openInterest":"18617460.0","prevDayPx":"0.20296","dayNtlVlm":"7665220.55613",
             "premium":"0.00008521","oraclePx":"0.1995","markPx":"0.19963","midPx":"0.19957",
             "impactPxs":["0.199517","0.199725"]}}}
        """
        sym = self._symbol(d["coin"])
        c = d["ctx"]
        ts = recv_ns // 1_000_000
        mark = float(c["markPx"])
        oi = float(c["openInterest"])
        return [
            new_record(MarkFunding, (
                EXCHANGE, MARKET, sym, mark, float(c["oraclePx"]), float(c["funding"]),
                next_funding_ts(ts), ts, recv_ns,
            )),
            new_record(OpenInterest, (EXCHANGE, MARKET, sym, oi, oi * mark, ts, recv_ns)),
        ]

    def _candles(self, d: Any, recv_ns: int) -> list[Record]:
        """``candle`` -> :class:`Candle` s. The venue documents ``Candle[]`` but sends one
        object per frame; both are accepted::

            {"channel":"candle","data":{"t":1790358600000,"T":1790358659999,"s":"BTC","i":"1m",
             "o":"83765.0","c":"83765.0","h":"83770.0","l":"83756.0","v":"0.3317","n":36}}
        """
        if type(d) is list:
            return [rec for item in d for rec in self._candle(item, recv_ns)]
        return self._candle(d, recv_ns)

    def _candle(self, k: dict[str, Any], recv_ns: int) -> list[Record]:
        """One bar, still open (``closed=False``, ``ts`` = receive time). The first frame of a
        newer bar also returns the previous bar's last state with ``closed=True`` and ``ts`` =
        its close time ``T``. No quote volume (``None``) and no taker-buy volume."""
        sym = self._symbol(k["s"])
        interval = _str(k["i"])
        open_ts = _int(k["t"])
        bar = new_record(Candle, (
            EXCHANGE, MARKET, sym, interval, open_ts, _int(k["T"]), float(k["o"]), float(k["h"]),
            float(k["l"]), float(k["c"]), float(k["v"]), None, _int(k["n"]), None, False,
            recv_ns // 1_000_000, recv_ns,
        ))
        key = (sym, interval)
        prev = self._bars.get(key)
        if prev is not None and open_ts < prev.open_ts:
            return [bar]  # a late frame of an older bar: report it, keep tracking the newer one
        self._bars[key] = bar
        if prev is not None and open_ts > prev.open_ts:
            return [prev._replace(closed=True, ts=prev.close_ts), bar]
        return [bar]

    # -- the slow path --------------------------------------------------------------------------

    @staticmethod
    def _not_json(raw: bytes | str, exc: Exception) -> list[Record]:
        text = raw.decode(errors="replace") if isinstance(raw, bytes | bytearray) else str(raw)
        if text.strip() == _GREETING:
            return []
        raise ParseError(f"{VENUE}: bad JSON: {exc}")

    @staticmethod
    def _other(msg: Any) -> list[Record]:
        """Acks and pongs -> ``[]``; errors -> VenueError; anything else -> UnknownMessage."""
        if not isinstance(msg, dict):
            raise ParseError(f"{VENUE}: expected a JSON object, got {type(msg).__name__}")
        channel = msg.get("channel")
        if channel in _CONTROL:
            return []
        if channel == "error":
            raise VenueError(f"{VENUE} error reply: {str(msg.get('data'))[:300]}")
        if channel is None:
            raise UnknownMessage(f"{VENUE}: object without a channel, keys {sorted(msg)[:8]}")
        raise UnknownMessage(f"{VENUE}: unknown channel {channel!r}")


def make_parser(instruments: Mapping[str, Instrument]) -> ParseFn:
    """A fresh ``parse(raw, recv_ns) -> records`` for one feed (see :meth:`HyperliquidParser.parse`);
    ``instruments`` (may be empty) maps venue coins to flowdesk symbols first."""
    return HyperliquidParser(instruments).parse


# ---------------------------------------------------------------------------------------------
# REST: POST /info {"type": ...}
# ---------------------------------------------------------------------------------------------

#: info request types of weight 2; every other documented info request weighs 20
_LIGHT_INFO = frozenset({"l2Book", "allMids", "clearinghouseState", "orderStatus",
                         "spotClearinghouseState", "exchangeStatus"})
INSTRUMENTS_BODY: dict[str, Any] = {"type": "metaAndAssetCtxs"}


def request_weight(path: str, params: Mapping[str, Any]) -> int:
    """The IP weight of ``POST /info`` with JSON body ``params`` (limit 1200 per minute);
    ``ValueError`` for another path."""
    if path != INFO_PATH:
        raise ValueError(f"{VENUE}: no request weight known for {path!r}")
    if params.get("type") == "userRole":
        return 60
    return 2 if params.get("type") in _LIGHT_INFO else 20


def tick_size(sz_decimals: int, price: str | None = None) -> float:
    """The price tick of a perp with ``szDecimals`` at ``price`` (the mark, a decimal string).

    Hyperliquid accepts prices with at most 5 significant figures and at most ``6 - szDecimals``
    decimals, and always accepts integers. The tick is therefore ``10**(e - 4)`` where ``e`` is
    the price's decimal exponent, no finer than ``10**-(6 - szDecimals)`` and no coarser than 1:
    BTC (szDecimals 5) at ``105055.0`` -> 1, ETH (4) at ``3000.5`` -> 0.1. Without a price, the
    finest tick the asset can ever have (``10**-(6 - szDecimals)``)."""
    finest = Decimal(1).scaleb(-(PERP_MAX_DECIMALS - sz_decimals))
    if price is None:
        return float(finest)
    exponent = Decimal(price).adjusted()
    tick = max(Decimal(1).scaleb(exponent - (PRICE_SIG_FIGS - 1)), finest)
    return float(min(tick, Decimal(1)))


def parse_instruments(payload: Any) -> dict[str, Instrument]:
    """``{"type":"metaAndAssetCtxs"}`` (``[meta, [ctx, ...]]``, ctx i belonging to universe
    entry i) or ``{"type":"meta"}`` -> ``{flowdesk symbol: Instrument}``. The tick comes from
    :func:`tick_size` at the ctx's ``markPx`` (the finest possible tick with ``meta`` alone);
    the step is ``10**-szDecimals``; status ``delisted`` or ``trading``. A meta entry::

        {"name":"BTC","szDecimals":5,"maxLeverage":40,"onlyIsolated":null,"isDelisted":null}

    Spot and builder-dex names are skipped.
    """
    doc = as_json(payload)
    meta, ctxs = (doc[0], doc[1]) if isinstance(doc, list) and len(doc) == 2 else (doc, None)
    universe = build_one(f"{VENUE} meta", lambda m: m["universe"], meta)
    if not isinstance(universe, list) or (ctxs is not None and not isinstance(ctxs, list)):
        raise ParseError(f"{VENUE} meta: expected JSON arrays of assets and contexts")
    out: dict[str, Instrument] = {}
    for i, entry in enumerate(universe):
        ctx = ctxs[i] if ctxs is not None and i < len(ctxs) else None
        inst = build_one(f"{VENUE} meta universe[{i}]", lambda e, c=ctx: _instrument(e, c), entry)
        if inst is not None:
            out[inst.symbol] = inst
    return out


def _instrument(entry: dict[str, Any], ctx: dict[str, Any] | None) -> Instrument | None:
    coin = _str(entry["name"])
    if not coin.isalnum():
        return None
    decimals = _int(entry["szDecimals"])
    mark = _str(ctx["markPx"]) if ctx is not None and ctx.get("markPx") is not None else None
    return Instrument(
        symbol=from_venue(coin),
        venue_symbol=coin,
        tick_size=tick_size(decimals, mark),
        step_size=float(Decimal(1).scaleb(-decimals)),
        contract_size=1.0,
        status="delisted" if entry.get("isDelisted") else "trading",
    )


def parse_l2_book(payload: Any, symbol: str, recv_ns: int) -> BookSnapshot:
    """``POST /info {"type":"l2Book","coin":"BTC"}`` -> :class:`BookSnapshot` (same shape as
    the WebSocket book; up to 20 levels a side)::

        {"coin":"BTC","levels":[[{"px":"110427.0","sz":"4.11882"},...],
         [{"px":"110428.0","sz":"3.72573"},...]],"time":1761786491067}
    """

    def build(p: dict[str, Any]) -> BookSnapshot:
        bids, asks = p["levels"]
        t = _int(p["time"])
        return new_record(BookSnapshot, (EXCHANGE, MARKET, symbol, t, _levels(bids), _levels(asks), t, recv_ns))

    return build_one(f"{VENUE} l2Book", build, as_json(payload))


# ---------------------------------------------------------------------------------------------
# The protocol description
# ---------------------------------------------------------------------------------------------

UNAVAILABLE: dict[str, str] = {
    "Liquidation": (
        "Hyperliquid has no public liquidation stream: liquidations appear only in the fills of "
        "the users involved (userFills/userEvents, which need the user's address), and their "
        "public trades are not marked as liquidations"
    ),
    "Ticker24h": (
        "Hyperliquid publishes no rolling 24h high, low or last-trade price; activeAssetCtx "
        "carries only prevDayPx and the 24h volumes (dayNtlVlm, dayBaseVlm)"
    ),
}

PROTOCOLS: dict[str, VenueProtocol] = {
    VENUE: VenueProtocol(
        name=VENUE,
        exchange=EXCHANGE,
        market=MARKET,
        streams=frozenset(STREAMS),
        default_streams=("trades", "l2Book", "bbo", "activeAssetCtx", "candle"),
        ws_url=WS_URL,
        rest_url=REST_URL,
        to_venue=to_venue,
        make_parser=make_parser,
        ws_target=ws_target,
        subscribe=subscribe,
        book="ws_full",
        resubscribe=resubscribe,
        polls=(),  # activeAssetCtx pushes mark, funding and open interest on the socket
        instruments=("POST", INFO_PATH, INSTRUMENTS_BODY, parse_instruments),
        trades_by_id=None,  # the info endpoint has recentTrades only, no trades by id
        contiguous_trade_ids=False,
        ping=ping,
        ping_interval_s=20.0,  # the server drops a connection silent for 60 s
        request_weight=request_weight,
        weight_header=None,
        max_weight_per_minute=1200,
        unavailable=UNAVAILABLE,
        taker_fee_bps=4.5,
        docs=DOCS_URL,
    ),
}
