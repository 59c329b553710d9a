"""Signals at the newest features of an instrument: value, components, confidence, freshness,
the cross-venue inputs, and the aggregated view."""

from __future__ import annotations

import math
import time
from typing import Any

import duckdb
import numpy as np

from flowdesk.analytics.features.store import Snapshot, venue_values
from flowdesk.analytics.orderflow.common import MarketKey, iso_ms
from flowdesk.analytics.signals.base import Evaluated, Inputs
from flowdesk.analytics.signals.definitions import FORMULAS, SPECS

#: directional members of the aggregated bias and their weights (squeezes enter as short - long)
BIAS_WEIGHTS = {"smart_money_flow": 0.3, "momentum_quality": 0.3, "mean_reversion": 0.2, "squeeze_balance": 0.2}
RISK_MEMBERS = ("liquidation_cascade_risk", "long_squeeze", "short_squeeze", "volatility_breakout")


def cross_venue(cur: duckdb.DuckDBPyConnection, key: MarketKey, snap: Snapshot) -> tuple[dict[str, float], str | None]:
    """``cross_venue_spread_bps`` and ``funding_divergence_bps`` of ``key`` against the median of
    the other venues holding the symbol, or a reason why they cannot be computed."""
    newest = snap.as_of or 0
    out: dict[str, float] = {}
    reasons = []
    for feature, target, scale in (("mid", "cross_venue_spread_bps", None), ("funding_rate", "funding_divergence_bps", 1e4)):
        rows = venue_values(cur, key.symbol, feature, newest)
        mine = snap.get(feature)
        others = [v for e, m, v, _ in rows if (e, m) != (key.exchange, key.market)]
        if mine is None or not others:
            venues = sorted({f"{e}_{m}" for e, m, _, _ in rows} | ({f"{key.exchange}_{key.market}"} if mine is not None else set()))
            reasons.append(f"{feature}: only {venues or 'no venue'} has data for {key.symbol}; at least two venues are needed")
            continue
        med = float(np.median(others))
        out[target] = (mine - med) / med * 1e4 if scale is None else (mine - med) * scale
    return out, "; ".join(reasons) or None


def _num(x: Any) -> float | None:
    v = float(np.asarray(x))
    return v if math.isfinite(v) else None


def evaluate(name: str, snap: Snapshot, extra: dict[str, float], reason: str | None, detail: bool = False) -> dict[str, Any]:
    """One signal at the snapshot: value, range, confidence, label/direction, freshness and
    (compact) component values; ``detail`` adds every component's weight and inputs."""
    spec = SPECS[name]
    ev = FORMULAS[name](Inputs({**snap.values, **extra}))
    used = sorted({f for p in ev.parts for f in p.features})
    missing = [f for f in used if f not in snap.values and f not in extra]
    out: dict[str, Any] = {
        "signal": name,
        "value": _num(ev.value),
        "range": [spec.lo, spec.hi],
        "confidence": round(float(np.asarray(ev.confidence)), 3),
        **_label(ev),
        "components": _components(ev, detail),
        "missing_inputs": missing,
        "freshness": _freshness(snap, [f for f in used if f in snap.times]),
    }
    if spec.cross_venue and reason:
        out.update(value=None, confidence=0.0, unavailable=reason)
    elif out["value"] is None:
        out["unavailable"] = f"no input of {name} is available (missing: {missing})"
    if detail:
        out["formula"] = spec.formula
    return out


def _label(ev: Evaluated) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if ev.labels is not None:
        out["label"] = str(np.asarray(ev.labels).item())
    if ev.direction is not None:
        d = _num(ev.direction)
        out["direction"] = None if d is None else ("up" if d > 0 else "down")
    value = _num(ev.value)
    if ev.spec.lo < 0 and value is not None and "label" not in out:
        out["label"] = "positive" if value > 0.2 else "negative" if value < -0.2 else "neutral"
    return out


def _components(ev: Evaluated, detail: bool) -> dict[str, Any]:
    if not detail:
        return {p.name: _round(_num(p.value)) for p in ev.parts}
    return {
        p.name: {"value": _round(_num(p.value)), "weight": p.weight, "inputs": list(p.features)}
        for p in ev.parts
    }


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


def _freshness(snap: Snapshot, used: list[str]) -> dict[str, Any]:
    """Oldest input used (``as_of``), its age now, and its lag behind the newest feature."""
    if not used:
        return {"as_of": None, "age_s": None, "lag_s": None, "origin": snap.origin}
    oldest = min(snap.times[f] for f in used)
    return {
        "as_of": iso_ms(oldest),
        "age_s": round(time.time() - oldest / 1000, 1),
        "lag_s": None if snap.as_of is None else round((snap.as_of - oldest) / 1000, 3),
        "origin": snap.origin,
    }


def aggregate(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Bias in [-1, 1] (weighted mean of the directional signals, squeezes as short - long) and
    risk in [0, 1] (the largest risk score), with the confidence of the members used."""
    vals = {n: r["value"] for n, r in results.items()}
    conf = {n: r["confidence"] for n, r in results.items()}
    members: dict[str, tuple[float, float]] = {}
    for n in ("smart_money_flow", "momentum_quality", "mean_reversion"):
        if vals.get(n) is not None:
            members[n] = (vals[n], conf[n])
    if vals.get("short_squeeze") is not None and vals.get("long_squeeze") is not None:
        members["squeeze_balance"] = (vals["short_squeeze"] - vals["long_squeeze"], min(conf["short_squeeze"], conf["long_squeeze"]))
    total = sum(BIAS_WEIGHTS.values())
    got = sum(BIAS_WEIGHTS[n] for n in members)
    bias = sum(BIAS_WEIGHTS[n] * v for n, (v, _) in members.items()) / got if got else None
    risks = {n: vals[n] for n in RISK_MEMBERS if vals.get(n) is not None}
    return {
        "bias": None if bias is None else round(bias, 4),
        "bias_label": None if bias is None else ("bullish" if bias > 0.2 else "bearish" if bias < -0.2 else "neutral"),
        "risk": round(max(risks.values()), 4) if risks else None,
        "risk_driver": max(risks, key=risks.__getitem__) if risks else None,
        "confidence": round(sum(BIAS_WEIGHTS[n] * c for n, (_, c) in members.items()) / total, 3),
        "members": sorted(members),
    }
