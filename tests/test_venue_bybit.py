"""Bybit v5 linear + spot: the parsers on real captures, edge cases, and the simulator round trip.

The real capture is cryptofeed's 2026 Bybit v5 session (``captures/cryptofeed/BYBIT.jsonl.zst``:
linear BTC/ETH/SOL/DOGE and spot BTC/ETH, ``orderbook.200`` snapshot + deltas, ``tickers``,
``publicTrade``, ``kline.1``). Every expected number is read from the file with plain ``json``
in this test, independently of the parser, and the order books are rebuilt twice: by
``make_book("ws_next")`` from the parser's records and by plain dicts from the raw JSON.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from typing import Any

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
from flowdesk.streaming.book import StreamBook, make_book
from flowdesk.streaming.simulator.config import SymbolSpec, spec_for
from flowdesk.streaming.simulator.venues import bybit as sim_bybit
from flowdesk.streaming.venues import bybit as bb
from flowdesk.streaming.venues.base import ParseError, UnknownMessage, VenueError, trade_id_of
from sim_fakes import FakeBook, FakeClient

CAPTURE = "captures/cryptofeed/BYBIT.jsonl.zst"
QUOTE_KEYS = {"bid1Price", "bid1Size", "ask1Price", "ask1Size"}
MARK_KEYS = {"markPrice", "indexPrice", "fundingRate", "nextFundingTime"}
TICKER_KEYS = {"lastPrice", "prevPrice24h", "highPrice24h", "lowPrice24h", "volume24h", "turnover24h", "price24hPcnt"}


# ---------------------------------------------------------------------------------------------
# The real capture: plain-json facts, then what flowdesk makes of it
# ---------------------------------------------------------------------------------------------


@cache
def capture_events() -> list[dict[str, Any]]:
    path = real_file(CAPTURE)
    with zstandard.ZstdDecompressor().stream_reader(path.open("rb")) as fh:
        return [json.loads(line) for line in io.TextIOWrapper(fh, encoding="utf-8")]


@cache
def frames(market: str) -> list[tuple[int, str]]:
    """``(recv_ns, raw)`` of the market's WebSocket connection, in receive order."""
    events = capture_events()
    conn = next(e["conn"] for e in events if e["t"] == "connect" and e["addr"].endswith(f"/v5/public/{market}"))
    return [(int(e["ts"] * 1e9), e["data"]) for e in events if e["t"] == "recv" and e["conn"] == conn]


@dataclass
class Facts:
    """What the capture holds, counted with plain json."""

    acks: int = 0
    trades: list[dict[str, Any]] = field(default_factory=list)
    snapshots: int = 0
    deltas: int = 0
    bars: int = 0
    ticker_kinds: Counter[str] = field(default_factory=Counter)
    idle_tickers: int = 0  # ticker deltas that change none of the collected fields (tickDirection)
    books: dict[str, tuple[dict[str, str], dict[str, str]]] = field(default_factory=dict)
    tickers: dict[str, dict[str, Any]] = field(default_factory=dict)


@cache
def facts(market: str) -> Facts:
    f = Facts()
    for _, raw in frames(market):
        msg = json.loads(raw)
        topic = msg.get("topic", "")
        if "op" in msg:
            f.acks += msg["success"] is True
        elif topic.startswith("publicTrade."):
            f.trades += [t for t in msg["data"] if not t["BT"]]
        elif topic.startswith("orderbook.200."):
            _plain_book(f, msg)
        elif topic.startswith("kline.1."):
            f.bars += len(msg["data"])
        elif topic.startswith("tickers."):
            _plain_ticker(f, msg)
    return f


def _plain_book(f: Facts, msg: dict[str, Any]) -> None:
    d = msg["data"]
    if msg["type"] == "snapshot":
        f.snapshots += 1
        f.books[d["s"]] = ({}, {})
    else:
        f.deltas += 1
    for side, rows in zip(f.books[d["s"]], (d["b"], d["a"]), strict=True):
        for p, q in rows:
            if float(q):
                side[p] = q
            else:
                side.pop(p, None)


def _plain_ticker(f: Facts, msg: dict[str, Any]) -> None:
    d = msg["data"]
    if msg["type"] == "snapshot":
        f.tickers[d["symbol"]] = dict(d)
    else:
        f.tickers[d["symbol"]].update(d)
    keys = set(d)
    f.idle_tickers += not keys & (QUOTE_KEYS | MARK_KEYS | TICKER_KEYS | {"openInterest"})
    f.ticker_kinds["Quote"] += bool(keys & QUOTE_KEYS)
    f.ticker_kinds["MarkFunding"] += bool(keys & MARK_KEYS)
    f.ticker_kinds["OpenInterest"] += "openInterest" in keys
    f.ticker_kinds["Ticker24h"] += bool(keys & TICKER_KEYS)


@dataclass
class Replay:
    """What flowdesk made of one market's frames."""

    errors: list[str] = field(default_factory=list)
    unknown: int = 0
    controls: int = 0
    records: Counter[str] = field(default_factory=Counter)
    trades: list[Trade] = field(default_factory=list)
    last: dict[tuple[str, str], Record] = field(default_factory=dict)
    books: dict[str, StreamBook] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)


@cache
def replay(market: str) -> Replay:
    out = Replay()
    parse = bb.PROTOCOLS[f"bybit_{market}"].make_parser({})
    for recv_ns, raw in frames(market):
        try:
            records = parse(raw, recv_ns)
        except ParseError as exc:
            out.errors.append(str(exc))
            continue
        except UnknownMessage:
            out.unknown += 1
            continue
        out.controls += not records
        for rec in records:
            _collect(out, rec)
    return out


