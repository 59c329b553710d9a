"""Ensembles of catalog models: mean, median, and weights from out-of-sample error.

``weighted`` uses inverse mean squared CV error (Bates-Granger) of each member. Evaluated by CV,
an ensemble is built from its members' fold forecasts with no extra fits, and each fold's weights
come only from folds whose outcomes were known before that fold's training end (equal weights
until there are any), and so does the choice of members when only the best few candidates are
combined, so the ensemble's CV score is out-of-sample too.
"""

from __future__ import annotations

import numpy as np

from flowdesk.forecasting.errors import ForecastError
from flowdesk.forecasting.series import TargetSeries
from flowdesk.forecasting.validation import CVResult

METHODS = ("mean", "median", "weighted")
PREFIX = "ensemble_"


def is_ensemble(name: str) -> bool:
    return name.startswith(PREFIX)


def method_of(name: str) -> str:
    method = name.removeprefix(PREFIX)
    if method not in METHODS:
        raise ForecastError(f"unknown ensemble {name!r}; known: {[PREFIX + m for m in METHODS]}")
    return method


def inverse_mse_weights(results: list[CVResult], rows: np.ndarray | None = None) -> np.ndarray:
    """Weights proportional to 1 / MSE over fold ``rows`` (all folds by default), summing to 1."""
    mse = np.array([np.mean((r.residuals if rows is None else r.residuals[rows]) ** 2) for r in results])
    if not np.all(np.isfinite(mse)):
        raise ForecastError("ensemble weights need finite CV errors for every member")
    inv = 1.0 / np.maximum(mse, np.finfo(float).tiny)
    return inv / inv.sum()


def combine(stack: np.ndarray, method: str, weights: np.ndarray | None = None) -> np.ndarray:
    """Combine member forecasts ``stack`` of shape ``(members, steps)``."""
    if method == "mean":
        return stack.mean(axis=0)
    if method == "median":
        return np.median(stack, axis=0)
    if weights is None:
        raise ForecastError("the weighted ensemble needs weights")
    return np.tensordot(weights, stack, axes=1)


def _mse(results: list[CVResult], rows: np.ndarray) -> np.ndarray:
    return np.array([np.mean(r.residuals[rows] ** 2) for r in results])


def ensemble_cv(results: list[CVResult], method: str, top: int | None = None) -> CVResult:
    """The CV result of an ensemble of ``results`` (same folds), without refitting anything.

    With ``top``, each fold combines the ``top`` candidates with the lowest error on the folds
    already resolved before it (all candidates while none is), so choosing the members is part
    of the evaluated procedure and never sees the fold it is scored on. ``members`` of the
    result is the choice (and weights) from all folds: what a live forecast would use."""
    if len(results) < 2:
        raise ForecastError("an ensemble needs at least two members")
    failed = [r.model for r in results if not r.ok]
    first = results[0]
    out = CVResult(PREFIX + method, {"members": [r.model for r in results]}, first.horizon, first.folds,
                   np.full_like(first.forecasts, np.nan), first.actuals, first.last_seen, first.scale,
                   first.signed, sum(r.fit_s for r in results), sum(r.predict_s for r in results),
                   iscale=first.iscale)
    if failed:
        out.error = f"member(s) failed: {failed}"
        return out
    stack = np.stack([r.forecasts for r in results])  # (candidates, folds, steps)
    keep = min(top or len(results), len(results))
    for k in range(len(first.folds)):
        known = first.known_before(k)
        chosen = np.arange(len(results))
        if len(known) and keep < len(results):
            chosen = np.argsort(_mse(results, known), kind="stable")[:keep]
        members = [results[i] for i in chosen]
        weights = None
        if method == "weighted":
            weights = inverse_mse_weights(members, known) if len(known) else np.full(len(members), 1 / len(members))
        out.forecasts[k] = combine(stack[chosen, k, :], method, weights)
    final = [results[i] for i in np.argsort(_mse(results, np.arange(len(first.folds))), kind="stable")[:keep]]
    out.params = {"members": [r.model for r in final]}
    if method == "weighted":
        out.members = dict(zip([r.model for r in final], inverse_mse_weights(final).tolist(), strict=True))
    else:
        out.members = {r.model: 1.0 / len(final) for r in final}
    return out


class EnsembleForecaster:
    """Fit and predict several :class:`~flowdesk.forecasting.engine.Forecaster` s as one."""

    def __init__(self, members: list, method: str, weights: dict[str, float] | None = None) -> None:
        if len(members) < 2:
            raise ForecastError("an ensemble needs at least two members")
        self.members, self.method = members, method
        self.weights = None if weights is None else np.array([weights[m.name] for m in members])
        if method == "weighted" and self.weights is None:
            raise ForecastError("the weighted ensemble needs weights from CV")
        self.name = PREFIX + method

    def min_length(self) -> int:
        return max(m.min_length() for m in self.members)

    @property
    def fit_s(self) -> float:
        return sum(m.fit_s for m in self.members)

    @property
    def predict_s(self) -> float:
        return sum(m.predict_s for m in self.members)

    def fit(self, series: TargetSeries) -> EnsembleForecaster:
        for m in self.members:
            m.fit(series)
        return self

    def predict(self, n: int, history: TargetSeries | None = None) -> np.ndarray:
        stack = np.stack([m.predict(n, history) for m in self.members])
        return combine(stack, self.method, self.weights)
