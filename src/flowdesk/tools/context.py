"""What a tool reads from: the DuckDB store and, inside ``flowdesk serve``, the live state.

The server (or a test) calls :func:`set_context` once; tools call :func:`get_context`.
``live`` is ``None`` when tools run over a stored database only (e.g. ``flowdesk mcp`` with no
server running): tools then answer from the tables and say so.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import duckdb

from flowdesk.settings import Settings
from flowdesk.tools.registry import ToolError


class LiveView(Protocol):
    """The read side of the running streaming controller."""

    def feed_status(self) -> list[dict[str, Any]]: ...

    def book_top(self, exchange: str, market: str, symbol: str, depth: int) -> dict[str, Any] | None: ...

    def latest(self, exchange: str, market: str, symbol: str, kind: str) -> tuple | None:
        """The newest record of ``kind`` (a record class name, e.g. ``"Quote"``) seen live."""
        ...


@dataclass
class ToolContext:
    settings: Settings
    connection: duckdb.DuckDBPyConnection
    live: LiveView | None = None
    _local: threading.local = field(default_factory=threading.local)
    _cursors: list[duckdb.DuckDBPyConnection] = field(default_factory=list)

    @contextmanager
    def db(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor on the shared database, one per thread (DuckDB cursors are not thread-safe)."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self.connection.cursor()
            self._local.cursor = cur
            self._cursors.append(cur)
        yield cur

    def close(self) -> None:
        """Close every cursor handed out (ends their transactions before a checkpoint)."""
        for cur in self._cursors:
            cur.close()
        self._cursors.clear()


_CONTEXT: ToolContext | None = None


def set_context(ctx: ToolContext | None) -> None:
    global _CONTEXT
    _CONTEXT = ctx


def get_context() -> ToolContext:
    if _CONTEXT is None:
        raise ToolError("flowdesk has no data store open (start `flowdesk serve` or set FLOWDESK_DATA_DIR)")
    return _CONTEXT


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def iso(ts: datetime | int | None) -> str | None:
    """ISO-8601 UTC text for a naive-UTC datetime or epoch milliseconds."""
    if ts is None:
        return None
    if isinstance(ts, int):
        ts = datetime.fromtimestamp(ts / 1000, tz=UTC)
    elif ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.isoformat().replace("+00:00", "Z")


def age_s(ts: datetime | None) -> float | None:
    """Seconds between ``ts`` (naive UTC) and now."""
    if ts is None:
        return None
    return round(time.time() - ts.replace(tzinfo=UTC).timestamp(), 3)


def provenance(
    exchanges: list[str], symbol: str | None, window: str | None, as_of: datetime | None
) -> dict[str, Any]:
    """The ``source`` block every tool result carries: what it was computed from and how old."""
    return {
        "exchanges": exchanges,
        "symbol": symbol,
        "window": window,
        "as_of": iso(as_of),
        "data_age_s": age_s(as_of),
    }
