"""TPO (market profile): time at price in 30-minute periods.

Rules: periods are 30 minutes long counted from the session (or range) start and lettered
``A``-``Z`` then ``a``-``z`` by their position (an empty period keeps its letter unused). A
price row receives the period's TPO when it lies between the period's lowest and highest
traded row (the classic bar-range rule: rows the market moved through count even if no trade
printed on them). The TPO POC is the row with the most TPOs and the value area is built with
the same CBOT/Dalton method and tie rules as the volume profile, on TPO counts. The initial
balance is the range of the first two periods (A and B).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np

from flowdesk.analytics.orderflow.common import MINUTE_MS, Grid, MarketKey
from flowdesk.analytics.orderflow.profile import pick_poc, value_area
from flowdesk.analytics.orderflow.sessions import MinuteStats, load_minutes

TPO_PERIOD_MS = 30 * MINUTE_MS
LETTERS = string.ascii_uppercase + string.ascii_lowercase


@dataclass(frozen=True)
class TpoProfile:
    grid: Grid
    row_lo: int
    counts: np.ndarray
    period: np.ndarray
    period_lo_tick: np.ndarray
    period_hi_tick: np.ndarray
    poc_row: int
    val_row: int
    vah_row: int

    def letter(self, p: int) -> str:
        return LETTERS[p] if p < len(LETTERS) else f"P{p + 1}"

    def levels(self) -> dict[str, object]:
        """TPO POC/VAH/VAL (prices as for the volume profile), the initial balance and the
        number of periods with trades."""
        g = self.grid
        ib = self.period < 2
        return {
            "poc": float(g.row_low(self.poc_row)),
            "vah": float(g.row_high(self.vah_row)),
            "val": float(g.row_low(self.val_row)),
            "initial_balance": {
                "high": float(g.price_of_tick(self.period_hi_tick[ib].max())),
                "low": float(g.price_of_tick(self.period_lo_tick[ib].min())),
            }
            if ib.any()
            else None,
            "periods": len(self.period),
            "period_minutes": TPO_PERIOD_MS // MINUTE_MS,
        }

    def rows_json(self, rows: np.ndarray) -> dict[str, list[object]]:
        """Columnar TPO rows (given row numbers): price, TPO count and letters."""
        lo = self.grid.row_of_tick(self.period_lo_tick)
        hi = self.grid.row_of_tick(self.period_hi_tick)
        letters = [
            "".join(
                self.letter(p)
                for p, a, b in zip(self.period.tolist(), lo.tolist(), hi.tolist(), strict=True)
                if a <= r <= b
            )
            for r in rows.tolist()
        ]
        return {
            "price": self.grid.row_low(rows).tolist(),
            "tpo": self.counts[rows - self.row_lo].tolist(),
            "letters": letters,
        }


def build_tpo(
    minutes: MinuteStats, grid: Grid, start_ms: int, end_ms: int, value_area_pct: float
) -> TpoProfile | None:
    """TPO profile of ``[start_ms, end_ms)`` from one-minute stats; periods count from
    ``start_ms`` rounded down to its minute. None when nothing traded."""
    sel = minutes.between(start_ms // MINUTE_MS * MINUTE_MS, end_ms)
    m = minutes.minute_ms[sel]
    if len(m) == 0:
        return None
    period = (m - start_ms // MINUTE_MS * MINUTE_MS) // TPO_PERIOD_MS
    starts = np.concatenate(([0], np.flatnonzero(np.diff(period)) + 1))
    p_lo = np.minimum.reduceat(minutes.lo_tick[sel], starts)
    p_hi = np.maximum.reduceat(minutes.hi_tick[sel], starts)
    r_lo, r_hi = grid.row_of_tick(p_lo), grid.row_of_tick(p_hi)
    base = int(r_lo.min())
    n = int(r_hi.max()) - base + 1
    diff = np.zeros(n + 1, np.int64)
    np.add.at(diff, r_lo - base, 1)
    np.add.at(diff, r_hi - base + 1, -1)
    counts = np.cumsum(diff)[:n]
    poc = int(pick_poc(counts.astype(np.float64), np.array([0]), np.array([n]))[0])
    val, vah = value_area(counts, poc, value_area_pct)
    return TpoProfile(
        grid, base, counts, period[starts], p_lo, p_hi, base + poc, base + val, base + vah
    )


def tpo_result(
    cur: duckdb.DuckDBPyConnection,
    key: MarketKey,
    grid: Grid,
    window: tuple[int, int],
    value_area_pct: float,
    prices: np.ndarray,
) -> dict[str, Any]:
    """JSON-ready TPO profile of ``window`` (epoch-ms ``[start, end)``): levels plus TPO
    counts and letters for the rows at ``prices`` (the rows a volume profile returned)."""
    minutes = load_minutes(cur, key, grid, *window)
    tp = build_tpo(minutes, grid, *window, value_area_pct)
    if tp is None:
        return {"warning": "no trades for a TPO profile"}
    rows = grid.row_of_tick(grid.tick_of(prices))
    inside = (rows >= tp.row_lo) & (rows < tp.row_lo + len(tp.counts))
    return {**tp.levels(), "rows": tp.rows_json(rows[inside])}
