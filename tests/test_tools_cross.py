"""Cross-exchange tools over a hand-built database of five venues plus a fake live view.

Every expected number below is computed by hand from the rows in the fixture:

venue          quote (bid x qty / ask x qty)     age     mark / index        funding
binance_usdm   99.90 x 3   / 100.00 x 2          1 s     100.02 / 100.01     0.0001, 8 h (history)
bybit_linear   100.20 x 1.5 / 100.30 x 4 (live)  0.5 s   100.30              0.0002, 4 h (history)
okx_swap       101.00 x 1  / 101.10 x 1          120 s   100.50 / 100.40     -0.0001, 8 h (constant)
hyperliquid    -                                 -       99.90              0.0000125, 1 h (constant)
binance_spot   99.95 x 5   / 100.05 x 5          1 s     -                   -
kucoin_spot    configured, no data

Taker fees: binance_usdm 5 (venue default), bybit_linear 5.5 (settings; its default is 6),
okx_swap 5 (generic: its module "does not exist"), binance_spot 10 (venue default).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from flowdesk.records import MarkFunding, Quote, Ticker24h, Trade
from flowdesk.server.mcp import build_mcp
from flowdesk.server.rest import rest_routes
from flowdesk.settings import VenueSettings, load_settings
from flowdesk.storage.store import Store
from flowdesk.storage.writer import BatchWriter
from flowdesk.streaming.venues import registry as venue_registry
from flowdesk.tools import cross
from flowdesk.tools.context import ToolContext, now_ms, set_context
from flowdesk.tools.registry import REGISTRY, ToolError, call_tool, load_tools

HOUR = 3_600_000
SPOT_REASON = "spot market: no mark price or funding rate (fake protocol)"


def _q(venue: tuple[str, str], bid: float, bq: float, ask: float, aq: float, ts: int, sym: str = "BTCUSDT") -> Quote:
    return Quote(venue[0], venue[1], sym, bid, bq, ask, aq, 1, ts, 0)


def _mf(venue: tuple[str, str], mark: float, index: float | None, rate: float, nxt: int, ts: int, sym: str = "BTCUSDT") -> MarkFunding:
    return MarkFunding(venue[0], venue[1], sym, mark, index, rate, nxt, ts, 0)


USDM, BYBIT, OKX, HL, SPOT = ("binance", "usdm"), ("bybit", "linear"), ("okx", "swap"), ("hyperliquid", "perp"), ("binance", "spot")
def _history(now: int) -> list[Quote]:
    """Three 1 s buckets, 10 minutes ago, where both binance_usdm (mid 100) and bybit_linear quoted."""
    base = (now // 1000 - 600) * 1000  # second-aligned
    out = []
    for k, mid_b in enumerate((100.1, 100.2, 99.9)):
        out.append(_q(USDM, 99.99, 1, 100.01, 1, base + k * 1000 + 100))
        out.append(_q(BYBIT, mid_b - 0.01, 1, mid_b + 0.01, 1, base + k * 1000 + 400))
    return out


def _rows(now: int) -> dict[type, list[Any]]:
    """The fixture rows, timed relative to ``now`` (ms) so that ages are known."""
    f1, f2 = now + HOUR, now + 2 * HOUR
    return {
        Quote: [
            *_history(now),
            _q(USDM, 99.90, 3, 100.00, 2, now - 1000),
            _q(BYBIT, 100.10, 1, 100.30, 4, now - 5000),  # older than the live one below
            _q(OKX, 101.00, 1, 101.10, 1, now - 120_000),  # stale
            _q(SPOT, 99.95, 5, 100.05, 5, now - 1000),
            _q(("gateio", "futures"), 2001.0, 1, 2003.0, 1, now - 1000, "ETHUSDT"),
            _q(SPOT, 150.0, 1, 150.1, 1, now - 1000, "SOLUSDT"),
        ],
        MarkFunding: [
            _mf(USDM, 99.90, 99.90, 0.0001, f1 - 8 * HOUR, now - 9 * HOUR),
            _mf(USDM, 100.02, 100.01, 0.0001, f1, now - 2000),
            _mf(BYBIT, 100.10, None, 0.0002, f2 - 4 * HOUR, now - 5 * HOUR),
            _mf(BYBIT, 100.30, None, 0.0002, f2, now - 2000),
            _mf(OKX, 100.50, 100.40, -0.0001, f1, now - 3000),
            _mf(HL, 99.90, None, 0.0000125, now + HOUR // 2, now - 2000),
            _mf(USDM, 2000.0, 1999.0, 0.0001, f1, now - 2000, "ETHUSDT"),
        ],
        Trade: [Trade("binance", "usdm", "BTCUSDT", 1, 99.95, 0.1, "buy", now - 800, 0, 1, 1, "ws")],
        Ticker24h: [Ticker24h("binance", "spot", "BTCUSDT", 100.01, 99.0, 101.0, 98.0, 10.0, 1000.0, 1.0, 5, now - 1500, 0)],
    }


class FakeLive:
    """Only bybit_linear's quote is live (newer than its stored one)."""

    def __init__(self, now: int) -> None:
        self.now = now

    def feed_status(self) -> list[dict[str, Any]]:
        return []

    def book_top(self, exchange: str, market: str, symbol: str, depth: int) -> dict[str, Any] | None:
        return None

    def latest(self, exchange: str, market: str, symbol: str, kind: str) -> tuple | None:
        if (exchange, market, symbol, kind) == ("bybit", "linear", "BTCUSDT", "Quote"):
            return _q(BYBIT, 100.20, 1.5, 100.30, 4, self.now - 500)
        return None


