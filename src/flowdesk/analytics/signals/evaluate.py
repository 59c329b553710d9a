"""Event study of a signal over stored history: does it precede the move it claims?

1. The signal is computed at every feature boundary of the window (the same formula as live).
2. An **event** is a crossing: a [0, 1] score rising through the threshold; a signed signal
   rising through ``+threshold`` (predicts up) or falling through ``-threshold`` (predicts
   down); the institutional phase switching between bullish (accumulation, markup) and
   bearish (distribution, markdown) phases. Events closer than the horizon to the previous
   kept event are dropped, so forward windows never overlap.
3. The **forward return** of a time ``t`` is ``log(mid(t + h) / mid(t))`` in bps, taken at the
   first boundary at or after ``t + h`` (none when that boundary is more than ``max_gap`` late).
4. The **unconditional** sample is the forward return at every ``h`` through the window (no
   overlap). Each direction's event returns are compared with it: counts, mean, median, hit
   rate and Welch's t-test p-value; for scores without a direction, the absolute move.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from flowdesk.analytics.signals.base import Evaluated, Inputs
from flowdesk.analytics.signals.definitions import FORMULAS, SPECS, inputs_of

MIN_EVENTS = 10


def signal_series(name: str, frame: pd.DataFrame) -> Evaluated:
    """The signal at every row of a time x feature frame."""
    values = {c: frame[c].to_numpy(dtype=np.float64) for c in frame.columns}
    return FORMULAS[name](Inputs(values, len(frame)))


def forward_returns(times: np.ndarray, mid: np.ndarray, horizon_ms: int, max_gap_ms: int) -> np.ndarray:
    """Forward log return (bps) over ``horizon_ms`` from each time; NaN where unknown."""
    target = times + horizon_ms
    j = np.searchsorted(times, target, side="left")
    ok = j < len(times)
    jj = np.where(ok, j, 0)
    ok &= (times[jj] - target) <= max_gap_ms
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.log(mid[jj] / mid) * 1e4
    return np.where(ok & np.isfinite(f), f, np.nan)


def events(times: np.ndarray, ev: Evaluated, threshold: float, horizon_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of non-overlapping events and the direction each predicts (+1, -1, or 0 for a
    move either way)."""
    spec = ev.spec
    if spec.name == "institutional_phase":
        series, signed = np.asarray(ev.direction, dtype=np.float64), True
    else:
        series, signed = np.asarray(ev.value, dtype=np.float64), spec.lo < 0
    prev, cur = series[:-1], series[1:]
    up = np.flatnonzero((prev < threshold) & (cur >= threshold)) + 1
    down = np.flatnonzero((prev > -threshold) & (cur <= -threshold)) + 1 if signed else np.empty(0, int)
    idx = np.concatenate([up, down])
    if signed:
        direction = np.concatenate([np.ones(len(up)), -np.ones(len(down))])
    elif ev.direction is not None:
        direction = np.asarray(ev.direction, dtype=np.float64)[idx]
    else:
        direction = np.full(len(idx), float(spec.expect) if isinstance(spec.expect, int) else 0.0)
    order = np.argsort(idx, kind="stable")
    return _spaced(times, idx[order], direction[order], horizon_ms)


def _spaced(times: np.ndarray, idx: np.ndarray, direction: np.ndarray, horizon_ms: int) -> tuple[np.ndarray, np.ndarray]:
    keep, last = [], None
    for k, i in enumerate(idx.tolist()):
        if last is None or times[i] >= last + horizon_ms:
            keep.append(k)
            last = times[i]
    return idx[keep], np.nan_to_num(direction[keep], nan=0.0)


def _stats(x: np.ndarray) -> dict[str, Any]:
    x = x[np.isfinite(x)]
    if not len(x):
        return {"n": 0}
    return {
        "n": int(len(x)),
        "mean_bps": round(float(x.mean()), 3),
        "median_bps": round(float(np.median(x)), 3),
        "share_up": round(float((x > 0).mean()), 3),
        "mean_abs_bps": round(float(np.abs(x).mean()), 3),
    }


def _pvalue(a: np.ndarray, b: np.ndarray) -> float | None:
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) < 2 or len(b) < 2:
        return None
    p = stats.ttest_ind(a, b, equal_var=False).pvalue
    return None if not np.isfinite(p) else round(float(p), 4)


def unconditional(times: np.ndarray, fwd: np.ndarray, horizon_ms: int) -> np.ndarray:
    """Forward returns at every ``horizon_ms`` through the window (non-overlapping)."""
    if not len(times):
        return np.empty(0)
    grid = np.arange(times[0], times[-1] + 1, horizon_ms)
    idx = np.unique(np.searchsorted(times, grid, side="left"))
    idx = idx[idx < len(times)]
    return fwd[idx]


def study(name: str, frame: pd.DataFrame, horizon_ms: int, threshold: float | None, max_gap_ms: int) -> dict[str, Any]:
    """The event study of ``name`` over ``frame`` (time x features, with ``mid``)."""
    spec = SPECS[name]
    thr = spec.threshold if threshold is None else threshold
    times = frame.index.to_numpy(dtype=np.int64)
    ev = signal_series(name, frame)
    fwd = forward_returns(times, frame["mid"].to_numpy(dtype=np.float64), horizon_ms, max_gap_ms)
    idx, direction = events(times, ev, thr, horizon_ms)
    base = unconditional(times, fwd, horizon_ms)
    groups: dict[str, Any] = {}
    for label, d in (("up", 1.0), ("down", -1.0), ("either", 0.0)):
        sel = fwd[idx[direction == d]]
        if len(sel):
            g = _stats(sel)
            g["p_value_vs_unconditional"] = _pvalue(np.abs(sel) if d == 0 else sel, np.abs(base) if d == 0 else base)
            groups[label] = g
    n = int(np.isfinite(fwd[idx]).sum())
    return {
        "threshold": thr,
        "points": int(len(times)),
        "signal_defined_share": round(float(np.isfinite(np.asarray(ev.value, dtype=np.float64)).mean()), 3) if len(times) else 0.0,
        "events": {"n": n, "by_predicted_direction": groups},
        "unconditional": _stats(base),
        "edge_bps": _edge(fwd[idx], direction, base),
        "verdict": _verdict(n, groups),
        "inputs": inputs_of(name),
    }


def _edge(fwd: np.ndarray, direction: np.ndarray, base: np.ndarray) -> float | None:
    """Mean move in the predicted direction after events minus the same for the
    unconditional sample (absolute move for events without a direction)."""
    ok = np.isfinite(fwd)
    if not ok.any() or not np.isfinite(base).any():
        return None
    f, d = fwd[ok], direction[ok]
    b = base[np.isfinite(base)]
    gain = np.where(d == 0, np.abs(f) - np.abs(b).mean(), d * f - d * b.mean())
    return round(float(gain.mean()), 3)


def _verdict(n: int, groups: dict[str, Any]) -> str:
    if n < MIN_EVENTS:
        return f"only {n} event(s) with a known forward return: too few to say anything (need {MIN_EVENTS})"
    found = []
    for label, g in groups.items():
        p = g.get("p_value_vs_unconditional")
        if p is not None and p < 0.05:
            found.append(f"{label} events differ from the unconditional sample (p={p}, mean "
                         f"{g['mean_abs_bps'] if label == 'either' else g['mean_bps']} bps)")
    if not found:
        return "no evidence that the events were followed by different moves than any other time"
    return "; ".join(found) + ("; compare the means with the unconditional sample for the sign; p-values "
                               "assume independent events and ignore multiple testing")
