"""Order-book features from a book sample, wall tracking, and add/cancel flow from book diffs.

A :class:`BookSample` is what the collector also stores every ``book_snapshot_interval_s``:
the top-N levels per side (best first) and the resting quantity within fixed bands of the mid.
Live, the engine takes one from the in-memory book at each boundary; over history it reads the
stored ``book_snapshots`` and ``depth_bands`` rows.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

Level = tuple[float, float]

#: depth bands (percent of mid) reported, with their feature-name suffix
BAND_NAMES = {0.1: "10bp", 0.5: "50bp", 1.0: "100bp"}
IMBALANCE_LEVELS = (1, 5, 10, 20)
#: a level (other than the best) holding at least this many times the mean level quantity of
#: the sampled levels on its side is a wall
WALL_RATIO = 5.0
WALL_MIN_LEVELS = 5
#: a wall is "pulled" when less than this share of it is left
PULL_LEFT = 0.5
#: add/cancel flow is counted within this percent of the mid
ADD_CANCEL_BAND_PCT = 0.5


class BookSample(NamedTuple):
    """Top-of-book levels (price, qty), best first, and ``bands``: band percent ->
    ``(bid_qty, ask_qty, bid_notional, ask_notional)``."""

    ts: int
    bids: list[Level]
    asks: list[Level]
    bands: dict[float, tuple[float, float, float, float]]

    def mid(self) -> float | None:
        if not self.bids or not self.asks:
            return None
        return (self.bids[0][0] + self.asks[0][0]) / 2


def scan(bids: dict[float, float], asks: dict[float, float], t: int, n: int) -> tuple[BookSample, tuple[np.ndarray, ...]] | None:
    """One vectorised pass over a live book: the sample at ``t`` (top ``n`` levels and the
    :data:`BAND_NAMES` bands, defined as ``OrderBook.depth_within``) and the book as arrays
    (bid prices, bid qtys, ask prices, ask qtys) for :func:`near`. None when a side is empty."""
    if not bids or not asks:
        return None
    bp, bq = _arrays(bids)
    ap, aq = _arrays(asks)
    mid = (float(bp.max()) + float(ap.min())) / 2
    bands: dict[float, tuple[float, float, float, float]] = {}
    for pct in BAND_NAMES:
        mb, ma = bp >= mid * (1 - pct / 100), ap <= mid * (1 + pct / 100)
        bands[pct] = (float(bq[mb].sum()), float(aq[ma].sum()),
                      float(np.dot(bp[mb], bq[mb])), float(np.dot(ap[ma], aq[ma])))
    return BookSample(t, _top(bp, bq, n, -1), _top(ap, aq, n, 1), bands), (bp, bq, ap, aq)


def near(arrays: tuple[np.ndarray, ...], mid: float, pct: float) -> tuple[dict[float, float], dict[float, float]]:
    """The levels within ``pct`` percent of ``mid`` from :func:`scan`'s arrays, as dicts."""
    bp, bq, ap, aq = arrays
    mb, ma = bp >= mid * (1 - pct / 100), ap <= mid * (1 + pct / 100)
    return (dict(zip(bp[mb].tolist(), bq[mb].tolist(), strict=True)),
            dict(zip(ap[ma].tolist(), aq[ma].tolist(), strict=True)))


def _arrays(side: dict[float, float]) -> tuple[np.ndarray, np.ndarray]:
    return (np.fromiter(side.keys(), np.float64, len(side)),
            np.fromiter(side.values(), np.float64, len(side)))


def _top(prices: np.ndarray, qtys: np.ndarray, n: int, sign: int) -> list[Level]:
    """The best ``n`` levels, best first (``sign`` -1: highest prices, 1: lowest)."""
    key = prices * sign
    idx = np.argpartition(key, n - 1)[:n] if len(key) > n else np.arange(len(key))
    idx = idx[np.argsort(key[idx])]
    return list(zip(prices[idx].tolist(), qtys[idx].tolist(), strict=True))


class Wall(NamedTuple):
    price: float
    qty: float
    dist_bps: float


def imbalance(bids: list[Level], asks: list[Level], depth: int) -> float | None:
    """(bid qty - ask qty) / (bid qty + ask qty) over the best ``depth`` levels; None when a
    side has fewer levels or both are empty. Always in [-1, 1]."""
    if len(bids) < depth or len(asks) < depth:
        return None
    b = sum(q for _, q in bids[:depth])
    a = sum(q for _, q in asks[:depth])
    return (b - a) / (b + a) if b + a > 0 else None


def slope(levels: list[Level], mid: float) -> float | None:
    """OLS slope of cumulative quantity on distance from mid (bps): base qty added per bp
    further from the mid. None with fewer than 3 levels."""
    if len(levels) < 3:
        return None
    dist = np.array([abs(p - mid) / mid * 1e4 for p, _ in levels])
    cum = np.cumsum([q for _, q in levels])
    dx = dist - dist.mean()
    var = float(np.dot(dx, dx))
    return float(np.dot(dx, cum - cum.mean()) / var) if var > 0 else None


def find_wall(levels: list[Level], mid: float) -> tuple[float | None, Wall | None]:
    """(largest qty / mean qty of the sampled levels, the wall when that ratio is at least
    :data:`WALL_RATIO`). The best level (the queue at the touch) is not a wall candidate."""
    if len(levels) < WALL_MIN_LEVELS:
        return None, None
    qtys = [q for _, q in levels]
    mean = sum(qtys) / len(qtys)
    if mean <= 0:
        return None, None
    i = max(range(1, len(qtys)), key=qtys.__getitem__)
    ratio = qtys[i] / mean
    if ratio < WALL_RATIO:
        return ratio, None
    price = levels[i][0]
    return ratio, Wall(price, qtys[i], abs(price - mid) / mid * 1e4)


