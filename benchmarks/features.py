"""Feature engine benchmark on the real captures (Binance USD-M BTCUSDT and ETHUSDT, 2024-08-08).

    python benchmarks/features.py [--capture FILE] [--repeat N] [--skip-ingest]

1. **engine**: the capture's frames are parsed once; then every record goes through a live
   order book (diffs applied as the feed does) with and without a feature engine per symbol.
   The difference is the engine's own cost: records/s of the engine, the cost per boundary,
   rows emitted.
2. **history**: the same records stored by the collector, replayed from DuckDB through the
   engine (:func:`flowdesk.analytics.features.history.replay`): records/s including the reads.
3. **ingest**: the production collector against the simulator (its own process, full speed),
   once with the feature service attached to the feeds and once without, each in a fresh
   process; frames/s of each and their ratio (the cost features add to ingest). The captures
   hold a few minutes each; they are replayed once, as recorded. At full speed about six
   minutes of market time pass in a few seconds, so the once-per-second boundaries weigh
   ~100x more against the per-record work than they do live.
4. **cpu at speed X** (``--speed``, default 10): the same two runs with the simulator replaying
   at X times real time; the collector process's CPU time per frame with features on and off,
   closer to the live mix of records and boundaries.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from flowdesk.bench import _count_frames, _default_captures, start_simulator


def _cpu_s() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def _records(paths: list[Path]) -> tuple[list[Any], dict[str, Any]]:
    """Parsed records of the captures in receive order, and each symbol's REST snapshot."""
    from flowdesk.streaming.venues import binance_usdm as bn

    lines: list[tuple[int, str]] = []
    for path in paths:
        with gzip.open(path, "rt") as fh:
            lines += [(int(ns), raw) for ns, _, raw in (line.partition(" ") for line in fh)]
    lines.sort(key=lambda x: x[0])
    recs: list[Any] = []
    snaps: dict[str, Any] = {}
    pending = None
    for ns, raw in lines:
        if '"stream"' not in raw[:20]:
            pending = json.loads(raw)
            continue
        out = bn.parse_message(raw, ns)
        if pending is not None and out:
            snaps[out[0].symbol] = bn.parse_depth_snapshot(pending, out[0].symbol, ns)
            pending = None
        recs.extend(out)
    return recs, snaps


def _run(recs: list[Any], snaps: dict[str, Any], with_engine: bool) -> tuple[float, dict[str, Any]]:
    from flowdesk import records as r
    from flowdesk.analytics.features.engine import EngineParams, SymbolEngine
    from flowdesk.analytics.features.service import LiveBook
    from flowdesk.streaming.book import SequencedBook

    books = {s: SequencedBook() for s in snaps}

    class Feed:
        pass

    feed = Feed()
    feed.books = books  # type: ignore[attr-defined]
    engines = {s: SymbolEngine("binance", "usdm", s, EngineParams(), book=LiveBook(feed, s, 20)) for s in snaps} if with_engine else {}
    delta = r.BookDelta
    started = time.perf_counter()
    for rec in recs:
        if type(rec) is delta:
            book = books[rec.symbol]
            book.on_delta(rec)
            if not book.synced and rec.symbol in snaps:
                book.on_snapshot(snaps[rec.symbol])
        if engines:
            engines[rec[2]].on_record(rec)
    elapsed = time.perf_counter() - started
    stats = {s: e.stats for s, e in engines.items()}
    return elapsed, stats


def bench_engine(paths: list[Path], repeat: int) -> dict[str, Any]:
    recs, snaps = _records(paths)
    base = min(_run(recs, snaps, False)[0] for _ in range(repeat))
    runs = [_run(recs, snaps, True) for _ in range(repeat)]
    full, stats = min(runs, key=lambda x: x[0])
    engine_s = max(full - base, 1e-9)
    boundaries = sum(s["boundaries"] for s in stats.values())
    boundary_s = sum(s["boundary_s"] for s in stats.values())
    return {
        "records": len(recs), "book_only_s": base, "book_and_engine_s": full, "engine_s": engine_s,
        "engine_records_per_s": len(recs) / engine_s, "boundaries": boundaries,
        "ms_per_boundary": 1000 * boundary_s / max(boundaries, 1),
        "per_record_us": 1e6 * (engine_s - boundary_s) / len(recs),
        "rows": sum(s["rows"] for s in stats.values()),
    }


def _collect(port: int, symbols: list[str], expected: int, features: bool, data_dir: str) -> dict[str, Any]:
    from flowdesk.analytics.features import service as fsvc
    from flowdesk.server.app import Runtime
    from flowdesk.server.simulate import point_venues_at
    from flowdesk.settings import load_settings

    async def run() -> dict[str, Any]:
        settings = load_settings(env={"FLOWDESK_DATA_DIR": data_dir, "FLOWDESK_LOG_LEVEL": "WARNING"})
        settings = point_venues_at(settings, f"ws://127.0.0.1:{port}", f"http://127.0.0.1:{port}", symbols)
        runtime = Runtime(settings, retention=False, services=False)  # the collector alone...
        await runtime.start()
        task = None
        if features:  # ...plus the feature service, attached before the first frame
            fn = fsvc.service(settings, runtime.controller)
            assert fn is not None
            task = asyncio.ensure_future(fn(runtime.stop_event))
        feed = runtime.controller.feeds[0]
        while feed.health.messages == 0:
            await asyncio.sleep(0.001)
        t0, cpu0 = time.perf_counter(), _cpu_s()
        while feed.health.messages < expected:
            await asyncio.sleep(0.01)
        runtime.controller.batcher.flush()
        await asyncio.to_thread(runtime.writer.flush, 120)
        dt, cpu = time.perf_counter() - t0, _cpu_s() - cpu0
        status = fsvc.RUNNING[0].status() if fsvc.RUNNING else {}
        await runtime.stop()
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        return {"frames": feed.health.messages, "seconds": dt, "frames_per_s": feed.health.messages / dt,
                "cpu_s": cpu, "cpu_us_per_frame": 1e6 * cpu / feed.health.messages,
                "feature_rows": status.get("rows_written", 0)}

    return asyncio.run(run())


