"""The intelligence crew (CrewAI ``@CrewBase``; agents and tasks in ``config/*.yaml``)."""

from __future__ import annotations

from crewai import Agent, Crew, Task
from crewai.project import CrewBase, agent, crew, task

from flowdesk.crews.base import FlowdeskCrew


@CrewBase
class IntelligenceCrew(FlowdeskCrew):
    """Order flow, risk and the market briefing for one symbol."""

    crew_name = "intelligence"
    agents_config = "config/agents.yaml"
    tasks_config = "config/tasks.yaml"

    @agent
    def flow_analyst(self) -> Agent:
        return self.make_agent("flow_analyst")

    @agent
    def risk_assessor(self) -> Agent:
        return self.make_agent("risk_assessor")

    @agent
    def market_researcher(self) -> Agent:
        return self.make_agent("market_researcher")

    @task
    def flow_analysis(self) -> Task:
        return self.make_task("flow_analysis")

    @task
    def risk_assessment(self) -> Task:
        return self.make_task("risk_assessment")

    @task
    def briefing(self) -> Task:
        return self.make_task("briefing")

    @crew
    def crew(self) -> Crew:
        return self.make_crew()