def _collect(out: Replay, rec: Record) -> None:
    kind = type(rec).__name__
    out.records[kind] += 1
    out.last[(kind, rec.symbol)] = rec
    if type(rec) is Trade:
        out.trades.append(rec)
    elif type(rec) in (BookSnapshot, BookDelta):
        book = out.books.setdefault(rec.symbol, make_book("ws_next"))  # type: ignore[arg-type]
        out.outcomes[_apply(book, rec)] += 1


def _apply(book: Any, rec: Any) -> str:
    """A book record into a ``make_book`` keeper: its outcome (synced / applied / gap ...)."""
    return book.on_snapshot(rec) if type(rec) is BookSnapshot else book.on_delta(rec)


MARKETS = ["linear", "spot"]


@pytest.mark.parametrize("market", MARKETS)
def test_every_frame_parses_into_the_expected_records(market: str) -> None:
    r, f = replay(market), facts(market)
    assert r.errors == [] and r.unknown == 0
    # frames without records: subscribe acks (17 linear, 7 spot) and ticker deltas of tickDirection
    assert r.controls == f.acks + f.idle_tickers
    assert r.records["Trade"] == len(f.trades)
    assert (r.records["BookSnapshot"], r.records["BookDelta"]) == (f.snapshots, f.deltas)
    assert r.records["Candle"] == f.bars
    for kind in ("Quote", "MarkFunding", "OpenInterest", "Ticker24h"):
        assert r.records[kind] == f.ticker_kinds[kind], kind
    assert r.records["Liquidation"] == 0  # the capture subscribed allLiquidation but saw none


def test_known_numbers_of_the_capture() -> None:
    lin, spot = replay("linear").records, replay("spot").records
    assert (lin["Trade"], lin["BookDelta"], lin["Quote"], lin["MarkFunding"], lin["OpenInterest"]) == (
        327, 1594, 638, 140, 20,
    )
    assert (spot["Trade"], spot["BookDelta"], spot["Ticker24h"], spot["Candle"]) == (20, 548, 81, 25)
    assert spot["Quote"] == spot["MarkFunding"] == spot["OpenInterest"] == 0


@pytest.mark.parametrize("market", MARKETS)
def test_trades_match_the_capture(market: str) -> None:
    r, f = replay(market), facts(market)
    assert [t.trade_id for t in r.trades] == [trade_id_of(t["i"]) for t in f.trades]
    assert [(t.price, t.qty, t.ts) for t in r.trades] == [
        (float(t["p"]), float(t["v"]), t["T"]) for t in f.trades
    ]
    assert [t.side for t in r.trades] == [t["S"].lower() for t in f.trades]
    assert {t.symbol for t in r.trades} == {t["s"] for t in f.trades}
    assert all(t.source == "ws" and t.first_id == t.last_id == t.trade_id for t in r.trades)
    assert sum(t.qty for t in r.trades) == pytest.approx(sum(float(t["v"]) for t in f.trades))


def test_exact_trade_fields() -> None:
    first = replay("linear").trades[0]
    assert first == Trade(
        "bybit", "linear", "BTCUSDT", trade_id_of("a9188a0a-82bc-50de-be60-03eedbe3cdd7"), 65114.2,
        0.004, "sell", 1786310819680, first.recv_ns, first.trade_id, first.trade_id, "ws",
    )
    spot_first = replay("spot").trades[0]
    spot_fields = (spot_first.symbol, spot_first.price, spot_first.qty, spot_first.side)
    assert spot_fields == ("ETHUSDT", 1923.28, 0.04537, "sell")
    assert spot_first.trade_id == trade_id_of("2280000001739247417")
    last = replay("linear").trades[-1]
    assert (last.price, last.side) == (float(facts("linear").trades[-1]["p"]), facts("linear").trades[-1]["S"].lower())


@pytest.mark.parametrize("market", MARKETS)
def test_book_chain_is_gap_free_and_equals_a_plain_rebuild(market: str) -> None:
    r, f = replay(market), facts(market)
    assert r.outcomes == Counter({"synced": f.snapshots, "applied": f.deltas})  # every delta u = u + 1
    assert sorted(r.books) == sorted(f.books)
    for symbol, book in r.books.items():
        assert book.synced and not book.stale and (book.gaps, book.resyncs) == (0, 0), symbol
        bids, asks = f.books[symbol]
        assert book.book.bids == {float(p): float(q) for p, q in bids.items()}, symbol
        assert book.book.asks == {float(p): float(q) for p, q in asks.items()}, symbol
        assert not book.book.is_crossed() and len(book.book.bids) == len(book.book.asks) == 200


def test_linear_ticker_deltas_merge_into_complete_records() -> None:
    r, f = replay("linear"), facts("linear")
    for symbol, state in f.tickers.items():
        quote = r.last[("Quote", symbol)]
        assert (quote.bid, quote.bid_qty, quote.ask, quote.ask_qty) == tuple(
            float(state[k]) for k in ("bid1Price", "bid1Size", "ask1Price", "ask1Size")
        )
        mark = r.last[("MarkFunding", symbol)]
        assert (mark.mark_price, mark.index_price, mark.funding_rate, mark.next_funding_ts) == (
            float(state["markPrice"]), float(state["indexPrice"]), float(state["fundingRate"]),
            int(state["nextFundingTime"]),
        )
        oi = r.last[("OpenInterest", symbol)]
        assert oi.open_interest == float(state["openInterest"])  # base units (BTC), value in USDT
    first_btc = next(x for x in _records("linear") if type(x) is OpenInterest)
    assert (first_btc.open_interest, first_btc.open_interest_value) == (59891.732, 3899996265.01)


