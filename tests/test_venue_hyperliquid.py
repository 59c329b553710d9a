"""Hyperliquid perps: the parser on real frames, its edge cases, and the simulator round trip.

Real data: the hftbacktest capture (BTC ``l2Book`` + ``trades``, 2025-01-26, 55 frames),
tardis-node's message samples and nautilus_trader's REST/WS fixtures. Every capture fact the
tests compare against is read independently with plain ``json``.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import pytest

from conftest import real_file
from flowdesk.records import (
    BookDelta,
    BookSnapshot,
    Candle,
    Liquidation,
    MarkFunding,
    OpenInterest,
    Quote,
    Ticker24h,
    Trade,
)
from flowdesk.streaming.book import StreamBook, make_book
from flowdesk.streaming.captures import iter_capture
from flowdesk.streaming.simulator.config import SymbolSpec, spec_for
from flowdesk.streaming.simulator.venues import hyperliquid as sim_hl
from flowdesk.streaming.venues import hyperliquid as hl
from flowdesk.streaming.venues.base import ParseError, UnknownMessage, VenueError
from flowdesk.streaming.venues.protocol import Instrument
from sim_fakes import FakeBook, FakeClient

CAPTURE = "captures/hyperliquid/btcusd_20250126.gz"
NAUTILUS = "samples/nautilus/adapters/hyperliquid/"
PROTOCOL = hl.PROTOCOLS["hyperliquid_perp"]
RECV = 1_737_918_843_893_903_000


def parser() -> Any:
    return hl.make_parser({})


def frame(channel: str, data: Any) -> str:
    return json.dumps({"channel": channel, "data": data})


# =============================================================================================
# The real capture
# =============================================================================================


@dataclass
class Replay:
    """What flowdesk made of the capture."""

    errors: list[str] = field(default_factory=list)
    unknown: int = 0
    records: Counter[str] = field(default_factory=Counter)
    trades: list[Trade] = field(default_factory=list)
    snapshots: list[BookSnapshot] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    crossed: int = 0
    side_checked: int = 0
    side_wrong: int = 0
    book: StreamBook = field(default_factory=lambda: make_book("ws_full"))  # type: ignore[arg-type]


@cache
def replay(path: Path) -> Replay:
    out = Replay()
    parse = parser()
    for recv_ns, raw in iter_capture(path):
        try:
            records = parse(raw, recv_ns)
        except ParseError as exc:
            out.errors.append(str(exc))
            continue
        except UnknownMessage:
            out.unknown += 1
            continue
        for rec in records:
            out.records[type(rec).__name__] += 1
            if type(rec) is BookSnapshot:
                out.snapshots.append(rec)
                out.outcomes[out.book.on_snapshot(rec)] += 1
                out.crossed += out.book.book.is_crossed()
            elif type(rec) is BookDelta:
                out.outcomes[out.book.on_delta(rec)] += 1
            elif type(rec) is Trade:
                out.trades.append(rec)
                check_aggressor(out, rec)
    return out


def check_aggressor(out: Replay, t: Trade) -> None:
    """A buy must have lifted at or above the best ask, a sell hit at or below the best bid."""
    if not out.book.synced:
        return
    bid, ask = out.book.book.best_bid(), out.book.book.best_ask()
    assert bid is not None and ask is not None
    ok = t.price >= ask[0] if t.side == "buy" else t.price <= bid[0]
    out.side_checked += 1
    out.side_wrong += not ok


@dataclass
class Facts:
    channels: Counter[str]
    trades: list[dict[str, Any]]
    books: list[dict[str, Any]]


@cache
def facts(path: Path) -> Facts:
    """The capture read with plain json, no flowdesk code."""
    channels: Counter[str] = Counter()
    trades: list[dict[str, Any]] = []
    books: list[dict[str, Any]] = []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            msg = json.loads(line.split(" ", 1)[1])
            channels[msg["channel"]] += 1
            if msg["channel"] == "trades":
                trades.extend(msg["data"])
            elif msg["channel"] == "l2Book":
                books.append(msg["data"])
    return Facts(channels, trades, books)


@pytest.fixture
def capture() -> Path:
    return real_file(CAPTURE)


def test_every_capture_frame_parses(capture: Path) -> None:
    r, f = replay(capture), facts(capture)
    assert r.errors == [] and r.unknown == 0
    assert f.channels == Counter({"l2Book": 46, "trades": 9})
    assert r.records == Counter({"BookSnapshot": f.channels["l2Book"], "Trade": len(f.trades)})
    assert len(f.trades) == 64


def test_capture_trades_match_plain_json(capture: Path) -> None:
    r, f = replay(capture), facts(capture)
    assert [t.trade_id for t in r.trades] == [t["tid"] for t in f.trades]
    assert [t.ts for t in r.trades] == [t["time"] for t in f.trades]
    assert sum(t.qty for t in r.trades) == pytest.approx(sum(float(t["sz"]) for t in f.trades))
    signed = sum(t.qty if t.side == "buy" else -t.qty for t in r.trades)
    assert signed == pytest.approx(sum(float(t["sz"]) * (1 if t["side"] == "B" else -1) for t in f.trades))
    assert r.trades[-1].price == float(f.trades[-1]["px"]) == 105051.0
    first = r.trades[0]
    assert first == Trade("hyperliquid", "perp", "BTCUSDT", 121451470284048, 105056.0, 0.00219, "buy",
                          1737918794873, first.recv_ns, 121451470284048, 121451470284048, "ws")
    assert all(t.symbol == "BTCUSDT" and t.source == "ws" for t in r.trades)
    # tids are 50-bit hashes: not contiguous, which is why the protocol says so
    assert not PROTOCOL.contiguous_trade_ids
    assert any(b != a + 1 for a, b in pairwise(t.trade_id for t in r.trades))


def test_capture_aggressor_side_agrees_with_the_book(capture: Path) -> None:
    r = replay(capture)
    assert r.side_checked == 64  # the first trades frame follows two books: every trade is checked
    assert r.side_wrong == 0


def test_capture_book_chain_under_ws_full(capture: Path) -> None:
    r, f = replay(capture), facts(capture)
    assert r.outcomes == Counter({"synced": 46})
    assert (r.book.gaps, r.book.resyncs) == (0, 0)  # every frame is a full book: no gap possible
    assert r.book.synced and not r.book.stale and r.crossed == 0
    times = [s.last_update_id for s in r.snapshots]
    assert times == [b["time"] for b in f.books] and times == sorted(times)
    last = f.books[-1]["levels"]
    assert r.book.book.best_bid() == (float(last[0][0]["px"]), float(last[0][0]["sz"]))
    assert r.book.book.best_ask() == (float(last[1][0]["px"]), float(last[1][0]["sz"]))
    assert len(r.book.book.bids) == len(last[0]) == 20 and len(r.book.book.asks) == len(last[1]) == 20


# =============================================================================================
# Real single messages: tardis-node and nautilus_trader
# =============================================================================================


def test_tardis_samples() -> None:
    lines = real_file("samples/tardis-node/hyperliquid_messages.jsonl").read_text().splitlines()
    parse = parser()
    kinds: Counter[str] = Counter()
    for line in lines:
        try:
            kinds.update(type(r).__name__ for r in parse(line, RECV))
        except UnknownMessage:
            kinds["unknown"] += 1
        except ParseError:
            kinds["error"] += 1
    # activeSpotAssetCtx and the spot bbo of "@162" are not perp data; tardis's BTC bbo sample
    # holds a single level, which the documented [bid, ask] pair cannot be read from
    assert kinds == Counter({"Trade": 6, "BookSnapshot": 2, "MarkFunding": 1, "OpenInterest": 1,
                             "unknown": 2, "error": 1})
    ctx = json.loads(lines[6])["data"]["ctx"]
    mark, oi = parse(lines[6], RECV)
    assert mark == MarkFunding("hyperliquid", "perp", "MOODENGUSDT", float(ctx["markPx"]), float(ctx["oraclePx"]),
                               float(ctx["funding"]), 1737921600000, RECV // 1_000_000, RECV)
    assert oi.open_interest == float(ctx["openInterest"])
    assert oi.open_interest_value == pytest.approx(float(ctx["openInterest"]) * float(ctx["markPx"]))
    (book,) = parse(lines[5], RECV)
    assert (book.symbol, book.bids, book.asks) == ("BANANAUSDT", [(59.8, 3.4), (59.778, 1.6)], [(59.811, 2.9), (59.832, 17.6)])
    (empty,) = parse(lines[4], RECV)
    assert (empty.symbol, empty.bids, empty.asks) == ("SHIAUSDT", [], [])
    with pytest.raises(ParseError, match="bbo"):
        parse(lines[9], RECV)


def nautilus(name: str) -> Any:
    return json.loads(real_file(NAUTILUS + name).read_text())


def test_nautilus_ws_book_and_rest_book() -> None:
    data = nautilus("ws_book_data.json")
    (snap,) = parser()(frame("l2Book", data), RECV)
    assert snap.last_update_id == snap.ts == data["time"]
    assert snap.bids == [(float(x["px"]), float(x["sz"])) for x in data["levels"][0]]
    assert snap.asks[0] == (98451.0, 1.5)
    rest = nautilus("http_l2_book_btc.json")
    book = hl.parse_l2_book(rest, "BTCUSDT", RECV)
    assert (book.symbol, book.ts, book.bids[0], book.asks[-1]) == ("BTCUSDT", 1761786491067, (110427.0, 4.11882), (110433.0, 1.27191))
    assert len(book.bids) == len(rest["levels"][0]) == 5


def test_nautilus_meta_gives_instruments() -> None:
    meta = nautilus("http_meta_perp_sample.json")
    inst = hl.parse_instruments(meta)
    assert list(inst) == ["BTCUSDT", "ETHUSDT", "ATOMUSDT"]
    # meta alone has no price: the finest tick the asset can have, 10**-(6 - szDecimals)
    assert inst["BTCUSDT"] == Instrument("BTCUSDT", "BTC", 0.1, 0.00001, 1.0, "trading")
    assert (inst["ETHUSDT"].tick_size, inst["ETHUSDT"].step_size) == (0.01, 0.0001)
    assert (inst["ATOMUSDT"].tick_size, inst["ATOMUSDT"].step_size) == (0.0001, 0.01)


def test_nautilus_asset_ctxs_parse_as_active_asset_ctx() -> None:
    """The real contexts of the allDexsAssetCtxs sample, each in an activeAssetCtx frame."""
    ctxs = nautilus("ws_all_dexs_asset_ctxs.json")["data"]["ctxs"][0][1]
    parse = parser()
    for ctx in ctxs:
        mark, oi = parse(frame("activeAssetCtx", {"coin": "BTC", "ctx": ctx}), RECV)
        assert (mark.mark_price, mark.index_price, mark.funding_rate) == (
            float(ctx["markPx"]), float(ctx["oraclePx"]), float(ctx["funding"]))
        assert oi.open_interest == float(ctx["openInterest"])


@pytest.mark.parametrize("name", ["ws_allmids.json", "ws_all_dexs_asset_ctxs.json", "ws_user_fill_liquidation.json"])
def test_nautilus_other_channels_are_unknown(name: str) -> None:
    raw = real_file(NAUTILUS + name).read_text()
    with pytest.raises(UnknownMessage) as info:
        parser()(raw, RECV)
    assert not isinstance(info.value, VenueError)


# =============================================================================================
# Edge cases
# =============================================================================================


@pytest.mark.parametrize("raw", [
    '{"channel":"subscriptionResponse","data":{"method":"subscribe","subscription":{"type":"trades","coin":"SOL"}}}',
    '{"channel":"subscriptionResponse","data":{"method":"unsubscribe","subscription":{"type":"l2Book","coin":"BTC"}}}',
    '{"channel":"pong"}',
    "Websocket connection established.",
    b'{"channel":"trades","data":[]}',
])
def test_control_frames_give_nothing(raw: str | bytes) -> None:
    assert parser()(raw, RECV) == []


def test_error_reply_is_a_venue_error() -> None:
    raw = '{"channel":"error","data":"Invalid subscription {\\"type\\":\\"candle\\",\\"coin\\":\\"NOPE\\",\\"interval\\":\\"1m\\"}"}'
    with pytest.raises(VenueError, match="Invalid subscription"):
        parser()(raw, RECV)


@pytest.mark.parametrize(("raw", "message"), [
    ('{"channel":"trades","data":[{"coin":"BTC","px":"1"', "bad JSON"),
    ('[1, 2]', "expected a JSON object"),
    ('{"channel":"trades","data":[{"coin":"BTC","side":"B","px":"1.0","sz":"2.0","time":1}]}', r"trades: missing .*'tid'"),
    ('{"channel":"trades","data":[{"coin":"BTC","side":"X","px":"1.0","sz":"2.0","time":1,"tid":7}]}', "trades: missing or invalid field 'X'"),
    ('{"channel":"trades","data":[{"coin":"BTC","side":"B","px":"1.0","sz":"2.0","time":"1","tid":7}]}', "trades: ill-typed"),
    ('{"channel":"l2Book","data":{"coin":"BTC","time":1,"levels":[[{"px":"1","sz":"abc","n":1}],[]]}}', "l2Book: ill-typed"),
    ('{"channel":"l2Book","data":{"coin":"BTC","time":1,"levels":[[]]}}', "l2Book: ill-typed"),
    ('{"channel":"bbo","data":{"coin":"BTC","bbo":[{"px":"1","sz":"1","n":1},{"px":"2","sz":"1","n":1}]}}', "bbo: missing .*'time'"),
    ('{"channel":"activeAssetCtx","data":{"coin":"BTC","ctx":{"markPx":"1.0","openInterest":"2"}}}', "activeAssetCtx: missing .*'oraclePx'"),
    ('{"channel":"candle","data":{"t":0,"T":59999,"s":"BTC","i":"1m","o":"1","c":"2","h":"3","l":"0.5","v":"4"}}', "candle: missing .*'n'"),
    ('{"channel":"trades"}', "trades: missing .*'data'"),
])
def test_broken_frames_raise_parse_error(raw: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parser()(raw, RECV)


@pytest.mark.parametrize("raw", ['{"channel":"allMids","data":{"mids":{}}}', '{"data":{}}',
                                 '{"channel":"trades","data":[{"coin":"@107","side":"B","px":"1","sz":"1","time":1,"tid":1}]}'])
def test_unknown_kinds(raw: str) -> None:
    with pytest.raises(UnknownMessage):
        parser()(raw, RECV)


@pytest.mark.parametrize(("symbol", "coin"), [
    ("BTCUSDT", "BTC"), ("BTCUSDC", "BTC"), ("BTCUSD", "BTC"), ("ethusdt", "ETH"),
    ("1000PEPEUSDT", "kPEPE"), ("1000BONKUSDC", "kBONK"), ("1INCHUSDT", "1INCH"),
])
def test_symbol_to_venue(symbol: str, coin: str) -> None:
    assert hl.to_venue(symbol) == coin


@pytest.mark.parametrize(("coin", "symbol"), [("BTC", "BTCUSDT"), ("kPEPE", "1000PEPEUSDT"), ("HYPE", "HYPEUSDT"), ("1INCH", "1INCHUSDT")])
def test_symbol_from_venue(coin: str, symbol: str) -> None:
    assert hl.from_venue(coin) == symbol
    assert hl.to_venue(hl.from_venue(coin)) == coin


def test_bad_symbols() -> None:
    with pytest.raises(ValueError, match="does not end"):
        hl.to_venue("BTCEUR")
    for coin in ("@107", "PURR/USDC", "xyz:TSLA"):
        with pytest.raises(UnknownMessage):
            hl.from_venue(coin)


def test_instruments_map_coins_first() -> None:
    inst = {"XBTUSDT": Instrument("XBTUSDT", "BTC", 1.0, 0.00001, 1.0, "trading")}
    raw = frame("trades", [{"coin": "BTC", "side": "A", "px": "1.5", "sz": "2", "time": 5, "tid": 9}])
    (t,) = hl.make_parser(inst)(raw, RECV)
    assert (t.symbol, t.side, t.qty) == ("XBTUSDT", "sell", 2.0)


def test_quantities_are_coins_contract_size_one() -> None:
    """No contracts on Hyperliquid: sz is in coins and every instrument's contract size is 1."""
    raw = frame("trades", [{"coin": "kPEPE", "side": "B", "px": "0.012", "sz": "1500", "time": 5, "tid": 9}])
    (t,) = parser()(raw, RECV)
    assert (t.symbol, t.qty, t.price) == ("1000PEPEUSDT", 1500.0, 0.012)  # units of 1000 PEPE, as Binance's 1000PEPEUSDT
    inst = hl.parse_instruments([{"universe": [{"name": "kPEPE", "szDecimals": 0}]}, [{"markPx": "0.012"}]])
    assert inst["1000PEPEUSDT"].contract_size == 1.0


