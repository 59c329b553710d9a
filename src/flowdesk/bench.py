"""``flowdesk bench ingest``: the full collector vs a bare websockets client on the same replay.

The simulator (its own process) replays a real capture as fast as the socket drains. Each side
runs in its own fresh process against a fresh simulator:

* **bare**: a ``websockets`` client that only receives the frames (the ceiling);
* **collector**: the production collector (parse, book sync, batch, DuckDB writes) into a
  temporary data directory, timed until every frame is received **and** every row is written.

Printed: frames/s, rows/s and peak RSS of each, and the collector/bare ratio next to the target.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_RATIO = 0.5
STREAMS = "aggTrade,bookTicker,depth,markPrice,forceOrder,kline_1m"


def _default_captures() -> list[Path]:
    base = Path(os.environ.get("FLOWDESK_REAL_DATA") or Path(__file__).resolve().parents[3] / "shared" / "data")
    return [base / "captures" / "binance-usdm" / f"{s}_20240808.gz" for s in ("btcusdt", "ethusdt")]


def _count_frames(paths: list[Path]) -> tuple[int, list[str]]:
    frames, symbols = 0, set()
    for path in paths:
        with gzip.open(path, "rt") as fh:
            for line in fh:
                if '"stream"' in line[:60]:
                    frames += 1
                    symbols.add(line.split('"stream":"', 1)[1].split("@", 1)[0].upper())
    return frames, sorted(symbols)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def start_simulator(captures: list[Path], speed: float = 0.0) -> tuple[subprocess.Popen, int]:
    """The simulator replaying ``captures`` in its own process; returns it and its port."""
    port = _free_port()
    cmd = [sys.executable, "-m", "flowdesk.cli", "simulate", "--speed", str(speed), "--port", str(port)]
    for c in captures:
        cmd += ["--capture", str(c)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("simulator did not start")


async def _bare(url: str, expected: int) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    frames = 0
    async with connect(url, max_size=None, max_queue=4096, compression=None) as ws:  # as the collector
        t0 = 0.0
        async for _ in ws:
            if not frames:
                t0 = time.perf_counter()
            frames += 1
            if frames >= expected:
                break
        dt = time.perf_counter() - t0  # before the close handshake
    return {"frames": frames, "seconds": dt, "frames_per_s": frames / dt, "rows_per_s": 0.0, "peak_rss_mb": _peak_rss_mb()}


async def _collector(port: int, symbols: list[str], expected: int) -> dict[str, Any]:
    from flowdesk.server.app import Runtime
    from flowdesk.server.simulate import point_venues_at
    from flowdesk.settings import load_settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(env={"FLOWDESK_DATA_DIR": tmp, "FLOWDESK_LOG_LEVEL": "WARNING"})
        settings = point_venues_at(settings, f"ws://127.0.0.1:{port}", f"http://127.0.0.1:{port}", symbols)
        runtime = Runtime(settings, retention=False, services=False)  # the collector alone
        await runtime.start()
        feed = runtime.controller.feeds[0]
        while feed.health.messages == 0:
            await asyncio.sleep(0.001)
        t0 = time.perf_counter()
        while feed.health.messages < expected:
            await asyncio.sleep(0.01)
        received_s = time.perf_counter() - t0
        runtime.controller.batcher.flush()
        await asyncio.to_thread(runtime.writer.flush, 120)
        dt = time.perf_counter() - t0
        rows = sum((runtime.writer.stats().get("rows_written") or {}).values())
        result = {
            "frames": feed.health.messages, "seconds": dt, "received_s": received_s, "frames_per_s": feed.health.messages / dt,
            "rows": rows, "rows_per_s": rows / dt, "malformed": feed.health.malformed,
            "peak_rss_mb": _peak_rss_mb(),
        }
        await runtime.stop()
    return result


def _run_side(side: str, captures: list[Path], expected: int, symbols: list[str]) -> dict[str, Any]:
    sim, port = start_simulator(captures)
    try:
        out = subprocess.run(
            [sys.executable, "-m", "flowdesk.bench", side, str(port), str(expected), ",".join(symbols)],
            capture_output=True, text=True, timeout=600, check=True,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        sim.terminate()
        sim.wait(timeout=10)


def run_ingest_bench(capture: str | None = None, repeat: int = 1) -> dict[str, Any]:
    captures = [Path(capture)] if capture else _default_captures()
    expected, symbols = _count_frames(captures)
    print(f"replaying {', '.join(c.name for c in captures)}: {expected} frames, symbols {symbols}, "
          f"{repeat} run(s) per side, simulator at full speed in its own process")
    results: dict[str, list[dict[str, Any]]] = {"bare": [], "collector": []}
    for _ in range(repeat):
        for side in ("bare", "collector"):
            results[side].append(_run_side(side, captures, expected, symbols))
    best = {side: max(runs, key=lambda r: r["frames_per_s"]) for side, runs in results.items()}
    print(f"{'side':<10} {'frames/s':>10} {'rows/s':>10} {'seconds':>8} {'peak RSS MB':>12}")
    for side, r in best.items():
        print(f"{side:<10} {r['frames_per_s']:>10,.0f} {r['rows_per_s']:>10,.0f} {r['seconds']:>8.2f} {r['peak_rss_mb']:>12.0f}")
    for side, runs in results.items():
        rates = ", ".join(f"{r['frames_per_s']:,.0f}" for r in runs)
        print(f"{side:<10} every run, frames/s: {rates}")
    ratio = best["collector"]["frames_per_s"] / best["bare"]["frames_per_s"]
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(f"collector / bare = {ratio:.2f}   target >= {TARGET_RATIO:.2f}   ({verdict} the target)")
    medians = {side: statistics.median(r["frames_per_s"] for r in runs) for side, runs in results.items()}
    median_ratio = medians["collector"] / medians["bare"]
    print(f"median run / median run = {median_ratio:.2f}")
    return {"best": best, "ratio": ratio, "median_ratio": median_ratio, "runs": results}


def _child(argv: list[str]) -> None:
    side, port, expected, symbols = argv[0], int(argv[1]), int(argv[2]), argv[3].split(",")
    if side == "bare":
        names = [f"{s.lower()}@{x}" for s in symbols for x in ("aggTrade", "bookTicker", "depth@100ms", "markPrice@1s", "forceOrder", "kline_1m")]
        result = asyncio.run(_bare(f"ws://127.0.0.1:{port}/stream?streams={'/'.join(names)}", expected))
    else:
        result = asyncio.run(_collector(port, symbols, expected))
    print(json.dumps(result))


if __name__ == "__main__":
    _child(sys.argv[1:])
