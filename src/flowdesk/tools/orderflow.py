"""Order-flow tools: key levels, volume/TPO profile, footprint, delta/CVD metrics, depth delta,
liquidations, funding and open interest.

Each tool validates its arguments, calls the pure functions of
:mod:`flowdesk.analytics.orderflow` on the store (``get_context().db()``) and returns a
JSON-ready dict that carries ``source`` (venue, symbol, window, ``as_of`` = newest data time
used), ``warnings`` and, where a cap cut the answer, ``truncated: true`` with a ``note``.
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

from flowdesk.analytics.orderflow import delta as dl
from flowdesk.analytics.orderflow import depth as dp
from flowdesk.analytics.orderflow import derivs as dv
from flowdesk.analytics.orderflow import imbalance as im
from flowdesk.analytics.orderflow import sessions as ss
from flowdesk.analytics.orderflow.common import (
    DAY_MS,
    HOUR_MS,
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
    to_list,
)
from flowdesk.analytics.orderflow.footprint import Footprint, bar_records, bar_rows, build_footprint
from flowdesk.analytics.orderflow.levels import LevelsRequest, key_levels
from flowdesk.analytics.orderflow.profile import build_profile, load_profiles, profile_rows_json
from flowdesk.analytics.orderflow.store import (
    TradeArrays,
    latest_ms,
    load_trades,
    require_symbol,
    signed_volume,
    tick_size,
)
from flowdesk.analytics.orderflow.tpo import build_tpo
from flowdesk.analytics.orderflow.vwap import vwap_of
from flowdesk.tools.context import get_context, now_ms, provenance
from flowdesk.tools.registry import ToolError, tool

MAX_BARS = 1440  # one day of 1m bars per call
MAX_WINDOW_BARS = 10_080  # bars computed per call (a week of 1m bars)
MAX_FOOTPRINT_ROWS = 50_000
MAX_PROFILE_ROWS = 5_000
MAX_PROFILE_DAYS = 31
MAX_ZONES = 100
MAX_LIQUIDATIONS = 500
MAX_DEPTH_SAMPLES = 1_000
MAX_SERIES_POINTS = 500
OI_WINDOWS = {"5m": 5 * MINUTE_MS, "15m": 15 * MINUTE_MS, "1h": HOUR_MS, "4h": 4 * HOUR_MS, "24h": DAY_MS}


# ------------------------------------------------------------------------------- helpers


@contextmanager
def _answering() -> Iterator[None]:
    """Turn analytics errors (bad argument, missing data) into :class:`ToolError`."""
    try:
        yield
    except OrderflowError as exc:
        raise ToolError(str(exc)) from None


def _key(symbol: str, exchange: str, market: str) -> MarketKey:
    if not isinstance(symbol, str) or not symbol.strip():
        raise ToolError("symbol is required, e.g. BTCUSDT")
    return MarketKey(str(exchange).strip().lower(), str(market).strip().lower(), symbol.strip().upper())


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
        raise ToolError(f"no trades stored for {key.label} (other data exists; the trade feed may be off)")
    return last


def _grid(cur: duckdb.DuckDBPyConnection, key: MarketKey, row_ticks: int, row_size: float | None) -> Grid:
    return make_grid(tick_size(cur, key), row_ticks, row_size, key.symbol)


def _as_of(cur: duckdb.DuckDBPyConnection, key: MarketKey, horizon: int, end_ms: int) -> int | None:
    """Newest trade used by a query ending at ``end_ms`` (exclusive)."""
    return horizon if end_ms > horizon else latest_ms(cur, "trades", key, end_ms)


def _source(key: MarketKey, start_ms: int, end_ms: int, as_of: int | None) -> dict[str, Any]:
    window = f"{iso_ms(start_ms)}/{iso_ms(end_ms)}"
    return provenance([key.exchange], key.symbol, window, None if as_of is None else ms_to_dt(as_of))


def _stale(horizon: int) -> list[str]:
    """A warning when a live collector runs but the newest data is older than stale_after_s."""
    ctx = get_context()
    age = (now_ms() - horizon) / 1000
    if ctx.live is not None and age > ctx.settings.stale_after_s:
        return [f"newest data is {age:.0f} s old (stale_after_s={ctx.settings.stale_after_s:g}): feed may be down"]
    return []


def _bar_window(start: str | None, end: str | None, tf_ms: int, max_bars: int, horizon: int) -> tuple[int, int]:
    """``[start, end)`` for bars: end defaults to just after the newest trade, start to
    ``max_bars`` bars before end; start is rounded down to a bar boundary."""
    end_ms = parse_time(end, "end") if end else horizon + 1
    start_ms = parse_time(start, "start") if start else end_ms - max_bars * tf_ms
    start_ms = start_ms // tf_ms * tf_ms
    if start_ms >= end_ms:
        raise ToolError(f"start ({iso_ms(start_ms)}) must be before end ({iso_ms(end_ms)})")
    if (end_ms - start_ms) / tf_ms > MAX_WINDOW_BARS:
        raise ToolError(f"the window holds more than {MAX_WINDOW_BARS} bars of this timeframe; "
                        "use a shorter window or a larger timeframe")
    return start_ms, end_ms


def _session_window(start: str | None, end: str | None, tz_name: str, horizon: int) -> tuple[int, int]:
    """``[start, end)`` defaulting to the day session (in ``tz_name``) of the newest trade."""
    end_ms = parse_time(end, "end") if end else horizon + 1
    if start:
        start_ms = parse_time(start, "start")
    else:
        start_ms = ss.day_window(ss.session_day(end_ms - 1, parse_tz(tz_name)), parse_tz(tz_name))[0]
    if start_ms >= end_ms:
        raise ToolError(f"start ({iso_ms(start_ms)}) must be before end ({iso_ms(end_ms)})")
    if end_ms - start_ms > MAX_PROFILE_DAYS * DAY_MS:
        raise ToolError(f"the window is longer than {MAX_PROFILE_DAYS} days; use a shorter one")
    return start_ms, end_ms


def _last_bars(n_bars: int, max_bars: int) -> tuple[np.ndarray, list[str]]:
    keep = np.arange(max(n_bars - max_bars, 0), n_bars)
    notes = [f"{n_bars} bars in the window; only the newest {max_bars} are returned (max_bars)"] if n_bars > max_bars else []
    return keep, notes


# ----------------------------------------------------------------------------- key levels


@tool("orderflow")
def get_key_levels(
    symbol: str, date: str | None = None, session_tz: str = "UTC", value_area_pct: float = 70.0,
    row_ticks: int = 1, row_size: float | None = None, sessions: dict[str, str] | None = None,
    exchange: str = "binance", market: str = "usdm",
) -> dict[str, Any]:
    """Key levels of a trading day and the day before: session VWAP with ±1/2/3σ bands
    (dVWAP, pdVWAP), volume-profile POC/VAH/VAL (dPOC/dVAH/dVAL, pdPOC/pdVAH/pdVAL), TPO
    POC/VAH/VAL with the initial balance, open/high/low/close, and the Tokyo, London and New
    York session highs and lows of both days.

    ``date`` (YYYY-MM-DD, in ``session_tz``) defaults to the day of the newest trade; a day
    runs from local midnight to midnight in ``session_tz`` (default UTC). ``sessions``
    overrides the named sessions: {"name": "HH:MM-HH:MM Area/City"}. Returns ``today`` and
    ``previous`` blocks, a price-sorted ``ladder`` of all levels, ``warnings`` (empty days)
    and ``source``. Prices of a multi-tick row: POC/VAL at the row's low, VAH at its high."""
    with _answering():
        key = _key(symbol, exchange, market)
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
        return {"symbol": key.symbol, "exchange": key.exchange, "market": key.market,
                "session_tz": tz.key, "grid": grid.describe(),
                "named_sessions": {s.name: s.describe() for s in specs}, **out,
                "warnings": out["warnings"] + _stale(horizon), "source": _source(key, start, end, as_of)}


