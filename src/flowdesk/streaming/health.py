"""Per-feed health counters, read by ``get_streaming_status`` and ``/metrics``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FeedHealth:
    """Counters of one feed (one venue connection). Updated on the event loop only."""

    venue: str
    url: str = ""
    connected: bool = False
    messages: int = 0
    last_message_ns: int = 0
    connects: int = 0
    reconnects: int = 0
    malformed: int = 0
    unknown: int = 0
    errors: int = 0
    last_error: str | None = None
    book_resyncs: int = 0
    gaps_detected: int = 0
    gaps_backfilled: int = 0
    trades_backfilled: int = 0
    rest_rate_limited: int = 0
    pings_sent: int = 0
    started_ns: int = field(default_factory=time.time_ns)
    _rate_mark: tuple[int, int] = (0, 0)
    rate_per_s: float = 0.0

    def error(self, message: str) -> None:
        self.errors += 1
        self.last_error = message[:300]

    def tick_rate(self, now_ns: int | None = None) -> None:
        """Update messages/s from the count since the previous tick (called about once a second)."""
        now_ns = now_ns or time.time_ns()
        prev_ns, prev_count = self._rate_mark
        if prev_ns:
            dt = (now_ns - prev_ns) / 1e9
            if dt > 0:
                self.rate_per_s = round((self.messages - prev_count) / dt, 1)
        self._rate_mark = (now_ns, self.messages)

    def as_dict(self, now_ns: int | None = None) -> dict[str, Any]:
        now_ns = now_ns or time.time_ns()
        age = (now_ns - self.last_message_ns) / 1e9 if self.last_message_ns else None
        return {
            "venue": self.venue,
            "url": self.url,
            "connected": self.connected,
            "messages": self.messages,
            "messages_per_s": self.rate_per_s,
            "last_message_age_s": None if age is None else round(age, 3),
            "connects": self.connects,
            "reconnects": self.reconnects,
            "book_resyncs": self.book_resyncs,
            "gaps_detected": self.gaps_detected,
            "gaps_backfilled": self.gaps_backfilled,
            "trades_backfilled": self.trades_backfilled,
            "malformed_frames": self.malformed,
            "unknown_messages": self.unknown,
            "rest_rate_limited": self.rest_rate_limited,
            "pings_sent": self.pings_sent,
            "errors": self.errors,
            "last_error": self.last_error,
        }
