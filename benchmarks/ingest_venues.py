"""Nine-market ingest benchmark: same as `flowdesk bench venues` (see flowdesk/bench_venues.py).

    python benchmarks/ingest_venues.py [--seconds 20] [--rate-hz 200]
"""

from __future__ import annotations

import argparse

from flowdesk.bench_venues import run_venues_bench

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rate-hz", type=float, default=200.0, help="synthetic frames/s per symbol at speed 1 (sets the mix)")
    a = ap.parse_args()
    run_venues_bench(a.seconds, a.rate_hz)
