"""``flowdesk forecast ...``: the forecasting workflows from the command line.

    flowdesk forecast models                                   the catalog and what runs here
    flowdesk forecast run      --symbol BTCUSDT --target realized_vol --bar 1h --horizon 12
    flowdesk forecast cv       --csv ../shared/data/series/coinbase_btcusd_1h.csv --target close
    flowdesk forecast tune     --symbol BTCUSDT --model lightgbm --budget-s 120
    flowdesk forecast backtest --symbol BTCUSDT --model auto --n-bars 500 --fee-bps 5
    flowdesk forecast drift    --symbol BTCUSDT --target log_return

A series comes from the store (``--symbol``, the database of the settings or ``--db``) or from a
CSV file of bars (``--csv``), through the same functions. ``--record`` writes scores, tuned
versions, forecasts and drift checks to the registry of the store (opened for writing: stop
``flowdesk serve`` first, DuckDB allows one writing process). ``--json`` prints JSON.
The main CLI calls :func:`add_cli`; the parsed command runs through ``args.handler``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from flowdesk.forecasting import service
from flowdesk.forecasting.backtest import BacktestConfig
from flowdesk.forecasting.catalog import CATALOG, available_specs, describe
from flowdesk.forecasting.errors import ForecastError
from flowdesk.forecasting.registry import Registry
from flowdesk.forecasting.series import BAR_MINUTES, TARGETS, TargetSeries, csv_series, store_series
from flowdesk.forecasting.tuning import tune
from flowdesk.forecasting.validation import SCHEMES, CVConfig

ACTIONS = ("models", "run", "cv", "tune", "backtest", "drift")


def add_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``forecast`` sub-command with its actions to ``subparsers``."""
    p = subparsers.add_parser("forecast", help="Darts forecasts: models, run, cv, tune, backtest, drift")
    actions = p.add_subparsers(dest="forecast_action", required=True)
    actions.add_parser("models", help="the model catalog and availability").add_argument("--json", action="store_true")
    run = _series_parser(actions, "run", "forecast a series with measured intervals")
    run.add_argument("--model", default="auto")
    run.add_argument("--priority", default="fast", choices=["realtime", "fast", "accurate"])
    run.add_argument("--coverage", type=float, default=service.DEFAULT_COVERAGE)
    cv = _series_parser(actions, "cv", "cross-validate models against the naive forecast")
    cv.add_argument("--models", help="comma-separated models (default: all available)")
    cv.add_argument("--scheme", default="expanding", choices=SCHEMES)
    cv.add_argument("--folds", type=int, default=24)
    cv.add_argument("--step", type=int)
    cv.add_argument("--purge", type=int, default=0)
    cv.add_argument("--embargo", type=int, default=0)
    cv.add_argument("--train-window", type=int)
    cv.add_argument("--budget-s", type=float, default=600.0)
    cv.add_argument("--coverage", type=float, default=service.DEFAULT_COVERAGE)
    tn = _series_parser(actions, "tune", "tune a model with Optuna under a time budget")
    tn.add_argument("--model", default="lightgbm")
    tn.add_argument("--budget-s", type=float, default=120.0)
    tn.add_argument("--trials", type=int, default=50)
    tn.add_argument("--folds", type=int, default=8)
    bt = _series_parser(actions, "backtest", "backtest a forecast-driven strategy with costs", target=False)
    bt.add_argument("--model", default="auto")
    bt.add_argument("--n-bars", type=int, default=500)
    bt.add_argument("--fee-bps", type=float, default=5.0)
    bt.add_argument("--slippage-bps", type=float, default=2.0)
    bt.add_argument("--refit-every", type=int, default=24)
    bt.add_argument("--long-only", action="store_true")
    dr = _series_parser(actions, "drift", "input and forecast-error drift checks")
    dr.add_argument("--reference-bars", type=int, default=500)
    dr.add_argument("--recent-bars", type=int, default=100)
    dr.add_argument("--model", default="champion")
    p.set_defaults(handler=main)
    return p


