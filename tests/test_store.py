"""The DuckDB store: opening, migrations, schema checks and the single-writer file lock."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from flowdesk.storage import schema
from flowdesk.storage.store import (
    DATA_TABLES,
    SchemaTooNewError,
    Store,
    StoreLockedError,
)

LATEST = max(m.version for m in schema.MIGRATIONS)

EXPECTED_COLUMNS = {
    "trades": ["exchange", "market", "symbol", "trade_id", "price", "qty", "side", "ts",
               "recv_ts", "first_id", "last_id", "source"],
    "quotes": ["exchange", "market", "symbol", "bid", "bid_qty", "ask", "ask_qty", "update_id",
               "ts", "recv_ts"],
    "mark_funding": ["exchange", "market", "symbol", "mark_price", "index_price",
                     "funding_rate", "next_funding_ts", "ts", "recv_ts"],
    "open_interest": ["exchange", "market", "symbol", "open_interest", "open_interest_value",
                      "ts", "recv_ts"],
    "liquidations": ["exchange", "market", "symbol", "side", "price", "avg_price", "qty",
                     "filled_qty", "status", "ts", "recv_ts"],
    "tickers_24h": ["exchange", "market", "symbol", "last", "open", "high", "low", "volume",
                    "quote_volume", "price_change_pct", "trade_count", "ts", "recv_ts"],
    "candles": ["exchange", "market", "symbol", "interval", "open_ts", "close_ts", "open",
                "high", "low", "close", "volume", "quote_volume", "trade_count",
                "taker_buy_volume", "closed", "ts", "recv_ts"],
    "book_snapshots": ["exchange", "market", "symbol", "ts", "update_id", "side", "level",
                       "price", "qty"],
    "depth_bands": ["exchange", "market", "symbol", "ts", "mid", "band_pct", "bid_qty",
                    "ask_qty", "bid_notional", "ask_notional"],
    "trade_gaps": ["exchange", "market", "symbol", "from_id", "to_id", "detected_ts",
                   "filled_ts", "filled_count", "status", "detail"],
}


def columns(conn: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in conn.execute(f"DESCRIBE {table}").fetchall()]


def test_migrations_apply_once_and_are_recorded(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "fd.duckdb"
    with Store(path) as store:
        assert path.is_file()  # parent folders were created
        assert store.schema_version() == LATEST
        assert store.migrate() == []  # idempotent
        rows = store.connection.execute(
            "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"
        ).fetchall()
    assert [(v, n) for v, n, _ in rows] == [(m.version, m.name) for m in schema.MIGRATIONS]
    assert all(applied is not None for _, _, applied in rows)
    with Store(path) as again:
        assert again.migrate() == []
        count = again.connection.execute("SELECT count(*) FROM schema_migrations").fetchone()
        assert count == (len(schema.MIGRATIONS),)


def test_fresh_store_reports_applied_versions(tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "raw.duckdb"))
    conn.close()
    with Store(tmp_path / "raw.duckdb") as store:  # an empty file gets every migration
        assert store.applied_versions() == [m.version for m in schema.MIGRATIONS]


def test_every_table_has_the_expected_columns() -> None:
    with Store(":memory:") as store:
        for table in DATA_TABLES:
            assert [c for c, _ in columns(store.connection, table)] == EXPECTED_COLUMNS[table]
        types = dict(columns(store.connection, "trades"))
        assert types["ts"] == "TIMESTAMP" and types["recv_ts"] == "TIMESTAMP"
        assert types["trade_id"] == "BIGINT"
        assert dict(columns(store.connection, "candles"))["open_ts"] == "TIMESTAMP"


def test_table_stats_counts_rows() -> None:
    with Store(":memory:") as store:
        store.connection.execute(
            "INSERT INTO depth_bands VALUES ('binance','usdm','BTCUSDT', TIMESTAMP '2024-08-08',"
            " 60000, 0.5, 1, 2, 60000, 120000)"
        )
        stats = store.table_stats()
    assert set(stats) >= set(DATA_TABLES) and "schema_migrations" not in stats
    assert stats["depth_bands"] == 1
    assert stats["trades"] == 0


def test_newer_schema_on_disk_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "fd.duckdb"
    with Store(path) as store:
        store.connection.execute(
            "INSERT INTO schema_migrations VALUES (?, 'from the future', TIMESTAMP '2030-01-01')",
            [LATEST + 1],
        )
    for read_only in (False, True):
        with pytest.raises(SchemaTooNewError, match=f"version {LATEST + 1}.*upgrade flowdesk"):
            Store(path, read_only=read_only)


def test_read_only_store_reads_and_refuses_to_migrate(tmp_path: Path) -> None:
    path = tmp_path / "fd.duckdb"
    Store(path).close()
    with Store(path, read_only=True) as store:
        assert store.schema_version() == LATEST
        with pytest.raises(RuntimeError, match="read-only"):
            store.migrate()
    with pytest.raises(FileNotFoundError):
        Store(tmp_path / "missing.duckdb", read_only=True)


def test_checkpoint_and_close(tmp_path: Path) -> None:
    store = Store(tmp_path / "fd.duckdb")
    store.checkpoint()
    store.close()
    store.close()  # idempotent
    with pytest.raises(duckdb.Error):
        store.connection.execute("SELECT 1")


HOLDER = textwrap.dedent(
    """
    import sys
    from flowdesk.storage.store import Store
    store = Store(sys.argv[1])
    print("holding", flush=True)
    sys.stdin.read()  # hold the write lock until the test closes our stdin
    store.close()
    """
)


def test_second_process_gets_store_locked_error(tmp_path: Path) -> None:
    path = tmp_path / "fd.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        for read_only in (True, False):
            with pytest.raises(StoreLockedError, match="flowdesk serve") as info:
                Store(path, read_only=read_only)
            assert isinstance(info.value, RuntimeError)
            assert str(path) in str(info.value)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=20)
    with Store(path, read_only=True) as store:  # the lock is gone with the writer
        assert store.schema_version() == LATEST
