"""Window metrics over top-of-book quotes (pure numpy, no I/O).

A window of ``w`` seconds ending at ``end_ms`` holds the quotes with
``end_ms - w*1000 < ts <= end_ms``; changes and counts are taken between consecutive quotes
inside it (the quote before the window is not used). Definitions:

* **lift / drop**: the bid (or ask) price is higher (lower) than on the previous quote.
* **spread**: ask - bid; ``spread_bps`` relative to the mid.
* **size ratio**: average bid size / average ask size.
* **size churn** ("volume dynamics"): per side, ``|size - previous size|`` while the price
  is unchanged, plus the new level's full size when the price changes: how much displayed
  size appeared or disappeared at the top of the book.
* **large**: quotes whose bid (ask) size is >= the ticker's ``large_size`` threshold.
* **acceleration**: second half of the window vs the first half (by time) for the quote count,
  the average bid and ask sizes and the churn; ``INCREASING`` at >= 1.2x, ``DECREASING`` at
  <= 0.8x, else ``STABLE``; ``None`` when the first half is empty.
* **velocity**: quotes per second and mid change per second (also in bps/s).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from flowdesk.analytics.quoteflow.quotes import QuoteArrays

WINDOWS_S: tuple[int, ...] = (10, 60, 300)
ACCEL_UP = 1.2
ACCEL_DOWN = 0.8


@dataclass(frozen=True)
class WindowMetrics:
    """The metrics of one window; see the module docstring for the definitions."""

    window_s: int
    quotes: int
    first_ts: int
    last_ts: int
    bid_change: float
    ask_change: float
    mid_change: float
    bid_lifts: int
    bid_drops: int
    ask_lifts: int
    ask_drops: int
    lifts: int
    drops: int
    bid_size_change: float
    ask_size_change: float
    spread_avg: float
    spread_min: float
    spread_max: float
    spread_bps_avg: float
    bid_size_avg: float
    ask_size_avg: float
    size_ratio: float | None
    large_bids: int | None
    large_asks: int | None
    size_churn: float
    size_churn_per_s: float
    quote_rate_accel: float | None
    bid_size_accel: float | None
    ask_size_accel: float | None
    churn_accel: float | None
    quotes_per_s: float
    price_velocity: float
    price_velocity_bps: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def accel_label(self, field: str) -> str | None:
        """``INCREASING``/``DECREASING``/``STABLE`` for an ``*_accel`` field (None: unknown)."""
        return accel_label(getattr(self, field))


def accel_label(ratio: float | None) -> str | None:
    if ratio is None:
        return None
    if ratio >= ACCEL_UP:
        return "INCREASING"
    if ratio <= ACCEL_DOWN:
        return "DECREASING"
    return "STABLE"


def _moves(prices: np.ndarray) -> tuple[int, int]:
    d = np.diff(prices)
    return int(np.count_nonzero(d > 0)), int(np.count_nonzero(d < 0))


def side_churn(prices: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Per consecutive pair: |size change| at an unchanged price, the new size after a move."""
    if prices.shape[0] < 2:
        return np.empty(0)
    same = prices[1:] == prices[:-1]
    return np.where(same, np.abs(np.diff(sizes)), sizes[1:])


def _ratio(num: float, den: float) -> float | None:
    return None if den <= 0 else round(num / den, 4)


def _halves(q: QuoteArrays, churn: np.ndarray, mid_ms: int) -> tuple[float | None, ...]:
    """Second half / first half ratios: quote count, avg bid size, avg ask size, churn."""
    cut = int(np.searchsorted(q.ts, mid_ms, side="right"))
    n1, n2 = cut, len(q) - cut
    if n1 == 0:
        return None, None, None, None
    c1 = float(churn[: max(cut - 1, 0)].sum())
    c2 = float(churn[max(cut - 1, 0) :].sum())
    if n2 == 0:
        return 0.0, None, None, _ratio(c2, c1)
    return (
        _ratio(n2, n1),
        _ratio(float(q.bid_size[cut:].mean()), float(q.bid_size[:cut].mean())),
        _ratio(float(q.ask_size[cut:].mean()), float(q.ask_size[:cut].mean())),
        _ratio(c2, c1),
    )


def window_metrics(q: QuoteArrays, window_s: int, end_ms: int, large_size: float | None) -> WindowMetrics | None:
    """Metrics of the quotes ``q`` (already cut to the window); None with fewer than 2 quotes."""
    n = len(q)
    if n < 2:
        return None
    bid_lifts, bid_drops = _moves(q.bid)
    ask_lifts, ask_drops = _moves(q.ask)
    mid, spread = q.mid, q.spread
    churn = side_churn(q.bid, q.bid_size) + side_churn(q.ask, q.ask_size)
    rate, bid_acc, ask_acc, churn_acc = _halves(q, churn, end_ms - window_s * 500)
    mid_change = float(mid[-1] - mid[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        bps = np.where(mid > 0, spread / mid * 1e4, np.nan)
    return WindowMetrics(
        window_s=window_s,
        quotes=n,
        first_ts=int(q.ts[0]),
        last_ts=int(q.ts[-1]),
        bid_change=float(q.bid[-1] - q.bid[0]),
        ask_change=float(q.ask[-1] - q.ask[0]),
        mid_change=mid_change,
        bid_lifts=bid_lifts,
        bid_drops=bid_drops,
        ask_lifts=ask_lifts,
        ask_drops=ask_drops,
        lifts=bid_lifts + ask_lifts,
        drops=bid_drops + ask_drops,
        bid_size_change=float(q.bid_size[-1] - q.bid_size[0]),
        ask_size_change=float(q.ask_size[-1] - q.ask_size[0]),
        spread_avg=float(spread.mean()),
        spread_min=float(spread.min()),
        spread_max=float(spread.max()),
        spread_bps_avg=float(np.nanmean(bps)) if np.isfinite(bps).any() else 0.0,
        bid_size_avg=float(q.bid_size.mean()),
        ask_size_avg=float(q.ask_size.mean()),
        size_ratio=_ratio(float(q.bid_size.mean()), float(q.ask_size.mean())),
        large_bids=None if large_size is None else int(np.count_nonzero(q.bid_size >= large_size)),
        large_asks=None if large_size is None else int(np.count_nonzero(q.ask_size >= large_size)),
        size_churn=float(churn.sum()),
        size_churn_per_s=float(churn.sum()) / window_s,
        quote_rate_accel=rate,
        bid_size_accel=bid_acc,
        ask_size_accel=ask_acc,
        churn_accel=churn_acc,
        quotes_per_s=n / window_s,
        price_velocity=mid_change / window_s,
        price_velocity_bps=(mid_change / float(mid[0]) * 1e4 / window_s) if mid[0] > 0 else 0.0,
    )
