"""What the data-ops workflows find and do: findings, actions, and which action fixes what.

A :class:`Finding` is one data-quality problem with its evidence; it becomes (or refreshes) a
row of ``quality_issues``. An :class:`Action` is what a workflow would do about it; in shadow
mode it is recorded in ``agent_actions`` as ``proposed`` and nothing else happens, in live mode
it is applied and its outcome recorded. Problems no workflow can fix become ``escalations``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

SEVERITIES = ("info", "warning", "error", "critical")

#: finding kind -> (severity, action kind that fixes it or None for information only)
KINDS: dict[str, tuple[str, str | None]] = {
    "trade_id_gap": ("error", "backfill_trades"),
    "candle_gap": ("warning", "refetch_candles"),
    "trade_time_gap": ("info", None),
    "duplicate_rows": ("warning", "dedupe_rows"),
    "out_of_order": ("warning", "escalate"),
    "symbol_stale": ("error", "reconnect_feed"),
    "feed_down": ("critical", "reconnect_feed"),
    "crossed_book": ("error", "resync_book"),
    "empty_book": ("warning", "resync_book"),
    "crossed_quotes": ("warning", "escalate"),
    "bad_price": ("critical", "escalate"),
    "price_outlier": ("error", "escalate"),
    "funding_stale": ("warning", "escalate"),
    "open_interest_stale": ("warning", "escalate"),
}

#: action kind -> the workflow that carries it out
WORKFLOW_OF: dict[str, str] = {
    "backfill_trades": "fill_gaps",
    "refetch_candles": "fill_gaps",
    "interpolate_candles": "fill_gaps",
    "dedupe_rows": "validate",
    "resync_book": "validate",
    "escalate": "validate",
    "reconnect_feed": "reconnect",
    "retention": "maintain",
    "checkpoint": "maintain",
    "analyze": "maintain",
    "prune_bookkeeping": "maintain",
}

WORKFLOWS = ("validate", "fill_gaps", "reconnect", "maintain")


def now_utc() -> datetime:
    """Naive-UTC now, the convention of every stored timestamp."""
    return datetime.now(UTC).replace(tzinfo=None)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def plain(value: Any) -> Any:
    """``value`` with every datetime as ISO-8601 UTC text (``...Z``), as tool results give times."""
    if isinstance(value, datetime):
        ts = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """JSON text for the evidence/params/outcome columns (datetimes as ISO text)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY, default=str).decode()


@dataclass
class Finding:
    """One problem found by a check, with the evidence that shows it."""

    kind: str
    exchange: str | None
    market: str | None
    symbol: str | None
    stream: str | None
    summary: str
    evidence: dict[str, Any]
    key: str = ""
    severity: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown finding kind {self.kind!r}")
        if not self.severity:
            self.severity = KINDS[self.kind][0]

    @property
    def fingerprint(self) -> str:
        """Identity across runs: the same gap seen twice is one issue."""
        return "|".join(str(p or "") for p in (self.kind, self.exchange, self.market, self.symbol, self.stream, self.key))

    @property
    def fix(self) -> str | None:
        return KINDS[self.kind][1]

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "exchange": self.exchange,
            "market": self.market,
            "symbol": self.symbol,
            "stream": self.stream,
            "summary": self.summary,
            "evidence": self.evidence,
        }


@dataclass
class Action:
    """Something a workflow would do (shadow) or does (live), with why."""

    kind: str
    params: dict[str, Any]
    evidence: dict[str, Any]
    exchange: str | None = None
    market: str | None = None
    symbol: str | None = None
    issue_ids: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    status: str = "pending"
    outcome: dict[str, Any] = field(default_factory=dict)
    action_id: str = field(default_factory=lambda: new_id("act"))

    @property
    def workflow(self) -> str:
        return WORKFLOW_OF[self.kind]

    def as_dict(self) -> dict[str, Any]:
        return {
            "action_id": self.action_id,
            "kind": self.kind,
            "workflow": self.workflow,
            "status": self.status,
            "exchange": self.exchange,
            "market": self.market,
            "symbol": self.symbol,
            "issue_ids": self.issue_ids,
            "params": self.params,
            "evidence": self.evidence,
            "outcome": self.outcome,
        }


@dataclass
class RunInfo:
    """One data-ops run: its id, mode and what it saw and did."""

    run_id: str
    shadow: bool
    trigger: str
    findings: list[Finding] = field(default_factory=list)
    issue_ids: dict[str, str] = field(default_factory=dict)  # fingerprint -> issue_id
    actions: list[Action] = field(default_factory=list)
    checks: dict[str, str] = field(default_factory=dict)  # check name -> "ran" or why skipped
    scopes: list[Any] = field(default_factory=list)  # the VenueScope s validated
    covers: list[Any] = field(default_factory=list)  # what the checks that ran cover
    workflows: list[str] = field(default_factory=list)

    @property
    def mode(self) -> str:
        return "shadow" if self.shadow else "live"
