"""The ``forecasting`` settings section: the scheduled jobs inside ``flowdesk serve``.

:mod:`flowdesk.settings` calls :func:`parse_forecasting` and :func:`env_overrides`; errors are
:class:`~flowdesk.settings.SettingsError` naming the key, like every other setting.

Environment: ``FLOWDESK_FORECAST_JOBS`` (true/false), ``FLOWDESK_FORECAST_EVERY_S``,
``FLOWDESK_FORECAST_DRIFT_EVERY_S``, ``FLOWDESK_FORECAST_BAR``, ``FLOWDESK_FORECAST_HORIZON``,
``FLOWDESK_FORECAST_TARGETS`` (comma-separated).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flowdesk.forecasting.errors import ForecastError
from flowdesk.forecasting.targets import BAR_MINUTES, check_target
from flowdesk.settings import SettingsError, _bool, _float, _int

_KEYS = {"jobs", "every_s", "drift_every_s", "bar", "horizon", "targets"}
_ENV = {
    "FLOWDESK_FORECAST_JOBS": "jobs",
    "FLOWDESK_FORECAST_EVERY_S": "every_s",
    "FLOWDESK_FORECAST_DRIFT_EVERY_S": "drift_every_s",
    "FLOWDESK_FORECAST_BAR": "bar",
    "FLOWDESK_FORECAST_HORIZON": "horizon",
    "FLOWDESK_FORECAST_TARGETS": "targets",
}


@dataclass(frozen=True)
class ForecastSettings:
    """What the scheduled forecast and drift jobs do (docs/forecasting.md, "Jobs and CLI")."""

    jobs: bool = True  # run the jobs inside ``flowdesk serve``
    every_s: float = 300.0  # seconds between forecast passes
    drift_every_s: float = 3600.0  # seconds between drift checks
    bar: str = "1h"  # bar size of the scheduled series
    horizon: int = 12  # bars ahead
    targets: tuple[str, ...] = ("realized_vol", "log_return")  # per symbol


def parse_forecasting(raw: Any) -> ForecastSettings:
    """The ``forecasting`` section (None or a mapping)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SettingsError("setting 'forecasting': expected a mapping")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise SettingsError(f"setting 'forecasting.{unknown[0]}': unknown key (known: {sorted(_KEYS)})")
    bar = str(raw.get("bar", "1h"))
    if bar not in BAR_MINUTES:
        raise SettingsError(f"setting 'forecasting.bar': {bar!r} is not one of {list(BAR_MINUTES)}")
    return ForecastSettings(
        jobs=_bool(raw.get("jobs", True), "forecasting.jobs"),
        every_s=_float(raw.get("every_s", 300), "forecasting.every_s", 5, 86_400),
        drift_every_s=_float(raw.get("drift_every_s", 3600), "forecasting.drift_every_s", 5, 7 * 86_400),
        bar=bar,
        horizon=_int(raw.get("horizon", 12), "forecasting.horizon", 1, 1000),
        targets=_targets(raw.get("targets", ["realized_vol", "log_return"])),
    )


def _targets(raw: Any) -> tuple[str, ...]:
    items = [t.strip() for t in raw.split(",")] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items or not all(isinstance(t, str) and t for t in items):
        raise SettingsError("setting 'forecasting.targets': expected a non-empty list of targets")
    try:
        names = [check_target(t) for t in items]
    except ForecastError as exc:
        raise SettingsError(f"setting 'forecasting.targets': {exc}") from None
    return tuple(dict.fromkeys(names))


def env_overrides(env: dict[str, str]) -> dict[str, Any]:
    """``forecasting`` values from ``FLOWDESK_FORECAST_*`` variables (empty when none is set)."""
    out = {key: env[var].strip() for var, key in _ENV.items() if env.get(var, "").strip()}
    return {"forecasting": out} if out else {}
