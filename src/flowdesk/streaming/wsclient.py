"""A lean WebSocket client for the collector's read path (RFC 6455, client side, no extensions).

Why not ``websockets`` here: its asyncio client parses every frame in a generator, queues each
message and hands it over through an ``async for``, which costs about 6 microseconds per frame,
as much as parsing the JSON and routing the records. This client parses the frames of each TCP
chunk in one loop inside ``data_received`` and calls the feed's ``on_frame(payload, recv_ns)``
directly. Each message gets its own receive timestamp (taken as it is handed over, as before),
so stored receive times keep the arrival order that history replays rely on. Sending is rare
(subscriptions, pings) and simple.

What it does: the HTTP/1.1 upgrade handshake with ``Sec-WebSocket-Accept`` verification, TLS for
``wss://`` (the default certificate checks), text and binary messages, fragmented messages,
answering pings with pongs, the closing handshake from either side, masked client frames. No
compression is offered, so none is negotiated. Protocol violations by the server (a masked
frame, an unknown opcode, a fragmented control frame) close the connection with code 1002.

Back-pressure: frames are handled as they arrive, so when the storage writer's queue is full the
hand-off blocks the event loop, the socket is not read and TCP flow control slows the sender;
nothing grows without bound.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import ssl
import struct
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flowdesk.streaming.health import FeedHealth

log = logging.getLogger(__name__)

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HANDSHAKE_BYTES = 64 * 1024

TEXT, BINARY, CLOSE, PING, PONG, CONT = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


class HandshakeError(ConnectionError):
    """The server did not accept the WebSocket upgrade (HTTP status and first bytes of the body)."""


class ProtocolError(ConnectionError):
    """The server broke RFC 6455; the connection was closed with code 1002."""


def _mask(payload: bytes, key: bytes) -> bytes:
    """``payload`` XOR the 4-byte ``key`` repeated (client frames are masked)."""
    n = len(payload)
    if not n:
        return payload
    reps = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(reps, "big")).to_bytes(n, "big")


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked client frame."""
    n = len(payload)
    key = os.urandom(4)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + key + _mask(payload, key)


