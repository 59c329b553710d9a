"""Pattern detectors over top-of-book quotes (pure numpy).

Every pattern has a ``side`` (``bid``: buyers' side, ``ask``: sellers' side), a ``direction``
(``bullish``/``bearish``), a ``score`` (how many times its threshold was met, >= 1) and a
``strength`` label (``strong`` at a score of 1.5 or more, else ``moderate``). Rules, with ``T``
the ticker's :class:`~flowdesk.analytics.quoteflow.thresholds.Thresholds`:

* **absorption**: over the newest ``T.absorption_quotes`` quotes the side's price range is at
  most ``T.absorption_range`` (default: their median spread) while its average size is >=
  ``T.absorption_avg_size`` and its peak >= ``T.absorption_max_size``: size keeps standing at
  one price. Score = average size / threshold. Bid side is bullish (support).
* **stacking**: over the newest ``T.stacking_quotes`` quotes, at one unchanged price, the side's
  size never shrinks, every size is >= ``T.stacking_size`` and the last is >=
  ``T.stacking_growth`` x the first. Score = growth / ``T.stacking_growth``.
* **momentum_shift**: in a window with >= ``T.min_moves`` lifts + drops, lifts >=
  ``T.momentum_ratio`` x drops (bullish, side bid) or the reverse (bearish, side ask); lifts and
  drops of both bid and ask count. Score = ratio / ``T.momentum_ratio``.
* **sweep**: one quote-to-quote step removes >= ``T.sweep_size`` of displayed size from a side:
  the ask rises past a level (its previous size was taken) or its size falls at an unchanged
  price; mirror for the bid. An ask sweep is a buyer lifting offers (bullish), a bid sweep a
  seller hitting bids (bearish). An event: ``ts`` is the quote that showed it.
* **iceberg**: at one price held for three quotes in a row, the side's size drops and is then
  refilled to >= ``T.iceberg_size``; a level refilled >= ``T.iceberg_refills`` times within the
  window is an iceberg. Score = refills / ``T.iceberg_refills``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from flowdesk.analytics.quoteflow.metrics import WindowMetrics
from flowdesk.analytics.quoteflow.quotes import QuoteArrays
from flowdesk.analytics.quoteflow.thresholds import Thresholds

STRONG_SCORE = 1.5
SIDES = ("bid", "ask")
_DIRECTION = {"bid": "bullish", "ask": "bearish"}


@dataclass(frozen=True)
class Pattern:
    type: str
    side: str
    direction: str
    score: float
    window_s: int
    ts: int
    price: float | None
    description: str
    details: dict[str, float | int | str] = field(default_factory=dict)

    @property
    def strength(self) -> str:
        return "strong" if self.score >= STRONG_SCORE else "moderate"

    @property
    def key(self) -> tuple[str, str, int]:
        """Identity of a lasting state (type, side, window); sweeps add their time."""
        return (self.type, self.side, self.window_s)

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "side": self.side,
            "direction": self.direction,
            "strength": self.strength,
            "score": round(self.score, 3),
            "window_s": self.window_s,
            "ts": self.ts,
            "price": self.price,
            "description": self.description,
            "details": self.details,
        }


def _cols(q: QuoteArrays, side: str) -> tuple[np.ndarray, np.ndarray]:
    return (q.bid, q.bid_size) if side == "bid" else (q.ask, q.ask_size)


def _fmt(x: float) -> str:
    return f"{x:,.10g}"


def absorption(q: QuoteArrays, t: Thresholds, window_s: int) -> list[Pattern]:
    """Absorption on either side among the newest quotes of ``q``."""
    recent = q.tail(t.absorption_quotes)
    if len(recent) < t.absorption_quotes:
        return []
    limit = t.absorption_range if t.absorption_range is not None else float(np.median(recent.spread))
    out = []
    for side in SIDES:
        prices, sizes = _cols(recent, side)
        avg, peak = float(sizes.mean()), float(sizes.max())
        if np.ptp(prices) > limit or avg < t.absorption_avg_size or peak < t.absorption_max_size:
            continue
        price = float(prices[-1])
        out.append(Pattern(
            "absorption", side, _DIRECTION[side], avg / t.absorption_avg_size, window_s, int(recent.ts[-1]),
            price, f"{side} absorption at {_fmt(price)}: average size {_fmt(avg)}, peak {_fmt(peak)}",
            {"avg_size": avg, "max_size": peak, "quotes": len(recent), "price_range": float(np.ptp(prices))},
        ))
    return out


def stacking(q: QuoteArrays, t: Thresholds, window_s: int) -> list[Pattern]:
    """Size building at an unchanged best price among the newest quotes."""
    recent = q.tail(t.stacking_quotes)
    if len(recent) < t.stacking_quotes:
        return []
    out = []
    for side in SIDES:
        prices, sizes = _cols(recent, side)
        if np.ptp(prices) != 0 or sizes.min() < t.stacking_size or np.any(np.diff(sizes) < 0):
            continue
        growth = float(sizes[-1] / sizes[0])
        if growth < t.stacking_growth:
            continue
        price = float(prices[-1])
        out.append(Pattern(
            "stacking", side, _DIRECTION[side], growth / t.stacking_growth, window_s, int(recent.ts[-1]),
            price, f"{side} stacking at {_fmt(price)}: size {_fmt(sizes[0])} -> {_fmt(sizes[-1])}",
            {"first_size": float(sizes[0]), "last_size": float(sizes[-1]), "growth": growth,
             "total_size": float(sizes.sum()), "quotes": len(recent)},
        ))
    return out


def momentum_shift(m: WindowMetrics, t: Thresholds, price: float) -> list[Pattern]:
    """Lifts vs drops in one window."""
    lifts, drops = m.lifts, m.drops
    if lifts + drops < t.min_moves:
        return []
    side = "bid" if lifts >= drops else "ask"
    big, small = (lifts, drops) if side == "bid" else (drops, lifts)
    ratio = big / max(small, 1)
    if ratio < t.momentum_ratio:
        return []
    return [Pattern(
        "momentum_shift", side, _DIRECTION[side], ratio / t.momentum_ratio, m.window_s, m.last_ts, price,
        f"{_DIRECTION[side]} momentum over {m.window_s}s: {lifts} lifts vs {drops} drops",
        {"lifts": lifts, "drops": drops, "ratio": round(ratio, 3), "mid_change": m.mid_change},
    )]


def _consumed(prices: np.ndarray, sizes: np.ndarray, side: str) -> np.ndarray:
    """Displayed size removed at each step: the whole level when the price moves away
    (ask up / bid down), the shrink at an unchanged price, else 0."""
    away = prices[1:] > prices[:-1] if side == "ask" else prices[1:] < prices[:-1]
    same = prices[1:] == prices[:-1]
    shrink = np.maximum(sizes[:-1] - sizes[1:], 0.0)
    return np.where(away, sizes[:-1], np.where(same, shrink, 0.0))


def sweeps(q: QuoteArrays, t: Thresholds, window_s: int, limit: int = 20) -> list[Pattern]:
    """Every sweep event in ``q``, newest first, at most ``limit`` per side."""
    if len(q) < 2:
        return []
    out = []
    for side in SIDES:
        prices, sizes = _cols(q, side)
        taken = _consumed(prices, sizes, side)
        for i in np.flatnonzero(taken >= t.sweep_size)[::-1][:limit]:
            moved = float(prices[i + 1] - prices[i])
            verb = "lifted" if side == "ask" else "hit"
            out.append(Pattern(
                "sweep", side, "bullish" if side == "ask" else "bearish", float(taken[i]) / t.sweep_size,
                window_s, int(q.ts[i + 1]), float(prices[i]),
                f"{'offer' if side == 'ask' else 'bid'} {verb} at {_fmt(prices[i])}: {_fmt(taken[i])} taken",
                {"size": float(taken[i]), "price_move": moved, "action": "lift" if side == "ask" else "hit"},
            ))
    out.sort(key=lambda p: p.ts, reverse=True)
    return out


def icebergs(q: QuoteArrays, t: Thresholds, window_s: int) -> list[Pattern]:
    """The most refilled level per side, when refilled often enough."""
    if len(q) < 3:
        return []
    out = []
    for side in SIDES:
        p, s = _cols(q, side)
        held = (p[2:] == p[1:-1]) & (p[1:-1] == p[:-2])
        refill = held & (s[1:-1] < s[:-2]) & (s[2:] > s[1:-1]) & (s[2:] >= t.iceberg_size)
        idx = np.flatnonzero(refill) + 2
        if idx.shape[0] < t.iceberg_refills:
            continue
        levels, counts = np.unique(p[idx], return_counts=True)
        best = int(np.argmax(counts))
        n = int(counts[best])
        if n < t.iceberg_refills:
            continue
        price = float(levels[best])
        at = idx[p[idx] == price]
        out.append(Pattern(
            "iceberg", side, _DIRECTION[side], n / t.iceberg_refills, window_s, int(q.ts[at[-1]]), price,
            f"{side} iceberg at {_fmt(price)}: refilled {n} times",
            {"refills": n, "avg_refill_size": float(s[at].mean())},
        ))
    return out
