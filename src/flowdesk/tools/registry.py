"""The one tool registry.

A tool is a plain typed Python function with a docstring, defined in ``tools/<domain>.py`` and
registered with :func:`tool`. The MCP server, the REST API, the dashboard and the CrewAI
adapters are all generated from :data:`REGISTRY`; no tool is wrapped by hand twice.

Tools are read-only. They raise :class:`ToolError` for a bad argument or for data that is
missing, with a message that says what was wrong; they never invent a value.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., dict[str, Any]])

#: modules that define tools; importing them fills the registry
TOOL_MODULES = (
    "flowdesk.tools.market",
    "flowdesk.tools.orderflow",
    "flowdesk.tools.forecasting",
    "flowdesk.tools.quoteflow",
    "flowdesk.tools.crews",
    "flowdesk.tools.features",
    "flowdesk.tools.history",
    "flowdesk.tools.cross",
)


class ToolError(ValueError):
    """A tool could not answer: a bad argument or missing data. The message says which."""


@dataclass(frozen=True)
class ToolSpec:
    name: str
    fn: Callable[..., dict[str, Any]]
    domain: str
    description: str
    read_only: bool = True

    @property
    def title(self) -> str:
        return self.name.replace("_", " ").capitalize()

    def parameters(self) -> dict[str, inspect.Parameter]:
        return dict(inspect.signature(self.fn).parameters)


REGISTRY: dict[str, ToolSpec] = {}


def tool(domain: str) -> Callable[[F], F]:
    """Register ``fn`` as a read-only tool of ``domain``; its docstring is its description."""

    def register(fn: F) -> F:
        doc = inspect.getdoc(fn)
        if not doc:
            raise TypeError(f"tool {fn.__name__} needs a docstring: it is the tool's description")
        if fn.__name__ in REGISTRY and REGISTRY[fn.__name__].fn is not fn:
            raise TypeError(f"tool {fn.__name__} is registered twice")
        REGISTRY[fn.__name__] = ToolSpec(fn.__name__, fn, domain, doc)
        return fn

    return register


def load_tools() -> dict[str, ToolSpec]:
    """Import every tool module and return the filled registry."""
    import importlib

    for module in TOOL_MODULES:
        importlib.import_module(module)
    return REGISTRY


def get_tool(name: str) -> ToolSpec:
    load_tools()
    try:
        return REGISTRY[name]
    except KeyError:
        raise ToolError(f"unknown tool {name!r}; known tools: {sorted(REGISTRY)}") from None


def call_tool(name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    """Call a tool by name with keyword arguments, checking the argument names first."""
    spec = get_tool(name)
    args = dict(arguments or {})
    params = spec.parameters()
    unknown = sorted(set(args) - set(params))
    if unknown:
        raise ToolError(f"{name}: unknown argument(s) {unknown}; accepted: {list(params)}")
    missing = [p for p, v in params.items() if v.default is inspect.Parameter.empty and p not in args]
    if missing:
        raise ToolError(f"{name}: missing required argument(s) {missing}")
    return spec.fn(**args)