def _series_parser(actions: Any, name: str, help_text: str, target: bool = True) -> argparse.ArgumentParser:
    p = actions.add_parser(name, help=help_text)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--symbol", help="symbol in the store, e.g. BTCUSDT")
    src.add_argument("--csv", help="CSV file of OHLCV bars instead of the store")
    p.add_argument("--exchange", help="exchange id as stored (default: the venue with the newest data)")
    p.add_argument("--market", help="market as stored, e.g. usdm")
    if target:
        p.add_argument("--target", default="close", choices=sorted(TARGETS))
    p.add_argument("--bar", help=f"bar size {list(BAR_MINUTES)} (default 1h; a CSV's own bar size)")
    p.add_argument("--horizon", type=int, default=12 if target else 1)
    p.add_argument("--lookback", type=int, default=2000, help="bars of history to use")
    p.add_argument("--covariates", help="comma-separated targets given to lag-regression models, e.g. volume")
    p.add_argument("--db", help="DuckDB file (default: the settings' data_dir/flowdesk.duckdb)")
    p.add_argument("--config", help="settings YAML (for the default database path)")
    p.add_argument("--record", action="store_true", help="write results to the registry")
    p.add_argument("--json", action="store_true")
    return p


# -- plumbing ------------------------------------------------------------------------------------


@contextmanager
def _store(args: argparse.Namespace) -> Iterator[Any]:
    """The store to read (and with ``--record`` write), or None for a CSV run without ``--db``."""
    if args.csv and not args.db:
        yield None
        return
    from flowdesk.settings import load_settings
    from flowdesk.storage.store import Store

    path = args.db or load_settings(args.config).db_path
    store = Store(path, read_only=not args.record)
    try:
        yield store
    finally:
        store.close()


def _load(args: argparse.Namespace, store: Any, target: str) -> TargetSeries:
    cov = tuple(args.covariates.split(",")) if args.covariates else ()
    if args.csv:
        return csv_series(args.csv, target, args.bar, covariates=cov, lookback_bars=args.lookback)
    return store_series(store.cursor(), args.symbol.upper(), target, args.bar or "1h", exchange=args.exchange,
                        market=args.market, lookback_bars=args.lookback, covariates=cov)


