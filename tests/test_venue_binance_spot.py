"""Binance spot: real sessions through the parser and the book, edge cases, and the simulator.

Real data (``FLOWDESK_REAL_DATA``): hftbacktest's spot captures (BTCUSDT 2024-08-08 and its
continuation 2024-08-09, ETHUSDT 2024-08-08: ``depth@100ms`` + ``trade`` + ``bookTicker`` and one
REST depth snapshot), cryptofeed's 2021 BINANCE session (4 symbols, ``aggTrade``, ``kline_1m``,
``bookTicker``, ``depth@100ms``, REST snapshots and ``exchangeInfo``), tardis-node's spot samples
and nautilus' REST fixtures (Binance's documentation examples). Every count and value the
parser's output is checked against is read independently with plain ``json``.

The simulator part drives :mod:`flowdesk.streaming.simulator.venues.binance_spot` with a small
fake server context: neutral events -> SIM.encode -> the parser must give them back, a REST
snapshot plus the SIM's diffs must sync and chain, and every REST path the protocol uses must be
answered by SIM.rest in a shape the protocol's parsers accept.
"""

from __future__ import annotations

import gzip
import io
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

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
from flowdesk.streaming.captures import iter_capture
from flowdesk.streaming.simulator.config import spec_for
from flowdesk.streaming.simulator.venues import binance_spot as sim_mod
from flowdesk.streaming.venues import binance_spot as bs
from flowdesk.streaming.venues import binance_usdm
from flowdesk.streaming.venues.base import ParseError, UnknownMessage, VenueError
from flowdesk.streaming.venues.protocol import Instrument
from flowdesk.streaming.venues.registry import VENUE_IDS, protocol
from sim_fakes import FakeBook, FakeClient

SPOT = "captures/binance-spot"
BTC08, BTC09, ETH08 = f"{SPOT}/btcusdt_20240808.gz", f"{SPOT}/btcusdt_20240809.gz", f"{SPOT}/ethusdt_20240808.gz"
NAUTILUS = "samples/nautilus/adapters/binance/spot/http_json"
PROTO = bs.PROTOCOLS["binance_spot"]


def parse(raw: str | bytes, recv_ns: int = 1_723_161_600_000_000_000) -> list[Record]:
    return bs.parse_message(raw, recv_ns)


def one(raw: str | bytes, recv_ns: int = 1_723_161_600_000_000_000) -> Any:
    (rec,) = parse(raw, recv_ns)
    return rec


# =================================================================================================
# Real captures: hftbacktest spot sessions
# =================================================================================================


@dataclass
class Replay:
    """What flowdesk made of one or more consecutive capture files of one symbol."""

    errors: list[str] = field(default_factory=list)
    unknown: int = 0
    records: Counter[str] = field(default_factory=Counter)
    trades: list[Trade] = field(default_factory=list)
    quotes: list[Quote] = field(default_factory=list)
    snapshot_outcome: str = ""
    outcomes: Counter[str] = field(default_factory=Counter)
    outcomes_after_sync: Counter[str] = field(default_factory=Counter)
    crossed_after_sync: int = 0
    top_matches_ticker: int = 0
    top_differs_from_ticker: int = 0
    book: Any = field(default_factory=lambda: make_book("rest_next"))


@cache
def replay(rels: tuple[str, ...]) -> Replay:
    """Every frame through ``parse_message`` and every diff through one ``rest_next`` book;
    the REST snapshot line goes to the book."""
    out: Replay = Replay()
    quotes_by_id: dict[int, Quote] = {}
    for rel in rels:
        path = real_file(rel)
        symbol = path.name.split("_")[0].upper()
        for recv_ns, raw in iter_capture(path):
            if '"lastUpdateId"' in raw:
                out.snapshot_outcome = out.book.on_snapshot(bs.parse_depth_snapshot(raw, symbol, recv_ns))
                continue
            try:
                records = bs.parse_message(raw, recv_ns)
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
                    out.quotes.append(rec)
                    quotes_by_id[rec.update_id] = rec
                elif type(rec) is BookDelta:
                    _on_delta(out, rec, quotes_by_id)
    return out


@cache
def book_messages(rel: str) -> list[BookDelta | BookSnapshot]:
    """Only the book frames of one capture (diffs and the REST snapshot line), in order."""
    path = real_file(rel)
    symbol = path.name.split("_")[0].upper()
    out: list[BookDelta | BookSnapshot] = []
    for recv_ns, raw in iter_capture(path):
        if '"lastUpdateId"' in raw:
            out.append(bs.parse_depth_snapshot(raw, symbol, recv_ns))
        elif "@depth" in raw[:40]:
            out.extend(bs.parse_message(raw, recv_ns))  # type: ignore[arg-type]
    return out


def run_book(messages: list[BookDelta | BookSnapshot]) -> tuple[Any, Counter[str]]:
    """A fresh ``rest_next`` book fed ``messages``; returns it and the outcome counts."""
    book, outcomes = make_book("rest_next"), Counter[str]()
    for m in messages:
        outcomes[book.on_snapshot(m) if type(m) is BookSnapshot else book.on_delta(m)] += 1
    return book, outcomes


def _on_delta(out: Replay, delta: BookDelta, quotes_by_id: dict[int, Quote]) -> None:
    was_synced = out.book.synced
    outcome = out.book.on_delta(delta)
    out.outcomes[outcome] += 1
    if not was_synced:
        return
    out.outcomes_after_sync[outcome] += 1
    book = out.book.book
    if delta.last_update_id % 16 == 0:  # a sample: a full-book scan on every diff is slow
        out.crossed_after_sync += book.is_crossed()
    quote = quotes_by_id.get(delta.last_update_id)  # the bookTicker of the diff's last update
    if quote is not None and out.book.synced:
        same = (*book.best_bid(), *book.best_ask()) == (quote.bid, quote.bid_qty, quote.ask, quote.ask_qty)
        out.top_matches_ticker += same
        out.top_differs_from_ticker += not same


@dataclass
class Facts:
    """The same captures read with plain ``json`` only."""

    kinds: Counter[str] = field(default_factory=Counter)
    trade_ids: list[int] = field(default_factory=list)
    volume: float = 0.0
    signed_volume: float = 0.0
    first_trade: dict[str, Any] = field(default_factory=dict)
    last_trade: dict[str, Any] = field(default_factory=dict)
    last_ticker: dict[str, Any] = field(default_factory=dict)
    last_ticker_recv_ns: int = 0
    first_depth: dict[str, Any] = field(default_factory=dict)
    last_depth_u: int = 0
    snapshot_id: int | None = None


@cache
def facts(rels: tuple[str, ...]) -> Facts:
    f = Facts()
    for rel in rels:
        with gzip.open(real_file(rel), "rt") as fh:
            for line in fh:
                ns, _, text = line.rstrip("\n").partition(" ")
                msg = json.loads(text)
                if "stream" not in msg:
                    f.snapshot_id = msg["lastUpdateId"]
                    continue
                kind, d = msg["stream"].split("@", 1)[1], msg["data"]
                f.kinds[kind] += 1
                if kind == "trade":
                    f.trade_ids.append(d["t"])
                    f.volume += float(d["q"])
                    f.signed_volume += -float(d["q"]) if d["m"] else float(d["q"])
                    f.first_trade = f.first_trade or d
                    f.last_trade = d
                elif kind == "bookTicker":
                    f.last_ticker, f.last_ticker_recv_ns = d, int(ns)
                else:
                    f.first_depth = f.first_depth or d
                    f.last_depth_u = d["u"]
    return f


