"""Export tables to hive-partitioned Parquet: ``<out>/<table>/exchange=/symbol=/date=/*.parquet``.

The layout is the one DuckDB, Spark, ClickHouse and pyarrow read as a partitioned data set
(``read_parquet('<out>/trades/**/*.parquet', hive_partitioning = true)``). ``date`` is the UTC
day of the table's time column (``ts``, ``open_ts`` for candles). Partition columns live in the
folder names, not in the files.

By default an export adds new, uniquely named files, so exporting the same window twice stores
its rows twice; pass ``overwrite=True`` to replace the day folders an export writes to.
"""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from flowdesk.storage.retention import naive_utc
from flowdesk.storage.schema import RETENTION_COLUMNS
from flowdesk.storage.store import Store

TimeBound = datetime | date | int | None
PARTITIONS = ("exchange", "symbol", "date")


def export_parquet(
    connection: duckdb.DuckDBPyConnection | Store,
    table: str,
    out_dir: str | Path,
    start: TimeBound = None,
    end: TimeBound = None,
    symbol: str | None = None,
    *,
    exchange: str | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Write rows of ``table`` with ``start <= time < end`` as partitioned Parquet files.

    ``start``/``end`` are datetimes (naive = UTC), dates (midnight UTC) or epoch ms. Returns the
    files written, sorted; an empty selection writes nothing and returns ``[]``.
    """
    if table not in RETENTION_COLUMNS:
        raise ValueError(f"cannot export {table!r}: choose one of {sorted(RETENTION_COLUMNS)}")
    conn = connection.connection if isinstance(connection, Store) else connection
    cur = conn.cursor()
    try:
        select = _select_sql(table, start, end, symbol, exchange)
        partitions = cur.execute(f"SELECT DISTINCT {', '.join(PARTITIONS)} FROM ({select})").fetchall()
        if not partitions:
            return []
        target = Path(out_dir) / table
        if overwrite:
            _remove_partitions(target, partitions)
        target.mkdir(parents=True, exist_ok=True)
        rows = cur.execute(
            f"COPY ({select}) TO {_literal(str(target))} (FORMAT PARQUET, COMPRESSION zstd, "
            f"PARTITION_BY ({', '.join(PARTITIONS)}), APPEND, RETURN_FILES)"
        ).fetchall()
    finally:
        cur.close()
    return sorted(Path(f) for _count, files in rows for f in files)


def _select_sql(
    table: str, start: TimeBound, end: TimeBound, symbol: str | None, exchange: str | None
) -> str:
    """The SELECT of one export, values inlined as literals (COPY takes no parameters)."""
    column = RETENTION_COLUMNS[table]
    where = ["TRUE"]
    if start is not None:
        where.append(f"{column} >= {_ts_literal(start)}")
    if end is not None:
        where.append(f"{column} < {_ts_literal(end)}")
    if symbol is not None:
        where.append(f"symbol = {_literal(symbol)}")
    if exchange is not None:
        where.append(f"exchange = {_literal(exchange)}")
    return f"SELECT *, CAST({column} AS DATE) AS date FROM {table} WHERE {' AND '.join(where)}"


def to_naive_utc(bound: datetime | date | int) -> datetime:
    """A time bound as the naive-UTC datetime stored in TIMESTAMP columns."""
    if isinstance(bound, datetime):
        return naive_utc(bound)
    if isinstance(bound, date):
        return datetime(bound.year, bound.month, bound.day)
    return datetime.fromtimestamp(bound / 1000, tz=UTC).replace(tzinfo=None)


def _ts_literal(bound: datetime | date | int) -> str:
    return f"TIMESTAMP {_literal(to_naive_utc(bound).isoformat(sep=' '))}"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _remove_partitions(target: Path, partitions: list[tuple]) -> None:
    """Delete the day folders an export is about to write (``overwrite=True``)."""
    for exchange, symbol, day in partitions:
        folder = target / f"exchange={exchange}" / f"symbol={symbol}" / f"date={day.isoformat()}"
        if folder.is_dir():
            shutil.rmtree(folder)
