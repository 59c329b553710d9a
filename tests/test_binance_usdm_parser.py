"""Binance USD-M parsers on real messages: every event type, acks, errors, channels, REST.

WebSocket frames quoted inline come from the real captures in ``shared/data`` (hftbacktest's
BTCUSDT/ETHUSDT 2024-08-08, cryptofeed's BINANCE_FUTURES 2021); the others are read from the
tardis-node and nautilus sample files there. REST payloads without a recorded sample are the
response examples of Binance's API documentation.
"""

from __future__ import annotations

import io
import json
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
    Ticker24h,
    Trade,
)
from flowdesk.streaming.venues import binance_usdm as bn
from flowdesk.streaming.venues.base import (
    ParseError,
    UnknownMessage,
    VenueError,
    as_bool,
    as_int,
    as_str,
    levels,
    opt_float,
)

NAUTILUS = "samples/nautilus/adapters/binance"

# real frames from captures/binance-usdm/*_20240808.gz
BTC_TRADE_BUY = (
    '{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161256322,"T":1723161256322,'
    '"s":"BTCUSDT","t":5266583935,"p":"61800.30","q":"0.006","X":"MARKET","m":false}}'
)
BTC_TRADE_SELL = (
    '{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161256523,"T":1723161256523,'
    '"s":"BTCUSDT","t":5266583939,"p":"61800.20","q":"0.015","X":"MARKET","m":true}}'
)
BTC_BOOK_TICKER = (
    '{"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":5123107839020,"s":"BTCUSDT",'
    '"b":"61800.20","B":"2.507","a":"61800.30","A":"2.510","T":1723161256313,"E":1723161256313}}'
)
ETH_DEPTH = (
    '{"stream":"ethusdt@depth@0ms","data":{"e":"depthUpdate","E":1723161274093,'
    '"T":1723161274091,"s":"ETHUSDT","U":5123109277116,"u":5123109279417,"pu":5123109276963,'
    '"b":[["200.00","10.229"],["707.81","0.170"],["804.48","0.000"],["2649.39","0.000"],'
    '["2679.68","1.684"],["2679.96","0.015"],["2681.60","26.130"]],'
    '"a":[["2681.61","2.330"],["2683.76","4.574"],["2949.78","0.007"]]}}'
)
# real frames from captures/cryptofeed/BINANCE_FUTURES.jsonl.zst
CTK_AGG_TRADE = (
    '{"stream":"ctkusdt@aggTrade","data":{"e":"aggTrade","E":1626992741575,"a":16599292,'
    '"s":"CTKUSDT","p":"1.01100","q":"10","f":23961322,"l":23961322,"T":1626992741421,"m":false}}'
)
CTK_KLINE = (
    '{"stream":"ctkusdt@kline_1m","data":{"e":"kline","E":1626992741424,"s":"CTKUSDT","k":'
    '{"t":1626992700000,"T":1626992759999,"s":"CTKUSDT","i":"1m","f":23961275,"L":23961322,'
    '"o":"1.01000","c":"1.01100","h":"1.01100","l":"1.01000","v":"3917","n":48,"x":false,'
    '"q":"3957.89900","V":"1729","Q":"1748.01900","B":"0"}}}'
)
NS = 1723161255088176367


def tardis_lines() -> list[str]:
    path = real_file("samples/tardis-node/binance_futures_messages.jsonl")
    return path.read_text().splitlines()


def tardis(contains: str, index: int = 0) -> str:
    """The ``index``-th tardis-node binance-futures sample line containing ``contains``."""
    return [line for line in tardis_lines() if contains in line][index]


def nautilus(name: str) -> bytes:
    return real_file(f"{NAUTILUS}/{name}").read_bytes()


def one(raw: str | bytes, recv_ns: int = NS) -> Any:
    recs = bn.parse_message(raw, recv_ns)
    assert len(recs) == 1, recs
    return recs[0]


# ---- trades ---------------------------------------------------------------------------------


def test_trade_from_capture_exact_fields() -> None:
    t = one(BTC_TRADE_BUY)
    assert t == Trade("binance", "usdm", "BTCUSDT", 5266583935, 61800.3, 0.006, "buy",
                      1723161256322, NS, 5266583935, 5266583935, "ws")


