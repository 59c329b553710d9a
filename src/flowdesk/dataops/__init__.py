"""Deterministic data-ops workflows (validate, fill_gaps, reconnect, maintain) behind the
``data_ops`` crew; see docs/crews.md. Their CrewAI Flows run with CrewAI's telemetry and
tracing off (see :mod:`flowdesk.agents`)."""

from flowdesk.agents import quiet_crewai

quiet_crewai()
