"""Features over stored history: the stored rows replayed through the same engine.

:func:`replay` reads trades, quotes, marks, open interest, liquidations and 24h tickers of one
instrument, merges them in **receive order** (``recv_ts``, then insertion order) — the order
the live taps saw them — and feeds them to a :class:`~.engine.SymbolEngine` whose book comes
from the stored ``book_snapshots``/``depth_bands`` samples. State that needs more history than
the replayed window (CVD since 00:00 UTC, per-minute funding for the z-score, open interest an
hour back, VPIN buckets) is seeded from the tables first (:func:`load_seed`). The live service
warms its engines with the same function, so a restart continues where the stored data ends.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import Any

import duckdb
import numpy as np

from flowdesk import records as r
from flowdesk.analytics.features.book import BAND_NAMES, BookSample
from flowdesk.analytics.features.engine import DAY_MS, EngineParams, Seed, SymbolEngine
from flowdesk.analytics.features.vpin import seeded
from flowdesk.analytics.orderflow.common import MarketKey, first_row, ms_to_dt
from flowdesk.analytics.orderflow.store import signed_volume

_RECV = "epoch_us(recv_ts) * 1000"
#: table -> (record type, the SELECT list giving the record's fields in order)
SOURCES: dict[str, tuple[type, str]] = {
    "trades": (r.Trade, f"exchange, market, symbol, trade_id, price, qty, side, epoch_ms(ts), {_RECV}, first_id, last_id, source"),
    "quotes": (r.Quote, f"exchange, market, symbol, bid, bid_qty, ask, ask_qty, update_id, epoch_ms(ts), {_RECV}"),
    "mark_funding": (r.MarkFunding, f"exchange, market, symbol, mark_price, index_price, funding_rate, epoch_ms(next_funding_ts), epoch_ms(ts), {_RECV}"),
    "open_interest": (r.OpenInterest, f"exchange, market, symbol, open_interest, open_interest_value, epoch_ms(ts), {_RECV}"),
    "liquidations": (r.Liquidation, f"exchange, market, symbol, side, price, avg_price, qty, filled_qty, status, epoch_ms(ts), {_RECV}"),
    "tickers_24h": (r.Ticker24h, f"exchange, market, symbol, last, open, high, low, volume, quote_volume, price_change_pct, trade_count, epoch_ms(ts), {_RECV}"),
}
#: receive-time span read per query (bounds memory on long windows)
CHUNK_US = 10 * 60 * 1_000_000
CVD_ANCHOR_SLACK_MS = 60_000
OI_SEED_MS = 3_600_000 + 300_000


def load_records(
    cur: duckdb.DuckDBPyConnection, key: MarketKey, start_ms: int, end_ms: int | None
) -> Iterator[Any]:
    """Stored records with ``start_ms <= ts < end_ms`` in receive order, read in chunks."""
    bounds = _recv_bounds(cur, key, start_ms, end_ms)
    if bounds is None:
        return
    lo, hi = bounds
    while lo <= hi:
        yield from _chunk(cur, key, start_ms, end_ms, lo, lo + CHUNK_US)
        lo += CHUNK_US


def _time_filter(end_ms: int | None) -> str:
    return "ts >= $t0" + ("" if end_ms is None else " AND ts < $t1")


def _params(key: MarketKey, start_ms: int, end_ms: int | None, **extra: Any) -> dict[str, Any]:
    out = key.params(t0=ms_to_dt(start_ms), **extra)
    if end_ms is not None:
        out["t1"] = ms_to_dt(end_ms)
    return out


def _recv_bounds(
    cur: duckdb.DuckDBPyConnection, key: MarketKey, start_ms: int, end_ms: int | None
) -> tuple[int, int] | None:
    parts = " UNION ALL ".join(
        f"SELECT min(epoch_us(recv_ts)) lo, max(epoch_us(recv_ts)) hi FROM {t} "
        f"WHERE {key.where()} AND {_time_filter(end_ms)}"
        for t in SOURCES
    )
    row = first_row(cur.execute(f"SELECT min(lo), max(hi) FROM ({parts})", _params(key, start_ms, end_ms)))
    if row is None or row[0] is None:
        return None
    return int(row[0]), int(row[1])


def _chunk(
    cur: duckdb.DuckDBPyConnection, key: MarketKey, start_ms: int, end_ms: int | None, lo: int, hi: int
) -> list[Any]:
    """One receive-time chunk of every table, merged by (recv, table rank, row order)."""
    recs: list[Any] = []
    recv: list[int] = []
    rank: list[int] = []
    params = _params(key, start_ms, end_ms, r0=lo, r1=hi)
    for i, (table, (rtype, select)) in enumerate(SOURCES.items()):
        rows = cur.execute(
            f"SELECT {select} FROM {table} WHERE {key.where()} AND {_time_filter(end_ms)} "
            "AND epoch_us(recv_ts) >= $r0 AND epoch_us(recv_ts) < $r1 ORDER BY recv_ts, rowid",
            params,
        ).fetchall()
        made = list(map(rtype._make, rows))  # type: ignore[attr-defined]
        recs.extend(made)
        recv.extend(m.recv_ns for m in made)
        rank.extend([i] * len(made))
    if not recs:
        return []
    order = np.lexsort((np.arange(len(recs)), np.asarray(rank), np.asarray(recv, dtype=np.int64)))
    return [recs[k] for k in order.tolist()]


# -- seeds --------------------------------------------------------------------------------------


def load_seed(cur: duckdb.DuckDBPyConnection, key: MarketKey, t0: int, params: EngineParams) -> Seed:
    """State from before ``t0``: CVD since 00:00 UTC (when stored trades cover the day start),
    per-minute funding rates of 7 days, open interest of the last hour, VPIN buckets."""
    seed = Seed()
    seed.cvd, seed.cvd_anchor = _cvd_seed(cur, key, t0)
    seed.funding = [
        (int(m), float(x))
        for m, x in cur.execute(
            "SELECT epoch_ms(time_bucket(INTERVAL 1 minute, ts)) AS m, arg_max(funding_rate, ts) "
            f"FROM mark_funding WHERE {key.where()} AND ts >= $t0 AND ts < $t1 "
            "AND funding_rate IS NOT NULL GROUP BY m ORDER BY m",
            _params(key, t0 - 7 * DAY_MS, t0),
        ).fetchall()
    ]
    seed.oi = [
        (int(t), float(o), None if v is None else float(v))
        for t, o, v in cur.execute(
            f"SELECT epoch_ms(ts), open_interest, open_interest_value FROM open_interest "
            f"WHERE {key.where()} AND ts >= $t0 AND ts < $t1 ORDER BY ts",
            _params(key, t0 - OI_SEED_MS, t0),
        ).fetchall()
    ]
    seed.vpin = _vpin_seed(cur, key, t0, params)
    return seed


def _cvd_seed(cur: duckdb.DuckDBPyConnection, key: MarketKey, t0: int) -> tuple[float, int | None]:
    anchor = t0 - t0 % DAY_MS
    if t0 == anchor:
        return 0.0, anchor
    row = first_row(
        cur.execute(
            f"SELECT epoch_ms(min(ts)) FROM trades WHERE {key.where()} AND ts >= $t0 AND ts < $t1",
            _params(key, anchor, t0),
        )
    )
    first = None if row is None or row[0] is None else int(row[0])
    if first is None or first > anchor + CVD_ANCHOR_SLACK_MS:
        return 0.0, None  # the stored trades do not reach back to the day start
    return signed_volume(cur, key, anchor, t0), anchor


def _vpin_seed(cur: duckdb.DuckDBPyConnection, key: MarketKey, t0: int, params: EngineParams) -> Any:
    """Bucket volume from the stored 24h volume (>= 1 hour of trades needed) and the buckets
    of the trades before ``t0``; None when the engine must calibrate on the stream."""
    row = first_row(
        cur.execute(
            f"SELECT sum(qty), epoch_ms(min(ts)) FROM trades WHERE {key.where()} AND ts >= $t0 AND ts < $t1",
            _params(key, t0 - DAY_MS, t0),
        )
    )
    if row is None or row[0] is None or t0 - int(row[1]) < 3_600_000:
        return None
    bucket = float(row[0]) * DAY_MS / (t0 - int(row[1])) / params.vpin_buckets_per_day
    span = 2 * params.vpin_window * DAY_MS // params.vpin_buckets_per_day
    data = cur.execute(
        f"SELECT qty, side = 'buy' FROM trades WHERE {key.where()} AND ts >= $t0 AND ts < $t1 "
        "ORDER BY ts, trade_id",
        _params(key, t0 - span, t0),
    ).fetchnumpy()
    return seeded(np.asarray(data["qty"], np.float64), np.asarray(data[list(data)[1]], bool), bucket, params.vpin_window)


# -- stored book samples ----------------------------------------------------------------------


class StoredBook:
    """Book samples from ``book_snapshots`` + ``depth_bands``, read in time chunks as
    boundaries ask for them (boundaries only move forward)."""

    CHUNK_MS = 30 * 60_000

    def __init__(self, cur: duckdb.DuckDBPyConnection, key: MarketKey, start_ms: int, max_age_ms: int) -> None:
        self.cur, self.key = cur, key
        self.loaded_to = start_ms - max_age_ms
        self.times: list[int] = []
        self.samples: list[BookSample] = []

    def near(self, mid: float, pct: float) -> None:
        return None  # book diffs are not stored: no add/cancel flow over history

    def sample(self, t: int) -> BookSample | None:
        while self.loaded_to <= t:
            self._load(self.loaded_to, self.loaded_to + self.CHUNK_MS)
            self.loaded_to += self.CHUNK_MS
        i = bisect.bisect_right(self.times, t) - 1
        if i < 0:
            return None
        if i > 1024:  # keep memory flat on long replays
            del self.times[: i - 1], self.samples[: i - 1]
            i = 1
        return self.samples[i]

    def _load(self, lo: int, hi: int) -> None:
        params = _params(self.key, lo, hi)
        levels = self.cur.execute(
            f"SELECT epoch_ms(ts), side, price, qty FROM book_snapshots WHERE {self.key.where()} "
            "AND ts >= $t0 AND ts < $t1 ORDER BY ts, side, level",
            params,
        ).fetchall()
        bands = self.cur.execute(
            f"SELECT epoch_ms(ts), band_pct, bid_qty, ask_qty, bid_notional, ask_notional FROM depth_bands "
            f"WHERE {self.key.where()} AND ts >= $t0 AND ts < $t1 AND band_pct IN "
            f"({', '.join(str(p) for p in BAND_NAMES)})",
            params,
        ).fetchall()
        by_ts: dict[int, BookSample] = {}
        for ts, side, price, qty in levels:
            s = by_ts.setdefault(int(ts), BookSample(int(ts), [], [], {}))
            (s.bids if side == "bid" else s.asks).append((price, qty))
        for ts, pct, *band in bands:
            if int(ts) in by_ts:
                by_ts[int(ts)].bands[float(pct)] = tuple(band)  # type: ignore[assignment]
        for ts in sorted(by_ts):
            self.times.append(ts)
            self.samples.append(by_ts[ts])


# -- the replay -----------------------------------------------------------------------------


def replay(
    cur: duckdb.DuckDBPyConnection,
    key: MarketKey,
    t0: int,
    end_ms: int | None,
    params: EngineParams,
    emit_from: int,
) -> tuple[SymbolEngine, int | None]:
    """An engine that has seen every stored record of ``[t0, end_ms)`` (``end_ms`` None: up to
    the newest); its ``rows`` hold the values of boundaries at or after ``emit_from``. Also
    returns the newest receive time replayed (µs), None when nothing was."""
    engine = SymbolEngine(key.exchange, key.market, key.symbol, params, load_seed(cur, key, t0, params),
                          StoredBook(cur, key, t0, params.book_max_age_ms))
    engine.emit_from = emit_from
    newest: int | None = None
    on = engine.handlers
    for rec in load_records(cur, key, t0, end_ms):
        on[type(rec)](rec)
        newest = rec.recv_ns
    return engine, None if newest is None else newest // 1000