def _ingest_side(captures: list[Path], expected: int, symbols: list[str], features: bool, speed: float = 0.0) -> dict[str, Any]:
    sim, port = start_simulator(captures, speed)
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(port), str(expected), ",".join(symbols), "1" if features else "0"],
            capture_output=True, text=True, timeout=600, check=True,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        sim.terminate()
        sim.wait(timeout=10)


def bench_ingest(captures: list[Path], repeat: int) -> dict[str, Any]:
    expected, symbols = _count_frames(captures)
    runs: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    for _ in range(repeat):
        for side in ("off", "on"):
            runs[side].append(_ingest_side(captures, expected, symbols, side == "on"))
    best = {side: max(r, key=lambda x: x["frames_per_s"]) for side, r in runs.items()}
    return {"frames": expected, "off": best["off"], "on": best["on"], "ratio": best["on"]["frames_per_s"] / best["off"]["frames_per_s"]}


def bench_cpu(captures: list[Path], speed: float) -> dict[str, Any]:
    """Collector CPU per frame with features off and on, the simulator at ``speed`` x."""
    expected, symbols = _count_frames(captures)
    out = {side: _ingest_side(captures, expected, symbols, side == "on", speed) for side in ("off", "on")}
    return {**out, "ratio": out["on"]["cpu_us_per_frame"] / out["off"]["cpu_us_per_frame"]}


def bench_history(captures: list[Path]) -> dict[str, Any]:
    """Collect the captures once (features off), then time a history replay of everything."""
    import duckdb

    from flowdesk.analytics.features.history import replay
    from flowdesk.analytics.features.service import engine_params
    from flowdesk.analytics.orderflow.common import MarketKey
    from flowdesk.settings import load_settings

    expected, symbols = _count_frames(captures)
    with tempfile.TemporaryDirectory() as tmp:
        sim, port = start_simulator(captures)
        try:
            subprocess.run([sys.executable, __file__, "--child", str(port), str(expected), ",".join(symbols), "0", tmp],
                           capture_output=True, text=True, timeout=600, check=True)
        finally:
            sim.terminate()
            sim.wait(timeout=10)
        con = duckdb.connect(str(Path(tmp) / "flowdesk.duckdb"), read_only=True)
        params = engine_params(load_settings(env={}))
        records, started = 0, time.perf_counter()
        for symbol in symbols:
            key = MarketKey("binance", "usdm", symbol)
            first = con.execute("SELECT epoch_ms(min(ts)) FROM trades WHERE symbol = ?", [symbol]).fetchall()[0][0]
            engine, _ = replay(con.cursor(), key, first - 900_000, None, params, 0)
            records += engine.stats["records"]
        dt = time.perf_counter() - started
    return {"records": records, "seconds": dt, "records_per_s": records / dt}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--capture", action="append")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-ingest", action="store_true")
    ap.add_argument("--speed", type=float, default=10.0)
    ap.add_argument("--child", nargs="+")
    a = ap.parse_args()
    if a.child:
        port, expected, symbols, features = a.child[:4]
        data_dir = a.child[4] if len(a.child) > 4 else tempfile.mkdtemp()
        print(json.dumps(_collect(int(port), symbols.split(","), int(expected), features == "1", data_dir)))
        return
    captures = [Path(c) for c in a.capture] if a.capture else _default_captures()
    print(f"captures: {', '.join(c.name for c in captures)} (each replayed once, as recorded)")
    e = bench_engine(captures, a.repeat)
    print(f"engine   {e['records']:,} records: {e['engine_records_per_s']:,.0f} records/s of engine time "
          f"({e['per_record_us']:.2f} us per record + {e['ms_per_boundary']:.2f} ms per boundary, "
          f"{e['boundaries']} boundaries, {e['rows']:,} rows); book alone {e['book_only_s']:.3f} s, "
          f"book + engine {e['book_and_engine_s']:.3f} s")
    h = bench_history(captures)
    print(f"history  replay from DuckDB: {h['records']:,} records in {h['seconds']:.2f} s = {h['records_per_s']:,.0f} records/s")
    if not a.skip_ingest:
        i = bench_ingest(captures, a.repeat)
        print(f"ingest   {i['frames']:,} frames: features off {i['off']['frames_per_s']:,.0f} frames/s, "
              f"on {i['on']['frames_per_s']:,.0f} frames/s ({i['on']['feature_rows']:,} feature rows); "
              f"on / off = {i['ratio']:.2f} (best of {a.repeat})")
        c = bench_cpu(captures, a.speed)
        print(f"cpu      simulator at {a.speed:g}x real time ({c['off']['seconds']:.0f} s): collector CPU "
              f"{c['off']['cpu_us_per_frame']:.1f} us/frame features off, {c['on']['cpu_us_per_frame']:.1f} us/frame on "
              f"({c['ratio']:.2f}x)")


if __name__ == "__main__":
    main()
