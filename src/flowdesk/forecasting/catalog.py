"""The model catalog: every Darts model flowdesk can route to, grouped by family.

Each :class:`ModelSpec` says what the model needs (Python packages, local weights, a minimum
series length, covariates), how expensive it is to fit (``cost``, used only for the latency
budget until measured fit times are recorded), how to build it and which hyper-parameters
:mod:`flowdesk.forecasting.tuning` may search. Nothing here says how *accurate* a model is:
that comes only from out-of-sample scores in the registry.

Optional parts and what unlocks them:

* torch models (N-BEATS, N-HiTS, TFT, TiDE, TSMixer, DLinear, NLinear, TCN, RNN/LSTM/GRU): the
  ``deep`` extra, ``pip install 'flowdesk[deep]'``.
* Chronos-2 and TimesFM 2.5: torch, plus the weights in a local folder named by
  ``FLOWDESK_CHRONOS2_DIR`` / ``FLOWDESK_TIMESFM_DIR`` holding ``config.json`` and
  ``model.safetensors``. Nothing is downloaded at run time.
* AutoARIMA, AutoETS, AutoTheta, AutoCES: Darts wraps them from ``statsforecast``.
* Prophet: the ``prophet`` package.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from flowdesk.forecasting.errors import ForecastError, ModelUnavailable

COSTS = ("instant", "light", "moderate", "heavy")

_MISSING_REASON = {
    "torch": "PyTorch is not installed: install the optional `deep` extra "
    "(pip install 'flowdesk[deep]', torch==2.13.0 CPU build)",
    "statsforecast": "statsforecast is not installed (Darts wraps this model from it); "
    "the statsmodels-based arima, exp_smoothing and theta models are available instead",
    "prophet": "the prophet package is not installed",
}
_WEIGHT_FILES = ("config.json", "model.safetensors")


@dataclass(frozen=True)
class BuildArgs:
    """What a builder needs to know about the job."""

    horizon: int
    season: int
    lags: int
    level: bool
    n_train: int
    covariates: int = 0  # number of past-covariate columns


Params = dict[str, Any]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str
    darts_class: str
    description: str
    cost: str
    build: Callable[[BuildArgs, Params], Any]
    min_length: Callable[[BuildArgs, Params], int]
    defaults: Callable[[BuildArgs], Params] = field(default=lambda a: {})
    space: Callable[[Any, BuildArgs], Params] | None = None
    requires: tuple[str, ...] = ()
    weights_env: str | None = None
    global_model: bool = False  # predicts from a new history without a refit
    covariates: bool = False  # accepts past covariates
    features: Callable[[np.ndarray, int], np.ndarray] | None = None  # derived past covariates
    difference_levels: bool = False  # fit first differences of level targets (trees cannot extrapolate)
    max_train: int | None = None  # fit on at most this many most recent bars (bounds the cost)
    #: skewed targets on intraday bars are deseasonalized by a time-of-day profile (engine.py);
    #: False for the naive baselines, which stay the plain reference
    diurnal: bool = True


def _darts(name: str) -> Any:
    import darts.models as dm

    cls = getattr(dm, name)
    if getattr(cls, "usable", True) is False:  # Darts' placeholder for a missing optional package
        raise ModelUnavailable(f"darts.models.{name} could not be imported")
    return cls


def _modes() -> tuple[Any, Any]:
    from darts.utils.utils import ModelMode, SeasonalityMode

    return ModelMode, SeasonalityMode


# -- naive family --------------------------------------------------------------------------------


def _naive(cls: str, **kw: Any) -> Callable[[BuildArgs, Params], Any]:
    def build(a: BuildArgs, p: Params) -> Any:
        args = {k: (v(a) if callable(v) else v) for k, v in kw.items()}
        return _darts(cls)(**args)

    return build


# -- statistical ---------------------------------------------------------------------------------


def _seasonal_ok(a: BuildArgs, p: Params) -> bool:
    return bool(p.get("seasonal", False)) and 2 <= a.season <= 168 and a.n_train >= 3 * a.season


def _ets(a: BuildArgs, p: Params) -> Any:
    model_mode, season_mode = _modes()
    seasonal = _seasonal_ok(a, p)
    return _darts("ExponentialSmoothing")(
        trend=model_mode.ADDITIVE if p["trend"] else model_mode.NONE,
        damped=bool(p["trend"] and p["damped"]),
        seasonal=season_mode.ADDITIVE if seasonal else season_mode.NONE,
        seasonal_periods=a.season if seasonal else None,
    )


def _ets_space(trial: Any, a: BuildArgs) -> Params:
    return {
        "trend": trial.suggest_categorical("trend", [False, True]),
        "damped": trial.suggest_categorical("damped", [False, True]),
        "seasonal": trial.suggest_categorical("seasonal", [False, True]),
    }


def _theta(a: BuildArgs, p: Params) -> Any:
    _, season_mode = _modes()
    seasonal = _seasonal_ok(a, p)
    return _darts("Theta")(
        theta=p["theta"],
        seasonality_period=a.season if seasonal else None,
        season_mode=season_mode.ADDITIVE if seasonal else season_mode.NONE,
    )


def _arima(a: BuildArgs, p: Params) -> Any:
    d = int(p["d"])
    return _darts("ARIMA")(p=int(p["p"]), d=d, q=int(p["q"]), trend="c" if d == 0 else "n")


def _arima_space(trial: Any, a: BuildArgs) -> Params:
    return {
        "p": trial.suggest_int("p", 0, 4),
        "d": trial.suggest_int("d", 0, 1),
        "q": trial.suggest_int("q", 0, 3),
    }


# -- regression on lags --------------------------------------------------------------------------


def _lag_args(a: BuildArgs, p: Params) -> dict[str, Any]:
    """Lags and output chunk: ``recursive`` fits one-step models and feeds forecasts back,
    ``direct`` fits one model per step (needed with past covariates, whose future is unknown)."""
    direct = p.get("strategy", "recursive") == "direct" or a.covariates > 0
    lags = int(p.get("lags", a.lags))
    out: dict[str, Any] = {
        "lags": lags,
        "output_chunk_length": a.horizon if direct else 1,
        "multi_models": True,
    }
    if a.covariates:
        out["lags_past_covariates"] = min(lags, 24)
    return out


def _lag_min(a: BuildArgs, p: Params) -> int:
    direct = p.get("strategy", "recursive") == "direct" or a.covariates > 0
    return int(p.get("lags", a.lags)) + (a.horizon if direct else 1) + 50


def _lag_space(trial: Any, a: BuildArgs) -> Params:
    return {
        "lags": trial.suggest_int("lags", max(2, a.lags // 4), max(3, a.lags * 2)),
        "strategy": trial.suggest_categorical("strategy", ["recursive", "direct"]),
    }


def _linear(a: BuildArgs, p: Params) -> Any:
    return _darts("LinearRegressionModel")(**_lag_args(a, {**p, "strategy": p.get("strategy", "direct")}))


def har_windows(season: int) -> tuple[int, ...]:
    """The HAR averaging windows in bars: one day and one week (a week and four for daily bars);
    for bars of 15 minutes or less (``season >= 96``) also one hour and a tenth of an hour
    (10 and 60 one-minute bars), the intraday part of the cascade: at a horizon of minutes the
    daily and weekly means move too slowly to say where volatility is heading."""
    if season == 7:
        return (7, 28)
    intraday = (season // 144, season // 24) if season >= 96 else ()
    return (*intraday, season, 7 * season)


def har_features(values: np.ndarray, season: int) -> np.ndarray:
    """Trailing means of ``values`` over the HAR windows, each ending at (and including) its bar;
    shorter at the start of the series, never reaching past the bar."""
    csum = np.concatenate([[0.0], np.cumsum(values)])
    idx = np.arange(1, len(values) + 1)
    cols = []
    for w in har_windows(season):
        start = np.maximum(idx - w, 0)
        cols.append((csum[idx] - csum[start]) / (idx - start))
    return np.column_stack(cols)


def _har(a: BuildArgs, p: Params) -> Any:
    """HAR (Corsi 2009): the next bars from the last value and its trailing means over the
    :func:`har_windows` (daily and weekly; intraday too for minute bars), one linear model per
    step."""
    return _darts("LinearRegressionModel")(lags=1, lags_past_covariates=1, output_chunk_length=a.horizon,
                                           multi_models=True)


def _lgbm(a: BuildArgs, p: Params) -> Any:
    return _darts("LightGBMModel")(
        **_lag_args(a, p),
        n_estimators=int(p["n_estimators"]),
        learning_rate=float(p["learning_rate"]),
        num_leaves=int(p["num_leaves"]),
        min_child_samples=int(p["min_child_samples"]),
        num_threads=1,  # a second thread only contends on the shared cores
        verbose=-1,
        random_state=0,
    )


def _lgbm_space(trial: Any, a: BuildArgs) -> Params:
    return {
        **_lag_space(trial, a),
        "n_estimators": trial.suggest_int("n_estimators", 50, 400, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 4, 64, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 5, 100, log=True),
    }


def _forest(a: BuildArgs, p: Params) -> Any:
    return _darts("RandomForestModel")(
        **_lag_args(a, p),
        n_estimators=int(p["n_estimators"]),
        max_depth=int(p["max_depth"]),
        min_samples_leaf=int(p["min_samples_leaf"]),
        n_jobs=1,
        random_state=0,
    )


def _forest_space(trial: Any, a: BuildArgs) -> Params:
    return {
        **_lag_space(trial, a),
        "n_estimators": trial.suggest_int("n_estimators", 20, 200, log=True),
        "max_depth": trial.suggest_int("max_depth", 3, 16),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 50, log=True),
    }


# -- optional: torch, statsforecast, prophet, foundation models ----------------------------------

_TRAINER = {"accelerator": "cpu", "enable_progress_bar": False, "enable_model_summary": False, "logger": False}


def _deep(cls: str, **extra: Any) -> Callable[[BuildArgs, Params], Any]:
    def build(a: BuildArgs, p: Params) -> Any:
        icl = int(p.get("input_chunk_length", max(2 * a.horizon, a.lags)))
        kw: dict[str, Any] = {"input_chunk_length": icl, "n_epochs": int(p.get("n_epochs", 20)),
                              "random_state": 0, "pl_trainer_kwargs": dict(_TRAINER), **extra}
        if cls == "RNNModel":
            kw["training_length"] = icl + a.horizon
        else:
            kw["output_chunk_length"] = a.horizon
        return _darts(cls)(**kw)

    return build


def _deep_min(a: BuildArgs, p: Params) -> int:
    return int(p.get("input_chunk_length", max(2 * a.horizon, a.lags))) + a.horizon + 50


def _foundation(cls: str, env: str) -> Callable[[BuildArgs, Params], Any]:
    def build(a: BuildArgs, p: Params) -> Any:
        folder = weights_dir(env)  # raises when the weights are not on disk: never download
        return _darts(cls)(input_chunk_length=min(a.n_train, 2048), output_chunk_length=a.horizon,
                           local_dir=str(folder), pl_trainer_kwargs=dict(_TRAINER))

    return build


def _statsforecast(cls: str) -> Callable[[BuildArgs, Params], Any]:
    def build(a: BuildArgs, p: Params) -> Any:
        return _darts(cls)(season_length=a.season) if cls != "AutoCES" else _darts(cls)()

    return build


def _prophet(a: BuildArgs, p: Params) -> Any:
    return _darts("Prophet")()


def weights_dir(env: str) -> Path:
    """The local weights folder named by ``env``; :class:`ModelUnavailable` says what is missing."""
    raw = os.environ.get(env)
    if not raw:
        raise ModelUnavailable(f"weights not configured: set {env} to a local folder holding "
                               f"{' and '.join(_WEIGHT_FILES)} (no hub download at run time)")
    folder = Path(raw).expanduser()
    missing = [f for f in _WEIGHT_FILES if not (folder / f).is_file()]
    if missing:
        raise ModelUnavailable(f"{env}={raw}: missing {', '.join(missing)} (no hub download at run time)")
    return folder


# -- the catalog ---------------------------------------------------------------------------------


def _const(n: int) -> Callable[[BuildArgs, Params], int]:
    return lambda a, p: n


def _specs() -> list[ModelSpec]:
    lag_defaults = {"n_estimators": 200, "learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 20}
    specs = [
        ModelSpec("naive_last", "naive", "NaiveSeasonal", "last value carried forward", "instant",
                  _naive("NaiveSeasonal", K=1), _const(2), diurnal=False),
        ModelSpec("naive_seasonal", "naive", "NaiveSeasonal", "value one season (day; week for daily bars) ago",
                  "instant", _naive("NaiveSeasonal", K=lambda a: a.season), lambda a, p: a.season + 1, diurnal=False),
        ModelSpec("naive_drift", "naive", "NaiveDrift", "line from first to last training value", "instant",
                  _naive("NaiveDrift"), _const(3), max_train=None, diurnal=False),
        ModelSpec("naive_mean", "naive", "NaiveMean", "mean of the training window", "instant",
                  _naive("NaiveMean"), _const(2), max_train=5000, diurnal=False),
        ModelSpec("naive_moving_average", "naive", "NaiveMovingAverage", "moving average over one season",
                  "instant", _naive("NaiveMovingAverage", input_chunk_length=lambda a: a.season),
                  lambda a, p: a.season + 1, diurnal=False),
        ModelSpec("exp_smoothing", "exponential_smoothing", "ExponentialSmoothing",
                  "Holt-Winters exponential smoothing (statsmodels)", "moderate", _ets,
                  _const(10),
                  lambda a: {"trend": a.level, "damped": True, "seasonal": False}, _ets_space, max_train=1000),
        ModelSpec("theta", "theta", "Theta", "Theta method (additive seasonality when asked)", "light", _theta,
                  _const(5), lambda a: {"theta": 2.0, "seasonal": False},
                  lambda t, a: {"theta": t.suggest_float("theta", 0.5, 4.0),
                                "seasonal": t.suggest_categorical("seasonal", [False, True])},
                  max_train=2000),
        ModelSpec("arima", "arima", "ARIMA", "ARIMA(p,d,q) (statsmodels)", "heavy", _arima,
                  lambda a, p: 30 + 3 * (int(p["p"]) + int(p["q"]) + int(p["d"])),
                  lambda a: {"p": 2, "d": 1 if a.level else 0, "q": 1}, _arima_space, max_train=1000),
        ModelSpec("kalman", "state_space", "KalmanForecaster", "Kalman filter on a fitted linear state space",
                  "moderate", lambda a, p: _darts("KalmanForecaster")(dim_x=int(p["dim_x"])), _const(30),
                  lambda a: {"dim_x": 2}, lambda t, a: {"dim_x": t.suggest_int("dim_x", 1, 6)}, max_train=1000),
        ModelSpec("linear_regression", "regression", "LinearRegressionModel",
                  "linear regression on lags (one model per step)", "light", _linear, _lag_min,
                  lambda a: {"strategy": "direct"}, _lag_space, global_model=True, covariates=True,
                  max_train=10000),
        ModelSpec("har", "regression", "LinearRegressionModel",
                  "HAR: linear regression on the last value and its (intraday,) daily and weekly means", "light", _har,
                  lambda a, p: har_windows(a.season)[-1] + a.horizon + 50, global_model=True,
                  features=har_features, max_train=10000),
        ModelSpec("lightgbm", "regression", "LightGBMModel", "gradient-boosted trees on lags", "moderate",
                  _lgbm, _lag_min, lambda a: {"strategy": "recursive", **lag_defaults}, _lgbm_space,
                  global_model=True, covariates=True, difference_levels=True, max_train=5000),
        ModelSpec("random_forest", "regression", "RandomForestModel", "random forest on lags", "heavy",
                  _forest, _lag_min,
                  lambda a: {"strategy": "recursive", "n_estimators": 100, "max_depth": 10, "min_samples_leaf": 5},
                  _forest_space, global_model=True, covariates=True, difference_levels=True, max_train=3000),
    ]
    for name, cls in (("auto_arima", "AutoARIMA"), ("auto_ets", "AutoETS"), ("auto_theta", "AutoTheta"),
                      ("auto_ces", "AutoCES")):
        family = {"auto_arima": "arima", "auto_ets": "exponential_smoothing", "auto_theta": "theta"}.get(name, "ces")
        specs.append(ModelSpec(name, family, cls, f"{cls} from statsforecast", "moderate", _statsforecast(cls),
                               _const(30), requires=("statsforecast",), max_train=2000))
    specs.append(ModelSpec("prophet", "prophet", "Prophet", "Prophet additive model", "heavy", _prophet,
                           _const(50), requires=("prophet",), max_train=5000))
    deep = (("nbeats", "NBEATSModel", {}), ("nhits", "NHiTSModel", {}),
            ("tft", "TFTModel", {"add_relative_index": True}), ("tide", "TiDEModel", {}),
            ("tsmixer", "TSMixerModel", {}), ("dlinear", "DLinearModel", {}), ("nlinear", "NLinearModel", {}),
            ("tcn", "TCNModel", {}), ("rnn", "RNNModel", {"model": "RNN"}),
            ("lstm", "RNNModel", {"model": "LSTM"}), ("gru", "RNNModel", {"model": "GRU"}))
    for name, cls, extra in deep:
        specs.append(ModelSpec(name, "deep", cls, f"{cls} {extra.get('model', '')}".strip() + " (torch)", "heavy",
                               _deep(cls, **extra), _deep_min, lambda a: {"n_epochs": 20}, requires=("torch",),
                               global_model=True, max_train=5000))
    for name, cls, env in (("chronos2", "Chronos2Model", "FLOWDESK_CHRONOS2_DIR"),
                           ("timesfm", "TimesFM2p5Model", "FLOWDESK_TIMESFM_DIR")):
        specs.append(ModelSpec(name, "foundation", cls, f"{cls} zero-shot from local weights", "heavy",
                               _foundation(cls, env), _const(32), requires=("torch",), weights_env=env,
                               global_model=True, max_train=2048))
    return specs


CATALOG: dict[str, ModelSpec] = {s.name: s for s in _specs()}
#: the reference every score is compared with
BASELINE = "naive_last"


def get_spec(name: str) -> ModelSpec:
    try:
        return CATALOG[name]
    except KeyError:
        raise ForecastError(f"unknown model {name!r}; known: {sorted(CATALOG)}") from None


def unavailable_reason(spec: ModelSpec) -> str | None:
    """Why ``spec`` cannot run on this installation, or None when it can."""
    for module in spec.requires:
        if importlib.util.find_spec(module) is None:
            return _MISSING_REASON.get(module, f"the {module} package is not installed")
    if spec.weights_env:
        try:
            weights_dir(spec.weights_env)
        except ModelUnavailable as exc:
            return str(exc)
    try:
        _darts(spec.darts_class)
    except (ModelUnavailable, ImportError, AttributeError) as exc:
        return f"darts cannot import {spec.darts_class}: {exc}"
    return None


def require_available(spec: ModelSpec) -> None:
    reason = unavailable_reason(spec)
    if reason:
        raise ModelUnavailable(f"model {spec.name} is unavailable: {reason}")


def available_specs() -> list[ModelSpec]:
    return [s for s in CATALOG.values() if unavailable_reason(s) is None]


def describe(spec: ModelSpec) -> dict[str, Any]:
    """One catalog entry as a plain dict: what the model is, needs, and whether it runs here."""
    reason = unavailable_reason(spec)
    return {
        "name": spec.name,
        "family": spec.family,
        "darts_class": spec.darts_class,
        "description": spec.description,
        "available": reason is None,
        "unavailable_reason": reason,
        "cost": spec.cost,
        "needs": {
            "packages": list(spec.requires),
            "local_weights_env": spec.weights_env,
            "past_covariates": spec.covariates,
            "max_train_bars": spec.max_train,
        },
        "tunable": spec.space is not None,
    }


def default_lags(season: int) -> int:
    """Lags for regression models: two seasons, at most 60 and at least 7."""
    return max(7, min(2 * season, 60))
