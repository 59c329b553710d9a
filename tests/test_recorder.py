"""The recorder against the simulator: what it writes replays frame for frame."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from websockets.asyncio.client import connect

from flowdesk.streaming.captures import iter_capture
from flowdesk.streaming.recorder import combined_url, record, stream_names
from flowdesk.streaming.simulator import FaultConfig, Simulator, SimulatorConfig

SYMBOLS = ["BTCUSDT", "ETHUSDT"]
STREAMS = ["aggTrade", "depth@100ms", "bookTicker", "markPrice@1s", "forceOrder", "kline_1m"]


def test_stream_names_and_url() -> None:
    names = stream_names(["BTCUSDT"], ["aggTrade", "depth@100ms"])
    assert names == ["btcusdt@aggTrade", "btcusdt@depth@100ms"]
    assert combined_url("ws://127.0.0.1:9/", names) == "ws://127.0.0.1:9/stream?streams=btcusdt@aggTrade/btcusdt@depth@100ms"


async def _record_synthetic(out: Path, frames: int, faults: FaultConfig | None = None) -> int:
    sim = Simulator(SimulatorConfig(speed=0, symbols=SYMBOLS, faults=faults or FaultConfig()))
    await sim.start()
    try:
        return await record(sim.ws_url, sim.rest_url, SYMBOLS, STREAMS, out, max_frames=frames)
    finally:
        await sim.stop()


async def _replay(path: Path, n: int) -> tuple[list[str], dict[str, int]]:
    """Replay ``path``; the frames a client gets and the REST depth ids before the stream."""
    sim = Simulator(SimulatorConfig(mode="replay", captures=[path], speed=0))
    await sim.start()
    try:
        ids = {s: sim.state.symbols[s].book.last_id for s in SYMBOLS}
        async with connect(combined_url(sim.ws_url, stream_names(SYMBOLS, STREAMS)), max_size=None, max_queue=None) as ws:
            got = [str(await asyncio.wait_for(ws.recv(), 30)) for _ in range(n)]
        assert await sim.wait_replay_done(10)
        return got, ids
    finally:
        await sim.stop()


def test_recording_of_the_synthetic_market_replays_identically(tmp_path: Path) -> None:
    out = tmp_path / "rec.gz"
    assert asyncio.run(_record_synthetic(out, 3_000)) == 3_000
    lines = [raw for _, raw in iter_capture(out)]
    frames = [raw for raw in lines if raw.startswith('{"stream"')]
    snapshots = [json.loads(raw) for raw in lines if raw.startswith('{"lastUpdateId"')]
    assert len(frames) == 3_000 and len(snapshots) == 2 and len(lines) == 3_002
    assert {json.loads(f)["stream"].split("@", 1)[1] for f in frames} >= {"aggTrade", "depth@100ms", "bookTicker"}
    ns = [n for n, _ in iter_capture(out)]
    assert ns == sorted(ns) and abs(ns[-1] - time.time_ns()) < 60e9

    got, ids = asyncio.run(_replay(out, len(frames)))
    assert got == frames
    # each bare snapshot was attributed to its own symbol (BTC and ETH snapshots differ)
    assert sorted(ids.values()) == sorted(s["lastUpdateId"] for s in snapshots)
    btc = next(s for s in snapshots if float(s["bids"][0][0]) > 10_000)
    assert ids["BTCUSDT"] == btc["lastUpdateId"]


def test_recorder_waits_out_429_for_the_snapshots(tmp_path: Path) -> None:
    out = tmp_path / "rec.jsonl"
    faults = FaultConfig(rest_429_count=1, retry_after_s=0.2)
    assert asyncio.run(_record_synthetic(out, 500, faults)) == 500
    snapshots = [raw for _, raw in iter_capture(out) if raw.startswith('{"lastUpdateId"')]
    assert len(snapshots) == 2


def test_duration_stops_the_recording(tmp_path: Path) -> None:
    async def main() -> tuple[int, float]:
        sim = Simulator(SimulatorConfig(speed=1, rate_hz=200, symbols=["BTCUSDT"]))
        await sim.start()
        try:
            t0 = time.monotonic()
            n = await record(sim.ws_url, sim.rest_url, ["BTCUSDT"], ["bookTicker", "depth"], tmp_path / "d.gz", duration_s=0.6)
            return n, time.monotonic() - t0
        finally:
            await sim.stop()

    n, elapsed = asyncio.run(main())
    assert n > 10 and 0.5 < elapsed < 30, "stopped by duration, not by running out of frames"
