"""Forecasting tools: Darts forecasts with measured intervals, CV, tuning, drift, backtests.

The tools only read the store. Scores, champions and issued forecasts are written to the
forecasting registry by the scheduled forecast jobs (``flowdesk serve``) and by
``flowdesk forecast ...``; the router reads them. A tool that needs scores nobody recorded yet
computes them for the call and says so.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from flowdesk.forecasting import service
from flowdesk.forecasting.backtest import BacktestConfig
from flowdesk.forecasting.catalog import CATALOG, available_specs, describe
from flowdesk.forecasting.errors import ForecastError
from flowdesk.forecasting.router import check_priority
from flowdesk.forecasting.series import TargetSeries, check_target, store_series
from flowdesk.forecasting.tuning import tune
from flowdesk.forecasting.validation import CVConfig
from flowdesk.tools.common import check_limit, resolve_venue
from flowdesk.tools.context import age_s, get_context, iso, provenance
from flowdesk.tools.registry import ToolError, tool

MAX_HORIZON = 500
MAX_LOOKBACK = 20000
MAX_BUDGET_S = 600.0
ROW_CAP = 50


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except ForecastError as exc:
        raise ToolError(str(exc)) from None


def _symbol(symbol: str) -> str:
    if not isinstance(symbol, str) or not symbol.strip():
        raise ToolError("symbol must be a non-empty string like 'BTCUSDT'")
    return symbol.strip().upper().replace("-", "").replace("/", "")


def _check_int(value: int, lo: int, hi: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ToolError(f"{name} must be an integer between {lo} and {hi}, got {value!r}")
    return value


def _series(symbol: str, exchange: str, target: str, bar: str, lookback_bars: int,
            covariates: list[str] | None = None) -> TargetSeries:
    ctx = get_context()
    ex, mk = resolve_venue(exchange)
    _check_int(lookback_bars, 50, MAX_LOOKBACK, "lookback_bars")
    with _errors(), ctx.db() as cur:
        return store_series(cur, _symbol(symbol), check_target(target), bar, exchange=ex, market=mk,
                            lookback_bars=lookback_bars, covariates=tuple(covariates or ()))


def _source(series: TargetSeries) -> dict[str, Any]:
    window = f"{len(series)} x {series.bar} bars from {iso(series.index[0].to_pydatetime())}"
    src = provenance([f"{series.exchange}_{series.market}"], series.symbol, window, series.as_of)
    return {**src, "built_from": series.source, "target": series.target}


def _registry() -> Any:
    ctx = get_context()
    with ctx.db() as cur:
        reg, _why = service.try_registry(cur)
    return reg


def _clean(value: Any) -> Any:
    """JSON-friendly values: floats rounded, NaN as None, timestamps as ISO text."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float | np.floating):
        return None if not np.isfinite(value) else round(float(value), 8)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, pd.Timestamp | datetime):
        return iso(pd.Timestamp(value).to_pydatetime())
    return value