def test_trade_side_is_the_aggressor() -> None:
    # m (buyer is maker) true: the seller took liquidity
    assert one(BTC_TRADE_SELL).side == "sell"
    assert one(BTC_TRADE_BUY).side == "buy"


def test_agg_trade_keeps_aggregate_and_raw_ids() -> None:
    t = one(CTK_AGG_TRADE, 7)
    assert t == Trade("binance", "usdm", "CTKUSDT", 16599292, 1.011, 10.0, "buy",
                      1626992741421, 7, 23961322, 23961322, "ws")
    n = one(nautilus("futures/market_data_json/agg_trade_stream.json"))
    assert (n.trade_id, n.first_id, n.last_id, n.side, n.ts) == (5933014, 100, 105, "sell", 123456785)


def test_trade_without_envelope_equals_enveloped_and_bytes_equal_str() -> None:
    bare = json.dumps(json.loads(BTC_TRADE_SELL)["data"])
    assert bn.parse_message(bare, NS) == bn.parse_message(BTC_TRADE_SELL, NS)
    assert bn.parse_message(BTC_TRADE_SELL.encode(), NS) == bn.parse_message(BTC_TRADE_SELL, NS)


def test_off_book_trade_is_skipped() -> None:
    # a real insurance-fund fill on the trade stream is not order-book flow
    line = tardis('"X":"INSURANCE_FUND"')
    assert bn.parse_message(line, NS) == []
    market = one(tardis('"X":"MARKET"'))
    assert (market.trade_id, market.price, market.qty, market.side) == (173525189, 11343.67, 0.467, "sell")


# ---- quotes, book diffs ----------------------------------------------------------------------


def test_book_ticker_exact_fields() -> None:
    q = one(BTC_BOOK_TICKER)
    assert q == Quote("binance", "usdm", "BTCUSDT", 61800.2, 2.507, 61800.3, 2.51,
                      5123107839020, 1723161256313, NS)


def test_book_ticker_ts_is_transaction_time_else_event_time() -> None:
    q = one(tardis('"e":"bookTicker"'))
    assert (q.update_id, q.ts) == (185130926750, 1612137603568)  # T, not E=...571
    data = json.loads(tardis('"e":"bookTicker"'))["data"]
    del data["T"]
    assert one(json.dumps(data)).ts == 1612137603571


def test_depth_update_levels_and_sequence_ids() -> None:
    d = one(ETH_DEPTH)
    assert isinstance(d, BookDelta)
    assert (d.symbol, d.first_update_id, d.last_update_id, d.prev_update_id, d.ts) == (
        "ETHUSDT", 5123109277116, 5123109279417, 5123109276963, 1723161274091)
    assert d.bids == [(200.0, 10.229), (707.81, 0.17), (804.48, 0.0), (2649.39, 0.0),
                      (2679.68, 1.684), (2679.96, 0.015), (2681.6, 26.13)]
    assert d.asks == [(2681.61, 2.33), (2683.76, 4.574), (2949.78, 0.007)]


def test_depth_update_nautilus_sample() -> None:
    d = one(nautilus("futures/market_data_json/depth_update_stream.json"))
    assert (d.first_update_id, d.last_update_id, d.prev_update_id) == (157, 160, 149)
    assert (d.bids, d.asks) == ([(0.0024, 10.0)], [(0.0026, 100.0)])


# ---- mark price, liquidations, klines, tickers ------------------------------------------------


def test_mark_price_with_index_and_funding() -> None:
    m = one(tardis("markPrice@1s", 0))
    assert m == MarkFunding("binance", "usdm", "BTCUSDT", 11857.56, 11851.86949091, 0.0001564,
                            1597564800000, 1597536008000, NS)


def test_mark_price_without_index_and_delivery_contract() -> None:
    old = one(tardis('"stream":"btcusdt@markPrice"'))  # 2019 protocol: no "i"
    assert (old.mark_price, old.index_price, old.funding_rate) == (8291.34697815, None, 0.0001)
    delivery = one(tardis("btcbusd_210129"))  # T == 0: no next funding
    assert (delivery.symbol, delivery.next_funding_ts, delivery.funding_rate) == (
        "BTCBUSD_210129", None, 0.0)
    data = json.loads(tardis("btcbusd_210129"))["data"]
    data["r"] = ""  # what Binance sends for contracts without funding
    assert one(json.dumps(data)).funding_rate is None