def test_spot_tickers_are_24h_statistics_in_percent() -> None:
    t = next(x for x in _records("spot") if type(x) is Ticker24h and x.symbol == "BTCUSDT")
    assert (t.last, t.open, t.high, t.low) == (65140.5, 65045.3, 65305.6, 64727.9)
    assert (t.volume, t.quote_volume, t.trade_count, t.ts) == (2953.835931, 191907024.69597728, None, 1786310819126)
    assert t.price_change_pct == pytest.approx(0.15)  # "price24hPcnt":"0.0015"


def test_candles_of_the_capture() -> None:
    c = next(x for x in _records("linear") if type(x) is Candle)
    assert c[2:] == (
        "BTCUSDT", "1m", 1786310760000, 1786310819999, 65119.9, 65119.9, 65114.2, 65114.3, 1.576,
        102627.995, None, None, False, 1786310818440, c.recv_ns,
    )


def _records(market: str) -> list[Record]:
    parse = bb.BybitParser(market).parse
    return [rec for ns, raw in frames(market) for rec in parse(raw, ns)]


def test_instruments_of_the_capture() -> None:
    payloads = {e["url"].split("category=")[1].split("&")[0]: e["data"] for e in capture_events() if e["t"] == "http"}
    linear = bb.parse_linear_instruments(payloads["linear"])
    raw = json.loads(payloads["linear"])["result"]["list"]
    assert len(linear) == sum(i["contractType"] == "LinearPerpetual" for i in raw) == 760
    assert linear["BTCUSDT"] == bb.Instrument("BTCUSDT", "BTCUSDT", 0.1, 0.001, 1.0, "Trading")
    assert linear["DOGEUSDT"].step_size == 1.0 and linear["SOLUSDT"].tick_size == 0.01
    assert linear["BTCUSDC"].venue_symbol == "BTCPERP"  # USDC perpetuals
    assert not any("-" in s for s in linear)  # dated futures are left out
    spot = bb.parse_spot_instruments(payloads["spot"])
    assert len(spot) == 557
    assert spot["BTCUSDT"] == bb.Instrument("BTCUSDT", "BTCUSDT", 0.1, 0.000001, 1.0, "Trading")


# ---------------------------------------------------------------------------------------------
# Other real samples: old protocol versions are counted as unknown, current ones parse
# ---------------------------------------------------------------------------------------------


def _outcome(parse: Any, raw: str) -> str:
    try:
        return ",".join(type(r).__name__ for r in parse(raw, 1)) or "control"
    except VenueError:
        return "VenueError"
    except UnknownMessage:
        return "unknown"


def test_tardis_samples_are_retired_protocols_counted_not_crashed() -> None:
    linear = real_file("samples/tardis-node/bybit_messages.jsonl").read_text().splitlines()
    spot = real_file("samples/tardis-node/bybit_spot_messages.jsonl").read_text().splitlines()
    lin = Counter(_outcome(bb.BybitParser("linear").parse, line) for line in linear)
    sp = Counter(_outcome(bb.BybitParser("spot").parse, line) for line in spot)
    # v2 (orderBookL2_25, trade, instrument_info) and spot v1 (depth, trade, bookTicker): gone
    assert lin == Counter({"unknown": 21, "control": 1})
    assert sp == Counter({"unknown": 5})


def test_nautilus_fixtures() -> None:
    base = "samples/nautilus/adapters/bybit/"
    parse = bb.BybitParser("linear").parse

    def load(name: str) -> str:
        return real_file(base + name).read_text()

    assert _outcome(parse, load("ws_subscription_ack.json")) == "control"
    assert _outcome(parse, load("ws_subscription_failure.json")) == "VenueError"
    assert _outcome(parse, load("ws_public_trade.json")) == "unknown"  # "trade.linear.*" is no v5 topic
    (candle,) = parse(load("ws_kline.json"), 1)
    assert (candle.interval, candle.close, candle.closed) == ("5m", 16677.0, False)
    (quote,) = parse(load("ws_orderbook_snapshot.json"), 1)  # orderbook.1 -> Quote
    assert (quote.bid, quote.bid_qty, quote.ask, quote.ask_qty) == (27450.0, 0.5, 27451.0, 0.75)
    assert quote.update_id == 123456789
    q, m, oi, t = parse(load("ws_ticker_linear.json"), 1)
    assert (q.bid, q.ask, q.update_id) == (17215.5, 17216.0, 24987956059)
    assert (m.mark_price, m.index_price, m.funding_rate) == (17217.33, 17227.36, -0.000212)
    assert m.next_funding_ts == 1673280000000
    assert (oi.open_interest, oi.open_interest_value) == (68744.761, 1183601235.91)
    assert t.price_change_pct == pytest.approx(1.7103)
    instruments = bb.parse_linear_instruments(load("http_get_instruments_linear.json"))
    assert instruments["ETHUSDT"] == bb.Instrument("ETHUSDT", "ETHUSDT", 0.05, 0.01, 1.0, "Trading")


def test_xrp_orderbook_500_chain() -> None:
    path = real_file("samples/nautilus/bybit/xrpusdt-ob500.data.zip")
    with zipfile.ZipFile(path) as z:
        lines = z.read(z.namelist()[0]).decode().splitlines()
    parse, book = bb.BybitParser("linear").parse, make_book("ws_next")
    outcomes = Counter()
    for line in lines:
        (rec,) = parse(line, 1)
        outcomes[_apply(book, rec)] += 1
    assert outcomes == Counter({"synced": 1, "applied": 49}) and book.gaps == 0
    assert book.book.best_bid() is not None and not book.book.is_crossed()


