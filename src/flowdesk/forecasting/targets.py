"""Forecast targets and bar sizes: names and properties, without the data stack.

Kept apart from :mod:`flowdesk.forecasting.series` (pandas, DuckDB) so that settings
validation can check a target or bar size without importing them.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowdesk.forecasting.errors import ForecastError

BAR_MINUTES: dict[str, int] = {
    "1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "2h": 120,
    "4h": 240, "6h": 360, "12h": 720, "1d": 1440,
}


@dataclass(frozen=True)
class TargetInfo:
    description: str
    level: bool  # a non-stationary level: tree models forecast its first differences instead
    nonneg: bool  # never below zero: interval bounds are clipped at zero
    store_only: bool = False
    skewed: bool = False  # positive and right-skewed: models work on log1p(y / median)


TARGETS: dict[str, TargetInfo] = {
    "close": TargetInfo("bar close price", level=True, nonneg=True),
    "log_return": TargetInfo("ln(close_t / close_t-1)", level=False, nonneg=False),
    "realized_vol": TargetInfo("per-bar realized volatility of log returns", level=False, nonneg=True,
                               skewed=True),
    "volume": TargetInfo("base-unit volume in the bar", level=False, nonneg=True, skewed=True),
    "funding": TargetInfo("funding rate, last value in the bar", level=False, nonneg=False, store_only=True),
    "open_interest": TargetInfo("open interest, last value in the bar", level=True, nonneg=True, store_only=True),
}
_ALIASES = {
    "returns": "log_return", "return": "log_return", "rv": "realized_vol",
    "volatility": "realized_vol", "price": "close", "oi": "open_interest", "funding_rate": "funding",
}


def check_target(target: str) -> str:
    """The canonical target name for ``target`` (aliases accepted) or :class:`ForecastError`."""
    name = _ALIASES.get(target.strip().lower(), target.strip().lower())
    if name not in TARGETS:
        raise ForecastError(f"unknown target {target!r}; known: {sorted(TARGETS)}")
    return name
