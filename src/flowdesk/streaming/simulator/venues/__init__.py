"""Simulators of the venues beyond Binance USD-M: one :class:`VenueSim` (wire format) per venue,
driven by :class:`~flowdesk.streaming.simulator.venues.server.VenueSimServer`.

Binance USD-M keeps its own, richer simulator (capture replay, :mod:`flowdesk.streaming.simulator`).
"""

from __future__ import annotations

import importlib

from flowdesk.streaming.simulator.venue_api import VenueSim
from flowdesk.streaming.venues.registry import VENUE_MODULES


def load_sim(name: str) -> VenueSim:
    """The wire-format simulator of venue ``name`` (``KeyError`` for Binance USD-M, which has its
    own server, and for unknown names)."""
    if name not in VENUE_MODULES or name == "binance_usdm":
        raise KeyError(f"no venue simulator for {name!r}")
    module = importlib.import_module(f"flowdesk.streaming.simulator.venues.{VENUE_MODULES[name]}")
    return module.SIMS[name]
