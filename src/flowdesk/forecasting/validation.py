"""Time-series cross-validation with purge and embargo, and the forecast error metrics.

Fold layouts (positions in the series; a fold forecasts ``horizon`` bars from its ``origin``):

* ``expanding``: training is anchored at the first bar; ``folds`` non-overlapping test blocks
  of ``horizon`` bars at the end of the series, ``embargo`` bars apart.
* ``sliding``: the same test blocks; training is the ``train_window`` bars before each block.
* ``walk_forward``: anchored training; an origin every ``step`` bars (default 1, every bar is a
  forecast origin) for the last ``folds`` origins; ``embargo`` widens the stride.

``purge`` drops the bars just before each origin from training: the model is fitted on
``[train_start, origin - purge)`` and forecasts ``purge + horizon`` bars, of which the last
``horizon`` are scored (sklearn's ``TimeSeriesSplit(gap=...)``). Nothing at or after
``origin - purge`` reaches the model. With ``refit_every`` > 1 a global model is refitted every
that many folds and in between only conditions on the newer history (local models always refit).

Metrics (pooled over folds and the scored steps, or for one lead time):

* MAE, RMSE.
* MASE: absolute error over the fold's scale, averaged. The scale is the in-sample MAE of the
  one-bar naive forecast (the mean absolute one-bar change) over the ``scale_window`` bars
  before the fold's training end: the same for every model of a fold, and recent enough that a
  calm period is not measured against the volatility of years before (default 1,000 bars).
  The conformal intervals normalize by a shorter ``interval_window`` (default 168 bars,
  ``CVResult.interval_scale``) so that they catch up with a regime shift sooner; MASE does not.
* sMAPE in percent: ``200 |f - y| / (|f| + |y|)`` (ill-suited to returns near zero).
* directional accuracy: for signed targets (returns, funding) ``sign f == sign y``; for levels
  ``sign(f - last) == sign(y - last)`` against the last value the model saw. Pairs where the
  outcome or the forecast does not move are left out, so a flat forecast (naive last value) has
  no directional accuracy (None) rather than a score of zero.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from flowdesk.forecasting.catalog import Params
from flowdesk.forecasting.engine import Forecaster
from flowdesk.forecasting.errors import ForecastError
from flowdesk.forecasting.series import TargetSeries

SCHEMES = ("expanding", "sliding", "walk_forward")


@dataclass(frozen=True)
class CVConfig:
    horizon: int
    scheme: str = "walk_forward"
    folds: int = 20
    step: int | None = None
    purge: int = 0
    embargo: int = 0
    train_window: int | None = None
    refit_every: int = 1
    scale_window: int = 1000
    interval_window: int = 168  # bars behind the interval scale (shorter than the MASE scale)

    def check(self) -> None:
        if self.scheme not in SCHEMES:
            raise ForecastError(f"scheme must be one of {SCHEMES}, got {self.scheme!r}")
        for name in ("horizon", "folds", "refit_every"):
            if getattr(self, name) < 1:
                raise ForecastError(f"{name} must be at least 1")
        if self.scale_window < 2 or self.interval_window < 2:
            raise ForecastError("scale_window and interval_window must be at least 2 bars")
        if self.purge < 0 or self.embargo < 0 or (self.step is not None and self.step < 1):
            raise ForecastError("purge and embargo must be >= 0 and step >= 1")
        if self.scheme == "sliding" and not self.train_window:
            raise ForecastError("the sliding scheme needs train_window (bars of training per fold)")

    def stride(self) -> int:
        if self.scheme == "walk_forward":
            return (self.step or 1) + self.embargo
        return (self.step or self.horizon) + self.embargo


@dataclass(frozen=True)
class Fold:
    train_start: int
    train_end: int  # exclusive: the model sees positions [train_start, train_end)
    origin: int  # first scored position; = train_end + purge


def make_folds(n: int, cfg: CVConfig, min_train: int) -> list[Fold]:
    """The folds of ``cfg`` over a series of ``n`` bars, oldest first; folds whose training
    window would be shorter than ``min_train`` are left out."""
    cfg.check()
    last = n - cfg.horizon
    out = []
    for k in range(cfg.folds):
        origin = last - (cfg.folds - 1 - k) * cfg.stride()
        end = origin - cfg.purge
        start = max(0, end - cfg.train_window) if cfg.scheme == "sliding" and cfg.train_window else 0
        if end - start >= min_train:
            out.append(Fold(start, end, origin))
    if not out:
        raise ForecastError(
            f"series of {n} bars is too short for {cfg.folds} {cfg.scheme} folds of horizon "
            f"{cfg.horizon} with {min_train} training bars each"
        )
    return out


@dataclass
class CVResult:
    """The out-of-sample forecasts of one model over the folds, and what they cost."""

    model: str
    params: Params
    horizon: int
    folds: list[Fold]
    forecasts: np.ndarray  # (folds, horizon)
    actuals: np.ndarray  # (folds, horizon)
    last_seen: np.ndarray  # (folds,) last value the model saw
    scale: np.ndarray  # (folds,) MASE scale
    signed: bool
    fit_s: float = 0.0
    predict_s: float = 0.0
    error: str | None = None
    members: dict[str, float] = field(default_factory=dict)  # ensembles: member -> weight
    skipped: bool = False  # not run (time budget): neither a score nor a failure
    #: (folds,) the scale conformal residuals are normalized by: the mean absolute one-bar change
    #: over the ``interval_window`` bars before the fold's training end (None: use ``scale``)
    iscale: np.ndarray | None = None

    @property
    def interval_scale(self) -> np.ndarray:
        return self.scale if self.iscale is None else self.iscale

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def residuals(self) -> np.ndarray:
        return self.actuals - self.forecasts

    def known_before(self, k: int) -> np.ndarray:
        """Indices of folds whose outcomes were all observed before fold ``k``'s training end."""
        ends = np.array([f.origin + self.horizon for f in self.folds])
        return np.flatnonzero(ends <= self.folds[k].train_end)

    def metrics(self, lead: int | None = None, upto: int | None = None) -> dict[str, float | int | None]:
        """Error metrics pooled over folds and steps, for one ``lead`` time (1-based), or pooled
        over steps 1..``upto``."""
        if not self.ok:
            return {"mae": None, "rmse": None, "mase": None, "smape": None, "directional_accuracy": None, "n": 0}
        cols = steps(lead, upto)
        return score(self.forecasts[:, cols], self.actuals[:, cols], self.last_seen, self.scale, self.signed)