def test_bbo_quote_and_empty_side() -> None:
    parse = parser()
    raw = frame("bbo", {"coin": "BTC", "time": 1790358617881,
                        "bbo": [{"px": "83757.0", "sz": "22.61305", "n": 81}, {"px": "83758.0", "sz": "0.00016", "n": 1}]})
    assert parse(raw, RECV) == [Quote("hyperliquid", "perp", "BTCUSDT", 83757.0, 22.61305, 83758.0, 0.00016,
                                      1790358617881, 1790358617881, RECV)]
    one_sided = frame("bbo", {"coin": "BTC", "time": 1, "bbo": [None, {"px": "2", "sz": "1", "n": 1}]})
    assert parse(one_sided, RECV) == []


def candle_frame(t: int, close: str, n: int, as_list: bool = False) -> str:
    k = {"t": t, "T": t + 59_999, "s": "BTC", "i": "1m", "o": "83765.0", "c": close, "h": "83801.0",
         "l": "83756.0", "v": "0.3317", "n": n}
    return frame("candle", [k] if as_list else k)


def test_candles_close_when_the_next_bar_opens() -> None:
    parse = parser()
    t0 = 1790358600000
    (a,) = parse(candle_frame(t0, "83765.0", 36), RECV)
    assert (a.open_ts, a.close_ts, a.close, a.trade_count, a.closed) == (t0, t0 + 59_999, 83765.0, 36, False)
    assert (a.quote_volume, a.taker_buy_volume, a.ts) == (None, None, RECV // 1_000_000)
    (b,) = parse(candle_frame(t0, "83790.0", 40, as_list=True), RECV + 1)  # Candle[] form, same bar
    assert (b.close, b.closed) == (83790.0, False)
    closed, nxt = parse(candle_frame(t0 + 60_000, "83801.0", 2), RECV + 2)
    assert (closed.open_ts, closed.close, closed.trade_count, closed.closed, closed.ts) == (t0, 83790.0, 40, True, t0 + 59_999)
    assert (nxt.open_ts, nxt.closed) == (t0 + 60_000, False)
    (late,) = parse(candle_frame(t0, "83790.0", 40), RECV + 3)  # a stray frame of the old bar
    assert late.closed is False
    (again,) = parse(candle_frame(t0 + 60_000, "83802.0", 3), RECV + 4)
    assert again.close == 83802.0  # still tracking the newest bar


def test_asset_ctx_funding_is_hourly() -> None:
    assert hl.next_funding_ts(1737918843893) == 1737921600000  # 2025-01-26T19:00:00Z
    assert hl.next_funding_ts(1737921600000) == 1737925200000  # on the hour: the next one
    ctx = {"funding": "0.0000125", "openInterest": "27353.17682", "prevDayPx": "76317.0", "dayNtlVlm": "1.0",
           "premium": "-0.0005927453", "oraclePx": "77605.0", "markPx": "77562.0", "midPx": "77558.5",
           "impactPxs": ["77558.0", "77559.0"], "dayBaseVlm": "19707.77457"}
    mark, oi = parser()(frame("activeAssetCtx", {"coin": "BTC", "ctx": ctx}), RECV)
    assert mark == MarkFunding("hyperliquid", "perp", "BTCUSDT", 77562.0, 77605.0, 0.0000125, 1737921600000,
                               RECV // 1_000_000, RECV)
    assert oi == OpenInterest("hyperliquid", "perp", "BTCUSDT", 27353.17682, 27353.17682 * 77562.0, RECV // 1_000_000, RECV)


def test_ws_full_book_snapshots_replace_the_book() -> None:
    """Snapshot then snapshot: a level missing from the next book is gone; no diff is ever made."""
    parse, book = parser(), make_book(PROTOCOL.book)
    first = frame("l2Book", {"coin": "BTC", "time": 1, "levels": [[{"px": "10", "sz": "1", "n": 1}, {"px": "9", "sz": "2", "n": 1}],
                                                                   [{"px": "11", "sz": "1", "n": 1}]]})
    second = frame("l2Book", {"coin": "BTC", "time": 2, "levels": [[{"px": "9", "sz": "3", "n": 2}], [{"px": "11", "sz": "1", "n": 1}]]})
    for raw in (first, second):
        (snap,) = parse(raw, RECV)
        assert type(snap) is BookSnapshot
        assert book.on_snapshot(snap) == "synced"
    assert book.book.bids == {9.0: 3.0} and book.book.last_update_id == 2
    assert (book.gaps, book.resyncs) == (0, 0)


def test_tick_size_rule() -> None:
    assert hl.tick_size(5, "105055.0") == 1.0  # integers always allowed, 6 digits
    assert hl.tick_size(5, "98450.5") == 1.0  # 5 significant figures
    assert hl.tick_size(4, "3000.5") == 0.1
    assert hl.tick_size(0, "0.19963") == 0.00001
    assert hl.tick_size(4, "0.5") == 0.01  # capped by 6 - szDecimals decimals
    assert hl.tick_size(5) == 0.1


def test_instruments_from_meta_and_asset_ctxs() -> None:
    payload = [{"universe": [{"name": "BTC", "szDecimals": 5, "maxLeverage": 40},
                             {"name": "ETH", "szDecimals": 4, "maxLeverage": 25, "isDelisted": True},
                             {"name": "xyz:TSLA", "szDecimals": 3, "maxLeverage": 10}]},
               [{"markPx": "105055.0"}, {"markPx": "3000.5"}, {"markPx": "250.1"}]]
    inst = hl.parse_instruments(orjson.dumps(payload))
    assert inst == {"BTCUSDT": Instrument("BTCUSDT", "BTC", 1.0, 0.00001, 1.0, "trading"),
                    "ETHUSDT": Instrument("ETHUSDT", "ETH", 0.1, 0.0001, 1.0, "delisted")}
    with pytest.raises(ParseError, match=r"universe\[0\]"):
        hl.parse_instruments({"universe": [{"name": "BTC"}]})
    with pytest.raises(ParseError, match="meta"):
        hl.parse_instruments([1, 2])


def test_client_messages() -> None:
    assert PROTOCOL.subscribe(("BTCUSDT", "1000PEPEUSDT"), ("trades", "candle")) == [
        '{"method":"subscribe","subscription":{"type":"trades","coin":"BTC"}}',
        '{"method":"subscribe","subscription":{"type":"candle","coin":"BTC","interval":"1m"}}',
        '{"method":"subscribe","subscription":{"type":"trades","coin":"kPEPE"}}',
        '{"method":"subscribe","subscription":{"type":"candle","coin":"kPEPE","interval":"1m"}}',
    ]
    assert PROTOCOL.resubscribe is not None
    assert PROTOCOL.resubscribe("ETHUSDT", ("trades", "l2Book")) == [
        '{"method":"unsubscribe","subscription":{"type":"l2Book","coin":"ETH"}}',
        '{"method":"subscribe","subscription":{"type":"l2Book","coin":"ETH"}}',
    ]
    assert PROTOCOL.resubscribe("ETHUSDT", ("trades",)) == []
    assert PROTOCOL.ping is not None and PROTOCOL.ping() == '{"method":"ping"}'
    assert PROTOCOL.ws_target("wss://api.hyperliquid.xyz", ("BTCUSDT",), ("trades",)) == "wss://api.hyperliquid.xyz/ws"
    assert PROTOCOL.ws_target("ws://127.0.0.1:9000/ws/", (), ()) == "ws://127.0.0.1:9000/ws"
    with pytest.raises(ValueError, match="unknown hyperliquid_perp stream"):
        PROTOCOL.subscribe(("BTCUSDT",), ("depth",))


def test_protocol_description() -> None:
    p = PROTOCOL
    assert (p.name, p.exchange, p.market, p.book) == ("hyperliquid_perp", "hyperliquid", "perp", "ws_full")
    assert p.streams == {"trades", "l2Book", "bbo", "activeAssetCtx", "candle"}
    assert set(p.default_streams) == p.streams
    assert p.snapshot is None and p.polls == () and p.trades_by_id is None
    assert set(p.unavailable) == {"Liquidation", "Ticker24h"}
    assert (p.taker_fee_bps, p.max_weight_per_minute, p.ping_interval_s) == (4.5, 1200, 20.0)
    assert p.ping_interval_s < sim_hl.SIMS["hyperliquid_perp"].idle_timeout_s  # type: ignore[operator]
    assert p.instruments is not None and p.instruments[:3] == ("POST", "/info", {"type": "metaAndAssetCtxs"})
    assert p.request_weight("/info", {"type": "metaAndAssetCtxs"}) == 20
    assert p.request_weight("/info", {"type": "l2Book", "coin": "BTC"}) == 2
    with pytest.raises(ValueError):
        p.request_weight("/exchange", {})
    assert p.to_venue("BTCUSDT") == "BTC"


def test_parse_is_fast_enough() -> None:
    """A rough guard against a slow path: 2000 twenty-level books (about 25 us each) in 0.5 s."""
    import time

    raw = frame("l2Book", {"coin": "BTC", "time": 1, "levels": [
        [{"px": f"{100000 - i}.0", "sz": "0.5", "n": 3} for i in range(20)],
        [{"px": f"{100001 + i}.0", "sz": "0.5", "n": 3} for i in range(20)]]}).encode()
    parse = parser()
    start = time.perf_counter()
    for _ in range(2000):
        parse(raw, RECV)
    assert time.perf_counter() - start < 0.5  # about 0.05 s on a laptop


# =============================================================================================
# Simulator round trip with a fake SimContext
# =============================================================================================


@dataclass
class FakeCtx:
    symbols: list[str] = field(default_factory=lambda: ["BTCUSDT", "ETHUSDT"])
    ws_url: str = "ws://127.0.0.1:1"
    rest_url: str = "http://127.0.0.1:1"
    clock: int = 1_723_161_600_000
    books: dict[str, FakeBook] = field(default_factory=dict)
    newest: dict[tuple[str, str], Any] = field(default_factory=dict)
    stored: list[Trade] = field(default_factory=list)

    def spec(self, symbol: str) -> SymbolSpec:
        return spec_for(symbol)

    def now_ms(self) -> int:
        return self.clock

    def book(self, symbol: str, depth: int) -> FakeBook:
        b = self.books[symbol]
        return FakeBook(b.seq, b.bids[:depth], b.asks[:depth])

    def latest(self, symbol: str, kind: str) -> Any:
        return self.newest.get((symbol, kind))

    def trades(self, symbol: str, from_id: int | None, limit: int) -> list[Trade]:
        rows = [t for t in self.stored if t.symbol == symbol]
        return rows[-limit:] if from_id is None else [t for t in rows if t.trade_id >= from_id][:limit]

    def candles(self, symbol: str, limit: int) -> list[Any]:
        return []

    def record(self, event: Any) -> None:
        self.newest[(event.symbol, type(event).__name__)] = event


def book_of(mid: float, n: int = 25, qty: float = 0.5) -> FakeBook:
    return FakeBook(1, [(round(mid - 0.1 * (i + 1), 1), qty + i * 0.001) for i in range(n)],
                    [(round(mid + 0.1 * i, 1), qty + i * 0.002) for i in range(n)])


def trade(i: int, price: float, side: str = "buy", symbol: str = "BTCUSDT") -> Trade:
    return Trade("binance", "usdm", symbol, i, price, round(0.012 + i / 1000, 3), side, 1_723_161_600_000 + i, 0, i, i, "ws")


@pytest.fixture
def ctx() -> FakeCtx:
    c = FakeCtx()
    c.books = {"BTCUSDT": book_of(60000.0), "ETHUSDT": book_of(3000.0)}
    c.stored = [trade(i, 60000.0 + i / 10, "buy" if i % 2 else "sell") for i in range(1, 41)]
    return c


SIM = sim_hl.SIMS["hyperliquid_perp"]


def test_sim_shape() -> None:
    assert SIM.name == "hyperliquid_perp" and SIM.ws_paths == ("/ws",) and SIM.idle_timeout_s == 60.0
    assert SIM.on_open(FakeClient(), "/ws", {}, FakeCtx()) == []


def test_sim_subscribe_trades_ack_then_recent_trades(ctx: FakeCtx) -> None:
    client, parse = FakeClient(), parser()
    msg = PROTOCOL.subscribe(("BTCUSDT",), ("trades",))[0]
    ack, recent = SIM.on_message(client, msg, ctx)
    assert client.topics == {("trades", "BTCUSDT")}
    assert json.loads(ack) == {"channel": "subscriptionResponse",
                               "data": {"method": "subscribe", "subscription": {"type": "trades", "coin": "BTC"}}}
    assert parse(ack, RECV) == []
    got = parse(recent, RECV)
    assert len(got) == sim_hl.RECENT_TRADES
    want = ctx.stored[-sim_hl.RECENT_TRADES:]
    assert [(t.trade_id, t.price, t.qty, t.side, t.ts) for t in got] == [(t.trade_id, t.price, t.qty, t.side, t.ts) for t in want]
    wire = json.loads(recent)["data"][0]
    assert set(wire) == {"coin", "side", "px", "sz", "time", "hash", "tid", "users"}
    assert isinstance(wire["px"], str) and wire["hash"].startswith("0x") and len(wire["hash"]) == 66
    assert SIM.on_message(client, msg, ctx) == ['{"channel":"error","data":"Already subscribed: {\\"type\\":\\"trades\\",\\"coin\\":\\"BTC\\"}"}']


def test_sim_ping_garbage_and_bad_subscriptions(ctx: FakeCtx) -> None:
    client, parse = FakeClient(), parser()
    (pong,) = SIM.on_message(client, PROTOCOL.ping(), ctx)  # type: ignore[misc]
    assert pong == '{"channel":"pong"}' and parse(pong, RECV) == []
    bad = [
        "not json",
        '{"method":"post","id":1,"request":{}}',
        '{"method":"subscribe","subscription":{"type":"noSuchType","coin":"BTC"}}',
        '{"method":"subscribe","subscription":{"type":"trades","coin":"DOGE"}}',
        '{"method":"subscribe","subscription":{"type":"candle","coin":"BTC","interval":"7m"}}',
        '{"method":"unsubscribe","subscription":{"type":"trades","coin":"BTC"}}',
    ]
    for text in bad:
        (reply,) = SIM.on_message(client, text, ctx)
        with pytest.raises(VenueError):
            parse(reply, RECV)
    assert client.topics == set()


def test_sim_unsubscribe(ctx: FakeCtx) -> None:
    client = FakeClient()
    SIM.on_message(client, PROTOCOL.subscribe(("ETHUSDT",), ("bbo",))[0], ctx)
    (ack,) = SIM.on_message(client, hl.unsubscribe(("ETHUSDT",), ("bbo",))[0], ctx)
    assert json.loads(ack)["data"]["method"] == "unsubscribe" and client.topics == set()
    assert parser()(ack, RECV) == []


def test_sim_trade_quote_roundtrip(ctx: FakeCtx) -> None:
    parse = parser()
    for t in (trade(7, 60000.1, "buy"), trade(8, 59999.9, "sell", "ETHUSDT")):
        ((topic, raw),) = SIM.encode(t, ctx)
        assert topic == ("trades", t.symbol)
        (got,) = parse(raw, RECV)
        assert (got.symbol, got.trade_id, got.price, got.qty, got.side, got.ts) == (t.symbol, t.trade_id, t.price, t.qty, t.side, t.ts)
    q = Quote("binance", "usdm", "BTCUSDT", 59999.9, 1.234, 60000.0, 0.5, 77, 1_723_161_600_123, 0)
    ((topic, raw),) = SIM.encode(q, ctx)
    assert topic == ("bbo", "BTCUSDT")
    (got,) = parse(raw, RECV)
    assert (got.bid, got.bid_qty, got.ask, got.ask_qty, got.ts, got.update_id) == (59999.9, 1.234, 60000.0, 0.5, q.ts, q.ts)


def test_sim_asset_ctx_roundtrip(ctx: FakeCtx) -> None:
    parse = parser()
    mark = MarkFunding("binance", "usdm", "BTCUSDT", 60000.5, 60001.2, 0.0000125, None, 1_723_161_600_500, 0)
    assert SIM.encode(mark, ctx) == []  # no open interest yet: the venue always sends both
    ctx.record(mark)
    oi = OpenInterest("binance", "usdm", "BTCUSDT", 12345.678, None, 1_723_161_600_600, 0)
    ((topic, raw),) = SIM.encode(oi, ctx)
    assert topic == ("activeAssetCtx", "BTCUSDT")
    got_mark, got_oi = parse(raw, RECV)
    assert (got_mark.mark_price, got_mark.index_price, got_mark.funding_rate) == (60000.5, 60001.2, 0.0000125)
    assert got_mark.next_funding_ts == hl.next_funding_ts(RECV // 1_000_000)
    assert got_oi.open_interest == 12345.678 and got_oi.open_interest_value == pytest.approx(12345.678 * 60000.5)
    wire = json.loads(raw)["data"]["ctx"]
    assert set(wire) == {"funding", "openInterest", "prevDayPx", "dayNtlVlm", "premium", "oraclePx", "markPx",
                         "midPx", "impactPxs", "dayBaseVlm"}
    assert wire["funding"] == "0.0000125" and all(isinstance(v, str) for k, v in wire.items() if k != "impactPxs")
    ctx.record(oi)
    client = FakeClient()
    ack, first = SIM.on_message(client, PROTOCOL.subscribe(("BTCUSDT",), ("activeAssetCtx",))[0], ctx)
    assert [type(r) for r in parse(first, RECV)] == [MarkFunding, OpenInterest]


def test_sim_candle_roundtrip(ctx: FakeCtx) -> None:
    parse, t0 = parser(), 1_723_161_600_000

    def bar(open_ts: int, close: float, closed: bool) -> Candle:
        return Candle("binance", "usdm", "BTCUSDT", "1m", open_ts, open_ts + 59_999, 60000.0, 60010.5, 59990.1, close,
                      12.345, 740000.0, 17, 6.0, closed, open_ts + 59_999, 0)

    ((topic, raw),) = SIM.encode(bar(t0, 60001.1, False), ctx)
    assert topic == ("candle", "BTCUSDT")
    (k,) = parse(raw, RECV)
    assert (k.open_ts, k.close_ts, k.open, k.high, k.low, k.close, k.volume, k.trade_count, k.closed) == (
        t0, t0 + 59_999, 60000.0, 60010.5, 59990.1, 60001.1, 12.345, 17, False)
    (_, raw), = SIM.encode(bar(t0, 60002.2, True), ctx)
    assert parse(raw, RECV)[0].close == 60002.2
    (_, raw), = SIM.encode(bar(t0 + 60_000, 60003.3, False), ctx)
    closed, opened = parse(raw, RECV)
    assert (closed.open_ts, closed.close, closed.closed) == (t0, 60002.2, True) and not opened.closed
    five = bar(t0, 1.0, False)._replace(interval="5m")
    assert SIM.encode(five, ctx) == []


def test_sim_ignores_what_the_venue_does_not_publish(ctx: FakeCtx) -> None:
    liq = Liquidation("binance", "usdm", "BTCUSDT", "sell", 60000.0, None, 1.0, None, "FILLED", 1, 0)
    tick = Ticker24h("binance", "usdm", "BTCUSDT", 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1, 1, 0)
    assert SIM.encode(liq, ctx) == [] and SIM.encode(tick, ctx) == []


def test_sim_book_snapshot_then_pushes_chain_under_ws_full(ctx: FakeCtx) -> None:
    parse, client, sim = parser(), FakeClient(), sim_hl.HyperliquidSim()  # fresh push clock
    book = make_book(PROTOCOL.book)
    ack, snap_raw = sim.on_message(client, PROTOCOL.subscribe(("BTCUSDT",), ("l2Book",))[0], ctx)
    assert client.topics == {("l2Book", "BTCUSDT")} and parse(ack, RECV) == []
    (snap,) = parse(snap_raw, RECV)
    assert book.on_snapshot(snap) == "synced"
    assert (len(snap.bids), len(snap.asks)) == (sim_hl.BOOK_DEPTH, sim_hl.BOOK_DEPTH)
    assert snap.bids == ctx.books["BTCUSDT"].bids[:20] and snap.asks == ctx.books["BTCUSDT"].asks[:20]
    pushed, last_pushed = 0, ctx.books["BTCUSDT"]
    for n in range(2, 40):  # neutral deltas every 100 ms; the venue pushes a full book per >= 500 ms
        mid = 60000.0 + n / 10
        ctx.books["BTCUSDT"] = book_of(mid, qty=0.5 + n / 100)
        delta = BookDelta("binance", "usdm", "BTCUSDT", n, n, n - 1, [], [], ctx.clock + 100 * n, 0)
        for topic, raw in sim.encode(delta, ctx):
            assert topic == ("l2Book", "BTCUSDT")
            for rec in parse(raw, RECV):
                assert type(rec) is BookSnapshot and book.on_snapshot(rec) == "synced"
                assert rec.last_update_id == delta.ts
                pushed, last_pushed = pushed + 1, ctx.books["BTCUSDT"]
    assert pushed == 8  # at 200, 700, ..., 3700 ms after the start
    assert (book.gaps, book.resyncs) == (0, 0) and not book.book.is_crossed()
    bids, asks = book.book.top(20)
    assert (bids, asks) == (last_pushed.bids[:20], last_pushed.asks[:20])
    back = BookDelta("binance", "usdm", "BTCUSDT", 99, 99, 98, [], [], ctx.clock, 0)  # a replay loop restarts
    assert len(sim.encode(back, ctx)) == 1


def test_sim_rest_answers_what_the_protocol_asks(ctx: FakeCtx) -> None:
    assert PROTOCOL.instruments is not None
    method, path, params, parse_inst = PROTOCOL.instruments
    ctx.record(MarkFunding("binance", "usdm", "BTCUSDT", 60000.5, 60001.2, 0.0001, None, 1, 0))
    status, body = SIM.rest(method, path, params, ctx)
    assert status == 200
    inst = parse_inst(orjson.dumps(body))
    spec = spec_for("BTCUSDT")
    assert inst["BTCUSDT"] == Instrument("BTCUSDT", "BTC", 1.0, float(spec.step_size), 1.0, "trading")
    assert inst["ETHUSDT"].tick_size == 0.1 and inst["ETHUSDT"].venue_symbol == "ETH"  # mark from the book's mid
    status, meta = SIM.rest("POST", "/info", {"type": "meta"}, ctx)
    assert status == 200 and set(hl.parse_instruments(meta)) == {"BTCUSDT", "ETHUSDT"}
    status, book = SIM.rest("POST", "/info", {"type": "l2Book", "coin": "BTC"}, ctx)
    snap = hl.parse_l2_book(book, "BTCUSDT", RECV)
    assert status == 200 and snap.bids == ctx.books["BTCUSDT"].bids[:20] and snap.ts == ctx.clock
    assert SIM.rest("POST", "/info", {"type": "l2Book", "coin": "DOGE"}, ctx)[0] == 422
    assert SIM.rest("POST", "/info", {"type": "nope"}, ctx)[0] == 422
    assert SIM.rest("GET", "/info", {"type": "meta"}, ctx)[0] == 405
    assert SIM.rest("POST", "/exchange", {}, ctx)[0] == 404
    # every REST call of the protocol is one the simulator serves
    assert PROTOCOL.snapshot is None and PROTOCOL.polls == () and PROTOCOL.trades_by_id is None
