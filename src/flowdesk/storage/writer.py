"""Batched writes into the store, on one thread.

:class:`BatchWriter` owns the write side of a :class:`~flowdesk.storage.store.Store`: producers
``put`` batches (``{Trade: [...], Quote: [...]}``) on a bounded queue, and one background
thread writes each batch in one transaction (batches that queued up behind it are merged:
group commit). Records become Arrow tables in :mod:`flowdesk.storage.arrow`; the per-table
rules (trade dedupe, candle upserts, plain appends) are in :mod:`flowdesk.storage.tables`.
See ``docs/storage.md``.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from flowdesk.records import Candle, Trade
from flowdesk.storage.arrow import rows_to_arrow, warm_arrow
from flowdesk.storage.schema import TABLE_OF
from flowdesk.storage.store import Store
from flowdesk.storage.tables import TradeKey, append, load_watermarks, write_candles, write_trades

log = logging.getLogger(__name__)

Batch = Mapping[type, Sequence[tuple]]
#: the most rows one group commit merges (see :meth:`BatchWriter._handle_group`)
GROUP_ROWS = 200_000


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
                self._marks = load_watermarks(self._cur)

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
                    written, new_marks = write_trades(cur, rows, self._marks)
                    duplicates += len(rows) - written
                elif record_type is Candle:
                    written = write_candles(cur, rows)
                else:
                    written = append(cur, table, rows_to_arrow(record_type, rows))
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


