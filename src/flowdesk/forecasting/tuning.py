"""Hyper-parameter tuning with Optuna over CV folds, under a time budget.

Every trial is scored on the same folds (built once, for the default parameters). After each
fold the trial reports its running mean scaled error (MASE so far) and Optuna's median pruner
may stop it. The catalog's default parameters are enqueued as the first trial, so the result
always says whether tuning beat them.

Trial outcomes are kept apart: ``complete`` trials have a score; ``pruned`` ones were stopped
for looking worse than the median; ``failed`` ones raised (the message is kept) or were cut by
the time budget mid-trial. Only complete trials can be the best; with none, ``best`` is None and
the report says tuning failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from flowdesk.forecasting.catalog import BuildArgs, default_lags, get_spec, require_available
from flowdesk.forecasting.engine import Forecaster
from flowdesk.forecasting.errors import ForecastError
from flowdesk.forecasting.series import TargetSeries
from flowdesk.forecasting.validation import CVConfig, CVResult, make_folds, run_cv

METRIC = "mase"


class BudgetSpent(RuntimeError):
    """The time budget ran out in the middle of a trial."""


def _running_mase(res: CVResult, k: int) -> float:
    err = np.abs(res.residuals[: k + 1]) / res.scale[: k + 1, None]
    return float(err.mean())


def _trial_row(t: Any) -> dict[str, Any]:
    return {"number": t.number, "state": t.state.name.lower(), "value": t.value, "params": t.params,
            "error": t.user_attrs.get("error"), "folds_done": len(t.intermediate_values)}


def tune(series: TargetSeries, model: str, cfg: CVConfig, *, budget_s: float = 60.0, max_trials: int = 30,
         covariates: tuple[str, ...] = (), seed: int = 0,
         on_trial: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Tune ``model`` on ``series``; returns the trial counts by state, the best parameters and
    their MASE (None when no trial completed), the defaults' MASE, and every trial's row."""
    import optuna

    spec = get_spec(model)
    require_available(spec)
    if spec.space is None:
        raise ForecastError(f"model {model} has no tunable parameters")
    if budget_s <= 0 or max_trials < 1:
        raise ForecastError("budget_s must be positive and max_trials at least 1")
    args = BuildArgs(cfg.horizon, series.season, default_lags(series.season), series.info.level, len(series),
                     len(covariates) if spec.covariates else 0)
    default = Forecaster.for_series(spec, series, cfg.horizon, covariates=covariates)
    folds = make_folds(len(series), cfg, default.min_length())
    deadline = time.monotonic() + budget_s

    def objective(trial: optuna.Trial) -> float:
        params = spec.space(trial, args)  # type: ignore[misc]
        fc = Forecaster.for_series(spec, series, cfg.horizon, params, covariates)

        def after_fold(k: int, res: CVResult) -> None:
            trial.report(_running_mase(res, k), k)
            if trial.should_prune():
                raise optuna.TrialPruned()
            if time.monotonic() > deadline and k < len(folds) - 1:
                raise BudgetSpent(f"time budget spent after {k + 1} of {len(folds)} folds")

        try:
            res = run_cv(series, fc, cfg, folds, after_fold)
        except BudgetSpent as exc:
            trial.set_user_attr("error", str(exc))
            raise
        if not res.ok:
            trial.set_user_attr("error", res.error)
            raise ForecastError(res.error)
        value = res.metrics()[METRIC]
        if value is None or not np.isfinite(value):
            trial.set_user_attr("error", f"{METRIC} is undefined (zero scale)")
            raise ForecastError(f"{METRIC} is undefined")
        return float(value)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2))
    first = {"lags": args.lags, **default.params} if spec.family == "regression" else default.params
    study.enqueue_trial(first, skip_if_exists=True)
    callbacks = [] if on_trial is None else [lambda s, t: on_trial(_trial_row(t))]
    started = time.monotonic()
    study.optimize(objective, n_trials=max_trials, timeout=budget_s, catch=(Exception,), callbacks=callbacks)
    return _summary(study, default.params, cfg, budget_s, time.monotonic() - started, len(folds))


def _summary(study: Any, defaults: dict[str, Any], cfg: CVConfig, budget_s: float, elapsed: float,
             n_folds: int) -> dict[str, Any]:
    rows = [_trial_row(t) for t in study.trials]
    complete = [r for r in rows if r["state"] == "complete"]
    best = min(complete, key=lambda r: r["value"]) if complete else None
    first = rows[0] if rows else None
    default_value = first["value"] if first and first["state"] == "complete" else None
    return {
        "metric": METRIC,
        "trials": len(rows),
        "complete": len(complete),
        "pruned": sum(r["state"] == "pruned" for r in rows),
        "failed": sum(r["state"] == "fail" for r in rows),
        "best_value": None if best is None else best["value"],
        "best_params": None if best is None else {**defaults, **best["params"]},
        "default_value": default_value,
        "improved": bool(best and default_value is not None and best["value"] < default_value),
        "status": "ok" if best else "failed: no trial completed",
        "budget_s": budget_s,
        "elapsed_s": round(elapsed, 3),
        "cv": {"scheme": cfg.scheme, "folds": n_folds, "horizon": cfg.horizon},
        "trial_rows": rows,
    }
