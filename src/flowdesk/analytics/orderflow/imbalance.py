"""Diagonal bid/ask imbalances and stacked imbalance zones on footprint rows.

A *buy* (ask) imbalance at row ``r`` of a bar: buy volume at ``r`` is at least ``ratio`` times
the sell volume one row lower (``r - 1``). A *sell* (bid) imbalance at ``r``: sell volume at
``r`` is at least ``ratio`` times the buy volume one row higher (``r + 1``). Rules:

* only rows inside the bar's traded range are compared: the bar's lowest row has no buy
  imbalance, its highest row no sell imbalance; an empty row inside the range counts as 0;
* the imbalanced side must have volume > 0 and >= ``min_volume``; opposite volume 0 passes
  the ratio test (an infinite ratio);
* the ratio test is done on quantities rounded to 1e-9, so ``0.3 >= 3 * 0.1`` holds.

A *stacked* imbalance is ``min_levels`` or more consecutive rows of the same bar with the same
kind of imbalance; its zone runs from the lowest price of its lowest row to the highest price
of its highest row. A buy zone (support) *holds* while no later trade printed below the zone;
a sell zone (resistance) holds while no later trade printed above it. "Later" means in bars
after the zone's bar, up to the end of the window analysed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flowdesk.analytics.orderflow.common import iso_ms, qty
from flowdesk.analytics.orderflow.footprint import Footprint


@dataclass(frozen=True)
class Imbalances:
    """Boolean masks over the footprint's dense cells."""

    buy: np.ndarray
    sell: np.ndarray


def diagonal_imbalances(fp: Footprint, ratio: float, min_volume: float) -> Imbalances:
    """Buy and sell diagonal imbalance masks for every dense cell of ``fp``."""
    n = len(fp.cell_buy)
    if n == 0:
        return Imbalances(np.zeros(0, bool), np.zeros(0, bool))
    first = np.zeros(n, dtype=bool)
    first[fp.cell_start] = True
    last = np.zeros(n, dtype=bool)
    last[fp.cell_start + (fp.row_hi - fp.row_lo)] = True
    sell_below = np.concatenate(([0.0], fp.cell_sell[:-1]))
    buy_above = np.concatenate((fp.cell_buy[1:], [0.0]))
    floor = max(float(min_volume), 0.0)
    buy = (
        ~first
        & (fp.cell_buy > 0)
        & (fp.cell_buy >= floor)
        & (fp.cell_buy >= qty(ratio * sell_below))
    )
    sell = (
        ~last
        & (fp.cell_sell > 0)
        & (fp.cell_sell >= floor)
        & (fp.cell_sell >= qty(ratio * buy_above))
    )
    return Imbalances(buy, sell)


def _runs(mask: np.ndarray, min_len: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last index of every run of True at least ``min_len`` long."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    first = np.flatnonzero(edges == 1)
    last = np.flatnonzero(edges == -1) - 1
    keep = last - first + 1 >= min_len
    return first[keep], last[keep]


def _later_extremes(fp: Footprint) -> tuple[np.ndarray, np.ndarray]:
    """Per bar, the lowest low and highest high (ticks) of all *later* bars; bars with no
    later bar get sentinels that can never break a zone."""
    big = np.iinfo(np.int64).max
    later_low = np.concatenate((np.minimum.accumulate(fp.low[::-1])[::-1][1:], [big]))
    later_high = np.concatenate((np.maximum.accumulate(fp.high[::-1])[::-1][1:], [-big]))
    return later_low, later_high


SIDES = ("buy", "sell")


@dataclass(frozen=True)
class Zones:
    """Stacked imbalance zones in time order (then buy before sell, then price): ``side``
    (0 buy, 1 sell), the bar index, lowest/highest tick, row count, ``holds`` and
    ``tested``."""

    side: np.ndarray
    bar: np.ndarray
    low_tick: np.ndarray
    high_tick: np.ndarray
    levels: np.ndarray
    holds: np.ndarray
    tested: np.ndarray

    def __len__(self) -> int:
        return len(self.bar)


def stacked_zones(fp: Footprint, imb: Imbalances, min_levels: int) -> Zones:
    """Every stacked imbalance zone of ``fp`` with whether it still holds (vectorised: a busy
    day at one-tick rows has tens of thousands)."""
    later_low, later_high = _later_extremes(fp)
    parts = []
    for side, mask in ((0, imb.buy), (1, imb.sell)):
        first, last = _runs(mask, min_levels)
        bar = fp.cell_bar[first]
        low = fp.cell_row[first] * fp.grid.row_ticks
        high = fp.cell_row[last] * fp.grid.row_ticks + fp.grid.row_ticks - 1
        if side == 0:
            holds, tested = later_low[bar] >= low, later_low[bar] <= high
        else:
            holds, tested = later_high[bar] <= high, later_high[bar] >= low
        parts.append((np.full(len(bar), side), bar, low, high, last - first + 1, holds, tested))
    columns = [np.concatenate(cols) for cols in zip(*parts, strict=True)]
    order = np.lexsort((columns[2], columns[0], columns[1]))
    return Zones(*(c[order] for c in columns))


def zone_records(fp: Footprint, zones: Zones, index: np.ndarray) -> list[dict[str, object]]:
    """JSON-ready zones at ``index``: ``side`` (``buy``: aggressive buyers, acts as support;
    ``sell``: aggressive sellers, resistance), ``bar_open_time``, ``price_low``,
    ``price_high``, ``levels``, ``holds`` (not traded through since its bar closed),
    ``tested`` (price came back into the zone) and ``later_bars`` (bars checked after it)."""
    price = fp.grid.price_of_tick
    columns = {
        "side": [SIDES[k] for k in zones.side[index].tolist()],
        "bar_open_time": [iso_ms(t) for t in fp.bar_ms[zones.bar[index]].tolist()],
        "price_low": price(zones.low_tick[index]).tolist(),
        "price_high": price(zones.high_tick[index]).tolist(),
        "levels": zones.levels[index].tolist(),
        "holds": zones.holds[index].tolist(),
        "tested": zones.tested[index].tolist(),
        "later_bars": (len(fp) - 1 - zones.bar[index]).tolist(),
    }
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def imbalance_prices(fp: Footprint, imb: Imbalances, i: int) -> dict[str, list[float]]:
    """Row prices (lowest price of the row) of bar ``i`` with a buy / sell imbalance,
    highest first."""
    cells = fp.bar_cells(i)
    rows = fp.cell_row[cells][::-1]
    return {
        "buy_imbalances": fp.grid.row_low(rows[imb.buy[cells][::-1]]).tolist(),
        "sell_imbalances": fp.grid.row_low(rows[imb.sell[cells][::-1]]).tolist(),
    }


def imbalance_counts(fp: Footprint, imb: Imbalances) -> tuple[np.ndarray, np.ndarray]:
    """Per bar: number of buy-imbalance rows and of sell-imbalance rows."""
    n = len(fp)
    return (
        np.bincount(fp.cell_bar[imb.buy], minlength=n),
        np.bincount(fp.cell_bar[imb.sell], minlength=n),
    )
