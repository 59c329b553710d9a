"""Read-side summaries of the bookkeeping tables: the quality report and the crew-run list."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import duckdb
import orjson

from flowdesk.dataops.health import health_score
from flowdesk.dataops.model import SEVERITIES, now_utc, plain
from flowdesk.settings import Settings

MAX_ISSUES = 50
MAX_ACTIONS = 20
MAX_ESCALATIONS = 20
MAX_OUTPUT_CHARS = 4000
_WINDOW = re.compile(r"^(\d+)\s*([mhd])$")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400}
MAX_WINDOW_S = 30 * 86400


def parse_window(window: str) -> timedelta:
    """``15m``, ``6h``, ``7d`` -> timedelta (1 minute .. 30 days); ValueError otherwise."""
    m = _WINDOW.match(str(window).strip().lower())
    if not m or int(m.group(1)) < 1:
        raise ValueError(f"window must look like 15m, 6h or 7d, got {window!r}")
    seconds = int(m.group(1)) * _UNIT_S[m.group(2)]
    if seconds > MAX_WINDOW_S:
        raise ValueError(f"window must be at most 30d, got {window!r}")
    return timedelta(seconds=seconds)


def _rows(cur: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    res = cur.execute(sql, params)
    names = [d[0] for d in res.description]
    return [dict(zip(names, row, strict=True)) for row in res.fetchall()]


def _json(text: str | None) -> Any:
    return orjson.loads(text) if text else None


def quality_report(cur: duckdb.DuckDBPyConnection, settings: Settings, window: str) -> dict[str, Any]:
    """Open issues, what happened in ``window`` (issues closed, actions, escalations) and the
    health score. Times are when the workflows recorded them (UTC)."""
    span = parse_window(window)
    since = now_utc() - span
    sev_rank = {s: i for i, s in enumerate(SEVERITIES)}
    open_rows = _rows(cur, "SELECT issue_id, kind, severity, exchange, market, symbol, stream, summary, evidence, "
                      "first_seen_ts, last_seen_ts, seen_count FROM quality_issues WHERE status = 'open'", [])
    open_rows.sort(key=lambda r: r["last_seen_ts"], reverse=True)
    open_rows.sort(key=lambda r: sev_rank.get(r["severity"], 0), reverse=True)  # stable: newest first within
    closed = dict(cur.execute("SELECT status, count(*) FROM quality_issues WHERE status <> 'open' AND closed_ts >= ? "
                              "GROUP BY 1", [since]).fetchall())
    actions = _rows(cur, "SELECT action_id, workflow, kind, mode, status, exchange, market, symbol, params, outcome, "
                    "proposed_count, updated_ts FROM agent_actions WHERE updated_ts >= ? ORDER BY updated_ts DESC", [since])
    escalations = _rows(cur, "SELECT escalation_id, issue_id, kind, severity, symbol, reason, created_ts, updated_ts "
                        "FROM escalations WHERE status = 'open' ORDER BY updated_ts DESC", [])
    interpolated = cur.execute("SELECT count(*) FROM interpolations WHERE created_ts >= ?", [since]).fetchone()
    last_runs = _rows(cur, "SELECT workflow, arg_max(run_id, started_ts) AS run_id, max(started_ts) AS started, "
                      "arg_max(status, started_ts) AS status, arg_max(mode, started_ts) AS mode FROM crew_runs "
                      "WHERE crew = 'data_ops' AND workflow IS NOT NULL GROUP BY workflow ORDER BY workflow", [])
    for row in open_rows:
        row["evidence"] = _json(row["evidence"])
    for row in actions:
        row["params"], row["outcome"] = _json(row["params"]), _json(row["outcome"])
    return plain({
        "window": window,
        "health": health_score(cur, settings),
        "open_issues": {
            "total": len(open_rows),
            "by_severity": dict(Counter(r["severity"] for r in open_rows)),
            "by_kind": dict(Counter(r["kind"] for r in open_rows)),
            "items": open_rows[:MAX_ISSUES],
        },
        "closed_in_window": closed,
        "actions_in_window": {
            "total": len(actions),
            "by_mode_and_status": dict(Counter(f"{a['mode']}:{a['status']}" for a in actions)),
            "by_kind": dict(Counter(a["kind"] for a in actions)),
            "latest": actions[:MAX_ACTIONS],
        },
        "open_escalations": {"total": len(escalations), "items": escalations[:MAX_ESCALATIONS]},
        "interpolated_rows_in_window": int(interpolated[0]) if interpolated else 0,
        "last_runs": last_runs,
        "truncated": len(open_rows) > MAX_ISSUES or len(actions) > MAX_ACTIONS or len(escalations) > MAX_ESCALATIONS,
    })


def crew_runs(cur: duckdb.DuckDBPyConnection, limit: int, crew: str | None = None) -> list[dict[str, Any]]:
    """The newest runs (crews and data-ops workflows), outputs cut at 4000 characters."""
    where, params = ("WHERE crew = ?", [crew]) if crew else ("", [])
    rows = _rows(cur, f"SELECT * FROM crew_runs {where} ORDER BY started_ts DESC LIMIT ?", [*params, limit])
    for row in rows:
        row["inputs"], summary = _json(row["inputs"]), _json(row.pop("summary"))
        row["summary"] = _brief_summary(summary)
        out = row.get("output")
        if out and len(out) > MAX_OUTPUT_CHARS:
            row["output"] = out[:MAX_OUTPUT_CHARS] + f" ... [truncated: {len(out)} characters]"
        started, finished = row["started_ts"], row["finished_ts"]
        row["seconds"] = round((finished - started).total_seconds(), 3) if isinstance(finished, datetime) else None
    return plain(rows)


def _brief_summary(summary: Any) -> Any:
    """The headline numbers of a stored run summary (the full one stays in the table)."""
    if not isinstance(summary, dict):
        return summary
    out: dict[str, Any] = {}
    for key in ("mode", "workflows", "llm", "tasks"):
        if key in summary:
            out[key] = summary[key]
    if isinstance(summary.get("findings"), dict):
        out["findings"] = {k: summary["findings"].get(k) for k in ("total", "by_kind")}
    if isinstance(summary.get("actions"), dict):
        out["actions"] = {k: summary["actions"].get(k) for k in ("total", "by_status")}
    if isinstance(summary.get("health"), dict):
        out["health_score"] = summary["health"].get("score")
    if "tool_calls" in summary:
        calls = summary["tool_calls"]
        out["tool_calls"] = [{"name": c.get("name"), "ok": c.get("ok"), "error": c.get("error")} for c in calls]
    return out