# ------------------------------------------------------------------------- volume profile


@tool("orderflow")
def get_volume_profile(
    symbol: str, start: str | None = None, end: str | None = None, value_area_pct: float = 70.0,
    row_ticks: int = 1, row_size: float | None = None, tpo: bool = False, max_rows: int = 200,
    session_tz: str = "UTC", exchange: str = "binance", market: str = "usdm",
) -> dict[str, Any]:
    """Volume profile of a time range: POC, VAH, VAL (CBOT/Dalton value area of
    ``value_area_pct`` percent, default 70), VWAP, total/buy/sell volume and the price rows
    (volume, buy, sell, delta, trades; highest price first).

    ``start``/``end`` (ISO-8601 UTC) default to the current day session in ``session_tz``
    up to the newest trade. Rows are ``row_ticks`` ticks high (or ``row_size`` in price when
    the tick size is unknown). At most ``max_rows`` rows are returned, the ones around the
    POC, with ``truncated`` and a note. ``tpo=true`` adds the 30-minute TPO profile (POC,
    value area, initial balance and TPO letters for the returned rows)."""
    with _answering():
        key = _key(symbol, exchange, market)
        va = _number(value_area_pct, "value_area_pct", 1, 100)
        cap = _whole(max_rows, "max_rows", 1, MAX_PROFILE_ROWS)
        with get_context().db() as cur:
            horizon = _horizon(cur, key)
            grid = _grid(cur, key, row_ticks, row_size)
            start_ms, end_ms = _session_window(start, end, session_tz, horizon)
            rows = load_profiles(cur, key, grid, [start_ms, end_ms])[0]
            result: dict[str, Any] = {"symbol": key.symbol, "exchange": key.exchange, "market": key.market,
                                      "grid": grid.describe(), "value_area_pct": va, "warnings": _stale(horizon)}
            vp = build_profile(rows, grid, va)
            if vp is None:
                result["warnings"].append(f"no trades between {iso_ms(start_ms)} and {iso_ms(end_ms)}")
                return {**result, "poc": None, "vah": None, "val": None, "rows": None, "truncated": False,
                        "source": _source(key, start_ms, end_ms, None)}
            table, truncated = profile_rows_json(vp, cap)
            buy = float(np.sum(vp.buy))
            result.update(vp.levels(), volume=vp.total, buy_volume=buy, sell_volume=vp.total - buy,
                          vwap=vwap_of(rows).as_dict(), rows=table, truncated=truncated)  # type: ignore[union-attr]
            if truncated:
                result["note"] = (f"{int(np.count_nonzero(vp.trades))} traded rows; showing the {cap} nearest the POC. "
                                  "Raise row_ticks or max_rows to see more.")
            if tpo:
                result["tpo"] = _tpo_block(cur, key, grid, start_ms, end_ms, va, np.array(table["price"]))
            as_of = _as_of(cur, key, horizon, end_ms)
        return {**result, "source": _source(key, start_ms, end_ms, as_of)}


