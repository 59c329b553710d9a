"""Re-fetching missing data over a venue's REST API, for the ``fill_gaps`` workflow.

Uses the collector's own REST client (weights, 429/418 back-off, retries) and the venue's pure
parsers, on a private event loop: the workflows run on worker threads. The workflows have their
own weight budget (``crews.dataops.rest_weight_per_minute``, default 600 of Binance's 2400 per
minute) so that a large fill never starves the collector's book snapshots and polls.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from flowdesk import records as r
from flowdesk.settings import VenueSettings
from flowdesk.streaming.ratelimit import WeightLimiter
from flowdesk.streaming.rest import RestClient, RestError
from flowdesk.streaming.venues import binance_usdm as bn
from flowdesk.streaming.venues.base import ParseError

PAGE = 1000  # trades (aggTrades/historicalTrades by id) or klines per call
MINUTE_MS = 60_000


class FetchError(RuntimeError):
    """The venue could not give the data (REST error, unparsable answer, unsupported venue)."""


class VenueFetcher:
    """Trades by id and 1-minute klines from one venue's REST API (blocking calls)."""

    def __init__(self, venue: VenueSettings, weight_per_minute: int) -> None:
        if venue.name != bn.VENUE:
            raise FetchError(f"re-fetching is not implemented for venue {venue.name!r}")
        self.venue = venue
        self._loop = asyncio.new_event_loop()
        self._client = RestClient(venue.rest_url, WeightLimiter(weight_per_minute), bn.request_weight,
                                  max_retries=3)
        self._agg = "aggTrade" in venue.streams

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()

    def __enter__(self) -> VenueFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        try:
            return self._loop.run_until_complete(self._client.get(path, params))
        except RestError as exc:
            raise FetchError(str(exc)) from exc

    @property
    def requests(self) -> int:
        return self._client.requests

    def trades(self, symbol: str, lo: int, hi: int) -> list[r.Trade]:
        """Trades with ids ``lo..hi`` (fewer when the venue no longer has them), ``source='rest'``."""
        path = bn.AGG_TRADES_PATH if self._agg else bn.HISTORICAL_TRADES_PATH
        parse = bn.parse_agg_trades if self._agg else bn.parse_historical_trades
        out: list[r.Trade] = []
        cursor = lo
        while cursor <= hi:
            payload = self._get(path, {"symbol": symbol, "fromId": cursor, "limit": PAGE})
            try:
                page = [t for t in parse(payload, symbol, time.time_ns()) if lo <= t.trade_id <= hi]
            except ParseError as exc:
                raise FetchError(f"{path}: {exc}") from exc
            if not page:
                break
            out.extend(page)
            cursor = page[-1].trade_id + 1
        return out

    def candles_1m(self, symbol: str, first_open_ms: int, last_open_ms: int, now_ms: int) -> list[r.Candle]:
        """Closed 1-minute candles with open times in ``[first_open_ms, last_open_ms]``."""
        out: list[r.Candle] = []
        start = first_open_ms
        while start <= last_open_ms:
            end = min(last_open_ms + MINUTE_MS - 1, start + PAGE * MINUTE_MS - 1)
            payload = self._get(bn.KLINES_PATH, {"symbol": symbol, "interval": "1m", "startTime": start,
                                                 "endTime": end, "limit": PAGE})
            try:
                page = bn.parse_klines(payload, symbol, "1m", time.time_ns(), now_ms)
            except ParseError as exc:
                raise FetchError(f"klines: {exc}") from exc
            out.extend(c for c in page if c.closed and first_open_ms <= c.open_ts <= last_open_ms)
            start = end + 1
        return out