CAPTURES = [(BTC08, BTC09), (ETH08,)]
IDS = ["btc08+09", "eth08"]


@pytest.mark.parametrize("rels", CAPTURES, ids=IDS)
def test_every_frame_parses_into_one_record(rels: tuple[str, ...]) -> None:
    r, f = replay(rels), facts(rels)
    assert r.errors == [] and r.unknown == 0
    assert r.records == Counter(
        {"Trade": f.kinds["trade"], "Quote": f.kinds["bookTicker"], "BookDelta": f.kinds["depth@100ms"]}
    )
    assert set(f.kinds) == {"trade", "bookTicker", "depth@100ms"}


@pytest.mark.parametrize("rels", CAPTURES, ids=IDS)
def test_trades_match_the_capture(rels: tuple[str, ...]) -> None:
    r, f = replay(rels), facts(rels)
    assert [t.trade_id for t in r.trades] == f.trade_ids
    assert all(b == a + 1 for a, b in zip(f.trade_ids, f.trade_ids[1:], strict=False)), "trade ids not contiguous"
    assert sum(t.qty for t in r.trades) == pytest.approx(f.volume)
    assert sum(t.qty if t.side == "buy" else -t.qty for t in r.trades) == pytest.approx(f.signed_volume)
    first, last = r.trades[0], r.trades[-1]
    ft = f.first_trade
    assert (first.price, first.qty, first.ts) == (float(ft["p"]), float(ft["q"]), ft["T"])
    assert first.side == ("sell" if f.first_trade["m"] else "buy")
    assert (last.trade_id, last.price) == (f.last_trade["t"], float(f.last_trade["p"]))
    assert all(t.exchange == "binance" and t.market == "spot" and t.source == "ws" for t in r.trades)
    assert all(t.first_id == t.last_id == t.trade_id for t in r.trades)


@pytest.mark.parametrize("rels", CAPTURES, ids=IDS)
def test_quotes_match_the_capture(rels: tuple[str, ...]) -> None:
    r, f = replay(rels), facts(rels)
    last = r.quotes[-1]
    t = f.last_ticker
    assert (last.bid, last.bid_qty, last.ask, last.ask_qty) == tuple(float(t[k]) for k in "bBaA")
    assert last.update_id == t["u"]
    assert last.ts == f.last_ticker_recv_ns // 1_000_000  # spot bookTicker has no exchange time
    assert all(a.update_id <= b.update_id for a, b in zip(r.quotes, r.quotes[1:], strict=False))


def test_btcusdt_known_numbers() -> None:
    r = replay((BTC08, BTC09))
    assert (r.records["Trade"], r.records["BookDelta"], r.records["Quote"]) == (
        9_757 + 10_147, 3_451 + 3_044, 28_040 + 45_134)
    first = r.trades[0]
    assert (first.trade_id, first.price, first.qty, first.side, first.ts) == (
        3_735_683_259, 61837.63, 0.02, "sell", 1_723_161_255_342)


def test_btc_book_chains_across_both_days_with_no_gap() -> None:
    """The 08-08 file ends at diff u=50093421584 and the 08-09 file starts at U=50093421585: one
    book, synced from the single REST snapshot in the first file, runs to the end of the second."""
    r, f = replay((BTC08, BTC09)), facts((BTC08, BTC09))
    assert r.snapshot_outcome == "synced"  # buffered diffs straddle lastUpdateId + 1
    assert r.outcomes == Counter({"buffered": 3, "applied": f.kinds["depth@100ms"] - 3})
    assert (r.book.gaps, r.book.resyncs) == (0, 0)
    assert r.book.synced and not r.book.stale
    assert set(r.outcomes_after_sync) == {"applied"} and r.crossed_after_sync == 0
    assert r.book.book.last_update_id == f.last_depth_u == 50_093_696_318
    assert [t.trade_id for t in r.trades] == list(range(3_735_683_259, 3_735_703_163))


def test_btc_rebuilt_top_of_book_equals_binance_book_ticker() -> None:
    r = replay((BTC08, BTC09))
    assert r.top_matches_ticker == 1_072 and r.top_differs_from_ticker == 0


def test_eth_book_waits_for_the_straddling_diff_then_chains() -> None:
    """ETHUSDT's snapshot (35346513512) is newer than both diffs buffered before it: the book
    holds it ("waiting") and syncs on the next diff, U=35346513513."""
    r, f = replay((ETH08,)), facts((ETH08,))
    assert f.snapshot_id == 35_346_513_512
    assert r.snapshot_outcome == "waiting"
    assert r.outcomes == Counter({"buffered": 2, "applied": f.kinds["depth@100ms"] - 2})
    assert (r.book.gaps, r.book.resyncs, r.crossed_after_sync) == (0, 0, 0)
    assert (r.top_matches_ticker, r.top_differs_from_ticker) == (577, 0)
    assert len(r.book.book.bids) > 500 and len(r.book.book.asks) > 500


def test_second_day_alone_has_no_snapshot_so_never_syncs() -> None:
    book, outcomes = run_book(book_messages(BTC09))
    assert not book.synced and book.needs_snapshot and book.gaps == 0
    assert outcomes == Counter({"buffered": 3_044})


def test_a_missing_diff_is_detected_as_one_gap() -> None:
    """The captures are gap-free; drop one diff after the sync and the book must notice once."""
    messages = book_messages(BTC08)
    book, outcomes = run_book(messages)
    assert (book.gaps, outcomes["gap"], book.synced) == (0, 0, True)
    book, outcomes = run_book(messages[:1000] + messages[1001:])
    assert (book.gaps, book.resyncs, outcomes["gap"]) == (1, 1, 1)
    assert not book.synced and book.stale and book.needs_snapshot


# =================================================================================================
# Real captures: cryptofeed 2021, tardis-node, nautilus
# =================================================================================================


@cache
def cryptofeed_events() -> list[dict[str, Any]]:
    path = real_file("captures/cryptofeed/BINANCE.jsonl.zst")
    with zstandard.ZstdDecompressor().stream_reader(path.open("rb")) as fh:
        return [json.loads(line) for line in io.TextIOWrapper(fh, encoding="utf-8")]


