"""History and export tools over the canonical tables, and feature statistics/correlations.

Streams are the stored tables: trades, quotes, mark_funding, open_interest, liquidations,
tickers_24h, candles, book_snapshots, depth_bands and features. Arguments are validated and
bound as parameters; column names are checked against the database catalog; no caller text
becomes SQL. Exports are written only under the configured export directory
(``features.export_dir``, default ``<data_dir>/exports``) with sanitized file names.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from flowdesk.analytics.features import store as fs
from flowdesk.analytics.features import tables as tb
from flowdesk.analytics.features.catalog import GROUPS, names_in
from flowdesk.analytics.features.config import export_dir
from flowdesk.analytics.orderflow.common import iso_ms, ms_to_dt, parse_time, parse_timeframe
from flowdesk.tools.context import get_context
from flowdesk.tools.features import answering, market_key, source, venue, window
from flowdesk.tools.registry import ToolError, tool

MAX_ROWS = 5_000
MAX_BARS = 5_000
MAX_EXPORT_ROWS = 10_000_000
MAX_STAT_FEATURES = 100
MAX_CORR_FEATURES = 30
FORMATS = {"parquet": ".parquet", "csv": ".csv"}
COMPACT_STATS = ("count", "mean", "sd", "p50", "last")


def _whole(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ToolError(f"{name} must be a whole number from {lo} to {hi}, got {value!r}")
    return value


@tool("history")
def query_history(
    stream: str,
    symbol: str,
    exchange: str = "binance_usdm",
    start: str | None = None,
    end: str | None = None,
    columns: list[str] | None = None,
    limit: int = 100,
    newest_first: bool = False,
    name: str | None = None,
) -> dict[str, Any]:
    """Stored rows of one stream (table) for one instrument in ``[start, end)`` (ISO-8601;
    default the last hour of data), oldest first (``newest_first=True`` flips it), only the
    ``columns`` asked (default all; checked against the table), at most ``limit`` rows (hard cap
    5000; ``truncated`` says when more matched). ``name`` filters the features stream by feature.
    Returns ``columns`` and ``rows`` (lists, times ISO-8601) and ``source``."""
    _whole(limit, "limit", 1, MAX_ROWS)
    ctx = get_context()
    with answering(), ctx.db() as cur:
        s = tb.check_stream(stream)
        key = market_key(cur, symbol, exchange)
        cols = tb.check_columns(cur, s, columns)
        win = window(cur, key, start, end, "1h")
        names, rows, truncated = tb.select_rows(cur, s, key, win, cols, limit, newest_first, name)
        newest = tb.newest_in(cur, s, key, win)
    out: dict[str, Any] = {"stream": s, "symbol": key.symbol, "columns": names, "rows": rows, "count": len(rows), "truncated": truncated}
    if truncated:
        out["note"] = f"more than {limit} rows matched; narrow the window or raise limit (max {MAX_ROWS})"
    return {**out, "source": source(key, win, newest)}


@tool("history")
def aggregate_by_timeframe(
    stream: str,
    symbol: str,
    timeframe: str = "1m",
    exchange: str = "binance_usdm",
    start: str | None = None,
    end: str | None = None,
    column: str | None = None,
    stat: str = "last",
    name: str | None = None,
    max_bars: int = 500,
) -> dict[str, Any]:
    """Per-bar aggregates of one stream (bars on UTC multiples of ``timeframe``: 1m..1d; window
    default the last 24 hours of data). Without ``column``: the stream's bars (trades: OHLC,
    volume, buy/sell volume, count, VWAP; quotes: last bid/ask, mean spread bps, updates;
    mark_funding, open_interest, liquidations by side, tickers_24h, candles, depth_bands).
    With ``column``: its ``stat`` (first, last, min, max, mean, sum, count); the features stream
    needs ``name``. Returns ``columns``/``rows`` (newest ``max_bars``, cap 5000) and ``source``."""
    _whole(max_bars, "max_bars", 1, MAX_BARS)
    ctx = get_context()
    with answering(), ctx.db() as cur:
        s = tb.check_stream(stream)
        key = market_key(cur, symbol, exchange)
        tf = parse_timeframe(timeframe)
        win = window(cur, key, start, end, "24h")
        cols, rows, truncated = tb.bars(cur, s, key, win, tf, column, stat, name, max_bars)
        newest = tb.newest_in(cur, s, key, win)
    out = {"stream": s, "symbol": key.symbol, "timeframe": timeframe, "columns": cols, "rows": rows, "bars": len(rows), "truncated": truncated}
    if truncated:
        out["note"] = f"only the newest {max_bars} bars are returned"
    return {**out, "source": source(key, win, newest)}


@tool("history")
def export_data(
    stream: str,
    symbol: str,
    start: str,
    end: str,
    format: str = "parquet",
    exchange: str = "binance_usdm",
    columns: list[str] | None = None,
    name: str | None = None,
    max_rows: int = 2_000_000,
) -> dict[str, Any]:
    """Write one stream's rows for one instrument in ``[start, end)`` to a Parquet or CSV file
    under the configured export directory (never elsewhere: the file name is reduced to
    letters, digits, ``.``, ``_`` and ``-``, and must resolve inside that folder). ``name``
    defaults to ``<stream>_<symbol>_<start>_<end>``; an existing file of that name is replaced.
    Refuses more than ``max_rows`` rows (cap 10,000,000). Returns ``path``, ``rows``, ``bytes``,
    ``columns`` and ``source``."""
    if format not in FORMATS:
        raise ToolError(f"format must be one of {list(FORMATS)}, got {format!r}")
    _whole(max_rows, "max_rows", 1, MAX_EXPORT_ROWS)
    ctx = get_context()
    with answering(), ctx.db() as cur:
        s = tb.check_stream(stream)
        key = market_key(cur, symbol, exchange)
        cols = tb.check_columns(cur, s, columns)
        win = window(cur, key, start, end, "1h")
        default = f"{s}_{key.symbol}_{iso_ms(win[0])}_{iso_ms(win[1])}"
        fname = tb.safe_name(name or default, FORMATS[format])
        written = tb.export(cur, s, key, win, cols, format, export_dir(ctx.settings), fname, max_rows)
        newest = tb.newest_in(cur, s, key, win)
    return {"stream": s, "symbol": key.symbol, "format": format, **written, "source": source(key, win, newest)}


def _feature_names(names: list[str] | None, group: str | None, cap: int) -> list[str]:
    if group is not None and group not in GROUPS:
        raise ToolError(f"group must be one of {list(GROUPS)}, got {group!r}")
    if names is None:
        return names_in(group)[:cap]
    if isinstance(names, str) or not isinstance(names, list) or not names:
        raise ToolError("names must be a non-empty list of feature names")
    if len(names) > cap:
        raise ToolError(f"at most {cap} features per call, got {len(names)}")
    return list(dict.fromkeys(names))


def _frame(symbol: str, exchange: str, names: list[str], start: str | None, end: str | None) -> tuple[Any, pd.DataFrame, str, tuple[int, int]]:
    ctx = get_context()
    with answering(), ctx.db() as cur:
        key = market_key(cur, symbol, exchange)
        win = window(cur, key, start, end, "1h")
        frame, origin = fs.frame(cur, key, names, win[0], win[1], ctx.settings)
    if frame.empty:
        raise ToolError(f"no feature values for {key.label} in the window")
    return key, frame, origin, win


_STATS_SQL = """
    SELECT name, count(*), avg(value), stddev_samp(value), min(value),
           quantile_cont(value, [0.05, 0.5, 0.95]), max(value), arg_max(value, ts), epoch_ms(max(ts))
    FROM features WHERE {where} AND ts >= $t0 AND ts < $t1 AND list_contains($names, name) GROUP BY name
