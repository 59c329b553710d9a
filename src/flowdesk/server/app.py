"""The one-process server: collector + MCP (``/mcp``, ``/sse``) + REST (``/api``) + ``/healthz``.

:class:`Runtime` owns the DuckDB store (the single writer), the batch writer and the streaming
controller; :func:`build_app` mounts every surface on one Starlette app whose lifespan starts
and stops the runtime. ``serve.json`` in the data directory tells ``flowdesk mcp`` where the
running server is, so that a stdio MCP client can proxy to it instead of opening the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import duckdb
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from flowdesk.server.mcp import build_mcp
from flowdesk.server.rest import json_response, rest_routes
from flowdesk.services import load_services, run_guarded
from flowdesk.settings import Settings
from flowdesk.storage.store import Store
from flowdesk.storage.writer import BatchWriter
from flowdesk.streaming.controller import Controller
from flowdesk.tools.context import ToolContext, set_context

log = logging.getLogger(__name__)

SERVE_FILE = "serve.json"


class Runtime:
    """Store + writer + controller for one data directory; start/stop around the app."""

    def __init__(
        self, settings: Settings, collect: bool = True, retention: bool = True, services: bool = True
    ) -> None:
        self.settings = settings
        self.with_services = services
        self.collect = collect
        self.store = Store(settings.db_path)
        self.writer = BatchWriter(self.store, queue_batches=settings.writer_queue_batches)
        self.controller = Controller(settings, self.store, self.writer, retention) if collect else None
        self.stop_event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._services: list[asyncio.Task[None]] = []
        self.started = time.time()
        self.context = ToolContext(settings=settings, connection=self.store.connection, live=self.controller)
        set_context(self.context)

    async def start(self) -> None:
        self.writer.start()
        if self.controller is not None:
            self._task = asyncio.ensure_future(self.controller.run(self.stop_event))
        for name, fn in load_services(self.settings, self.controller) if self.with_services else []:
            log.info("starting service %s", name)
            self._services.append(asyncio.ensure_future(run_guarded(name, fn, self.stop_event)))

    async def stop(self) -> None:
        self.stop_event.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout=10)
        for task in self._services:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, timeout=10)
        self.writer.stop(flush=True)
        set_context(None)
        self.context.close()
        try:
            self.store.checkpoint()
        except duckdb.Error as exc:  # DuckDB checkpoints on close anyway
            log.warning("checkpoint at shutdown skipped: %s", exc)
        self.store.close()

    def health(self) -> dict[str, Any]:
        feeds = self.controller.feed_status() if self.controller else []
        wstats = self.writer.stats()
        stale = [f["venue"] for f in feeds if not f["connected"]]
        return {
            "status": "ok" if not stale and not wstats.get("errors") else "degraded",
            "uptime_s": round(time.time() - self.started, 1),
            "collector": self.controller is not None,
            "feeds": {f["venue"]: {"connected": f["connected"], "last_message_age_s": f["last_message_age_s"]} for f in feeds},
            "disconnected": stale,
            "db": {"path": str(self.settings.db_path), "schema_version": self.store.schema_version()},
            "writer": {k: wstats.get(k) for k in ("queue_depth", "queue_capacity", "errors", "last_error")},
        }


def _metrics_text(runtime: Runtime) -> str:
    """Prometheus text exposition of feed and writer counters."""
    lines = []
    for f in runtime.controller.feed_status() if runtime.controller else []:
        label = f'venue="{f["venue"]}"'
        for key in ("messages", "reconnects", "book_resyncs", "gaps_detected", "gaps_backfilled",
                    "trades_backfilled", "malformed_frames", "unknown_messages", "errors", "rest_rate_limited"):
            lines.append(f"flowdesk_feed_{key}_total{{{label}}} {f[key]}")
        lines.append(f"flowdesk_feed_connected{{{label}}} {int(f['connected'])}")
        lines.append(f"flowdesk_feed_messages_per_second{{{label}}} {f['messages_per_s']}")
    ws = runtime.writer.stats()
    for table, n in (ws.get("rows_written") or {}).items():
        lines.append(f'flowdesk_rows_written_total{{table="{table}"}} {n}')
    lines.append(f"flowdesk_writer_queue_depth {ws.get('queue_depth', 0)}")
    lines.append(f"flowdesk_writer_errors_total {ws.get('errors', 0)}")
    return "\n".join(lines) + "\n"


def build_app(runtime: Runtime) -> Starlette:
    mcp = build_mcp(host=runtime.settings.host)
    http_app = mcp.streamable_http_app()
    sse_app = mcp.sse_app()

    async def healthz(request: Request) -> Response:
        return json_response(runtime.health())

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(_metrics_text(runtime), media_type="text/plain; version=0.0.4")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        async with mcp.session_manager.run():
            yield
        await runtime.stop()

    routes = [Route("/healthz", healthz), Route("/metrics", metrics), *rest_routes(mcp)]
    return Starlette(routes=routes + list(http_app.routes) + list(sse_app.routes), lifespan=lifespan)


def write_serve_file(settings: Settings, port: int) -> Path:
    path = settings.data_dir / SERVE_FILE
    info = {"pid": os.getpid(), "host": settings.host, "port": port, "url": f"http://{settings.host}:{port}"}
    path.write_text(json.dumps(info))
    return path


def read_serve_file(data_dir: Path) -> dict[str, Any] | None:
    """The running server's address if ``serve.json`` names a live process, else None."""
    path = data_dir / SERVE_FILE
    try:
        info = json.loads(path.read_text())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return None
    return info
