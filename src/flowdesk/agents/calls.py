"""Calling registry tools on behalf of a crew: callers, argument checks, and the call log.

Kept free of crewai so the deterministic crew plans (and ``get_market_briefing``) run without
importing it. A *caller* runs a tool by name:

* :func:`in_process` calls the registry function in this process (``flowdesk serve``, or a
  ``flowdesk crew`` process that opened the database itself);
* :class:`RestCaller` posts to a running server's ``/api/tools/{name}`` (a ``flowdesk crew``
  process while ``flowdesk serve`` holds the database).

:func:`invoke` checks the arguments against the tool's signature, applies *forced* arguments
(``shadow=True`` for ``run_data_ops`` in a shadow run, whatever an agent asked), calls, and
records the call (name, arguments, ok or error, seconds) in a :class:`ToolCallLog`.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from flowdesk.tools.registry import ToolError, call_tool, get_tool

log_ = logging.getLogger(__name__)

#: a tool answer longer than this is cut for the language model (the log keeps its size)
MAX_RESULT_CHARS = 16_000

Caller = Callable[[str, dict[str, Any]], dict[str, Any]]


def in_process(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Call the registry tool in this process."""
    return call_tool(name, args)


class RestCaller:
    """Call tools on a running ``flowdesk serve`` over its REST API."""

    def __init__(self, base_url: str, timeout_s: float = 300.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def __call__(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        try:
            resp = httpx.post(f"{self.base_url}/api/tools/{name}", json=args, timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            raise ToolError(f"flowdesk server at {self.base_url} did not answer: {exc}") from None
        body = orjson.loads(resp.content) if resp.content else {}
        if resp.status_code != 200:
            raise ToolError(str(body.get("error") if isinstance(body, dict) else body))
        return body


@dataclass
class ToolCall:
    name: str
    args: dict[str, Any]
    ok: bool
    error: str | None
    seconds: float
    result_chars: int = 0


@dataclass
class ToolCallLog:
    """Every tool call of one crew run, in order (thread-safe)."""

    calls: list[ToolCall] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, call: ToolCall) -> None:
        with self._lock:
            self.calls.append(call)

    def as_list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(c.__dict__) for c in self.calls]

    def __deepcopy__(self, memo: dict[int, Any]) -> ToolCallLog:
        return self  # CrewAI copies agents and tools; every copy must log into the run's one log


@cache
def args_model(name: str) -> type[BaseModel]:
    """A pydantic model of tool ``name``'s parameters (type hints, defaults, no extra keys)."""
    spec = get_tool(name)
    hints = typing.get_type_hints(spec.fn)
    fields: dict[str, Any] = {}
    for pname, p in inspect.signature(spec.fn).parameters.items():
        default = ... if p.default is inspect.Parameter.empty else p.default
        fields[pname] = (hints.get(pname, Any), Field(default=default))
    return create_model(f"{spec.name}_args", __config__=ConfigDict(extra="forbid"), **fields)


def to_text(result: dict[str, Any]) -> str:
    """The tool's JSON for the language model, cut at :data:`MAX_RESULT_CHARS`."""
    text = orjson.dumps(result, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY, default=str).decode()
    if len(text) > MAX_RESULT_CHARS:
        return text[:MAX_RESULT_CHARS] + f" ... [truncated: {len(text)} characters in all; ask for less]"
    return text


@dataclass
class CallResult:
    tool: str
    args: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


def invoke(name: str, args: dict[str, Any], caller: Caller = in_process, log: ToolCallLog | None = None,
           forced: dict[str, Any] | None = None) -> CallResult:
    """Validate, call and log one tool call; a bad argument or a ToolError is an error result."""
    started = time.perf_counter()
    try:
        parsed = args_model(name).model_validate(args).model_dump(exclude_unset=True)
    except ValidationError as exc:
        return _done(CallResult(name, args, None, f"invalid arguments: {exc.errors(include_url=False)}"), log, started)
    params = get_tool(name).parameters()
    final = {**parsed, **{k: v for k, v in (forced or {}).items() if k in params}}
    try:
        return _done(CallResult(name, final, caller(name, final), None), log, started)
    except ToolError as exc:
        return _done(CallResult(name, final, None, str(exc)), log, started)
    except Exception as exc:  # a tool bug must reach the log and the agent, not end the crew
        log_.exception("tool %s failed", name)
        return _done(CallResult(name, final, None, f"internal error: {type(exc).__name__}: {exc}"), log, started)


def _done(res: CallResult, log: ToolCallLog | None, started: float) -> CallResult:
    if log is not None:
        size = len(to_text(res.result)) if res.result is not None else 0
        log.add(ToolCall(res.tool, res.args, res.ok, res.error, round(time.perf_counter() - started, 4), size))
    return res
