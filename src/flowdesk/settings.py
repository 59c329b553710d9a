"""Settings from defaults, a YAML file and ``FLOWDESK_*`` environment variables, validated.

Precedence (last wins): built-in defaults (``config/default.yaml``) < the YAML file named by
``--config`` or ``FLOWDESK_CONFIG`` < environment variables < command-line flags. Every value is
checked at start; a bad one raises :class:`SettingsError` whose message names the key.

Environment variables: ``FLOWDESK_HOST``, ``FLOWDESK_PORT``, ``FLOWDESK_DATA_DIR``,
``FLOWDESK_SYMBOLS`` (comma separated), ``FLOWDESK_RETENTION_DAYS``, ``FLOWDESK_LOG_LEVEL``,
``FLOWDESK_CONFIG`` and, per venue, ``FLOWDESK_<VENUE>_WS_URL`` / ``FLOWDESK_<VENUE>_REST_URL``
(e.g. ``FLOWDESK_BINANCE_USDM_WS_URL``). The ``crews`` section (LLM, schedules, shadow mode) is
validated by :mod:`flowdesk.crews.settings`; its variables are ``FLOWDESK_CREWS_*``. The
``redis`` and ``quoteflow`` sections are validated by :mod:`flowdesk.analytics.quoteflow.config`
(``REDIS_*``, ``FLOWDESK_REDIS_*``, ``PROCESSOR_INTERVAL``, ``FLOWDESK_QUOTEFLOW_*``). The
``features`` section is validated by :mod:`flowdesk.analytics.features.config`
(``FLOWDESK_FEATURES_*``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from flowdesk.analytics.features.config import FeatureSettings
    from flowdesk.analytics.quoteflow.config import QuoteflowSettings, RedisSettings
    from flowdesk.crews.settings import CrewSettings
    from flowdesk.forecasting.config import ForecastSettings

SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,20}$")
def known_streams(venue: str) -> frozenset[str]:
    """The stream names venue ``venue`` accepts (from its protocol description)."""
    from flowdesk.streaming.venues.registry import protocol

    return protocol(venue).streams


class SettingsError(ValueError):
    """An invalid setting; the message names the offending key."""


@dataclass(frozen=True)
class VenueSettings:
    name: str
    enabled: bool
    ws_url: str
    rest_url: str
    streams: tuple[str, ...]
    symbols: tuple[str, ...]
    depth_speed_ms: int = 100
    open_interest_poll_s: float = 10.0
    ticker_poll_s: float = 30.0
    snapshot_limit: int | None = None  # None: the venue protocol's own snapshot depth
    max_weight_per_minute: int | None = None  # None: the venue protocol's budget
    backfill_trades: bool = True
    taker_fee_bps: float | None = None  # None: the venue protocol's default taker fee


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8022
    data_dir: Path = Path("./data")
    retention_days: int = 7
    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")
    log_level: str = "INFO"
    book_snapshot_interval_s: float = 1.0
    book_snapshot_levels: int = 20
    depth_band_pcts: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
    writer_batch_rows: int = 20000
    writer_flush_interval_s: float = 0.5
    writer_queue_batches: int = 64
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 30.0
    stale_after_s: float = 30.0
    venues: dict[str, VenueSettings] = field(default_factory=dict)
    crews: CrewSettings = field(default_factory=lambda: _crews({}))
    redis: RedisSettings = field(default_factory=lambda: _redis({}))
    quoteflow: QuoteflowSettings = field(default_factory=lambda: _quoteflow({}))
    features: FeatureSettings = field(default_factory=lambda: _features({}))
    forecasting: ForecastSettings = field(default_factory=lambda: _forecasting({}))

    @property
    def db_path(self) -> Path:
        return self.data_dir / "flowdesk.duckdb"

    def enabled_venues(self) -> list[VenueSettings]:
        return [v for v in self.venues.values() if v.enabled]


def _default_yaml() -> dict[str, Any]:
    text = resources.files("flowdesk.config").joinpath("default.yaml").read_text()
    return yaml.safe_load(text) or {}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _env_overrides(env: dict[str, str], venue_names: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    plain = {
        "FLOWDESK_HOST": "host",
        "FLOWDESK_PORT": "port",
        "FLOWDESK_DATA_DIR": "data_dir",
        "FLOWDESK_RETENTION_DAYS": "retention_days",
        "FLOWDESK_LOG_LEVEL": "log_level",
    }
    for var, key in plain.items():
        if env.get(var):
            out[key] = env[var]
    if env.get("FLOWDESK_SYMBOLS"):
        out["symbols"] = [s.strip() for s in env["FLOWDESK_SYMBOLS"].split(",") if s.strip()]
    for name in venue_names:
        for suffix, key in (("WS_URL", "ws_url"), ("REST_URL", "rest_url")):
            var = f"FLOWDESK_{name.upper()}_{suffix}"
            if env.get(var):
                out.setdefault("venues", {}).setdefault(name, {})[key] = env[var]
    from flowdesk.crews.settings import env_overrides

    crews = env_overrides(env)
    if crews:
        out["crews"] = crews
    from flowdesk.analytics.features.config import env_overrides as features_env
    from flowdesk.analytics.quoteflow.config import env_overrides as quoteflow_env
    from flowdesk.forecasting.config import env_overrides as forecasting_env

    return _merge(_merge(_merge(out, quoteflow_env(env)), features_env(env)), forecasting_env(env))


def _int(raw: Any, key: str, lo: int, hi: int) -> int:
    try:
        value = int(str(raw))
    except ValueError:
        raise SettingsError(f"setting '{key}': expected an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise SettingsError(f"setting '{key}': {value} is outside {lo}..{hi}")
    return value


def _float(raw: Any, key: str, lo: float, hi: float) -> float:
    try:
        value = float(str(raw))
    except ValueError:
        raise SettingsError(f"setting '{key}': expected a number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise SettingsError(f"setting '{key}': {value} is outside {lo}..{hi}")
    return value


def _bool(raw: Any, key: str) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"true", "1", "yes", "on"}:
        return True
    if text in {"false", "0", "no", "off"}:
        return False
    raise SettingsError(f"setting '{key}': expected true or false, got {raw!r}")


def _symbols(raw: Any, key: str) -> tuple[str, ...]:
    if isinstance(raw, str):
        raw = [s.strip() for s in raw.split(",")]
    if not isinstance(raw, list) or not raw:
        raise SettingsError(f"setting '{key}': expected a non-empty list of symbols")
    out = []
    for s in raw:
        sym = str(s).upper()
        if not SYMBOL_RE.match(sym):
            raise SettingsError(f"setting '{key}': {s!r} is not a symbol like BTCUSDT")
        out.append(sym)
    return tuple(dict.fromkeys(out))


def _url(raw: Any, key: str, schemes: tuple[str, ...]) -> str:
    url = str(raw or "")
    if not url.startswith(schemes):
        raise SettingsError(f"setting '{key}': {url!r} must start with one of {schemes}")
    return url.rstrip("/")


def _crews(raw: Any) -> CrewSettings:
    from flowdesk.crews.settings import parse_crews  # the section's own validator

    return parse_crews(raw, _symbols)


def _redis(raw: Any) -> RedisSettings:
    from flowdesk.analytics.quoteflow.config import parse_redis  # the section's own validator

    return parse_redis(raw)


def _quoteflow(raw: Any) -> QuoteflowSettings:
    from flowdesk.analytics.quoteflow.config import parse_quoteflow

    return parse_quoteflow(raw)


def _features(raw: Any) -> FeatureSettings:
    from flowdesk.analytics.features.config import parse_features  # the section's own validator

    return parse_features(raw)


def _forecasting(raw: Any) -> ForecastSettings:
    from flowdesk.forecasting.config import parse_forecasting  # the section's own validator

    return parse_forecasting(raw)


def _venue(name: str, raw: Any, symbols: tuple[str, ...]) -> VenueSettings:
    from flowdesk.streaming.venues.registry import VENUE_MODULES, protocol

    if name not in VENUE_MODULES:
        raise SettingsError(f"setting 'venues.{name}': unknown venue (known: {sorted(VENUE_MODULES)})")
    if not isinstance(raw, dict):
        raise SettingsError(f"setting 'venues.{name}': expected a mapping")
    proto = protocol(name)
    streams = raw.get("streams") or list(proto.default_streams)
    unknown = [s for s in streams if s not in proto.streams] if isinstance(streams, list) else [streams]
    if unknown:
        raise SettingsError(f"setting 'venues.{name}.streams': unknown {unknown} (known: {sorted(proto.streams)})")
    k = f"venues.{name}"
    weight = raw.get("max_weight_per_minute")
    return VenueSettings(
        name=name,
        enabled=_bool(raw.get("enabled", True), f"{k}.enabled"),
        ws_url=_url(raw.get("ws_url") or proto.ws_url, f"{k}.ws_url", ("ws://", "wss://")),
        rest_url=_url(raw.get("rest_url") or proto.rest_url, f"{k}.rest_url", ("http://", "https://")),
        streams=tuple(streams),
        symbols=_symbols(raw["symbols"], f"{k}.symbols") if raw.get("symbols") else symbols,
        depth_speed_ms=_int(raw.get("depth_speed_ms", 100), f"{k}.depth_speed_ms", 0, 500),
        open_interest_poll_s=_float(raw.get("open_interest_poll_s", 10), f"{k}.open_interest_poll_s", 0.05, 3600),
        ticker_poll_s=_float(raw.get("ticker_poll_s", 30), f"{k}.ticker_poll_s", 0.05, 3600),
        snapshot_limit=None if raw.get("snapshot_limit") is None
        else _int(raw["snapshot_limit"], f"{k}.snapshot_limit", 5, 5000),
        max_weight_per_minute=None if weight is None else _int(weight, f"{k}.max_weight_per_minute", 1, 100000),
        backfill_trades=_bool(raw.get("backfill_trades", True), f"{k}.backfill_trades"),
        taker_fee_bps=None if raw.get("taker_fee_bps") is None
        else _float(raw["taker_fee_bps"], f"{k}.taker_fee_bps", 0, 100),
    )


def _build(raw: dict[str, Any]) -> Settings:
    known = set(Settings.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SettingsError(f"setting '{unknown[0]}': unknown key (known: {sorted(known)})")
    symbols = _symbols(raw.get("symbols", ["BTCUSDT", "ETHUSDT"]), "symbols")
    venues_raw = raw.get("venues") or {}
    if not isinstance(venues_raw, dict):
        raise SettingsError("setting 'venues': expected a mapping of venue name to settings")
    venues = {name: _venue(name, v, symbols) for name, v in venues_raw.items()}
    level = str(raw.get("log_level", "INFO")).upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise SettingsError(f"setting 'log_level': {level!r} is not DEBUG, INFO, WARNING or ERROR")
    pcts = raw.get("depth_band_pcts", [0.1, 0.25, 0.5, 1.0, 2.0, 5.0])
    if not isinstance(pcts, list) or not pcts:
        raise SettingsError("setting 'depth_band_pcts': expected a non-empty list of percents")
    return Settings(
        host=str(raw.get("host", "127.0.0.1")),
        port=_int(raw.get("port", 8022), "port", 0, 65535),
        data_dir=Path(str(raw.get("data_dir", "./data"))).expanduser(),
        retention_days=_int(raw.get("retention_days", 7), "retention_days", 1, 3650),
        symbols=symbols,
        log_level=level,
        book_snapshot_interval_s=_float(raw.get("book_snapshot_interval_s", 1.0), "book_snapshot_interval_s", 0.05, 3600),
        book_snapshot_levels=_int(raw.get("book_snapshot_levels", 20), "book_snapshot_levels", 1, 1000),
        depth_band_pcts=tuple(_float(p, "depth_band_pcts", 0.001, 50) for p in pcts),
        writer_batch_rows=_int(raw.get("writer_batch_rows", 20000), "writer_batch_rows", 1, 10_000_000),
        writer_flush_interval_s=_float(raw.get("writer_flush_interval_s", 0.5), "writer_flush_interval_s", 0.01, 60),
        writer_queue_batches=_int(raw.get("writer_queue_batches", 64), "writer_queue_batches", 1, 100000),
        reconnect_initial_s=_float(raw.get("reconnect_initial_s", 0.5), "reconnect_initial_s", 0.001, 60),
        reconnect_max_s=_float(raw.get("reconnect_max_s", 30), "reconnect_max_s", 0.01, 3600),
        stale_after_s=_float(raw.get("stale_after_s", 30), "stale_after_s", 0.1, 86400),
        venues=venues,
        crews=_crews(raw.get("crews")),
        redis=_redis(raw.get("redis")),
        quoteflow=_quoteflow(raw.get("quoteflow")),
        features=_features(raw.get("features")),
        forecasting=_forecasting(raw.get("forecasting")),
    )


def load_settings(
    config_path: str | Path | None = None,
    env: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """Load and validate settings; raise :class:`SettingsError` naming the bad key."""
    env = dict(os.environ if env is None else env)
    raw = _default_yaml()
    path = config_path or env.get("FLOWDESK_CONFIG")
    if path:
        p = Path(path)
        if not p.is_file():
            raise SettingsError(f"setting 'config': file {str(p)!r} does not exist")
        try:
            user = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            raise SettingsError(f"setting 'config': {p} is not valid YAML: {exc}") from None
        if not isinstance(user, dict):
            raise SettingsError(f"setting 'config': {p} must hold a mapping at the top level")
        raw = _merge(raw, user)
    raw = _merge(raw, _env_overrides(env, list((raw.get("venues") or {}).keys())))
    raw = _merge(raw, {k: v for k, v in (overrides or {}).items() if v is not None})
    return _build(raw)
