"""Batched writes into the store: record tuples -> Arrow tables -> DuckDB, on one thread.

:func:`rows_to_arrow` turns a list of records of one type into an Arrow table whose columns
are the table's columns (``ts`` ms and ``recv_ns`` ns become ``TIMESTAMP`` microseconds).

:class:`BatchWriter` owns the write side of a :class:`~flowdesk.storage.store.Store`: producers
``put`` batches (``{Trade: [...], Quote: [...]}``) on a bounded queue, and one background
thread writes each batch in one transaction. Trades are de-duplicated on
``(exchange, market, symbol, trade_id)``; candles keep one row per
``(exchange, market, symbol, interval, open_ts)``; every other table is appended to.
See ``docs/storage.md`` for the rules.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from flowdesk.records import Candle, Trade
from flowdesk.storage.schema import TABLE_OF
from flowdesk.storage.store import Store

log = logging.getLogger(__name__)

Batch = Mapping[type, Sequence[tuple]]
#: the most rows one group commit merges (see :meth:`BatchWriter._handle_group`)
GROUP_ROWS = 200_000
TradeKey = tuple[str, str, str]

US = pa.timestamp("us")
#: record fields holding epoch milliseconds (stored as TIMESTAMP)
MS_FIELDS = frozenset({"ts", "next_funding_ts", "open_ts", "close_ts"})
#: record fields holding epoch nanoseconds -> the column they are stored in
NS_FIELDS = {"recv_ns": "recv_ts"}
#: columns narrower than the record's ``int`` (table, column) -> Arrow type
_NARROW_INTS = {("book_snapshots", "level"): pa.int32()}
_PY_TO_ARROW: dict[type, pa.DataType] = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
}
_CANDLE_KEY = ("exchange", "market", "symbol", "interval", "open_ts")


# -- record tuples -> Arrow ----------------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    field: str
    name: str
    kind: str  # "ms", "ns" or "plain"
    arrow: pa.DataType


@cache
def _columns(record_type: type) -> tuple[_Column, ...]:
    """The stored columns of ``record_type``, in table order, derived from its type hints."""
    table = TABLE_OF[record_type]
    hints = typing.get_type_hints(record_type)
    out = []
    for name in record_type._fields:  # type: ignore[attr-defined]
        if name in MS_FIELDS:
            out.append(_Column(name, name, "ms", US))
        elif name in NS_FIELDS:
            out.append(_Column(name, NS_FIELDS[name], "ns", US))
        else:
            base = _non_optional(hints[name])
            arrow = _NARROW_INTS.get((table, name), _PY_TO_ARROW[base])
            out.append(_Column(name, name, "plain", arrow))
    return tuple(out)


def _non_optional(hint: Any) -> type:
    """``int`` for ``int | None``; the hint itself otherwise."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def arrow_schema(record_type: type) -> pa.Schema:
    """The Arrow schema :func:`rows_to_arrow` produces for ``record_type``."""
    return pa.schema([pa.field(c.name, c.arrow) for c in _columns(record_type)])


@cache
def _row_type(record_type: type) -> pa.StructType:
    """The records as Arrow reads them: times still as int64 epoch ms/ns."""
    return pa.struct(
        [pa.field(c.field, pa.int64() if c.kind != "plain" else c.arrow) for c in _columns(record_type)]
    )


