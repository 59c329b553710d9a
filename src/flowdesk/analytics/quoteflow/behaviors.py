"""Behaviour flags: plain YES/NO answers built from the window metrics and patterns.

| flag | YES when |
|---|---|
| ``bid_stacking`` / ``ask_stacking`` | a stacking pattern is active on that side |
| ``bid_pulling`` / ``ask_pulling`` | over the newest 5 quotes, at one price, the side's size never grows and ends <= 70% of where it started |
| ``spread_tightening`` / ``spread_widening`` | the 10 s average spread is <= 0.8x / >= 1.25x the 60 s average |
| ``momentum_building`` | lifts:drops (or drops:lifts) >= 1.5 over 60 s with >= ``min_moves`` moves, and the 10 s window leans the same way at >= 1.5 |
| ``aggressive_buying`` | over 60 s ask lifts >= 2x ask drops (>= ``min_moves``/2 ask moves) and the mid rose |
| ``aggressive_selling`` | over 60 s bid drops >= 2x bid lifts (>= ``min_moves``/2 bid moves) and the mid fell |
| ``large_bid`` / ``large_ask`` | the current quote's size on that side is >= ``large_size`` |

A flag that needs a window with fewer than 2 quotes is NO; ``large_*`` are NO while the
ticker's size thresholds are not known yet (relative preset, too little history). Move counts
and ratios come from the ticker's thresholds, else from the classic defaults.
"""

from __future__ import annotations

import numpy as np

from flowdesk.analytics.quoteflow.metrics import WindowMetrics
from flowdesk.analytics.quoteflow.patterns import Pattern
from flowdesk.analytics.quoteflow.quotes import QuoteArrays
from flowdesk.analytics.quoteflow.thresholds import Thresholds, classic_options

PULL_QUOTES = 5
PULL_KEEP = 0.7
LEAN = 1.5
FLAGS = (
    "bid_stacking", "ask_stacking", "bid_pulling", "ask_pulling", "spread_tightening",
    "spread_widening", "momentum_building", "aggressive_buying", "aggressive_selling",
    "large_bid", "large_ask",
)


def _pulling(prices: np.ndarray, sizes: np.ndarray) -> bool:
    if prices.shape[0] < PULL_QUOTES or np.ptp(prices) != 0 or sizes[0] <= 0:
        return False
    return bool(np.all(np.diff(sizes) <= 0) and sizes[-1] <= PULL_KEEP * sizes[0])


def _lean(up: int, down: int, min_moves: int) -> int:
    """+1 when ``up`` outweighs ``down`` by :data:`LEAN`, -1 for the reverse, else 0."""
    if up + down < max(min_moves, 2):
        return 0
    if up >= LEAN * max(down, 1) and up > down:
        return 1
    if down >= LEAN * max(up, 1) and down > up:
        return -1
    return 0


def _momentum_building(w10: WindowMetrics | None, w60: WindowMetrics | None, t: Thresholds) -> bool:
    if w10 is None or w60 is None:
        return False
    lean60 = _lean(w60.lifts, w60.drops, t.min_moves)
    return lean60 != 0 and _lean(w10.lifts, w10.drops, 2) == lean60


def _aggressive(w60: WindowMetrics | None, t: Thresholds, buying: bool) -> bool:
    if w60 is None:
        return False
    if buying:
        up, down, moved = w60.ask_lifts, w60.ask_drops, w60.mid_change > 0
    else:
        up, down, moved = w60.bid_drops, w60.bid_lifts, w60.mid_change < 0
    return moved and up + down >= t.min_moves / 2 and up >= 2 * max(down, 1)


def _spread(w10: WindowMetrics | None, w60: WindowMetrics | None) -> tuple[bool, bool]:
    if w10 is None or w60 is None or w60.spread_avg <= 0:
        return False, False
    r = w10.spread_avg / w60.spread_avg
    return r <= 0.8, r >= 1.25


def behaviors(
    q: QuoteArrays,
    windows: dict[int, WindowMetrics | None],
    active: list[Pattern],
    t: Thresholds | None,
) -> dict[str, bool]:
    """The flags of :data:`FLAGS` for the newest quotes ``q`` (at least the last 10 s)."""
    w10, w60 = windows.get(10), windows.get(60)
    moves = t if t is not None else classic_options()  # ratios and move counts need no sizes
    stacked = {p.side for p in active if p.type == "stacking"}
    tight, wide = _spread(w10, w60)
    recent = q.tail(PULL_QUOTES)
    flags = {
        "bid_stacking": "bid" in stacked,
        "ask_stacking": "ask" in stacked,
        "bid_pulling": _pulling(recent.bid, recent.bid_size),
        "ask_pulling": _pulling(recent.ask, recent.ask_size),
        "spread_tightening": tight,
        "spread_widening": wide,
        "momentum_building": _momentum_building(w10, w60, moves),
        "aggressive_buying": _aggressive(w60, moves, True),
        "aggressive_selling": _aggressive(w60, moves, False),
        "large_bid": t is not None and len(q) > 0 and bool(q.bid_size[-1] >= t.large_size),
        "large_ask": t is not None and len(q) > 0 and bool(q.ask_size[-1] >= t.large_size),
    }
    return flags