_PROTOCOLS = {
    "binance_usdm": SimpleNamespace(taker_fee_bps=5.0, unavailable={}),
    "bybit_linear": SimpleNamespace(taker_fee_bps=6.0, unavailable={}),
    "binance_spot": SimpleNamespace(taker_fee_bps=10.0, unavailable={"MarkFunding": SPOT_REASON}),
    "hyperliquid_perp": SimpleNamespace(taker_fee_bps=4.5, unavailable={}),
    "gateio_futures": SimpleNamespace(taker_fee_bps=5.0, unavailable={}),
}


def _fake_protocol(name: str) -> Any:
    if name not in _PROTOCOLS:  # okx, kucoin: as if their modules were not written yet
        raise ImportError(f"No module named 'flowdesk.streaming.venues.{name}'")
    return _PROTOCOLS[name]


def _venue(name: str, fee: float | None) -> VenueSettings:
    symbols = ("BTCUSDT", "ETHUSDT") if name == "binance_usdm" else ("BTCUSDT",)
    return VenueSettings(name, True, "wss://example.invalid", "https://example.invalid", ("trades",), symbols, taker_fee_bps=fee)


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ToolContext]:
    base = load_settings(env={"FLOWDESK_DATA_DIR": str(tmp_path), "FLOWDESK_SYMBOLS": "BTCUSDT,ETHUSDT"})
    monkeypatch.setattr(venue_registry, "protocol", _fake_protocol)  # after settings: they read it too
    venues = {  # explicit, so that venues enabled in default.yaml do not change the expectations
        "binance_usdm": _venue("binance_usdm", None),
        "bybit_linear": _venue("bybit_linear", 5.5),
        "kucoin_spot": _venue("kucoin_spot", None),
    }
    settings = dataclasses.replace(base, venues=venues)
    store = Store(settings.db_path)
    now = now_ms()  # per test: ages must not grow with the time the suite takes
    with BatchWriter(store) as writer:
        writer.write_batch_sync(_rows(now))
    context = ToolContext(settings=settings, connection=store.connection, live=FakeLive(now))
    set_context(context)
    yield context
    set_context(None)
    context.close()
    store.close()