def steps(lead: int | None = None, upto: int | None = None) -> slice:
    """Columns of the forecast steps: one ``lead`` (1-based), steps 1..``upto``, or all."""
    if lead is not None:
        return slice(lead - 1, lead)
    return slice(0, upto)


def score(f: np.ndarray, y: np.ndarray, last: np.ndarray, scale: np.ndarray, signed: bool) -> dict[str, Any]:
    """MAE, RMSE, MASE, sMAPE and directional accuracy of forecasts ``f`` for outcomes ``y``
    (both ``(folds, steps)``), ``last``/``scale`` per fold."""
    err = y - f
    denom = np.abs(f) + np.abs(y)
    smape = np.where(denom > 0, 200 * np.abs(err) / np.where(denom > 0, denom, 1), 0.0)
    if signed:
        moved, agree = (y != 0) & (f != 0), np.sign(f) == np.sign(y)
    else:
        ref = last[:, None]
        moved, agree = (y != ref) & (f != ref), np.sign(f - ref) == np.sign(y - ref)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = np.abs(err) / scale[:, None]
    return {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mase": float(np.mean(scaled)) if np.all(scale > 0) else None,
        "smape": float(np.mean(smape)),
        "directional_accuracy": float(agree[moved].mean()) if moved.any() else None,
        "n": int(err.size),
    }


