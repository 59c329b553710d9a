"""The collector's lean WebSocket client against real servers on 127.0.0.1: a ``websockets``
server (interoperability: text, binary, large and fragmented messages, pings, both closing
handshakes) and a raw asyncio server that writes hand-made bytes (frames split across TCP
writes, protocol violations, refused upgrades)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from flowdesk.streaming.health import FeedHealth
from flowdesk.streaming.wsclient import (
    GUID,
    HandshakeError,
    ProtocolError,
    connect_ws,
    encode_frame,
)


def _collect() -> tuple[list[Any], Callable[[str | bytes, int], None]]:
    got: list[Any] = []
    return got, lambda raw, ns: got.append(raw)


async def _until(cond: Callable[[], bool], timeout: float = 5) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.01)


def test_interoperates_with_websockets_server() -> None:
    big = "x" * 200_000
    received: list[str] = []

    async def handler(conn: ServerConnection) -> None:
        await conn.send('{"a":1}')
        await conn.send(b"\x00\x01binary")
        await conn.send(big)
        await conn.send(["frag", "mented", " ok"])  # one message in three fragments
        pong = await conn.ping(b"hb")
        await asyncio.wait_for(pong, 5)  # the client answered the ping
        received.append(await conn.recv())
        await conn.send("after")

    async def run() -> tuple[list[Any], FeedHealth, int | None]:
        got, on_frame = _collect()
        health = FeedHealth("test")
        async with serve(handler, "127.0.0.1", 0, compression=None) as server:
            port = server.sockets[0].getsockname()[1]
            ws = await connect_ws(f"ws://127.0.0.1:{port}/path?q=1", on_frame, health)
            await _until(lambda: len(got) >= 4)
            await ws.send("hello from client")
            await _until(lambda: len(got) >= 5)
            await ws.close()
            await ws.wait_closed()
            return got, health, ws.close_code

    got, health, code = asyncio.run(run())
    assert got == ['{"a":1}', b"\x00\x01binary", big, "fragmented ok", "after"]
    assert received == ["hello from client"]
    assert health.messages == 5 and health.last_message_ns > 0
    assert code == 1000


def test_server_close_is_answered_and_reported() -> None:
    async def handler(conn: ServerConnection) -> None:
        await conn.send("one")
        await conn.close(1001, "going away")

    async def run() -> tuple[list[Any], int | None]:
        got, on_frame = _collect()
        async with serve(handler, "127.0.0.1", 0, compression=None) as server:
            port = server.sockets[0].getsockname()[1]
            ws = await connect_ws(f"ws://127.0.0.1:{port}/", on_frame)
            await asyncio.wait_for(ws.wait_closed(), 5)  # a clean close returns normally
            with pytest.raises(ConnectionError):
                await ws.send("late")
            return got, ws.close_code

    got, code = asyncio.run(run())
    assert got == ["one"] and code == 1001


async def _raw_server(script: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]) -> Any:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await script(reader, writer)
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def _accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, extra: str = "") -> None:
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    key = next(line.split(":", 1)[1].strip() for line in head.split("\r\n") if line.lower().startswith("sec-websocket-key"))
    accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
    writer.write((f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Accept: {accept}\r\n{extra}\r\n").encode())


def _server_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    head += bytes([n]) if n < 126 else bytes([126]) + struct.pack("!H", n) if n < 65536 else bytes([127]) + struct.pack("!Q", n)
    return head + payload


def test_frames_split_across_writes_and_sent_with_the_handshake() -> None:
    frames = b"".join(_server_frame(0x1, f'{{"i":{i}}}'.encode()) for i in range(50))
    frames += _server_frame(0x1, b"y" * 70_000)  # a 64-bit length, split across many writes

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        key = next(x.split(":", 1)[1].strip() for x in head.split("\r\n") if x.lower().startswith("sec-websocket-key"))
        accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        response = (f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode()
        writer.write(response + frames[:7])  # the first frame arrives with the handshake, cut short
        for i in range(7, len(frames), 3001):
            writer.write(frames[i:i + 3001])
            await writer.drain()
            await asyncio.sleep(0)
        await asyncio.sleep(0.5)

    async def run() -> list[Any]:
        got, on_frame = _collect()
        server = await _raw_server(script)
        port = server.sockets[0].getsockname()[1]
        await connect_ws(f"ws://127.0.0.1:{port}/", on_frame)
        await _until(lambda: len(got) == 51)
        server.close()
        return got

    got = asyncio.run(run())
    assert got[:50] == [f'{{"i":{i}}}' for i in range(50)] and got[50] == "y" * 70_000


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (bytes([0x81, 0x85]) + b"\x01\x02\x03\x04" + b"hello", "masked"),
        (bytes([0x09, 0x00]), "fragmented or oversized control"),
        (bytes([0x83, 0x00]), "unexpected opcode"),
    ],
)
def test_protocol_violations_close_with_1002(frame: bytes, reason: str) -> None:
    sent: list[bytes] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _accept(reader, writer)
        writer.write(frame)
        await writer.drain()
        sent.append(await asyncio.wait_for(reader.read(100), 5))  # the client's close frame

    async def run() -> None:
        got, on_frame = _collect()
        server = await _raw_server(script)
        port = server.sockets[0].getsockname()[1]
        ws = await connect_ws(f"ws://127.0.0.1:{port}/", on_frame)
        with pytest.raises(ProtocolError, match=reason):
            await asyncio.wait_for(ws.wait_closed(), 5)
        assert got == []
        server.close()

    asyncio.run(run())
    close = sent[0]
    assert close[0] == 0x88 and close[1] & 0x80  # a masked close frame ...
    key, body = close[2:6], close[6:8]
    assert bytes(b ^ key[i % 4] for i, b in enumerate(body)) == struct.pack("!H", 1002)  # ... code 1002


def test_refused_upgrades_raise_handshake_error() -> None:
    async def not_found(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")

    async def bad_accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: nope\r\n\r\n")

    async def run(script: Any) -> None:
        server = await _raw_server(script)
        port = server.sockets[0].getsockname()[1]
        try:
            await connect_ws(f"ws://127.0.0.1:{port}/", lambda raw, ns: None)
        finally:
            server.close()

    with pytest.raises(HandshakeError, match="404"):
        asyncio.run(run(not_found))
    with pytest.raises(HandshakeError, match="Accept"):
        asyncio.run(run(bad_accept))
    with pytest.raises(ValueError, match="not a WebSocket URL"):
        asyncio.run(connect_ws("http://127.0.0.1:1/", lambda raw, ns: None))


def test_client_frames_are_masked_round_trip() -> None:
    frame = encode_frame(0x1, b"subscribe me")
    assert frame[0] == 0x81 and frame[1] == 0x80 | 12
    key, body = frame[2:6], frame[6:]
    assert bytes(b ^ key[i % 4] for i, b in enumerate(body)) == b"subscribe me"
    long = encode_frame(0x2, b"z" * 70_000)
    assert long[1] == 0x80 | 127 and struct.unpack("!Q", long[2:10])[0] == 70_000


def test_extra_upgrade_headers_are_sent() -> None:
    """Venue headers (Gate.io's X-Gate-Size-Decimal) travel in the upgrade request."""
    from flowdesk.streaming.venues.registry import protocol

    seen: list[str] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        seen.append(head)
        key = next(x.split(":", 1)[1].strip() for x in head.split("\r\n") if x.lower().startswith("sec-websocket-key"))
        accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        writer.write(f"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: {accept}\r\n\r\n".encode())
        await writer.drain()
        await asyncio.sleep(0.2)

    async def run() -> None:
        server = await _raw_server(script)
        port = server.sockets[0].getsockname()[1]
        headers = dict(protocol("gateio_futures").ws_headers)
        ws = await connect_ws(f"ws://127.0.0.1:{port}/v4/ws/usdt", lambda raw, ns: None, headers=headers)
        await ws.close()
        server.close()

    asyncio.run(run())
    assert "GET /v4/ws/usdt HTTP/1.1" in seen[0] and "X-Gate-Size-Decimal: 1\r\n" in seen[0]
