"""Golden tests: depth delta from depth bands, liquidations (paging, aggregates), funding and
open interest."""

from __future__ import annotations

import pandas as pd
import pytest

from flowdesk.tools.orderflow import (
    get_funding_and_oi,
    get_orderbook_depth_delta,
    stream_liquidations,
)
from flowdesk.tools.registry import ToolError
from test_orderflow_support import KEY, add_trades, insert, ms, new_store

T0 = ms("2024-08-08T00:00:00Z")


def _bands(
    seconds: range, bid: callable, ask: callable, pcts: tuple[float, ...] = (0.5, 1.0)
) -> pd.DataFrame:
    rows = [(T0 + s * 1000, p, bid(s) * p, ask(s) * p) for s in seconds for p in pcts]
    return pd.DataFrame(
        {
            **KEY,
            "ts": pd.to_datetime([r[0] for r in rows], unit="ms"),
            "mid": 100.0,
            "band_pct": [r[1] for r in rows],
            "bid_qty": [r[2] for r in rows],
            "ask_qty": [r[3] for r in rows],
            "bid_notional": [r[2] * 100.0 for r in rows],
            "ask_notional": [r[3] * 100.0 for r in rows],
        }
    )


def test_depth_delta_last_sample_per_window() -> None:
    con = new_store()
    # one sample a second for 10 minutes; bid grows 1/s, ask fixed at 50 (x band pct)
    insert(con, "depth_bands", _bands(range(1, 601), lambda s: float(s), lambda s: 50.0))
    out = get_orderbook_depth_delta("BTCUSDT", percent=1, windowSec=60, lookback=300)
    s = out["samples"]
    # windows end at 600 s: (540, 600], (480, 540] ... each keeps its last sample
    assert s["time"] == [f"2024-08-08T00:0{m}:00.000Z" for m in (6, 7, 8, 9)] + [
        "2024-08-08T00:10:00.000Z"
    ]
    assert s["bid_qty"] == [360.0, 420.0, 480.0, 540.0, 600.0]
    assert s["net_qty"] == [310.0, 370.0, 430.0, 490.0, 550.0]
    assert s["bid_change"] == [None, 60.0, 60.0, 60.0, 60.0] and s["ask_change"][1:] == [0.0] * 4
    summary = out["summary"]
    assert summary["bid_qty"]["change"] == 240.0 and summary["net_qty"]["change"] == 240.0
    assert summary["latest"]["imbalance"] == pytest.approx((600 - 50) / 650, abs=1e-6)
    assert out["warnings"] == [] and out["source"]["as_of"] == "2024-08-08T00:10:00Z"
    assert (out["percent"], out["windowSec"], out["lookback"]) == (1.0, 60, 300)
    assert "window_sec" not in out and "lookback_sec" not in out
    assert out["exchange"] == "binance_usdm" and out["source"]["exchanges"] == ["binance_usdm"]
    half = get_orderbook_depth_delta("BTCUSDT", percent=0.5, windowSec=60, lookback=120)
    assert half["samples"]["bid_qty"] == [270.0, 300.0]


def test_depth_delta_gaps_caps_and_errors() -> None:
    con = new_store()
    insert(con, "depth_bands", _bands(range(1, 61), lambda s: 1.0, lambda s: 2.0))
    insert(con, "depth_bands", _bands(range(301, 361), lambda s: 3.0, lambda s: 2.0))
    out = get_orderbook_depth_delta(
        "BTCUSDT", percent=1.0, windowSec=60, lookback=360, max_samples=1
    )
    assert any("4 of 6 windows have no depth sample" in w for w in out["warnings"])
    assert out["truncated"] is True and out["samples"]["bid_qty"] == [3.0]
    assert out["summary"]["bid_qty"]["first"] == 1.0 and out["summary"]["bid_qty"]["change"] == 2.0
    with pytest.raises(ToolError, match=r"stored bands: \[0.5, 1.0\]"):
        get_orderbook_depth_delta("BTCUSDT", percent=2)
    with pytest.raises(ToolError, match="no depth samples"):
        get_orderbook_depth_delta("BTCUSDT", end="2024-08-09T00:00:00Z")
    with pytest.raises(ToolError, match=r"lookback \(seconds\) must be a whole number from 60 "):
        get_orderbook_depth_delta("BTCUSDT", windowSec=60, lookback=30)
    with pytest.raises(ToolError, match="windowSec must be a whole number from 1 "):
        get_orderbook_depth_delta("BTCUSDT", windowSec=0)