def rows_to_arrow(record_type: type, rows: Sequence[tuple]) -> pa.Table:
    """Records (or plain tuples in field order) of one type -> an Arrow table for its table.

    Epoch-ms fields become ``timestamp[us]``, ``recv_ns`` becomes ``recv_ts`` (``timestamp[us]``,
    truncated to the microsecond). ``None`` gives a null; DuckDB rejects it in NOT NULL columns.
    Raises ``KeyError`` for a type with no table, and ``pyarrow.ArrowInvalid`` /
    ``ArrowTypeError`` for a row of the wrong length or a value of the wrong type.
    """
    columns = _columns(record_type)
    schema = arrow_schema(record_type)
    if not rows:
        return schema.empty_table()
    # pyarrow converts the tuples to a struct array in one C++ pass: about twice as fast as
    # transposing with zip(*rows) and converting column by column
    fields = pa.array(rows, type=_row_type(record_type)).flatten()
    arrays = [_convert(col, arr) for col, arr in zip(columns, fields, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema)


def warm_arrow() -> None:
    """Run pyarrow's one-time setup for converting Python objects now.

    The first ``pa.array`` call of a process imports pandas (about 0.2 s here). Called on the
    first batch, that import holds the GIL on the writer thread and stalls the event loop while
    frames queue up, so :meth:`BatchWriter.start` pays it before any data arrives."""
    pa.array([0])


def _convert(col: _Column, values: pa.Array) -> pa.Array:
    """Epoch ms/ns int64 -> timestamp[us]; other columns are already typed."""
    if col.kind == "ms":
        return values.view(pa.timestamp("ms")).cast(US)
    if col.kind == "ns":
        return pc.cast(values.view(pa.timestamp("ns")), options=pc.CastOptions(US, allow_time_truncate=True))
    return values


# -- the writer ----------------------------------------------------------------------------


@dataclass
class _Job:
    """One queued unit of work: a batch of records or one SQL statement."""

    batch: Batch | None = None
    sql: str | None = None
    params: list[Any] | None = None
    done: threading.Event | None = None  # set when finished (synchronous callers wait on it)
    result: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    error: BaseException | None = None


class WriterStopped(RuntimeError):
    """The writer was stopped; it accepts no more work."""


class BatchWriter:
    """The single writer of one store: a bounded queue and a background thread.

    ``put`` blocks while the queue holds ``queue_batches`` jobs (backpressure for the
    collector). Each batch is written in one transaction; a batch that fails is rolled back,
    counted in ``stats()['errors']`` and logged, and the writer carries on.
    """

    def __init__(self, store: Store, queue_batches: int = 64) -> None:
        if queue_batches < 1:
            raise ValueError("queue_batches must be at least 1")
        self.store = store
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=queue_batches)
        self._capacity = queue_batches
        self._cur: duckdb.DuckDBPyConnection | None = None
        self._marks: dict[TradeKey, int] = {}
        self._thread: threading.Thread | None = None
        self._write_lock = threading.Lock()  # one writer of the cursor at a time
        self._cond = threading.Condition()  # guards the counters below and the stats
        self._enqueued = 0
        self._finished = 0
        self._gate = threading.Event()  # cleared = paused
        self._gate.set()
        self._stopping = threading.Event()
        self._closed = False
        self._stats: dict[str, Any] = _empty_stats()

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> BatchWriter:
        """Load the trade watermarks and start the writer thread; returns ``self``."""
        if self._thread is not None:
            raise RuntimeError("BatchWriter already started")
        self._ensure_cursor()
        warm_arrow()
        self._thread = threading.Thread(target=self._run, name="flowdesk-writer", daemon=True)
        self._thread.start()
        return self

    def stop(self, flush: bool = True, timeout: float | None = None) -> bool:
        """Stop accepting work, write what is queued (``flush``) or drop it, end the thread.

        Returns True when everything enqueued was written.
        """
        self._closed = True
        if flush:
            self._gate.set()
            self.flush(timeout)
        self._stopping.set()  # before un-pausing, so a paused writer takes no further job
        self._gate.set()
        self._queue_wakeup()
        if self._thread is not None:
            self._thread.join(timeout)
        dropped = self._drop_pending()
        with self._write_lock:
            if self._cur is not None:
                self._cur.close()
                self._cur = None
        return dropped == 0 and self._finished >= self._enqueued

    def __enter__(self) -> BatchWriter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def pause(self) -> None:
        """Hold the writer thread before it takes its next job (tests, backups)."""
        self._gate.clear()

    def resume(self) -> None:
        """Let a paused writer go on."""
        self._gate.set()

    # -- producers --------------------------------------------------------------------------

    def put(self, batch: Batch, timeout: float | None = None) -> None:
        """Queue a batch ``{record type: rows}``; blocks while the queue is full.

        Raises ``queue.Full`` when ``timeout`` seconds pass without room, and
        :class:`WriterStopped` after :meth:`stop`.
        """
        self._enqueue(_Job(batch=batch), block=True, timeout=timeout)

    def put_nowait(self, batch: Batch) -> None:
        """Queue a batch or raise ``queue.Full`` at once."""
        self._enqueue(_Job(batch=batch), block=False)

    def execute(self, sql: str, params: list[Any] | None = None, timeout: float | None = None) -> None:
        """Queue one SQL statement, applied in order with the batches (e.g. a ``trade_gaps`` row).

        It runs in its own transaction; a failure is counted like a failed batch.
        """
        self._enqueue(_Job(sql=sql, params=params), block=True, timeout=timeout)

    def write_batch_sync(self, batch: Batch, timeout: float | None = None) -> dict[str, int]:
        """Write a batch before returning; returns rows inserted per table (after dedupe).

        Goes through the queue when the thread runs (keeping order with earlier batches), else
        writes on the caller's thread. Errors are counted as usual and then raised.
        """
        job = _Job(batch=batch, done=threading.Event())
        if self._thread is not None and self._thread.is_alive():
            self._enqueue(job, block=True, timeout=timeout)
            if not job.done.wait(timeout):
                raise TimeoutError("the writer did not write the batch in time")
        else:
            if self._closed:
                raise WriterStopped("the writer is stopped")
            self._ensure_cursor()
            with self._cond:
                self._enqueued += 1  # keeps flush()'s written-vs-enqueued count honest
            self._handle(job)
        if job.error is not None:
            raise job.error
        return job.result

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything enqueued so far is written; False on timeout or no thread."""
        with self._cond:
            target = self._enqueued
            return self._cond.wait_for(
                lambda: self._finished >= target or not self._running(), timeout
            ) and self._finished >= target

    # -- state ------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counters: rows_written per table, batches_written, errors, queue depth and more.

        ``last_write_ts`` is the epoch-ms time of the last committed batch (None before one).
        """
        with self._cond:
            out = dict(self._stats)
            out["rows_written"] = dict(self._stats["rows_written"])
        out["queue_depth"] = self._queue.qsize()
        out["queue_capacity"] = self._capacity
        out["running"] = self._running()
        out["paused"] = not self._gate.is_set()
        return out

    def watermarks(self) -> dict[TradeKey, int]:
        """The highest stored trade id per (exchange, market, symbol)."""
        with self._write_lock:
            return dict(self._marks)

    # -- internals: queue and thread --------------------------------------------------------

    def _running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _enqueue(self, job: _Job, block: bool, timeout: float | None = None) -> None:
        if self._closed:
            raise WriterStopped("the writer is stopped")
        self._queue.put(job, block=block, timeout=timeout)
        with self._cond:
            self._enqueued += 1

    def _queue_wakeup(self) -> None:
        # a full queue means the thread is busy: it sees the stop flag after this job
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)

    def _run(self) -> None:
        while not self._stopping.is_set():
            if not self._gate.wait(0.1) or self._stopping.is_set():
                continue
            try:
                job = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if job is None:
                continue
            if job.batch is None or job.done is not None:
                self._handle(job)
                continue
            group, carry = self._take_group(job)
            self._handle_group(group)
            if carry is not None:
                self._handle(carry)

    def _take_group(self, first: _Job) -> tuple[list[_Job], _Job | None]:
        """``first`` and the plain batches queued right behind it, up to :data:`GROUP_ROWS`
        rows; the job that ended the run (an SQL statement or a synchronous batch) comes back
        as ``carry``, to be handled after the group so that order is kept."""
        group, rows = [first], _batch_rows(first.batch)
        while rows < GROUP_ROWS:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                continue
            if job.batch is None or job.done is not None:
                return group, job
            group.append(job)
            rows += _batch_rows(job.batch)
        return group, None

    def _handle_group(self, group: list[_Job]) -> None:
        """Write queued batches in one transaction (group commit); never raises.

        Under load the writer thread waits for the GIL at every DuckDB call, so its cost per
        transaction is mostly fixed; merging what queued up while it wrote lets it catch up
        instead of falling further behind. If the merged write fails, each batch is written
        on its own, so one bad batch loses only its own rows."""
        if len(group) == 1:
            self._handle(group[0])
            return
        started = time.perf_counter()
        merged: dict[type, list[tuple]] = {}
        for job in group:
            for record_type, rows in (job.batch or {}).items():
                merged.setdefault(record_type, []).extend(rows)
        try:
            with self._write_lock:
                result, duplicates = self._write(merged)
        except Exception:
            for job in group:
                self._handle(job)
            return
        seconds = (time.perf_counter() - started) / len(group)
        group[0].result, group[0].duplicates = result, duplicates  # rows counted once
        for job in group:
            self._record(job, seconds)
            self._finish(job)
        with self._cond:
            self._stats["group_commits"] += 1
            self._stats["batches_grouped"] += len(group)

    def _drop_pending(self) -> int:
        """Release whatever is still queued after the thread ended; returns the jobs dropped."""
        dropped = 0
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return dropped
            if job is None:
                continue
            dropped += 1
            job.error = WriterStopped("the writer stopped before this job was written")
            with self._cond:
                self._stats["dropped_jobs"] += 1
            self._finish(job)

    def _finish(self, job: _Job) -> None:
        with self._cond:
            self._finished += 1
            self._cond.notify_all()
        if job.done is not None:
            job.done.set()

    def _ensure_cursor(self) -> None:
        with self._write_lock:
            if self._cur is None:
                self._cur = self.store.connection.cursor()
                self._marks = _load_watermarks(self._cur)

    # -- internals: writing -----------------------------------------------------------------

    def _handle(self, job: _Job) -> None:
        """Run one job, recording success or failure; never raises."""
        started = time.perf_counter()
        try:
            with self._write_lock:
                if job.sql is not None:
                    self._cursor().execute(job.sql, job.params)
                else:
                    job.result, job.duplicates = self._write(job.batch or {})
        except Exception as exc:
            job.error = exc
            log.error("flowdesk writer: job failed and was rolled back: %s", exc)
        self._record(job, time.perf_counter() - started)
        self._finish(job)

    def _record(self, job: _Job, seconds: float) -> None:
        with self._cond:
            s = self._stats
            s["write_seconds_total"] += seconds
            if job.error is not None:
                s["errors"] += 1
                s["last_error"] = f"{type(job.error).__name__}: {job.error}"
                return
            if job.sql is not None:
                s["statements_executed"] += 1
                return
            s["batches_written"] += 1
            s["last_write_ts"] = time.time_ns() // 1_000_000
            for table, n in job.result.items():
                s["rows_written"][table] = s["rows_written"].get(table, 0) + n
            s["duplicates_skipped"] += job.duplicates

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        if self._cur is None:
            raise WriterStopped("the writer has no open cursor")
        return self._cur

    def _write(self, batch: Batch) -> tuple[dict[str, int], int]:
        """Write every table of the batch in one transaction.

        Returns rows inserted per table and the number of duplicate trades skipped. The trade
        watermarks move only once the transaction has committed.
        """
        cur = self._cursor()
        result: dict[str, int] = {}
        new_marks: dict[TradeKey, int] = {}
        duplicates = 0
        cur.execute("BEGIN TRANSACTION")
        try:
            for record_type, rows in batch.items():
                if not rows:
                    continue
                table = _table_of(record_type)
                if record_type is Trade:
                    written, new_marks = _write_trades(cur, rows, self._marks)
                    duplicates += len(rows) - written
                elif record_type is Candle:
                    written = _write_candles(cur, rows)
                else:
                    written = _append(cur, table, rows_to_arrow(record_type, rows))
                result[table] = result.get(table, 0) + written
            cur.execute("COMMIT")
        except BaseException:
            _rollback(cur)
            raise
        self._marks.update(new_marks)
        return result, duplicates