def _tpo_block(cur: duckdb.DuckDBPyConnection, key: MarketKey, grid: Grid, start_ms: int, end_ms: int,
               va: float, prices: np.ndarray) -> dict[str, Any]:
    minutes = ss.load_minutes(cur, key, grid, start_ms, end_ms)
    tp = build_tpo(minutes, grid, start_ms, end_ms, va)
    if tp is None:
        return {"warning": "no trades for a TPO profile"}
    rows = grid.row_of_tick(np.round(prices / grid.tick).astype(np.int64))
    inside = (rows >= tp.row_lo) & (rows < tp.row_lo + len(tp.counts))
    return {**tp.levels(), "rows": tp.rows_json(rows[inside])}


# ------------------------------------------------------------------------------ footprint


def _footprint(cur: duckdb.DuckDBPyConnection, key: MarketKey, grid: Grid, start_ms: int, end_ms: int,
               tf_ms: int) -> tuple[Footprint, np.ndarray, np.ndarray]:
    trades = load_trades(cur, key, grid, start_ms, end_ms)
    return build_footprint(trades, grid, start_ms, tf_ms), trades.ms, trades.signed


def _imbalance_args(ratio: float, min_volume: float, levels: int) -> tuple[float, float, int]:
    return (_number(ratio, "imbalance_ratio", 1, 1000), _number(min_volume, "min_imbalance_volume", 0, 1e12),
            _whole(levels, "stacked_levels", 2, 50))


