"""The crew scheduler: data-ops workflows and crews on their periods, inside ``flowdesk serve``.

``flowdesk serve`` calls :func:`service` (see ``flowdesk.services``); with ``crews.enabled``
the scheduler runs beside the collector until the server stops. ``flowdesk crew schedule``
runs the same scheduler on its own over a database no server holds.

Periods come from ``crews.schedules`` (seconds, 0 = off): ``validate`` (300), ``fill_gaps``
(900), ``maintain`` (86400), ``intelligence`` and ``analytics`` (0: off; one run per
``crews.symbols`` symbol when on). Each job first runs ``start_delay_s`` after start (the
collector needs a moment to have data), in the order above, then every period. Jobs run one
at a time on a worker thread (DuckDB queries and REST calls block); a failing job is logged
and recorded, and the next ones still run. The mode is ``crews.shadow``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio.to_thread
import duckdb

from flowdesk.crews.settings import DEFAULT_SCHEDULES
from flowdesk.dataops.live import remember_loop
from flowdesk.dataops.model import WORKFLOWS
from flowdesk.settings import Settings

log = logging.getLogger(__name__)

START_DELAY_S = 30.0
ORDER = tuple(DEFAULT_SCHEDULES)


class Scheduler:
    """Runs the scheduled jobs until the stop event is set."""

    def __init__(self, settings: Settings, connection: duckdb.DuckDBPyConnection, live: Any = None,
                 start_delay_s: float = START_DELAY_S) -> None:
        self.settings = settings
        self.connection = connection
        self.live = live
        self.start_delay_s = start_delay_s
        self.periods = {k: v for k, v in settings.crews.schedules.items() if v > 0}
        self.runs: list[dict[str, Any]] = []  # (job, ok, seconds, error) of every run, newest last
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        remember_loop(self.live, self._loop)
        start = time.monotonic() + self.start_delay_s
        due = {job: start + i * 1e-3 for i, job in enumerate(j for j in ORDER if j in self.periods)}
        log.info("crew scheduler: %s (%s mode)", self.periods, "shadow" if self.settings.crews.shadow else "live")
        while not stop.is_set() and due:
            job = min(due, key=due.__getitem__)
            wait = due[job] - time.monotonic()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=wait)
                continue
            await self._run_job(job)
            due[job] = time.monotonic() + self.periods[job]

    async def _run_job(self, job: str) -> None:
        started = time.monotonic()
        error = None
        try:
            await anyio.to_thread.run_sync(self.run_job, job)
        except Exception as exc:  # one failing job must not stop the others
            error = f"{type(exc).__name__}: {exc}"
            log.warning("scheduled %s failed: %s", job, error)
        self.runs.append({"job": job, "ok": error is None, "seconds": round(time.monotonic() - started, 3),
                          "error": error})

    def run_job(self, job: str) -> None:
        """Run one job now, on the calling (worker) thread."""
        shadow = self.settings.crews.shadow
        if job in WORKFLOWS:
            from flowdesk.dataops.engine import DataOps

            ops = DataOps(self.settings, self.connection, self.live, self._loop)
            try:
                ops.run([job], shadow=shadow, trigger="schedule")
            finally:
                ops.close()
            return
        self._run_crew(job, shadow)

    def _run_crew(self, name: str, shadow: bool) -> None:
        from flowdesk.agents.llm import build_llm
        from flowdesk.crews.catalog import default_symbols
        from flowdesk.crews.runner import run_crew
        from flowdesk.dataops.journal import Journal

        llm = build_llm(self.settings.crews.llm)
        journal = Journal(self.connection)
        try:
            for symbol in default_symbols(self.settings):
                result = run_crew(name, self.settings, shadow=shadow, inputs={"symbol": symbol}, llm=llm,
                                  journal=journal, trigger="schedule")
                if result.status != "ok":
                    raise RuntimeError(f"crew {name} for {symbol}: {result.error}")
        finally:
            journal.close()


def _connection(live: Any) -> duckdb.DuckDBPyConnection:
    store = getattr(live, "store", None)
    if store is not None:
        return store.connection
    from flowdesk.tools.context import get_context

    return get_context().connection


def service(settings: Settings, live: Any) -> Callable[[asyncio.Event], Awaitable[None]] | None:
    """The scheduler for ``flowdesk serve`` (None when ``crews.enabled`` is false).

    Also records the server's event loop for the data-ops workflows, which reach the collector
    from worker threads (tool calls) even when the scheduler is off.
    """
    with contextlib.suppress(RuntimeError):
        remember_loop(live, asyncio.get_running_loop())
    if not settings.crews.enabled:
        return None
    return Scheduler(settings, _connection(live), live).run
