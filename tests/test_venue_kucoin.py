"""KuCoin spot and futures: real captures, edge cases, and the simulator round trip.

Real data: cryptofeed's 2021 spot recording (``KUCOIN.jsonl.zst``: 10 altcoin pairs,
``/market/level2`` diffs, ``/market/ticker``, ``/market/match``, ``/market/candles``, acks, the
symbols list) with the REST books of ``rest/KUCOIN.http.0.0``; tardis-node's single messages
``kucoin_messages.jsonl`` and ``kucoin_futures_messages.jsonl`` (2022-2024; tardis adds
``generated`` frames built from REST answers, which KuCoin never sends). Facts are read
independently with plain ``json``; books are replayed through ``make_book("rest_next")``.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
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
from flowdesk.streaming.book import make_book
from flowdesk.streaming.simulator.config import SymbolSpec, spec_for
from flowdesk.streaming.simulator.venues import kucoin as sim_kc
from flowdesk.streaming.venues import kucoin as kc
from flowdesk.streaming.venues.base import ParseError, UnknownMessage, VenueError, trade_id_of
from flowdesk.streaming.venues.protocol import Instrument
from flowdesk.streaming.venues.registry import protocol
from sim_fakes import FakeBook, FakeClient

CAPTURE = "captures/cryptofeed/KUCOIN.jsonl.zst"
REST_FILE = "captures/cryptofeed/rest/KUCOIN.http.0.0"
SPOT_SAMPLES = "samples/tardis-node/kucoin_messages.jsonl"
FUTURES_SAMPLES = "samples/tardis-node/kucoin_futures_messages.jsonl"
SPOT = kc.PROTOCOLS["kucoin_spot"]
FUT = kc.PROTOCOLS["kucoin_futures"]
NS = 1_700_000_000_000_000_000

# ---------------------------------------------------------------------------------------------
# The real spot capture
# ---------------------------------------------------------------------------------------------


@cache
def capture_events() -> list[dict[str, Any]]:
    """The capture's http and recv records in time order."""
    path = real_file(CAPTURE)
    with zstandard.ZstdDecompressor().stream_reader(path.open("rb")) as fh:
        events = [json.loads(line) for line in io.TextIOWrapper(fh, encoding="utf-8")]
    return sorted((e for e in events if e["t"] in ("http", "recv")), key=lambda e: e["ts"])


@cache
def rest_books() -> dict[str, tuple[float, str]]:
    """Venue symbol -> (receive time s, body) from the paired REST file (``URL -> ts: json``)."""
    out = {}
    for line in real_file(REST_FILE).read_text().splitlines():
        if line.strip():
            url, _, rest = line.partition(" -> ")
            ts, _, body = rest.partition(": ")
            out[url.split("symbol=")[1]] = (float(ts), body)
    return out


@dataclass
class Facts:
    """What the capture holds, counted with plain json."""

    frames: Counter[str] = field(default_factory=Counter)
    control: Counter[str] = field(default_factory=Counter)
    last_trade: dict[str, Any] = field(default_factory=dict)
    volume: float = 0.0
    signed_volume: float = 0.0
    bar_changes: int = 0


@cache
def capture_facts() -> Facts:
    facts, bars = Facts(), {}
    for e in capture_events():
        if e["t"] != "recv":
            continue
        msg = json.loads(e["data"])
        if "topic" not in msg:
            facts.control[msg["type"]] += 1
            continue
        facts.frames[msg["subject"]] += 1
        d = msg["data"]
        if msg["subject"] == "trade.l3match":
            facts.last_trade = d
            facts.volume += float(d["size"])
            facts.signed_volume += float(d["size"]) * (1 if d["side"] == "buy" else -1)
        elif msg["subject"].startswith("trade.candles"):
            start = int(d["candles"][0])
            facts.bar_changes += msg["topic"] in bars and bars[msg["topic"]] < start
            bars[msg["topic"]] = start
    return facts


@dataclass
class Replay:
    """What flowdesk made of the capture."""

    records: Counter[str] = field(default_factory=Counter)
    trades: list[Trade] = field(default_factory=list)
    quotes: list[Quote] = field(default_factory=list)
    candles: list[Candle] = field(default_factory=list)
    control: int = 0
    errors: list[str] = field(default_factory=list)
    books: dict[str, Any] = field(default_factory=dict)
    snapshot_outcomes: Counter[str] = field(default_factory=Counter)
    outcomes_after_sync: Counter[str] = field(default_factory=Counter)
    crossed: int = 0
    top_matches: int = 0
    top_differs: int = 0


@cache
def replay() -> Replay:
    """Every frame through the spot parser, REST books (paired file) into ``rest_next`` books."""
    out, parse = Replay(), kc.make_spot_parser({})
    snapshots = {kc.spot_from_venue(vs): (int(ts * 1e9), body) for vs, (ts, body) in rest_books().items()}
    pending = sorted((ns, sym) for sym, (ns, _) in snapshots.items())
    for e in capture_events():
        if e["t"] != "recv":
            continue
        recv_ns = int(e["ts"] * 1e9)
        while pending and pending[0][0] <= recv_ns:  # REST answers in receive-time order
            _, sym = pending.pop(0)
            snap = kc.parse_spot_snapshot(snapshots[sym][1], sym, snapshots[sym][0])[0]
            out.snapshot_outcomes[_book(out, sym).on_snapshot(snap)] += 1
        try:
            records = parse(e["data"], recv_ns)
        except (ParseError, UnknownMessage) as exc:
            out.errors.append(str(exc))
            continue
        out.control += not records
        for rec in records:
            _collect(out, rec)
    return out


def _book(out: Replay, symbol: str) -> Any:
    return out.books.setdefault(symbol, make_book("rest_next"))


def _collect(out: Replay, rec: Record) -> None:
    out.records[type(rec).__name__] += 1
    if type(rec) is Trade:
        out.trades.append(rec)
    elif type(rec) is Candle:
        out.candles.append(rec)
    elif type(rec) is Quote:
        out.quotes.append(rec)
        _check_top(out, rec)
    elif type(rec) is BookDelta:
        book = _book(out, rec.symbol)
        was_synced = book.synced
        outcome = book.on_delta(rec)
        if was_synced:
            out.outcomes_after_sync[outcome] += 1
            out.crossed += book.book.is_crossed()


def _check_top(out: Replay, quote: Quote) -> None:
    """KuCoin's ticker and level2 share one sequence: at equal sequences the tops must agree."""
    book = out.books.get(quote.symbol)
    if book is None or not book.synced or book.book.last_update_id != quote.update_id:
        return
    same = (*book.book.best_bid(), *book.book.best_ask()) == (quote.bid, quote.bid_qty, quote.ask, quote.ask_qty)
    out.top_matches += same
    out.top_differs += not same