def _batch_rows(batch: Batch | None) -> int:
    return sum(map(len, batch.values())) if batch else 0


def _table_of(record_type: type) -> str:
    try:
        return TABLE_OF[record_type]
    except (KeyError, TypeError):
        name = getattr(record_type, "__name__", repr(record_type))
        raise KeyError(f"no table stores records of type {name}") from None


def _empty_stats() -> dict[str, Any]:
    return {
        "rows_written": {},
        "batches_written": 0,
        "statements_executed": 0,
        "duplicates_skipped": 0,
        "errors": 0,
        "last_error": None,
        "last_write_ts": None,
        "write_seconds_total": 0.0,
        "dropped_jobs": 0,
        "group_commits": 0,
        "batches_grouped": 0,
    }


def _rollback(cur: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):  # DuckDB may have ended the failed transaction
        cur.execute("ROLLBACK")


def _append(cur: duckdb.DuckDBPyConnection, table: str, data: pa.Table, view: str = "_fd_rows") -> int:
    """Insert an Arrow table by column name; returns the rows inserted."""
    if data.num_rows == 0:
        return 0
    with _registered(cur, view, data):
        row = cur.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {view}").fetchone()
    return int(row[0]) if row else 0


@contextlib.contextmanager
def _registered(cur: duckdb.DuckDBPyConnection, view: str, data: pa.Table) -> Iterator[None]:
    """Expose an Arrow table to SQL as ``view`` for the duration of the block."""
    cur.register(view, data)
    try:
        yield
    finally:
        # fails inside an aborted transaction; the view is then replaced by the next register
        with contextlib.suppress(duckdb.Error):
            cur.unregister(view)


