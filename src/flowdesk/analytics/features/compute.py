"""Windowed features at one boundary, from the ring of per-interval rows (pure functions).

Each function takes the ordered ring rows (:class:`~.rolling.View`), the boundary time ``T``
(epoch ms) and ``warm(span_ms)``, which says whether the engine has seen data for the whole
window; a windowed feature is only produced over a complete window. A value that cannot be
computed (no data, no variation) is left out, never replaced by a zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from flowdesk.analytics.features.rolling import View, burstiness, ols_slope, zscore
from flowdesk.analytics.orderflow.vwap import vwap_from_sums

M1, M5, M15, H1 = 60_000, 300_000, 900_000, 3_600_000
WINDOWS = {"1m": M1, "5m": M5, "15m": M15}
Warm = Callable[[int], bool]
Out = dict[str, float]

#: ring columns (one row per boundary interval)
COLUMNS = (
    "mid", "ret", "spread_bps", "top_qty", "buy", "sell", "n", "pq", "ppq", "ofi",
    "whale_buy", "whale_sell", "max_streak", "cvd", "signed_notional",
    "liq_long_n", "liq_short_n", "liq_long_v", "liq_short_v", "added", "removed",
)
#: the longest window the ring must hold
RING_SPAN_MS = M15


def prices(v: View, t: int, warm: Warm, out: Out) -> None:
    """Spread z-score, realized volatility, returns, efficiency and the 5m range."""
    _, spreads = v.col("spread_bps", t, M5)
    if warm(M5):
        z = zscore(spreads[-1], spreads, 30) if len(spreads) else math.nan
        _put(out, "spread_z_5m", z)
    for tag, span in WINDOWS.items():
        if not warm(span):
            continue
        _, r = v.col("ret", t, span)
        r = r[np.isfinite(r)]
        if len(r) == 0:
            continue
        out[f"rv_{tag}"] = float(math.sqrt(float(np.dot(r, r))) * 1e4)
        path = float(np.abs(r).sum())
        if path > 0:
            out[f"efficiency_{tag}"] = abs(float(r.sum())) / path
        then, now = v.at_or_before("mid", t - span), v.at_or_before("mid", t)
        if then > 0 and now > 0:
            out[f"return_{tag}"] = math.log(now / then) * 1e4
    if warm(M5):
        _range(v.col("mid", t, M5)[1], out)


def _range(mids: np.ndarray, out: Out) -> None:
    mids = mids[np.isfinite(mids)]
    if len(mids) == 0:
        return
    hi, lo, last = float(mids.max()), float(mids.min()), float(mids[-1])
    out["range_5m_bps"] = (hi - lo) / last * 1e4
    if hi > lo:
        out["range_pos_5m"] = (last - lo) / (hi - lo)


def vwap(v: View, t: int, warm: Warm, mid: float, out: Out) -> None:
    """15m VWAP of trades (the order-flow VWAP) and the mid's distance from it in sds."""
    if not warm(M15):
        return
    found = vwap_from_sums(v.total("buy", t, M15) + v.total("sell", t, M15), v.total("pq", t, M15), v.total("ppq", t, M15))
    if found is None:
        return
    out["vwap_15m"] = found.vwap
    if found.stdev > 0 and math.isfinite(mid):
        out["vwap_dev_15m"] = (mid - found.vwap) / found.stdev


def ofi(v: View, t: int, warm: Warm, out: Out) -> None:
    """Order-flow imbalance sums and the 1m sum over the mean best-level size."""
    for tag, span in (("1m", M1), ("5m", M5)):
        if warm(span):
            out[f"ofi_{tag}"] = v.total("ofi", t, span)
    if warm(M1):
        _, top = v.col("top_qty", t, M1)
        top = top[np.isfinite(top)]
        if len(top) and top.mean() > 0:
            out["ofi_norm_1m"] = out["ofi_1m"] / float(top.mean())


