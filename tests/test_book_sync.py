"""OrderBook arithmetic and SequencedBook's Binance USD-M sync rules, on hand-built sequences.

Sequence ids follow Binance's shape: each diff covers ids ``U..u`` and names the previous
diff's last id as ``pu``; the REST snapshot's ``lastUpdateId`` falls inside some diff's range.
"""

from __future__ import annotations

import pytest

from flowdesk.records import BookDelta, BookSnapshot
from flowdesk.streaming.book import OrderBook, SequencedBook

Levels = list[tuple[float, float]]


def delta(U: int, u: int, pu: int, bids: Levels | None = None, asks: Levels | None = None,
          ns: int = 0) -> BookDelta:
    return BookDelta("binance", "usdm", "BTCUSDT", U, u, pu, bids or [], asks or [], 0, ns)


def snapshot(last_id: int, bids: Levels, asks: Levels, ns: int = 0) -> BookSnapshot:
    return BookSnapshot("binance", "usdm", "BTCUSDT", last_id, bids, asks, 0, ns)


SNAP = snapshot(100, [(100.0, 1.0), (99.0, 2.0)], [(101.0, 1.0), (102.0, 3.0)])


# ---- the documented procedure ----------------------------------------------------------------


def test_buffer_then_drop_stale_then_straddle() -> None:
    sb = SequencedBook()
    old = delta(90, 95, 85, bids=[(100.0, 9.0)])  # u < lastUpdateId: already in the snapshot
    straddle = delta(96, 105, 95, bids=[(100.0, 4.0)])
    after = delta(106, 110, 105, asks=[(101.0, 0.0)], ns=7)
    assert [sb.on_delta(d) for d in (old, straddle, after)] == ["buffered"] * 3
    assert sb.needs_snapshot and not sb.synced and sb.buffered == 3
    assert sb.on_snapshot(SNAP) == "synced"
    assert sb.synced and not sb.stale and not sb.needs_snapshot and sb.buffered == 0
    book = sb.book
    assert book.bids == {100.0: 4.0, 99.0: 2.0}  # old (9.0) dropped, straddle applied
    assert book.asks == {102.0: 3.0}  # qty 0 removed the level
    assert (book.last_update_id, book.updated_ns) == (110, 7)
    assert sb.on_delta(delta(111, 111, 110, bids=[(99.5, 1.0)])) == "applied"
    assert book.best_bid() == (100.0, 4.0) and book.bids[99.5] == 1.0
    assert (sb.gaps, sb.resyncs) == (0, 0)


@pytest.mark.parametrize(("U", "u"), [(100, 100), (100, 120), (80, 100)])
def test_straddle_bounds_are_inclusive(U: int, u: int) -> None:
    sb = SequencedBook()
    sb.on_delta(delta(U, u, U - 1, bids=[(98.0, 5.0)]))
    assert sb.on_snapshot(SNAP) == "synced"
    assert sb.book.bids[98.0] == 5.0 and sb.book.last_update_id == u


def test_snapshot_older_than_buffer_is_a_gap_then_a_newer_one_syncs() -> None:
    sb = SequencedBook()
    first = delta(120, 130, 110, bids=[(100.0, 2.0)])
    sb.on_delta(first)
    sb.on_delta(delta(131, 140, 130))
    assert sb.on_snapshot(SNAP) == "gap"  # the buffer starts after 100: ids 101..119 unseen
    assert sb.needs_snapshot and not sb.synced and sb.book.bids == {}
    assert (sb.gaps, sb.resyncs, sb.buffered) == (0, 1, 2)  # the stream itself is intact
    assert sb.on_snapshot(snapshot(125, [(100.0, 1.0)], [(101.0, 1.0)])) == "synced"
    assert sb.book.bids == {100.0: 2.0} and sb.book.last_update_id == 140


def test_first_event_starting_right_after_the_snapshot_is_a_gap() -> None:
    # U == lastUpdateId + 1 does not straddle: USD-M's rule is U <= lastUpdateId <= u
    sb = SequencedBook()
    sb.on_delta(delta(101, 105, 99))
    assert sb.on_snapshot(SNAP) == "gap"
    assert sb.needs_snapshot and sb.resyncs == 1


def test_snapshot_before_any_straddling_event_waits() -> None:
    sb = SequencedBook()
    assert sb.on_snapshot(SNAP) == "waiting"
    assert not sb.needs_snapshot and not sb.synced  # held: do not fetch another
    assert sb.on_delta(delta(91, 99, 90)) == "dropped"
    assert sb.on_delta(delta(100, 104, 99, asks=[(101.0, 5.0)])) == "applied"
    assert sb.synced and sb.book.asks[101.0] == 5.0
    assert sb.on_delta(delta(105, 106, 104)) == "applied"


