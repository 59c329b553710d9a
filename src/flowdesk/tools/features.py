"""Feature, signal, regime and anomaly tools.

Features come from the ``features`` table the live engine writes (``features.enabled`` in
``flowdesk serve``); where it holds none for the instrument or window they are computed from the
stored streams by the same engine (at most 2 hours), and results say which (``origin``). Every
result carries ``source`` (venue, symbol, window, ``as_of``, ``data_age_s``) and ``warnings``;
lists are capped and say so. Formulas: ``docs/features.md``, ``docs/signals.md``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb
import numpy as np

from flowdesk.analytics import anomalies as an
from flowdesk.analytics import regimes as rg
from flowdesk.analytics.features import store as fs
from flowdesk.analytics.features import tables as tb
from flowdesk.analytics.features.catalog import CATALOG, CROSS_VENUE, GROUPS, names_in
from flowdesk.analytics.orderflow.common import (
    MarketKey,
    OrderflowError,
    iso_ms,
    ms_to_dt,
    parse_duration,
    parse_time,
    parse_timeframe,
)
from flowdesk.analytics.orderflow.store import require_symbol
from flowdesk.analytics.signals import evaluate as evs
from flowdesk.analytics.signals import view as sv
from flowdesk.analytics.signals.definitions import SPECS, inputs_of
from flowdesk.tools.common import resolve_venue
from flowdesk.tools.context import get_context, provenance
from flowdesk.tools.registry import ToolError, tool

MAX_SERIES_POINTS = 20_000
MAX_LIST = 200
DEFAULT_LOOKBACK = "2h"
MAX_WINDOW_MS = 31 * 86_400_000


# ------------------------------------------------------------------------------- helpers


@contextmanager
def answering() -> Iterator[None]:
    """Turn analytics errors (bad argument, missing data) into :class:`ToolError`."""
    try:
        yield
    except OrderflowError as exc:
        raise ToolError(str(exc)) from None


def market_key(cur: duckdb.DuckDBPyConnection, symbol: str, exchange: str) -> MarketKey:
    """The instrument, checked to have stored data (ToolError naming the known symbols)."""
    if not isinstance(symbol, str) or not symbol.strip():
        raise ToolError("symbol is required, e.g. BTCUSDT")
    if not isinstance(exchange, str):
        raise ToolError(f"exchange must be a venue id like 'binance_usdm', got {exchange!r}")
    name, market = resolve_venue(exchange)
    key = MarketKey(name, market, symbol.strip().upper().replace("-", "").replace("/", ""))
    require_symbol(cur, key)
    return key


def venue(key: MarketKey) -> str:
    return f"{key.exchange}_{key.market}"


def source(key: MarketKey, window: tuple[int, int] | None, as_of: int | None) -> dict[str, Any]:
    text = None if window is None else f"{iso_ms(window[0])}/{iso_ms(window[1])}"
    return provenance([venue(key)], key.symbol, text, None if as_of is None else ms_to_dt(as_of))


def window(cur: duckdb.DuckDBPyConnection, key: MarketKey, start: str | None, end: str | None, lookback: str) -> tuple[int, int]:
    """``[start, end)``: end defaults to just after the newest stored trade/quote/feature,
    start to ``end - lookback``; at most :data:`MAX_WINDOW_MS` long."""
    if end:
        end_ms = parse_time(end, "end")
    else:
        newest = max(x for x in (fs.newest_data_ms(cur, key), fs.newest_feature_ms(cur, key), 0) if x is not None)
        end_ms = newest + 1
    start_ms = parse_time(start, "start") if start else end_ms - parse_duration(lookback, "lookback")
    if start_ms >= end_ms:
        raise ToolError(f"start ({iso_ms(start_ms)}) must be before end ({iso_ms(end_ms)})")
    if end_ms - start_ms > MAX_WINDOW_MS:
        raise ToolError(f"the window is longer than {MAX_WINDOW_MS // 86_400_000} days; use a shorter one")
    return start_ms, end_ms


def _whole(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ToolError(f"{name} must be a whole number from {lo} to {hi}, got {value!r}")
    return value


def _engine_status(key: MarketKey) -> dict[str, Any] | None:
    from flowdesk.analytics.features.service import RUNNING

    for svc in RUNNING:
        status = svc.status()
        mine = status["engines"].get(f"{venue(key)}:{key.symbol}")
        if mine is not None:
            return {"live": status["live"], **mine}
    return None


def _missing_reason(name: str, snap: fs.Snapshot, streams: tuple[str, ...] | None) -> str:
    spec = CATALOG[name]
    if "book_deltas" in spec.inputs and snap.origin == "history":
        return "book diffs are not stored: computed by the live engine only"
    if "liquidations" in spec.inputs and streams is not None and "forceOrder" not in streams:
        return "the venue's liquidation stream (forceOrder) is not collected"
    return f"no value at the newest boundary: needs {'+'.join(spec.inputs)} data over {spec.window} (warming up, stale or absent input, or no variation)"


# ------------------------------------------------------------------------------- features


@tool("features")
def get_features(symbol: str, exchange: str = "binance_usdm", group: str | None = None, detail: bool = False) -> dict[str, Any]:
    """Newest institutional features of one instrument: prices (mid, microprice, spread and its
    z-score, realized volatility, efficiency), order book (depth bands, imbalance, slope, walls,
    add/cancel, OFI), trades (signed volume, CVD, intensity, sizes, whale share, streaks, VPIN,
    Kyle's lambda), funding, basis, open interest and liquidations, plus cross-venue inputs.

    ``group`` (one of prices, book, trades, funding, basis, open_interest, liquidations) limits
    the answer. Returns ``features`` as {group: {name: value}} (``detail=True``: each with unit,
    window, inputs, formula and its time), ``missing`` {name: reason} for features without a
    value, ``cross_venue`` (values or why unavailable), ``origin`` (``stored`` by the live engine
    or ``history``: computed now from the stored streams), ``engine`` (live engine counters when
    one runs in this process), ``warnings`` and ``source``."""
    if group is not None and group not in GROUPS:
        raise ToolError(f"group must be one of {list(GROUPS)}, got {group!r}")
    ctx = get_context()
    with answering(), ctx.db() as cur:
        key = market_key(cur, symbol, exchange)
        snap = fs.snapshot(cur, key, ctx.settings)
        cross, reason = sv.cross_venue(cur, key, snap)
    streams = fs.streams_of(ctx.settings, key)
    out: dict[str, dict[str, Any]] = {}
    missing: dict[str, str] = {}
    for g in [group] if group else list(GROUPS):
        for name in names_in(g):
            if name in snap.values:
                value = snap.values[name]
                out.setdefault(g, {})[name] = ({**CATALOG[name].as_dict(), "value": value, "time": iso_ms(snap.times[name])} if detail else float(f"{value:.6g}"))
            else:
                missing[name] = _missing_reason(name, snap, streams)
    warnings = [] if snap.origin == "stored" else ["no stored features for this instrument: computed from the stored streams now (15 minutes replayed)"]
    return {
        "symbol": key.symbol, "exchange": venue(key), "origin": snap.origin, "as_of": iso_ms(snap.as_of),
        "features": out, "missing": missing,
        "cross_venue": {"values": cross, "unavailable": reason, "features": {n: s.formula for n, s in CROSS_VENUE.items()}},
        "engine": _engine_status(key), "warnings": warnings, "source": source(key, None, snap.as_of),
    }


# -------------------------------------------------------------------------------- signals


def _signal_inputs(symbol: str, exchange: str) -> tuple[MarketKey, fs.Snapshot, dict[str, float], str | None]:
    ctx = get_context()
    with answering(), ctx.db() as cur:
        key = market_key(cur, symbol, exchange)
        snap = fs.snapshot(cur, key, ctx.settings)
        cross, reason = sv.cross_venue(cur, key, snap)
    return key, snap, cross, reason


def _check_signal(name: str) -> str:
    if name not in SPECS:
        raise ToolError(f"unknown signal {name!r}; known: {sorted(SPECS)}")
    return name


@tool("features")
def get_signal(name: str, symbol: str, exchange: str = "binance_usdm", detail: bool = False) -> dict[str, Any]:
    """One composite signal at the newest features: ``value`` in its ``range``, ``confidence``
    (share of its weighted inputs present, 0..1), ``label``/``direction`` where it has one,
    ``components`` (each component's value; ``detail=True`` adds weights, inputs and the
    formula), ``missing_inputs``, ``freshness`` (oldest input's time, its age and lag) and
    ``source``. Signals: smart_money_flow, long_squeeze, short_squeeze, stop_hunt,
    momentum_quality, momentum_exhaustion, market_maker_activity, liquidation_cascade_risk,
    institutional_phase, volatility_breakout, mean_reversion, regime_transition,
    execution_quality, cross_venue_arbitrage_pressure (unavailable with one venue)."""
    _check_signal(name)
    key, snap, cross, reason = _signal_inputs(symbol, exchange)
    return {**sv.evaluate(name, snap, cross, reason, detail), "symbol": key.symbol, "source": source(key, None, snap.as_of)}


@tool("features")
def get_signal_dashboard(symbol: str, exchange: str = "binance_usdm") -> dict[str, Any]:
    """Every composite signal of one instrument in one compact view: per signal its value,
    confidence and label/direction (unavailable ones with the reason), and ``aggregate``:
    ``bias`` in [-1, 1] (smart money, momentum quality, mean reversion and squeeze balance,
    weighted) with its label and ``risk`` in [0, 1] (the largest of the cascade, squeeze and
    breakout scores) with its driver. Use get_signal for components."""
    key, snap, cross, reason = _signal_inputs(symbol, exchange)
    full = {n: sv.evaluate(n, snap, cross, reason) for n in SPECS}
    compact = {
        n: {k: r[k] for k in ("value", "confidence", "label", "direction", "unavailable") if k in r}
        for n, r in full.items()
    }
    return {
        "symbol": key.symbol, "signals": compact, "aggregate": sv.aggregate(full),
        "origin": snap.origin, "source": source(key, None, snap.as_of),
    }


@tool("features")
def evaluate_signal(
    name: str,
    symbol: str,
    horizon: str = "5m",
    threshold: float | None = None,
    start: str | None = None,
    end: str | None = None,
    exchange: str = "binance_usdm",
) -> dict[str, Any]:
    """Event study over stored history: the forward return over ``horizon`` (e.g. 1m, 5m, 1h)
    after the signal crosses ``threshold`` (default: the signal's own, see get_signal detail)
    against the unconditional forward return, with counts, means, medians, hit rates,
    Welch p-values, ``edge_bps`` and a plain ``verdict``; so you can see whether a signal has
    ever meant anything. Window ``start``/``end`` (ISO-8601) default to the last 2 hours of data.
    Uses stored features (long windows at a coarser ``step_ms``, at most 50,000 points), or
    computes them from the streams (at most 2 hours)."""
    _check_signal(name)
    if SPECS[name].cross_venue:
        raise ToolError(f"{name} needs the symbol on at least two venues; only one is collected")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int | float)):
        raise ToolError(f"threshold must be a number, got {threshold!r}")
    ctx = get_context()
    with answering(), ctx.db() as cur:
        key = market_key(cur, symbol, exchange)
        h = parse_duration(horizon, "horizon", 1000, 86_400_000)
        win = window(cur, key, start, end, DEFAULT_LOOKBACK)
        frame, origin = fs.frame(cur, key, sorted({*inputs_of(name), "mid"}), win[0], win[1], ctx.settings)
    if frame["mid"].notna().sum() < 2:
        raise ToolError(f"no mid prices for {key.label} in the window: nothing to evaluate")
    step = frame.attrs.get("step_ms") or int(ctx.settings.features.cadence_s * 1000)
    result = evs.study(name, frame, h, threshold, max(5_000, 5 * step))
    last = int(frame.index.max())
    return {"signal": name, "symbol": key.symbol, "horizon": horizon, "origin": origin, "step_ms": step,
            **result, "source": source(key, win, last)}


# ------------------------------------------------------------------------ regimes, anomalies


@tool("features")
def detect_regime(symbol: str, exchange: str = "binance_usdm", lookback: str = "2h", history: bool = False) -> dict[str, Any]:
    """Market regime now: ``regime`` (breakout, breakdown, trending_up, trending_down, ranging;
    the rule that fired and its inputs) and ``volatility`` (high/normal/low by the percentile of
    rv_15m over ``lookback``, or why unavailable). ``history=True`` adds the regime runs over the
    lookback (newest 50). Rules: docs/signals.md#regimes."""
    ctx = get_context()
    with answering(), ctx.db() as cur:
        key = market_key(cur, symbol, exchange)
        snap = fs.snapshot(cur, key, ctx.settings)
        win = window(cur, key, None, None, lookback)
        frame, origin = fs.frame(cur, key, list(rg.INPUTS), win[0], win[1], ctx.settings)
    names, rules = rg.direction_regime(snap.values)
    out: dict[str, Any] = {
        "symbol": key.symbol,
        "regime": str(np.asarray(names).item()), "rule": int(np.asarray(rules).item()),
        "inputs": {n: snap.values.get(n) for n in rg.INPUTS},
        "volatility": rg.volatility_regime(snap.values.get("rv_15m"), frame["rv_15m"].to_numpy(dtype=np.float64)),
        "origin": {"now": snap.origin, "lookback": origin},
    }
    if history and len(frame):
        minute = frame.groupby(frame.index // 60_000 * 60_000).last()
        seg_names, _ = rg.direction_regime({c: minute[c].to_numpy() for c in minute.columns})
        segs = rg.segments(minute.index.to_numpy(), np.atleast_1d(seg_names), 50)
        out["history"] = [{**s, "start": iso_ms(s["start"]), "end": iso_ms(s["end"])} for s in segs]
    return {**out, "source": source(key, win, snap.as_of)}


def load_series(cur: duckdb.DuckDBPyConnection, key: MarketKey, series: str, win: tuple[int, int], timeframe: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    """(times ms, values, origin) of a feature (``spread_bps``) or a bar column of a stream
    (``trades.close``, ``trades.volume``, ``quotes.spread_bps``; timeframe default 1m)."""
    if series in CATALOG:
        frame, origin = fs.frame(cur, key, [series], win[0], win[1], get_context().settings)
        s = frame[series].dropna()
        if timeframe:
            tf = parse_timeframe(timeframe)
            s = s.groupby(s.index // tf * tf).last()
        return s.index.to_numpy(np.int64), s.to_numpy(np.float64), origin
    stream, _, column = series.partition(".")
    if stream not in tb.BARS or column not in tb.BARS[stream]:
        options = [f"{s}.{c}" for s, cols in tb.BARS.items() for c in cols]
        raise ToolError(f"unknown series {series!r}: a feature name (see get_features) or one of {options}")
    cols, rows, _ = tb.bars(cur, stream, key, win, parse_timeframe(timeframe or "1m"), max_bars=MAX_SERIES_POINTS)
    i = cols.index(column)
    pairs = [(parse_time(r[0], "time"), r[i]) for r in rows if r[i] is not None]
    return np.array([p[0] for p in pairs], np.int64), np.array([p[1] for p in pairs], np.float64), "stored"


def _series_for(symbol: str, series: str, start: str | None, end: str | None, timeframe: str | None, exchange: str) -> tuple[MarketKey, tuple[int, int], np.ndarray, np.ndarray, str]:
    with answering(), get_context().db() as cur:
        key = market_key(cur, symbol, exchange)
        win = window(cur, key, start, end, DEFAULT_LOOKBACK)
        times, values, origin = load_series(cur, key, str(series), win, timeframe)
    ok = np.isfinite(values)
    times, values = times[ok], values[ok]
    if len(values) < 20:
        raise ToolError(f"series {series!r} has {len(values)} points in the window; need at least 20")
    if len(values) > MAX_SERIES_POINTS:
        raise ToolError(f"series {series!r} has {len(values)} points; pass a timeframe (e.g. 1m) or a shorter window (max {MAX_SERIES_POINTS})")
    return key, win, times, values, origin


@tool("features")
def detect_anomalies(
    symbol: str,
    series: str,
    method: str = "zscore",
    start: str | None = None,
    end: str | None = None,
    timeframe: str | None = None,
    threshold: float | None = None,
    window_points: int = 60,
    limit: int = 50,
    exchange: str = "binance_usdm",
) -> dict[str, Any]:
    """Anomalies in a feature (e.g. ``spread_bps``) or a stream's bar column (``trades.volume``,
    ``trades.close``, ``quotes.spread_bps``; bars of ``timeframe``, default 1m). ``method``:
    ``zscore`` (trailing ``window_points`` baseline, ``threshold`` |z| default 4), ``iqr``
    (Tukey fences, ``threshold`` = k, default 3) or ``isolation_forest`` (``threshold`` =
    contamination, default auto). Returns counts, the newest ``limit`` anomalies (time, value,
    score) and the parameters used; window defaults to the last 2 hours."""
    if method not in an.METHODS:
        raise ToolError(f"method must be one of {list(an.METHODS)}, got {method!r}")
    _whole(window_points, "window_points", 10, 10_000)
    _whole(limit, "limit", 1, MAX_LIST)
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int | float) or threshold <= 0):
        raise ToolError(f"threshold must be a positive number, got {threshold!r}")
    if method == "isolation_forest" and threshold is not None and not 0 < threshold <= 0.5:
        raise ToolError("for isolation_forest, threshold is the contamination: a share in (0, 0.5]")
    key, win, times, values, origin = _series_for(symbol, series, start, end, timeframe, exchange)
    flags, scores, params = an.detect(values, method, threshold, window_points)
    idx = np.flatnonzero(flags)
    shown = idx[-limit:][::-1]
    return {
        "symbol": key.symbol, "series": series, "method": method, "params": params, "origin": origin,
        "points": int(len(values)), "anomalies_count": int(len(idx)),
        "anomalies": [{"time": iso_ms(int(times[i])), "value": float(values[i]), "score": round(float(scores[i]), 4)} for i in shown],
        "truncated": bool(len(idx) > limit),
        "source": source(key, win, int(times[-1])),
    }


@tool("features")
def detect_changepoints(
    symbol: str,
    series: str,
    method: str = "pelt",
    model: str = "l2",
    penalty: float | None = None,
    n_bkps: int | None = None,
    start: str | None = None,
    end: str | None = None,
    timeframe: str | None = None,
    limit: int = 20,
    exchange: str = "binance_usdm",
) -> dict[str, Any]:
    """Change points (``ruptures``) in a feature or a stream's bar column (see
    detect_anomalies for ``series``). ``method``: ``pelt`` (``penalty``, default a BIC-like
    2 sd^2 log n on a robust noise estimate) or ``binseg`` (``n_bkps`` breakpoints, or the
    penalty); ``model``: l2 (mean shifts), l1, rbf (distribution shifts). Returns the change
    times (newest ``limit``) and each segment's mean, sd and length."""
    if method not in an.CHANGEPOINT_METHODS:
        raise ToolError(f"method must be one of {list(an.CHANGEPOINT_METHODS)}, got {method!r}")
    if model not in an.CHANGEPOINT_MODELS:
        raise ToolError(f"model must be one of {list(an.CHANGEPOINT_MODELS)}, got {model!r}")
    if n_bkps is not None:
        _whole(n_bkps, "n_bkps", 1, 100)
    if penalty is not None and (isinstance(penalty, bool) or not isinstance(penalty, int | float) or penalty <= 0):
        raise ToolError(f"penalty must be a positive number, got {penalty!r}")
    _whole(limit, "limit", 1, MAX_LIST)
    key, win, times, values, origin = _series_for(symbol, series, start, end, timeframe, exchange)
    if len(values) > 5_000 and model == "rbf":
        raise ToolError("the rbf model is quadratic in the points: use at most 5000 (pass a timeframe)")
    starts, params = an.changepoints(values, method, model, None if penalty is None else float(penalty), n_bkps, max(2, len(values) // 200))
    segs = an.segment_stats(values, starts)[-limit - 1:]
    return {
        "symbol": key.symbol, "series": series, "params": params, "origin": origin, "points": int(len(values)),
        "changepoints": [iso_ms(int(times[i])) for i in starts[-limit:]],
        "segments": [{**s, "start": iso_ms(int(times[s["start"]])), "end": iso_ms(int(times[s["end"]]))} for s in segs],
        "truncated": bool(len(starts) > limit),
        "source": source(key, win, int(times[-1])),
    }