def test_force_order_to_liquidation() -> None:
    liq = one(tardis('"e":"forceOrder"'))
    assert liq == Liquidation("binance", "usdm", "BTCUSDT", "buy", 4793.91, 4706.04, 0.014,
                              0.014, "FILLED", 1584059031421, NS)
    sell = one(nautilus("futures/market_data_json/liquidation_stream.json"))
    assert (sell.side, sell.avg_price, sell.ts) == ("sell", 9910.12345678, 1568014460893)
    # an order with no fill yet has no average price (Binance sends "0"): None, not 0.0
    unfilled = json.loads(tardis('"e":"forceOrder"'))
    unfilled["data"]["o"].update(ap="0.00", z="0", X="NEW")
    liq = one(json.dumps(unfilled))
    assert (liq.avg_price, liq.filled_qty, liq.status) == (None, 0.0, "NEW")


def test_kline_open_and_closed() -> None:
    c = one(CTK_KLINE)
    assert c == Candle("binance", "usdm", "CTKUSDT", "1m", 1626992700000, 1626992759999, 1.01,
                       1.011, 1.01, 1.011, 3917.0, 3957.899, 48, 1729.0, False,
                       1626992741424, NS)
    closed = one(nautilus("futures/market_data_json/kline_stream_closed.json"))
    assert closed.closed is True
    assert one(nautilus("futures/market_data_json/kline_stream_open.json")).closed is False


def test_24hr_ticker() -> None:
    t = one(tardis('"e":"24hrTicker"'))
    assert t == Ticker24h("binance", "usdm", "BTCUSDT", 10223.74, 10311.91, 10329.38, 10080.7,
                          20248.9, 207024349.13, -0.855, 32423, 1568693103467, NS)


def test_every_nautilus_futures_market_sample_parses() -> None:
    folder = real_file(f"{NAUTILUS}/futures/market_data_json/ticker_stream.json").parent
    kinds = {type(one(p.read_bytes())).__name__ for p in sorted(folder.glob("*.json"))}
    assert kinds == {"Trade", "Quote", "BookDelta", "Candle", "Liquidation", "MarkFunding", "Ticker24h"}


def test_array_stream_gives_one_record_per_item() -> None:
    items = [json.loads(tardis("markPrice@1s"))["data"], json.loads(tardis("btcbusd_210129"))["data"]]
    frame = json.dumps({"stream": "!markPrice@arr@1s", "data": items})
    assert [m.symbol for m in bn.parse_message(frame, NS)] == ["BTCUSDT", "BTCBUSD_210129"]


def test_cryptofeed_capture_replays_without_errors() -> None:
    """Every frame of cryptofeed's real 2021 BINANCE_FUTURES session (4 symbols)."""
    path = real_file("captures/cryptofeed/BINANCE_FUTURES.jsonl.zst")
    counts: dict[str, int] = {}
    with zstandard.ZstdDecompressor().stream_reader(path.open("rb")) as fh:
        for line in io.TextIOWrapper(fh, encoding="utf-8"):
            rec = json.loads(line)
            if rec["t"] == "recv":
                for r in bn.parse_message(rec["data"], int(rec["ts"] * 1e9)):
                    counts[type(r).__name__] = counts.get(type(r).__name__, 0) + 1
    assert counts == {"BookDelta": 764, "Quote": 613, "Trade": 91, "Candle": 67}


# ---- acks, errors -------------------------------------------------------------------------


@pytest.mark.parametrize("ack", ['{"result":null,"id":1}', '{"result":["btcusdt@aggTrade"],"id":3}'])
def test_subscription_replies_give_nothing(ack: str) -> None:
    assert bn.parse_message(ack, NS) == []


def test_error_reply_is_a_venue_error() -> None:
    reply = '{"error":{"code":2,"msg":"Invalid request: unknown stream"},"id":1}'
    with pytest.raises(VenueError, match="Invalid request"):
        bn.parse_message(reply, NS)
    assert issubclass(VenueError, UnknownMessage)