def test_waiting_snapshot_overtaken_by_the_stream_is_a_gap() -> None:
    sb = SequencedBook()
    assert sb.on_snapshot(SNAP) == "waiting"
    assert sb.on_delta(delta(101, 104, 98)) == "gap"  # starts after 100: does not straddle it
    assert sb.needs_snapshot and sb.resyncs == 1 and sb.buffered == 1
    assert sb.on_snapshot(snapshot(103, [(100.0, 1.0)], [(101.0, 1.0)])) == "synced"


def test_pu_break_after_sync_is_a_gap_and_resync() -> None:
    sb = SequencedBook()
    sb.on_delta(delta(96, 105, 95))
    sb.on_snapshot(SNAP)
    breaking = delta(120, 125, 115, bids=[(97.0, 1.0)])  # pu 115 != previous u 105
    assert sb.on_delta(breaking) == "gap"
    assert (sb.gaps, sb.resyncs) == (1, 1)
    assert sb.stale and not sb.synced and sb.needs_snapshot
    assert sb.book.bids == {} and sb.book.asks == {} and sb.book.last_update_id == -1
    assert sb.age_ms(10**9) is None
    assert sb.on_delta(delta(126, 130, 125)) == "buffered"  # the break starts the new buffer
    assert sb.on_snapshot(snapshot(122, [(100.0, 1.0)], [(101.0, 1.0)])) == "synced"
    assert not sb.stale and sb.book.bids == {100.0: 1.0, 97.0: 1.0}
    assert sb.book.last_update_id == 130


def test_pu_break_inside_the_buffer_is_found_on_replay() -> None:
    sb = SequencedBook()
    sb.on_delta(delta(96, 105, 95))
    sb.on_delta(delta(108, 110, 107))  # pu should be 105
    sb.on_delta(delta(111, 112, 110))
    assert sb.on_snapshot(SNAP) == "gap"
    assert (sb.gaps, sb.resyncs, sb.buffered) == (1, 1, 2)
    assert sb.stale and sb.book.bids == {}
    assert sb.on_snapshot(snapshot(109, [(1.0, 1.0)], [(2.0, 1.0)])) == "synced"
    assert sb.book.last_update_id == 112


def test_buffer_overflow_forces_a_resync() -> None:
    sb = SequencedBook(max_buffer=3)
    outcomes = [sb.on_delta(delta(i * 10, i * 10 + 9, i * 10 - 1)) for i in range(1, 5)]
    assert outcomes == ["buffered", "buffered", "buffered", "gap"]
    assert (sb.buffered, sb.gaps, sb.resyncs) == (1, 1, 1) and sb.needs_snapshot
    assert sb.on_snapshot(snapshot(45, [(1.0, 1.0)], [(2.0, 1.0)])) == "synced"


def test_snapshot_while_synced_is_ignored() -> None:
    sb = SequencedBook()
    sb.on_delta(delta(96, 105, 95, bids=[(100.0, 3.0)]))
    sb.on_snapshot(SNAP)
    assert sb.on_snapshot(snapshot(200, [(1.0, 1.0)], [(2.0, 1.0)])) == "synced"
    assert sb.book.bids[100.0] == 3.0 and sb.book.last_update_id == 105


def test_reset_marks_a_synced_book_stale() -> None:
    sb = SequencedBook()
    sb.on_delta(delta(96, 105, 95))
    sb.on_snapshot(SNAP)
    sb.reset()
    assert sb.stale and not sb.synced and sb.needs_snapshot and sb.resyncs == 1
    assert len(sb.book) == 0 and sb.buffered == 0
    fresh = SequencedBook()
    fresh.reset()
    assert not fresh.stale and fresh.resyncs == 0


def test_age_ms_counts_from_the_last_applied_receive_time() -> None:
    sb = SequencedBook()
    assert sb.age_ms(5_000_000_000) is None
    sb.on_delta(delta(96, 105, 95, ns=1_000_000_000))
    sb.on_snapshot(SNAP)
    assert sb.age_ms(1_250_000_000) == 250.0
    sb.on_delta(delta(106, 106, 105, ns=2_000_000_000))
    assert sb.age_ms(2_000_500_000) == 0.5


