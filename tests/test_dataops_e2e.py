"""Data-ops workflows against the production collector fed by the exchange simulator.

One replay carries four faults: a trade gap (the socket is dropped, frames are lost, and the
collector's own backfill is switched off so the gap stays), a stale symbol (ETHUSDT's capture
ends two minutes before BTCUSDT's), a crossed book (a bid level above the best ask in one
depth diff) and duplicated rows (bookTicker frames sent twice). A shadow run must find every
fault and propose the right fix while changing nothing; a live run must fill the gap from the
simulator's REST so that a second validation finds no trade-id gap, and overwrite nothing.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from pathlib import Path
from typing import Any

import pytest

from flowdesk.server.app import Runtime
from flowdesk.server.mcp import call_in_thread
from flowdesk.server.simulate import point_venues_at
from flowdesk.settings import load_settings
from flowdesk.streaming.simulator import FaultConfig, Simulator, SimulatorConfig
from flowdesk.tools.registry import REGISTRY, load_tools

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

BTC_LINES = 50_000  # about 184 s of the BTCUSDT capture: three closed 1m candles
ETH_LINES = 8_000  # about 37 s of the ETHUSDT capture: ETHUSDT goes stale
DUPLICATED_QUOTES = 5
MARKET_TABLES = ("trades", "quotes", "mark_funding", "open_interest", "tickers_24h", "candles",
                 "book_snapshots", "depth_bands", "liquidations", "trade_gaps")

CONFIG = """
symbols: [BTCUSDT, ETHUSDT]
writer_queue_batches: 2000
venues:
  binance_usdm:
    open_interest_poll_s: 3600
    ticker_poll_s: 3600
crews:
  dataops:
    symbol_stale_s: 30
    feed_silent_s: 3600
    funding_stale_s: 3600
    open_interest_stale_s: 3600
"""


def _lines(path: Path, n: int) -> list[str]:
    with gzip.open(path, "rt") as fh:
        return [line for _, line in zip(range(n), fh, strict=False)]


def fault_capture(btc: Path, eth: Path, out: Path) -> dict[str, Any]:
    """Write the scenario's capture; return the trade ids it holds and what was injected."""
    lines = _lines(btc, BTC_LINES)
    ids: set[int] = set()
    ask = None
    crossed_at = None
    dup_src = [i for i, line in enumerate(lines[:3000]) if "@bookTicker" in line[:60]][500:500 + DUPLICATED_QUOTES]
    for i, line in enumerate(lines):
        ns, raw = line.split(" ", 1)
        if "@trade" in raw[:50]:
            ids.add(json.loads(raw)["data"]["t"])
        elif "@bookTicker" in raw[:60]:
            ask = float(json.loads(raw)["data"]["a"])
        elif "@depth" in raw[:50] and i > BTC_LINES - 2000 and crossed_at is None and ask is not None:
            msg = json.loads(raw)
            msg["data"]["b"].append([f"{ask + 50:.1f}", "1.000"])  # a bid above the best ask
            lines[i] = f"{ns} {json.dumps(msg, separators=(',', ':'))}\n"
            crossed_at = ask + 50
    for i in reversed(dup_src):
        lines.insert(i + 1, lines[i])
    eth_lines = _lines(eth, ETH_LINES)
    eth_ids = {json.loads(raw.split(" ", 1)[1])["data"]["t"] for raw in eth_lines if "@trade" in raw[:80]}
    with gzip.open(out, "wt") as fh:
        fh.writelines(sorted(lines + eth_lines, key=lambda s: int(s.split(" ", 1)[0])))
    return {"btc_ids": ids, "eth_ids": eth_ids, "crossed_bid": crossed_at}


async def _settle(runtime: Runtime) -> None:
    """Flush until the stored trade count stops changing."""
    last = -1
    for _ in range(60):
        runtime.controller.batcher.flush()
        runtime.writer.flush(timeout=10)
        n = runtime.store.connection.cursor().execute("SELECT count(*) FROM trades").fetchone()[0]
        if n == last:
            return
        last = n
        await asyncio.sleep(0.5)


def _checksums(cur: Any) -> dict[str, tuple[int, int]]:
    return {t: tuple(cur.execute(f"SELECT count(*), coalesce(sum(hash({t})), 0) FROM {t}").fetchone()) for t in MARKET_TABLES}


async def _data_ops(**args: Any) -> dict[str, Any]:
    """run_data_ops as MCP and REST call it: on a worker thread of the server's loop."""
    return await call_in_thread(REGISTRY["run_data_ops"], args)