@pytest.mark.parametrize("raw", [BTC_TRADE_BUY[:-7], "", "not json", b"\xff\xfe"])
def test_malformed_json_is_a_parse_error(raw: str | bytes) -> None:
    with pytest.raises(ParseError, match="bad JSON"):
        bn.parse_message(raw, NS)


@pytest.mark.parametrize("raw", ["[1, 2]", "42", "null", '"text"'])
def test_non_objects_are_parse_errors(raw: str) -> None:
    with pytest.raises(ParseError):
        bn.parse_message(raw, NS)


def test_missing_field_is_a_parse_error_naming_it() -> None:
    # tardis-node's 2019 aggTrade sample predates the aggregate id "a": not parseable today
    with pytest.raises(ParseError, match="aggTrade.*'a'"):
        bn.parse_message(tardis('"e":"aggTrade"'), NS)
    data = json.loads(BTC_BOOK_TICKER)
    del data["data"]["A"]
    with pytest.raises(ParseError, match="bookTicker.*'A'"):
        bn.parse_message(json.dumps(data), NS)


@pytest.mark.parametrize(
    ("frame", "field", "value"),
    [
        (BTC_TRADE_BUY, "t", "5266583935"),  # id as a string
        (BTC_TRADE_BUY, "p", None),
        (BTC_TRADE_BUY, "q", "abc"),
        (BTC_TRADE_BUY, "m", "false"),  # a string is not a boolean
        (ETH_DEPTH, "pu", 5123109276963.0),  # a float id
        (ETH_DEPTH, "b", [["2679.68"]]),  # a level without quantity
        (ETH_DEPTH, "a", "2681.61"),
        (BTC_BOOK_TICKER, "s", None),
        (CTK_KLINE, "k", {"t": 1}),
    ],
)
def test_ill_typed_field_is_a_parse_error(frame: str, field: str, value: Any) -> None:
    msg = json.loads(frame)
    msg["data"][field] = value
    with pytest.raises(ParseError):
        bn.parse_message(json.dumps(msg), NS)


def test_unknown_event_types_are_unknown_messages() -> None:
    with pytest.raises(UnknownMessage, match="ORDER_TRADE_UPDATE"):
        bn.parse_message(nautilus("futures/user_data_json/order_update_trade.json"), NS)
    # tardis-node's generated REST payloads carry no event type
    with pytest.raises(UnknownMessage, match="without an event type"):
        bn.parse_message(tardis("depthSnapshot"), NS)


# ---- channels and URLs ---------------------------------------------------------------------


def test_stream_names_for_every_setting() -> None:
    names = bn.stream_names(["BTCUSDT"], ["aggTrade", "trade", "bookTicker", "depth", "markPrice",
                                          "forceOrder", "kline_1m"])
    assert names == ["btcusdt@aggTrade", "btcusdt@trade", "btcusdt@bookTicker",
                     "btcusdt@depth@100ms", "btcusdt@markPrice@1s", "btcusdt@forceOrder",
                     "btcusdt@kline_1m"]


def test_depth_speed_suffix_and_symbol_order() -> None:
    assert bn.stream_names(["BTCUSDT", "ETHUSDT"], ["depth"], 250) == ["btcusdt@depth", "ethusdt@depth"]
    assert bn.stream_names(["BTCUSDT"], ["depth"], 0) == ["btcusdt@depth@0ms"]
    with pytest.raises(ValueError, match="depth_speed_ms"):
        bn.stream_names(["BTCUSDT"], ["depth"], 50)
    with pytest.raises(ValueError, match="ticker"):
        bn.stream_names(["BTCUSDT"], ["ticker"])


def test_ws_url_matches_a_real_connection() -> None:
    # the URL cryptofeed connected to in captures/cryptofeed/BINANCE_FUTURES.jsonl.zst
    names = bn.stream_names(["SUSHIUSDT", "AKROUSDT"], ["aggTrade", "bookTicker"])
    assert bn.ws_url("wss://fstream.binance.com/", names) == (
        "wss://fstream.binance.com/stream?streams="
        "sushiusdt@aggTrade/sushiusdt@bookTicker/akrousdt@aggTrade/akrousdt@bookTicker")


