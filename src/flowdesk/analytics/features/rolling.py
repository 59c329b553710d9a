"""Rolling state of the feature engine: a ring of per-interval rows and small statistics.

The engine accumulates plain floats per record (the hot path) and, once per cadence
boundary, pushes one row of per-interval sums into :class:`Ring`. Windowed features are sums
or statistics over the ring rows whose boundary time lies in ``(T - window, T]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class Ring:
    """The last ``capacity`` interval rows: a time (epoch ms) and one float per column."""

    def __init__(self, columns: Sequence[str], capacity: int) -> None:
        if capacity < 2:
            raise ValueError("a ring needs a capacity of at least 2")
        self.columns = tuple(columns)
        self.index = {c: i for i, c in enumerate(self.columns)}
        self.capacity = capacity
        self._t = np.zeros(capacity, np.int64)
        self._v = np.full((capacity, len(self.columns)), np.nan)
        self._next = 0
        self.size = 0

    def push(self, t: int, values: Sequence[float]) -> None:
        """Append a row (times must not decrease); the oldest row drops out when full."""
        i = self._next
        self._t[i] = t
        self._v[i] = values
        self._next = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def ordered(self) -> View:
        """The rows oldest first, as a :class:`View` (copies, safe to keep)."""
        idx = (np.arange(self._next - self.size, self._next)) % self.capacity
        return View(self._t[idx], self._v[idx], self.index)


class View:
    """Ordered ring rows with window selection by boundary time."""

    def __init__(self, t: np.ndarray, v: np.ndarray, index: dict[str, int]) -> None:
        self.t = t
        self.v = v
        self.index = index

    def __len__(self) -> int:
        return len(self.t)

    def start(self, now: int, span_ms: int) -> int:
        """Index of the first row with time > ``now - span_ms``."""
        return int(np.searchsorted(self.t, now - span_ms, side="right"))

    def col(self, name: str, now: int, span_ms: int) -> tuple[np.ndarray, np.ndarray]:
        """(times, values) of column ``name`` in ``(now - span_ms, now]``."""
        k = self.start(now, span_ms)
        return self.t[k:], self.v[k:, self.index[name]]

    def total(self, name: str, now: int, span_ms: int) -> float:
        """Sum of column ``name`` over the window, NaN rows skipped."""
        return float(np.nansum(self.col(name, now, span_ms)[1]))

    def at_or_before(self, name: str, t: int) -> float:
        """Value of ``name`` in the newest row with time <= ``t`` (NaN when none)."""
        k = int(np.searchsorted(self.t, t, side="right")) - 1
        return float(self.v[k, self.index[name]]) if k >= 0 else float("nan")


def ols_slope(x: np.ndarray, y: np.ndarray, min_points: int = 3) -> float:
    """Least-squares slope of ``y`` on ``x`` over finite pairs; NaN when fewer than
    ``min_points`` pairs or no spread in ``x``."""
    ok = np.isfinite(x) & np.isfinite(y)
    if int(ok.sum()) < min_points:
        return float("nan")
    xs, ys = x[ok], y[ok]
    dx = xs - xs.mean()
    var = float(np.dot(dx, dx))
    if var <= 0:
        return float("nan")
    return float(np.dot(dx, ys - ys.mean()) / var)


def burstiness(times_ms: Sequence[int]) -> float:
    """Goh-Barabasi burstiness of inter-arrival times, (sd - mean) / (sd + mean), in [-1, 1]:
    -1 perfectly regular, 0 Poisson-like, towards 1 clustered. NaN for fewer than 3 events."""
    if len(times_ms) < 3:
        return float("nan")
    gaps = np.diff(np.asarray(times_ms, dtype=np.float64))
    mean, sd = float(gaps.mean()), float(gaps.std())
    if mean + sd <= 0:
        return 1.0  # every event at the same instant: maximal clustering
    return (sd - mean) / (sd + mean)


def zscore(value: float, samples: np.ndarray, min_samples: int) -> float:
    """(value - mean) / sd of the finite ``samples`` (sample sd); NaN when fewer than
    ``min_samples`` or no variation."""
    s = samples[np.isfinite(samples)]
    if len(s) < min_samples or not np.isfinite(value):
        return float("nan")
    sd = float(s.std(ddof=1))
    return float((value - s.mean()) / sd) if sd > 0 else float("nan")