def test_capture_every_frame_parses() -> None:
    r, facts = replay(), capture_facts()
    assert r.errors == []
    assert r.control == sum(facts.control.values()) == 14  # welcome + 13 acks
    assert r.records["BookDelta"] == facts.frames["trade.l2update"] == 3853
    assert r.records["Quote"] == facts.frames["trade.ticker"] == 830
    assert r.records["Trade"] == facts.frames["trade.l3match"] == 18
    bars = facts.frames["trade.candles.add"] + facts.frames["trade.candles.update"]
    assert r.records["Candle"] == bars + facts.bar_changes  # each new bar also closes the previous one
    assert sum(c.closed for c in r.candles) == facts.bar_changes > 0


def test_capture_book_chain_is_gap_free() -> None:
    r = replay()
    assert r.snapshot_outcomes["gap"] == 0
    assert len(r.books) == 9  # LTX-USDT sent no book change in the recording
    for symbol, book in r.books.items():
        assert book.synced and not book.stale, symbol
        assert (book.gaps, book.resyncs) == (0, 0), symbol
    assert set(r.outcomes_after_sync) == {"applied"}
    assert r.crossed == 0


def test_capture_rebuilt_top_equals_ticker() -> None:
    r = replay()
    assert r.top_matches > 0
    assert r.top_differs == 0


def test_capture_trades_match_plain_json() -> None:
    r, facts = replay(), capture_facts()
    last, t = facts.last_trade, r.trades[-1]
    assert (t.symbol, t.price, t.qty, t.side) == (
        last["symbol"].replace("-", ""), float(last["price"]), float(last["size"]), last["side"])
    assert t.trade_id == trade_id_of(last["tradeId"]) and t.ts == int(last["time"]) // 1_000_000
    assert sum(t.qty for t in r.trades) == pytest.approx(facts.volume)
    assert sum(t.qty if t.side == "buy" else -t.qty for t in r.trades) == pytest.approx(facts.signed_volume)
    assert all(t.source == "ws" and t.first_id == t.last_id == t.trade_id for t in r.trades)


def test_capture_field_values() -> None:
    r = replay()
    first = r.quotes[0]  # {"sequence":"1612844051653","bestAsk":"0.00028717",...} on SNX-BTC
    assert (first.symbol, first.bid, first.bid_qty, first.ask, first.ask_qty) == (
        "SNXBTC", 0.00028678, 3.70422021, 0.00028717, 14.04274325)
    assert (first.update_id, first.ts) == (1612844051653, 1619378326323)
    dappt = [c for c in r.candles if c.symbol == "DAPPTBTC"]
    closed = [c for c in dappt if c.closed][0]
    assert (closed.open_ts, closed.close_ts, closed.interval) == (1619378220000, 1619378279999, "1m")
    last = dappt[-1]  # ["1619378280","0.0000001117","0.0000001126","0.0000001126","0.0000001117",...]
    assert (last.open, last.close, last.high, last.low) == (1.117e-07, 1.126e-07, 1.126e-07, 1.117e-07)
    assert (last.volume, last.quote_volume, last.closed) == (3799.1984, 0.00042624222239, False)
    assert r.books["BCHSVUSDT"].book.last_update_id == 1613277186234  # sequenceEnd of its last diff


def test_capture_symbols_and_rest_books() -> None:
    (symbols,) = [e for e in capture_events() if e["t"] == "http" and e["url"].endswith("/symbols")]
    inst = kc.parse_spot_symbols(symbols["data"])  # /api/v1/symbols has v2's fields
    raw = json.loads(symbols["data"])["data"]
    assert len(inst) == len(raw) == 634
    bsv = inst["BCHSVUSDT"]  # the code BCHSV-USDT, renamed BSV-USDT: the code is the symbol
    assert (bsv.venue_symbol, bsv.tick_size, bsv.step_size, bsv.contract_size) == ("BCHSV-USDT", 0.001, 1e-08, 1.0)
    assert sum(i.status == "disabled" for i in inst.values()) == sum(not s["enableTrading"] for s in raw)
    in_capture = {e["url"].split("symbol=")[1]: e["data"] for e in capture_events() if "orderbook" in e.get("url", "")}
    assert {vs: body for vs, (_, body) in rest_books().items()} == in_capture
    snap = kc.parse_spot_snapshot(rest_books()["BCHSV-USDT"][1], "BCHSVUSDT", 0)[0]
    assert (snap.last_update_id, snap.ts, snap.bids[0]) == (1613277183892, 1619378326628, (242.649, 5.0))


# ---------------------------------------------------------------------------------------------
# tardis-node single messages
# ---------------------------------------------------------------------------------------------


def _outcomes(parse: Any, lines: list[str]) -> Counter[str]:
    out: Counter[str] = Counter()
    for line in lines:
        try:
            records = parse(line, NS)
        except UnknownMessage:
            out["unknown"] += 1
            continue
        out["records" if records else "control"] += 1
    return out


def test_tardis_spot_samples() -> None:
    lines = real_file(SPOT_SAMPLES).read_text().splitlines()
    generated = sum(json.loads(line).get("generated", False) for line in lines)
    assert _outcomes(kc.make_spot_parser({}), lines) == Counter(records=12, control=3, unknown=generated)
    parse = kc.make_spot_parser({})
    records = [rec for line in lines if "generated" not in line for rec in parse(line, NS)]
    trades = [r for r in records if type(r) is Trade]
    assert [t.trade_id for t in trades][1] == 455391760226305  # a decimal tradeId is kept as is
    assert trades[0].trade_id == trade_id_of("62fade002e113d292303a18b")  # a hex one is hashed
    assert (trades[0].side, trades[0].ts, trades[0].qty) == ("sell", 1660608000026, 1.255e-05)
    deltas = [r for r in records if type(r) is BookDelta]
    assert deltas[0].bids == deltas[0].asks == []  # ["0","0",seq]: only the sequence moves
    assert deltas[-1].ts == 1685578980002  # the 2023 frame has ``time``


def test_tardis_spot_sample_book_gap_is_detected() -> None:
    """The sample is a pick of single frames, not a stream: its chain has a real hole (356 -> 361)."""
    parse, book = kc.make_spot_parser({}), make_book("rest_next")
    outcomes = Counter()
    for line in real_file(SPOT_SAMPLES).read_text().splitlines():
        msg = json.loads(line)
        if msg.get("generated"):
            snap = kc.parse_spot_snapshot({"code": msg["code"], "data": msg["data"]}, "BTCUSDT", NS)[0]
            outcomes["snapshot:" + book.on_snapshot(snap)] += 1
            continue
        for rec in parse(line, NS):
            if type(rec) is BookDelta:
                outcomes[book.on_delta(rec)] += 1
    # 356 straddles the snapshot's 355 + 1 and applies, the buffered 361 then breaks the chain;
    # the later frames wait for a new snapshot
    assert outcomes == Counter({"buffered": 8, "snapshot:gap": 1})
    assert (book.gaps, book.synced, book.stale) == (1, False, True)


