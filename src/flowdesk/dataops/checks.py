"""The validation checks: SQL over the stored tables (and the live state when a collector runs).

Each check takes a cursor, a :class:`~flowdesk.dataops.scope.VenueScope` and the data-ops
settings, and returns :class:`~flowdesk.dataops.model.Finding` s with their evidence. Every
query is restricted to the venue and the validation window, so DuckDB's zone maps skip older
row groups. Checks never modify anything.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import duckdb

from flowdesk.crews.settings import DataOpsSettings
from flowdesk.dataops.model import Finding
from flowdesk.dataops.scope import VenueScope, dt_to_ms

Cursor = duckdb.DuckDBPyConnection
#: the most findings one check reports per venue (the rest are counted in the evidence)
MAX_FINDINGS = 100

#: table -> columns that identify one observation; rows equal on all of them are duplicates
#: (the receive time differs when the venue sent the same thing twice)
DUP_KEYS: dict[str, tuple[str, ...]] = {
    "trades": ("trade_id", "price", "qty", "side", "ts"),
    "quotes": ("update_id", "ts", "bid", "bid_qty", "ask", "ask_qty"),
    "mark_funding": ("ts", "mark_price", "index_price", "funding_rate", "next_funding_ts"),
    "open_interest": ("ts", "open_interest", "open_interest_value"),
    "tickers_24h": ("ts", "last", "open", "high", "low", "volume", "trade_count"),
    "liquidations": ("ts", "side", "price", "qty", "status"),
    "candles": ("interval", "open_ts", "open", "high", "low", "close", "volume"),
    "book_snapshots": ("ts", "side", "level", "price", "qty"),
    "depth_bands": ("ts", "band_pct", "bid_qty", "ask_qty"),
}


def time_col(table: str) -> str:
    return "open_ts" if table == "candles" else "ts"


def _venue_args(s: VenueScope) -> list[Any]:
    return [s.exchange, s.market, s.since]


def _finding(s: VenueScope, kind: str, symbol: str | None, stream: str, summary: str,
             evidence: dict[str, Any], key: str = "") -> Finding:
    return Finding(kind, s.exchange, s.market, symbol, stream, summary, evidence, key)


# -- sequence and time gaps ----------------------------------------------------------------


def trade_id_columns(id_range: bool) -> tuple[str, str]:
    """The SQL expressions of the first and last venue id a stored trade covers: ``first_id``
    and ``last_id`` where one row covers a range of ids (OKX), else ``trade_id`` for both
    (Binance ``aggTrade`` rows carry the aggregate id there; their ``first_id``/``last_id`` are
    raw trade ids, another sequence)."""
    return ("first_id", "last_id") if id_range else ("trade_id", "trade_id")


def trade_id_gaps(cur: Cursor, s: VenueScope, cfg: DataOpsSettings) -> list[Finding]:
    """Jumps in the trade ids of a symbol (venues whose protocol says the ids are contiguous).

    A row covers the ids ``lo..hi`` (see :func:`trade_id_columns`); ids are missing where a
    row's ``lo`` is beyond the highest ``hi`` of the rows before it plus one. With id ranges the
    highest ``hi`` so far is taken (not the previous row's), so that overlapping rows do not read
    as gaps; with one id per row the previous row's id is that highest (and cheaper)."""
    if not s.contiguous_ids:
        return []
    lo, hi = trade_id_columns(s.trade_id_range)
    prev_hi = "max(id_hi) OVER before" if s.trade_id_range else "lag(id_hi) OVER w"
    rows = cur.execute(
        f"""
        SELECT symbol, prev_hi + 1, id_lo - 1, prev_ts, ts FROM (
            SELECT symbol, id_lo, ts, {prev_hi} AS prev_hi, lag(ts) OVER w AS prev_ts FROM (
                SELECT symbol, {lo} AS id_lo, {hi} AS id_hi, ts
                FROM trades WHERE exchange = ? AND market = ? AND ts >= ?
            )
            WINDOW w AS (PARTITION BY symbol ORDER BY id_lo, id_hi),
                   before AS (PARTITION BY symbol ORDER BY id_lo, id_hi
                              ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
        ) WHERE id_lo > prev_hi + 1 ORDER BY symbol, id_lo LIMIT ?
        """,
        [*_venue_args(s), MAX_FINDINGS],
    ).fetchall()
    return [
        _finding(s, "trade_id_gap", sym, "trades", f"{sym}: {hi - lo + 1} trade ids missing ({lo}..{hi})",
                 {"from_id": lo, "to_id": hi, "missing": hi - lo + 1, "before_ts": t0, "after_ts": t1}, f"{lo}-{hi}")
        for sym, lo, hi, t0, t1 in rows
    ]


def trade_time_gaps(cur: Cursor, s: VenueScope, cfg: DataOpsSettings) -> list[Finding]:
    """Stretches without any trade longer than ``trade_time_gap_s`` (information only)."""
    rows = cur.execute(
        """
        SELECT symbol, prev_ts, ts, (epoch_ms(ts) - epoch_ms(prev_ts)) / 1000.0 AS gap_s FROM (
            SELECT symbol, ts, lag(ts) OVER (PARTITION BY symbol ORDER BY ts) AS prev_ts
            FROM trades WHERE exchange = ? AND market = ? AND ts >= ?
        ) WHERE epoch_ms(ts) - epoch_ms(prev_ts) > ? ORDER BY gap_s DESC LIMIT ?
        """,
        [*_venue_args(s), cfg.trade_time_gap_s * 1000, MAX_FINDINGS],
    ).fetchall()
    return [
        _finding(s, "trade_time_gap", sym, "trades", f"{sym}: no trade for {gap:.0f} s",
                 {"from_ts": t0, "to_ts": t1, "gap_s": gap}, f"{dt_to_ms(t0)}")
        for sym, t0, t1, gap in rows
    ]


def candle_gaps(cur: Cursor, s: VenueScope, cfg: DataOpsSettings) -> list[Finding]:
    """Missing closed 1-minute candles between stored ones (minutes filled by a configured
    interpolation, in ``candles_filled``, are not missing)."""
    if "kline_1m" not in s.streams:
        return []
    rows = cur.execute(
        """
        SELECT symbol, prev_open, open_ts FROM (
            SELECT symbol, open_ts, lag(open_ts) OVER (PARTITION BY symbol ORDER BY open_ts) AS prev_open
            FROM candles_filled WHERE exchange = ? AND market = ? AND interval = '1m' AND closed AND open_ts >= ?
        ) WHERE epoch_ms(open_ts) - epoch_ms(prev_open) > 60000 ORDER BY symbol, open_ts LIMIT ?
        """,
        [*_venue_args(s), MAX_FINDINGS],
    ).fetchall()
    out = []
    for sym, prev_open, open_ts in rows:
        first, last = prev_open + timedelta(minutes=1), open_ts - timedelta(minutes=1)
        bars = int((open_ts - prev_open) / timedelta(minutes=1)) - 1
        out.append(_finding(s, "candle_gap", sym, "candles", f"{sym}: {bars} one-minute candle(s) missing from {first}",
                            {"interval": "1m", "from_open_ts": first, "to_open_ts": last, "missing": bars,
                             "from_open_ms": dt_to_ms(first), "to_open_ms": dt_to_ms(last)},
                            f"{dt_to_ms(first)}-{dt_to_ms(last)}"))
    return out


# -- duplicates, order, values -------------------------------------------------------------


def duplicates(cur: Cursor, s: VenueScope, cfg: DataOpsSettings) -> list[Finding]:
    """Rows equal on every column the venue sent (see :data:`DUP_KEYS`), per table and symbol."""
    out = []
    for table, keys in DUP_KEYS.items():
        tc = time_col(table)
        cols = ", ".join(keys)
        rows = cur.execute(
            f"""
            SELECT symbol, sum(n - 1)::BIGINT, count(*), min({tc}), max({tc}) FROM (
                SELECT symbol, {cols}, count(*) AS n FROM {table}
                WHERE exchange = ? AND market = ? AND {tc} >= ? GROUP BY ALL HAVING count(*) > 1
            ) GROUP BY symbol ORDER BY symbol
            """,
            _venue_args(s),
        ).fetchall()
        for sym, extra, groups, t0, t1 in rows:
            out.append(_finding(s, "duplicate_rows", sym, table, f"{sym}: {extra} duplicate row(s) in {table}",
                                {"table": table, "extra_rows": extra, "duplicated_keys": groups, "key_columns": list(keys),
                                 "first_ts": t0, "last_ts": t1}, table))
    return out


_ORDER_SQL = {
    "trades": "trade_id",
    "quotes": "update_id",
}


def out_of_order(cur: Cursor, s: VenueScope, cfg: DataOpsSettings) -> list[Finding]:
    """Rows whose exchange time goes backwards while their sequence id goes forwards."""
    out = []
    for table, seq in _ORDER_SQL.items():
        rows = cur.execute(
            f"""
            SELECT symbol, count(*), min({seq}), max({seq}), max(epoch_ms(prev_ts) - epoch_ms(ts)) FROM (
                SELECT symbol, {seq}, ts, lag(ts) OVER (PARTITION BY symbol ORDER BY {seq}) AS prev_ts
                FROM {table} WHERE exchange = ? AND market = ? AND ts >= ? AND {seq} IS NOT NULL
            ) WHERE ts < prev_ts GROUP BY symbol ORDER BY symbol
            """,
            _venue_args(s),
        ).fetchall()
        for sym, n, lo, hi, worst in rows:
            out.append(_finding(s, "out_of_order", sym, table, f"{sym}: {n} {table} row(s) earlier than the one before",
                                {"table": table, "rows": n, "first_id": lo, "last_id": hi, "worst_ms": worst}, table))
    return out


_BAD_VALUE_SQL = {
    "trades": "price <= 0 OR qty <= 0",
    "quotes": "bid <= 0 OR ask <= 0",
    "mark_funding": "mark_price <= 0",
    "candles": "least(open, high, low, close) <= 0 OR high < low",
}


def bad_prices(cur: Cursor, s: VenueScope, cfg: DataOpsSettings) -> list[Finding]:
    """Zero or negative prices and sizes, candles whose high is below their low."""
    out = []
    for table, cond in _BAD_VALUE_SQL.items():
        tc = time_col(table)
        rows = cur.execute(
            f"SELECT symbol, count(*), min({tc}), max({tc}) FROM {table} "
            f"WHERE exchange = ? AND market = ? AND {tc} >= ? AND ({cond}) GROUP BY symbol ORDER BY symbol",
            _venue_args(s),
        ).fetchall()
        for sym, n, t0, t1 in rows:
            out.append(_finding(s, "bad_price", sym, table, f"{sym}: {n} {table} row(s) with impossible values ({cond})",
                                {"table": table, "rows": n, "condition": cond, "first_ts": t0, "last_ts": t1}, table))
    return out


# -- books ---------------------------------------------------------------------------------


def stored_books(cur: Cursor, s: VenueScope, cfg: DataOpsSettings) -> list[Finding]:
    """Stored top-of-book samples that are crossed (bid >= ask) or have an empty side, and
    best bid/ask quotes that are crossed."""
    rows = cur.execute(
        """
        SELECT symbol, count(*) FILTER (WHERE bid >= ask), count(*) FILTER (WHERE bid IS NULL OR ask IS NULL),
               min(ts) FILTER (WHERE bid >= ask), max(ts) FILTER (WHERE bid >= ask),
               arg_max(bid, ts) FILTER (WHERE bid >= ask), arg_max(ask, ts) FILTER (WHERE bid >= ask), count(*)
        FROM (
            SELECT symbol, ts, max(price) FILTER (WHERE side = 'bid') AS bid, min(price) FILTER (WHERE side = 'ask') AS ask
            FROM book_snapshots WHERE exchange = ? AND market = ? AND ts >= ? AND level = 0 GROUP BY symbol, ts
        ) GROUP BY symbol ORDER BY symbol
        """,
        _venue_args(s),
    ).fetchall()
    out = []
    for sym, crossed, empty, t0, t1, bid, ask, samples in rows:
        if crossed:
            out.append(_finding(s, "crossed_book", sym, "book_snapshots", f"{sym}: {crossed} stored book sample(s) crossed",
                                {"source": "stored", "crossed_samples": crossed, "samples": samples, "first_ts": t0,
                                 "last_ts": t1, "last_crossed_bid": bid, "last_crossed_ask": ask}, "stored"))
        if empty:
            out.append(_finding(s, "empty_book", sym, "book_snapshots", f"{sym}: {empty} stored book sample(s) with an empty side",
                                {"source": "stored", "empty_samples": empty, "samples": samples}, "stored"))
    quotes = cur.execute(
        "SELECT symbol, count(*), min(ts), max(ts), arg_max(bid, ts), arg_max(ask, ts) FROM quotes "
        "WHERE exchange = ? AND market = ? AND ts >= ? AND bid >= ask GROUP BY symbol ORDER BY symbol",
        _venue_args(s),
    ).fetchall()
    for sym, n, t0, t1, bid, ask in quotes:
        out.append(_finding(s, "crossed_quotes", sym, "quotes", f"{sym}: {n} best bid/ask quote(s) crossed",
                            {"rows": n, "first_ts": t0, "last_ts": t1, "last_bid": bid, "last_ask": ask}, "quotes"))
    return out


# -- freshness -----------------------------------------------------------------------------


def _newest(cur: Cursor, table: str, s: VenueScope, symbol: str) -> Any:
    row = cur.execute(
        f"SELECT max(ts) FROM {table} WHERE exchange = ? AND market = ? AND symbol = ?",
        [s.exchange, s.market, symbol],
    ).fetchone()
    return row[0] if row else None


def symbol_freshness(cur: Cursor, s: VenueScope, cfg: DataOpsSettings) -> list[Finding]:
    """Configured symbols whose newest trade/quote is far behind the venue's clock."""
    out = []
    for sym in s.symbols:
        times = {t: _newest(cur, t, s, sym) for t in ("trades", "quotes")}
        present = [t for t in times.values() if t is not None]
        last = max(present) if present else None
        lag = s.lag_s(last)
        if last is not None and lag is not None and lag <= cfg.symbol_stale_s:
            continue
        summary = f"{sym}: no data stored" if last is None else f"{sym}: {lag:.0f} s behind the {s.clock} clock"
        out.append(_finding(s, "symbol_stale", sym, "feed", summary,
                            {"newest": times, "lag_s": lag, "clock": s.clock, "clock_now": s.now,
                             "threshold_s": cfg.symbol_stale_s}))
    return out


def derivs_freshness(cur: Cursor, s: VenueScope, cfg: DataOpsSettings) -> list[Finding]:
    """Funding (mark price stream) and open interest (REST poll) older than their thresholds."""
    out = []
    parts = [("open_interest", "open_interest_stale", cfg.open_interest_stale_s)]
    if "markPrice" in s.streams:
        parts.append(("mark_funding", "funding_stale", cfg.funding_stale_s))
    for sym in s.symbols:
        for table, kind, limit in parts:
            last = _newest(cur, table, s, sym)
            lag = s.lag_s(last)
            if last is not None and lag is not None and lag <= limit:
                continue
            summary = f"{sym}: no {table} stored" if last is None else f"{sym}: {table} {lag:.0f} s old"
            out.append(_finding(s, kind, sym, table, summary,
                                {"newest": last, "lag_s": lag, "clock": s.clock, "threshold_s": limit}))
    return out


# -- across venues -------------------------------------------------------------------------


def price_outliers(cur: Cursor, scopes: list[VenueScope], cfg: DataOpsSettings) -> list[Finding]:
    """A venue's last trade price that deviates by more than ``outlier_pct`` from the median of
    the symbol's last prices on every venue (itself included, so that with three venues or more
    one bad venue cannot drag the reference towards itself; with two, both are reported)."""
    latest: dict[str, dict[VenueScope, float]] = {}
    for s in scopes:
        since = s.now - timedelta(seconds=cfg.symbol_stale_s)
        rows = cur.execute(
            "SELECT symbol, arg_max(price, ts) FROM trades WHERE exchange = ? AND market = ? AND ts >= ? GROUP BY symbol",
            [s.exchange, s.market, since],
        ).fetchall()
        for sym, price in rows:
            latest.setdefault(sym, {})[s] = price
    out = []
    for sym, prices in sorted(latest.items()):
        if len(prices) < 2:
            continue
        ref = statistics.median(prices.values())
        for s, price in prices.items():
            dev = abs(price - ref) / ref * 100 if ref > 0 else float("inf")
            if dev > cfg.outlier_pct:
                others = {f"{v.exchange}_{v.market}": p for v, p in prices.items() if v is not s}
                out.append(_finding(s, "price_outlier", sym, "trades", f"{sym}: {price} is {dev:.2f}% from the venues' median {ref}",
                                    {"price": price, "median_all_venues": ref, "deviation_pct": round(dev, 4),
                                     "others": others, "threshold_pct": cfg.outlier_pct}))
    return out


# -- live state ----------------------------------------------------------------------------


def live_feeds(status: list[dict[str, Any]], s: VenueScope, cfg: DataOpsSettings) -> list[Finding]:
    """The collector's feed for the venue is disconnected, or connected but silent."""
    out = []
    for f in status:
        if (f.get("exchange"), f.get("market")) != (s.exchange, s.market):
            continue
        age = f.get("last_message_age_s")
        if f.get("connected") and age is not None and age <= cfg.feed_silent_s:
            continue
        why = "disconnected" if not f.get("connected") else f"silent for {age:.0f} s"
        ev = {k: f.get(k) for k in ("connected", "last_message_age_s", "reconnects", "last_error", "url")}
        finding = _finding(s, "feed_down", None, "feed", f"{s.venue}: feed {why}", {**ev, "threshold_s": cfg.feed_silent_s})
        if f.get("connected"):
            finding.severity = "error"
        out.append(finding)
    return out


def live_books(book_top: Callable[[str, str, str, int], Any], s: VenueScope) -> list[Finding]:
    """Books the collector holds in sync that are crossed or have an empty side right now."""
    out = []
    for sym in s.symbols:
        top = book_top(s.exchange, s.market, sym, 1)
        if not top or not top.get("synced"):
            continue
        bids, asks = top.get("bids") or [], top.get("asks") or []
        ev = {"source": "live", "best_bid": bids[0] if bids else None, "best_ask": asks[0] if asks else None,
              "last_update_id": top.get("last_update_id")}
        if not bids or not asks:
            out.append(_finding(s, "empty_book", sym, "book", f"{sym}: live book has an empty side", ev, "live"))
        elif bids[0][0] >= asks[0][0]:
            out.append(_finding(s, "crossed_book", sym, "book",
                                f"{sym}: live book crossed (bid {bids[0][0]} >= ask {asks[0][0]})", ev, "live"))
    return out


#: the stored-data checks run per venue, by name
VENUE_CHECKS: dict[str, Callable[[Cursor, VenueScope, DataOpsSettings], list[Finding]]] = {
    "trade_id_gaps": trade_id_gaps,
    "trade_time_gaps": trade_time_gaps,
    "candle_gaps": candle_gaps,
    "duplicates": duplicates,
    "out_of_order": out_of_order,
    "bad_prices": bad_prices,
    "stored_books": stored_books,
    "symbol_freshness": symbol_freshness,
    "derivs_freshness": derivs_freshness,
}

#: what each check covers, as (finding kind, stream or None for any): an open issue it covers
#: that a run of the check no longer finds is resolved
CHECK_COVERS: dict[str, tuple[tuple[str, str | None], ...]] = {
    "trade_id_gaps": (("trade_id_gap", None),),
    "trade_time_gaps": (("trade_time_gap", None),),
    "candle_gaps": (("candle_gap", None),),
    "duplicates": (("duplicate_rows", None),),
    "out_of_order": (("out_of_order", None),),
    "bad_prices": (("bad_price", None),),
    "stored_books": (("crossed_book", "book_snapshots"), ("empty_book", "book_snapshots"), ("crossed_quotes", None)),
    "symbol_freshness": (("symbol_stale", None),),
    "derivs_freshness": (("funding_stale", None), ("open_interest_stale", None)),
    "price_outliers": (("price_outlier", None),),
    "live_feeds": (("feed_down", None),),
    "live_books": (("crossed_book", "book"), ("empty_book", "book")),
}