@tool("forecasting")
def forecast(symbol: str, target: str = "close", horizon: int = 12, bar: str = "1h", model: str = "auto",
             priority: str = "fast", exchange: str = "binance_usdm", coverage: float = 0.8,
             lookback_bars: int = 2000, covariates: list[str] | None = None) -> dict[str, Any]:
    """Forecast ``target`` of ``symbol`` for the next ``horizon`` bars of size ``bar``.

    ``target``: close, log_return, realized_vol, volume, funding or open_interest. ``model``:
    a catalog name (see list_models), an ensemble (ensemble_mean/median/weighted) or ``auto``
    to let the router pick from recorded out-of-sample scores within the latency budget of
    ``priority`` (realtime, fast or accurate). Returns the model used and why, one row per step
    (ts, value, median, lower, upper), the interval's nominal and measured coverage (conformal
    from CV residuals), the model's CV scores (MASE, sMAPE, RMSE, directional accuracy), fit and
    predict seconds, and the source block. The model is refit on all bars before forecasting.
    ``covariates`` (other targets, e.g. ["volume"]) feed the lag-regression models as past
    covariates; other models ignore them.
    """
    _check_int(horizon, 1, MAX_HORIZON, "horizon")
    if not 0.5 <= coverage < 1.0:
        raise ToolError(f"coverage must be in [0.5, 1), got {coverage}")
    with _errors():
        check_priority(priority)
        series = _series(symbol, exchange, target, bar, lookback_bars, covariates)
        out = service.forecast(series, horizon, model=model, priority=priority, coverage=coverage,
                               registry=_registry(), covariates=tuple(series.covariates))
    out["points"] = out["points"].to_dict("records")
    out["candidates"] = [c for c in out["candidates"] if c["eligible"]][:ROW_CAP]
    return _clean({"symbol": series.symbol, "target": series.target, "bar": bar, "horizon": horizon,
                   **out, "source": _source(series)})


@tool("forecasting")
def list_models() -> dict[str, Any]:
    """List the forecasting model catalog.

    Returns every model grouped by family, whether it runs on this installation and, if not,
    why (torch models need the ``deep`` extra; Chronos-2/TimesFM need local weights;
    AutoARIMA/AutoETS/AutoTheta need statsforecast; Prophet needs prophet), what each needs
    (packages, past covariates, training cap) and its cost class."""
    models = [describe(spec) for spec in CATALOG.values()]
    families: dict[str, list[str]] = {}
    for m in models:
        families.setdefault(m["family"], []).append(m["name"])
    return {
        "available": [m["name"] for m in models if m["available"]],
        "unavailable": {m["name"]: m["unavailable_reason"] for m in models if not m["available"]},
        "families": families,
        "ensembles": ["ensemble_mean", "ensemble_median", "ensemble_weighted"],
        "models": models,
        "source": {**provenance([], None, None, None), "computed_from": "this installation's packages"},
    }


@tool("forecasting")
def cross_validate(symbol: str, target: str = "close", horizon: int = 12, bar: str = "1h",
                   models: list[str] | None = None, scheme: str = "expanding", folds: int = 24,
                   step: int | None = None, purge: int = 0, embargo: int = 0, train_window: int | None = None,
                   exchange: str = "binance_usdm", lookback_bars: int = 2000, coverage: float = 0.8,
                   budget_s: float = 60.0, covariates: list[str] | None = None) -> dict[str, Any]:
    """Cross-validate forecasting models on stored bars and compare them with the naive forecast.

    ``scheme``: expanding (non-overlapping test blocks), sliding (needs ``train_window``) or
    walk_forward (an origin every ``step`` bars); ``purge`` bars before each origin are kept out
    of training, ``embargo`` bars separate folds. ``models`` defaults to every available model;
    ``covariates`` (e.g. ["volume"]) are given to the lag-regression models.
    Returns one row per model (and mean/median/weighted ensembles of the best three), best MASE
    first: MAE, RMSE, MASE, sMAPE, directional accuracy, MAE relative to naive, conformal
    interval coverage measured vs nominal, fit/predict seconds summed over the folds, failures
    with their error, and models skipped when ``budget_s`` ran out. Not recorded by this tool."""
    _check_int(horizon, 1, MAX_HORIZON, "horizon")
    _check_int(folds, 2, 200, "folds")
    if not 0 < budget_s <= MAX_BUDGET_S:
        raise ToolError(f"budget_s must be in (0, {MAX_BUDGET_S}]")
    names = list(models) if models else [s.name for s in available_specs()]
    with _errors():
        series = _series(symbol, exchange, target, bar, lookback_bars, covariates)
        cfg = CVConfig(horizon=horizon, scheme=scheme, folds=folds, step=step, purge=purge, embargo=embargo,
                       train_window=train_window)
        ev = service.evaluate(series, names, cfg, covariates=tuple(series.covariates), coverage=coverage,
                              deadline=time.monotonic() + budget_s)
    rows = ev.table()
    return _clean({"symbol": series.symbol, "target": series.target, "bar": bar, "horizon": horizon,
                   "cv": ev.run_info(), "rows": rows[:ROW_CAP],
                   "lead_mase": {r["model"]: {"1": ev.row(r["model"], 1)["mase"],
                                              str(horizon): ev.row(r["model"], horizon)["mase"]}
                                 for r in rows[:ROW_CAP] if r["status"] == "ok"},
                   "source": _source(series)})


