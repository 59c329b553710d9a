"""Reading the store: which symbols have data, tick sizes, latest times and trade arrays.

Every function takes a DuckDB connection (or cursor) and a :class:`MarketKey`; none of them
keeps state, so the same calls serve the live window (a view over the writer's newest rows)
and history. ``source`` names the trades relation (default ``trades``): any table or view with
the ``trades`` columns works, e.g. an Arrow batch registered with ``con.register``.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np

from flowdesk.analytics.orderflow.common import (
    Grid,
    MarketKey,
    OrderflowError,
    dt_to_ms,
    first_row,
    ms_to_dt,
    relation_name,
)

#: tables whose rows make a symbol "known" (it has data), checked in this order
DATA_TABLES = (
    "trades",
    "depth_bands",
    "liquidations",
    "mark_funding",
    "open_interest",
    "quotes",
    "candles",
)


def has_rows(cur: duckdb.DuckDBPyConnection, table: str, key: MarketKey) -> bool:
    """Whether ``table`` holds at least one row for ``key`` (stops at the first)."""
    sql = f"SELECT 1 FROM {relation_name(table)} WHERE {key.where()} LIMIT 1"
    return first_row(cur.execute(sql, key.params())) is not None


def known_symbols(cur: duckdb.DuckDBPyConnection, exchange: str, market: str) -> list[str]:
    """Symbols with at least one stored row on ``exchange``/``market``, sorted."""
    union = " UNION ".join(
        f"SELECT DISTINCT symbol FROM {t} WHERE exchange = $exchange AND market = $market"
        for t in DATA_TABLES
    )
    rows = cur.execute(
        f"SELECT symbol FROM ({union}) ORDER BY symbol", {"exchange": exchange, "market": market}
    )
    return [r[0] for r in rows.fetchall()]


def require_symbol(cur: duckdb.DuckDBPyConnection, key: MarketKey) -> None:
    """Raise :class:`OrderflowError` naming the symbol and the known ones when no table holds
    a row for ``key``."""
    if any(has_rows(cur, t, key) for t in DATA_TABLES):
        return
    known = known_symbols(cur, key.exchange, key.market)
    where = f"{key.exchange}/{key.market}"
    if not known:
        raise OrderflowError(f"unknown symbol {key.symbol!r}: no data stored for {where} at all")
    raise OrderflowError(
        f"unknown symbol {key.symbol!r}: no data stored for it on {where}; known symbols: {known}"
    )


def tick_size(cur: duckdb.DuckDBPyConnection, key: MarketKey) -> float | None:
    """The instrument's tick size from ``instruments``, or None when it is not stored."""
    row = first_row(
        cur.execute(f"SELECT tick_size FROM instruments WHERE {key.where()}", key.params())
    )
    if row is None or row[0] is None or row[0] <= 0:
        return None
    return float(row[0])


def latest_ms(
    cur: duckdb.DuckDBPyConnection, table: str, key: MarketKey, before_ms: int | None = None
) -> int | None:
    """Epoch ms of the newest ``ts`` in ``table`` for ``key`` (before ``before_ms`` when
    given); None when there are no such rows."""
    bound = "" if before_ms is None else "AND ts < $t1"
    params = key.params() if before_ms is None else key.params(t1=ms_to_dt(before_ms))
    sql = f"SELECT max(ts) FROM {relation_name(table)} WHERE {key.where()} {bound}"
    row = first_row(cur.execute(sql, params))
    return None if row is None or row[0] is None else dt_to_ms(row[0])


def window_params(key: MarketKey, start_ms: int, end_ms: int, **extra: object) -> dict[str, object]:
    """Query parameters for ``key`` plus the half-open window ``[$t0, $t1)``."""
    return key.params(t0=ms_to_dt(start_ms), t1=ms_to_dt(end_ms), **extra)


@dataclass(frozen=True)
class TradeArrays:
    """Trades of one window in exchange order (``ts``, then ``trade_id``): time (epoch ms),
    integer tick index and signed quantity (+ buy aggressor, - sell aggressor)."""

    ms: np.ndarray
    tick: np.ndarray
    signed: np.ndarray

    def __len__(self) -> int:
        return len(self.ms)


