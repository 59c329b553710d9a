"""Shared pieces of the order-flow analytics: errors, market keys, times and the price grid.

Times inside the analytics are integers: epoch **milliseconds**, UTC. Prices are binned on an
integer grid of ticks (``CAST(round(price / tick) AS BIGINT)``) so that no float rounding can
put a trade in the wrong row; a row is ``floor(tick_index / row_ticks)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

#: aggregated quantities are rounded to this many decimals before they are compared (ties) or
#: returned; far finer than any venue's quantity step, coarse enough to hide float sum noise
QTY_DECIMALS = 9

#: timeframes the footprint and metrics tools advertise; any whole number of minutes up to a
#: day is accepted as well (``2m``, ``4h``)
COMMON_TIMEFRAMES = ("1m", "5m", "15m", "30m", "1h", "4h", "1d")

_DURATION_RE = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT_MS = {"s": 1000, "m": MINUTE_MS, "h": HOUR_MS, "d": DAY_MS}
_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class OrderflowError(ValueError):
    """A bad argument or missing data; the tools layer turns it into a ``ToolError``."""


@dataclass(frozen=True)
class MarketKey:
    """Which instrument's rows to read: ``exchange``, ``market`` and flowdesk ``symbol``."""

    exchange: str
    market: str
    symbol: str

    def where(self) -> str:
        """SQL condition on the key columns, with named parameters (see :meth:`params`)."""
        return "exchange = $exchange AND market = $market AND symbol = $symbol"

    def params(self, **extra: Any) -> dict[str, Any]:
        return {"exchange": self.exchange, "market": self.market, "symbol": self.symbol, **extra}

    @property
    def label(self) -> str:
        return f"{self.exchange}/{self.market}/{self.symbol}"


def relation_name(name: str) -> str:
    """Check that ``name`` is a plain table or view name (it is put into SQL text)."""
    if not _IDENT_RE.match(name):
        raise OrderflowError(f"{name!r} is not a table or view name")
    return name


# ---------------------------------------------------------------------------------- times


def ms_to_dt(ms: int) -> datetime:
    """Naive UTC datetime (DuckDB ``TIMESTAMP``) for epoch milliseconds."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).replace(tzinfo=None)


def dt_to_ms(value: datetime) -> int:
    """Epoch milliseconds for a datetime; a naive one is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(round(value.timestamp() * 1000))


def iso_ms(ms: int | None) -> str | None:
    """ISO-8601 UTC text (``...Z``) for epoch milliseconds."""
    if ms is None:
        return None
    text = datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def parse_time(text: str, name: str) -> int:
    """Epoch ms for an ISO-8601 time (``2024-08-08T12:00:00Z``, ``2024-08-08 12:00``, a date
    means its UTC midnight, no offset means UTC)."""
    try:
        value = datetime.fromisoformat(str(text).strip().replace("z", "Z"))
    except ValueError:
        raise OrderflowError(
            f"{name}: {text!r} is not an ISO-8601 time (e.g. 2024-08-08T12:00:00Z)"
        ) from None
    return dt_to_ms(value)


def parse_date(text: str, name: str = "date") -> date:
    """A calendar date ``YYYY-MM-DD``."""
    try:
        return date.fromisoformat(str(text).strip())
    except ValueError:
        raise OrderflowError(f"{name}: {text!r} is not a date like 2024-08-08") from None