"""


def _sig(x: Any) -> float | None:
    return None if x is None or not np.isfinite(x) else float(f"{float(x):.6g}")


def _stat_row(count: int, mean: Any, sd: Any, lo: Any, q: Any, hi: Any, last: Any, last_ms: int) -> dict[str, Any]:
    return {"count": int(count), "mean": _sig(mean), "sd": _sig(sd), "min": _sig(lo), "p05": _sig(q[0]),
            "p50": _sig(q[1]), "p95": _sig(q[2]), "max": _sig(hi), "last": _sig(last), "last_time": iso_ms(int(last_ms))}


@tool("history")
def get_feature_statistics(
    symbol: str,
    names: list[str] | None = None,
    group: str | None = None,
    start: str | None = None,
    end: str | None = None,
    exchange: str = "binance_usdm",
    detail: bool = False,
) -> dict[str, Any]:
    """Distribution of features over ``[start, end)`` (default the last hour): per feature the
    count, mean, sd, median and last value (6 significant digits); ``detail=True`` adds min, 5th
    and 95th percentiles, max and the last value's time. ``names`` (at most 100) or ``group``
    select them (default all). Features with no value in the window are listed in ``missing``.
    Stored features (computed in the database over every stored value), or computed from the
    streams (2 hours at most)."""
    chosen = _feature_names(names, group, MAX_STAT_FEATURES)
    ctx = get_context()
    with answering(), ctx.db() as cur:
        key = market_key(cur, symbol, exchange)
        win = window(cur, key, start, end, "1h")
        rows = cur.execute(_STATS_SQL.format(where=key.where()), key.params(
            t0=ms_to_dt(win[0]), t1=ms_to_dt(win[1]), names=chosen)).fetchall()
        origin = "stored"
        stats = {r[0]: _stat_row(r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]) for r in rows}
        if not rows:
            frame, origin = fs.frame(cur, key, chosen, win[0], win[1], ctx.settings)
            stats = _frame_stats(frame)
    if not stats:
        raise ToolError(f"no feature values for {key.label} in the window")
    newest = max(parse_time(s["last_time"], "last_time") for s in stats.values())
    if not detail:
        stats = {n: {k: v[k] for k in COMPACT_STATS} for n, v in stats.items()}
    return {"symbol": key.symbol, "exchange": venue(key), "origin": origin,
            "statistics": {n: stats[n] for n in chosen if n in stats}, "missing": [n for n in chosen if n not in stats],
            "source": source(key, win, newest)}


def _frame_stats(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    out = {}
    for n in frame.columns:
        s = frame[n].dropna()
        if len(s):
            q = np.quantile(s.to_numpy(), [0.05, 0.5, 0.95])
            out[n] = _stat_row(len(s), s.mean(), s.std() if len(s) > 1 else None, s.min(), q, s.max(), s.iloc[-1], s.index[-1])
    return out


@tool("history")
def get_feature_correlations(
    symbol: str,
    names: list[str],
    method: str = "pearson",
    start: str | None = None,
    end: str | None = None,
    top: int = 20,
    exchange: str = "binance_usdm",
) -> dict[str, Any]:
    """Correlations between 2..30 features over ``[start, end)`` (default the last hour), on the
    boundaries where both have a value: ``method`` pearson or spearman. Returns the strongest
    ``top`` pairs by |r| (with the number of points each used) and the rounded ``matrix``."""
    if method not in ("pearson", "spearman"):
        raise ToolError(f"method must be pearson or spearman, got {method!r}")
    chosen = _feature_names(names, None, MAX_CORR_FEATURES)
    if len(chosen) < 2:
        raise ToolError("names must hold at least two different features")
    _whole(top, "top", 1, 500)
    key, frame, origin, win = _frame(symbol, exchange, chosen, start, end)
    corr = frame.corr(method=method, min_periods=10)
    pairs = []
    for i, a in enumerate(chosen):
        for b in chosen[i + 1:]:
            r = corr.loc[a, b]
            if np.isfinite(r):
                n = int((frame[a].notna() & frame[b].notna()).sum())
                pairs.append({"a": a, "b": b, "r": round(float(r), 4), "points": n})
    pairs.sort(key=lambda p: -abs(p["r"]))
    matrix = {a: {b: (None if not np.isfinite(corr.loc[a, b]) else round(float(corr.loc[a, b]), 3)) for b in chosen} for a in chosen}
    return {"symbol": key.symbol, "method": method, "origin": origin, "points": int(len(frame)), "pairs": pairs[:top],
            "truncated": len(pairs) > top, "matrix": matrix, "source": source(key, win, int(frame.index.max()))}