def _bar(total: int, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="fold", file=sys.stderr, disable=None, leave=False)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if k != "fitted"}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, pd.DataFrame):
        return _jsonable(value.to_dict("records"))
    if isinstance(value, float | np.floating):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, datetime | pd.Timestamp):
        return service.iso(value)
    return value


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _table(rows: list[dict[str, Any]], cols: list[str]) -> str:
    cells = [[_fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


# -- actions -------------------------------------------------------------------------------------


def _models(args: argparse.Namespace) -> dict[str, Any]:
    rows = [describe(s) for s in CATALOG.values()]
    if not args.json:
        print(_table(rows, ["name", "family", "available", "cost", "unavailable_reason"]))
    return {"models": rows}


def _run(args: argparse.Namespace, store: Any) -> dict[str, Any]:
    series = _load(args, store, args.target)
    registry = Registry(store.cursor()) if store else None
    bar = _bar(0, "scoring models")
    out = service.forecast(series, args.horizon, model=args.model, priority=args.priority,
                           coverage=args.coverage, registry=registry, record_scores=args.record,
                           covariates=tuple(series.covariates), progress=_progress(bar))
    bar.close()
    if args.record and registry is not None:
        out["forecast_id"] = registry.save_forecast(series.key, args.horizon, out["model"]["name"],
                                                    out["model"]["version"], series.as_of, out["points"],
                                                    args.coverage)
    if not args.json:
        print(f"{series.symbol} {series.target} {series.bar}: {out['model']['name']} -- {out['router']['reason']}")
        print(_table(out["points"].to_dict("records"), ["step", "ts", "value", "median", "lower", "upper"]))
        iv = out["interval"]
        print(f"interval {iv['coverage_nominal']:.0%} nominal, measured {_fmt(iv['coverage_measured'])} "
              f"over {iv['coverage_measured_n']} CV outcomes; CV MASE {_fmt(out['cv']['mase'])}")
    return out


def _progress(bar: Any) -> Callable[[str, int, int], None]:
    def tick(name: str, k: int, total: int) -> None:
        if k == 0:
            bar.set_description(name)
            bar.total = (bar.total or 0) + total
            bar.refresh()
        bar.update(1)

    return tick


def _cv(args: argparse.Namespace, store: Any) -> dict[str, Any]:
    series = _load(args, store, args.target)
    names = args.models.split(",") if args.models else [s.name for s in available_specs()]
    cfg = CVConfig(horizon=args.horizon, scheme=args.scheme, folds=args.folds, step=args.step, purge=args.purge,
                   embargo=args.embargo, train_window=args.train_window)
    bar = _bar(0, "cv")
    ev = service.evaluate(series, names, cfg, covariates=tuple(series.covariates), coverage=args.coverage,
                          progress=_progress(bar), deadline=time.monotonic() + args.budget_s)
    bar.close()
    out: dict[str, Any] = {"cv": ev.run_info(), "rows": ev.table()}
    if args.record and store is not None:
        champion = service.record(Registry(store.cursor()), ev)
        out["champion"] = champion and champion["model"]
    if not args.json:
        print(_table(out["rows"], ["model", "status", "mase", "rel_mae", "smape", "rmse", "directional_accuracy",
                                   "coverage_measured", "fit_s", "predict_s", "error"]))
    return out


def _tune(args: argparse.Namespace, store: Any) -> dict[str, Any]:
    series = _load(args, store, args.target)
    cfg = CVConfig(horizon=args.horizon, scheme="expanding", folds=args.folds)
    from tqdm import tqdm

    with tqdm(total=args.trials, desc=f"tuning {args.model}", unit="trial", file=sys.stderr, leave=False) as bar:
        out = tune(series, args.model, cfg, budget_s=args.budget_s, max_trials=args.trials,
                   on_trial=lambda row: bar.update(1))
    if args.record and store is not None and out["best_params"] is not None:
        _record_tuned(Registry(store.cursor()), series, args, out)
    if not args.json:
        print(_table(out["trial_rows"], ["number", "state", "value", "folds_done", "params", "error"]))
        print(f"{out['status']}: best MASE {_fmt(out['best_value'])} (defaults {_fmt(out['default_value'])}), "
              f"{out['complete']} complete, {out['pruned']} pruned, {out['failed']} failed "
              f"in {out['elapsed_s']:.1f} s")
    return out


def _record_tuned(registry: Registry, series: TargetSeries, args: argparse.Namespace, out: dict[str, Any]) -> None:
    """Record the study and the tuned version with its CV score, so the router can pick it."""
    registry.record_tuning(series.key, args.horizon, args.model, out)
    cfg = CVConfig(horizon=args.horizon, scheme="expanding", folds=args.folds)
    ev = service.evaluate(series, [args.model], cfg, params={args.model: out["best_params"]}, ensembles=False)
    service.record(registry, ev)


def _backtest(args: argparse.Namespace, store: Any) -> dict[str, Any]:
    series = _load(args, store, "log_return")
    cfg = BacktestConfig(n_bars=args.n_bars, horizon=args.horizon, fee_bps=args.fee_bps,
                         slippage_bps=args.slippage_bps, refit_every=args.refit_every,
                         allow_short=not args.long_only)
    bar = _bar(args.n_bars, "backtest")
    out = service.backtest_model(series, args.model, cfg, on_fold=lambda k, r: bar.update(1))
    bar.close()
    if not args.json:
        keys = ["total_return", "sharpe", "hit_rate", "max_drawdown", "turnover_per_bar", "trades", "exposure",
                "costs_paid", "grade"]
        print(f"{out['model']} ({out['model_choice']}), {out['bars']} bars {out['from']} .. {out['to']}")
        print(_table([out], keys))
        print("buy and hold:", {k: _fmt(v) for k, v in out["buy_and_hold"].items()})
    return out


def _drift(args: argparse.Namespace, store: Any) -> dict[str, Any]:
    series = _load(args, store, args.target)
    registry = Registry(store.cursor()) if store else None
    out = service.drift_check(series, args.reference_bars, args.recent_bars, registry=registry, model=args.model)
    if args.record and registry is not None:
        registry.record_drift(series.key, out["findings"])
    if not args.json:
        print(_table(out["findings"], ["detector", "input", "statistic", "threshold", "drift", "detail"]))
        print(f"drift: {out['drift']}, retrain recommended: {out['retrain_recommended']} ({out['errors_from']})")
    return out


_HANDLERS: dict[str, Callable[[argparse.Namespace, Any], dict[str, Any]]] = {
    "run": _run, "cv": _cv, "tune": _tune, "backtest": _backtest, "drift": _drift,
}


def main(args: argparse.Namespace) -> None:
    """Run the parsed ``flowdesk forecast`` action; exit status 1 with a message on failure."""
    try:
        if args.forecast_action == "models":
            out = _models(args)
        else:
            with _store(args) as store:
                out = _HANDLERS[args.forecast_action](args, store)
    except ForecastError as exc:
        print(f"flowdesk forecast: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except Exception as exc:  # the store's lock and open errors come from another package
        if type(exc).__module__.startswith(("flowdesk.storage", "duckdb")):
            print(f"flowdesk forecast: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
        raise
    if args.json:
        print(json.dumps(_jsonable(out), indent=2))
