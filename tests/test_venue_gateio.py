"""Gate.io USDT futures: real captures, edge cases, and the simulator round trip.

The real data: cryptofeed's 2023 recording (``GATEIO_FUTURES.jsonl.zst``: 10 altcoin contracts,
``futures.order_book_update`` 100 ms diffs, ``futures.book_ticker``, ``futures.candlesticks``,
subscription acks, plus the contracts list and REST books it fetched) with the REST books of
``rest/GATEIO_FUTURES.http.0.0``, and tardis-node's ``gate_io_futures_messages.jsonl`` (single
messages from 2020 to 2023, several of old protocol versions). Facts are read independently with
plain ``json``; the books are replayed through ``make_book("rest_next")``.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TypeVar

import orjson
import pytest
import zstandard

from conftest import real_file
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
from flowdesk.streaming.book import SpotSequencedBook, make_book
from flowdesk.streaming.simulator.config import SymbolSpec, spec_for
from flowdesk.streaming.simulator.venues import gateio as sim_gt
from flowdesk.streaming.venues import gateio as gt
from flowdesk.streaming.venues.base import ParseError, UnknownMessage, VenueError
from flowdesk.streaming.venues.protocol import Instrument
from flowdesk.streaming.venues.registry import protocol
from sim_fakes import FakeBook, FakeClient

CAPTURE = "captures/cryptofeed/GATEIO_FUTURES.jsonl.zst"
REST_FILE = "captures/cryptofeed/rest/GATEIO_FUTURES.http.0.0"
SAMPLES = "samples/tardis-node/gate_io_futures_messages.jsonl"
PROTO = gt.PROTOCOLS["gateio_futures"]
R = TypeVar("R")


def only(kind: type[R], records: list[Record]) -> R:
    """The one record of ``records``, checked to be a ``kind``."""
    assert len(records) == 1 and isinstance(records[0], kind), records
    return records[0]


def of(kind: type[R], records: list[Record]) -> list[R]:
    """``records``, checked to be ``kind`` s."""
    assert all(isinstance(r, kind) for r in records), records
    return records  # type: ignore[return-value]


def ticker_records(records: list[Record]) -> tuple[MarkFunding, OpenInterest, Ticker24h]:
    """The three records of one ticker object, in order."""
    mark, oi, tk = records
    assert isinstance(mark, MarkFunding) and isinstance(oi, OpenInterest) and isinstance(tk, Ticker24h)
    return mark, oi, tk

# ---------------------------------------------------------------------------------------------
# The real capture
# ---------------------------------------------------------------------------------------------


@cache
def capture_events() -> list[dict[str, Any]]:
    """The capture's http and recv records, in time order (the file lists http first)."""
    path = real_file(CAPTURE)
    with zstandard.ZstdDecompressor().stream_reader(path.open("rb")) as fh:
        events = [json.loads(line) for line in io.TextIOWrapper(fh, encoding="utf-8")]
    return sorted((e for e in events if e["t"] in ("http", "recv")), key=lambda e: e["ts"])


@cache
def capture_instruments() -> dict[str, Instrument]:
    (contracts,) = [e for e in capture_events() if e["t"] == "http" and e["url"].endswith("/contracts")]
    return gt.parse_contracts(contracts["data"])


@cache
def rest_books() -> dict[str, tuple[float, str]]:
    """Venue contract -> (receive time s, body) from the paired REST file (``URL -> ts: json``)."""
    out = {}
    for line in real_file(REST_FILE).read_text().splitlines():
        if not line.strip():
            continue
        url, _, rest = line.partition(" -> ")
        ts, _, body = rest.partition(": ")
        out[url.split("contract=")[1].split("&")[0]] = (float(ts), body)
    return out


@dataclass
class Facts:
    """What the capture holds, counted with plain json."""

    diffs: int = 0
    book_tickers: int = 0
    empty_book_tickers: int = 0
    candles: int = 0
    trades: int = 0
    acks: int = 0
    last_book_ticker: dict[str, Any] = field(default_factory=dict)
    first_diff: dict[str, Any] = field(default_factory=dict)


@cache
def capture_facts() -> Facts:
    f = Facts()
    for e in capture_events():
        if e["t"] != "recv":
            continue
        msg = json.loads(e["data"])
        kind = (msg["channel"], msg["event"])
        if msg["event"] == "subscribe" and msg["result"] == {"status": "success"}:
            f.acks += 1
        elif kind == ("futures.order_book_update", "update"):
            f.diffs += 1
            f.first_diff = f.first_diff or msg["result"]
        elif kind == ("futures.book_ticker", "update"):
            f.book_tickers += 1
            f.empty_book_tickers += msg["result"]["b"] == "" or msg["result"]["a"] == ""
            f.last_book_ticker = msg["result"]
        elif kind == ("futures.candlesticks", "update"):
            f.candles += len(msg["result"])
        elif kind == ("futures.trades", "update"):
            f.trades += len(msg["result"])
    return f


@dataclass
class Replay:
    """What flowdesk made of the capture."""

    errors: list[str] = field(default_factory=list)
    unknown: int = 0
    controls: int = 0
    records: Counter[str] = field(default_factory=Counter)
    by_kind: dict[str, list[Any]] = field(default_factory=dict)
    books: dict[str, Any] = field(default_factory=dict)
    snapshot_outcomes: dict[str, str] = field(default_factory=dict)
    after_sync: Counter[str] = field(default_factory=Counter)
    crossed: int = 0
    top_matches: int = 0
    top_differs: int = 0