# ----------------------------------------------------------------------------- prices


def test_prices_per_venue(ctx: ToolContext) -> None:
    out = cross.get_prices("btc-usdt")
    v = out["venues"]
    assert list(v) == ["binance_usdm", "binance_spot", "bybit_linear", "okx_swap", "hyperliquid_perp"]
    assert (v["binance_usdm"]["bid"], v["binance_usdm"]["ask"], v["binance_usdm"]["mid"]) == (99.9, 100.0, 99.95)
    assert v["binance_usdm"]["spread_bps"] == 10.01  # 0.1 / 99.95 * 1e4 = 10.005
    assert v["binance_usdm"]["last"] == 99.95 and v["binance_usdm"]["mark"] == 100.02
    assert v["binance_spot"]["last"] == 100.01  # from the 24h ticker: no trade stored
    assert v["binance_spot"]["mark"] is None and v["binance_spot"]["mark_note"] == SPOT_REASON
    assert v["bybit_linear"]["bid"] == 100.2  # the live quote beats the older stored one
    assert v["hyperliquid_perp"]["bid"] is None and v["hyperliquid_perp"]["mark"] == 99.9
    assert v["okx_swap"]["stale"] is True and v["binance_usdm"]["stale"] is False
    assert 119 < v["okx_swap"]["age_s"]["quote"] < 200
    assert out["no_data"] == ["kucoin_spot"]
    assert out["best_bid"] == {"venue": "bybit_linear", "price": 100.2}  # okx's 101 is stale
    assert out["best_ask"] == {"venue": "binance_usdm", "price": 100.0}
    assert "okx_swap" in out["warnings"][0]
    assert out["source"]["symbol"] == "BTCUSDT" and out["source"]["data_age_s"] < 60


def test_unknown_symbol_and_no_data(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="unknown symbol 'DOGEUSDT'.*BTCUSDT"):
        cross.get_prices("DOGEUSDT")
    with pytest.raises(ToolError, match="symbol must be"):
        cross.get_prices("  ")


# ----------------------------------------------------------------------------- matrix


def test_spread_matrix(ctx: ToolContext) -> None:
    out = cross.get_spread_matrix("BTCUSDT")
    names = list(out["mids"])
    assert names == ["binance_usdm", "binance_spot", "bybit_linear", "okx_swap"]
    assert out["mids"]["bybit_linear"] == 100.25 and out["stale"] == ["okx_swap"]
    m, c = out["mid_diff_bps"], out["cross_bps"]
    assert m["binance_usdm"]["bybit_linear"] == -29.97  # -0.30 / 100.10 * 1e4
    for a in names:
        assert m[a][a] == 0 and a not in c[a]
        for b in names:
            assert m[a][b] == -m[b][a]
    assert c["binance_usdm"]["bybit_linear"] == 20.0  # (100.20 - 100.00) / 100.00
    assert c["bybit_linear"]["binance_usdm"] == -39.88  # (99.90 - 100.30) / 100.30
    s = out["summary"]  # okx (stale, the widest) left out
    assert (s["highest_mid"], s["lowest_mid"], s["max_mid_diff_bps"]) == ("bybit_linear", "binance_usdm", 29.97)
    assert s["best_cross"] == {"buy": "binance_usdm", "sell": "bybit_linear", "bps": 20.0}
    assert s["worst_cross"] == {"buy": "bybit_linear", "sell": "binance_usdm", "bps": -39.88}
    assert out["no_quote"] == ["hyperliquid_perp", "kucoin_spot"]


def test_spread_matrix_needs_two_venues(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="at least two venues"):
        cross.get_spread_matrix("SOLUSDT")


# ----------------------------------------------------------------------------- arbitrage


