"""Facts about a capture, computed independently of flowdesk's parsers (plain json)."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class CaptureFacts:
    frames: int = 0
    trades: int = 0
    trade_ids: list[int] = field(default_factory=list)
    last_trade_price: float | None = None
    last_trade_id: int | None = None
    volume: float = 0.0
    signed_volume: float = 0.0
    last_bid: float | None = None
    last_ask: float | None = None
    depth_diffs: int = 0


def capture_facts(path: Path) -> CaptureFacts:
    """Count what the capture holds: trades (ids, last price), last book ticker, depth diffs."""
    facts = CaptureFacts()
    with gzip.open(path, "rt") as fh:
        for line in fh:
            msg = json.loads(line.split(" ", 1)[1])
            if "stream" not in msg:
                continue
            facts.frames += 1
            data, stream = msg["data"], msg["stream"]
            if stream.endswith("@trade"):
                facts.trades += 1
                facts.trade_ids.append(data["t"])
                facts.last_trade_price, facts.last_trade_id = float(data["p"]), data["t"]
                facts.volume += float(data["q"])
                facts.signed_volume += -float(data["q"]) if data["m"] else float(data["q"])
            elif stream.endswith("@bookTicker"):
                facts.last_bid, facts.last_ask = float(data["b"]), float(data["a"])
            elif "@depth" in stream:
                facts.depth_diffs += 1
    return facts
