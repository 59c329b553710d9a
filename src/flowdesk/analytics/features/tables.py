"""The canonical tables as query targets: validated column lists, parameterized selects,
per-timeframe aggregates and file exports.

Callers name a stream (a table) and columns; both are checked against the database's own
catalog before they are quoted into SQL, and every value (symbol, times, limits) is a bound
parameter, so no caller text ever becomes SQL.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from flowdesk.analytics.orderflow.common import (
    MarketKey,
    OrderflowError,
    first_row,
    iso_ms,
    ms_to_dt,
)
from flowdesk.storage.schema import RETENTION_COLUMNS

#: stream -> its time column
STREAMS: dict[str, str] = dict(RETENTION_COLUMNS)  # every canonical stream and its time column
_LIQ_Q, _LIQ_P = "coalesce(nullif(filled_qty, 0), qty)", "coalesce(nullif(avg_price, 0), price)"
#: the default bar columns of each stream (name -> SQL aggregate over the bucket's rows)
BARS: dict[str, dict[str, str]] = {
    "trades": {
        "open": "arg_min(price, (ts, trade_id))", "high": "max(price)", "low": "min(price)",
        "close": "arg_max(price, (ts, trade_id))", "volume": "sum(qty)",
        "buy_volume": "sum(qty) FILTER (side = 'buy')", "sell_volume": "sum(qty) FILTER (side = 'sell')",
        "trades": "count(*)", "vwap": "sum(price * qty) / sum(qty)",
    },
    "quotes": {
        "bid": "arg_max(bid, ts)", "ask": "arg_max(ask, ts)",
        "spread_bps": "avg((ask - bid) / ((ask + bid) / 2) * 1e4)", "updates": "count(*)",
    },
    "mark_funding": {
        "mark_price": "arg_max(mark_price, ts)", "index_price": "arg_max(index_price, ts)",
        "funding_rate": "arg_max(funding_rate, ts)",
    },
    "open_interest": {"open_interest": "arg_max(open_interest, ts)", "open_interest_value": "arg_max(open_interest_value, ts)"},
    "liquidations": {
        "long_count": "count(*) FILTER (side = 'sell')", "short_count": "count(*) FILTER (side = 'buy')",
        "long_notional": f"sum({_LIQ_P} * {_LIQ_Q}) FILTER (side = 'sell')",
        "short_notional": f"sum({_LIQ_P} * {_LIQ_Q}) FILTER (side = 'buy')",
    },
    "tickers_24h": {"last": "arg_max(last, ts)", "volume": "arg_max(volume, ts)", "quote_volume": "arg_max(quote_volume, ts)"},
    "candles": {
        "open": "arg_min(open, open_ts)", "high": "max(high)", "low": "min(low)",
        "close": "arg_max(close, open_ts)", "volume": "sum(volume)", "trades": "sum(trade_count)",
    },
    "depth_bands": {
        "mid": "arg_max(mid, ts)", "bid_notional_0_5pct": "avg(bid_notional) FILTER (band_pct = 0.5)",
        "ask_notional_0_5pct": "avg(ask_notional) FILTER (band_pct = 0.5)",
    },
}
#: statistics a bar can take of one column
STATS = {"first": "arg_min({c}, {t})", "last": "arg_max({c}, {t})", "min": "min({c})", "max": "max({c})",
         "mean": "avg({c})", "sum": "sum({c})", "count": "count({c})"}
_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


def check_stream(stream: str) -> str:
    s = str(stream).strip().lower()
    if s not in STREAMS:
        raise OrderflowError(f"unknown stream {stream!r}; choose one of {sorted(STREAMS)}")
    return s


def table_columns(cur: duckdb.DuckDBPyConnection, stream: str) -> list[str]:
    """The table's columns, from the database catalog, in table order."""
    rows = cur.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND schema_name = 'main' "
        "AND database_name = current_database() ORDER BY column_index",
        [stream],
    ).fetchall()
    return [r[0] for r in rows]


def check_columns(cur: duckdb.DuckDBPyConnection, stream: str, columns: list[str] | None) -> list[str]:
    """The requested columns (all when None), each checked to exist in the table."""
    known = table_columns(cur, stream)
    if columns is None:
        return known
    if isinstance(columns, str) or not isinstance(columns, list) or not columns:
        raise OrderflowError("columns must be a non-empty list of column names")
    bad = [c for c in columns if c not in known]
    if bad:
        raise OrderflowError(f"{stream} has no column(s) {bad}; its columns: {known}")
    return list(dict.fromkeys(columns))


def _where(key: MarketKey, tcol: str, extra: str = "") -> str:
    return f"{key.where()} AND {tcol} >= $t0 AND {tcol} < $t1{extra}"


def select_rows(
    cur: duckdb.DuckDBPyConnection, stream: str, key: MarketKey, window: tuple[int, int],
    columns: list[str], limit: int, newest_first: bool, name: str | None = None,
) -> tuple[list[str], list[list[Any]], bool]:
    """Up to ``limit`` rows of ``[start, end)``; times as ISO text. Returns (columns, rows,
    truncated)."""
    tcol = STREAMS[stream]
    quoted = ", ".join(f'"{c}"' for c in columns)
    extra = " AND name = $name" if name is not None else ""
    order = "DESC" if newest_first else "ASC"
    params = key.params(t0=ms_to_dt(window[0]), t1=ms_to_dt(window[1]), n=limit + 1)
    if name is not None:
        params["name"] = name
    res = cur.execute(
        f"SELECT {quoted} FROM {stream} WHERE {_where(key, tcol, extra)} ORDER BY {tcol} {order}, rowid {order} LIMIT $n",
        params,
    )
    rows = res.fetchall()
    truncated = len(rows) > limit
    return columns, [[_json(v) for v in row] for row in rows[:limit]], truncated


