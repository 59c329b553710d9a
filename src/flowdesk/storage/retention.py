"""Retention: drop rows older than N days from every time-series table, then checkpoint.

Deletes run on their own cursor, one short transaction per table, so they can run beside the
:class:`~flowdesk.storage.writer.BatchWriter` (they only touch old rows; the writer appends
new ones). ``trade_gaps`` and ``schema_migrations`` are bookkeeping and are kept.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from flowdesk.storage.schema import RETENTION_COLUMNS
from flowdesk.storage.store import Store

log = logging.getLogger(__name__)


def _cursor(target: Store | duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    conn = target.connection if isinstance(target, Store) else target
    return conn.cursor()


def naive_utc(ts: datetime) -> datetime:
    """``ts`` as a naive UTC datetime, the form stored in TIMESTAMP columns (naive = UTC)."""
    return ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo is not None else ts


def retention_cutoff(days: int, now: datetime | None = None) -> datetime:
    """The oldest time kept: ``now - days`` as naive UTC (``now`` defaults to the clock)."""
    if days < 1:
        raise ValueError(f"retention days must be at least 1, got {days}")
    return naive_utc(now or datetime.now(UTC)) - timedelta(days=days)


def apply_retention(
    store_or_connection: Store | duckdb.DuckDBPyConnection, days: int, now: datetime | None = None
) -> dict[str, int]:
    """Delete rows whose time column is older than ``now - days``; rows deleted per table.

    The time column is ``schema.RETENTION_COLUMNS`` (``ts``, or ``open_ts`` for candles).
    A naive ``now`` is taken as UTC.
    """
    cutoff = retention_cutoff(days, now)
    cur = _cursor(store_or_connection)
    try:
        return {table: _delete_before(cur, table, col, cutoff) for table, col in RETENTION_COLUMNS.items()}
    finally:
        cur.close()


def retention_statements(days: int, now: datetime | None = None) -> list[tuple[str, list[Any]]]:
    """The DELETE statements of one retention pass, for a caller that runs them through the
    :class:`~flowdesk.storage.writer.BatchWriter` queue (serialized with the writes)."""
    cutoff = retention_cutoff(days, now)
    return [(_delete_sql(table, col), [cutoff]) for table, col in RETENTION_COLUMNS.items()]


def _delete_sql(table: str, column: str) -> str:
    return f"DELETE FROM {table} WHERE {column} < ?"


def _delete_before(cur: duckdb.DuckDBPyConnection, table: str, column: str, cutoff: datetime) -> int:
    row = cur.execute(_delete_sql(table, column), [cutoff]).fetchone()
    deleted = int(row[0]) if row else 0
    if deleted:
        log.info("retention: deleted %d rows from %s older than %s", deleted, table, cutoff)
    return deleted


def run_maintenance(
    store_or_connection: Store | duckdb.DuckDBPyConnection,
    days: int,
    now: datetime | None = None,
    checkpoint: bool = True,
) -> dict[str, Any]:
    """Retention then ``CHECKPOINT`` (folds the WAL into the file and reclaims space).

    Returns ``{"deleted": {table: rows}, "cutoff": datetime, "checkpointed": bool,
    "seconds": float}``.
    """
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    deleted = apply_retention(store_or_connection, days, now)
    if checkpoint:
        cur = _cursor(store_or_connection)
        try:
            cur.execute("CHECKPOINT")
        finally:
            cur.close()
    return {
        "deleted": deleted,
        "cutoff": retention_cutoff(days, now),
        "checkpointed": checkpoint,
        "seconds": time.perf_counter() - started,
    }
