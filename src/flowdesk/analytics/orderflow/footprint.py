"""Footprint bars: per bar and price row, buy and sell volume, delta and trade count.

Input is :class:`~flowdesk.analytics.orderflow.store.TradeArrays` (trades in exchange order
with integer tick indices), so rows are integer arithmetic and never misbinned. The per-row
cells are kept *dense* per bar (every row from the bar's low row to its high row, empty rows
as zeros) so that diagonal imbalances can compare neighbour rows by index.

Order-dependent numbers (open, close, maximum and minimum running delta inside the bar) come
from the trade order; everything else is a vectorised group-by (``np.bincount``) over a key
that packs (bar, row) into one dense index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flowdesk.analytics.orderflow.common import Grid, iso_ms, qty
from flowdesk.analytics.orderflow.profile import pick_poc
from flowdesk.analytics.orderflow.store import TradeArrays


@dataclass(frozen=True)
class Footprint:
    """Bars that hold at least one trade, in time order, and their dense row cells.

    Bar arrays (one entry per bar): ``bar_ms`` open time, ``open/high/low/close`` tick
    indices, ``volume, buy, sell, delta, trades``, ``max_delta/min_delta`` (extremes of the
    running delta after each trade of the bar), ``poc_row`` and the row range
    ``row_lo..row_hi``. Cell arrays (``cell_*``) are dense: bar ``i`` owns indices
    ``cell_start[i] : cell_start[i] + row_hi[i] - row_lo[i] + 1``.
    """

    grid: Grid
    tf_ms: int
    bar_ms: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    buy: np.ndarray
    sell: np.ndarray
    delta: np.ndarray
    trades: np.ndarray
    max_delta: np.ndarray
    min_delta: np.ndarray
    row_lo: np.ndarray
    row_hi: np.ndarray
    poc_row: np.ndarray
    cell_start: np.ndarray
    cell_bar: np.ndarray
    cell_row: np.ndarray
    cell_buy: np.ndarray
    cell_sell: np.ndarray
    cell_trades: np.ndarray

    def __len__(self) -> int:
        return len(self.bar_ms)

    def bar_cells(self, i: int) -> slice:
        start = int(self.cell_start[i])
        return slice(start, start + int(self.row_hi[i] - self.row_lo[i]) + 1)


def _bar_bounds(
    ms: np.ndarray, start_ms: int, tf_ms: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bar numbers that hold trades and the start/end (exclusive) position of each, found by
    binary search of the bar edges in the time-ordered trades (no per-trade division)."""
    edges = start_ms + np.arange((int(ms[-1]) - start_ms) // tf_ms + 2, dtype=np.int64) * tf_ms
    pos = np.searchsorted(ms, edges, side="left")
    bars = np.flatnonzero(np.diff(pos))
    return bars, pos[bars], pos[bars + 1]


def _running_extremes(
    signed: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per bar: total delta, max and min of the running delta after each trade."""
    cum = np.cumsum(signed)
    before = cum[starts] - signed[starts]
    return (
        cum[ends - 1] - before,
        np.maximum.reduceat(cum, starts) - before,
        np.minimum.reduceat(cum, starts) - before,
    )


def _cells(
    trades: TradeArrays, size: np.ndarray, rows: np.ndarray, starts: np.ndarray, counts: np.ndarray
) -> dict[str, np.ndarray]:
    """Dense per-bar row cells: range, offsets, volume, signed volume and trade count."""
    row_lo, row_hi = np.minimum.reduceat(rows, starts), np.maximum.reduceat(rows, starts)
    width = row_hi - row_lo + 1
    cell_start = np.cumsum(width) - width
    key = rows - np.repeat(row_lo - cell_start, counts)
    n_cells = int(width.sum())
    return {
        "row_lo": row_lo,
        "row_hi": row_hi,
        "width": width,
        "start": cell_start,
        "volume": np.bincount(key, weights=size, minlength=n_cells),
        "delta": np.bincount(key, weights=trades.signed, minlength=n_cells),
        "trades": np.bincount(key, minlength=n_cells),
    }


def build_footprint(trades: TradeArrays, grid: Grid, start_ms: int, tf_ms: int) -> Footprint:
    """Footprint bars of ``tf_ms`` aligned on ``start_ms`` from trades in exchange order.

    Buy and sell volume come from two weighted counts, |q| and signed q:
    buy = (|q| + q) / 2, sell = (|q| − q) / 2, summed per cell and per bar."""
    if len(trades) == 0:
        return _empty(grid, tf_ms)
    bars, starts, ends = _bar_bounds(trades.ms, start_ms, tf_ms)
    rows = trades.tick if grid.row_ticks == 1 else grid.row_of_tick(trades.tick)
    size = np.abs(trades.signed)
    c = _cells(trades, size, rows, starts, ends - starts)
    delta, max_d, min_d = _running_extremes(trades.signed, starts, ends)
    volume = np.add.reduceat(size, starts)
    exact = rows is trades.tick  # one-tick rows: the row range is the price range
    return Footprint(
        grid=grid, tf_ms=tf_ms, bar_ms=start_ms + bars * tf_ms,
        open=trades.tick[starts], close=trades.tick[ends - 1],
        high=c["row_hi"] if exact else np.maximum.reduceat(trades.tick, starts),
        low=c["row_lo"] if exact else np.minimum.reduceat(trades.tick, starts),
        volume=qty(volume), buy=qty((volume + delta) / 2), sell=qty((volume - delta) / 2),
        delta=qty(delta), trades=ends - starts, max_delta=qty(max_d), min_delta=qty(min_d),
        row_lo=c["row_lo"], row_hi=c["row_hi"],
        poc_row=c["row_lo"] + pick_poc(qty(c["volume"]), c["start"], c["width"]),
        cell_start=c["start"], cell_bar=np.repeat(np.arange(len(starts)), c["width"]),
        cell_row=np.arange(len(c["volume"])) - np.repeat(c["start"] - c["row_lo"], c["width"]),
        cell_buy=qty((c["volume"] + c["delta"]) / 2), cell_sell=qty((c["volume"] - c["delta"]) / 2),
        cell_trades=c["trades"],
    )  # fmt: skip


def _empty(grid: Grid, tf_ms: int) -> Footprint:
    i64, f64 = np.zeros(0, np.int64), np.zeros(0, np.float64)
    return Footprint(
        grid,
        tf_ms,
        i64,
        i64,
        i64,
        i64,
        i64,
        f64,
        f64,
        f64,
        f64,
        i64,
        f64,
        f64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        f64,
        f64,
        i64,
    )


def bar_records(fp: Footprint, index: np.ndarray) -> list[dict[str, object]]:
    """JSON-ready summaries (no rows) of the bars at ``index``; prices are exact tick prices,
    ``poc`` is the lowest price of the bar's point-of-control row."""
    price = fp.grid.price_of_tick
    columns = {
        "open_time": [iso_ms(t) for t in fp.bar_ms[index].tolist()],
        "open": price(fp.open[index]).tolist(),
        "high": price(fp.high[index]).tolist(),
        "low": price(fp.low[index]).tolist(),
        "close": price(fp.close[index]).tolist(),
        "volume": fp.volume[index].tolist(),
        "buy_volume": fp.buy[index].tolist(),
        "sell_volume": fp.sell[index].tolist(),
        "delta": fp.delta[index].tolist(),
        "max_delta": fp.max_delta[index].tolist(),
        "min_delta": fp.min_delta[index].tolist(),
        "trades": fp.trades[index].tolist(),
        "poc": fp.grid.row_low(fp.poc_row[index]).tolist(),
    }
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def bar_rows(fp: Footprint, i: int) -> dict[str, list[object]]:
    """Columnar rows of bar ``i`` with at least one trade, highest price first; ``price`` is
    the row's lowest price."""
    cells = fp.bar_cells(i)
    buy, sell = fp.cell_buy[cells][::-1], fp.cell_sell[cells][::-1]
    traded = fp.cell_trades[cells][::-1] > 0
    rows = fp.cell_row[cells][::-1][traded]
    return {
        "price": fp.grid.row_low(rows).tolist(),
        "buy": buy[traded].tolist(),
        "sell": sell[traded].tolist(),
        "delta": qty(buy[traded] - sell[traded]).tolist(),
        "trades": fp.cell_trades[cells][::-1][traded].tolist(),
    }