# ---------------------------------------------------------------------------------------------
# Edge cases
# ---------------------------------------------------------------------------------------------

LINEAR_ACK = '{"success":true,"ret_msg":"","conn_id":"d8bu1olkndm7crnfs1e0-j6akw","req_id":"","op":"subscribe"}'
SPOT_ACK = '{"success":true,"ret_msg":"subscribe","conn_id":"d9avt8shteepr00gfc1g-4zd1x","op":"subscribe"}'
PONG = '{"success":true,"ret_msg":"pong","conn_id":"465772b1-7630-4fdc-a492-e003e6f0f260","op":"ping"}'
ERROR = (
    '{"success":false,"ret_msg":"error:handler not found,topic:dcp.future","conn_id":"x",'
    '"req_id":"","op":"subscribe"}'
)
DELTA = (
    '{"topic":"orderbook.200.BTCUSDT","type":"delta","ts":1786310818130,"data":{"s":"BTCUSDT",'
    '"b":[["65095.30","0.005"]],"a":[["65116.60","0"]],"u":15076953,"seq":753843913870},"cts":1786310818129}'
)


def _book_frame(kind: str, u: int, bids: list[list[str]], asks: list[list[str]], symbol: str = "BTCUSDT") -> str:
    data = {"s": symbol, "b": bids, "a": asks, "u": u, "seq": u * 10}
    return json.dumps({"topic": f"orderbook.50.{symbol}", "type": kind, "ts": 1000 + u, "data": data})


@pytest.mark.parametrize("raw", [LINEAR_ACK, SPOT_ACK, PONG, '{"op":"pong","args":["1"],"conn_id":"c"}'])
def test_control_frames_give_nothing(raw: str) -> None:
    assert bb.BybitParser("linear").parse(raw, 1) == []


def test_error_replies_raise_venue_error() -> None:
    parse = bb.BybitParser("linear").parse
    with pytest.raises(VenueError, match="handler not found"):
        parse(ERROR, 1)
    with pytest.raises(VenueError, match="10001"):
        parse('{"retCode":10001,"retMsg":"params error"}', 1)


def test_broken_frames_raise_parse_error_naming_kind_and_field() -> None:
    parse = bb.BybitParser("linear").parse
    with pytest.raises(ParseError, match="bad JSON"):
        parse(DELTA[:80], 1)
    with pytest.raises(ParseError, match=r"orderbook\.200\.BTCUSDT delta.*'u'"):
        parse(DELTA.replace('"u":', '"x":'), 1)
    with pytest.raises(ParseError, match="publicTrade.*ill-typed"):
        parse('{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1,"data":[{"T":1,"s":"BTCUSDT",'
              '"S":"Buy","v":"abc","p":"1","i":"x","BT":false}]}', 1)
    with pytest.raises(ParseError, match="allLiquidation.*invalid field 'Long'"):
        parse('{"topic":"allLiquidation.BTCUSDT","type":"snapshot","ts":1,"data":[{"T":1,"s":"BTCUSDT",'
              '"S":"Long","v":"1","p":"1"}]}', 1)
    with pytest.raises(ParseError, match="JSON object"):
        parse("[1, 2]", 1)


def test_unknown_topics_raise_unknown_message() -> None:
    with pytest.raises(UnknownMessage, match="orderBookL2_25"):
        bb.BybitParser("linear").parse('{"topic":"orderBookL2_25.BTCUSD","type":"delta","data":{}}', 1)
    with pytest.raises(UnknownMessage):  # spot has no allLiquidation
        bb.BybitParser("spot").parse('{"topic":"allLiquidation.BTCUSDT","type":"snapshot","ts":1,"data":[]}', 1)
    with pytest.raises(UnknownMessage, match="without a topic"):
        bb.BybitParser("linear").parse('{"hello":1}', 1)


def test_symbol_mapping_both_ways() -> None:
    assert bb.linear_to_venue("BTCUSDT") == "BTCUSDT" and bb.linear_to_venue("BTCUSDC") == "BTCPERP"
    assert bb.linear_from_venue("BTCPERP") == "BTCUSDC" and bb.linear_from_venue("ETHUSDT") == "ETHUSDT"
    assert bb.PROTOCOLS["bybit_spot"].to_venue("BTCUSDC") == "BTCUSDC"
    (trade,) = bb.BybitParser("linear").parse(
        '{"topic":"publicTrade.ETHPERP","type":"snapshot","ts":1,"data":[{"T":5,"s":"ETHPERP","S":"Buy",'
        '"v":"0.10","p":"1900.5","i":"u-1","BT":false,"RPI":true}]}', 7)
    assert (trade.symbol, trade.side, trade.qty, trade.recv_ns) == ("ETHUSDC", "buy", 0.1, 7)
    known = {"BTCUSDC": bb.Instrument("BTCUSDC", "BTCPERP", 0.1, 0.001, 1.0, "Trading")}
    parse = bb.PROTOCOLS["bybit_linear"].make_parser(known)
    (snap,) = parse(_book_frame("snapshot", 5, [["1", "2"]], [["3", "4"]], "BTCPERP"), 1)
    assert snap.symbol == "BTCUSDC"


def test_quantities_are_base_units_with_contract_size_one() -> None:
    """Bybit linear contracts are one coin: ``v`` is already base units, never scaled."""
    path = real_file("samples/nautilus/adapters/bybit/http_get_instruments_linear.json")
    infos = bb.parse_linear_instruments(path.read_text())
    assert {i.contract_size for i in infos.values()} == {1.0}
    (rec,) = bb.BybitParser("linear").parse(DELTA, 1)
    assert rec.bids == [(65095.3, 0.005)] and rec.asks == [(65116.6, 0.0)]