# -- trades: watermark + anti-join dedupe --------------------------------------------------


def _load_watermarks(cur: duckdb.DuckDBPyConnection) -> dict[TradeKey, int]:
    """The highest stored trade id per (exchange, market, symbol), in one GROUP BY."""
    rows = cur.execute(
        "SELECT exchange, market, symbol, max(trade_id) FROM trades GROUP BY ALL"
    ).fetchall()
    return {(e, m, s): int(mx) for e, m, s, mx in rows}


def _write_trades(
    cur: duckdb.DuckDBPyConnection, rows: Sequence[tuple], marks: Mapping[TradeKey, int]
) -> tuple[int, dict[TradeKey, int]]:
    """Insert trades not yet stored; returns the rows inserted and the raised watermarks.

    Fast path (live stream): ids unique in the batch and all above the stored watermark of
    their symbol -> one append. Otherwise rows are de-duplicated in Python, rows above the
    watermark are appended and rows at/below it are anti-joined against the stored id range.
    """
    data = rows_to_arrow(Trade, rows)
    spans = _id_spans(data)
    if all(_above(marks, key, lo) for key, (lo, _hi) in spans.items()) and _unique(data):
        return _append(cur, "trades", data), {key: hi for key, (_lo, hi) in spans.items()}
    fresh, old = _split_trades(rows, marks)
    written = _append(cur, "trades", rows_to_arrow(Trade, fresh))
    return written + _insert_backfill(cur, old), _max_ids(fresh)


