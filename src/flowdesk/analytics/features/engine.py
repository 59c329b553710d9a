"""The per-symbol feature engine: cheap accumulation per record, features at each boundary.

One :class:`SymbolEngine` per (exchange, market, symbol). :meth:`SymbolEngine.on_record` is the
hot path: a record adds a few floats to the current interval. Boundaries sit on multiples of
the cadence in **exchange time**; a boundary ``T`` is closed when the first trade, quote or
liquidation with ``ts >= T`` arrives (before that record is counted), so the values at ``T``
depend only on the records and their order, never on the wall clock. That is what makes the
live path (feed taps) and the history path (stored rows replayed in receive order, see
:mod:`.history`) give the same numbers. Only trades, quotes and liquidations move the clock:
book diffs are not stored and marks/open interest are partly polled over REST.

At a boundary the engine pushes one row of interval sums into a ring (:mod:`.rolling`),
computes every feature (:mod:`.compute`, :mod:`.book`) and, when ``T >= emit_from``, appends
:class:`FeatureRow` rows to :attr:`SymbolEngine.rows` for the caller to write in batches.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import numpy as np

from flowdesk import records as r
from flowdesk.analytics.features import compute as cp
from flowdesk.analytics.features.book import (
    ADD_CANCEL_BAND_PCT,
    AddCancel,
    BookSample,
    WallTracker,
    book_features,
)
from flowdesk.analytics.features.derivs import Derivatives
from flowdesk.analytics.features.rolling import Ring
from flowdesk.analytics.features.vpin import Vpin

DAY_MS = 86_400_000
VPIN_CALIBRATION_MS = 300_000
#: a stretch this long without a trade, quote or liquidation is a gap in the data (feed down):
#: windowed features start again after it instead of spanning it
GAP_RESET_MS = 300_000
WHALE_QUANTILE = 0.95
WHALE_MIN_TRADES = 100


class FeatureRow(NamedTuple):
    """One value of the ``features`` table (long format, migration 5). ``ts`` is the
    exchange-time boundary (epoch ms) it was computed at; ``name`` a feature of the catalog."""

    exchange: str
    market: str
    symbol: str
    ts: int
    name: str
    value: float


@dataclass(frozen=True)
class EngineParams:
    """Engine settings; staleness limits are in exchange-time milliseconds."""

    cadence_ms: int = 1000
    vpin_buckets_per_day: int = 1440
    vpin_window: int = 50
    liquidations: bool = True  # whether the venue's liquidation stream is collected
    quote_stale_ms: int = 60_000
    mark_stale_ms: int = 120_000
    oi_stale_ms: int = 300_000
    ticker_stale_ms: int = 600_000
    book_max_age_ms: int = 5_000


@dataclass
class Seed:
    """State carried in from stored data older than the first replayed record."""

    cvd: float = 0.0
    cvd_anchor: int | None = None  # the UTC day start ``cvd`` counts from, when complete
    funding: list[tuple[int, float]] = field(default_factory=list)  # (minute ms, rate)
    oi: list[tuple[int, float, float | None]] = field(default_factory=list)  # (ts, oi, value)
    vpin: Vpin | None = None  # buckets already formed, bucket volume known


class BookSource(Protocol):
    def sample(self, t: int) -> BookSample | None:
        """The book as of boundary ``t`` (None when there is no usable book)."""

    def near(self, mid: float, pct: float) -> tuple[dict[float, float], dict[float, float]] | None:
        """The live book's levels within ``pct`` percent of ``mid`` (price -> qty, fresh dicts)
        for add/cancel tracking; None in history."""


class SymbolEngine:
    """Features of one instrument; see the module docstring."""

    def __init__(
        self,
        exchange: str,
        market: str,
        symbol: str,
        params: EngineParams | None = None,
        seed: Seed | None = None,
        book: BookSource | None = None,
        poll: Callable[[SymbolEngine], None] | None = None,
    ) -> None:
        self.key = (exchange, market, symbol)
        self.params = p = params or EngineParams()
        self.book = book
        self.poll = poll
        self.emit_from = 0
        self.rows: list[FeatureRow] = []
        self.latest: dict[str, float] = {}
        self.latest_ts: int | None = None
        self.stats = {"records": 0, "boundaries": 0, "rows": 0, "boundary_s": 0.0}
        capacity = cp.RING_SPAN_MS // p.cadence_ms + 3
        self._ring = Ring(cp.COLUMNS, capacity)
        self._next = -(2**62)
        self._first_t: int | None = None
        self._init_quote_trade()
        self._init_derivs(seed or Seed())
        self._walls = WallTracker()
        self._add_cancel = AddCancel()
        self._ac_since: int | None = None
        self.handlers: dict[type, Callable[[Any], None]] = {
            r.Trade: self.on_trade,
            r.Quote: self.on_quote,
            r.Liquidation: self.on_liquidation,
            r.BookDelta: self.on_delta,
            r.MarkFunding: self.derivs.on_mark,
            r.OpenInterest: self.derivs.on_open_interest,
            r.Ticker24h: self.derivs.on_ticker,
            r.Candle: _ignore,
            r.BookSnapshot: _ignore,
        }

    def _init_quote_trade(self) -> None:
        self._bid = self._ask = self._bid_qty = self._ask_qty = math.nan
        self._quote_ts = -(2**62)
        self._prev_mid = math.nan
        self._last_price = math.nan
        self._streak = 0
        self._whale_thr = math.inf
        self._whale_since: int | None = None
        self._sizes: list[float] = []
        self._size_hist: deque[tuple[int, np.ndarray]] = deque()
        self._reset_interval()

    def _init_derivs(self, seed: Seed) -> None:
        p = self.params
        self._cvd = seed.cvd
        self._cvd_anchor = seed.cvd_anchor
        self._day_end = -(2**62) if seed.cvd_anchor is None else seed.cvd_anchor + DAY_MS
        self.derivs = Derivatives(seed.funding, seed.oi, (p.mark_stale_ms, p.oi_stale_ms, p.ticker_stale_ms))
        self._liq_times: deque[int] = deque()
        #: trades seen while no stored history gave a VPIN bucket volume (None once known)
        self._calib: list[tuple[int, float, bool]] | None = None if seed.vpin is not None else []
        self._vpin = seed.vpin if seed.vpin is not None else Vpin(None, p.vpin_window)

    def _reset_interval(self) -> None:
        self._buy = self._sell = self._pq = self._ppq = self._ofi = 0.0
        self._whale_buy = self._whale_sell = self._signed_notional = 0.0
        self._n = 0
        self._max_streak = abs(self._streak)
        self._liq = [0, 0, 0.0, 0.0]

    # -- the hot path ----------------------------------------------------------------------

    def on_record(self, rec: Any) -> None:
        """Route any record type to its handler (types without features are ignored)."""
        self.handlers[type(rec)](rec)

    def on_trade(self, t: r.Trade) -> None:
        ts = t.ts
        if ts >= self._next:
            self._boundary(ts)
        if ts >= self._day_end:
            self._roll_day(ts)
        q, p = t.qty, t.price
        buy = t.side == "buy"
        if buy:
            self._buy += q
            self._streak = self._streak + 1 if self._streak > 0 else 1
            if q >= self._whale_thr:
                self._whale_buy += q
        else:
            self._sell += q
            self._streak = self._streak - 1 if self._streak < 0 else -1
            if q >= self._whale_thr:
                self._whale_sell += q
        signed = q if buy else -q
        self._cvd += signed
        self._signed_notional += signed * p
        self._n += 1
        self._pq += p * q
        self._ppq += p * p * q
        if abs(self._streak) > self._max_streak:
            self._max_streak = abs(self._streak)
        self._sizes.append(q)
        self._last_price = p
        if self._calib is None:
            self._vpin.add(q, buy)
        else:
            self._calibrate(ts, q, buy)
        self.stats["records"] += 1

    def on_quote(self, q: r.Quote) -> None:
        ts = q.ts
        if ts >= self._next:
            self._boundary(ts)
        bid, ask, bq, aq = q.bid, q.ask, q.bid_qty, q.ask_qty
        pb, pa = self._bid, self._ask
        if pb == pb:  # not NaN: a previous quote exists (Cont-Kukanov-Stoikov e_n)
            e = 0.0
            if bid >= pb:
                e += bq
            if bid <= pb:
                e -= self._bid_qty
            if ask <= pa:
                e -= aq
            if ask >= pa:
                e += self._ask_qty
            self._ofi += e
        self._bid, self._ask, self._bid_qty, self._ask_qty = bid, ask, bq, aq
        self._quote_ts = ts
        self.stats["records"] += 1

    def on_liquidation(self, x: r.Liquidation) -> None:
        ts = x.ts
        if ts >= self._next:
            self._boundary(ts)
        qty = x.filled_qty if x.filled_qty else x.qty  # the order-flow rule (derivs.LIQ_QTY)
        price = x.avg_price if x.avg_price else x.price
        i = 0 if x.side == "sell" else 1  # a forced sell liquidates a long
        self._liq[i] += 1
        self._liq[i + 2] += qty * price
        self._liq_times.append(ts)
        self.stats["records"] += 1

    def on_delta(self, d: r.BookDelta) -> None:
        self._add_cancel.on_levels(d.bids, d.asks)

    def _roll_day(self, ts: int) -> None:
        """A trade of a new UTC day: CVD starts again from zero, now anchored at its start."""
        anchor = ts - ts % DAY_MS
        if self._day_end > -(2**62):  # we saw the previous day end: the new day is complete
            self._cvd_anchor = anchor
        self._cvd = 0.0
        self._day_end = anchor + DAY_MS

    def _calibrate(self, ts: int, q: float, buy: bool) -> None:
        """No stored history gave a VPIN bucket size: take it from the first 5 minutes."""
        calib = self._calib
        assert calib is not None
        calib.append((ts, q, buy))
        span = ts - calib[0][0]
        if span < VPIN_CALIBRATION_MS:
            return
        volume = math.fsum(x[1] for x in calib)
        per_day = volume * DAY_MS / span
        self._vpin.bucket_volume = per_day / self.params.vpin_buckets_per_day
        self._calib = None
        for _, qty, is_buy in calib:
            self._vpin.add(qty, is_buy)

    # -- boundaries ------------------------------------------------------------------------

    def _boundary(self, ts: int) -> None:
        cad = self.params.cadence_ms
        t = ts - ts % cad
        last, self._next = self._next - cad, t + cad
        if self._first_t is None:
            self._first_t = t
            return
        if t - last > GAP_RESET_MS:
            self._first_t = t  # windows must fill again from here
        started = time.perf_counter()
        if self.poll is not None:
            self.poll(self)
        values = self._features(t)
        self.latest, self.latest_ts = values, t
        if t >= self.emit_from:
            ex, mk, sym = self.key
            self.rows.extend(FeatureRow(ex, mk, sym, t, k, v) for k, v in values.items())
            self.stats["rows"] += len(values)
        self._reset_interval()
        self.stats["boundaries"] += 1
        self.stats["boundary_s"] += time.perf_counter() - started

    def flush(self, now_ms: int) -> None:
        """Close the interval ending at or before ``now_ms`` (the end of a replay)."""
        if now_ms >= self._next:
            self._boundary(now_ms)

    def _warm(self, t: int) -> Callable[[int], bool]:
        first = self._first_t if self._first_t is not None else t
        return lambda span: t - first >= span

    def _features(self, t: int) -> dict[str, float]:
        out: dict[str, float] = {}
        mid = self._quote_part(t, out)
        self._push_ring(t, mid)
        v, warm = self._ring.ordered(), self._warm(t)
        cp.prices(v, t, warm, out)
        cp.ofi(v, t, warm, out)
        cp.vwap(v, t, warm, mid, out)
        cp.trades(v, t, warm, out)
        cp.kyle_lambda(v, t, warm, out)
        self._trade_part(t, v, warm, out)
        self._book_part(t, v, out)
        self.derivs.features(t, mid, self._last_price, out)
        if self.params.liquidations:
            cp.liquidations(v, t, warm, self._trim_liq(t), out)
        return {k: x for k, x in out.items() if math.isfinite(x)}

    def _quote_part(self, t: int, out: dict[str, float]) -> float:
        """Prices from the newest quote (when fresh); returns the mid (NaN without one)."""
        if self._quote_ts < t - self.params.quote_stale_ms or not self._bid > 0:
            return math.nan
        bid, ask, bq, aq = self._bid, self._ask, self._bid_qty, self._ask_qty
        mid = (bid + ask) / 2
        out["mid"], out["spread"], out["spread_bps"] = mid, ask - bid, (ask - bid) / mid * 1e4
        if bq + aq > 0:
            out["microprice"] = (bid * aq + ask * bq) / (bq + aq)
        return mid

    def _push_ring(self, t: int, mid: float) -> None:
        ret = math.log(mid / self._prev_mid) if mid > 0 and self._prev_mid > 0 else math.nan
        if mid > 0:
            self._prev_mid = mid
        spread = (self._ask - self._bid) / mid * 1e4 if mid > 0 else math.nan
        added, removed = self._add_cancel.take()
        self._ring.push(t, (
            mid, ret, spread, self._bid_qty + self._ask_qty if mid > 0 else math.nan,
            self._buy, self._sell, self._n, self._pq, self._ppq, self._ofi,
            self._whale_buy, self._whale_sell, self._max_streak, self._cvd, self._signed_notional,
            self._liq[0], self._liq[1], self._liq[2], self._liq[3], added, removed,
        ))

    def _trade_part(self, t: int, v: Any, warm: Callable[[int], bool], out: dict[str, float]) -> None:
        if self._last_price == self._last_price:
            out["last_price"] = self._last_price
            out["aggressor_streak"] = float(self._streak)
        if self._cvd_anchor is not None:
            out["cvd"] = self._cvd
        out["vpin"] = self._vpin.value()
        self._size_hist.append((t, np.asarray(self._sizes, dtype=np.float64)))
        self._sizes = []
        while self._size_hist and self._size_hist[0][0] <= t - cp.M15:
            self._size_hist.popleft()
        if warm(cp.M5):
            cp.size_quantiles(_concat(a for s, a in self._size_hist if s > t - cp.M5), out)
        self._update_whale_threshold(t, out)
        cp.whales(v, t, self._whale_since, out)

    def _update_whale_threshold(self, t: int, out: dict[str, float]) -> None:
        sizes = _concat(a for _, a in self._size_hist)
        if len(sizes) < WHALE_MIN_TRADES:
            self._whale_thr, self._whale_since = math.inf, None
            return
        self._whale_thr = float(np.quantile(sizes, WHALE_QUANTILE))
        if self._whale_since is None:
            self._whale_since = t
        out["whale_threshold"] = self._whale_thr

    def _book_part(self, t: int, v: Any, out: dict[str, float]) -> None:
        sample = self.book.sample(t) if self.book is not None else None
        mid = None if sample is None or sample.ts < t - self.params.book_max_age_ms else sample.mid()
        if sample is None or mid is None:
            self._add_cancel.stop()
            self._ac_since = None
            return
        out.update(book_features(sample))
        out.update(self._walls.update(sample))
        cp.add_cancel(v, t, self._ac_since, out)
        ac = self._add_cancel
        if ac.needs_reset(mid, t):
            levels = self.book.near(mid, ADD_CANCEL_BAND_PCT) if self.book is not None else None
            if levels is None:  # history: no live levels, no diffs
                ac.stop()
                self._ac_since = None
                return
            ac.reset(levels[0], levels[1], mid, t)
        if self._ac_since is None:
            self._ac_since = t

    def _trim_liq(self, t: int) -> list[int]:
        times = self._liq_times
        while times and times[0] <= t - cp.M15:
            times.popleft()
        return list(times)


def _ignore(rec: Any) -> None:
    return None


def _concat(arrays: Any) -> np.ndarray:
    parts = list(arrays)
    return np.concatenate(parts) if parts else np.empty(0)
