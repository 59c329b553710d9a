"""Prediction intervals by adaptive conformal prediction on cross-validation residuals.

The residuals ``y - f`` of the CV folds are *normalized* by each fold's interval scale, the mean
absolute one-bar change over the ``interval_window`` bars (default 168) before the fold's
training end: markets move between calm and wild regimes, and residuals in units of the recent
typical move are far closer to exchangeable than raw ones (normalized or locally weighted
conformal prediction, Papadopoulos 2008; Lei et al. 2018). The window is shorter than the
1,000-bar MASE scale so that the scale catches up with a regime shift within days, not weeks.
For lead time ``s`` the normalized residuals at that lead are sorted; with ``n`` of them and
miscoverage ``a`` the bounds are the ``floor((n+1) a/2)``-th and ``ceil((n+1)(1 - a/2))``-th
smallest (the finite-sample conformal quantiles), multiplied by the scale at the forecast origin
and added to the point forecast. The median forecast adds the median normalized residual the
same way, so ``lower <= median <= upper`` always holds. Too few residuals for the asked coverage
is an error, not a narrower interval. When a scale is zero (a flat series) the raw residuals
are used.

Adaptive conformal inference (ACI, Gibbs and Candes 2021): the miscoverage level ``a`` is not
fixed at ``alpha = 1 - coverage`` but updated per lead from the realized hits, walking the folds
in time order::

    a_k = alpha + gamma * sum_{j resolved before fold k} (alpha - err_j),   err_j = 1 - hit_j

which is the recursion ``a_{t+1} = a_t + gamma (alpha - err_t)`` unrolled over the folds whose
outcomes are known (with delayed feedback a fold only counts once it has resolved). A run of
misses lowers ``a`` and widens the next intervals; a run of hits narrows them. The level used for
the quantiles is ``a`` clipped to ``[2/(n+1), 1]`` (the widest and the narrowest interval ``n``
residuals give); the unclipped ``a`` carries on. ``gamma = 0`` is plain split conformal. The
live interval uses the level after every calibration fold has resolved.

Coverage is *measured*, not assumed: :func:`measured_coverage` walks the folds in time order and
builds each fold's interval only from the residuals (and the ACI level) of folds whose outcomes
were already known at that fold's training end, then counts how often the outcome fell inside.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from flowdesk.forecasting.errors import ForecastError
from flowdesk.forecasting.validation import CVResult, steps

_EPS = 1e-9  # keeps 20 * (1 - 0.8) / 2 from flooring to 1
#: ACI step size per resolved fold. With ~20-60 calibration folds a step of 0.05 lets a run of
#: five misses (err = 1, alpha = 0.2) lower the level by 0.2, i.e. ask for ~100% coverage, while
#: a long-run hit rate at nominal leaves it where it started.
ACI_GAMMA = 0.05


def min_calibration(coverage: float) -> int:
    """Fewest residuals for which both conformal bounds are finite at ``coverage``."""
    alpha = 1.0 - coverage
    return max(1, math.ceil(2.0 / alpha - 1 - _EPS))


def _check(coverage: float) -> None:
    if not 0.0 < coverage < 1.0:
        raise ForecastError(f"coverage must be between 0 and 1, got {coverage}")


def conformal_offsets(residuals: np.ndarray, coverage: float, levels: np.ndarray | None = None,
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-step (lower, median, upper) residual offsets from ``residuals`` of shape
    ``(n, steps)``. Raises :class:`ForecastError` when ``n`` is too small for ``coverage``.
    ``levels`` (per step) replaces the miscoverage ``1 - coverage`` by an adapted (ACI) one,
    clipped to what ``n`` residuals can give."""
    _check(coverage)
    r = np.sort(residuals, axis=0)
    n = r.shape[0]
    alpha = 1.0 - coverage
    k_lo = math.floor((n + 1) * alpha / 2 + _EPS)
    k_hi = math.ceil((n + 1) * (1 - alpha / 2) - _EPS)
    if k_lo < 1 or k_hi > n:
        raise ForecastError(
            f"{n} calibration residuals are too few for a {coverage:.0%} interval "
            f"(need at least {min_calibration(coverage)})"
        )
    mid = np.median(r, axis=0)
    if levels is None:
        return r[k_lo - 1], mid, r[k_hi - 1]
    a = np.clip(np.broadcast_to(np.asarray(levels, float), (r.shape[1],)), 2.0 / (n + 1), 1.0)
    lo = np.clip(np.floor((n + 1) * a / 2 + _EPS).astype(int), 1, n)
    hi = np.clip(np.ceil((n + 1) * (1 - a / 2) - _EPS).astype(int), 1, n)
    cols = np.arange(r.shape[1])
    return np.minimum(r[lo - 1, cols], mid), mid, np.maximum(r[hi - 1, cols], mid)