def test_topics_subscribe_chunks_and_resubscribe() -> None:
    symbols = [f"C{i}USDT" for i in range(5)]
    streams = ["publicTrade", "orderbook", "tickers", "kline.1", "allLiquidation"]
    msgs = bb.subscribe_messages("linear", symbols, streams)
    args = [a for m in msgs for a in json.loads(m)["args"]]
    assert len(msgs) == 3 and all(len(json.loads(m)["args"]) <= 10 for m in msgs)
    assert args == bb.topics("linear", symbols, streams) and "orderbook.50.C0USDT" in args
    assert json.loads(msgs[0])["op"] == "subscribe"
    assert [json.loads(m) for m in bb.resubscribe_messages("spot", "BTCUSDT", ["publicTrade", "orderbook.200"])] == [
        {"op": "unsubscribe", "args": ["orderbook.200.BTCUSDT"]},
        {"op": "subscribe", "args": ["orderbook.200.BTCUSDT"]},
    ]
    assert bb.resubscribe_messages("linear", "BTCUSDT", ["publicTrade"]) == []
    with pytest.raises(ValueError, match="one book depth"):
        bb.topics("linear", ["BTCUSDT"], ["orderbook", "orderbook.200"])
    with pytest.raises(ValueError, match="unknown bybit_spot streams"):
        bb.topics("spot", ["BTCUSDT"], ["allLiquidation"])
    assert bb.ws_target("linear", "wss://stream.bybit.com/") == "wss://stream.bybit.com/v5/public/linear"
    assert bb.ws_target("spot", "ws://127.0.0.1:9/v5/public/spot") == "ws://127.0.0.1:9/v5/public/spot"


def test_ticker_deltas_merge_into_state() -> None:
    parse = bb.BybitParser("linear").parse
    snap = {"symbol": "BTCUSDT", "lastPrice": "10", "prevPrice24h": "9", "highPrice24h": "11", "lowPrice24h": "8",
            "volume24h": "5", "turnover24h": "50", "price24hPcnt": "0.111111", "markPrice": "10.1",
            "indexPrice": "10.2", "openInterest": "7", "openInterestValue": "70.7", "nextFundingTime": "28800000",
            "fundingRate": "0.0001", "bid1Price": "9.9", "bid1Size": "1", "ask1Price": "10.1", "ask1Size": "2"}

    def frame(kind: str, data: dict[str, str], cs: int) -> str:
        return json.dumps({"topic": "tickers.BTCUSDT", "type": kind, "data": data, "cs": cs, "ts": 100 + cs})

    assert [type(r) for r in parse(frame("snapshot", snap, 1), 1)] == [Quote, MarkFunding, OpenInterest, Ticker24h]
    (q,) = parse(frame("delta", {"symbol": "BTCUSDT", "bid1Price": "9.95", "bid1Size": "3"}, 2), 1)
    assert (q.bid, q.bid_qty, q.ask, q.ask_qty, q.update_id, q.ts) == (9.95, 3.0, 10.1, 2.0, 2, 102)
    (m,) = parse(frame("delta", {"symbol": "BTCUSDT", "markPrice": "10.3", "openInterestValue": "72.1"}, 3), 1)
    assert (m.mark_price, m.index_price, m.funding_rate, m.next_funding_ts) == (10.3, 10.2, 0.0001, 28800000)
    (oi,) = parse(frame("delta", {"symbol": "BTCUSDT", "openInterest": "8", "openInterestValue": "82.4"}, 4), 1)
    assert (oi.open_interest, oi.open_interest_value) == (8.0, 82.4)
    assert parse(frame("delta", {"symbol": "BTCUSDT", "tickDirection": "PlusTick"}, 5), 1) == []
    fresh = bb.BybitParser("linear").parse  # a delta without its snapshot cannot be completed
    with pytest.raises(ParseError, match="ask1Price"):
        fresh(frame("delta", {"symbol": "BTCUSDT", "bid1Price": "1", "bid1Size": "1"}, 6), 1)


def test_snapshot_then_deltas_sequencing_and_restart() -> None:
    parse, book = bb.BybitParser("linear").parse, make_book("ws_next")

    def feed(raw: str) -> str:
        (rec,) = parse(raw, 1)
        return book.on_snapshot(rec) if type(rec) is BookSnapshot else book.on_delta(rec)  # type: ignore[arg-type]

    assert feed(_book_frame("delta", 9, [["1", "1"]], [])) == "dropped"  # before any snapshot
    assert feed(_book_frame("snapshot", 10, [["100", "1"], ["99", "2"]], [["101", "1"]])) == "synced"
    assert feed(_book_frame("delta", 11, [["100", "0"]], [["101.5", "3"]])) == "applied"
    assert book.book.best_bid() == (99.0, 2.0) and book.book.asks == {101.0: 1.0, 101.5: 3.0}
    assert feed(_book_frame("delta", 13, [], [])) == "gap"  # u jumped: resubscribe for a snapshot
    assert book.gaps == 1 and not book.synced
    assert feed(_book_frame("snapshot", 1, [["50", "1"]], [["51", "1"]])) == "synced"  # u=1 after a restart
    assert feed(_book_frame("delta", 2, [["50.5", "1"]], [])) == "applied"
    assert book.book.best_bid() == (50.5, 1.0)


