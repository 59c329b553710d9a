"""Background services that run inside ``flowdesk serve`` beside the collector.

A part that needs a background loop (forecast jobs, crew scheduler, quote-flow processor...)
exposes, in its module, ``service(settings, live) -> Callable[[asyncio.Event], Awaitable[None]]
| None``: it returns ``None`` when disabled by settings, else a coroutine function that runs until
the event is set. :func:`load_services` collects them; a module that is not installed is skipped.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from flowdesk.settings import Settings

log = logging.getLogger(__name__)

ServiceFn = Callable[[asyncio.Event], Awaitable[None]]

#: modules that may provide a ``service`` factory
SERVICE_MODULES: tuple[str, ...] = (
    "flowdesk.forecasting.jobs",
    "flowdesk.crews.scheduler",
    "flowdesk.analytics.quoteflow.service",
    "flowdesk.analytics.features.service",
)


def load_services(settings: Settings, live: Any) -> list[tuple[str, ServiceFn]]:
    """The enabled services as ``(module name, run function)`` pairs."""
    found: list[tuple[str, ServiceFn]] = []
    for name in SERVICE_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):
                continue
            raise
        factory = getattr(module, "service", None)
        if not callable(factory) or isinstance(factory, type(importlib)):
            continue
        fn = factory(settings, live)
        if fn is not None:
            found.append((name, fn))
    return found


async def run_guarded(name: str, fn: ServiceFn, stop: asyncio.Event) -> None:
    """Run a service; a crash is logged, never takes the server down."""
    try:
        await fn(stop)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("service %s crashed", name)