def _futures_instruments(lines: list[str]) -> dict[str, Instrument]:
    """XBTUSDTM from the sample's contract details (a REST /contracts/active row); the other
    contracts' sizes are test values (the samples do not carry them)."""
    (details,) = [json.loads(line)["data"] for line in lines if '"contractDetails"' in line]
    inst = kc.parse_futures_contracts({"code": "200000", "data": [details]})
    for vs, size in (("SOLUSDTM", 0.1), ("MYROUSDTM", 10.0), ("AUCTIONUSDTM", 0.1)):
        sym = kc.futures_from_venue(vs)
        inst[sym] = Instrument(sym, vs, 0.001, size, size, "Open")
    return inst


def test_tardis_futures_samples() -> None:
    lines = real_file(FUTURES_SAMPLES).read_text().splitlines()
    with pytest.raises(ParseError, match="no contract size known for 'SOLUSDTM'"):
        kc.make_futures_parser({})(lines[0], NS)
    inst = _futures_instruments(lines)
    assert inst["BTCUSDT"].contract_size == 0.001 and inst["BTCUSDT"].venue_symbol == "XBTUSDTM"
    generated = sum(json.loads(line).get("generated", False) for line in lines)
    assert _outcomes(kc.make_futures_parser(inst), lines) == Counter(records=9, control=4, unknown=generated)
    parse = kc.make_futures_parser(inst)
    records = [rec for line in lines for rec in _quiet(parse, line)]
    sol = records[0]  # size 10 lots of 0.1 SOL
    assert (type(sol), sol.symbol, sol.qty, sol.price, sol.side, sol.ts) == (
        Trade, "SOLUSDT", 1.0, 93.624, "sell", 1705708799998)
    btc = [r for r in records if type(r) is Trade and r.symbol == "BTCUSDT"][0]
    assert (btc.qty, btc.trade_id) == (0.001, 1728107666597)
    quote = [r for r in records if type(r) is Quote][0]
    assert (quote.bid, quote.bid_qty, quote.ask_qty, quote.update_id) == (24.067, 26.0, 25.0, 1702237470700)
    marks = [r for r in records if type(r) is MarkFunding]
    # the first mark comes before any 8 h funding rate; the second after 0.000039 (8 h), and the
    # 1-minute predicted rates (granularity 60000) never replace it
    assert [(m.mark_price, m.funding_rate) for m in marks] == [(39610.11, None), (39612.67, 3.9e-05)]


def _quiet(parse: Any, line: str) -> list[Record]:
    try:
        return parse(line, NS)
    except UnknownMessage:
        return []


def test_tardis_futures_sample_book_chains_from_snapshot() -> None:
    lines = real_file(FUTURES_SAMPLES).read_text().splitlines()
    inst = _futures_instruments(lines)
    parse, book, outcomes = kc.make_futures_parser(inst), make_book("rest_next"), Counter()
    for line in lines:
        msg = json.loads(line)
        if msg.get("subject") == "level2Snapshot":
            snap = kc.parse_futures_snapshot({"code": msg["code"], "data": msg["data"]}, "MYROUSDT", NS, inst)[0]
            outcomes["snapshot:" + book.on_snapshot(snap)] += 1
        elif msg["topic"].startswith("/contractMarket/level2:"):
            outcomes[book.on_delta(parse(line, NS)[0])] += 1
    assert outcomes == Counter({"buffered": 3, "snapshot:synced": 1, "applied": 1})
    assert (book.gaps, book.synced, book.book.last_update_id) == (0, True, 1705411242394)
    assert book.book.bids[0.3] == 30.0 and 0.2166 not in book.book.asks  # 3 lots of 10; removed


# ---------------------------------------------------------------------------------------------
# Edge cases
# ---------------------------------------------------------------------------------------------


def _frame(topic: str, data: Any, subject: str = "x", **extra: Any) -> bytes:
    return orjson.dumps({"topic": topic, "type": "message", "subject": subject, "data": data, **extra})


BTC = Instrument("BTCUSDT", "XBTUSDTM", 0.1, 0.001, 0.001, "Open")
ETH = Instrument("ETHUSDT", "ETHUSDTM", 0.01, 0.01, 0.01, "Open")
FUT_INST = {"BTCUSDT": BTC, "ETHUSDT": ETH}


@pytest.mark.parametrize("parse", [kc.make_spot_parser({}), kc.make_futures_parser(FUT_INST)])
def test_control_frames_are_empty(parse: Any) -> None:
    for text in ('{"id":"hQvf8jkno","type":"welcome"}', '{"id":"1545910660739","type":"ack"}',
                 '{"id":"1545910590801","type":"pong"}'):
        assert parse(text, NS) == []


@pytest.mark.parametrize("parse", [kc.make_spot_parser({}), kc.make_futures_parser(FUT_INST)])
def test_error_reply_and_unknown_frames(parse: Any) -> None:
    with pytest.raises(VenueError, match="type is not supported"):
        parse('{"id":"1","type":"error","code":415,"data":"type is not supported"}', NS)
    with pytest.raises(UnknownMessage, match="unknown message type 'notice'"):
        parse('{"type":"notice"}', NS)
    with pytest.raises(UnknownMessage, match="unknown topic"):
        parse(_frame("/market/level3:BTC-USDT", {}), NS)
    with pytest.raises(ParseError, match="bad JSON"):
        parse(b'{"type":"message","topic":"/market/match:BTC-USDT","data":{"pri', NS)
    with pytest.raises(ParseError, match="expected a JSON object"):
        parse(b"[1, 2]", NS)
    with pytest.raises(ParseError, match="missing field 'topic'"):
        parse(b'{"type":"message","data":{}}', NS)
    with pytest.raises(ParseError, match="topic is not a string"):
        parse(b'{"type":"message","topic":7,"data":{}}', NS)


def test_missing_and_ill_typed_fields_name_the_channel() -> None:
    spot, fut = kc.make_spot_parser({}), kc.make_futures_parser(FUT_INST)
    trade = {"price": "1", "size": "2", "side": "buy", "time": "1000000", "tradeId": "5"}
    with pytest.raises(ParseError, match=r"kucoin_spot /market/match: missing or invalid field 'tradeId'"):
        spot(_frame("/market/match:BTC-USDT", {k: v for k, v in trade.items() if k != "tradeId"}), NS)
    with pytest.raises(ParseError, match=r"/market/match: missing or invalid field 'hold'"):
        spot(_frame("/market/match:BTC-USDT", {**trade, "side": "hold"}), NS)
    with pytest.raises(ParseError, match=r"kucoin_spot /market/level2: ill-typed"):
        spot(_frame("/market/level2:BTC-USDT", {"sequenceStart": "1", "sequenceEnd": 1, "changes": {}}), NS)
    with pytest.raises(ParseError, match=r"kucoin_futures /contractMarket/level2: ill-typed"):
        fut(_frame("/contractMarket/level2:XBTUSDTM", {"sequence": 5, "change": "1,buy", "timestamp": 1}), NS)
    with pytest.raises(ParseError, match=r"/contractMarket/level2: missing or invalid field 'hold'"):
        fut(_frame("/contractMarket/level2:XBTUSDTM", {"sequence": 5, "change": "1,hold,2", "timestamp": 1}), NS)
    with pytest.raises(UnknownMessage, match="subject 'funding.begin'"):
        fut(_frame("/contract/instrument:XBTUSDTM", {}, subject="funding.begin"), NS)


