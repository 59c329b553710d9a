"""Benchmark: the quote-flow processor on 100 tickers x 300 s of quotes at 20 quotes/s each
(600,000 quotes) in a real redis-server, against the 100 ms per-ticker target.

The quotes come from a seeded generator (input data only; every figure printed is measured):
per ticker a random walk of the bid in ticks with a spread of 1-3 ticks, lognormal sizes, and
now and then a burst of one-sided moves, so the detectors have work to do. The benchmark
starts its own redis-server on a free loopback port (or uses ``--redis-port``), loads the
300 s, runs one cold cycle (every ticker read in full), then ``--cycles`` warm cycles: before
each, one more second of quotes (20 per ticker) is published, as a broker would, and the
processor's clock moves one second. Per-ticker time is read, analysed and written back
(``Processor`` timings). Run: ``python benchmarks/quoteflow.py``.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import redis

from flowdesk.analytics.quoteflow.processor import Processor
from flowdesk.analytics.quoteflow.quotes import quote_member
from flowdesk.analytics.quoteflow.status import now_ms
from flowdesk.analytics.quoteflow.thresholds import ThresholdConfig
from flowdesk.storage.redis_quotes import RedisQuoteSource, quotes_key

TARGET_MS = 100.0
INTERVAL_S = 1.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (apt-get install -y redis-server)")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(workdir)], stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    for _ in range(500):
        try:
            client.ping()
            return proc
        except redis.ConnectionError:
            time.sleep(0.01)
    proc.terminate()
    sys.exit("redis-server did not start")


class Ticker:
    """A seeded quote stream for one ticker: bid walk in ticks, spread, sizes."""

    def __init__(self, seed: int, rate: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.rate = rate
        self.tick = float(self.rng.choice([0.01, 0.05, 0.1]))
        self.bid_ticks = int(self.rng.integers(1_000, 100_000))
        self.size_scale = float(self.rng.choice([1.0, 100.0, 5_000.0]))
        self.seq = 0

    def quotes(self, start_ms: int, seconds: int) -> dict[bytes, float]:
        n = seconds * self.rate
        burst = self.rng.random(n) < 0.002  # a one-sided run now and then
        steps = np.where(burst, 1, self.rng.integers(-1, 2, size=n))
        ticks = self.bid_ticks + np.cumsum(steps)
        self.bid_ticks = int(ticks[-1])
        spread = self.rng.integers(1, 4, size=n)
        sizes = self.rng.lognormal(0.0, 0.8, size=(n, 2)) * self.size_scale
        out = {}
        for i in range(n):
            ts = start_ms + i * 1000 // self.rate
            bid = round(float(ticks[i]) * self.tick, 6)
            ask = round(float(ticks[i] + spread[i]) * self.tick, 6)
            out[quote_member(bid, ask, round(float(sizes[i, 0]), 4), round(float(sizes[i, 1]), 4), ts, seq=self.seq)] = float(ts)
            self.seq += 1
        return out


def publish(client: redis.Redis, streams: dict[str, Ticker], start_ms: int, seconds: int) -> None:
    pipe = client.pipeline(transaction=False)
    for name, stream in streams.items():
        pipe.zadd(quotes_key(name), stream.quotes(start_ms, seconds))
    pipe.execute()


def percentiles(values: list[float]) -> tuple[float, float, float]:
    a = np.asarray(values)
    return float(np.percentile(a, 50)), float(np.percentile(a, 99)), float(a.max())


def row(label: str, value: str, target: str, ok: bool | None) -> None:
    verdict = "" if ok is None else ("ok" if ok else "MISSED")
    print(f"{label:<44} {value:>14}   {target:>12}   {verdict}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tickers", type=int, default=100)
    ap.add_argument("--seconds", type=int, default=300)
    ap.add_argument("--rate", type=int, default=20, help="quotes per second per ticker")
    ap.add_argument("--cycles", type=int, default=20, help="warm cycles after the cold one")
    ap.add_argument("--redis-port", type=int, default=None, help="use a running redis-server (its data is flushed)")
    args = ap.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="flowdesk-bench-redis-"))
    port = args.redis_port or free_port()
    server = None if args.redis_port else start_redis(port, workdir)
    try:
        client = redis.Redis(port=port)
        client.flushdb()
        streams = {f"TICK{i:03d}": Ticker(i, args.rate) for i in range(args.tickers)}
        t0 = now_ms()
        started = time.perf_counter()
        publish(client, streams, t0 - args.seconds * 1000 + 1, args.seconds)
        load_s = time.perf_counter() - started
        total = args.tickers * args.seconds * args.rate
        proc = Processor(RedisQuoteSource.connect("127.0.0.1", port), ThresholdConfig(), interval_s=INTERVAL_S)

        cold_started = time.perf_counter()
        proc.run_cycle(t0)
        cold_cycle_ms = (time.perf_counter() - cold_started) * 1000
        cold = [s.timings[-1] for s in proc.status.tickers.values()]
        warm, cycles = [], []
        for k in range(1, args.cycles + 1):
            publish(client, streams, t0 + (k - 1) * 1000 + 1, 1)
            started = time.perf_counter()
            proc.run_cycle(t0 + k * 1000)
            cycles.append((time.perf_counter() - started) * 1000)
            warm += [s.timings[-1] for s in proc.status.tickers.values()]
        errors = sum(s.errors for s in proc.status.tickers.values())
        patterns = sum(client.zcard(f"orderflow:patterns:{t}") for t in streams)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)

    p50, p99, mx = percentiles(warm)
    c50, c99, cmx = percentiles(cold)
    k50, k99, _ = percentiles(cycles)
    print(f"quote-flow processor: {args.tickers} tickers x {args.seconds} s x {args.rate} quotes/s = {total:,} quotes "
          f"(loaded in {load_s:.1f} s); 1 cold + {args.cycles} warm cycles; {errors} ticker errors; "
          f"{patterns} pattern onsets stored")
    print(f"{'measure':<44} {'measured':>14}   {'target':>12}")
    row("per-ticker cycle time, warm p50", f"{p50:.2f} ms", "", None)
    row("per-ticker cycle time, warm p99", f"{p99:.2f} ms", f"< {TARGET_MS:.0f} ms", p99 < TARGET_MS)
    row("per-ticker cycle time, warm max", f"{mx:.2f} ms", "", None)
    row("per-ticker cycle time, cold (full read) p50", f"{c50:.2f} ms", "", None)
    row("per-ticker cycle time, cold (full read) p99", f"{c99:.2f} ms", f"< {TARGET_MS:.0f} ms", c99 < TARGET_MS)
    row("per-ticker cycle time, cold max", f"{cmx:.2f} ms", "", None)
    row(f"whole cycle, {args.tickers} tickers, warm p50", f"{k50:.1f} ms", "", None)
    row(f"whole cycle, {args.tickers} tickers, warm p99", f"{k99:.1f} ms", f"< {INTERVAL_S * 1000:.0f} ms", k99 < INTERVAL_S * 1000)
    row(f"whole cycle, {args.tickers} tickers, cold", f"{cold_cycle_ms:.1f} ms", "", None)


if __name__ == "__main__":
    main()
