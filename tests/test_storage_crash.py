"""Crash safety: kill -9 a process in the middle of writing, then reopen its database.

The child writes batches of new trades (overlapping the previous batch, so dedupe runs) plus
one quote per new trade, in one transaction per batch, and prints the highest trade id after
each confirmed flush. After the kill the file must open, keep its migrations, hold every
confirmed trade, no duplicates, and no half-written batch (trades and quotes match).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from flowdesk.storage import schema
from flowdesk.storage.store import Store

CHILD = textwrap.dedent(
    """
    import sys
    from flowdesk.records import Quote, Trade
    from flowdesk.storage.store import Store
    from flowdesk.storage.writer import BatchWriter

    KEY = ("binance", "usdm", "BTCUSDT")
    BATCH, OVERLAP = 2000, 200
    store = Store(sys.argv[1])
    writer = BatchWriter(store, queue_batches=8).start()
    next_id = writer.watermarks().get(KEY, -1) + 1
    n = 0
    while True:
        ids = range(max(0, next_id - OVERLAP), next_id + BATCH)
        trades = [Trade(*KEY, i, 60000.0, 0.01, "buy", 1723075200000 + i,
                        1723075200000000000 + i, i, i, "ws") for i in ids]
        quotes = [Quote(*KEY, 1.0, 1.0, 2.0, 1.0, i, 1723075200000 + i,
                        1723075200000000000 + i) for i in range(next_id, next_id + BATCH)]
        writer.put({Trade: trades, Quote: quotes})
        next_id += BATCH
        n += 1
        if n % 4 == 0:
            assert writer.flush(timeout=30)
            assert writer.stats()["errors"] == 0, writer.stats()["last_error"]
            print("confirmed", next_id - 1, flush=True)
        if n % 10 == 0:
            store.checkpoint()  # let some kills land during a checkpoint
    """
)

LATEST = max(m.version for m in schema.MIGRATIONS)


def run_until_killed(path: Path, confirmations: int, delay_s: float) -> int:
    """Start the writer child, wait for ``confirmations`` flushes, kill -9 it; the last
    confirmed trade id."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True
    )
    confirmed = -1
    try:
        assert child.stdout is not None
        for _ in range(confirmations):
            line = child.stdout.readline()
            assert line.startswith("confirmed"), f"child said {line!r}"
            confirmed = int(line.split()[1])
        time.sleep(delay_s)
        assert child.poll() is None, "the child stopped by itself"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=20)
    assert child.returncode == -signal.SIGKILL
    return confirmed


def check_database(path: Path, confirmed: int) -> int:
    with Store(path) as store:
        assert store.schema_version() == LATEST
        assert store.migrate() == []
        count, distinct, lo, hi = store.connection.execute(
            "SELECT count(*), count(DISTINCT (exchange, market, symbol, trade_id)),"
            " min(trade_id), max(trade_id) FROM trades"
        ).fetchone()
        quotes = store.connection.execute("SELECT count(*) FROM quotes").fetchone()[0]
    assert count == distinct, "duplicate trade ids after the crash"
    assert hi >= confirmed, "confirmed trades were lost"
    assert (lo, count) == (0, hi + 1), "a gap in the stored trade ids"
    assert quotes == count, "a batch was half written (trades and quotes disagree)"
    return hi


#: (confirmed flushes to wait for, extra seconds of writing before the kill), one per run
KILLS = [(1, 0.0), (3, 0.02), (6, 0.15)]


def test_kill_9_mid_write_keeps_confirmed_rows(tmp_path: Path) -> None:
    path = tmp_path / "crash.duckdb"
    last_hi = -1
    for confirmations, delay_s in KILLS:  # each restart continues the same file
        confirmed = run_until_killed(path, confirmations, delay_s)
        assert confirmed > last_hi
        last_hi = check_database(path, confirmed)
        print(f"confirmed {confirmed}, stored up to {last_hi}")
