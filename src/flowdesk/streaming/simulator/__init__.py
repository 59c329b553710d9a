"""The local exchange: a Binance USD-M futures WebSocket + REST server on 127.0.0.1 that
replays captures or runs a seeded synthetic market, with fault injection.

    sim = Simulator(SimulatorConfig(mode="replay", captures=[path], speed=0))
    await sim.start()          # sim.ws_url, sim.rest_url
    ...
    await sim.stop()

See docs/simulator.md.
"""

from flowdesk.streaming.simulator.config import FaultConfig, SimulatorConfig, SymbolSpec, spec_for
from flowdesk.streaming.simulator.server import Simulator, parse_ws_path, run_simulator

__all__ = [
    "FaultConfig",
    "Simulator",
    "SimulatorConfig",
    "SymbolSpec",
    "parse_ws_path",
    "run_simulator",
    "spec_for",
]
