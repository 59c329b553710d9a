"""Constructed quote sequences for the quote-flow tests (a seeded generator, nothing random
at test time): a quiet baseline and the segments that should show each pattern.

The baseline alternates the bid between 100.00 and 100.03 (ask = bid + 0.02) at 20 quotes/s
with sizes drawn uniformly from 800..1200 (scaled by ``unit``): lifts equal drops, no price is
held twice in a row, and no size is far from the others, so no pattern fires on it. With the
relative preset its large size (p90) is about 1,160 x unit; the other thresholds follow
(stacking ~580, absorption average ~930 / peak ~1,740, sweep ~1,740, iceberg ~580).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import orjson

from flowdesk.analytics.quoteflow.quotes import QuoteArrays, quote_member

Row = tuple[int, float, float, float, float]  # ts, bid, ask, bid_size, ask_size
RATE = 20
STEP_MS = 1000 // RATE
BASE_BID = 100.00


def baseline(end_ms: int, seconds: float, unit: float = 1.0, seed: int = 7) -> list[Row]:
    """``seconds`` of quiet quotes, the last one at ``end_ms``."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    sizes = rng.uniform(800, 1200, size=(n, 2)) * unit
    rows = []
    for i in range(n):
        bid = BASE_BID + (0.03 if i % 2 else 0.0)
        rows.append((end_ms - (n - 1 - i) * STEP_MS, round(bid, 2), round(bid + 0.02, 2), float(sizes[i, 0]), float(sizes[i, 1])))
    return rows


def then(rows: list[Row], segment: Iterable[tuple[float, float, float, float]]) -> list[Row]:
    """Append ``(bid, ask, bid_size, ask_size)`` quotes after ``rows`` at the same rate."""
    out = list(rows)
    for bid, ask, bs, as_ in segment:
        out.append((out[-1][0] + STEP_MS, round(bid, 6), round(ask, 6), bs, as_))
    return out


def held(n: int, bid: float, ask: float, bid_sizes: Sequence[float], ask_size: float) -> list[tuple[float, float, float, float]]:
    """``n`` quotes at one bid/ask with the given bid sizes (cycled)."""
    return [(bid, ask, bid_sizes[i % len(bid_sizes)], ask_size) for i in range(n)]


def trend(seconds: float, up: bool, unit: float = 1.0, start_bid: float = BASE_BID) -> list[tuple[float, float, float, float]]:
    """Prices stepping 3 ticks with and 1 against the direction (3:1 lifts to drops)."""
    out, bid = [], start_bid
    sign = 1 if up else -1
    for i in range(int(seconds * RATE)):
        bid += sign * 0.01 * (1 if i % 4 != 3 else -1)
        out.append((round(bid, 2), round(bid + 0.02, 2), 1000 * unit, 1000 * unit))
    return out


def arrays(rows: Sequence[Row]) -> QuoteArrays:
    return QuoteArrays.from_rows(list(rows))


def members(rows: Sequence[Row], names: str = "canonical") -> dict[bytes, float]:
    """Rows as sorted-set members; ``names='broker'`` uses bid_price/ask_price like the
    options data broker, ``'binance'`` uses b/B/a/A with decimal strings."""
    out: dict[bytes, float] = {}
    for i, (ts, bid, ask, bs, as_) in enumerate(rows):
        if names == "broker":
            m = orjson.dumps({"bid_price": bid, "ask_price": ask, "bid_size": bs, "ask_size": as_, "timestamp": ts, "seq": i})
        elif names == "binance":
            m = orjson.dumps({"b": str(bid), "B": str(bs), "a": str(ask), "A": str(as_), "E": ts, "u": i})
        else:
            m = quote_member(bid, ask, bs, as_, ts, seq=i)
        out[m] = float(ts)
    return out