def test_a_spot_variant_needs_one_method_and_the_offset() -> None:
    class SpotBook(SequencedBook):
        SNAPSHOT_ID_OFFSET = 1

        def _continues(self, delta: BookDelta, prev_u: int) -> bool:
            return delta.first_update_id == prev_u + 1

    sb = SpotBook()
    sb.on_delta(delta(95, 100, -1))  # u == lastUpdateId: already in a spot snapshot
    sb.on_delta(delta(101, 103, -1, bids=[(100.0, 7.0)]))  # U == lastUpdateId + 1
    assert sb.on_snapshot(SNAP) == "synced" and sb.book.bids[100.0] == 7.0
    assert sb.on_delta(delta(104, 104, -1)) == "applied"
    assert sb.on_delta(delta(106, 107, -1)) == "gap" and sb.gaps == 1


# ---- OrderBook --------------------------------------------------------------------------------


def book_of(bids: Levels, asks: Levels) -> OrderBook:
    book = OrderBook()
    book.apply_snapshot(snapshot(1, bids, asks))
    return book


BIDS = [(100.0, 1.0), (99.5, 2.0), (99.0, 3.0), (90.0, 10.0)]
ASKS = [(101.0, 1.0), (101.5, 2.0), (103.0, 4.0), (120.0, 10.0)]


def test_qty_zero_removes_and_absent_removal_is_harmless() -> None:
    book = book_of(BIDS, ASKS)
    book.apply_delta_levels([(99.5, 0.0), (42.0, 0.0), (99.0, 3.5)], [(101.0, 0.0)], 2, 9)
    assert book.bids == {100.0: 1.0, 99.0: 3.5, 90.0: 10.0}
    assert book.best_ask() == (101.5, 2.0)
    assert (book.last_update_id, book.updated_ns) == (2, 9)
    book.apply_delta_levels([(100.0, 0.0), (99.0, 0.0), (90.0, 0.0)], [])
    assert book.best_bid() is None and book.mid() is None and book.depth_within(1.0) is None
    assert book.last_update_id == 2  # unchanged when no id is given


def test_snapshot_skips_zero_levels_and_replaces_the_book() -> None:
    book = book_of(BIDS, ASKS)
    book.apply_snapshot(snapshot(7, [(50.0, 0.0), (49.0, 1.0)], [(51.0, 2.0)], ns=3))
    assert book.bids == {49.0: 1.0} and book.asks == {51.0: 2.0}
    assert (book.last_update_id, book.updated_ns) == (7, 3)


def test_top_is_best_first() -> None:
    book = book_of(list(reversed(BIDS)), list(reversed(ASKS)))
    assert book.top(2) == ([(100.0, 1.0), (99.5, 2.0)], [(101.0, 1.0), (101.5, 2.0)])
    bids, asks = book.top(10)
    assert bids == BIDS and asks == ASKS


def test_mid_and_depth_within_hand_computed() -> None:
    book = book_of(BIDS, ASKS)
    assert book.mid() == 100.5
    # 1%: bids >= 99.495 -> 100 x1, 99.5 x2; asks <= 101.505 -> 101 x1, 101.5 x2
    assert book.depth_within(1.0) == pytest.approx((3.0, 3.0, 100.0 + 199.0, 101.0 + 203.0))
    # 2%: bids >= 98.49 add 99 x3; asks <= 102.51 add nothing
    assert book.depth_within(2.0) == pytest.approx((6.0, 3.0, 596.0, 304.0))
    # 0.5%: bids >= 99.9975 -> 100 only; asks <= 101.0025 -> 101 only
    assert book.depth_within(0.5) == pytest.approx((1.0, 1.0, 100.0, 101.0))
    # 20%: everything
    assert book.depth_within(20.0) == pytest.approx((16.0, 17.0, 1496.0, 1916.0))


def test_depth_band_edges_are_inclusive() -> None:
    book = book_of([(99.0, 1.0), (50.0, 2.0), (49.0, 4.0)], [(101.0, 1.0), (150.0, 2.0), (151.0, 4.0)])
    # mid 100, 50%: levels priced exactly 50 and 150 are inside the band
    assert book.depth_within(50.0) == (3.0, 3.0, 199.0, 401.0)


def test_is_crossed() -> None:
    book = book_of(BIDS, ASKS)
    assert not book.is_crossed()
    book.apply_delta_levels([(101.0, 1.0)], [])
    assert book.is_crossed()  # a bid at the best ask
    assert not book_of([], ASKS).is_crossed()
