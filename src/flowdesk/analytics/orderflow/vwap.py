"""Session VWAP and its standard-deviation bands.

VWAP = Σ(p·q) / Σq over the session's trades. The bands use the volume-weighted standard
deviation of trade prices around the VWAP, σ = sqrt(Σ(q·p²)/Σq − VWAP²), at VWAP ± k·σ.
The sums come from the same DuckDB scan as the volume profile (one pass per session).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: band multiples reported (1σ, 2σ, 3σ)
BAND_MULTIPLES = (1, 2, 3)


@dataclass(frozen=True)
class Vwap:
    vwap: float
    stdev: float
    volume: float

    def as_dict(self) -> dict[str, object]:
        """``vwap``, ``stdev``, ``volume`` and ``bands`` (``upper_k``/``lower_k`` per k)."""
        bands = {}
        for k in BAND_MULTIPLES:
            bands[f"upper_{k}"] = self.vwap + k * self.stdev
            bands[f"lower_{k}"] = self.vwap - k * self.stdev
        return {"vwap": self.vwap, "stdev": self.stdev, "volume": self.volume, "bands": bands}


def vwap_from_sums(sum_q: float, sum_pq: float, sum_ppq: float) -> Vwap | None:
    """VWAP and σ from the three sums; None when there is no volume."""
    if sum_q <= 0:
        return None
    vwap = sum_pq / sum_q
    variance = max(sum_ppq / sum_q - vwap * vwap, 0.0)  # float noise can make it -0.0
    return Vwap(vwap=vwap, stdev=math.sqrt(variance), volume=sum_q)


def vwap_of(volume: np.ndarray, sum_pq: np.ndarray, sum_ppq: np.ndarray) -> Vwap | None:
    """Session VWAP from per-row volume, Σpq and Σp²q (a profile's rows)."""
    return vwap_from_sums(float(np.sum(volume)), float(np.sum(sum_pq)), float(np.sum(sum_ppq)))
