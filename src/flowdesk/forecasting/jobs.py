"""Scheduled forecasting: forecasts per symbol every few minutes, drift checks, retraining.

``flowdesk serve`` starts it through :func:`service` (the hook of ``flowdesk.services``), or by
hand::

    jobs = ForecastJobs.from_settings(settings, store.connection)
    task = asyncio.create_task(jobs.run(stop_event))

Settings (the ``forecasting`` section, :mod:`flowdesk.forecasting.config`; env
``FLOWDESK_FORECAST_*``): ``jobs`` (true) turns them on inside ``serve``, ``every_s`` (300),
``drift_every_s`` (3600), ``bar`` (1h), ``horizon`` (12) and ``targets``
(realized_vol, log_return) shape them.

Every ``every_s`` seconds (default 300) each job forecasts its series with the router's pick,
stores the forecast in the registry (``get_latest_forecast`` reads it) and, when an artifacts
folder is set, saves the fitted model and records its path and SHA-256. Every ``drift_every_s``
seconds it checks drift; when the check recommends retraining it re-runs CV of the eligible
models, records the scores and lets the registry re-elect the champion. The work runs in a
worker thread with its own DuckDB cursor, so the event loop is never blocked. A failing job is
logged and reported in :attr:`ForecastJobs.last`, and the others carry on. Setting the stop
event also stops a pass in progress after its current model fold, so shutdown is not held up.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import pickle
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from flowdesk.forecasting import service as svc
from flowdesk.forecasting.ensemble import EnsembleForecaster
from flowdesk.forecasting.errors import ForecastError
from flowdesk.forecasting.registry import Registry
from flowdesk.forecasting.router import check_priority, eligibility
from flowdesk.forecasting.series import SeriesKey, check_target, store_series

log = logging.getLogger(__name__)

DEFAULT_EVERY_S = 300.0
DEFAULT_DRIFT_EVERY_S = 3600.0
#: seconds a background retrain may spend scoring models (jobs run off the event loop)
RETRAIN_BUDGET_S = 600.0


class JobsStopped(Exception):
    """The stop event was set while a pass was running."""


@dataclass(frozen=True)
class JobSpec:
    """One scheduled forecast: a symbol's target at a bar size and horizon."""

    symbol: str
    target: str = "realized_vol"
    bar: str = "1h"
    horizon: int = 12
    priority: str = "fast"
    exchange: str | None = None  # None: the venue with the newest data for the symbol
    market: str | None = None


@dataclass
class JobOutcome:
    job: JobSpec
    kind: str  # "forecast", "drift" or "retrain"
    ok: bool
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def save_artifact(fitted: Any, folder: Path, key: SeriesKey, horizon: int, name: str) -> tuple[str, str]:
    """Pickle the fitted Darts model(s) of ``fitted`` with what maps their scale back to the
    target's (the log1p median and the time-of-day profile of a skewed target, when used);
    return the file path and its SHA-256."""
    members = fitted.members if isinstance(fitted, EnsembleForecaster) else [fitted]
    models = {m.name: m.darts_model for m in members}
    transforms = {m.name: m.transform for m in members}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key.exchange}_{key.market}_{key.symbol}_{key.target}_{key.bar}_h{horizon}_{name}.pkl"
    data = pickle.dumps({"model": name, "members": models, "transforms": transforms})
    path.write_bytes(data)
    return str(path), hashlib.sha256(data).hexdigest()


