"""The composite signals: each a formula over named features (see docs/signals.md).

They are hypotheses, not opinions: the weights and ranges below are fixed priors chosen so each
component means what its name says; ``evaluate_signal`` measures whether a signal has ever
preceded the move it claims. Scores in [0, 1] are not calibrated probabilities.

Every formula takes :class:`~.base.Inputs` and returns :class:`~.base.Evaluated`; it works on
single values and on whole arrays alike.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from flowdesk.analytics.signals.base import (
    Evaluated,
    Inputs,
    Part,
    SignalSpec,
    ratio,
    squash,
    unit,
    weighted,
)

SQRT5, SQRT15 = np.sqrt(5.0), np.sqrt(15.0)
PHASES = {1: "accumulation", 2: "markup", 3: "distribution", 4: "markdown"}


def _spec(name: str, lo: float, hi: float, threshold: float, expect: int | str, formula: str, **kw: bool) -> SignalSpec:
    return SignalSpec(name, lo, hi, " ".join(formula.split()), threshold, expect, **kw)


def _eval(spec: SignalSpec, parts: list[Part], labels: object = None, direction: object = None) -> Evaluated:
    value, conf = weighted(parts)
    return Evaluated(spec, value, conf, parts, labels, direction)


def _trend(x: Inputs, window: str) -> np.ndarray:
    """Return over the window in units of its realized volatility (a t-like ratio)."""
    return ratio(x[f"return_{window}"], x[f"rv_{window}"])


def _flow_share(x: Inputs, window: str = "5m") -> np.ndarray:
    """Net aggressive share: signed volume / volume, in [-1, 1]."""
    return ratio(x[f"signed_volume_{window}"], x[f"volume_{window}"])


# -------------------------------------------------------------------------- flow and squeezes

SMART_MONEY = _spec("smart_money_flow", -1, 1, 0.5, "sign", """
    0.5 * whale_imbalance_5m + 0.25 * depth_imbalance_50bp + 0.25 * signed_volume_5m / volume_5m;
    > 0 accumulation by large traders, < 0 distribution""")


def smart_money_flow(x: Inputs) -> Evaluated:
    parts = [
        Part("large_trade_imbalance", x["whale_imbalance_5m"], 0.5, ("whale_imbalance_5m",)),
        Part("resting_depth_skew", x["depth_imbalance_50bp"], 0.25, ("depth_imbalance_50bp",)),
        Part("aggressive_flow_share", _flow_share(x), 0.25, ("signed_volume_5m", "volume_5m")),
    ]
    return _eval(SMART_MONEY, parts)


LONG_SQUEEZE = _spec("long_squeeze", 0, 1, 0.7, -1, """
    weighted mean of: crowded longs unit(funding_z, 0, 3) 0.3; OI building unit(oi_change_1h_pct, 0, 3)
    0.2; price falling unit(-return_5m / rv_5m, 0, 2) 0.25; long liquidations against bid depth
    unit(liq_long_notional_5m / depth_bid_50bp, 0, 0.05) 0.15; thin bids unit(-depth_imbalance_50bp, 0, 1) 0.1""")
SHORT_SQUEEZE = _spec("short_squeeze", 0, 1, 0.7, 1, """
    mirror of long_squeeze: crowded shorts unit(-funding_z, 0, 3) 0.3; OI building 0.2; price
    rising unit(return_5m / rv_5m, 0, 2) 0.25; short liquidations against ask depth 0.15; thin asks
    unit(depth_imbalance_50bp, 0, 1) 0.1""")


def _squeeze(x: Inputs, side: int, spec: SignalSpec) -> Evaluated:
    """``side`` 1: the longs get squeezed (price down), -1: the shorts (price up)."""
    liq, depth = ("liq_long_notional_5m", "depth_bid_50bp") if side == 1 else ("liq_short_notional_5m", "depth_ask_50bp")
    parts = [
        Part("crowding", unit(side * x["funding_z"], 0, 3), 0.3, ("funding_z",)),
        Part("oi_building", unit(x["oi_change_1h_pct"], 0, 3), 0.2, ("oi_change_1h_pct",)),
        Part("adverse_price", unit(-side * _trend(x, "5m"), 0, 2), 0.25, ("return_5m", "rv_5m")),
        Part("forced_flow", unit(ratio(x[liq], x[depth]), 0, 0.05), 0.15, (liq, depth)),
        Part("thin_side", unit(-side * x["depth_imbalance_50bp"], 0, 1), 0.1, ("depth_imbalance_50bp",)),
    ]
    return _eval(spec, parts)


def long_squeeze(x: Inputs) -> Evaluated:
    return _squeeze(x, 1, LONG_SQUEEZE)


def short_squeeze(x: Inputs) -> Evaluated:
    return _squeeze(x, -1, SHORT_SQUEEZE)


STOP_HUNT = _spec("stop_hunt", 0, 1, 0.7, 0, """
    weighted mean of: wide range without progress unit(range_5m_bps / rv_5m, 1, 4) * (1 - efficiency_5m)
    0.35; liquidation burst unit(liq_cascade_intensity, 1, 5) 0.25; trade burst
    unit(trade_intensity_ratio, 1, 4) 0.2; large-trade share unit(whale_share_1m, 0.3, 0.8) 0.2;
    label from range_pos_5m (back near the top: lows swept)""")


def stop_hunt(x: Inputs) -> Evaluated:
    sweep = unit(ratio(x["range_5m_bps"], x["rv_5m"]), 1, 4) * (1 - x["efficiency_5m"])
    parts = [
        Part("sweep_and_reverse", sweep, 0.35, ("range_5m_bps", "rv_5m", "efficiency_5m")),
        Part("liquidation_burst", unit(x["liq_cascade_intensity"], 1, 5), 0.25, ("liq_cascade_intensity",)),
        Part("trade_burst", unit(x["trade_intensity_ratio"], 1, 4), 0.2, ("trade_intensity_ratio",)),
        Part("large_trades", unit(x["whale_share_1m"], 0.3, 0.8), 0.2, ("whale_share_1m",)),
    ]
    pos = x["range_pos_5m"]
    labels = np.where(pos >= 0.6, "lows swept, price back up", np.where(pos <= 0.4, "highs swept, price back down", "no clear side"))
    return _eval(STOP_HUNT, parts, np.where(np.isfinite(pos), labels, "unknown"))


# ------------------------------------------------------------------------------- momentum

MOMENTUM_QUALITY = _spec("momentum_quality", -1, 1, 0.5, "sign", """
    tanh(return_5m / rv_5m) * mean(efficiency_5m, agreement of signed_volume_5m / volume_5m with the
    move mapped to [0, 1], agreement of tanh(ofi_norm_1m / 5) mapped to [0, 1]); confidence weights
    direction 0.4, each quality part 0.2""")


def momentum_quality(x: Inputs) -> Evaluated:
    direction = squash(_trend(x, "5m"), 1.0)
    sign = np.sign(direction)
    quality = [
        Part("efficiency", x["efficiency_5m"], 0.2, ("efficiency_5m",)),
        Part("flow_agreement", (1 + sign * _flow_share(x)) / 2, 0.2, ("signed_volume_5m", "volume_5m")),
        Part("ofi_agreement", (1 + sign * squash(x["ofi_norm_1m"], 5.0)) / 2, 0.2, ("ofi_norm_1m",)),
    ]
    q, _ = weighted(quality)
    parts = [Part("direction", direction, 0.4, ("return_5m", "rv_5m")), *quality]
    conf = weighted(parts)[1]
    value = np.where(np.isfinite(direction) & np.isfinite(q), direction * q, np.nan)
    return Evaluated(MOMENTUM_QUALITY, value, np.where(np.isfinite(direction), conf, 0.0), parts)


MOMENTUM_EXHAUSTION = _spec("momentum_exhaustion", 0, 1, 0.7, "direction", """
    unit(|return_15m| / rv_15m, 0.5, 2) * mean(1m flow against the 15m move
    unit(-s * signed_volume_1m / volume_1m, 0, 1), OFI against it unit(-s * tanh(ofi_norm_1m / 5), 0, 1),
    fading trade rate unit(1 - trade_intensity_ratio, 0, 0.7)); s = sign(return_15m). Predicts a
    move against s: evaluated with the sign of -return_15m""")


def momentum_exhaustion(x: Inputs) -> Evaluated:
    trend = _trend(x, "15m")
    s = np.sign(trend)
    fading = [
        Part("flow_against", unit(-s * ratio(x["signed_volume_1m"], x["volume_1m"]), 0, 1), 0.25, ("signed_volume_1m", "volume_1m")),
        Part("ofi_against", unit(-s * squash(x["ofi_norm_1m"], 5.0), 0, 1), 0.2, ("ofi_norm_1m",)),
        Part("rate_fading", unit(1 - x["trade_intensity_ratio"], 0, 0.7), 0.2, ("trade_intensity_ratio",)),
    ]
    move = unit(np.abs(trend), 0.5, 2)
    f, _ = weighted(fading)
    parts = [Part("prior_move", move, 0.35, ("return_15m", "rv_15m")), *fading]
    value = np.where(np.isfinite(move) & np.isfinite(f), move * f, np.nan)
    conf = np.where(np.isfinite(move), weighted(parts)[1], 0.0)
    return Evaluated(MOMENTUM_EXHAUSTION, value, conf, parts, direction=np.where(s != 0, -s, np.nan))


# --------------------------------------------------------------------- liquidity and risk

MARKET_MAKER = _spec("market_maker_activity", 0, 1, 0.7, 0, """
    weighted mean of: tight spread unit(-spread_z_5m, -1, 2) 0.25; near-touch share of depth
    unit((depth_bid_10bp + depth_ask_10bp) / (depth_bid_100bp + depth_ask_100bp), 0, 0.2) 0.25;
    two-sided book 1 - |imbalance_l5| 0.25; replenishment 1 - unit(|ln add_cancel_ratio_1m|, 0, 1) 0.25""")


def market_maker_activity(x: Inputs) -> Evaluated:
    near = x["depth_bid_10bp"] + x["depth_ask_10bp"]
    wide = x["depth_bid_100bp"] + x["depth_ask_100bp"]
    with np.errstate(divide="ignore", invalid="ignore"):
        churn = np.abs(np.log(np.where(x["add_cancel_ratio_1m"] > 0, x["add_cancel_ratio_1m"], np.nan)))
    parts = [
        Part("tight_spread", unit(-x["spread_z_5m"], -1, 2), 0.25, ("spread_z_5m",)),
        Part("near_touch_depth", unit(ratio(near, wide), 0, 0.2), 0.25, ("depth_bid_10bp", "depth_ask_10bp", "depth_bid_100bp", "depth_ask_100bp")),
        Part("two_sided", 1 - np.abs(x["imbalance_l5"]), 0.25, ("imbalance_l5",)),
        Part("replenishment", 1 - unit(churn, 0, 1), 0.25, ("add_cancel_ratio_1m",)),
    ]
    return _eval(MARKET_MAKER, parts)


CASCADE_RISK = _spec("liquidation_cascade_risk", 0, 1, 0.7, 0, """
    weighted mean of: leverage unit(leverage_proxy, 0.3, 1.5) 0.2; liquidations accelerating
    unit(liq_cascade_intensity, 1, 5) 0.25; thin book unit(volume_5m * mid / (depth_bid_50bp +
    depth_ask_50bp), 0.5, 3) 0.2; volatility expanding unit(rv_1m * sqrt(15) / rv_15m, 1, 3) 0.15;
    OI moving unit(|oi_change_1h_pct|, 0, 5) 0.2""")


def liquidation_cascade_risk(x: Inputs) -> Evaluated:
    traded = x["volume_5m"] * x["mid"]
    parts = [
        Part("leverage", unit(x["leverage_proxy"], 0.3, 1.5), 0.2, ("leverage_proxy",)),
        Part("liquidations_accelerating", unit(x["liq_cascade_intensity"], 1, 5), 0.25, ("liq_cascade_intensity",)),
        Part("thin_book", unit(ratio(traded, x["depth_bid_50bp"] + x["depth_ask_50bp"]), 0.5, 3), 0.2, ("volume_5m", "mid", "depth_bid_50bp", "depth_ask_50bp")),
        Part("volatility_expanding", unit(ratio(x["rv_1m"] * SQRT15, x["rv_15m"]), 1, 3), 0.15, ("rv_1m", "rv_15m")),
        Part("oi_moving", unit(np.abs(x["oi_change_1h_pct"]), 0, 5), 0.2, ("oi_change_1h_pct",)),
    ]
    return _eval(CASCADE_RISK, parts)


INSTITUTIONAL_PHASE = _spec("institutional_phase", 1, 4, 0.5, "direction", """
    t = return_15m / rv_15m, f = mean(whale_imbalance_5m, signed_volume_5m / volume_5m):
    |t| < 1: accumulation (1) if f > 0 else distribution (3); t >= 1: markup (2) if f >= 0 else
    distribution (3); t <= -1: markdown (4) if f <= 0 else accumulation (1). Evaluated as +1 for
    accumulation/markup, -1 for distribution/markdown""")


def institutional_phase(x: Inputs) -> Evaluated:
    t = _trend(x, "15m")
    flow = [
        Part("large_trade_imbalance", x["whale_imbalance_5m"], 0.5, ("whale_imbalance_5m",)),
        Part("aggressive_flow_share", _flow_share(x), 0.5, ("signed_volume_5m", "volume_5m")),
    ]
    f, _ = weighted(flow)
    code = np.where(np.abs(t) < 1, np.where(f > 0, 1, 3), np.where(t >= 1, np.where(f >= 0, 2, 3), np.where(f <= 0, 4, 1)))
    ok = np.isfinite(t) & np.isfinite(f)
    parts = [Part("trend", t, 0.5, ("return_15m", "rv_15m")), *flow]
    conf = np.where(ok, weighted(parts)[1], 0.0)
    value = np.where(ok, code, np.nan).astype(np.float64)
    flat = [PHASES.get(int(c), "unknown") if np.isfinite(c) else "unknown" for c in np.ravel(value).tolist()]
    names = np.array(flat, dtype=object).reshape(np.shape(value))
    return Evaluated(INSTITUTIONAL_PHASE, value, conf, parts, names, np.where(ok, np.where(value <= 2, 1.0, -1.0), np.nan))


# ------------------------------------------------------------------------- volatility, regime

BREAKOUT = _spec("volatility_breakout", 0, 1, 0.7, "direction", """
    weighted mean of: volatility expansion unit(rv_1m * sqrt(5) / rv_5m, 1, 2.5) 0.3; price at an
    edge of the 5m range unit(2 * |range_pos_5m - 0.5|, 0.6, 1) 0.25; efficient 1m move
    efficiency_1m 0.2; trade burst unit(trade_intensity_ratio, 1, 3) 0.25; direction sign(return_1m)""")


def volatility_breakout(x: Inputs) -> Evaluated:
    parts = [
        Part("vol_expansion", unit(ratio(x["rv_1m"] * SQRT5, x["rv_5m"]), 1, 2.5), 0.3, ("rv_1m", "rv_5m")),
        Part("range_edge", unit(2 * np.abs(x["range_pos_5m"] - 0.5), 0.6, 1), 0.25, ("range_pos_5m",)),
        Part("efficient_move", x["efficiency_1m"], 0.2, ("efficiency_1m",)),
        Part("trade_burst", unit(x["trade_intensity_ratio"], 1, 3), 0.25, ("trade_intensity_ratio",)),
    ]
    sign = np.sign(x["return_1m"])
    return _eval(BREAKOUT, parts, direction=np.where(sign != 0, sign, np.nan))


MEAN_REVERSION = _spec("mean_reversion", -1, 1, 0.5, "sign", """
    -tanh(vwap_dev_15m / 2) * (0.5 + 0.5 * (1 - efficiency_15m)); > 0 expects a move up towards the
    15m VWAP, strongest in a ranging market""")


def mean_reversion(x: Inputs) -> Evaluated:
    stretch = -squash(x["vwap_dev_15m"], 2.0)
    ranging = 1 - x["efficiency_15m"]
    scale = np.where(np.isfinite(ranging), 0.5 + 0.5 * ranging, 1.0)
    parts = [
        Part("stretch_from_vwap", stretch, 0.7, ("vwap_dev_15m",)),
        Part("ranging", ranging, 0.3, ("efficiency_15m",)),
    ]
    conf = np.where(np.isfinite(stretch), weighted(parts)[1], 0.0)
    return Evaluated(MEAN_REVERSION, stretch * scale, conf, parts)


TRANSITION = _spec("regime_transition", 0, 1, 0.7, 0, """
    weighted mean of: volatility shift unit(|ln(rv_1m * sqrt(15) / rv_15m)|, 0.2, 1.2) 0.4;
    efficiency shift unit(|efficiency_1m - efficiency_15m|, 0.1, 0.6) 0.3; spread stress
    unit(|spread_z_5m|, 1, 4) 0.3""")


def regime_transition(x: Inputs) -> Evaluated:
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.abs(np.log(ratio(x["rv_1m"] * SQRT15, x["rv_15m"])))
    parts = [
        Part("volatility_shift", unit(np.where(np.isfinite(shift), shift, np.nan), 0.2, 1.2), 0.4, ("rv_1m", "rv_15m")),
        Part("efficiency_shift", unit(np.abs(x["efficiency_1m"] - x["efficiency_15m"]), 0.1, 0.6), 0.3, ("efficiency_1m", "efficiency_15m")),
        Part("spread_stress", unit(np.abs(x["spread_z_5m"]), 1, 4), 0.3, ("spread_z_5m",)),
    ]
    return _eval(TRANSITION, parts)


EXECUTION = _spec("execution_quality", 0, 1, 0.7, 0, """
    weighted mean of: 1 - unit(spread_bps, 0.5, 5) 0.3; 1 - unit(spread_z_5m, 0, 3) 0.15;
    1 - unit(kyle_lambda_5m, 0, 5) 0.25; unit(log10(depth_bid_10bp + depth_ask_10bp), 5, 7) 0.2;
    1 - unit(rv_1m, 2, 20) 0.1; 1 = cheap to execute now""")


def execution_quality(x: Inputs) -> Evaluated:
    depth = x["depth_bid_10bp"] + x["depth_ask_10bp"]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_depth = np.log10(np.where(depth > 0, depth, np.nan))
    parts = [
        Part("spread", 1 - unit(x["spread_bps"], 0.5, 5), 0.3, ("spread_bps",)),
        Part("spread_stability", 1 - unit(x["spread_z_5m"], 0, 3), 0.15, ("spread_z_5m",)),
        Part("price_impact", 1 - unit(x["kyle_lambda_5m"], 0, 5), 0.25, ("kyle_lambda_5m",)),
        Part("near_touch_depth", unit(log_depth, 5, 7), 0.2, ("depth_bid_10bp", "depth_ask_10bp")),
        Part("calm", 1 - unit(x["rv_1m"], 2, 20), 0.1, ("rv_1m",)),
    ]
    return _eval(EXECUTION, parts)


ARBITRAGE = _spec("cross_venue_arbitrage_pressure", -1, 1, 0.5, "sign", """
    0.7 * -tanh(cross_venue_spread_bps / 5) + 0.3 * -tanh(funding_divergence_bps / 1); > 0: this
    venue is cheap against the others (buying pressure expected here). Needs the symbol on at
    least two venues""", cross_venue=True)


def cross_venue_arbitrage_pressure(x: Inputs) -> Evaluated:
    parts = [
        Part("price_gap", -squash(x["cross_venue_spread_bps"], 5.0), 0.7, ("cross_venue_spread_bps",)),
        Part("funding_gap", -squash(x["funding_divergence_bps"], 1.0), 0.3, ("funding_divergence_bps",)),
    ]
    return _eval(ARBITRAGE, parts)


FORMULAS: dict[str, Callable[[Inputs], Evaluated]] = {
    f.__name__: f
    for f in (
        smart_money_flow, long_squeeze, short_squeeze, stop_hunt, momentum_quality,
        momentum_exhaustion, market_maker_activity, liquidation_cascade_risk, institutional_phase,
        volatility_breakout, mean_reversion, regime_transition, execution_quality,
        cross_venue_arbitrage_pressure,
    )
}
SPECS: dict[str, SignalSpec] = {
    s.name: s
    for s in (
        SMART_MONEY, LONG_SQUEEZE, SHORT_SQUEEZE, STOP_HUNT, MOMENTUM_QUALITY, MOMENTUM_EXHAUSTION,
        MARKET_MAKER, CASCADE_RISK, INSTITUTIONAL_PHASE, BREAKOUT, MEAN_REVERSION, TRANSITION,
        EXECUTION, ARBITRAGE,
    )
}


def inputs_of(name: str) -> list[str]:
    """The features a signal reads (its components' inputs)."""
    ev = FORMULAS[name](Inputs({}))
    return sorted({f for p in ev.parts for f in p.features})
