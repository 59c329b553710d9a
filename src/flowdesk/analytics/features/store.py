"""Reading features: the newest values and time x feature frames, from the ``features`` table
or, where it holds nothing for the window, computed over the stored streams by the engine
(:func:`.history.replay`, the code the live service runs).

Every reader says where its values came from (``stored`` or ``history``), so a tool can tell
the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from flowdesk.analytics.features.catalog import CATALOG
from flowdesk.analytics.features.engine import FeatureRow
from flowdesk.analytics.features.history import replay
from flowdesk.analytics.orderflow.common import (
    MarketKey,
    OrderflowError,
    first_row,
    iso_ms,
    ms_to_dt,
)
from flowdesk.settings import Settings

#: longest window the tools compute from the streams when no stored features cover it
MAX_COMPUTE_MS = 2 * 3_600_000
#: a stored feature this much older than the instrument's newest stored one is not "latest"
LATEST_SPAN_MS = 5 * 60_000
#: frames longer than this many boundaries are read at a coarser step (last value per step)
MAX_FRAME_POINTS = 50_000


@dataclass
class Snapshot:
    """Newest value and time (epoch ms) per feature of one instrument."""

    values: dict[str, float]
    times: dict[str, int]
    origin: str  # "stored" or "history"
    as_of: int | None

    def get(self, name: str) -> float | None:
        return self.values.get(name)


INSERT_SQL = (
    "INSERT INTO features SELECT e, m, s, make_timestamp(t * 1000), n, v FROM (SELECT unnest($1) AS e, "
    "unnest($2) AS m, unnest($3) AS s, unnest($4) AS t, unnest($5) AS n, unnest($6) AS v)"
)


def insert_statement(rows: list[FeatureRow]) -> tuple[str, list[list[object]]]:
    """One bulk INSERT of ``rows`` for :meth:`BatchWriter.execute`: the columns bound as six
    lists that DuckDB unnests (one statement per batch, never one per row)."""
    columns = [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(6)]
    return INSERT_SQL, columns


def newest_data_ms(cur: duckdb.DuckDBPyConnection, key: MarketKey) -> int | None:
    """Exchange time of the newest stored trade or quote of ``key``."""
    row = first_row(cur.execute(
        f"SELECT epoch_ms(greatest((SELECT max(ts) FROM trades WHERE {key.where()}), "
        f"(SELECT max(ts) FROM quotes WHERE {key.where()})))",
        key.params(),
    ))
    return None if row is None or row[0] is None else int(row[0])


def newest_feature_ms(cur: duckdb.DuckDBPyConnection, key: MarketKey) -> int | None:
    row = first_row(cur.execute(f"SELECT epoch_ms(max(ts)) FROM features WHERE {key.where()}", key.params()))
    return None if row is None or row[0] is None else int(row[0])


def stored_snapshot(cur: duckdb.DuckDBPyConnection, key: MarketKey) -> Snapshot | None:
    """Newest stored value of every feature within :data:`LATEST_SPAN_MS` of the newest."""
    newest = newest_feature_ms(cur, key)
    if newest is None:
        return None
    rows = cur.execute(
        f"SELECT name, arg_max(value, ts), epoch_ms(max(ts)) FROM features WHERE {key.where()} "
        "AND ts >= $t0 GROUP BY name",
        key.params(t0=ms_to_dt(newest - LATEST_SPAN_MS)),
    ).fetchall()
    return Snapshot({n: float(v) for n, v, _ in rows}, {n: int(t) for n, _, t in rows}, "stored", newest)


def computed_snapshot(cur: duckdb.DuckDBPyConnection, key: MarketKey, settings: Settings) -> Snapshot | None:
    """Features at the newest boundary of the stored streams, computed by replaying the last
    ``features.warmup_s`` (15 minutes by default) through the engine."""
    from flowdesk.analytics.features.service import engine_params

    newest = newest_data_ms(cur, key)
    if newest is None:
        return None
    params = engine_params(settings, streams_of(settings, key))
    engine, _ = replay(cur, key, newest - _warmup_ms(settings), None, params, newest)
    if engine.latest_ts is None:
        return None
    t = engine.latest_ts
    return Snapshot(dict(engine.latest), dict.fromkeys(engine.latest, t), "history", t)


def snapshot(cur: duckdb.DuckDBPyConnection, key: MarketKey, settings: Settings) -> Snapshot:
    """Stored features when the table has any for ``key``, else computed from the streams.
    Raises :class:`OrderflowError` when neither exists."""
    found = stored_snapshot(cur, key) or computed_snapshot(cur, key, settings)
    if found is None or not found.values:
        raise OrderflowError(
            f"no features for {key.label}: none stored and no trades or quotes to compute them from"
        )
    return found


def frame(
    cur: duckdb.DuckDBPyConnection,
    key: MarketKey,
    names: list[str],
    start_ms: int,
    end_ms: int,
    settings: Settings,
) -> tuple[pd.DataFrame, str]:
    """A time x feature frame (index: boundary time, epoch ms) over ``[start_ms, end_ms)``:
    stored rows when the table holds any for the window, else computed (at most
    :data:`MAX_COMPUTE_MS`). Also returns the origin (``stored``/``history``). Stored windows
    of more than :data:`MAX_FRAME_POINTS` cadences are read at a coarser step (the last value
    of each step); ``frame.attrs["step_ms"]`` says which (None: every boundary)."""
    unknown = [n for n in names if n not in CATALOG]
    if unknown:
        raise OrderflowError(f"unknown feature(s) {unknown}; see get_features for the names")
    cadence = int(settings.features.cadence_s * 1000)
    step = None if (end_ms - start_ms) / cadence <= MAX_FRAME_POINTS else -(-(end_ms - start_ms) // MAX_FRAME_POINTS)
    stored = _stored_frame(cur, key, names, start_ms, end_ms, step or 1)
    stored.attrs["step_ms"] = step
    if len(stored):
        return stored, "stored"
    if end_ms - start_ms > MAX_COMPUTE_MS:
        raise OrderflowError(
            f"no stored features for {key.label} between {iso_ms(start_ms)} and {iso_ms(end_ms)}, "
            f"and computing them from the streams is limited to {MAX_COMPUTE_MS // 3_600_000} h "
            "windows: use a shorter window, or run `flowdesk serve` with features.enabled"
        )
    from flowdesk.analytics.features.service import engine_params

    params = engine_params(settings, streams_of(settings, key))
    engine, _ = replay(cur, key, start_ms - _warmup_ms(settings), end_ms, params, start_ms)
    engine.flush(end_ms - 1)
    rows = [(r.ts, r.name, r.value) for r in engine.rows if r.name in names]
    computed = _pivot(pd.DataFrame(rows, columns=["t", "name", "value"]), names)
    computed.attrs["step_ms"] = None
    return computed, "history"


def _stored_frame(
    cur: duckdb.DuckDBPyConnection, key: MarketKey, names: list[str], start_ms: int, end_ms: int, step: int
) -> pd.DataFrame:
    data = cur.execute(
        f"SELECT epoch_ms(ts) // $step * $step AS t, name, arg_max(value, ts) AS value FROM features "
        f"WHERE {key.where()} AND ts >= $t0 AND ts < $t1 AND list_contains($names, name) GROUP BY ALL",
        key.params(t0=ms_to_dt(start_ms), t1=ms_to_dt(end_ms), names=names, step=step),
    ).df()
    return _pivot(data, names)


def _pivot(data: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    if data.empty:
        return pd.DataFrame(columns=names, dtype=np.float64)
    wide = data.pivot_table(index="t", columns="name", values="value", aggfunc="last")
    return wide.reindex(columns=names).sort_index().astype(np.float64)


def _warmup_ms(settings: Settings) -> int:
    return int(max(settings.features.warmup_s, 900.0) * 1000)


def streams_of(settings: Settings, key: MarketKey) -> tuple[str, ...] | None:
    """The collected streams of the venue holding ``key`` (None when not configured)."""
    for v in settings.venues.values():
        if v.name.replace("_", "") == f"{key.exchange}{key.market}":
            return v.streams
    return None


def venue_values(cur: duckdb.DuckDBPyConnection, symbol: str, name: str, newest_ms: int) -> list[tuple[str, str, float, int]]:
    """Newest stored ``name`` of ``symbol`` on every venue, within :data:`LATEST_SPAN_MS`
    of ``newest_ms``: (exchange, market, value, ts ms)."""
    rows = cur.execute(
        "SELECT exchange, market, arg_max(value, ts), epoch_ms(max(ts)) FROM features "
        "WHERE symbol = $symbol AND name = $name AND ts >= $t0 GROUP BY exchange, market ORDER BY 1, 2",
        {"symbol": symbol, "name": name, "t0": ms_to_dt(newest_ms - LATEST_SPAN_MS)},
    ).fetchall()
    return [(e, m, float(v), int(t)) for e, m, v, t in rows]