def book_features(s: BookSample) -> dict[str, float]:
    """Imbalances, band depths, slopes and walls of one sample (names as in the catalog)."""
    out: dict[str, float] = {}
    for k in IMBALANCE_LEVELS:
        value = imbalance(s.bids, s.asks, k)
        if value is not None:
            out[f"imbalance_l{k}"] = value
    for pct, tag in BAND_NAMES.items():
        band = s.bands.get(pct)
        if band is not None:
            out[f"depth_bid_{tag}"], out[f"depth_ask_{tag}"] = band[2], band[3]
    band = s.bands.get(0.5)
    if band is not None and band[2] + band[3] > 0:
        out["depth_imbalance_50bp"] = (band[2] - band[3]) / (band[2] + band[3])
    mid = s.mid()
    if mid is None:
        return out
    for side, levels in (("bid", s.bids), ("ask", s.asks)):
        sl = slope(levels, mid)
        if sl is not None:
            out[f"book_slope_{side}"] = sl
        ratio, wall = find_wall(levels, mid)
        if ratio is not None:
            out[f"wall_{side}_ratio"] = ratio
        if wall is not None:
            out[f"wall_{side}_dist_bps"] = wall.dist_bps
    return out


class WallTracker:
    """Compares each new sample's walls with the previous sample's: how far a wall moved
    and how much of a wall was cancelled before the price reached it."""

    def __init__(self) -> None:
        self.prev: BookSample | None = None
        self.walls: dict[str, Wall | None] = {"bid": None, "ask": None}

    def update(self, s: BookSample) -> dict[str, float]:
        """Wall move/pull features for a new sample; empty when ``s`` is the previous one."""
        if self.prev is not None and s.ts == self.prev.ts:
            return {}
        mid = s.mid()
        out: dict[str, float] = {}
        if mid is None:
            return out
        for side, levels in (("bid", s.bids), ("ask", s.asks)):
            old = self.walls[side]
            new = find_wall(levels, mid)[1]
            if old is not None:
                pulled = _pulled(side, old, levels)
                if pulled is not None:
                    out[f"wall_{side}_pulled"] = pulled
                if new is not None:
                    out[f"wall_{side}_move_bps"] = new.dist_bps - old.dist_bps
            self.walls[side] = new
        self.prev = s
        return out


def _pulled(side: str, old: Wall, levels: list[Level]) -> float | None:
    """Notional of ``old`` cancelled since the last sample, 0.0 when it is still there or the
    price traded into it, None when its price is now outside the sampled levels."""
    if not levels:
        return None
    best, worst = levels[0][0], levels[-1][0]
    reached = best <= old.price if side == "bid" else best >= old.price
    if reached:
        return 0.0
    inside = worst <= old.price if side == "bid" else worst >= old.price
    if not inside:
        return None
    left = next((q for p, q in levels if p == old.price), 0.0)
    if left >= PULL_LEFT * old.qty:
        return 0.0
    return (old.qty - left) * old.price


class AddCancel:
    """Quantity added and removed at levels within :data:`ADD_CANCEL_BAND_PCT` of the mid,
    from book diffs (live only: diffs are not stored).

    A diff carries each level's new absolute quantity; the change is measured against a shadow
    of the near-touch levels, copied from the live book (:meth:`reset`) when counting starts,
    when the mid has moved :data:`RECENTER` from the band's centre, and every
    :data:`RESYNC_MS`; in between the diffs keep the shadow current. Removed quantity includes
    fills; the engine subtracts traded volume to estimate cancels.
    """

    RECENTER = 0.0005
    RESYNC_MS = 30_000
    __slots__ = ("lo", "hi", "center", "reset_t", "bids", "asks", "added", "removed", "active")

    def __init__(self) -> None:
        self.lo = self.hi = self.center = 0.0
        self.reset_t = 0
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.added = self.removed = 0.0
        self.active = False

    def needs_reset(self, mid: float, t: int) -> bool:
        return (not self.active or abs(mid / self.center - 1) > self.RECENTER
                or t - self.reset_t >= self.RESYNC_MS)

    def reset(self, bids: dict[float, float], asks: dict[float, float], mid: float, t: int) -> None:
        """Start from the live book's levels near ``mid`` (dicts already cut to the band)."""
        self.lo = mid * (1 - ADD_CANCEL_BAND_PCT / 100)
        self.hi = mid * (1 + ADD_CANCEL_BAND_PCT / 100)
        self.center, self.reset_t = mid, t
        self.bids, self.asks = bids, asks
        self.active = True

    def stop(self) -> None:
        self.active = False
        self.bids, self.asks = {}, {}

    def take(self) -> tuple[float, float]:
        """(added, removed) since the last call; both counters restart at zero."""
        out = (self.added, self.removed)
        self.added = self.removed = 0.0
        return out

    def on_levels(self, bids: list[Level], asks: list[Level]) -> None:
        """Apply one diff's levels (the hot path: a few float operations per level)."""
        if not self.active:
            return
        added = removed = 0.0
        lo, shadow = self.lo, self.bids
        for p, q in bids:
            if p >= lo:
                prev = shadow.get(p, 0.0)
                if q > prev:
                    added += q - prev
                else:
                    removed += prev - q
                if q:
                    shadow[p] = q
                else:
                    shadow.pop(p, None)
        hi, shadow = self.hi, self.asks
        for p, q in asks:
            if p <= hi:
                prev = shadow.get(p, 0.0)
                if q > prev:
                    added += q - prev
                else:
                    removed += prev - q
                if q:
                    shadow[p] = q
                else:
                    shadow.pop(p, None)
        self.added += added
        self.removed += removed
