"""Running a crew: with a language model (CrewAI kickoff) or without one (deterministic plan).

Both paths use the same registry tools through the same caller and call log, force
``run_data_ops`` into the run's mode (a shadow run can never apply a fix, whatever an agent
asks), and record the run in ``crew_runs`` when a journal is given (``flowdesk serve``, or a
``flowdesk crew`` process that holds the database).
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from typing import Any

from flowdesk.agents.calls import Caller, ToolCallLog, in_process
from flowdesk.crews.catalog import crew_info, render_plan, resolve_inputs, run_plan
from flowdesk.crews.config import load_crew_config
from flowdesk.dataops.journal import Journal
from flowdesk.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class CrewRun:
    crew: str
    mode: str
    llm: str
    inputs: dict[str, Any]
    output: str = ""
    status: str = "ok"
    run_id: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def summary(self) -> dict[str, Any]:
        return {"mode": self.mode, "llm": self.llm, "tasks": self.tasks, "tool_calls": self.tool_calls}


def llm_label(llm: Any) -> str:
    if llm is None:
        return "none"
    provider = getattr(llm, "provider", None)
    model = getattr(llm, "model", type(llm).__name__)
    return f"{provider}/{model}" if provider and "/" not in str(model) else str(model)


def run_crew(name: str, settings: Settings, *, shadow: bool = True, inputs: dict[str, Any] | None = None,
             llm: Any = None, caller: Caller = in_process, journal: Journal | None = None,
             trigger: str = "cli") -> CrewRun:
    """Run crew ``name``; ``llm=None`` runs its deterministic plan and renders the template."""
    info = crew_info(name)
    config = load_crew_config(name)
    args = resolve_inputs(config, settings, dict(inputs or {}))
    mode = "shadow" if shadow else "live"
    run = CrewRun(name, mode, llm_label(llm), args)
    if journal is not None:
        run.run_id = journal.start_run(name, None, mode, trigger, run.llm, args)
    calls = ToolCallLog()
    try:
        if llm is None:
            results = run_plan(config, args, caller, calls, {"shadow": shadow})
            run.output = render_plan(info, {**args, "mode": mode}, results)
            run.tasks = [{"name": t, "calls": [c.tool for c in config.calls(t)]} for t in config.tasks]
        else:
            _kickoff(info.module, info.cls, run, llm, caller, calls, shadow, settings)
    except Exception as exc:
        run.status, run.error = "failed", f"{type(exc).__name__}: {exc}"
        log.exception("crew %s failed", name)
    run.tool_calls = calls.as_list()
    if journal is not None and run.run_id is not None:
        journal.finish_run(run.run_id, run.status, run.summary(), run.output or None, run.error)
    return run


def _kickoff(module: str, cls_name: str, run: CrewRun, llm: Any, caller: Caller, calls: ToolCallLog,
             shadow: bool, settings: Settings) -> None:
    cls = getattr(importlib.import_module(module), cls_name)
    crew = cls(llm=llm, caller=caller, log=calls, shadow=shadow, mcp_servers=settings.crews.mcp_servers).crew()
    out = crew.kickoff(inputs=run.inputs)
    run.output = str(out.raw)
    run.tasks = [{"name": t.name, "agent": t.agent, "output": str(t.raw)[:2000]} for t in out.tasks_output]
