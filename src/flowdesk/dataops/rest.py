"""Re-fetching missing data over a venue's REST API, for the ``fill_gaps`` workflow.

Uses the collector's own REST client (weights, 429/418 back-off, retries) and the venue's pure
parsers, on a private event loop: the workflows run on worker threads. Everything venue-specific
comes from the venue's :class:`~flowdesk.streaming.venues.protocol.VenueProtocol`, as in the
collector's feed: the trades-by-id call (``trades_by_id``: path, params with the venue's symbol,
parser), the symbol spelling (``to_venue``), the request weights and the instruments call
(contract venues' parsers need contract sizes). The REST base URL is the venue setting's.

What each venue supports:

* **Trades by id**: every venue whose protocol has ``trades_by_id`` for the collected trade
  stream (Binance USD-M and spot ``aggTrades``; OKX ``history-trades``), plus the ``trade``
  stream of Binance USD-M and spot (``historicalTrades``: :data:`STREAM_BACKFILLS`). Others
  (Bybit, Gate.io, Hyperliquid, KuCoin) publish no trades-by-id endpoint: :class:`FetchError`.
* **1-minute candles**: Binance USD-M and spot ``klines`` (:data:`KLINES`); elsewhere
  :class:`FetchError` (the ``candle_gaps`` check runs on ``kline_1m``, a Binance stream, only).

The workflows have their own weight budget (``crews.dataops.rest_weight_per_minute``, default
600), capped at half the venue's own per-minute budget (OKX: 300 of 600), so that a large fill
never starves the collector's book snapshots and polls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

from flowdesk import records as r
from flowdesk.settings import VenueSettings
from flowdesk.streaming.ratelimit import WeightLimiter
from flowdesk.streaming.rest import RestClient, RestError
from flowdesk.streaming.venues import binance_spot as bs
from flowdesk.streaming.venues import binance_usdm as bn
from flowdesk.streaming.venues.base import ParseError, VenueError
from flowdesk.streaming.venues.protocol import Instrument, TradeBackfill, VenueProtocol, rest_path
from flowdesk.streaming.venues.registry import protocol

PAGE = 1000  # klines per call
MINUTE_MS = 60_000

#: trades-by-id calls beside the protocol's own, per venue and collected trade stream: a
#: protocol names one backfill (Binance: ``aggTrades``, for the ``aggTrade`` stream); a venue
#: collecting ``trade`` instead needs ``historicalTrades`` (aggregate ids are not trade ids)
STREAM_BACKFILLS: dict[str, Mapping[str, TradeBackfill]] = {
    bn.VENUE: bn.TRADE_BACKFILLS,
    bs.VENUE: bs.TRADE_BACKFILLS,
}

#: venue -> (klines path, ``parse(payload, symbol, interval, recv_ns, now_ms)``): the venues
#: whose 1-minute candles can be re-fetched by time range
KLINES: dict[str, tuple[str, Callable[..., list[r.Candle]]]] = {
    bn.VENUE: (bn.KLINES_PATH, bn.parse_klines),
    bs.VENUE: (bs.KLINES_PATH, bs.parse_klines),
}

#: what a failed REST exchange raises: transport/HTTP, an unreadable answer, the venue's error body
_FAILURES = (RestError, ParseError, VenueError)


class FetchError(RuntimeError):
    """The venue could not give the data (REST error, unparsable answer, unsupported venue)."""


def trade_backfill(p: VenueProtocol, venue: VenueSettings) -> TradeBackfill | None:
    """The trades-by-id call for the trade stream ``venue`` collects: the protocol's own (when
    its stream is collected, as the feed decides), else one of :data:`STREAM_BACKFILLS`."""
    call = p.trades_by_id
    if call is not None and call.stream in (None, *venue.streams):
        return call
    extra = STREAM_BACKFILLS.get(venue.name, {})
    return next((extra[s] for s in venue.streams if s in extra), None)


class VenueFetcher:
    """Trades by id and 1-minute candles from one venue's REST API (blocking calls)."""

    def __init__(self, venue: VenueSettings, weight_per_minute: int) -> None:
        try:
            self.protocol = protocol(venue.name)
        except KeyError as exc:
            raise FetchError(f"re-fetching is not implemented for venue {venue.name!r}: {exc}") from exc
        p = self.protocol
        self.venue = venue
        self._backfill = trade_backfill(p, venue)
        venue_budget = venue.max_weight_per_minute or p.max_weight_per_minute
        self.weight_per_minute = max(1, min(weight_per_minute, venue_budget // 2))
        self._loop = asyncio.new_event_loop()
        self._client = RestClient(venue.rest_url, WeightLimiter(self.weight_per_minute), p.request_weight,
                                  max_retries=3, weight_header=p.weight_header)
        self._instruments: dict[str, Instrument] | None = None  # loaded when a parser needs them

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()

    def __enter__(self) -> VenueFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, params: dict[str, Any]) -> Any:
        try:
            return self._loop.run_until_complete(self._client.request(method, path, params))
        except RestError as exc:
            raise FetchError(str(exc)) from exc

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        return self._request("GET", path, params)

    @property
    def requests(self) -> int:
        return self._client.requests

    def _venue_symbol(self, symbol: str) -> str:
        try:
            return self.protocol.to_venue(symbol)
        except ValueError as exc:
            raise FetchError(f"{self.venue.name}: {exc}") from exc

    def _load_instruments(self) -> dict[str, Instrument]:
        """The venue's instruments (contract sizes), fetched once per fetcher."""
        if self._instruments is None:
            method, path, params, parse = self.protocol.instruments  # type: ignore[misc]
            try:
                self._instruments = parse(self._request(method, path, dict(params)))
            except (ParseError, VenueError) as exc:
                raise FetchError(f"{self.venue.name} instruments {path}: {exc}") from exc
        return self._instruments

    def _parse(self, call: TradeBackfill, payload: Any, symbol: str) -> list[r.Trade]:
        """Parse a trades page; a contract venue's parser raises ParseError without the
        instruments (it never guesses a contract size), so they are loaded then and the page
        parsed again."""
        try:
            return call.parse(payload, symbol, time.time_ns(), self._instruments or {})  # type: ignore[return-value]
        except (ParseError, VenueError) as exc:
            if self._instruments is not None or self.protocol.instruments is None or isinstance(exc, VenueError):
                raise FetchError(f"{self.venue.name} {call.path}: {exc}") from exc
        instruments = self._load_instruments()
        if symbol not in instruments:
            raise FetchError(f"{self.venue.name}: the instruments list has no symbol {symbol}")
        try:
            return call.parse(payload, symbol, time.time_ns(), instruments)  # type: ignore[return-value]
        except (ParseError, VenueError) as exc:
            raise FetchError(f"{self.venue.name} {call.path}: {exc}") from exc

    def trades(self, symbol: str, lo: int, hi: int) -> list[r.Trade]:
        """Trades with ids ``lo..hi`` (fewer when the venue no longer has them), ``source='rest'``,
        from the venue's trades-by-id endpoint; :class:`FetchError` for a venue without one."""
        call = self._backfill
        if call is None:
            why = ("" if self.protocol.trades_by_id is None else
                   f" for the collected trade stream (streams: {', '.join(self.venue.streams) or 'none'})")
            raise FetchError(f"venue {self.venue.name!r} has no trades-by-id endpoint{why}: "
                             f"missing trades cannot be re-fetched")
        venue_symbol = self._venue_symbol(symbol)
        path = rest_path(call.path, venue_symbol)
        out: list[r.Trade] = []
        cursor = lo
        while cursor <= hi:
            payload = self._get(path, call.params(venue_symbol, cursor, call.limit))
            page = [t for t in self._parse(call, payload, symbol) if cursor <= t.trade_id <= hi]
            if not page:
                break
            out.extend(page)
            cursor = page[-1].trade_id + 1
        return out

    def candles_1m(self, symbol: str, first_open_ms: int, last_open_ms: int, now_ms: int) -> list[r.Candle]:
        """Closed 1-minute candles with open times in ``[first_open_ms, last_open_ms]``."""
        klines = KLINES.get(self.venue.name)
        if klines is None:
            raise FetchError(f"re-fetching 1-minute candles is not implemented for venue {self.venue.name!r}")
        path, parse = klines
        venue_symbol = self._venue_symbol(symbol)
        out: list[r.Candle] = []
        start = first_open_ms
        while start <= last_open_ms:
            end = min(last_open_ms + MINUTE_MS - 1, start + PAGE * MINUTE_MS - 1)
            payload = self._get(path, {"symbol": venue_symbol, "interval": "1m", "startTime": start,
                                       "endTime": end, "limit": PAGE})
            try:
                page = parse(payload, symbol, "1m", time.time_ns(), now_ms)
            except _FAILURES as exc:
                raise FetchError(f"{self.venue.name} klines: {exc}") from exc
            out.extend(c for c in page if c.closed and first_open_ms <= c.open_ts <= last_open_ms)
            start = end + 1
        return out