def test_arbitrage_fee_arithmetic(ctx: ToolContext) -> None:
    out = cross.get_arbitrage_opportunities("BTCUSDT")
    assert out["count"] == 1 and out["pairs_checked"] == 6 and out["max_age_s"] == 30
    best = out["opportunities"][0]
    assert (best["buy"], best["sell"], best["legs"]) == ("binance_usdm", "bybit_linear", "perp->perp")
    assert (best["ask"], best["bid"], best["gross_bps"], best["fees_bps"], best["net_bps"]) == (100.0, 100.2, 20.0, 10.5, 9.5)
    assert (best["size"], best["notional"], best["est_profit"]) == (1.5, 150.0, 0.1425)
    assert out["fees"]["bybit_linear"] == {"taker_bps": 5.5, "from": "settings"}
    assert out["fees"]["binance_spot"] == {"taker_bps": 10.0, "from": "venue default"}
    skipped = {s["venue"]: s["reason"] for s in out["skipped"]}
    assert skipped["hyperliquid_perp"] == "no quote" and skipped["kucoin_spot"] == "no quote"
    assert skipped["okx_swap"].startswith("quote 1") and "max_age_s 30" in skipped["okx_swap"]


def test_arbitrage_min_profit_filter(ctx: ToolContext) -> None:
    out = cross.get_arbitrage_opportunities("BTCUSDT", min_profit_bps=-1)
    # spot -> bybit: 0.15 / 100.05 * 1e4 = 14.99 gross, fees 10 + 5.5 -> -0.51 net
    assert [(o["buy"], o["sell"], o["net_bps"]) for o in out["opportunities"]] == [
        ("binance_usdm", "bybit_linear", 9.5),
        ("binance_spot", "bybit_linear", -0.51),
    ]
    assert out["opportunities"][1]["legs"] == "spot->perp"
    assert cross.get_arbitrage_opportunities("BTCUSDT", min_profit_bps=9.5)["count"] == 1
    assert cross.get_arbitrage_opportunities("BTCUSDT", min_profit_bps=10)["opportunities"] == []


def test_arbitrage_max_age_lets_stale_quote_in(ctx: ToolContext) -> None:
    out = cross.get_arbitrage_opportunities("BTCUSDT", max_age_s=300)
    assert out["pairs_checked"] == 12 and "okx_swap" not in {s["venue"] for s in out["skipped"]}
    assert out["fees"]["okx_swap"] == {"taker_bps": 5.0, "from": "generic default (venue module not available)"}
    # buy usdm 100 sell okx 101: 100 - (5 + 5) = 90; spot 100.05 -> okx: 94.95 - 15 = 79.95;
    # bybit 100.30 -> okx: 69.79 - 10.5 = 59.29; then usdm -> bybit 9.5
    top = [(o["buy"], o["sell"], o["net_bps"]) for o in out["opportunities"]]
    assert top == [
        ("binance_usdm", "okx_swap", 90.0),
        ("binance_spot", "okx_swap", 79.95),
        ("bybit_linear", "okx_swap", 59.29),
        ("binance_usdm", "bybit_linear", 9.5),
    ]
    assert out["opportunities"][0]["size"] == 1.0


@pytest.mark.parametrize(
    ("args", "name"),
    [
        ({"min_profit_bps": "x"}, "min_profit_bps"),
        ({"min_profit_bps": True}, "min_profit_bps"),
        ({"min_profit_bps": math.nan}, "min_profit_bps"),
        ({"min_profit_bps": 1e6}, "min_profit_bps"),
        ({"max_age_s": 0}, "max_age_s"),
        ({"max_age_s": -5.0}, "max_age_s"),
        ({"max_age_s": "10"}, "max_age_s"),
    ],
)
def test_arbitrage_bad_arguments(ctx: ToolContext, args: dict[str, Any], name: str) -> None:
    with pytest.raises(ToolError, match=name):
        cross.get_arbitrage_opportunities("BTCUSDT", **args)


