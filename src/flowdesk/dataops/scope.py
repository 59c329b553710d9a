"""What a validation looks at: each enabled venue, its symbols and streams, its clock, a window.

Staleness is measured against the venue's own clock. With a collector in the process that
clock is estimated from the newest records it received (their exchange time plus the local time
elapsed since they arrived): the wall clock when live, the capture's time in a replay. With no
collector the wall clock is used, so stored data is as stale as it truly is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from flowdesk.crews.settings import DataOpsSettings
from flowdesk.settings import Settings
from flowdesk.streaming.venues.protocol import VenueProtocol
from flowdesk.streaming.venues.registry import protocol
from flowdesk.tools.common import VENUES

_VENUE_OF = {pair: name for name, pair in VENUES.items()}


@cache
def venue_protocol(exchange: str, market: str) -> VenueProtocol | None:
    """The :class:`VenueProtocol` of the venue that stores as ``(exchange, market)``; None for
    a pair no venue module describes."""
    name = _VENUE_OF.get((exchange, market))
    return None if name is None else protocol(name)


def trade_id_rule(exchange: str, market: str) -> tuple[bool, bool]:
    """``(contiguous, id_range)`` from the venue's protocol: whether its trade ids count up by
    one per trade (a jump is a missing trade), and whether a stored trade covers the venue ids
    ``first_id..last_id`` (OKX: one row per taker order, ``trade_id`` is the last fill's id)
    rather than the one id ``trade_id`` (Binance: the aggregate id for ``aggTrade``, whose
    ``first_id``/``last_id`` are raw trade ids of another sequence)."""
    p = venue_protocol(exchange, market)
    if p is None:
        return False, False
    return p.contiguous_trade_ids, p.contiguous_trade_ids and p.trade_id_range


@dataclass(frozen=True)
class VenueScope:
    venue: str
    exchange: str
    market: str
    symbols: tuple[str, ...]
    streams: tuple[str, ...]
    now_ms: int
    clock: str  # "venue" (estimated from live records) or "wall"
    since: datetime  # window start, naive UTC

    @property
    def contiguous_ids(self) -> bool:
        """Trade-id gaps are checked (the protocol's ``contiguous_trade_ids``)."""
        return trade_id_rule(self.exchange, self.market)[0]

    @property
    def trade_id_range(self) -> bool:
        """Gaps are checked on ``first_id..last_id`` (the protocol's ``trade_id_range``)."""
        return trade_id_rule(self.exchange, self.market)[1]

    @property
    def now(self) -> datetime:
        return ms_to_dt(self.now_ms)

    def lag_s(self, ts: datetime | None) -> float | None:
        """Seconds between the venue clock and a stored naive-UTC time."""
        if ts is None:
            return None
        return round((self.now_ms - dt_to_ms(ts)) / 1000, 3)


def ms_to_dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).replace(tzinfo=None)


def dt_to_ms(ts: datetime) -> int:
    return int(ts.replace(tzinfo=UTC).timestamp() * 1000)


def venue_clock_ms(live: Any, exchange: str, market: str, symbols: tuple[str, ...]) -> int | None:
    """The venue's clock from the newest live trade/quote: its exchange time plus the local
    time since it arrived. None without a collector or before any record arrived."""
    if live is None or not hasattr(live, "latest"):
        return None
    now_ns = time.time_ns()
    best: int | None = None
    for symbol in symbols:
        for kind in ("Trade", "Quote"):
            rec = live.latest(exchange, market, symbol, kind)
            if rec is None:
                continue
            estimate = rec.ts + (now_ns - rec.recv_ns) // 1_000_000
            best = estimate if best is None else max(best, estimate)
    return best


def venue_scopes(settings: Settings, live: Any, cfg: DataOpsSettings) -> list[VenueScope]:
    """One scope per enabled venue flowdesk knows how to store."""
    out: list[VenueScope] = []
    wall = time.time_ns() // 1_000_000
    for v in settings.enabled_venues():
        if v.name not in VENUES:
            continue
        exchange, market = VENUES[v.name]
        clock = venue_clock_ms(live, exchange, market, v.symbols)
        now_ms = clock if clock is not None else wall
        since = ms_to_dt(now_ms) - timedelta(seconds=cfg.window_s)
        out.append(
            VenueScope(v.name, exchange, market, v.symbols, v.streams, now_ms,
                       "venue" if clock is not None else "wall", since)
        )
    return out