def test_symbol_mapping_both_ways() -> None:
    assert [kc.spot_to_venue(s) for s in ("BTCUSDT", "ETHBTC", "KCSUSDC", "BCHSVUSDT", "XYZFDUSD")] == [
        "BTC-USDT", "ETH-BTC", "KCS-USDC", "BCHSV-USDT", "XYZ-FDUSD"]
    assert kc.spot_from_venue("BTC-USDT") == "BTCUSDT" and SPOT.to_venue("ethusdt") == "ETH-USDT"
    assert [kc.futures_to_venue(s) for s in ("BTCUSDT", "ETHUSDT", "BTCUSDC", "SOLUSDT")] == [
        "XBTUSDTM", "ETHUSDTM", "XBTUSDCM", "SOLUSDTM"]
    assert [kc.futures_from_venue(s) for s in ("XBTUSDTM", "ETHUSDTM", "XBTUSDCM")] == [
        "BTCUSDT", "ETHUSDT", "BTCUSDC"]
    for bad in ("BTC", "USDT"):
        with pytest.raises(ValueError):
            kc.spot_to_venue(bad)
    with pytest.raises(ValueError):
        kc.futures_to_venue("BTCUSD")  # inverse XBTUSDM: not supported
    with pytest.raises(ValueError):
        kc.futures_from_venue("XBTUSDM")


def test_contract_size_conversion() -> None:
    parse = kc.make_futures_parser(FUT_INST)
    trade = {"symbol": "ETHUSDTM", "sequence": 9, "side": "buy", "size": 25, "price": "3000.5",
             "tradeId": "9", "ts": 1_700_000_000_123_456_789}
    (t,) = parse(_frame("/contractMarket/execution:ETHUSDTM", trade, "match"), NS)
    assert (t.symbol, t.qty, t.price, t.side, t.ts, t.trade_id) == (
        "ETHUSDT", 0.25, 3000.5, "buy", 1_700_000_000_123, 9)
    (d,) = parse(_frame("/contractMarket/level2:XBTUSDTM", {"sequence": 7, "change": "60000.1,sell,1500",
                                                            "timestamp": 5}), NS)
    assert (d.first_update_id, d.last_update_id, d.prev_update_id, d.bids, d.asks) == (7, 7, -1, [], [(60000.1, 1.5)])
    (q,) = parse(_frame("/contractMarket/tickerV2:XBTUSDTM", {
        "symbol": "XBTUSDTM", "sequence": 8, "bestBidSize": 5044, "bestBidPrice": "86454.5",
        "bestAskPrice": "86454.6", "bestAskSize": 73, "ts": 1740641976241000000}), NS)
    assert (q.bid_qty, q.ask_qty, q.update_id, q.ts) == (5.044, 0.073, 8, 1740641976241)
    snap = kc.parse_futures_snapshot({"code": "200000", "data": {
        "symbol": "XBTUSDTM", "sequence": 6, "bids": [[60000.0, 2000]], "asks": [["60000.1", 3]],
        "ts": 1_700_000_000_000_000_000}}, "BTCUSDT", NS, FUT_INST)[0]
    assert (snap.bids, snap.asks, snap.ts) == ([(60000.0, 2.0)], [(60000.1, 0.003)], 1_700_000_000_000)
    with pytest.raises(ParseError, match="no contract size known for 'SOLUSDT'"):
        kc.parse_futures_snapshot({"code": "200000", "data": {}}, "SOLUSDT", NS, FUT_INST)


def test_funding_rate_merges_into_mark_price() -> None:
    parse = kc.make_futures_parser(FUT_INST)

    def mark(ts: int) -> list[Record]:
        return parse(_frame("/contract/instrument:XBTUSDTM", {"markPrice": 100.5, "indexPrice": 100.4,
                                                               "granularity": 1000, "timestamp": ts},
                            "mark.index.price"), NS)

    def rate(value: float, granularity: int) -> list[Record]:
        return parse(_frame("/contract/instrument:XBTUSDTM", {"granularity": granularity, "fundingRate": value,
                                                               "timestamp": 0}, "funding.rate"), NS)

    assert mark(1)[0].funding_rate is None
    assert rate(0.0001, 28_800_000) == [] and mark(2)[0].funding_rate == 0.0001
    assert rate(0.0009, 60_000) == [] and mark(3)[0].funding_rate == 0.0001  # predicted: skipped
    assert rate(-0.0002, 14_400_000) == [] and mark(4)[0].funding_rate == -0.0002  # 4 h contracts
    m = mark(5)[0]
    assert (m.symbol, m.mark_price, m.index_price, m.next_funding_ts, m.ts) == ("BTCUSDT", 100.5, 100.4, None, 5)
    assert kc.make_futures_parser(FUT_INST)(_frame("/contract/instrument:XBTUSDTM", {
        "markPrice": 1, "indexPrice": 1, "timestamp": 1}, "mark.index.price"), NS)[0].funding_rate is None


def test_spot_level2_zero_price_changes_and_time() -> None:
    parse = kc.make_spot_parser({})
    (d,) = parse(_frame("/market/level2:BTC-USDT", {
        "changes": {"asks": [["0", "0", "10"], ["101", "0", "11"]], "bids": [["99", "2.5", "12"]]},
        "sequenceStart": 10, "sequenceEnd": 12, "symbol": "BTC-USDT", "time": 1729816425625}), NS)
    assert (d.first_update_id, d.last_update_id, d.bids, d.asks, d.ts) == (10, 12, [(99.0, 2.5)], [(101.0, 0.0)],
                                                                          1729816425625)
    (old,) = parse(_frame("/market/level2:BTC-USDT", {"changes": {"asks": [], "bids": []}, "sequenceStart": 13,
                                                      "sequenceEnd": 13, "symbol": "BTC-USDT"}), NS)
    assert old.ts == NS // 1_000_000  # 2021 frames had no time: our receive time


def test_spot_ticker24h_from_symbol_snapshot() -> None:
    parse = kc.make_spot_parser({})
    data = {"symbol": "BTC-USDT", "lastTradedPrice": 67158.1, "open": 66842.9, "high": 67611.8, "low": 65257.1,
            "vol": 2227.69895852, "volValue": 147972941.07857507, "changePrice": 315.2, "changeRate": 0.0047,
            "datetime": 1729758286011}
    (t,) = parse(_frame("/market/snapshot:BTC-USDT", {"sequence": "14691517895", "data": data}, "trade.snapshot"), NS)
    assert (t.symbol, t.last, t.open, t.high, t.volume, t.price_change_pct, t.trade_count, t.ts) == (
        "BTCUSDT", 67158.1, 66842.9, 67611.8, 2227.69895852, pytest.approx(0.47), None, 1729758286011)
    del data["open"]  # older frames: open = last - changePrice
    (t,) = parse(_frame("/market/snapshot:BTC-USDT", {"sequence": "1", "data": data}, "trade.snapshot"), NS)
    assert t.open == pytest.approx(66842.9)