def _zones(fp: Footprint, imb: im.Imbalances, levels: int, holding_only: bool = False) -> tuple[list[dict[str, Any]], list[str]]:
    """The newest :data:`MAX_ZONES` stacked zones (only those still holding if asked)."""
    zones = im.stacked_zones(fp, imb, levels)
    index = np.flatnonzero(zones.holds) if holding_only else np.arange(len(zones))
    notes = [f"{len(index)} stacked zones; only the newest {MAX_ZONES} are returned"] if len(index) > MAX_ZONES else []
    return im.zone_records(fp, zones, index[-MAX_ZONES:]), notes


@tool("orderflow")
def get_footprint(
    symbol: str, timeframe: str, start: str | None = None, end: str | None = None, row_ticks: int = 1,
    row_size: float | None = None, imbalance_ratio: float = 3.0, min_imbalance_volume: float = 0.0,
    stacked_levels: int = 3, max_bars: int = 30, max_rows: int = 2000,
    exchange: str = "binance", market: str = "usdm",
) -> dict[str, Any]:
    """Footprint bars (1m, 5m, 15m, 30m, 1h or any whole number of minutes): per bar OHLC,
    volume, buy/sell volume, delta, max/min running delta, trade count and POC; per price row
    (``row_ticks`` ticks, integer binning) buy volume, sell volume, delta and trades; diagonal
    imbalances (ratio ``imbalance_ratio``, minimum ``min_imbalance_volume``) and stacked
    imbalance zones of ``stacked_levels``+ rows with whether each still holds.

    ``start``/``end`` (ISO-8601 UTC) default to the newest ``max_bars`` bars. Returns ``bars``
    (oldest first; rows highest price first) and ``stacked_imbalances``. Caps: ``max_bars``
    bars (up to 1440) and ``max_rows`` price rows in all (rows go to the newest bars first;
    older bars then carry ``rows: null``), with ``truncated`` and ``notes``."""
    with _answering():
        key = _key(symbol, exchange, market)
        tf_ms = parse_timeframe(timeframe)
        ratio, min_vol, levels = _imbalance_args(imbalance_ratio, min_imbalance_volume, stacked_levels)
        bars_cap = _whole(max_bars, "max_bars", 1, MAX_BARS)
        rows_cap = _whole(max_rows, "max_rows", 0, MAX_FOOTPRINT_ROWS)
        with get_context().db() as cur:
            horizon = _horizon(cur, key)
            grid = _grid(cur, key, row_ticks, row_size)
            start_ms, end_ms = _bar_window(start, end, tf_ms, bars_cap, horizon)
            fp, ms, _ = _footprint(cur, key, grid, start_ms, end_ms, tf_ms)
        imb = im.diagonal_imbalances(fp, ratio, min_vol)
        keep, notes = _last_bars(len(fp), bars_cap)
        bars = bar_records(fp, keep)
        notes += _attach_rows(fp, imb, keep, bars, rows_cap)
        zones, zone_notes = _zones(fp, imb, levels)
        warnings = _stale(horizon) + ([] if len(fp) else [f"no trades between {iso_ms(start_ms)} and {iso_ms(end_ms)}"])
        return {"symbol": key.symbol, "exchange": key.exchange, "market": key.market, "timeframe": timeframe,
                "grid": grid.describe(), "imbalance": {"ratio": ratio, "min_volume": min_vol, "stacked_levels": levels},
                "bars": bars, "stacked_imbalances": zones, "truncated": bool(notes or zone_notes),
                "notes": notes + zone_notes, "warnings": warnings,
                "source": _source(key, start_ms, end_ms, int(ms[-1]) if len(ms) else None)}


