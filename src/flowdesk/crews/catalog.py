"""The crews flowdesk ships, their inputs, and their deterministic plans.

A crew's deterministic plan is the ``calls`` of its tasks in ``tasks.yaml``, run in order and
rendered by :mod:`flowdesk.crews.templates`. It is what a crew does with no language model
configured, and what ``get_market_briefing`` runs for the intelligence crew. This module does
not import crewai.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flowdesk.agents.calls import Caller, CallResult, ToolCallLog, in_process, invoke
from flowdesk.crews.config import CrewConfig, CrewConfigError
from flowdesk.crews.templates import render
from flowdesk.settings import Settings


@dataclass(frozen=True)
class CrewInfo:
    name: str
    title: str  # report title; may use the inputs, e.g. {symbol}
    description: str
    module: str
    cls: str


CREWS: dict[str, CrewInfo] = {
    "data_ops": CrewInfo(
        "data_ops", "Data operations report ({mode})",
        "collector, validator, cleaner, schema manager: validate the data, fill gaps, review storage",
        "flowdesk.crews.data_ops.crew", "DataOpsCrew"),
    "analytics": CrewInfo(
        "analytics", "Analytics: {symbol} on {exchange}",
        "forecaster and regime analyst: latest forecasts, model scores, regime in numbers",
        "flowdesk.crews.analytics.crew", "AnalyticsCrew"),
    "intelligence": CrewInfo(
        "intelligence", "Market briefing: {symbol} on {exchange}",
        "order-flow analyst, risk assessor, market researcher: the market briefing",
        "flowdesk.crews.intelligence.crew", "IntelligenceCrew"),
}


def crew_info(name: str) -> CrewInfo:
    try:
        return CREWS[name]
    except KeyError:
        raise CrewConfigError(f"unknown crew {name!r}; crews: {sorted(CREWS)}") from None


def default_symbols(settings: Settings) -> tuple[str, ...]:
    return settings.crews.symbols or settings.symbols


def resolve_inputs(config: CrewConfig, settings: Settings, given: dict[str, Any]) -> dict[str, Any]:
    """The run's inputs: the given ones, plus ``symbol`` (the first crews/settings symbol) and
    ``exchange`` (``binance_usdm``) by default; an input a task needs but nobody gave is an error."""
    inputs = {"exchange": "binance_usdm", **given}
    needed = config.inputs()
    if "symbol" in needed and "symbol" not in inputs:
        inputs["symbol"] = default_symbols(settings)[0]
    if "symbol" in inputs:
        inputs["symbol"] = str(inputs["symbol"]).upper()
    missing = sorted(needed - set(inputs))
    if missing:
        raise CrewConfigError(f"crew {config.name!r} needs input(s) {missing} (give them with --inputs key=value)")
    return inputs


def run_plan(config: CrewConfig, inputs: dict[str, Any], caller: Caller = in_process,
             log: ToolCallLog | None = None, forced: dict[str, Any] | None = None) -> list[CallResult]:
    """Every task's ``calls``, in task order, through ``caller``."""
    results: list[CallResult] = []
    for task in config.tasks:
        for plan in config.calls(task):
            results.append(invoke(plan.tool, plan.resolve(inputs), caller, log, forced))
    return results


def render_plan(info: CrewInfo, inputs: dict[str, Any], results: list[CallResult]) -> str:
    return render(info.title.format_map({"symbol": "", "exchange": "", **inputs}), results)
