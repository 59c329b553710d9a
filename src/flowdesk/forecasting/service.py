"""Forecasting workflows shared by the tools, the scheduled jobs and the CLI.

* :func:`evaluate`: cross-validate models (and ensembles of the best of them) on common folds
  and tabulate their scores against the naive baseline.
* :func:`record`: write an evaluation to the registry and re-elect the champion.
* :func:`forecast`: route (or take the asked model), calibrate conformal intervals on CV
  residuals, refit on all the data and forecast past the end of the series.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from flowdesk.forecasting.catalog import BASELINE, COSTS, Params, get_spec, unavailable_reason
from flowdesk.forecasting.engine import Forecaster
from flowdesk.forecasting.ensemble import (
    EnsembleForecaster,
    ensemble_cv,
    is_ensemble,
    method_of,
)
from flowdesk.forecasting.errors import ForecastError
from flowdesk.forecasting.intervals import ACI_GAMMA, adaptive_level, interval, measured_coverage
from flowdesk.forecasting.registry import Registry
from flowdesk.forecasting.router import Decision, check_priority, route
from flowdesk.forecasting.seasonal import is_intraday
from flowdesk.forecasting.series import TargetSeries, bar_minutes
from flowdesk.forecasting.validation import (
    CVConfig,
    CVResult,
    common_folds,
    empty_result,
    make_folds,
    naive_scale,
    run_cv,
    run_cv_many,
)

DEFAULT_COVERAGE = 0.8
CALIBRATION_FOLDS = 24
#: seconds the router may spend scoring unscored models before a first forecast
EVALUATION_BUDGET_S = {"realtime": 0.0, "fast": 60.0, "accurate": 600.0}
ENSEMBLE_MEMBERS = 3

Progress = Callable[[str, int, int], None]


def iso(ts: datetime | pd.Timestamp | None) -> str | None:
    if ts is None:
        return None
    return pd.Timestamp(ts).tz_localize(None).isoformat() + "Z"


def build(name: str, series: TargetSeries, horizon: int, params: Params | None = None,
          covariates: tuple[str, ...] = ()) -> Forecaster:
    return Forecaster.for_series(get_spec(name), series, horizon, params, covariates)


@dataclass
class Evaluation:
    series: TargetSeries
    cfg: CVConfig
    results: dict[str, CVResult]
    coverage: float

    def row(self, name: str, lead: int | None = None) -> dict[str, Any]:
        """One model's scores, relative MAE against the naive baseline on the same folds, and
        the measured coverage of its conformal intervals."""
        res = self.results[name]
        base = self.results.get(BASELINE)
        m = res.metrics(lead)
        rel = None
        if base is not None and base.ok and res.ok:
            b = base.metrics(lead)["mae"]
            rel = m["mae"] / b if b else None
        cov = measured_coverage(res, self.coverage, lead) if res.ok else {"measured": None, "n": 0}
        return {
            "model": name, "status": "ok" if res.ok else ("skipped" if res.skipped else "failed"),
            "error": res.error, **m,
            "rel_mae": rel, "coverage_nominal": self.coverage, "coverage_measured": cov["measured"],
            "coverage_n": cov["n"], "fit_s": res.fit_s, "predict_s": res.predict_s,
            "params": {"members": list(res.members)} if res.members else res.params,
            "weights": res.members or None,
        }

    def table(self, lead: int | None = None) -> list[dict[str, Any]]:
        rows = [self.row(n, lead) for n in self.results]
        order = {"ok": 0, "failed": 1, "skipped": 2}
        return sorted(rows, key=lambda r: (order[r["status"]], r["mase"] if r["mase"] is not None else np.inf))

    def run_info(self) -> dict[str, Any]:
        folds = next(iter(self.results.values())).folds
        return {"scheme": self.cfg.scheme, "folds": len(folds), "purge": self.cfg.purge,
                "embargo": self.cfg.embargo, "data_start": self.series.index[0].to_pydatetime(),
                "data_end": self.series.as_of}

    def score_rows(self) -> list[dict[str, Any]]:
        """Rows shaped like :meth:`Registry.latest_scores`, for routing without a registry."""
        now = datetime.now(UTC).replace(tzinfo=None)
        info = self.run_info()
        return [{**r, "version": None, "scheme": info["scheme"], "folds": info["folds"], "scored_ts": now}
                for r in self.table()]


def _failed(series: TargetSeries, name: str, cfg: CVConfig, folds: list, error: str) -> CVResult:
    res = empty_result(series, name, {}, cfg, folds)
    res.error = error
    return res


def evaluate(series: TargetSeries, models: list[str], cfg: CVConfig, *, covariates: tuple[str, ...] = (),
             coverage: float = DEFAULT_COVERAGE, ensembles: bool = True, progress: Progress | None = None,
             deadline: float | None = None, params: dict[str, Params] | None = None) -> Evaluation:
    """Cross-validate ``models`` plus the naive baseline on common folds; unavailable models and
    models needing more training bars than the first fold has are reported as failed with the
    reason. With ``ensembles`` the mean, median and inverse-MSE
    weighted ensembles of the best :data:`ENSEMBLE_MEMBERS` successful models are added."""
    names = list(dict.fromkeys([BASELINE, *[m for m in models if not is_ensemble(m)]]))
    runnable, blocked = [], {}
    for name in names:
        reason = unavailable_reason(get_spec(name))
        if reason:
            blocked[name] = f"unavailable: {reason}"
        else:
            runnable.append(build(name, series, cfg.horizon, (params or {}).get(name), covariates))
    runnable.sort(key=lambda f: (f.name != BASELINE, COSTS.index(f.spec.cost)))  # cheap first
    asked = make_folds(len(series), cfg, 2)
    room = min(f.train_end - f.train_start for f in asked)
    for fc in [f for f in runnable if f.min_length() > room]:
        blocked[fc.name] = f"needs {fc.min_length()} training bars; the first fold has {room}"
        runnable.remove(fc)
    results = run_cv_many(series, runnable, cfg, progress, deadline)
    folds = common_folds(series, runnable, cfg)
    for name, why in blocked.items():
        results[name] = _failed(series, name, cfg, folds, why)
    if ensembles:
        results.update(_ensembles(results))
    return Evaluation(series, cfg, results, coverage)


def _ensembles(results: dict[str, CVResult]) -> dict[str, CVResult]:
    """Ensembles of the :data:`ENSEMBLE_MEMBERS` best successful models, chosen fold by fold
    from earlier folds only (see :func:`ensemble_cv`)."""
    ok = [r for n, r in results.items() if r.ok and n != BASELINE]
    if len(ok) < 2:
        return {}
    return {f"ensemble_{m}": ensemble_cv(ok, m, top=ENSEMBLE_MEMBERS) for m in ("mean", "median", "weighted")}


def record(registry: Registry, ev: Evaluation) -> dict[str, Any] | None:
    """Register every evaluated model version, store its score (failures too) and re-elect the
    champion; return the champion's score row."""
    key, h, run = ev.series.key, ev.cfg.horizon, ev.run_info()
    for row in ev.table():
        if row["status"] == "skipped":
            continue
        family = "ensemble" if is_ensemble(row["model"]) else get_spec(row["model"]).family
        version = registry.register(key, h, row["model"], family, row["params"] or {})
        registry.record_score(key, h, row["model"], version, run, row)
    return registry.update_roles(key, h)