@tool("forecasting")
def tune_model(symbol: str, model: str = "lightgbm", target: str = "realized_vol", horizon: int = 12,
               bar: str = "1h", budget_s: float = 60.0, max_trials: int = 30, folds: int = 8,
               exchange: str = "binance_usdm", lookback_bars: int = 2000) -> dict[str, Any]:
    """Tune a model's hyper-parameters with Optuna over expanding CV folds within ``budget_s``.

    Returns trial counts (complete, pruned by the median pruner, failed with their errors), the
    best parameters and MASE (None when no trial completed: tuning failed), the default
    parameters' MASE and whether tuning beat it, and the trials (capped). Not recorded by this
    tool: ``flowdesk forecast tune`` records the tuned version for the router."""
    _check_int(horizon, 1, MAX_HORIZON, "horizon")
    _check_int(max_trials, 1, 500, "max_trials")
    _check_int(folds, 2, 100, "folds")
    if not 0 < budget_s <= MAX_BUDGET_S:
        raise ToolError(f"budget_s must be in (0, {MAX_BUDGET_S}]")
    with _errors():
        series = _series(symbol, exchange, target, bar, lookback_bars)
        summary = tune(series, model, CVConfig(horizon=horizon, scheme="expanding", folds=folds),
                       budget_s=budget_s, max_trials=max_trials)
    summary["trial_rows"] = summary["trial_rows"][:ROW_CAP]
    return _clean({"symbol": series.symbol, "model": model, "target": series.target, "bar": bar,
                   "horizon": horizon, **summary, "source": _source(series)})


@tool("forecasting")
def detect_drift(symbol: str, target: str = "log_return", bar: str = "1h", reference_bars: int = 500,
                 recent_bars: int = 100, model: str = "champion",
                 exchange: str = "binance_usdm") -> dict[str, Any]:
    """Check drift of ``target`` of ``symbol``: the input distribution of the last
    ``recent_bars`` against the ``reference_bars`` before them (KS test, PSI), and the one-bar
    forecast errors of ``model`` (the registry champion, else naive) over the same span
    (Page-Hinkley, ADWIN).

    Returns each detector's statistic, threshold and verdict, overall
    ``drift`` and ``retrain_recommended`` (the scheduled jobs retrain on it), and where the errors
    came from (stored forecasts or a walk-forward re-run)."""
    _check_int(reference_bars, 20, 10000, "reference_bars")
    _check_int(recent_bars, 20, 5000, "recent_bars")
    with _errors():
        series = _series(symbol, exchange, target, bar, reference_bars + recent_bars + 200)
        out = service.drift_check(series, reference_bars, recent_bars, registry=_registry(), model=model)
    return _clean({"symbol": series.symbol, "target": series.target, "bar": bar, **out,
                   "source": _source(series)})


