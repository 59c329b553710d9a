"""The protocol description every venue module exports in ``PROTOCOLS`` (name -> description).

A venue module (``streaming/venues/<name>.py``) holds pure parsers and one
:class:`VenueProtocol` value that tells the generic feed (:mod:`flowdesk.streaming.feeds.venue`)
everything it needs to collect the venue: where to connect, what to send on open, how to keep
the connection alive, how the order book is kept in sequence, what to poll over REST, how to
backfill trades and how symbols are spelled. Networking, books, batching and health live in
the feed; the venue module never opens a socket.

Conventions:

* flowdesk symbols are ``BASEQUOTE`` in upper case (``BTCUSDT``). ``to_venue`` maps one to the
  venue's spelling (``BTC-USDT-SWAP``, ``BTC_USDT``, ``BTC``, ``XBTUSDTM``); the records a
  parser returns always carry the flowdesk symbol.
* Quantities in records are in **base units** (BTC, not contracts). Venues that count in
  contracts (OKX swaps, Gate.io futures, KuCoin futures) convert with the contract size from
  their instruments endpoint: :attr:`VenueProtocol.make_parser` receives the loaded
  :class:`Instrument` map; with an empty map a contract venue's parser raises
  :class:`~flowdesk.streaming.venues.base.ParseError` for a symbol whose size it does not know,
  never guesses 1.
* A parser returns ``[]`` for control frames it understands (subscribe acks, pongs, welcome
  messages), raises ``UnknownMessage`` for well-formed frames of an unknown kind, ``VenueError``
  for the venue's error replies and ``ParseError`` for malformed frames.
* Book messages: a full book from the WebSocket is a ``BookSnapshot`` record, a diff is a
  ``BookDelta``. How a diff chains to the previous one is the :attr:`VenueProtocol.book` rule.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from flowdesk.records import Record
from flowdesk.streaming.venues.base import ParseFn

#: Order-book sequence rules the generic feed implements (see flowdesk.streaming.book):
#:
#: ``rest_prev`` -- REST snapshot + diffs; first diff straddles ``lastUpdateId``, each next
#:   diff's ``prev_update_id`` equals the previous ``last_update_id`` (Binance USD-M ``pu``).
#: ``rest_next`` -- REST snapshot + diffs; first diff straddles ``snapshot id + 1``, each next
#:   diff's ``first_update_id`` equals the previous ``last_update_id + 1`` (Binance spot U/u,
#:   Gate.io futures U/u, KuCoin sequenceStart/End, KuCoin futures sequence).
#: ``ws_prev`` -- the WebSocket sends a snapshot (``BookSnapshot``) then diffs; each diff's
#:   ``prev_update_id`` equals the previous ``last_update_id`` (OKX prevSeqId/seqId). A break is
#:   repaired by resubscribing (``resubscribe``), else by reconnecting.
#: ``ws_next`` -- WebSocket snapshot then diffs whose ``first_update_id`` equals the previous
#:   ``last_update_id + 1`` (Bybit ``u``); a new snapshot always replaces the book.
#: ``ws_full`` -- every book message is a full snapshot that replaces the book (Hyperliquid).
#: ``none`` -- the venue has no book stream collected.
BOOK_RULES = ("rest_prev", "rest_next", "ws_prev", "ws_next", "ws_full", "none")

#: the VenueSettings intervals a poll can run on
POLL_INTERVALS = ("open_interest_poll_s", "ticker_poll_s")


class Instrument(NamedTuple):
    """One tradable instrument as the venue's instruments endpoint lists it.

    ``contract_size`` is base units per contract (1.0 where quantities already are base units).
    """

    symbol: str  # flowdesk spelling, BTCUSDT
    venue_symbol: str  # the venue's, BTC-USDT-SWAP
    tick_size: float
    step_size: float
    contract_size: float
    status: str


@dataclass(frozen=True)
class RestCall:
    """One REST request made per symbol.

    ``path`` may hold ``{symbol}``, replaced by the venue symbol (KuCoin
    ``/api/v1/contracts/{symbol}``); ``params(venue_symbol)`` builds the query (for ``POST`` the
    JSON body); ``parse(payload, symbol, recv_ns, instruments)`` turns the
    decoded JSON into records for the flowdesk ``symbol`` (it may use the instruments map the
    feed passes as ``instruments`` when the call needs contract sizes).
    """

    path: str
    params: Callable[[str], dict[str, Any]]
    parse: Callable[[Any, str, int, Mapping[str, Instrument]], list[Record]]
    every: str = "ticker_poll_s"  # one of POLL_INTERVALS (polls only)
    method: str = "GET"  # "POST" sends params as the JSON body (Hyperliquid /info)
    stream: str | None = None  # poll only when this stream is configured (None: always)


@dataclass(frozen=True)
class TradeBackfill:
    """Fetch trades by id after a gap: ``params(venue_symbol, from_id, limit)`` asks for trades
    with ids from ``from_id`` on, ``parse(payload, symbol, recv_ns, instruments)`` returns them
    ascending with ``source='rest'``."""

    path: str
    params: Callable[[str, int, int], dict[str, Any]]
    parse: Callable[[Any, str, int, Mapping[str, Instrument]], list[Record]]
    limit: int = 1000
    stream: str | None = None  # backfill only when this trade stream is collected (None: any)


def rest_path(path: str, venue_symbol: str) -> str:
    """A REST path with ``{symbol}`` replaced by the venue's spelling of the symbol."""
    return path.replace("{symbol}", venue_symbol) if "{" in path else path