def calibration_config(series: TargetSeries, horizon: int, min_train: int) -> CVConfig:
    """Expanding CV with as many non-overlapping test blocks as fit (at most
    :data:`CALIBRATION_FOLDS`), enough for conformal intervals and their measured coverage."""
    room = (len(series) - min_train) // horizon
    folds = min(CALIBRATION_FOLDS, room)
    if folds < 2:
        raise ForecastError(f"{len(series)} bars are too few to validate a horizon-{horizon} forecast")
    return CVConfig(horizon=horizon, scheme="expanding", folds=folds)


def try_registry(con: duckdb.DuckDBPyConnection | None) -> tuple[Registry | None, str | None]:
    """A registry on ``con``, or None and the reason (no store, tables missing)."""
    if con is None:
        return None, "no store: scores are not recorded"
    try:
        return Registry(con), None
    except ForecastError as exc:
        return None, str(exc)


def safe_write(action: Callable[[], Any]) -> tuple[Any, str | None]:
    """Run a registry write; a read-only or locked store is reported, not raised."""
    try:
        return action(), None
    except duckdb.Error as exc:
        return None, f"not recorded: {type(exc).__name__}: {exc}"


def _decide(series: TargetSeries, horizon: int, model: str, priority: str, registry: Registry | None,
            covariates: tuple[str, ...], notes: list[str], progress: Progress | None, record_scores: bool,
            ) -> tuple[Decision, Evaluation | None]:
    scores = registry.latest_scores(series.key, horizon) if registry else []
    if model != "auto":
        return _named(model, scores), None
    decision = route(series, horizon, priority, scores)
    if decision.model is not None:
        return decision, None
    need = max(build(m, series, horizon).min_length() for m in decision.evaluate)
    cfg = calibration_config(series, horizon, need)
    deadline = time.monotonic() + EVALUATION_BUDGET_S[priority]
    ev = evaluate(series, decision.evaluate, cfg, covariates=covariates, progress=progress, deadline=deadline)
    rows = ev.score_rows()
    if registry is None or not record_scores:
        notes.append("scores from this call's CV were not recorded")
    else:
        _, why = safe_write(lambda: record(registry, ev))
        if why:
            notes.append(why)
        else:
            rows = registry.latest_scores(series.key, horizon)
    decision = route(series, horizon, priority, rows)
    decision.reason += f" (scores from a {cfg.folds}-fold expanding CV run just now)"
    return decision, ev


