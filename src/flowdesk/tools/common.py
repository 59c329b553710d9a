"""Argument checks and lookups shared by the tool modules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flowdesk.streaming.venues.registry import VENUE_IDS
from flowdesk.tools.context import ToolContext
from flowdesk.tools.registry import ToolError

#: venue id -> (exchange, market) as stored in the tables
VENUES: dict[str, tuple[str, str]] = VENUE_IDS


def resolve_venue(exchange: str) -> tuple[str, str]:
    """Accept ``binance_usdm``, ``binance:usdm`` or ``binance`` (its first market); return
    ``(exchange, market)`` or raise :class:`ToolError` listing the known venues."""
    key = exchange.strip().lower().replace(":", "_").replace("-", "_")
    if key in VENUES:
        return VENUES[key]
    for _venue, (ex, mk) in VENUES.items():
        if ex == key:
            return ex, mk
    raise ToolError(f"unknown exchange {exchange!r}; known: {sorted(VENUES)}")


def unavailable_reason(exchange: str, market: str, kind: str) -> str | None:
    """Why venue ``exchange``/``market`` has no public source for record ``kind`` (e.g.
    ``"Liquidation"``), from its protocol description; ``None`` when it has one."""
    from flowdesk.streaming.venues.registry import protocol

    for name, pair in VENUES.items():
        if pair == (exchange, market):
            return protocol(name).unavailable.get(kind)
    return None


def known_symbols(ctx: ToolContext, exchange: str, market: str) -> list[str]:
    """Symbols configured for the venue plus any with stored trades or quotes."""
    configured: set[str] = set()
    for v in ctx.settings.venues.values():
        if VENUES.get(v.name) == (exchange, market):
            configured.update(v.symbols)
    with ctx.db() as cur:
        rows = cur.execute(
            "SELECT DISTINCT symbol FROM trades WHERE exchange = ? AND market = ? "
            "UNION SELECT DISTINCT symbol FROM quotes WHERE exchange = ? AND market = ?",
            [exchange, market, exchange, market],
        ).fetchall()
    return sorted(configured | {s for (s,) in rows})


def check_symbol(ctx: ToolContext, symbol: str, exchange: str, market: str) -> str:
    """Upper-case ``symbol`` and check that the venue knows it; :class:`ToolError` otherwise."""
    if not isinstance(symbol, str) or not symbol.strip():
        raise ToolError("symbol must be a non-empty string like 'BTCUSDT'")
    sym = symbol.strip().upper().replace("-", "").replace("/", "")
    known = known_symbols(ctx, exchange, market)
    if sym not in known:
        raise ToolError(f"unknown symbol {symbol!r} for {exchange}_{market}; known: {known}")
    return sym


def check_limit(limit: int, hard_cap: int, name: str = "limit") -> int:
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise ToolError(f"{name} must be an integer between 1 and {hard_cap}, got {limit!r}")
    if not 1 <= limit <= hard_cap:
        raise ToolError(f"{name} must be between 1 and {hard_cap}, got {limit}")
    return limit


def latest_row(ctx: ToolContext, table: str, columns: str, exchange: str, market: str, symbol: str) -> dict[str, Any] | None:
    """The newest row (by ``ts``) of ``table`` for the symbol, as a dict, or None."""
    with ctx.db() as cur:
        res = cur.execute(
            f"SELECT {columns}, ts FROM {table} WHERE exchange = ? AND market = ? AND symbol = ? "
            "ORDER BY ts DESC LIMIT 1",
            [exchange, market, symbol],
        )
        rows = res.fetchall()  # never leave a result half-read on a shared cursor
        if not rows:
            return None
        row = rows[0]
        names = [d[0] for d in res.description]
    return dict(zip(names, row, strict=True))


def newest(*times: datetime | None) -> datetime | None:
    present = [t for t in times if t is not None]
    return max(present) if present else None
