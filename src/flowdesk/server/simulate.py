"""``--simulate``: start a local simulator for every enabled venue and point the settings at them.

Binance USD-M runs the full simulator (capture replay or synthetic market, faults); every other
enabled venue runs its :class:`VenueSim` wire format over the same seeded synthetic market in
its own :class:`VenueSimServer`. Captures exist for Binance USD-M only, so a replay (``--capture``)
collects Binance USD-M alone: the other venues are disabled rather than mixing a replayed
market with a synthetic one (cross-venue tools would compare unrelated prices).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import Any

from flowdesk.settings import Settings


def simulator_symbols(sim: object) -> list[str]:
    """The symbols the simulator serves (from the capture in replay mode)."""
    source = getattr(sim, "source", None)
    return [str(s).upper() for s in getattr(source, "symbols", [])]


def point_venue_at(settings: Settings, name: str, ws_url: str, rest_url: str, symbols: list[str] | None) -> Settings:
    """Settings whose venue ``name`` talks to ``ws_url``/``rest_url`` (a simulator)."""
    v = settings.venues[name]
    venue = dataclasses.replace(v, ws_url=ws_url, rest_url=rest_url, symbols=tuple(symbols) if symbols else v.symbols)
    return dataclasses.replace(settings, venues={**settings.venues, name: venue})


def point_venues_at(settings: Settings, ws_url: str, rest_url: str, symbols: list[str] | None) -> Settings:
    """Settings that collect Binance USD-M alone, from ``ws_url``/``rest_url`` (the Binance USD-M
    simulator): every other venue is disabled (benchmarks and tests of one venue)."""
    venues = {
        name: v if name == "binance_usdm" else dataclasses.replace(v, enabled=False)
        for name, v in settings.venues.items()
    }
    settings = dataclasses.replace(settings, venues=venues)
    settings = point_venue_at(settings, "binance_usdm", ws_url, rest_url, symbols)
    return dataclasses.replace(settings, symbols=tuple(symbols) if symbols else settings.symbols)


async def start_simulators(settings: Settings, config: Any) -> tuple[Settings, list[Any]]:
    """Start one simulator per enabled venue; returns the re-pointed settings and the servers
    (each has ``stop()``)."""
    from flowdesk.streaming.simulator import Simulator
    from flowdesk.streaming.simulator.venues import load_sim
    from flowdesk.streaming.simulator.venues.server import VenueSimServer

    sims: list[Any] = []
    replay = bool(getattr(config, "captures", None))
    if not replay:  # a synthetic market served to a desk runs on today's clock (data ages as live)
        config = dataclasses.replace(config, start_ms=int(time.time()) * 1000)
    for v in settings.enabled_venues():
        if v.name == "binance_usdm":
            sim = Simulator(config)
            await sim.start()
            settings = point_venue_at(settings, v.name, sim.ws_url, sim.rest_url, simulator_symbols(sim))
        elif replay:
            settings = dataclasses.replace(
                settings, venues={**settings.venues, v.name: dataclasses.replace(v, enabled=False)}
            )
            continue
        else:
            sim = VenueSimServer(
                load_sim(v.name), list(v.symbols), seed=config.seed, rate_hz=config.rate_hz, speed=config.speed,
                start_ms=config.start_ms,
            )
            await sim.start()
            settings = point_venue_at(settings, v.name, sim.ws_url, sim.rest_url, None)
        sims.append(sim)
        print(f"simulator {v.name}: ws {sim.ws_url}  rest {sim.rest_url}", file=sys.stderr, flush=True)
    if replay and sims:
        settings = dataclasses.replace(settings, symbols=tuple(simulator_symbols(sims[0])) or settings.symbols)
    return settings, sims


async def stop_simulators(sims: list[Any]) -> None:
    for sim in sims:
        await sim.stop()
