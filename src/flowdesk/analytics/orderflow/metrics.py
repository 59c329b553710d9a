"""Per-bar results of the footprint and order-flow metrics tools: bar summaries joined with
rows, imbalances, CVD and divergence flags, within the caller's size caps."""

from __future__ import annotations

from typing import Any

import numpy as np

from flowdesk.analytics.orderflow import delta as dl
from flowdesk.analytics.orderflow import imbalance as im
from flowdesk.analytics.orderflow.common import qty, to_list
from flowdesk.analytics.orderflow.footprint import Footprint, bar_records, bar_rows
from flowdesk.analytics.orderflow.store import TradeArrays


def newest(n_bars: int, max_bars: int) -> tuple[np.ndarray, list[str]]:
    """Indices of the newest ``max_bars`` bars and a note when older ones are left out."""
    keep = np.arange(max(n_bars - max_bars, 0), n_bars)
    notes = (
        [f"{n_bars} bars in the window; only the newest {max_bars} are returned (max_bars)"]
        if n_bars > max_bars
        else []
    )
    return keep, notes


def footprint_bars(
    fp: Footprint, imb: im.Imbalances, keep: np.ndarray, max_rows: int
) -> tuple[list[dict[str, Any]], list[str]]:
    """Bar summaries with imbalance counts; the newest bars also get their rows and imbalance
    prices while ``max_rows`` rows last (older bars then carry ``rows: None``)."""
    bars = bar_records(fp, keep)
    buy_n, sell_n = im.imbalance_counts(fp, imb)
    budget, skipped = max_rows, 0
    for pos in range(len(keep) - 1, -1, -1):
        i = int(keep[pos])
        bars[pos]["buy_imbalance_count"], bars[pos]["sell_imbalance_count"] = (
            int(buy_n[i]),
            int(sell_n[i]),
        )
        n_rows = int(np.count_nonzero(fp.cell_trades[fp.bar_cells(i)]))
        if n_rows > budget:
            skipped += 1
            bars[pos]["rows"] = None
            continue
        budget -= n_rows
        bars[pos]["rows"] = bar_rows(fp, i)
        bars[pos].update(im.imbalance_prices(fp, imb, i))
    return bars, [
        f"rows omitted for {skipped} bar(s) to stay within max_rows={max_rows}"
    ] if skipped else []


def bar_cvd(
    fp: Footprint, trades: TradeArrays, anchors: np.ndarray, carry: float, start_ms: int
) -> np.ndarray:
    """CVD at each bar's close from its anchor (the latest of ``anchors`` before the close);
    ``carry`` is the signed volume between the first anchor and ``start_ms`` when the anchor
    lies before the loaded window."""
    close_ms = fp.bar_ms + fp.tf_ms
    per_bar = dl.anchor_for(close_ms, anchors)
    return dl.cvd_at(trades, close_ms, per_bar, np.where(per_bar < start_ms, carry, 0.0))


def metric_bars(
    fp: Footprint, cvd: np.ndarray, imb: im.Imbalances, lookback: int, keep: np.ndarray
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Bars at ``keep`` with CVD, imbalance counts and divergence flags, and a summary over
    every bar of the window (delta, last CVD, volumes, divergence counts)."""
    price = fp.grid.price_of_tick
    d_div = dl.delta_divergence(fp.open, fp.close, fp.delta)
    c_div = dl.cvd_divergence(price(fp.high), price(fp.low), cvd, lookback)
    buy_n, sell_n = im.imbalance_counts(fp, imb)
    bars = bar_records(fp, keep)
    extra = {
        "cvd": to_list(cvd[keep]),
        "buy_imbalance_count": buy_n[keep].tolist(),
        "sell_imbalance_count": sell_n[keep].tolist(),
        "delta_divergence": [d_div[i] for i in keep],
        "cvd_divergence": [c_div[i] for i in keep],
    }
    for pos, bar in enumerate(bars):
        bar.update({name: values[pos] for name, values in extra.items()})
    valid = cvd[~np.isnan(cvd)]
    summary = {
        "bars": len(fp),
        "delta": float(qty(fp.delta.sum())),
        "cvd_last": float(valid[-1]) if len(valid) else None,
        "buy_volume": float(qty(fp.buy.sum())),
        "sell_volume": float(qty(fp.sell.sum())),
        "delta_divergences": sum(x is not None for x in d_div),
        "cvd_divergences": sum(x is not None for x in c_div),
    }
    return bars, summary


def zone_list(
    fp: Footprint, imb: im.Imbalances, levels: int, max_zones: int, holding_only: bool = False
) -> tuple[list[dict[str, Any]], list[str]]:
    """The newest ``max_zones`` stacked zones of ``levels``+ rows (only those still holding
    when asked) and a note when older ones are left out."""
    zones = im.stacked_zones(fp, imb, levels)
    index = np.flatnonzero(zones.holds) if holding_only else np.arange(len(zones))
    notes = []
    if len(index) > max_zones:
        notes.append(f"{len(index)} stacked zones; only the newest {max_zones} are returned")
    return im.zone_records(fp, zones, index[-max_zones:]), notes
