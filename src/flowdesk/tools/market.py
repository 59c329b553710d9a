"""Market tools: snapshot, recent trades, streaming status."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flowdesk.tools.common import (
    check_limit,
    check_symbol,
    latest_row,
    newest,
    resolve_venue,
    unavailable_reason,
)
from flowdesk.tools.context import ToolContext, age_s, get_context, iso, provenance
from flowdesk.tools.registry import ToolError, tool

RECENT_TRADES_CAP = 1000

#: record kind -> (table, columns, the record fields for those columns)
_SNAPSHOT_PARTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Trade": ("trades", ("price", "qty", "side", "trade_id")),
    "Quote": ("quotes", ("bid", "bid_qty", "ask", "ask_qty")),
    "MarkFunding": ("mark_funding", ("mark_price", "index_price", "funding_rate", "next_funding_ts")),
    "Ticker24h": ("tickers_24h", ("last", "open", "high", "low", "volume", "quote_volume", "price_change_pct", "trade_count")),
    "OpenInterest": ("open_interest", ("open_interest", "open_interest_value")),
}


def _ms_to_dt(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC).replace(tzinfo=None)


def _part(ctx: ToolContext, kind: str, exchange: str, market: str, symbol: str) -> dict[str, Any] | None:
    """The newest of the stored row and the live record of ``kind`` (live is fresher but unstored)."""
    table, cols = _SNAPSHOT_PARTS[kind]
    stored = latest_row(ctx, table, ", ".join(cols), exchange, market, symbol)
    rec = ctx.live.latest(exchange, market, symbol, kind) if ctx.live is not None else None
    if rec is not None:
        live = {c: getattr(rec, c) for c in cols}
        if "next_funding_ts" in live:
            live["next_funding_ts"] = _ms_to_dt(live["next_funding_ts"])
        live["ts"] = _ms_to_dt(rec.ts)
        if stored is None or live["ts"] >= stored["ts"]:
            return live
    return stored


@tool("market")
def get_market_snapshot(symbol: str, exchange: str = "binance_usdm") -> dict[str, Any]:
    """Current market picture for one symbol on one venue.

    Returns last trade price, best bid/ask with sizes and spread, mark and index price, funding
    rate and next funding time, open interest (its quote value computed as quantity x mark, with
    a note, where the venue sends the quantity only), 24h open/high/low/volume/change, and for each
    part the exchange time it is from and its age in seconds. Parts the venue has not sent yet
    are null and listed in ``missing``; ``unavailable`` says which parts the venue has no public
    source for, and why (spot venues: no mark, funding or open interest).
    ``exchange``: venue id, e.g. ``binance_usdm``, ``bybit_linear``, ``okx_swap``.
    """
    ctx = get_context()
    ex, mk = resolve_venue(exchange)
    sym = check_symbol(ctx, symbol, ex, mk)
    parts = {kind: _part(ctx, kind, ex, mk, sym) for kind in _SNAPSHOT_PARTS}
    if all(p is None for p in parts.values()):
        raise ToolError(f"no data stored yet for {sym} on {ex}_{mk}; is the collector running?")
    t, q, m, k, o = (parts[x] or {} for x in ("Trade", "Quote", "MarkFunding", "Ticker24h", "OpenInterest"))
    bid, ask = q.get("bid"), q.get("ask")
    result: dict[str, Any] = {
        "symbol": sym,
        "exchange": f"{ex}_{mk}",
        "last_price": t.get("price"),
        "bid": bid,
        "bid_qty": q.get("bid_qty"),
        "ask": ask,
        "ask_qty": q.get("ask_qty"),
        "spread": None if bid is None or ask is None else round(ask - bid, 10),
        "mark_price": m.get("mark_price"),
        "index_price": m.get("index_price"),
        "funding_rate": m.get("funding_rate"),
        "next_funding_time": iso(m.get("next_funding_ts")),
        "open_interest": o.get("open_interest"),
        "open_interest_value": o.get("open_interest_value"),
        "high_24h": k.get("high"),
        "low_24h": k.get("low"),
        "open_24h": k.get("open"),
        "volume_24h": k.get("volume"),
        "quote_volume_24h": k.get("quote_volume"),
        "change_pct_24h": k.get("price_change_pct"),
        "parts": {kind: {"as_of": iso(p["ts"]), "age_s": age_s(p["ts"])} if p else None for kind, p in parts.items()},
        "missing": [kind for kind, p in parts.items() if p is None],
        "unavailable": {
            kind: why for kind in parts if (why := unavailable_reason(ex, mk, kind)) is not None
        },
    }
    _fill_oi_value(result)
    if ctx.live is not None:
        result["book"] = ctx.live.book_top(ex, mk, sym, 5)
    as_of = newest(*(p["ts"] for p in parts.values() if p))
    result["source"] = provenance([f"{ex}_{mk}"], sym, "latest", as_of)
    return result


def _fill_oi_value(result: dict[str, Any]) -> None:
    """Open interest in quote currency when the venue sends only the quantity (Binance's
    ``openInterest``): quantity x mark price, the definition Binance's own
    ``sumOpenInterestValue`` uses for linear contracts, with a note saying it was computed."""
    oi, mark = result["open_interest"], result["mark_price"]
    if result["open_interest_value"] is None and oi is not None and mark is not None:
        result["open_interest_value"] = round(oi * mark, 2)
        result["open_interest_value_note"] = "computed: open_interest x mark_price (the venue sends the quantity only)"


@tool("market")
def get_recent_trades(symbol: str, limit: int = 100, exchange: str = "binance_usdm") -> dict[str, Any]:
    """The most recent public trades of a symbol, newest first.

    Returns up to ``limit`` trades (1..1000, a hard cap) with trade id, price, quantity,
    aggressor side (buy/sell), exchange time and whether it came from the stream or a REST
    backfill, plus count, buy/sell volume of the returned trades, and the source block.
    """
    ctx = get_context()
    n = check_limit(limit, RECENT_TRADES_CAP)
    ex, mk = resolve_venue(exchange)
    sym = check_symbol(ctx, symbol, ex, mk)
    with ctx.db() as cur:
        rows = cur.execute(
            "SELECT trade_id, price, qty, side, ts, source FROM trades "
            "WHERE exchange = ? AND market = ? AND symbol = ? ORDER BY ts DESC, trade_id DESC LIMIT ?",
            [ex, mk, sym, n],
        ).fetchall()
    trades = [
        {"trade_id": tid, "price": p, "qty": q, "side": s, "time": iso(ts), "source": src}
        for tid, p, q, s, ts, src in rows
    ]
    return {
        "symbol": sym,
        "exchange": f"{ex}_{mk}",
        "count": len(trades),
        "limit": n,
        "buy_volume": sum(t["qty"] for t in trades if t["side"] == "buy"),
        "sell_volume": sum(t["qty"] for t in trades if t["side"] == "sell"),
        "trades": trades,
        "source": provenance([f"{ex}_{mk}"], sym, f"last {len(trades)} trades", rows[0][4] if rows else None),
    }


@tool("market")
def get_streaming_status() -> dict[str, Any]:
    """Health of every collector feed.

    Returns, per feed: connected, messages/s, last message age, connects and reconnects, book
    resyncs and per-symbol book state (synced, age), trade gaps detected and backfilled,
    malformed and unknown frames, REST rate-limit hits, errors with the last one, rows written
    per table, writer queue depth. When no collector runs in this process (a stored database
    only), says so and returns per-table row counts and newest times instead.
    """
    ctx = get_context()
    stored = _stored_summary(ctx)
    if ctx.live is None:
        return {
            "collector_running": False,
            "note": "no collector in this process: figures are from the stored database",
            "feeds": [],
            "tables": stored,
            "source": provenance([], None, "all", None),
        }
    return {
        "collector_running": True,
        "feeds": ctx.live.feed_status(),
        "tables": stored,
        "source": provenance(sorted({f"{f['exchange']}_{f['market']}" for f in ctx.live.feed_status()}), None, "live", None),
    }


def _stored_summary(ctx: ToolContext) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with ctx.db() as cur:
        for table in ("trades", "quotes", "mark_funding", "open_interest", "liquidations", "tickers_24h", "candles", "depth_bands"):
            col = "open_ts" if table == "candles" else "ts"
            count, newest_ts = cur.execute(f"SELECT count(*), max({col}) FROM {table}").fetchone()
            out[table] = {"rows": count, "newest": iso(newest_ts)}
        gaps = cur.execute("SELECT status, count(*) FROM trade_gaps GROUP BY status").fetchall()
    out["trade_gaps"] = dict(gaps)
    return out
