"""Live L2 order books: a plain price -> quantity book and the sequence keeper that syncs it.

:class:`OrderBook` is venue-neutral: two dicts, so a diff level costs one dict write; sorting
happens only when someone reads the top of book or depth bands (about once a second).

:class:`SequencedBook` follows Binance USD-M futures' documented procedure, "How to manage a
local order book correctly"
(https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/How-to-manage-a-local-order-book-correctly):

1. buffer the diff events while there is no snapshot;
2. take a REST depth snapshot (``lastUpdateId``);
3. drop buffered events with ``u < lastUpdateId``;
4. the first applied event must have ``U <= lastUpdateId AND u >= lastUpdateId``;
5. every later event's ``pu`` must equal the previous event's ``u``, else start again from 2;
6. quantities are absolute; a quantity of 0 removes the level (a removal of a level the book
   does not hold is normal).

A break (step 5, a snapshot that does not reach the buffered stream, or a full buffer) clears
the book, marks it stale, counts a resync and asks for a new snapshot; the events from the
break on stay buffered for it. Spot's variant (``U == previous u + 1``, first event straddling
``lastUpdateId + 1``) is a subclass that sets :attr:`SequencedBook.SNAPSHOT_ID_OFFSET` to 1 and
overrides :meth:`SequencedBook._continues`.
"""

from __future__ import annotations

from collections import deque
from heapq import nlargest, nsmallest
from operator import itemgetter

from flowdesk.records import BookDelta, BookSnapshot

Level = tuple[float, float]

BUFFERED = "buffered"
APPLIED = "applied"
DROPPED = "dropped"
GAP = "gap"
SYNCED = "synced"
WAITING = "waiting"

_price = itemgetter(0)


class OrderBook:
    """An L2 book: ``bids``/``asks`` map price -> quantity; quantity 0 removes a level."""

    __slots__ = ("bids", "asks", "last_update_id", "updated_ns")

    def __init__(self) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        #: the venue's sequence id of the last applied change (-1 before the first)
        self.last_update_id = -1
        #: our receive time (ns) of the last applied change (0 before the first)
        self.updated_ns = 0

    def clear(self) -> None:
        """Empty both sides and forget the sequence position."""
        self.bids.clear()
        self.asks.clear()
        self.last_update_id = -1
        self.updated_ns = 0

    def apply_snapshot(self, snapshot: BookSnapshot) -> None:
        """Replace the whole book with ``snapshot``."""
        self.bids = {p: q for p, q in snapshot.bids if q}
        self.asks = {p: q for p, q in snapshot.asks if q}
        self.last_update_id = snapshot.last_update_id
        self.updated_ns = snapshot.recv_ns

    def apply_delta_levels(
        self,
        bids: list[Level],
        asks: list[Level],
        update_id: int | None = None,
        recv_ns: int | None = None,
    ) -> None:
        """Set absolute quantities per level (0 removes it); ``update_id``/``recv_ns``, when
        given, become :attr:`last_update_id`/:attr:`updated_ns`."""
        side = self.bids
        for p, q in bids:
            if q:
                side[p] = q
            else:
                side.pop(p, None)
        side = self.asks
        for p, q in asks:
            if q:
                side[p] = q
            else:
                side.pop(p, None)
        if update_id is not None:
            self.last_update_id = update_id
        if recv_ns is not None:
            self.updated_ns = recv_ns

    def apply_delta(self, delta: BookDelta) -> None:
        """Apply a :class:`BookDelta`'s levels and take its ``last_update_id`` and time."""
        self.apply_delta_levels(delta.bids, delta.asks, delta.last_update_id, delta.recv_ns)

    def best_bid(self) -> Level | None:
        """``(price, qty)`` of the highest bid, or ``None`` when there are no bids."""
        if not self.bids:
            return None
        p = max(self.bids)
        return p, self.bids[p]

    def best_ask(self) -> Level | None:
        """``(price, qty)`` of the lowest ask, or ``None`` when there are no asks."""
        if not self.asks:
            return None
        p = min(self.asks)
        return p, self.asks[p]

    def mid(self) -> float | None:
        """Mid price, or ``None`` unless both sides have levels."""
        if not self.bids or not self.asks:
            return None
        return (max(self.bids) + min(self.asks)) / 2

    def is_crossed(self) -> bool:
        """True when the best bid is at or above the best ask (a broken book)."""
        return bool(self.bids and self.asks) and max(self.bids) >= min(self.asks)

    def top(self, n: int) -> tuple[list[Level], list[Level]]:
        """The best ``n`` levels per side, best first: ``(bids, asks)``."""
        bids = nlargest(n, self.bids.items(), key=_price)
        asks = nsmallest(n, self.asks.items(), key=_price)
        return bids, asks

    def depth_within(self, pct: float) -> tuple[float, float, float, float] | None:
        """Resting size within ``pct`` percent of the mid: ``(bid_qty, ask_qty, bid_notional,
        ask_notional)``, levels priced at ``mid * (1 - pct/100)`` or better on the bid side
        and ``mid * (1 + pct/100)`` or better on the ask side. ``None`` when there is no mid."""
        mid = self.mid()
        if mid is None:
            return None
        low, high = mid * (1 - pct / 100), mid * (1 + pct / 100)
        bid_qty = bid_notional = ask_qty = ask_notional = 0.0
        for p, q in self.bids.items():
            if p >= low:
                bid_qty += q
                bid_notional += p * q
        for p, q in self.asks.items():
            if p <= high:
                ask_qty += q
                ask_notional += p * q
        return bid_qty, ask_qty, bid_notional, ask_notional

    def __len__(self) -> int:
        return len(self.bids) + len(self.asks)


