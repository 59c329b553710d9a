"""Derivatives data: liquidations (events, by side, by price bucket), funding and open interest.

Liquidation ``side`` is the side of the forced order: ``sell`` closes (liquidates) a long,
``buy`` a short. An event's quantity is its filled quantity when the venue reports one
(non-zero), else its order quantity; its price is the average fill price when reported, else
the order price; notional = price × quantity.
"""

from __future__ import annotations

import math
from typing import Any

import duckdb
import numpy as np

from flowdesk.analytics.orderflow.common import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    MarketKey,
    OrderflowError,
    first_row,
    iso_ms,
    ms_to_dt,
    qty,
)

#: windows the open-interest change is reported over (those not longer than the history asked)
OI_WINDOWS = {
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "1h": HOUR_MS,
    "4h": 4 * HOUR_MS,
    "24h": DAY_MS,
}
LIQ_QTY = "coalesce(nullif(filled_qty, 0), qty)"
LIQ_PRICE = "coalesce(nullif(avg_price, 0), price)"
_LIQ_ORDER = "ts DESC, side, price, qty, recv_ts"


def parse_cursor(cursor: str | None) -> tuple[int, int] | None:
    """``(ts_us, skip)`` from a cursor ``"<epoch µs>:<rows at that time already returned>"``."""
    if cursor is None:
        return None
    try:
        ts_us, skip = (int(p) for p in str(cursor).split(":"))
    except ValueError:
        raise OrderflowError(
            f"cursor {cursor!r} is not one this tool returned (next_cursor)"
        ) from None
    if skip < 0:
        raise OrderflowError(f"cursor {cursor!r} is not one this tool returned (next_cursor)")
    return ts_us, skip