def test_cryptofeed_session_parses_and_syncs_four_books() -> None:
    events = cryptofeed_events()
    connect = next(e for e in events if e["t"] == "connect")
    names = connect["addr"].split("streams=")[1].split("/")
    symbols = ("NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR")
    streams = ("depth", "bookTicker", "kline_1m", "aggTrade")
    assert sorted(names) == sorted(bs.stream_names(symbols, streams))  # same spelling as cryptofeed's
    books: dict[str, SpotSequencedBook | Any] = {}
    kinds: Counter[str] = Counter()
    expected: Counter[str] = Counter()
    snapshots: Counter[str] = Counter()
    for e in sorted((e for e in events if e["t"] in ("recv", "http")), key=lambda e: e["ts"]):
        recv_ns = int(e["ts"] * 1e9)
        if e["t"] == "http" and "/api/v3/depth" in e["url"]:
            symbol = e["url"].split("symbol=")[1].split("&")[0]
            snap = bs.parse_depth_snapshot(e["data"], symbol, recv_ns)
            assert snap.last_update_id == json.loads(e["data"])["lastUpdateId"]
            snapshots[books.setdefault(symbol, make_book("rest_next")).on_snapshot(snap)] += 1
        elif e["t"] == "recv":
            expected[json.loads(e["data"])["stream"].split("@", 1)[1]] += 1
            for rec in bs.parse_message(e["data"], recv_ns):
                kinds[type(rec).__name__] += 1
                if type(rec) is BookDelta:
                    books.setdefault(rec.symbol, make_book("rest_next")).on_delta(rec)
    assert kinds == Counter({
        "BookDelta": expected["depth@100ms"], "Quote": expected["bookTicker"],
        "Candle": expected["kline_1m"], "Trade": expected["aggTrade"],
    })
    assert sum(snapshots.values()) == 4 and sorted(books) == sorted(symbols)
    for symbol, book in books.items():
        assert book.synced and (book.gaps, book.resyncs) == (0, 0), symbol
        assert not book.book.is_crossed(), symbol


def test_cryptofeed_aggtrade_and_kline_fields() -> None:
    recv = [e["data"] for e in cryptofeed_events() if e["t"] == "recv"]
    agg_raw = next(r for r in recv if "nknusdt@aggTrade" in r)
    kline_raw = next(r for r in recv if "nknusdt@kline_1m" in r)
    t, d = one(agg_raw), json.loads(agg_raw)["data"]
    assert t == Trade("binance", "spot", "NKNUSDT", d["a"], float(d["p"]), float(d["q"]), "buy", d["T"],
                      t.recv_ns, d["f"], d["l"], "ws")
    k, kd = one(kline_raw), json.loads(kline_raw)["data"]["k"]
    assert (k.interval, k.open_ts, k.close_ts, k.trade_count, k.closed) == ("1m", kd["t"], kd["T"], kd["n"], False)
    assert (k.open, k.close, k.volume, k.quote_volume) == tuple(float(kd[x]) for x in "ocvq")
    assert k.taker_buy_volume == float(kd["V"]) and k.market == "spot"


def test_cryptofeed_exchange_info_gives_instruments() -> None:
    http = next(e for e in cryptofeed_events() if e["t"] == "http" and "exchangeInfo" in e["url"])
    raw = json.loads(http["data"])
    instruments = bs.parse_instruments(http["data"])
    assert len(instruments) == len(raw["symbols"]) == 1_695
    nkn = instruments["NKNUSDT"]
    assert nkn == Instrument("NKNUSDT", "NKNUSDT", 0.0001, 1.0, 1.0, "TRADING")
    assert instruments["RUNEEUR"].tick_size == 0.001 and instruments["RUNEEUR"].step_size == 0.1
    assert Counter(i.status for i in instruments.values()) == Counter(s["status"] for s in raw["symbols"])
    assert all(i.contract_size == 1.0 for i in instruments.values())


def test_cryptofeed_rest_file_snapshots_parse() -> None:
    lines = real_file("captures/cryptofeed/rest/BINANCE.http.0.0").read_text().splitlines()
    for line in filter(None, lines):
        url, _, rest = line.partition(" -> ")
        ts, _, body = rest.partition(": ")
        snap = bs.parse_depth_snapshot(body, url.split("symbol=")[1].split("&")[0], int(float(ts) * 1e9))
        doc = json.loads(body)
        assert (snap.last_update_id, len(snap.bids), len(snap.asks)) == (
            doc["lastUpdateId"], len(doc["bids"]), len(doc["asks"]))
        assert snap.bids[0] == (float(doc["bids"][0][0]), float(doc["bids"][0][1]))
        assert snap.ts == int(float(ts) * 1e9) // 1_000_000  # no time in spot snapshots: receive time


def test_tardis_node_spot_samples() -> None:
    """tardis-node's 2019 spot messages: ``trade`` still had ``b``/``a`` order ids (ignored);
    ``depthSnapshot`` lines are tardis' own synthetic REST wrappers, not Binance frames."""
    lines = real_file("samples/tardis-node/binance_messages.jsonl").read_text().splitlines()
    got: Counter[str] = Counter()
    unknown = 0
    for line in filter(None, lines):
        try:
            for rec in parse(line):
                got[type(rec).__name__] += 1
        except UnknownMessage:
            unknown += 1
    assert got == Counter({"Trade": 2, "Quote": 1, "Ticker24h": 1, "BookDelta": 4}) and unknown == 2
    ticker_line = next(x for x in lines if "24hrTicker" in x)
    t, d = one(ticker_line), json.loads(ticker_line)["data"]
    assert (t.symbol, t.last, t.open, t.high, t.low) == ("DOGEBNB", *(float(d[x]) for x in "cohl"))
    assert (t.volume, t.quote_volume, t.price_change_pct, t.trade_count, t.ts) == (
        float(d["v"]), float(d["q"]), float(d["P"]), d["n"], d["E"])


def _nautilus(name: str) -> Any:
    return json.loads(real_file(f"{NAUTILUS}/{name}").read_text())


def test_nautilus_rest_fixtures() -> None:
    snap = bs.parse_depth_snapshot(_nautilus("depth_response.json"), "BNBBTC", 7_000_000)
    assert snap == BookSnapshot("binance", "spot", "BNBBTC", 1027024, [(4.0, 431.0)], [(4.000002, 12.0)], 7, 7_000_000)
    tick = bs.parse_ticker_24h(_nautilus("ticker_24hr_response.json"), 1)
    assert (tick.symbol, tick.last, tick.open, tick.price_change_pct, tick.trade_count, tick.ts) == (
        "BNBBTC", 4.000002, 99.0, -95.96, 76, 1499869899040)
    (trade,) = bs.parse_historical_trades(_nautilus("trades_response.json"), "BNBBTC", 1)
    assert (trade.trade_id, trade.price, trade.qty, trade.side, trade.source) == (28457, 4.000001, 12.0, "sell", "rest")
    (bar,) = bs.parse_klines(_nautilus("klines_response.json"), "ETHBTC", "1d", 1, now_ms=1499644800000)
    assert (bar.open_ts, bar.close, bar.trade_count, bar.closed) == (1499040000000, 0.015771, 308, True)
    with pytest.raises(ParseError, match=r"exchangeInfo symbols\[0\].*PRICE_FILTER"):
        bs.parse_instruments(_nautilus("exchange_info_response.json"))  # the docs' example has no filters


# =================================================================================================
# Edge cases
# =================================================================================================

