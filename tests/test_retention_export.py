"""Retention deletes exactly the old rows; Parquet export round-trips through hive partitions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from flowdesk.records import BookLevel, Candle, DepthBand, Quote, Trade
from flowdesk.storage.export import export_parquet
from flowdesk.storage.retention import apply_retention, run_maintenance
from flowdesk.storage.schema import RETENTION_COLUMNS
from flowdesk.storage.store import Store
from flowdesk.storage.writer import BatchWriter

NOW = datetime(2024, 8, 10, 12, 0, 0)  # naive UTC
DAY_MS = 86_400_000


def ms(dt: datetime) -> int:
    return int(dt.replace(tzinfo=UTC).timestamp() * 1000)


def trade(tid: int, when: datetime, symbol: str = "BTCUSDT", exchange: str = "binance") -> Trade:
    t = ms(when)
    return Trade(exchange, "usdm", symbol, tid, 60000.0 + tid, 0.5, "sell", t, t * 1_000_000 + 7,
                 tid, tid, "ws")


def candle(when: datetime) -> Candle:
    t = ms(when)
    return Candle("binance", "usdm", "BTCUSDT", "1m", t, t + 59999, 1, 2, 0.5, 1.5, 10, 15, 3,
                  4.0, True, t + 60000, (t + 60000) * 1_000_000)


@pytest.fixture
def store() -> Iterator[Store]:
    with Store(":memory:") as s:
        yield s


def fill(store: Store, times: list[datetime]) -> None:
    """One row per time in every time-series table (candles keyed by open time)."""
    batch: dict[type, list[tuple]] = {
        Trade: [trade(i, t) for i, t in enumerate(times)],
        Quote: [Quote("binance", "usdm", "BTCUSDT", 1, 1, 2, 1, i, ms(t), ms(t) * 10**6)
                for i, t in enumerate(times)],
        Candle: [candle(t) for t in times],
        BookLevel: [BookLevel("binance", "usdm", "BTCUSDT", ms(t), 1, "bid", 0, 1.0, 2.0)
                    for t in times],
        DepthBand: [DepthBand("binance", "usdm", "BTCUSDT", ms(t), 1, 0.5, 1, 1, 1, 1)
                    for t in times],
    }
    BatchWriter(store).write_batch_sync(batch)


def test_retention_deletes_exactly_the_rows_older_than_the_cutoff(store: Store) -> None:
    cutoff = NOW - timedelta(days=2)
    old = [cutoff - timedelta(days=3), cutoff - timedelta(milliseconds=1)]
    kept = [cutoff, cutoff + timedelta(hours=1), NOW]
    fill(store, old + kept)
    deleted = apply_retention(store, days=2, now=NOW)
    assert set(deleted) == set(RETENTION_COLUMNS)
    for table in ("trades", "quotes", "candles", "book_snapshots", "depth_bands"):
        assert deleted[table] == 2, table
        column = RETENTION_COLUMNS[table]
        left = store.connection.execute(f"SELECT {column} FROM {table} ORDER BY 1").fetchall()
        assert [r[0] for r in left] == kept, table
    assert deleted["mark_funding"] == 0
    assert apply_retention(store, days=2, now=NOW)["trades"] == 0  # nothing left to delete


def test_retention_takes_an_aware_now_and_a_plain_connection(store: Store) -> None:
    fill(store, [NOW - timedelta(days=1, hours=1), NOW - timedelta(hours=23)])
    aware_now = NOW.replace(tzinfo=UTC).astimezone(timezone(timedelta(hours=2)))
    deleted = apply_retention(store.connection, days=1, now=aware_now)
    assert deleted["trades"] == 1
    with pytest.raises(ValueError):
        apply_retention(store, days=0)


def test_run_maintenance_deletes_and_checkpoints(tmp_path: Path) -> None:
    with Store(tmp_path / "fd.duckdb") as store:
        fill(store, [NOW - timedelta(days=10), NOW])
        report = run_maintenance(store, days=7, now=NOW)
        assert report["deleted"]["trades"] == 1
        assert report["checkpointed"] is True
        assert report["cutoff"] == NOW - timedelta(days=7)
        assert store.table_stats()["trades"] == 1


def test_parquet_export_round_trip(store: Store, tmp_path: Path) -> None:
    day1, day2 = datetime(2024, 8, 8, 23, 59, 59), datetime(2024, 8, 9, 0, 0, 1)
    rows = [trade(1, day1), trade(2, day2), trade(3, day2, "ETHUSDT"), trade(4, day1, "BTCUSDT", "okx")]
    BatchWriter(store).write_batch_sync({Trade: rows})
    files = export_parquet(store.connection, "trades", tmp_path / "lake")
    rel = sorted(str(f.relative_to(tmp_path / "lake").parent) for f in files)
    assert rel == [
        "trades/exchange=binance/symbol=BTCUSDT/date=2024-08-08",
        "trades/exchange=binance/symbol=BTCUSDT/date=2024-08-09",
        "trades/exchange=binance/symbol=ETHUSDT/date=2024-08-09",
        "trades/exchange=okx/symbol=BTCUSDT/date=2024-08-08",
    ]
    assert all(f.is_file() and f.suffix == ".parquet" for f in files)
    cols = ", ".join(d[0] for d in store.connection.execute("SELECT * FROM trades").description)
    original = store.connection.execute(f"SELECT {cols} FROM trades ORDER BY trade_id").fetchall()
    back = duckdb.connect().execute(
        f"SELECT {cols} FROM read_parquet('{tmp_path}/lake/trades/**/*.parquet', "
        f"hive_partitioning = true) ORDER BY trade_id"
    ).fetchall()
    assert back == original


def test_parquet_export_filters_and_overwrite(store: Store, tmp_path: Path) -> None:
    day1, day2 = datetime(2024, 8, 8, 12), datetime(2024, 8, 9, 12)
    BatchWriter(store).write_batch_sync(
        {Trade: [trade(1, day1), trade(2, day2), trade(3, day2, "ETHUSDT")]}
    )
    out = tmp_path / "lake"
    files = export_parquet(store, "trades", out, start=date(2024, 8, 9), end=ms(day2) + DAY_MS,
                           symbol="BTCUSDT")
    assert len(files) == 1 and "date=2024-08-09" in str(files[0])

    def ids() -> list[int]:
        got = duckdb.connect().execute(
            f"SELECT trade_id FROM read_parquet('{out}/trades/**/*.parquet', hive_partitioning=1)"
            " ORDER BY 1"
        ).fetchall()
        return [r[0] for r in got]

    assert ids() == [2]
    export_parquet(store, "trades", out, start=day2 - timedelta(hours=1), symbol="BTCUSDT")
    assert ids() == [2, 2]  # appending twice keeps both copies (documented)
    export_parquet(store, "trades", out, symbol="BTCUSDT", overwrite=True)
    assert ids() == [1, 2]
    assert export_parquet(store, "trades", out, symbol="NOPE") == []
    with pytest.raises(ValueError):
        export_parquet(store, "trades; DROP TABLE trades", out)


def test_candles_export_partitions_by_open_time(store: Store, tmp_path: Path) -> None:
    BatchWriter(store).write_batch_sync({Candle: [candle(datetime(2024, 8, 8, 23, 59))]})
    files = export_parquet(store, "candles", tmp_path)
    assert len(files) == 1 and "date=2024-08-08" in str(files[0])
