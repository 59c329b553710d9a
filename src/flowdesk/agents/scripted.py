"""A scripted language model: replays recorded ReAct steps, for tests and dry runs.

CrewAI agents without native function calling speak the ReAct text protocol::

    Thought: I need the snapshot
    Action: get_market_snapshot
    Action Input: {"symbol": "BTCUSDT"}

and finish with ``Final Answer: ...``. :class:`ScriptedLLM` answers each call with the next
recorded step, so a crew runs end to end, calling real registry tools with the recorded
arguments, without a model or a network. It keeps every prompt it received in ``received``.
"""

from __future__ import annotations

from typing import Any

from crewai import BaseLLM
from pydantic import Field


class ScriptExhausted(RuntimeError):
    """The crew asked for more steps than were recorded."""


class ScriptedLLM(BaseLLM):
    """Returns ``steps`` one per call, in order."""

    steps: list[str] = Field(default_factory=list)
    received: list[Any] = Field(default_factory=list)

    def call(self, messages: Any, tools: Any = None, callbacks: Any = None, available_functions: Any = None,
             from_task: Any = None, from_agent: Any = None, response_model: Any = None) -> str:
        self.received.append(messages)
        if not self.steps:
            raise ScriptExhausted(f"no recorded step left for call {len(self.received)}")
        return self.steps.pop(0)

    def supports_function_calling(self) -> bool:
        return False

    def get_context_window_size(self) -> int:
        return 128_000


def react_tool_step(tool: str, args: dict[str, Any], thought: str = "I need data from a tool") -> str:
    """One recorded step that calls ``tool`` with ``args``."""
    import json

    return f"Thought: {thought}\nAction: {tool}\nAction Input: {json.dumps(args)}"


def react_final(answer: str) -> str:
    """The recorded step that ends a task with ``answer``."""
    return f"Thought: I now know the final answer\nFinal Answer: {answer}"
