"""Fault bookkeeping: which fault fires when, and how often each one fired.

* ``close_after_frames``: the first ``close_times`` WebSocket connections are closed (code
  1001) right after their N-th data frame; then the next ``drop_frames_on_close`` frames of the
  producer are discarded (applied to the market state, sent to nobody).
* ``skip_depth_at``: the producer's N-th depth diff is never sent (once).
* ``malformed_at_frame``: the first connection to reach its N-th data frame gets a truncated
  copy of that frame just before it (once).
* ``rest_429_count`` / ``rest_418_count``: the first REST requests (``/fapi/v1/ping`` excluded)
  are answered 429, then 418, with ``Retry-After`` and Binance's error body.
"""

from __future__ import annotations

from flowdesk.streaming.simulator.config import FaultConfig

KINDS = ("close", "dropped_frames", "skip_depth", "malformed", "rest_429", "rest_418")


class FaultState:
    """Counts and one-shot flags for the faults of one simulator."""

    def __init__(self, cfg: FaultConfig) -> None:
        self.cfg = cfg
        self.fired: dict[str, int] = dict.fromkeys(KINDS, 0)
        self.closes_left = cfg.close_times if cfg.close_after_frames else 0
        self.skip_depth_pending = cfg.skip_depth_at is not None
        self.malformed_pending = cfg.malformed_at_frame is not None
        self.depth_seen = 0

    def close_at_for_new_connection(self) -> int | None:
        """The frame count after which this new connection will be closed, if any."""
        if self.closes_left <= 0 or not self.cfg.close_after_frames:
            return None
        self.closes_left -= 1
        return self.cfg.close_after_frames

    def malformed_at(self) -> int | None:
        return self.cfg.malformed_at_frame if self.malformed_pending else None

    def skip_this_depth(self) -> bool:
        """Count a depth diff; True for the one to skip."""
        self.depth_seen += 1
        if self.skip_depth_pending and self.depth_seen == self.cfg.skip_depth_at:
            self.skip_depth_pending = False
            self.fired["skip_depth"] += 1
            return True
        return False

    def rest_error(self, path: str) -> int | None:
        """429 or 418 while those budgets last, else ``None``."""
        if path == "/fapi/v1/ping":
            return None
        if self.fired["rest_429"] < self.cfg.rest_429_count:
            self.fired["rest_429"] += 1
            return 429
        if self.fired["rest_418"] < self.cfg.rest_418_count:
            self.fired["rest_418"] += 1
            return 418
        return None

    def retry_after_header(self) -> str:
        """Whole seconds when the setting is whole, else the decimal (handy for fast tests)."""
        s = self.cfg.retry_after_s
        return str(int(s)) if float(s).is_integer() else f"{s:g}"
