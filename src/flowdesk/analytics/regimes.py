"""Market regime from the features, by documented rules (see docs/signals.md#regimes).

Direction regime, first rule that holds, with ``t = return_15m / rv_15m`` (the 15-minute move in
units of its own realized volatility), ``e = efficiency_15m``, ``x = rv_1m * sqrt(15) / rv_15m``
(the last minute's volatility against the 15-minute average, 1 = unchanged) and
``p = range_pos_5m``:

1. ``breakout``: x >= 1.5 and t >= 2 and p >= 0.9;
2. ``breakdown``: x >= 1.5 and t <= -2 and p <= 0.1;
3. ``trending_up``: t >= 1.5 and e >= 0.3;
4. ``trending_down``: t <= -1.5 and e >= 0.3;
5. ``ranging``: otherwise.

Volatility regime: the percentile of the current ``rv_15m`` among its own values over the
lookback (at least 60 of them): ``high`` from the 80th, ``low`` up to the 20th, else
``normal``. With too little history it is reported as unavailable, never guessed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BREAK_VOL_RATIO = 1.5
BREAK_TREND = 2.0
TREND = 1.5
TREND_EFFICIENCY = 0.3
HIGH_PCT, LOW_PCT = 0.8, 0.2
MIN_VOL_HISTORY = 60
INPUTS = ("return_15m", "rv_15m", "efficiency_15m", "rv_1m", "range_pos_5m")


def _arr(values: dict[str, Any], name: str) -> np.ndarray:
    v = values.get(name)
    return np.asarray(np.nan if v is None else v, dtype=np.float64)


def direction_regime(values: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(regime names, the number of the rule that fired) for single values or arrays; where
    the 15-minute trend is unknown the regime is ``unknown`` (rule 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = _arr(values, "return_15m") / np.where(_arr(values, "rv_15m") > 0, _arr(values, "rv_15m"), np.nan)
        x = _arr(values, "rv_1m") * np.sqrt(15.0) / np.where(_arr(values, "rv_15m") > 0, _arr(values, "rv_15m"), np.nan)
    e, p = _arr(values, "efficiency_15m"), _arr(values, "range_pos_5m")
    conditions = [
        ~np.isfinite(t),
        (x >= BREAK_VOL_RATIO) & (t >= BREAK_TREND) & (p >= 0.9),
        (x >= BREAK_VOL_RATIO) & (t <= -BREAK_TREND) & (p <= 0.1),
        (t >= TREND) & (e >= TREND_EFFICIENCY),
        (t <= -TREND) & (e >= TREND_EFFICIENCY),
    ]
    names = np.select(conditions, ["unknown", "breakout", "breakdown", "trending_up", "trending_down"], "ranging")
    rules = np.select(conditions, [0, 1, 2, 3, 4], 5)
    return names, rules


def volatility_regime(current: float | None, history: np.ndarray) -> dict[str, Any]:
    """``high``/``normal``/``low`` by the percentile of ``current`` in ``history``."""
    h = history[np.isfinite(history)]
    if current is None or not np.isfinite(current):
        return {"regime": None, "reason": "rv_15m is not available (needs 15 minutes of quotes)"}
    if len(h) < MIN_VOL_HISTORY:
        return {"regime": None, "reason": f"only {len(h)} past rv_15m values; need {MIN_VOL_HISTORY}"}
    pct = float((h < current).mean() + 0.5 * (h == current).mean())
    regime = "high" if pct >= HIGH_PCT else "low" if pct <= LOW_PCT else "normal"
    return {"regime": regime, "percentile": round(pct, 3), "history_points": int(len(h))}


def segments(times: np.ndarray, names: np.ndarray, limit: int) -> list[dict[str, Any]]:
    """Runs of the same regime, oldest first (the newest ``limit``): start/end epoch ms, regime,
    points."""
    out: list[dict[str, Any]] = []
    for t, name in zip(times.tolist(), names.tolist(), strict=True):
        if out and out[-1]["regime"] == name:
            out[-1]["end"] = t
            out[-1]["points"] += 1
        else:
            out.append({"start": t, "end": t, "regime": name, "points": 1})
    return out[-limit:]