def test_liquidations_blocks_klines_and_level1() -> None:
    parse = bb.BybitParser("linear").parse
    (liq,) = parse('{"topic":"allLiquidation.ROSEUSDT","type":"snapshot","ts":1739502303204,"data":[{'
                   '"T":1739502302929,"s":"ROSEUSDT","S":"Sell","v":"20000","p":"0.04499"}]}', 1)
    assert liq == Liquidation("bybit", "linear", "ROSEUSDT", "buy", 0.04499, None, 20000.0, None, "", 1739502302929, 1)
    block = ('{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1,"data":[{"T":1,"s":"BTCUSDT","S":"Buy",'
             '"v":"5","p":"1","i":"b","BT":true},{"T":2,"s":"BTCUSDT","S":"Sell","v":"1","p":"1","i":"c","BT":false}]}')
    assert [t.side for t in parse(block, 1)] == ["sell"]  # the block trade is skipped
    one_sided = ('{"topic":"orderbook.1.BTCUSDT","type":"snapshot","ts":5,"data":{"s":"BTCUSDT",'
                 '"b":[],"a":[["2","1"]],"u":3}}')
    assert parse(one_sided, 1) == []
    day = ('{"topic":"kline.D.BTCUSDT","type":"snapshot","ts":9,"data":[{"start":0,"end":86399999,"interval":"D",'
           '"open":"1","close":"2","high":"3","low":"0.5","volume":"10","turnover":"15","confirm":true,'
           '"timestamp":9}]}')
    (c,) = parse(day, 1)
    assert (c.interval, c.closed, c.quote_volume) == ("1d", True, 15.0)


def test_protocols_are_complete() -> None:
    lin, spot = bb.PROTOCOLS["bybit_linear"], bb.PROTOCOLS["bybit_spot"]
    assert (lin.exchange, lin.market, spot.market) == ("bybit", "linear", "spot")
    assert lin.book == spot.book == "ws_next" and lin.snapshot is None and lin.polls == ()
    assert lin.trades_by_id is None and not lin.contiguous_trade_ids
    assert (lin.taker_fee_bps, spot.taker_fee_bps) == (5.5, 10.0)
    assert lin.ping is not None and json.loads(lin.ping()) == {"op": "ping"} and lin.ping_interval_s == 20.0
    assert lin.unavailable == {} and set(spot.unavailable) == {"MarkFunding", "OpenInterest", "Liquidation"}
    assert "allLiquidation" in lin.streams and "allLiquidation" not in spot.streams
    assert lin.ws_target("wss://stream.bybit.com", ("BTCUSDT",), ("publicTrade",)).endswith("/v5/public/linear")
    assert lin.resubscribe is not None and len(lin.resubscribe("BTCUSDT", lin.default_streams)) == 2
    assert lin.instruments is not None and lin.instruments[:2] == ("GET", "/v5/market/instruments-info")
    assert spot.instruments is not None and spot.instruments[2]["category"] == "spot"


# ---------------------------------------------------------------------------------------------
# The simulator: neutral events -> SIM.encode -> our parser; control messages; REST
# ---------------------------------------------------------------------------------------------


@dataclass
class FakeCtx:
    symbols: list[str] = field(default_factory=lambda: ["BTCUSDT", "ETHUSDT", "BTCUSDC"])
    ws_url: str = "ws://127.0.0.1:1"
    rest_url: str = "http://127.0.0.1:1"
    book_seq: int = 100
    latest_events: dict[tuple[str, str], Record] = field(default_factory=dict)

    def spec(self, symbol: str) -> SymbolSpec:
        return spec_for(symbol)

    def now_ms(self) -> int:
        return 1_723_161_600_000

    def book(self, symbol: str, depth: int) -> FakeBook:
        bids = [(60000.0 - 10 * i, 0.5 + i) for i in range(depth)]
        asks = [(60010.0 + 10 * i, 0.25 + i) for i in range(depth)]
        return FakeBook(self.book_seq, bids, asks)

    def latest(self, symbol: str, kind: str) -> Record | None:
        return self.latest_events.get((symbol, kind))

    def trades(self, symbol: str, from_id: int | None, limit: int) -> list[Trade]:
        return []

    def candles(self, symbol: str, limit: int) -> list[Record]:
        return []


T0 = 1_723_161_600_000
EVENTS: list[Record] = [
    Trade("bybit", "x", "BTCUSDT", 41, 60005.5, 0.012, "buy", T0, 0, 41, 41, "ws"),
    Trade("bybit", "x", "BTCUSDT", 42, 60004.1, 1.5, "sell", T0 + 1, 0, 42, 42, "ws"),
    Quote("bybit", "x", "BTCUSDT", 60000.0, 1.25, 60010.0, 0.5, 101, T0 + 2, 0),
    Ticker24h("bybit", "x", "BTCUSDT", 60005.5, 59000.0, 61000.0, 58000.5, 1234.567, 74_000_000.25, 1.7042, None,
              T0 + 3, 0),
    Candle("bybit", "x", "BTCUSDT", "1m", T0, T0 + 59_999, 60000.0, 60010.0, 59990.0, 60005.5, 12.5, 750_060.5,
           None, None, False, T0 + 4, 0),
]
LINEAR_ONLY: list[Record] = [
    MarkFunding("bybit", "x", "BTCUSDT", 60001.25, 60000.75, 0.000125, T0 + 28_800_000, T0 + 5, 0),
    OpenInterest("bybit", "x", "BTCUSDT", 51234.5, 3_074_070_000.0, T0 + 6, 0),
    Liquidation("bybit", "x", "BTCUSDT", "sell", 59950.0, None, 0.75, None, "", T0 + 7, 0),
    Trade("bybit", "x", "BTCUSDC", 7, 3000.5, 2.0, "buy", T0 + 8, 0, 7, 7, "ws"),
]


