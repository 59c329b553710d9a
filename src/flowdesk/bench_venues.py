"""``flowdesk bench venues``: all nine markets at once, 9 symbols each, from the simulators.

One process runs the nine simulators (Binance USD-M's own synthetic market plus one
:class:`VenueSimServer` per other venue, each producing as fast as its socket drains); a second
process runs the production collector with all nine venues pointed at them, for a fixed time.
Printed per venue: frames/s received, records written, malformed and unknown counts, book
resyncs; and in total: frames/s and records/s. The market is synthetic (seeded): the captures
hold one venue each, too little for nine at once, and this says so in the output.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from typing import Any

from flowdesk.streaming.venues.registry import VENUE_IDS

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT", "ADAUSDT", "BNBUSDT", "LTCUSDT", "LINKUSDT")


async def _serve_all(symbols: list[str], rate_hz: float) -> None:
    """Start every simulator, print their URLs as one JSON line, serve until killed."""
    from flowdesk.streaming.simulator import Simulator, SimulatorConfig
    from flowdesk.streaming.simulator.venues import load_sim
    from flowdesk.streaming.simulator.venues.server import VenueSimServer

    urls: dict[str, tuple[str, str]] = {}
    sims: list[Any] = []
    for name in VENUE_IDS:
        if name == "binance_usdm":
            sim: Any = Simulator(SimulatorConfig(mode="synthetic", symbols=symbols, rate_hz=rate_hz, speed=0))
        else:
            sim = VenueSimServer(load_sim(name), symbols, rate_hz=rate_hz, speed=0)
        await sim.start()
        sims.append(sim)
        urls[name] = (sim.ws_url, sim.rest_url)
    print(json.dumps(urls), flush=True)
    await asyncio.Event().wait()


async def _collect(urls: dict[str, list[str]], symbols: list[str], seconds: float) -> dict[str, Any]:
    from flowdesk.server.app import Runtime
    from flowdesk.server.simulate import point_venue_at
    from flowdesk.settings import load_settings

    with tempfile.TemporaryDirectory() as tmp:
        venues = {name: {"enabled": True} for name in urls}
        settings = load_settings(
            env={"FLOWDESK_DATA_DIR": tmp, "FLOWDESK_LOG_LEVEL": "WARNING"},
            overrides={"symbols": symbols, "venues": venues},
        )
        for name, (ws, rest) in urls.items():
            settings = point_venue_at(settings, name, ws, rest, symbols)
        runtime = Runtime(settings, retention=False, services=False)
        await runtime.start()
        feeds = runtime.controller.feeds
        while not all(f.health.messages for f in feeds):
            await asyncio.sleep(0.05)
        start = {f.venue.name: f.health.messages for f in feeds}
        t0, cpu0 = time.perf_counter(), time.process_time()
        await asyncio.sleep(seconds)
        dt = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        received = {f.venue.name: f.health.messages - start[f.venue.name] for f in feeds}
        runtime.controller.batcher.flush()
        await asyncio.to_thread(runtime.writer.flush, 120)
        rows = _rows_by_venue(runtime)
        out = {
            "seconds": dt,
            "collector_cpu_share": cpu / dt,
            "venues": {
                f.venue.name: {
                    "frames_per_s": received[f.venue.name] / dt,
                    "records": rows.get((f.exchange, f.market), 0),
                    "malformed": f.health.malformed,
                    "unknown": f.health.unknown,
                    "book_resyncs": f.health.book_resyncs,
                    "books_synced": sum(b.synced for b in f.books.values()),
                    "books": len(f.books),
                }
                for f in feeds
            },
        }
        await runtime.stop()
    return out


def _rows_by_venue(runtime: Any) -> dict[tuple[str, str], int]:
    """Rows stored per (exchange, market) over every record table, read back from DuckDB."""
    from flowdesk.storage.schema import TABLE_OF

    counts: dict[tuple[str, str], int] = {}
    cur = runtime.store.connection.cursor()
    for table in sorted(set(TABLE_OF.values())):
        for ex, mk, n in cur.execute(f"SELECT exchange, market, count(*) FROM {table} GROUP BY ALL").fetchall():
            counts[(ex, mk)] = counts.get((ex, mk), 0) + n
    cur.close()
    return counts


def run_venues_bench(seconds: float = 20.0, rate_hz: float = 200.0, symbols: tuple[str, ...] = SYMBOLS) -> dict[str, Any]:
    """Run the benchmark and print its table; returns the collector's figures."""
    syms = ",".join(symbols)
    sims = subprocess.Popen(
        [sys.executable, "-m", "flowdesk.bench_venues", "serve", syms, str(rate_hz)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert sims.stdout is not None
        urls = sims.stdout.readline().strip()
        if not urls:
            raise RuntimeError("the simulators did not start")
        out = subprocess.run(
            [sys.executable, "-m", "flowdesk.bench_venues", "collect", syms, str(seconds), urls],
            capture_output=True, text=True, timeout=seconds + 300, check=True,
        )
    finally:
        sims.terminate()
        sims.wait(timeout=10)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    _print(result, symbols)
    return result


def _print(result: dict[str, Any], symbols: tuple[str, ...]) -> None:
    print(f"nine markets x {len(symbols)} symbols ({', '.join(symbols)}), synthetic seeded markets "
          f"(the captures hold one venue each), simulators in one process at full speed, "
          f"collector in another, {result['seconds']:.1f} s")
    print(f"{'venue':<18} {'frames/s':>10} {'records':>10} {'books':>7} {'resyncs':>8} {'malformed':>10} {'unknown':>8}")
    total_frames = total_rows = 0.0
    for name, v in result["venues"].items():
        total_frames += v["frames_per_s"]
        total_rows += v["records"]
        print(f"{name:<18} {v['frames_per_s']:>10,.0f} {v['records']:>10,} {v['books_synced']:>3}/{v['books']:<3} "
              f"{v['book_resyncs']:>8} {v['malformed']:>10} {v['unknown']:>8}")
    print(f"{'total':<18} {total_frames:>10,.0f} frames/s   {total_rows / result['seconds']:,.0f} records/s written")
    share = result["collector_cpu_share"]
    bound = "the collector is the limit" if share > 0.9 else "the simulators are the limit, not the collector"
    print(f"collector CPU: {share:.0%} of one core over the window ({bound}; its writer thread included)")


def _child(argv: list[str]) -> None:
    mode, symbols = argv[0], argv[1].split(",")
    if mode == "serve":
        asyncio.run(_serve_all(symbols, float(argv[2])))
    else:
        print(json.dumps(asyncio.run(_collect(json.loads(argv[3]), symbols, float(argv[2])))))


if __name__ == "__main__":
    _child(sys.argv[1:])
