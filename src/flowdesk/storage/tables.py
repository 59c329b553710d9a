"""The write rules of the store's tables, inside the writer's transaction.

Plain tables are appended to (:func:`append`). Trades are de-duplicated on
``(exchange, market, symbol, trade_id)`` against per-symbol watermarks (:func:`write_trades`);
candles keep one row per ``(exchange, market, symbol, interval, open_ts)``, a closed bar
beating an open one (:func:`write_candles`). See ``docs/storage.md``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from flowdesk.records import Candle, Trade
from flowdesk.storage.arrow import rows_to_arrow

TradeKey = tuple[str, str, str]
_CANDLE_KEY = ("exchange", "market", "symbol", "interval", "open_ts")


def append(cur: duckdb.DuckDBPyConnection, table: str, data: pa.Table, view: str = "_fd_rows") -> int:
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


def load_watermarks(cur: duckdb.DuckDBPyConnection) -> dict[TradeKey, int]:
    """The highest stored trade id per (exchange, market, symbol), in one GROUP BY."""
    rows = cur.execute(
        "SELECT exchange, market, symbol, max(trade_id) FROM trades GROUP BY ALL"
    ).fetchall()
    return {(e, m, s): int(mx) for e, m, s, mx in rows}


def write_trades(
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
        return append(cur, "trades", data), {key: hi for key, (_lo, hi) in spans.items()}
    fresh, old = _split_trades(rows, marks)
    written = append(cur, "trades", rows_to_arrow(Trade, fresh))
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


def write_candles(cur: duckdb.DuckDBPyConnection, rows: Sequence[tuple]) -> int:
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
