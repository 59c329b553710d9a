"""The data health score (0-100) from open issues, feed freshness and the outcome of fixes.

    score = clamp(round(100 - P_issues - P_freshness - P_fixes), 0, 100)

    P_issues    = min(60, 20*critical + 8*error + 2*warning + 0.5*info)   (open issues)
    P_freshness = 30 * stale / configured    (configured venue/symbol pairs with an open
                  symbol_stale issue, or whose venue has an open feed_down issue)
    P_fixes     = 10 * unsuccessful / attempted   (live actions of the last 24 h other than
                  escalations: partial, failed or escalated ones over all attempted; 0 if none)

A clean desk scores 100; one open trade-id gap scores 92; a venue whose every symbol is stale
loses 30 on freshness alone. The inputs come from the latest validation, so the score is as
current as the last ``validate`` run (every 5 minutes by default).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import duckdb

from flowdesk.dataops.model import now_utc
from flowdesk.settings import Settings
from flowdesk.tools.common import VENUES

WEIGHTS = {"critical": 20.0, "error": 8.0, "warning": 2.0, "info": 0.5}
ISSUE_CAP = 60.0
FRESHNESS_WEIGHT = 30.0
FIX_WEIGHT = 10.0
FORMULA = (
    "100 - min(60, 20*critical + 8*error + 2*warning + 0.5*info) - 30*stale_pairs/configured_pairs "
    "- 10*unsuccessful_live_fixes_24h/attempted_live_fixes_24h, clamped to 0..100"
)


def _configured_pairs(settings: Settings) -> set[tuple[str, str, str]]:
    out = set()
    for v in settings.enabled_venues():
        if v.name in VENUES:
            ex, mk = VENUES[v.name]
            out.update((ex, mk, s) for s in v.symbols)
    return out


def health_score(cur: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, Any]:
    """The score with its components, so a reader can check the arithmetic."""
    counts = dict.fromkeys(WEIGHTS, 0)
    for sev, n in cur.execute("SELECT severity, count(*) FROM quality_issues WHERE status = 'open' GROUP BY 1").fetchall():
        counts[sev] = int(n)
    p_issues = min(ISSUE_CAP, sum(WEIGHTS[s] * n for s, n in counts.items()))
    pairs = _configured_pairs(settings)
    stale_rows = cur.execute(
        "SELECT kind, exchange, market, symbol FROM quality_issues WHERE status = 'open' AND kind IN ('symbol_stale', 'feed_down')"
    ).fetchall()
    stale = set()
    for kind, ex, mk, sym in stale_rows:
        stale.update(p for p in pairs if p[:2] == (ex, mk) and (kind == "feed_down" or p[2] == sym))
    p_fresh = FRESHNESS_WEIGHT * len(stale) / len(pairs) if pairs else 0.0
    attempted, bad = cur.execute(
        "SELECT count(*), count(*) FILTER (WHERE status IN ('partial', 'failed', 'escalated')) FROM agent_actions "
        "WHERE mode = 'live' AND kind <> 'escalate' AND status <> 'skipped' AND updated_ts >= ?",
        [now_utc() - timedelta(hours=24)],
    ).fetchone() or (0, 0)
    p_fix = FIX_WEIGHT * bad / attempted if attempted else 0.0
    score = max(0, min(100, round(100 - p_issues - p_fresh - p_fix)))
    return {
        "score": score,
        "open_issues": counts,
        "penalties": {"issues": round(p_issues, 2), "freshness": round(p_fresh, 2), "fixes": round(p_fix, 2)},
        "stale_pairs": len(stale),
        "configured_pairs": len(pairs),
        "live_fixes_24h": {"attempted": int(attempted), "unsuccessful": int(bad)},
        "formula": FORMULA,
    }
