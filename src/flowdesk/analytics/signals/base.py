"""The pieces every composite signal is made of.

A signal is a documented formula over named features. Its formula returns :class:`Part` s:
each a component value (already mapped to [0, 1] or [-1, 1]), a weight and the features it
read. :func:`weighted` combines the available parts (NaN = missing input) and gives the
confidence: the share of the total weight whose inputs were present. Everything works on
numpy arrays as well as on single values, so the same formula serves the live snapshot and
the event study over a whole history.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

Array = np.ndarray


class Inputs:
    """Feature values by name (floats or equal-length arrays); a missing feature reads as NaN."""

    def __init__(self, values: Mapping[str, Any], length: int | None = None) -> None:
        self.values = values
        self.shape: tuple[int, ...] = () if length is None else (length,)

    def __getitem__(self, name: str) -> Array:
        v = self.values.get(name)
        if v is None:
            return np.full(self.shape, np.nan)
        return np.asarray(v, dtype=np.float64)


@dataclass
class Part:
    """One component: ``value`` in the signal's scale, its ``weight`` and input features."""

    name: str
    value: Array
    weight: float
    features: tuple[str, ...]


def unit(x: Array, lo: float, hi: float) -> Array:
    """Linear map of ``[lo, hi]`` onto [0, 1], clipped (NaN stays NaN)."""
    return np.clip((np.asarray(x, dtype=np.float64) - lo) / (hi - lo), 0.0, 1.0)


def squash(x: Array, scale: float) -> Array:
    """``tanh(x / scale)``: a signed value mapped into (-1, 1)."""
    return np.tanh(np.asarray(x, dtype=np.float64) / scale)


def ratio(num: Array, den: Array) -> Array:
    """``num / den`` where ``den`` is positive, else NaN (never a made-up zero)."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def weighted(parts: list[Part]) -> tuple[Array, Array]:
    """Weighted mean of the parts present at each point, and the confidence (weight present /
    total weight). Where nothing is present the value is NaN and the confidence 0."""
    total = sum(p.weight for p in parts)
    num = 0.0
    got = 0.0
    for p in parts:
        ok = np.isfinite(p.value)
        num = num + np.where(ok, p.value, 0.0) * p.weight
        got = got + np.where(ok, p.weight, 0.0)
    got_arr = np.asarray(got, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(got_arr > 0, np.asarray(num) / np.where(got_arr > 0, got_arr, 1.0), np.nan)
    return value, got_arr / total


def confidence_of(parts: list[Part]) -> Array:
    """Share of the parts' total weight whose value is present."""
    return weighted(parts)[1]


PREDICTS: dict[int | str, str] = {
    1: "an up move",
    -1: "a down move",
    0: "the size of the next move (absolute return, either way)",
    "sign": "a move in the sign of the value",
    "direction": "a move in the direction it reports",
}


@dataclass(frozen=True)
class SignalSpec:
    """A composite signal: value range, the formula in words, default event threshold and what
    it predicts (``expect``, a key of :data:`PREDICTS`)."""

    name: str
    lo: float
    hi: float
    formula: str
    threshold: float
    expect: int | str
    cross_venue: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "range": [self.lo, self.hi],
            "formula": self.formula,
            "event_threshold": self.threshold,
            "predicts": PREDICTS[self.expect],
        }


@dataclass
class Evaluated:
    """A signal over one or many points: value, confidence, its parts, labels, direction."""

    spec: SignalSpec
    value: Array
    confidence: Array
    parts: list[Part]
    labels: Any = None  # text per point, where the signal has one (e.g. the phase name)
    direction: Any = None  # +1/-1 per point: the move a [0, 1] score predicts, where it has one