def liquidation_page(
    cur: duckdb.DuckDBPyConnection, key: MarketKey, end_ms: int, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest-first liquidation events up to ``end_ms`` (or after ``cursor``) and the cursor of
    the next page (None when there is no more)."""
    after = parse_cursor(cursor)
    bound_us, skip = after if after else (end_ms * 1000, 0)
    sql = f"""
        SELECT epoch_us(ts) AS t, side, price, avg_price, qty, filled_qty, status,
               {LIQ_PRICE} * {LIQ_QTY} AS notional
        FROM liquidations WHERE {key.where()} AND epoch_us(ts) <= $bound
        ORDER BY {_LIQ_ORDER} LIMIT $n OFFSET $skip
    """
    rows = cur.execute(sql, key.params(bound=bound_us, n=limit + 1, skip=skip)).fetchall()
    more, rows = len(rows) > limit, rows[:limit]
    events = [
        {
            "time": iso_ms(t // 1000),
            "side": side,
            "liquidated": "long" if side == "sell" else "short",
            "price": price,
            "avg_price": avg,
            "qty": q,
            "filled_qty": filled,
            "status": status,
            "notional": float(qty(notional)),
        }
        for t, side, price, avg, q, filled, status, notional in rows
    ]
    if not more:
        return events, None
    last_t = rows[-1][0]
    same = sum(1 for r in rows if r[0] == last_t) + (skip if last_t == bound_us else 0)
    return events, f"{last_t}:{same}"


def liquidation_aggregates(
    cur: duckdb.DuckDBPyConnection,
    key: MarketKey,
    window: tuple[int, int],
    bucket: float | None,
    max_buckets: int,
) -> dict[str, Any]:
    """Counts, quantity and notional by side over ``(start, end]``, and by price bucket
    (``bucket`` price units, labelled by their lowest price, highest first; at most
    ``max_buckets``, those with the most notional, with ``by_price_note`` when cut)."""
    start_ms, end_ms = window
    params = key.params(t0=ms_to_dt(start_ms), t1=ms_to_dt(end_ms))
    where = f"{key.where()} AND ts > $t0 AND ts <= $t1"
    by_side = {
        side: {"count": n, "qty": float(qty(q)), "notional": float(qty(v))}
        for side, n, q, v in cur.execute(
            f"SELECT side, count(*), sum({LIQ_QTY}), sum({LIQ_PRICE} * {LIQ_QTY}) FROM liquidations WHERE {where} GROUP BY side",
            params,
        ).fetchall()
    }
    out: dict[str, Any] = {"by_side": by_side, "by_price": []}
    if bucket is None or not by_side:
        return out
    sql = f"""SELECT * FROM (
                SELECT floor({LIQ_PRICE} / $b + 1e-9)::BIGINT AS k, count(*),
                       sum(CASE WHEN side = 'sell' THEN {LIQ_PRICE} * {LIQ_QTY} ELSE 0 END) AS lv,
                       sum(CASE WHEN side = 'buy' THEN {LIQ_PRICE} * {LIQ_QTY} ELSE 0 END) AS sv
                FROM liquidations WHERE {where} GROUP BY k ORDER BY lv + sv DESC LIMIT $cap)
              ORDER BY k DESC"""
    decimals = max(0, -math.floor(math.log10(bucket)) + 2)
    out["by_price"] = [
        {
            "price": round(k * bucket, decimals),
            "count": n,
            "long_liquidated_notional": float(qty(lv)),
            "short_liquidated_notional": float(qty(sv)),
        }
        for k, n, lv, sv in cur.execute(
            sql, {**params, "b": bucket, "cap": max_buckets + 1}
        ).fetchall()
    ]
    if len(out["by_price"]) > max_buckets:
        out["by_price"] = sorted(out["by_price"], key=_bucket_total, reverse=True)[:max_buckets]
        out["by_price"].sort(key=lambda b: -b["price"])
        out["by_price_note"] = f"only the {max_buckets} buckets with the most notional are listed"
    return out


def _bucket_total(bucket: dict[str, Any]) -> float:
    return float(bucket["long_liquidated_notional"] + bucket["short_liquidated_notional"])


def liquidation_vwap(
    cur: duckdb.DuckDBPyConnection, key: MarketKey, start_ms: int, end_ms: int
) -> float | None:
    """Quantity-weighted mean liquidation price over ``(start_ms, end_ms]``; None if none."""
    row = first_row(
        cur.execute(
            f"SELECT sum({LIQ_PRICE} * {LIQ_QTY}) / nullif(sum({LIQ_QTY}), 0) FROM liquidations "
            f"WHERE {key.where()} AND ts > $t0 AND ts <= $t1",
            key.params(t0=ms_to_dt(start_ms), t1=ms_to_dt(end_ms)),
        )
    )
    return None if row is None or row[0] is None else float(row[0])


def bucket_size(reference: float, pct: float, tick: float | None) -> float:
    """A price bucket of ``pct`` percent of ``reference``, a whole number of ticks (>= 1)."""
    raw = reference * pct / 100.0
    if tick is None:
        return raw
    return round(max(1, round(raw / tick)) * tick, 12)


# ------------------------------------------------------------------------ funding and OI


def latest_row(
    cur: duckdb.DuckDBPyConnection,
    table: str,
    columns: str,
    key: MarketKey,
    at_ms: int | None = None,
) -> tuple[Any, ...] | None:
    """The newest row of ``table`` for ``key`` (at or before ``at_ms`` when given)."""
    cond = "" if at_ms is None else "AND ts <= $t"
    params = key.params() if at_ms is None else key.params(t=ms_to_dt(at_ms))
    sql = f"SELECT epoch_ms(ts), {columns} FROM {table} WHERE {key.where()} {cond} ORDER BY ts DESC LIMIT 1"
    return first_row(cur.execute(sql, params))


def bucketed_series(
    cur: duckdb.DuckDBPyConnection,
    table: str,
    columns: list[str],
    key: MarketKey,
    start_ms: int,
    end_ms: int,
    bucket_ms: int,
) -> dict[str, list[Any]]:
    """Last value of each column per bucket over ``(start_ms, end_ms]``, oldest first, with the
    sample time of each bucket's last row."""
    picks = ", ".join(f"arg_max({c}, ts) AS {c}" for c in columns)
    sql = f"""SELECT ($t1_ms - epoch_ms(ts)) // $w AS k, epoch_ms(max(ts)) AS t, {picks}
              FROM {table} WHERE {key.where()} AND ts > $t0 AND ts <= $t1 GROUP BY k ORDER BY k DESC"""
    t = cur.sql(
        sql,
        params=key.params(w=bucket_ms, t1_ms=end_ms, t0=ms_to_dt(start_ms), t1=ms_to_dt(end_ms)),
    ).fetchnumpy()
    out: dict[str, list[Any]] = {"time": [iso_ms(int(x)) for x in np.asarray(t["t"]).tolist()]}
    for c in columns:
        values = np.asarray(t[c], dtype=np.float64)
        out[c] = [None if v != v else v for v in values.tolist()]
    return out


def oi_changes(
    cur: duckdb.DuckDBPyConnection,
    key: MarketKey,
    as_of_ms: int,
    latest: float,
    windows: dict[str, int],
) -> dict[str, Any]:
    """Open-interest change over each named window: latest minus the last value at or before
    ``as_of - window``; None (with ``reason``) when the history does not reach back that far."""
    out: dict[str, Any] = {}
    for name, ms in windows.items():
        row = latest_row(cur, "open_interest", "open_interest", key, as_of_ms - ms)
        if row is None:
            out[name] = {
                "change": None,
                "change_pct": None,
                "reason": "no open interest stored that far back",
            }
            continue
        before = float(row[1])
        out[name] = {
            "from": before,
            "from_time": iso_ms(int(row[0])),
            "change": float(qty(latest - before)),
            "change_pct": None if before == 0 else round((latest - before) / before * 100, 4),
        }
    return out


def funding_block(
    cur: duckdb.DuckDBPyConnection, key: MarketKey, window: tuple[int, int], bucket_ms: int
) -> dict[str, Any] | None:
    """Latest mark/index price, funding rate, next funding time and basis, with the funding
    rate and mark price history over ``window``; None when no mark price is stored."""
    row = latest_row(
        cur, "mark_funding", "mark_price, index_price, funding_rate, epoch_ms(next_funding_ts)", key
    )
    if row is None:
        return None
    t, mark, index, rate, next_ts = row
    history = bucketed_series(
        cur, "mark_funding", ["funding_rate", "mark_price"], key, *window, bucket_ms
    )
    return {
        "time": iso_ms(int(t)),
        "mark_price": mark,
        "index_price": index,
        "funding_rate": rate,
        "next_funding_time": iso_ms(int(next_ts)) if next_ts is not None else None,
        "basis_pct": None if not index else round((mark - index) / index * 100, 6),
        "history": history,
    }


def oi_block(
    cur: duckdb.DuckDBPyConnection, key: MarketKey, window: tuple[int, int], bucket_ms: int
) -> dict[str, Any] | None:
    """Latest open interest (and value), its change over the :data:`OI_WINDOWS` that fit in
    ``window`` and its history; None when none is stored."""
    row = latest_row(cur, "open_interest", "open_interest, open_interest_value", key)
    if row is None:
        return None
    t, oi, value = row
    span = window[1] - window[0]
    columns = ["open_interest", "open_interest_value"]
    return {
        "time": iso_ms(int(t)),
        "open_interest": oi,
        "open_interest_value": value,
        "changes": oi_changes(
            cur, key, int(t), float(oi), {k: v for k, v in OI_WINDOWS.items() if v <= span}
        ),
        "history": bucketed_series(cur, "open_interest", columns, key, *window, bucket_ms),
    }
