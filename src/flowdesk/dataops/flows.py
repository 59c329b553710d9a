"""The data-ops workflows as CrewAI Flows: deterministic steps, no language model.

    validate   check -> record -> remediate (dedupe, book resync, escalations)
               -> router: feeds down or symbols stale? -> reconnect
    fill_gaps  re-fetch missing trades and candles over REST (interpolate only if configured)
    reconnect  reconnect the feeds whose issues are open
    maintain   plan (retention, pruning, statistics, checkpoint) -> apply or propose

Each step calls :class:`~flowdesk.dataops.engine.DataOps`; the flow's state counts what
happened so a flow can be inspected after ``kickoff()``. Flows run with their console events
suppressed (they run every few minutes inside the server).
"""

from __future__ import annotations

from typing import Any

from crewai.flow.flow import Flow, listen, router, start
from pydantic import BaseModel, PrivateAttr

from flowdesk.dataops.model import RunInfo

FEED_KINDS = ["symbol_stale", "feed_down"]


class DataOpsState(BaseModel):
    """What one flow did."""

    findings: int = 0
    actions: int = 0
    reconnects_planned: int = 0
    route: str = ""


class _EngineFlow(Flow[DataOpsState]):
    _engine: Any = PrivateAttr(default=None)
    _run: Any = PrivateAttr(default=None)

    def __init__(self, engine: Any, run: RunInfo, **kwargs: Any) -> None:
        super().__init__(suppress_flow_events=True, **kwargs)
        self._engine = engine
        self._run = run


class ValidateFlow(_EngineFlow):
    """Find problems, record them as issues, fix or escalate what validate owns."""

    @start()
    def check(self) -> int:
        self.state.findings = len(self._engine.check(self._run))
        return self.state.findings

    @listen(check)
    def record(self) -> None:
        self._engine.record(self._run)

    @listen(record)
    def remediate(self) -> int:
        self.state.actions += len(self._engine.act(self._run, "validate"))
        return self.state.actions

    @router(remediate)
    def feeds(self) -> str:
        self.state.route = "feeds_down" if self._engine.open_issue_count(FEED_KINDS) else "feeds_ok"
        return self.state.route

    @listen("feeds_down")
    def reconnect(self) -> None:
        planned = self._engine.act(self._run, "reconnect")
        self.state.reconnects_planned = len(planned)
        self.state.actions += len(planned)


class FillGapsFlow(_EngineFlow):
    """Re-fetch what is missing; never overwrite what is stored."""

    @start()
    def fill(self) -> int:
        self.state.actions = len(self._engine.act(self._run, "fill_gaps"))
        return self.state.actions


class ReconnectFlow(_EngineFlow):
    """Reconnect feeds found down or with stale symbols by the latest validation."""

    @start()
    def reconnect(self) -> int:
        self.state.actions = len(self._engine.act(self._run, "reconnect"))
        return self.state.actions


class MaintainFlow(_EngineFlow):
    """Retention, bookkeeping pruning, table statistics and a checkpoint."""

    @start()
    def maintain(self) -> int:
        self.state.actions = len(self._engine.maintain(self._run))
        return self.state.actions


FLOWS: dict[str, type[_EngineFlow]] = {
    "validate": ValidateFlow,
    "fill_gaps": FillGapsFlow,
    "reconnect": ReconnectFlow,
    "maintain": MaintainFlow,
}
