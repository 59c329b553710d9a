"""Key levels of a trading day: session VWAP with bands, volume-profile POC/VAH/VAL, TPO
POC/VAH/VAL, open/high/low/close, for the day and the previous day, plus the named sessions'
(Tokyo, London, New York) highs and lows for both days.

Two scans of the trades: one ``GROUP BY (day, row)`` for both profiles and both VWAPs, one
``GROUP BY minute`` for highs/lows and TPO periods; the rest is small array work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import duckdb

from flowdesk.analytics.orderflow.common import MINUTE_MS, Grid, MarketKey
from flowdesk.analytics.orderflow.profile import ProfileRows, build_profile, load_profiles
from flowdesk.analytics.orderflow.sessions import (
    MinuteStats,
    SessionSpec,
    day_window,
    load_minutes,
    range_levels,
)
from flowdesk.analytics.orderflow.store import edge_ticks
from flowdesk.analytics.orderflow.tpo import build_tpo
from flowdesk.analytics.orderflow.vwap import vwap_of

#: VWAP bands listed in the ladder (all bands are in the day blocks)
LADDER_BANDS = ("upper_1", "lower_1", "upper_2", "lower_2")


@dataclass(frozen=True)
class LevelsRequest:
    key: MarketKey
    grid: Grid
    day: date
    tz: ZoneInfo
    sessions: list[SessionSpec]
    value_area_pct: float
    as_of_ms: int
    source: str = "trades"


def _day_block(
    cur: duckdb.DuckDBPyConnection,
    req: LevelsRequest,
    day: date,
    rows: ProfileRows,
    minutes: MinuteStats,
) -> dict[str, object]:
    start, end = day_window(day, req.tz)
    block: dict[str, object] = {
        "date": day.isoformat(),
        **range_levels(minutes, req.grid, start, end, req.as_of_ms),
    }
    vwap = vwap_of(rows.volume, rows.sum_pq, rows.sum_ppq)
    vp = build_profile(rows, req.grid, req.value_area_pct)
    tpo = build_tpo(minutes, req.grid, start, end, req.value_area_pct)
    block["open"] = block["close"] = None
    sel = minutes.between(start, end)
    if sel.stop > sel.start:
        first, last = edge_ticks(
            cur,
            req.key,
            req.grid,
            int(minutes.minute_ms[sel.start]),
            int(minutes.minute_ms[sel.stop - 1]),
            MINUTE_MS,
            req.source,
        )
        block["open"], block["close"] = (float(req.grid.price_of_tick(t)) for t in (first, last))
    block["vwap"] = vwap.as_dict() if vwap else None
    block["volume_profile"] = (
        {**vp.levels(), "value_area_pct": req.value_area_pct, "volume": vp.total} if vp else None
    )
    block["tpo"] = tpo.levels() if tpo else None
    block["sessions"] = {
        s.name: range_levels(minutes, req.grid, *s.window(day), req.as_of_ms) for s in req.sessions
    }
    return block


def _minute_span(req: LevelsRequest) -> tuple[int, int]:
    """Earliest start and latest end over both days and every named session of both days."""
    spans = [day_window(d, req.tz) for d in (req.day - timedelta(days=1), req.day)]
    spans += [s.window(d) for s in req.sessions for d in (req.day - timedelta(days=1), req.day)]
    return min(a for a, _ in spans), max(b for _, b in spans)


def key_levels(cur: duckdb.DuckDBPyConnection, req: LevelsRequest) -> dict[str, object]:
    """``today`` and ``previous`` day blocks (see :func:`_day_block`), a flat ``ladder`` of
    named levels sorted by price (highest first) and ``warnings`` for empty days."""
    prev_day = req.day - timedelta(days=1)
    p0, t0, t1 = day_window(prev_day, req.tz)[0], *day_window(req.day, req.tz)
    prev_rows, today_rows = load_profiles(cur, req.key, req.grid, [p0, t0, t1], req.source)
    lo, hi = _minute_span(req)
    minutes = load_minutes(cur, req.key, req.grid, lo, hi, req.source)
    today = _day_block(cur, req, req.day, today_rows, minutes)
    previous = _day_block(cur, req, prev_day, prev_rows, minutes)
    warnings = [
        f"no trades in the {label} session {b['date']} ({b['start']} to {b['end']})"
        for label, b in (("requested", today), ("previous", previous))
        if b["high"] is None
    ]
    return {
        "today": today,
        "previous": previous,
        "ladder": ladder(today, previous),
        "warnings": warnings,
    }


def _named(block: dict[str, object], prefix: str) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    vwap, vp, tpo = block.get("vwap"), block.get("volume_profile"), block.get("tpo")
    if isinstance(vwap, dict):
        out.append((f"{prefix}VWAP", vwap["vwap"]))
        out += [(f"{prefix}VWAP_{band}", vwap["bands"][band]) for band in LADDER_BANDS]
    if isinstance(vp, dict):
        out += [
            (f"{prefix}POC", vp["poc"]),
            (f"{prefix}VAH", vp["vah"]),
            (f"{prefix}VAL", vp["val"]),
        ]
    if isinstance(tpo, dict):
        out += [(f"{prefix}TPO_POC", tpo["poc"])]
    for name in ("open", "high", "low", "close"):
        if block.get(name) is not None:
            out.append((f"{prefix}{name.capitalize()}", block[name]))  # type: ignore[arg-type]
    sessions = block.get("sessions")
    if isinstance(sessions, dict):
        for sname, s in sessions.items():
            if s.get("high") is not None:
                out += [(f"{prefix}_{sname}_high", s["high"]), (f"{prefix}_{sname}_low", s["low"])]
    return out


def ladder(today: dict[str, object], previous: dict[str, object]) -> list[dict[str, object]]:
    """All levels as ``{"name", "price"}``, highest price first. Names: ``d``/``pd`` (day /
    previous day) + ``VWAP``, ``VWAP_upper_1`` .. ``VWAP_lower_2``, ``POC``, ``VAH``, ``VAL``,
    ``TPO_POC``, ``Open``, ``High``, ``Low``, ``Close``, and ``d_<session>_high/low``."""
    named = _named(today, "d") + _named(previous, "pd")
    return [{"name": n, "price": p} for n, p in sorted(named, key=lambda x: (-x[1], x[0]))]
