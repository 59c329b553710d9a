"""The normalized record types every venue produces.

One record model for all venues (see ARCHITECTURE.md). Records are ``NamedTuple`` s: typed,
named, immutable and cheap to build on the hot path; a batch of them turns into columns with
``zip(*rows)`` for Arrow/DuckDB writes.

Conventions shared by every record:

* ``exchange`` is the venue id (``"binance"``), ``market`` the market kind on it (``"usdm"``,
  ``"spot"``), ``symbol`` the flowdesk symbol (``"BTCUSDT"``), not the venue's own spelling.
* ``ts`` is the exchange's event time in **milliseconds** since the Unix epoch (UTC);
  ``recv_ns`` is our local receive time in **nanoseconds** since the epoch.
* Prices and quantities are floats parsed from the venue's decimal strings.
* ``side`` of a trade is the **aggressor** (taker) side: ``"buy"`` or ``"sell"``.
"""

from __future__ import annotations

from typing import NamedTuple


class Trade(NamedTuple):
    """One public trade. ``trade_id`` is the venue's id for the stream collected
    (the aggregate id for Binance ``aggTrade``, the trade id for ``trade``); for aggregates,
    ``first_id``/``last_id`` are the raw trade ids it covers (else both equal ``trade_id``)."""

    exchange: str
    market: str
    symbol: str
    trade_id: int
    price: float
    qty: float
    side: str
    ts: int
    recv_ns: int
    first_id: int
    last_id: int
    source: str  # "ws" or "rest" (backfilled)


class Quote(NamedTuple):
    """Best bid/ask (top of book) as published by the venue."""

    exchange: str
    market: str
    symbol: str
    bid: float
    bid_qty: float
    ask: float
    ask_qty: float
    update_id: int
    ts: int
    recv_ns: int


class BookDelta(NamedTuple):
    """An L2 order-book diff. ``first_update_id``/``last_update_id``/``prev_update_id`` are the
    venue's sequence numbers (Binance ``U``/``u``/``pu``; ``prev_update_id`` is -1 where the
    venue has none). A level with quantity 0 is removed."""

    exchange: str
    market: str
    symbol: str
    first_update_id: int
    last_update_id: int
    prev_update_id: int
    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]
    ts: int
    recv_ns: int


class BookSnapshot(NamedTuple):
    """A full L2 snapshot (REST or WebSocket), bids best-first, asks best-first."""

    exchange: str
    market: str
    symbol: str
    last_update_id: int
    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]
    ts: int
    recv_ns: int


class MarkFunding(NamedTuple):
    """Mark price, index price and the current funding rate with the next funding time (ms)."""

    exchange: str
    market: str
    symbol: str
    mark_price: float
    index_price: float | None
    funding_rate: float | None
    next_funding_ts: int | None
    ts: int
    recv_ns: int


class OpenInterest(NamedTuple):
    """Open interest in contracts/base units (``open_interest``) and, where the venue gives it,
    in quote currency (``open_interest_value``)."""

    exchange: str
    market: str
    symbol: str
    open_interest: float
    open_interest_value: float | None
    ts: int
    recv_ns: int


class Liquidation(NamedTuple):
    """A forced order. ``side`` is the side of the liquidation order itself: ``"sell"``
    liquidates a long, ``"buy"`` liquidates a short."""

    exchange: str
    market: str
    symbol: str
    side: str
    price: float
    avg_price: float | None
    qty: float
    filled_qty: float | None
    status: str | None  # None where the venue publishes none
    ts: int
    recv_ns: int


class Ticker24h(NamedTuple):
    """Rolling 24-hour statistics."""

    exchange: str
    market: str
    symbol: str
    last: float
    open: float
    high: float
    low: float
    volume: float
    quote_volume: float | None  # None where the venue gives none
    price_change_pct: float
    trade_count: int | None
    ts: int
    recv_ns: int


class Candle(NamedTuple):
    """An OHLCV bar; ``closed`` is False while the venue still updates it."""

    exchange: str
    market: str
    symbol: str
    interval: str
    open_ts: int
    close_ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    quote_volume: float | None  # None where the venue gives none (Hyperliquid)
    trade_count: int | None
    taker_buy_volume: float | None
    closed: bool
    ts: int
    recv_ns: int


Record = Trade | Quote | BookDelta | BookSnapshot | MarkFunding | OpenInterest | Liquidation | Ticker24h | Candle

#: the record types that are stored row for row (book diffs and snapshots are not: the
#: controller applies them to live books and stores top-N snapshots and depth bands instead)
STORED_TYPES: tuple[type, ...] = (Trade, Quote, MarkFunding, OpenInterest, Liquidation, Ticker24h, Candle)


class BookLevel(NamedTuple):
    """One level of a stored top-N book snapshot taken by the controller at a fixed cadence
    (``side`` is ``"bid"`` or ``"ask"``, ``level`` 0 is the best price)."""

    exchange: str
    market: str
    symbol: str
    ts: int
    update_id: int
    side: str
    level: int
    price: float
    qty: float


class DepthBand(NamedTuple):
    """Resting quantity within ``band_pct`` percent of the mid, sampled by the controller from
    the live book at a fixed cadence. Quantities in base units, notionals in quote currency."""

    exchange: str
    market: str
    symbol: str
    ts: int
    mid: float
    band_pct: float
    bid_qty: float
    ask_qty: float
    bid_notional: float
    ask_notional: float
