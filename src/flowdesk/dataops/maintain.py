"""The daily ``maintain`` workflow: retention, bookkeeping pruning, table statistics, checkpoint.

Each step is an action with evidence (rows that would be deleted, tables analysed), proposed
in shadow mode and applied in live mode. Retention uses the storage module's own function
(``apply_retention``), which only deletes rows older than ``retention_days``; when the server
runs with retention off (replaying an old capture) the step is skipped and says why.
"""

from __future__ import annotations

from typing import Any

import duckdb

from flowdesk.dataops.model import Action
from flowdesk.settings import Settings
from flowdesk.storage.retention import apply_retention, retention_cutoff
from flowdesk.storage.schema import RETENTION_COLUMNS

#: bookkeeping rows pruned once older than the retention cutoff (open ones are kept)
_PRUNE: dict[str, tuple[str, str]] = {
    "quality_issues": ("closed_ts", "status <> 'open'"),
    "escalations": ("updated_ts", "status <> 'open'"),
    "agent_actions": ("updated_ts", "status <> 'proposed'"),
    "interpolations": ("created_ts", "true"),
    "interpolated_candles": ("open_ts", "true"),
    "crew_runs": ("started_ts", "status <> 'running'"),
}


def _count(cur: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> int:
    row = cur.execute(sql, params).fetchone()
    return int(row[0]) if row else 0


def plan_maintenance(connection: duckdb.DuckDBPyConnection, settings: Settings, retention_on: bool) -> list[Action]:
    """The maintenance actions with their evidence, status ``pending`` (or ``skipped``)."""
    cutoff = retention_cutoff(settings.retention_days)
    cur = connection.cursor()
    try:
        older = {t: _count(cur, f"SELECT count(*) FROM {t} WHERE {c} < ?", [cutoff]) for t, c in RETENTION_COLUMNS.items()}
        prune = {t: _count(cur, f"SELECT count(*) FROM {t} WHERE {c} < ? AND {w}", [cutoff]) for t, (c, w) in _PRUNE.items()}
        tables = [t for (t,) in cur.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main'"
        ).fetchall()]
    finally:
        cur.close()
    params = {"retention_days": settings.retention_days, "cutoff": cutoff.isoformat()}
    retention = Action("retention", params, {"rows_older_than_cutoff": older})
    if not retention_on:
        retention.status = "skipped"
        retention.outcome = {"reason": "retention is off in this server (it replays an old capture)"}
    return [
        retention,
        Action("prune_bookkeeping", params, {"rows_older_than_cutoff": prune}),
        Action("analyze", {}, {"tables": len(tables)}),
        Action("checkpoint", {}, {"why": "fold the write-ahead log into the database file"}),
    ]


def apply_maintenance(connection: duckdb.DuckDBPyConnection, settings: Settings, writer: Any, action: Action) -> None:
    """Carry out one maintenance action; records the outcome on it."""
    try:
        action.outcome = _apply(connection, settings, writer, action)
        action.status = "applied"
    except duckdb.Error as exc:
        action.status, action.outcome = "failed", {"error": str(exc)}


def _apply(connection: duckdb.DuckDBPyConnection, settings: Settings, writer: Any, action: Action) -> dict[str, Any]:
    if action.kind == "retention":
        return {"deleted": apply_retention(connection, settings.retention_days)}
    if action.kind == "checkpoint" and writer is not None:
        writer.execute("CHECKPOINT")  # in order with the collector's batches
        return {"queued_on_writer": True, "flushed": writer.flush(timeout=30)}
    cur = connection.cursor()
    try:
        if action.kind == "prune_bookkeeping":
            cutoff = retention_cutoff(settings.retention_days)
            deleted = {}
            for table, (col, where) in _PRUNE.items():
                row = cur.execute(f"DELETE FROM {table} WHERE {col} < ? AND {where}", [cutoff]).fetchone()
                deleted[table] = int(row[0]) if row else 0
            return {"deleted": deleted}
        cur.execute("ANALYZE" if action.kind == "analyze" else "CHECKPOINT")
        return {"done": action.kind}
    finally:
        cur.close()
