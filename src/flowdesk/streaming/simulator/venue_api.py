"""The contract between the multi-venue simulator server and one venue's wire format.

The server (:mod:`flowdesk.streaming.simulator.venues.server`) runs one seeded synthetic market
per symbol and turns it into *neutral events*: :mod:`flowdesk.records` tuples with the flowdesk
symbol (``BTCUSDT``) -- ``Trade``, ``BookDelta``, ``Quote``, ``MarkFunding``, ``OpenInterest``,
``Liquidation``, ``Candle`` (closed and open bars) and ``Ticker24h``. A :class:`VenueSim`
renders those events in its venue's wire format, answers the venue's client messages
(subscribe, unsubscribe, ping) and its REST paths. One venue per server (one port each), so
URL paths never clash between venues.

Book sequence numbers are neutral too: every ``BookDelta`` the server hands to ``encode`` has
``first_update_id == last_update_id == n`` and ``prev_update_id == n - 1``, where ``n`` counts
the symbol's book changes by one; :meth:`SimContext.book` returns the book with the ``n`` of its
last applied change, so a REST or WebSocket snapshot and the diffs after it always chain. A
venue whose sequence is not "+1 per message" derives its own numbers from ``n``.

Prices and sizes are floats in events; :meth:`SimContext.spec` gives the symbol's decimals to
format them the way the venue does. Contract venues divide base quantities by their own
contract size (their instruments REST answer must publish the same size).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from flowdesk.records import Record, Trade
from flowdesk.streaming.simulator.config import SymbolSpec

#: a topic key: (channel, flowdesk symbol); what a client subscribes to and encode() targets,
#: e.g. ("trades", "BTCUSDT"). The channel names are the VenueSim's own choice.
Topic = tuple[str, str]


class SimBook(Protocol):
    """The server's current book of one symbol."""

    seq: int  # n of the last applied change
    bids: list[tuple[float, float]]  # best first
    asks: list[tuple[float, float]]  # best first


class SimClient(Protocol):
    """One WebSocket connection as a VenueSim sees it."""

    topics: set[Topic]
    state: dict[str, Any]  # free per-connection state for the VenueSim (e.g. a connect id)

    def subscribe(self, topics: Iterable[Topic]) -> None: ...

    def unsubscribe(self, topics: Iterable[Topic]) -> None: ...


class SimContext(Protocol):
    """What the server offers a VenueSim while it answers or encodes."""

    symbols: list[str]  # flowdesk symbols the market runs
    ws_url: str  # this server's ws://host:port
    rest_url: str  # this server's http://host:port

    def spec(self, symbol: str) -> SymbolSpec: ...

    def now_ms(self) -> int:
        """The exchange clock (time of the last event produced)."""
        ...

    def book(self, symbol: str, depth: int) -> SimBook: ...

    def latest(self, symbol: str, kind: str) -> Record | None:
        """The newest neutral event of ``kind`` (``"Quote"``, ``"MarkFunding"``,
        ``"OpenInterest"``, ``"Ticker24h"``, ``"Trade"``, ``"Candle"``) for ``symbol``."""
        ...

    def trades(self, symbol: str, from_id: int | None, limit: int) -> list[Trade]:
        """Stored neutral trades of ``symbol`` (ids count up by one from 1): from ``from_id``
        on, or the newest ``limit`` when ``from_id`` is None; ascending."""
        ...

    def candles(self, symbol: str, limit: int) -> list[Record]:
        """The newest ``limit`` 1-minute neutral candles, ascending (the last may be open)."""
        ...


class VenueSim(Protocol):
    """One venue's wire format for the simulator server (``streaming/simulator/venues/<name>.py``
    exports ``SIMS: dict[str, VenueSim]``)."""

    name: str  # the settings key of the venue, e.g. "bybit_linear"
    #: WebSocket paths the venue serves (a client opening another path gets HTTP 404)
    ws_paths: tuple[str, ...]
    #: seconds without any client message after which the server closes a connection (the
    #: venue's heartbeat rule, e.g. Bybit 20 s idle), or None when the venue pings itself
    idle_timeout_s: float | None

    def on_open(self, client: SimClient, path: str, query: dict[str, str], ctx: SimContext) -> list[str]:
        """Messages to send right after the handshake (KuCoin's welcome); usually ``[]``.
        URL-subscribed venues (Binance ``/stream?streams=``) subscribe the client here."""
        ...

    def on_message(self, client: SimClient, text: str, ctx: SimContext) -> list[str]:
        """Answer one client text message: subscribe/unsubscribe (call ``client.subscribe``;
        for WebSocket-snapshot books also return the snapshot frame), ping -> pong, anything
        else -> the venue's error reply."""
        ...

    def encode(self, event: Record, ctx: SimContext) -> list[tuple[Topic, str]]:
        """The wire frames of one neutral event, each with the topic it is published on."""
        ...

    def rest(self, method: str, path: str, query: dict[str, str], ctx: SimContext) -> tuple[int, Any]:
        """``(HTTP status, JSON-able body)`` for a REST request; 404 with the venue's error body
        for an unknown path."""
        ...
