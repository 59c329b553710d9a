"""A shared request-weight limiter per venue.

Binance (and others) budget REST calls by *weight* per rolling minute and answer 429 (too many
requests) or 418 (IP banned for repeating after a 429) with a ``Retry-After`` header. Every REST
call of a venue goes through one :class:`WeightLimiter`: it waits until the call's weight fits in
the last 60 s, honours a ban window set from ``Retry-After``, and re-syncs its count from the
venue's own ``X-MBX-USED-WEIGHT-1M`` header when present.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque


class WeightLimiter:
    def __init__(self, max_weight_per_minute: int, window_s: float = 60.0) -> None:
        self.max_weight = max_weight_per_minute
        self.window_s = window_s
        self._spent: deque[tuple[float, int]] = deque()
        self._lock = asyncio.Lock()
        self.banned_until = 0.0
        self.waits = 0
        self.bans = 0

    def used(self, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        while self._spent and now - self._spent[0][0] >= self.window_s:
            self._spent.popleft()
        return sum(w for _, w in self._spent)

    async def acquire(self, weight: int) -> None:
        """Wait until ``weight`` fits in the budget and no ban is in force, then spend it."""
        weight = min(weight, self.max_weight)
        async with self._lock:
            while True:
                now = time.monotonic()
                if now < self.banned_until:
                    self.waits += 1
                    await asyncio.sleep(self.banned_until - now)
                    continue
                if self.used(now) + weight <= self.max_weight:
                    self._spent.append((now, weight))
                    return
                self.waits += 1
                await asyncio.sleep(max(0.01, self.window_s - (now - self._spent[0][0])))

    def ban(self, retry_after_s: float) -> None:
        """Stop all calls for ``retry_after_s`` seconds (from a 429/418 answer)."""
        self.bans += 1
        self.banned_until = max(self.banned_until, time.monotonic() + max(retry_after_s, 0.0))

    def sync_used(self, used_weight: int) -> None:
        """Trust the venue's count of weight used in the current minute if it exceeds ours."""
        mine = self.used()
        if used_weight > mine:
            self._spent.append((time.monotonic(), used_weight - mine))