class _SyncState:
    """What every sequence keeper exposes: the live book, sync flags, counters and age."""

    def __init__(self) -> None:
        self._book = OrderBook()
        self._synced = False
        self._stale = False
        self._prev_u = -1
        self._resyncs = 0
        self._gaps = 0

    @property
    def book(self) -> OrderBook:
        """The live book (empty while not synced)."""
        return self._book

    @property
    def synced(self) -> bool:
        """True while the book is in sync with the stream."""
        return self._synced

    @property
    def stale(self) -> bool:
        """True from a lost sync until the next successful sync."""
        return self._stale

    @property
    def resyncs(self) -> int:
        """How many times a new snapshot was needed after a failure."""
        return self._resyncs

    @property
    def gaps(self) -> int:
        """How many breaks in the diff chain were seen."""
        return self._gaps

    def age_ms(self, now_ns: int) -> float | None:
        """Milliseconds since the book last changed (receive time), ``None`` when not synced."""
        if not self._synced:
            return None
        return (now_ns - self._book.updated_ns) / 1e6


class SequencedBook(_SyncState):
    """An :class:`OrderBook` kept in sync with a diff stream and REST snapshots (Binance
    USD-M rules; see the module docstring). Feed every diff to :meth:`on_delta` and every
    snapshot to :meth:`on_snapshot`; fetch a snapshot whenever :attr:`needs_snapshot` is true.

    Outcomes of :meth:`on_delta`: ``"buffered"`` (no usable snapshot yet), ``"applied"``,
    ``"dropped"`` (older than the held snapshot) or ``"gap"`` (sync lost: fetch a snapshot).
    Outcomes of :meth:`on_snapshot`: ``"synced"``, ``"waiting"`` (no buffered event reaches
    the snapshot yet; it is held until one arrives) or ``"gap"`` (the buffered stream starts
    after the snapshot: fetch a newer one).

    Counters: :attr:`gaps` counts breaks in the diff chain (``pu`` mismatch, buffer overflow);
    :attr:`resyncs` counts every time a new snapshot had to be asked for after a failure
    (each ``"gap"`` outcome, and :meth:`reset` of a synced book), so ``gaps <= resyncs``.
    """

    #: the snapshot's id is compared as ``lastUpdateId + SNAPSHOT_ID_OFFSET`` (spot: 1)
    SNAPSHOT_ID_OFFSET = 0

    def __init__(self, max_buffer: int = 10_000) -> None:
        if max_buffer < 1:
            raise ValueError("max_buffer must be at least 1")
        super().__init__()
        self.max_buffer = max_buffer
        self._buffer: deque[BookDelta] = deque()
        self._pending: BookSnapshot | None = None

    # -- the one rule a spot subclass overrides ------------------------------------------------

    def _continues(self, delta: BookDelta, prev_u: int) -> bool:
        """True when ``delta`` directly follows the event whose last id was ``prev_u``
        (USD-M: ``pu == prev_u``; spot would check ``U == prev_u + 1``)."""
        return delta.prev_update_id == prev_u

    # -- inputs ----------------------------------------------------------------------------------

    def on_delta(self, delta: BookDelta) -> str:
        """Apply, buffer or drop one diff event; see the class docstring for the outcomes."""
        if self._synced:
            if self._continues(delta, self._prev_u):
                self._book.apply_delta(delta)
                self._prev_u = delta.last_update_id
                return APPLIED
            return self._lose_sync(delta)
        if self._pending is not None:
            return self._try_pending(delta)
        if len(self._buffer) >= self.max_buffer:
            self._buffer.clear()  # no usable snapshot in time: start buffering afresh
            return self._lose_sync(delta)
        self._buffer.append(delta)
        return BUFFERED

    def on_snapshot(self, snapshot: BookSnapshot) -> str:
        """Sync from ``snapshot`` using the buffered events; a book already in sync keeps
        going and ignores it."""
        if self._synced:
            return SYNCED
        anchor = snapshot.last_update_id + self.SNAPSHOT_ID_OFFSET
        buf = self._buffer
        while buf and buf[0].last_update_id < anchor:
            buf.popleft()
        if not buf:
            self._pending = snapshot
            return WAITING
        if buf[0].first_update_id > anchor:
            self._pending = None
            return self._need_snapshot()
        self._book.apply_snapshot(snapshot)
        return self._replay_buffer()

    def reset(self) -> None:
        """Forget everything (the stream itself broke, e.g. the socket dropped): clear the
        book, the buffer and any held snapshot. A book that was in sync turns stale and counts
        a resync; the next diffs are buffered for a fresh snapshot."""
        if self._synced:
            self._stale = True
            self._resyncs += 1
        self._book.clear()
        self._buffer.clear()
        self._pending = None
        self._synced = False
        self._prev_u = -1

    # -- state ----------------------------------------------------------------------------------

    @property
    def needs_snapshot(self) -> bool:
        """True when a REST snapshot should be fetched (not synced, none held)."""
        return not self._synced and self._pending is None

    @property
    def buffered(self) -> int:
        """Diff events waiting for a snapshot."""
        return len(self._buffer)

    # -- internals --------------------------------------------------------------------------

    def _try_pending(self, delta: BookDelta) -> str:
        """A snapshot is held and the buffer is empty: wait for the straddling event."""
        snapshot = self._pending
        assert snapshot is not None
        anchor = snapshot.last_update_id + self.SNAPSHOT_ID_OFFSET
        if delta.last_update_id < anchor:
            return DROPPED
        self._pending = None
        if delta.first_update_id > anchor:
            self._buffer.append(delta)
            return self._need_snapshot()
        self._book.apply_snapshot(snapshot)
        self._buffer.append(delta)
        self._replay_buffer()  # a single straddling event: cannot break the chain
        return APPLIED

    def _replay_buffer(self) -> str:
        """Apply the buffer after a snapshot (its first event straddles the snapshot id)."""
        buf = self._buffer
        first = buf.popleft()
        self._book.apply_delta(first)
        prev_u = first.last_update_id
        while buf:
            delta = buf[0]
            if not self._continues(delta, prev_u):
                return self._lose_sync(buf.popleft())
            buf.popleft()
            self._book.apply_delta(delta)
            prev_u = delta.last_update_id
        self._prev_u = prev_u
        self._synced = True
        self._stale = False
        return SYNCED

    def _lose_sync(self, delta: BookDelta) -> str:
        """A break at ``delta``: clear the book; ``delta`` (and any events buffered after it)
        become the buffer for the next snapshot."""
        self._gaps += 1
        self._buffer.appendleft(delta)
        self._book.clear()
        self._synced = False
        self._stale = True
        self._pending = None
        self._prev_u = -1
        return self._need_snapshot()

    def _need_snapshot(self) -> str:
        self._resyncs += 1
        return GAP