def test_candles_close_when_the_next_bar_starts() -> None:
    parse = kc.make_spot_parser({})

    def bar(start: int, close: str, time_ns: int) -> list[Record]:
        return parse(_frame("/market/candles:BTC-USDT_1min", {
            "symbol": "BTC-USDT", "candles": [str(start), "10", close, "12", "9", "1.5", "15"], "time": time_ns},
            "trade.candles.update"), NS)

    (a,) = bar(1_729_839_600, "11", 1_729_839_601_000_000_000)
    assert (a.open_ts, a.close_ts, a.close, a.high, a.low, a.closed, a.ts) == (
        1_729_839_600_000, 1_729_839_659_999, 11.0, 12.0, 9.0, False, 1_729_839_601_000)
    (b,) = bar(1_729_839_600, "11.5", 1_729_839_630_000_000_000)
    closed, c = bar(1_729_839_660, "12", 1_729_839_661_000_000_000)
    assert (closed.closed, closed.close, closed.open_ts, closed.ts) == (
        True, 11.5, 1_729_839_600_000, 1_729_839_661_000)
    assert (c.closed, c.open_ts) == (False, 1_729_839_660_000)
    with pytest.raises(ParseError, match="'2min'"):
        parse(_frame("/market/candles:BTC-USDT_2min", {"candles": ["1", "1", "1", "1", "1", "1", "1"], "time": 1}), NS)


def test_snapshot_then_delta_sequencing() -> None:
    """REST snapshot at 100: a buffered diff 95..99 is dropped, 98..103 straddles, 104 follows,
    106 leaves a hole and is a gap."""
    parse, book = kc.make_spot_parser({}), make_book("rest_next")

    def diff(first: int, last: int, qty: str) -> BookDelta:
        return parse(_frame("/market/level2:BTC-USDT", {"changes": {"asks": [], "bids": [["100", qty, str(last)]]},
                                                        "sequenceStart": first, "sequenceEnd": last, "time": 1}), NS)[0]

    assert book.on_delta(diff(95, 99, "1")) == "buffered"
    assert book.on_delta(diff(98, 103, "2")) == "buffered"
    snap = kc.parse_spot_snapshot({"code": "200000", "data": {"sequence": "100", "time": 1, "bids": [["100", "7"]],
                                                             "asks": [["101", "1"]]}}, "BTCUSDT", NS)[0]
    assert book.on_snapshot(snap) == "synced" and book.book.bids == {100.0: 2.0}
    assert book.on_delta(diff(104, 104, "3")) == "applied" and book.book.last_update_id == 104
    assert book.on_delta(diff(106, 106, "4")) == "gap" and book.gaps == 1


def test_rest_envelope_errors() -> None:
    with pytest.raises(VenueError, match="400100"):
        kc.parse_spot_snapshot({"code": "400100", "msg": "symbol not exists"}, "BTCUSDT", NS)
    with pytest.raises(ParseError, match="expected a JSON object"):
        kc.parse_spot_symbols(b"[]")
    with pytest.raises(ParseError, match="missing field 'data'"):
        kc.parse_futures_contracts({"code": "200000"})
    with pytest.raises(ParseError, match="orderbook snapshot: missing or invalid field 'sequence'"):
        kc.parse_spot_snapshot({"code": "200000", "data": {"time": 1, "bids": [], "asks": []}}, "BTCUSDT", NS)


def test_futures_contracts_and_contract_poll() -> None:
    rows = [
        {"symbol": "XBTUSDTM", "type": "FFWCSX", "isInverse": False, "multiplier": 0.001, "lotSize": 1,
         "tickSize": 0.1, "status": "Open"},
        {"symbol": "XBTUSDM", "type": "FFWCSX", "isInverse": True, "multiplier": -1, "lotSize": 1, "tickSize": 0.5,
         "status": "Open"},
        {"symbol": "XBTMZ25", "type": "FFICSX", "isInverse": True, "multiplier": -1, "lotSize": 1, "tickSize": 1,
         "status": "Open"},
        {"symbol": "ETHUSDCM", "type": "FFWCSX", "isInverse": False, "multiplier": 0.01, "lotSize": 1,
         "tickSize": 0.01, "status": "Paused"},
    ]
    inst = kc.parse_futures_contracts(orjson.dumps({"code": "200000", "data": rows}))
    assert inst == {"BTCUSDT": Instrument("BTCUSDT", "XBTUSDTM", 0.1, 0.001, 0.001, "Open"),
                    "ETHUSDC": Instrument("ETHUSDC", "ETHUSDCM", 0.01, 0.01, 0.01, "Paused")}
    contract = {"symbol": "XBTUSDTM", "multiplier": 0.001, "openInterest": "9295921", "markPrice": 40000.0,
                "indexPrice": 39999.2, "fundingFeeRate": 3.8e-05, "nextFundingRateTime": 10561278,
                "lastTradePrice": 39996.6, "highPrice": 40253, "lowPrice": 38560, "priceChg": 523.4,
                "priceChgPct": 0.0132, "volumeOf24h": 15131.243, "turnoverOf24h": 594135187.191124}
    recv_ns = 1_706_068_800_000_000_000
    oi, mf, tk = kc.parse_futures_contract({"code": "200000", "data": contract}, "BTCUSDT", recv_ns)
    assert (type(oi), oi.open_interest, oi.open_interest_value, oi.ts) == (
        OpenInterest, pytest.approx(9295.921), pytest.approx(9295.921 * 40000), 1_706_068_800_000)
    assert (type(mf), mf.mark_price, mf.funding_rate, mf.next_funding_ts) == (
        MarkFunding, 40000.0, 3.8e-05, 1_706_068_800_000 + 10561278)  # ms left + our clock
    assert (type(tk), tk.last, tk.open, tk.price_change_pct, tk.volume) == (
        Ticker24h, 39996.6, pytest.approx(39473.2), pytest.approx(1.32), 15131.243)
    contract["nextFundingRateDateTime"] = 1_706_083_200_000  # preferred when present
    assert kc.parse_futures_contract({"code": "200000", "data": contract}, "BTCUSDT", recv_ns)[1].next_funding_ts == (
        1_706_083_200_000)
    bare = {"symbol": "XBTUSDTM", "multiplier": 0.001}  # nothing live known: nothing emitted, no zeros
    assert kc.parse_futures_contract({"code": "200000", "data": bare}, "BTCUSDT", recv_ns) == []
    listed = {"code": "200000", "data": [{**bare, "symbol": "ETHUSDTM"}, contract]}  # the contracts list
    assert kc.parse_futures_contract(listed, "BTCUSDT", recv_ns)[0] == oi
    with pytest.raises(ParseError, match="'SOLUSDTM' is not listed"):
        kc.parse_futures_contract(listed, "SOLUSDT", recv_ns)


