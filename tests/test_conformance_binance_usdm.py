"""Replay whole real Binance USD-M sessions through the parser and the book sync.

The hftbacktest captures (BTCUSDT, ETHUSDT, 2024-08-08, ``depth@0ms`` + ``trade`` +
``bookTicker``, with one REST depth snapshot among the first lines) must parse without a single
error, keep the diff-depth chain unbroken from the snapshot to the end, and agree with what the
file holds as counted by plain ``json`` (``capture_facts``), and with Binance's own best bid/ask:
whenever a ``bookTicker`` and a diff carry the same update id, the rebuilt book's top must equal
the ticker. cryptofeed's 2021 session (4 symbols, ``depth@100ms``, REST snapshots) checks the
same sync on a second, older feed.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
import zstandard

from capture_facts import capture_facts
from conftest import real_file
from flowdesk.records import BookDelta, Quote, Trade
from flowdesk.streaming.book import SequencedBook
from flowdesk.streaming.captures import iter_capture
from flowdesk.streaming.venues import binance_usdm as bn
from flowdesk.streaming.venues.base import ParseError, UnknownMessage


@dataclass
class Replay:
    """What flowdesk made of one capture."""

    errors: list[str] = field(default_factory=list)
    unknown: int = 0
    records: Counter[str] = field(default_factory=Counter)
    trades: list[Trade] = field(default_factory=list)
    last_quote: Quote | None = None
    snapshot_outcome: str = ""
    outcomes: Counter[str] = field(default_factory=Counter)
    outcomes_after_sync: Counter[str] = field(default_factory=Counter)
    crossed_after_sync: int = 0
    top_matches_ticker: int = 0
    top_differs_from_ticker: int = 0
    book: SequencedBook = field(default_factory=SequencedBook)


@cache
def replay(path: Path) -> Replay:
    """Feed every frame to ``parse_message``; the REST snapshot line to the book."""
    out = Replay()
    symbol = path.name.split("_")[0].upper()
    quotes_by_id: dict[int, Quote] = {}
    for recv_ns, raw in iter_capture(path):
        if '"lastUpdateId"' in raw:
            out.snapshot_outcome = out.book.on_snapshot(bn.parse_depth_snapshot(raw, symbol, recv_ns))
            continue
        try:
            records = bn.parse_message(raw, recv_ns)
        except ParseError as exc:
            out.errors.append(str(exc))
            continue
        except UnknownMessage:
            out.unknown += 1
            continue
        for rec in records:
            out.records[type(rec).__name__] += 1
            if type(rec) is Trade:
                out.trades.append(rec)
            elif type(rec) is Quote:
                out.last_quote = quotes_by_id[rec.update_id] = rec
            elif type(rec) is BookDelta:
                on_delta(out, rec, quotes_by_id)
    return out


def on_delta(out: Replay, delta: BookDelta, quotes_by_id: dict[int, Quote]) -> None:
    was_synced = out.book.synced
    outcome = out.book.on_delta(delta)
    out.outcomes[outcome] += 1
    if not was_synced:
        return
    out.outcomes_after_sync[outcome] += 1
    book = out.book.book
    out.crossed_after_sync += book.is_crossed()
    quote = quotes_by_id.get(delta.last_update_id)
    if quote is not None and out.book.synced:
        top = (*book.best_bid(), *book.best_ask())  # type: ignore[misc]
        same = top == (quote.bid, quote.bid_qty, quote.ask, quote.ask_qty)
        out.top_matches_ticker += same
        out.top_differs_from_ticker += not same


CAPTURES = ["btc_capture", "eth_capture"]
facts_of = cache(capture_facts)  # plain-json facts, computed once per file


@pytest.mark.parametrize("capture", CAPTURES)
def test_every_frame_parses(capture: str, request: pytest.FixtureRequest) -> None:
    path = request.getfixturevalue(capture)
    r, facts = replay(path), facts_of(path)
    assert r.errors == [] and r.unknown == 0
    assert sum(r.records.values()) == facts.frames  # one record per frame, none skipped
    assert r.records["Trade"] == facts.trades
    assert r.records["BookDelta"] == facts.depth_diffs
    assert r.records["Quote"] == facts.frames - facts.trades - facts.depth_diffs


@pytest.mark.parametrize("capture", CAPTURES)
def test_trades_match_the_capture(capture: str, request: pytest.FixtureRequest) -> None:
    path = request.getfixturevalue(capture)
    r, facts = replay(path), facts_of(path)
    ids = [t.trade_id for t in r.trades]
    assert ids == facts.trade_ids
    assert all(b == a + 1 for a, b in zip(ids, ids[1:], strict=False)), "trade ids not contiguous"
    last = r.trades[-1]
    assert (last.trade_id, last.price) == (facts.last_trade_id, facts.last_trade_price)
    assert sum(t.qty for t in r.trades) == pytest.approx(facts.volume)
    signed = sum(t.qty if t.side == "buy" else -t.qty for t in r.trades)
    assert signed == pytest.approx(facts.signed_volume)
    assert all(t.source == "ws" and t.first_id == t.last_id == t.trade_id for t in r.trades)
    assert r.last_quote is not None
    assert (r.last_quote.bid, r.last_quote.ask) == (facts.last_bid, facts.last_ask)


@pytest.mark.parametrize("capture", CAPTURES)
def test_book_chain_unbroken_from_snapshot_to_end(capture: str, request: pytest.FixtureRequest) -> None:
    r = replay(request.getfixturevalue(capture))
    assert r.snapshot_outcome == "synced"  # buffered diffs straddle the REST snapshot
    assert r.book.synced and not r.book.stale
    assert (r.book.gaps, r.book.resyncs) == (0, 0)
    assert set(r.outcomes_after_sync) == {"applied"}
    assert r.crossed_after_sync == 0
    assert len(r.book.book.bids) > 500 and len(r.book.book.asks) > 500


@pytest.mark.parametrize("capture", CAPTURES)
def test_rebuilt_top_of_book_equals_binance_book_ticker(capture: str, request: pytest.FixtureRequest) -> None:
    r = replay(request.getfixturevalue(capture))
    assert r.top_matches_ticker > 400  # 503 for BTCUSDT, 471 for ETHUSDT
    assert r.top_differs_from_ticker == 0


def test_btcusdt_known_numbers(btc_capture: Path) -> None:
    r = replay(btc_capture)
    assert (r.records["Trade"], r.records["BookDelta"], r.records["Quote"]) == (21_313, 6_551, 66_089)
    # before the snapshot line: diffs buffered; after it every diff applies
    assert r.outcomes == Counter({"buffered": 6, "applied": 6_545})
    assert r.book.book.last_update_id == 5_123_135_475_514  # u of the capture's last diff
    assert (r.trades[0].trade_id, r.trades[-1].trade_id) == (5_266_583_935, 5_266_605_247)
    assert r.top_matches_ticker == 503


def test_cryptofeed_session_syncs_four_books() -> None:
    """cryptofeed's 2021 recording: REST snapshots interleaved with 100 ms diffs by time."""
    path = real_file("captures/cryptofeed/BINANCE_FUTURES.jsonl.zst")
    with zstandard.ZstdDecompressor().stream_reader(path.open("rb")) as fh:
        events = [json.loads(line) for line in io.TextIOWrapper(fh, encoding="utf-8")]
    events = sorted((e for e in events if e["t"] in ("recv", "http")), key=lambda e: e["ts"])
    books: dict[str, SequencedBook] = {}
    snapshots: Counter[str] = Counter()
    for e in events:
        recv_ns = int(e["ts"] * 1e9)
        if e["t"] == "http" and "/fapi/v1/depth" in e["url"]:
            symbol = e["url"].split("symbol=")[1].split("&")[0]
            snap = bn.parse_depth_snapshot(e["data"], symbol, recv_ns)
            snapshots[books.setdefault(symbol, SequencedBook()).on_snapshot(snap)] += 1
        elif e["t"] == "recv":
            for rec in bn.parse_message(e["data"], recv_ns):
                if type(rec) is BookDelta:
                    books.setdefault(rec.symbol, SequencedBook()).on_delta(rec)
    assert sorted(books) == ["AKROUSDT", "CTKUSDT", "KEEPUSDT", "SUSHIUSDT"]
    assert snapshots == Counter({"waiting": 4})  # each snapshot was newer than the buffer
    for symbol, sb in books.items():
        assert sb.synced and (sb.gaps, sb.resyncs) == (0, 0), symbol
        assert not sb.book.is_crossed(), symbol
