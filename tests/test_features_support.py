"""Helpers shared by the feature, signal and history tests (no tests here).

:func:`captured_db` runs the production collector **with the feature service** against the
simulator replaying the real BTCUSDT capture, once per test session, and returns the database
file (the live engine's ``features`` rows are in it). :func:`engine_over` feeds records to an
engine; :func:`quote`/:func:`trade`/... build records with readable defaults.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import duckdb

from flowdesk import records as r
from flowdesk.analytics.features.engine import EngineParams, SymbolEngine
from flowdesk.settings import Settings, load_settings
from flowdesk.tools.context import ToolContext, set_context

EX, MK, SYM = "binance", "usdm", "BTCUSDT"
_CACHE: dict[Path, dict[str, Any]] = {}


def trade(ts: int, price: float, qty: float, side: str, tid: int = 0) -> r.Trade:
    return r.Trade(EX, MK, SYM, tid, price, qty, side, ts, ts * 1_000_000, tid, tid, "ws")


def quote(ts: int, bid: float, ask: float, bid_qty: float = 1.0, ask_qty: float = 1.0) -> r.Quote:
    return r.Quote(EX, MK, SYM, bid, bid_qty, ask, ask_qty, ts, ts, ts * 1_000_000)


def mark(ts: int, mark_price: float, index: float, rate: float, next_ts: int | None = None) -> r.MarkFunding:
    return r.MarkFunding(EX, MK, SYM, mark_price, index, rate, next_ts, ts, ts * 1_000_000)


def liquidation(ts: int, side: str, price: float, qty: float) -> r.Liquidation:
    return r.Liquidation(EX, MK, SYM, side, price, None, qty, qty, "FILLED", ts, ts * 1_000_000)


def open_interest(ts: int, oi: float, value: float | None = None) -> r.OpenInterest:
    return r.OpenInterest(EX, MK, SYM, oi, value, ts, ts * 1_000_000)


def engine_over(records: list[Any], params: EngineParams | None = None, **kw: Any) -> SymbolEngine:
    engine = SymbolEngine(EX, MK, SYM, params or EngineParams(), **kw)
    for rec in records:
        engine.on_record(rec)
    return engine


async def _collect(capture: Path, data_dir: Path) -> dict[str, Any]:
    from capture_facts import capture_facts
    from flowdesk.analytics.features import service as fsvc
    from flowdesk.server.app import Runtime
    from flowdesk.server.simulate import point_venues_at
    from flowdesk.streaming.simulator import Simulator, SimulatorConfig

    expected = capture_facts(capture).trades
    sim = Simulator(SimulatorConfig(mode="replay", captures=[capture], speed=0))
    await sim.start()
    settings = load_settings(env={"FLOWDESK_DATA_DIR": str(data_dir), "FLOWDESK_SYMBOLS": SYM})
    settings = point_venues_at(settings, sim.ws_url, sim.rest_url, [SYM])
    runtime = Runtime(settings, retention=False)
    await runtime.start()
    t0 = time.monotonic()
    status: dict[str, Any] = {}
    try:
        await sim.wait_replay_done(timeout=120)
        cur = runtime.store.connection.cursor()
        while time.monotonic() - t0 < 120:
            if cur.execute("SELECT count(*) FROM trades").fetchone()[0] >= expected:
                break
            runtime.controller.batcher.flush()
            await asyncio.sleep(0.2)
        await asyncio.sleep(max(2 * settings.features.cadence_s, 1.5))  # the service's last batch
        status = fsvc.RUNNING[0].status() if fsvc.RUNNING else {}
    finally:
        await runtime.stop()
        await sim.stop()
    return {"db": settings.db_path, "settings": settings, "status": status}


def captured_db(capture: Path, tmp_root: Path) -> dict[str, Any]:
    """The collected database (path, settings, feature service status), built once."""
    if capture not in _CACHE:
        data_dir = tmp_root / "captured"
        data_dir.mkdir(parents=True, exist_ok=True)
        _CACHE[capture] = asyncio.run(_collect(capture, data_dir))
    return _CACHE[capture]


def use_db(path: Path, settings: Settings | None = None) -> duckdb.DuckDBPyConnection:
    """Open ``path`` read-only and point the tools at it."""
    con = duckdb.connect(str(path), read_only=True)
    set_context(ToolContext(settings=settings or load_settings(env={}), connection=con))
    return con
