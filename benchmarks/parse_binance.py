"""Hot-path benchmark of the Binance USD-M parser on the real BTCUSDT capture.

    python benchmarks/parse_binance.py [--capture FILE] [--repeat N] [--bytes]

Reads every frame of the capture into memory (as ``str``, what ``websockets`` hands over for a
text frame; ``--bytes`` for bytes), then times, per event type and over the whole mix in file
order: plain ``orjson.loads`` alone, and ``parse_message`` (which includes the same loads). The
diff-depth rows add the book-sync cost (``SequencedBook.on_delta``) after parsing. Each figure
is the best of ``--repeat`` passes over the same frames (the capture is a few minutes of one
symbol, so it is looped, not extended). Network, websockets and storage are not included.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from flowdesk.streaming.book import SequencedBook
from flowdesk.streaming.venues import binance_usdm as bn

CAPTURE = "captures/binance-usdm/btcusdt_20240808.gz"


def default_capture() -> Path:
    """``$FLOWDESK_REAL_DATA/<capture>``, else ``../shared/data/<capture>`` beside the repo."""
    base = os.environ.get("FLOWDESK_REAL_DATA")
    root = Path(base) if base else Path(__file__).resolve().parents[2] / "shared" / "data"
    return root / CAPTURE


def load(path: Path, as_bytes: bool) -> tuple[dict[str, list[Any]], list[Any], Any, int]:
    """Frames grouped by event type, all frames in order, the REST snapshot line and its ns."""
    by_type: dict[str, list[Any]] = {}
    frames: list[Any] = []
    snapshot, snapshot_ns = None, 0
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            head, _, raw = line.rstrip("\n").partition(" ")
            msg = orjson.loads(raw)
            frame = raw.encode() if as_bytes else raw
            if "lastUpdateId" in msg:
                snapshot, snapshot_ns = frame, int(head)
                continue
            by_type.setdefault(msg["data"]["e"], []).append(frame)
            frames.append(frame)
    return by_type, frames, snapshot, snapshot_ns


def best_ns(fn: Callable[[Sequence[Any]], None], frames: Sequence[Any], repeat: int) -> int:
    """Fastest of ``repeat`` timed passes of ``fn(frames)``, in nanoseconds."""
    best = sys.maxsize
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        fn(frames)
        best = min(best, time.perf_counter_ns() - t0)
    return best


def loads_only(frames: Sequence[Any]) -> None:
    loads = orjson.loads
    for raw in frames:
        loads(raw)


def parse_all(frames: Sequence[Any]) -> None:
    parse = bn.parse_message
    for raw in frames:
        parse(raw, 0)


def book_pass(snapshot: Any, snapshot_ns: int) -> Callable[[Sequence[Any]], None]:
    """Parse diffs and keep a book in sync: the first diffs straddle the snapshot."""

    def run(frames: Sequence[Any]) -> None:
        book = SequencedBook()
        book.on_snapshot(bn.parse_depth_snapshot(snapshot, "BTCUSDT", snapshot_ns))
        parse, on_delta = bn.parse_message, book.on_delta
        for raw in frames:
            for rec in parse(raw, 0):
                on_delta(rec)
        if not book.synced or book.gaps:
            raise SystemExit("book lost sync during the benchmark: the figures would be wrong")

    return run


def row(name: str, n: int, loads_ns: int, parse_ns: int) -> str:
    per = parse_ns / n / 1000
    return (
        f"{name:<16}{n:>8}{n / loads_ns * 1e9:>14,.0f}{n / parse_ns * 1e9:>14,.0f}"
        f"{per:>10.2f}{(parse_ns - loads_ns) / n / 1000:>11.2f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--capture", type=Path, default=default_capture())
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--bytes", action="store_true", help="feed bytes instead of str frames")
    a = ap.parse_args()
    if not a.capture.is_file():
        raise SystemExit(f"capture not found: {a.capture} (set FLOWDESK_REAL_DATA)")
    by_type, frames, snapshot, snapshot_ns = load(a.capture, a.bytes)
    print(f"capture {a.capture}: {len(frames):,} frames ({'bytes' if a.bytes else 'str'}), "
          f"best of {a.repeat} passes, Python {sys.version.split()[0]}, orjson {orjson.__version__}")
    print(f"{'event':<16}{'frames':>8}{'loads/s':>14}{'parse/s':>14}{'us/frame':>10}{'over loads':>11}")
    for etype, group in sorted(by_type.items(), key=lambda kv: -len(kv[1])):
        lo, pa = best_ns(loads_only, group, a.repeat), best_ns(parse_all, group, a.repeat)
        print(row(etype, len(group), lo, pa))
    lo, pa = best_ns(loads_only, frames, a.repeat), best_ns(parse_all, frames, a.repeat)
    print(row("ALL (mix)", len(frames), lo, pa))
    if snapshot is not None and "depthUpdate" in by_type:
        diffs = by_type["depthUpdate"]
        synced = best_ns(book_pass(snapshot, snapshot_ns), diffs, a.repeat)
        print(row("depth+book", len(diffs), best_ns(loads_only, diffs, a.repeat), synced))
    print("loads/s, parse/s: frames per second on one core; 'over loads': us per frame that "
          "parse_message adds to orjson.loads")


if __name__ == "__main__":
    main()
