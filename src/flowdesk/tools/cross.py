"""Cross-exchange tools: one symbol across every venue that is configured or has data.

Each venue's picture is the newest of its stored row and its live record per part (quote, last
trade, 24h ticker, mark/funding), the same merge as :func:`flowdesk.tools.market._part`.
Conventions (see ``docs/cross_exchange.md``):

* mid difference A vs B in bps: ``(mid_a - mid_b) / ((mid_a + mid_b) / 2) * 1e4`` (exactly
  antisymmetric); executable cross "buy on A, sell on B": ``(bid_b - ask_a) / ask_a * 1e4``.
* net of fees: ``gross - taker_a - taker_b`` (taker fee in bps from settings, else the venue
  protocol's default); a quote older than ``stale_after_s`` (or ``max_age_s``) is stale.
* funding annualized: ``rate * (8760 / interval_h) * 100`` percent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from flowdesk.streaming.venues import registry as venue_registry
from flowdesk.streaming.venues.protocol import VenueProtocol
from flowdesk.tools.context import ToolContext, age_s, get_context, iso, provenance
from flowdesk.tools.market import _part
from flowdesk.tools.registry import ToolError, tool

#: venue id -> (exchange, market)
VENUES: dict[str, tuple[str, str]] = venue_registry.VENUE_IDS
#: funding interval in hours when the stored next_funding_ts history cannot tell it
DEFAULT_FUNDING_INTERVAL_H = 8.0
FUNDING_INTERVAL_H: dict[str, float] = {"hyperliquid_perp": 1.0}
HOURS_PER_YEAR = 24 * 365
HISTORY_WINDOW = timedelta(hours=1)
MAX_OPPORTUNITIES = 20
#: the dataclass default of VenueProtocol.taker_fee_bps, used when a venue module is missing
GENERIC_TAKER_FEE_BPS: float = VenueProtocol.taker_fee_bps
_DATA_TABLES = ("quotes", "mark_funding", "tickers_24h", "trades")
_ALL_PARTS = ("Quote", "Trade", "Ticker24h", "MarkFunding")
_FORMULAS = {
    "mid_diff_bps[a][b]": "(mid_a - mid_b) / ((mid_a + mid_b) / 2) * 1e4",
    "cross_bps[a][b]": "(bid_b - ask_a) / ask_a * 1e4: buy on a at its ask, sell on b at its bid",
}


# ----------------------------------------------------------------------------- venue views


class _Top(NamedTuple):
    """A venue's complete top of book (both sides present and positive)."""

    venue: str
    spot: bool
    bid: float
    ask: float
    bid_qty: float | None
    ask_qty: float | None
    age: float  # seconds

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2


@dataclass(frozen=True)
class _View:
    """One venue's newest parts for the symbol (each ``None`` when the venue has not sent it)."""

    name: str
    market: str
    parts: dict[str, dict[str, Any] | None]

    def get(self, kind: str) -> dict[str, Any]:
        return self.parts.get(kind) or {}

    @property
    def spot(self) -> bool:
        return self.market == "spot"

    def top(self) -> _Top | None:
        q = self.get("Quote")
        bid, ask = q.get("bid"), q.get("ask")
        if bid is None or ask is None or bid <= 0 or ask <= 0:
            return None
        return _Top(self.name, self.spot, bid, ask, q.get("bid_qty"), q.get("ask_qty"), _age(q["ts"]))

    def age(self, kind: str) -> float | None:
        part = self.parts.get(kind)
        return _age(part["ts"]) if part else None

    def has_data(self) -> bool:
        return any(p is not None for p in self.parts.values())

    def newest_ts(self) -> datetime | None:
        times = [p["ts"] for p in self.parts.values() if p]
        return max(times) if times else None


def _age(ts: datetime) -> float:
    return round(age_s(ts) or 0.0, 2)


def _normalize(symbol: str) -> str:
    if not isinstance(symbol, str) or not symbol.strip():
        raise ToolError("symbol must be a non-empty string like 'BTCUSDT'")
    return symbol.strip().upper().replace("-", "").replace("/", "")


def _known_symbols(ctx: ToolContext) -> list[str]:
    configured = {s for v in ctx.settings.enabled_venues() for s in v.symbols}
    with ctx.db() as cur:
        stored = {s for (s,) in cur.execute("SELECT DISTINCT symbol FROM quotes LIMIT 100").fetchall()}
    return sorted(configured | stored)[:50]


