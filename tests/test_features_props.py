"""Property tests: bounded features stay in their ranges on random markets, and the
vectorised VPIN bucketing equals the incremental one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from flowdesk.analytics.features.book import BookSample
from flowdesk.analytics.features.engine import EngineParams
from flowdesk.analytics.features.vpin import Vpin, bucket_imbalances, seeded
from test_features_support import engine_over, liquidation, quote, trade

BASE = 1_723_161_600_000
#: feature -> (low, high) it must stay within
BOUNDS = {
    **{f"imbalance_l{k}": (-1, 1) for k in (1, 5, 10, 20)},
    "depth_imbalance_50bp": (-1, 1),
    **{f"efficiency_{w}": (0, 1) for w in ("1m", "5m", "15m")},
    "range_pos_5m": (0, 1),
    "whale_share_1m": (0, 1),
    "whale_imbalance_5m": (-1, 1),
    "vpin": (0, 1),
    "liq_clustering_15m": (-1, 1),
    "spread": (0, math.inf),
    **{f"rv_{w}": (0, math.inf) for w in ("1m", "5m", "15m")},
    "trade_size_p95_5m": (0, math.inf),
}


class RandomBook:
    """A random book around the newest mid at every boundary."""

    def __init__(self, rng: np.random.Generator, mid: list[float]) -> None:
        self.rng, self.mid = rng, mid

    def sample(self, t: int) -> BookSample:
        m, n = self.mid[0], int(self.rng.integers(1, 25))
        bids = [(m - 0.05 - i * 0.1, float(self.rng.exponential(2.0))) for i in range(n)]
        asks = [(m + 0.05 + i * 0.1, float(self.rng.exponential(2.0))) for i in range(int(self.rng.integers(1, 25)))]
        band = tuple(float(x) for x in self.rng.uniform(0, 1e6, 4))
        return BookSample(t, bids, asks, {0.1: band, 0.5: band, 1.0: band})  # type: ignore[arg-type]

    def near(self, mid: float, pct: float) -> None:
        return None


def random_market(seed: int, seconds: int = 1000) -> list:
    rng = np.random.default_rng(seed)
    mid, out = 100.0, []
    for k in range(seconds):
        t = BASE + k * 1000
        for j in range(int(rng.integers(0, 6))):
            mid *= math.exp(rng.normal(0, 5e-4))
            out.append(quote(t + j * 10, mid - 0.05, mid + 0.05, float(rng.exponential(3)), float(rng.exponential(3))))
            out.append(trade(t + j * 10 + 1, mid, float(rng.lognormal(0, 1.5)), "buy" if rng.random() < 0.5 else "sell", len(out)))
        if rng.random() < 0.05:
            out.append(liquidation(t + 500, "sell" if rng.random() < 0.5 else "buy", mid, float(rng.exponential(1))))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bounded_features_stay_in_range(seed: int) -> None:
    recs = random_market(seed)
    mid = [100.0]
    engine = engine_over([], EngineParams(vpin_buckets_per_day=20_000, vpin_window=10), book=RandomBook(np.random.default_rng(seed), mid))
    for rec in recs:
        engine.on_record(rec)
        if hasattr(rec, "bid"):
            mid[0] = (rec.bid + rec.ask) / 2
    seen: dict[str, int] = {}
    for row in engine.rows:
        assert math.isfinite(row.value), row
        bounds = BOUNDS.get(row.name)
        if bounds is not None:
            assert bounds[0] - 1e-12 <= row.value <= bounds[1] + 1e-12, row
            seen[row.name] = seen.get(row.name, 0) + 1
    assert set(seen) >= set(BOUNDS) - {"imbalance_l20"}, sorted(set(BOUNDS) - set(seen))


@pytest.mark.parametrize("seed", range(5))
def test_vectorised_vpin_equals_incremental(seed: int) -> None:
    rng = np.random.default_rng(seed)
    qty = rng.lognormal(0, 1.2, 3000)
    buy = rng.random(3000) < 0.55
    bucket = float(rng.uniform(2, 30))
    inc = Vpin(bucket, window=40)
    for q, b in zip(qty.tolist(), buy.tolist(), strict=True):
        inc.add(q, b)
    imbalances, left_buy, left_sell = bucket_imbalances(qty, buy, bucket)
    assert len(imbalances) == inc.buckets
    assert list(inc.imbalances) == pytest.approx(imbalances[-40:].tolist(), abs=1e-8)
    assert (inc.buy, inc.sell) == pytest.approx((left_buy, left_sell), abs=1e-8)
    assert 0.0 <= inc.value() <= 1.0
    assert seeded(qty, buy, bucket, 40).value() == pytest.approx(inc.value(), abs=1e-10)
