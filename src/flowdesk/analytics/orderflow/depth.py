"""Depth delta: resting bid and ask quantity within ±X% of the mid, resampled every
``window`` and compared over a lookback, from the ``depth_bands`` rows the collector samples
from its live books (``book_snapshot_interval_s``, default every second).

Resampling rule: the lookback ``(end - lookback, end]`` is cut into windows ending at ``end``;
each window's value is its **last** stored sample (the book as it stood at the window's end).
A window without any sample is reported as missing, never filled in.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np

from flowdesk.analytics.orderflow.common import MarketKey, OrderflowError, iso_ms, ms_to_dt, qty


def band_pcts(cur: duckdb.DuckDBPyConnection, key: MarketKey) -> list[float]:
    """The band percents stored for ``key``, ascending."""
    rows = cur.execute(
        f"SELECT DISTINCT band_pct FROM depth_bands WHERE {key.where()} ORDER BY 1", key.params()
    )
    return [float(r[0]) for r in rows.fetchall()]


def match_band(stored: list[float], percent: float) -> float:
    """The stored band equal to ``percent`` (within 1e-9); error listing the stored ones."""
    for band in stored:
        if abs(band - float(percent)) < 1e-9:
            return band
    raise OrderflowError(f"percent {percent} is not a stored depth band; stored bands: {stored}")


@dataclass(frozen=True)
class DepthSeries:
    """One sample per window that has data, oldest first (ms, mid, quantities, notionals)."""

    ts_ms: np.ndarray
    mid: np.ndarray
    bid_qty: np.ndarray
    ask_qty: np.ndarray
    bid_notional: np.ndarray
    ask_notional: np.ndarray
    windows: int

    def __len__(self) -> int:
        return len(self.ts_ms)


def load_depth(
    cur: duckdb.DuckDBPyConnection,
    key: MarketKey,
    band: float,
    window_ms: int,
    lookback_ms: int,
    end_ms: int,
) -> DepthSeries:
    """Last sample of each window in ``(end - lookback, end]`` for the band ``band``."""
    sql = f"""
        SELECT ($t1_ms - epoch_ms(ts)) // $w AS k, epoch_ms(max(ts)) AS t,
               arg_max(mid, ts) AS mid, arg_max(bid_qty, ts) AS bq, arg_max(ask_qty, ts) AS aq,
               arg_max(bid_notional, ts) AS bn, arg_max(ask_notional, ts) AS an
        FROM depth_bands
        WHERE {key.where()} AND band_pct = $band AND ts > $t0 AND ts <= $t1
        GROUP BY k ORDER BY k DESC
    """
    params = key.params(
        band=band, w=window_ms, t1_ms=end_ms, t0=ms_to_dt(end_ms - lookback_ms), t1=ms_to_dt(end_ms)
    )
    t = cur.sql(sql, params=params).fetchnumpy()
    return DepthSeries(
        np.asarray(t["t"], np.int64),
        np.asarray(t["mid"], np.float64),
        np.asarray(t["bq"], np.float64),
        np.asarray(t["aq"], np.float64),
        np.asarray(t["bn"], np.float64),
        np.asarray(t["an"], np.float64),
        windows=-(-lookback_ms // window_ms),
    )


def _change(values: np.ndarray) -> dict[str, float | None]:
    first, last = float(values[0]), float(values[-1])
    return {
        "first": first,
        "last": last,
        "change": float(qty(last - first)),
        "change_pct": None if first == 0 else round((last - first) / first * 100, 4),
    }


def depth_summary(series: DepthSeries) -> dict[str, object]:
    """Latest values, changes from the first to the last sample of the lookback (absolute and
    percent) for bid, ask and net (bid − ask) quantity and notional, and the latest book
    imbalance ``(bid − ask) / (bid + ask)``."""
    bid, ask = series.bid_qty, series.ask_qty
    total = float(bid[-1] + ask[-1])
    return {
        "latest": {
            "time": iso_ms(int(series.ts_ms[-1])),
            "mid": float(series.mid[-1]),
            "bid_qty": float(bid[-1]),
            "ask_qty": float(ask[-1]),
            "net_qty": float(qty(bid[-1] - ask[-1])),
            "imbalance": None if total == 0 else round(float(bid[-1] - ask[-1]) / total, 6),
        },
        "bid_qty": _change(bid),
        "ask_qty": _change(ask),
        "net_qty": _change(qty(bid - ask)),
        "bid_notional": _change(series.bid_notional),
        "ask_notional": _change(series.ask_notional),
        "net_notional": _change(series.bid_notional - series.ask_notional),
    }


def depth_samples(series: DepthSeries, last_n: int) -> dict[str, list[object]]:
    """The newest ``last_n`` samples, oldest first, columnar, with each sample's change from
    the sample before it (``None`` for the first sample of the lookback)."""
    net = qty(series.bid_qty - series.ask_qty)
    changes = {
        name: np.concatenate(([np.nan], qty(np.diff(v))))
        for name, v in (
            ("bid_change", series.bid_qty),
            ("ask_change", series.ask_qty),
            ("net_change", net),
        )
    }
    sel = slice(max(len(series) - last_n, 0), len(series))
    out: dict[str, list[object]] = {
        "time": [iso_ms(t) for t in series.ts_ms[sel].tolist()],
        "mid": series.mid[sel].tolist(),
        "bid_qty": series.bid_qty[sel].tolist(),
        "ask_qty": series.ask_qty[sel].tolist(),
        "net_qty": net[sel].tolist(),
    }
    for name, values in changes.items():
        out[name] = [None if v != v else v for v in values[sel].tolist()]
    return out


def depth_result(series: DepthSeries, max_samples: int) -> dict[str, object]:
    """``summary``, the newest ``max_samples`` ``samples``, ``truncated`` (+ ``note``) and
    ``warnings`` for lookback windows that hold no sample."""
    missing = series.windows - len(series)
    warnings = [
        f"{missing} of {series.windows} windows have no depth sample (collector gap or start)"
    ]
    out: dict[str, object] = {
        "summary": depth_summary(series),
        "samples": depth_samples(series, max_samples),
        "truncated": len(series) > max_samples,
        "warnings": warnings if missing else [],
    }
    if len(series) > max_samples:
        out["note"] = (
            f"{len(series)} samples; only the newest {max_samples} are listed (max_samples)"
        )
    return out
