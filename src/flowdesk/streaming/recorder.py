"""Record a venue's combined-stream frames to a capture file the simulator can replay.

The file has the format of ``shared/data/captures/binance-*``: one ``<receive ns> <raw JSON>``
line per WebSocket frame, exactly as received, plus one REST depth snapshot per symbol written
as the bare ``{"lastUpdateId":...}`` answer (also as received), in receive order. The snapshots
are requested right after the socket opens, so the recorded depth diffs bracket them the way
Binance's book-sync recipe expects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from flowdesk.streaming.captures import CaptureWriter

log = logging.getLogger(__name__)
SNAPSHOT_LIMIT = 1000
SNAPSHOT_TRIES = 5


def stream_names(symbols: list[str], streams: list[str]) -> list[str]:
    """``["BTCUSDT"], ["aggTrade", "depth@100ms"]`` -> ``["btcusdt@aggTrade", "btcusdt@depth@100ms"]``."""
    return [f"{s.lower()}@{k}" for s in symbols for k in streams]


def combined_url(ws_base: str, names: list[str]) -> str:
    """The combined-stream URL for ``names`` under a WebSocket base URL."""
    return f"{ws_base.rstrip('/')}/stream?streams={'/'.join(names)}"


async def record(
    ws_base: str,
    rest_base: str,
    symbols: list[str],
    streams: list[str],
    out_path: Path,
    duration_s: float | None = None,
    max_frames: int | None = None,
) -> int:
    """Record until ``duration_s`` passed, ``max_frames`` frames arrived or the server closed
    the socket; returns the number of WebSocket frames written (snapshot lines not counted)."""
    names = stream_names(symbols, streams)
    with CaptureWriter(out_path) as writer:
        async with connect(combined_url(ws_base, names), max_size=None, max_queue=None, compression=None) as ws:
            snapshots = asyncio.ensure_future(_snapshots(rest_base, symbols, writer))
            try:
                frames = await _frames(ws, writer, duration_s, max_frames)
            finally:
                if not snapshots.done():
                    await asyncio.wait({snapshots}, timeout=10)
                snapshots.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await snapshots
    return frames


async def _frames(ws: object, writer: CaptureWriter, duration_s: float | None, max_frames: int | None) -> int:
    """Write frames as they arrive; stop at the duration, the frame budget or a close."""
    loop = asyncio.get_running_loop()
    deadline = None if duration_s is None else loop.time() + duration_s
    count = 0
    while max_frames is None or count < max_frames:
        timeout = None if deadline is None else deadline - loop.time()
        if timeout is not None and timeout <= 0:
            break
        try:
            raw = await asyncio.wait_for(ws.recv(), timeout)  # type: ignore[attr-defined]
        except TimeoutError:
            break
        except ConnectionClosed:
            log.warning("recorder: the server closed the stream after %d frames", count)
            break
        writer.write(time.time_ns(), raw)
        count += 1
    return count


async def _snapshots(rest_base: str, symbols: list[str], writer: CaptureWriter) -> None:
    """One ``/fapi/v1/depth`` snapshot per symbol, written as received."""
    async with httpx.AsyncClient(base_url=rest_base.rstrip("/"), timeout=30) as http:
        for sym in symbols:
            text = await _snapshot(http, sym.upper())
            if text is not None:
                writer.write(time.time_ns(), text)


async def _snapshot(http: httpx.AsyncClient, symbol: str) -> str | None:
    """The depth answer's text; waits out ``Retry-After`` on 429/418 (a few times)."""
    for _ in range(SNAPSHOT_TRIES):
        resp = await http.get("/fapi/v1/depth", params={"symbol": symbol, "limit": SNAPSHOT_LIMIT})
        if resp.status_code == 200:
            return resp.text
        if resp.status_code not in (418, 429):
            break
        await asyncio.sleep(float(resp.headers.get("Retry-After", "1")))
    log.warning("recorder: no depth snapshot for %s: %s %s", symbol, resp.status_code, resp.text[:200])
    return None
