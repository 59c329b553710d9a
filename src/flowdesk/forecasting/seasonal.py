"""Intraday (diurnal) seasonality of volatility-like targets.

Intraday volatility and volume follow the clock: the Asian, European and American sessions,
the minute after each hour and quarter hour (hourly candles close, funding, scheduled orders).
Andersen and Bollerslev (1997, *Intraday periodicity and volatility persistence in financial
markets*) show that a model of volatility persistence fitted without removing this pattern
mistakes the pattern for dynamics; they divide it out first and put it back for the forecast.

:class:`DiurnalProfile` does this on the log scale the engine already uses for skewed targets
(``z = log1p(y / median)``), where a multiplicative pattern is additive:

* components by bar size: bars of an hour or more, the bar's position in the day (24 buckets
  for hourly bars); shorter bars, hour of day (24) plus minute of hour (``60 / bar`` buckets),
  fitted additively by backfitting (the minute-per-day grid would leave a handful of days per
  bucket);
* each bucket's effect is the mean of ``z`` there minus the overall mean, shrunk towards zero by
  the empirical-Bayes (James-Stein) factor ``tau^2 / (tau^2 + s^2 / n_k)``: ``tau^2`` the spread
  of the true effects (the spread of the bucket means less their sampling variance), ``s^2`` the
  within-bucket variance, ``n_k`` the bucket's count. A pattern that is not there is shrunk to
  (almost) nothing instead of adding noise;
* it is estimated from the bars handed to ``fit`` only (the last :data:`PROFILE_BARS` of them),
  and evaluated at the forecast timestamps, which are known in advance: no look-ahead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: bars the profile is estimated from (the most recent before the cutoff; the largest training
#: cap in the catalog): about 14 months of hourly bars, 7 days of minute bars
PROFILE_BARS = 10_000
_BACKFIT_ROUNDS = 4


def bar_minutes_of(index: pd.DatetimeIndex) -> int | None:
    """Minutes per bar of a regular index (its ``freq``, else the first step), None if unknown."""
    step = pd.Timedelta(index.freq) if index.freq is not None else (
        index[1] - index[0] if len(index) > 1 else None)
    if step is None or step <= pd.Timedelta(0):
        return None
    minutes = step / pd.Timedelta(minutes=1)
    return int(minutes) if minutes == int(minutes) else None


def is_intraday(bar_minutes: int | None) -> bool:
    """Whether bars of ``bar_minutes`` divide a day into two or more (a diurnal profile exists)."""
    return bar_minutes is not None and 0 < bar_minutes < 1440 and 1440 % bar_minutes == 0


def diurnal_keys(index: pd.DatetimeIndex, bar_minutes: int) -> list[tuple[np.ndarray, int]]:
    """The bucket of every bar per component, with the number of buckets: position in the day
    for bars of an hour or more; hour of day and minute of hour for shorter bars."""
    minute_of_day = np.asarray(index.hour * 60 + index.minute)
    if bar_minutes >= 60:
        return [(minute_of_day // bar_minutes, 1440 // bar_minutes)]
    keys = [(np.asarray(index.hour), 24)]
    if 60 % bar_minutes == 0:
        keys.append((np.asarray(index.minute) // bar_minutes, 60 // bar_minutes))
    return keys


def shrunk_means(resid: np.ndarray, key: np.ndarray, n_buckets: int) -> np.ndarray:
    """Per-bucket means of ``resid`` (centred), shrunk towards zero by the empirical-Bayes factor
    ``tau^2 / (tau^2 + s^2 / n_k)``; empty buckets get zero."""
    counts = np.bincount(key, minlength=n_buckets).astype(float)
    sums = np.bincount(key, weights=resid, minlength=n_buckets)
    seen = counts > 0
    if seen.sum() < 2:
        return np.zeros(n_buckets)
    means = np.zeros(n_buckets)
    means[seen] = sums[seen] / counts[seen]
    within = float(np.sum((resid - means[key]) ** 2) / max(len(resid) - seen.sum(), 1))
    sampling = within / counts[seen]
    tau2 = max(float(np.var(means[seen], ddof=1)) - float(np.mean(sampling)), 0.0)
    out = np.zeros(n_buckets)
    if tau2 > 0:
        out[seen] = means[seen] * tau2 / (tau2 + sampling)
    return out - np.average(out[seen], weights=counts[seen]) * seen


@dataclass(frozen=True)
class DiurnalProfile:
    """Additive time-of-day effects on the model scale; ``profile(index)`` evaluates them."""

    bar_minutes: int
    effects: tuple[np.ndarray, ...]

    @classmethod
    def fit(cls, index: pd.DatetimeIndex, z: np.ndarray, bar_minutes: int) -> DiurnalProfile:
        """Estimate the profile of ``z`` observed at ``index`` (already restricted by the caller
        to bars before the cutoff)."""
        keys = diurnal_keys(index, bar_minutes)
        resid = np.asarray(z, dtype=float) - float(np.mean(z))
        effects = [np.zeros(n) for _, n in keys]
        rounds = _BACKFIT_ROUNDS if len(keys) > 1 else 1
        for _ in range(rounds):
            for i, (key, n) in enumerate(keys):
                partial = resid + effects[i][key]
                effects[i] = shrunk_means(partial, key, n)
                resid = partial - effects[i][key]
        return cls(bar_minutes, tuple(effects))

    def __call__(self, index: pd.DatetimeIndex) -> np.ndarray:
        keys = diurnal_keys(index, self.bar_minutes)
        return np.sum([eff[key] for eff, (key, _) in zip(self.effects, keys, strict=True)], axis=0)

    @property
    def amplitude(self) -> float:
        """Largest minus smallest sum of effects over the buckets (a size for notes and tests)."""
        total = np.add.outer(*self.effects) if len(self.effects) == 2 else self.effects[0]
        return float(np.max(total) - np.min(total))


def future_index(index: pd.DatetimeIndex, n: int, bar_minutes: int) -> pd.DatetimeIndex:
    """The ``n`` bar timestamps after ``index``."""
    step = pd.Timedelta(minutes=bar_minutes)
    return pd.DatetimeIndex([index[-1] + step * (i + 1) for i in range(n)])
