"""Agents' building blocks: the LLM from settings, CrewAI tools generated from the registry,
tool callers and the call log, external MCP servers' tools, and a scripted LLM for tests.

Importing this package switches CrewAI's telemetry and tracing off (unless the environment
already says otherwise): with no network, a kickoff would otherwise stall on their lookups.
"""

import os

#: what every process that runs crews or flows needs (also set by the Makefile and the tests)
CREWAI_ENV = {"CREWAI_DISABLE_TELEMETRY": "true", "OTEL_SDK_DISABLED": "true", "CREWAI_TRACING_ENABLED": "false"}


def quiet_crewai() -> None:
    """Set the CrewAI environment variables that are not set yet."""
    for key, value in CREWAI_ENV.items():
        os.environ.setdefault(key, value)


quiet_crewai()