class _Protocol(asyncio.Protocol):
    """Handshake, then frames -> ``on_frame``; see the module docstring."""

    def __init__(self, on_frame: Callable[[str | bytes, int], None], health: FeedHealth | None, key: str) -> None:
        self.on_frame = on_frame
        self.key = key
        self.health = health
        self.transport: asyncio.Transport | None = None
        self.handshake: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.upgraded = False
        self.pending = b""
        self.fragments: list[bytes] = []
        self.fragment_opcode = 0
        self.close_code: int | None = None
        self.close_sent = False
        self.frames = 0
        self.error: BaseException | None = None

    # -- transport callbacks --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.upgraded:
            self._handshake_bytes(data)
            return
        try:
            self._frames(self.pending + data if self.pending else data)
        except Exception as exc:  # a bug in a frame handler: fail this connection, loudly
            log.exception("frame handler failed; closing the connection")
            self._fail(ConnectionError(f"frame handler failed: {exc!r}"), 1011)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(exc or ConnectionError("connection closed during the handshake"))
        if not self.closed.done():
            err = self.error or exc
            if err is not None and self.upgraded:  # before the upgrade, the handshake carries it
                self.closed.set_exception(err if isinstance(err, Exception) else ConnectionError(str(err)))
            else:
                self.closed.set_result(None)

    # -- handshake ----------------------------------------------------------------------------------

    def _handshake_bytes(self, data: bytes) -> None:
        self.pending += data
        end = self.pending.find(b"\r\n\r\n")
        if end < 0:
            if len(self.pending) > MAX_HANDSHAKE_BYTES:
                self._fail(HandshakeError("handshake response too large"), None)
            return
        head, rest = self.pending[:end], self.pending[end + 4:]
        self.pending = b""
        try:
            _check_upgrade(head, self.key)
        except HandshakeError as exc:
            self._fail(exc, None)
            if not self.handshake.done():
                self.handshake.set_exception(exc)
            return
        self.upgraded = True
        if not self.handshake.done():
            self.handshake.set_result(head)
        if rest:  # frames that came with the 101 response
            self.data_received(rest)

    # -- frames ---------------------------------------------------------------------------------------

    def _frames(self, data: bytes) -> None:
        """Parse every complete frame in ``data``; keep the incomplete tail for the next chunk."""
        time_ns = time.time_ns
        ns = 0
        on_frame = self.on_frame
        n, pos, count = len(data), 0, 0
        while n - pos >= 2:
            b0, b1 = data[pos], data[pos + 1]
            length, head = b1 & 0x7F, 2
            if length == 126:
                if n - pos < 4:
                    break
                length, head = (data[pos + 2] << 8) | data[pos + 3], 4
            elif length == 127:
                if n - pos < 10:
                    break
                length, head = int.from_bytes(data[pos + 2:pos + 10], "big"), 10
            end = pos + head + length
            if end > n:
                break
            if b1 & 0x80:
                self._fail(ProtocolError("the server sent a masked frame"), 1002)
                return
            payload = data[pos + head:end]
            pos = end
            opcode = b0 & 0x0F
            ns = time_ns()  # per message: stored receive times keep the arrival order
            if b0 & 0x80 and opcode == TEXT:  # the hot path: one whole text message
                count += 1
                try:
                    on_frame(payload.decode(), ns)
                except UnicodeDecodeError:
                    on_frame(payload, ns)  # invalid UTF-8: the parser counts it as malformed
                continue
            message = self._other(b0, opcode, payload)
            if message is not None:
                count += 1
                on_frame(message, ns)
            if self.transport is None or self.transport.is_closing():
                break
        self.pending = data[pos:] if pos < n else b""
        if count:
            self.frames += count
            if self.health is not None:
                self.health.messages += count
                self.health.last_message_ns = ns

    def _other(self, b0: int, opcode: int, payload: bytes) -> str | bytes | None:
        """Control frames and fragments; returns a completed message, if any."""
        fin = b0 & 0x80
        if opcode >= 0x8:
            if not fin or len(payload) > 125:
                self._fail(ProtocolError("fragmented or oversized control frame"), 1002)
            elif opcode == PING:
                self._write(encode_frame(PONG, payload))
            elif opcode == CLOSE:
                self._on_close_frame(payload)
            elif opcode != PONG:
                self._fail(ProtocolError(f"unknown control opcode {opcode:#x}"), 1002)
            return None
        if opcode in (TEXT, BINARY):
            if self.fragments:
                self._fail(ProtocolError("a new message began before the fragmented one ended"), 1002)
                return None
            if fin:
                return payload if opcode == BINARY else _text(payload)
            self.fragments, self.fragment_opcode = [payload], opcode
            return None
        if opcode == CONT and self.fragments:
            self.fragments.append(payload)
            if not fin:
                return None
            whole, self.fragments = b"".join(self.fragments), []
            return whole if self.fragment_opcode == BINARY else _text(whole)
        self._fail(ProtocolError(f"unexpected opcode {opcode:#x}"), 1002)
        return None

    def _on_close_frame(self, payload: bytes) -> None:
        self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        if not self.close_sent:
            self.close_sent = True
            self._write(encode_frame(CLOSE, payload[:2]))
        if self.transport is not None:
            self.transport.close()

    # -- output ---------------------------------------------------------------------------------------

    def _write(self, frame: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame)

    def _fail(self, exc: BaseException, code: int | None) -> None:
        self.error = exc
        if code is not None and not self.close_sent:
            self.close_sent = True
            self._write(encode_frame(CLOSE, struct.pack("!H", code)))
        if self.transport is not None:
            self.transport.close()