def _named(model: str, scores: list[dict[str, Any]]) -> Decision:
    """The caller's model, with the parameters of its best recorded version when there is one."""
    if not is_ensemble(model):
        get_spec(model)  # an unknown name is an error here, not after the data is loaded
    mine = [s for s in scores if s["model"] == model and s["status"] == "ok" and s["mase"] is not None]
    if not mine:
        if is_ensemble(model):
            raise ForecastError(f"{model} has no recorded members for this series and horizon: "
                                "score it with `flowdesk forecast cv --record` first")
        return Decision(model, None, None, "model named by the caller (default parameters)", "caller")
    best = min(mine, key=lambda s: s["mase"])
    return Decision(model, best["version"], best["params"],
                    f"model named by the caller; parameters of its best recorded version v{best['version']} "
                    f"(MASE {best['mase']:.3f})", "caller")


def _min_train(name: str, params: Params | None, series: TargetSeries, horizon: int) -> int:
    if is_ensemble(name):
        members = (params or {}).get("members") or [BASELINE]
        return max(build(m, series, horizon).min_length() for m in members)
    return build(name, series, horizon, params).min_length()


def _make(name: str, series: TargetSeries, horizon: int, params: Params | None, covariates: tuple[str, ...],
          ev: Evaluation | None, cfg: CVConfig) -> tuple[Any, CVResult]:
    """The forecaster for ``name`` and its calibration CV result (reused from ``ev`` when the
    same folds were already run)."""
    if is_ensemble(name):
        members = list((params or {}).get("members") or [])
        if len(members) < 2:
            raise ForecastError(f"{name} needs members: score it with cross_validate first")
        fcs = [build(m, series, horizon, None, covariates) for m in members]
        results = [(ev.results[m] if ev and m in ev.results else run_cv(series, fc, cfg)) for m, fc in
                   zip(members, fcs, strict=True)]
        cal = ensemble_cv(results, method_of(name))
        weights = cal.members if method_of(name) == "weighted" else None
        return EnsembleForecaster(fcs, method_of(name), weights), cal
    fc = build(name, series, horizon, params, covariates)
    if ev is not None and name in ev.results and ev.results[name].params == fc.params:
        return fc, ev.results[name]
    return fc, run_cv(series, fc, cfg)


