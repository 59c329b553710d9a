"""Size and ratio thresholds for the quote-flow patterns, per ticker.

Two presets:

* ``classic_options`` — the absolute numbers of classic equity-options flow reading: large
  size 10k, stacking 5k, absorption average 8k with a 15k peak, iceberg refills at 5k, sweeps
  of 15k, momentum shift at 2:1 lifts/drops, absorption price range 0.02.
* ``relative`` (default) — the same proportions, scaled to the ticker's own recent displayed
  sizes: ``large_size`` is the 95th percentile of the bid and ask sizes seen over the reference
  window (the last 300 s), and every other size threshold keeps its classic ratio to it
  (stacking 0.5x, absorption average 0.8x and peak 1.5x, iceberg 0.5x, sweep 1.5x). The
  absorption price range is the median spread of the quotes examined. So one rule set works
  for an option quoted in contracts and for BTCUSDT quoted in coins.

Per-ticker overrides pick a preset and/or set any field of :class:`Thresholds` explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

PRESETS = ("relative", "classic_options")
#: the quantile of recent displayed sizes that counts as "large" in the relative preset
LARGE_QUANTILE = 0.95
#: fewest sizes (bid and ask pooled) needed to derive relative thresholds
MIN_REFERENCE_SIZES = 100

#: size thresholds as multiples of ``large_size`` (the classic preset's own proportions)
SIZE_RATIOS: dict[str, float] = {
    "large_size": 1.0,
    "stacking_size": 0.5,
    "absorption_avg_size": 0.8,
    "absorption_max_size": 1.5,
    "iceberg_size": 0.5,
    "sweep_size": 1.5,
}
CLASSIC_LARGE = 10_000.0


@dataclass(frozen=True)
class Thresholds:
    """Everything the detectors compare against. Sizes are in the ticker's own units."""

    preset: str
    large_size: float
    stacking_size: float
    absorption_avg_size: float
    absorption_max_size: float
    iceberg_size: float
    sweep_size: float
    momentum_ratio: float = 2.0  # lifts:drops (or drops:lifts) for a momentum shift
    min_moves: int = 10  # lifts + drops needed before a ratio means anything
    stacking_growth: float = 1.5  # last size / first size over the stacking run
    stacking_quotes: int = 5
    absorption_quotes: int = 10
    absorption_range: float | None = None  # None: the median spread of the quotes examined
    iceberg_refills: int = 3

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


#: fields a per-ticker override may set (everything but the preset's name)
OVERRIDABLE = tuple(f.name for f in fields(Thresholds) if f.name != "preset")
_INT_FIELDS = {"min_moves", "stacking_quotes", "absorption_quotes", "iceberg_refills"}


def _scaled(preset: str, large: float, **extra: Any) -> Thresholds:
    sizes = {name: large * ratio for name, ratio in SIZE_RATIOS.items()}
    return Thresholds(preset=preset, **sizes, **extra)


def classic_options() -> Thresholds:
    """The absolute preset of classic options flow."""
    return _scaled("classic_options", CLASSIC_LARGE, absorption_range=0.02)


def relative(sizes: np.ndarray) -> Thresholds | None:
    """Thresholds scaled to ``sizes`` (recent bid and ask sizes pooled); None when fewer than
    :data:`MIN_REFERENCE_SIZES` or when the quantile is zero (no displayed size at all)."""
    if sizes.shape[0] < MIN_REFERENCE_SIZES:
        return None
    large = float(np.quantile(sizes, LARGE_QUANTILE))
    if large <= 0:
        return None
    return _scaled("relative", large)


class ThresholdOverrideError(ValueError):
    """A bad per-ticker override: ``field`` names the threshold, the message says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def check_override(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validate one ticker's override mapping; :class:`ThresholdOverrideError` names the field."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "preset":
            if value not in PRESETS:
                raise ThresholdOverrideError(key, f"{value!r} is not one of {list(PRESETS)}")
            out[key] = value
            continue
        if key not in OVERRIDABLE:
            raise ThresholdOverrideError(key, f"unknown threshold (known: preset, {', '.join(OVERRIDABLE)})")
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ThresholdOverrideError(key, f"expected a positive number, got {value!r}")
        out[key] = int(value) if key in _INT_FIELDS else float(value)
    return out


@dataclass(frozen=True)
class ThresholdConfig:
    """The configured preset plus per-ticker overrides (already validated)."""

    preset: str = "relative"
    per_ticker: Mapping[str, Mapping[str, Any]] | None = None

    def resolve(self, ticker: str, reference_sizes: np.ndarray) -> tuple[Thresholds | None, str | None]:
        """The ticker's thresholds, or ``(None, reason)`` when the relative preset has too
        little history to scale from."""
        override = dict((self.per_ticker or {}).get(ticker, {}))
        preset = override.pop("preset", self.preset)
        base = classic_options() if preset == "classic_options" else relative(reference_sizes)
        if base is None:
            if "large_size" not in override:
                return None, (
                    f"relative size thresholds need {MIN_REFERENCE_SIZES} recent sizes with a "
                    f"non-zero {LARGE_QUANTILE:.0%} quantile, have {reference_sizes.shape[0]}"
                )
            base = _scaled("custom", float(override["large_size"]))
        return (replace(base, **override) if override else base), None