def newest_in(cur: duckdb.DuckDBPyConnection, stream: str, key: MarketKey, window: tuple[int, int]) -> int | None:
    """Epoch ms of the newest row of the window (None when it holds none)."""
    tcol = STREAMS[stream]
    row = first_row(cur.execute(
        f"SELECT epoch_ms(max({tcol})) FROM {stream} WHERE {_where(key, tcol)}",
        key.params(t0=ms_to_dt(window[0]), t1=ms_to_dt(window[1])),
    ))
    return None if row is None or row[0] is None else int(row[0])


def _json(v: Any) -> Any:
    if hasattr(v, "isoformat"):
        return v.isoformat() + ("Z" if getattr(v, "tzinfo", None) is None else "")
    return v


def bars(
    cur: duckdb.DuckDBPyConnection, stream: str, key: MarketKey, window: tuple[int, int], tf_ms: int,
    column: str | None = None, stat: str = "last", name: str | None = None, max_bars: int = 500,
) -> tuple[list[str], list[list[Any]], bool]:
    """Per-bar aggregates: the stream's default bar columns, or ``stat`` of one ``column``
    (features: ``name`` selects the feature and ``column`` defaults to ``value``). Bars are
    UTC multiples of ``tf_ms``; only bars holding rows are returned, newest ``max_bars``."""
    tcol = STREAMS[stream]
    if stream == "features" and name is None:
        raise OrderflowError("stream 'features' needs name= (a feature name)")
    if column is None and stream in BARS:
        aggs = dict(BARS[stream])
    else:
        col = column or ("value" if stream == "features" else None)
        if col is None:
            raise OrderflowError(f"stream {stream!r} has no default bars; pass column= and stat=")
        check_columns(cur, stream, [col])
        if stat not in STATS:
            raise OrderflowError(f"stat must be one of {sorted(STATS)}, got {stat!r}")
        aggs = {f"{col}_{stat}": STATS[stat].format(c=f'"{col}"', t=tcol)}
    select = ", ".join(f'{sql} AS "{alias}"' for alias, sql in aggs.items())
    extra = " AND name = $name" if name is not None else ""
    params = key.params(t0=ms_to_dt(window[0]), t1=ms_to_dt(window[1]), tf=tf_ms, n=max_bars + 1)
    if name is not None:
        params["name"] = name
    rows = cur.execute(
        f"SELECT * FROM (SELECT epoch_ms({tcol}) // $tf * $tf AS bar, {select} FROM {stream} "
        f"WHERE {_where(key, tcol, extra)} GROUP BY bar ORDER BY bar DESC LIMIT $n) ORDER BY bar",
        params,
    ).fetchall()
    truncated = len(rows) > max_bars
    rows = rows[-max_bars:] if truncated else rows
    return ["time", *aggs], [[iso_ms(int(r[0])), *r[1:]] for r in rows], truncated


# -- export ---------------------------------------------------------------------------------


def safe_name(name: str, suffix: str) -> str:
    """A file name made only of letters, digits, ``.``, ``_`` and ``-`` (no folders, no
    leading dot), at most 120 characters, ending in ``suffix``."""
    base = Path(str(name)).name  # drop any folder part the caller put in
    base = _NAME_RE.sub("_", base).lstrip(".-_")[:100]
    if not base:
        raise OrderflowError(f"file name {name!r} has no usable characters (letters, digits, . _ -)")
    return base if base.endswith(suffix) else base + suffix


def inside(folder: Path, name: str) -> Path:
    """``folder / name`` after checking that it resolves inside ``folder`` (no escape through
    ``..`` or symbolic links)."""
    root = folder.resolve()
    path = (root / name).resolve()
    if path.parent != root:
        raise OrderflowError(f"refusing to write {name!r} outside the export directory")
    return path


def export(
    cur: duckdb.DuckDBPyConnection, stream: str, key: MarketKey, window: tuple[int, int],
    columns: list[str], fmt: str, folder: Path, name: str, max_rows: int,
) -> dict[str, Any]:
    """Write the rows of ``[start, end)`` to ``folder/name`` as Parquet or CSV (atomically:
    a temporary file renamed into place). Raises when more than ``max_rows`` rows match."""
    tcol = STREAMS[stream]
    params = key.params(t0=ms_to_dt(window[0]), t1=ms_to_dt(window[1]))
    count = first_row(cur.execute(f"SELECT count(*) FROM {stream} WHERE {_where(key, tcol)}", params))
    n = int(count[0]) if count else 0
    if n == 0:
        raise OrderflowError(f"no {stream} rows for {key.label} in the window: nothing exported")
    if n > max_rows:
        raise OrderflowError(f"{n} rows match, more than max_rows={max_rows}: narrow the window")
    quoted = ", ".join(f'"{c}"' for c in columns)
    table: pa.Table = cur.sql(
        f"SELECT {quoted} FROM {stream} WHERE {_where(key, tcol)} ORDER BY {tcol}, rowid", params=params
    ).to_arrow_table()
    folder.mkdir(parents=True, exist_ok=True)
    path = inside(folder, name)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if fmt == "parquet":
        pq.write_table(table, tmp, compression="zstd")
    else:
        pacsv.write_csv(table, tmp)
    os.replace(tmp, path)
    return {"path": str(path), "rows": table.num_rows, "bytes": path.stat().st_size, "columns": columns}