def forecast(series: TargetSeries, horizon: int, *, model: str = "auto", priority: str = "fast",
             coverage: float = DEFAULT_COVERAGE, registry: Registry | None = None,
             covariates: tuple[str, ...] = (), progress: Progress | None = None,
             record_scores: bool = False, keep_model: bool = False) -> dict[str, Any]:
    """Forecast the ``horizon`` bars after ``series`` with conformal intervals.

    Returns the model used and why, the points (``step, ts, value, median, lower, upper``), the
    nominal and measured interval coverage, the chosen model's CV scores and the fit/predict
    seconds; ``notes`` says what was adjusted or not recorded. ``record_scores`` writes the
    scores of an evaluation the router had to run into ``registry``; ``keep_model`` adds the
    fitted forecaster under ``fitted``."""
    check_priority(priority)
    notes: list[str] = list(series.notes)
    if series.info.skewed:
        notes.append(f"{series.target} is modelled as log1p(y / training median) and mapped back")
        if is_intraday(bar_minutes(series.bar)):
            notes.append("a time-of-day profile estimated on the training bars is removed before fitting and "
                         "put back at the forecast timestamps (not for the naive baselines)")
    decision, ev = _decide(series, horizon, model, priority, registry, covariates, notes, progress,
                           record_scores)
    name = decision.model or BASELINE
    params = decision.params
    cfg = ev.cfg if ev is not None else calibration_config(series, horizon, _min_train(name, params, series, horizon))
    fc, cal = _make(name, series, horizon, params, covariates, ev, cfg)
    if not cal.ok:
        raise ForecastError(f"{name} failed its validation: {cal.error}")
    cv_fit_s, cv_predict_s = fc.fit_s, fc.predict_s
    fc.fit(series)  # refit on all the data before forecasting past its end
    point = fc.predict(horizon)
    scale_now = naive_scale(series.values, len(series), cfg.interval_window)
    levels = adaptive_level(cal, coverage)
    band = interval(point, cal.residuals, coverage, series.info.nonneg, cal.interval_scale, scale_now, levels)
    step = pd.Timedelta(series.index.freq)
    ts = [series.index[-1] + step * (i + 1) for i in range(horizon)]
    points = pd.DataFrame({"step": np.arange(1, horizon + 1), "ts": ts, "value": band.point,
                           "median": band.median, "lower": band.lower, "upper": band.upper})
    cov = measured_coverage(cal, coverage)
    metrics = cal.metrics()
    params_used = {"members": [m.name for m in fc.members]} if is_ensemble(name) else fc.params
    out = {
        "model": {"name": name, "version": decision.version, "params": params_used},
        "router": {"reason": decision.reason, "scores_from": decision.scores_from, "priority": priority},
        "points": points,
        "interval": {"method": f"adaptive conformal (ACI, gamma {ACI_GAMMA}) on CV residuals normalized by the "
                               f"naive MAE of the last {cfg.interval_window} bars, per lead",
                     "aci_miscoverage": [round(float(a), 4) for a in levels],
                     "coverage_nominal": coverage,
                     "coverage_measured": cov["measured"], "coverage_measured_n": cov["n"],
                     "n_calibration": band.n_calibration},
        "cv": {"scheme": cfg.scheme, "folds": len(cal.folds), **metrics},
        "timing": {"fit_s": round(fc.fit_s - cv_fit_s, 4), "predict_s": round(fc.predict_s - cv_predict_s, 4)},
        "candidates": decision.candidates,
        "notes": notes,
    }
    if keep_model:
        out["fitted"] = fc
    return out