def _venues_for(ctx: ToolContext, symbol: str) -> tuple[str, list[str]]:
    """The normalized symbol and, in registry order, the venues configured for it or with data."""
    sym = _normalize(symbol)
    union = " UNION ".join(f"SELECT DISTINCT exchange, market FROM {t} WHERE symbol = ?" for t in _DATA_TABLES)
    with ctx.db() as cur:
        stored = set(cur.execute(union, [sym] * len(_DATA_TABLES)).fetchall())
    configured = {v.name for v in ctx.settings.enabled_venues() if sym in v.symbols}
    names = [n for n, pair in VENUES.items() if n in configured or pair in stored]
    if not names:
        raise ToolError(
            f"unknown symbol {symbol!r}: no venue is configured for it or has data; known: {_known_symbols(ctx)}"
        )
    return sym, names


def _views(ctx: ToolContext, sym: str, names: list[str], kinds: tuple[str, ...]) -> list[_View]:
    out = []
    for name in names:
        ex, mk = VENUES[name]
        out.append(_View(name, mk, {k: _part(ctx, k, ex, mk, sym) for k in kinds}))
    return out


def _resolve(exchange: str, arg: str) -> str:
    """A venue id for ``exchange`` (``binance_usdm``, ``binance:usdm``, ``binance``)."""
    if not isinstance(exchange, str) or not exchange.strip():
        raise ToolError(f"{arg} must be a venue id like 'binance_usdm'; known: {sorted(VENUES)}")
    key = exchange.strip().lower().replace(":", "_").replace("-", "_")
    if key in VENUES:
        return key
    for name, (ex, _mk) in VENUES.items():
        if ex == key:
            return name
    raise ToolError(f"{arg}: unknown exchange {exchange!r}; known: {sorted(VENUES)}")


# ----------------------------------------------------------------------------- venue facts


def _protocol(name: str) -> VenueProtocol | None:
    """The venue's protocol, or None while its module does not exist (yet)."""
    try:
        return venue_registry.protocol(name)
    except (KeyError, ImportError, AttributeError):
        return None


def _taker_fee(ctx: ToolContext, name: str) -> tuple[float, str]:
    """Taker fee in bps and where it came from: settings, the venue default, or the generic one."""
    configured = ctx.settings.venues.get(name)
    if configured is not None and configured.taker_fee_bps is not None:
        return configured.taker_fee_bps, "settings"
    proto = _protocol(name)
    if proto is not None:
        return proto.taker_fee_bps, "venue default"
    return GENERIC_TAKER_FEE_BPS, "generic default (venue module not available)"


def _unavailable(view: _View, kind: str) -> str | None:
    """Why the venue has no ``kind`` at all (the protocol's ``unavailable``), else None."""
    proto = _protocol(view.name)
    reason = proto.unavailable.get(kind) if proto is not None else None
    if reason is None and view.spot and kind == "MarkFunding":
        reason = "spot market: no mark price or funding"
    return reason


# ----------------------------------------------------------------------------- numbers


def _px(x: float | None) -> float | None:
    """A price with float noise removed (10 significant digits)."""
    return None if x is None else float(f"{x:.10g}")