TRADE = (
    '{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,'
    '"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}}'
)
BOOK_TICKER = (
    '{"stream":"btcusdt@bookTicker","data":{"u":50093239212,"s":"BTCUSDT","b":"61837.63000000",'
    '"B":"3.78826000","a":"61837.64000000","A":"1.54698000"}}'
)
DEPTH = (
    '{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161255308,"s":"BTCUSDT",'
    '"U":50093239203,"u":50093239207,"b":[["55653.87000000","0.00000000"]],"a":[["61838.04000000",'
    '"0.32332000"],["61844.30000000","0.40163000"]]}}'
)


def test_frames_parse_to_exact_records() -> None:
    assert one(TRADE) == Trade("binance", "spot", "BTCUSDT", 3735683259, 61837.63, 0.02, "sell",
                               1723161255342, 1_723_161_600_000_000_000, 3735683259, 3735683259, "ws")
    assert one(BOOK_TICKER, 1_723_161_254_087_891_268) == Quote(
        "binance", "spot", "BTCUSDT", 61837.63, 3.78826, 61837.64, 1.54698, 50093239212,
        1_723_161_254_087, 1_723_161_254_087_891_268)
    assert one(DEPTH) == BookDelta("binance", "spot", "BTCUSDT", 50093239203, 50093239207, -1,
                                   [(55653.87, 0.0)], [(61838.04, 0.32332), (61844.3, 0.40163)],
                                   1723161255308, 1_723_161_600_000_000_000)


def test_bare_events_and_event_arrays_parse_too() -> None:
    bare = json.dumps(json.loads(TRADE)["data"])
    assert one(bare) == one(TRADE)
    arr = json.dumps([json.loads(TRADE)["data"], json.loads(BOOK_TICKER)["data"]])
    assert [type(r) for r in parse(arr)] == [Trade, Quote]


def test_book_ticker_takes_an_exchange_time_when_one_is_sent() -> None:
    d = json.loads(BOOK_TICKER)["data"] | {"e": "bookTicker", "E": 1723161255000, "T": 1723161254999}
    assert one(json.dumps(d)).ts == 1723161254999


@pytest.mark.parametrize("frame", [
    '{"result":null,"id":1}',
    '{"result":["btcusdt@trade","btcusdt@depth@100ms"],"id":3}',
    '{"result":true,"id":"abc"}',
    '{"e":"serverShutdown","E":1770123456789}',
    '{"stream":"btcusdt@trade","data":{"e":"serverShutdown","E":1770123456789}}',
])
def test_control_frames_give_no_records(frame: str) -> None:
    assert parse(frame) == []


@pytest.mark.parametrize("frame", [
    '{"code":2,"msg":"Invalid request: unknown variant `FOO`","id":7}',
    '{"code":3,"msg":"Invalid JSON: expected value at line 1 column 1"}',
    '{"error":{"code":2,"msg":"Invalid request: request ID must be an unsigned integer"},"id":null}',
])
def test_error_replies_raise_venue_error(frame: str) -> None:
    with pytest.raises(VenueError, match="binance_spot error reply"):
        parse(frame)
    with pytest.raises(UnknownMessage):  # a caller that only knows UnknownMessage still skips it
        parse(frame)


@pytest.mark.parametrize("frame", [
    '{"stream":"btcusdt@avgPrice","data":{"e":"avgPrice","E":1,"s":"BTCUSDT","i":"5m","w":"1","T":1}}',
    '{"stream":"btcusdt@depth5","data":{"lastUpdateId":160,"bids":[],"asks":[]}}',
    '{"hello":"world"}',
])
def test_unknown_kinds_raise_unknown_message(frame: str) -> None:
    with pytest.raises(UnknownMessage) as info:
        parse(frame)
    assert not isinstance(info.value, VenueError)


@pytest.mark.parametrize(("frame", "match"), [
    (TRADE[:57], "bad JSON"),
    ('"just a string"', "expected a JSON object"),
    (TRADE.replace('"p":"61837.63000000",', ""), r"binance_spot trade: missing or invalid field 'p'"),
    (TRADE.replace('"t":3735683259', '"t":"3735683259"'), r"binance_spot trade: ill-typed field"),
    (TRADE.replace('"m":true', '"m":null'), r"binance_spot trade: missing or invalid field None"),
    (BOOK_TICKER.replace('"u":50093239212,', ""), r"binance_spot bookTicker: missing or invalid field 'u'"),
    (BOOK_TICKER.replace('"3.78826000"', '"abc"'), r"binance_spot bookTicker: ill-typed field"),
    (DEPTH.replace('"U":50093239203,', ""), r"binance_spot depthUpdate: missing or invalid field 'U'"),
    (DEPTH.replace('["55653.87000000","0.00000000"]', '["55653.87000000"]'), r"binance_spot depthUpdate"),
    ('{"e":"kline","E":1,"s":"X","k":{"t":1}}', r"binance_spot kline: missing or invalid field"),
    ('{"e":"24hrTicker","E":1,"s":"X"}', r"binance_spot 24hrTicker: missing or invalid field"),
    ('{"e":"aggTrade","E":1,"s":"X","a":1}', r"binance_spot aggTrade: missing or invalid field"),
])
def test_broken_frames_raise_parse_error_naming_kind_and_field(frame: str, match: str) -> None:
    with pytest.raises(ParseError, match=match):
        parse(frame)


def test_rest_parsers_name_what_is_broken() -> None:
    with pytest.raises(ParseError, match="binance_spot depth snapshot: missing or invalid field 'bids'"):
        bs.parse_depth_snapshot('{"lastUpdateId":1,"asks":[]}', "BTCUSDT", 1)
    with pytest.raises(ParseError, match=r"binance_spot aggTrades\[1\]"):
        bs.parse_agg_trades([{"a": 1, "p": "1", "q": "1", "f": 1, "l": 1, "T": 1, "m": True}, {"a": 2}], "X", 1)
    with pytest.raises(ParseError, match="bad JSON"):
        bs.parse_instruments(b'{"symbols":[')


def test_reused_usdm_functions_keep_their_own_market() -> None:
    """The spot handlers run binance_usdm's code with spot's names; usdm itself is untouched."""
    usdm = binance_usdm.parse_message(TRADE, 1)[0]
    spot = one(TRADE, 1)
    assert (usdm.market, spot.market) == ("usdm", "spot") and usdm[2:] == spot[2:]
    with pytest.raises(ParseError, match="^binance_usdm aggTrades"):
        binance_usdm.parse_agg_trades([{}], "X", 1)


def test_symbol_mapping_both_ways() -> None:
    assert bs.to_venue("BTCUSDT") == "BTCUSDT" and bs.to_venue("btcusdt") == "BTCUSDT"
    assert bs.from_venue("ETHBTC") == "ETHBTC" and bs.from_venue("ethbtc") == "ETHBTC"
    assert PROTO.to_venue("1000SATSUSDT") == "1000SATSUSDT"
    for bad in ("BTC-USDT", "BTC_USDT", "", "BTC/USDT", "BTCÜSDT"):
        with pytest.raises(ValueError, match="not a Binance symbol"):
            bs.to_venue(bad)
    assert one(TRADE).symbol == "BTCUSDT"  # records carry the flowdesk symbol