def _above(marks: Mapping[TradeKey, int], key: TradeKey, lo: int) -> bool:
    mark = marks.get(key)
    return mark is None or lo > mark


def _id_spans(data: pa.Table) -> dict[TradeKey, tuple[int, int]]:
    """(min, max) trade id per (exchange, market, symbol) of an Arrow trades table."""
    agg = data.group_by(["exchange", "market", "symbol"]).aggregate(
        [("trade_id", "min"), ("trade_id", "max")]
    )
    return {
        (r["exchange"], r["market"], r["symbol"]): (r["trade_id_min"], r["trade_id_max"])
        for r in agg.to_pylist()
    }


def _unique(data: pa.Table) -> bool:
    """True when no (exchange, market, symbol, trade_id) repeats in the table."""
    n = data.num_rows
    if pc.count_distinct(data["trade_id"]).as_py() == n:
        return True  # ids alone are unique: the cheap, common case
    keys = ["exchange", "market", "symbol", "trade_id"]
    return data.select(keys).group_by(keys).aggregate([]).num_rows == n


def _split_trades(
    rows: Sequence[tuple], marks: Mapping[TradeKey, int]
) -> tuple[list[tuple], list[tuple]]:
    """First occurrence of each trade, split into (above the watermark, at/below it)."""
    seen: set[tuple] = set()
    fresh: list[tuple] = []
    old: list[tuple] = []
    for row in rows:
        ident = (row[0], row[1], row[2], row[3])
        if ident in seen:
            continue
        seen.add(ident)
        mark = marks.get(ident[:3])
        (fresh if mark is None or row[3] > mark else old).append(row)
    return fresh, old