def _text(payload: bytes) -> str | bytes:
    try:
        return payload.decode()
    except UnicodeDecodeError:
        return payload


class WsConnection:
    """An open connection: :meth:`send`, :meth:`close`, :meth:`wait_closed`, :attr:`close_code`."""

    def __init__(self, proto: _Protocol, close_timeout: float) -> None:
        self._proto = proto
        self.close_timeout = close_timeout

    @property
    def close_code(self) -> int | None:
        return self._proto.close_code

    @property
    def frames(self) -> int:
        """Messages delivered so far."""
        return self._proto.frames

    async def send(self, message: str | bytes) -> None:
        """Send one text (``str``) or binary (``bytes``) message; ``ConnectionError`` once closed."""
        proto = self._proto
        if proto.transport is None or proto.transport.is_closing() or proto.close_sent:
            raise ConnectionError("the WebSocket connection is closed")
        if isinstance(message, str):
            proto.transport.write(encode_frame(TEXT, message.encode()))
        else:
            proto.transport.write(encode_frame(BINARY, bytes(message)))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """The closing handshake: send a close frame, wait for the server's (at most
        ``close_timeout`` seconds), then drop the TCP connection."""
        proto = self._proto
        if not proto.close_sent:
            proto.close_sent = True
            proto._write(encode_frame(CLOSE, struct.pack("!H", code) + reason.encode()[:120]))
        try:
            await asyncio.wait_for(asyncio.shield(proto.closed), self.close_timeout)
        except (TimeoutError, ConnectionError, OSError):
            pass
        finally:
            if proto.transport is not None:
                proto.transport.close()

    async def wait_closed(self) -> None:
        """Return when the connection is gone; raises what broke it (a protocol error, a
        reset), returns normally after a clean close."""
        await asyncio.shield(self._proto.closed)


async def connect_ws(
    url: str,
    on_frame: Callable[[str | bytes, int], None],
    health: FeedHealth | None = None,
    *,
    open_timeout: float = 10.0,
    close_timeout: float = 2.0,
    headers: dict[str, str] | None = None,
) -> WsConnection:
    """Open ``url`` (``ws://`` or ``wss://``) and upgrade; frames go to ``on_frame`` from then
    on. Raises :class:`HandshakeError` (refused upgrade), ``TimeoutError`` or ``OSError``."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"not a WebSocket URL: {url!r}")
    secure = parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    loop = asyncio.get_running_loop()
    ctx: Any = ssl.create_default_context() if secure else None
    key = base64.b64encode(os.urandom(16)).decode()
    transport, proto = await asyncio.wait_for(
        loop.create_connection(lambda: _Protocol(on_frame, health, key), parts.hostname, port, ssl=ctx),
        open_timeout,
    )
    try:
        host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        lines = [f"GET {target} HTTP/1.1", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13", "User-Agent: flowdesk"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await asyncio.wait_for(proto.handshake, open_timeout)
    except BaseException:
        transport.close()
        raise
    return WsConnection(proto, close_timeout)


def _check_upgrade(head: bytes, key: str) -> None:
    """Raise :class:`HandshakeError` unless ``head`` is a 101 with the right accept value."""
    status_line, _, rest = head.decode("latin-1").partition("\r\n")
    fields = status_line.split(" ", 2)
    if len(fields) < 2 or fields[1] != "101":
        raise HandshakeError(f"server rejected the WebSocket upgrade: {status_line[:200]}")
    got = {}
    for line in rest.split("\r\n"):
        name, _, value = line.partition(":")
        got[name.strip().lower()] = value.strip()
    expected = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
    if got.get("sec-websocket-accept") != expected:
        raise HandshakeError("bad Sec-WebSocket-Accept in the upgrade response")
    if got.get("sec-websocket-extensions"):
        raise HandshakeError(f"server forced an extension we did not offer: {got['sec-websocket-extensions']}")
