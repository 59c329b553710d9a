"""Prediction intervals by split conformal prediction on cross-validation residuals.

The residuals ``y - f`` of the CV folds are *normalized* by each fold's scale, the mean absolute
one-bar change over the bars before the fold (the MASE scale): markets move between calm and
wild regimes, and residuals in units of the recent typical move are far closer to exchangeable
than raw ones (normalized or locally weighted conformal prediction, Papadopoulos 2008; Lei et al.
2018). For lead time ``s`` the normalized residuals at that lead are sorted; with ``n`` of them
and miscoverage ``alpha = 1 - coverage`` the bounds are the ``floor((n+1) alpha/2)``-th and
``ceil((n+1)(1 - alpha/2))``-th smallest (the finite-sample conformal quantiles), multiplied by
the scale at the forecast origin and added to the point forecast. The median forecast adds the
median normalized residual the same way, so ``lower <= median <= upper`` always holds. Too few
residuals for the asked coverage is an error, not a narrower interval. When a scale is zero (a
flat series) the raw residuals are used.

Coverage is *measured*, not assumed: :func:`measured_coverage` walks the folds in time order and
builds each fold's interval only from the residuals of folds whose outcomes were already known
at that fold's training end, then counts how often the outcome fell inside.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from flowdesk.forecasting.errors import ForecastError
from flowdesk.forecasting.validation import CVResult, steps

_EPS = 1e-9  # keeps 20 * (1 - 0.8) / 2 from flooring to 1


def min_calibration(coverage: float) -> int:
    """Fewest residuals for which both conformal bounds are finite at ``coverage``."""
    alpha = 1.0 - coverage
    return max(1, math.ceil(2.0 / alpha - 1 - _EPS))


def _check(coverage: float) -> None:
    if not 0.0 < coverage < 1.0:
        raise ForecastError(f"coverage must be between 0 and 1, got {coverage}")


def conformal_offsets(residuals: np.ndarray, coverage: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-step (lower, median, upper) residual offsets from ``residuals`` of shape
    ``(n, steps)``. Raises :class:`ForecastError` when ``n`` is too small for ``coverage``."""
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
    return r[k_lo - 1], np.median(r, axis=0), r[k_hi - 1]


@dataclass(frozen=True)
class Interval:
    point: np.ndarray
    median: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    coverage: float
    n_calibration: int


def _normalized(res: CVResult) -> tuple[np.ndarray, np.ndarray]:
    """Residuals in units of their fold's scale, and the scales (ones when any scale is zero)."""
    scale = res.scale if np.all(res.scale > 0) else np.ones_like(res.scale)
    return res.residuals / scale[:, None], scale


def interval(point: np.ndarray, residuals: np.ndarray, coverage: float, nonneg: bool = False,
             scales: np.ndarray | None = None, scale_now: float | None = None) -> Interval:
    """Conformal interval around ``point`` (length = steps of ``residuals``); with ``scales``
    (per residual row) and ``scale_now`` the residuals are normalized and re-scaled."""
    unit = 1.0
    if scales is not None and scale_now is not None and np.all(scales > 0) and scale_now > 0:
        residuals, unit = residuals / scales[:, None], scale_now
    lo, mid, hi = conformal_offsets(residuals[:, : len(point)], coverage)
    lower, median, upper = point + lo * unit, point + mid * unit, point + hi * unit
    if nonneg:  # the target cannot go below zero; clipping never removes a possible outcome
        lower, median, upper = (np.maximum(a, 0.0) for a in (lower, median, upper))
    return Interval(point, median, lower, upper, coverage, residuals.shape[0])


def measured_coverage(res: CVResult, coverage: float, lead: int | None = None,
                      folds: Iterable[int] | None = None, upto: int | None = None,
                      ) -> dict[str, float | int | None]:
    """Share of CV outcomes inside intervals calibrated only on earlier, already-resolved folds
    (of every fold, or of the fold indices ``folds``; at one ``lead``, steps 1..``upto`` or all).

    Returns ``{"nominal", "measured", "n"}``; ``measured`` is None when no fold had enough
    earlier residuals."""
    _check(coverage)
    need = min_calibration(coverage)
    cols = steps(lead, upto)
    hits, total = 0, 0
    if res.ok:
        z = _normalized(res)[0][:, cols]
        for k in range(len(res.folds)) if folds is None else folds:
            known = res.known_before(k)
            if len(known) < need:
                continue
            lo, _, hi = conformal_offsets(z[known], coverage)
            inside = (z[k] >= lo) & (z[k] <= hi)
            hits += int(inside.sum())
            total += inside.size
    return {"nominal": coverage, "measured": hits / total if total else None, "n": total}