def test_through_call_tool(ctx: ToolContext) -> None:
    load_tools()
    assert {n for n, s in REGISTRY.items() if s.domain == "cross"} == {
        "get_prices", "get_spread_matrix", "get_arbitrage_opportunities",
        "compare_exchange_prices", "get_funding_comparison", "get_basis",
    }
    out = call_tool("get_arbitrage_opportunities", {"symbol": "BTCUSDT", "min_profit_bps": 5})
    assert out["opportunities"][0]["net_bps"] == 9.5
    with pytest.raises(ToolError, match="unknown argument"):
        call_tool("get_arbitrage_opportunities", {"symbol": "BTCUSDT", "min_profit": 5})


# ----------------------------------------------------------------------------- compare


def test_compare_two_venues(ctx: ToolContext) -> None:
    out = cross.compare_exchange_prices("BTCUSDT", "binance_usdm", "bybit:linear")
    assert (out["exchange_a"], out["exchange_b"]) == ("binance_usdm", "bybit_linear")
    assert out["diff"] == -0.3 and out["diff_bps"] == -29.97
    assert out["buy_a_sell_b_bps"] == 20.0 and out["buy_b_sell_a_bps"] == -39.88
    assert out["venues"]["bybit_linear"]["stale"] is False
    h = out["history"]
    # three shared buckets: 100 vs 100.1, 100.2, 99.9 -> -9.995, -19.98, +10.005 bps
    assert h["buckets"] == 3 and h["bucket"] == "1s"
    assert h["mean_bps"] == pytest.approx(-6.66, abs=0.01)
    assert h["min_bps"] == pytest.approx(-19.98, abs=0.01)
    assert h["max_bps"] == pytest.approx(10.005, abs=0.01)


def test_compare_stale_side_and_no_overlap(ctx: ToolContext) -> None:
    out = cross.compare_exchange_prices("BTCUSDT", "okx_swap", "binance_spot")
    assert out["venues"]["okx_swap"]["stale"] is True
    assert out["history"]["note"].startswith("no 1 s bucket")


def test_compare_errors(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="exchange_a: unknown exchange 'kraken'"):
        cross.compare_exchange_prices("BTCUSDT", "kraken", "bybit_linear")
    with pytest.raises(ToolError, match="exchange_b must be a different venue"):
        cross.compare_exchange_prices("BTCUSDT", "binance", "binance_usdm")
    with pytest.raises(ToolError, match="exchange_b: no quote for BTCUSDT on hyperliquid_perp"):
        cross.compare_exchange_prices("BTCUSDT", "binance_usdm", "hyperliquid_perp")
    with pytest.raises(ToolError, match="unknown symbol"):
        cross.compare_exchange_prices("NOPEUSDT", "binance_usdm", "bybit_linear")


# ----------------------------------------------------------------------------- funding


def test_funding_comparison(ctx: ToolContext) -> None:
    out = cross.get_funding_comparison("BTCUSDT")
    f = out["funding"]
    assert list(f) == ["binance_usdm", "bybit_linear", "okx_swap", "hyperliquid_perp"]
    # 0.0001 per 8 h * 1095 periods = 10.95 %; 0.0002 per 4 h * 2190 = 43.8 %; HL 0.0000125 * 8760
    assert (f["binance_usdm"]["interval_h"], f["binance_usdm"]["interval_from"]) == (8.0, "history")
    assert (f["bybit_linear"]["interval_h"], f["bybit_linear"]["interval_from"]) == (4.0, "history")
    assert (f["okx_swap"]["interval_h"], f["okx_swap"]["interval_from"]) == (8.0, "venue constant")
    assert (f["hyperliquid_perp"]["interval_h"], f["hyperliquid_perp"]["interval_from"]) == (1.0, "venue constant")
    assert [f[n]["annualized_pct"] for n in f] == [10.95, 43.8, -10.95, 10.95]
    assert f["binance_usdm"]["rate_bps"] == 1.0 and f["binance_usdm"]["next_funding_time"].endswith("Z")
    assert out["spread"] == {"highest": "bybit_linear", "lowest": "okx_swap", "annualized_pct_diff": 54.75}
    assert out["no_funding"] == {"binance_spot": SPOT_REASON, "kucoin_spot": "spot market: no mark price or funding"}
    assert out["no_data"] == []


