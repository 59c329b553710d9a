"""Publish the crypto collector's best bid/ask into the broker's Redis schema.

With ``quoteflow.publish_crypto_quotes: true``, ``flowdesk serve`` samples the newest live
``Quote`` of every collected symbol every ``publish_interval_s`` (default 0.1 s) and, when it
changed since the last sample, adds it to ``orderflow:quotes:{SYMBOL}``, so BTCUSDT is analysed
exactly like a broker's ticker. The score is flowdesk's **receive** time in ms (the processor
cuts its windows on the local clock, so this keeps exchange clock skew out, and a replayed or
simulated market, whose exchange times are in the past, is analysed as it plays); the member is
``{"bid", "ask", "bid_size", "ask_size", "timestamp" (the exchange's event time), "recv_ms",
"update_id", "source"}``. It is a *sample* of the
venue's book-ticker stream: updates between two samples are not seen, which bounds the rate
(10 quotes/s per symbol at the default) rather than following every tick. Quotes older than
``publish_retention_s`` are trimmed from the set on each write. When Redis is down, samples are
dropped (not buffered) and the publisher retries with backoff, like the processor.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from flowdesk.analytics.quoteflow.quotes import quote_member
from flowdesk.analytics.quoteflow.status import PartStatus, now_ms, register
from flowdesk.records import Quote
from flowdesk.storage.redis_quotes import QuoteSourceError, RedisQuoteSource


class LiveQuotes(Protocol):
    def latest(self, exchange: str, market: str, symbol: str, kind: str) -> tuple | None: ...


@dataclass(frozen=True)
class Target:
    """A collected symbol and the ticker it is published under."""

    venue: str
    exchange: str
    market: str
    symbol: str
    ticker: str


def targets(venues: Sequence[Any]) -> list[Target]:
    """One target per symbol of each venue settings object (``name`` like ``binance_usdm``,
    ``symbols``); a symbol collected on two venues is published from the first only."""
    out: dict[str, Target] = {}
    for venue in venues:
        exchange, _, market = venue.name.rpartition("_")
        for symbol in venue.symbols:
            out.setdefault(symbol, Target(venue.name, exchange or venue.name, market, symbol, symbol))
    return list(out.values())


class QuotePublisher:
    """Call :meth:`tick` in a loop; it returns the seconds to wait before the next call."""

    def __init__(
        self,
        source: RedisQuoteSource,
        live: LiveQuotes,
        to_publish: Sequence[Target],
        interval_s: float = 0.1,
        keep_s: float = 900.0,
    ) -> None:
        self.source = source
        self.live = live
        self.targets = list(to_publish)
        self.interval_s = interval_s
        self.keep_ms = keep_s * 1000
        self.published = 0
        self._last: dict[str, tuple[int, int]] = {}
        self.status = PartStatus(name="publisher", redis=source.label)
        self.status.notes.append("publishing " + ", ".join(t.ticker for t in self.targets))
        register(self.status)

    def sample(self) -> list[tuple[str, bytes, float]]:
        """The live quotes that changed since the previous sample, as publish rows."""
        rows = []
        for t in self.targets:
            q = self.live.latest(t.exchange, t.market, t.symbol, "Quote")
            if not isinstance(q, Quote):
                continue
            ident = (q.ts, q.update_id)
            if self._last.get(t.ticker) == ident:
                continue
            self._last[t.ticker] = ident
            recv_ms = q.recv_ns // 1_000_000 if q.recv_ns else q.ts
            member = quote_member(q.bid, q.ask, q.bid_qty, q.ask_qty, q.ts, recv_ms=recv_ms,
                                  update_id=q.update_id, source=t.venue)
            rows.append((t.ticker, member, float(recv_ms)))
        return rows

    def tick(self) -> float:
        started = time.perf_counter()
        try:
            rows = self.sample()
            if rows:
                self.source.publish(rows, self.keep_ms, now_ms())
                self.published += len(rows)
        except QuoteSourceError as exc:
            return self.status.failed(str(exc), self.interval_s)
        return self.status.succeeded(time.perf_counter() - started, self.interval_s)
