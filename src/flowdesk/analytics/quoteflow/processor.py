"""The background quote-flow processor: every ``interval_s``, for each ticker, read the new
quotes, analyse the 10 s / 60 s / 300 s windows and write metrics, pattern onsets and levels
back to Redis (keys in :mod:`flowdesk.storage.redis_quotes`).

Tickers are processed one after another, each on its own: an error on one (a key of the wrong
type, a bug on odd data) is logged, counted in its :class:`~.status.TickerStats` and the cycle
goes on. A ticker taking longer than ``budget_ms`` is counted as ``over_budget``. If Redis
itself is unreachable the cycle stops, the status turns ``degraded`` and :meth:`Processor.tick`
asks to be called again after an exponential backoff (``interval_s`` x 2^failures, at most
30 s; :meth:`~.status.PartStatus.failed`); the first success afterwards turns it ``ok`` again.

Patterns are stored as **onsets**: a lasting state (absorption, stacking, iceberg, momentum
shift; identified by type, side and window) is written when it appears, not every second while
it lasts, and one that flickers off and back on within :data:`REARM_MS` is not a new onset;
each sweep event is written once, by its own time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

from flowdesk.analytics.quoteflow.analysis import Analysis, analyze, metrics_fields
from flowdesk.analytics.quoteflow.cache import QuoteCache
from flowdesk.analytics.quoteflow.metrics import WINDOWS_S
from flowdesk.analytics.quoteflow.patterns import Pattern
from flowdesk.analytics.quoteflow.status import PartStatus, TickerStats, now_ms, register
from flowdesk.analytics.quoteflow.thresholds import ThresholdConfig
from flowdesk.storage.redis_quotes import QuoteSourceError, RedisQuoteSource, RedisUnavailable

log = logging.getLogger(__name__)

KEEP_MS = max(WINDOWS_S) * 1000
#: a state that vanishes and is back within this long is the same occurrence (no new onset)
REARM_MS = 10_000


@dataclass
class _TickerState:
    cache: QuoteCache
    seen: dict[tuple[str, str, int], int] = field(default_factory=dict)  # state -> last seen ms
    last_sweep_ts: int = 0


def pattern_member(ticker: str, p: Pattern, detected_at: int) -> bytes:
    """The JSON stored in ``orderflow:patterns:{ticker}`` for one onset."""
    return orjson.dumps({"ticker": ticker, "detected_at": detected_at, **p.as_dict()})


class Processor:
    """Run :meth:`tick` in a loop (see :mod:`.service`), or :meth:`run_cycle` directly."""

    def __init__(
        self,
        source: RedisQuoteSource,
        config: ThresholdConfig,
        tickers: Sequence[str] = (),
        extra_tickers: Sequence[str] = (),
        interval_s: float = 1.0,
        discovery_interval_s: float = 30.0,
        budget_ms: float = 100.0,
        name: str = "processor",
    ) -> None:
        self.source = source
        self.config = config
        self.fixed = tuple(dict.fromkeys([*tickers, *extra_tickers])) if tickers else ()
        self.extra = tuple(extra_tickers)
        self.interval_s = interval_s
        self.discovery_ms = int(discovery_interval_s * 1000)
        self.budget_ms = budget_ms
        self.status = PartStatus(name=name, redis=source.label)
        register(self.status)
        self._states: dict[str, _TickerState] = {}
        self._discovered: list[str] = []
        self._discovered_at: int | None = None

    # ---- the cycle -------------------------------------------------------------------------

    def tickers(self, at_ms: int) -> list[str]:
        """The configured tickers, else those found by key scan (refreshed periodically)."""
        if self.fixed:
            return list(self.fixed)
        if self._discovered_at is None or at_ms - self._discovered_at >= self.discovery_ms:
            self._discovered = sorted({*self.source.discover(), *self.extra})
            self._discovered_at = at_ms
            for gone in set(self._states) - set(self._discovered):
                del self._states[gone]
                self.status.tickers.pop(gone, None)
        return self._discovered

    def run_cycle(self, at_ms: int | None = None) -> dict[str, Analysis]:
        """One pass over every ticker; raises :class:`RedisUnavailable` if Redis is down."""
        at_ms = now_ms() if at_ms is None else at_ms
        results: dict[str, Analysis] = {}
        for ticker in self.tickers(at_ms):
            result = self._guarded(ticker, at_ms)
            if result is not None:
                results[ticker] = result
        return results

    def _guarded(self, ticker: str, at_ms: int) -> Analysis | None:
        stats = self.status.tickers.setdefault(ticker, TickerStats())
        started = time.perf_counter()
        try:
            result = self.process(ticker, at_ms)
        except RedisUnavailable:
            raise
        except Exception as exc:  # one ticker's failure must not stop the others
            stats.errors += 1
            if str(exc) != stats.last_error:
                log.warning("quote-flow: ticker %s failed: %s", ticker, exc, exc_info=not isinstance(exc, QuoteSourceError))
            stats.last_error = str(exc)
            return None
        elapsed = (time.perf_counter() - started) * 1000
        stats.runs += 1
        stats.last_ms = elapsed
        stats.last_run_at = at_ms
        stats.timings.append(elapsed)
        stats.over_budget += elapsed > self.budget_ms
        stats.last_error = None
        return result

    def process(self, ticker: str, at_ms: int) -> Analysis:
        """Refresh, analyse and write back one ticker."""
        state = self._states.get(ticker)
        if state is None:
            state = self._states[ticker] = _TickerState(QuoteCache(ticker, KEEP_MS))
        state.cache.refresh(self.source, at_ms)
        stats = self.status.tickers[ticker]
        stats.quotes, stats.rejected_quotes = len(state.cache.quotes), state.cache.rejected
        result = analyze(state.cache.quotes, ticker, at_ms, self.config)
        if result.last is not None:  # nothing in the last 300 s: let the old results expire
            self._write(ticker, state, result, at_ms)
        return result

    def _write(self, ticker: str, state: _TickerState, a: Analysis, at_ms: int) -> None:
        onsets = [p for p in a.active() if at_ms - state.seen.get(p.key, -REARM_MS - 1) > REARM_MS]
        sweeps = [p for p in a.patterns if p.type == "sweep" and p.ts > state.last_sweep_ts]
        members = [(pattern_member(ticker, p, at_ms), float(at_ms)) for p in onsets]
        members += [(pattern_member(ticker, p, p.ts), float(p.ts)) for p in sweeps]
        metrics = {w: metrics_fields(a, w) for w in a.windows}
        levels = {
            side: [(orjson.dumps(lv.as_dict()), lv.significance) for lv in rows] for side, rows in a.levels.items()
        }
        self.source.write_results(ticker, metrics, members, levels, at_ms)
        state.seen = {k: t for k, t in state.seen.items() if at_ms - t <= REARM_MS}
        state.seen.update({p.key: at_ms for p in a.active()})
        state.last_sweep_ts = max([state.last_sweep_ts, *(p.ts for p in sweeps)])

    # ---- the loop step ---------------------------------------------------------------------

    def tick(self) -> float:
        """Run one cycle, record the outcome, and return the seconds to wait before the next."""
        started = time.perf_counter()
        try:
            self.run_cycle()
        except RedisUnavailable as exc:
            return self.status.failed(str(exc), self.interval_s)
        except Exception as exc:  # a bug in the cycle itself: report it, keep the service alive
            log.exception("quote-flow cycle failed")
            return self.status.failed(f"cycle error: {exc}", self.interval_s)
        return self.status.succeeded(time.perf_counter() - started, self.interval_s)
