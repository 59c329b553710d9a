"""Order-flow tools: key levels, volume/TPO profile, footprint, delta/CVD metrics, depth delta,
liquidations, funding and open interest.

Each tool validates its arguments, calls the pure functions of
:mod:`flowdesk.analytics.orderflow` on the store (``get_context().db()``) and returns a
JSON-ready dict that carries ``source`` (venue, symbol, window, ``as_of`` = newest data time
used; venues named by id, e.g. ``binance_usdm``), ``warnings`` and, where a cap cut the
answer, ``truncated: true`` with a ``note``. Every tool takes ``exchange``: a venue id
(default ``binance_usdm``; ``binance:usdm`` and ``binance`` also work), resolved by
:func:`flowdesk.tools.common.resolve_venue` like the market tools.
Times are ISO-8601 UTC; bars are aligned to UTC multiples of the timeframe. Rules and tie
breaks: ``docs/orderflow.md``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import duckdb
import numpy as np

from flowdesk.analytics.orderflow import depth as dp
from flowdesk.analytics.orderflow import derivs as dv
from flowdesk.analytics.orderflow import imbalance as im
from flowdesk.analytics.orderflow import metrics as mt
from flowdesk.analytics.orderflow import sessions as ss
from flowdesk.analytics.orderflow import windows as win
from flowdesk.analytics.orderflow.common import (
    DAY_MS,
    MINUTE_MS,
    Grid,
    MarketKey,
    OrderflowError,
    iso_ms,
    make_grid,
    ms_to_dt,
    parse_date,
    parse_duration,
    parse_time,
    parse_timeframe,
    parse_tz,
)
from flowdesk.analytics.orderflow.footprint import Footprint, build_footprint
from flowdesk.analytics.orderflow.levels import LevelsRequest, key_levels
from flowdesk.analytics.orderflow.profile import load_profiles, profile_result
from flowdesk.analytics.orderflow.store import (
    TradeArrays,
    latest_ms,
    load_trades,
    require_symbol,
    signed_volume,
    tick_size,
)
from flowdesk.analytics.orderflow.tpo import tpo_result
from flowdesk.tools.common import resolve_venue, unavailable_reason
from flowdesk.tools.context import get_context, now_ms, provenance
from flowdesk.tools.registry import ToolError, tool

MAX_BARS = 1440  # one day of 1m bars per call
MAX_WINDOW_BARS = 10_080  # bars computed per call (a week of 1m bars)
MAX_FOOTPRINT_ROWS = 50_000
MAX_PROFILE_ROWS = 5_000
MAX_PROFILE_DAYS = 31
MAX_ZONES = 100
MAX_LIQUIDATIONS = 500
MAX_BUCKETS = 100
MAX_DEPTH_SAMPLES = 1_000
MAX_SERIES_POINTS = 500


# ------------------------------------------------------------------------------- helpers


@contextmanager
def _answering() -> Iterator[None]:
    """Turn analytics errors (bad argument, missing data) into :class:`ToolError`."""
    try:
        yield
    except OrderflowError as exc:
        raise ToolError(str(exc)) from None


def _key(symbol: str, exchange: str) -> MarketKey:
    """The instrument key. ``exchange`` is a venue id (``binance_usdm``; also ``binance:usdm``
    or ``binance``), resolved like the market tools do by :func:`resolve_venue`."""
    if not isinstance(symbol, str) or not symbol.strip():
        raise ToolError("symbol is required, e.g. BTCUSDT")
    if not isinstance(exchange, str):
        raise ToolError(f"exchange must be a venue id like 'binance_usdm', got {exchange!r}")
    name, market = resolve_venue(exchange)
    return MarketKey(name, market, symbol.strip().upper())


def _venue(key: MarketKey) -> str:
    """The venue id of ``key`` (``binance_usdm``), as the market tools name it."""
    return f"{key.exchange}_{key.market}"


def _number(value: Any, name: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise ToolError(f"{name} must be a number from {lo:g} to {hi:g}, got {value!r}")
    return float(value)


def _whole(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ToolError(f"{name} must be a whole number from {lo} to {hi}, got {value!r}")
    return value


def _horizon(cur: duckdb.DuckDBPyConnection, key: MarketKey) -> int:
    """Newest trade time for ``key``; ToolError for an unknown symbol or one without trades."""
    require_symbol(cur, key)
    last = latest_ms(cur, "trades", key)
    if last is None:
        raise ToolError(
            f"no trades stored for {key.label} (other data exists; the trade feed may be off)"
        )
    return last


def _grid(
    cur: duckdb.DuckDBPyConnection, key: MarketKey, row_ticks: int, row_size: float | None
) -> Grid:
    return make_grid(tick_size(cur, key), row_ticks, row_size, key.symbol)


def _as_of(cur: duckdb.DuckDBPyConnection, key: MarketKey, horizon: int, end_ms: int) -> int | None:
    """Newest trade used by a query ending at ``end_ms`` (exclusive)."""
    return horizon if end_ms > horizon else latest_ms(cur, "trades", key, end_ms)


def _source(key: MarketKey, start_ms: int, end_ms: int, as_of: int | None) -> dict[str, Any]:
    window = f"{iso_ms(start_ms)}/{iso_ms(end_ms)}"
    return provenance([_venue(key)], key.symbol, window, None if as_of is None else ms_to_dt(as_of))


def _stale(horizon: int) -> list[str]:
    """A warning when a live collector runs but the newest data is older than stale_after_s."""
    ctx = get_context()
    age = (now_ms() - horizon) / 1000
    if ctx.live is not None and age > ctx.settings.stale_after_s:
        return [
            f"newest data is {age:.0f} s old (stale_after_s={ctx.settings.stale_after_s:g}): feed may be down"
        ]
    return []


# ----------------------------------------------------------------------------- key levels


@tool("orderflow")
def get_key_levels(
    symbol: str,
    date: str | None = None,
    session_tz: str = "UTC",
    value_area_pct: float = 70.0,
    row_ticks: int = 1,
    row_size: float | None = None,
    sessions: dict[str, str] | None = None,
    exchange: str = "binance_usdm",
) -> dict[str, Any]:
    """Key levels of a trading day and the day before: session VWAP with ±1/2/3σ bands
    (dVWAP, pdVWAP), volume-profile POC/VAH/VAL (dPOC/dVAH/dVAL, pdPOC/pdVAH/pdVAL), TPO
    POC/VAH/VAL with the initial balance, open/high/low/close, and the Tokyo, London and New
    York session highs and lows of both days.

    ``date`` (YYYY-MM-DD, in ``session_tz``) defaults to the day of the newest trade; a day
    runs from local midnight to midnight in ``session_tz`` (default UTC). ``sessions``
    overrides the named sessions: {"name": "HH:MM-HH:MM Area/City"}. Returns ``today`` and
    ``previous`` blocks, a price-sorted ``ladder`` of all levels, ``warnings`` (empty days)
    and ``source``. Prices of a multi-tick row: POC/VAL at the row's low, VAH at its high.
    ``exchange``: venue id, e.g. ``binance_usdm`` (as the market tools take it)."""
    with _answering():
        key = _key(symbol, exchange)
        va = _number(value_area_pct, "value_area_pct", 1, 100)
        tz = parse_tz(session_tz)
        specs = ss.parse_sessions(sessions)
        with get_context().db() as cur:
            horizon = _horizon(cur, key)
            grid = _grid(cur, key, row_ticks, row_size)
            day = parse_date(date) if date else ss.session_day(horizon, tz)
            req = LevelsRequest(key, grid, day, tz, specs, va, horizon)
            out = key_levels(cur, req)
            start, end = ss.day_window(day - timedelta(days=1), tz)[0], ss.day_window(day, tz)[1]
            as_of = _as_of(cur, key, horizon, end)
        return {
            "symbol": key.symbol,
            "exchange": _venue(key),
            "session_tz": tz.key,
            "grid": grid.describe(),
            "named_sessions": {s.name: s.describe() for s in specs},
            **out,
            "warnings": out["warnings"] + _stale(horizon),
            "source": _source(key, start, end, as_of),
        }


# ------------------------------------------------------------------------- volume profile


@tool("orderflow")
def get_volume_profile(
    symbol: str,
    start: str | None = None,
    end: str | None = None,
    value_area_pct: float = 70.0,
    row_ticks: int = 1,
    row_size: float | None = None,
    tpo: bool = False,
    max_rows: int = 200,
    session_tz: str = "UTC",
    exchange: str = "binance_usdm",
) -> dict[str, Any]:
    """Volume profile of a time range: POC, VAH, VAL (CBOT/Dalton value area of
    ``value_area_pct`` percent, default 70), VWAP, total/buy/sell volume and the price rows
    (volume, buy, sell, delta, trades; highest price first).

    ``start``/``end`` (ISO-8601 UTC) default to the current day session in ``session_tz``
    up to the newest trade. Rows are ``row_ticks`` ticks high (or ``row_size`` in price when
    the tick size is unknown). At most ``max_rows`` rows are returned, the ones around the
    POC, with ``truncated`` and a note. ``tpo=true`` adds the 30-minute TPO profile (POC,
    value area, initial balance and TPO letters for the returned rows).
    ``exchange``: venue id, e.g. ``binance_usdm`` (as the market tools take it)."""
    with _answering():
        key = _key(symbol, exchange)
        va = _number(value_area_pct, "value_area_pct", 1, 100)
        cap = _whole(max_rows, "max_rows", 1, MAX_PROFILE_ROWS)
        with get_context().db() as cur:
            horizon = _horizon(cur, key)
            grid = _grid(cur, key, row_ticks, row_size)
            start_ms, end_ms = win.session_window(start, end, session_tz, horizon, MAX_PROFILE_DAYS)
            rows = load_profiles(cur, key, grid, [start_ms, end_ms])[0]
            result = profile_result(rows, grid, va, cap)
            if tpo and result["rows"] is not None:
                prices = np.array(result["rows"]["price"])
                result["tpo"] = tpo_result(cur, key, grid, (start_ms, end_ms), va, prices)
            as_of = _as_of(cur, key, horizon, end_ms) if result["rows"] is not None else None
        if result["rows"] is None:
            result["warnings"].append(f"no trades between {iso_ms(start_ms)} and {iso_ms(end_ms)}")
        result["warnings"] += _stale(horizon)
        return {
            "symbol": key.symbol,
            "exchange": _venue(key),
            **result,
            "source": _source(key, start_ms, end_ms, as_of),
        }


# ------------------------------------------------------------------------------ footprint


def _footprint(
    cur: duckdb.DuckDBPyConnection,
    key: MarketKey,
    grid: Grid,
    start_ms: int,
    end_ms: int,
    tf_ms: int,
) -> tuple[Footprint, TradeArrays]:
    trades = load_trades(cur, key, grid, start_ms, end_ms)
    return build_footprint(trades, grid, start_ms, tf_ms), trades


def _imbalance_args(ratio: float, min_volume: float, levels: int) -> tuple[float, float, int]:
    return (
        _number(ratio, "imbalance_ratio", 1, 1000),
        _number(min_volume, "min_imbalance_volume", 0, 1e12),
        _whole(levels, "stacked_levels", 2, 50),
    )


@tool("orderflow")
def get_footprint(
    symbol: str,
    timeframe: str,
    start: str | None = None,
    end: str | None = None,
    row_ticks: int = 1,
    row_size: float | None = None,
    imbalance_ratio: float = 3.0,
    min_imbalance_volume: float = 0.0,
    stacked_levels: int = 3,
    max_bars: int = 30,
    max_rows: int = 2000,
    exchange: str = "binance_usdm",
) -> dict[str, Any]:
    """Footprint bars (1m, 5m, 15m, 30m, 1h or any whole number of minutes): per bar OHLC,
    volume, buy/sell volume, delta, max/min running delta, trade count and POC; per price row
    (``row_ticks`` ticks, integer binning) buy volume, sell volume, delta and trades; diagonal
    imbalances (ratio ``imbalance_ratio``, minimum ``min_imbalance_volume``) and stacked
    imbalance zones of ``stacked_levels``+ rows with whether each still holds.

    ``start``/``end`` (ISO-8601 UTC) default to the newest ``max_bars`` bars. Returns ``bars``
    (oldest first; rows highest price first) and ``stacked_imbalances``. Caps: ``max_bars``
    bars (up to 1440) and ``max_rows`` price rows in all (rows go to the newest bars first;
    older bars then carry ``rows: null``), with ``truncated`` and ``notes``.
    ``exchange``: venue id, e.g. ``binance_usdm`` (as the market tools take it)."""
    with _answering():
        key = _key(symbol, exchange)
        tf_ms = parse_timeframe(timeframe)
        ratio, min_vol, levels = _imbalance_args(
            imbalance_ratio, min_imbalance_volume, stacked_levels
        )
        bars_cap = _whole(max_bars, "max_bars", 1, MAX_BARS)
        rows_cap = _whole(max_rows, "max_rows", 0, MAX_FOOTPRINT_ROWS)
        with get_context().db() as cur:
            horizon = _horizon(cur, key)
            grid = _grid(cur, key, row_ticks, row_size)
            start_ms, end_ms = win.bar_window(start, end, tf_ms, bars_cap, horizon, MAX_WINDOW_BARS)
            fp, trades = _footprint(cur, key, grid, start_ms, end_ms, tf_ms)
        imb = im.diagonal_imbalances(fp, ratio, min_vol)
        keep, notes = mt.newest(len(fp), bars_cap)
        bars, row_notes = mt.footprint_bars(fp, imb, keep, rows_cap)
        notes += row_notes
        zones, zone_notes = mt.zone_list(fp, imb, levels, MAX_ZONES)
        warnings = _stale(horizon) + (
            [] if len(fp) else [f"no trades between {iso_ms(start_ms)} and {iso_ms(end_ms)}"]
        )
        return {
            "symbol": key.symbol,
            "exchange": _venue(key),
            "timeframe": timeframe,
            "grid": grid.describe(),
            "imbalance": {"ratio": ratio, "min_volume": min_vol, "stacked_levels": levels},
            "bars": bars,
            "stacked_imbalances": zones,
            "truncated": bool(notes or zone_notes),
            "notes": notes + zone_notes,
            "warnings": warnings,
            "source": _source(key, start_ms, end_ms, int(trades.ms[-1]) if len(trades) else None),
        }


# ------------------------------------------------------------------------ delta and CVD


@tool("orderflow")
def get_orderflow_metrics(
    symbol: str,
    timeframe: str,
    start: str | None = None,
    end: str | None = None,
    anchor: str = "session",
    session_tz: str = "UTC",
    divergence_lookback: int = 5,
    imbalance_ratio: float = 3.0,
    min_imbalance_volume: float = 0.0,
    stacked_levels: int = 3,
    row_ticks: int = 1,
    row_size: float | None = None,
    max_bars: int = 100,
    exchange: str = "binance_usdm",
) -> dict[str, Any]:
    """Delta and cumulative volume delta (CVD) per bar with divergence flags and imbalance
    counts. CVD at a bar's close is the signed volume since the ``anchor``: ``session`` (the
    day-session start in ``session_tz``; resets each day) or an ISO-8601 time.

    Per bar: OHLC, volume, buy/sell volume, delta, max/min running delta, CVD, trades, buy and
    sell diagonal-imbalance counts, ``delta_divergence`` (up bar with negative delta =
    bearish, down bar with positive delta = bullish) and ``cvd_divergence`` (new high/low vs
    the previous ``divergence_lookback`` bars without a new CVD high/low). Also the stacked
    imbalance zones that still hold and a summary. ``start``/``end`` default to the newest
    ``max_bars`` bars (cap 1440).
    ``exchange``: venue id, e.g. ``binance_usdm`` (as the market tools take it)."""
    with _answering():
        key = _key(symbol, exchange)
        tf_ms = parse_timeframe(timeframe)
        ratio, min_vol, levels = _imbalance_args(
            imbalance_ratio, min_imbalance_volume, stacked_levels
        )
        lookback = _whole(divergence_lookback, "divergence_lookback", 1, 500)
        bars_cap = _whole(max_bars, "max_bars", 1, MAX_BARS)
        with get_context().db() as cur:
            horizon = _horizon(cur, key)
            grid = _grid(cur, key, row_ticks, row_size)
            start_ms, end_ms = win.bar_window(start, end, tf_ms, bars_cap, horizon, MAX_WINDOW_BARS)
            anchors, anchor_text = win.cvd_anchors(anchor, session_tz, start_ms, end_ms)
            carry = signed_volume(cur, key, int(anchors[0]), start_ms)
            fp, trades = _footprint(cur, key, grid, start_ms, end_ms, tf_ms)
        cvd = mt.bar_cvd(fp, trades, anchors, carry, start_ms)
        imb = im.diagonal_imbalances(fp, ratio, min_vol)
        keep, notes = mt.newest(len(fp), bars_cap)
        bars, summary = mt.metric_bars(fp, cvd, imb, lookback, keep)
        held, zone_notes = mt.zone_list(fp, imb, levels, MAX_ZONES, holding_only=True)
        notes += zone_notes
        warnings = _stale(horizon) + (
            [] if len(fp) else [f"no trades between {iso_ms(start_ms)} and {iso_ms(end_ms)}"]
        )
        return {
            "symbol": key.symbol,
            "exchange": _venue(key),
            "timeframe": timeframe,
            "cvd_anchor": anchor_text,
            "summary": summary,
            "bars": bars,
            "holding_stacked_imbalances": held,
            "truncated": bool(notes),
            "notes": notes,
            "warnings": warnings,
            "source": _source(key, start_ms, end_ms, int(trades.ms[-1]) if len(trades) else None),
        }


# ------------------------------------------------------------------------------ depth delta


@tool("orderflow")
def get_orderbook_depth_delta(
    symbol: str,
    percent: float = 1.0,
    windowSec: int = 60,
    lookback: int = 3600,
    end: str | None = None,
    max_samples: int = 120,
    exchange: str = "binance_usdm",
) -> dict[str, Any]:
    """Resting bid and ask quantity within ±``percent`` % of the mid (one of the stored depth
    bands, e.g. 0.1, 0.25, 0.5, 1, 2, 5), sampled every ``windowSec`` seconds (the last book
    sample of each window) over the last ``lookback`` seconds (an integer number of seconds,
    at least ``windowSec``; default 3600 = 1 hour) up to ``end`` (default: the newest sample).

    Returns ``summary`` (latest bid/ask/net quantity and imbalance; first-to-last change of
    bid, ask and net bid−ask quantity and notional over the lookback), ``samples`` (oldest
    first, at most ``max_samples``, each with its change from the previous sample) and
    ``warnings`` for windows without any sample.
    ``exchange``: venue id, e.g. ``binance_usdm`` (as the market tools take it)."""
    with _answering():
        key = _key(symbol, exchange)
        window_s = _whole(windowSec, "windowSec", 1, 86_400)
        lookback_s = _whole(lookback, "lookback (seconds)", window_s, 30 * 86_400)
        cap = _whole(max_samples, "max_samples", 1, MAX_DEPTH_SAMPLES)
        with get_context().db() as cur:
            require_symbol(cur, key)
            newest = latest_ms(cur, "depth_bands", key)
            if newest is None:
                raise ToolError(
                    f"no depth bands stored for {key.label} (the collector samples them from live books)"
                )
            band = dp.match_band(dp.band_pcts(cur, key), _number(percent, "percent", 0.0001, 100))
            end_ms = parse_time(end, "end") if end else newest
            series = dp.load_depth(cur, key, band, window_s * 1000, lookback_s * 1000, end_ms)
        start_ms = end_ms - lookback_s * 1000
        if len(series) == 0:
            raise ToolError(
                f"no depth samples for {key.label} band {band}% between {iso_ms(start_ms)} "
                f"and {iso_ms(end_ms)}"
            )
        result = dp.depth_result(series, cap)
        result["warnings"] += [] if end else _stale(int(series.ts_ms[-1]))
        return {
            "symbol": key.symbol,
            "exchange": _venue(key),
            "percent": band,
            "windowSec": window_s,
            "lookback": lookback_s,
            **result,
            "source": _source(key, start_ms, end_ms, int(series.ts_ms[-1])),
        }


# ---------------------------------------------------------------------------- liquidations


@tool("orderflow")
def stream_liquidations(
    symbol: str,
    limit: int = 50,
    cursor: str | None = None,
    window: str = "1h",
    bucket_pct: float = 0.1,
    exchange: str = "binance_usdm",
) -> dict[str, Any]:
    """Recent liquidation events, newest first (``limit`` per page, at most 500; pass
    ``next_cursor`` back as ``cursor`` for the next page), and aggregates over the last
    ``window`` (e.g. 15m, 1h, 24h): count, quantity and notional by side (``sell`` orders
    liquidate longs, ``buy`` orders shorts) and by price bucket (``bucket_pct`` % of the
    mean liquidation price, whole ticks; the 100 buckets with the most notional). The window
    ends at the newest trade or liquidation stored for the symbol.
    ``exchange``: venue id, e.g. ``binance_usdm`` (as the market tools take it)."""
    with _answering():
        key = _key(symbol, exchange)
        n = _whole(limit, "limit", 1, MAX_LIQUIDATIONS)
        window_ms = parse_duration(window, "window", MINUTE_MS, 30 * DAY_MS)
        pct = _number(bucket_pct, "bucket_pct", 0.001, 50)
        reason = unavailable_reason(key.exchange, key.market, "Liquidation")
        if reason:
            raise ToolError(f"{key.label} has no liquidation data: {reason}")
        with get_context().db() as cur:
            require_symbol(cur, key)
            newest = [
                t
                for t in (latest_ms(cur, "liquidations", key), latest_ms(cur, "trades", key))
                if t is not None
            ]
            if not newest:
                raise ToolError(f"no liquidations or trades stored for {key.label}")
            end_ms = max(newest)
            events, next_cursor = dv.liquidation_page(cur, key, end_ms, n, cursor)
            start_ms = end_ms - window_ms
            ref = dv.liquidation_vwap(cur, key, start_ms, end_ms)
            bucket = None if ref is None else dv.bucket_size(ref, pct, tick_size(cur, key))
            agg = dv.liquidation_aggregates(cur, key, (start_ms, end_ms), bucket, MAX_BUCKETS)
            last_liq = latest_ms(cur, "liquidations", key)
        warnings = [] if last_liq is not None else [f"no liquidations stored for {key.label}"]
        return {
            "symbol": key.symbol,
            "exchange": _venue(key),
            "events": events,
            "next_cursor": next_cursor,
            "truncated": next_cursor is not None,
            "window": {
                "start": iso_ms(start_ms),
                "end": iso_ms(end_ms),
                "bucket_size": bucket,
                **agg,
            },
            "warnings": warnings + _stale(end_ms),
            "source": _source(key, start_ms, end_ms, last_liq),
        }


# ------------------------------------------------------------------------ funding and OI


@tool("orderflow")
def get_funding_and_oi(
    symbol: str,
    window: str = "24h",
    points: int = 48,
    exchange: str = "binance_usdm",
) -> dict[str, Any]:
    """Current mark price, index price, funding rate and next funding time, current open
    interest (contracts and quote value), open-interest change over 5m/15m/1h/4h/24h (those
    not longer than ``window``), and the history of both over ``window`` (e.g. 4h, 24h, 7d)
    resampled to ``points`` buckets (the last value in each).
    ``exchange``: venue id, e.g. ``binance_usdm`` (as the market tools take it)."""
    with _answering():
        key = _key(symbol, exchange)
        window_ms = parse_duration(window, "window", 5 * MINUTE_MS, 90 * DAY_MS)
        n = _whole(points, "points", 2, MAX_SERIES_POINTS)
        reasons = [unavailable_reason(key.exchange, key.market, k) for k in ("MarkFunding", "OpenInterest")]
        if all(reasons):
            raise ToolError(f"{key.label} has no funding or open interest: {reasons[0]}; {reasons[1]}")
        with get_context().db() as cur:
            require_symbol(cur, key)
            times = [latest_ms(cur, t, key) for t in ("mark_funding", "open_interest")]
            if times == [None, None]:
                raise ToolError(f"no mark price/funding or open interest stored for {key.label}")
            as_of = max(t for t in times if t is not None)
            bucket = -(-window_ms // n)
            span = (as_of - window_ms, as_of)
            funding, oi = (
                dv.funding_block(cur, key, span, bucket),
                dv.oi_block(cur, key, span, bucket),
            )
        missing = [
            name
            for name, part in (("mark price/funding", funding), ("open interest", oi))
            if part is None
        ]
        return {
            "symbol": key.symbol,
            "exchange": _venue(key),
            "window": window,
            "bucket_sec": bucket / 1000,
            "funding": funding,
            "open_interest": oi,
            "warnings": _stale(as_of) + [f"no {name} stored for {key.label}" for name in missing],
            "source": _source(key, span[0], as_of, as_of),
        }
