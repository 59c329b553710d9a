"""Fakes of the simulator contract (``streaming/simulator/venue_api.py``) shared by the venue
tests: a book as ``SimContext.book`` returns it and a WebSocket client as a ``VenueSim`` sees it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakeBook:
    """``SimBook``: the neutral sequence number and both sides, best first."""

    seq: int
    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]


@dataclass
class FakeClient:
    """``SimClient``: the topics subscribed and free per-connection state."""

    topics: set[tuple[str, str]] = field(default_factory=set)
    state: dict[str, Any] = field(default_factory=dict)

    def subscribe(self, topics: Any) -> None:
        self.topics.update(topics)

    def unsubscribe(self, topics: Any) -> None:
        self.topics.difference_update(topics)
