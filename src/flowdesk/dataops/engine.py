"""The data-ops engine: validate, fill gaps, reconnect, maintain; in shadow or live mode.

One run executes the requested workflows (each a CrewAI Flow, :mod:`flowdesk.dataops.flows`)
and returns a summary. It is deterministic: SQL checks, a fixed plan per issue kind, and
fixes that only add missing data or remove exact duplicates. One run at a time per process.

Where it runs: inside ``flowdesk serve`` on a worker thread, with the collector's writer and
live state (``live`` = the streaming Controller); or on a store opened by ``flowdesk crew``
when no server holds the database (no live state: feed checks are skipped, reconnects and
book resyncs are escalated).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from typing import Any

import duckdb

from flowdesk.dataops import checks
from flowdesk.dataops.fixes import Fixer, live_error
from flowdesk.dataops.health import health_score
from flowdesk.dataops.journal import Cover, Journal
from flowdesk.dataops.live import LiveHookMissing, LiveOps
from flowdesk.dataops.maintain import apply_maintenance, plan_maintenance
from flowdesk.dataops.model import WORKFLOWS, Action, Finding, RunInfo, new_id, plain
from flowdesk.dataops.plan import issue_kinds, plan
from flowdesk.dataops.rest import FetchError
from flowdesk.dataops.scope import venue_scopes
from flowdesk.settings import Settings

log = logging.getLogger(__name__)

_RUN_LOCK = threading.Lock()
#: actions whose success is checked against the data right after they are applied
_VERIFIED = frozenset({"backfill_trades", "refetch_candles", "dedupe_rows"})
MAX_SUMMARY_ITEMS = 100


class DataOpsBusy(RuntimeError):
    """Another data-ops run is in progress in this process."""


class DataOps:
    """Runs the workflows over one store. ``live``: the collector in this process, or None."""

    def __init__(self, settings: Settings, connection: duckdb.DuckDBPyConnection, live: Any = None,
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.settings = settings
        self.cfg = settings.crews.dataops
        self.connection = connection
        self.live = LiveOps(live, loop)
        self.journal = Journal(connection)
        self._fixer: Fixer | None = None

    def close(self) -> None:
        self.journal.close()

    # -- a run ----------------------------------------------------------------------------

    def run(self, workflows: list[str] | tuple[str, ...] = ("validate", "fill_gaps"), shadow: bool = True,
            trigger: str = "tool", crew: str = "data_ops") -> dict[str, Any]:
        """Run the workflows in their natural order; returns the run summary."""
        unknown = sorted(set(workflows) - set(WORKFLOWS))
        if unknown or not workflows:
            raise ValueError(f"unknown workflow(s) {unknown or list(workflows)}; known: {list(WORKFLOWS)}")
        if not _RUN_LOCK.acquire(blocking=False):
            raise DataOpsBusy("a data-ops run is already in progress in this process")
        run = RunInfo(new_id("run"), shadow, trigger, workflows=[w for w in WORKFLOWS if w in workflows])
        try:
            self.journal.start_run(crew, ",".join(run.workflows), run.mode, trigger, "none",
                                   {"workflows": run.workflows, "shadow": shadow}, run.run_id)
            try:
                self._run_flows(run)
            except Exception as exc:
                self.journal.finish_run(run.run_id, "failed", error=f"{type(exc).__name__}: {exc}")
                raise
            summary = self.summary(run)
            self.journal.finish_run(run.run_id, "ok", summary)
            return summary
        finally:
            if self._fixer is not None:
                self._fixer.close()
                self._fixer = None
            _RUN_LOCK.release()

    def _run_flows(self, run: RunInfo) -> None:
        from flowdesk.dataops.flows import FLOWS  # crewai is imported only when a run happens

        for name in run.workflows:
            if name == "reconnect" and "validate" in run.workflows:
                continue  # validate's router already ran the reconnect step
            FLOWS[name](self, run).kickoff()

    # -- validate -------------------------------------------------------------------------

    def check(self, run: RunInfo) -> list[Finding]:
        """Run every check; keep the findings and what each check covered on ``run``."""
        run.scopes = venue_scopes(self.settings, self.live.live, self.cfg)
        found: list[Finding] = []
        covers: list[Cover] = []
        cur = self.connection.cursor()
        try:
            for s in run.scopes:
                for name, fn in checks.VENUE_CHECKS.items():
                    found += fn(cur, s, self.cfg)
                    run.checks[name] = "ran"
                    covers += [(s.exchange, s.market, k, st) for k, st in checks.CHECK_COVERS[name]]
            found += self._cross_venue(cur, run, covers)
        finally:
            cur.close()
        found += self._live_checks(run, covers)
        run.findings = found
        run.covers = covers
        return found

    def _cross_venue(self, cur: duckdb.DuckDBPyConnection, run: RunInfo, covers: list[Cover]) -> list[Finding]:
        if len(run.scopes) < 2:
            run.checks["price_outliers"] = "skipped: needs two venues or more"
            return []
        run.checks["price_outliers"] = "ran"
        covers += [(None, None, k, st) for k, st in checks.CHECK_COVERS["price_outliers"]]
        return checks.price_outliers(cur, run.scopes, self.cfg)

    def _live_checks(self, run: RunInfo, covers: list[Cover]) -> list[Finding]:
        if not self.live.running:
            run.checks["live_feeds"] = run.checks["live_books"] = "skipped: no collector in this process"
            return []
        try:
            status = self.live.feed_status()
        except LiveHookMissing as exc:
            run.checks["live_feeds"] = run.checks["live_books"] = f"skipped: {exc}"
            return []
        out: list[Finding] = []
        for s in run.scopes:
            out += checks.live_feeds(status, s, self.cfg)
            out += checks.live_books(self.live.book_top, s)
            for name in ("live_feeds", "live_books"):
                covers += [(s.exchange, s.market, k, st) for k, st in checks.CHECK_COVERS[name]]
        run.checks["live_feeds"] = run.checks["live_books"] = "ran"
        return out

    def record(self, run: RunInfo) -> None:
        ids, resolved = self.journal.record_findings(run, run.findings, run.covers)
        run.issue_ids.update(ids)
        self.journal.resolve_escalations(resolved)

    def open_issue_count(self, kinds: list[str]) -> int:
        return len(self.journal.open_issues(kinds))

    # -- act ------------------------------------------------------------------------------

    def act(self, run: RunInfo, workflow: str) -> list[Action]:
        """Plan the workflow's actions from the open issues; propose (shadow) or apply (live)."""
        if not run.scopes:
            run.scopes = venue_scopes(self.settings, self.live.live, self.cfg)
        actions = plan(workflow, self.journal.open_issues(issue_kinds(workflow)), run.scopes)
        for action in actions:
            self._propose_or_apply(run, workflow, action)
        return actions

    def maintain(self, run: RunInfo) -> list[Action]:
        actions = plan_maintenance(self.connection, self.settings, self.live.retention_enabled)
        for action in actions:
            if not run.shadow and action.status == "pending":
                apply_maintenance(self.connection, self.settings, self.live.writer(), action)
            elif action.status == "pending":
                action.status = "proposed"
            self.journal.record_action(run, "maintain", action)
            run.actions.append(action)
        return actions

    def _propose_or_apply(self, run: RunInfo, workflow: str, action: Action) -> None:
        if run.shadow:
            action.status = "proposed"
        else:
            self._apply(run, action)
        self.journal.record_action(run, workflow, action)
        run.actions.append(action)

    def _fixer_for_run(self) -> Fixer:
        if self._fixer is None:
            self._fixer = Fixer(self.settings, self.connection, self.live)
        return self._fixer

    def _apply(self, run: RunInfo, action: Action) -> None:
        fixer = self._fixer_for_run()
        try:
            if action.kind == "escalate":
                eid = self.journal.escalate(run, action, _reason(action))
                action.status, action.outcome = "escalated", {"escalation_id": eid}
                return
            if action.kind == "refetch_candles":
                fixer.refetch_candles(action, run)
            else:
                getattr(fixer, action.kind)(action)
        except (LiveHookMissing, FetchError, duckdb.Error, TimeoutError, OSError) as exc:
            action.status, action.outcome = ("escalated" if isinstance(exc, LiveHookMissing) else "failed"), live_error(exc)
        except Exception as exc:  # a fix must never take the run down
            log.exception("data-ops action %s failed", action.kind)
            action.status, action.outcome = "failed", live_error(exc)
        self._after_apply(run, action)

    def _after_apply(self, run: RunInfo, action: Action) -> None:
        if action.status == "applied" and action.kind in _VERIFIED:
            self.journal.set_issue_status(action.issue_ids, "fixed", run.run_id)
            self.journal.resolve_escalations(action.issue_ids)
        elif action.status in ("partial", "failed", "escalated"):
            eid = self.journal.escalate(run, action, _reason(action))
            action.outcome["escalation_id"] = eid

    # -- summary --------------------------------------------------------------------------

    def summary(self, run: RunInfo) -> dict[str, Any]:
        cur = self.connection.cursor()
        try:
            health = health_score(cur, self.settings)
        finally:
            cur.close()
        findings = [{**f.as_dict(), "issue_id": run.issue_ids.get(f.fingerprint)} for f in run.findings]
        return plain({
            "run_id": run.run_id,
            "mode": run.mode,
            "trigger": run.trigger,
            "workflows": run.workflows,
            "checks": run.checks,
            "clocks": {s.venue: {"clock": s.clock, "now": s.now, "window_start": s.since} for s in run.scopes},
            "findings": {
                "total": len(run.findings),
                "by_kind": dict(Counter(f.kind for f in run.findings)),
                "by_severity": dict(Counter(f.severity for f in run.findings)),
                "items": findings[:MAX_SUMMARY_ITEMS],
            },
            "actions": {
                "total": len(run.actions),
                "by_status": dict(Counter(a.status for a in run.actions)),
                "items": [_brief(a) for a in run.actions[:MAX_SUMMARY_ITEMS]],
            },
            "health": health,
            "truncated": len(run.findings) > MAX_SUMMARY_ITEMS or len(run.actions) > MAX_SUMMARY_ITEMS,
        })


def _brief(action: Action) -> dict[str, Any]:
    d = action.as_dict()
    d["evidence"] = {"findings": [f.summary for f in action.findings]} if action.findings else action.evidence
    return d


def _reason(action: Action) -> str:
    if action.kind == "escalate":
        f = action.findings[0] if action.findings else None
        return f"no workflow can fix {f.kind if f else 'this'}: {f.summary if f else ''}".strip()
    error = action.outcome.get("error")
    if error:
        return f"{action.kind} {action.status}: {error}"
    fetch_error = action.outcome.get("fetch_error")
    if fetch_error:
        return f"{action.kind} {action.status}: {fetch_error} ({action.outcome.get('still_missing')} still missing)"
    return f"{action.kind} {action.status}: {action.outcome}"
