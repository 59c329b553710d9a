"""CrewAI tools generated from the one tool registry: same names, schemas and descriptions.

:func:`crew_tool` turns a registry tool into a CrewAI ``BaseTool`` whose argument schema is
built from the function's type hints and defaults and whose description is its docstring, as
the MCP server does. Calls go through :func:`flowdesk.agents.calls.invoke` (a caller, forced
arguments, the run's call log). A bad argument or missing data comes back to the agent as
``Error: <message>`` so it can correct itself; nothing is invented.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crewai.tools import BaseTool
from pydantic import PrivateAttr

from flowdesk.agents.calls import Caller, ToolCallLog, args_model, in_process, invoke, to_text
from flowdesk.tools.registry import get_tool


@dataclass
class _Binding:
    """Where a tool's calls go. Shared, not copied, when CrewAI copies agents and tools, so
    every call lands in the run's one log."""

    caller: Caller = in_process
    log: ToolCallLog | None = None
    forced: dict[str, Any] = field(default_factory=dict)

    def __deepcopy__(self, memo: dict[int, Any]) -> _Binding:
        return self


class RegistryTool(BaseTool):
    """A registry tool as a CrewAI tool."""

    _binding: _Binding = PrivateAttr(default_factory=_Binding)

    def _run(self, **kwargs: Any) -> str:
        b = self._binding
        res = invoke(self.name, kwargs, b.caller, b.log, b.forced)
        return f"Error: {res.error}" if res.error is not None else to_text(res.result or {})


def crew_tool(name: str, caller: Caller = in_process, log: ToolCallLog | None = None,
              forced: dict[str, Any] | None = None) -> RegistryTool:
    """The CrewAI tool for registry tool ``name``. ``forced`` arguments override what the agent
    passes (e.g. ``shadow=True`` for ``run_data_ops`` in a shadow run)."""
    spec = get_tool(name)
    tool = RegistryTool(name=spec.name, description=spec.description, args_schema=args_model(name))
    tool._binding = _Binding(caller, log, dict(forced or {}))
    return tool
