"""The producer and its fan-out: one frame stream per server, shared by every connection.

The producer walks the source's frames on the replay clock (``t_ns / speed``; as fast as the
sockets drain at speed 0), applies each frame to the market state, and appends the frame's
encoded messages to the buffer of every connection subscribed to one of its stream keys.
Buffers are written in batches: each message is framed once (an unmasked RFC 6455 text frame,
as websockets itself would frame it on a connection without extensions) and a whole batch goes
to the socket in one write; websockets' per-message ``send()`` costs several times more per
frame. Pings, pongs, close frames and request answers still go through websockets. The
producer pauses while no connection has a subscription, except to discard frames after a
fault close.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

from flowdesk.streaming.simulator.faults import FaultState
from flowdesk.streaming.simulator.frames import DEPTH, Frame, canonical, envelope_prefix, resolve
from flowdesk.streaming.simulator.state import MarketState

BATCH = 512  # frames between socket flushes (and event-loop yields) at speed 0
MAX_LATENESS_S = 0.002  # frames this close to due are sent without sleeping
_FAST = hasattr(ServerConnection, "drain")


def text_frame(payload: bytes) -> bytes:
    """``payload`` as one unmasked, final WebSocket text frame (server to client)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return b"\x81\x7e" + n.to_bytes(2, "big") + payload
    return b"\x81\x7f" + n.to_bytes(8, "big") + payload


def _payload(frame: bytes) -> bytes:
    """The payload of a frame made by :func:`text_frame`."""
    n = frame[1]
    return frame[2:] if n < 126 else frame[4:] if n == 126 else frame[10:]


class Source(Protocol):
    """What the hub needs from a replay or synthetic source."""

    symbols: list[str]
    streams: set[str]
    mark_from_mid: set[str]

    def initial_frames(self) -> list[Frame]: ...

    def frames(self) -> Iterator[Frame]: ...


class Client:
    """One WebSocket connection: its subscriptions, pending messages and fault triggers."""

    __slots__ = ("buf", "close_at", "closed", "combined", "conn", "fast", "sent", "subs", "trigger")

    def __init__(self, conn: ServerConnection, combined: bool, names: Iterable[str], close_at: int | None) -> None:
        self.conn = conn
        self.combined = combined
        self.subs: list[str] = []
        self.subscribe(names)
        self.buf: list[bytes] = []
        self.sent = 0  # data frames queued to this connection
        self.close_at = close_at
        self.closed = False
        self.trigger = -1  # `sent` value at which a fault check runs
        # frames can be written pre-framed only when no extension (compression) was negotiated
        # and the connection exposes its transport (else: websockets' own send)
        self.fast = _FAST and getattr(conn, "transport", None) is not None and not getattr(conn.protocol, "extensions", None)

    def subscribe(self, names: Iterable[str]) -> None:
        for name in names:
            name = canonical(name)
            if name not in self.subs:
                self.subs.append(name)

    def unsubscribe(self, names: Iterable[str]) -> None:
        drop = {canonical(n) for n in names}
        self.subs = [s for s in self.subs if s not in drop]


