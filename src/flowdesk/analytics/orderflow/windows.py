"""Time windows of a request: bar windows, profile windows and CVD anchors, resolved from
the caller's ISO-8601 texts and the newest stored trade (``horizon``, epoch ms)."""

from __future__ import annotations

import numpy as np

from flowdesk.analytics.orderflow import sessions as ss
from flowdesk.analytics.orderflow.common import (
    DAY_MS,
    OrderflowError,
    iso_ms,
    parse_time,
    parse_tz,
)


def _ordered(start_ms: int, end_ms: int) -> None:
    if start_ms >= end_ms:
        raise OrderflowError(f"start ({iso_ms(start_ms)}) must be before end ({iso_ms(end_ms)})")


def bar_window(
    start: str | None,
    end: str | None,
    tf_ms: int,
    max_bars: int,
    horizon: int,
    max_window_bars: int,
) -> tuple[int, int]:
    """``[start, end)`` for bars: end defaults to just after the newest trade, start to the
    open of the ``max_bars``-th bar back from the one holding ``end``; a given start is
    rounded down to a bar boundary (bars sit on UTC multiples of the timeframe)."""
    end_ms = parse_time(end, "end") if end else horizon + 1
    if start:
        start_ms = parse_time(start, "start") // tf_ms * tf_ms
    else:
        start_ms = ((end_ms - 1) // tf_ms - (max_bars - 1)) * tf_ms
    _ordered(start_ms, end_ms)
    if (end_ms - start_ms) / tf_ms > max_window_bars:
        raise OrderflowError(
            f"the window holds more than {max_window_bars} bars of this timeframe; "
            "use a shorter window or a larger timeframe"
        )
    return start_ms, end_ms


def session_window(
    start: str | None, end: str | None, tz_name: str, horizon: int, max_days: int
) -> tuple[int, int]:
    """``[start, end)`` defaulting to the day session (in ``tz_name``) of the newest trade,
    up to just after that trade."""
    end_ms = parse_time(end, "end") if end else horizon + 1
    if start:
        start_ms = parse_time(start, "start")
    else:
        tz = parse_tz(tz_name)
        start_ms = ss.day_window(ss.session_day(end_ms - 1, tz), tz)[0]
    _ordered(start_ms, end_ms)
    if end_ms - start_ms > max_days * DAY_MS:
        raise OrderflowError(f"the window is longer than {max_days} days; use a shorter one")
    return start_ms, end_ms


def cvd_anchors(anchor: str, tz_name: str, start_ms: int, end_ms: int) -> tuple[np.ndarray, str]:
    """CVD anchor times (sorted epoch ms) and a description: every day-session start from the
    one holding ``start_ms`` (``anchor="session"``) or one fixed ISO-8601 time."""
    if anchor == "session":
        tz = parse_tz(tz_name)
        return ss.session_starts(start_ms, end_ms, tz), f"day session start ({tz.key})"
    at = parse_time(anchor, "anchor")
    if at >= end_ms:
        raise OrderflowError(f"anchor {anchor!r} is not before the window end {iso_ms(end_ms)}")
    return np.array([at], np.int64), f"fixed time {iso_ms(at)}"
