"""Anomalies and change points in any series (a feature, or a column of per-bar aggregates).

Detectors (see docs/signals.md#anomalies):

* ``zscore``: ``(x - mean) / sd`` of the previous ``window`` points (the point itself is not
  in its own baseline); flagged when ``|z| >= threshold`` (default 4);
* ``iqr``: outside ``[Q1 - k IQR, Q3 + k IQR]`` of the whole series (Tukey fences, default
  ``k = 3``); the score is the distance beyond the fence in IQRs;
* ``isolation_forest``: scikit-learn's IsolationForest on (value, first difference), fixed
  seed 0 so a series always gives the same answer; ``contamination`` is the expected share of
  anomalies (default ``"auto"``, the paper's threshold).

Change points use ``ruptures`` (Truong, Oudre and Vayatis, "Selective review of offline change
point detection methods", Signal Processing 167, 2020): PELT with a penalty (default
``2 * sd^2 * log(n)``, sd from the median absolute first difference: a BIC-like penalty on a
robust noise estimate) or binary segmentation with a number of breakpoints or the penalty.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

METHODS = ("zscore", "iqr", "isolation_forest")
CHANGEPOINT_METHODS = ("pelt", "binseg")
CHANGEPOINT_MODELS = ("l2", "l1", "rbf")


def zscore(x: np.ndarray, window: int, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(flags, z) with a trailing baseline of ``window`` points (at least 10 needed)."""
    s = pd.Series(x)
    base = s.shift(1).rolling(window, min_periods=max(10, window // 4))
    mean, sd = base.mean(), base.std()
    z = ((s - mean) / sd.where(sd > 0)).to_numpy()
    return np.abs(np.nan_to_num(z, nan=0.0)) >= threshold, z


def iqr(x: np.ndarray, k: float) -> tuple[np.ndarray, np.ndarray]:
    """(flags, score): score is how many IQRs beyond the nearer fence (0 inside)."""
    ok = x[np.isfinite(x)]
    q1, q3 = np.quantile(ok, [0.25, 0.75])
    spread = q3 - q1
    lo, hi = q1 - k * spread, q3 + k * spread
    beyond = np.where(x > hi, x - hi, np.where(x < lo, lo - x, 0.0))
    score = beyond / spread if spread > 0 else np.where(beyond > 0, np.inf, 0.0)
    return (x < lo) | (x > hi), score


def isolation_forest(x: np.ndarray, contamination: float | str) -> tuple[np.ndarray, np.ndarray]:
    """(flags, score): score is the forest's anomaly score (higher = more anomalous)."""
    from sklearn.ensemble import IsolationForest

    diff = np.diff(x, prepend=x[0])
    data = np.column_stack([x, diff])
    model = IsolationForest(n_estimators=200, contamination=contamination, random_state=0)
    labels = model.fit_predict(data)
    return labels == -1, -model.score_samples(data)


def detect(x: np.ndarray, method: str, threshold: float | None, window: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Run one detector on a finite series; (flags, scores, the parameters used)."""
    if method == "zscore":
        thr = 4.0 if threshold is None else threshold
        flags, score = zscore(x, window, thr)
        return flags, score, {"window": window, "threshold": thr}
    if method == "iqr":
        k = 3.0 if threshold is None else threshold
        flags, score = iqr(x, k)
        return flags, score, {"k": k}
    contamination: float | str = "auto" if threshold is None else threshold
    flags, score = isolation_forest(x, contamination)
    return flags, score, {"contamination": contamination, "n_estimators": 200, "random_state": 0}


def default_penalty(x: np.ndarray) -> float:
    """``2 * sd^2 * log(n)`` with sd = 1.4826 * MAD(first differences) / sqrt(2)."""
    d = np.diff(x)
    mad = float(np.median(np.abs(d - np.median(d)))) if len(d) else 0.0
    sd = 1.4826 * mad / np.sqrt(2.0)
    if sd <= 0:
        sd = float(np.std(x)) or 1.0
    return float(2.0 * sd * sd * np.log(max(len(x), 2)))


def changepoints(
    x: np.ndarray, method: str, model: str, penalty: float | None, n_bkps: int | None, min_size: int
) -> tuple[list[int], dict[str, Any]]:
    """Indices where a new segment starts (ascending) and the parameters used."""
    import ruptures as rpt

    signal = x.reshape(-1, 1)
    params: dict[str, Any] = {"method": method, "model": model, "min_size": min_size}
    if method == "pelt":
        pen = default_penalty(x) if penalty is None else penalty
        if model == "rbf" and penalty is None:
            pen = float(np.log(max(len(x), 2)))  # rbf costs live on a unit scale
        ends = rpt.Pelt(model=model, min_size=min_size, jump=1).fit(signal).predict(pen=pen)
        params["penalty"] = pen
    else:
        algo = rpt.Binseg(model=model, min_size=min_size, jump=1).fit(signal)
        if n_bkps is not None:
            ends = algo.predict(n_bkps=n_bkps)
            params["n_bkps"] = n_bkps
        else:
            pen = default_penalty(x) if penalty is None else penalty
            ends = algo.predict(pen=pen)
            params["penalty"] = pen
    return [int(e) for e in ends[:-1]], params  # ruptures ends every list with len(x)


def segment_stats(x: np.ndarray, starts: list[int]) -> list[dict[str, Any]]:
    """Mean, sd and length of each segment between change points."""
    bounds = [0, *starts, len(x)]
    return [
        {"start": a, "end": b - 1, "points": b - a, "mean": float(np.mean(x[a:b])), "sd": float(np.std(x[a:b]))}
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
