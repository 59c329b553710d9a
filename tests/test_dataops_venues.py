"""Data-ops gap handling beyond Binance USD-M: which venues get trade-id checks (their
protocol's ``contiguous_trade_ids``, on ``first_id..last_id`` where ``trade_id_range``), which
can re-fetch trades by id (the protocol's ``trades_by_id``) and candles, and the clear failure
of the others. End to end, offline: a venue simulator (a real WebSocket + REST server on
127.0.0.1) -> the production collector -> DuckDB; ids are then removed from the store, and a
live ``validate`` + ``fill_gaps`` must find exactly that hole and fill it from the simulator's
REST (``source='rest'``, the venue's own values), and a second validation must find nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from flowdesk.crews.settings import DataOpsSettings
from flowdesk.dataops import checks
from flowdesk.dataops.engine import DataOps
from flowdesk.dataops.rest import FetchError, VenueFetcher, trade_backfill
from flowdesk.dataops.scope import VenueScope, ms_to_dt, trade_id_rule
from flowdesk.records import Trade
from flowdesk.server.app import Runtime
from flowdesk.server.simulate import point_venue_at
from flowdesk.settings import Settings, load_settings
from flowdesk.storage.store import Store
from flowdesk.storage.writer import BatchWriter
from flowdesk.streaming.simulator.venues import load_sim
from flowdesk.streaming.simulator.venues.server import VenueSimServer
from flowdesk.streaming.venues import binance_spot as bs
from flowdesk.streaming.venues import binance_usdm as bn
from flowdesk.streaming.venues.registry import VENUE_IDS, protocol

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SYMBOL = "BTCUSDT"
NOW = int(time.time() * 1000)
T0 = NOW - 600_000


def _settings(tmp_path: Path, venue: str, **venue_overrides: Any) -> Settings:
    """Only ``venue`` enabled, for ``SYMBOL``; thresholds that leave only the faults we make."""
    return load_settings(env={"FLOWDESK_DATA_DIR": str(tmp_path)}, overrides={
        "symbols": [SYMBOL],
        "venues": {**{other: {"enabled": False} for other in VENUE_IDS},
                   venue: {"enabled": True, "symbols": [SYMBOL], "ticker_poll_s": 3600, "open_interest_poll_s": 3600,
                           **venue_overrides}},
        "crews": {"dataops": {"symbol_stale_s": 3600, "feed_silent_s": 3600, "funding_stale_s": 86_400,
                              "open_interest_stale_s": 86_400}},
    })


def _scope(name: str, streams: tuple[str, ...] = ("trades",)) -> VenueScope:
    ex, mk = VENUE_IDS[name]
    return VenueScope(name, ex, mk, (SYMBOL,), streams, NOW, "wall", ms_to_dt(NOW) - timedelta(hours=1))


def _trade(name: str, trade_id: int, first: int | None = None, source: str = "ws") -> Trade:
    ex, mk = VENUE_IDS[name]
    ts = T0 + trade_id
    return Trade(ex, mk, SYMBOL, trade_id, 60_000.0, 0.5, "buy", ts, ts * 1_000_000,
                 trade_id if first is None else first, trade_id, source)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "flowdesk.duckdb")
    yield s
    s.close()


# -- which venues are checked, and how --------------------------------------------------------


@pytest.mark.parametrize("name", list(VENUE_IDS))
def test_trade_id_checks_follow_the_venue_protocol(name: str) -> None:
    p = protocol(name)
    scope = _scope(name)
    assert scope.contiguous_ids is p.contiguous_trade_ids
    assert scope.trade_id_range is (p.contiguous_trade_ids and p.trade_id_range)


def test_checked_venues() -> None:
    checked = {n for n, (ex, mk) in VENUE_IDS.items() if trade_id_rule(ex, mk)[0]}
    assert checked == {"binance_usdm", "binance_spot", "okx_swap"}
    assert {n for n, (ex, mk) in VENUE_IDS.items() if trade_id_rule(ex, mk)[1]} == {"okx_swap"}
    assert trade_id_rule("nowhere", "spot") == (False, False)


def test_trade_id_gaps_per_venue(store: Store) -> None:
    """Bybit's ids are not contiguous: no check. Binance spot: a jump in the (aggregate) ids.
    OKX: a stored trade covers ``first_id..last_id`` (one taker order's fills), so rows that
    follow on by range are no gap whatever their ``trade_id``, and a hole is reported in raw ids."""
    ids = [i for i in range(100, 160) if not 120 <= i < 125]
    okx = [_trade("okx_swap", 100), _trade("okx_swap", 105, first=101), _trade("okx_swap", 106),
           _trade("okx_swap", 110, first=107), _trade("okx_swap", 111, first=111),
           _trade("okx_swap", 120, first=115), _trade("okx_swap", 121, source="rest"),
           _trade("okx_swap", 121, source="rest"), _trade("okx_swap", 125, first=122)]
    BatchWriter(store).write_batch_sync({Trade: [_trade("bybit_linear", i) for i in ids]
                                         + [_trade("binance_spot", i) for i in ids] + okx})
    cur, cfg = store.connection.cursor(), DataOpsSettings()
    assert checks.trade_id_gaps(cur, _scope("bybit_linear"), cfg) == []
    (spot,) = checks.trade_id_gaps(cur, _scope("binance_spot"), cfg)
    assert (spot.evidence["from_id"], spot.evidence["to_id"], spot.evidence["missing"]) == (120, 124, 5)
    (gap,) = checks.trade_id_gaps(cur, _scope("okx_swap"), cfg)
    assert (gap.evidence["from_id"], gap.evidence["to_id"], gap.evidence["missing"]) == (112, 114, 3)
    assert gap.summary == "BTCUSDT: 3 trade ids missing (112..114)"


# -- what can be re-fetched --------------------------------------------------------------------


def test_trade_backfill_per_venue_and_stream(tmp_path: Path) -> None:
    venues = load_settings(env={"FLOWDESK_DATA_DIR": str(tmp_path)}).venues
    okx = venues["okx_swap"]
    assert trade_backfill(protocol("okx_swap"), okx) is protocol("okx_swap").trades_by_id
    usdm = venues["binance_usdm"]
    assert trade_backfill(protocol("binance_usdm"), usdm).path == bn.AGG_TRADES_PATH  # type: ignore[union-attr]
    usdm_trade = dataclasses.replace(usdm, streams=("trade", "bookTicker"))
    assert trade_backfill(protocol("binance_usdm"), usdm_trade).path == bn.HISTORICAL_TRADES_PATH  # type: ignore[union-attr]
    spot_trade = dataclasses.replace(venues["binance_spot"], streams=("trade",))
    assert trade_backfill(protocol("binance_spot"), spot_trade) is bs.TRADE_BACKFILLS["trade"]
    for name in ("bybit_linear", "bybit_spot", "gateio_futures", "hyperliquid_perp", "kucoin_spot", "kucoin_futures"):
        assert trade_backfill(protocol(name), venues[name]) is None, name


@pytest.mark.parametrize("name", ["bybit_linear", "gateio_futures", "hyperliquid_perp", "kucoin_futures"])
def test_venue_without_trades_by_id_says_so(name: str, tmp_path: Path) -> None:
    venue = load_settings(env={"FLOWDESK_DATA_DIR": str(tmp_path)}).venues[name]
    with VenueFetcher(venue, 600) as fetcher:
        with pytest.raises(FetchError, match=rf"venue '{name}' has no trades-by-id endpoint: missing trades "
                                             r"cannot be re-fetched"):
            fetcher.trades(SYMBOL, 1, 10)
        with pytest.raises(FetchError, match=rf"re-fetching 1-minute candles is not implemented for venue '{name}'"):
            fetcher.candles_1m(SYMBOL, 0, 60_000, NOW)
        assert fetcher.requests == 0, "nothing was asked of the venue"


def test_okx_candles_are_not_refetched_and_budget_is_capped(tmp_path: Path) -> None:
    venue = load_settings(env={"FLOWDESK_DATA_DIR": str(tmp_path)}).venues["okx_swap"]
    with VenueFetcher(venue, 600) as fetcher:
        with pytest.raises(FetchError, match="re-fetching 1-minute candles is not implemented for venue 'okx_swap'"):
            fetcher.candles_1m(SYMBOL, 0, 60_000, NOW)
        assert fetcher.weight_per_minute == 300, "half of OKX's 600 a minute, the collector keeps the rest"
    with VenueFetcher(load_settings(env={}).venues["binance_usdm"], 600) as fetcher:
        assert fetcher.weight_per_minute == 600


def test_gap_without_an_endpoint_ends_failed_with_the_reason(store: Store, tmp_path: Path) -> None:
    """A gap on a contiguous-id venue whose collected streams have no trades-by-id call: the
    action is recorded ``failed`` with the reason, escalated, and the run goes on."""
    settings = _settings(tmp_path, "binance_usdm", streams=["bookTicker", "depth"])
    BatchWriter(store).write_batch_sync({Trade: [_trade("binance_usdm", i) for i in (1, 2, 3, 7, 8)]})
    ops = DataOps(settings, store.connection)
    out = ops.run(["validate", "fill_gaps"], shadow=False)
    (action,) = [a for a in out["actions"]["items"] if a["kind"] == "backfill_trades"]
    assert action["status"] == "failed"
    assert action["outcome"]["fetched"] == 0 and action["outcome"]["still_missing"] == 3
    assert "venue 'binance_usdm' has no trades-by-id endpoint for the collected trade stream" \
        in action["outcome"]["fetch_error"]
    (reason,) = store.connection.execute("SELECT reason FROM escalations WHERE kind = 'trade_id_gap'").fetchone()
    assert reason.startswith("backfill_trades failed: venue 'binance_usdm' has no trades-by-id endpoint")
    assert store.connection.execute("SELECT status FROM crew_runs").fetchall() == [("ok",)]
    ops.close()


# -- end to end against the venue simulators ---------------------------------------------------


def _sim_trades(sim: VenueSimServer) -> dict[int, Trade]:
    return {t.trade_id: t for t in sim.markets[SYMBOL].trades}


async def _collect(name: str, tmp_path: Path, trades: int, candles: int, speed: float) -> tuple[VenueSimServer, Settings]:
    """Collect ``name`` from its simulator until ``trades`` trades and ``candles`` closed 1m
    candles are stored; the collector is stopped, the simulator left serving REST."""
    # the market starts ten minutes ago: however fast it runs, its bars close before the wall clock
    # (no collector runs with the fill, so "closed" is judged against the wall clock)
    sim = VenueSimServer(load_sim(name), [SYMBOL], rate_hz=100, speed=speed, start_ms=int(time.time() - 600) * 1000)
    await sim.start()
    settings = point_venue_at(_settings(tmp_path, name, backfill_trades=False), name, sim.ws_url, sim.rest_url,
                              [SYMBOL])
    runtime = Runtime(settings, services=False, retention=False)
    await runtime.start()
    try:
        feed = runtime.controller.feeds[0]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            last = feed.latest["Trade"].get(SYMBOL)
            closed = sum(1 for k in sim.markets[SYMBOL].candles if k.closed)
            if last is not None and last.trade_id >= trades and closed >= candles + 1:
                break
            await asyncio.sleep(0.2)
        assert feed.health.malformed == 0 and feed.health.gaps_detected == 0
    finally:
        await runtime.stop()
    return sim, settings


def _live_fill(settings: Settings, store: Store) -> dict[str, Any]:
    ops = DataOps(settings, store.connection)
    try:
        return ops.run(["validate", "fill_gaps"], shadow=False)
    finally:
        ops.close()


async def _scenario(name: str, tmp_path: Path, hole: tuple[int, int], candle: bool, speed: float) -> None:
    lo, hi = hole
    sim, settings = await _collect(name, tmp_path, hi + 60, 3 if candle else 0, speed)
    try:
        store = Store(settings.db_path)
        try:
            cur = store.connection.cursor()
            stored = [i for (i,) in cur.execute("SELECT trade_id FROM trades ORDER BY trade_id").fetchall()]
            assert stored[:hi + 60] == list(range(1, hi + 61)), "the collector stored every id from the first on"
            cur.execute("DELETE FROM trades WHERE trade_id BETWEEN ? AND ?", [lo, hi])
            id_range = trade_id_rule(*VENUE_IDS[name])[1]
            if id_range:  # as OKX sends them: one row per taker order, tradeId the last of `count` fills
                cur.execute("DELETE FROM trades WHERE trade_id IN (30, 31)")
                cur.execute("UPDATE trades SET first_id = 30 WHERE trade_id = 32")
            if candle:
                (dropped,) = cur.execute("SELECT open_ts FROM candles WHERE closed ORDER BY open_ts LIMIT 1 OFFSET 1")\
                    .fetchone()
                bar = cur.execute("SELECT open, high, low, close, volume FROM candles WHERE open_ts = ?", [dropped])\
                    .fetchone()
                cur.execute("DELETE FROM candles WHERE open_ts = ?", [dropped])
            old = cur.execute("SELECT count(*), coalesce(sum(hash(trades)), 0) FROM trades").fetchone()

            out = await asyncio.to_thread(_live_fill, settings, store)
            gaps = [f for f in out["findings"]["items"] if f["kind"] == "trade_id_gap"]
            assert [(f["evidence"]["from_id"], f["evidence"]["to_id"]) for f in gaps] == [(lo, hi)], \
                "exactly the hole, no false gap where a row covers several ids"
            (action,) = [a for a in out["actions"]["items"] if a["kind"] == "backfill_trades"]
            n = hi - lo + 1
            assert action["status"] == "applied", action["outcome"]
            assert action["outcome"] == {"fetched": n, "inserted": n, "still_missing": 0}
            rows = cur.execute("SELECT trade_id, first_id, last_id, price, qty, side, epoch_ms(ts), source FROM trades "
                               "WHERE trade_id BETWEEN ? AND ? ORDER BY trade_id", [lo, hi]).fetchall()
            assert [row[0] for row in rows] == list(range(lo, hi + 1))
            assert {row[7] for row in rows} == {"rest"}
            venue = _sim_trades(sim)
            for tid, _first, _last, price, qty, side, ts, _ in rows:
                ref = venue[tid]
                assert (price, side, ts) == (ref.price, ref.side, ref.ts)
                assert qty == pytest.approx(ref.qty)
            if id_range:
                assert all(first == last == tid for tid, first, last, *_ in rows), "REST trades are single fills"
            assert cur.execute("SELECT count(*), coalesce(sum(hash(trades)), 0) FROM trades WHERE trade_id NOT "
                               "BETWEEN ? AND ?", [lo, hi]).fetchone() == old, "nothing stored was changed"
            assert cur.execute("SELECT status FROM quality_issues WHERE kind = 'trade_id_gap'").fetchall() == [("fixed",)]
            if candle:
                (refetch,) = [a for a in out["actions"]["items"] if a["kind"] == "refetch_candles"]
                assert refetch["status"] == "applied" and refetch["outcome"]["inserted"] == 1, refetch["outcome"]
                again = cur.execute("SELECT open, high, low, close, volume FROM candles WHERE open_ts = ?", [dropped])\
                    .fetchone()
                assert again == pytest.approx(bar), "the re-fetched bar is the venue's bar"

            ops = DataOps(settings, store.connection)
            again_run = await asyncio.to_thread(ops.run, ["validate"], True)
            ops.close()
            assert [f for f in again_run["findings"]["items"] if f["kind"] in ("trade_id_gap", "candle_gap")] == []
        finally:
            store.close()
    finally:
        await sim.stop()


def test_okx_trade_gap_filled_from_history_trades(tmp_path: Path) -> None:
    """OKX swap: 150 missing ids fetched from ``history-trades`` in pages of 100 (ids from the
    protocol's ``after`` paging, contract sizes from the instruments call)."""
    asyncio.run(_scenario("okx_swap", tmp_path, (60, 209), candle=False, speed=4))


def test_binance_spot_trade_gap_and_candle_filled(tmp_path: Path) -> None:
    """Binance spot: missing aggregate ids from ``/api/v3/aggTrades``, a lost 1m bar from
    ``/api/v3/klines``."""
    asyncio.run(_scenario("binance_spot", tmp_path, (40, 1_139), candle=True, speed=40))