def _liquidations(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            **KEY,
            "side": [r[1] for r in rows],
            "price": [r[2] for r in rows],
            "avg_price": [r[3] for r in rows],
            "qty": [r[4] for r in rows],
            "filled_qty": [r[5] for r in rows],
            "status": "FILLED",
            "ts": pd.to_datetime([ms(r[0]) for r in rows], unit="ms"),
            "recv_ts": pd.to_datetime([ms(r[0]) for r in rows], unit="ms"),
        }
    )


LIQS = [
    ("2024-08-08T00:10:00Z", "sell", 100.0, 99.0, 2.0, 2.0),  # long liquidated, 198 notional
    ("2024-08-08T00:20:00Z", "buy", 105.0, None, 1.0, None),  # short liquidated, 105 notional
    ("2024-08-08T00:20:00Z", "sell", 101.0, 101.0, 1.0, 0.0),  # filled 0 -> order qty, 101
    ("2024-08-08T00:30:00Z", "sell", 104.9, 104.9, 3.0, 3.0),  # 314.7
]


def test_liquidations_pages_and_aggregates() -> None:
    con = new_store()
    insert(con, "liquidations", _liquidations(LIQS))
    add_trades(con, [("2024-08-08T00:40:00Z", 100.0, 1, "buy")])
    first = stream_liquidations("BTCUSDT", limit=2, window="1h", bucket_pct=5)
    assert [e["time"][11:19] for e in first["events"]] == ["00:30:00", "00:20:00"]
    assert first["events"][0]["liquidated"] == "long" and first["events"][1]["side"] == "buy"
    second = stream_liquidations("BTCUSDT", limit=2, cursor=first["next_cursor"])
    assert [(e["time"][11:19], e["side"]) for e in second["events"]] == [
        ("00:20:00", "sell"),
        ("00:10:00", "sell"),
    ]
    assert second["next_cursor"] is None and first["truncated"] is True
    assert second["events"][1]["notional"] == 198.0 and second["events"][0]["notional"] == 101.0
    agg = first["window"]
    assert agg["by_side"]["sell"] == {"count": 3, "qty": 6.0, "notional": 613.7}
    assert agg["by_side"]["buy"] == {"count": 1, "qty": 1.0, "notional": 105.0}
    # bucket: 5% of the mean liquidation price (718.7 / 7 = 102.67) = 5.1 (whole ticks of 0.1)
    assert agg["bucket_size"] == 5.1
    # avg prices 105, 104.9 -> [102.0, 107.1); 99 (avg), 101 -> [96.9, 102.0)
    assert [(b["price"], b["count"]) for b in agg["by_price"]] == [(102.0, 2), (96.9, 2)]
    assert agg["by_price"][0]["short_liquidated_notional"] == 105.0
    assert first["source"]["as_of"] == "2024-08-08T00:30:00Z"
    recent = stream_liquidations("BTCUSDT", window="15m")["window"]["by_side"]
    assert recent == {"sell": {"count": 1, "qty": 3.0, "notional": 314.7}}


def test_liquidations_none_stored_and_bad_cursor() -> None:
    con = new_store()
    add_trades(con, [("2024-08-08T00:40:00Z", 100.0, 1, "buy")])
    out = stream_liquidations("BTCUSDT")
    assert out["events"] == [] and out["window"]["by_side"] == {} and out["warnings"]
    with pytest.raises(ToolError, match="cursor"):
        stream_liquidations("BTCUSDT", cursor="abc")
    with pytest.raises(ToolError, match="limit"):
        stream_liquidations("BTCUSDT", limit=0)


