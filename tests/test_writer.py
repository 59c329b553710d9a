"""The batch writer: Arrow conversion, dedupe, candle upserts, backpressure, errors, stats."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from flowdesk.records import (
    BookLevel,
    Candle,
    DepthBand,
    Liquidation,
    MarkFunding,
    OpenInterest,
    Quote,
    Ticker24h,
    Trade,
)
from flowdesk.storage.arrow import arrow_schema, rows_to_arrow
from flowdesk.storage.schema import TABLE_OF
from flowdesk.storage.store import Store
from flowdesk.storage.writer import BatchWriter, WriterStopped

TS = 1723075200123  # 2024-08-08 00:00:00.123 UTC, epoch ms
TS_DT = datetime(2024, 8, 8, 0, 0, 0, 123000)
RECV = 1723075200456789123  # epoch ns; stored truncated to the microsecond
RECV_DT = datetime(2024, 8, 8, 0, 0, 0, 456789)
NEXT_FUNDING = 1723104000000
NEXT_FUNDING_DT = datetime(2024, 8, 8, 8, 0, 0)
KEY = ("binance", "usdm", "BTCUSDT")

SAMPLES: dict[type, tuple] = {
    Trade: Trade(*KEY, 101, 60000.5, 0.25, "buy", TS, RECV, 99, 101, "ws"),
    Quote: Quote(*KEY, 60000.0, 1.5, 60000.1, 2.5, 777, TS, RECV),
    MarkFunding: MarkFunding(*KEY, 60001.0, None, 0.0001, NEXT_FUNDING, TS, RECV),
    OpenInterest: OpenInterest(*KEY, 12345.5, None, TS, RECV),
    Liquidation: Liquidation(*KEY, "sell", 59000.0, None, 0.5, 0.5, "FILLED", TS, RECV),
    Ticker24h: Ticker24h(*KEY, 60000.0, 59000.0, 61000.0, 58000.0, 1e5, 6e9, 1.69, None, TS, RECV),
    Candle: Candle(*KEY, "1m", TS - 123, TS + 59876, 1.0, 2.0, 0.5, 1.5, 10.0, 15.0, 42, None,
                   True, TS, RECV),
    BookLevel: BookLevel(*KEY, TS, 888, "bid", 3, 59999.0, 0.75),
    DepthBand: DepthBand(*KEY, TS, 60000.05, 0.5, 10.0, 12.0, 6e5, 7.2e5),
}

TIME_VALUES = {"ts": TS_DT, "recv_ts": RECV_DT}
SPECIAL_TIMES = {
    MarkFunding: {"next_funding_ts": NEXT_FUNDING_DT},
    Candle: {"open_ts": datetime(2024, 8, 8), "close_ts": datetime(2024, 8, 8, 0, 0, 59, 999000)},
}


def expected_row(record: tuple) -> dict:
    """The stored form of a sample: field names -> column names, times -> datetimes."""
    out = {("recv_ts" if k == "recv_ns" else k): v for k, v in record._asdict().items()}  # type: ignore[attr-defined]
    for col, dt in {**TIME_VALUES, **SPECIAL_TIMES.get(type(record), {})}.items():
        if col in out:
            out[col] = dt
    return out


def trade(tid: int, source: str = "ws", key: tuple = KEY, price: float = 60000.0) -> Trade:
    return Trade(*key, tid, price, 0.01, "buy", TS + tid, RECV + tid, tid, tid, source)


def stored_ids(store: Store, key: tuple = KEY) -> list[int]:
    rows = store.connection.execute(
        "SELECT trade_id FROM trades WHERE exchange=? AND market=? AND symbol=? ORDER BY trade_id",
        list(key),
    ).fetchall()
    return [r[0] for r in rows]


@pytest.fixture
def store() -> Iterator[Store]:
    with Store(":memory:") as s:
        yield s


@pytest.fixture
def writer(store: Store) -> Iterator[BatchWriter]:
    w = BatchWriter(store, queue_batches=4).start()
    yield w
    w.stop(flush=False, timeout=5)


# -- Arrow conversion ---------------------------------------------------------------------


@pytest.mark.parametrize("record_type", list(TABLE_OF), ids=lambda t: t.__name__)
def test_rows_to_arrow_gives_exact_values_and_timestamps(record_type: type) -> None:
    sample = SAMPLES[record_type]
    table = rows_to_arrow(record_type, [sample, sample])
    assert table.num_rows == 2
    assert table.schema == arrow_schema(record_type)
    assert table.to_pylist()[1] == expected_row(sample)
    for name in ("ts", "recv_ts", "open_ts", "close_ts", "next_funding_ts"):
        if name in table.column_names:
            assert table.schema.field(name).type == pa.timestamp("us")


@pytest.mark.parametrize("record_type", list(TABLE_OF), ids=lambda t: t.__name__)
def test_arrow_schema_matches_the_duckdb_table(store: Store, record_type: type) -> None:
    described = store.connection.execute(f"DESCRIBE {TABLE_OF[record_type]}").fetchall()
    duck_to_arrow = {"VARCHAR": pa.string(), "BIGINT": pa.int64(), "DOUBLE": pa.float64(),
                     "TIMESTAMP": pa.timestamp("us"), "BOOLEAN": pa.bool_(), "INTEGER": pa.int32()}
    expected = [(name, duck_to_arrow[kind]) for name, kind, *_ in described]
    assert [(f.name, f.type) for f in arrow_schema(record_type)] == expected


@pytest.mark.parametrize("record_type", list(TABLE_OF), ids=lambda t: t.__name__)
def test_every_record_type_round_trips_through_duckdb(
    store: Store, writer: BatchWriter, record_type: type
) -> None:
    sample = SAMPLES[record_type]
    assert writer.write_batch_sync({record_type: [sample]}) == {TABLE_OF[record_type]: 1}
    cur = store.connection.execute(f"SELECT * FROM {TABLE_OF[record_type]}")
    names = [d[0] for d in cur.description]
    assert [dict(zip(names, row, strict=True)) for row in cur.fetchall()] == [expected_row(sample)]


def test_rows_to_arrow_rejects_bad_rows() -> None:
    assert rows_to_arrow(Quote, []).num_rows == 0
    with pytest.raises(pa.ArrowInvalid):
        rows_to_arrow(Quote, [SAMPLES[Quote][:-1]])  # a field short
    with pytest.raises(pa.ArrowInvalid):
        rows_to_arrow(Quote, [SAMPLES[Quote], (*SAMPLES[Quote], 1)])  # a field too many
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError, TypeError)):
        rows_to_arrow(Trade, [SAMPLES[Trade]._replace(price="sixty thousand")])
    with pytest.raises(KeyError):
        rows_to_arrow(dict, [(1,)])


def test_none_becomes_null_in_nullable_columns() -> None:
    row = MarkFunding(*KEY, 60001.0, None, None, None, TS, RECV)
    got = rows_to_arrow(MarkFunding, [row]).to_pylist()[0]
    assert got["index_price"] is None and got["funding_rate"] is None
    assert got["next_funding_ts"] is None


# -- trade dedupe -------------------------------------------------------------------------


def test_trades_deduplicated_within_batch_and_against_stored(store: Store, writer: BatchWriter) -> None:
    ws = [trade(i) for i in range(100, 200)] + [trade(150), trade(199)]
    assert writer.write_batch_sync({Trade: ws}) == {"trades": 100}
    # REST backfill overlapping the stored range and reaching below it
    rest = [trade(i, "rest") for i in range(50, 160)] + [trade(60, "rest")]
    assert writer.write_batch_sync({Trade: rest}) == {"trades": 50}
    assert stored_ids(store) == list(range(50, 200))
    sources = dict(store.connection.execute("SELECT trade_id, source FROM trades").fetchall())
    assert sources[49 + 1] == "rest" and sources[100] == "ws" and sources[159] == "ws"
    assert writer.stats()["duplicates_skipped"] == 2 + 61
    assert writer.watermarks()[KEY] == 199


def test_backfill_mixed_with_new_trades_in_one_batch(store: Store, writer: BatchWriter) -> None:
    writer.write_batch_sync({Trade: [trade(i) for i in range(10, 20)]})
    mixed = [trade(i, "rest") for i in range(5, 25)]  # 5..9 old gap, 10..19 stored, 20..24 new
    assert writer.write_batch_sync({Trade: mixed}) == {"trades": 10}
    assert stored_ids(store) == list(range(5, 25))
    assert writer.watermarks()[KEY] == 24


def test_same_trade_id_on_different_symbols_is_kept(store: Store, writer: BatchWriter) -> None:
    eth = ("binance", "usdm", "ETHUSDT")
    okx = ("okx", "swap", "BTCUSDT")
    batch = [trade(7), trade(7, key=eth), trade(7, key=okx), trade(7)]
    assert writer.write_batch_sync({Trade: batch}) == {"trades": 3}
    assert writer.write_batch_sync({Trade: [trade(7, key=eth), trade(8, key=eth)]}) == {"trades": 1}
    assert stored_ids(store, eth) == [7, 8]
    # equal ids on two symbols, no duplicate: both new
    assert writer.write_batch_sync({Trade: [trade(20), trade(20, key=eth)]}) == {"trades": 2}
    assert writer.watermarks() == {KEY: 20, eth: 20, okx: 7}


def test_watermark_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "fd.duckdb"
    with Store(path) as store, BatchWriter(store) as w:
        w.write_batch_sync({Trade: [trade(i) for i in range(1000, 1100)]})
    with Store(path) as store:
        w = BatchWriter(store).start()
        try:
            assert w.watermarks() == {KEY: 1099}
            w.write_batch_sync({Trade: [trade(i, "rest") for i in range(1050, 1150)]})
            assert stored_ids(store) == list(range(1000, 1150))
        finally:
            w.stop()


# -- candles ------------------------------------------------------------------------------


def candle(open_ts: int, close: float, closed: bool, interval: str = "1m") -> Candle:
    return Candle(*KEY, interval, open_ts, open_ts + 59999, 1.0, 2.0, 0.5, close, 10.0, 15.0, 3,
                  4.0, closed, open_ts + 1000, RECV)


def stored_candles(store: Store) -> list[tuple]:
    return store.connection.execute(
        'SELECT "interval", epoch_ms(open_ts), close, closed FROM candles ORDER BY 1, 2'
    ).fetchall()


def test_candle_closed_replaces_open_and_open_never_replaces_closed(
    store: Store, writer: BatchWriter
) -> None:
    t0 = 1723075200000
    writer.write_batch_sync({Candle: [candle(t0, 1.1, False)]})
    writer.write_batch_sync({Candle: [candle(t0, 1.2, False), candle(t0, 1.3, False)]})
    assert stored_candles(store) == [("1m", t0, 1.3, False)]
    writer.write_batch_sync({Candle: [candle(t0, 1.4, True), candle(t0 + 60000, 1.5, False)]})
    assert stored_candles(store) == [("1m", t0, 1.4, True), ("1m", t0 + 60000, 1.5, False)]
    # a late open update of a closed bar is ignored, in the same batch and against storage
    late = [candle(t0 + 60000, 1.6, True), candle(t0 + 60000, 1.7, False), candle(t0, 9.9, False)]
    writer.write_batch_sync({Candle: late})
    assert stored_candles(store) == [("1m", t0, 1.4, True), ("1m", t0 + 60000, 1.6, True)]
    # another interval is another bar
    writer.write_batch_sync({Candle: [candle(t0, 2.0, True, interval="5m")]})
    assert len(stored_candles(store)) == 3


# -- queue, errors, stats -----------------------------------------------------------------


def test_bounded_queue_blocks_and_raises_full_while_paused(store: Store) -> None:
    w = BatchWriter(store, queue_batches=3)
    w.pause()
    w.start()
    try:
        for i in range(3):
            w.put({Trade: [trade(i)]})
        assert w.stats()["queue_depth"] == 3
        started = time.monotonic()
        with pytest.raises(queue.Full):
            w.put({Trade: [trade(99)]}, timeout=0.2)
        assert time.monotonic() - started >= 0.19  # it blocked before giving up
        with pytest.raises(queue.Full):
            w.put_nowait({Trade: [trade(99)]})
        assert not w.flush(timeout=0.1)
        w.resume()
        assert w.flush(timeout=10)
        assert stored_ids(store) == [0, 1, 2]
        assert w.stats()["queue_depth"] == 0
    finally:
        w.stop()


def test_bad_batch_is_counted_rolled_back_and_writer_goes_on(store: Store, writer: BatchWriter) -> None:
    writer.put({Trade: [trade(1)]})
    # valid quotes + a trade with a text price: the whole batch must roll back
    writer.put({Quote: [SAMPLES[Quote]], Trade: [trade(2)._replace(price="oops")]})
    writer.put({Trade: [trade(3)._replace(side=None)]})  # NOT NULL violated in DuckDB
    writer.put({dict: [(1, 2)]})  # no table for this type
    writer.put({Trade: [trade(4)], Quote: [SAMPLES[Quote]]})
    assert writer.flush(timeout=10)
    stats = writer.stats()
    assert stats["errors"] == 3
    assert "dict" in stats["last_error"]
    assert stored_ids(store) == [1, 4]
    assert store.connection.execute("SELECT count(*) FROM quotes").fetchone() == (1,)
    assert writer.watermarks()[KEY] == 4  # failed batches did not move the watermark
    assert stats["rows_written"] == {"trades": 2, "quotes": 1}


def test_write_batch_sync_raises_the_batch_error(writer: BatchWriter) -> None:
    with pytest.raises(duckdb.ConstraintException):
        writer.write_batch_sync({Trade: [trade(1)._replace(price=None)]})
    assert writer.stats()["errors"] == 1
    assert writer.write_batch_sync({Trade: [trade(1)]}) == {"trades": 1}


def test_write_batch_sync_works_without_the_thread(store: Store) -> None:
    w = BatchWriter(store)
    assert w.write_batch_sync({Trade: [trade(5), trade(5)]}) == {"trades": 1}
    assert w.stats()["batches_written"] == 1
    assert w.stop()


def test_execute_runs_sql_in_order_with_batches(store: Store, writer: BatchWriter) -> None:
    writer.put({Trade: [trade(10)]})
    writer.execute(
        "INSERT INTO trade_gaps SELECT exchange, market, symbol, trade_id + 1, trade_id + 5, "
        "ts, NULL, NULL, 'open', ? FROM trades",
        ["seen after trade 10"],
    )
    writer.execute("INSERT INTO no_such_table VALUES (1)")
    assert writer.flush(timeout=10)
    gaps = store.connection.execute("SELECT from_id, to_id, detail FROM trade_gaps").fetchall()
    assert gaps == [(11, 15, "seen after trade 10")]
    stats = writer.stats()
    assert stats["statements_executed"] == 1 and stats["errors"] == 1
    assert "no_such_table" in stats["last_error"]


def test_stats_numbers(store: Store, writer: BatchWriter) -> None:
    before = time.time_ns() // 1_000_000
    writer.put({Trade: [trade(i) for i in range(10)], Quote: [SAMPLES[Quote]] * 4})
    writer.put({Trade: [trade(i) for i in range(5, 15)], DepthBand: [SAMPLES[DepthBand]]})
    assert writer.flush(timeout=10)
    stats = writer.stats()
    assert stats["rows_written"] == {"trades": 15, "quotes": 4, "depth_bands": 1}
    assert stats["batches_written"] == 2
    assert stats["duplicates_skipped"] == 5
    assert stats["errors"] == 0 and stats["last_error"] is None
    assert stats["queue_depth"] == 0 and stats["queue_capacity"] == 4
    assert before <= stats["last_write_ts"] <= time.time_ns() // 1_000_000
    assert stats["write_seconds_total"] > 0
    assert store.table_stats()["trades"] == 15


def test_stop_without_flush_drops_queued_batches(store: Store) -> None:
    w = BatchWriter(store, queue_batches=8)
    w.pause()
    w.start()
    w.put({Trade: [trade(1)]})
    w.put({Trade: [trade(2)]})
    assert w.stop(flush=False, timeout=5) is False
    assert w.stats()["dropped_jobs"] == 2
    assert stored_ids(store) == []
    with pytest.raises(WriterStopped):
        w.put({Trade: [trade(3)]})


def test_queued_batches_are_written_in_one_group_commit_in_order(store: Store) -> None:
    """A backlog of plain batches is merged into one transaction; a queued SQL statement
    still runs after the batches queued before it and before the ones queued after it."""
    w = BatchWriter(store, queue_batches=8)
    w.pause()
    w.start()
    try:
        w.put({Trade: [trade(1), trade(2)]})
        w.put({Trade: [trade(2), trade(3)], Quote: [SAMPLES[Quote]]})  # trade 2 again
        w.put({Trade: [trade(4)]})
        w.execute(
            "INSERT INTO trade_gaps SELECT exchange, market, symbol, max(trade_id), max(trade_id), "
            "max(ts), NULL, NULL, 'open', 'after the group' FROM trades GROUP BY ALL"
        )
        w.put({Trade: [trade(5)]})
        w.resume()
        assert w.flush(timeout=10)
        stats = w.stats()
        assert (stats["group_commits"], stats["batches_grouped"]) == (1, 3)
        assert stats["batches_written"] == 4 and stats["statements_executed"] == 1
        assert stats["rows_written"] == {"trades": 5, "quotes": 1}
        assert stats["duplicates_skipped"] == 1
        assert stored_ids(store) == [1, 2, 3, 4, 5]
        # the statement saw the grouped batches (up to trade 4) and not the batch after it
        assert store.connection.execute("SELECT from_id FROM trade_gaps").fetchall() == [(4,)]
    finally:
        w.stop()


def test_bad_batch_in_a_group_loses_only_its_own_rows(store: Store) -> None:
    w = BatchWriter(store, queue_batches=8)
    w.pause()
    w.start()
    try:
        w.put({Trade: [trade(1)]})
        w.put({Trade: [trade(2)._replace(side=None)], Quote: [SAMPLES[Quote]]})  # NOT NULL
        w.put({Trade: [trade(3)]})
        w.resume()
        assert w.flush(timeout=10)
        stats = w.stats()
        assert stats["errors"] == 1 and stats["batches_written"] == 2
        assert stats["group_commits"] == 0  # the merged write failed; each batch went alone
        assert stored_ids(store) == [1, 3]
        assert store.connection.execute("SELECT count(*) FROM quotes").fetchone() == (0,)
        assert w.watermarks()[KEY] == 3
    finally:
        w.stop()