@tool("forecasting")
def backtest_forecast(symbol: str, model: str = "auto", bar: str = "1h", horizon: int = 1, n_bars: int = 500,
                      fee_bps: float = 5.0, slippage_bps: float = 2.0, refit_every: int = 24,
                      allow_short: bool = True, exchange: str = "binance_usdm",
                      lookback_bars: int = 3000) -> dict[str, Any]:
    """Backtest a strategy that trades the forecast of the next ``horizon`` bars' log return:
    long/short/flat each bar when the forecast clears the round-trip cost of ``fee_bps`` +
    ``slippage_bps`` per side. Walk-forward over the last ``n_bars`` bars, refit every
    ``refit_every`` bars; ``auto`` picks the model by CV on the bars before the span only.
    Returns total return, Sharpe, hit rate, max drawdown, turnover, trades, exposure, costs,
    buy-and-hold over the same span, a grade and the documented grade rules."""
    _check_int(horizon, 1, 100, "horizon")
    _check_int(n_bars, 20, 10000, "n_bars")
    with _errors():
        series = _series(symbol, exchange, "log_return", bar, lookback_bars)
        if len(series) < n_bars + 100:
            raise ToolError(f"{len(series)} bars are too few for a {n_bars}-bar backtest; raise lookback_bars")
        cfg = BacktestConfig(n_bars=n_bars, horizon=horizon, fee_bps=fee_bps, slippage_bps=slippage_bps,
                             refit_every=refit_every, allow_short=allow_short)
        out = service.backtest_model(series, model, cfg)
    return _clean({"symbol": series.symbol, "bar": bar, **out, "source": _source(series)})


@tool("forecasting")
def get_model_performance(symbol: str, target: str | None = None, bar: str | None = None,
                          horizon: int | None = None, limit: int = 20) -> dict[str, Any]:
    """Recorded out-of-sample scores for ``symbol`` from the model registry.

    Returns the newest score of each model version per target, bar and horizon (MASE, sMAPE,
    RMSE, directional accuracy, MAE relative to naive, measured interval coverage, fit/predict
    seconds, CV scheme and folds), its role (champion/challenger/retired) and parameters, and
    the champions; failed scores are included."""
    check_limit(limit, 200)
    reg = _registry()
    if reg is None:
        raise ToolError("the store has no forecasting registry (schema migration 3 not applied)")
    with _errors():
        rows = reg.performance(_symbol(symbol), check_target(target) if target else None, bar, horizon, limit)
    if not rows:
        raise ToolError(f"no scores recorded for {_symbol(symbol)}: run `flowdesk forecast cv` or the forecast jobs")
    newest = max(r["scored_ts"] for r in rows)
    venues = sorted({f"{r['exchange']}_{r['market']}" for r in rows})
    return _clean({"symbol": _symbol(symbol), "rows": rows,
                   "champions": [r for r in rows if r["role"] == "champion"],
                   "source": provenance(venues, _symbol(symbol), "model registry", newest)})


@tool("forecasting")
def get_latest_forecast(symbol: str, target: str | None = None, bar: str | None = None) -> dict[str, Any]:
    """The newest forecast stored for ``symbol`` by the scheduled forecast job or
    ``flowdesk forecast run --record``.

    Returns model and version, issued time and its age, the nominal coverage, the bar close it
    was made from (``source.as_of``) and one row per step (ts, value, median, lower, upper)."""
    reg = _registry()
    if reg is None:
        raise ToolError("the store has no forecasting registry (schema migration 3 not applied)")
    with _errors():
        rows = reg.latest_forecast(_symbol(symbol), check_target(target) if target else None, bar)
    if not rows:
        raise ToolError(f"no stored forecast for {_symbol(symbol)}; forecasts are issued by the forecast jobs")
    head = rows[0]
    points = [{k: r[k] for k in ("step", "ts", "value", "median", "lower", "upper")} for r in rows]
    return _clean({
        "symbol": head["symbol"], "target": head["target"], "bar": head["bar"], "horizon": head["horizon"],
        "model": {"name": head["model"], "version": head["version"]}, "issued": head["issued_ts"],
        "issued_age_s": age_s(head["issued_ts"]), "coverage_nominal": head["coverage"], "points": points,
        "source": provenance([f"{head['exchange']}_{head['market']}"], head["symbol"], "forecast registry",
                             head["as_of"]),
    })
