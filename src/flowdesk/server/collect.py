"""``flowdesk collect``: the streaming controller alone, writing into the data directory."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

from flowdesk.server.app import Runtime
from flowdesk.server.simulate import start_simulators, stop_simulators
from flowdesk.settings import Settings


async def collect(settings: Settings, simulator_config: object | None = None, duration_s: float | None = None) -> dict:
    """Collect until SIGINT/SIGTERM or ``duration_s``; return the final feed status."""
    sims: list = []
    if simulator_config is not None:
        settings, sims = await start_simulators(settings, simulator_config)
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
        await stop_simulators(sims)
    print(f"collected: {[{k: f[k] for k in ('venue', 'messages', 'reconnects', 'errors')} for f in status]}", file=sys.stderr)
    return {"feeds": status}