class Hub:
    """Connections, routing and the producer loop of one simulator."""

    def __init__(self, source: Source, state: MarketState, faults: FaultState, speed: float) -> None:
        self.source, self.state, self.faults, self.speed = source, state, faults, speed
        self.clients: list[Client] = []
        self.routes: dict[str, list[tuple[Client, bytes]]] = {}
        self.active = asyncio.Event()  # some open connection has a subscription
        self.done = asyncio.Event()
        self.finished = False
        self.produced = 0
        self.sent_by_gone = 0
        self.drop_left = 0
        self._start = 0.0  # loop time the replay clock started
        self._paused = 0.0  # seconds spent paused since

    # --- connections --------------------------------------------------------------------
    def add(self, client: Client) -> None:
        self.clients.append(client)
        self.retrigger(client)
        self.reroute()

    def remove(self, client: Client) -> None:
        client.closed = True
        if client in self.clients:
            self.clients.remove(client)
            self.sent_by_gone += client.sent
        self.reroute()

    def reroute(self) -> None:
        """Rebuild the stream-key -> (client, envelope prefix) table after any change."""
        routes: dict[str, list[tuple[Client, bytes]]] = {}
        for c in self.clients:
            if c.closed:
                continue
            for name in c.subs:
                key = resolve(name, self.source.streams)
                routes.setdefault(key, []).append((c, envelope_prefix(name) if c.combined else b""))
        self.routes = routes
        if any(c.subs and not c.closed for c in self.clients):
            self.active.set()
        else:
            self.active.clear()

    def retrigger(self, c: Client) -> None:
        marks = [m for m in (self.faults.malformed_at(), c.close_at) if m is not None and m > c.sent]
        c.trigger = min(marks) if marks else -1

    @property
    def frames_sent(self) -> int:
        return self.sent_by_gone + sum(c.sent for c in self.clients)

    # --- producer -----------------------------------------------------------------------
    async def produce(self) -> None:
        """Run the source to its end (never, when it loops)."""
        await self.active.wait()
        self._start = asyncio.get_running_loop().time()
        apply, faults, pending = self.state.apply, self.faults, 0
        for frame in self.source.frames():
            self.produced += 1
            if self.drop_left:
                self.drop_left -= 1
                faults.fired["dropped_frames"] += 1
                apply(frame)
                continue
            if (self.speed > 0 or not self.active.is_set()) and await self._pace(frame):
                pending = 0
            apply(frame)
            if frame.kind == DEPTH and faults.skip_depth_pending and faults.skip_this_depth():
                continue
            self.deliver(frame)
            pending += 1
            if pending >= BATCH:
                await self.flush()
                pending = 0
        await self.flush()
        self.finished = True
        self.done.set()

    async def _pace(self, frame: Frame) -> bool:
        """Wait while nobody subscribes (the clock stops too), then until the frame is due on
        the replay clock; True when the buffers were flushed meanwhile."""
        loop, flushed = asyncio.get_running_loop(), False
        if not self.active.is_set():
            await self.flush()
            t = loop.time()
            await self.active.wait()
            self._paused += loop.time() - t
            flushed = True
        if self.speed > 0:
            wait = self._start + self._paused + frame.t_ns / 1e9 / self.speed - loop.time()
            if wait > MAX_LATENESS_S:
                await self.flush()
                await asyncio.sleep(wait)
                flushed = True
        return flushed

    def deliver(self, frame: Frame) -> None:
        """Queue the frame's messages for every subscriber (the hot path)."""
        routes = self.routes
        for key, data in frame.outs:
            subs = routes.get(key)
            if subs is None:
                continue
            for c, prefix in subs:
                c.buf.append(text_frame(prefix + data + b"}" if prefix else data))
                c.sent += 1
                if c.sent == c.trigger:
                    self._on_trigger(c)

    def _on_trigger(self, c: Client) -> None:
        if c.sent == self.faults.malformed_at():
            real = _payload(c.buf[-1])
            bad = real[: len(real) // 2].decode("utf-8", "ignore").encode()
            c.buf.insert(len(c.buf) - 1, text_frame(bad))
            self.faults.malformed_pending = False
            self.faults.fired["malformed"] += 1
            for other in self.clients:
                self.retrigger(other)
        if c.close_at is not None and c.sent >= c.close_at:
            self._fault_close(c)
        self.retrigger(c)

    def _fault_close(self, c: Client) -> None:
        """Send what is queued, close (1001) and start discarding the next frames."""
        final, c.buf = c.buf, []
        c.closed = True
        asyncio.get_running_loop().create_task(self._send_and_close(c, final))
        self.faults.fired["close"] += 1
        self.drop_left += self.faults.cfg.drop_frames_on_close
        self.reroute()

    async def _send_and_close(self, c: Client, final: list[bytes]) -> None:
        if c.fast:
            self._write(c, final)
        else:
            await self._send_slow(c, final)
        await c.conn.close(1001, "simulator fault: close_after_frames")

    async def flush(self) -> None:
        """Write every buffer, then wait for the sockets to drain (and yield to the loop)."""
        written = []
        for c in list(self.clients):
            if c.buf and not c.closed:
                buf, c.buf = c.buf, []
                if c.fast and self._write(c, buf):
                    written.append(c)
                elif not c.fast:
                    await self._send_slow(c, buf)
        for c in written:
            try:
                await c.conn.drain()
            except Exception:  # the connection went away; its handler cleans up
                c.closed = True
        await asyncio.sleep(0)

    @staticmethod
    def _write(c: Client, frames: list[bytes]) -> bool:
        """One socket write for a batch of framed messages (while the connection is open)."""
        if c.conn.protocol.state is not State.OPEN or not frames:
            return False
        try:
            c.conn.transport.write(b"".join(frames))
        except Exception:
            c.closed = True
            return False
        return True

    @staticmethod
    async def _send_slow(c: Client, frames: list[bytes]) -> None:
        try:
            for f in frames:
                await c.conn.send(_payload(f).decode())
        except Exception:
            c.closed = True

    def stats(self) -> dict[str, Any]:
        return {
            "frames_sent": self.frames_sent,
            "frames_produced": self.produced,
            "clients": sum(1 for c in self.clients if not c.closed),
            "finished": self.finished,
        }
