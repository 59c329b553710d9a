"""What the three ``@CrewBase`` crews share: checked YAML, registry tools, the LLM, MCP servers.

CrewAI's ``@CrewBase`` loads ``config/agents.yaml`` and ``config/tasks.yaml`` beside the crew's
module and maps each agent's ``tools`` names to methods marked ``is_tool``. This mixin checks
the YAML first (:func:`~flowdesk.crews.config.load_crew_config`: an unknown tool fails with a
message naming the file, the agent and the known tools) and then offers one tool factory per
registry tool the YAML names, so every agent gets CrewAI tools generated from the registry.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, ClassVar

from crewai import Agent, Crew, Process, Task

from flowdesk.agents.calls import Caller, ToolCallLog, in_process
from flowdesk.agents.mcp import tools_for
from flowdesk.agents.tools import crew_tool
from flowdesk.crews.config import CrewConfig, load_crew_config
from flowdesk.crews.settings import McpServerSettings

#: the most reasoning steps an agent takes for one task
MAX_ITER = 8


class FlowdeskCrew:
    """Mixin of the crew classes; ``crew_name`` names the folder under ``flowdesk/crews``."""

    crew_name: ClassVar[str] = ""
    #: folder holding ``config/`` (default: the crew's package folder)
    config_base: ClassVar[Path | None] = None

    def __init__(self, llm: Any, caller: Caller = in_process, log: ToolCallLog | None = None,
                 shadow: bool = True, mcp_servers: tuple[McpServerSettings, ...] = ()) -> None:
        self.flowdesk_config: CrewConfig = load_crew_config(self.crew_name, self.config_base)
        self.llm = llm
        self.tool_log = log if log is not None else ToolCallLog()
        self.mcp_servers = mcp_servers
        forced = {"shadow": shadow}
        for name in self.flowdesk_config.tool_names():
            factory = functools.partial(crew_tool, name, caller, self.tool_log, forced)
            factory.is_tool = True  # type: ignore[attr-defined]  # what @CrewBase maps YAML names to
            setattr(self, name, factory)

    def make_agent(self, name: str) -> Agent:
        config = self.agents_config[name]  # type: ignore[attr-defined]
        tools = [*(config.get("tools") or []), *tools_for(name, self.mcp_servers, self.tool_log)]
        return Agent(config=config, tools=tools, llm=self.llm, allow_delegation=False, verbose=False,
                     max_iter=MAX_ITER)

    def make_task(self, name: str) -> Task:
        cfg = {k: v for k, v in self.tasks_config[name].items() if k != "calls"}  # type: ignore[attr-defined]
        return Task(config=cfg, name=name)

    def make_crew(self) -> Crew:
        return Crew(agents=self.agents, tasks=self.tasks, process=Process.sequential, verbose=False)  # type: ignore[attr-defined]