@cache
def replay() -> Replay:
    """Every recv frame through the parser, the paired REST books into the book keepers."""
    out = Replay()
    parse = gt.make_parser(capture_instruments())
    rest = rest_books()
    for e in capture_events():
        recv_ns = int(e["ts"] * 1e9)
        if e["t"] == "http":
            if "/order_book" in e["url"]:
                contract = e["url"].split("contract=")[1].split("&")[0]
                symbol = gt.from_venue(contract)
                body = rest[contract][1]
                (snap,) = gt.parse_order_book(body, symbol, recv_ns, capture_instruments())
                book = out.books.setdefault(symbol, make_book(PROTO.book))
                out.snapshot_outcomes[symbol] = book.on_snapshot(snap)
            continue
        try:
            records = parse(e["data"], recv_ns)
        except UnknownMessage:
            out.unknown += 1
            continue
        except ParseError as exc:
            out.errors.append(str(exc))
            continue
        out.controls += not records
        for rec in records:
            name = type(rec).__name__
            out.records[name] += 1
            out.by_kind.setdefault(name, []).append(rec)
            if type(rec) is BookDelta:
                _on_delta(out, rec)
            elif type(rec) is Quote:
                _check_top(out, rec)
    return out


def _on_delta(out: Replay, delta: BookDelta) -> None:
    book = out.books.setdefault(delta.symbol, make_book(PROTO.book))
    was_synced = book.synced
    outcome = book.on_delta(delta)
    if was_synced:
        out.after_sync[outcome] += 1
        out.crossed += book.book.is_crossed()


def _check_top(out: Replay, quote: Quote) -> None:
    """Where a book_ticker's ``u`` is the id the synced book stands at, their tops must agree."""
    book = out.books.get(quote.symbol)
    if book is None or not book.synced or book.book.last_update_id != quote.update_id:
        return
    top = (*book.book.best_bid(), *book.book.best_ask())
    same = top == (quote.bid, quote.bid_qty, quote.ask, quote.ask_qty)
    out.top_matches += same
    out.top_differs += not same


def test_capture_every_frame_parses() -> None:
    r, f = replay(), capture_facts()
    assert r.errors == [] and r.unknown == 0
    assert r.controls == f.acks == 22  # subscribe acks -> []
    assert r.records["BookDelta"] == f.diffs == 352
    assert r.records["Quote"] == f.book_tickers - f.empty_book_tickers == 75
    assert r.records["Candle"] == f.candles == 1
    assert r.records["Trade"] == f.trades == 0  # trades were subscribed, none printed in 30 s
    assert sum(r.records.values()) == f.diffs + f.book_tickers + f.candles


def test_capture_book_chain_is_gap_free() -> None:
    r = replay()
    assert len(r.books) == 10
    gaps = {s: (b.gaps, b.resyncs) for s, b in r.books.items()}
    assert gaps == {s: (0, 0) for s in r.books}  # the capture has no gap: none reported
    synced = sorted(s for s, b in r.books.items() if b.synced)
    # DIA_USDT: its REST book (id 58251407) came after the last diff that could straddle id + 1
    assert synced == sorted(set(r.books) - {"DIAUSDT"})
    assert set(r.snapshot_outcomes.values()) == {"waiting"}  # each REST book newer than the buffer
    assert set(r.after_sync) == {"applied"} and r.after_sync["applied"] > 250
    assert r.crossed == 0
    woo = r.books["WOOUSDT"].book
    assert len(woo.bids) > 50 and len(woo.asks) > 50


def test_capture_rest_file_pairs_with_the_recording() -> None:
    rest = rest_books()
    http = {e["url"].split("contract=")[1].split("&")[0]: json.loads(e["data"])["id"]
            for e in capture_events() if e["t"] == "http" and "/order_book" in e["url"]}
    assert {c: json.loads(body)["id"] for c, (_, body) in rest.items()} == http
    assert http["RDNT_USDT"] == 203_083_287


def test_capture_rebuilt_top_equals_book_ticker() -> None:
    r = replay()
    assert r.top_matches >= 2 and r.top_differs == 0


def test_capture_field_values() -> None:
    r, f = replay(), capture_facts()
    first = r.by_kind["BookDelta"][0]
    d = f.first_diff
    assert (first.symbol, first.first_update_id, first.last_update_id, first.prev_update_id) == (
        gt.from_venue(d["s"]), d["U"], d["u"], -1)
    assert first.asks == [(float(d["a"][0]["p"]), 0.0)] and first.ts == d["t"] == 1_684_930_165_217
    last = r.by_kind["Quote"][-1]
    bt = f.last_book_ticker
    mult = float(capture_instruments()[gt.from_venue(bt["s"])].contract_size)
    assert (last.bid, last.ask, last.update_id, last.ts) == (float(bt["b"]), float(bt["a"]), bt["u"], bt["t"])
    assert last.bid_qty == pytest.approx(bt["B"] * mult) and last.ask_qty == pytest.approx(bt["A"] * mult)
    (candle,) = r.by_kind["Candle"]
    assert (candle.symbol, candle.interval, candle.open_ts, candle.close_ts) == (
        "FRONTUSDT", "1m", 1_684_930_140_000, 1_684_930_199_999)
    assert (candle.close, candle.volume, candle.closed, candle.quote_volume) == (0.1701, 0.0, False, None)