def _error_series(series: TargetSeries, n_errors: int, model: str, registry: Registry | None,
                  notes: list[str], on_fold: Callable[[int, CVResult], None] | None = None,
                  ) -> tuple[np.ndarray, str]:
    """The last ``n_errors`` one-bar-ahead errors: from stored forecasts when enough of them
    resolved, else from a walk-forward re-run of ``model`` (refit every 24 bars)."""
    if registry is not None:
        actual = pd.Series(series.values, index=series.index)
        stored = registry.resolved_errors(series.key, actual).to_numpy()
        if len(stored) >= n_errors:
            return stored[-n_errors:], "stored one-step forecasts resolved against realized bars"
        notes.append(f"only {len(stored)} stored one-step forecasts resolved; errors re-computed walk-forward")
    fc = build(model, series, 1)
    cfg = CVConfig(horizon=1, scheme="walk_forward", folds=n_errors, step=1, refit_every=24)
    res = run_cv(series, fc, cfg, on_fold=on_fold)
    if not res.ok:
        raise ForecastError(f"{model} failed while computing errors for drift: {res.error}")
    return res.residuals[:, 0], f"walk-forward one-step errors of {model} (refit every 24 bars)"


def drift_check(series: TargetSeries, reference_bars: int, recent_bars: int, *,
                registry: Registry | None = None, model: str = "champion",
                on_fold: Callable[[int, CVResult], None] | None = None) -> dict[str, Any]:
    """Input drift (KS, PSI) of the recent window against the reference window, and error drift
    (Page-Hinkley, ADWIN) over the same span; with the verdict and whether to retrain."""
    from flowdesk.forecasting import drift

    total = reference_bars + recent_bars
    if len(series) < total + 2:
        raise ForecastError(f"drift check needs {total + 2} bars, the series has {len(series)}")
    notes: list[str] = []
    values = series.values
    if series.info.level:  # a level trends, its distribution always "drifts": test its changes
        values = np.diff(values)
        notes.append(f"{series.target} is a level: input drift is tested on its bar-to-bar changes")
    ref, recent = values[-total:-recent_bars], values[-recent_bars:]
    findings = drift.input_drift(ref, recent)
    if model == "champion":
        champ = registry.champion(series.key, 1) if registry else None
        model = champ["model"] if champ and not is_ensemble(champ["model"]) else BASELINE
    errors, how = _error_series(series, total, model, registry, notes, on_fold)
    findings += drift.error_drift(errors, reference_bars)
    return {**drift.summarize(findings), "errors_from": how, "model": model,
            "reference": {"from": iso(series.index[-total]), "bars": reference_bars},
            "recent": {"from": iso(series.index[-recent_bars]), "bars": recent_bars}, "notes": notes}


def backtest_model(series: TargetSeries, model: str, cfg: Any, priority: str = "fast",
                   on_fold: Callable[[int, CVResult], None] | None = None) -> dict[str, Any]:
    """Backtest ``model`` (``auto``: chosen by CV on the bars *before* the backtest span only,
    so the choice never sees the span it is judged on)."""
    from flowdesk.forecasting.backtest import backtest

    choice = "named by the caller"
    if model == "auto":
        before = series.window(0, len(series) - cfg.n_bars)
        decision = route(before, cfg.horizon, priority, [])
        if decision.model is None:
            need = max(build(m, before, cfg.horizon).min_length() for m in decision.evaluate)
            cv = calibration_config(before, cfg.horizon, need)
            deadline = time.monotonic() + EVALUATION_BUDGET_S[priority]
            ev = evaluate(before, decision.evaluate, cv, ensembles=False, deadline=deadline)
            decision = route(before, cfg.horizon, priority, ev.score_rows())
        model, choice = decision.model or BASELINE, decision.reason + " (CV on the bars before the backtest)"
    fc = build(model, series, cfg.horizon, None)
    out = backtest(series, fc, cfg, on_fold)
    return {"model": model, "model_choice": choice, **out}