def test_quantities_are_base_units_whatever_the_instruments() -> None:
    """Spot has no contracts: contract size 1, and the parser ignores the instruments map."""
    instruments = {"BTCUSDT": Instrument("BTCUSDT", "BTCUSDT", 0.01, 0.00001, 1.0, "TRADING")}
    assert PROTO.make_parser(instruments) is bs.parse_message and PROTO.make_parser({}) is bs.parse_message
    assert PROTO.make_parser(instruments)(TRADE, 1)[0].qty == 0.02 == PROTO.make_parser({})(TRADE, 1)[0].qty


def test_tickers_are_full_snapshots_not_deltas() -> None:
    base = {"e": "24hrTicker", "E": 1, "s": "BTCUSDT", "c": "10", "o": "9", "h": "11", "l": "8",
            "v": "100", "q": "1000", "P": "11.111", "n": 5}
    first, second = one(json.dumps(base)), one(json.dumps(base | {"E": 2, "c": "10.5", "n": 6}))
    assert (first.last, first.trade_count, second.last, second.trade_count) == (10.0, 5, 10.5, 6)
    assert second.high == 11.0  # every frame carries every field: nothing to merge
    with pytest.raises(ParseError):
        parse(json.dumps({k: v for k, v in base.items() if k != "h"}))


Levels = tuple[tuple[float, float], ...]


def _delta(first: int, last: int, bids: Levels = (), asks: Levels = ()) -> BookDelta:
    return BookDelta("binance", "spot", "BTCUSDT", first, last, -1, list(bids), list(asks), 0, last)


def test_snapshot_then_delta_sequencing_under_rest_next() -> None:
    book = make_book(PROTO.book)
    assert isinstance(book, SpotSequencedBook) and book.needs_snapshot
    assert book.on_delta(_delta(8, 10, bids=[(99.0, 1.0)])) == "buffered"
    assert book.on_delta(_delta(11, 13, asks=[(101.0, 2.0)])) == "buffered"
    snap = BookSnapshot("binance", "spot", "BTCUSDT", 12, [(100.0, 1.0)], [(101.0, 1.0)], 0, 0)
    assert book.on_snapshot(snap) == "synced"  # 11 <= 12 + 1 <= 13: the second diff straddles
    assert book.book.asks == {101.0: 2.0} and book.book.bids == {100.0: 1.0}  # 8-10 was dropped
    assert book.on_delta(_delta(14, 14, bids=[(100.0, 0.0)])) == "applied"
    assert book.book.bids == {} and book.book.last_update_id == 14
    assert book.on_delta(_delta(16, 17)) == "gap"  # 15 is missing
    assert (book.gaps, book.resyncs, book.synced, book.stale) == (1, 1, False, True)
    late = BookSnapshot("binance", "spot", "BTCUSDT", 15, [(100.0, 3.0)], [(102.0, 1.0)], 0, 0)
    assert book.on_snapshot(late) == "synced" and book.book.last_update_id == 17


def test_a_snapshot_older_than_the_buffer_asks_for_another() -> None:
    book = make_book("rest_next")
    book.on_delta(_delta(20, 25))
    old = BookSnapshot("binance", "spot", "BTCUSDT", 10, [], [], 0, 0)
    assert book.on_snapshot(old) == "gap" and book.needs_snapshot


# =================================================================================================
# The protocol description
# =================================================================================================


def test_protocol_is_complete_and_registered() -> None:
    assert protocol("binance_spot") is PROTO
    assert (PROTO.exchange, PROTO.market) == VENUE_IDS["binance_spot"] == ("binance", "spot")
    assert PROTO.streams == {"trade", "aggTrade", "bookTicker", "depth", "kline_1m", "ticker"}
    assert set(PROTO.default_streams) <= PROTO.streams
    assert (PROTO.ws_url, PROTO.rest_url) == ("wss://stream.binance.com:9443", "https://api.binance.com")
    assert PROTO.book == "rest_next" and PROTO.book_stream == "depth"
    assert PROTO.resubscribe is None and PROTO.ping is None
    assert PROTO.snapshot is not None and PROTO.snapshot.params("BTCUSDT") == {"symbol": "BTCUSDT", "limit": 1000}
    assert [p.path for p in PROTO.polls] == ["/api/v3/ticker/24hr"] and PROTO.polls[0].every == "ticker_poll_s"
    assert PROTO.instruments is not None and PROTO.instruments[:2] == ("GET", "/api/v3/exchangeInfo")
    assert PROTO.trades_by_id is bs.TRADE_BACKFILLS["aggTrade"] and "aggTrade" in PROTO.default_streams
    assert {s: b.stream for s, b in bs.TRADE_BACKFILLS.items()} == {"aggTrade": "aggTrade", "trade": "trade"}
    assert PROTO.contiguous_trade_ids and PROTO.handshake is None
    assert (PROTO.weight_header, PROTO.max_weight_per_minute) == ("x-mbx-used-weight-1m", 6000)
    assert PROTO.taker_fee_bps == 10.0
    assert set(PROTO.unavailable) == {"MarkFunding", "OpenInterest", "Liquidation"}
    assert all(len(why) > 20 for why in PROTO.unavailable.values())
    assert PROTO.docs.startswith("https://developers.binance.com/docs/binance-spot-api-docs")


def test_ws_target_names_every_stream_in_the_url() -> None:
    url = PROTO.ws_target("wss://stream.binance.com:9443/", ("BTCUSDT", "ETHUSDT"), ("trade", "depth", "ticker"))
    assert url == ("wss://stream.binance.com:9443/stream?streams=btcusdt@trade/btcusdt@depth@100ms/"
                   "btcusdt@ticker/ethusdt@trade/ethusdt@depth@100ms/ethusdt@ticker")
    assert PROTO.subscribe(("BTCUSDT",), ("trade",)) == []
    with pytest.raises(ValueError, match="unknown binance_spot streams"):
        PROTO.ws_target("wss://x", ("BTCUSDT",), ("markPrice",))
    with pytest.raises(ValueError, match="1024 per connection"):
        PROTO.ws_target("wss://x", tuple(f"S{i}USDT" for i in range(206)), PROTO.default_streams[:1] * 5)
    assert PROTO.url_for is not None
    settings = SimpleNamespace(ws_url="wss://h", symbols=["BTCUSDT"], streams=["depth", "trade"], depth_speed_ms=1000)
    assert PROTO.url_for(settings) == "wss://h/stream?streams=btcusdt@depth/btcusdt@trade"
    settings.depth_speed_ms = 100
    assert PROTO.url_for(settings) == "wss://h/stream?streams=btcusdt@depth@100ms/btcusdt@trade"
    settings.depth_speed_ms = 250  # a USD-M speed spot does not offer
    with pytest.raises(ValueError, match="depth_speed_ms must be one of"):
        PROTO.url_for(settings)
    msg = json.loads(bs.subscribe_message(["BTCUSDT"], ["bookTicker", "kline_1m"], request_id=9))
    assert msg == {"method": "SUBSCRIBE", "params": ["btcusdt@bookTicker", "btcusdt@kline_1m"], "id": 9}
    assert json.loads(bs.unsubscribe_message(["BTCUSDT"], ["trade"]))["method"] == "UNSUBSCRIBE"


