"""The REST API, generated from the same registry: ``/api/tools`` and ``/api/tools/{name}``.

``GET /api/tools/{name}?arg=value`` or ``POST`` with a JSON object body calls the tool; the
arguments are validated with the same schema MCP uses. Answers: 200 with the tool's JSON,
400 ``{"error": ...}`` for a bad argument or missing data, 404 for an unknown tool.
``/api/{name}`` is a short alias.
"""

from __future__ import annotations

from typing import Any

import orjson
from mcp.server.fastmcp import FastMCP
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from flowdesk.server.mcp import call_in_thread
from flowdesk.tools.registry import REGISTRY, ToolError


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(
        orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS, default=str),
        status_code=status,
        media_type="application/json",
    )


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{loc}: {err.get('msg')} (got {err.get('input')!r})")
    return "; ".join(parts)


def rest_routes(mcp: FastMCP) -> list[Route]:
    """Routes for every tool of ``mcp`` (whose schemas the REST arguments are checked with)."""
    tools = {t.name: t for t in mcp._tool_manager.list_tools()}

    async def list_tools(request: Request) -> Response:
        return json_response(
            [{"name": t.name, "description": t.description, "input_schema": t.parameters} for t in tools.values()]
        )

    async def call(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in tools:
            return json_response({"error": f"unknown tool {name!r}; known: {sorted(tools)}"}, 404)
        args: dict[str, Any] = dict(request.query_params)
        if request.method == "POST":
            body = await request.body()
            try:
                posted = orjson.loads(body) if body.strip() else {}
            except orjson.JSONDecodeError as exc:
                return json_response({"error": f"request body is not JSON: {exc}"}, 400)
            if not isinstance(posted, dict):
                return json_response({"error": "request body must be a JSON object of arguments"}, 400)
            args.update(posted)
        return await _run(name, args)

    async def _run(name: str, args: dict[str, Any]) -> Response:
        meta = tools[name].fn_metadata
        unknown = sorted(set(args) - set(meta.arg_model.model_fields))
        if unknown:
            return json_response({"error": f"{name}: unknown argument(s) {unknown}"}, 400)
        try:
            parsed = meta.arg_model.model_validate(args).model_dump_one_level()
        except ValidationError as exc:
            return json_response({"error": f"{name}: {_validation_message(exc)}"}, 400)
        try:
            return json_response(await call_in_thread(REGISTRY[name], parsed))
        except ToolError as exc:
            return json_response({"error": str(exc)}, 400)

    return [
        Route("/api/tools", list_tools, methods=["GET"]),
        Route("/api/tools/{name}", call, methods=["GET", "POST"]),
        Route("/api/{name}", call, methods=["GET", "POST"]),
    ]
