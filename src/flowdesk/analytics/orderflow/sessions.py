"""Sessions: the trading day in a time zone, named sessions (Tokyo, London, New York) and
one-minute high/low statistics that session levels and TPO profiles are built from.

* The **day session** of date D in zone Z runs from D 00:00 to D+1 00:00 local time in Z
  (default UTC), so it can span UTC midnight and lasts 23 or 25 hours on DST change days.
* A **named session** is ``HH:MM-HH:MM Area/City``; its session of date D starts at D HH:MM in
  its own zone and ends at the end time the same day, or the next day when the end is not
  after the start (e.g. ``22:00-06:00``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import duckdb
import numpy as np

from flowdesk.analytics.orderflow.common import (
    Grid,
    MarketKey,
    OrderflowError,
    dt_to_ms,
    iso_ms,
    parse_tz,
    qty,
    relation_name,
)
from flowdesk.analytics.orderflow.store import window_params

#: default named sessions: local exchange-style hours in each centre's own time zone
DEFAULT_SESSIONS: dict[str, str] = {
    "tokyo": "09:00-18:00 Asia/Tokyo",
    "london": "08:00-17:00 Europe/London",
    "new_york": "08:00-17:00 America/New_York",
}
_SPEC_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s+(\S+)\s*$")


@dataclass(frozen=True)
class SessionSpec:
    name: str
    start: time
    end: time
    tz: ZoneInfo

    def window(self, day: date) -> tuple[int, int]:
        """Epoch-ms ``[start, end)`` of this session on local date ``day``."""
        end_day = day if self.end > self.start else day + timedelta(days=1)
        start = datetime.combine(day, self.start, tzinfo=self.tz)
        return dt_to_ms(start), dt_to_ms(datetime.combine(end_day, self.end, tzinfo=self.tz))

    def describe(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M} {self.tz.key}"


def _clock(h: str, m: str, text: str) -> time:
    if int(h) > 23 or int(m) > 59:
        raise OrderflowError(f"sessions: {text!r} has an invalid time of day")
    return time(int(h), int(m))


def parse_sessions(specs: dict[str, str] | None) -> list[SessionSpec]:
    """Named sessions from ``{"name": "HH:MM-HH:MM Area/City"}`` (default: :data:`DEFAULT_SESSIONS`)."""
    items = DEFAULT_SESSIONS if specs is None else specs
    if not isinstance(items, dict) or len(items) > 12:
        raise OrderflowError(
            "sessions: expected a mapping of up to 12 names to 'HH:MM-HH:MM Area/City'"
        )
    out = []
    for name, text in items.items():
        match = _SPEC_RE.match(str(text))
        if not match:
            raise OrderflowError(
                f"sessions: {name}={text!r} is not like '08:00-17:00 Europe/London'"
            )
        h1, m1, h2, m2, zone = match.groups()
        start, end = _clock(h1, m1, text), _clock(h2, m2, text)
        if start == end:
            raise OrderflowError(f"sessions: {name}={text!r} has the same start and end")
        out.append(SessionSpec(str(name), start, end, parse_tz(zone, f"sessions.{name}")))
    return out


def day_window(day: date, tz: ZoneInfo) -> tuple[int, int]:
    """Epoch-ms ``[start, end)`` of the day session of ``day`` in ``tz``."""
    start = datetime.combine(day, time(0, 0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=tz)
    return dt_to_ms(start), dt_to_ms(end)


def session_day(ms: int, tz: ZoneInfo) -> date:
    """The local date (in ``tz``) of the day session holding epoch-ms ``ms``."""
    return datetime.fromtimestamp(ms / 1000, tz=tz).date()


def session_starts(start_ms: int, end_ms: int, tz: ZoneInfo) -> np.ndarray:
    """Start times of every day session overlapping ``[start_ms, end_ms)``, the first one at or
    before ``start_ms``."""
    day = session_day(start_ms, tz)
    out = []
    while True:
        s, _ = day_window(day, tz)
        if s >= end_ms:
            break
        out.append(s)
        day += timedelta(days=1)
    return np.array(out, dtype=np.int64)


@dataclass(frozen=True)
class MinuteStats:
    """One row per UTC minute with trades: the minute's start (epoch ms), lowest and highest
    tick index and volume."""

    minute_ms: np.ndarray
    lo_tick: np.ndarray
    hi_tick: np.ndarray
    volume: np.ndarray

    def between(self, start_ms: int, end_ms: int) -> slice:
        a, b = np.searchsorted(self.minute_ms, [start_ms, end_ms], side="left")
        return slice(int(a), int(b))


def load_minutes(
    cur: duckdb.DuckDBPyConnection,
    key: MarketKey,
    grid: Grid,
    start_ms: int,
    end_ms: int,
    source: str = "trades",
) -> MinuteStats:
    """Per-minute low/high (tick index) and volume over ``[start_ms, end_ms)``, one row per UTC
    minute with trades. ``date_trunc`` is DuckDB's fastest bucketing; ticks are taken from the
    minute's min/max price (the same rounding as everywhere, done on 1,440 rows a day)."""
    sql = f"""
        SELECT epoch_ms(m) AS m, lo, hi, v FROM (
            SELECT date_trunc('minute', ts) AS m, min(price) AS lo, max(price) AS hi, sum(qty) AS v
            FROM {relation_name(source)} WHERE {key.where()} AND ts >= $t0 AND ts < $t1 GROUP BY m)
        ORDER BY m
    """
    t = cur.sql(sql, params=window_params(key, start_ms, end_ms)).fetchnumpy()
    return MinuteStats(
        np.asarray(t["m"], np.int64),
        grid.tick_of(np.asarray(t["lo"], np.float64)),
        grid.tick_of(np.asarray(t["hi"], np.float64)),
        np.asarray(t["v"], np.float64),
    )


def range_levels(
    minutes: MinuteStats, grid: Grid, start_ms: int, end_ms: int, as_of_ms: int
) -> dict[str, object]:
    """High, low and volume of ``[start_ms, end_ms)`` with a ``status``: ``complete`` (it
    ended at or before ``as_of_ms``, the newest trade stored), ``in_progress``,
    ``not_started`` or ``no_trades`` (complete but nothing traded: high/low are None)."""
    sel = minutes.between(start_ms, end_ms)
    out: dict[str, object] = {"start": iso_ms(start_ms), "end": iso_ms(end_ms)}
    if start_ms > as_of_ms:
        status = "not_started"
    elif end_ms > as_of_ms:
        status = "in_progress"
    else:
        status = "complete"
    if sel.stop > sel.start:
        out.update(
            high=float(grid.price_of_tick(minutes.hi_tick[sel].max())),
            low=float(grid.price_of_tick(minutes.lo_tick[sel].min())),
            volume=float(qty(minutes.volume[sel].sum())),
        )
    else:
        out.update(high=None, low=None, volume=0.0)
        status = "no_trades" if status == "complete" else status
    out["status"] = status
    return out
