"""The data_ops crew (CrewAI ``@CrewBase``; agents and tasks in ``config/*.yaml``)."""

from __future__ import annotations

from crewai import Agent, Crew, Task
from crewai.project import CrewBase, agent, crew, task

from flowdesk.crews.base import FlowdeskCrew


@CrewBase
class DataOpsCrew(FlowdeskCrew):
    """Keeps the collected data complete and clean; the work is done by the data-ops flows."""

    crew_name = "data_ops"
    agents_config = "config/agents.yaml"
    tasks_config = "config/tasks.yaml"

    @agent
    def collector(self) -> Agent:
        return self.make_agent("collector")

    @agent
    def validator(self) -> Agent:
        return self.make_agent("validator")

    @agent
    def cleaner(self) -> Agent:
        return self.make_agent("cleaner")

    @agent
    def schema_manager(self) -> Agent:
        return self.make_agent("schema_manager")

    @task
    def collect_status(self) -> Task:
        return self.make_task("collect_status")

    @task
    def validate_data(self) -> Task:
        return self.make_task("validate_data")

    @task
    def fill_gaps(self) -> Task:
        return self.make_task("fill_gaps")

    @task
    def storage_review(self) -> Task:
        return self.make_task("storage_review")

    @crew
    def crew(self) -> Crew:
        return self.make_crew()