def naive_scale(values: np.ndarray, end: int, window: int) -> float:
    """Mean absolute one-bar change over the ``window`` bars before position ``end``: the
    in-sample MAE of the naive forecast, the MASE scale."""
    part = values[max(0, end - window) : end]
    return float(np.mean(np.abs(np.diff(part)))) if len(part) > 1 else 0.0


def _scales(values: np.ndarray, folds: list[Fold], window: int) -> np.ndarray:
    return np.array([naive_scale(values, f.train_end, window) for f in folds])


def empty_result(series: TargetSeries, name: str, params: Params, cfg: CVConfig, folds: list[Fold]) -> CVResult:
    k, h = len(folds), cfg.horizon
    y = series.values
    actuals = np.array([y[f.origin : f.origin + h] for f in folds])
    last = np.array([y[f.train_end - 1] for f in folds])
    signed = not series.info.nonneg and not series.info.level
    return CVResult(name, params, h, folds, np.full((k, h), np.nan), actuals, last,
                    _scales(y, folds, cfg.scale_window), signed, iscale=_scales(y, folds, cfg.interval_window))


def common_folds(series: TargetSeries, forecasters: list[Forecaster], cfg: CVConfig) -> list[Fold]:
    """One fold layout for all ``forecasters``: long enough training for the neediest of them,
    so their scores are comparable."""
    need = max((f.min_length() for f in forecasters), default=2)
    return make_folds(len(series), cfg, need)


def run_cv(
    series: TargetSeries,
    forecaster: Forecaster,
    cfg: CVConfig,
    folds: list[Fold] | None = None,
    on_fold: Callable[[int, CVResult], None] | None = None,
) -> CVResult:
    """Cross-validate one model. A failing fold marks the whole result failed (``error``), with
    no metrics: a partial score would flatter the model. ``on_fold(k, result)`` runs after each
    fold (progress bars, Optuna pruning: it may raise to stop)."""
    folds = folds or make_folds(len(series), cfg, forecaster.min_length())
    res = empty_result(series, forecaster.name, dict(forecaster.params), cfg, folds)
    n = cfg.purge + cfg.horizon
    for k, fold in enumerate(folds):
        history = series.window(fold.train_start, fold.train_end)
        try:
            if k % cfg.refit_every == 0:
                forecaster.fit(history)
                res.forecasts[k] = forecaster.predict(n)[-cfg.horizon :]
            else:
                res.forecasts[k] = forecaster.predict(n, history)[-cfg.horizon :]
        except Exception as exc:  # any model failure is reported as a failure, never scored
            res.error = f"fold {k + 1}/{len(folds)}: {type(exc).__name__}: {exc}"
            break
        finally:
            res.fit_s, res.predict_s = forecaster.fit_s, forecaster.predict_s
        if on_fold is not None:
            on_fold(k, res)
    return res


def run_cv_many(
    series: TargetSeries,
    forecasters: list[Forecaster],
    cfg: CVConfig,
    on_fold: Callable[[str, int, int], None] | None = None,
    deadline: float | None = None,
) -> dict[str, CVResult]:
    """Cross-validate several models on common folds. Models not started before ``deadline``
    (a ``time.monotonic()`` value) are reported as skipped."""
    folds = common_folds(series, forecasters, cfg)
    out: dict[str, CVResult] = {}
    for fc in forecasters:
        if deadline is not None and time.monotonic() > deadline:
            res = empty_result(series, fc.name, dict(fc.params), cfg, folds)
            res.error = "skipped: time budget spent before this model started"
            res.skipped = True
            out[fc.name] = res
            continue
        hook = None if on_fold is None else (lambda k, r, name=fc.name: on_fold(name, k, len(folds)))
        out[fc.name] = run_cv(series, fc, cfg, folds, hook)
    return out
