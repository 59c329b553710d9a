"""The analytics crew (CrewAI ``@CrewBase``; agents and tasks in ``config/*.yaml``)."""

from __future__ import annotations

from crewai import Agent, Crew, Task
from crewai.project import CrewBase, agent, crew, task

from flowdesk.crews.base import FlowdeskCrew


@CrewBase
class AnalyticsCrew(FlowdeskCrew):
    """Forecasts and market regime for one symbol."""

    crew_name = "analytics"
    agents_config = "config/agents.yaml"
    tasks_config = "config/tasks.yaml"

    @agent
    def forecaster(self) -> Agent:
        return self.make_agent("forecaster")

    @agent
    def regime_analyst(self) -> Agent:
        return self.make_agent("regime_analyst")

    @task
    def forecast_review(self) -> Task:
        return self.make_task("forecast_review")

    @task
    def regime_review(self) -> Task:
        return self.make_task("regime_review")

    @crew
    def crew(self) -> Crew:
        return self.make_crew()