@pytest.mark.parametrize(("path", "params", "weight"), [
    ("/api/v3/depth", {"symbol": "BTCUSDT", "limit": 1000}, 50),
    ("/api/v3/depth", {"symbol": "BTCUSDT"}, 5),
    ("/api/v3/depth", {"symbol": "BTCUSDT", "limit": 500}, 25),
    ("/api/v3/depth", {"symbol": "BTCUSDT", "limit": 5000}, 250),
    ("/api/v3/exchangeInfo", {"showPermissionSets": "false"}, 20),
    ("/api/v3/ticker/24hr", {"symbol": "BTCUSDT"}, 2),
    ("/api/v3/ticker/24hr", {}, 80),
    ("/api/v3/ticker/24hr", {"symbols": '["BTCUSDT","ETHUSDT"]'}, 2),
    ("/api/v3/ticker/24hr", {"symbols": [f"S{i}" for i in range(50)]}, 40),
    ("/api/v3/aggTrades", {"symbol": "BTCUSDT", "fromId": 1, "limit": 1000}, 4),
    ("/api/v3/historicalTrades", {"symbol": "BTCUSDT", "fromId": 1}, 25),
    ("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1m"}, 2),
])
def test_request_weights(path: str, params: dict[str, Any], weight: int) -> None:
    assert PROTO.request_weight(path, params) == weight


def test_an_unknown_path_has_no_weight() -> None:
    with pytest.raises(ValueError, match="no request weight"):
        PROTO.request_weight("/api/v3/order", {})


# =================================================================================================
# The simulator
# =================================================================================================

SIM = sim_mod.SIMS["binance_spot"]
T0 = 1_723_161_600_000


class FakeCtx:
    """The server's side of the contract: a book per symbol, the newest event per kind, trades
    and candles, all fed by :meth:`apply` as the neutral events are produced."""

    def __init__(self, symbols: list[str]) -> None:
        self.symbols = symbols
        self.ws_url, self.rest_url = "ws://127.0.0.1:1", "http://127.0.0.1:1"
        self.clock = T0
        self.books: dict[str, tuple[dict[float, float], dict[float, float]]] = {s: ({}, {}) for s in symbols}
        self.seq: dict[str, int] = dict.fromkeys(symbols, 0)
        self.newest: dict[tuple[str, str], Record] = {}
        self.all_trades: dict[str, list[Trade]] = {s: [] for s in symbols}
        self.all_candles: dict[str, list[Candle]] = {s: [] for s in symbols}

    def spec(self, symbol: str) -> Any:
        return spec_for(symbol)

    def now_ms(self) -> int:
        return self.clock

    def book(self, symbol: str, depth: int) -> FakeBook:
        bids, asks = self.books[symbol]
        return FakeBook(self.seq[symbol], sorted(bids.items(), reverse=True)[:depth], sorted(asks.items())[:depth])

    def latest(self, symbol: str, kind: str) -> Record | None:
        return self.newest.get((symbol, kind))

    def trades(self, symbol: str, from_id: int | None, limit: int) -> list[Trade]:
        rows = self.all_trades[symbol]
        return rows[from_id - 1: from_id - 1 + limit] if from_id is not None else rows[-limit:]

    def candles(self, symbol: str, limit: int) -> list[Record]:
        return list(self.all_candles[symbol][-limit:])

    def apply(self, event: Record) -> None:
        self.clock = max(self.clock, event.ts)
        self.newest[(event.symbol, type(event).__name__)] = event
        if type(event) is BookDelta:
            bids, asks = self.books[event.symbol]
            for side, levels in ((bids, event.bids), (asks, event.asks)):
                for p, q in levels:
                    if q:
                        side[p] = q
                    else:
                        side.pop(p, None)
            self.seq[event.symbol] = event.last_update_id
        elif type(event) is Trade:
            self.all_trades[event.symbol].append(event)
        elif type(event) is Candle:
            self.all_candles[event.symbol].append(event)


def market(symbol: str = "BTCUSDT", n: int = 400, seed: int = 3) -> list[Record]:
    """A small neutral market: book changes counted by ``n``, trades with ids from 1, quotes,
    a 24h ticker and 1m candles, all on the symbol's price and lot grid."""
    rng = random.Random(seed)
    spec = spec_for(symbol)
    tick = spec.tick_units / 10**spec.price_decimals
    step = spec.step_units / 10**spec.qty_decimals
    mid, out, trade_id, ts = spec.start_price, [], 0, T0
    for i in range(n):
        ts += rng.randint(1, 40)
        seq = i + 1
        side = rng.choice(("bids", "asks"))
        offset = rng.randint(1, 25) * tick
        p = round(mid - offset if side == "bids" else mid + offset, spec.price_decimals)
        q = 0.0 if i > 60 and rng.random() < 0.25 else round(rng.randint(1, 5000) * step, spec.qty_decimals)
        levels = [(p, q)]
        out.append(BookDelta("binance", "spot", symbol, seq, seq, seq - 1,
                             levels if side == "bids" else [], levels if side == "asks" else [], ts, 0))
        if i % 3 == 0:
            trade_id += 1
            price_ = round(mid + rng.choice((-1, 1)) * tick, spec.price_decimals)
            size = round(rng.randint(1, 900) * step, spec.qty_decimals)
            out.append(Trade("binance", "spot", symbol, trade_id, price_, size,
                             rng.choice(("buy", "sell")), ts, 0, trade_id, trade_id, "ws"))
        if i % 5 == 0:
            bid, ask = round(mid - tick, spec.price_decimals), round(mid + tick, spec.price_decimals)
            out.append(Quote("binance", "spot", symbol, bid, 1.5, ask, 0.25, seq, ts, 0))
    def px(k: int) -> float:
        return round(mid + k * tick, spec.price_decimals)

    out.append(Ticker24h("binance", "spot", symbol, px(1), px(-50), px(90), px(-80),
                         1234.567, 1234.567 * mid, 1.234, trade_id, ts, 0))
    out.append(Candle("binance", "spot", symbol, "1m", T0, T0 + 59_999, px(0), px(3), px(-2), px(1),
                      12.345, 12.345 * mid, trade_id, 6.5, True, T0 + 60_000, 0))
    return out


def _parsed(frames: list[tuple[Any, str]]) -> list[Record]:
    return [rec for _, text in frames for rec in bs.parse_message(text, 5)]


def test_sim_trades_round_trip_on_trade_and_agg_trade() -> None:
    ctx = FakeCtx(["BTCUSDT"])
    for event in market():
        ctx.apply(event)
        if type(event) is not Trade:
            continue
        frames = SIM.encode(event, ctx)
        assert [topic for topic, _ in frames] == [("trade", "BTCUSDT"), ("aggTrade", "BTCUSDT")]
        assert [json.loads(text)["stream"] for _, text in frames] == ["btcusdt@trade", "btcusdt@aggTrade"]
        for rec in _parsed(frames):
            assert rec == event._replace(recv_ns=5)


