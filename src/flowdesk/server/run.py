"""Run the server process (``flowdesk serve``), optionally against the built-in simulator."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import sys

import uvicorn

from flowdesk.server.app import SERVE_FILE, Runtime, build_app, write_serve_file
from flowdesk.settings import Settings

log = logging.getLogger(__name__)


def simulator_symbols(sim: object) -> list[str]:
    """The symbols the simulator serves (from the capture in replay mode)."""
    source = getattr(sim, "source", None)
    return [str(s).upper() for s in getattr(source, "symbols", [])]


def point_venues_at(settings: Settings, ws_url: str, rest_url: str, symbols: list[str] | None) -> Settings:
    """Settings whose every venue talks to ``ws_url``/``rest_url`` (the simulator)."""
    venues = {}
    for name, v in settings.venues.items():
        venues[name] = dataclasses.replace(
            v, ws_url=ws_url, rest_url=rest_url, symbols=tuple(symbols) if symbols else v.symbols
        )
    return dataclasses.replace(settings, venues=venues, symbols=tuple(symbols) if symbols else settings.symbols)


async def serve(settings: Settings, simulator_config: object | None = None, collect: bool = True) -> None:
    """Serve until SIGINT/SIGTERM. With ``simulator_config``, start the simulator first."""
    sim = None
    if simulator_config is not None:
        from flowdesk.streaming.simulator import Simulator

        sim = Simulator(simulator_config)  # type: ignore[arg-type]
        await sim.start()
        settings = point_venues_at(settings, sim.ws_url, sim.rest_url, simulator_symbols(sim))
        print(f"simulator: ws {sim.ws_url}  rest {sim.rest_url}", file=sys.stderr, flush=True)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # a replayed capture is old data by design: the retention job would delete it on its first run
    replaying = bool(getattr(simulator_config, "captures", None))
    runtime = Runtime(settings, collect=collect, retention=not replaying)
    server = uvicorn.Server(
        uvicorn.Config(build_app(runtime), host=settings.host, port=settings.port, log_level="warning", lifespan="on")
    )
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    task = asyncio.ensure_future(server.serve())
    try:
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if server.started:
            port = server.servers[0].sockets[0].getsockname()[1]
            write_serve_file(settings, port)
            base = f"http://{settings.host}:{port}"
            print(
                f"flowdesk serving on {base}  (MCP {base}/mcp, SSE {base}/sse, REST {base}/api/tools, "
                f"health {base}/healthz)  data {settings.data_dir}",
                file=sys.stderr,
                flush=True,
            )
        await task
    finally:
        with contextlib.suppress(FileNotFoundError):
            (settings.data_dir / SERVE_FILE).unlink()
        if sim is not None:
            await sim.stop()