class ForecastJobs:
    """Scheduled forecasts and drift checks over one DuckDB connection."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, jobs: list[JobSpec], *,
                 every_s: float = DEFAULT_EVERY_S, drift_every_s: float = DEFAULT_DRIFT_EVERY_S,
                 lookback_bars: int = 2000, coverage: float = svc.DEFAULT_COVERAGE,
                 artifacts_dir: Path | None = None) -> None:
        if every_s <= 0 or drift_every_s <= 0:
            raise ForecastError("every_s and drift_every_s must be positive")
        for job in jobs:
            check_target(job.target)
            check_priority(job.priority)
        self.connection, self.jobs = connection, list(jobs)
        self.every_s, self.drift_every_s = every_s, drift_every_s
        self.lookback_bars, self.coverage, self.artifacts_dir = lookback_bars, coverage, artifacts_dir
        self.last: list[JobOutcome] = []
        self._halt = threading.Event()

    def _check_halt(self, *_: Any) -> None:
        """A progress hook: abandon the pass when the jobs are being stopped."""
        if self._halt.is_set():
            raise JobsStopped()

    @classmethod
    def from_settings(cls, settings: Any, connection: duckdb.DuckDBPyConnection,
                      targets: tuple[str, ...] = ("realized_vol", "log_return"), bar: str = "1h",
                      horizon: int = 12, **kwargs: Any) -> ForecastJobs:
        """One job per configured symbol and target; artifacts under ``<data_dir>/models``."""
        jobs = [JobSpec(sym, t, bar, horizon) for sym in settings.symbols for t in targets]
        kwargs.setdefault("artifacts_dir", Path(settings.data_dir) / "models")
        return cls(connection, jobs, **kwargs)

    # -- one pass of each kind (synchronous; run in a worker thread) ------------------------

    def _each(self, kind: str, work: Callable[[Registry, duckdb.DuckDBPyConnection, JobSpec], dict[str, Any]],
              ) -> list[JobOutcome]:
        cur = self.connection.cursor()
        out = []
        try:
            registry = Registry(cur)
            for job in self.jobs:
                if self._halt.is_set():
                    break
                try:
                    out.append(JobOutcome(job, kind, True, work(registry, cur, job)))
                except JobsStopped:
                    break
                except (ForecastError, duckdb.Error) as exc:
                    log.warning("forecast job %s %s/%s failed: %s", kind, job.symbol, job.target, exc)
                    out.append(JobOutcome(job, kind, False, error=str(exc)))
        finally:
            cur.close()
        self.last = out
        return out

    def _series(self, cur: duckdb.DuckDBPyConnection, job: JobSpec, lookback: int | None = None) -> Any:
        return store_series(cur, job.symbol, job.target, job.bar, exchange=job.exchange, market=job.market,
                            lookback_bars=lookback or self.lookback_bars)

    def _forecast(self, registry: Registry, cur: duckdb.DuckDBPyConnection, job: JobSpec) -> dict[str, Any]:
        series = self._series(cur, job)
        out = svc.forecast(series, job.horizon, priority=job.priority, coverage=self.coverage,
                               registry=registry, record_scores=True, keep_model=True,
                               progress=self._check_halt)
        name, version = out["model"]["name"], out["model"]["version"]
        fid = registry.save_forecast(series.key, job.horizon, name, version, series.as_of, out["points"],
                                     self.coverage)
        detail = {"forecast_id": fid, "model": name, "version": version, "as_of": series.as_of}
        if self.artifacts_dir is not None and version is not None:
            path, sha = save_artifact(out["fitted"], self.artifacts_dir, series.key, job.horizon, name)
            registry.set_artifact(series.key, job.horizon, name, version, path, sha)
            detail["artifact"] = path
        return detail

    def _drift(self, registry: Registry, cur: duckdb.DuckDBPyConnection, job: JobSpec) -> dict[str, Any]:
        series = self._series(cur, job, lookback=800)
        result = svc.drift_check(series, 500, 100, registry=registry, on_fold=self._check_halt)
        registry.record_drift(series.key, result["findings"])
        if result["retrain_recommended"]:
            result["retrain"] = self._retrain(registry, series, job)
        return result

    def _retrain(self, registry: Registry, series: Any, job: JobSpec) -> dict[str, Any]:
        names = [c["model"] for c in eligibility(series, job.horizon, job.priority, {}) if c["eligible"]]
        need = max(svc.build(n, series, job.horizon).min_length() for n in names)
        cfg = svc.calibration_config(series, job.horizon, need)
        deadline = time.monotonic() + RETRAIN_BUDGET_S
        ev = svc.evaluate(series, names, cfg, coverage=self.coverage, deadline=deadline,
                              progress=self._check_halt)
        champion = svc.record(registry, ev)
        return {"scored": len(ev.results), "champion": champion and champion["model"]}

    def forecast_once(self) -> list[JobOutcome]:
        """Forecast every job's series now and store the forecasts."""
        return self._each("forecast", self._forecast)

    def drift_once(self) -> list[JobOutcome]:
        """Check drift for every job's series now; retrain where recommended."""
        return self._each("drift", self._drift)

    def retrain_once(self) -> list[JobOutcome]:
        """Re-score the eligible models of every job now and re-elect champions."""
        return self._each("retrain", lambda reg, cur, job: self._retrain(reg, self._series(cur, job), job))

    # -- the loop -------------------------------------------------------------------------------

    async def run(self, stop_event: asyncio.Event) -> None:
        """Run forecasts every ``every_s`` and drift checks every ``drift_every_s`` seconds until
        ``stop_event`` is set. The first forecasts run at once; the first drift check after one
        drift period."""
        self._halt.clear()
        relay = asyncio.ensure_future(stop_event.wait())
        relay.add_done_callback(lambda _: self._halt.set())  # reaches the worker thread mid-pass
        try:
            await self._loop(stop_event)
        finally:
            relay.cancel()

    async def _loop(self, stop_event: asyncio.Event) -> None:
        next_forecast = time.monotonic()
        next_drift = next_forecast + self.drift_every_s
        while not stop_event.is_set():
            now = time.monotonic()
            if now >= next_forecast:
                await asyncio.to_thread(self.forecast_once)
                next_forecast = now + self.every_s
            if now >= next_drift and not stop_event.is_set():
                await asyncio.to_thread(self.drift_once)
                next_drift = now + self.drift_every_s
            wait = max(0.0, min(next_forecast, next_drift) - time.monotonic())
            with contextlib.suppress(TimeoutError):  # the wait timing out is the normal case
                await asyncio.wait_for(stop_event.wait(), timeout=wait)


def service(settings: Any, live: Any = None) -> Callable[[asyncio.Event], Any] | None:
    """The ``flowdesk serve`` hook: the jobs' run function over the served store, or None when
    the ``forecasting.jobs`` setting is false."""
    cfg = settings.forecasting
    if not cfg.jobs:
        return None
    from flowdesk.tools.context import get_context  # the store ``serve`` opened, not a second one

    jobs = ForecastJobs.from_settings(settings, get_context().connection, targets=cfg.targets, bar=cfg.bar,
                                      horizon=cfg.horizon, every_s=cfg.every_s, drift_every_s=cfg.drift_every_s)
    return jobs.run
