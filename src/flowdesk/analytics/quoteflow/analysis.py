"""One call that turns a ticker's recent quotes into the full quote-flow picture.

The same function serves the background processor (every second, over its cached quotes) and
the ``analyze_order_flow`` tool (on demand, over the requested history), so live and on-demand
answers are computed identically.

Which quotes each part looks at, for quotes ending at ``end_ms``:

| part | quotes |
|---|---|
| thresholds (relative preset) | the last :data:`REFERENCE_S` seconds, bid and ask sizes pooled |
| window metrics, ``momentum_shift`` | each window (10 s, 60 s, 300 s) |
| ``absorption``, ``stacking``, ``iceberg`` | the last :data:`STATE_WINDOW_S` seconds |
| ``sweep`` events | the last ``sweep_scope_s`` seconds (processor: 10 s; tool: the history) |
| levels | the last ``history_s`` seconds |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from flowdesk.analytics.quoteflow import patterns as pt
from flowdesk.analytics.quoteflow.behaviors import behaviors
from flowdesk.analytics.quoteflow.levels import Level, significant_levels
from flowdesk.analytics.quoteflow.metrics import WINDOWS_S, WindowMetrics, window_metrics
from flowdesk.analytics.quoteflow.quotes import QuoteArrays
from flowdesk.analytics.quoteflow.thresholds import ThresholdConfig, Thresholds, classic_options

REFERENCE_S = 300
STATE_WINDOW_S = 60


@dataclass(frozen=True)
class Analysis:
    """Everything computed for one ticker at ``end_ms``."""

    ticker: str
    end_ms: int
    last: dict[str, float | int] | None
    windows: dict[int, WindowMetrics | None]
    window_quotes: dict[int, int]
    thresholds: Thresholds | None
    patterns: list[pt.Pattern]
    behaviors: dict[str, bool]
    levels: dict[str, list[Level]]
    quotes: int
    warnings: list[str] = field(default_factory=list)

    @property
    def current_price(self) -> float | None:
        return None if self.last is None else (float(self.last["bid"]) + float(self.last["ask"])) / 2

    def active(self) -> list[pt.Pattern]:
        """The lasting states (not the sweep events)."""
        return [p for p in self.patterns if p.type != "sweep"]


def last_quote(q: QuoteArrays) -> dict[str, float | int] | None:
    if len(q) == 0:
        return None
    return {
        "ts": int(q.ts[-1]),
        "bid": float(q.bid[-1]),
        "ask": float(q.ask[-1]),
        "bid_size": float(q.bid_size[-1]),
        "ask_size": float(q.ask_size[-1]),
    }


def _patterns(
    q: QuoteArrays,
    end_ms: int,
    t: Thresholds | None,
    windows: dict[int, WindowMetrics | None],
    sweep_scope_s: float,
) -> list[pt.Pattern]:
    price = float(q.mid[-1]) if len(q) else None
    found: list[pt.Pattern] = []
    moves = t if t is not None else classic_options()  # ratios and counts need no sizes
    for m in windows.values():
        if m is not None and price is not None:
            found += pt.momentum_shift(m, moves, price)
    if t is None:
        return found
    state = q.window(end_ms, STATE_WINDOW_S)
    found += pt.absorption(state, t, STATE_WINDOW_S)
    found += pt.stacking(state, t, STATE_WINDOW_S)
    found += pt.icebergs(state, t, STATE_WINDOW_S)
    found += pt.sweeps(q.window(end_ms, sweep_scope_s), t, int(sweep_scope_s))
    return found


def analyze(
    q: QuoteArrays,
    ticker: str,
    end_ms: int,
    config: ThresholdConfig,
    windows: tuple[int, ...] = WINDOWS_S,
    history_s: float = REFERENCE_S,
    sweep_scope_s: float = 10,
) -> Analysis:
    """Analyse ``q`` (sorted quotes; those after ``end_ms`` are ignored) for ``ticker``."""
    q = q.window(end_ms, max(REFERENCE_S, history_s, *windows))
    ref = q.window(end_ms, REFERENCE_S)
    t, reason = config.resolve(ticker, np.concatenate((ref.bid_size, ref.ask_size)))
    warnings = [f"{ticker}: {reason}; size-based patterns, large counts and levels are off"] if reason else []
    large = None if t is None else t.large_size
    cut = {w: q.window(end_ms, w) for w in windows}
    metrics = {w: window_metrics(cut[w], w, end_ms, large) for w in windows}
    found = _patterns(q, end_ms, t, metrics, sweep_scope_s)
    recent = q.window(end_ms, min(windows) if windows else 10)
    last = last_quote(q)
    mid = None if last is None else (float(last["bid"]) + float(last["ask"])) / 2
    hist = q.window(end_ms, history_s)
    levels = {
        side: [] if large is None else significant_levels(hist, side, large, mid) for side in ("bid", "ask")
    }
    return Analysis(
        ticker=ticker,
        end_ms=end_ms,
        last=last,
        windows=metrics,
        window_quotes={w: len(c) for w, c in cut.items()},
        thresholds=t,
        patterns=found,
        behaviors=behaviors(recent if len(recent) else q, metrics, found, t),
        levels=levels,
        quotes=len(hist),
        warnings=warnings,
    )


def metrics_fields(a: Analysis, window_s: int) -> dict[str, Any]:
    """Flat fields for the ``orderflow:metrics:{ticker}:{window}`` hash (None values left out):
    the window's metrics, acceleration labels, the ticker's behaviour flags as YES/NO, the
    current quote and the thresholds in force."""
    m = a.windows.get(window_s)
    out: dict[str, Any] = {"ticker": a.ticker, "window_s": window_s, "updated_at": a.end_ms,
                           "quotes": a.window_quotes.get(window_s, 0)}
    if m is not None:
        out.update(m.as_dict())
        for name in ("quote_rate_accel", "bid_size_accel", "ask_size_accel", "churn_accel"):
            out[f"{name}_label"] = m.accel_label(name)
    out.update({f"behavior_{k}": "YES" if v else "NO" for k, v in a.behaviors.items()})
    if a.last is not None:
        out.update({f"last_{k}": v for k, v in a.last.items()})
    if a.thresholds is not None:
        out["thresholds_preset"] = a.thresholds.preset
        out["large_size"] = a.thresholds.large_size
    return {k: v for k, v in out.items() if v is not None}
