"""Write throughput of the storage layer: trades and quotes through BatchWriter into DuckDB.

    .venv/bin/python benchmarks/storage_write.py [--rows 2000000] [--batch-rows 10000]

Rows are generated in chunks before each timed section, so the figures are the writer's:
queue, Arrow conversion, trade dedupe and the DuckDB insert, committed to a file on disk.
Phases: live trades (ids above the watermark), live quotes, a REST backfill that overlaps
stored trades (the anti-join path), then a naive ``executemany`` baseline measured on a small
sample and extrapolated (labelled as such).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from flowdesk.records import Quote, Trade
from flowdesk.storage.store import Store
from flowdesk.storage.writer import BatchWriter

T0_MS = 1723075200000
SYMBOLS = [f"SYM{i}USDT" for i in range(10)]
CHUNK_BATCHES = 20  # batches generated ahead of each timed section


def make_trades(start: int, n: int, source: str = "ws", step: int = 1) -> list[Trade]:
    """``n`` trades with ids ``start, start + step, ...``; trade ``i`` is on symbol ``i % 10``."""
    return [
        Trade("binance", "usdm", SYMBOLS[i % 10], i, 60000.0 + (i % 500) * 0.1, 0.001 * (i % 97 + 1),
              "buy" if i % 3 else "sell", T0_MS + i // 10, (T0_MS + i // 10) * 1_000_000 + 4321,
              i, i, source)
        for i in range(start, start + n * step, step)
    ]


def make_quotes(start: int, n: int) -> list[Quote]:
    return [
        Quote("binance", "usdm", SYMBOLS[i % 10], 60000.0 + (i % 500) * 0.1, 1.5,
              60000.1 + (i % 500) * 0.1, 2.5, i, T0_MS + i // 10, (T0_MS + i // 10) * 1_000_000)
        for i in range(start, start + n)
    ]


def batches(make: Callable[[int, int], list], first: int, total: int, size: int) -> Iterator[list]:
    for start in range(first, first + total, size):
        yield make(start, min(size, first + total - start))


def backfill_pages(stored: int, total: int, page: int = 1000) -> Iterator[list]:
    """REST-style pages: ``page`` consecutive trades of one symbol from the middle of the
    stored range (all already stored: every row goes through the anti-join)."""
    for k in range(max(1, total // page)):
        start = stored // 4 + (k // 10) * page * 10 + k % 10
        yield make_trades(start, page, "rest", step=10)


def timed_writes(writer: BatchWriter, record_type: type, gen: Iterator[list]) -> tuple[int, float]:
    """Put every batch and flush, timing only the writer's work; (rows, seconds)."""
    rows, seconds = 0, 0.0
    while True:
        chunk = [b for _, b in zip(range(CHUNK_BATCHES), gen, strict=False)]
        if not chunk:
            return rows, seconds
        started = time.perf_counter()
        for batch in chunk:
            writer.put({record_type: batch})
        if not writer.flush(timeout=600):
            raise RuntimeError("writer did not flush")
        seconds += time.perf_counter() - started
        rows += sum(len(b) for b in chunk)


def naive_rate(path: Path, sample: int, one_transaction: bool) -> tuple[float, float]:
    """Rows/s of row-by-row ``executemany`` for trades and quotes into a fresh file, either
    autocommitting (DuckDB commits each row) or inside one explicit transaction."""
    t_rows = [(*t[:7], t.ts * 1000, t.recv_ns // 1000, *t[9:]) for t in make_trades(0, sample)]
    q_rows = [(*q[:8], q.ts * 1000, q.recv_ns // 1000) for q in make_quotes(0, sample)]
    statements = [
        ("INSERT INTO trades VALUES (?, ?, ?, ?, ?, ?, ?, make_timestamp(?), make_timestamp(?),"
         " ?, ?, ?)", t_rows),
        ("INSERT INTO quotes VALUES (?, ?, ?, ?, ?, ?, ?, ?, make_timestamp(?), make_timestamp(?))",
         q_rows),
    ]
    rates = []
    with Store(path) as store:
        cur = store.cursor()
        for sql, rows in statements:
            started = time.perf_counter()
            if one_transaction:
                cur.execute("BEGIN TRANSACTION")
            cur.executemany(sql, rows)
            if one_transaction:
                cur.execute("COMMIT")
            rates.append(sample / (time.perf_counter() - started))
    return rates[0], rates[1]


def warm_up() -> None:
    """One small write in memory, so lazy imports inside pyarrow/DuckDB are not timed."""
    with Store(":memory:") as store:
        BatchWriter(store).write_batch_sync({Trade: make_trades(0, 100), Quote: make_quotes(0, 100)})


def report(label: str, rows: int, seconds: float) -> None:
    print(f"{label:<44} {rows:>10,} rows {seconds:8.2f} s {rows / seconds:>12,.0f} rows/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="trades and quotes each")
    parser.add_argument("--batch-rows", type=int, default=10_000, help="rows per batch")
    parser.add_argument("--backfill-rows", type=int, default=100_000)
    parser.add_argument("--naive-sample", type=int, default=2_000)
    parser.add_argument("--db", type=Path, help="database file (default: a temporary one)")
    args = parser.parse_args()
    warm_up()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "bench.duckdb"
        with Store(path) as store:
            writer = BatchWriter(store).start()
            n, size = args.rows, args.batch_rows
            report("BatchWriter trades (live, deduped)", *timed_writes(
                writer, Trade, batches(make_trades, 0, n, size)))
            report("BatchWriter quotes", *timed_writes(writer, Quote, batches(make_quotes, 0, n, size)))
            rest = backfill_pages(n, args.backfill_rows)
            report(f"  backfill pages, checked vs {n:,} stored", *timed_writes(writer, Trade, rest))
            stats = writer.stats()
            writer.stop()
            print(f"rows stored: {store.table_stats()['trades']:,} trades, "
                  f"{store.table_stats()['quotes']:,} quotes; errors {stats['errors']}; "
                  f"duplicates skipped {stats['duplicates_skipped']:,}")
        for one_txn in (False, True):
            mode = "one transaction" if one_txn else "autocommit"
            db = Path(tmp) / f"naive-{mode.replace(' ', '-')}.duckdb"
            rates = naive_rate(db, args.naive_sample, one_txn)
            for table, rate in zip(("trades", "quotes"), rates, strict=True):
                print(f"naive executemany {table}, {mode} (extrapolated from a "
                      f"{args.naive_sample:,}-row sample): {rate:,.0f} rows/s -> "
                      f"{n / rate:,.0f} s for {n:,}")

if __name__ == "__main__":
    main()
