"""Drift detection on input distributions and on forecast errors.

Input drift compares a reference window of the series with the recent window:

* **KS**: two-sample Kolmogorov-Smirnov test; drift when the p-value is below ``alpha``.
  Serial dependence makes the p-value optimistic, so ``alpha`` defaults to 0.01.
* **PSI**: population stability index over the reference deciles (open-ended end bins);
  the customary reading is < 0.1 stable, 0.1-0.25 moderate, > 0.25 drift.

Error drift watches the stream of absolute forecast errors:

* **Page-Hinkley** on errors standardized by the reference part's mean and standard deviation:
  ``m_t = sum (x_i - mean_t - delta)``, alarm when ``m_t - min m > lambda``, restarting after
  an alarm. With
  ``delta = 0.1`` and ``lambda = 25`` (in standard deviations) the in-control run length of the
  equivalent CUSUM is about 9,000 bars (Siegmund's approximation) and a one-sigma rise in the
  error is flagged after about 28 bars.
* **ADWIN** (Bifet & Gavalda 2007) with the variance-based cut of the paper:
  ``eps = sqrt(2/m * var_W * ln(2/delta')) + 2/(3m) * ln(2/delta')`` with
  ``m = 1/(1/n0 + 1/n1)`` and ``delta' = delta / n`` (a union bound over the ``n`` split points
  of the window), checking every split of the window exactly.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from flowdesk.forecasting.errors import ForecastError


@dataclass(frozen=True)
class Finding:
    detector: str
    input: str  # "target values" or "forecast errors"
    statistic: float
    threshold: float
    drift: bool
    detail: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def ks_test(reference: np.ndarray, recent: np.ndarray, alpha: float = 0.01) -> Finding:
    res = stats.ks_2samp(reference, recent)
    p = float(res.pvalue)
    return Finding("ks", "target values", float(res.statistic), alpha, p < alpha,
                   f"KS statistic {float(res.statistic):.4f}, p-value {p:.3g} (drift when p < {alpha})")


def psi(reference: np.ndarray, recent: np.ndarray, bins: int = 10) -> float:
    """Population stability index of ``recent`` against the quantile bins of ``reference``."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    ref_counts = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1)
    new_counts = np.bincount(np.searchsorted(edges, recent, side="right"), minlength=len(edges) + 1)
    floor = 1e-4  # an empty bin would make the log infinite
    p = np.maximum(ref_counts / ref_counts.sum(), floor)
    q = np.maximum(new_counts / new_counts.sum(), floor)
    return float(np.sum((q - p) * np.log(q / p)))


def psi_check(reference: np.ndarray, recent: np.ndarray, threshold: float = 0.25) -> Finding:
    value = psi(reference, recent)
    level = "drift" if value > threshold else ("moderate shift" if value > 0.1 else "stable")
    return Finding("psi", "target values", value, threshold, value > threshold, f"PSI {value:.4f}: {level}")


def page_hinkley(x: np.ndarray, delta: float = 0.1, lam: float = 25.0) -> tuple[list[int], np.ndarray]:
    """Alarm indices of the Page-Hinkley test for a rise in the mean of ``x`` (standardized, so
    ``delta`` and ``lam`` are in its units), restarting after each alarm, and the statistic
    ``m_t - min(0, m_1..m_t)`` at every index."""
    alarms: list[int] = []
    stat = np.zeros(len(x))
    count, mean, m, m_min = 0, 0.0, 0.0, 0.0
    for i, v in enumerate(x):
        count += 1
        mean += (v - mean) / count
        m += v - mean - delta
        m_min = min(m_min, m)
        stat[i] = m - m_min
        if stat[i] > lam:
            alarms.append(i)
            count, mean, m, m_min = 0, 0.0, 0.0, 0.0
    return alarms, stat