def _in_exchange_order(ms: np.ndarray, ids: np.ndarray) -> bool:
    """Whether rows are sorted by (ms, id). Fast path: both columns non-decreasing (the
    normal case for one venue stream); otherwise the exact lexicographic test."""
    if np.all(ms[1:] >= ms[:-1]) and np.all(ids[1:] >= ids[:-1]):
        return True
    step = np.diff(ms)
    return bool(np.all((step > 0) | ((step == 0) & (np.diff(ids) >= 0))))


def load_trades(
    cur: duckdb.DuckDBPyConnection,
    key: MarketKey,
    grid: Grid,
    start_ms: int,
    end_ms: int,
    source: str = "trades",
) -> TradeArrays:
    """The trades of ``[start_ms, end_ms)`` as :class:`TradeArrays`, ordered by (ts, trade_id).

    The filter on ``ts`` lets DuckDB skip row groups by their min/max (the writer appends in
    time order). Rows come back in stored order, which is checked in one vectorised pass and
    only re-sorted when it is not already (ts, trade_id) order: sorting in SQL would cost
    more than the whole rest of a 24h footprint."""
    sql = f"""
        SELECT ts, trade_id, {grid.tick_sql()} AS tick,
               CASE WHEN side = 'buy' THEN qty ELSE -qty END AS signed
        FROM {relation_name(source)}
        WHERE {key.where()} AND ts >= $t0 AND ts < $t1
    """
    table = cur.sql(
        sql, params=window_params(key, start_ms, end_ms, tick=grid.tick)
    ).to_arrow_table()
    cols = {name: table.column(name).to_numpy() for name in ("trade_id", "tick", "signed")}
    cols["ms"] = (
        table.column("ts").to_numpy().astype("datetime64[ms]").view(np.int64)
    )  # cheaper than epoch_ms()
    if not _in_exchange_order(cols["ms"], cols["trade_id"]):
        order = np.lexsort((cols["trade_id"], cols["ms"]))
        cols = {name: values[order] for name, values in cols.items()}
    return TradeArrays(
        ms=cols["ms"].astype(np.int64, copy=False),
        tick=cols["tick"].astype(np.int64, copy=False),
        signed=cols["signed"].astype(np.float64, copy=False),
    )


def signed_volume(
    cur: duckdb.DuckDBPyConnection,
    key: MarketKey,
    start_ms: int,
    end_ms: int,
    source: str = "trades",
) -> float:
    """Sum of signed quantity (buy - sell) over ``[start_ms, end_ms)``; 0.0 for no trades."""
    if end_ms <= start_ms:
        return 0.0
    sql = f"""SELECT coalesce(sum(CASE WHEN side = 'buy' THEN qty ELSE -qty END), 0)
              FROM {relation_name(source)} WHERE {key.where()} AND ts >= $t0 AND ts < $t1"""
    return float(first_row(cur.execute(sql, window_params(key, start_ms, end_ms)))[0])


def edge_ticks(
    cur: duckdb.DuckDBPyConnection,
    key: MarketKey,
    grid: Grid,
    first_ms: int,
    last_ms: int,
    span_ms: int,
    source: str = "trades",
) -> tuple[int, int]:
    """Tick index of the first trade in ``[first_ms, first_ms + span_ms)`` and of the last
    trade in ``[last_ms, last_ms + span_ms)`` (exchange order). Callers pass the first and
    last minute known to hold trades, so each lookup reads one small time slice."""
    out = []
    for t0, direction in ((first_ms, "ASC"), (last_ms, "DESC")):
        sql = f"""SELECT {grid.tick_sql()} FROM {relation_name(source)}
                  WHERE {key.where()} AND ts >= $t0 AND ts < $t1
                  ORDER BY ts {direction}, trade_id {direction} LIMIT 1"""
        row = first_row(cur.execute(sql, window_params(key, t0, t0 + span_ms, tick=grid.tick)))
        if row is None:
            raise OrderflowError(
                f"no trade for {key.label} at {ms_to_dt(t0)} although minute stats listed one"
            )
        out.append(int(row[0]))
    return out[0], out[1]