def _attach_rows(fp: Footprint, imb: im.Imbalances, keep: np.ndarray, bars: list[dict[str, Any]], cap: int) -> list[str]:
    """Give the newest bars their rows and imbalance prices while the row budget lasts."""
    buy_n, sell_n = im.imbalance_counts(fp, imb)
    budget, skipped = cap, 0
    for pos in range(len(keep) - 1, -1, -1):
        i = int(keep[pos])
        bars[pos]["buy_imbalance_count"], bars[pos]["sell_imbalance_count"] = int(buy_n[i]), int(sell_n[i])
        n_rows = int(np.count_nonzero(fp.cell_trades[fp.bar_cells(i)]))
        if n_rows > budget:
            skipped += 1
            bars[pos]["rows"] = None
            continue
        budget -= n_rows
        bars[pos]["rows"] = bar_rows(fp, i)
        bars[pos].update(im.imbalance_prices(fp, imb, i))
    return [f"rows omitted for {skipped} bar(s) to stay within max_rows={cap}"] if skipped else []


# ------------------------------------------------------------------------ delta and CVD


def _anchors(cur: duckdb.DuckDBPyConnection, key: MarketKey, anchor: str, tz_name: str, start_ms: int,
             end_ms: int) -> tuple[np.ndarray, str]:
    if anchor == "session":
        tz = parse_tz(tz_name)
        return ss.session_starts(start_ms, end_ms, tz), f"day session start ({tz.key})"
    at = parse_time(anchor, "anchor")
    if at >= end_ms:
        raise ToolError(f"anchor {anchor!r} is not before the window end {iso_ms(end_ms)}")
    return np.array([at], np.int64), f"fixed time {iso_ms(at)}"


@tool("orderflow")
def get_orderflow_metrics(
    symbol: str, timeframe: str, start: str | None = None, end: str | None = None, anchor: str = "session",
    session_tz: str = "UTC", divergence_lookback: int = 5, imbalance_ratio: float = 3.0,
    min_imbalance_volume: float = 0.0, stacked_levels: int = 3, row_ticks: int = 1,
    row_size: float | None = None, max_bars: int = 100, exchange: str = "binance", market: str = "usdm",
) -> dict[str, Any]:
    """Delta and cumulative volume delta (CVD) per bar with divergence flags and imbalance
    counts. CVD at a bar's close is the signed volume since the ``anchor``: ``session`` (the
    day-session start in ``session_tz``; resets each day) or an ISO-8601 time.

    Per bar: OHLC, volume, buy/sell volume, delta, max/min running delta, CVD, trades, buy and
    sell diagonal-imbalance counts, ``delta_divergence`` (up bar with negative delta =
    bearish, down bar with positive delta = bullish) and ``cvd_divergence`` (new high/low vs
    the previous ``divergence_lookback`` bars without a new CVD high/low). Also the stacked
    imbalance zones that still hold and a summary. ``start``/``end`` default to the newest
    ``max_bars`` bars (cap 1440)."""
    with _answering():
        key = _key(symbol, exchange, market)
        tf_ms = parse_timeframe(timeframe)
        ratio, min_vol, levels = _imbalance_args(imbalance_ratio, min_imbalance_volume, stacked_levels)
        lookback = _whole(divergence_lookback, "divergence_lookback", 1, 500)
        bars_cap = _whole(max_bars, "max_bars", 1, MAX_BARS)
        with get_context().db() as cur:
            horizon = _horizon(cur, key)
            grid = _grid(cur, key, row_ticks, row_size)
            start_ms, end_ms = _bar_window(start, end, tf_ms, bars_cap, horizon)
            anchors, anchor_text = _anchors(cur, key, anchor, session_tz, start_ms, end_ms)
            carry = signed_volume(cur, key, int(anchors[0]), start_ms)
            fp, ms, signed = _footprint(cur, key, grid, start_ms, end_ms, tf_ms)
        cvd = _cvd(fp, ms, signed, anchors, carry, start_ms)
        imb = im.diagonal_imbalances(fp, ratio, min_vol)
        bars, summary = _metric_bars(fp, cvd, imb, lookback, bars_cap)
        held, zone_notes = _zones(fp, imb, levels, holding_only=True)
        notes = summary.pop("notes") + zone_notes
        warnings = _stale(horizon) + ([] if len(fp) else [f"no trades between {iso_ms(start_ms)} and {iso_ms(end_ms)}"])
        return {"symbol": key.symbol, "exchange": key.exchange, "market": key.market, "timeframe": timeframe,
                "cvd_anchor": anchor_text, "summary": summary, "bars": bars, "holding_stacked_imbalances": held,
                "truncated": bool(notes), "notes": notes, "warnings": warnings,
                "source": _source(key, start_ms, end_ms, int(ms[-1]) if len(ms) else None)}