# ---- REST weights -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "weight"),
    [
        ("/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": 5}, 2),
        ("/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": 50}, 2),
        ("/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": 100}, 5),
        ("/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": "500"}, 10),
        ("/fapi/v1/depth", {"symbol": "BTCUSDT"}, 10),  # default limit 500
        ("/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": 1000}, 20),
        ("/fapi/v1/openInterest", {"symbol": "BTCUSDT"}, 1),
        ("/fapi/v1/premiumIndex", {"symbol": "BTCUSDT"}, 1),
        ("/fapi/v1/premiumIndex", {}, 10),
        ("/fapi/v1/ticker/24hr", {"symbol": "BTCUSDT"}, 1),
        ("/fapi/v1/ticker/24hr", {}, 40),
        ("/fapi/v1/exchangeInfo", {}, 1),
        ("/fapi/v1/aggTrades", {"symbol": "BTCUSDT", "fromId": 1, "limit": 1000}, 20),
        ("/fapi/v1/historicalTrades", {"symbol": "BTCUSDT", "limit": 1000}, 20),
        ("/fapi/v1/klines", {"symbol": "BTCUSDT", "limit": 99}, 1),
        ("/fapi/v1/klines", {"symbol": "BTCUSDT", "limit": 100}, 2),
        ("/fapi/v1/klines", {"symbol": "BTCUSDT", "limit": 499}, 2),
        ("/fapi/v1/klines", {"symbol": "BTCUSDT"}, 5),
        ("/fapi/v1/klines", {"symbol": "BTCUSDT", "limit": 1000}, 5),
        ("/fapi/v1/klines", {"symbol": "BTCUSDT", "limit": 1500}, 10),
    ],
)
def test_request_weight(path: str, params: dict[str, Any], weight: int) -> None:
    assert bn.request_weight(path, params) == weight


def test_request_weight_unknown_path() -> None:
    with pytest.raises(ValueError, match="/fapi/v1/allForceOrders"):
        bn.request_weight("/fapi/v1/allForceOrders", {})


# ---- REST parsers -------------------------------------------------------------------------


def cryptofeed_depth_snapshots() -> list[tuple[str, str, float]]:
    """(symbol, body, receive time) of the 4 real depth snapshots cryptofeed fetched."""
    out = []
    for line in real_file("captures/cryptofeed/rest/BINANCE_FUTURES.http.0.0").read_text().splitlines():
        if not line.strip():
            continue
        url, _, rest = line.partition(" -> ")
        ts, _, body = rest.partition(": ")
        out.append((url.split("symbol=")[1].split("&")[0], body, float(ts)))
    return out


def test_depth_snapshot_from_real_rest_payloads() -> None:
    snaps = {sym: bn.parse_depth_snapshot(body, sym, int(ts * 1e9))
             for sym, body, ts in cryptofeed_depth_snapshots()}
    assert sorted(snaps) == ["AKROUSDT", "CTKUSDT", "KEEPUSDT", "SUSHIUSDT"]
    s = snaps["SUSHIUSDT"]
    assert isinstance(s, BookSnapshot)
    assert (s.last_update_id, s.ts) == (600859605926, 1626992741261)
    assert s.bids[:2] == [(7.611, 6.0), (7.608, 161.0)]
    sizes = {sym: (len(x.bids), len(x.asks)) for sym, x in snaps.items()}
    assert sizes == {"SUSHIUSDT": (1000, 1000), "AKROUSDT": (609, 763), "KEEPUSDT": (400, 612),
                     "CTKUSDT": (485, 744)}
    assert all(x.bids[0][0] < x.asks[0][0] for x in snaps.values())
    assert s.bids == sorted(s.bids, reverse=True) and s.asks == sorted(s.asks)


def test_depth_snapshot_from_capture_and_without_times() -> None:
    body = real_file(f"{NAUTILUS}/spot/http_json/depth_response.json").read_bytes()
    s = bn.parse_depth_snapshot(body, "BNBBTC", 1_700_000_000_123_456_789)
    assert (s.last_update_id, s.bids, s.asks) == (1027024, [(4.0, 431.0)], [(4.000002, 12.0)])
    assert s.ts == 1_700_000_000_123  # no T/E in the payload: our receive time in ms
    with pytest.raises(ParseError, match="lastUpdateId"):
        bn.parse_depth_snapshot({"bids": [], "asks": []}, "BTCUSDT", 0)


