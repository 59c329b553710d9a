"""Quote-flow analytics on constructed quote sequences: golden results per pattern, metrics by
their definitions, levels, behaviours and thresholds (pure functions, no Redis)."""

from __future__ import annotations

import numpy as np
import pytest

from flowdesk.analytics.quoteflow.analysis import analyze
from flowdesk.analytics.quoteflow.levels import significant_levels
from flowdesk.analytics.quoteflow.metrics import window_metrics
from flowdesk.analytics.quoteflow.quotes import (
    QuoteArrays,
    QuoteFormatError,
    parse_member,
    parse_members,
)
from flowdesk.analytics.quoteflow.thresholds import (
    ThresholdConfig,
    ThresholdOverrideError,
    check_override,
    classic_options,
)
from quoteflow_sequences import arrays, baseline, held, then, trend

NOW = 1_700_000_000_000
RELATIVE = ThresholdConfig()
CLASSIC = ThresholdConfig("classic_options")


def run(rows: list, config: ThresholdConfig = RELATIVE, ticker: str = "T"):
    q = arrays(rows)
    return analyze(q, ticker, int(q.ts[-1]), config)


def found(a) -> set[tuple[str, str, int]]:
    return {(p.type, p.side, p.window_s) for p in a.patterns}


def only(a, kind: str):
    hits = [p for p in a.patterns if p.type == kind]
    assert len(hits) == 1, a.patterns
    return hits[0]


# ----------------------------------------------------------------------------- golden patterns


def test_quiet_baseline_has_no_pattern_and_no_flag() -> None:
    a = run(baseline(NOW, 300))
    assert a.patterns == []
    assert not any(a.behaviors.values())
    assert a.thresholds is not None and a.thresholds.preset == "relative"
    assert 1150 < a.thresholds.large_size < 1200  # p95 of uniform 800..1200
    assert a.thresholds.sweep_size == pytest.approx(1.5 * a.thresholds.large_size)


def test_absorption_bid() -> None:
    a = run(then(baseline(NOW, 300), held(12, 100.0, 100.02, [3500], 1000)))
    p = only(a, "absorption")
    assert (p.side, p.direction, p.price, p.strength) == ("bid", "bullish", 100.0, "strong")
    assert p.score == pytest.approx(3500 / a.thresholds.absorption_avg_size)
    assert p.details["avg_size"] == 3500 and p.details["price_range"] == 0
    assert found(a) == {("absorption", "bid", 60)}
    assert a.behaviors["large_bid"] and not a.behaviors["large_ask"]


def test_absorption_needs_a_stable_price() -> None:
    # the bid swings 0.10 each quote: more than the 0.05 spread that bounds a "stable" range
    seg = [(100.0 + (0.10 if i % 2 else 0), 100.05 + (0.10 if i % 2 else 0), 3500, 1000) for i in range(12)]
    assert "absorption" not in {p.type for p in run(then(baseline(NOW, 300), seg)).patterns}


def test_stacking_bid() -> None:
    seg = held(1, 100.0, 100.02, [1000], 1000) + [(100.0, 100.02, s, 1000) for s in (1300, 1700, 2200, 2800, 3500)]
    a = run(then(baseline(NOW, 300), seg))
    p = only(a, "stacking")
    assert (p.side, p.direction) == ("bid", "bullish")
    assert p.details["growth"] == pytest.approx(3500 / 1300)
    assert p.score == pytest.approx(3500 / 1300 / 1.5)
    assert found(a) == {("stacking", "bid", 60)}
    assert a.behaviors["bid_stacking"] and not a.behaviors["ask_stacking"]


def test_stacking_breaks_on_a_shrink() -> None:
    seg = [(100.0, 100.02, s, 1000) for s in (1300, 1700, 1600, 2800, 3500)]
    assert "stacking" not in {p.type for p in run(then(baseline(NOW, 300), seg)).patterns}


def test_momentum_shift_over_10s_only() -> None:
    a = run(then(baseline(NOW, 290), trend(10, up=True)))
    p = only(a, "momentum_shift")
    assert (p.side, p.direction, p.window_s) == ("bid", "bullish", 10)
    assert p.details["lifts"] >= 2 * p.details["drops"] and p.details["lifts"] + p.details["drops"] >= 10
    assert not a.behaviors["momentum_building"]  # the 60 s window is still balanced


def test_momentum_building_bearish_over_60s() -> None:
    a = run(then(baseline(NOW, 240), trend(60, up=False)))
    assert found(a) == {("momentum_shift", "ask", 10), ("momentum_shift", "ask", 60)}
    assert {p.direction for p in a.patterns} == {"bearish"}
    assert a.behaviors["momentum_building"] and a.behaviors["aggressive_selling"]
    assert not a.behaviors["aggressive_buying"]
    w60 = a.windows[60]
    assert w60.drops / w60.lifts == pytest.approx(3, rel=0.01) and w60.mid_change < 0


