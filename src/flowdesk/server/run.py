"""Run the server process (``flowdesk serve``), optionally against the built-in simulator."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

import uvicorn

from flowdesk.server.app import SERVE_FILE, Runtime, build_app, write_serve_file
from flowdesk.server.simulate import start_simulators, stop_simulators
from flowdesk.settings import Settings

log = logging.getLogger(__name__)


async def serve(settings: Settings, simulator_config: object | None = None, collect: bool = True) -> None:
    """Serve until SIGINT/SIGTERM. With ``simulator_config``, start the simulators first."""
    sims: list = []
    if simulator_config is not None:
        settings, sims = await start_simulators(settings, simulator_config)
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
        await stop_simulators(sims)