@dataclass(frozen=True)
class Interval:
    point: np.ndarray
    median: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    coverage: float
    n_calibration: int


def _normalized(res: CVResult) -> tuple[np.ndarray, np.ndarray]:
    """Residuals in units of their fold's interval scale, and the scales (ones when any scale
    is zero)."""
    scale = res.interval_scale
    scale = scale if np.all(scale > 0) else np.ones_like(scale)
    return res.residuals / scale[:, None], scale


def _walk(res: CVResult, coverage: float, gamma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Walk the folds in time order with ACI: per fold and lead the level used (NaN where too
    few folds had resolved), the hits, and the level after every fold has resolved."""
    alpha = 1.0 - coverage
    need = min_calibration(coverage)
    z = _normalized(res)[0]
    k_n, h = z.shape
    levels = np.full((k_n, h), np.nan)
    err = np.full((k_n, h), np.nan)
    for k in range(k_n):
        known = res.known_before(k)
        if len(known) < need:
            continue
        done = known[~np.isnan(err[known, 0])]  # resolved folds that had an interval themselves
        levels[k] = alpha + gamma * np.sum(alpha - err[done], axis=0)
        lo, _, hi = conformal_offsets(z[known], coverage, levels[k])
        err[k] = 1.0 - ((z[k] >= lo) & (z[k] <= hi))
    done = ~np.isnan(err[:, 0])
    final = alpha + gamma * np.sum(alpha - err[done], axis=0)
    return levels, 1.0 - err, final


def adaptive_level(res: CVResult, coverage: float, gamma: float = ACI_GAMMA) -> np.ndarray:
    """The ACI miscoverage level per lead for a forecast made after all of ``res``'s folds."""
    _check(coverage)
    return _walk(res, coverage, gamma)[2]


def interval(point: np.ndarray, residuals: np.ndarray, coverage: float, nonneg: bool = False,
             scales: np.ndarray | None = None, scale_now: float | None = None,
             levels: np.ndarray | None = None) -> Interval:
    """Conformal interval around ``point`` (length = steps of ``residuals``); with ``scales``
    (per residual row) and ``scale_now`` the residuals are normalized and re-scaled; ``levels``
    are ACI miscoverage levels per lead (:func:`adaptive_level`)."""
    unit = 1.0
    if scales is not None and scale_now is not None and np.all(scales > 0) and scale_now > 0:
        residuals, unit = residuals / scales[:, None], scale_now
    lv = None if levels is None else np.asarray(levels, float)[: len(point)]
    lo, mid, hi = conformal_offsets(residuals[:, : len(point)], coverage, lv)
    lower, median, upper = point + lo * unit, point + mid * unit, point + hi * unit
    if nonneg:  # the target cannot go below zero; clipping never removes a possible outcome
        lower, median, upper = (np.maximum(a, 0.0) for a in (lower, median, upper))
    return Interval(point, median, lower, upper, coverage, residuals.shape[0])


def measured_coverage(res: CVResult, coverage: float, lead: int | None = None,
                      folds: Iterable[int] | None = None, upto: int | None = None,
                      gamma: float = ACI_GAMMA) -> dict[str, float | int | None]:
    """Share of CV outcomes inside intervals calibrated only on earlier, already-resolved folds
    (of every fold, or of the fold indices ``folds``; at one ``lead``, steps 1..``upto`` or all).
    The ACI level walks over every fold (step ``gamma``; 0 for plain split conformal) whichever
    folds are counted.

    Returns ``{"nominal", "measured", "n"}``; ``measured`` is None when no fold had enough
    earlier residuals."""
    _check(coverage)
    hits, total = 0, 0
    if res.ok:
        levels, hit, _ = _walk(res, coverage, gamma)
        cols = steps(lead, upto)
        rows = np.arange(len(res.folds)) if folds is None else np.asarray(list(folds), int)
        rows = rows[~np.isnan(levels[rows, 0])] if len(rows) else rows
        part = hit[rows][:, cols]
        hits, total = int(part.sum()), int(part.size)
    return {"nominal": coverage, "measured": hits / total if total else None, "n": total}