def test_open_interest() -> None:
    doc = {"openInterest": "10659.509", "symbol": "BTCUSDT", "time": 1589437530011}
    assert bn.parse_open_interest(doc, NS) == OpenInterest(
        "binance", "usdm", "BTCUSDT", 10659.509, None, 1589437530011, NS)
    # tardis-node's recording of the same endpoint kept no "time": refuse rather than invent one
    with pytest.raises(ParseError, match="time"):
        bn.parse_open_interest(json.loads(tardis("openInterest"))["data"], NS)


def test_premium_index() -> None:
    doc = {"symbol": "BTCUSDT", "markPrice": "11793.63104562", "indexPrice": "11781.80495970",
           "estimatedSettlePrice": "11781.16138815", "lastFundingRate": "0.00038246",
           "interestRate": "0.00010000", "nextFundingTime": 1597392000000, "time": 1597370495002}
    assert bn.parse_premium_index(orjson.dumps(doc), NS) == MarkFunding(
        "binance", "usdm", "BTCUSDT", 11793.63104562, 11781.8049597, 0.00038246,
        1597392000000, 1597370495002, NS)
    delivery = dict(doc, symbol="BTCUSDT_240927", lastFundingRate="", nextFundingTime=0)
    m = bn.parse_premium_index(delivery, NS)
    assert (m.funding_rate, m.next_funding_ts) == (None, None)


def test_ticker_24h_rest() -> None:
    # nautilus' spot sample has the futures fields plus spot-only bid/ask: those are ignored
    t = bn.parse_ticker_24h(real_file(f"{NAUTILUS}/spot/http_json/ticker_24hr_response.json").read_bytes(), NS)
    assert t == Ticker24h("binance", "usdm", "BNBBTC", 4.000002, 99.0, 100.0, 0.1, 8913.3, 15.3,
                          -95.96, 76, 1499869899040, NS)


def test_agg_trades_rest() -> None:
    doc = [{"a": 26129, "p": "0.01633102", "q": "4.70443515", "f": 27781, "l": 27781,
            "T": 1498793709153, "m": True}]
    assert bn.parse_agg_trades(doc, "BTCUSDT", NS) == [Trade(
        "binance", "usdm", "BTCUSDT", 26129, 0.01633102, 4.70443515, "sell", 1498793709153, NS,
        27781, 27781, "rest")]


def test_historical_trades_rest() -> None:
    body = real_file(f"{NAUTILUS}/spot/http_json/trades_response.json").read_bytes()
    assert bn.parse_historical_trades(body, "BNBBTC", NS) == [Trade(
        "binance", "usdm", "BNBBTC", 28457, 4.000001, 12.0, "sell", 1499865549590, NS, 28457,
        28457, "rest")]


def test_klines_rest_closed_by_now() -> None:
    # a real BTCUSDT 5m answer, quoted in the binance_futures Elixir client docs
    doc = [[1616338800000, "57212.69", "57315.00", "57196.19", "57300.00", "496.263",
            1616339099999, "28425514.78940", 7160, "273.108", "15642623.69718", "0"],
           [1616339100000, "57300.00", "57300.00", "57200.61", "57206.47", "174.865",
            1616339399999, "10009130.07051", 2602, "60.409", "3457649.49072", "0"]]
    now_ms = 1616339200000  # inside the second bar
    first, second = bn.parse_klines(doc, "BTCUSDT", "5m", NS, now_ms)
    assert first == Candle("binance", "usdm", "BTCUSDT", "5m", 1616338800000, 1616339099999,
                           57212.69, 57315.0, 57196.19, 57300.0, 496.263, 28425514.7894, 7160,
                           273.108, True, 1616339099999, NS)
    assert (second.closed, second.ts, second.trade_count) == (False, now_ms, 2602)
    # at the bar's last millisecond it is still open; one ms later it is closed
    at_close = bn.parse_klines(doc, "BTCUSDT", "5m", NS, 1616339399999)[1]
    after = bn.parse_klines(doc, "BTCUSDT", "5m", NS, 1616339400000)[1]
    assert (at_close.closed, after.closed, after.ts) == (False, True, 1616339399999)