def _by_kind(summary: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [f for f in summary["findings"]["items"] if f["kind"] == kind]


def _actions(summary: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [a for a in summary["actions"]["items"] if a["kind"] == kind]


def _expected_gaps(all_ids: set[int], stored: set[int]) -> list[tuple[int, int]]:
    missing = sorted(all_ids - stored)
    gaps: list[tuple[int, int]] = []
    for i in missing:
        if gaps and gaps[-1][1] == i - 1:
            gaps[-1] = (gaps[-1][0], i)
        else:
            gaps.append((i, i))
    return gaps


def _check_shadow(out: dict[str, Any], facts: dict[str, Any], gaps: list[tuple[int, int]]) -> None:
    found = {(f["evidence"]["from_id"], f["evidence"]["to_id"]) for f in _by_kind(out, "trade_id_gap")}
    assert found == set(gaps), "every trade-id gap found, with its exact ids"
    stale = {f["symbol"] for f in _by_kind(out, "symbol_stale")}
    assert stale == {"ETHUSDT"}
    crossed = _by_kind(out, "crossed_book")
    assert crossed and {f["symbol"] for f in crossed} == {"BTCUSDT"}
    live = [f for f in crossed if f["evidence"]["source"] == "live"]
    assert live and live[0]["evidence"]["best_bid"][0] == pytest.approx(facts["crossed_bid"])
    dups = [f for f in _by_kind(out, "duplicate_rows") if f["stream"] == "quotes"]
    assert [(f["symbol"], f["evidence"]["extra_rows"]) for f in dups] == [("BTCUSDT", DUPLICATED_QUOTES)]
    # the right fix for each, proposed and not applied
    assert {(a["params"]["from_id"], a["params"]["to_id"]) for a in _actions(out, "backfill_trades")} == set(gaps)
    assert [a["params"]["venue"] for a in _actions(out, "reconnect_feed")] == ["binance_usdm"]
    assert [a["symbol"] for a in _actions(out, "resync_book")] == ["BTCUSDT"]
    assert [(a["symbol"], a["params"]["table"]) for a in _actions(out, "dedupe_rows") if a["params"]["table"] == "quotes"] \
        == [("BTCUSDT", "quotes")]
    assert set(out["actions"]["by_status"]) == {"proposed"}


async def _scenario(capture: Path, data_dir: Path, facts: dict[str, Any]) -> None:
    faults = FaultConfig(close_after_frames=30_000, drop_frames_on_close=2_000)
    sim = Simulator(SimulatorConfig(mode="replay", captures=[capture], speed=0, faults=faults))
    await sim.start()
    cfg = data_dir.parent / "flowdesk.yaml"
    cfg.write_text(CONFIG)
    settings = load_settings(cfg, env={"FLOWDESK_DATA_DIR": str(data_dir)})
    settings = point_venues_at(settings, sim.ws_url, sim.rest_url, ["BTCUSDT", "ETHUSDT"])
    runtime = Runtime(settings, retention=False)
    feed = runtime.controller.feeds[0]
    seen_gaps: list[tuple[str, int, int]] = []
    feed._gap = lambda symbol, lo, hi: seen_gaps.append((symbol, lo, hi))  # collector backfill off
    load_tools()
    await runtime.start()
    try:
        await sim.wait_replay_done(timeout=120)
        await _settle(runtime)
        assert sim.stats["faults_fired"]["close"] == 1 and seen_gaps, "the socket was dropped and ids jumped"
        cur = runtime.store.connection.cursor()
        all_ids = facts["btc_ids"] | facts["eth_ids"]
        stored = {i for (i,) in cur.execute("SELECT trade_id FROM trades").fetchall()}
        gaps = _expected_gaps(all_ids, stored)
        assert gaps, "frames were lost"

        # -- shadow: every fault found, the right fix proposed, nothing changed ------------------
        before = _checksums(cur)
        resyncs = feed.health.book_resyncs
        runtime.writer.pause()  # the collector cannot change a table while we compare
        shadow = await _data_ops(shadow=True)
        assert _checksums(cur) == before, "a shadow run changes no market data"
        runtime.writer.resume()
        assert feed.health.book_resyncs == resyncs
        _check_shadow(shadow, facts, gaps)
        proposed = cur.execute("SELECT kind, count(*) FROM agent_actions WHERE status = 'proposed' "
                               "AND mode = 'shadow' GROUP BY 1").fetchall()
        assert {"backfill_trades", "reconnect_feed", "resync_book", "dedupe_rows"} <= {k for k, _ in proposed}

        # -- live: gaps filled from REST, duplicates removed, nothing real overwritten ----------
        cur.execute("CREATE TEMP TABLE old_trades AS SELECT * FROM trades")
        cur.execute("CREATE TEMP TABLE old_quotes AS SELECT DISTINCT exchange, market, symbol, update_id, ts, bid, "
                    "bid_qty, ask, ask_qty FROM quotes")
        quotes_before = cur.execute("SELECT count(*) FROM quotes").fetchone()[0]
        reconnects = feed.health.reconnects
        live = await _data_ops(shadow=False)
        by_kind = {a["kind"]: a for a in live["actions"]["items"]}
        assert all(a["status"] == "applied" for a in _actions(live, "backfill_trades"))
        assert by_kind["resync_book"]["status"] == "applied" and feed.health.book_resyncs == resyncs + 1
        assert by_kind["reconnect_feed"]["status"] == "applied"
        await _settle(runtime)
        for _ in range(60):  # the close handshake may take up to the socket's close timeout
            if feed.health.reconnects > reconnects:
                break
            await asyncio.sleep(0.25)
        assert feed.health.reconnects > reconnects, "the collector really reconnected"
        ids = [i for (i,) in cur.execute("SELECT trade_id FROM trades ORDER BY trade_id").fetchall()]
        assert ids == sorted(all_ids), "every trade id stored exactly once"
        assert cur.execute("SELECT count(*) FROM (SELECT * FROM old_trades EXCEPT ALL SELECT * FROM trades)").fetchone()[0] == 0
        filled = cur.execute("SELECT DISTINCT source FROM trades WHERE trade_id NOT IN (SELECT trade_id FROM old_trades)")
        assert filled.fetchall() == [("rest",)]
        assert cur.execute("SELECT count(*) FROM quotes").fetchone()[0] == quotes_before - DUPLICATED_QUOTES
        assert cur.execute("SELECT count(*) FROM (SELECT * FROM old_quotes EXCEPT SELECT exchange, market, symbol, "
                           "update_id, ts, bid, bid_qty, ask, ask_qty FROM quotes)").fetchone()[0] == 0

        # -- a second validation finds no trade-id gap ------------------------------------------
        again = await _data_ops(shadow=True, workflows=["validate"])
        assert _by_kind(again, "trade_id_gap") == []
        assert [f for f in _by_kind(again, "duplicate_rows") if f["stream"] == "quotes"] == []
        fixed = cur.execute("SELECT count(*) FROM quality_issues WHERE kind = 'trade_id_gap' AND status = 'fixed'")
        assert fixed.fetchone()[0] == len(gaps)
        stale = cur.execute("SELECT status FROM quality_issues WHERE kind = 'symbol_stale'").fetchall()
        assert stale and all(status != "fixed" for (status,) in stale), "a reconnect does not make ETHUSDT fresh"
        await _candle_refetch(runtime, cur)
    finally:
        await runtime.stop()
        await sim.stop()


async def _candle_refetch(runtime: Runtime, cur: Any) -> None:
    """A lost closed candle is re-fetched from REST and equals what the stream had given."""
    row = cur.execute("SELECT open_ts, open, high, low, close, volume FROM candles WHERE symbol = 'BTCUSDT' "
                      "ORDER BY open_ts LIMIT 1 OFFSET 1").fetchone()
    cur.execute("DELETE FROM candles WHERE symbol = 'BTCUSDT' AND open_ts = ?", [row[0]])
    out = await _data_ops(shadow=False)
    gap = _actions(out, "refetch_candles")
    assert gap and gap[0]["status"] == "applied" and gap[0]["outcome"]["inserted"] == 1
    again = cur.execute("SELECT open_ts, open, high, low, close, volume FROM candles WHERE symbol = 'BTCUSDT' "
                        "AND open_ts = ?", [row[0]]).fetchone()
    assert again is not None and again[0] == row[0]
    assert again[1:] == pytest.approx(row[1:]), "the re-fetched bar is the venue's bar"


def test_faults_shadow_then_live(btc_capture: Path, eth_capture: Path, tmp_path: Path) -> None:
    capture = tmp_path / "faults.gz"
    facts = fault_capture(btc_capture, eth_capture, capture)
    started = time.monotonic()
    asyncio.run(_scenario(capture, tmp_path / "data", facts))
    assert time.monotonic() - started < 60
