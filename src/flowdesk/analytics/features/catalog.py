"""Every feature the engine computes: group, unit, window, inputs and a one-line formula.

``inputs`` name the streams a feature is computed from:

* ``quotes`` (best bid/ask), ``trades``, ``liquidations``: stored row for row and seen by the
  live taps in the same order, so live and history give the same values;
* ``book`` (top-N levels and depth bands): live from the in-memory book at each boundary;
  history from the stored ``book_snapshots``/``depth_bands`` samples (1 s cadence), so the two
  agree only up to the sampling time;
* ``book_deltas``: book diffs are not stored, so these are live only;
* ``mark``, ``open_interest``, ``ticker``: partly polled over REST; live reads the newest
  polled record at each boundary, history reads them in receive order.

Full definitions, with references, are in ``docs/features.md``; a test keeps the two in step.
``CROSS_VENUE`` features are computed at query time from the stored features of every venue.
"""

from __future__ import annotations

from dataclasses import dataclass

#: feature groups, in the order tools list them
GROUPS = ("prices", "book", "trades", "funding", "basis", "open_interest", "liquidations")


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    group: str
    unit: str
    window: str
    inputs: tuple[str, ...]
    formula: str

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "group": self.group,
            "unit": self.unit,
            "window": self.window,
            "inputs": list(self.inputs),
            "formula": self.formula,
        }


def _f(name: str, group: str, unit: str, window: str, inputs: str, formula: str) -> FeatureSpec:
    return FeatureSpec(name, group, unit, window, tuple(inputs.split("+")), formula)


