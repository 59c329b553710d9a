"""Ingest benchmark: same as `flowdesk bench ingest` (see flowdesk/bench.py).

    python benchmarks/ingest.py [--capture FILE] [--repeat N]
"""

from __future__ import annotations

import argparse

from flowdesk.bench import run_ingest_bench

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--capture")
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args()
    run_ingest_bench(a.capture, a.repeat)
