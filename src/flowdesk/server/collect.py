"""``flowdesk collect``: the streaming controller alone, writing into the data directory."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

from flowdesk.server.app import Runtime
from flowdesk.server.run import point_venues_at, simulator_symbols
from flowdesk.settings import Settings


async def collect(settings: Settings, simulator_config: object | None = None, duration_s: float | None = None) -> dict:
    """Collect until SIGINT/SIGTERM or ``duration_s``; return the final feed status."""
    sim = None
    if simulator_config is not None:
        from flowdesk.streaming.simulator import Simulator

        sim = Simulator(simulator_config)  # type: ignore[arg-type]
        await sim.start()
        settings = point_venues_at(settings, sim.ws_url, sim.rest_url, simulator_symbols(sim))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    runtime = Runtime(settings, retention=not getattr(simulator_config, "captures", None), services=False)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, runtime.stop_event.set)
    await runtime.start()
    try:
        if duration_s is None:
            await runtime.stop_event.wait()
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(runtime.stop_event.wait(), timeout=duration_s)
    finally:
        status = runtime.controller.feed_status() if runtime.controller else []
        await runtime.stop()
        if sim is not None:
            await sim.stop()
    print(f"collected: {[{k: f[k] for k in ('venue', 'messages', 'reconnects', 'errors')} for f in status]}", file=sys.stderr)
    return {"feeds": status}