class SpotSequencedBook(SequencedBook):
    """REST snapshot + diffs chained by ``U == previous u + 1``; the first applied diff must
    straddle ``lastUpdateId + 1`` (Binance spot, Gate.io futures, KuCoin spot and futures)."""

    SNAPSHOT_ID_OFFSET = 1

    def _continues(self, delta: BookDelta, prev_u: int) -> bool:
        return delta.first_update_id == prev_u + 1


class StreamBook(_SyncState):
    """A book whose snapshots come over the WebSocket itself (Bybit, OKX, Hyperliquid).

    ``rule`` is ``"ws_prev"`` (each diff's ``prev_update_id`` equals the previous
    ``last_update_id``), ``"ws_next"`` (each diff's ``first_update_id`` equals the previous
    ``last_update_id + 1``) or ``"ws_full"`` (every message is a snapshot). A snapshot always
    replaces the book and syncs it. Diffs before the first snapshot are dropped (the venue sends
    a snapshot first on every subscription); a diff that breaks the chain clears the book, marks
    it stale and returns ``"gap"``: the feed then resubscribes (or reconnects) for a fresh
    snapshot. Same state and counters as :class:`SequencedBook`.
    """

    def __init__(self, rule: str) -> None:
        if rule not in ("ws_prev", "ws_next", "ws_full"):
            raise ValueError(f"StreamBook rule must be ws_prev, ws_next or ws_full, not {rule!r}")
        super().__init__()
        self.rule = rule

    def on_snapshot(self, snapshot: BookSnapshot) -> str:
        """Replace the book with ``snapshot`` (any snapshot, synced or not)."""
        self._book.apply_snapshot(snapshot)
        self._prev_u = snapshot.last_update_id
        self._synced = True
        self._stale = False
        return SYNCED

    def on_delta(self, delta: BookDelta) -> str:
        """Apply ``delta`` if it continues the chain; ``"dropped"`` while waiting for a
        snapshot, ``"gap"`` when the chain breaks."""
        if not self._synced:
            return DROPPED
        if self.rule == "ws_full" or not self._continues(delta):
            self._gaps += 1
            self.reset()
            return GAP
        self._book.apply_delta(delta)
        self._prev_u = delta.last_update_id
        return APPLIED

    def _continues(self, delta: BookDelta) -> bool:
        if self.rule == "ws_prev":
            return delta.prev_update_id == self._prev_u
        return delta.first_update_id == self._prev_u + 1

    def reset(self) -> None:
        """Forget the book (the stream broke); a synced book turns stale and counts a resync."""
        if self._synced:
            self._stale = True
            self._resyncs += 1
        self._book.clear()
        self._synced = False
        self._prev_u = -1

    @property
    def needs_snapshot(self) -> bool:
        """Never true: snapshots arrive over the socket (the feed resubscribes after a gap)."""
        return False

    @property
    def buffered(self) -> int:
        """Always 0: nothing is buffered waiting for a snapshot."""
        return 0


def make_book(rule: str) -> SequencedBook | StreamBook:
    """The sequence keeper for a venue's book rule (see ``venues.protocol.BOOK_RULES``)."""
    if rule == "rest_prev":
        return SequencedBook()
    if rule == "rest_next":
        return SpotSequencedBook()
    return StreamBook(rule)
