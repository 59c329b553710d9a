"""Per-ticker quote cache that reads only what is new from Redis.

Re-reading 300 s of quotes every second costs ~6,000 members per ticker at 20 quotes/s; the
cache instead asks for ``score >= newest_seen - grace`` and drops the members it has already
seen (remembered for the ``grace`` span), so a cycle reads about a second's worth. A quote
published up to ``grace_ms`` late still lands in its place. With the same read (one
``MULTI``), Redis counts the members the cache should hold (``score > now - keep``); when that
count differs from what the cache holds (a quote later than the grace, members the publisher
removed) the cache reloads in full. A full reload also happens every ``resync_ms`` as a last
safety net (a member re-scored in place keeps the count).
"""

from __future__ import annotations

from typing import Protocol

from flowdesk.analytics.quoteflow.quotes import QuoteArrays, parse_members

DEFAULT_GRACE_MS = 2_000
DEFAULT_RESYNC_MS = 300_000


class QuoteReader(Protocol):
    def quotes(self, ticker: str, min_ms: float, newest: int | None = None) -> list[tuple[bytes, float]]: ...

    def quotes_and_count(
        self, ticker: str, min_ms: float, count_after_ms: float
    ) -> tuple[list[tuple[bytes, float]], int]: ...


class QuoteCache:
    """The last ``keep_ms`` of one ticker's quotes, refreshed by :meth:`refresh`."""

    def __init__(self, ticker: str, keep_ms: int, grace_ms: int = DEFAULT_GRACE_MS,
                 resync_ms: int = DEFAULT_RESYNC_MS) -> None:
        self.ticker = ticker
        self.keep_ms = keep_ms
        self.grace_ms = grace_ms
        self.resync_ms = resync_ms
        self.quotes = QuoteArrays.empty()
        self.last_error: str | None = None
        self.reloads = 0
        self._rejected_scores: list[float] = []
        self._newest: float | None = None
        self._seen: dict[bytes, float] = {}
        self._loaded_at: int | None = None

    @property
    def rejected(self) -> int:
        """Members in the cached span that could not be read as quotes."""
        return len(self._rejected_scores)

    def refresh(self, source: QuoteReader, now_ms: int) -> int:
        """Read new quotes from ``source``; return how many were added."""
        if self._newest is None or self._loaded_at is None or now_ms - self._loaded_at >= self.resync_ms:
            return self._reload(source, now_ms)
        rows, expected = source.quotes_and_count(self.ticker, self._newest - self.grace_ms, now_ms - self.keep_ms)
        fresh = [(m, s) for m, s in rows if m not in self._seen]
        if fresh:
            self._take(fresh)
            self.quotes = self.quotes.concat(self._parse(fresh))
        self._trim(now_ms)
        if expected != len(self.quotes) + len(self._rejected_scores):
            return self._reload(source, now_ms)
        return len(fresh)

    def _reload(self, source: QuoteReader, now_ms: int) -> int:
        rows = source.quotes(self.ticker, now_ms - self.keep_ms)
        self.reloads += 1
        self._seen.clear()
        self._rejected_scores.clear()
        self._newest = None
        self._take(rows)
        self.quotes = self._parse(rows)
        self._loaded_at = now_ms
        self._trim(now_ms)
        return len(self.quotes)

    def _parse(self, rows: list[tuple[bytes, float]]) -> QuoteArrays:
        parsed = parse_members(rows)
        self._rejected_scores += parsed.rejected_scores
        if parsed.last_error is not None:
            self.last_error = parsed.last_error
        return parsed.quotes

    def _take(self, rows: list[tuple[bytes, float]]) -> None:
        for member, score in rows:
            self._seen[member] = score
            if self._newest is None or score > self._newest:
                self._newest = score

    def _trim(self, now_ms: int) -> None:
        start = now_ms - self.keep_ms
        self.quotes = self.quotes.since(start)
        self._rejected_scores = [s for s in self._rejected_scores if s > start]
        if self._newest is not None:
            floor = self._newest - self.grace_ms
            self._seen = {m: s for m, s in self._seen.items() if s >= floor}