def test_klines_nautilus_sample() -> None:
    body = real_file(f"{NAUTILUS}/spot/http_json/klines_response.json").read_bytes()
    (c,) = bn.parse_klines(body, "ETHBTC", "1w", NS, now_ms=1_700_000_000_000)
    assert (c.open_ts, c.close_ts, c.high, c.volume, c.trade_count, c.closed) == (
        1499040000000, 1499644799999, 0.8, 148976.11427815, 308, True)


def exchange_info_payload() -> str:
    path = real_file("captures/cryptofeed/BINANCE_FUTURES.jsonl.zst")
    with zstandard.ZstdDecompressor().stream_reader(path.open("rb")) as fh:
        for line in io.TextIOWrapper(fh, encoding="utf-8"):
            rec = json.loads(line)
            if rec["t"] == "http" and rec["url"].endswith("/fapi/v1/exchangeInfo"):
                return str(rec["data"])
    raise AssertionError("no exchangeInfo in the capture")


def test_exchange_info_real_payload() -> None:
    infos = bn.parse_exchange_info(exchange_info_payload())
    assert len(infos) == 122
    assert infos["BTCUSDT"] == bn.SymbolInfo("BTCUSDT", "TRADING", "PERPETUAL", 0.01, 0.001, 2, 3)
    assert infos["SUSHIUSDT"] == bn.SymbolInfo("SUSHIUSDT", "TRADING", "PERPETUAL", 0.001, 1.0, 4, 0)
    assert sum(i.contract_type == "CURRENT_QUARTER" for i in infos.values()) == 2


def test_exchange_info_without_lot_size_is_a_parse_error() -> None:
    doc = json.loads(exchange_info_payload())
    doc["symbols"][5]["filters"] = [f for f in doc["symbols"][5]["filters"] if f["filterType"] != "LOT_SIZE"]
    with pytest.raises(ParseError, match=r"symbols\[5\].*LOT_SIZE"):
        bn.parse_exchange_info(doc)


@pytest.mark.parametrize(
    ("parse", "payload"),
    [
        (lambda p: bn.parse_agg_trades(p, "BTCUSDT", NS), {"code": -1121, "msg": "Invalid symbol."}),
        (lambda p: bn.parse_agg_trades(p, "BTCUSDT", NS), [{"a": 1, "p": "1", "q": "1", "T": 1, "m": True}]),
        (lambda p: bn.parse_historical_trades(p, "BTCUSDT", NS), b"[{"),
        (lambda p: bn.parse_klines(p, "BTCUSDT", "1m", NS, 0), [[1616338800000, "1", "1"]]),
        (lambda p: bn.parse_open_interest(p, NS), {"openInterest": "x", "symbol": "BTCUSDT", "time": 1}),
        (lambda p: bn.parse_premium_index(p, NS), []),
        (lambda p: bn.parse_ticker_24h(p, NS), "null"),
        (lambda p: bn.parse_exchange_info(p), {"symbols": {}}),
    ],
)
def test_malformed_rest_payloads_are_parse_errors(parse: Any, payload: Any) -> None:
    with pytest.raises(ParseError):
        parse(payload)


def test_parse_errors_name_the_bad_row() -> None:
    rows = [{"a": 1, "p": "1", "q": "1", "f": 1, "l": 1, "T": 1, "m": True},
            {"a": 2, "p": "1", "q": "1", "f": 2, "l": 2, "T": 2}]
    with pytest.raises(ParseError, match=r"aggTrades\[1\].*'m'"):
        bn.parse_agg_trades(rows, "BTCUSDT", NS)



# ---- shared helpers (venues/base.py) the next venues reuse ------------------------------


def test_levels_accepts_extra_columns_and_rejects_short_rows() -> None:
    # OKX sends [price, size, liquidated orders, order count] (cryptofeed's real OKX capture)
    okx = [["30238.8", "2", "0", "1"], ["30249.5", "50", "0", "1"]]
    assert levels(okx) == [(30238.8, 2.0), (30249.5, 50.0)]
    with pytest.raises(ValueError, match="price level"):
        levels([["30238.8", "2"], ["30249.5"]])


