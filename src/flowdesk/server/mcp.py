"""The MCP server, generated from the tool registry (stdio, Streamable HTTP and SSE).

Every registered tool becomes an MCP tool with the same name, its docstring as description,
its type hints as input schema, structured JSON output, and annotations marking it read-only.
Tools are plain blocking functions (DuckDB queries); they run on a worker thread so the event
loop (and the collector sharing it) never waits on a query.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from mcp.server.fastmcp import FastMCP
from mcp.types import ToolAnnotations
from pydantic import BaseModel, ConfigDict

from flowdesk.tools.registry import ToolSpec, load_tools

INSTRUCTIONS = (
    "flowdesk: read-only order-flow data and analytics for crypto markets. Every result has a "
    "'source' block (venues, symbol, window, as_of, data_age_s): check data_age_s before "
    "trusting a number. Errors say what was wrong with the arguments or which data is missing."
)



class ToolResult(BaseModel):
    """A tool's JSON object, passed through as the MCP structured content (not wrapped)."""

    model_config = ConfigDict(extra="allow")


Caller = Callable[[ToolSpec, dict[str, Any]], Awaitable[dict[str, Any]]]


async def call_in_thread(spec: ToolSpec, args: dict[str, Any]) -> dict[str, Any]:
    """Run a blocking tool on a worker thread."""
    return await anyio.to_thread.run_sync(functools.partial(spec.fn, **args))


def _as_async(spec: ToolSpec, caller: Caller) -> Callable[..., Awaitable[dict[str, Any]]]:
    """An async function with ``spec.fn``'s exact signature that delegates to ``caller``."""

    @functools.wraps(spec.fn)
    async def run(**kwargs: Any) -> dict[str, Any]:
        return await caller(spec, kwargs)

    sig = inspect.signature(spec.fn)
    run.__signature__ = sig.replace(return_annotation=ToolResult)  # type: ignore[attr-defined]
    run.__annotations__ = {**spec.fn.__annotations__, "return": ToolResult}
    return run


def build_mcp(host: str = "127.0.0.1", caller: Caller = call_in_thread) -> FastMCP:
    """A FastMCP server exposing every registered tool through ``caller``."""
    mcp = FastMCP("flowdesk", instructions=INSTRUCTIONS, host=host, log_level="WARNING")
    for spec in load_tools().values():
        mcp.add_tool(
            _as_async(spec, caller),
            name=spec.name,
            title=spec.title,
            description=spec.description,
            annotations=ToolAnnotations(
                title=spec.title,
                readOnlyHint=spec.read_only,
                destructiveHint=False,  # no tool deletes or overwrites market data
                idempotentHint=spec.read_only,
                openWorldHint=False,
            ),
            structured_output=True,
        )
    return mcp
