"""Loading and checking a crew's YAML: ``crews/<name>/config/agents.yaml`` and ``tasks.yaml``.

The files are the CrewAI ones (agents: ``role``, ``goal``, ``backstory``, ``tools`` by registry
name; tasks: ``description``, ``expected_output``, ``agent``, ``context``) plus one flowdesk
key per task, ``calls``: the tool calls that make up the task's deterministic plan, run when no
language model is configured (and by ``get_market_briefing``)::

    calls:
      - tool: get_orderflow_metrics
        args: {symbol: "{symbol}", timeframe: 5m, max_bars: 24}

Everything is checked when the crew loads, and a mistake raises :class:`CrewConfigError` naming
the file, the entry and what is wrong (an unknown tool lists the known ones).
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from flowdesk.tools.registry import load_tools

CREWS_DIR = Path(__file__).resolve().parent
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class CrewConfigError(ValueError):
    """A crew's YAML names something that does not exist or misses a required key."""


@dataclass(frozen=True)
class ToolCallPlan:
    tool: str
    args: dict[str, Any]

    def resolve(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """The arguments with ``{input}`` placeholders filled in (a whole-value placeholder keeps
        the input's type)."""
        return {k: _fill(v, inputs) for k, v in self.args.items()}


@dataclass(frozen=True)
class CrewConfig:
    name: str
    agents: dict[str, dict[str, Any]]
    tasks: dict[str, dict[str, Any]]

    def calls(self, task: str) -> list[ToolCallPlan]:
        return [ToolCallPlan(c["tool"], dict(c.get("args") or {})) for c in self.tasks[task].get("calls") or []]

    def tool_names(self) -> set[str]:
        return {t for a in self.agents.values() for t in a.get("tools") or []}

    def inputs(self) -> set[str]:
        """Placeholders used by the tasks (``{symbol}``...): the inputs a run needs."""
        text = yaml.safe_dump(self.tasks)
        return set(_PLACEHOLDER.findall(text))


def _fill(value: Any, inputs: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value)
        if whole and whole.group(1) in inputs:
            return inputs[whole.group(1)]
        return _PLACEHOLDER.sub(lambda m: str(inputs.get(m.group(1), m.group(0))), value)
    if isinstance(value, list):
        return [_fill(v, inputs) for v in value]
    return value


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CrewConfigError(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CrewConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not data:
        raise CrewConfigError(f"{path}: expected a mapping of names to entries")
    return data


def _require(where: str, entry: Any, keys: tuple[str, ...]) -> None:
    if not isinstance(entry, dict):
        raise CrewConfigError(f"{where}: expected a mapping")
    for key in keys:
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise CrewConfigError(f"{where}: '{key}' is missing or empty")


def _check_agents(path: Path, agents: dict[str, Any], known: dict[str, Any]) -> None:
    for name, entry in agents.items():
        where = f"{path}: agent '{name}'"
        _require(where, entry, ("role", "goal", "backstory"))
        tools = entry.get("tools") or []
        if not isinstance(tools, list):
            raise CrewConfigError(f"{where}: 'tools' must be a list of tool names")
        for tool in tools:
            if tool not in known:
                raise CrewConfigError(f"{where} names unknown tool {tool!r}; known tools: {sorted(known)}")


def _check_calls(where: str, task: dict[str, Any], agent: dict[str, Any], known: dict[str, Any]) -> None:
    calls = task.get("calls") or []
    if not isinstance(calls, list):
        raise CrewConfigError(f"{where}: 'calls' must be a list of {{tool, args}}")
    for i, call in enumerate(calls):
        here = f"{where} calls[{i}]"
        if not isinstance(call, dict) or call.get("tool") not in known:
            name = call.get("tool") if isinstance(call, dict) else call
            raise CrewConfigError(f"{here}: unknown tool {name!r}; known tools: {sorted(known)}")
        if call["tool"] not in (agent.get("tools") or []):
            raise CrewConfigError(f"{here}: tool {call['tool']!r} is not among the agent's tools {agent.get('tools')}")
        params = inspect.signature(known[call["tool"]].fn).parameters
        args = call.get("args") or {}
        unknown = sorted(set(args) - set(params))
        if unknown:
            raise CrewConfigError(f"{here}: {call['tool']} has no argument(s) {unknown}; accepted: {list(params)}")
        missing = [p for p, v in params.items() if v.default is inspect.Parameter.empty and p not in args]
        if missing:
            raise CrewConfigError(f"{here}: {call['tool']} needs argument(s) {missing}")


def _check_tasks(path: Path, tasks: dict[str, Any], agents: dict[str, Any], known: dict[str, Any]) -> None:
    seen: list[str] = []
    for name, entry in tasks.items():
        where = f"{path}: task '{name}'"
        _require(where, entry, ("description", "expected_output", "agent"))
        if entry["agent"] not in agents:
            raise CrewConfigError(f"{where}: unknown agent {entry['agent']!r}; agents: {sorted(agents)}")
        for ctx in entry.get("context") or []:
            if ctx not in seen:
                raise CrewConfigError(f"{where}: context task {ctx!r} is not defined before it")
        _check_calls(where, entry, agents[entry["agent"]], known)
        seen.append(name)


def load_crew_config(name: str, base: Path | None = None) -> CrewConfig:
    """Read and check crew ``name``'s YAML files (under ``base``, default the package)."""
    folder = (base or CREWS_DIR / name) / "config"
    known = load_tools()
    agents_path, tasks_path = folder / "agents.yaml", folder / "tasks.yaml"
    agents, tasks = _read(agents_path), _read(tasks_path)
    _check_agents(agents_path, agents, known)
    _check_tasks(tasks_path, tasks, agents, known)
    return CrewConfig(name, agents, tasks)