def test_field_readers_reject_wrong_json_types() -> None:
    assert (as_int(5266583935), as_str("BTCUSDT"), as_bool(False)) == (5266583935, "BTCUSDT", False)
    for read, value in [(as_int, "1"), (as_int, 1.0), (as_str, None), (as_bool, "false"), (as_bool, 0)]:
        with pytest.raises(TypeError):
            read(value)
    assert (opt_float(""), opt_float(None), opt_float("0.00010000")) == (None, None, 0.0001)


def test_levels_fast_path_never_mispairs_ragged_rows() -> None:
    """The one-pass orjson conversion is taken only when every row is exactly [price, qty]."""
    from flowdesk.streaming.venues.base import levels

    assert levels([["61800.2", "2.909"], ["61800.1", "0.000"]]) == [(61800.2, 2.909), (61800.1, 0.0)]
    assert levels([["1", "2", "0", "4"]]) == [(1.0, 2.0)]  # OKX's four columns
    with pytest.raises(ValueError, match="needs \\[price, qty\\]"):
        levels([["1", "2", "3"], ["4"]])  # 4 values for 2 rows, but ragged
    with pytest.raises(ValueError):
        levels([["x", "1"]])


# ---- the numeric fast path for diff-depth frames --------------------------------------------


def _regular_depth(raw: str) -> list[Any]:
    return bn._depth_update(orjson.loads(raw)["data"], NS)


def test_depth_fast_path_equals_regular_path_on_every_capture_diff() -> None:
    """Every diff of both real captures: the quote-stripping fast path runs and gives the very
    records (same floats, same order) that the string path gives."""
    import gzip

    checked = 0
    for name in ("btcusdt_20240808.gz", "ethusdt_20240808.gz"):
        with gzip.open(real_file(f"captures/binance-usdm/{name}"), "rt") as fh:
            for line in fh:
                raw = line.split(" ", 1)[1].rstrip("\n")
                if '"e":"depthUpdate"' not in raw:
                    continue
                fast = bn._depth_numeric(raw, NS)
                assert fast is not None, raw[:120]
                assert fast == _regular_depth(raw) == bn.parse_message(raw, NS)
                checked += 1
    assert checked == 13137  # 6,551 BTCUSDT + 6,586 ETHUSDT diffs


def _compact(field: str, value: Any) -> str:
    msg = orjson.loads(ETH_DEPTH)
    msg["data"][field] = value
    return orjson.dumps(msg).decode()  # compact, like Binance: the fast path applies


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("b", [["2679.68"]]),  # a level without quantity
        ("a", [["2681.61", "abc"]]),
        ("a", [["2681.61", None]]),
        ("a", "2681.61"),
        ("U", "5123109277116"),  # an id as a string
    ],
)
def test_depth_fast_path_defers_to_regular_path_on_bad_levels(field: str, value: Any) -> None:
    raw = _compact(field, value)
    assert bn._depth_numeric(raw, NS) is None
    with pytest.raises(ParseError):
        bn.parse_message(raw, NS)


def test_depth_fast_path_declines_other_layouts_and_regular_path_parses_them() -> None:
    msg = orjson.loads(ETH_DEPTH)
    msg["data"]["x"] = "after the levels"  # a field after "b": stripping quotes would break it
    raw = orjson.dumps(msg).decode()
    assert bn._depth_numeric(raw, NS) is None
    assert bn.parse_message(raw, NS) == bn.parse_message(ETH_DEPTH, NS)
    numbers = ETH_DEPTH.replace('"200.00","10.229"', "200.00,10.229")  # numbers, not strings
    assert bn.parse_message(numbers, NS) == bn.parse_message(ETH_DEPTH, NS)
    # rows the regular path reads (extra columns ignored; "NaN" through float()) but JSON
    # numbers cannot spell: the fast path declines and both give the regular result
    for rows in ([["2679.68", "1.0", "7"]], [["NaN", "1.0"]]):
        raw = _compact("b", rows)
        assert bn._depth_numeric(raw, NS) is None
        assert repr(bn.parse_message(raw, NS)) == repr(_regular_depth(raw))  # NaN != NaN