def _through(market: str, events: list[Record], parse: Any = None) -> list[tuple[tuple[str, str], Record]]:
    sim, ctx = sim_bybit.SIMS[f"bybit_{market}"], FakeCtx()
    parse = parse or bb.BybitParser(market).parse
    out = []
    for event in events:
        for topic, text in sim.encode(event, ctx):
            out += [(topic, rec) for rec in parse(text, 5)]
    return out


def _same(event: Record, rec: Record, fields: tuple[str, ...]) -> None:
    for name in fields:
        assert getattr(rec, name) == pytest.approx(getattr(event, name)), name


@pytest.mark.parametrize("market", MARKETS)
def test_sim_round_trip_of_neutral_events(market: str) -> None:
    parse = bb.BybitParser(market).parse
    got = _through(market, EVENTS + (LINEAR_ONLY if market == "linear" else []), parse)
    by_kind: dict[str, list[Record]] = {}
    for _, rec in got:
        by_kind.setdefault(type(rec).__name__, []).append(rec)
    t1, t2 = by_kind["Trade"][:2]
    _same(EVENTS[0], t1, ("price", "qty", "side", "ts"))
    _same(EVENTS[1], t2, ("price", "qty", "side", "ts"))
    if market == "spot":
        assert (t1.trade_id, t2.trade_id) == (41, 42)  # spot ids are the decimal id itself
    else:
        assert t1.trade_id == trade_id_of(sim_bybit.SIMS["bybit_linear"].linear_trade_uuid("BTCUSDT", 41))
    for quote in by_kind["Quote"]:  # orderbook.1 (both) and the tickers delta (linear)
        _same(EVENTS[2], quote, ("bid", "bid_qty", "ask", "ask_qty", "update_id", "ts"))
    assert len(by_kind["Quote"]) == (2 if market == "linear" else 1)
    ohlcv = ("open", "high", "low", "volume", "quote_volume", "ts")
    _same(EVENTS[3], by_kind["Ticker24h"][-1], ("last", "price_change_pct", *ohlcv))
    _same(EVENTS[4], by_kind["Candle"][0], ("open_ts", "close_ts", "close", *ohlcv))
    assert by_kind["Candle"][0].interval == "1m" and by_kind["Candle"][0].closed is False
    if market == "spot":
        assert not {"MarkFunding", "OpenInterest", "Liquidation"} & set(by_kind)
        return
    mark_fields = ("mark_price", "index_price", "funding_rate", "next_funding_ts", "ts")
    _same(LINEAR_ONLY[0], by_kind["MarkFunding"][0], mark_fields)
    _same(LINEAR_ONLY[1], by_kind["OpenInterest"][0], ("open_interest", "open_interest_value", "ts"))
    _same(LINEAR_ONLY[2], by_kind["Liquidation"][0], ("side", "price", "qty", "ts"))
    assert by_kind["Trade"][2].symbol == "BTCUSDC"  # encoded as BTCPERP, mapped back


def test_sim_frames_go_to_the_right_topics() -> None:
    sim, ctx = sim_bybit.SIMS["bybit_linear"], FakeCtx()
    delta = BookDelta("bybit", "x", "ETHUSDT", 7, 7, 6, [(2999.5, 0.0)], [(3000.5, 1.25)], T0, 0)
    depths = ("orderbook.50", "orderbook.200", "orderbook.1000")
    assert {t for t, _ in sim.encode(delta, ctx)} == {(d, "ETHUSDT") for d in depths}
    assert {t for t, _ in sim.encode(EVENTS[2], ctx)} == {("orderbook.1", "BTCUSDT"), ("tickers", "BTCUSDT")}
    assert [t for t, _ in sim_bybit.SIMS["bybit_spot"].encode(LINEAR_ONLY[2], ctx)] == []
    assert [t for t, _ in sim.encode(LINEAR_ONLY[2], ctx)] == [("allLiquidation", "BTCUSDT")]


@pytest.mark.parametrize("market", MARKETS)
def test_sim_book_snapshot_and_deltas_chain_under_ws_next(market: str) -> None:
    sim, ctx, client = sim_bybit.SIMS[f"bybit_{market}"], FakeCtx(), FakeClient()
    parse, book = bb.BybitParser(market).parse, make_book(bb.PROTOCOLS[f"bybit_{market}"].book)
    replies = sim.on_message(client, '{"op":"subscribe","args":["orderbook.50.BTCUSDT"],"req_id":"7"}', ctx)
    assert client.topics == {("orderbook.50", "BTCUSDT")}
    assert parse(replies[0], 1) == [] and json.loads(replies[0])["req_id"] == "7"
    (snap,) = parse(replies[1], 1)
    assert (type(snap), snap.last_update_id, len(snap.bids)) == (BookSnapshot, 100, 50)
    assert book.on_snapshot(snap) == "synced"
    for n in range(101, 106):
        bids, asks = [(60000.0, 0.0), (60005.0, n / 100)], [(60010.0, 2.5)]
        delta = BookDelta("bybit", "x", "BTCUSDT", n, n, n - 1, bids, asks, T0 + n, 0)
        texts = [text for topic, text in sim.encode(delta, ctx) if topic in client.topics]
        (rec,) = parse(texts[0], 1)
        assert book.on_delta(rec) == "applied"
    assert book.book.best_bid() == (60005.0, 1.05) and book.book.best_ask() == (60010.0, 2.5)
    skipped = BookDelta("bybit", "x", "BTCUSDT", 107, 107, 106, [], [], T0, 0)
    (rec,) = parse(next(t for tp, t in sim.encode(skipped, ctx) if tp in client.topics), 1)
    assert book.on_delta(rec) == "gap"  # a lost diff is detected


