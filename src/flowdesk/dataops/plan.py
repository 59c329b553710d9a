"""From open issues to actions: which workflow does what about which issue.

Every workflow plans from the open issues in ``quality_issues`` (recorded by the latest
``validate``), so a workflow run on its own schedule acts on what is still open, and the same
problem seen again refreshes one proposal instead of adding another.
"""

from __future__ import annotations

from typing import Any

import orjson

from flowdesk.dataops.model import KINDS, WORKFLOW_OF, Action, Finding
from flowdesk.dataops.scope import VenueScope
from flowdesk.tools.common import VENUES

_VENUE_OF = {pair: name for name, pair in VENUES.items()}


def issue_finding(row: dict[str, Any]) -> Finding:
    """A stored ``quality_issues`` row back as a :class:`Finding`."""
    key = str(row["fingerprint"]).rsplit("|", 1)[-1]
    return Finding(row["kind"], row["exchange"], row["market"], row["symbol"], row["stream"], row["summary"],
                   orjson.loads(row["evidence"]), key, row["severity"])


def _venue(row: dict[str, Any]) -> str:
    return _VENUE_OF.get((row["exchange"], row["market"]), f"{row['exchange']}_{row['market']}")


def _params(kind: str, row: dict[str, Any], ev: dict[str, Any]) -> dict[str, Any]:
    venue = _venue(row)
    if kind == "backfill_trades":
        return {"venue": venue, "from_id": ev["from_id"], "to_id": ev["to_id"]}
    if kind == "refetch_candles":
        return {"venue": venue, "from_open_ms": ev["from_open_ms"], "to_open_ms": ev["to_open_ms"]}
    if kind == "dedupe_rows":
        return {"venue": venue, "table": ev["table"], "since": str(ev["first_ts"])}
    if kind == "resync_book":
        return {"venue": venue}
    if kind == "reconnect_feed":
        return {"venue": venue}
    return {"finding": row["kind"], "issue_id": row["issue_id"]}


def _group_key(kind: str, row: dict[str, Any]) -> tuple[Any, ...]:
    """Issues that one action settles together: one resync per book, one reconnect per venue."""
    if kind == "resync_book":
        return (kind, row["exchange"], row["market"], row["symbol"])
    if kind == "reconnect_feed":
        return (kind, row["exchange"], row["market"])
    return (kind, row["issue_id"])


def plan(workflow: str, issues: list[dict[str, Any]], scopes: list[VenueScope]) -> list[Action]:
    """The actions ``workflow`` takes for the open ``issues``."""
    by_venue = {(s.exchange, s.market): s for s in scopes}
    actions: dict[tuple[Any, ...], Action] = {}
    for row in issues:
        kind = KINDS[row["kind"]][1]
        if kind is None or WORKFLOW_OF[kind] != workflow:
            continue
        finding = issue_finding(row)
        key = _group_key(kind, row)
        act = actions.get(key)
        if act is None:
            scope = by_venue.get((row["exchange"], row["market"]))
            symbol = None if kind == "reconnect_feed" else row["symbol"]
            act = Action(kind, _params(kind, row, finding.evidence), {}, row["exchange"], row["market"], symbol)
            if scope is not None:
                act.evidence["venue_now_ms"] = scope.now_ms  # what "closed" means for a re-fetched bar
            actions[key] = act
        act.issue_ids.append(row["issue_id"])
        act.findings.append(finding)
        act.evidence.setdefault("findings", []).append(finding.as_dict())
    return list(actions.values())


def issue_kinds(workflow: str) -> list[str]:
    """Finding kinds whose fix belongs to ``workflow``."""
    return [k for k, (_sev, fix) in KINDS.items() if fix is not None and WORKFLOW_OF[fix] == workflow]