def test_sim_quotes_deltas_tickers_candles_round_trip() -> None:
    ctx = FakeCtx(["BTCUSDT"])
    seen: Counter[str] = Counter()
    for event in market():
        ctx.apply(event)
        frames = SIM.encode(event, ctx)
        if type(event) is Trade:
            continue
        (rec,) = _parsed(frames)
        seen[type(rec).__name__] += 1
        if type(event) is Quote:
            assert rec == event._replace(ts=0, recv_ns=5)  # no exchange time on the wire: 5 ns -> 0 ms
        elif type(event) is BookDelta:
            assert rec == event._replace(prev_update_id=-1, recv_ns=5)  # spot diffs carry no pu
        elif type(event) is Ticker24h:
            assert rec._replace(quote_volume=0.0) == event._replace(quote_volume=0.0, recv_ns=5)
            assert rec.quote_volume == pytest.approx(event.quote_volume)
        elif type(event) is Candle:
            assert rec._replace(quote_volume=0.0) == event._replace(quote_volume=0.0, recv_ns=5)
            assert rec.quote_volume == pytest.approx(event.quote_volume)
            kline = json.loads(frames[0][1])["data"]["k"]
            assert kline["L"] == ctx.all_trades["BTCUSDT"][-1].trade_id and kline["n"] == event.trade_count
    assert seen == Counter({"BookDelta": 400, "Quote": 80, "Ticker24h": 1, "Candle": 1})


def test_sim_publishes_nothing_spot_does_not_have() -> None:
    ctx = FakeCtx(["BTCUSDT"])
    assert SIM.encode(MarkFunding("binance", "spot", "BTCUSDT", 1.0, 1.0, 0.0001, T0, T0, 0), ctx) == []
    assert SIM.encode(OpenInterest("binance", "spot", "BTCUSDT", 1.0, None, T0, 0), ctx) == []
    liquidation = Liquidation("binance", "spot", "BTCUSDT", "sell", 1.0, None, 1.0, None, "FILLED", T0, 0)
    assert SIM.encode(liquidation, ctx) == []
    five = Candle("binance", "spot", "BTCUSDT", "5m", T0, T0 + 299_999, 1, 1, 1, 1, 0, 0, 0, 0, False, T0, 0)
    assert SIM.encode(five, ctx) == []


def test_sim_rest_snapshot_and_stream_diffs_sync_and_chain() -> None:
    """A client buffers the SIM's diffs, takes the SIM's REST snapshot midway (as the feed does
    with the protocol's snapshot call), and must end with exactly the server's book."""
    ctx = FakeCtx(["BTCUSDT"])
    book = make_book(PROTO.book)
    assert PROTO.snapshot is not None
    outcomes: Counter[str] = Counter()
    for i, event in enumerate(market(n=600)):
        ctx.apply(event)
        for rec in _parsed(SIM.encode(event, ctx)):
            if type(rec) is BookDelta:
                outcomes[book.on_delta(rec)] += 1
        if i == 150:  # the snapshot is taken while diffs keep coming
            query = {k: str(v) for k, v in PROTO.snapshot.params(PROTO.to_venue("BTCUSDT")).items()}
            status, body = SIM.rest("GET", PROTO.snapshot.path, query, ctx)
            assert status == 200 and body["lastUpdateId"] == ctx.seq["BTCUSDT"]
            (snap,) = PROTO.snapshot.parse(orjson.dumps(body), "BTCUSDT", 7, {})
            outcomes[book.on_snapshot(snap)] += 1
    assert outcomes["gap"] == 0 and book.gaps == 0 and book.synced
    assert outcomes["waiting"] + outcomes["synced"] == 1
    bids, asks = ctx.books["BTCUSDT"]
    assert book.book.bids == bids and book.book.asks == asks
    assert book.book.last_update_id == ctx.seq["BTCUSDT"]


def test_sim_stream_url_subscribes_on_open() -> None:
    ctx, client = FakeCtx(["BTCUSDT", "ETHUSDT"]), FakeClient()
    url = PROTO.ws_target("ws://127.0.0.1:1", ("BTCUSDT", "ETHUSDT"), ("trade", "depth", "bookTicker"))
    path, _, query = url.partition("://")[2].partition("/")[2].partition("?")
    assert "/" + path in SIM.ws_paths
    assert SIM.on_open(client, "/" + path, dict([query.split("=", 1)]), ctx) == []
    assert client.topics == {(c, s) for c in ("trade", "depth", "bookTicker") for s in ("BTCUSDT", "ETHUSDT")}
    (reply,) = SIM.on_message(client, '{"method":"GET_PROPERTY","params":["combined"],"id":1}', ctx)
    assert json.loads(reply) == {"result": True, "id": 1}


def test_sim_stream_names_and_topics() -> None:
    assert sim_mod.stream_topic("btcusdt@depth@100ms") == ("depth", "BTCUSDT")
    assert sim_mod.stream_topic("btcusdt@depth") == ("depth", "BTCUSDT")  # 1000 ms: same diffs
    assert sim_mod.stream_topic("ETHUSDT@aggtrade") == ("aggTrade", "ETHUSDT")
    assert sim_mod.stream_topic("btcusdt@markPrice") is None and sim_mod.stream_topic("@trade") is None
    for setting, template in bs.CHANNELS.items():
        name = template.format(s="solusdt", speed="@100ms")
        assert sim_mod.stream_topic(name) == (setting, "SOLUSDT")
        assert sim_mod.topic_stream((setting, "SOLUSDT")) == name


def test_sim_ws_live_subscribe_unsubscribe_list_and_properties() -> None:
    ctx, client = FakeCtx(["BTCUSDT"]), FakeClient()
    assert SIM.on_open(client, "/ws", {}, ctx) == [] and client.topics == set()
    sub = bs.subscribe_message(["BTCUSDT"], ["aggTrade", "depth"], request_id=4)
    (reply,) = SIM.on_message(client, sub, ctx)
    assert json.loads(reply) == {"result": None, "id": 4} and bs.parse_message(reply, 1) == []
    assert client.topics == {("aggTrade", "BTCUSDT"), ("depth", "BTCUSDT")}
    (reply,) = SIM.on_message(client, '{"method":"SUBSCRIBE","params":["btcusdt@avgPrice"],"id":5}', ctx)
    assert json.loads(reply)["result"] is None and len(client.topics) == 2  # accepted, no data
    (listing,) = SIM.on_message(client, '{"method":"LIST_SUBSCRIPTIONS","id":6}', ctx)
    assert json.loads(listing)["result"] == ["btcusdt@aggTrade", "btcusdt@depth@100ms", "btcusdt@avgPrice"]
    (reply,) = SIM.on_message(client, bs.unsubscribe_message(["BTCUSDT"], ["depth"], request_id=7), ctx)
    assert json.loads(reply) == {"result": None, "id": 7} and client.topics == {("aggTrade", "BTCUSDT")}
    (reply,) = SIM.on_message(client, '{"method":"SET_PROPERTY","params":["combined",true],"id":8}', ctx)
    assert json.loads(reply) == {"result": None, "id": 8} and client.state["combined"] is True


