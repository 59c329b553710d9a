"""Bookkeeping of the data-ops workflows and crews: issues, actions, escalations, runs.

All of it lives in tables of migration 4 that only these workflows write (``quality_issues``,
``agent_actions``, ``escalations``, ``interpolations``, ``crew_runs``), through short
transactions on the journal's own cursor of the store's connection. Market-data tables are
never written here. A run writes a handful of rows, so plain statements are used; bulk rows
(interpolated candles) go through Arrow in :mod:`flowdesk.dataops.fixes`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import duckdb

from flowdesk.dataops.model import Action, Finding, RunInfo, dumps, new_id, now_utc

Cover = tuple[str | None, str | None, str, str | None]  # exchange, market, kind, stream


class Journal:
    """Reads and writes the bookkeeping tables on its own cursor (one thread at a time)."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self._cur = connection.cursor()
        self._lock = threading.Lock()

    def close(self) -> None:
        self._cur.close()

    @contextlib.contextmanager
    def tx(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short transaction on the journal's cursor, rolled back on any error."""
        with self._lock:
            self._cur.execute("BEGIN TRANSACTION")
            try:
                yield self._cur
                self._cur.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    self._cur.execute("ROLLBACK")
                raise

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        """Rows as dicts (read-only helper for reports)."""
        with self._lock:
            res = self._cur.execute(sql, list(params or []))
            names = [d[0] for d in res.description]
            return [dict(zip(names, row, strict=True)) for row in res.fetchall()]

    # -- runs ---------------------------------------------------------------------------

    def start_run(self, crew: str, workflow: str | None, mode: str, trigger: str, llm: str,
                  inputs: dict[str, Any], run_id: str | None = None) -> str:
        run_id = run_id or new_id("run")
        with self.tx() as cur:
            cur.execute(
                "INSERT INTO crew_runs VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, NULL, NULL, NULL, NULL)",
                [run_id, crew, workflow, mode, trigger, llm, dumps(inputs), now_utc()],
            )
        return run_id

    def finish_run(self, run_id: str, status: str, summary: dict[str, Any] | None = None,
                   output: str | None = None, error: str | None = None) -> None:
        with self.tx() as cur:
            cur.execute(
                "UPDATE crew_runs SET status = ?, finished_ts = ?, summary = ?, output = ?, error = ? WHERE run_id = ?",
                [status, now_utc(), dumps(summary or {}), output, error, run_id],
            )

    # -- issues -------------------------------------------------------------------------

    def record_findings(self, run: RunInfo, findings: list[Finding], covers: list[Cover]) -> tuple[dict[str, str], list[str]]:
        """Insert new issues, refresh the ones seen again, resolve covered ones not found.

        Returns fingerprint -> issue_id for this run's findings, and the ids resolved.
        """
        now = now_utc()
        ids: dict[str, str] = {}
        resolved: list[str] = []
        with self.tx() as cur:
            open_rows = cur.execute(
                "SELECT issue_id, fingerprint, exchange, market, kind, stream FROM quality_issues WHERE status = 'open'"
            ).fetchall()
            by_fp = {fp: iid for iid, fp, *_ in open_rows}
            for f in findings:
                if f.fingerprint in ids:
                    continue
                iid = by_fp.get(f.fingerprint)
                if iid is None:
                    iid = new_id("iss")
                    cur.execute(
                        "INSERT INTO quality_issues VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, NULL, 1, ?)",
                        [iid, f.fingerprint, f.kind, f.severity, f.exchange, f.market, f.symbol, f.stream,
                         f.summary, dumps(f.evidence), now, now, run.run_id],
                    )
                else:
                    cur.execute(
                        "UPDATE quality_issues SET severity = ?, summary = ?, evidence = ?, last_seen_ts = ?, "
                        "seen_count = seen_count + 1, run_id = ? WHERE issue_id = ?",
                        [f.severity, f.summary, dumps(f.evidence), now, run.run_id, iid],
                    )
                ids[f.fingerprint] = iid
            found = set(ids)
            for iid, fp, ex, mk, kind, stream in open_rows:
                if fp not in found and _covered((ex, mk, kind, stream), covers):
                    cur.execute(
                        "UPDATE quality_issues SET status = 'resolved', closed_ts = ?, run_id = ? WHERE issue_id = ?",
                        [now, run.run_id, iid],
                    )
                    resolved.append(iid)
        return ids, resolved

    def set_issue_status(self, issue_ids: list[str], status: str, run_id: str) -> None:
        """Close issues as ``fixed`` (by an action) or ``resolved``."""
        if not issue_ids:
            return
        with self.tx() as cur:
            for iid in issue_ids:
                cur.execute(
                    "UPDATE quality_issues SET status = ?, closed_ts = ?, run_id = ? WHERE issue_id = ? AND status = 'open'",
                    [status, now_utc(), run_id, iid],
                )

    def open_issues(self, kinds: Sequence[str]) -> list[dict[str, Any]]:
        marks = ", ".join("?" for _ in kinds)
        return self.query(
            f"SELECT * FROM quality_issues WHERE status = 'open' AND kind IN ({marks}) ORDER BY first_seen_ts",
            list(kinds),
        )

    # -- actions and escalations ----------------------------------------------------------

    def record_action(self, run: RunInfo, workflow: str, action: Action) -> None:
        """Store an action; a shadow proposal identical to one still pending is counted, not
        repeated (the same gap proposed every five minutes is one row)."""
        now = now_utc()
        issue = action.issue_ids[0] if action.issue_ids else None
        params, evidence = dumps(action.params), dumps({**action.evidence, "issue_ids": action.issue_ids})
        with self.tx() as cur:
            if action.status == "proposed":
                row = cur.execute(
                    "SELECT action_id FROM agent_actions WHERE status = 'proposed' AND mode = 'shadow' AND kind = ? "
                    "AND exchange IS NOT DISTINCT FROM ? AND market IS NOT DISTINCT FROM ? "
                    "AND symbol IS NOT DISTINCT FROM ? AND params = ? LIMIT 1",
                    [action.kind, action.exchange, action.market, action.symbol, params],
                ).fetchone()
                if row is not None:
                    action.action_id = row[0]
                    cur.execute(
                        "UPDATE agent_actions SET proposed_count = proposed_count + 1, updated_ts = ?, run_id = ?, "
                        "evidence = ?, issue_id = ? WHERE action_id = ?",
                        [now, run.run_id, evidence, issue, row[0]],
                    )
                    return
            cur.execute(
                "INSERT INTO agent_actions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
                [action.action_id, run.run_id, workflow, action.kind, issue, action.exchange, action.market,
                 action.symbol, run.mode, action.status, params, evidence, dumps(action.outcome), now, now],
            )

    def escalate(self, run: RunInfo, action: Action, reason: str) -> str:
        """Open an escalation for the action's issue (or refresh the open one); returns its id."""
        now = now_utc()
        issue = action.issue_ids[0] if action.issue_ids else None
        f = action.findings[0] if action.findings else None
        with self.tx() as cur:
            row = cur.execute(
                "SELECT escalation_id FROM escalations WHERE status = 'open' AND issue_id IS NOT DISTINCT FROM ? "
                "AND kind = ? LIMIT 1",
                [issue, f.kind if f else action.kind],
            ).fetchone()
            if row is not None:
                cur.execute("UPDATE escalations SET updated_ts = ?, reason = ?, run_id = ? WHERE escalation_id = ?",
                            [now, reason, run.run_id, row[0]])
                return str(row[0])
            eid = new_id("esc")
            cur.execute(
                "INSERT INTO escalations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?)",
                [eid, run.run_id, issue, f.kind if f else action.kind, f.severity if f else "error",
                 action.exchange, action.market, action.symbol, reason, dumps(action.evidence), now, now],
            )
            return eid

    def resolve_escalations(self, issue_ids: list[str]) -> None:
        """Close the open escalations of issues that are no longer open."""
        if not issue_ids:
            return
        with self.tx() as cur:
            for iid in issue_ids:
                cur.execute(
                    "UPDATE escalations SET status = 'resolved', updated_ts = ? WHERE status = 'open' AND issue_id = ?",
                    [now_utc(), iid],
                )


def _covered(issue: tuple[Any, Any, str, Any], covers: list[Cover]) -> bool:
    ex, mk, kind, stream = issue
    for cex, cmk, ckind, cstream in covers:
        if ckind != kind or (cstream is not None and cstream != stream):
            continue
        if cex is None or (cex, cmk) == (ex, mk):
            return True
    return False
