"""CrewAI crews (``data_ops``, ``analytics``, ``intelligence``), their YAML, runner, scheduler
and ``flowdesk crew`` CLI; see docs/crews.md. Importing this package does not import crewai;
it switches CrewAI's telemetry and tracing off (see :mod:`flowdesk.agents`)."""

from flowdesk.agents import quiet_crewai

quiet_crewai()
