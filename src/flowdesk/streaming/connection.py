"""The one reconnecting WebSocket loop every venue feed runs on.

Backoff is exponential with full jitter (delay drawn uniformly from 0..min(cap, base·2^n)),
reset once a connection has delivered data. The feed supplies the URL, what to send on open
(subscriptions, pings) and a frame handler; networking and retry live here only.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
from collections.abc import Awaitable, Callable

from flowdesk.streaming.health import FeedHealth
from flowdesk.streaming.wsclient import WsConnection, connect_ws

log = logging.getLogger(__name__)

FrameHandler = Callable[[str | bytes, int], None]
OpenHandler = Callable[[WsConnection], Awaitable[None]]


def backoff_delay(attempt: int, initial_s: float, max_s: float, rng: random.Random) -> float:
    """Full-jitter exponential backoff for the ``attempt``-th consecutive failure (0-based)."""
    return rng.uniform(0, min(max_s, initial_s * (2**attempt)))


async def run_connection(
    url: Callable[[], str] | Callable[[], Awaitable[str]],
    on_frame: FrameHandler,
    health: FeedHealth,
    stop: asyncio.Event,
    *,
    on_open: OpenHandler | None = None,
    on_close: Callable[[], None] | None = None,
    initial_s: float = 0.5,
    max_s: float = 30.0,
    headers: dict[str, str] | None = None,
) -> None:
    """Connect, feed every message to ``on_frame(raw, recv_ns)`` and reconnect until ``stop``.

    ``url()`` may be a coroutine (a venue handshake such as KuCoin's token request); an
    ``OSError`` it raises counts as a failed connect and is retried with backoff. The socket is
    :mod:`flowdesk.streaming.wsclient`'s lean client: frames reach ``on_frame`` straight from
    the transport, without a per-message queue."""
    rng = random.Random()
    attempt = 0
    while not stop.is_set():
        got_data = False
        try:
            target = url()
            if inspect.isawaitable(target):
                target = await target
            health.url = str(target)
            ws = await connect_ws(str(target), on_frame, health, open_timeout=10, close_timeout=2, headers=headers)
            health.connected = True
            health.connects += 1
            try:
                if on_open is not None:
                    await on_open(ws)
                await _until_closed(ws, health, stop)
            finally:
                got_data = ws.frames > 0
        except (TimeoutError, OSError) as exc:
            health.error(f"{type(exc).__name__}: {exc}")
        finally:
            if health.connected:
                health.connected = False
                if on_close is not None:
                    on_close()
        if stop.is_set():
            break
        health.reconnects += 1
        attempt = 0 if got_data else attempt + 1
        delay = backoff_delay(attempt, initial_s, max_s, rng)
        log.info("%s: reconnecting in %.2fs", health.venue, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)


async def _until_closed(ws: WsConnection, health: FeedHealth, stop: asyncio.Event) -> None:
    """Wait until the socket closes (frames flow to the handler meanwhile) or ``stop`` is set."""
    closer = asyncio.ensure_future(_close_when(stop, ws))
    try:
        await ws.wait_closed()
    finally:
        closer.cancel()
    if not stop.is_set():
        health.error(f"connection closed by peer (code {ws.close_code})")


async def _close_when(stop: asyncio.Event, ws: WsConnection) -> None:
    await stop.wait()
    await ws.close()
