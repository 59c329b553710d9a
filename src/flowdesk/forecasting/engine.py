"""Fit one catalog model on a :class:`TargetSeries` and predict arrays from it.

:class:`Forecaster` hides the Darts ``TimeSeries`` plumbing and two decisions taken once here:

* a model is fitted on at most its ``max_train`` most recent bars (the catalog's cost bound);
* tree models fit the first differences of a *level* target (close, open interest), because a
  tree cannot forecast outside the range it was trained on; the forecast differences are summed
  back onto the last observed level.

``predict(n, history)`` forecasts the ``n`` bars after ``history`` (default: the fitted data).
A global model (regression on lags, torch, foundation) conditions on the new history without
refitting; a local model (ETS, ARIMA, Theta, naive) is refitted on it.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from flowdesk.forecasting.catalog import (
    BuildArgs,
    ModelSpec,
    Params,
    default_lags,
    get_spec,
    require_available,
)
from flowdesk.forecasting.errors import ForecastError
from flowdesk.forecasting.series import TargetSeries


def _timeseries(index: Any, values: np.ndarray) -> Any:
    from darts import TimeSeries

    return TimeSeries.from_times_and_values(index, values.reshape(len(values), -1).astype(np.float64))


class Forecaster:
    """A catalog model with its parameters, ready to :meth:`fit` and :meth:`predict`."""

    def __init__(
        self,
        spec: ModelSpec | str,
        *,
        horizon: int,
        season: int,
        level: bool,
        params: Params | None = None,
        covariates: tuple[str, ...] = (),
    ) -> None:
        self.spec = get_spec(spec) if isinstance(spec, str) else spec
        require_available(self.spec)
        if horizon < 1:
            raise ForecastError(f"horizon must be at least 1, got {horizon}")
        self.horizon, self.season, self.level = horizon, season, level
        self.covariates = tuple(covariates) if self.spec.covariates else ()
        self.params: Params = {**self.spec.defaults(self._args(0)), **(params or {})}
        self._diff = self.spec.difference_levels and level
        self._model: Any = None
        self._history: TargetSeries | None = None
        self.fit_s = 0.0
        self.predict_s = 0.0

    @property
    def name(self) -> str:
        return self.spec.name

    def _args(self, n_train: int) -> BuildArgs:
        return BuildArgs(self.horizon, self.season, default_lags(self.season), self.level, n_train,
                         len(self.covariates))

    def min_length(self) -> int:
        """Bars of history this model needs before it can be fitted."""
        return self.spec.min_length(self._args(0), self.params) + (1 if self._diff else 0)

    def _train_window(self, series: TargetSeries) -> TargetSeries:
        return series.tail(self.spec.max_train) if self.spec.max_train else series

    def _darts_inputs(self, series: TargetSeries) -> tuple[Any, Any]:
        values, index = series.values, series.index
        cov = [series.covariates[c] for c in self.covariates]
        if self._diff:
            values, index, cov = np.diff(values), index[1:], [c[1:] for c in cov]
        y = _timeseries(index, values)
        return y, (_timeseries(index, np.column_stack(cov)) if cov else None)

    def fit(self, series: TargetSeries) -> Forecaster:
        """Fit on the most recent ``max_train`` bars of ``series``; never sees anything after it."""
        missing = [c for c in self.covariates if c not in series.covariates]
        if missing:
            raise ForecastError(f"{self.name}: covariates {missing} are not in the series")
        train = self._train_window(series)
        if len(train) < self.min_length():
            raise ForecastError(f"{self.name} needs at least {self.min_length()} bars, got {len(train)}")
        model = self.spec.build(self._args(len(train)), self.params)
        y, cov = self._darts_inputs(train)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # statsmodels convergence chatter; failures still raise
            model.fit(y, past_covariates=cov) if cov is not None else model.fit(y)
        self.fit_s += time.perf_counter() - start
        self._model, self._history = model, train
        return self

    def predict(self, n: int, history: TargetSeries | None = None) -> np.ndarray:
        """Point forecasts of the ``n`` bars following ``history`` (default: the fitted bars)."""
        if self._model is None or self._history is None:
            raise ForecastError(f"{self.name}: predict before fit")
        if history is not None and history.index[-1] != self._history.index[-1]:
            if not self.spec.global_model:
                self.fit(history)
                return self.predict(n)
            base = self._train_window(history)
            y, cov = self._darts_inputs(base)
            kwargs: dict[str, Any] = {"series": y}
            if cov is not None:
                kwargs["past_covariates"] = cov
        else:
            base, kwargs = self._history, {}
            if self.covariates:
                kwargs["past_covariates"] = self._darts_inputs(base)[1]
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = self._model.predict(n, **kwargs).values()[:, 0].astype(float)
        self.predict_s += time.perf_counter() - start
        if self._diff:
            out = base.values[-1] + np.cumsum(out)
        if not np.isfinite(out).all():
            raise ForecastError(f"{self.name} produced a non-finite forecast")
        return out

    @property
    def darts_model(self) -> Any:
        """The fitted Darts model (for saving as an artifact)."""
        return self._model
