"""Crew and data-ops tools: run the data-ops workflows, read their report, runs and briefings.

``run_data_ops`` is the one tool here that can change data, and only with ``shadow=false``
(and then only by adding what is missing or removing exact duplicates; see docs/crews.md).
It needs the database writable, i.e. a running ``flowdesk serve`` (``flowdesk mcp`` proxies to
it). The other tools only read.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson

from flowdesk.dataops.engine import DataOps, DataOpsBusy
from flowdesk.dataops.model import plain
from flowdesk.dataops.report import crew_runs, parse_window, quality_report
from flowdesk.tools.common import check_limit, check_symbol, resolve_venue
from flowdesk.tools.context import get_context, provenance
from flowdesk.tools.registry import REGISTRY, ToolError, tool

CREW_RUNS_CAP = 200


@tool("crews")
def run_data_ops(shadow: bool = True, workflows: list[str] | None = None) -> dict[str, Any]:
    """Run the data-ops workflows now and return what they found and did.

    ``workflows``: any of ``validate`` (trade-id and time gaps, duplicates, out-of-order rows,
    stale symbols and feeds, crossed or empty books, impossible and outlier prices, funding/OI
    freshness), ``fill_gaps`` (re-fetch missing trades and candles over REST), ``reconnect``,
    ``maintain`` (retention, statistics, checkpoint); default ``["validate", "fill_gaps"]``.
    ``shadow=true`` (default) records every action it would take as ``proposed`` and changes
    nothing; ``shadow=false`` applies them (never overwriting stored data) and records outcomes.
    Returns the run id, the checks run, findings with severity and evidence, actions with their
    status and outcome, and the health score (0-100) with its components.
    """
    ctx = get_context()
    ops = DataOps(ctx.settings, ctx.connection, ctx.live)
    try:
        result = ops.run(workflows or ["validate", "fill_gaps"], shadow=shadow, trigger="tool")
    except DataOpsBusy as exc:
        raise ToolError(str(exc)) from None
    except ValueError as exc:
        raise ToolError(str(exc)) from None
    except duckdb.Error as exc:
        if "read-only" in str(exc).lower() or "read only" in str(exc).lower():
            raise ToolError("run_data_ops needs the database writable: start `flowdesk serve` "
                            "(`flowdesk mcp` then proxies to it)") from None
        raise
    finally:
        ops.close()
    result["source"] = provenance(sorted(result["clocks"]), None, "validation window", None)
    return result


# the registry decorator marks every tool read-only; this one is not when shadow=false
REGISTRY["run_data_ops"] = dataclasses.replace(REGISTRY["run_data_ops"], read_only=False)


@tool("crews")
def get_quality_report(window: str = "24h") -> dict[str, Any]:
    """Data-quality report of the collected data.

    Returns the health score (0-100) with its formula and penalties; open issues by severity
    and kind with their evidence (newest and most severe first, at most 50); issues closed,
    actions proposed or applied (by mode, kind and status) and interpolated rows within
    ``window`` (e.g. ``15m``, ``6h``, ``7d``; at most ``30d``); open escalations; and the last
    run of each data-ops workflow.
    """
    ctx = get_context()
    try:
        parse_window(window)
    except ValueError as exc:
        raise ToolError(str(exc)) from None
    with ctx.db() as cur:
        report = quality_report(cur, ctx.settings, window)
    last = max((r["started"] for r in report["last_runs"]), default=None)
    report["source"] = provenance([], None, window, _parse_iso(last) if last else None)
    return report


@tool("crews")
def get_crew_runs(limit: int = 20, crew: str | None = None) -> dict[str, Any]:
    """The newest crew and data-ops runs, newest first.

    Returns per run: id, crew (``data_ops``, ``analytics``, ``intelligence``), workflows, mode
    (shadow/live), trigger (schedule, cli, tool), language model (``none`` when run without
    one), status, start/finish times and duration, inputs, a summary (tool calls, findings,
    actions, health score) and the output text (cut at 4000 characters). ``limit`` 1..200;
    ``crew`` filters by crew.
    """
    ctx = get_context()
    n = check_limit(limit, CREW_RUNS_CAP)
    with ctx.db() as cur:
        runs = crew_runs(cur, n, crew)
    return {"count": len(runs), "limit": n, "runs": runs,
            "source": provenance([], None, f"last {len(runs)} runs", _parse_iso(runs[0]["started_ts"]) if runs else None)}


@tool("crews")
def get_market_briefing(symbol: str, exchange: str = "binance_usdm") -> dict[str, Any]:
    """A market briefing for one symbol, rendered now from tool results.

    Runs the intelligence crew's deterministic plan (order-flow metrics, depth delta,
    liquidations, funding and open interest, data quality, snapshot, key levels) and renders
    it with a fixed template that states it was produced without a language model. Returns the
    markdown ``briefing``, the tools used and those that could not answer (with their errors),
    and ``latest_crew_briefing``: the newest briefing an intelligence crew run wrote for this
    symbol (with its model and time), or null.
    """
    from flowdesk.agents.calls import ToolCallLog
    from flowdesk.crews.catalog import crew_info, render_plan, run_plan
    from flowdesk.crews.config import load_crew_config
    from flowdesk.crews.templates import market_as_of

    ctx = get_context()
    ex, mk = resolve_venue(exchange)
    sym = check_symbol(ctx, symbol, ex, mk)
    inputs = {"symbol": sym, "exchange": f"{ex}_{mk}"}
    calls = ToolCallLog()
    results = run_plan(load_crew_config("intelligence"), inputs, log=calls, forced={"shadow": True})
    newest, _age = market_as_of(results)
    as_of = _parse_iso(newest) if newest else None
    return {
        "symbol": sym,
        "exchange": f"{ex}_{mk}",
        "produced_by": "template (no language model)",
        "briefing": render_plan(crew_info("intelligence"), inputs, results),
        "tools_used": [c["name"] for c in calls.as_list() if c["ok"]],
        "unavailable": [{"tool": r.tool, "error": r.error} for r in results if not r.ok],
        "latest_crew_briefing": _latest_briefing(sym),
        "source": provenance([f"{ex}_{mk}"], sym, "latest", as_of),
    }


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).replace(tzinfo=None)


def _latest_briefing(symbol: str) -> dict[str, Any] | None:
    ctx = get_context()
    with ctx.db() as cur:
        rows = cur.execute(
            "SELECT run_id, llm, finished_ts, inputs, output FROM crew_runs WHERE crew = 'intelligence' "
            "AND status = 'ok' AND output IS NOT NULL ORDER BY finished_ts DESC LIMIT 50"
        ).fetchall()
    for run_id, llm, finished, inputs, output in rows:
        if (orjson.loads(inputs) if inputs else {}).get("symbol") == symbol:
            return {"run_id": run_id, "llm": llm, "finished": plain(finished), "briefing": output}
    return None