def _bp(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


def _mid_diff_bps(a: float, b: float) -> float:
    return (a - b) / ((a + b) / 2) * 1e4


def _cross_bps(ask_buy: float, bid_sell: float) -> float:
    return (bid_sell - ask_buy) / ask_buy * 1e4


def _number(value: Any, name: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ToolError(f"{name} must be a number between {lo:g} and {hi:g}, got {value!r}")
    if not lo <= value <= hi:
        raise ToolError(f"{name} must be between {lo:g} and {hi:g}, got {value!r}")
    return float(value)


def _is_stale(ctx: ToolContext, age: float | None, limit: float | None = None) -> bool:
    return age is not None and age > (ctx.settings.stale_after_s if limit is None else limit)


def _source(views: list[_View], sym: str, window: str) -> dict[str, Any]:
    times = [t for v in views if (t := v.newest_ts()) is not None]
    return provenance([v.name for v in views], sym, window, max(times) if times else None)


def _tops(views: list[_View]) -> list[_Top]:
    return [t for v in views if (t := v.top()) is not None]


# ----------------------------------------------------------------------------- get_prices


def _last(view: _View) -> tuple[float | None, float | None]:
    """The newest of last trade price and 24h ticker last, with its age."""
    trade, ticker = view.parts.get("Trade"), view.parts.get("Ticker24h")
    if trade and (not ticker or trade["ts"] >= ticker["ts"]):
        return trade["price"], view.age("Trade")
    if ticker and ticker.get("last") is not None:
        return ticker["last"], view.age("Ticker24h")
    return None, None


def _price_row(ctx: ToolContext, view: _View) -> dict[str, Any]:
    q, top = view.get("Quote"), view.top()
    last, last_age = _last(view)
    mark = view.get("MarkFunding").get("mark_price")
    row: dict[str, Any] = {
        "bid": _px(q.get("bid")),
        "ask": _px(q.get("ask")),
        "mid": None if top is None else _px(top.mid),
        "spread_bps": None if top is None else _bp((top.ask - top.bid) / top.mid * 1e4),
        "last": _px(last),
        "mark": _px(mark),
    }
    if mark is None:
        row["mark_note"] = _unavailable(view, "MarkFunding") or "no mark price received yet"
    row["age_s"] = {"quote": view.age("Quote"), "last": last_age, "mark": view.age("MarkFunding")}
    newest = view.newest_ts()
    row["stale"] = _is_stale(ctx, view.age("Quote") if q else None if newest is None else _age(newest))
    return row


def _best(tops: list[_Top], side: str) -> dict[str, Any] | None:
    if not tops:
        return None
    if side == "bid":
        pick = max(tops, key=lambda t: t.bid)
        return {"venue": pick.venue, "price": _px(pick.bid)}
    pick = min(tops, key=lambda t: t.ask)
    return {"venue": pick.venue, "price": _px(pick.ask)}


@tool("cross")
def get_prices(symbol: str) -> dict[str, Any]:
    """Prices of one symbol on every venue that is configured for it or has data.

    Returns ``venues``: per venue id bid, ask, last (newest trade or 24h ticker), mark (spot
    venues have none: ``mark_note`` says why), mid, spread in bps of the mid, ``age_s`` per
    part (quote, last, mark) and ``stale`` (older than stale_after_s); ``best_bid`` /
    ``best_ask`` over fresh venues; ``no_data``: venues configured but with nothing received;
    ``warnings``; and the source block.
    """
    ctx = get_context()
    sym, names = _venues_for(ctx, symbol)
    views = _views(ctx, sym, names, _ALL_PARTS)
    present = [v for v in views if v.has_data()]
    if not present:
        raise ToolError(f"no data stored yet for {sym} on {', '.join(names)}; is the collector running?")
    rows = {v.name: _price_row(ctx, v) for v in present}
    fresh = _tops([v for v in present if not rows[v.name]["stale"]])
    stale = [n for n, r in rows.items() if r["stale"]]
    return {
        "symbol": sym,
        "venues": rows,
        "best_bid": _best(fresh, "bid"),
        "best_ask": _best(fresh, "ask"),
        "no_data": [v.name for v in views if not v.has_data()],
        "warnings": [f"stale (older than {ctx.settings.stale_after_s:g} s): {', '.join(stale)}"] if stale else [],
        "source": _source(present, sym, "latest"),
    }


# ----------------------------------------------------------------------------- spread matrix


def _pair_extreme(fresh: list[_Top], pick: Any) -> dict[str, Any]:
    a, b = pick(((a, b) for a in fresh for b in fresh if a is not b), key=lambda p: _cross_bps(p[0].ask, p[1].bid))
    return {"buy": a.venue, "sell": b.venue, "bps": _bp(_cross_bps(a.ask, b.bid))}


def _matrix_summary(fresh: list[_Top]) -> dict[str, Any]:
    if len(fresh) < 2:
        return {"note": "fewer than two venues with fresh quotes: no summary"}
    rich = max(fresh, key=lambda t: t.mid)
    cheap = min(fresh, key=lambda t: t.mid)
    return {
        "highest_mid": rich.venue,
        "lowest_mid": cheap.venue,
        "max_mid_diff_bps": _bp(_mid_diff_bps(rich.mid, cheap.mid)),
        "best_cross": _pair_extreme(fresh, max),
        "worst_cross": _pair_extreme(fresh, min),
    }


@tool("cross")
def get_spread_matrix(symbol: str) -> dict[str, Any]:
    """Pairwise price differences of one symbol between every venue with a quote.

    Returns ``mids`` and quote ``age_s`` per venue; ``mid_diff_bps[a][b]`` = (mid_a - mid_b) /
    mean of the two mids * 1e4 (antisymmetric, 0 on the diagonal); ``cross_bps[a][b]`` = the
    executable cross buying at a's ask and selling at b's bid, (bid_b - ask_a) / ask_a * 1e4
    (before fees); ``stale`` venues (quote older than stale_after_s) stay in the matrices but are
    left out of ``summary`` (highest/lowest mid, largest mid gap, best and worst cross);
    ``no_quote`` venues; and the source block.
    """
    ctx = get_context()
    sym, names = _venues_for(ctx, symbol)
    views = _views(ctx, sym, names, ("Quote",))
    tops = _tops(views)
    if len(tops) < 2:
        raise ToolError(f"{sym}: need quotes from at least two venues, have {[t.venue for t in tops]}")
    stale = [t.venue for t in tops if _is_stale(ctx, t.age)]
    return {
        "symbol": sym,
        "mids": {t.venue: _px(t.mid) for t in tops},
        "age_s": {t.venue: t.age for t in tops},
        "stale": stale,
        "mid_diff_bps": {a.venue: {b.venue: _bp(_mid_diff_bps(a.mid, b.mid)) for b in tops} for a in tops},
        "cross_bps": {a.venue: {b.venue: _bp(_cross_bps(a.ask, b.bid)) for b in tops if b is not a} for a in tops},
        "formulas": _FORMULAS,
        "summary": _matrix_summary([t for t in tops if t.venue not in stale]),
        "no_quote": [v.name for v in views if v.top() is None],
        "source": _source([v for v in views if v.top() is not None], sym, "latest quotes"),
    }


# ----------------------------------------------------------------------------- arbitrage


def _usable(views: list[_View], max_age: float) -> tuple[list[_Top], list[dict[str, str]]]:
    """Tops of book that can be traded on, and the other venues with the reason they were skipped."""
    usable, skipped = [], []
    for v in views:
        top = v.top()
        if not v.parts.get("Quote"):
            skipped.append({"venue": v.name, "reason": "no quote"})
        elif top is None:
            skipped.append({"venue": v.name, "reason": "quote incomplete (bid or ask missing)"})
        elif top.age > max_age:
            skipped.append({"venue": v.name, "reason": f"quote {top.age:.1f} s old > max_age_s {max_age:g}"})
        else:
            usable.append(top)
    return usable, skipped


def _opportunity(buy: _Top, sell: _Top, fees: dict[str, tuple[float, str]]) -> dict[str, Any]:
    ask, bid = buy.ask, sell.bid
    gross = _cross_bps(ask, bid)
    fee = fees[buy.venue][0] + fees[sell.venue][0]
    net = round(gross - fee, 2)
    size = None if buy.ask_qty is None or sell.bid_qty is None else min(buy.ask_qty, sell.bid_qty)
    notional = None if size is None else size * ask
    return {
        "buy": buy.venue,
        "sell": sell.venue,
        "legs": f"{'spot' if buy.spot else 'perp'}->{'spot' if sell.spot else 'perp'}",
        "ask": _px(ask),
        "bid": _px(bid),
        "gross_bps": _bp(gross),
        "fees_bps": round(fee, 4),
        "net_bps": net,
        "size": _px(size),
        "notional": _px(notional),
        "est_profit": None if notional is None else _px(notional * (gross - fee) / 1e4),
    }


@tool("cross")
def get_arbitrage_opportunities(
    symbol: str, min_profit_bps: float = 0.0, max_age_s: float | None = None
) -> dict[str, Any]:
    """Cross-venue arbitrage on top of book: buy at venue A's ask, sell at venue B's bid.

    For every ordered pair of venues with a usable quote: ``gross_bps`` = (bid_B - ask_A) /
    ask_A * 1e4, ``fees_bps`` = taker fee of A + taker fee of B (settings, else the venue's
    default; see ``fees``), ``net_bps`` = gross - fees, ``size`` = the smaller of A's ask
    quantity and B's bid quantity, its ``notional`` and ``est_profit`` in quote currency, and
    ``legs`` (perp->perp, spot->perp, ...: spot/perp pairs carry basis and funding risk).
    Lists pairs with net_bps >= ``min_profit_bps`` (-10000..10000), best first, at most 20
    (``count`` is the total). Quotes older than ``max_age_s`` (default stale_after_s) are
    ``skipped`` with the reason, as are venues without a quote.
    """
    ctx = get_context()
    floor = _number(min_profit_bps, "min_profit_bps", -10_000, 10_000)
    limit = ctx.settings.stale_after_s if max_age_s is None else _number(max_age_s, "max_age_s", 0.001, 31_536_000)
    sym, names = _venues_for(ctx, symbol)
    views = _views(ctx, sym, names, ("Quote",))
    usable, skipped = _usable(views, limit)
    fees = {t.venue: _taker_fee(ctx, t.venue) for t in usable}
    pairs = [_opportunity(a, b, fees) for a in usable for b in usable if a is not b]
    listed = sorted((p for p in pairs if p["net_bps"] >= floor), key=lambda p: -p["net_bps"])
    return {
        "symbol": sym,
        "min_profit_bps": floor,
        "max_age_s": limit,
        "count": len(listed),
        "opportunities": listed[:MAX_OPPORTUNITIES],
        "pairs_checked": len(pairs),
        "fees": {n: {"taker_bps": f, "from": src} for n, (f, src) in fees.items()},
        "skipped": skipped,
        "fee_model": "net_bps = gross_bps - taker_bps(buy venue) - taker_bps(sell venue)",
        "source": _source([v for v in views if v.name in fees], sym, f"latest quotes not older than {limit:g} s"),
    }


# ----------------------------------------------------------------------------- two venues


def _scalar(row: tuple[Any, ...] | None) -> Any:
    return None if row is None else row[0]


def _diff_history(ctx: ToolContext, sym: str, a: str, b: str) -> dict[str, Any]:
    """Mean/min/max of the mid difference a vs b in bps over the last hour of stored quotes,
    each venue's last mid per 1 s bucket, buckets where both quoted."""
    (ea, ma), (eb, mb) = VENUES[a], VENUES[b]
    pair = "symbol = ? AND ((exchange = ? AND market = ?) OR (exchange = ? AND market = ?))"
    args = [sym, ea, ma, eb, mb]
    with ctx.db() as cur:
        end = _scalar(cur.execute(f"SELECT max(ts) FROM quotes WHERE {pair}", args).fetchone())
        if end is None:
            return {"note": "no stored quotes for either venue"}
        start = end - HISTORY_WINDOW
        stats = cur.execute(
            f"""
            WITH q AS (
                SELECT exchange, market, date_trunc('second', ts) AS sec, arg_max((bid + ask) / 2, ts) AS mid
                FROM quotes WHERE {pair} AND ts > ? AND ts <= ? AND bid > 0 AND ask > 0
                GROUP BY ALL
            )
            SELECT count(*), avg(d), min(d), max(d) FROM (
                SELECT (x.mid - y.mid) / ((x.mid + y.mid) / 2) * 1e4 AS d
                FROM q x JOIN q y ON x.sec = y.sec
                WHERE x.exchange = ? AND x.market = ? AND y.exchange = ? AND y.market = ?
            )""",
            [*args, start, end, ea, ma, eb, mb],
        ).fetchone()
    n, mean, lo, hi = stats or (0, None, None, None)
    window = f"{iso(start)}/{iso(end)}"
    if not n:
        return {"window": window, "note": "no 1 s bucket in which both venues have a stored quote"}
    return {"window": window, "bucket": "1s", "buckets": n, "mean_bps": _bp(mean), "min_bps": _bp(lo), "max_bps": _bp(hi)}


def _top_or_error(view: _View, arg: str, sym: str) -> _Top:
    top = view.top()
    if top is None:
        raise ToolError(f"{arg}: no quote for {sym} on {view.name}")
    return top


@tool("cross")
def compare_exchange_prices(symbol: str, exchange_a: str, exchange_b: str) -> dict[str, Any]:
    """Two venues side by side for one symbol.

    Returns per side bid, ask, mid and quote ``age_s``/``stale``; ``diff`` = mid_a - mid_b and
    ``diff_bps`` = diff / mean of the mids * 1e4; the executable crosses ``buy_a_sell_b_bps``
    and ``buy_b_sell_a_bps`` (before fees); and ``history``: mean/min/max of diff_bps over the
    last hour of stored quotes (ending at the newest stored quote of the two), each venue's
    last mid per 1 s bucket, over buckets where both quoted. Venues: ids like ``bybit_linear``.
    """
    ctx = get_context()
    a, b = _resolve(exchange_a, "exchange_a"), _resolve(exchange_b, "exchange_b")
    if a == b:
        raise ToolError(f"exchange_b must be a different venue from exchange_a (both are {a})")
    sym = _normalize(symbol)
    _venues_for(ctx, sym)
    views = _views(ctx, sym, [a, b], ("Quote",))
    ta, tb = (_top_or_error(v, arg, sym) for v, arg in zip(views, ("exchange_a", "exchange_b"), strict=True))
    side = {
        t.venue: {"bid": _px(t.bid), "ask": _px(t.ask), "mid": _px(t.mid), "age_s": t.age, "stale": _is_stale(ctx, t.age)}
        for t in (ta, tb)
    }
    return {
        "symbol": sym,
        "exchange_a": a,
        "exchange_b": b,
        "venues": side,
        "diff": _px(ta.mid - tb.mid),
        "diff_bps": _bp(_mid_diff_bps(ta.mid, tb.mid)),
        "buy_a_sell_b_bps": _bp(_cross_bps(ta.ask, tb.bid)),
        "buy_b_sell_a_bps": _bp(_cross_bps(tb.ask, ta.bid)),
        "history": _diff_history(ctx, sym, a, b),
        "source": _source(views, sym, "latest quotes; history: last hour"),
    }


# ----------------------------------------------------------------------------- funding


def _funding_interval(ctx: ToolContext, name: str, sym: str) -> tuple[float, str]:
    """Hours between fundings: the smallest gap between the last distinct stored next funding
    times (minute precision, gaps of 0.5..24 h), else the venue's documented constant."""
    ex, mk = VENUES[name]
    with ctx.db() as cur:
        rows = cur.execute(
            "SELECT DISTINCT date_trunc('minute', next_funding_ts) AS t FROM mark_funding "
            "WHERE exchange = ? AND market = ? AND symbol = ? AND next_funding_ts IS NOT NULL "
            "ORDER BY t DESC LIMIT 4",
            [ex, mk, sym],
        ).fetchall()
    times = [t for (t,) in rows]
    gaps = [(x - y).total_seconds() / 3600 for x, y in zip(times, times[1:], strict=False)]
    gaps = [g for g in gaps if 0.5 <= g <= 24]
    if gaps:
        return round(min(gaps), 4), "history"
    return FUNDING_INTERVAL_H.get(name, DEFAULT_FUNDING_INTERVAL_H), "venue constant"


def _funding_row(ctx: ToolContext, view: _View, sym: str) -> dict[str, Any]:
    m = view.get("MarkFunding")
    hours, origin = _funding_interval(ctx, view.name, sym)
    rate = m["funding_rate"]
    return {
        "rate": rate,
        "rate_bps": round(rate * 1e4, 4),
        "interval_h": hours,
        "interval_from": origin,
        "annualized_pct": round(rate * HOURS_PER_YEAR / hours * 100, 4),
        "next_funding_time": iso(m.get("next_funding_ts")),
        "age_s": view.age("MarkFunding"),
        "stale": _is_stale(ctx, view.age("MarkFunding")),
    }


def _funding_spread(rows: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    if len(rows) < 2:
        return None
    hi = max(rows, key=lambda n: rows[n]["annualized_pct"])
    lo = min(rows, key=lambda n: rows[n]["annualized_pct"])
    diff = rows[hi]["annualized_pct"] - rows[lo]["annualized_pct"]
    return {"highest": hi, "lowest": lo, "annualized_pct_diff": round(diff, 4)}


@tool("cross")
def get_funding_comparison(symbol: str) -> dict[str, Any]:
    """Funding rates of one symbol across perpetual venues.

    Returns ``funding`` per perp venue: ``rate`` (per funding interval, as the venue publishes
    it) and ``rate_bps``, ``interval_h`` (from the stored next-funding-time history, else the
    venue constant: 8 h, Hyperliquid 1 h; ``interval_from`` says which), ``annualized_pct`` =
    rate * 8760 / interval_h * 100, ``next_funding_time``, ``age_s`` and ``stale``; ``spread``:
    the venues with the highest and lowest annualized rate and the difference in percentage
    points; ``no_funding``: venues that have no funding (spot) with the reason; ``no_data``:
    perp venues that have sent no funding yet; and the source block.
    """
    ctx = get_context()
    sym, names = _venues_for(ctx, symbol)
    views = _views(ctx, sym, names, ("MarkFunding",))
    rows: dict[str, dict[str, Any]] = {}
    no_funding: dict[str, str] = {}
    no_data: list[str] = []
    for v in views:
        reason = _unavailable(v, "MarkFunding")
        if reason is not None:
            no_funding[v.name] = reason
        elif v.get("MarkFunding").get("funding_rate") is None:
            no_data.append(v.name)
        else:
            rows[v.name] = _funding_row(ctx, v, sym)
    if not rows:
        raise ToolError(f"no funding data for {sym} on any perpetual venue (no data: {no_data})")
    return {
        "symbol": sym,
        "funding": rows,
        "spread": _funding_spread(rows),
        "no_funding": no_funding,
        "no_data": no_data,
        "source": _source([v for v in views if v.name in rows], sym, "latest funding"),
    }


# ----------------------------------------------------------------------------- basis


def _spot_reference(ctx: ToolContext, spots: list[_View]) -> dict[str, Any] | None:
    """Mean mid of the spot venues with a fresh quote (all quoted ones when none is fresh)."""
    quoted = _tops(spots)
    fresh = [t for t in quoted if not _is_stale(ctx, t.age)]
    used = fresh or quoted
    if not used:
        return None
    price = sum(t.mid for t in used) / len(used)
    return {"kind": "spot_mean_mid", "price": price, "venues": [t.venue for t in used], "stale": not fresh}


def _perp_price(ctx: ToolContext, view: _View) -> tuple[float | None, str, float | None]:
    """Mark price, else mid; a fresh one before a stale one."""
    top = view.top()
    candidates = [
        (view.get("MarkFunding").get("mark_price"), "mark", view.age("MarkFunding")),
        (None if top is None else top.mid, "mid", view.age("Quote")),
    ]
    present = [c for c in candidates if c[0] is not None]
    fresh = [c for c in present if not _is_stale(ctx, c[2])]
    return (fresh or present or [(None, "none", None)])[0]


def _basis_row(ctx: ToolContext, view: _View, ref: dict[str, Any] | None) -> dict[str, Any]:
    price, kind, age = _perp_price(ctx, view)
    ref_px, ref_kind = (ref["price"], "spot_mean_mid") if ref else (view.get("MarkFunding").get("index_price"), "index")
    row: dict[str, Any] = {"perp_price": _px(price), "perp_price_from": kind, "age_s": age, "stale": _is_stale(ctx, age)}
    if price is None or ref_px is None:
        row["basis_bps"] = None
        row["note"] = "no spot quote on any venue and no index price from this venue"
        return row
    row.update(reference=_px(ref_px), reference_from=ref_kind, basis=_px(price - ref_px),
               basis_bps=_bp((price - ref_px) / ref_px * 1e4))
    return row


@tool("cross")
def get_basis(symbol: str) -> dict[str, Any]:
    """Perpetual vs spot basis of one symbol on every perp venue.

    Returns ``reference``: the mean mid of the spot venues with a fresh quote (``venues``
    used; all quoted spot venues with ``stale: true`` when none is fresh), or, when no spot
    venue has a quote, each perp's own index price; ``basis`` per perp venue: ``perp_price``
    (mark, else mid: ``perp_price_from``), ``reference``, ``basis`` = perp - reference,
    ``basis_bps`` = basis / reference * 1e4, ``age_s`` and ``stale``; ``no_data`` perp venues;
    and the source block. Not annualized.
    """
    ctx = get_context()
    sym, names = _venues_for(ctx, symbol)
    views = _views(ctx, sym, names, ("Quote", "MarkFunding"))
    ref = _spot_reference(ctx, [v for v in views if v.spot])
    perps = [v for v in views if not v.spot]
    present = [v for v in perps if v.has_data()]
    if not present:
        raise ToolError(f"no perpetual venue has data for {sym} (venues: {names})")
    reference: dict[str, Any] = (
        {**ref, "price": _px(ref["price"])} if ref else {"kind": "index", "note": "no spot quote: each perp's index price"}
    )
    used = present + [v for v in views if v.name in reference.get("venues", [])]
    return {
        "symbol": sym,
        "reference": reference,
        "basis": {v.name: _basis_row(ctx, v, ref) for v in present},
        "no_data": [v.name for v in perps if not v.has_data()],
        "source": _source(used, sym, "latest"),
    }