def test_capture_contract_sizes() -> None:
    ins = capture_instruments()
    assert len(ins) == 302
    btc = ins["BTCUSDT"]
    assert (btc.venue_symbol, btc.contract_size, btc.tick_size, btc.status) == ("BTC_USDT", 0.0001, 0.1, "trading")
    assert ins["ETHUSDT"].contract_size == 0.01 and ins["TRXUSDT"].contract_size == 100.0
    assert Counter(i.status for i in ins.values()) == Counter({"trading": 301, "delisting": 1})


def test_capture_contract_poll_gives_next_funding() -> None:
    (contracts,) = [e for e in capture_events() if e["t"] == "http" and e["url"].endswith("/contracts")]
    recv_ns = int(contracts["ts"] * 1e9)
    mark, oi = gt.parse_contract_poll(contracts["data"], "BTCUSDT", recv_ns, capture_instruments())
    assert isinstance(mark, MarkFunding) and isinstance(oi, OpenInterest)
    assert (mark.mark_price, mark.next_funding_ts, mark.ts) == (26704.26, 1_684_944_000_000, recv_ns // 1_000_000)
    assert oi.open_interest == pytest.approx(169_531_691 * 0.0001)
    assert oi.open_interest_value == pytest.approx(oi.open_interest * 26704.26)


# ---------------------------------------------------------------------------------------------
# tardis-node's single messages (2020-2023)
# ---------------------------------------------------------------------------------------------

#: line number -> outcome with the 2023 contract sizes: records by kind, "unknown" (a channel not
#: collected: the legacy futures.order_book), "error" (a contract settled in BTC, not USDT, or
#: the 2021 nested-array ticker shape Gate no longer sends)
SAMPLE_OUTCOMES: dict[int, Any] = {
    1: "unknown", 2: "unknown", 3: "unknown", 4: "unknown", 5: "error", 6: {"Trade": 1},
    7: {"Trade": 1}, 8: {}, 9: {}, 10: {}, 11: "unknown", 12: "unknown", 13: "unknown",
    14: "unknown", 15: "error", 16: "error", 17: "error", 18: {}, 19: {"Trade": 3}, 20: "unknown",
    21: {"MarkFunding": 1, "OpenInterest": 1, "Ticker24h": 1}, 22: "unknown",
}


def _outcome(parse: Any, line: str) -> tuple[Any, list[Record]]:
    try:
        recs = parse(line, 1)
    except UnknownMessage:
        return "unknown", []
    except ParseError:
        return "error", []
    return dict(Counter(type(r).__name__ for r in recs)), recs


def test_tardis_samples() -> None:
    lines = real_file(SAMPLES).read_text().splitlines()
    parse = gt.make_parser(capture_instruments())
    outcomes = {i: _outcome(parse, line)[0] for i, line in enumerate(lines, 1)}
    assert outcomes == SAMPLE_OUTCOMES


def test_tardis_sample_values() -> None:
    lines = real_file(SAMPLES).read_text().splitlines()
    parse = gt.make_parser(capture_instruments())
    comp = only(Trade, parse(lines[5], 7))  # 2020: no create_time_ms
    assert (comp.symbol, comp.side, comp.qty, comp.ts, comp.trade_id) == (
        "COMPUSDT", "buy", 0.01, 1_593_561_616_000, 31615)
    eth = only(Trade, parse(lines[6], 7))
    assert (eth.side, eth.qty, eth.price) == ("sell", 0.22, 225.5)
    btc = of(Trade, parse(lines[18], 7))
    raw = json.loads(lines[18])["result"]
    assert [t.trade_id for t in btc] == [r["id"] for r in raw]
    assert [t.qty for t in btc] == pytest.approx([abs(r["size"]) * 0.0001 for r in raw])
    assert {t.ts for t in btc} == {1_614_556_850_860} and {t.side for t in btc} == {"buy"}
    mark, oi, tk = ticker_records(parse(lines[20], 7))
    r = json.loads(lines[20])["result"][0]
    assert (mark.mark_price, mark.index_price, mark.funding_rate, mark.next_funding_ts) == (
        23175.64, 23173.35, 0.0001, None)
    assert mark.ts == oi.ts == tk.ts == 1_677_629_168_840
    assert oi.open_interest == pytest.approx(float(r["total_size"]) * 0.0001)
    assert (tk.last, tk.high, tk.low, tk.quote_volume, tk.price_change_pct) == (
        23160.2, 23589.2, 23018.3, 360157621.0, -1.3224)
    assert tk.volume == pytest.approx(155_496_714 * 0.0001)
    assert tk.open == pytest.approx(23160.2 / (1 - 0.013224))
    assert tk.trade_count is None


# ---------------------------------------------------------------------------------------------
# Edge cases
# ---------------------------------------------------------------------------------------------

BTC = Instrument("BTCUSDT", "BTC_USDT", 0.1, 0.0001, 0.0001, "trading")
TRX = Instrument("TRXUSDT", "TRX_USDT", 0.00001, 100.0, 100.0, "trading")


def _parse(obj: Any, instruments: dict[str, Instrument] | None = None) -> list[Record]:
    raw = obj if isinstance(obj, str) else orjson.dumps(obj).decode()
    return gt.make_parser(instruments if instruments is not None else {"BTCUSDT": BTC, "TRXUSDT": TRX})(raw, 5)


def _update(channel: str, result: Any, **extra: Any) -> dict[str, Any]:
    return {"time": 1_700_000_000, "time_ms": 1_700_000_000_123, "channel": channel, "event": "update",
            "result": result, **extra}


def test_control_frames_are_empty() -> None:
    assert _parse({"time": 1, "time_ms": 1, "channel": "futures.trades", "event": "subscribe",
                   "result": {"status": "success"}}) == []
    assert _parse({"time": 1, "channel": "futures.trades", "event": "unsubscribe", "error": None,
                   "result": {"status": "success"}}) == []
    assert _parse({"time": 1, "time_ms": 1, "channel": "futures.pong", "event": "", "result": None}) == []
    assert _parse(_update("futures.system", {"type": "upgrade", "msg": "reconnect"})) == []


def test_error_replies_raise_venue_error() -> None:
    rejected = {"time": 1, "time_ms": 1, "channel": "futures.order_book_update", "event": "subscribe",
                "error": {"code": 2, "message": "invalid argument"}, "result": {"status": "fail"}}
    with pytest.raises(VenueError, match="invalid argument"):
        _parse(rejected)
    with pytest.raises(VenueError):
        _parse({"time": 1, "channel": "futures.trades", "event": "subscribe", "result": {"status": "fail"}})
    with pytest.raises(VenueError):
        _parse({"error": {"code": 1, "message": "invalid argument struct"}})


def test_unknown_and_broken_frames() -> None:
    with pytest.raises(UnknownMessage):
        _parse(_update("futures.contract_stats", [{"contract": "BTC_USDT"}]))
    with pytest.raises(UnknownMessage):
        _parse({"hello": 1})
    with pytest.raises(ParseError, match="bad JSON"):
        _parse('{"time":1,"channel":"futures.trades","event":"upd')
    with pytest.raises(ParseError, match="expected a JSON object"):
        _parse("[1, 2]")
    with pytest.raises(ParseError, match=r"gateio_futures futures\.trades.*'price'"):
        _parse(_update("futures.trades", [{"size": 1, "id": 1, "create_time_ms": 1, "contract": "BTC_USDT"}]))
    with pytest.raises(ParseError, match=r"futures\.order_book_update.*ill-typed"):
        _parse(_update("futures.order_book_update", {"s": "BTC_USDT", "U": "1", "u": 1, "t": 1, "b": [], "a": []}))


def test_unknown_contract_size_is_an_error_not_a_guess() -> None:
    frame = _update("futures.book_ticker", {"t": 1, "u": 2, "s": "BTC_USDT", "b": "1", "B": 1, "a": "2", "A": 1})
    with pytest.raises(ParseError, match="unknown contract 'BTC_USDT'"):
        _parse(frame, {})
    with pytest.raises(ParseError, match="no contract size"):
        gt.parse_order_book({"id": 1, "current": 1.0, "update": 1.0, "asks": [], "bids": []}, "BTCUSDT", 1, {})


def test_symbol_mapping_both_ways() -> None:
    assert gt.to_venue("BTCUSDT") == "BTC_USDT" and gt.to_venue("1000pepeusdt") == "1000PEPE_USDT"
    assert gt.from_venue("BTC_USDT") == "BTCUSDT" and gt.from_venue(gt.to_venue("ETHUSDT")) == "ETHUSDT"
    for bad in ("BTCUSD", "USDT"):
        with pytest.raises(ValueError):
            gt.to_venue(bad)
    for bad in ("BTCUSDT", "_USDT", "1m_BTC_USDT"):
        with pytest.raises(ValueError):
            gt.from_venue(bad)


def test_contract_size_conversion() -> None:
    assert gt.scale_of(0.0001) == (1.0, 10000.0) and gt.scale_of(100.0) == (100.0, 1.0)
    assert gt.scale_of(0.3) == (0.3, 1.0)
    q = only(Quote, _parse(_update("futures.book_ticker", {"t": 9, "u": 8, "s": "BTC_USDT", "b": "26700.1", "B": 29510,
                                                      "a": "26700.2", "A": "12.5"})))
    assert (q.bid_qty, q.ask_qty) == (2.951, 0.00125)  # exact, and decimal-string sizes too
    t = only(Trade, _parse(_update("futures.trades", [{"size": -3, "id": 5, "create_time": 1, "create_time_ms": 1500,
                                                      "price": "0.0712", "contract": "TRX_USDT"}])))
    assert (t.qty, t.side, t.ts) == (300.0, "sell", 1500)


def test_trades_sign_internal_and_decimal_sizes() -> None:
    rows = [
        {"size": "2.5", "id": 10, "create_time": 1, "create_time_ms": 1001, "price": "100", "contract": "BTC_USDT"},
        {"size": -7, "id": 11, "create_time": 1, "create_time_ms": 1002, "price": "99", "contract": "BTC_USDT",
         "is_internal": True},
        {"size": -1, "id": 12, "create_time": 1, "create_time_ms": 1003, "price": "98", "contract": "BTC_USDT"},
    ]
    recs = of(Trade, _parse(_update("futures.trades", rows)))
    assert [(t.trade_id, t.side, t.qty, t.source) for t in recs] == [
        (10, "buy", 0.00025, "ws"), (12, "sell", 0.0001, "ws")]


def test_full_book_frame_is_a_snapshot() -> None:
    result = {"t": 7, "full": True, "s": "BTC_USDT", "U": 1, "u": 50, "l": "100",
              "b": [{"p": "99", "s": "1"}, {"p": "100", "s": "2"}], "a": [{"p": "102", "s": 3}, {"p": "101", "s": 4}]}
    (snap,) = _parse(_update("futures.order_book_update", result))
    assert isinstance(snap, BookSnapshot) and snap.last_update_id == 50
    assert snap.bids == [(100.0, 0.0002), (99.0, 0.0001)] and snap.asks == [(101.0, 0.0004), (102.0, 0.0003)]


def test_book_ticker_with_an_empty_side_gives_nothing() -> None:
    empty = {"t": 0, "u": 0, "s": "BTC_USDT", "b": "", "B": 0, "a": "", "A": 0}
    assert _parse(_update("futures.book_ticker", empty)) == []


def test_liquidation_side_and_time_units() -> None:
    rows = [{"price": "215.1", "size": "-124", "time": 1_541_486_601_123, "contract": "BTC_USDT"},
            {"price": "215.2", "size": 10, "time": 1_541_486_601, "contract": "BTC_USDT"},
            {"price": "215.3", "size": 1, "time": 1_541_486_601, "time_ms": 1_541_486_601_456, "contract": "BTC_USDT"}]
    recs = of(Liquidation, _parse(_update("futures.public_liquidates", rows)))
    assert [(x.side, x.qty, x.ts) for x in recs] == [
        ("sell", 0.0124, 1_541_486_601_123), ("buy", 0.001, 1_541_486_601_000), ("buy", 0.0001, 1_541_486_601_456)]
    assert all(type(x) is Liquidation and x.avg_price is None and x.filled_qty is None for x in recs)


def test_candle_closed_flag() -> None:
    bar = {"t": 1_700_000_040, "v": "120", "c": "2", "h": "3", "l": "1", "o": "1.5", "n": "1m_BTC_USDT"}
    open_bar = only(Candle, _parse(_update("futures.candlesticks", [bar])))  # frame time inside the bar
    assert (open_bar.closed, open_bar.volume, open_bar.ts) == (False, 0.012, 1_700_000_000_123)
    closed = only(Candle, _parse(_update("futures.candlesticks", [{**bar, "w": True}])))
    assert closed.closed
    late = only(Candle, _parse(_update("futures.candlesticks", [{**bar, "t": 1_699_999_800}])))
    assert late.closed  # no "w": the bar ended before the frame was sent
    with pytest.raises(ParseError):
        _parse(_update("futures.candlesticks", [{**bar, "n": "2m_BTC_USDT"}]))


def test_ticker_open_from_change_price_and_object_result() -> None:
    t = {"contract": "BTC_USDT", "last": "100", "change_percentage": "25", "change_price": "20",
         "total_size": "10", "volume_24h": "1000", "volume_24h_quote": "10000", "mark_price": "100.5",
         "funding_rate": "", "index_price": "100.4", "low_24h": "70", "high_24h": "110", "t": 42}
    mark, oi, tk = ticker_records(_parse(_update("futures.tickers", t)))
    assert (tk.open, tk.volume, oi.open_interest, oi.open_interest_value) == (80.0, 0.1, 0.001, 0.001 * 100.5)
    assert (mark.funding_rate, mark.ts) == (None, 42)
    no_change = {k: v for k, v in t.items() if k != "change_price"}
    assert ticker_records(_parse(_update("futures.tickers", [no_change])))[2].open == 80.0


def test_subscribe_ping_and_url() -> None:
    msgs = [json.loads(m) for m in gt.subscribe(("BTCUSDT", "ETHUSDT"), tuple(gt.CHANNELS))]
    by_channel = Counter(m["channel"] for m in msgs)
    assert by_channel == Counter({"futures.trades": 1, "futures.book_ticker": 1, "futures.tickers": 1,
                                  "futures.public_liquidates": 1, "futures.order_book_update": 2,
                                  "futures.candlesticks": 2})
    assert {m["event"] for m in msgs} == {"subscribe"} and all(isinstance(m["time"], int) for m in msgs)
    books = [m["payload"] for m in msgs if m["channel"] == "futures.order_book_update"]
    assert books == [["BTC_USDT", "100ms", "100"], ["ETH_USDT", "100ms", "100"]]
    assert [m["payload"] for m in msgs if m["channel"] == "futures.trades"] == [["BTC_USDT", "ETH_USDT"]]
    assert [m["payload"] for m in msgs if m["channel"] == "futures.candlesticks"][0] == ["1m", "BTC_USDT"]
    with pytest.raises(ValueError, match="unknown gateio_futures stream"):
        gt.subscribe(("BTCUSDT",), ("depth",))
    ping = json.loads(gt.ping())
    assert ping["channel"] == "futures.ping" and set(ping) == {"time", "channel"}
    assert gt.ws_target("wss://fx-ws.gateio.ws/", (), ()) == "wss://fx-ws.gateio.ws/v4/ws/usdt"
    assert gt.ws_target("ws://127.0.0.1:9/v4/ws/usdt", (), ()) == "ws://127.0.0.1:9/v4/ws/usdt"


def test_protocol_description() -> None:
    p = protocol("gateio_futures")
    assert p is PROTO and (p.exchange, p.market, p.book) == ("gateio", "futures", "rest_next")
    assert p.snapshot is not None
    assert p.snapshot.params("BTC_USDT") == {"contract": "BTC_USDT", "limit": 100, "with_id": "true"}
    assert p.instruments is not None and p.instruments[1] == gt.CONTRACTS_PATH
    assert [c.path for c in p.polls] == [gt.CONTRACTS_PATH + "/{symbol}"] and p.trades_by_id is None
    assert p.ping is gt.ping and p.taker_fee_bps == 5.0 and "Liquidation" not in p.unavailable
    assert set(p.default_streams) == set(p.streams) == set(gt.CHANNELS)


def test_snapshot_then_deltas_sequencing() -> None:
    instruments = {"BTCUSDT": BTC}
    body = {"id": 100, "current": 1.5, "update": 1.25, "bids": [{"p": "10", "s": 5}], "asks": [{"p": "11", "s": 5}]}
    snap = only(BookSnapshot, gt.parse_order_book(body, "BTCUSDT", 9, instruments))
    assert (snap.last_update_id, snap.ts, snap.bids) == (100, 1250, [(10.0, 0.0005)])

    def diff(first: int, last: int, bid_qty: int) -> BookDelta:
        (d,) = _parse(_update("futures.order_book_update", {"t": last, "s": "BTC_USDT", "U": first, "u": last,
                                                          "b": [{"p": "10", "s": bid_qty}], "a": []}), instruments)
        return d  # type: ignore[return-value]

    book = make_book(PROTO.book)
    assert isinstance(book, SpotSequencedBook)
    assert [book.on_delta(diff(a, b, q)) for a, b, q in [(95, 99, 1), (100, 103, 2)]] == ["buffered", "buffered"]
    assert book.on_snapshot(snap) == "synced"  # 95..99 dropped, 100..103 straddles id + 1
    assert book.book.bids == {10.0: 0.0002}
    assert book.on_delta(diff(104, 104, 3)) == "applied"
    assert book.on_delta(diff(106, 107, 4)) == "gap"  # 105 missing
    assert (book.gaps, book.synced) == (1, False)


def test_rest_trades_and_contracts_parsers() -> None:
    rows = [{"id": 3, "create_time": 1514764800.5, "create_time_ms": 1514764800.523, "contract": "BTC_USDT",
             "size": -100, "price": "100.1"},
            {"id": 2, "create_time": 1514764800, "create_time_ms": 1514764800.123, "contract": "BTC_USDT",
             "size": 20, "price": "100", "is_internal": True},
            {"id": 1, "create_time": 1514764799, "create_time_ms": 1514764799.001, "contract": "BTC_USDT",
             "size": 5, "price": "99.9"}]
    trades = of(Trade, gt.parse_trades(rows, "BTCUSDT", 3, {"BTCUSDT": BTC}))
    assert [(t.trade_id, t.side, t.qty, t.ts, t.source) for t in trades] == [
        (1, "buy", 0.0005, 1_514_764_799_001, "rest"), (3, "sell", 0.01, 1_514_764_800_523, "rest")]
    with pytest.raises(ParseError, match="quanto_multiplier"):
        gt.parse_contracts([{"name": "X_USDT", "quanto_multiplier": "0", "order_price_round": "1",
                             "in_delisting": False}])
    with pytest.raises(ParseError, match=r"contracts\[0\]"):
        gt.parse_contracts([{"name": "X_USDT"}])
    with pytest.raises(ParseError, match="no contract ETH_USDT"):
        gt.parse_contract_poll([{"name": "BTC_USDT"}], "ETHUSDT", 1, {"ETHUSDT": BTC})


# ---------------------------------------------------------------------------------------------
# The simulator
# ---------------------------------------------------------------------------------------------


class FakeCtx:
    """A SimContext over a hand-built market: one book per symbol and stored events."""

    def __init__(self, symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")) -> None:
        self.symbols = list(symbols)
        self.ws_url, self.rest_url = "ws://127.0.0.1:1", "http://127.0.0.1:1"
        self.clock = 1_723_161_600_500
        self.books = {s: FakeBook(0, [], []) for s in symbols}
        self.events: dict[tuple[str, str], Record] = {}
        self.trade_log: dict[str, list[Trade]] = {s: [] for s in symbols}

    def spec(self, symbol: str) -> SymbolSpec:
        return spec_for(symbol)

    def now_ms(self) -> int:
        return self.clock

    def book(self, symbol: str, depth: int) -> FakeBook:
        b = self.books[symbol]
        return FakeBook(b.seq, b.bids[:depth], b.asks[:depth])

    def latest(self, symbol: str, kind: str) -> Record | None:
        return self.events.get((symbol, kind))

    def trades(self, symbol: str, from_id: int | None, limit: int) -> list[Trade]:
        rows = self.trade_log[symbol]
        return [t for t in rows if t.trade_id >= from_id][:limit] if from_id is not None else rows[-limit:]

    def candles(self, symbol: str, limit: int) -> list[Record]:
        return []

    def add(self, event: Record) -> None:
        self.events[(event.symbol, type(event).__name__)] = event
        if type(event) is Trade:
            self.trade_log[event.symbol].append(event)  # type: ignore[arg-type]


SIM = sim_gt.SIMS["gateio_futures"]
T0 = 1_723_161_600_000


def _sim_instruments(ctx: FakeCtx) -> dict[str, Instrument]:
    status, body = SIM.rest("GET", gt.CONTRACTS_PATH, {}, ctx)
    assert status == 200
    return gt.parse_contracts(orjson.dumps(body))


def _round_trip(ctx: FakeCtx, event: Record) -> list[Record]:
    frames = SIM.encode(event, ctx)
    parse = gt.make_parser(_sim_instruments(ctx))
    out: list[Record] = []
    for (channel, symbol), text in frames:
        assert symbol == event.symbol and channel in gt.CHANNELS
        out.extend(parse(text, 77))
    return out


def test_sim_round_trips_every_stream() -> None:
    ctx = FakeCtx()
    trade = Trade("gateio", "futures", "BTCUSDT", 41, 60000.1, 0.125, "sell", T0, 0, 41, 41, "ws")
    t = only(Trade, _round_trip(ctx, trade))
    assert (t.trade_id, t.price, t.side, t.ts) == (41, 60000.1, "sell", T0) and t.qty == pytest.approx(0.125)
    quote = Quote("gateio", "futures", "ETHUSDT", 3000.5, 1.25, 3000.6, 0.004, 9, T0, 0)
    q = only(Quote, _round_trip(ctx, quote))
    assert (q.bid, q.ask, q.update_id, q.ts) == (3000.5, 3000.6, 9, T0)
    assert (q.bid_qty, q.ask_qty) == pytest.approx((1.25, 0.004))
    bids, asks = [(59999.9, 0.5), (59999.8, 0.0)], [(60000.0, 1.0)]
    d = only(BookDelta, _round_trip(ctx, BookDelta("gateio", "futures", "BTCUSDT", 5, 5, 4, bids, asks, T0, 0)))
    assert (d.first_update_id, d.last_update_id, d.bids, d.asks) == (5, 5, bids, asks)
    liq = Liquidation("gateio", "futures", "BTCUSDT", "buy", 61000.0, None, 0.3, None, "filled", T0 + 5, 0)
    x = only(Liquidation, _round_trip(ctx, liq))
    assert (x.side, x.price, x.ts) == ("buy", 61000.0, T0 + 5) and x.qty == pytest.approx(0.3)
    bar = Candle("gateio", "futures", "BTCUSDT", "1m", T0, T0 + 59_999, 1.5, 3.0, 1.0, 2.0, 12.345, 20.0, 7, 1.0,
                 True, T0, 0)
    c = only(Candle, _round_trip(ctx, bar))
    assert (c.open_ts, c.close_ts, c.open, c.high, c.low, c.close, c.closed) == (
        T0, T0 + 59_999, 1.5, 3.0, 1.0, 2.0, True)
    assert c.volume == pytest.approx(12.345)
    assert SIM.encode(bar._replace(interval="5m"), ctx) == []


def test_sim_tickers_combine_mark_oi_and_24h() -> None:
    ctx = FakeCtx()
    mark = MarkFunding("gateio", "futures", "BTCUSDT", 60001.5, 60000.25, 0.000125, T0 + 3_600_000, T0, 0)
    oi = OpenInterest("gateio", "futures", "BTCUSDT", 1234.5, None, T0, 0)
    tk = Ticker24h("gateio", "futures", "BTCUSDT", 60010.0, 59000.0, 61000.0, 58000.0, 2500.125, 1.5e8, 1.7119, 900,
                   T0, 0)
    assert SIM.encode(mark, ctx) == []  # no open interest / 24h statistics yet
    ctx.add(mark)
    ctx.add(oi)
    recs = _round_trip(ctx, tk)
    assert [type(r) for r in recs] == [MarkFunding, OpenInterest, Ticker24h]
    m, o, t = ticker_records(recs)
    assert (m.mark_price, m.index_price, m.funding_rate, m.next_funding_ts) == (60001.5, 60000.25, 0.000125, None)
    assert o.open_interest == pytest.approx(1234.5) and o.open_interest_value == pytest.approx(1234.5 * 60001.5)
    assert (t.last, t.high, t.low, t.price_change_pct) == (60010.0, 61000.0, 58000.0, 1.7119)
    assert (t.open, t.volume, t.quote_volume) == pytest.approx((59000.0, 2500.125, 1.5e8))


def test_sim_book_snapshot_and_diffs_chain() -> None:
    ctx = FakeCtx()
    ctx.books["BTCUSDT"] = FakeBook(10, [(59999.9, 0.5), (59999.8, 1.0)], [(60000.0, 0.25), (60000.1, 2.0)])
    instruments = _sim_instruments(ctx)
    parse = gt.make_parser(instruments)
    book = make_book(PROTO.book)
    early = BookDelta("gateio", "futures", "BTCUSDT", 10, 10, 9, [(59999.9, 0.5)], [], T0, 0)
    assert book.on_delta(*parse(SIM.encode(early, ctx)[0][1], 1)) == "buffered"  # type: ignore[arg-type]
    diffs = [BookDelta("gateio", "futures", "BTCUSDT", n, n, n - 1, [(59999.7, 0.1 * n)], [(60000.0, 0.0)], T0 + n, 0)
             for n in (11, 12, 13)]
    parsed = [parse(SIM.encode(dlt, ctx)[0][1], 2)[0] for dlt in diffs]
    assert book.on_delta(parsed[0]) == "buffered"  # type: ignore[arg-type]
    assert PROTO.snapshot is not None
    status, body = SIM.rest("GET", gt.ORDER_BOOK_PATH, PROTO.snapshot.params("BTC_USDT"), ctx)
    assert status == 200 and body["id"] == 10
    snap = only(BookSnapshot, gt.parse_order_book(orjson.dumps(body), "BTCUSDT", 3, instruments))
    assert book.on_snapshot(snap) == "synced"
    assert [book.on_delta(d) for d in parsed[1:]] == ["applied", "applied"]  # type: ignore[arg-type]
    assert book.book.bids == pytest.approx({59999.9: 0.5, 59999.8: 1.0, 59999.7: 1.3})
    assert book.book.asks == pytest.approx({60000.1: 2.0}) and (book.gaps, book.resyncs) == (0, 0)


def test_sim_on_message() -> None:
    ctx, client = FakeCtx(), FakeClient()
    parse = gt.make_parser(_sim_instruments(ctx))
    for message in gt.subscribe(("BTCUSDT", "ETHUSDT"), tuple(gt.CHANNELS)):
        (ack,) = SIM.on_message(client, message, ctx)
        assert json.loads(ack)["result"] == {"status": "success"} and parse(ack, 1) == []
    assert client.topics == {(s, sym) for s in gt.CHANNELS for sym in ("BTCUSDT", "ETHUSDT")}
    (unsub,) = SIM.on_message(client, gt.subscribe(("ETHUSDT",), ("trades",), event="unsubscribe")[0], ctx)
    assert json.loads(unsub)["event"] == "unsubscribe" and ("trades", "ETHUSDT") not in client.topics
    (pong,) = SIM.on_message(client, gt.ping(), ctx)
    assert json.loads(pong)["channel"] == "futures.pong" and parse(pong, 1) == []
    bad = [
        "not json", "[]", '{"channel":"futures.nope","event":"subscribe","payload":["BTC_USDT"]}',
        gt.request("futures.trades", "subscribe", ["DOGE_USDT"]),
        gt.request("futures.trades", "subscribe", []),
        gt.request("futures.order_book_update", "subscribe", ["BTC_USDT", "20ms", "100"]),
        gt.request("futures.candlesticks", "subscribe", ["5m", "BTC_USDT"]),
        gt.request("futures.trades", "update", ["BTC_USDT"]),
    ]
    for text in bad:
        (reply,) = SIM.on_message(client, text, ctx)
        assert json.loads(reply)["result"] == {"status": "fail"}, text
        with pytest.raises(VenueError):
            parse(reply, 1)


def test_sim_rest_answers_every_protocol_path() -> None:
    ctx = FakeCtx()
    ctx.add(MarkFunding("gateio", "futures", "BTCUSDT", 60001.5, 60000.0, 0.0001, T0 + 1_800_000, T0, 0))
    ctx.add(OpenInterest("gateio", "futures", "BTCUSDT", 77.7, None, T0, 0))
    for i in (1, 2, 3):
        side = "buy" if i % 2 else "sell"
        ctx.add(Trade("gateio", "futures", "BTCUSDT", i, 60000.0 + i, 0.001 * i, side, T0 + i, 0, i, i, "ws"))
    ctx.books["BTCUSDT"] = FakeBook(42, [(59999.9, 0.5)], [(60000.0, 0.25)])
    instruments = _sim_instruments(ctx)
    assert sorted(instruments) == ["BTCUSDT", "ETHUSDT"] and instruments["BTCUSDT"].contract_size == 0.001
    p = PROTO
    assert p.instruments is not None and p.snapshot is not None
    calls = [(p.instruments[1], dict(p.instruments[2])), (p.snapshot.path, p.snapshot.params("BTC_USDT"))]
    calls += [(c.path.replace("{symbol}", "BTC_USDT"), c.params("BTC_USDT")) for c in p.polls]
    for path, query in calls:
        assert SIM.rest("GET", path, {k: str(v) for k, v in query.items()}, ctx)[0] == 200, path
    _, body = SIM.rest("GET", p.polls[0].path.replace("{symbol}", "BTC_USDT"), {}, ctx)
    mark, oi = p.polls[0].parse(orjson.dumps(body), "BTCUSDT", 5_000_000, instruments)
    assert (mark.mark_price, mark.next_funding_ts) == (60001.5, T0 + 1_800_000)  # type: ignore[union-attr]
    assert oi.open_interest == pytest.approx(77.7)  # type: ignore[union-attr]
    _, body = SIM.rest("GET", gt.ORDER_BOOK_PATH, {"contract": "BTC_USDT", "limit": "100", "with_id": "true"}, ctx)
    (snap,) = p.snapshot.parse(orjson.dumps(body), "BTCUSDT", 1, instruments)
    assert isinstance(snap, BookSnapshot)
    assert (snap.last_update_id, snap.bids, snap.asks) == (42, [(59999.9, 0.5)], [(60000.0, 0.25)])
    _, body = SIM.rest("GET", gt.TRADES_PATH, {"contract": "BTC_USDT", "limit": "2"}, ctx)
    assert [r["id"] for r in body] == [3, 2]  # newest first, as Gate answers
    trades = of(Trade, gt.parse_trades(orjson.dumps(body), "BTCUSDT", 1, instruments))
    assert [(t.trade_id, t.side, t.ts) for t in trades] == [(2, "sell", T0 + 2), (3, "buy", T0 + 3)]
    assert SIM.rest("GET", gt.CONTRACTS_PATH + "/BTC_USDT", {}, ctx)[1]["name"] == "BTC_USDT"
    assert SIM.rest("GET", "/api/v4/futures/usdt/nope", {}, ctx)[0] == 404
    assert SIM.rest("GET", gt.ORDER_BOOK_PATH, {"contract": "DOGE_USDT"}, ctx) == (
        400, {"label": "CONTRACT_NOT_FOUND", "message": "Contract not found"})
    assert SIM.rest("GET", gt.ORDER_BOOK_PATH, {"contract": "BTC_USDT", "limit": "1000"}, ctx) == (
        400, {"label": "TOO_BIG", "message": "limit 300"})  # the feed must ask for 100
    assert SIM.rest("POST", gt.CONTRACTS_PATH, {}, ctx)[0] == 405
    assert (SIM.name, SIM.ws_paths, SIM.idle_timeout_s) == ("gateio_futures", ("/v4/ws/usdt",), None)
    assert SIM.on_open(FakeClient(), "/v4/ws/usdt", {}, ctx) == []
