"""The DuckDB store: one database file, migrated on open, shared by one writer and many readers.

A :class:`Store` owns one DuckDB connection. The write side belongs to a single
:class:`~flowdesk.storage.writer.BatchWriter` (one per process, one process per file: DuckDB
takes an exclusive file lock for a writable open). Readers in the same process take their own
cursor with ``store.connection.cursor()`` (DuckDB cursors are not thread-safe).

Example::

    with Store("data/flowdesk.duckdb") as store:
        print(store.schema_version(), store.table_stats())
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import duckdb

from flowdesk.storage.schema import MIGRATIONS, TABLE_OF, Migration

log = logging.getLogger(__name__)

MEMORY = ":memory:"

#: every table of the canonical schema (record tables plus bookkeeping)
DATA_TABLES: tuple[str, ...] = (*TABLE_OF.values(), "trade_gaps")

_MIGRATIONS_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL
)
"""


class StoreError(RuntimeError):
    """A store that cannot be opened or migrated."""


class StoreLockedError(StoreError):
    """The database file is locked by another process (DuckDB allows one writer process)."""


class SchemaTooNewError(StoreError):
    """The file was migrated by a newer flowdesk than this one."""


class Store:
    """A DuckDB database holding the canonical flowdesk tables.

    ``path`` is a file path (parent folders are created) or ``":memory:"``. A writable store is
    migrated on open; a read-only one is only checked (its schema may not be newer than ours).
    """

    def __init__(self, path: str | Path, read_only: bool = False) -> None:
        self.path = path if str(path) == MEMORY else Path(path)
        self.read_only = read_only
        self._conn = _connect(self.path, read_only)
        try:
            if read_only:
                self._check_not_newer(self.applied_versions())
            else:
                self.migrate()
        except BaseException:
            self._conn.close()
            raise

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The store's DuckDB connection; take ``.cursor()`` per thread."""
        return self._conn

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor on the database, for use by one thread."""
        return self._conn.cursor()

    # -- migrations -------------------------------------------------------------------------

    def applied_versions(self) -> list[int]:
        """Versions recorded in ``schema_migrations`` (empty for a fresh database)."""
        cur = self._conn.cursor()
        exists = cur.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_migrations'"
            " AND database_name = current_database() AND schema_name = 'main'"
        ).fetchone()
        if not exists or not exists[0]:
            return []
        rows = cur.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
        return [int(v) for (v,) in rows]

    def schema_version(self) -> int:
        """The highest applied migration version (0 for an empty database)."""
        versions = self.applied_versions()
        return versions[-1] if versions else 0

    def migrate(self) -> list[int]:
        """Apply pending migrations, each in its own transaction; return the versions applied.

        Idempotent: a second call applies nothing. Raises :class:`SchemaTooNewError` when the
        file carries a version this code does not know.
        """
        if self.read_only:
            raise StoreError("cannot migrate a store opened read-only")
        cur = self._conn.cursor()
        cur.execute(_MIGRATIONS_DDL)
        applied = set(self.applied_versions())
        self._check_not_newer(sorted(applied))
        done: list[int] = []
        for migration in sorted(MIGRATIONS, key=lambda m: m.version):
            if migration.version not in applied:
                _apply(cur, migration)
                done.append(migration.version)
        return done

    def _check_not_newer(self, versions: list[int]) -> None:
        known = max((m.version for m in MIGRATIONS), default=0)
        if versions and versions[-1] > known:
            raise SchemaTooNewError(
                f"database {self.path} has schema version {versions[-1]}, but this flowdesk "
                f"only knows up to version {known}: upgrade flowdesk to open it"
            )

    # -- housekeeping -----------------------------------------------------------------------

    def table_stats(self) -> dict[str, int]:
        """Row count of every table in the database (the canonical ones and any a later
        migration added), ``schema_migrations`` excepted."""
        cur = self._conn.cursor()
        tables = cur.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
            " AND schema_name = 'main' AND table_name <> 'schema_migrations' ORDER BY table_name"
        ).fetchall()
        out: dict[str, int] = {}
        for (table,) in tables:
            row = cur.execute(f'SELECT count(*) FROM "{table}"').fetchone()
            out[table] = int(row[0]) if row else 0
        return out

    def checkpoint(self) -> None:
        """Write the WAL into the database file (DuckDB also does this on close)."""
        self._conn.cursor().execute("CHECKPOINT")

    def close(self) -> None:
        """Close the connection (idempotent); DuckDB checkpoints a writable file on close."""
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "writable"
        return f"Store({str(self.path)!r}, {mode})"


def _connect(path: str | Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB database, turning a file-lock conflict into :class:`StoreLockedError`."""
    if isinstance(path, Path):
        if read_only and not path.exists():
            raise FileNotFoundError(f"no flowdesk database at {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" not in str(exc).lower():
            raise
        raise StoreLockedError(
            f"database {path} is locked by another process; DuckDB allows one process to "
            f"write a file, and no other process may open it while it does (is `flowdesk "
            f"serve` or `flowdesk collect` running? use its API/MCP tools, or stop it). "
            f"DuckDB said: {exc}"
        ) from exc


def _apply(cur: duckdb.DuckDBPyConnection, migration: Migration) -> None:
    """Apply one migration and record it, atomically."""
    cur.execute("BEGIN TRANSACTION")
    try:
        cur.execute(migration.sql)
        cur.execute(
            "INSERT INTO schema_migrations VALUES (?, ?, ?)",
            [migration.version, migration.name, datetime.now(UTC).replace(tzinfo=None)],
        )
        cur.execute("COMMIT")
    except Exception as exc:
        cur.execute("ROLLBACK")
        raise StoreError(f"migration {migration.version} ({migration.name}) failed: {exc}") from exc
    log.info("applied migration %d (%s)", migration.version, migration.name)