def test_sim_control_messages() -> None:
    lin, spot, ctx = sim_bybit.SIMS["bybit_linear"], sim_bybit.SIMS["bybit_spot"], FakeCtx()
    client = FakeClient()
    lin.on_open(client, "/v5/public/linear", {}, ctx)
    parse = bb.BybitParser("linear").parse
    (pong,) = lin.on_message(client, '{"op":"ping"}', ctx)
    conn_id = client.state["conn_id"]
    assert json.loads(pong) == {"success": True, "ret_msg": "pong", "conn_id": conn_id, "req_id": "", "op": "ping"}
    assert parse(pong, 1) == []
    for garbage in ("not json", '{"op":"dance"}', '{"op":"subscribe","args":["nope.BTCUSDT"]}',
                    '{"op":"subscribe","args":["publicTrade.XRPUSDT"]}', '{"op":"subscribe","args":"x"}'):
        (reply,) = lin.on_message(client, garbage, ctx)
        with pytest.raises(VenueError):
            parse(reply, 1)
    assert client.topics == set()
    (ack,) = lin.on_message(client, '{"op":"subscribe","args":["publicTrade.BTCPERP","kline.1.BTCUSDT"]}', ctx)
    assert client.topics == {("publicTrade", "BTCUSDC"), ("kline.1", "BTCUSDT")}
    assert json.loads(ack)["ret_msg"] == "" and parse(ack, 1) == []
    lin.on_message(client, '{"op":"unsubscribe","args":["kline.1.BTCUSDT"]}', ctx)
    assert client.topics == {("publicTrade", "BTCUSDC")}
    sclient = FakeClient()
    spot.on_open(sclient, "/v5/public/spot", {}, ctx)
    (sack,) = spot.on_message(sclient, '{"op":"subscribe","args":["publicTrade.BTCUSDT"]}', ctx)
    spot_id = sclient.state["conn_id"]
    assert json.loads(sack) == {"success": True, "ret_msg": "subscribe", "conn_id": spot_id, "op": "subscribe"}
    eleven = json.dumps({"op": "subscribe", "args": [f"publicTrade.BTCUSDT{i}" for i in range(11)]})
    (too_many,) = spot.on_message(sclient, eleven, ctx)
    assert json.loads(too_many)["success"] is False
    (no_liq,) = spot.on_message(sclient, '{"op":"subscribe","args":["allLiquidation.BTCUSDT"]}', ctx)
    assert json.loads(no_liq)["success"] is False
    assert (lin.ws_paths, spot.ws_paths) == (("/v5/public/linear",), ("/v5/public/spot",))
    assert lin.idle_timeout_s is not None and lin.idle_timeout_s > bb.PING_INTERVAL_S


def test_sim_ticker_snapshot_on_subscribe_carries_the_latest_state() -> None:
    sim, ctx, client = sim_bybit.SIMS["bybit_linear"], FakeCtx(), FakeClient()
    ctx.latest_events = {("BTCUSDT", "Quote"): EVENTS[2], ("BTCUSDT", "MarkFunding"): LINEAR_ONLY[0]}
    ack, snapshot = sim.on_message(client, '{"op":"subscribe","args":["tickers.BTCUSDT"]}', ctx)
    q, m = bb.BybitParser("linear").parse(snapshot, 1)
    assert (q.bid, q.ask, m.mark_price, m.funding_rate) == (60000.0, 60010.0, 60001.25, 0.000125)
    for market in MARKETS:  # no event for ETHUSDT yet: the ack only, deltas start the state
        request = '{"op":"subscribe","args":["tickers.ETHUSDT"]}'
        (ack_only,) = sim_bybit.SIMS[f"bybit_{market}"].on_message(client, request, ctx)
        assert json.loads(ack_only)["op"] == "subscribe"


@pytest.mark.parametrize("market", MARKETS)
def test_sim_rest_instruments_parse_with_our_parser(market: str) -> None:
    sim, ctx = sim_bybit.SIMS[f"bybit_{market}"], FakeCtx()
    proto = bb.PROTOCOLS[f"bybit_{market}"]
    assert proto.instruments is not None
    method, path, params, parse = proto.instruments
    status, body = sim.rest(method, path, {k: str(v) for k, v in params.items()}, ctx)
    assert status == 200
    infos = parse(json.dumps(body))
    assert sorted(infos) == sorted(ctx.symbols)
    for symbol, info in infos.items():
        spec = spec_for(symbol)
        expected = (float(spec.tick_size), float(spec.step_size), 1.0)
        assert (info.tick_size, info.step_size, info.contract_size) == expected
    assert infos["BTCUSDC"].venue_symbol == ("BTCPERP" if market == "linear" else "BTCUSDC")
    status, body = sim.rest("GET", "/v5/market/orderbook", {}, ctx)
    assert status == 404 and body["retCode"] == 10017
    status, body = sim.rest("GET", path, {"category": "option"}, ctx)
    with pytest.raises(VenueError, match="10001"):
        parse(body)


def test_parse_is_fast_enough() -> None:
    """The whole linear capture (2,500 frames) parses well under a second."""
    import time

    raws = [raw.encode() for _, raw in frames("linear")]
    parse = bb.BybitParser("linear").parse
    start = time.perf_counter()
    for raw in raws:
        parse(raw, 1)
    assert time.perf_counter() - start < 1.0

