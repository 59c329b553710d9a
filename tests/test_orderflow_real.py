"""The order-flow tools on the real Binance USD-M BTCUSDT capture, checked against sums the
test computes itself from the raw frames (the capture: ~21k trades, 2024-08-08 23:54-24:00 UTC)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flowdesk.analytics.orderflow.common import Grid, MarketKey
from flowdesk.analytics.orderflow.footprint import build_footprint
from flowdesk.analytics.orderflow.store import load_trades
from flowdesk.tools.orderflow import (
    get_footprint,
    get_key_levels,
    get_orderflow_metrics,
    get_volume_profile,
)
from test_orderflow_support import capture_trades, insert, new_store

START, END = "2024-08-08T23:50:00Z", "2024-08-09T00:00:00Z"
_PARSED: dict[Path, pd.DataFrame] = {}


@pytest.fixture
def trades(btc_capture: Path) -> pd.DataFrame:
    """The capture's trades, parsed once per session, loaded into a fresh store."""
    if btc_capture not in _PARSED:
        _PARSED[btc_capture] = capture_trades(btc_capture)
    frame = _PARSED[btc_capture]
    insert(new_store(), "trades", frame)
    return frame


def _signed(frame: pd.DataFrame) -> pd.Series:
    return frame["qty"].where(frame["side"] == "buy", -frame["qty"])


def test_capture_is_what_the_tests_assume(trades: pd.DataFrame) -> None:
    assert len(trades) > 20_000 and trades["ts"].is_monotonic_increasing
    assert trades["ts"].min() >= pd.Timestamp(START[:-1]) and trades["ts"].max() < pd.Timestamp(
        END[:-1]
    )


def test_vwap_equals_independent_sum(trades: pd.DataFrame) -> None:
    expected = math.fsum(trades["price"] * trades["qty"]) / math.fsum(trades["qty"])
    profile = get_volume_profile("BTCUSDT", start=START, end=END)
    assert profile["vwap"]["vwap"] == pytest.approx(expected, rel=1e-12)
    assert profile["volume"] == pytest.approx(math.fsum(trades["qty"]), rel=1e-12)
    levels = get_key_levels("BTCUSDT")
    assert levels["today"]["date"] == "2024-08-08"
    assert levels["today"]["vwap"]["vwap"] == pytest.approx(expected, rel=1e-12)
    assert (
        levels["today"]["open"] == trades["price"].iloc[0]
        and levels["today"]["close"] == trades["price"].iloc[-1]
    )


def test_value_area_holds_at_least_the_percentage(trades: pd.DataFrame) -> None:
    out = get_volume_profile("BTCUSDT", start=START, end=END, max_rows=5000)
    rows = pd.DataFrame(out["rows"])
    assert out["truncated"] is False and rows["volume"].sum() == pytest.approx(trades["qty"].sum())
    inside = rows[(rows["price"] >= out["val"]) & (rows["price"] <= out["vah"])]["volume"].sum()
    assert inside >= 0.7 * rows["volume"].sum()
    assert out["val"] <= out["poc"] <= out["vah"]
    assert rows.loc[rows["volume"].idxmax(), "price"] == out["poc"]
    by_price = trades.groupby("price")["qty"].sum()
    assert dict(zip(rows["price"], rows["volume"], strict=True)) == pytest.approx(
        by_price.to_dict()
    )


