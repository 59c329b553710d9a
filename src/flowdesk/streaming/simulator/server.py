"""The simulator server: Binance USD-M WebSocket streams and REST on one 127.0.0.1 port.

WebSocket paths: ``/stream?streams=a/b`` (combined: ``{"stream": name, "data": event}``) and
``/ws/<stream>`` or ``/ws`` (raw events), with live ``SUBSCRIBE``, ``UNSUBSCRIBE``,
``LIST_SUBSCRIPTIONS``, ``SET_PROPERTY`` and ``GET_PROPERTY`` requests. A ``/public`` or
``/market`` prefix (Binance's newer routing) is accepted too. Any plain HTTP ``GET`` on the
same port is answered by :mod:`.rest` through websockets' ``process_request`` hook (one request
per TCP connection: answers carry ``Connection: close``).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import http
import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from flowdesk.streaming.simulator.config import SimulatorConfig
from flowdesk.streaming.simulator.faults import FaultState
from flowdesk.streaming.simulator.hub import Client, Hub, Source
from flowdesk.streaming.simulator.replay import ReplaySource
from flowdesk.streaming.simulator.rest import RestApi
from flowdesk.streaming.simulator.state import MarketState
from flowdesk.streaming.simulator.synthetic import SyntheticSource

log = logging.getLogger(__name__)
WRITE_LIMIT = 2**20  # bytes buffered per connection before the producer waits for it


def _make_source(cfg: SimulatorConfig) -> Source:
    if cfg.mode == "replay":
        return ReplaySource(cfg.captures, loop=cfg.loop)
    return SyntheticSource(cfg.symbols, cfg.seed, cfg.start_ms, cfg.rate_hz)


def parse_ws_path(target: str) -> tuple[bool, list[str]] | None:
    """``(combined, stream names)`` for a WebSocket request target, ``None`` if not a stream path."""
    parts = urlsplit(target)
    path = parts.path
    for prefix in ("/public", "/market"):
        if path.startswith(prefix + "/"):
            path = path[len(prefix) :]
    if path in ("/stream", "/stream/"):
        streams = parse_qs(parts.query).get("streams", [""])[0]
        return True, [s for s in streams.split("/") if s]
    if path in ("/ws", "/ws/"):
        return False, []
    if path.startswith("/ws/"):
        return False, [s for s in path[4:].split("/") if s]
    return None


class Simulator:
    """A local Binance USD-M futures exchange (see :class:`SimulatorConfig` and docs/simulator.md).

    ``await start()``, then point a client at :attr:`ws_url` and :attr:`rest_url`.
    """

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.source = _make_source(config)
        self.state = MarketState(self.source.symbols)
        for frame in self.source.initial_frames():
            self.state.apply(frame)
        for sym in self.source.mark_from_mid:
            self.state.symbol(sym).mark_from_mid = True
        self.faults = FaultState(config.faults)
        self.rest = RestApi(self.state, self.faults)
        self.hub: Hub | None = None
        self.connections = 0
        self.ws_url = ""
        self.rest_url = ""
        self._server: Server | None = None
        self._producer: asyncio.Task[None] | None = None

    # --- lifecycle ----------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host:port`` (0 = any free port) and arm the producer."""
        self.hub = Hub(self.source, self.state, self.faults, self.config.speed)
        self._server = await serve(
            self._handle, host, port, process_request=self._process_request,
            compression=None, write_limit=WRITE_LIMIT, max_size=2**20,
        )
        bound = self._server.sockets[0].getsockname()
        self.ws_url = f"ws://{bound[0]}:{bound[1]}"
        self.rest_url = f"http://{bound[0]}:{bound[1]}"
        self._producer = asyncio.get_running_loop().create_task(self.hub.produce())
        self._producer.add_done_callback(_report_crash)

    async def stop(self) -> None:
        """Stop producing, close every connection and the listening socket."""
        if self._producer is not None:
            self._producer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._producer
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def wait_replay_done(self, timeout: float) -> bool:
        """True once every frame was sent (a replay that does not loop), else False at timeout."""
        if self.hub is None:
            return False
        try:
            await asyncio.wait_for(self.hub.done.wait(), timeout)
        except TimeoutError:
            return False
        return True

    @property
    def stats(self) -> dict[str, Any]:
        """Counters: frames, connections, REST requests and the faults fired so far."""
        hub = self.hub.stats() if self.hub else {"frames_sent": 0, "frames_produced": 0, "clients": 0, "finished": False}
        return {
            **hub,
            "connections": self.connections,
            "rest_requests": self.rest.requests,
            "rest_429_sent": self.faults.fired["rest_429"],
            "rest_418_sent": self.faults.fired["rest_418"],
            "frames_dropped": self.faults.fired["dropped_frames"],
            "faults_fired": dict(self.faults.fired),
        }

    # --- HTTP -----------------------------------------------------------------------------
    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            if parse_ws_path(request.path) is not None:
                return None
            return self._response(404, orjson.dumps({"code": -5000, "msg": f"Path {request.path} is invalid"}), {})
        status, body, headers = self.rest.handle(request.path)
        return self._response(status, body, headers)

    @staticmethod
    def _response(status: int, body: bytes, extra: dict[str, str]) -> Response:
        headers = Headers(
            [("Date", email.utils.formatdate(usegmt=True)), ("Connection", "close"),
             ("Content-Length", str(len(body))), ("Content-Type", "application/json")]
        )
        for k, v in extra.items():
            if k.lower() != "content-type":
                headers[k] = v
        return Response(status, http.HTTPStatus(status).phrase, headers, body)

    # --- WebSocket ------------------------------------------------------------------------
    async def _handle(self, conn: ServerConnection) -> None:
        assert self.hub is not None and conn.request is not None
        parsed = parse_ws_path(conn.request.path) or (True, [])
        self.connections += 1
        client = Client(conn, parsed[0], parsed[1], self.faults.close_at_for_new_connection())
        self.hub.add(client)
        try:
            async for message in conn:
                reply = self._method(client, message)
                if reply is not None:
                    await conn.send(reply)
        except ConnectionClosed:
            pass
        finally:
            self.hub.remove(client)

    def _method(self, client: Client, message: str | bytes) -> str | None:
        """Answer a live request the way Binance does."""
        try:
            req = orjson.loads(message)
        except orjson.JSONDecodeError as exc:
            return _json({"code": 3, "msg": f"Invalid JSON: {exc}", "id": None})
        if not isinstance(req, dict):
            return _json({"code": 2, "msg": "Invalid request: expected an object", "id": None})
        rid, method, params = req.get("id"), req.get("method"), req.get("params") or []
        if not isinstance(params, list):
            return _json({"code": 1, "msg": "Invalid value type: expected array", "id": rid})
        assert self.hub is not None
        if method == "SUBSCRIBE":
            client.subscribe(str(p) for p in params)
        elif method == "UNSUBSCRIBE":
            client.unsubscribe(str(p) for p in params)
        elif method == "LIST_SUBSCRIPTIONS":
            return _json({"result": list(client.subs), "id": rid})
        elif method == "SET_PROPERTY" and len(params) == 2 and params[0] == "combined":
            client.combined = bool(params[1])
        elif method == "GET_PROPERTY" and params[:1] == ["combined"]:
            return _json({"result": client.combined, "id": rid})
        elif method in ("SET_PROPERTY", "GET_PROPERTY"):
            return _json({"code": 0, "msg": "Unknown property", "id": rid})
        else:
            return _json({"code": 2, "msg": f"Invalid request: unknown variant {method}, expected one of "
                          "SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY, GET_PROPERTY", "id": rid})
        self.hub.reroute()
        return _json({"result": None, "id": rid})


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("simulator producer stopped", exc_info=task.exception())


def _json(obj: Any) -> str:
    return orjson.dumps(obj).decode()


async def run_simulator(config: SimulatorConfig, host: str = "127.0.0.1", port: int = 8023) -> None:
    """Serve until cancelled (the ``flowdesk simulate`` command); prints the two base URLs."""
    sim = Simulator(config)
    await sim.start(host, port)
    print(f"simulator ({config.mode}) listening: ws={sim.ws_url} rest={sim.rest_url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()