@pytest.mark.parametrize(("text", "code", "msg"), [
    ("ping", 3, "Invalid JSON"),  # keep-alive is WebSocket ping frames, not text
    ('{"method":"SUBSCRIBE"', 3, "Invalid JSON"),
    ("[1,2]", 2, "Invalid request"),
    ('{"params":["btcusdt@trade"],"id":1}', 2, "missing field `method`"),
    ('{"method":"SUBSCRIBE","params":["btcusdt@trade"]}', 2, "request ID must be an unsigned integer"),
    ('{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":[1]}', 2, "request ID"),
    ('{"method":"FOO","params":[],"id":1}', 2, "unknown variant `FOO`"),
    ('{"method":"SUBSCRIBE","params":"btcusdt@trade","id":1}', 1, "Invalid value type"),
    ('{"method":"SET_PROPERTY","params":["colour",true],"id":1}', 0, "Unknown property"),
    ('{"method":"SET_PROPERTY","params":["combined","yes"],"id":1}', 1, "expected Boolean"),
])
def test_sim_answers_bad_requests_with_binance_errors(text: str, code: int, msg: str) -> None:
    ctx, client = FakeCtx(["BTCUSDT"]), FakeClient()
    SIM.on_open(client, "/ws", {}, ctx)
    (reply,) = SIM.on_message(client, text, ctx)
    body = json.loads(reply)
    assert body["code"] == code and msg in body["msg"] and "id" in body
    with pytest.raises(VenueError):
        bs.parse_message(reply, 1)
    assert client.topics == set()


def _rest(path: str, params: dict[str, Any], ctx: FakeCtx, method: str = "GET") -> tuple[int, Any]:
    status, body = SIM.rest(method, path, {k: str(v) for k, v in params.items()}, ctx)
    return status, orjson.loads(orjson.dumps(body))  # through JSON, as on the wire


@pytest.fixture
def busy_ctx() -> FakeCtx:
    ctx = FakeCtx(["BTCUSDT", "ETHUSDT"])
    for symbol in ctx.symbols:
        for event in market(symbol):
            ctx.apply(event)
    return ctx


def test_sim_rest_answers_every_call_of_the_protocol(busy_ctx: FakeCtx) -> None:
    ctx = busy_ctx
    assert PROTO.snapshot is not None and PROTO.instruments is not None
    method, path, params, parse_instruments = PROTO.instruments
    status, body = _rest(path, params, ctx, method)
    assert status == 200 and body["symbols"][0]["permissionSets"] == []
    instruments = parse_instruments(body)
    assert instruments == {
        "BTCUSDT": Instrument("BTCUSDT", "BTCUSDT", 0.1, 0.001, 1.0, "TRADING"),
        "ETHUSDT": Instrument("ETHUSDT", "ETHUSDT", 0.01, 0.001, 1.0, "TRADING"),
    }
    for call in (PROTO.snapshot, *PROTO.polls):
        status, body = _rest(call.path, call.params("BTCUSDT"), ctx, call.method)
        assert status == 200
        (rec,) = call.parse(body, "BTCUSDT", 9, instruments)
        if type(rec) is BookSnapshot:
            assert rec.last_update_id == ctx.seq["BTCUSDT"] and len(rec.bids) == len(ctx.books["BTCUSDT"][0])
        else:
            want = ctx.latest("BTCUSDT", "Ticker24h")
            assert rec._replace(quote_volume=0.0) == want._replace(quote_volume=0.0, recv_ns=9)
            assert body["lastId"] == ctx.all_trades["BTCUSDT"][-1].trade_id and body["count"] == want.trade_count
    for stream, backfill in bs.TRADE_BACKFILLS.items():
        status, body = _rest(backfill.path, backfill.params("BTCUSDT", 40, backfill.limit), ctx)
        assert status == 200
        trades = backfill.parse(body, "BTCUSDT", 9, instruments)
        want = ctx.all_trades["BTCUSDT"][39:]
        assert [t._replace(recv_ns=0, source="ws") for t in trades] == want, stream
        assert all(t.source == "rest" for t in trades)


def test_sim_rest_other_paths_and_errors(busy_ctx: FakeCtx) -> None:
    ctx = busy_ctx
    assert _rest("/api/v3/ping", {}, ctx) == (200, {})
    assert _rest("/api/v3/time", {}, ctx) == (200, {"serverTime": ctx.clock})
    status, rows = _rest("/api/v3/klines", {"symbol": "ETHUSDT", "interval": "1m", "limit": 10}, ctx)
    (bar,) = bs.parse_klines(rows, "ETHUSDT", "1m", 1, now_ms=ctx.clock + 1)
    want = ctx.all_candles["ETHUSDT"][-1]
    assert (bar.open_ts, bar.close, bar.volume, bar.trade_count, bar.closed) == (
        want.open_ts, want.close, want.volume, want.trade_count, True)
    status, tickers = _rest("/api/v3/ticker/24hr", {}, ctx)
    assert status == 200 and [t["symbol"] for t in tickers] == ["BTCUSDT", "ETHUSDT"]
    status, newest = _rest("/api/v3/aggTrades", {"symbol": "BTCUSDT", "limit": 3}, ctx)
    assert [t["a"] for t in newest] == [t.trade_id for t in ctx.all_trades["BTCUSDT"][-3:]]
    status, deep = _rest("/api/v3/depth", {"symbol": "BTCUSDT", "limit": 9999}, ctx)
    assert status == 200  # above 5000 Binance truncates instead of failing
    for path, params, code in [
        ("/api/v3/depth", {}, -1102),
        ("/api/v3/depth", {"symbol": "XRPUSDT"}, -1121),
        ("/api/v3/depth", {"symbol": "btcusdt"}, -1121),
        ("/api/v3/depth", {"symbol": "BTCUSDT", "limit": "ten"}, -1100),
        ("/api/v3/aggTrades", {"symbol": "BTCUSDT", "limit": 1001}, -1130),
        ("/api/v3/aggTrades", {"symbol": "BTCUSDT", "fromId": "-5"}, -1100),
        ("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "7m"}, -1120),
    ]:
        status, body = _rest(path, params, ctx)
        assert (status, body["code"]) == (400, code), (path, params)
        assert isinstance(body["msg"], str) and body["msg"]
    assert _rest("/api/v3/order", {}, ctx)[0] == 404
    assert _rest("/api/v3/depth", {"symbol": "BTCUSDT"}, ctx, method="POST")[0] == 404


def test_sim_rest_paths_are_all_weighed() -> None:
    for path in sim_mod._ROUTES:
        assert PROTO.request_weight(path, {"symbol": "BTCUSDT"}) >= 1


def test_sim_frames_use_binance_spot_formatting(busy_ctx: FakeCtx) -> None:
    ctx = busy_ctx
    trade = ctx.all_trades["BTCUSDT"][0]
    data = json.loads(SIM.encode(trade, ctx)[0][1])["data"]
    assert list(data) == ["e", "E", "s", "t", "p", "q", "T", "m", "M"]  # the captures' field order
    assert len(data["p"].split(".")[1]) == 8 and len(data["q"].split(".")[1]) == 8
    quote = ctx.latest("BTCUSDT", "Quote")
    assert list(json.loads(SIM.encode(quote, ctx)[0][1])["data"]) == ["u", "s", "b", "B", "a", "A"]
    assert Path(sim_mod.__file__).name == "binance_spot.py" and SIM.idle_timeout_s is None