def test_sweep_of_the_offer() -> None:
    seg = [(100.0, 100.05, 1000, 5000), (100.0, 100.06, 1000, 1000), (100.03, 100.05, 1000, 1000)]
    a = run(then(baseline(NOW, 300), seg))
    p = only(a, "sweep")
    assert (p.side, p.direction, p.price, p.details["size"], p.details["action"]) == ("ask", "bullish", 100.05, 5000, "lift")
    assert p.ts == arrays(then(baseline(NOW, 300), seg)).ts[-2]
    assert p.score == pytest.approx(5000 / a.thresholds.sweep_size)


def test_sweep_of_the_bid_by_size_at_one_price() -> None:
    seg = [(100.0, 100.02, 6000, 1000), (100.0, 100.02, 500, 1000)]
    p = only(run(then(baseline(NOW, 300), seg)), "sweep")
    assert (p.side, p.direction, p.details["size"], p.details["action"]) == ("bid", "bearish", 5500, "hit")


def test_iceberg_bid() -> None:
    a = run(then(baseline(NOW, 300), held(12, 100.0, 100.02, [1500, 600], 1000)))
    p = only(a, "iceberg")
    assert (p.side, p.price, p.details["refills"]) == ("bid", 100.0, 5)
    assert p.score == pytest.approx(5 / 3) and p.strength == "strong"
    assert found(a) == {("iceberg", "bid", 60)}


# ----------------------------------------------------------------------------- presets


def _scaled(rows: list, unit: float) -> list:
    return [(ts, b, a, bs * unit, as_ * unit) for ts, b, a, bs, as_ in rows]


def test_relative_preset_finds_the_same_on_btc_sized_quotes() -> None:
    rows = then(baseline(NOW, 300), held(12, 100.0, 100.02, [3500], 1000))
    options_like = found(run(rows))
    btc_like = found(run(_scaled(rows, 1e-4)))  # sizes 0.08..0.12 coins instead of contracts
    assert options_like == btc_like == {("absorption", "bid", 60)}
    assert found(run(_scaled(rows, 1e-4), CLASSIC)) == set()  # 10k-contract rules see nothing


def test_classic_preset_absolute_thresholds() -> None:
    base = _scaled(baseline(NOW, 300), 2.0)  # 1,600..2,400 contracts
    a = run(then(base, held(10, 100.0, 100.02, [9000] * 4 + [16000] + [9000] * 5, 2000)), CLASSIC)
    assert a.thresholds == classic_options()
    assert found(a) == {("absorption", "bid", 60)}
    a = run(then(base, held(10, 100.0, 100.02, [9000] * 10, 2000)), CLASSIC)
    assert found(a) == set()  # a peak above 15k is required
    stack = [(100.0, 100.02, s, 2000) for s in (5000, 6000, 7000, 8000, 9000)]
    assert found(run(then(base, stack), CLASSIC)) == {("stacking", "bid", 60)}
    sweep = [(100.0, 100.05, 2000, 20000), (100.0, 100.06, 2000, 2000)]
    assert found(run(then(base, sweep), CLASSIC)) == {("sweep", "ask", 10)}
    assert found(run(then(base, [(100.0, 100.05, 2000, 14000), (100.0, 100.06, 2000, 2000)]), CLASSIC)) == set()


def test_per_ticker_override_and_too_little_history() -> None:
    rows = then(baseline(NOW, 300), held(12, 100.0, 100.02, [3500], 1000))
    cfg = ThresholdConfig("relative", {"SPY": {"preset": "classic_options"}, "X": {"absorption_avg_size": 4000.0}})
    assert found(run(rows, cfg, "SPY")) == set()
    assert found(run(rows, cfg, "X")) == set()
    assert found(run(rows, cfg, "OTHER")) == {("absorption", "bid", 60)}
    few = run(then(baseline(NOW, 1), held(12, 100.0, 100.02, [3500], 1000)))  # 64 sizes < 100
    assert few.thresholds is None and few.levels == {"bid": [], "ask": []}
    assert "relative size thresholds need 100" in few.warnings[0]


def test_override_validation_names_the_field() -> None:
    assert check_override({"preset": "classic_options", "min_moves": 4}) == {"preset": "classic_options", "min_moves": 4}
    for bad, field in (({"preset": "loose"}, "preset"), ({"large": 5}, "large"), ({"sweep_size": -1}, "sweep_size")):
        with pytest.raises(ThresholdOverrideError) as err:
            check_override(bad)
        assert err.value.field == field


# ----------------------------------------------------------------------------- metrics


