"""The router: which model to use for a series, horizon and latency budget.

1. **Eligible**: the model runs on this installation, the series (up to the model's training
   cap) is long enough for it at this horizon and bar size, and it fits the latency budget:
   its *measured* fit+predict seconds per fold from the registry when there are any, otherwise
   its catalog cost class (``realtime``: instant; ``fast``: up to moderate; ``accurate``: all).
2. **Scored**: among eligible models and ensembles with a successful out-of-sample score in the
   registry for this series key and horizon, the lowest MASE wins; ties go to the cheaper
   model. The registry champion is just the model that currently wins this comparison.
3. **Unscored**: with no recorded scores the router does not guess. ``realtime`` falls back to
   the naive last-value forecast (the reference every score is measured against); ``fast`` and
   ``accurate`` return the eligible models to evaluate, and the caller runs CV, records the
   scores and asks again.

Accuracy figures come only from the registry; nothing here encodes how good a model is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowdesk.forecasting.catalog import BASELINE, CATALOG, COSTS, unavailable_reason
from flowdesk.forecasting.engine import Forecaster
from flowdesk.forecasting.ensemble import is_ensemble
from flowdesk.forecasting.errors import ForecastError
from flowdesk.forecasting.series import TargetSeries

#: priority -> (most expensive cost class allowed, fit+predict seconds per fold allowed)
PRIORITIES: dict[str, tuple[str, float | None]] = {
    "realtime": ("instant", 0.05),
    "fast": ("moderate", 2.0),
    "accurate": ("heavy", None),
}


def check_priority(priority: str) -> str:
    if priority not in PRIORITIES:
        raise ForecastError(f"priority must be one of {list(PRIORITIES)}, got {priority!r}")
    return priority


@dataclass
class Decision:
    model: str | None
    version: int | None
    params: dict[str, Any] | None
    reason: str
    scores_from: str  # "registry", "fallback" or "none"
    evaluate: list[str] = field(default_factory=list)  # models to score before a pick can be made
    candidates: list[dict[str, Any]] = field(default_factory=list)


def _seconds_per_fold(score: dict[str, Any]) -> float | None:
    folds = score.get("folds") or 0
    if not folds or score.get("fit_s") is None:
        return None
    return (score["fit_s"] + (score.get("predict_s") or 0.0)) / folds


def _within_budget(cost: str, measured: float | None, priority: str) -> tuple[bool, str]:
    max_cost, budget = PRIORITIES[priority]
    if measured is not None and budget is not None:
        ok = measured <= budget
        return ok, f"measured {measured:.3g} s per fit {'within' if ok else 'over'} the {priority} budget {budget} s"
    ok = COSTS.index(cost) <= COSTS.index(max_cost)
    return ok, f"cost class {cost} {'within' if ok else 'over'} {priority} (no measured time yet)"


def eligibility(series: TargetSeries, horizon: int, priority: str,
                scores: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every catalog model with whether it is eligible and why (or why not)."""
    out = []
    for spec in CATALOG.values():
        reason = unavailable_reason(spec)
        if reason:
            out.append({"model": spec.name, "eligible": False, "why": f"unavailable: {reason}"})
            continue
        fc = Forecaster(spec, horizon=horizon, season=series.season, level=series.info.level)
        need, have = fc.min_length(), len(series)
        if have < need:
            out.append({"model": spec.name, "eligible": False, "why": f"needs {need} bars, has {have}"})
            continue
        score = scores.get(spec.name)
        ok, why = _within_budget(spec.cost, _seconds_per_fold(score) if score else None, priority)
        out.append({"model": spec.name, "eligible": ok, "why": why})
    return out


def _ensemble_eligible(score: dict[str, Any], eligible: set[str]) -> bool:
    members = (score.get("params") or {}).get("members", [])
    return bool(members) and all(m in eligible for m in members)


def route(series: TargetSeries, horizon: int, priority: str, scores: list[dict[str, Any]]) -> Decision:
    """Pick a model for ``series`` at ``horizon`` from registry ``scores`` (rows of
    :meth:`Registry.latest_scores` for this key and horizon; may be empty)."""
    check_priority(priority)
    ok_scores = [s for s in scores if s["status"] == "ok" and s.get("mase") is not None]
    best_by_model: dict[str, dict[str, Any]] = {}
    for s in sorted(ok_scores, key=lambda s: s["mase"]):
        best_by_model.setdefault(s["model"], s)
    table = eligibility(series, horizon, priority, best_by_model)
    eligible = {c["model"] for c in table if c["eligible"]}
    ranked = [s for s in best_by_model.values()
              if (s["model"] in eligible or (is_ensemble(s["model"]) and _ensemble_eligible(s, eligible)))]
    ranked.sort(key=lambda s: (s["mase"], _cost_rank(s["model"])))
    for c in table:
        s = best_by_model.get(c["model"])
        c["mase"] = None if s is None else s["mase"]
    if ranked:
        return _scored_pick(ranked, best_by_model, horizon, priority, table)
    if priority == "realtime" or not eligible - {BASELINE}:
        return Decision(BASELINE, None, {}, f"no out-of-sample scores recorded for this series at horizon "
                        f"{horizon}; {priority} priority uses the naive last-value forecast, the reference "
                        "all scores are measured against (run cross_validate to enable routing)",
                        "fallback", candidates=table)
    return Decision(None, None, None, "no out-of-sample scores recorded yet: evaluate the eligible models",
                    "none", evaluate=sorted(eligible), candidates=table)


def _cost_rank(model: str) -> int:
    spec = CATALOG.get(model)
    return COSTS.index(spec.cost) if spec else len(COSTS)


def _scored_pick(ranked: list[dict[str, Any]], by_model: dict[str, dict[str, Any]], horizon: int,
                 priority: str, table: list[dict[str, Any]]) -> Decision:
    best = ranked[0]
    base = by_model.get(BASELINE)
    vs = f"; naive last value {base['mase']:.3f}" if base and best["model"] != BASELINE else ""
    runner = f"; next {ranked[1]['model']} {ranked[1]['mase']:.3f}" if len(ranked) > 1 else ""
    version = f" v{best['version']}" if best.get("version") is not None else ""  # unregistered: a CV just run
    reason = (f"{best['model']}{version}: lowest out-of-sample MASE {best['mase']:.3f} at horizon "
              f"{horizon} among {len(ranked)} scored eligible model(s) for {priority} priority{runner}{vs} "
              f"({best['scheme']} CV, {best['folds']} folds, scored {best['scored_ts']:%Y-%m-%d %H:%M} UTC)")
    return Decision(best["model"], best["version"], best.get("params") or {}, reason, "registry",
                    candidates=table)