def _cvd(fp: Footprint, ms: np.ndarray, signed: np.ndarray, anchors: np.ndarray, carry: float,
         start_ms: int) -> np.ndarray:
    close_ms = fp.bar_ms + fp.tf_ms
    per_bar = dl.anchor_for(close_ms, anchors)
    carries = np.where(per_bar < start_ms, carry, 0.0)
    return dl.cvd_at(TradeArrays(ms, np.zeros(0, np.int64), signed), close_ms, per_bar, carries)


def _metric_bars(fp: Footprint, cvd: np.ndarray, imb: im.Imbalances, lookback: int,
                 cap: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    price = fp.grid.price_of_tick
    d_div = dl.delta_divergence(fp.open, fp.close, fp.delta)
    c_div = dl.cvd_divergence(price(fp.high), price(fp.low), cvd, lookback)
    buy_n, sell_n = im.imbalance_counts(fp, imb)
    keep, notes = _last_bars(len(fp), cap)
    bars = bar_records(fp, keep)
    extra = {"cvd": to_list(cvd[keep]), "buy_imbalance_count": buy_n[keep].tolist(),
             "sell_imbalance_count": sell_n[keep].tolist(),
             "delta_divergence": [d_div[i] for i in keep], "cvd_divergence": [c_div[i] for i in keep]}
    for pos, bar in enumerate(bars):
        bar.update({name: values[pos] for name, values in extra.items()})
    valid = cvd[~np.isnan(cvd)]
    summary = {"bars": len(fp), "delta": float(np.round(fp.delta.sum(), 9)),
               "cvd_last": float(valid[-1]) if len(valid) else None,
               "buy_volume": float(np.round(fp.buy.sum(), 9)), "sell_volume": float(np.round(fp.sell.sum(), 9)),
               "delta_divergences": sum(x is not None for x in d_div),
               "cvd_divergences": sum(x is not None for x in c_div), "notes": notes}
    return bars, summary


# ------------------------------------------------------------------------------ depth delta


@tool("orderflow")
def get_orderbook_depth_delta(
    symbol: str, percent: float = 1.0, window_sec: int = 60, lookback_sec: int = 3600, end: str | None = None,
    max_samples: int = 120, exchange: str = "binance", market: str = "usdm",
) -> dict[str, Any]:
    """Resting bid and ask quantity within ±``percent`` % of the mid (one of the stored depth
    bands, e.g. 0.1, 0.25, 0.5, 1, 2, 5), sampled every ``window_sec`` seconds (the last book
    sample of each window) over the last ``lookback_sec`` seconds up to ``end`` (default: the
    newest sample).

    Returns ``summary`` (latest bid/ask/net quantity and imbalance; first-to-last change of
    bid, ask and net bid−ask quantity and notional over the lookback), ``samples`` (oldest
    first, at most ``max_samples``, each with its change from the previous sample) and
    ``warnings`` for windows without any sample."""
    with _answering():
        key = _key(symbol, exchange, market)
        window_s = _whole(window_sec, "window_sec", 1, 86_400)
        lookback_s = _whole(lookback_sec, "lookback_sec", window_s, 30 * 86_400)
        cap = _whole(max_samples, "max_samples", 1, MAX_DEPTH_SAMPLES)
        with get_context().db() as cur:
            require_symbol(cur, key)
            band = dp.match_band(dp.band_pcts(cur, key), _number(percent, "percent", 0.0001, 100))
            newest = latest_ms(cur, "depth_bands", key)
            end_ms = parse_time(end, "end") if end else newest
            if end_ms is None:
                raise ToolError(f"no depth bands stored for {key.label}")
            series = dp.load_depth(cur, key, band, window_s * 1000, lookback_s * 1000, end_ms)
        start_ms = end_ms - lookback_s * 1000
        if len(series) == 0:
            raise ToolError(f"no depth samples for {key.label} band {band}% between {iso_ms(start_ms)} and {iso_ms(end_ms)}")
        warnings = [] if end else _stale(int(series.ts_ms[-1]))
        missing = series.windows - len(series)
        if missing:
            warnings.append(f"{missing} of {series.windows} windows have no depth sample (collector gap or start)")
        truncated = len(series) > cap
        out = {"symbol": key.symbol, "exchange": key.exchange, "market": key.market, "percent": band,
               "window_sec": window_s, "lookback_sec": lookback_s, "summary": dp.depth_summary(series),
               "samples": dp.depth_samples(series, cap), "truncated": truncated, "warnings": warnings,
               "source": _source(key, start_ms, end_ms, int(series.ts_ms[-1]))}
        if truncated:
            out["note"] = f"{len(series)} samples; only the newest {cap} are listed (max_samples)"
        return out


# ---------------------------------------------------------------------------- liquidations


@tool("orderflow")
def stream_liquidations(
    symbol: str, limit: int = 50, cursor: str | None = None, window: str = "1h", bucket_pct: float = 0.1,
    exchange: str = "binance", market: str = "usdm",
) -> dict[str, Any]:
    """Recent liquidation events, newest first (``limit`` per page, at most 500; pass
    ``next_cursor`` back as ``cursor`` for the next page), and aggregates over the last
    ``window`` (e.g. 15m, 1h, 24h): count, quantity and notional by side (``sell`` orders
    liquidate longs, ``buy`` orders shorts) and by price bucket (``bucket_pct`` % of the
    mean liquidation price, whole ticks). The window ends at the newest trade or liquidation
    stored for the symbol."""
    with _answering():
        key = _key(symbol, exchange, market)
        n = _whole(limit, "limit", 1, MAX_LIQUIDATIONS)
        window_ms = parse_duration(window, "window", MINUTE_MS, 30 * DAY_MS)
        pct = _number(bucket_pct, "bucket_pct", 0.001, 50)
        with get_context().db() as cur:
            require_symbol(cur, key)
            newest = [t for t in (latest_ms(cur, "liquidations", key), latest_ms(cur, "trades", key)) if t is not None]
            if not newest:
                raise ToolError(f"no liquidations or trades stored for {key.label}")
            end_ms = max(newest)
            events, next_cursor = dv.liquidation_page(cur, key, end_ms, n, cursor)
            start_ms = end_ms - window_ms
            ref = dv.liquidation_vwap(cur, key, start_ms, end_ms)
            bucket = None if ref is None else dv.bucket_size(ref, pct, tick_size(cur, key))
            agg = dv.liquidation_aggregates(cur, key, start_ms, end_ms, bucket)
            last_liq = latest_ms(cur, "liquidations", key)
        warnings = [] if last_liq is not None else [f"no liquidations stored for {key.label}"]
        return {"symbol": key.symbol, "exchange": key.exchange, "market": key.market, "events": events,
                "next_cursor": next_cursor, "truncated": next_cursor is not None,
                "window": {"start": iso_ms(start_ms), "end": iso_ms(end_ms), "bucket_size": bucket, **agg},
                "warnings": warnings + _stale(end_ms), "source": _source(key, start_ms, end_ms, last_liq)}


# ------------------------------------------------------------------------ funding and OI


@tool("orderflow")
def get_funding_and_oi(
    symbol: str, window: str = "24h", points: int = 48, exchange: str = "binance", market: str = "usdm",
) -> dict[str, Any]:
    """Current mark price, index price, funding rate and next funding time, current open
    interest (contracts and quote value), open-interest change over 5m/15m/1h/4h/24h (those
    not longer than ``window``), and the history of both over ``window`` (e.g. 4h, 24h, 7d)
    resampled to ``points`` buckets (the last value in each)."""
    with _answering():
        key = _key(symbol, exchange, market)
        window_ms = parse_duration(window, "window", 5 * MINUTE_MS, 90 * DAY_MS)
        n = _whole(points, "points", 2, MAX_SERIES_POINTS)
        with get_context().db() as cur:
            require_symbol(cur, key)
            fund = dv.latest_row(cur, "mark_funding", "mark_price, index_price, funding_rate, epoch_ms(next_funding_ts)", key)
            oi = dv.latest_row(cur, "open_interest", "open_interest, open_interest_value", key)
            if fund is None and oi is None:
                raise ToolError(f"no mark price/funding or open interest stored for {key.label}")
            as_of = max(r[0] for r in (fund, oi) if r is not None)
            bucket = -(-window_ms // n)
            start_ms = as_of - window_ms
            out: dict[str, Any] = {"symbol": key.symbol, "exchange": key.exchange, "market": key.market,
                                   "window": window, "bucket_sec": bucket / 1000, "warnings": _stale(as_of)}
            out["funding"], out["open_interest"] = _funding_block(cur, key, fund, start_ms, as_of, bucket), \
                _oi_block(cur, key, oi, start_ms, as_of, bucket, window_ms)
        for name, row in (("mark price/funding", fund), ("open interest", oi)):
            if row is None:
                out["warnings"].append(f"no {name} stored for {key.label}")
        return {**out, "source": _source(key, start_ms, as_of, as_of)}


def _funding_block(cur: duckdb.DuckDBPyConnection, key: MarketKey, row: tuple[Any, ...] | None, start_ms: int,
                   end_ms: int, bucket: int) -> dict[str, Any] | None:
    if row is None:
        return None
    t, mark, index, rate, next_ts = row
    return {"time": iso_ms(int(t)), "mark_price": mark, "index_price": index, "funding_rate": rate,
            "next_funding_time": iso_ms(int(next_ts)) if next_ts is not None else None,
            "basis_pct": None if not index else round((mark - index) / index * 100, 6),
            "history": dv.bucketed_series(cur, "mark_funding", ["funding_rate", "mark_price"], key, start_ms, end_ms, bucket)}


def _oi_block(cur: duckdb.DuckDBPyConnection, key: MarketKey, row: tuple[Any, ...] | None, start_ms: int,
              end_ms: int, bucket: int, window_ms: int) -> dict[str, Any] | None:
    if row is None:
        return None
    t, oi, value = row
    windows = {k: v for k, v in OI_WINDOWS.items() if v <= window_ms}
    return {"time": iso_ms(int(t)), "open_interest": oi, "open_interest_value": value,
            "changes": dv.oi_changes(cur, key, int(t), float(oi), windows),
            "history": dv.bucketed_series(cur, "open_interest", ["open_interest", "open_interest_value"], key,
                                          start_ms, end_ms, bucket)}
