"""Delta, cumulative volume delta (CVD) and price/CVD divergence.

Delta is buy-aggressor volume minus sell-aggressor volume. CVD at a bar's close is the sum of
signed volume of every trade from the bar's *anchor* up to the bar's close: the anchor is the
most recent session start before the close (``anchor="session"``) or a fixed time. Because it
is computed on trades, a session start inside a bar is honoured exactly.

Divergence flags (per bar, ``None`` when there is none):

* ``delta_divergence``: the bar closed up (close > open) with negative delta -> ``bearish``;
  closed down with positive delta -> ``bullish`` (aggression absorbed against the move);
* ``cvd_divergence`` over the previous ``lookback`` bars: the bar makes a higher high than all
  of them while its CVD close is not above their highest CVD -> ``bearish``; a lower low while
  its CVD close is not below their lowest CVD -> ``bullish``. Bars without ``lookback``
  predecessors with a CVD are not flagged; an outside bar that does both is ``both``. The
  lookback counts bars that hold trades.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from flowdesk.analytics.orderflow.common import qty
from flowdesk.analytics.orderflow.store import TradeArrays


def cvd_at(
    trades: TradeArrays, times_ms: np.ndarray, anchors_ms: np.ndarray, carry: np.ndarray
) -> np.ndarray:
    """CVD at each time in ``times_ms`` (exclusive) counted from the matching anchor.

    ``carry`` is the signed volume between an anchor and the first trade loaded (non-zero only
    when the anchor lies before the loaded window). A time at or before its anchor gets NaN."""
    cum = np.concatenate(([0.0], np.cumsum(trades.signed)))
    at_end = cum[np.searchsorted(trades.ms, times_ms, side="left")]
    at_anchor = cum[np.searchsorted(trades.ms, anchors_ms, side="left")]
    out = qty(at_end - at_anchor + carry)
    return np.where(times_ms > anchors_ms, out, np.nan)


def anchor_for(times_ms: np.ndarray, session_starts_ms: np.ndarray) -> np.ndarray:
    """For each time, the latest session start strictly before it (``session_starts_ms``
    sorted; every time must have one)."""
    idx = np.searchsorted(session_starts_ms, times_ms, side="left") - 1
    return session_starts_ms[np.maximum(idx, 0)]


def delta_divergence(open_: np.ndarray, close: np.ndarray, delta: np.ndarray) -> list[str | None]:
    """``bearish`` for an up bar with negative delta, ``bullish`` for a down bar with positive
    delta, else ``None``."""
    out: list[str | None] = [None] * len(delta)
    for i in np.flatnonzero((close > open_) & (delta < 0)).tolist():
        out[i] = "bearish"
    for i in np.flatnonzero((close < open_) & (delta > 0)).tolist():
        out[i] = "bullish"
    return out


def cvd_divergence(
    high: np.ndarray, low: np.ndarray, cvd: np.ndarray, lookback: int
) -> list[str | None]:
    """Swing divergence between price extremes and CVD over the previous ``lookback`` bars."""
    n = len(cvd)
    out: list[str | None] = [None] * n
    if lookback < 1 or n <= lookback:
        return out
    prev_high = sliding_window_view(high, lookback)[:-1].max(axis=1)
    prev_low = sliding_window_view(low, lookback)[:-1].min(axis=1)
    window = sliding_window_view(cvd, lookback)[:-1]
    valid = ~np.isnan(window).any(axis=1) & ~np.isnan(cvd[lookback:])
    safe = np.where(valid[:, None], window, 0.0)
    now = np.where(valid, cvd[lookback:], 0.0)
    bearish = valid & (high[lookback:] > prev_high) & (now <= safe.max(axis=1))
    bullish = valid & (low[lookback:] < prev_low) & (now >= safe.min(axis=1))
    for i in np.flatnonzero(bearish).tolist():
        out[i + lookback] = "bearish"
    for i in np.flatnonzero(bullish).tolist():
        out[i + lookback] = "bullish" if out[i + lookback] is None else "both"
    return out
