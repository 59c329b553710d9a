"""Which module describes which venue: the settings key -> its :class:`VenueProtocol`.

Modules are imported on first use, so a process that collects one venue never imports the
others' parsers. Each venue module exports ``PROTOCOLS: dict[str, VenueProtocol]`` (one module
may describe two markets, e.g. Bybit linear and spot).
"""

from __future__ import annotations

import importlib

from flowdesk.streaming.venues.protocol import VenueProtocol

#: settings key -> module under flowdesk.streaming.venues
VENUE_MODULES: dict[str, str] = {
    "binance_usdm": "binance_usdm",
    "binance_spot": "binance_spot",
    "bybit_linear": "bybit",
    "bybit_spot": "bybit",
    "okx_swap": "okx",
    "gateio_futures": "gateio",
    "hyperliquid_perp": "hyperliquid",
    "kucoin_spot": "kucoin",
    "kucoin_futures": "kucoin",
}

#: settings key -> (exchange, market) as records and tables spell them; kept here (not read from
#: the modules) so that tools can resolve venue names without importing every parser
VENUE_IDS: dict[str, tuple[str, str]] = {
    "binance_usdm": ("binance", "usdm"),
    "binance_spot": ("binance", "spot"),
    "bybit_linear": ("bybit", "linear"),
    "bybit_spot": ("bybit", "spot"),
    "okx_swap": ("okx", "swap"),
    "gateio_futures": ("gateio", "futures"),
    "hyperliquid_perp": ("hyperliquid", "perp"),
    "kucoin_spot": ("kucoin", "spot"),
    "kucoin_futures": ("kucoin", "futures"),
}


def protocol(name: str) -> VenueProtocol:
    """The protocol description of venue ``name``; ``KeyError`` names the known venues."""
    if name not in VENUE_MODULES:
        raise KeyError(f"unknown venue {name!r} (known: {sorted(VENUE_MODULES)})")
    module = importlib.import_module(f"flowdesk.streaming.venues.{VENUE_MODULES[name]}")
    return module.PROTOCOLS[name]


def all_protocols() -> dict[str, VenueProtocol]:
    """Every venue's protocol, in :data:`VENUE_MODULES` order."""
    return {name: protocol(name) for name in VENUE_MODULES}