def parse_tz(name: str, arg: str = "session_tz") -> ZoneInfo:
    """An IANA time zone (``UTC``, ``America/New_York``)."""
    try:
        return ZoneInfo(str(name).strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise OrderflowError(
            f"{arg}: unknown time zone {name!r}; use an IANA name such as UTC, "
            "Europe/London or America/New_York"
        ) from None


def parse_duration(text: str, name: str, min_ms: int = 1000, max_ms: int = 366 * DAY_MS) -> int:
    """Milliseconds for ``<n>s|m|h|d`` (``90m``, ``24h``, ``7d``) within ``min_ms..max_ms``."""
    match = _DURATION_RE.match(str(text))
    if not match:
        raise OrderflowError(f"{name}: {text!r} is not a duration like 30m, 4h or 7d")
    ms = int(match.group(1)) * _UNIT_MS[match.group(2)]
    if not min_ms <= ms <= max_ms:
        raise OrderflowError(f"{name}: {text!r} is outside {min_ms // 1000}s..{max_ms // DAY_MS}d")
    return ms


def parse_timeframe(text: str) -> int:
    """Bar length in ms for a timeframe: any whole number of minutes from 1m to 1d."""
    match = _DURATION_RE.match(str(text))
    ms = int(match.group(1)) * _UNIT_MS[match.group(2)] if match else 0
    if not match or ms % MINUTE_MS or not MINUTE_MS <= ms <= DAY_MS:
        raise OrderflowError(
            f"timeframe: {text!r} is not valid; use one of {', '.join(COMMON_TIMEFRAMES)} "
            "or any whole number of minutes up to a day (e.g. 2m, 3h)"
        )
    return ms


# ---------------------------------------------------------------------------------- prices


def _decimals_of(step: float) -> int:
    exponent = Decimal(repr(step)).normalize().as_tuple().exponent
    return max(0, -int(exponent))


@dataclass(frozen=True)
class Grid:
    """The integer price grid: ``tick`` (price units) and ``row_ticks`` ticks per row.

    ``tick_known`` is False when the instrument's tick size is unknown and the caller gave the
    row height as a price instead: then the grid unit is that row height and binning is
    ``floor(price / row_size + 1e-9)`` (the epsilon absorbs float division noise).
    """

    tick: float
    row_ticks: int
    tick_known: bool = True
    decimals: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "decimals", _decimals_of(self.tick))

    @property
    def row_size(self) -> float:
        return round(self.tick * self.row_ticks, self.decimals)

    def tick_sql(self, column: str = "price") -> str:
        """SQL for the integer tick index of ``column`` (uses the ``$tick`` parameter)."""
        if self.tick_known:
            return f"CAST(round({column} / $tick) AS BIGINT)"
        return f"CAST(floor({column} / $tick + 1e-9) AS BIGINT)"

    def tick_of(self, prices: np.ndarray) -> np.ndarray:
        """Tick indices of prices, exactly as :meth:`tick_sql` computes them in SQL."""
        if self.tick_known:  # DuckDB's round() is half away from zero; prices are positive
            return np.floor(prices / self.tick + 0.5).astype(np.int64)
        return np.floor(prices / self.tick + 1e-9).astype(np.int64)

    def row_of_tick(self, ticks: np.ndarray) -> np.ndarray:
        return np.floor_divide(ticks, self.row_ticks)

    def price_of_tick(self, ticks: Any) -> Any:
        """Price(s) of tick index(es), rounded to the tick's decimals."""
        return np.round(np.asarray(ticks, dtype=np.float64) * self.tick, self.decimals)

    def row_low(self, rows: Any) -> Any:
        """Lowest price of row(s)."""
        return self.price_of_tick(np.asarray(rows, dtype=np.int64) * self.row_ticks)

    def row_high(self, rows: Any) -> Any:
        """Highest price of row(s): the last tick inside the row."""
        return self.price_of_tick(
            np.asarray(rows, dtype=np.int64) * self.row_ticks + self.row_ticks - 1
        )

    def describe(self) -> dict[str, Any]:
        return {
            "tick_size": self.tick if self.tick_known else None,
            "row_ticks": self.row_ticks if self.tick_known else None,
            "row_size": self.row_size,
        }


def make_grid(tick: float | None, row_ticks: int, row_size: float | None, symbol: str) -> Grid:
    """The grid for a request: from the instrument's ``tick`` and ``row_ticks``, or from an
    explicit ``row_size`` in price units (which must be a whole number of ticks when the tick
    is known). No tick and no ``row_size`` is an error: the grid is never guessed."""
    if isinstance(row_ticks, bool) or not isinstance(row_ticks, int) or row_ticks < 1:
        raise OrderflowError(f"row_ticks must be a whole number >= 1, got {row_ticks!r}")
    if row_size is not None and not (isinstance(row_size, int | float) and row_size > 0):
        raise OrderflowError(f"row_size must be a positive price step, got {row_size!r}")
    if tick is None:
        if row_size is None:
            raise OrderflowError(
                f"tick size unknown for {symbol}: no instruments row stores it. Pass row_size "
                "(the row height as a price, e.g. 0.1) or wait for the collector to load "
                "exchangeInfo"
            )
        return Grid(float(row_size), 1, tick_known=False)
    if row_size is None:
        return Grid(float(tick), row_ticks)
    ratio = float(row_size) / tick
    if abs(ratio - round(ratio)) > 1e-6 or round(ratio) < 1:
        raise OrderflowError(
            f"row_size {row_size} is not a whole number of ticks ({tick}) for {symbol}"
        )
    return Grid(float(tick), int(round(ratio)))


def qty(values: Any) -> Any:
    """Quantities rounded to :data:`QTY_DECIMALS` (arrays or scalars); ``+ 0.0`` turns the
    ``-0.0`` that float noise can leave into ``0.0``."""
    return np.round(values, QTY_DECIMALS) + 0.0


def to_list(values: np.ndarray) -> list[Any]:
    """Plain Python list (JSON-ready) from a numpy array, NaN becoming ``None``."""
    if values.dtype.kind == "f" and np.isnan(values).any():
        return [None if v != v else v for v in values.tolist()]
    return values.tolist()


def first_row(result: Any) -> tuple[Any, ...] | None:
    """The first row of an executed query, reading the result to its end (DuckDB refuses the
    next statement on a cursor while a result is left unfinished)."""
    rows = result.fetchall()
    return rows[0] if rows else None
