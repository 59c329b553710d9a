"""Applying actions in live mode. Nothing here runs in shadow mode.

The rule throughout: **never overwrite real data**.

* Re-fetched trades go through the store's one :class:`~flowdesk.storage.writer.BatchWriter`
  (``write_batch_sync``), which inserts only ids not stored yet.
* Re-fetched candles are written only for bars that are absent (checked just before the write).
* Interpolated candles (only when ``crews.dataops.interpolate`` is on) never enter ``candles``:
  they go to ``interpolated_candles`` for minutes no bar holds, each one logged in
  ``interpolations``. The view ``candles_filled`` shows both, with ``interpolated`` true or false;
  a real bar stored later for the same minute hides the interpolated one.
* Deduplication deletes only the extra copies of rows equal on every column the venue sent;
  the first-received copy stays, so no observation is lost.
"""

from __future__ import annotations

import contextlib
import time
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from flowdesk import records as r
from flowdesk.crews.settings import DataOpsSettings
from flowdesk.dataops.checks import DUP_KEYS, time_col, trade_id_columns
from flowdesk.dataops.live import LiveHookMissing, LiveOps
from flowdesk.dataops.model import Action, RunInfo, dumps, now_utc
from flowdesk.dataops.rest import MINUTE_MS, FetchError, VenueFetcher
from flowdesk.dataops.scope import ms_to_dt, trade_id_rule
from flowdesk.settings import Settings
from flowdesk.storage.arrow import rows_to_arrow
from flowdesk.storage.writer import BatchWriter

#: how an interpolated bar is made (the only method)
METHOD = "previous_close_zero_volume"