def test_bullet_and_handshake() -> None:
    body = {"code": "200000", "data": {"token": "abc.def==", "instanceServers": [{
        "endpoint": "wss://ws-api-spot.kucoin.com/", "encrypt": True, "protocol": "websocket",
        "pingInterval": 18000, "pingTimeout": 10000}]}}
    hs = kc.parse_bullet(body, "cid1")
    assert hs == ("wss://ws-api-spot.kucoin.com/?token=abc.def==&connectId=cid1", 18.0)

    class FakeRest:
        calls: list[tuple[str, Any]] = []

        async def post(self, path: str, body_: Any = None) -> Any:
            self.calls.append((path, body_))
            return body

    rest = FakeRest()
    url, ping_s = asyncio.run(SPOT.handshake(rest))  # type: ignore[misc]
    assert rest.calls == [("/api/v1/bullet-public", {})] and ping_s == 18.0
    assert url.startswith("wss://ws-api-spot.kucoin.com/?token=abc.def==&connectId=") and len(url) > 70
    with pytest.raises(VenueError):
        kc.parse_bullet({"code": "401000", "msg": "no"}, "c")


def test_subscribe_ping_and_weights() -> None:
    msgs = [json.loads(m) for m in SPOT.subscribe(("BTCUSDT", "ETHUSDT"), ("match", "candles", "snapshot"))]
    assert [m["topic"] for m in msgs] == [
        "/market/match:BTC-USDT,ETH-USDT", "/market/candles:BTC-USDT_1min", "/market/candles:ETH-USDT_1min",
        "/market/snapshot:BTC-USDT", "/market/snapshot:ETH-USDT"]
    assert all(m["type"] == "subscribe" and m["response"] is True and m["privateChannel"] is False for m in msgs)
    assert len({m["id"] for m in msgs}) == len(msgs)
    many = [f"C{i}USDT" for i in range(150)]
    assert [t.count(",") + 1 for t in kc.spot_topics(many, ["level2"])] == [100, 50]
    assert [json.loads(m)["topic"] for m in FUT.subscribe(("BTCUSDT",), ("execution", "instrument"))] == [
        "/contractMarket/execution:XBTUSDTM", "/contract/instrument:XBTUSDTM"]
    resub = [json.loads(m) for m in FUT.resubscribe("ETHUSDT", ("level2",))]  # type: ignore[misc]
    assert [(m["type"], m["topic"]) for m in resub] == [
        ("unsubscribe", "/contractMarket/level2:ETHUSDTM"), ("subscribe", "/contractMarket/level2:ETHUSDTM")]
    with pytest.raises(ValueError, match="unknown kucoin_spot stream"):
        SPOT.subscribe(("BTCUSDT",), ("depth",))
    ping = json.loads(SPOT.ping())  # type: ignore[misc]
    assert ping["type"] == "ping" and isinstance(ping["id"], str)
    assert SPOT.request_weight("/api/v1/market/orderbook/level2_100", {"symbol": "BTC-USDT"}) == 4
    assert FUT.request_weight("/api/v1/contracts/XBTUSDTM", {}) == FUT.request_weight("/api/v1/contracts/{symbol}", {})
    with pytest.raises(ValueError):
        SPOT.request_weight("/api/v1/market/histories", {})


def test_protocol_descriptions() -> None:
    assert protocol("kucoin_spot") is SPOT and protocol("kucoin_futures") is FUT
    for proto, market, fee in ((SPOT, "spot", 10.0), (FUT, "futures", 6.0)):
        assert (proto.exchange, proto.market, proto.book, proto.taker_fee_bps) == ("kucoin", market, "rest_next", fee)
        assert proto.trades_by_id is None and not proto.contiguous_trade_ids
        assert proto.handshake is not None and proto.ping is not None and proto.snapshot is not None
        assert proto.ws_target(proto.ws_url, ("BTCUSDT",), proto.default_streams) == proto.ws_url
    assert set(SPOT.unavailable) == {"MarkFunding", "OpenInterest", "Liquidation"}
    assert set(FUT.unavailable) == {"Liquidation", "Candle"}
    # one contract's details; the feed fills the {symbol} path parameter
    assert [p.path for p in FUT.polls] == ["/api/v1/contracts/{symbol}"] and SPOT.polls == ()
    assert SPOT.snapshot.params("BTC-USDT") == {"symbol": "BTC-USDT"}  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------
# The simulator
# ---------------------------------------------------------------------------------------------


