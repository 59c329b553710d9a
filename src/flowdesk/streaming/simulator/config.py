"""Simulator settings, fault settings and the per-symbol contract specs it publishes."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path

#: exchange time (ms) of the first synthetic event unless ``SimulatorConfig.start_ms`` says
#: otherwise: 2024-08-09T00:00:00Z, a fixed instant so a seed always gives the same frames
SYNTHETIC_EPOCH_MS = 1_723_161_600_000


@dataclass
class FaultConfig:
    """Faults the simulator injects; every one that fires is counted in ``Simulator.stats``."""

    close_after_frames: int | None = None  # close a WS connection after N data frames ...
    close_times: int = 1  # ... for the first `close_times` connections only
    drop_frames_on_close: int = 0  # frames discarded after such a close (still visible over REST)
    skip_depth_at: int | None = None  # never send the N-th depth diff (sequence gap); once
    malformed_at_frame: int | None = None  # one truncated-JSON frame before a client's N-th frame
    rest_429_count: int = 0  # the first N REST requests (except ping) answer 429 ...
    rest_418_count: int = 0  # ... then the next N answer 418
    retry_after_s: float = 1.0  # the Retry-After header of those answers


@dataclass
class SimulatorConfig:
    """What the simulator serves: a replayed capture or a seeded synthetic market."""

    mode: str = "synthetic"  # "replay" | "synthetic"
    captures: list[Path] = field(default_factory=list)
    speed: float = 1.0  # replay clock multiplier; 0 = as fast as the sockets drain
    loop: bool = False  # replay: start again (time-shifted, ids still increasing) at the end
    seed: int = 7
    symbols: list[str] = field(default_factory=lambda: ["BTCUSDT", "ETHUSDT"])
    rate_hz: float = 50.0  # synthetic: about this many frames per second per symbol
    faults: FaultConfig = field(default_factory=FaultConfig)
    start_ms: int = SYNTHETIC_EPOCH_MS  # synthetic: exchange time of the first event

    def __post_init__(self) -> None:
        if self.mode not in ("replay", "synthetic"):
            raise ValueError(f"mode must be 'replay' or 'synthetic', not {self.mode!r}")
        if self.mode == "replay" and not self.captures:
            raise ValueError("replay mode needs at least one capture file")
        if self.speed < 0:
            raise ValueError("speed must be >= 0")
        if self.rate_hz <= 0:
            raise ValueError("rate_hz must be > 0")
        self.captures = [Path(p) for p in self.captures]
        self.symbols = [s.upper() for s in self.symbols]


@dataclass(frozen=True)
class SymbolSpec:
    """A perpetual contract as ``exchangeInfo`` publishes it. Prices and quantities are handled
    as integers in units of ``10**-price_decimals`` / ``10**-qty_decimals`` to stay on the grid."""

    symbol: str
    base: str
    quote: str
    price_decimals: int
    tick_units: int  # tick size in price units
    qty_decimals: int
    step_units: int  # lot step in quantity units
    start_price: float  # synthetic: first mid

    @property
    def tick_size(self) -> str:
        return fmt_units(self.tick_units, self.price_decimals)

    @property
    def step_size(self) -> str:
        return fmt_units(self.step_units, self.qty_decimals)

    def price(self, units: int) -> str:
        return fmt_units(units, self.price_decimals)

    def qty(self, units: int) -> str:
        return fmt_units(units, self.qty_decimals)


def fmt_units(units: int, decimals: int) -> str:
    """Format an integer count of ``10**-decimals`` as Binance's fixed-point string."""
    if decimals == 0:
        return str(units)
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), 10**decimals)
    return f"{sign}{whole}.{frac:0{decimals}d}"


SPECS: dict[str, SymbolSpec] = {
    "BTCUSDT": SymbolSpec("BTCUSDT", "BTC", "USDT", 2, 10, 3, 1, 60_000.0),
    "ETHUSDT": SymbolSpec("ETHUSDT", "ETH", "USDT", 2, 1, 3, 1, 3_000.0),
}


def spec_for(symbol: str) -> SymbolSpec:
    """The spec of a known symbol, else a generic USDT perpetual: tick 0.01, step 0.001 and a
    start price derived from the name (so two unknown symbols do not trade at the same price)."""
    symbol = symbol.upper()
    if symbol in SPECS:
        return SPECS[symbol]
    quote = "USDT" if symbol.endswith("USDT") else symbol[-4:]
    start = 10.0 + zlib.crc32(symbol.encode()) % 990
    return SymbolSpec(symbol, symbol[: -len(quote)] or symbol, quote, 2, 1, 3, 1, start)
