"""The ``features`` settings section, validated (see docs/features.md).

:mod:`flowdesk.settings` calls :func:`parse_features` and :func:`env_overrides`; errors are
:class:`~flowdesk.settings.SettingsError` naming the key, like every other setting.

Environment: ``FLOWDESK_FEATURES_ENABLED`` (true/false), ``FLOWDESK_FEATURES_CADENCE_S``,
``FLOWDESK_FEATURES_EXPORT_DIR``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowdesk.settings import SettingsError, _float, _int

_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}
_KEYS = {"enabled", "cadence_s", "export_dir", "warmup_s", "vpin_buckets_per_day", "vpin_window"}


@dataclass(frozen=True)
class FeatureSettings:
    """The live feature engine inside ``flowdesk serve`` and the export tools.

    ``export_dir`` None means ``<data_dir>/exports`` (see :func:`export_dir`).
    """

    enabled: bool = True
    cadence_s: float = 1.0
    export_dir: Path | None = None
    warmup_s: float = 900.0
    vpin_buckets_per_day: int = 1440
    vpin_window: int = 50


def _bool(raw: Any, key: str) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise SettingsError(f"setting '{key}': expected true or false, got {raw!r}")


def parse_features(raw: Any) -> FeatureSettings:
    """The ``features`` section (None or a mapping)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SettingsError("setting 'features': expected a mapping")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise SettingsError(f"setting 'features.{unknown[0]}': unknown key (known: {sorted(_KEYS)})")
    export = raw.get("export_dir")
    if export is not None and not str(export).strip():
        raise SettingsError("setting 'features.export_dir': expected a folder path or null")
    return FeatureSettings(
        enabled=_bool(raw.get("enabled", True), "features.enabled"),
        cadence_s=_float(raw.get("cadence_s", 1.0), "features.cadence_s", 0.1, 60),
        export_dir=None if export is None else Path(str(export)).expanduser(),
        warmup_s=_float(raw.get("warmup_s", 900), "features.warmup_s", 0, 86_400),
        vpin_buckets_per_day=_int(
            raw.get("vpin_buckets_per_day", 1440), "features.vpin_buckets_per_day", 10, 1_000_000
        ),
        vpin_window=_int(raw.get("vpin_window", 50), "features.vpin_window", 5, 10_000),
    )


def env_overrides(env: dict[str, str]) -> dict[str, Any]:
    """``features`` values from ``FLOWDESK_FEATURES_*`` variables (empty when none is set)."""
    names = {
        "FLOWDESK_FEATURES_ENABLED": "enabled",
        "FLOWDESK_FEATURES_CADENCE_S": "cadence_s",
        "FLOWDESK_FEATURES_EXPORT_DIR": "export_dir",
    }
    out = {key: env[var] for var, key in names.items() if env.get(var)}
    return {"features": out} if out else {}


def export_dir(settings: Any) -> Path:
    """Where export files go: ``features.export_dir``, else ``<data_dir>/exports``."""
    configured = settings.features.export_dir
    return Path(configured) if configured is not None else Path(settings.data_dir) / "exports"
