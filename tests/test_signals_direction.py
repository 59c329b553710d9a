"""Composite signals: direction logic, ranges, confidence with missing inputs, cross-venue
availability, the aggregated view and the event study."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flowdesk.analytics.features.store import Snapshot
from flowdesk.analytics.signals import view as sv
from flowdesk.analytics.signals.base import Inputs
from flowdesk.analytics.signals.definitions import FORMULAS, SPECS, inputs_of
from flowdesk.analytics.signals.evaluate import study
from flowdesk.tools.registry import ToolError, call_tool
from test_orderflow_support import add_trades, insert, new_store

CROWDED_LONGS_FALLING = {
    "funding_z": 2.5, "oi_change_1h_pct": 2.5, "return_5m": -30.0, "rv_5m": 15.0,
    "depth_imbalance_50bp": -0.4, "liq_long_notional_5m": 2e6, "depth_bid_50bp": 4e7,
    "liq_short_notional_5m": 0.0, "depth_ask_50bp": 4e7,
}


def _value(name: str, values: dict[str, float]) -> float:
    return float(FORMULAS[name](Inputs(values)).value)


def _mirror(values: dict[str, float]) -> dict[str, float]:
    out = dict(values)
    out["funding_z"], out["return_5m"] = -values["funding_z"], -values["return_5m"]
    out["depth_imbalance_50bp"] = -values["depth_imbalance_50bp"]
    out["liq_long_notional_5m"], out["liq_short_notional_5m"] = values["liq_short_notional_5m"], values["liq_long_notional_5m"]
    return out


def test_crowded_longs_rising_funding_falling_price_raise_long_squeeze_only() -> None:
    long_sq, short_sq = _value("long_squeeze", CROWDED_LONGS_FALLING), _value("short_squeeze", CROWDED_LONGS_FALLING)
    assert long_sq > 0.7 and short_sq < 0.3
    calmer = {**CROWDED_LONGS_FALLING, "funding_z": 0.5}
    assert _value("long_squeeze", calmer) < long_sq  # less crowding, less risk
    assert _value("short_squeeze", calmer) == pytest.approx(short_sq)
    rising = {**CROWDED_LONGS_FALLING, "return_5m": 30.0}
    assert _value("long_squeeze", rising) < long_sq and _value("short_squeeze", rising) > short_sq
    mirrored = _mirror(CROWDED_LONGS_FALLING)
    assert _value("short_squeeze", mirrored) == pytest.approx(long_sq)
    assert _value("long_squeeze", mirrored) == pytest.approx(short_sq)


def test_confidence_drops_with_missing_inputs() -> None:
    full = FORMULAS["long_squeeze"](Inputs(CROWDED_LONGS_FALLING))
    assert float(full.confidence) == pytest.approx(1.0)
    partial = dict(CROWDED_LONGS_FALLING)
    del partial["funding_z"]
    ev = FORMULAS["long_squeeze"](Inputs(partial))
    assert float(ev.confidence) == pytest.approx(0.7)  # the crowding part weighs 0.3
    none = FORMULAS["long_squeeze"](Inputs({}))
    assert np.isnan(none.value) and float(none.confidence) == 0.0


def test_flow_signals_follow_the_flow() -> None:
    buying = {"whale_imbalance_5m": 0.8, "depth_imbalance_50bp": 0.3, "signed_volume_5m": 60.0, "volume_5m": 100.0}
    assert _value("smart_money_flow", buying) == pytest.approx(0.5 * 0.8 + 0.25 * 0.3 + 0.25 * 0.6)
    selling = {k: -v if k != "volume_5m" else v for k, v in buying.items()}
    assert _value("smart_money_flow", selling) == pytest.approx(-_value("smart_money_flow", buying))
    trend = {"return_5m": 40.0, "rv_5m": 10.0, "efficiency_5m": 0.8, "ofi_norm_1m": 5.0}
    agree = _value("momentum_quality", {**trend, "signed_volume_5m": 50.0, "volume_5m": 100.0})
    against = _value("momentum_quality", {**trend, "signed_volume_5m": -50.0, "volume_5m": 100.0})
    assert agree > against > 0
    down = _value("momentum_quality", {**trend, "return_5m": -40.0, "ofi_norm_1m": -5.0, "signed_volume_5m": -50.0, "volume_5m": 100.0})
    assert down == pytest.approx(-agree)


@pytest.mark.parametrize(("ret", "flow", "phase"), [
    (0.0, 0.5, "accumulation"), (0.0, -0.5, "distribution"), (30.0, 0.5, "markup"),
    (30.0, -0.5, "distribution"), (-30.0, -0.5, "markdown"), (-30.0, 0.5, "accumulation"),
])
def test_institutional_phase_rules(ret: float, flow: float, phase: str) -> None:
    ev = FORMULAS["institutional_phase"](Inputs({"return_15m": ret, "rv_15m": 10.0, "whale_imbalance_5m": flow,
                                                 "signed_volume_5m": flow * 10, "volume_5m": 10.0}))
    assert str(np.asarray(ev.labels).item()) == phase


def test_mean_reversion_leans_against_the_stretch() -> None:
    above = _value("mean_reversion", {"vwap_dev_15m": 3.0, "efficiency_15m": 0.1})
    assert above < -0.5
    assert _value("mean_reversion", {"vwap_dev_15m": -3.0, "efficiency_15m": 0.1}) == pytest.approx(-above)
    assert abs(_value("mean_reversion", {"vwap_dev_15m": 3.0, "efficiency_15m": 0.9})) < abs(above)  # trending


def test_every_signal_stays_in_its_range_on_random_inputs() -> None:
    rng = np.random.default_rng(11)
    names = sorted({f for n in FORMULAS for f in inputs_of(n)})
    values = {n: rng.normal(0, 3, 2000) for n in names}
    for n in ("rv_1m", "rv_5m", "rv_15m", "volume_1m", "volume_5m", "mid", "leverage_proxy", "add_cancel_ratio_1m",
              *[x for x in names if x.startswith("depth_") and "imbalance" not in x]):
        values[n] = np.abs(values[n]) * 1e3
    for n in ("efficiency_1m", "efficiency_5m", "efficiency_15m", "range_pos_5m", "whale_share_1m"):
        values[n] = rng.uniform(0, 1, 2000)
    for n in ("whale_imbalance_5m", "depth_imbalance_50bp", "imbalance_l5"):  # features in [-1, 1]
        values[n] = rng.uniform(-1, 1, 2000)
    for w in ("1m", "5m"):  # |signed volume| <= volume
        values[f"signed_volume_{w}"] = values[f"volume_{w}"] * rng.uniform(-1, 1, 2000)
    for name, fn in FORMULAS.items():
        ev = fn(Inputs(values, 2000))
        v = np.asarray(ev.value)[np.isfinite(ev.value)]
        spec = SPECS[name]
        assert len(v) and v.min() >= spec.lo - 1e-12 and v.max() <= spec.hi + 1e-12, name
        assert np.all((np.asarray(ev.confidence) >= 0) & (np.asarray(ev.confidence) <= 1)), name


def test_cross_venue_needs_two_venues() -> None:
    con = new_store()
    add_trades(con, [("2024-08-08T23:59:00Z", 100.0, 1.0, "buy")])
    _features(con, "binance", {"mid": 100.0, "funding_rate": 0.0001})
    snap = Snapshot({"mid": 100.0, "funding_rate": 0.0001}, {"mid": T, "funding_rate": T}, "stored", T)
    from flowdesk.analytics.orderflow.common import MarketKey

    key = MarketKey("binance", "usdm", "BTCUSDT")
    values, reason = sv.cross_venue(con.cursor(), key, snap)
    assert values == {} and "at least two venues" in reason
    out = sv.evaluate("cross_venue_arbitrage_pressure", snap, values, reason)
    assert out["value"] is None and out["confidence"] == 0.0 and "binance_usdm" in out["unavailable"]
    _features(con, "bybit", {"mid": 100.1, "funding_rate": 0.0003})  # the other venue is dearer
    values, reason = sv.cross_venue(con.cursor(), key, snap)
    assert reason is None
    assert values["cross_venue_spread_bps"] == pytest.approx((100.0 - 100.1) / 100.1 * 1e4)
    assert values["funding_divergence_bps"] == pytest.approx(-2.0)
    out = sv.evaluate("cross_venue_arbitrage_pressure", snap, values, reason)
    assert out["value"] > 0 and out["confidence"] == 1.0  # cheaper here: buying pressure here


T = 1_723_161_540_000  # 2024-08-08T23:59:00Z


def _features(con: object, exchange: str, values: dict[str, float]) -> None:
    insert(con, "features", pd.DataFrame({
        "exchange": exchange, "market": "usdm", "symbol": "BTCUSDT",
        "ts": pd.to_datetime([T] * len(values), unit="ms"), "name": list(values), "value": list(values.values()),
    }))


def test_aggregate_view() -> None:
    results = {
        "smart_money_flow": {"value": 0.6, "confidence": 1.0}, "momentum_quality": {"value": 0.4, "confidence": 0.5},
        "mean_reversion": {"value": None, "confidence": 0.0}, "long_squeeze": {"value": 0.2, "confidence": 1.0},
        "short_squeeze": {"value": 0.6, "confidence": 0.8}, "liquidation_cascade_risk": {"value": 0.3, "confidence": 1.0},
        "volatility_breakout": {"value": 0.1, "confidence": 1.0},
    }
    agg = sv.aggregate(results)
    assert agg["bias"] == pytest.approx((0.3 * 0.6 + 0.3 * 0.4 + 0.2 * 0.4) / 0.8)
    assert agg["bias_label"] == "bullish" and agg["risk"] == 0.6 and agg["risk_driver"] == "short_squeeze"
    assert agg["confidence"] == pytest.approx((0.3 * 1.0 + 0.3 * 0.5 + 0.2 * 0.8) / 1.0)


def _study_frame(effect_bps: float, seed: int = 5) -> pd.DataFrame:
    """1 s boundaries; smart_money_flow jumps to 0.9 every 10 minutes (for 30 s); the mid then
    drifts up by ``effect_bps`` over the next minute; otherwise a small random walk."""
    rng = np.random.default_rng(seed)
    n = 7200
    t = 1_723_100_000_000 + np.arange(n) * 1000
    on = (np.arange(n) % 600) < 30
    drift = np.where((np.arange(n) % 600) < 60, effect_bps / 60 / 1e4, 0.0)
    mid = 100 * np.exp(np.cumsum(rng.normal(0, 2e-5, n) + drift))
    whale = np.where(on, 0.9, rng.uniform(-0.3, 0.3, n))
    return pd.DataFrame({"mid": mid, "whale_imbalance_5m": whale, "depth_imbalance_50bp": whale,
                         "signed_volume_5m": whale * 10, "volume_5m": 10.0}, index=t)


def test_event_study_finds_a_real_effect_and_not_a_fake_one() -> None:
    out = study("smart_money_flow", _study_frame(8.0), 60_000, None, 5_000)
    up = out["events"]["by_predicted_direction"]["up"]
    assert out["events"]["n"] == up["n"] == 11  # the first period starts on: no crossing
    assert up["mean_bps"] == pytest.approx(8.0, abs=1.5) and up["p_value_vs_unconditional"] < 0.01
    assert out["edge_bps"] > 5 and "differ" in out["verdict"]
    null = study("smart_money_flow", _study_frame(0.0), 60_000, None, 5_000)
    assert null["events"]["n"] == 11 and abs(null["events"]["by_predicted_direction"]["up"]["mean_bps"]) < 2
    assert null["unconditional"]["n"] == 119  # every minute; the last has no forward return


def test_signal_tools_answer_and_refuse_cleanly() -> None:
    con = new_store()
    add_trades(con, [("2024-08-08T23:58:00Z", 100.0, 1.0, "buy")])
    _features(con, "binance", CROWDED_LONGS_FALLING)
    out = call_tool("get_signal", {"name": "long_squeeze", "symbol": "btcusdt"})
    assert out["value"] > 0.7 and out["confidence"] == 1.0 and out["freshness"]["as_of"] == "2024-08-08T23:59:00.000Z"
    dash = call_tool("get_signal_dashboard", {"symbol": "BTCUSDT"})
    assert dash["signals"]["long_squeeze"]["value"] == out["value"]
    assert dash["signals"]["cross_venue_arbitrage_pressure"]["confidence"] == 0.0
    with pytest.raises(ToolError, match="unknown signal"):
        call_tool("get_signal", {"name": "moon", "symbol": "BTCUSDT"})
    with pytest.raises(ToolError, match="two venues"):
        call_tool("evaluate_signal", {"name": "cross_venue_arbitrage_pressure", "symbol": "BTCUSDT"})
