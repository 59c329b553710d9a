"""Binance USD-M REST (``/fapi/v1/...``) answered from the simulator's market state.

Every answer is JSON with an ``X-MBX-USED-WEIGHT-1M`` header (Binance's request weights summed
over the last minute); errors use Binance's ``{"code": ..., "msg": ...}`` body.
"""

from __future__ import annotations

import bisect
import time
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from flowdesk.streaming.simulator.faults import FaultState
from flowdesk.streaming.simulator.market_rest import (
    DAY_MS,
    agg_json,
    exchange_info,
    kline_rows,
    premium_index,
    ticker_24h,
    trade_json,
)
from flowdesk.streaming.simulator.state import MarketState, SymbolState

Answer = tuple[int, bytes, dict[str, str]]
INTERVAL_MS = {
    "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000,
    "12h": 43_200_000, "1d": DAY_MS,
}
HOUR_MS = 3_600_000


class ApiError(Exception):
    """An answer in Binance's error shape."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


class RestApi:
    """Routes ``GET /fapi/v1/...`` to handlers; counts requests and weight."""

    def __init__(self, state: MarketState, faults: FaultState) -> None:
        self.state = state
        self.faults = faults
        self.requests = 0
        self._weights: deque[tuple[float, int]] = deque()
        self._routes: dict[str, Callable[[dict[str, str]], tuple[Any, int]]] = {
            "/fapi/v1/ping": lambda q: ({}, 1),
            "/fapi/v1/time": lambda q: ({"serverTime": self._now()}, 1),
            "/fapi/v1/exchangeInfo": lambda q: (exchange_info(self.state, self._now()), 1),
            "/fapi/v1/depth": self._depth,
            "/fapi/v1/openInterest": self._open_interest,
            "/fapi/v1/premiumIndex": self._premium_index,
            "/fapi/v1/ticker/24hr": self._ticker,
            "/fapi/v1/aggTrades": self._agg_trades,
            "/fapi/v1/historicalTrades": self._historical_trades,
            "/fapi/v1/klines": self._klines,
        }

    # --- entry point --------------------------------------------------------------------
    def handle(self, target: str) -> Answer:
        """Answer one ``GET`` of ``target`` (path and query string)."""
        self.requests += 1
        parts = urlsplit(target)
        query = dict(parse_qsl(parts.query))
        status = self.faults.rest_error(parts.path)
        if status is not None:
            return self._rate_limited(status)
        route = self._routes.get(parts.path)
        if route is None:
            return self._error(ApiError(404, -5000, f"Path {parts.path}, Method GET is invalid"), 1)
        try:
            body, weight = route(query)
        except ApiError as exc:
            return self._error(exc, 1)
        return 200, orjson.dumps(body), self._headers(weight)

    def _headers(self, weight: int) -> dict[str, str]:
        now = time.monotonic()
        self._weights.append((now, weight))
        while self._weights and self._weights[0][0] < now - 60:
            self._weights.popleft()
        used = sum(w for _, w in self._weights)
        return {"Content-Type": "application/json", "X-MBX-USED-WEIGHT-1M": str(used)}

    def _error(self, exc: ApiError, weight: int) -> Answer:
        return exc.status, orjson.dumps({"code": exc.code, "msg": exc.msg}), self._headers(weight)

    def _rate_limited(self, status: int) -> Answer:
        until = self._now() + int(self.faults.cfg.retry_after_s * 1000)
        msg = (
            "Too many requests; current limit of IP(127.0.0.1) is 2400 requests per minute. "
            "Please use the websocket for live updates to avoid polling the API."
            if status == 429
            else f"Way too many requests; IP(127.0.0.1) banned until {until}. "
            "Please use the websocket for live updates to avoid bans."
        )
        status_, body, headers = self._error(ApiError(status, -1003, msg), 1)
        headers["Retry-After"] = self.faults.retry_after_header()
        return status_, body, headers

    # --- helpers ------------------------------------------------------------------------
    def _now(self) -> int:
        return self.state.now_ms or int(time.time() * 1000)

    def _symbol(self, q: dict[str, str], required: bool = True) -> SymbolState | None:
        sym = q.get("symbol", "")
        if not sym:
            if required:
                raise ApiError(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
            return None
        st = self.state.symbols.get(sym.upper())
        if st is None:
            raise ApiError(400, -1121, "Invalid symbol.")
        return st

    @staticmethod
    def _int(q: dict[str, str], name: str, default: int | None = None) -> int | None:
        raw = q.get(name)
        if raw is None or raw == "":
            return default
        if not raw.lstrip("-").isdigit():
            raise ApiError(400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.")
        return int(raw)

    def _limit(self, q: dict[str, str], default: int, maximum: int) -> int:
        limit = self._int(q, "limit", default)
        assert limit is not None
        if not 1 <= limit <= maximum:
            raise ApiError(400, -1130, "Data sent for parameter 'limit' is not valid.")
        return limit

    # --- endpoints ----------------------------------------------------------------------
    def _depth(self, q: dict[str, str]) -> tuple[Any, int]:
        st = self._symbol(q)
        assert st is not None
        limit = self._limit(q, 500, 1000)
        bids, asks = st.book.top(limit)
        now = st.now_ms or self._now()
        weight = 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20
        return {"lastUpdateId": st.book.last_id, "E": now, "T": now, "bids": bids, "asks": asks}, weight

    def _open_interest(self, q: dict[str, str]) -> tuple[Any, int]:
        st = self._symbol(q)
        assert st is not None
        oi = st.open_interest() or 0.0
        return {"openInterest": f"{oi:.{st.spec.qty_decimals}f}", "symbol": st.spec.symbol, "time": st.now_ms or self._now()}, 1

    def _premium_index(self, q: dict[str, str]) -> tuple[Any, int]:
        st = self._symbol(q, required=False)
        if st is not None:
            return premium_index(st, self._now()), 1
        return [premium_index(s, self._now()) for s in self.state.symbols.values()], 10

    def _ticker(self, q: dict[str, str]) -> tuple[Any, int]:
        st = self._symbol(q, required=False)
        if st is not None:
            return ticker_24h(st, self._now()), 1
        return [ticker_24h(s, self._now()) for s in self.state.symbols.values()], 40

    def _agg_trades(self, q: dict[str, str]) -> tuple[Any, int]:
        st = self._symbol(q)
        assert st is not None
        limit = self._limit(q, 500, 1000)
        rows = _select(st.aggs, limit, self._int(q, "fromId"), self._int(q, "startTime"), self._int(q, "endTime"), id_col=0, time_col=5)
        return [agg_json(r) for r in rows], 20

    def _historical_trades(self, q: dict[str, str]) -> tuple[Any, int]:
        st = self._symbol(q)
        assert st is not None
        limit = self._limit(q, 100, 500)
        rows = _select(st.trade_rows(), limit, self._int(q, "fromId"), None, None, id_col=0, time_col=3)
        return [trade_json(r, st.spec.price_decimals) for r in rows], 20

    def _klines(self, q: dict[str, str]) -> tuple[Any, int]:
        st = self._symbol(q)
        assert st is not None
        interval = q.get("interval", "")
        if interval not in INTERVAL_MS:
            raise ApiError(400, -1120, "Invalid interval.")
        limit = self._limit(q, 500, 1500)
        rows = kline_rows(st, INTERVAL_MS[interval], self._int(q, "startTime"), self._int(q, "endTime"), limit)
        weight = 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10
        return rows, weight


def _select(
    rows: list[tuple[Any, ...]], limit: int, from_id: int | None, start: int | None, end: int | None,
    *, id_col: int, time_col: int,
) -> list[tuple[Any, ...]]:
    """Binance's trade selection: from an id, inside a time window (at most an hour), or the
    most recent ``limit`` rows."""
    if from_id is not None:
        i = bisect.bisect_left(rows, from_id, key=lambda r: r[id_col])
        out = rows[i : i + limit]
        return [r for r in out if end is None or r[time_col] <= end]
    if start is not None or end is not None:
        if start is not None and end is not None and end - start > HOUR_MS:
            raise ApiError(400, -1127, "More than 1 hours between startTime and endTime.")
        lo = start if start is not None else end - HOUR_MS  # type: ignore[operator]
        hi = end if end is not None else lo + HOUR_MS
        i = bisect.bisect_left(rows, lo, key=lambda r: r[time_col])
        j = bisect.bisect_right(rows, hi, key=lambda r: r[time_col])
        return rows[i : min(j, i + limit)]
    return rows[-limit:]
