"""The ``redis`` and ``quoteflow`` settings sections, validated (see docs/quoteflow.md).

:mod:`flowdesk.settings` calls :func:`parse_redis`, :func:`parse_quoteflow` and
:func:`env_overrides`; errors are :class:`~flowdesk.settings.SettingsError` naming the key,
like every other setting.

Environment: ``REDIS_HOST``, ``REDIS_PORT``, ``REDIS_DB``, ``REDIS_PASSWORD`` (each also as
``FLOWDESK_REDIS_*``, which wins), ``PROCESSOR_INTERVAL`` / ``FLOWDESK_QUOTEFLOW_INTERVAL_S``,
``FLOWDESK_QUOTEFLOW_ENABLED`` (true/false/auto), ``FLOWDESK_QUOTEFLOW_TICKERS`` (comma
separated), ``FLOWDESK_QUOTEFLOW_THRESHOLDS`` (preset) and ``FLOWDESK_QUOTEFLOW_PUBLISH_CRYPTO``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flowdesk.analytics.quoteflow.thresholds import PRESETS, ThresholdOverrideError, check_override
from flowdesk.settings import SettingsError, _float, _int

TICKER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/+-]{0,63}$")
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


@dataclass(frozen=True)
class RedisSettings:
    """Redis for quote-flow analysis. ``host`` None means not configured: the tools still try
    127.0.0.1, but the background processor stays off unless ``quoteflow.enabled`` is true."""

    host: str | None = None
    port: int = 6379
    db: int = 0
    password: str | None = field(default=None, repr=False)
    timeout_s: float = 2.0

    @property
    def configured(self) -> bool:
        return self.host is not None

    @property
    def address(self) -> str:
        return self.host or "127.0.0.1"


@dataclass(frozen=True)
class QuoteflowSettings:
    """The quote-flow processor (see docs/quoteflow.md). ``enabled`` None means auto: on when
    ``redis.host`` is configured."""

    enabled: bool | None = None
    tickers: tuple[str, ...] = ()  # empty: discover orderflow:quotes:* keys
    interval_s: float = 1.0
    discovery_interval_s: float = 30.0
    thresholds_preset: str = "relative"
    ticker_thresholds: dict[str, dict[str, Any]] = field(default_factory=dict)
    publish_crypto_quotes: bool = False
    publish_interval_s: float = 0.1
    publish_retention_s: float = 900.0
    ticker_budget_ms: float = 100.0

    def processor_enabled(self, redis: RedisSettings) -> bool:
        return redis.configured if self.enabled is None else self.enabled


def _bool(raw: Any, key: str, allow_auto: bool = False) -> bool | None:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if allow_auto and text in {"auto", "none", ""}:
        return None
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    choices = "true, false or auto" if allow_auto else "true or false"
    raise SettingsError(f"setting '{key}': expected {choices}, got {raw!r}")


def _section(raw: Any, key: str, known: set[str]) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SettingsError(f"setting '{key}': expected a mapping")
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SettingsError(f"setting '{key}.{unknown[0]}': unknown key (known: {sorted(known)})")
    return raw


def parse_redis(raw: Any) -> RedisSettings:
    """The ``redis`` section."""
    r = _section(raw, "redis", {"host", "port", "db", "password", "timeout_s"})
    host = r.get("host")
    if host is not None and not re.match(r"^[A-Za-z0-9._:\[\]-]+$", str(host)):
        raise SettingsError(f"setting 'redis.host': {host!r} is not a host name or address")
    return RedisSettings(
        host=None if host in (None, "") else str(host),
        port=_int(r.get("port", 6379), "redis.port", 1, 65535),
        db=_int(r.get("db", 0), "redis.db", 0, 1_000_000),
        password=None if r.get("password") in (None, "") else str(r["password"]),
        timeout_s=_float(r.get("timeout_s", 2.0), "redis.timeout_s", 0.05, 60),
    )


def _tickers(raw: Any, key: str) -> tuple[str, ...]:
    if isinstance(raw, str):
        raw = [s.strip() for s in raw.split(",") if s.strip()]
    if not isinstance(raw, list):
        raise SettingsError(f"setting '{key}': expected a list of tickers")
    for t in raw:
        if not TICKER_RE.match(str(t)):
            raise SettingsError(f"setting '{key}': {t!r} is not a ticker (letters, digits, . _ : / + -)")
    return tuple(dict.fromkeys(str(t) for t in raw))


def _thresholds(raw: Any) -> tuple[str, dict[str, dict[str, Any]]]:
    th = _section(raw, "quoteflow.thresholds", {"preset", "per_ticker"})
    preset = str(th.get("preset", "relative"))
    if preset not in PRESETS:
        raise SettingsError(f"setting 'quoteflow.thresholds.preset': {preset!r} is not one of {list(PRESETS)}")
    per = th.get("per_ticker") or {}
    if not isinstance(per, dict):
        raise SettingsError("setting 'quoteflow.thresholds.per_ticker': expected a mapping of ticker to thresholds")
    out = {}
    for ticker, override in per.items():
        _tickers([ticker], "quoteflow.thresholds.per_ticker")
        if not isinstance(override, dict):
            raise SettingsError(f"setting 'quoteflow.thresholds.per_ticker.{ticker}': expected a mapping")
        try:
            out[str(ticker)] = check_override(override)
        except ThresholdOverrideError as exc:
            key = f"quoteflow.thresholds.per_ticker.{ticker}.{exc.field}"
            raise SettingsError(f"setting '{key}': {exc.reason}") from None
    return preset, out


def parse_quoteflow(raw: Any) -> QuoteflowSettings:
    """The ``quoteflow`` section."""
    known = {f for f in QuoteflowSettings.__dataclass_fields__ if f not in {"thresholds_preset", "ticker_thresholds"}}
    q = _section(raw, "quoteflow", known | {"thresholds"})
    preset, per_ticker = _thresholds(q.get("thresholds"))
    k = "quoteflow"
    return QuoteflowSettings(
        enabled=_bool(q.get("enabled", "auto"), f"{k}.enabled", allow_auto=True),
        tickers=_tickers(q.get("tickers") or [], f"{k}.tickers"),
        interval_s=_float(q.get("interval_s", 1.0), f"{k}.interval_s", 0.05, 3600),
        discovery_interval_s=_float(q.get("discovery_interval_s", 30), f"{k}.discovery_interval_s", 1, 86400),
        thresholds_preset=preset,
        ticker_thresholds=per_ticker,
        publish_crypto_quotes=bool(_bool(q.get("publish_crypto_quotes", False), f"{k}.publish_crypto_quotes")),
        publish_interval_s=_float(q.get("publish_interval_s", 0.1), f"{k}.publish_interval_s", 0.01, 60),
        publish_retention_s=_float(q.get("publish_retention_s", 900), f"{k}.publish_retention_s", 300, 86400),
        ticker_budget_ms=_float(q.get("ticker_budget_ms", 100), f"{k}.ticker_budget_ms", 1, 60000),
    )


def env_overrides(env: dict[str, str]) -> dict[str, Any]:
    """``REDIS_*`` (``FLOWDESK_REDIS_*`` wins), ``PROCESSOR_INTERVAL`` and ``FLOWDESK_QUOTEFLOW_*``."""
    out: dict[str, Any] = {}
    pairs = {
        ("redis", "host"): ("REDIS_HOST", "FLOWDESK_REDIS_HOST"),
        ("redis", "port"): ("REDIS_PORT", "FLOWDESK_REDIS_PORT"),
        ("redis", "db"): ("REDIS_DB", "FLOWDESK_REDIS_DB"),
        ("redis", "password"): ("REDIS_PASSWORD", "FLOWDESK_REDIS_PASSWORD"),
        ("quoteflow", "interval_s"): ("PROCESSOR_INTERVAL", "FLOWDESK_QUOTEFLOW_INTERVAL_S"),
        ("quoteflow", "enabled"): ("FLOWDESK_QUOTEFLOW_ENABLED",),
        ("quoteflow", "tickers"): ("FLOWDESK_QUOTEFLOW_TICKERS",),
        ("quoteflow", "publish_crypto_quotes"): ("FLOWDESK_QUOTEFLOW_PUBLISH_CRYPTO",),
    }
    for (section, key), names in pairs.items():
        for name in names:  # later names win
            if env.get(name):
                out.setdefault(section, {})[key] = env[name]
    if env.get("FLOWDESK_QUOTEFLOW_THRESHOLDS"):
        out.setdefault("quoteflow", {})["thresholds"] = {"preset": env["FLOWDESK_QUOTEFLOW_THRESHOLDS"]}
    return out