def _oi(rows: list[tuple[str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            **KEY,
            "open_interest": [r[1] for r in rows],
            "open_interest_value": [r[1] * 100 for r in rows],
            "ts": pd.to_datetime([ms(r[0]) for r in rows], unit="ms"),
            "recv_ts": pd.to_datetime([ms(r[0]) for r in rows], unit="ms"),
        }
    )


def test_funding_and_open_interest() -> None:
    con = new_store()
    insert(
        con,
        "open_interest",
        _oi(
            [
                ("2024-08-08T10:00:00Z", 1000.0),
                ("2024-08-08T11:30:00Z", 1100.0),
                ("2024-08-08T11:55:00Z", 1200.0),
                ("2024-08-08T12:00:00Z", 1210.0),
            ]
        ),
    )
    times = pd.to_datetime([ms("2024-08-08T11:00:00Z"), ms("2024-08-08T12:00:00Z")], unit="ms")
    insert(
        con,
        "mark_funding",
        pd.DataFrame(
            {
                **KEY,
                "mark_price": [100.0, 101.0],
                "index_price": [99.9, 100.0],
                "funding_rate": [0.0001, 0.0002],
                "next_funding_ts": pd.to_datetime([ms("2024-08-08T16:00:00Z")] * 2, unit="ms"),
                "ts": times,
                "recv_ts": times,
            }
        ),
    )
    out = get_funding_and_oi("BTCUSDT", window="4h", points=4)
    f, oi = out["funding"], out["open_interest"]
    assert (f["funding_rate"], f["mark_price"], f["next_funding_time"]) == (
        0.0002,
        101.0,
        "2024-08-08T16:00:00.000Z",
    )
    assert f["basis_pct"] == pytest.approx(1.0)
    assert oi["open_interest"] == 1210.0 and oi["changes"]["5m"]["change"] == 10.0
    assert oi["changes"]["1h"] == {
        "from": 1000.0,
        "from_time": "2024-08-08T10:00:00.000Z",
        "change": 210.0,
        "change_pct": 21.0,
    }
    assert oi["changes"]["4h"]["change"] is None and "24h" not in oi["changes"]
    # 1h buckets (t-1h, t] ending 12:00: 10:00 is the last of (09:00, 10:00], 12:00 of (11:00, 12:00]
    assert oi["history"]["open_interest"] == [1000.0, 1210.0]
    assert oi["history"]["time"] == ["2024-08-08T10:00:00.000Z", "2024-08-08T12:00:00.000Z"]
    assert f["history"]["funding_rate"] == [0.0001, 0.0002]
    assert out["source"]["as_of"] == "2024-08-08T12:00:00Z"


def test_funding_missing_data() -> None:
    con = new_store()
    add_trades(con, [("2024-08-08T00:40:00Z", 100.0, 1, "buy")])
    with pytest.raises(ToolError, match="no mark price/funding or open interest"):
        get_funding_and_oi("BTCUSDT")
    insert(con, "open_interest", _oi([("2024-08-08T10:00:00Z", 1000.0)]))
    out = get_funding_and_oi("BTCUSDT")
    assert out["funding"] is None and any("mark price/funding" in w for w in out["warnings"])
    with pytest.raises(ToolError, match="duration"):
        get_funding_and_oi("BTCUSDT", window="yesterday")


def test_depth_delta_without_any_depth_data() -> None:
    con = new_store()
    add_trades(con, [("2024-08-08T00:40:00Z", 100.0, 1, "buy")])
    with pytest.raises(ToolError, match="no depth bands stored for binance/usdm/BTCUSDT"):
        get_orderbook_depth_delta("BTCUSDT")


def test_liquidation_buckets_are_capped_by_notional() -> None:
    con = new_store()
    rows = [
        (
            f"2024-08-08T00:{i // 60:02d}:{i % 60:02d}Z",
            "sell",
            100.0 + i,
            None,
            1.0 + (i == 7),
            None,
        )
        for i in range(150)
    ]
    insert(con, "liquidations", _liquidations(rows))
    agg = stream_liquidations("BTCUSDT", window="1h", bucket_pct=0.001)["window"]
    assert len(agg["by_price"]) == 100 and "100 buckets" in agg["by_price_note"]
    prices = [b["price"] for b in agg["by_price"]]
    assert prices == sorted(prices, reverse=True) and 107.0 in prices  # the biggest one is kept
    assert agg["by_side"]["sell"]["count"] == 150  # the totals still cover every event