def test_funding_none(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="no funding data for SOLUSDT"):
        cross.get_funding_comparison("SOLUSDT")


# ----------------------------------------------------------------------------- basis


def test_basis_against_spot_mean(ctx: ToolContext) -> None:
    out = cross.get_basis("BTCUSDT")
    ref = out["reference"]
    assert (ref["kind"], ref["price"], ref["venues"], ref["stale"]) == ("spot_mean_mid", 100.0, ["binance_spot"], False)
    b = out["basis"]
    assert {n: b[n]["basis_bps"] for n in b} == {
        "binance_usdm": 2.0,  # mark 100.02 vs 100.00
        "bybit_linear": 30.0,
        "okx_swap": 50.0,
        "hyperliquid_perp": -10.0,
    }
    assert b["binance_usdm"]["perp_price_from"] == "mark" and b["binance_usdm"]["basis"] == 0.02


def test_basis_against_index(ctx: ToolContext) -> None:
    out = cross.get_basis("ETHUSDT")
    assert out["reference"]["kind"] == "index"
    b = out["basis"]
    assert (b["binance_usdm"]["reference"], b["binance_usdm"]["basis_bps"]) == (1999.0, 5.0)  # 1 / 1999
    assert b["gateio_futures"]["perp_price"] == 2002.0 and b["gateio_futures"]["perp_price_from"] == "mid"
    assert b["gateio_futures"]["basis_bps"] is None and "index" in b["gateio_futures"]["note"]
    with pytest.raises(ToolError, match="no perpetual venue"):
        cross.get_basis("SOLUSDT")


def test_no_live_view(ctx: ToolContext) -> None:
    ctx.live = None  # stored rows only: bybit's older stored quote (bid 100.10) is used
    assert cross.get_prices("BTCUSDT")["venues"]["bybit_linear"]["bid"] == 100.1


def test_rest_surface(ctx: ToolContext) -> None:
    client = TestClient(Starlette(routes=rest_routes(build_mcp())))
    r = client.get("/api/tools/get_arbitrage_opportunities", params={"symbol": "BTCUSDT", "max_age_s": "300"})
    assert r.status_code == 200 and r.json()["opportunities"][0]["net_bps"] == 90.0
    r = client.post("/api/tools/get_spread_matrix", json={"symbol": "BTCUSDT"})
    assert r.status_code == 200 and r.json()["summary"]["best_cross"]["bps"] == 20.0
    r = client.post("/api/tools/get_arbitrage_opportunities", json={"symbol": "BTCUSDT", "max_age_s": -1})
    assert r.status_code == 400 and "max_age_s" in r.json()["error"]


def test_single_venue_tools_say_what_a_venue_lacks(tmp_path) -> None:
    """Tools asked for a kind the venue has no public source for answer with the venue's reason
    (from its protocol), not with zeros or an empty list."""
    from flowdesk.settings import load_settings
    from flowdesk.storage.store import Store
    from flowdesk.tools.context import ToolContext, set_context

    settings = load_settings(env={"FLOWDESK_DATA_DIR": str(tmp_path)})
    store = Store(settings.db_path)
    try:
        set_context(ToolContext(settings=settings, connection=store.connection))
        with pytest.raises(ToolError, match="hyperliquid/perp/BTCUSDT has no liquidation data: Hyperliquid has no public"):
            call_tool("stream_liquidations", {"symbol": "BTCUSDT", "exchange": "hyperliquid_perp"})
        with pytest.raises(ToolError, match="kucoin/spot/BTCUSDT has no funding or open interest"):
            call_tool("get_funding_and_oi", {"symbol": "BTCUSDT", "exchange": "kucoin_spot"})
    finally:
        store.close()
