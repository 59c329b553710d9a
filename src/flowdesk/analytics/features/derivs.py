"""Funding, mark/index basis and open-interest features: state fed by marks, open-interest
polls and 24h tickers, read at each boundary.

Funding is assumed to settle every 8 hours (Binance USD-M's default) for the annualized rate.
"""

from __future__ import annotations

import bisect
import math
from collections import deque

import numpy as np

from flowdesk import records as r

M1, M5, M15, H1 = 60_000, 300_000, 900_000, 3_600_000
FUNDING_HISTORY_MS = 7 * 86_400_000
FUNDING_MIN_MINUTES = 60
FUNDINGS_PER_YEAR = 3 * 365
OI_WINDOWS = {"5m": M5, "15m": M15, "1h": H1}
#: oi_price_quadrant codes
QUADRANTS = {(1, 1): 1.0, (-1, 1): 2.0, (1, -1): 3.0, (-1, -1): 4.0}
QUADRANT_NAMES = {1: "new longs", 2: "short covering", 3: "new shorts", 4: "long liquidation"}


class Derivatives:
    """Newest mark and ticker, per-minute funding history and open-interest observations."""

    def __init__(
        self,
        funding: list[tuple[int, float]],
        oi: list[tuple[int, float, float | None]],
        stale_ms: tuple[int, int, int],
    ) -> None:
        self.mark: r.MarkFunding | None = None
        self.ticker: r.Ticker24h | None = None
        self.funding: deque[tuple[int, float]] = deque(funding)
        self._stats: tuple[float, float] | None = None  # (mean, sd) of the funding history
        self._stats_key: tuple[int, int] | None = None
        self.oi_t = [t for t, _, _ in oi]
        self.oi = [(o, v) for _, o, v in oi]
        self.mark_stale, self.oi_stale, self.ticker_stale = stale_ms

    def on_mark(self, m: r.MarkFunding) -> None:
        if self.mark is None or m.ts >= self.mark.ts:
            self.mark = m

    def on_open_interest(self, o: r.OpenInterest) -> None:
        if not self.oi_t or o.ts > self.oi_t[-1]:
            self.oi_t.append(o.ts)
            self.oi.append((o.open_interest, o.open_interest_value))

    def on_ticker(self, t: r.Ticker24h) -> None:
        if self.ticker is None or t.ts >= self.ticker.ts:
            self.ticker = t

    def oi_at(self, t: int) -> tuple[int, float, float | None] | None:
        """The newest observation at or before ``t`` that is not stale: (ts, oi, value)."""
        i = bisect.bisect_right(self.oi_t, t) - 1
        if i < 0 or self.oi_t[i] < t - self.oi_stale:
            return None
        return self.oi_t[i], *self.oi[i]

    def features(self, t: int, mid: float, last: float, out: dict[str, float]) -> None:
        mark = self.mark if self.mark is not None and self.mark.ts >= t - self.mark_stale else None
        if mark is not None:
            self._funding(t, mark, out)
            self._basis(mark, mid, last, out)
        self._open_interest(t, mark, out)

    # -- funding and basis --------------------------------------------------------------------

    def _funding(self, t: int, mark: r.MarkFunding, out: dict[str, float]) -> None:
        rate = mark.funding_rate
        if rate is None:
            return
        out["funding_rate"] = rate
        out["funding_annualized_pct"] = rate * FUNDINGS_PER_YEAR * 100
        if mark.next_funding_ts:
            out["time_to_funding_s"] = (mark.next_funding_ts - t) / 1000
        minute = t - t % M1
        hist = self.funding
        if hist and hist[-1][0] == minute:
            hist[-1] = (minute, rate)
        else:
            hist.append((minute, rate))
        while hist and hist[0][0] <= t - FUNDING_HISTORY_MS:
            hist.popleft()
        stats = self._funding_stats(minute)
        if stats is not None and stats[1] > 0:
            out["funding_z"] = (rate - stats[0]) / stats[1]

    def _funding_stats(self, minute: int) -> tuple[float, float] | None:
        """Mean and sd of the per-minute rates, recomputed once per minute."""
        if len(self.funding) < FUNDING_MIN_MINUTES:
            return None
        key = (minute, len(self.funding))
        if self._stats_key != key:
            rates = np.fromiter((x for _, x in self.funding), dtype=np.float64)
            self._stats = (float(rates.mean()), float(rates.std(ddof=1)))
            self._stats_key = key
        return self._stats

    @staticmethod
    def _basis(mark: r.MarkFunding, mid: float, last: float, out: dict[str, float]) -> None:
        out["mark_price"] = mark.mark_price
        index = mark.index_price
        if index:
            out["index_price"] = index
            out["mark_premium_bps"] = (mark.mark_price - index) / index * 1e4
            if mid > 0:
                out["basis_bps"] = (mid - index) / index * 1e4
        if last > 0 and mark.mark_price > 0:
            out["mark_last_dev_bps"] = (last - mark.mark_price) / mark.mark_price * 1e4

    # -- open interest ------------------------------------------------------------------------

    def _open_interest(self, t: int, mark: r.MarkFunding | None, out: dict[str, float]) -> None:
        now = self.oi_at(t)
        self._trim(t)
        if now is None:
            return
        _, oi, value = now
        out["oi"] = oi
        if value is None and mark is not None:
            value = oi * mark.mark_price
        if value is not None:
            out["oi_value"] = value
        for tag, span in OI_WINDOWS.items():
            then = self.oi_at(t - span)
            if then is not None and then[1] > 0:
                out[f"oi_change_{tag}_pct"] = (oi / then[1] - 1) * 100
        change, ret = out.get("oi_change_5m_pct"), out.get("return_5m")
        if change and ret:  # both known and non-zero
            out["oi_price_quadrant"] = QUADRANTS[(_sign(change), _sign(ret))]
        self._leverage(t, value, out)

    def _leverage(self, t: int, value: float | None, out: dict[str, float]) -> None:
        tk = self.ticker
        if tk is None or tk.ts < t - self.ticker_stale:
            return
        if tk.quote_volume is None or tk.quote_volume != tk.quote_volume:  # none, or NaN
            return
        out["quote_volume_24h"] = tk.quote_volume
        if value is not None and tk.quote_volume > 0:
            out["leverage_proxy"] = value / tk.quote_volume

    def _trim(self, t: int) -> None:
        i = bisect.bisect_left(self.oi_t, t - H1 - self.oi_stale)
        if i > 64:
            del self.oi_t[:i], self.oi[:i]


def _sign(x: float) -> int:
    return 1 if x > 0 else -1


def quadrant_name(code: float) -> str | None:
    """The name of an ``oi_price_quadrant`` code."""
    return QUADRANT_NAMES.get(int(code)) if math.isfinite(code) else None
