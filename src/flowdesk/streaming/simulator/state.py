"""The simulator's own market state, advanced frame by frame as the producer emits them, so
REST answers (depth, trades, ticker, mark price, open interest) match the stream position.

Payload layouts (shared by replay and synthetic frames):

* ``DEPTH``: ``(U, u, pu, bids, asks)``, levels as ``(price, qty)`` strings, ``qty`` ``""``
  for a removed level (see :func:`level`)
* ``TRADE``: ``(trade, agg)``, either may be ``None``;
  ``trade = (id, price, qty, time_ms, is_buyer_maker)``,
  ``agg = (a, price, qty, first_id, last_id, time_ms, is_buyer_maker)``
* ``BOOK_TICKER``: ``(bid, bid_qty, ask, ask_qty, u)``
* ``MARK``: ``(mark, index, settle, funding_rate, next_funding_ms)``
* ``SNAPSHOT``: ``(lastUpdateId, bids, asks)``
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from flowdesk.streaming.simulator.config import SymbolSpec, spec_for
from flowdesk.streaming.simulator.frames import BOOK_TICKER, DEPTH, MARK, SNAPSHOT, TRADE, Frame

#: funding rate the simulator publishes where its source has none (Binance's usual base rate)
FUNDING_RATE = 0.0001
FUNDING_INTERVAL_MS = 8 * 3_600_000
#: open interest = OI_BASE_NOTIONAL / first trade price + OI_VOLUME_SHARE * volume traded so far
OI_BASE_NOTIONAL = 2_000_000_000.0
OI_VOLUME_SHARE = 0.25
#: trade history kept for REST (oldest rows are dropped past this)
MAX_ROWS = 2_000_000

Level = Sequence[str]


def level(price: str, qty: str) -> tuple[str, str]:
    """A diff level for a ``DEPTH`` payload: a zero quantity ("0.000") becomes ``""``, so
    applying a diff needs no number parsing."""
    return price, qty if qty.strip("0.") else ""


def next_funding_ms(now_ms: int) -> int:
    """The next 8-hour funding boundary (00:00, 08:00, 16:00 UTC) after ``now_ms``."""
    return (now_ms // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS


class Book:
    """An L2 book keyed by the venue's price strings, with the last applied update id."""

    def __init__(self) -> None:
        self.bids: dict[str, str] = {}
        self.asks: dict[str, str] = {}
        self.last_id = 0

    def load(self, last_id: int, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        self.bids = {p: q for p, q in bids if q.strip("0.")}
        self.asks = {p: q for p, q in asks if q.strip("0.")}
        self.last_id = last_id

    def apply(self, last_id: int, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        """Apply a diff (levels made by :func:`level`) whose final update id is ``last_id``,
        unless it is not newer than the book."""
        if last_id <= self.last_id:
            return
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for p, q in levels:
                if q:
                    side[p] = q
                else:
                    side.pop(p, None)
        self.last_id = last_id

    def top(self, limit: int) -> tuple[list[list[str]], list[list[str]]]:
        """Best ``limit`` levels per side, best first, as ``[[price, qty], ...]``."""
        bids = sorted(self.bids, key=float, reverse=True)[:limit]
        asks = sorted(self.asks, key=float)[:limit]
        return [[p, self.bids[p]] for p in bids], [[p, self.asks[p]] for p in asks]


class SymbolState:
    """Everything the REST API knows about one symbol at the current stream position."""

    def __init__(self, spec: SymbolSpec) -> None:
        self.spec = spec
        self.book = Book()
        self.trades: list[tuple[Any, ...]] = []
        self.aggs: list[tuple[Any, ...]] = []
        self.volume = 0.0
        self.first_price: float | None = None
        self.ticker: tuple[str, str, str, str, int] | None = None
        self.mark: tuple[str, str, str, str, int] | None = None
        self.mark_from_mid = False  # replay without markPrice frames: mark = index = last mid
        self.now_ms = 0

    def add_trade(self, trade: tuple[Any, ...] | None, agg: tuple[Any, ...] | None) -> None:
        if trade is not None:
            self.trades.append(trade)
            if len(self.trades) > MAX_ROWS * 1.1:
                del self.trades[: len(self.trades) - MAX_ROWS]
        if agg is not None:
            self.aggs.append(agg)
            if len(self.aggs) > MAX_ROWS * 1.1:
                del self.aggs[: len(self.aggs) - MAX_ROWS]
        row = agg if agg is not None else trade
        if row is not None:
            self.volume += float(row[2])
            if self.first_price is None:
                self.first_price = float(row[1])

    def mid(self) -> float | None:
        """Mid of the last bookTicker, else of the book, else ``None``."""
        if self.ticker is not None:
            return (float(self.ticker[0]) + float(self.ticker[2])) / 2
        if self.book.bids and self.book.asks:
            return (max(map(float, self.book.bids)) + min(map(float, self.book.asks))) / 2
        return None

    def mark_values(self) -> tuple[float, float, float, float, int] | None:
        """``(mark, index, settle, funding, next_funding_ms)``; ``None`` before any quote."""
        if self.mark is not None and not self.mark_from_mid:
            p, i, s, r, t = self.mark
            return float(p), float(i), float(s), float(r), t
        mid = self.mid()
        if mid is None:
            return None
        return mid, mid, mid, FUNDING_RATE, next_funding_ms(self.now_ms)

    def open_interest(self) -> float | None:
        """Deterministic open interest: see ``OI_BASE_NOTIONAL`` and ``OI_VOLUME_SHARE``."""
        ref = self.first_price or self.mid()
        if not ref:
            return None
        return OI_BASE_NOTIONAL / ref + OI_VOLUME_SHARE * self.volume

    def trade_rows(self) -> list[tuple[Any, ...]]:
        """Trades as ``(id, price, qty, time, m)``; derived from single-trade aggregates when the
        source only has aggTrade frames."""
        if self.trades or not self.aggs:
            return self.trades
        return [(a[3], a[1], a[2], a[5], a[6]) for a in self.aggs if a[3] == a[4]]


class MarketState:
    """All symbols; :meth:`apply` is called for every frame the producer emits (or drops)."""

    def __init__(self, symbols: Iterable[str] = ()) -> None:
        self.symbols: dict[str, SymbolState] = {}
        self.now_ms = 0
        for s in symbols:
            self.symbol(s)

    def symbol(self, sym: str) -> SymbolState:
        st = self.symbols.get(sym)
        if st is None:
            st = self.symbols[sym] = SymbolState(spec_for(sym))
        return st

    def apply(self, frame: Frame) -> None:
        st = self.symbols.get(frame.sym) or self.symbol(frame.sym)
        if frame.e_ms:
            st.now_ms = self.now_ms = frame.e_ms
        kind, payload = frame.kind, frame.payload
        if kind == BOOK_TICKER:
            st.ticker = payload
        elif kind == DEPTH:
            st.book.apply(payload[1], payload[3], payload[4])
        elif kind == TRADE:
            st.add_trade(payload[0], payload[1])
        elif kind == MARK:
            st.mark = payload
        elif kind == SNAPSHOT and (payload[0] > st.book.last_id or not st.book.bids):
            st.book.load(payload[0], payload[1], payload[2])