def test_window_metrics_by_definition() -> None:
    rows = [  # ts, bid, ask, bid_size, ask_size
        (1000, 10.00, 10.02, 100, 200),
        (2000, 10.01, 10.02, 150, 200),  # bid lift; ask same
        (3000, 10.01, 10.03, 120, 300),  # ask lift
        (6000, 10.00, 10.02, 400, 100),  # bid drop, ask drop
        (9000, 10.00, 10.01, 500, 100),  # ask drop
    ]
    m = window_metrics(arrays(rows), 10, 10_000, large_size=300)
    assert (m.quotes, m.bid_lifts, m.bid_drops, m.ask_lifts, m.ask_drops) == (5, 1, 1, 1, 2)
    assert (m.lifts, m.drops) == (2, 3)
    assert m.bid_change == pytest.approx(0) and m.ask_change == pytest.approx(-0.01)
    assert m.spread_avg == pytest.approx((0.02 + 0.01 + 0.02 + 0.02 + 0.01) / 5)
    assert m.size_ratio == pytest.approx(254 / 180, abs=1e-4)
    assert (m.large_bids, m.large_asks) == (2, 1)
    # churn: bid |+50| (same price? no: lift -> new size 150), then |120-150| at 10.01, then
    # drop -> 400, then |500-400|; ask: |0|, lift -> 300, drop -> 100, drop -> 100
    assert m.size_churn == pytest.approx((150 + 30 + 400 + 100) + (0 + 300 + 100 + 100))
    # halves split at 5,000 ms: 3 quotes before, 2 after
    assert m.quote_rate_accel == pytest.approx(2 / 3, abs=1e-4)
    assert m.bid_size_accel == pytest.approx(450 / (370 / 3), abs=1e-4)
    assert m.accel_label("bid_size_accel") == "INCREASING" and m.accel_label("quote_rate_accel") == "DECREASING"
    assert m.quotes_per_s == 0.5 and m.price_velocity == pytest.approx((10.005 - 10.01) / 10)
    assert window_metrics(arrays(rows[:1]), 10, 10_000, None) is None


def test_levels_rank_prices_seen_often_with_large_size() -> None:
    rows = [(i * 100, 99.90, 100.10, 5000, 100) for i in range(5)]
    rows += [(1000 + i * 100, 99.95, 100.05, 2000, 3000) for i in range(4)]
    rows += [(2000 + i * 100, 99.80, 100.20, 9000, 100) for i in range(2)]  # large but seen twice
    levels = significant_levels(arrays(rows), "bid", large_size=1500, mid=100.0)
    assert [(lv.price, lv.large_appearances, lv.significance) for lv in levels] == [(99.90, 5, 25000), (99.95, 4, 8000)]
    assert levels[0].distance_pct == pytest.approx(-0.1)
    asks = significant_levels(arrays(rows), "ask", large_size=1500, mid=100.0)
    assert [lv.price for lv in asks] == [100.05]


def test_pulling_and_spread_flags() -> None:
    seg = [(100.0, 100.02, 1000, s) for s in (3000, 2800, 2000, 1500, 1000)]
    a = run(then(baseline(NOW, 300), seg))
    assert a.behaviors["ask_pulling"] and not a.behaviors["bid_pulling"]
    wide = [(100.0, 100.10, 1000, 1000)] * 200  # spread 0.10 over the last 10 s vs 0.02 before
    a = run(then(baseline(NOW, 300), wide))
    assert a.behaviors["spread_widening"] and not a.behaviors["spread_tightening"]


# ----------------------------------------------------------------------------- member format


def test_member_field_names_and_rejections() -> None:
    assert parse_member(b'{"bid":1.5,"ask":1.6,"bid_size":10,"ask_size":20}', 5.0) == (5, 1.5, 1.6, 10.0, 20.0)
    assert parse_member('{"bid_price":"1.5","ask_price":"1.6","bidSize":10,"askSize":"20"}', 7) == (7, 1.5, 1.6, 10, 20)
    assert parse_member(b'{"b":"1.5","B":"3","a":"1.6","A":"4","E":1}', 9) == (9, 1.5, 1.6, 3, 4)
    assert parse_member(b'{"bid":0,"ask":0.05,"bid_size":0,"ask_size":10}', 1)[1] == 0  # no bid
    for bad, why in (
        (b"not json", "not JSON"),
        (b"[1,2]", "JSON object"),
        (b'{"ask":1,"bid_size":1,"ask_size":1}', "no bid field"),
        (b'{"bid":"x","ask":1,"bid_size":1,"ask_size":1}', "not a number"),
        (b'{"bid":2,"ask":1,"bid_size":1,"ask_size":1}', "crossed"),
        (b'{"bid":1,"ask":0,"bid_size":1,"ask_size":1}', "ask must be > 0"),
        (b'{"bid":1,"ask":2,"bid_size":-1,"ask_size":1}', ">= 0"),
        (b'{"bid":1,"ask":2,"bid_size":NaN,"ask_size":1}', "not JSON"),
    ):
        with pytest.raises(QuoteFormatError, match=why):
            parse_member(bad, 1)
    parsed = parse_members([(b'{"bid":1,"ask":2,"bid_size":1,"ask_size":1}', 2.0), (b"{}", 1.0)])
    assert len(parsed.quotes) == 1 and parsed.rejected == 1 and "no bid" in parsed.last_error


def test_quote_arrays_windows_and_late_quotes() -> None:
    q = arrays([(1000, 1, 2, 1, 1), (2000, 1, 2, 1, 1), (3000, 1, 2, 1, 1)])
    assert list(q.window(3000, 1).ts) == [3000] and list(q.window(3000, 2).ts) == [2000, 3000]
    late = q.concat(QuoteArrays.from_rows([(1500, 5, 6, 1, 1)]))
    assert list(late.ts) == [1000, 1500, 2000, 3000] and late.bid[1] == 5
    assert np.all(np.diff(late.ts) >= 0)