_Q, _T, _B = "quotes", "trades", "book"
_SPECS: tuple[FeatureSpec, ...] = (
    # -- prices
    _f("mid", "prices", "price", "last", _Q, "(bid + ask) / 2 of the newest best bid/ask"),
    _f("microprice", "prices", "price", "last", _Q, "(bid*ask_qty + ask*bid_qty) / (bid_qty + ask_qty)"),
    _f("spread", "prices", "price", "last", _Q, "ask - bid"),
    _f("spread_bps", "prices", "bps", "last", _Q, "(ask - bid) / mid * 1e4"),
    _f("spread_z_5m", "prices", "z", "5m", _Q, "(spread_bps - mean) / sd of the boundary samples"),
    _f("rv_1m", "prices", "bps", "1m", _Q, "sqrt(sum r^2) * 1e4, r = log mid return per interval"),
    _f("rv_5m", "prices", "bps", "5m", _Q, "sqrt(sum r^2) * 1e4"),
    _f("rv_15m", "prices", "bps", "15m", _Q, "sqrt(sum r^2) * 1e4"),
    _f("return_1m", "prices", "bps", "1m", _Q, "log(mid_t / mid_t-1m) * 1e4"),
    _f("return_5m", "prices", "bps", "5m", _Q, "log(mid_t / mid_t-5m) * 1e4"),
    _f("return_15m", "prices", "bps", "15m", _Q, "log(mid_t / mid_t-15m) * 1e4"),
    _f("efficiency_1m", "prices", "ratio 0..1", "1m", _Q, "|sum r| / sum |r| (net move / path length)"),
    _f("efficiency_5m", "prices", "ratio 0..1", "5m", _Q, "|sum r| / sum |r|"),
    _f("efficiency_15m", "prices", "ratio 0..1", "15m", _Q, "|sum r| / sum |r|"),
    _f("range_5m_bps", "prices", "bps", "5m", _Q, "(max mid - min mid) / mid * 1e4"),
    _f("range_pos_5m", "prices", "ratio 0..1", "5m", _Q, "(mid - min) / (max - min)"),
    _f("last_price", "prices", "price", "last", _T, "price of the newest trade"),
    _f("vwap_15m", "prices", "price", "15m", _T, "sum(p*q) / sum(q) (orderflow.vwap)"),
    _f("vwap_dev_15m", "prices", "z", "15m", "quotes+trades", "(mid - vwap) / volume-weighted sd of prices"),
    # -- order book
    _f("imbalance_l1", "book", "ratio -1..1", "last", _B, "(bid_qty - ask_qty) / (bid_qty + ask_qty), best level"),
    _f("imbalance_l5", "book", "ratio -1..1", "last", _B, "same over the best 5 levels per side"),
    _f("imbalance_l10", "book", "ratio -1..1", "last", _B, "same over the best 10 levels"),
    _f("imbalance_l20", "book", "ratio -1..1", "last", _B, "same over the best 20 levels"),
    _f("depth_bid_10bp", "book", "quote ccy", "last", _B, "bid notional within 0.1% of mid"),
    _f("depth_ask_10bp", "book", "quote ccy", "last", _B, "ask notional within 0.1% of mid"),
    _f("depth_bid_50bp", "book", "quote ccy", "last", _B, "bid notional within 0.5% of mid"),
    _f("depth_ask_50bp", "book", "quote ccy", "last", _B, "ask notional within 0.5% of mid"),
    _f("depth_bid_100bp", "book", "quote ccy", "last", _B, "bid notional within 1% of mid"),
    _f("depth_ask_100bp", "book", "quote ccy", "last", _B, "ask notional within 1% of mid"),
    _f("depth_imbalance_50bp", "book", "ratio -1..1", "last", _B, "(bid - ask) / (bid + ask) notional within 0.5%"),
    _f("book_slope_bid", "book", "base qty / bps", "last", _B, "OLS slope of cumulative bid qty on distance from mid"),
    _f("book_slope_ask", "book", "base qty / bps", "last", _B, "OLS slope of cumulative ask qty on distance from mid"),
    _f("wall_bid_ratio", "book", "ratio", "last", _B, "largest bid level qty (best excluded) / mean qty of the top-N levels"),
    _f("wall_ask_ratio", "book", "ratio", "last", _B, "largest ask level qty (best excluded) / mean qty of the top-N levels"),
    _f("wall_bid_dist_bps", "book", "bps", "last", _B, "distance of the bid wall from mid (when ratio >= 5)"),
    _f("wall_ask_dist_bps", "book", "bps", "last", _B, "distance of the ask wall from mid (when ratio >= 5)"),
    _f("wall_bid_move_bps", "book", "bps", "sample", _B, "change of the bid wall's distance since the last sample (+ pulled away, - pushed in)"),
    _f("wall_ask_move_bps", "book", "bps", "sample", _B, "change of the ask wall's distance since the last sample"),
    _f("wall_bid_pulled", "book", "quote ccy", "sample", _B, "notional of the last bid wall cancelled without price reaching it"),
    _f("wall_ask_pulled", "book", "quote ccy", "sample", _B, "notional of the last ask wall cancelled without price reaching it"),
    _f("add_cancel_ratio_1m", "book", "ratio", "1m", "book_deltas+trades", "qty added / qty cancelled (removed - traded) near the touch"),
    _f("ofi_1m", "book", "base qty", "1m", _Q, "sum of best-level order-flow imbalance e_n (Cont, Kukanov, Stoikov)"),
    _f("ofi_5m", "book", "base qty", "5m", _Q, "sum of e_n"),
    _f("ofi_norm_1m", "book", "ratio", "1m", _Q, "ofi_1m / mean(best bid qty + best ask qty)"),
    # -- trades
    _f("volume_1m", "trades", "base qty", "1m", _T, "sum of trade qty"),
    _f("volume_5m", "trades", "base qty", "5m", _T, "sum of trade qty"),
    _f("signed_volume_1m", "trades", "base qty", "1m", _T, "buy-aggressor qty - sell-aggressor qty"),
    _f("signed_volume_5m", "trades", "base qty", "5m", _T, "buy - sell qty"),
    _f("cvd", "trades", "base qty", "UTC day", _T, "cumulative signed qty since 00:00 UTC"),
    _f("cvd_slope_1m", "trades", "base qty / min", "1m", _T, "OLS slope of cvd samples on time"),
    _f("cvd_slope_5m", "trades", "base qty / min", "5m", _T, "OLS slope of cvd samples on time"),
    _f("trade_intensity_1m", "trades", "trades / s", "1m", _T, "trade count / 60"),
    _f("trade_intensity_ratio", "trades", "ratio", "1m/15m", _T, "trade rate over 1m / trade rate over 15m"),
    _f("trade_size_mean_1m", "trades", "base qty", "1m", _T, "volume / trade count"),
    _f("trade_size_p50_5m", "trades", "base qty", "5m", _T, "median trade size"),
    _f("trade_size_p95_5m", "trades", "base qty", "5m", _T, "95th percentile trade size"),
    _f("whale_threshold", "trades", "base qty", "15m", _T, "95th percentile trade size over 15m (>= 100 trades)"),
    _f("whale_share_1m", "trades", "ratio 0..1", "1m", _T, "qty of trades >= whale_threshold / volume"),
    _f("whale_imbalance_5m", "trades", "ratio -1..1", "5m", _T, "(whale buy qty - whale sell qty) / whale qty"),
    _f("aggressor_streak", "trades", "trades", "last", _T, "signed length of the current run of same-side trades"),
    _f("max_streak_1m", "trades", "trades", "1m", _T, "longest run (either side) seen in the window"),
    _f("vpin", "trades", "ratio 0..1", "vpin_window buckets", _T, "sum |V_buy - V_sell| / (n V) over the last n volume buckets"),
    _f("kyle_lambda_5m", "trades", "bps per 1M quote", "5m", "quotes+trades", "OLS slope of interval mid return (bps) on signed notional (millions)"),
    # -- funding
    _f("funding_rate", "funding", "rate per interval", "last", "mark", "current funding rate"),
    _f("funding_annualized_pct", "funding", "%", "last", "mark", "rate * 3 * 365 * 100 (8h funding)"),
    _f("funding_z", "funding", "z", "7d", "mark", "(rate - mean) / sd of per-minute rates (>= 60 minutes)"),
    _f("time_to_funding_s", "funding", "s", "last", "mark", "next funding time - boundary time"),
    # -- mark / index
    _f("mark_price", "basis", "price", "last", "mark", "mark price"),
    _f("index_price", "basis", "price", "last", "mark", "index price"),
    _f("basis_bps", "basis", "bps", "last", "mark+quotes", "(mid - index) / index * 1e4"),
    _f("mark_premium_bps", "basis", "bps", "last", "mark", "(mark - index) / index * 1e4"),
    _f("mark_last_dev_bps", "basis", "bps", "last", "mark+trades", "(last trade - mark) / mark * 1e4"),
    # -- open interest
    _f("oi", "open_interest", "base qty", "last", "open_interest", "open interest"),
    _f("oi_value", "open_interest", "quote ccy", "last", "open_interest+mark", "venue's OI value, else oi * mark"),
    _f("oi_change_5m_pct", "open_interest", "%", "5m", "open_interest", "(oi / oi 5m earlier - 1) * 100"),
    _f("oi_change_15m_pct", "open_interest", "%", "15m", "open_interest", "(oi / oi 15m earlier - 1) * 100"),
    _f("oi_change_1h_pct", "open_interest", "%", "1h", "open_interest", "(oi / oi 1h earlier - 1) * 100"),
    _f("oi_price_quadrant", "open_interest", "code 1..4", "5m", "open_interest+quotes", "1 new longs (OI+, price+), 2 short covering (OI-, price+), 3 new shorts (OI+, price-), 4 long liquidation (OI-, price-)"),
    _f("leverage_proxy", "open_interest", "ratio", "24h", "open_interest+ticker", "oi_value / 24h quote volume"),
    _f("quote_volume_24h", "open_interest", "quote ccy", "24h", "ticker", "venue's rolling 24h quote volume"),
    # -- liquidations
    _f("liq_long_count_5m", "liquidations", "count", "5m", "liquidations", "forced sells (longs liquidated)"),
    _f("liq_short_count_5m", "liquidations", "count", "5m", "liquidations", "forced buys (shorts liquidated)"),
    _f("liq_long_notional_5m", "liquidations", "quote ccy", "5m", "liquidations", "sum price * qty of forced sells"),
    _f("liq_short_notional_5m", "liquidations", "quote ccy", "5m", "liquidations", "sum price * qty of forced buys"),
    _f("liq_long_count_15m", "liquidations", "count", "15m", "liquidations", "forced sells"),
    _f("liq_short_count_15m", "liquidations", "count", "15m", "liquidations", "forced buys"),
    _f("liq_long_notional_15m", "liquidations", "quote ccy", "15m", "liquidations", "forced sell notional"),
    _f("liq_short_notional_15m", "liquidations", "quote ccy", "15m", "liquidations", "forced buy notional"),
    _f("liq_cascade_intensity", "liquidations", "ratio", "1m/15m", "liquidations", "liquidated notional over 1m / mean per-minute notional over 15m"),
    _f("liq_clustering_15m", "liquidations", "ratio -1..1", "15m", "liquidations", "burstiness (sd - mean) / (sd + mean) of inter-arrival times (>= 3 events)"),
)

CATALOG: dict[str, FeatureSpec] = {s.name: s for s in _SPECS}

#: computed when asked, from the stored features of every venue holding the symbol
CROSS_VENUE: dict[str, FeatureSpec] = {
    s.name: s
    for s in (
        _f("funding_divergence_bps", "funding", "bps", "last", "mark", "this venue's funding rate - median of the other venues', * 1e4"),
        _f("cross_venue_spread_bps", "prices", "bps", "last", _Q, "(mid - median mid of the other venues) / that median * 1e4"),
    )
}

#: inputs that live taps and stored tables deliver in the same order (see module docstring)
REPLAYABLE_INPUTS = frozenset({"quotes", "trades", "liquidations"})


def names_in(group: str | None = None) -> list[str]:
    """Feature names of ``group`` (every stored feature when None), in catalog order."""
    return [s.name for s in _SPECS if group is None or s.group == group]


def replayable(name: str) -> bool:
    """Whether live and history compute ``name`` from identical inputs (exact agreement)."""
    return set(CATALOG[name].inputs) <= REPLAYABLE_INPUTS
