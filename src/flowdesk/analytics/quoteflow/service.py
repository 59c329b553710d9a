"""The ``flowdesk serve`` hook for the quote-flow processor and the crypto quote publisher.

:func:`service` returns None (nothing runs) unless the processor is enabled: explicitly with
``quoteflow.enabled: true``, or automatically when ``redis.host`` (``REDIS_HOST``) is set.
The processor's cycles and the publisher's samples run on worker threads (blocking Redis calls
and numpy), so the collector's event loop never waits on them. Redis being down at start or
later is not fatal: the parts report ``degraded`` and retry with backoff until it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from flowdesk.analytics.quoteflow.processor import Processor
from flowdesk.analytics.quoteflow.publisher import QuotePublisher, Target, targets
from flowdesk.analytics.quoteflow.thresholds import ThresholdConfig
from flowdesk.settings import Settings
from flowdesk.storage.redis_quotes import RedisQuoteSource

log = logging.getLogger(__name__)

ServiceFn = Callable[[asyncio.Event], Awaitable[None]]


def source_for(settings: Settings) -> RedisQuoteSource:
    """A Redis quote source from the ``redis`` settings (127.0.0.1 when no host is set)."""
    r = settings.redis
    return RedisQuoteSource.connect(r.address, r.port, r.db, r.password, r.timeout_s)


def threshold_config(settings: Settings) -> ThresholdConfig:
    q = settings.quoteflow
    return ThresholdConfig(q.thresholds_preset, q.ticker_thresholds)


async def _loop(step: Callable[[], float], stop: asyncio.Event) -> None:
    """Call ``step`` on a worker thread, then wait the seconds it returns (or until stop)."""
    while not stop.is_set():
        delay = await asyncio.to_thread(step)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(delay, 0.001))


def build(settings: Settings, live: Any) -> tuple[Processor, QuotePublisher | None]:
    """The processor and, when asked for and a live collector exists, the publisher."""
    q = settings.quoteflow
    source = source_for(settings)
    pub_targets: list[Target] = targets(settings.enabled_venues()) if q.publish_crypto_quotes else []
    processor = Processor(
        source,
        threshold_config(settings),
        tickers=q.tickers,
        extra_tickers=[t.ticker for t in pub_targets] if live is not None else [],
        interval_s=q.interval_s,
        discovery_interval_s=q.discovery_interval_s,
        budget_ms=q.ticker_budget_ms,
    )
    publisher = None
    if pub_targets and live is not None:
        publisher = QuotePublisher(source, live, pub_targets, q.publish_interval_s, q.publish_retention_s)
    elif q.publish_crypto_quotes:
        processor.status.notes.append("publish_crypto_quotes is on but no live collector runs: nothing published")
    return processor, publisher


def service(settings: Settings, live: Any) -> ServiceFn | None:
    """The background run function, or None when the processor is disabled by settings."""
    if not settings.quoteflow.processor_enabled(settings.redis):
        return None

    async def run(stop: asyncio.Event) -> None:
        processor, publisher = build(settings, live)
        log.info("quote-flow processor on Redis %s, every %.2f s", processor.source.label, processor.interval_s)
        loops = [_loop(processor.tick, stop)]
        if publisher is not None:
            loops.append(_loop(publisher.tick, stop))
        try:
            await asyncio.gather(*loops)
        finally:
            processor.status.state = "stopped"
            if publisher is not None:
                publisher.status.state = "stopped"
            processor.source.close()

    return run