def test_footprint_volume_per_bar_equals_trades(trades: pd.DataFrame) -> None:
    out = get_footprint("BTCUSDT", "1m", start=START, end=END, max_rows=50_000)
    minute = trades["ts"].dt.floor("1min")
    expected = (
        trades.assign(signed=_signed(trades), minute=minute)
        .groupby("minute")
        .agg(
            volume=("qty", "sum"),
            signed=("signed", "sum"),
            n=("qty", "size"),
            high=("price", "max"),
            low=("price", "min"),
        )
    )
    assert len(out["bars"]) == len(expected) and all(b["rows"] is not None for b in out["bars"])
    for bar, (minute_start, row) in zip(out["bars"], expected.iterrows(), strict=True):
        assert pd.Timestamp(bar["open_time"][:-1]) == minute_start
        assert bar["buy_volume"] + bar["sell_volume"] == pytest.approx(row["volume"], rel=1e-12)
        assert bar["delta"] == pytest.approx(row["signed"], abs=1e-9)
        assert (bar["trades"], bar["high"], bar["low"]) == (row["n"], row["high"], row["low"])
        assert sum(bar["rows"]["buy"]) + sum(bar["rows"]["sell"]) == pytest.approx(
            row["volume"], rel=1e-12
        )
        prices = set(trades.loc[minute == minute_start, "price"])
        assert (
            set(bar["rows"]["price"]) == prices
        )  # one-tick rows: every row is a traded price, exactly


def test_max_min_delta_match_running_sum(trades: pd.DataFrame) -> None:
    out = get_footprint("BTCUSDT", "1m", start=START, end=END, max_rows=0)
    running = _signed(trades).groupby(trades["ts"].dt.floor("1min")).cumsum()
    grouped = running.groupby(trades["ts"].dt.floor("1min"))
    assert [b["max_delta"] for b in out["bars"]] == pytest.approx(grouped.max().tolist(), abs=1e-9)
    assert [b["min_delta"] for b in out["bars"]] == pytest.approx(grouped.min().tolist(), abs=1e-9)
    assert all(b["rows"] is None for b in out["bars"]) and out["truncated"] is True


def test_cvd_end_equals_signed_volume(trades: pd.DataFrame) -> None:
    out = get_orderflow_metrics("BTCUSDT", "1m", start=START, end=END)
    assert out["bars"][-1]["cvd"] == pytest.approx(math.fsum(_signed(trades)), abs=1e-9)
    assert out["summary"]["delta"] == pytest.approx(math.fsum(_signed(trades)), abs=1e-9)
    cvd = np.array([b["cvd"] for b in out["bars"]])
    assert np.allclose(np.diff(cvd), [b["delta"] for b in out["bars"][1:]], atol=1e-9)


def test_stacked_zones_hold_status_checked_against_trades(trades: pd.DataFrame) -> None:
    out = get_footprint(
        "BTCUSDT", "1m", start=START, end=END, max_rows=0, imbalance_ratio=2.0, stacked_levels=2
    )
    zones = out["stacked_imbalances"]
    assert zones, "the capture should show some stacked imbalances at ratio 2"
    for z in zones:
        after = trades[
            trades["ts"] >= pd.Timestamp(z["bar_open_time"][:-1]) + pd.Timedelta(minutes=1)
        ]["price"]
        broken = (
            (after < z["price_low"]).any()
            if z["side"] == "buy"
            else (after > z["price_high"]).any()
        )
        assert z["holds"] is (not broken)


def test_same_function_over_a_live_batch(trades: pd.DataFrame) -> None:
    """A live window (an Arrow batch registered as a view) goes through the same code."""
    from flowdesk.tools.context import get_context

    con = get_context().connection
    mid = trades["ts"].iloc[len(trades) // 2]
    con.register("live_trades", trades[trades["ts"] >= mid])
    key, grid = MarketKey("binance", "usdm", "BTCUSDT"), Grid(0.1, 1)
    start = int(pd.Timestamp(START[:-1]).value // 1_000_000)
    mid_ms = int(mid.value // 1_000_000)
    live = build_footprint(
        load_trades(con, key, grid, mid_ms, start + 600_000, "live_trades"), grid, start, 60_000
    )
    stored = build_footprint(
        load_trades(con, key, grid, mid_ms, start + 600_000), grid, start, 60_000
    )
    assert np.array_equal(live.volume, stored.volume) and np.array_equal(
        live.cell_buy, stored.cell_buy
    )
    assert np.array_equal(live.max_delta, stored.max_delta) and len(live) >= 2
