"""Fit one catalog model on a :class:`TargetSeries` and predict arrays from it.

:class:`Forecaster` hides the Darts ``TimeSeries`` plumbing and the decisions taken once here:

* a model is fitted on at most its ``max_train`` most recent bars (the catalog's cost bound),
  but never on fewer than it needs (HAR on minute bars needs a week of them);
* tree models fit the first differences of a *level* target (close, open interest), because a
  tree cannot forecast outside the range it was trained on; the forecast differences are summed
  back onto the last observed level;
* every model of a positive, right-skewed target (realized volatility, volume) works on
  ``z = log1p(y / m)``, ``m`` the median of the training window, and its forecasts are mapped
  back with ``m * expm1(z)`` (clipped at zero). Volatility is close to log-normal (Andersen,
  Bollerslev, Diebold and Labys 2003); on the log scale a model aims at the conditional median,
  which is what minimizes the absolute errors MASE counts, instead of a mean pulled up by spikes.
  ``log1p`` keeps zero-range bars finite.
* on intraday bars such a target is also *deseasonalized* (Andersen and Bollerslev 1997): a
  time-of-day profile of ``z`` (:class:`~flowdesk.forecasting.seasonal.DiurnalProfile`, hour of
  day, plus minute of hour on bars shorter than an hour) is estimated from the bars handed to
  ``fit`` only, subtracted before the model sees them and added back at the forecast
  timestamps. Baselines (the naive family) are left as they are, so they stay the reference.

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
from flowdesk.forecasting.seasonal import (
    PROFILE_BARS,
    DiurnalProfile,
    bar_minutes_of,
    future_index,
    is_intraday,
)
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
        skewed: bool = False,
        diurnal: bool | None = None,
    ) -> None:
        self.spec = get_spec(spec) if isinstance(spec, str) else spec
        require_available(self.spec)
        if horizon < 1:
            raise ForecastError(f"horizon must be at least 1, got {horizon}")
        self.horizon, self.season, self.level = horizon, season, level
        self.covariates = tuple(covariates) if self.spec.covariates else ()
        self.params: Params = {**self.spec.defaults(self._args(0)), **(params or {})}
        self._diff = self.spec.difference_levels and level
        self.skewed = skewed
        self._median = 1.0  # the log1p scale of a skewed target, set by fit
        #: deseasonalize (default: skewed targets on intraday bars, not baselines); never together
        #: with differencing, whose forecast is anchored on the last raw level
        self.diurnal = (skewed and self.spec.diurnal if diurnal is None else diurnal) and not self._diff
        self.profile: DiurnalProfile | None = None  # set by fit when ``diurnal`` and the bars are intraday
        self._model: Any = None
        self._history: TargetSeries | None = None
        self.fit_s = 0.0
        self.predict_s = 0.0

    @classmethod
    def for_series(cls, spec: ModelSpec | str, series: TargetSeries, horizon: int,
                   params: Params | None = None, covariates: tuple[str, ...] = (),
                   diurnal: bool | None = None) -> Forecaster:
        """A forecaster set up for ``series``: its season, and whether its target is a level
        or positive and skewed (``diurnal=False`` turns the time-of-day profile off)."""
        return cls(spec, horizon=horizon, season=series.season, level=series.info.level, params=params,
                   covariates=covariates, skewed=series.info.skewed, diurnal=diurnal)

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
        """The most recent ``max_train`` bars, never fewer than the model needs."""
        if not self.spec.max_train:
            return series
        return series.tail(max(self.spec.max_train, self.min_length()))

    def _to_model(self, values: np.ndarray) -> np.ndarray:
        return np.log1p(np.maximum(values, 0.0) / self._median) if self.skewed else values

    def _from_model(self, values: np.ndarray) -> np.ndarray:
        return np.maximum(self._median * np.expm1(values), 0.0) if self.skewed else values

    def _seasonal(self, index: Any) -> np.ndarray | float:
        return self.profile(index) if self.profile is not None else 0.0

    def _fit_profile(self, series: TargetSeries) -> None:
        """The time-of-day profile of the model-scale values, from the last ``PROFILE_BARS`` bars
        of ``series`` (everything before the cutoff the model may see, not only its training cap)."""
        self.profile = None
        minutes = bar_minutes_of(series.index)
        if not self.diurnal or not is_intraday(minutes):
            return
        recent = series.tail(PROFILE_BARS)
        self.profile = DiurnalProfile.fit(recent.index, self._to_model(recent.values), minutes)

    def _darts_inputs(self, series: TargetSeries) -> tuple[Any, Any]:
        values, index = self._to_model(series.values) - self._seasonal(series.index), series.index
        cov = [series.covariates[c] for c in self.covariates]
        if self.spec.features is not None:  # derived from the target itself, up to each bar
            cov += list(self.spec.features(values, self.season).T)
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
        if self.skewed:
            positive = train.values[train.values > 0]
            self._median = float(np.median(positive)) if len(positive) else 1.0
        self._fit_profile(series)
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
            if self.covariates or self.spec.features is not None:
                kwargs["past_covariates"] = self._darts_inputs(base)[1]
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = self._model.predict(n, **kwargs).values()[:, 0].astype(float)
        self.predict_s += time.perf_counter() - start
        if self._diff:
            out = self._to_model(base.values)[-1] + np.cumsum(out)
        if self.profile is not None:
            out = out + self.profile(future_index(base.index, n, self.profile.bar_minutes))
        out = self._from_model(out)
        if not np.isfinite(out).all():
            raise ForecastError(f"{self.name} produced a non-finite forecast")
        return out

    @property
    def transform(self) -> dict[str, Any]:
        """What maps the model's scale back to the target's: the log1p median of a skewed target
        and the time-of-day profile added back at the forecast timestamps (None when not used)."""
        return {"log1p_median": self._median if self.skewed else None, "diurnal_profile": self.profile}

    @property
    def darts_model(self) -> Any:
        """The fitted Darts model (for saving as an artifact)."""
        return self._model