def trades(v: View, t: int, warm: Warm, out: Out) -> None:
    """Volumes, CVD slope, intensity, mean size and streak maxima from the ring."""
    for tag, span in (("1m", M1), ("5m", M5)):
        if not warm(span):
            continue
        buy, sell = v.total("buy", t, span), v.total("sell", t, span)
        out[f"volume_{tag}"] = buy + sell
        out[f"signed_volume_{tag}"] = buy - sell
        times, cvd = v.col("cvd", t, span)
        slope = ols_slope((times - t) / M1, cvd, min_points=10)
        _put(out, f"cvd_slope_{tag}", slope)
    if warm(M1):
        n1 = v.total("n", t, M1)
        out["trade_intensity_1m"] = n1 / 60.0
        if n1 > 0:
            out["trade_size_mean_1m"] = out["volume_1m"] / n1
        _, streaks = v.col("max_streak", t, M1)
        if len(streaks):
            out["max_streak_1m"] = float(np.nanmax(streaks))
    if warm(M15):
        n15 = v.total("n", t, M15)
        if n15 > 0:
            out["trade_intensity_ratio"] = (v.total("n", t, M1) / 60.0) / (n15 / 900.0)


def whales(v: View, t: int, since: int | None, out: Out) -> None:
    """Large-trade share and imbalance, once the threshold has existed for the whole window."""
    if since is None:
        return
    if t - since >= M1:
        volume = v.total("buy", t, M1) + v.total("sell", t, M1)
        if volume > 0:
            out["whale_share_1m"] = (v.total("whale_buy", t, M1) + v.total("whale_sell", t, M1)) / volume
    if t - since >= M5:
        wb, ws = v.total("whale_buy", t, M5), v.total("whale_sell", t, M5)
        if wb + ws > 0:
            out["whale_imbalance_5m"] = (wb - ws) / (wb + ws)


def kyle_lambda(v: View, t: int, warm: Warm, out: Out) -> None:
    """Price impact: OLS slope of interval returns (bps) on signed notional (millions)."""
    if not warm(M5):
        return
    _, r = v.col("ret", t, M5)
    _, x = v.col("signed_notional", t, M5)
    _put(out, "kyle_lambda_5m", ols_slope(x / 1e6, r * 1e4, min_points=30))


def size_quantiles(sizes: np.ndarray, out: Out) -> None:
    """Median and 95th percentile trade size over the 5m window."""
    if len(sizes):
        p50, p95 = np.quantile(sizes, [0.5, 0.95])
        out["trade_size_p50_5m"], out["trade_size_p95_5m"] = float(p50), float(p95)


def add_cancel(v: View, t: int, since: int | None, out: Out) -> None:
    """Added / cancelled quantity near the touch over 1m (cancelled = removed - traded)."""
    if since is None or t - since < M1:
        return
    cancelled = v.total("removed", t, M1) - v.total("buy", t, M1) - v.total("sell", t, M1)
    if cancelled > 0:
        out["add_cancel_ratio_1m"] = v.total("added", t, M1) / cancelled


def liquidations(v: View, t: int, warm: Warm, times: list[int], out: Out) -> None:
    """Counts and notional by side over 5m/15m, cascade intensity and clustering."""
    for tag, span in (("5m", M5), ("15m", M15)):
        if not warm(span):
            continue
        out[f"liq_long_count_{tag}"] = v.total("liq_long_n", t, span)
        out[f"liq_short_count_{tag}"] = v.total("liq_short_n", t, span)
        out[f"liq_long_notional_{tag}"] = v.total("liq_long_v", t, span)
        out[f"liq_short_notional_{tag}"] = v.total("liq_short_v", t, span)
    if not warm(M15):
        return
    total15 = out["liq_long_notional_15m"] + out["liq_short_notional_15m"]
    if total15 > 0:
        total1 = v.total("liq_long_v", t, M1) + v.total("liq_short_v", t, M1)
        out["liq_cascade_intensity"] = total1 / (total15 / 15.0)
    _put(out, "liq_clustering_15m", burstiness([x for x in times if x > t - M15]))


def _put(out: Out, name: str, value: float) -> None:
    if value is not None and math.isfinite(value):
        out[name] = float(value)
