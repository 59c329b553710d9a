"""Golden tests: each feature on constructed inputs against values computed by hand.

Times: boundaries sit on whole seconds (cadence 1 s) from ``BASE``. A record at second ``k``
(``BASE + k*1000 + 500``) is counted in the interval that the boundary ``BASE + (k+1)*1000``
closes, when the first record of second ``k + 1`` arrives.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from flowdesk import records as r
from flowdesk.analytics.features import book as bk
from flowdesk.analytics.features.engine import EngineParams, Seed
from flowdesk.analytics.features.rolling import burstiness
from flowdesk.analytics.features.vpin import Vpin
from test_features_support import (
    engine_over,
    liquidation,
    mark,
    open_interest,
    quote,
    trade,
)

BASE = 1_723_161_600_000  # 2024-08-09 00:00:00 UTC, a day start
S = 1000


def at(k: int) -> int:
    return BASE + k * S + 500


def ticks(n: int, mid: float = 100.0) -> list:
    """One unchanged quote per second for ``n`` seconds (keeps boundaries closing)."""
    return [quote(at(k), mid - 0.05, mid + 0.05) for k in range(n)]


def test_prices_from_the_newest_quote() -> None:
    e = engine_over([quote(at(0), 100.0, 100.2, 3.0, 1.0), quote(at(1), 100.0, 100.2, 3.0, 1.0)])
    v = e.latest
    assert v["mid"] == pytest.approx(100.1)
    assert v["spread"] == pytest.approx(0.2)
    assert v["spread_bps"] == pytest.approx(0.2 / 100.1 * 1e4)
    assert v["microprice"] == pytest.approx((100.0 * 1.0 + 100.2 * 3.0) / 4.0)  # leans to the ask


def test_volatility_return_and_efficiency_over_one_minute() -> None:
    # log mid path: +1 per second for 40 s, then -1 for 20 s (steps of 0.001)
    steps = [0] + [1] * 40 + [-1] * 20
    levels = np.cumsum(steps)
    recs = [quote(at(k), 100 * math.exp(0.001 * lv) - 1e-4, 100 * math.exp(0.001 * lv) + 1e-4)
            for k, lv in enumerate(levels)]
    recs.append(quote(at(61), 100.0, 100.0002))  # closes the boundary at second 61
    v = engine_over(recs).latest
    assert v["rv_1m"] == pytest.approx(math.sqrt(60 * 1e-6) * 1e4, rel=1e-6)  # 77.46 bps
    assert v["return_1m"] == pytest.approx(20 * 0.001 * 1e4, rel=1e-6)  # net +20 steps
    assert v["efficiency_1m"] == pytest.approx(20 / 60, rel=1e-6)


def test_windowed_features_wait_for_a_full_window() -> None:
    e = engine_over(ticks(59))
    assert "rv_1m" not in e.latest and "volume_1m" not in e.latest
    assert "mid" in e.latest


def test_volumes_streak_sizes_and_intensity() -> None:
    recs = ticks(62)
    sides = ["buy", "buy", "sell", "sell", "sell"]
    qtys = [1.0, 2.0, 3.0, 4.0, 10.0]
    recs += [trade(at(30) + i, 100.0, q, s, i + 1) for i, (q, s) in enumerate(zip(qtys, sides, strict=True))]
    recs.sort(key=lambda x: x.ts)
    v = engine_over(recs).latest
    assert v["volume_1m"] == pytest.approx(20.0)
    assert v["signed_volume_1m"] == pytest.approx(3.0 - 17.0)
    assert v["aggressor_streak"] == -3 and v["max_streak_1m"] == 3
    assert v["trade_intensity_1m"] == pytest.approx(5 / 60)
    assert v["trade_size_mean_1m"] == pytest.approx(4.0)


def test_size_quantiles_over_five_minutes() -> None:
    recs = ticks(302) + [trade(at(10) + i, 100.0, float(i + 1), "buy", i + 1) for i in range(100)]
    recs.sort(key=lambda x: x.ts)
    v = engine_over(recs).latest
    assert v["trade_size_p50_5m"] == pytest.approx(np.quantile(np.arange(1, 101), 0.5))
    assert v["trade_size_p95_5m"] == pytest.approx(np.quantile(np.arange(1, 101), 0.95))


def test_whale_threshold_then_share_and_imbalance() -> None:
    recs = ticks(310)
    recs += [trade(at(1) + i, 100.0, float(i + 1), "buy", i + 1) for i in range(100)]
    # the threshold is the 95th percentile of 1..100 (95.05) when these two trade
    recs += [trade(at(290), 100.0, 200.0, "sell", 500), trade(at(291), 100.0, 5.0, "buy", 501)]
    recs.sort(key=lambda x: x.ts)
    v = engine_over(recs).latest
    assert v["whale_threshold"] == pytest.approx(np.quantile(np.r_[np.arange(1, 101), 200.0, 5.0], 0.95))
    assert v["whale_share_1m"] == pytest.approx(200.0 / 205.0)
    assert v["whale_imbalance_5m"] == pytest.approx(-1.0)  # the only whale trade was a sell


def test_cvd_is_anchored_at_the_day_start_when_seeded() -> None:
    recs = [trade(at(1), 100.0, 2.0, "buy", 1), trade(at(2), 100.0, 0.5, "sell", 2), quote(at(3), 99.95, 100.05)]
    v = engine_over(recs, seed=Seed(cvd=5.0, cvd_anchor=BASE)).latest
    assert v["cvd"] == pytest.approx(6.5)
    assert "cvd" not in engine_over(recs).latest  # no anchor: the day's start was not seen


def test_cvd_slope_per_minute() -> None:
    recs = ticks(62) + [trade(at(k), 100.0, 0.5, "buy", k + 1) for k in range(62)]  # +0.5 per s
    recs.sort(key=lambda x: (x.ts, type(x).__name__))
    v = engine_over(recs).latest
    assert v["cvd_slope_1m"] == pytest.approx(30.0)  # 0.5 per second = 30 per minute


def test_ofi_from_best_level_changes() -> None:
    recs = ticks(5)
    recs += [
        quote(at(5), 100.0, 101.0, 5.0, 5.0),
        quote(at(5) + 1, 100.0, 101.0, 7.0, 5.0),  # bid size +2 at the same price: e = +2
        quote(at(5) + 2, 100.5, 101.0, 3.0, 4.0),  # bid up (+3); ask size 5 -> 4 (-4 + 5): e = +4
        quote(at(5) + 3, 100.5, 100.8, 3.0, 2.0),  # ask down: e = -2 (new ask qty)
    ]
    recs += [quote(at(k), 100.5, 100.8, 3.0, 2.0) for k in range(6, 62)]  # unchanged: e = 0
    e = engine_over(recs)
    # the first constant quotes at 99.95/100.05 -> (100, 101): bid up +5, ask up +1 (old ask qty)
    assert e.latest["ofi_1m"] == pytest.approx(5.0 + 1.0 + 2.0 + 4.0 - 2.0)


def test_kyle_lambda_recovers_a_known_impact() -> None:
    rng = np.random.default_rng(7)
    lam = 2.0  # bps per 1M quote currency of signed notional
    mid, recs = 100.0, []
    for k in range(320):
        qty = float(rng.uniform(100, 2000))
        side = "buy" if rng.random() < 0.5 else "sell"
        signed = qty * 100.0 * (1 if side == "buy" else -1)
        mid *= math.exp(lam * signed / 1e6 / 1e4)
        recs += [trade(at(k), 100.0, qty, side, k + 1), quote(at(k) + 1, mid - 0.001, mid + 0.001)]
    recs.append(quote(at(320), mid - 0.001, mid + 0.001))
    assert engine_over(recs).latest["kyle_lambda_5m"] == pytest.approx(lam, rel=1e-6)


def test_vpin_buckets_split_trades() -> None:
    v = Vpin(10.0, window=2)
    v.add(15.0, True)  # bucket 1: 10 buy (imbalance 10); 5 buy carried over
    v.add(5.0, False)  # bucket 2: 5 buy + 5 sell (imbalance 0)
    assert list(v.imbalances) == [10.0, 0.0] and v.buckets == 2
    assert v.value() == pytest.approx((10 + 0) / (2 * 10))
    v.add(3.0, False)
    assert (v.buy, v.sell) == (0.0, 3.0) and v.value() == pytest.approx(0.5)


def test_vpin_calibrates_bucket_volume_from_the_first_five_minutes() -> None:
    p = EngineParams(vpin_buckets_per_day=1440, vpin_window=5)
    recs = [trade(BASE + k * 10_000, 100.0, 1.0, "buy" if k % 3 else "sell", k + 1) for k in range(60)]
    e = engine_over(recs, p)
    # 31 trades over the first 300 s -> 31 / 300 s * 86400 s / 1440 buckets = 6.2 per bucket
    assert e._vpin.bucket_volume == pytest.approx(31 * 86_400 / 300 / 1440)
    assert e._vpin.buckets == int(60 // e._vpin.bucket_volume)


def test_funding_basis_and_mark_features() -> None:
    nxt = BASE + 3_600_000
    recs = [quote(at(0), 100.0, 100.2), trade(at(0), 100.3, 1.0, "buy", 1),
            mark(at(0), 100.2, 100.0, 0.0001, nxt), quote(at(1), 100.0, 100.2)]
    v = engine_over(recs).latest
    assert v["funding_rate"] == 0.0001
    assert v["funding_annualized_pct"] == pytest.approx(0.0001 * 3 * 365 * 100)  # 10.95 %
    assert v["time_to_funding_s"] == pytest.approx((nxt - (BASE + S)) / 1000)
    assert v["mark_premium_bps"] == pytest.approx(20.0)
    assert v["basis_bps"] == pytest.approx((100.1 - 100.0) / 100.0 * 1e4)
    assert v["mark_last_dev_bps"] == pytest.approx((100.3 - 100.2) / 100.2 * 1e4)
    assert "funding_z" not in v  # no funding history yet


def test_funding_z_against_seeded_history() -> None:
    history = [(BASE - (120 - i) * 60_000, 0.0001 if i % 2 else 0.0003) for i in range(120)]
    rates = np.array([x for _, x in history] + [0.0005])
    recs = [mark(at(0), 100.0, 100.0, 0.0005), quote(at(0), 99.9, 100.1), quote(at(1), 99.9, 100.1)]
    v = engine_over(recs, seed=Seed(funding=history)).latest
    assert v["funding_z"] == pytest.approx((0.0005 - rates.mean()) / rates.std(ddof=1))


def test_open_interest_changes_quadrant_and_leverage() -> None:
    recs = ticks(310)
    recs += [open_interest(BASE + k * 10_000, 1000.0 + k) for k in range(31)]  # +1 per 10 s
    recs += [mark(at(k), 100.0, 100.0, 0.0001) for k in range(0, 310, 10)]
    recs.append(r.Ticker24h("binance", "usdm", "BTCUSDT", 100, 99, 101, 98, 5000, 515_000.0, 1.0, 10, at(300), 0))
    recs.sort(key=lambda x: x.ts)
    # price rises over the last 5 minutes
    recs += [quote(at(310), 101.0, 101.1), quote(at(311), 101.0, 101.1)]
    v = engine_over(recs).latest
    assert v["oi"] == 1030.0
    assert v["oi_value"] == pytest.approx(1030.0 * 100.0)
    # the boundary is second 311: five minutes earlier the newest observation is 1001 (at 10 s)
    assert v["oi_change_5m_pct"] == pytest.approx((1030 / 1001 - 1) * 100)
    assert "oi_change_1h_pct" not in v  # no observation an hour back
    assert v["oi_price_quadrant"] == 1.0  # OI up and price up: new longs
    assert v["quote_volume_24h"] == 515_000.0
    assert v["leverage_proxy"] == pytest.approx(1030.0 * 100.0 / 515_000.0)


def test_liquidation_windows_cascade_and_clustering() -> None:
    recs = ticks(902)
    recs += [liquidation(at(100), "sell", 100.0, 2.0), liquidation(at(500), "buy", 100.0, 1.0)]
    recs += [liquidation(at(880) + i, "sell", 100.0, 1.0) for i in range(3)]  # a burst
    recs.sort(key=lambda x: x.ts)
    v = engine_over(recs).latest
    assert v["liq_long_count_15m"] == 4 and v["liq_short_count_15m"] == 1
    assert v["liq_long_notional_15m"] == pytest.approx(500.0)
    assert v["liq_long_count_5m"] == 3 and v["liq_short_notional_5m"] == 0.0
    assert v["liq_cascade_intensity"] == pytest.approx(300.0 / (600.0 / 15))
    times = [at(100), at(500), at(880), at(880) + 1, at(880) + 2]
    assert v["liq_clustering_15m"] == pytest.approx(burstiness(times))


def test_liquidation_features_absent_when_the_stream_is_not_collected() -> None:
    v = engine_over(ticks(902), EngineParams(liquidations=False)).latest
    assert not any(k.startswith("liq_") for k in v)


def test_burstiness_bounds() -> None:
    assert burstiness([0, 10, 20, 30]) == pytest.approx(-1.0)  # perfectly regular
    assert burstiness([0, 1]) != burstiness([0, 1])  # NaN below three events


# ------------------------------------------------------------------------------- book


SAMPLE = bk.BookSample(
    1,
    [(100.0, 2.0), (99.9, 1.0), (99.8, 1.0), (99.7, 30.0), (99.6, 1.0)],
    [(100.1, 1.0), (100.2, 3.0), (100.3, 1.0), (100.4, 1.0), (100.5, 1.0)],
    {0.1: (3.0, 4.0, 299.9, 400.7), 0.5: (35.0, 7.0, 3490.0, 701.5), 1.0: (35.0, 7.0, 3490.0, 701.5)},
)


def test_book_imbalance_depth_and_walls() -> None:
    f = bk.book_features(SAMPLE)
    assert f["imbalance_l1"] == pytest.approx((2 - 1) / 3)
    assert f["imbalance_l5"] == pytest.approx((35 - 7) / 42)
    assert "imbalance_l10" not in f  # only five levels sampled
    assert (f["depth_bid_10bp"], f["depth_ask_50bp"]) == (299.9, 701.5)
    assert f["depth_imbalance_50bp"] == pytest.approx((3490 - 701.5) / (3490 + 701.5))
    assert f["wall_bid_ratio"] == pytest.approx(30.0 / 7.0)  # mean qty 7: below the wall ratio
    assert "wall_bid_dist_bps" not in f


def test_book_slope_is_quantity_per_bp() -> None:
    mid = 100.05
    levels = [(mid - d * mid / 1e4, 2.0) for d in (1, 2, 3, 4)]  # 2 units per bp from the mid
    assert bk.slope(levels, mid) == pytest.approx(2.0)


def test_wall_found_moved_and_pulled() -> None:
    bids = [(100.0, 1.0), (99.9, 1.0), (99.8, 1.0), (99.7, 50.0), *[(99.6 - i / 10, 1.0) for i in range(6)]]
    asks = [(100.1 + i / 10, 1.0) for i in range(10)]
    first = bk.BookSample(1, bids, asks, {})
    ratio, wall = bk.find_wall(bids, first.mid())
    assert wall is not None and wall.price == 99.7 and ratio == pytest.approx(50 / 5.9)
    tracker = bk.WallTracker()
    assert tracker.update(first) == {}
    moved = [(p, 1.0 if p == 99.7 else q) for p, q in bids]
    moved[5] = (99.5, 50.0)  # the wall moved 0.2 further from the mid
    out = tracker.update(bk.BookSample(2, moved, asks, {}))
    assert out["wall_bid_move_bps"] == pytest.approx((99.7 - 99.5) / first.mid() * 1e4)
    assert out["wall_bid_pulled"] == pytest.approx(49.0 * 99.7)  # 49 of 50 left without a trade


def test_wall_reached_by_price_is_not_a_pull() -> None:
    old = bk.Wall(99.7, 50.0, 3.5)
    assert bk._pulled("bid", old, [(99.7, 1.0), (99.6, 1.0)]) == 0.0  # price traded down to it
    assert bk._pulled("bid", old, [(100.5, 1.0), (100.4, 1.0)]) is None  # no longer sampled


def test_add_cancel_counts_changes_near_the_touch() -> None:
    ac = bk.AddCancel()
    near_b, near_a = bk.near((np.array([100.0, 90.0]), np.array([5.0, 7.0]), np.array([100.2]), np.array([4.0])), 100.1, 0.5)
    assert near_b == {100.0: 5.0} and near_a == {100.2: 4.0}  # 90.0 is outside the 0.5% band
    ac.reset(near_b, near_a, 100.1, 0)
    ac.on_levels([(100.0, 8.0), (90.0, 0.0), (99.9, 2.0)], [(100.2, 1.0)])
    # +3 at 100.0, +2 new at 99.9 (90.0 ignored), -3 at 100.2
    assert ac.take() == (5.0, 3.0)
    assert ac.take() == (0.0, 0.0)
    assert not ac.needs_reset(100.12, 1_000) and ac.needs_reset(100.2, 1_000) and ac.needs_reset(100.1, 30_000)


def test_scan_matches_the_order_book_definitions() -> None:
    from flowdesk.streaming.book import OrderBook

    rng = np.random.default_rng(3)
    book = OrderBook()
    book.bids = {round(100 - i * 0.1, 1): float(rng.uniform(0.1, 5)) for i in range(300)}
    book.asks = {round(100.1 + i * 0.1, 1): float(rng.uniform(0.1, 5)) for i in range(300)}
    sample, arrays = bk.scan(book.bids, book.asks, 5, 20)
    assert (sample.bids, sample.asks) == book.top(20)
    for pct in bk.BAND_NAMES:
        assert sample.bands[pct] == pytest.approx(book.depth_within(pct), rel=1e-12)
    near_b, near_a = bk.near(arrays, book.mid(), 0.5)
    assert near_b == {p: q for p, q in book.bids.items() if p >= book.mid() * 0.995}
    assert near_a == {p: q for p, q in book.asks.items() if p <= book.mid() * 1.005}


def test_windows_start_again_after_a_gap_in_the_data() -> None:
    recs = ticks(70) + [quote(at(k), 99.95, 100.05) for k in range(600, 640)]
    e = engine_over(recs)
    assert "rv_1m" not in e.latest and "volume_1m" not in e.latest  # 39 s since the gap
    e = engine_over(recs + [quote(at(k), 99.95, 100.05) for k in range(640, 662)])
    assert e.latest["volume_1m"] == 0.0 and "rv_1m" in e.latest


def test_vwap_and_distance_from_it_over_fifteen_minutes() -> None:
    recs = ticks(902) + [trade(at(10), 100.0, 1.0, "buy", 1), trade(at(20), 102.0, 3.0, "sell", 2)]
    recs.sort(key=lambda x: x.ts)
    v = engine_over(recs).latest
    assert v["vwap_15m"] == pytest.approx((100 * 1 + 102 * 3) / 4)  # 101.5
    sd = math.sqrt((1 * 100**2 + 3 * 102**2) / 4 - 101.5**2)  # sqrt(0.75)
    assert v["vwap_dev_15m"] == pytest.approx((100.0 - 101.5) / sd)


def test_five_minute_range_and_position() -> None:
    recs = ticks(650) + [quote(at(650), 100.95, 101.05)] + ticks(702)[651:]
    v = engine_over(recs).latest  # boundary at 701: the one-second spike to 101 is in the window
    assert v["range_5m_bps"] == pytest.approx((101 - 100) / 100 * 1e4)
    assert v["range_pos_5m"] == pytest.approx(0.0)  # back at the low


def test_spread_z_score_against_five_minutes_of_samples() -> None:
    recs = ticks(301) + [quote(at(301), 99.85, 100.15), quote(at(302), 99.85, 100.15)]
    v = engine_over(recs).latest
    samples = np.array([0.1 / 100 * 1e4] * 299 + [0.3 / 100 * 1e4])
    assert v["spread_z_5m"] == pytest.approx((samples[-1] - samples.mean()) / samples.std(ddof=1))
