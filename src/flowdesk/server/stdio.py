"""``flowdesk mcp``: the same tools over stdio, for Claude Desktop and other MCP clients.

DuckDB allows one writer per file. When a ``flowdesk serve`` is running on the same data
directory (found through its ``serve.json``), every tool call is proxied to that server's REST
API, so answers include its live state. Otherwise the database is opened read-only and tools
answer from what is stored (``get_streaming_status`` then says no collector is running).
"""

from __future__ import annotations

import sys
from typing import Any

import httpx

from flowdesk.server.app import read_serve_file
from flowdesk.server.mcp import build_mcp, call_in_thread
from flowdesk.settings import Settings
from flowdesk.storage.store import Store
from flowdesk.tools.context import ToolContext, set_context
from flowdesk.tools.registry import ToolError, ToolSpec


def make_proxy(base_url: str, timeout_s: float = 60.0) -> Any:
    """A tool caller that forwards to a running server's ``/api/tools/{name}``."""
    client = httpx.AsyncClient(base_url=base_url, timeout=timeout_s)

    async def proxy(spec: ToolSpec, args: dict[str, Any]) -> dict[str, Any]:
        try:
            resp = await client.post(f"/api/tools/{spec.name}", json=args)
        except httpx.HTTPError as exc:
            raise ToolError(f"the flowdesk server at {base_url} did not answer: {exc}") from exc
        payload = resp.json()
        if resp.status_code != 200:
            raise ToolError(payload.get("error", f"HTTP {resp.status_code}"))
        return payload

    return proxy


def run_stdio(settings: Settings) -> None:
    """Serve MCP over stdin/stdout until the client closes it."""
    info = read_serve_file(settings.data_dir)
    if info is not None:
        print(f"flowdesk mcp: proxying to the running server at {info['url']}", file=sys.stderr)
        build_mcp(caller=make_proxy(info["url"])).run("stdio")
        return
    if not settings.db_path.exists():
        raise SystemExit(
            f"flowdesk mcp: no database at {settings.db_path} and no server running; "
            "start `flowdesk serve` first or set FLOWDESK_DATA_DIR"
        )
    store = Store(settings.db_path, read_only=True)
    print(f"flowdesk mcp: reading {settings.db_path} (read-only, no collector)", file=sys.stderr)
    set_context(ToolContext(settings=settings, connection=store.connection, live=None))
    try:
        build_mcp(caller=call_in_thread).run("stdio")
    finally:
        store.close()