class FakeCtx:
    """The SimContext a test drives by hand: a neutral book and the latest events."""

    ws_url, rest_url = "ws://127.0.0.1:9", "http://127.0.0.1:10"

    def __init__(self, symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")) -> None:
        self.symbols = list(symbols)
        self.n = {s: 0 for s in symbols}
        self.levels: dict[str, tuple[dict[float, float], dict[float, float]]] = {s: ({}, {}) for s in symbols}
        self.last: dict[tuple[str, str], Record] = {}
        self.clock = 1_723_161_600_000

    def spec(self, symbol: str) -> SymbolSpec:
        return spec_for(symbol)

    def now_ms(self) -> int:
        return self.clock

    def book(self, symbol: str, depth: int) -> FakeBook:
        bids, asks = self.levels[symbol]
        return FakeBook(self.n[symbol], sorted(bids.items(), reverse=True)[:depth], sorted(asks.items())[:depth])

    def latest(self, symbol: str, kind: str) -> Record | None:
        return self.last.get((symbol, kind))

    def trades(self, symbol: str, from_id: int | None, limit: int) -> list[Trade]:
        return []

    def candles(self, symbol: str, limit: int) -> list[Record]:
        return []

    def delta(self, symbol: str, bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> BookDelta:
        """The next neutral diff (n + 1), applied to the neutral book."""
        self.n[symbol] += 1
        n = self.n[symbol]
        for side, rows in zip(self.levels[symbol], (bids, asks), strict=True):
            for p, q in rows:
                if q:
                    side[p] = q
                else:
                    side.pop(p, None)
        return BookDelta("kucoin", "x", symbol, n, n, n - 1, bids, asks, self.clock, 0)

    def add(self, event: Record) -> Record:
        self.last[(event.symbol, type(event).__name__)] = event
        return event


def _sim(name: str) -> sim_kc._KucoinSim:
    return sim_kc.KucoinSpotSim() if name == "kucoin_spot" else sim_kc.KucoinFuturesSim()


def _rest_ok(sim: Any, ctx: FakeCtx, method: str, path: str, query: dict[str, str] | None = None) -> Any:
    status, body = sim.rest(method, path, query or {}, ctx)
    assert status == 200, body
    return orjson.loads(orjson.dumps(body))  # what goes over the wire


def _instruments(sim: Any, ctx: FakeCtx) -> dict[str, Instrument]:
    if sim.name == "kucoin_spot":
        return kc.parse_spot_symbols(_rest_ok(sim, ctx, "GET", kc.SPOT_SYMBOLS_PATH))
    return kc.parse_futures_contracts(_rest_ok(sim, ctx, "GET", kc.FUTURES_CONTRACTS_PATH))


def _parse_all(parse: Any, frames: list[tuple[tuple[str, str], str]]) -> list[Record]:
    return [rec for _, text in frames for rec in parse(text, NS)]


def _seed_book(ctx: FakeCtx, symbol: str) -> None:
    ctx.delta(symbol, [(59999.9, 1.5), (59999.8, 0.25)], [(60000.0, 2.0), (60000.5, 0.004)])


@pytest.mark.parametrize("name", ["kucoin_spot", "kucoin_futures"])
def test_sim_round_trips_every_stream(name: str) -> None:
    ctx, sim = FakeCtx(), _sim(name)
    proto = kc.PROTOCOLS[name]
    parse = proto.make_parser(_instruments(sim, ctx))
    trade = ctx.add(Trade("kucoin", "x", "BTCUSDT", 42, 60000.1, 0.005, "sell", ctx.clock, 0, 42, 42, "ws"))
    (t,) = _parse_all(parse, sim.encode(trade, ctx))
    assert (t.symbol, t.trade_id, t.price, t.qty, t.side, t.ts) == ("BTCUSDT", 42, 60000.1, 0.005, "sell", ctx.clock)
    delta = ctx.delta("BTCUSDT", [(59999.9, 1.5)], [(60000.0, 0.0), (60000.5, 0.25)])
    got = _parse_all(parse, sim.encode(delta, ctx))
    bids = [lvl for d in got for lvl in d.bids]
    asks = [lvl for d in got for lvl in d.asks]
    assert bids == [(59999.9, 1.5)] and asks == [(60000.0, 0.0), (60000.5, 0.25)]
    quote = ctx.add(Quote("kucoin", "x", "BTCUSDT", 59999.9, 1.5, 60000.5, 0.25, ctx.n["BTCUSDT"], ctx.clock, 0))
    (q,) = _parse_all(parse, sim.encode(quote, ctx))
    assert (q.bid, q.bid_qty, q.ask, q.ask_qty, q.ts) == (59999.9, 1.5, 60000.5, 0.25, ctx.clock)
    assert q.update_id == got[-1].last_update_id  # the ticker carries the book's sequence
    liquidation = Liquidation("kucoin", "x", "BTCUSDT", "sell", 1.0, None, 1.0, None, "FILLED", 1, 0)
    assert "Liquidation" in proto.unavailable and sim.encode(liquidation, ctx) == []


def test_sim_spot_snapshot_and_candles_round_trip() -> None:
    ctx, sim = FakeCtx(), sim_kc.KucoinSpotSim()
    parse = kc.make_spot_parser({})
    ticker = ctx.add(Ticker24h("kucoin", "x", "BTCUSDT", 60100.0, 59000.0, 61000.0, 58000.5, 1234.5, 7.4e7,
                               (60100 / 59000 - 1) * 100, 999, ctx.clock, 0))
    (t,) = _parse_all(parse, sim.encode(ticker, ctx))
    assert (t.last, t.open, t.high, t.low, t.volume, t.quote_volume) == (60100.0, 59000.0, 61000.0, 58000.5, 1234.5,
                                                                         7.4e7)
    assert t.price_change_pct == pytest.approx(ticker.price_change_pct) and t.trade_count is None
    bar = Candle("kucoin", "x", "BTCUSDT", "1m", 1_723_161_600_000, 1_723_161_659_999, 60000.0, 60010.5, 59990.0,
                 60005.0, 1.25, 75006.25, 10, None, False, ctx.clock, 0)
    (c,) = _parse_all(parse, sim.encode(bar, ctx))
    assert c[4:12] == bar[4:12] and (c.interval, c.closed) == ("1m", False)
    nxt = bar._replace(open_ts=bar.open_ts + 60_000, close_ts=bar.close_ts + 60_000, close=60006.0)
    closed, live = _parse_all(parse, sim.encode(nxt, ctx))
    assert (closed.closed, closed.open_ts, closed.close, live.open_ts) == (True, bar.open_ts, 60005.0, nxt.open_ts)
    assert sim.encode(bar._replace(interval="5m"), ctx) == []
    assert sim.encode(MarkFunding("kucoin", "x", "BTCUSDT", 1.0, 1.0, 0.0001, None, 1, 0), ctx) == []


def test_sim_futures_instrument_and_contract_poll_round_trip() -> None:
    ctx, sim = FakeCtx(), sim_kc.KucoinFuturesSim()
    inst = _instruments(sim, ctx)
    assert inst["BTCUSDT"].contract_size == float(spec_for("BTCUSDT").step_size)
    parse = kc.make_futures_parser(inst)
    mark = ctx.add(MarkFunding("kucoin", "x", "BTCUSDT", 60001.5, 60000.25, 0.0001, 1_723_190_400_000, ctx.clock, 0))
    frames = sim.encode(mark, ctx)
    assert [json.loads(f)["subject"] for _, f in frames] == ["funding.rate", "mark.index.price"]
    (m,) = _parse_all(parse, frames)
    assert (m.mark_price, m.index_price, m.funding_rate, m.ts) == (60001.5, 60000.25, 0.0001, ctx.clock)
    later = mark._replace(ts=ctx.clock + 1000)
    assert [json.loads(f)["subject"] for _, f in sim.encode(later, ctx)] == ["mark.index.price"]  # once a minute
    ctx.add(OpenInterest("kucoin", "x", "BTCUSDT", 12345.678, 12345.678 * 60001.5, ctx.clock, 0))
    ctx.add(Ticker24h("kucoin", "x", "BTCUSDT", 60100.0, 59000.0, 61000.0, 58000.5, 1234.5, 7.4e7, 1.86, 9,
                      ctx.clock, 0))
    body = _rest_ok(sim, ctx, "GET", "/api/v1/contracts/XBTUSDTM")
    oi, mf, tk = kc.parse_futures_contract(body, "BTCUSDT", ctx.clock * 1_000_000, inst)
    (poll,) = kc.PROTOCOLS["kucoin_futures"].polls
    assert poll.parse(_rest_ok(sim, ctx, "GET", poll.path.replace("{symbol}", "XBTUSDTM")), "BTCUSDT", ctx.clock * 1_000_000, inst) == [oi, mf, tk]
    assert oi.open_interest == pytest.approx(12345.678) and oi.open_interest_value == pytest.approx(12345.678 * 60001.5)
    assert (mf.mark_price, mf.funding_rate, mf.next_funding_ts) == (60001.5, 0.0001, 1_723_190_400_000)
    assert (tk.last, tk.open, tk.high, tk.volume) == (60100.0, pytest.approx(59000.0), 61000.0, 1234.5)
    for kind in (tk, oi, Candle("kucoin", "x", "BTCUSDT", "1m", 0, 1, 1, 1, 1, 1, 1, 1, 1, None, False, 1, 0)):
        assert sim.encode(kind, ctx) == []  # polled over REST, or not published


@pytest.mark.parametrize("name", ["kucoin_spot", "kucoin_futures"])
def test_sim_book_snapshot_and_diffs_chain(name: str) -> None:
    ctx, sim = FakeCtx(), _sim(name)
    proto = kc.PROTOCOLS[name]
    inst = _instruments(sim, ctx)
    parse = proto.make_parser(inst)
    book = make_book(proto.book)
    _seed_book(ctx, "BTCUSDT")
    early = _parse_all(parse, sim.encode(ctx.delta("BTCUSDT", [(59999.7, 1.0)], []), ctx))
    vs = proto.to_venue("BTCUSDT")
    assert proto.snapshot is not None
    body = _rest_ok(sim, ctx, "GET", proto.snapshot.path, proto.snapshot.params(vs))
    (snap,) = proto.snapshot.parse(body, "BTCUSDT", NS, inst)
    assert type(snap) is BookSnapshot
    for d in early:
        book.on_delta(d)  # received before the snapshot: dropped by it
    assert book.on_snapshot(snap) in ("synced", "waiting")
    for i in range(20):
        if i == 7:
            delta = ctx.delta("BTCUSDT", [], [])  # a change without levels
        else:
            delta = ctx.delta("BTCUSDT", [(59999.0 - i, 0.5 + i / 10)], [(60001.0 + i, 0.25), (60000.0, 0.0)])
        for d in _parse_all(parse, sim.encode(delta, ctx)):
            assert book.on_delta(d) == "applied"
    assert book.synced and book.gaps == 0
    neutral = ctx.book("BTCUSDT", 1000)
    assert sorted(book.book.bids.items(), reverse=True) == neutral.bids
    assert sorted(book.book.asks.items()) == neutral.asks
    # a diff the server never sent (skip_depth_at) leaves a hole the book detects
    ctx.delta("BTCUSDT", [(1.0, 1.0)], [])
    outcomes = [book.on_delta(d) for d in _parse_all(parse, sim.encode(ctx.delta("BTCUSDT", [(2.0, 1.0)], []), ctx))]
    assert outcomes[0] == "gap"


@pytest.mark.parametrize("name", ["kucoin_spot", "kucoin_futures"])
def test_sim_connection_messages(name: str) -> None:
    ctx, sim, client = FakeCtx(), _sim(name), FakeClient()
    proto = kc.PROTOCOLS[name]
    assert sim.ws_paths == ("/",) and sim.idle_timeout_s == 28.0
    hs = kc.parse_bullet(_rest_ok(sim, ctx, "POST", kc.BULLET_PATH), "c7")
    assert hs.url.startswith(f"{ctx.ws_url}/?token=flowdesk-sim-token-") and hs.ping_interval_s == 18.0
    parse = proto.make_parser(_instruments(sim, ctx))
    (welcome,) = sim.on_open(client, "/", {"token": "t", "connectId": "c7"}, ctx)
    assert json.loads(welcome) == {"id": "c7", "type": "welcome"} and parse(welcome, NS) == []
    for text in proto.subscribe(("BTCUSDT", "ETHUSDT"), proto.default_streams):
        (ack,) = sim.on_message(client, text, ctx)
        assert json.loads(ack) == {"id": json.loads(text)["id"], "type": "ack"} and parse(ack, NS) == []
    assert client.topics == {(ch, s) for ch in proto_channels(proto) for s in ("BTCUSDT", "ETHUSDT")}
    for text in proto.resubscribe("ETHUSDT", proto.default_streams)[: len(proto.default_streams)]:  # type: ignore[misc]
        sim.on_message(client, text, ctx)
    assert {s for _, s in client.topics} == {"BTCUSDT"}
    (pong,) = sim.on_message(client, proto.ping(), ctx)  # type: ignore[misc]
    assert json.loads(pong)["type"] == "pong" and parse(pong, NS) == []
    for bad in ("garbage{", '{"id":"1","type":"hello"}', kc.request_message("subscribe", "/market/nope:BTC-USDT"),
                kc.request_message("subscribe", f"{next(iter(proto_channels(proto)))}:DOGE-BTC,XBTUSDM")):
        (err,) = sim.on_message(client, bad, ctx)
        assert json.loads(err)["type"] == "error" and json.loads(err)["id"] == "c7"
        with pytest.raises(VenueError):
            parse(err, NS)
    (err,) = sim.on_open(FakeClient(), "/", {}, ctx)
    assert json.loads(err)["code"] == 401


def proto_channels(proto: Any) -> set[str]:
    table = kc.SPOT_TOPICS if proto.market == "spot" else kc.FUTURES_TOPICS
    return {table[s] for s in proto.default_streams}


@pytest.mark.parametrize("name", ["kucoin_spot", "kucoin_futures"])
def test_sim_rest_paths(name: str) -> None:
    ctx, sim = FakeCtx(), _sim(name)
    proto = kc.PROTOCOLS[name]
    assert proto.instruments is not None and proto.snapshot is not None
    method, path, params, parse_instruments = proto.instruments
    inst = parse_instruments(_rest_ok(sim, ctx, method, path, params))
    assert sorted(inst) == ["BTCUSDT", "ETHUSDT"]
    btc = inst["BTCUSDT"]
    assert (btc.venue_symbol, btc.tick_size) == (proto.to_venue("BTCUSDT"), float(spec_for("BTCUSDT").tick_size))
    for poll in proto.polls:
        body = _rest_ok(sim, ctx, "GET", poll.path.format(symbol=proto.to_venue("ETHUSDT")), poll.params("ETHUSDTM"))
        assert poll.parse(body, "ETHUSDT", NS, inst) == []  # nothing live yet: no records, no zeros
    status, body = sim.rest("GET", "/api/v1/nope", {}, ctx)
    assert (status, body["code"]) == (404, "404000")
    status, body = sim.rest("GET", proto.snapshot.path, {"symbol": "NOPE"}, ctx)
    assert status == 400 and body["code"] == "400100"
    with pytest.raises(VenueError):
        proto.snapshot.parse(body, "BTCUSDT", NS, inst)


def test_sim_spot_ticker_needs_a_trade_and_sequencer_restarts() -> None:
    ctx, sim = FakeCtx(), sim_kc.KucoinSpotSim()
    quote = Quote("kucoin", "x", "BTCUSDT", 1.0, 1.0, 2.0, 1.0, 0, ctx.clock, 0)
    assert sim.encode(quote, ctx) == []  # KuCoin's ticker carries the last trade price
    seq = sim_kc.Sequencer(start=10)
    assert seq.at("X", 5) == 9 and seq.assign("X", 6, 3) == (10, 12) and seq.at("X", 6) == 12
    assert seq.assign("X", 9, 1) == (15, 15)  # 7 and 8 were never encoded: one sequence each
    assert seq.assign("X", 1, 2) == (16, 17) and seq.at("X", 1) == 17  # a restarted market


def test_sim_fmt() -> None:
    assert [sim_kc.fmt(v, 3) for v in (60000.0, 0.0, 0.005, 100.0, 1.2345)] == ["60000", "0", "0.005", "100", "1.234"]