class Handshake(NamedTuple):
    """What a pre-connect handshake returns: the WebSocket URL to open and the ping interval
    the venue announced (KuCoin's bullet-public), or ``None`` to keep ``ping_interval_s``."""

    url: str
    ping_interval_s: float | None


@dataclass(frozen=True)
class VenueProtocol:
    """Everything the generic feed needs to collect one market of one exchange."""

    name: str  # the settings key, e.g. "bybit_linear"
    exchange: str  # records' exchange, e.g. "bybit"
    market: str  # records' market, e.g. "linear"
    streams: frozenset[str]  # the stream names this venue accepts in settings
    default_streams: tuple[str, ...]
    ws_url: str  # production WebSocket base URL (a setting overrides it)
    rest_url: str  # production REST base URL
    to_venue: Callable[[str], str]  # BTCUSDT -> the venue's symbol
    #: a fresh parser for one feed: ``make_parser(instruments) -> parse(raw, recv_ns)``; stateful
    #: parsers (ticker deltas merged into state) keep their state in the closure
    make_parser: Callable[[Mapping[str, Instrument]], ParseFn]
    #: ``ws_target(ws_base_url, symbols, streams)`` -> the URL to open (stream names in the URL
    #: for Binance; the fixed public path elsewhere)
    ws_target: Callable[[str, tuple[str, ...], tuple[str, ...]], str]
    #: ``subscribe(symbols, streams)`` -> text messages to send once the socket is open
    subscribe: Callable[[tuple[str, ...], tuple[str, ...]], list[str]]
    book: str = "none"  # one of BOOK_RULES
    #: the stream setting that carries the book (None: always collected); no books without it
    book_stream: str | None = None
    #: REST depth snapshot for ``rest_*`` books; its parse returns ``[BookSnapshot]``
    snapshot: RestCall | None = None
    #: ``resubscribe(symbol, streams)`` -> messages that make a ``ws_*`` book start again from a
    #: fresh snapshot (unsubscribe + subscribe); ``None``: reconnect instead
    resubscribe: Callable[[str, tuple[str, ...]], list[str]] | None = None
    polls: tuple[RestCall, ...] = ()  # what the socket lacks (open interest, funding, 24h ticker)
    #: ``(method, path, params, parse)``; parse(payload) -> {flowdesk symbol: Instrument}
    instruments: tuple[str, str, dict[str, Any], Callable[[Any], dict[str, Instrument]]] | None = None
    trades_by_id: TradeBackfill | None = None
    #: trade ids that count up by one per trade on this venue's stream, so a jump is a gap
    contiguous_trade_ids: bool = False
    #: a stream trade covers the venue ids ``first_id..last_id`` (OKX: one taker order's fills,
    #: ``tradeId`` is the last): gaps are checked on that range instead of on ``trade_id``
    trade_id_range: bool = False
    #: extra HTTP headers of the WebSocket upgrade request (Gate.io ``X-Gate-Size-Decimal``)
    ws_headers: Mapping[str, str] = field(default_factory=dict)
    ping: Callable[[], str] | None = None  # the client ping message, if the venue wants one
    ping_interval_s: float = 20.0
    #: async ``handshake(rest)`` -> :class:`Handshake`, run before every connect; ``rest`` is the
    #: feed's :class:`flowdesk.streaming.rest.RestClient` (``await rest.post(path, body)``,
    #: ``await rest.get(path, params)`` return decoded JSON). KuCoin's bullet-public token.
    handshake: Callable[[Any], Awaitable[Handshake]] | None = None
    request_weight: Callable[[str, Mapping[str, Any]], int] = lambda path, params: 1
    weight_header: str | None = None  # response header carrying the used weight, if any
    max_weight_per_minute: int = 1200
    #: record kind (``"Liquidation"``, ``"OpenInterest"``, ...) -> why the venue has no public
    #: source for it; tools report this instead of returning zeros
    unavailable: Mapping[str, str] = field(default_factory=dict)
    taker_fee_bps: float = 5.0  # default taker fee (a setting overrides it)
    #: ``url_for(venue_settings)`` -> the URL to open, for venues whose URL depends on more
    #: settings than symbols and streams (Binance's diff-depth speed); overrides ``ws_target``
    url_for: Callable[[Any], str] | None = None
    docs: str = ""  # the venue's API documentation URL

    def __post_init__(self) -> None:
        if self.book not in BOOK_RULES:
            raise ValueError(f"{self.name}: book rule {self.book!r} not in {BOOK_RULES}")
        if self.book.startswith("rest_") and self.snapshot is None:
            raise ValueError(f"{self.name}: book rule {self.book} needs a REST snapshot call")
        for poll in self.polls:
            if poll.every not in POLL_INTERVALS:
                raise ValueError(f"{self.name}: poll {poll.path} every={poll.every!r} not in {POLL_INTERVALS}")
        unknown = set(self.default_streams) - self.streams
        if unknown:
            raise ValueError(f"{self.name}: default streams {sorted(unknown)} not in streams")