class Adwin:
    """ADaptive WINdowing over a stream; :meth:`update` returns True when it cuts the window."""

    def __init__(self, delta: float = 0.002, max_window: int = 5000, min_side: int = 5) -> None:
        if not 0 < delta < 1:
            raise ForecastError("ADWIN delta must be between 0 and 1")
        self.delta, self.max_window, self.min_side = delta, max_window, min_side
        self.window: list[float] = []

    def eps_cut(self, n0: np.ndarray, n1: np.ndarray, variance: float) -> np.ndarray:
        n = n0 + n1
        m = 1.0 / (1.0 / n0 + 1.0 / n1)
        log_term = np.log(2.0 / (self.delta / n))
        return np.sqrt(2.0 / m * variance * log_term) + 2.0 / (3.0 * m) * log_term

    def _cut_point(self) -> int:
        """The largest split whose two sides differ by more than the bound, or 0."""
        w = np.asarray(self.window)
        n = len(w)
        if n < 2 * self.min_side:
            return 0
        split = np.arange(self.min_side, n - self.min_side + 1)
        csum = np.cumsum(w)
        mu0 = csum[split - 1] / split
        mu1 = (csum[-1] - csum[split - 1]) / (n - split)
        cut = np.abs(mu0 - mu1) > self.eps_cut(split.astype(float), (n - split).astype(float), float(w.var()))
        return int(split[cut][-1]) if cut.any() else 0

    def update(self, x: float) -> bool:
        self.window.append(float(x))
        if len(self.window) > self.max_window:
            self.window.pop(0)
        changed = False
        while (cut := self._cut_point()) > 0:
            del self.window[:cut]  # forget the older sub-window
            changed = True
        return changed


def adwin_changes(x: np.ndarray, delta: float = 0.002, max_window: int = 5000) -> list[int]:
    """Indices of ``x`` at which ADWIN cut its window."""
    detector = Adwin(delta, max_window)
    return [i for i, v in enumerate(x) if detector.update(v)]


def input_drift(reference: np.ndarray, recent: np.ndarray, alpha: float = 0.01,
                psi_threshold: float = 0.25) -> list[Finding]:
    """KS and PSI of the recent window against the reference window."""
    if len(reference) < 20 or len(recent) < 20:
        raise ForecastError("input drift needs at least 20 reference and 20 recent values")
    return [ks_test(reference, recent, alpha), psi_check(reference, recent, psi_threshold)]


def error_drift(errors: np.ndarray, n_reference: int, delta: float = 0.002, ph_delta: float = 0.1,
                ph_lambda: float = 25.0) -> list[Finding]:
    """Page-Hinkley and ADWIN on absolute ``errors``, of which the first ``n_reference`` are the
    reference period; only alarms after it count as drift."""
    a = np.abs(np.asarray(errors, dtype=float))
    if n_reference < 20 or len(a) - n_reference < 5:
        raise ForecastError("error drift needs at least 20 reference and 5 recent errors")
    ref = a[:n_reference]
    sd = float(ref.std()) or 1.0
    alarms, stat = page_hinkley((a - ref.mean()) / sd, ph_delta, ph_lambda)
    late = [i for i in alarms if i >= n_reference]
    peak = float(stat[n_reference:].max())
    where = f"; last alarm {len(a) - late[-1]} errors ago" if late else "; no alarm"
    early = len(alarms) - len(late)
    if early:
        where += f" ({early} alarm(s) inside the reference period)"
    ph = Finding("page_hinkley", "forecast errors", peak, ph_lambda, bool(late),
                 f"{len(late)} alarm(s) after the reference, max statistic {peak:.2f} "
                 f"(alarm > {ph_lambda} reference sd, restarts after an alarm){where}")
    cuts = [i for i in adwin_changes(a, delta) if i >= n_reference]
    ad = Finding("adwin", "forecast errors", float(len(cuts)), 0.0, bool(cuts),
                 f"{len(cuts)} window cut(s) after the reference period (delta {delta})"
                 + (f"; last {len(a) - cuts[-1]} errors ago" if cuts else ""))
    return [ph, ad]


def summarize(findings: list[Finding]) -> dict[str, object]:
    """Overall verdict: drift when any detector fires; retraining is recommended on error drift."""
    on_errors = any(f.drift for f in findings if f.input == "forecast errors")
    return {
        "drift": any(f.drift for f in findings),
        "retrain_recommended": on_errors or sum(f.drift for f in findings) >= 2,
        "findings": [f.as_dict() for f in findings],
    }


def ph_in_control_run_length(delta: float, lam: float) -> float:
    """Siegmund's approximation of the in-control average run length of a CUSUM with reference
    ``delta`` and threshold ``lam`` (standardized), the yardstick behind the defaults above."""
    b = lam + 1.166
    return (math.exp(2 * delta * b) - 2 * delta * b - 1) / (2 * delta**2)
