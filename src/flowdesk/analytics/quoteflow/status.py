"""Health of the quote-flow background parts, readable by the tools in the same process.

The processor and the crypto publisher each own a :class:`PartStatus` and register it here;
``get_quoteflow_status`` reads :func:`snapshot`. ``state`` is ``starting`` until the first
attempt, ``ok`` after a success, ``degraded`` while Redis is unreachable (the part keeps
retrying with backoff), ``stopped`` after shutdown.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0
_LOCK = threading.Lock()
_PARTS: dict[str, PartStatus] = {}
#: per-ticker timings kept for the percentile figures
TIMING_SAMPLES = 300


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class TickerStats:
    """One ticker's processing record."""

    runs: int = 0
    errors: int = 0
    over_budget: int = 0
    last_ms: float | None = None
    last_run_at: int | None = None
    last_error: str | None = None
    quotes: int = 0
    rejected_quotes: int = 0
    timings: deque[float] = field(default_factory=lambda: deque(maxlen=TIMING_SAMPLES))

    def as_dict(self) -> dict[str, Any]:
        samples = list(self.timings)  # one C-level copy: the processor thread may be appending
        t = np.asarray(samples) if samples else None
        return {
            "runs": self.runs,
            "errors": self.errors,
            "last_error": self.last_error,
            "last_run_at": self.last_run_at,
            "last_ms": None if self.last_ms is None else round(self.last_ms, 3),
            "p50_ms": None if t is None else round(float(np.percentile(t, 50)), 3),
            "p99_ms": None if t is None else round(float(np.percentile(t, 99)), 3),
            "over_budget": self.over_budget,
            "quotes_cached": self.quotes,
            "rejected_quotes": self.rejected_quotes,
        }


@dataclass
class PartStatus:
    """State, failures and timings of one background part."""

    name: str
    redis: str
    state: str = "starting"
    cycles: int = 0
    failures: int = 0  # consecutive failed attempts
    total_failures: int = 0
    overruns: int = 0
    last_error: str | None = None
    last_ok_at: int | None = None
    last_cycle_ms: float | None = None
    retry_in_s: float | None = None
    notes: list[str] = field(default_factory=list)
    tickers: dict[str, TickerStats] = field(default_factory=dict)

    def succeeded(self, elapsed_s: float, interval_s: float) -> float:
        """Record a good attempt; return the seconds left until the next one is due."""
        if self.state == "degraded":
            log.info("quote-flow %s: Redis at %s is back", self.name, self.redis)
        self.state, self.failures, self.retry_in_s, self.last_error = "ok", 0, None, None
        self.cycles += 1
        self.last_ok_at = now_ms()
        self.last_cycle_ms = elapsed_s * 1000
        if elapsed_s > interval_s:
            self.overruns += 1
        return max(0.0, interval_s - elapsed_s)

    def failed(self, message: str, interval_s: float) -> float:
        """Record a failed attempt (degraded); return the backoff before the retry:
        ``interval_s`` x 2^consecutive failures, at most :data:`MAX_BACKOFF_S`."""
        self.failures += 1
        self.total_failures += 1
        delay = min(interval_s * 2 ** min(self.failures, 10), MAX_BACKOFF_S)
        if self.state != "degraded" or self.failures % 10 == 0:  # on the way down, then every 10th
            log.warning("quote-flow %s degraded: %s; retrying in %.1f s", self.name, message, delay)
        self.state, self.last_error, self.retry_in_s = "degraded", message, round(delay, 3)
        return delay

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "redis": self.redis,
            "cycles": self.cycles,
            "consecutive_failures": self.failures,
            "total_failures": self.total_failures,
            "overruns": self.overruns,
            "last_error": self.last_error,
            "last_ok_at": self.last_ok_at,
            "last_ok_age_s": None if self.last_ok_at is None else round((now_ms() - self.last_ok_at) / 1000, 3),
            "last_cycle_ms": None if self.last_cycle_ms is None else round(self.last_cycle_ms, 3),
            "retry_in_s": self.retry_in_s,
            "notes": list(self.notes),
            "tickers": {t: s.as_dict() for t, s in sorted(self.tickers.items())},
        }


def register(part: PartStatus) -> None:
    with _LOCK:
        _PARTS[part.name] = part


def unregister(name: str) -> None:
    with _LOCK:
        _PARTS.pop(name, None)


def snapshot() -> dict[str, dict[str, Any]]:
    """Every registered part's status as plain data."""
    with _LOCK:
        parts = list(_PARTS.values())
    return {p.name: p.as_dict() for p in parts}