class _ConnectionStore:
    """The part of a Store a BatchWriter needs, over an existing connection."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.connection = connection


class Fixer:
    """Carries out live actions for one run; keeps one REST fetcher per venue."""

    def __init__(self, settings: Settings, connection: duckdb.DuckDBPyConnection, live: LiveOps) -> None:
        self.settings = settings
        self.cfg: DataOpsSettings = settings.crews.dataops
        self.connection = connection
        self.live = live
        self._writer = live.writer() or BatchWriter(_ConnectionStore(connection))  # type: ignore[arg-type]
        self._fetchers: dict[str, VenueFetcher] = {}
        self.trade_budget = self.cfg.max_fill_trades

    def close(self) -> None:
        for f in self._fetchers.values():
            f.close()
        self._fetchers.clear()

    def _fetcher(self, venue: str) -> VenueFetcher:
        if venue not in self._fetchers:
            v = self.settings.venues.get(venue)
            if v is None:
                raise FetchError(f"venue {venue!r} is not configured: nothing to re-fetch from")
            self._fetchers[venue] = VenueFetcher(v, self.cfg.rest_weight_per_minute)
        return self._fetchers[venue]

    def _count(self, sql: str, params: list[Any]) -> int:
        cur = self.connection.cursor()
        try:
            row = cur.execute(sql, params).fetchone()
        finally:
            cur.close()
        return int(row[0]) if row and row[0] is not None else 0

    # -- trades -------------------------------------------------------------------------

    def backfill_trades(self, action: Action) -> None:
        """Fetch the missing ids over REST and store them (insert-only, deduplicated). A venue
        that cannot give them (no trades-by-id endpoint, REST failure) ends the action
        ``failed`` with the reason in ``outcome.fetch_error``."""
        p = action.params
        lo, hi = int(p["from_id"]), int(p["to_id"])
        want = min(hi, lo + self.trade_budget - 1)
        if want < lo:
            action.status, action.outcome = "skipped", {"reason": "this run's trade budget is spent"}
            return
        try:
            fetched = self._fetcher(p["venue"]).trades(action.symbol or "", lo, want)
            fetch_error = None
        except FetchError as exc:
            fetched, fetch_error = [], str(exc)
        written = self._writer.write_batch_sync({r.Trade: fetched}).get("trades", 0) if fetched else 0
        self.trade_budget -= len(fetched)
        missing = hi - lo + 1 - self._stored_ids(action, lo, hi)
        action.outcome = {"fetched": len(fetched), "inserted": written, "still_missing": missing}
        if fetch_error:
            action.outcome["fetch_error"] = fetch_error
        action.status = "applied" if missing == 0 else ("failed" if fetch_error and not fetched else "partial")

    def _stored_ids(self, action: Action, lo: int, hi: int) -> int:
        """How many of the venue ids ``lo..hi`` the stored trades cover (a row covers
        ``first_id..last_id`` on venues whose trades are ranges of ids, OKX)."""
        first, last = trade_id_columns(trade_id_rule(action.exchange or "", action.market or "")[1])
        if first == last:
            return self._count(
                f"SELECT count(DISTINCT {first}) FROM trades WHERE exchange = ? AND market = ? AND symbol = ? "
                f"AND {first} BETWEEN ? AND ?",
                [action.exchange, action.market, action.symbol, lo, hi],
            )
        return self._count(
            f"SELECT count(DISTINCT i) FROM (SELECT unnest(range(greatest({first}, ?), least({last}, ?) + 1)) AS i "
            f"FROM trades WHERE exchange = ? AND market = ? AND symbol = ? AND {last} >= ? AND {first} <= ?)",
            [lo, hi, action.exchange, action.market, action.symbol, lo, hi],
        )

    # -- candles ------------------------------------------------------------------------

    def _stored_opens(self, action: Action, first: int, last: int) -> set[int]:
        cur = self.connection.cursor()
        try:
            rows = cur.execute(
                "SELECT epoch_ms(open_ts) FROM candles WHERE exchange = ? AND market = ? AND symbol = ? "
                "AND interval = '1m' AND closed AND open_ts BETWEEN ? AND ?",
                [action.exchange, action.market, action.symbol, ms_to_dt(first), ms_to_dt(last)],
            ).fetchall()
        finally:
            cur.close()
        return {int(ms) for (ms,) in rows}

    def refetch_candles(self, action: Action, run: RunInfo) -> list[dict[str, Any]]:
        """Fetch the missing bars; interpolate what the venue cannot give when configured.

        Returns the interpolation log rows written (empty when none)."""
        p = action.params
        first, last = int(p["from_open_ms"]), int(p["to_open_ms"])
        wanted = set(range(first, last + 1, MINUTE_MS))
        try:
            now = int(action.evidence.get("venue_now_ms") or time.time() * 1000)
            bars = self._fetcher(p["venue"]).candles_1m(action.symbol or "", first, last, now)
            fetch_error = None
        except FetchError as exc:
            bars, fetch_error = [], str(exc)
        absent = wanted - self._stored_opens(action, first, last)
        new = [c for c in bars if c.open_ts in absent]
        written = self._writer.write_batch_sync({r.Candle: new}).get("candles", 0) if new else 0
        still = sorted(absent - {c.open_ts for c in new})
        action.outcome = {"fetched": len(bars), "inserted": written, "still_missing": len(still)}
        if fetch_error:
            action.outcome["fetch_error"] = fetch_error
        logged: list[dict[str, Any]] = []
        if still and self.cfg.interpolate and len(still) <= self.cfg.interpolate_max_bars:
            logged = self._interpolate(action, run, still)
            action.outcome["interpolated"] = len(logged)
            if logged:
                still = []
        action.status = "applied" if not still else ("failed" if fetch_error and not new else "partial")
        return logged

    def _interpolate(self, action: Action, run: RunInfo, opens: list[int]) -> list[dict[str, Any]]:
        """Flat bars at the previous close with zero volume, into ``interpolated_candles``."""
        cur = self.connection.cursor()
        try:
            prev = cur.execute(
                "SELECT close FROM candles WHERE exchange = ? AND market = ? AND symbol = ? AND interval = '1m' "
                "AND closed AND open_ts < ? ORDER BY open_ts DESC LIMIT 1",
                [action.exchange, action.market, action.symbol, ms_to_dt(opens[0])],
            ).fetchone()
            if prev is None:
                return []
            close = float(prev[0])
            recv = time.time_ns()
            rows = [r.Candle(action.exchange or "", action.market or "", action.symbol or "", "1m", o,
                             o + MINUTE_MS - 1, close, close, close, close, 0.0, 0.0, 0, 0.0, True,
                             o + MINUTE_MS - 1, recv) for o in opens]
            data = rows_to_arrow(r.Candle, rows)
            data = data.append_column("method", pa.array([METHOD] * len(rows))).append_column(
                "run_id", pa.array([run.run_id] * len(rows)))
            log = [{"exchange": c.exchange, "market": c.market, "symbol": c.symbol, "table_name": "candles",
                    "key_ts": ms_to_dt(c.open_ts), "method": METHOD,
                    "row_values": dumps({"open": close, "high": close, "low": close, "close": close, "volume": 0.0}),
                    "reason": action.outcome.get("fetch_error") or "the venue returned no bar for this minute",
                    "run_id": run.run_id, "action_id": action.action_id, "created_ts": now_utc()} for c in rows]
            _insert_interpolated(cur, data, pa.Table.from_pylist(log))
        finally:
            cur.close()
        return log

    # -- duplicates -----------------------------------------------------------------------

    def dedupe_rows(self, action: Action) -> None:
        """Delete the extra copies, keeping the first received of each observation."""
        p = action.params
        table = p["table"]
        keys = ", ".join(DUP_KEYS[table])
        tc = time_col(table)
        since = datetime.fromisoformat(p["since"])
        args = [action.exchange, action.market, action.symbol, since]
        cur = self.connection.cursor()
        try:
            cur.execute("BEGIN TRANSACTION")
            try:
                row = cur.execute(
                    f"""
                    DELETE FROM {table} WHERE rowid IN (
                        SELECT rowid FROM (
                            SELECT rowid, row_number() OVER (PARTITION BY {keys} ORDER BY recv_ts, rowid) AS rn
                            FROM {table} WHERE exchange = ? AND market = ? AND symbol = ? AND {tc} >= ?
                        ) WHERE rn > 1
                    )
                    """,
                    args,
                ).fetchone()
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        finally:
            cur.close()
        deleted = int(row[0]) if row else 0
        action.outcome = {"deleted": deleted, "kept_one_of_each": True}
        action.status = "applied"

    # -- the live collector ---------------------------------------------------------------

    def resync_book(self, action: Action) -> None:
        action.outcome = self.live.resync_book(action.exchange or "", action.market or "", action.symbol or "")
        action.status = "applied"

    def reconnect_feed(self, action: Action) -> None:
        action.outcome = self.live.reconnect(action.params["venue"])
        action.status = "applied"


def _insert_interpolated(cur: duckdb.DuckDBPyConnection, candles: pa.Table, log: pa.Table) -> None:
    """Insert interpolated bars for minutes no bar holds, and their log, in one transaction."""
    cur.execute("BEGIN TRANSACTION")
    try:
        cur.register("_fd_interp", candles)
        cur.execute(
            "INSERT INTO interpolated_candles BY NAME SELECT n.* FROM _fd_interp n "
            "ANTI JOIN candles c USING (exchange, market, symbol, interval, open_ts) "
            "ANTI JOIN interpolated_candles i USING (exchange, market, symbol, interval, open_ts)"
        )
        cur.register("_fd_interp_log", log)
        cur.execute("INSERT INTO interpolations BY NAME SELECT * FROM _fd_interp_log")
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    finally:
        for view in ("_fd_interp", "_fd_interp_log"):
            with contextlib.suppress(duckdb.Error):
                cur.unregister(view)


def live_error(exc: Exception) -> dict[str, Any]:
    """Outcome of an action the collector cannot carry out."""
    kind = "hook_missing" if isinstance(exc, LiveHookMissing) else type(exc).__name__
    return {"error": str(exc), "kind": kind}

