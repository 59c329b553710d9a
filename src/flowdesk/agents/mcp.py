"""Tools of external MCP servers for crew agents, from the ``crews.mcp_servers`` settings.

Each server (Streamable HTTP, SSE or stdio) is asked for its tools when a crew is built; the
ones its settings allow (all when it lists none) become CrewAI tools named
``<server>_<tool>``, with the server's description and an argument schema built from its
JSON schema, given to the agents the settings name (all when they name none). A call opens a
session with the official ``mcp`` client, calls the tool and closes the session; the answer's
text goes back to the agent, an ``isError`` answer as ``Error: ...``, and the call is logged
like a registry tool call.

flowdesk uses the ``mcp`` SDK directly rather than CrewAI's ``Agent(mcps=...)``: in crewai
1.15 a native MCP tool fails on its second event loop ("Error during MCP client disconnect:
no running event loop"), i.e. on every call after the tool listing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

from crewai.tools import BaseTool
from mcp import ClientSession, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamablehttp_client
from pydantic import ConfigDict, Field, PrivateAttr, create_model

from flowdesk.agents.calls import ToolCall, ToolCallLog
from flowdesk.crews.settings import McpServerSettings

T = TypeVar("T")
CALL_TIMEOUT_S = 60.0
_JSON_TYPES: dict[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool,
                               "array": list, "object": dict}


class McpServerError(RuntimeError):
    """An external MCP server could not be reached or listed."""


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code, whether or not a loop runs here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=CALL_TIMEOUT_S)


@contextlib.asynccontextmanager
async def session(server: McpServerSettings) -> AsyncIterator[ClientSession]:
    """An initialised MCP client session with ``server``."""
    if server.transport == "stdio":
        transport = stdio_client(StdioServerParameters(command=server.command or "", args=list(server.args)))
    elif server.transport == "sse":
        transport = sse_client(server.url or "")
    else:
        transport = streamablehttp_client(server.url or "")
    async with transport as streams, ClientSession(streams[0], streams[1]) as s:
        await s.initialize()
        yield s


async def _list(server: McpServerSettings) -> list[Any]:
    async with session(server) as s:
        return list((await s.list_tools()).tools)


async def _call(server: McpServerSettings, tool: str, args: dict[str, Any]) -> tuple[str, bool]:
    async with session(server) as s:
        result = await s.call_tool(tool, args)
    text = "\n".join(getattr(c, "text", str(c)) for c in result.content)
    return text, bool(result.isError)


def _schema_model(name: str, schema: dict[str, Any]) -> Any:
    props = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    fields: dict[str, Any] = {}
    for key, spec in props.items():
        typ = _JSON_TYPES.get(spec.get("type") if isinstance(spec, dict) else None, Any)
        desc = spec.get("description") if isinstance(spec, dict) else None
        fields[key] = (typ, Field(... if key in required else None, description=desc))
    return create_model(f"{name}_args", __config__=ConfigDict(extra="forbid"), **fields)


class ExternalMcpTool(BaseTool):
    """One tool of an external MCP server."""

    _server: McpServerSettings | None = PrivateAttr(default=None)
    _remote: str = PrivateAttr(default="")
    _log: ToolCallLog | None = PrivateAttr(default=None)

    def _run(self, **kwargs: Any) -> str:
        args = {k: v for k, v in kwargs.items() if v is not None}
        started = time.perf_counter()
        try:
            text, is_error = run_sync(_call(self._server, self._remote, args))  # type: ignore[arg-type]
            error = text if is_error else None
        except Exception as exc:  # the server went away, a transport error...
            text, error = "", f"{type(exc).__name__}: {exc}"
        if self._log is not None:
            self._log.add(ToolCall(self.name, args, error is None, error, round(time.perf_counter() - started, 4), len(text)))
        return f"Error: {error}" if error is not None else text


def server_tools(server: McpServerSettings, log: ToolCallLog | None = None) -> list[BaseTool]:
    """The allowed tools of ``server`` as CrewAI tools; :class:`McpServerError` if unreachable."""
    try:
        listed = run_sync(_list(server))
    except Exception as exc:
        where = server.url or f"{server.command} {' '.join(server.args)}"
        raise McpServerError(f"MCP server {server.name!r} ({where}) did not answer: {exc}") from exc
    out: list[BaseTool] = []
    for t in listed:
        if server.tools and t.name not in server.tools:
            continue
        name = f"{server.name}_{t.name}"
        tool = ExternalMcpTool(name=name, description=t.description or t.name,
                               args_schema=_schema_model(name, t.inputSchema or {}))
        tool._server, tool._remote, tool._log = server, t.name, log
        out.append(tool)
    return out


def tools_for(agent: str, servers: tuple[McpServerSettings, ...], log: ToolCallLog | None = None) -> list[BaseTool]:
    """The external MCP tools agent ``agent`` gets."""
    tools: list[BaseTool] = []
    for s in servers:
        if not s.agents or agent in s.agents:
            tools += server_tools(s, log)
    return tools
