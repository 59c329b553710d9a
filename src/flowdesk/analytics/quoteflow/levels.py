"""Significant price levels per side: prices seen often with large size (pure numpy).

For each bid price (ask price) in the quotes: ``appearances`` (quotes showing it as the best
bid), ``large_appearances`` (of those, with size >= ``large_size``), ``total_size`` and
``max_size``. A level is significant with at least ``min_large`` large appearances; its
``significance`` is the summed size of its large appearances (frequency x size), and levels
are ranked by it. ``distance_pct`` is (price - current mid) / mid in percent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from flowdesk.analytics.quoteflow.quotes import QuoteArrays

MIN_LARGE_APPEARANCES = 3
TOP_LEVELS = 10


@dataclass(frozen=True)
class Level:
    side: str
    price: float
    appearances: int
    large_appearances: int
    total_size: float
    max_size: float
    significance: float
    distance_pct: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def significant_levels(
    q: QuoteArrays,
    side: str,
    large_size: float,
    mid: float | None,
    min_large: int = MIN_LARGE_APPEARANCES,
    top: int = TOP_LEVELS,
) -> list[Level]:
    """The ``top`` significant levels of ``side`` (``bid`` or ``ask``), most significant first."""
    if len(q) == 0:
        return []
    prices, sizes = (q.bid, q.bid_size) if side == "bid" else (q.ask, q.ask_size)
    levels, inverse = np.unique(prices, return_inverse=True)
    large = sizes >= large_size
    n_large = np.bincount(inverse, weights=large, minlength=levels.shape[0])
    keep = np.flatnonzero(n_large >= min_large)
    if keep.shape[0] == 0:
        return []
    appear = np.bincount(inverse, minlength=levels.shape[0])
    total = np.bincount(inverse, weights=sizes, minlength=levels.shape[0])
    signif = np.bincount(inverse, weights=np.where(large, sizes, 0.0), minlength=levels.shape[0])
    peak = np.zeros(levels.shape[0])
    np.maximum.at(peak, inverse, sizes)
    order = keep[np.argsort(-signif[keep], kind="stable")][:top]
    return [
        Level(
            side=side,
            price=float(levels[i]),
            appearances=int(appear[i]),
            large_appearances=int(n_large[i]),
            total_size=float(total[i]),
            max_size=float(peak[i]),
            significance=float(signif[i]),
            distance_pct=None if not mid else round((float(levels[i]) - mid) / mid * 100, 4),
        )
        for i in order
    ]