def _max_ids(rows: Sequence[tuple]) -> dict[TradeKey, int]:
    out: dict[TradeKey, int] = {}
    for row in rows:
        out[row[:3]] = max(row[3], out.get(row[:3], row[3]))
    return out


def _insert_backfill(cur: duckdb.DuckDBPyConnection, rows: Sequence[tuple]) -> int:
    """Insert rows at/below the watermark that are not stored, one symbol at a time.

    The stored side is restricted to the symbol and the batch's id range, so DuckDB's
    min/max zone maps skip row groups outside it however large the table grows.
    """
    if not rows:
        return 0
    by_key: dict[TradeKey, list[tuple]] = {}
    for row in rows:
        by_key.setdefault((row[0], row[1], row[2]), []).append(row)
    written = 0
    for (exchange, market, symbol), group in by_key.items():
        ids = [row[3] for row in group]
        with _registered(cur, "_fd_old", rows_to_arrow(Trade, group)):
            res = cur.execute(
                f"""
                INSERT INTO trades BY NAME
                SELECT o.* FROM _fd_old o ANTI JOIN (
                    SELECT trade_id FROM trades
                    WHERE exchange = $exchange AND market = $market AND symbol = $symbol
                      AND trade_id BETWEEN {int(min(ids))} AND {int(max(ids))}
                ) t USING (trade_id)
                """,
                {"exchange": exchange, "market": market, "symbol": symbol},
            ).fetchone()
        written += int(res[0]) if res else 0
    return written


# -- candles: one row per bar, closed beats open -------------------------------------------


def _write_candles(cur: duckdb.DuckDBPyConnection, rows: Sequence[tuple]) -> int:
    """Upsert candles: a stored bar is replaced unless it is closed and the new one is open."""
    data = rows_to_arrow(Candle, _latest_candles(rows))
    keys = " AND ".join(f'c."{k}" = n."{k}"' for k in _CANDLE_KEY)
    with _registered(cur, "_fd_candles", data):
        cur.execute(
            f"DELETE FROM candles c USING _fd_candles n WHERE {keys} AND (n.closed OR NOT c.closed)"
        )
        using = ", ".join(f'"{k}"' for k in _CANDLE_KEY)
        res = cur.execute(
            f"INSERT INTO candles BY NAME SELECT n.* FROM _fd_candles n "
            f"ANTI JOIN candles c USING ({using})"
        ).fetchone()
    return int(res[0]) if res else 0


def _latest_candles(rows: Sequence[tuple]) -> list[tuple]:
    """One row per bar: a closed bar beats an open one, else the later row wins."""
    best: dict[tuple, Candle] = {}
    for row in rows:
        c = Candle._make(row)
        key = (c.exchange, c.market, c.symbol, c.interval, c.open_ts)
        prev = best.get(key)
        if prev is None or c.closed or not prev.closed:
            best[key] = c
    return list(best.values())
