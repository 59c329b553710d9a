"""Golden tests: footprint bars, diagonal and stacked imbalances, delta/CVD and divergences."""

from __future__ import annotations

import pytest

from flowdesk.tools.orderflow import get_footprint, get_orderflow_metrics
from flowdesk.tools.registry import ToolError
from test_orderflow_support import add_trades, insert, new_store, trades_frame

# Bar 00:00 (in this order): running delta -2, -1, 5, 4, 8, 7, 10, 5
BAR1 = [
    ("2024-08-08T00:00:01Z", 100.0, 2, "sell"),
    ("2024-08-08T00:00:02Z", 100.0, 1, "buy"),
    ("2024-08-08T00:00:03Z", 100.1, 6, "buy"),
    ("2024-08-08T00:00:04Z", 100.1, 1, "sell"),
    ("2024-08-08T00:00:05Z", 100.2, 4, "buy"),
    ("2024-08-08T00:00:06Z", 100.2, 1, "sell"),
    ("2024-08-08T00:00:07Z", 100.3, 3, "buy"),
    ("2024-08-08T00:00:08Z", 100.4, 5, "sell"),
]
BAR2 = [("2024-08-08T00:01:10Z", 100.2, 1, "sell")]  # comes back into the zone: tested
BAR3 = [("2024-08-08T00:02:30Z", 100.0, 1, "sell")]  # trades below the zone: broken


def test_footprint_bar_and_rows() -> None:
    con = new_store()
    add_trades(con, BAR1 + BAR2)
    out = get_footprint("BTCUSDT", "1m", start="2024-08-08T00:00:00Z", end="2024-08-08T00:02:00Z")
    bar = out["bars"][0]
    assert bar["open_time"] == "2024-08-08T00:00:00.000Z"
    assert (bar["open"], bar["high"], bar["low"], bar["close"]) == (100.0, 100.4, 100.0, 100.4)
    assert (bar["volume"], bar["buy_volume"], bar["sell_volume"], bar["delta"]) == (
        23.0,
        14.0,
        9.0,
        5.0,
    )
    assert (bar["max_delta"], bar["min_delta"], bar["trades"], bar["poc"]) == (10.0, -2.0, 8, 100.1)
    assert bar["rows"] == {
        "price": [100.4, 100.3, 100.2, 100.1, 100.0],
        "buy": [0.0, 3.0, 4.0, 6.0, 1.0],
        "sell": [5.0, 0.0, 1.0, 1.0, 2.0],
        "delta": [-5.0, 3.0, 3.0, 5.0, -1.0],
        "trades": [1, 1, 2, 2, 2],
    }
    # buy imbalances: 100.1 (6 >= 3x2, equal passes), 100.2 (4 >= 3x1), 100.3 (3 >= 3x1);
    # 100.4 has no buy volume; sell side: 100.4 is the top row (no row above to compare)
    assert bar["buy_imbalances"] == [100.3, 100.2, 100.1] and bar["sell_imbalances"] == []
    zone = out["stacked_imbalances"][0]
    assert (zone["side"], zone["price_low"], zone["price_high"], zone["levels"]) == (
        "buy",
        100.1,
        100.3,
        3,
    )
    assert zone["holds"] is True and zone["tested"] is True and zone["later_bars"] == 1
    assert out["source"]["as_of"] == "2024-08-08T00:01:10Z"


def test_stacked_zone_broken_when_traded_through() -> None:
    con = new_store()
    add_trades(con, BAR1 + BAR2 + BAR3)
    out = get_footprint("BTCUSDT", "1m", start="2024-08-08T00:00:00Z", end="2024-08-08T00:03:00Z")
    zone = out["stacked_imbalances"][0]
    assert zone["holds"] is False and zone["later_bars"] == 2
    five = get_footprint("BTCUSDT", "5m", start="2024-08-08T00:00:00Z", end="2024-08-08T00:05:00Z")
    assert len(five["bars"]) == 1 and five["bars"][0]["volume"] == 25.0
    assert five["bars"][0]["min_delta"] == -2.0 and five["bars"][0]["delta"] == 3.0


def test_stacked_levels_and_ratio_parameters() -> None:
    con = new_store()
    add_trades(con, BAR1)
    win = {"start": "2024-08-08T00:00:00Z", "end": "2024-08-08T00:01:00Z"}
    assert get_footprint("BTCUSDT", "1m", stacked_levels=4, **win)["stacked_imbalances"] == []
    strict = get_footprint("BTCUSDT", "1m", imbalance_ratio=3.5, **win)["bars"][0]
    assert strict["buy_imbalances"] == [100.2]  # 100.1: 6 < 3.5 x 2; 100.3: 3 < 3.5 x 1
    floor = get_footprint("BTCUSDT", "1m", min_imbalance_volume=4, **win)["bars"][0]
    assert floor["buy_imbalances"] == [100.2, 100.1]


def test_imbalance_ratio_is_float_safe() -> None:
    con = new_store()
    add_trades(
        con,
        [
            ("2024-08-08T00:00:01Z", 100.0, 0.1, "sell"),
            ("2024-08-08T00:00:02Z", 100.1, 0.1, "buy"),
            ("2024-08-08T00:00:03Z", 100.1, 0.2, "buy"),
        ],
    )
    bar = get_footprint("BTCUSDT", "1m", start="2024-08-08T00:00:00Z", end="2024-08-08T00:01:00Z")[
        "bars"
    ][0]
    assert bar["buy_imbalances"] == [100.1]  # 0.1 + 0.2 >= 3 x 0.1 at 1e-9


def test_same_millisecond_trades_follow_trade_id_not_insert_order() -> None:
    con = new_store()
    rows = [
        ("2024-08-08T00:00:01Z", 100.0, 5, "sell", 11),
        ("2024-08-08T00:00:01Z", 100.0, 5, "buy", 10),
    ]
    insert(con, "trades", trades_frame(rows))
    bar = get_footprint("BTCUSDT", "1m", start="2024-08-08T00:00:00Z", end="2024-08-08T00:01:00Z")[
        "bars"
    ][0]
    assert (bar["max_delta"], bar["min_delta"], bar["delta"]) == (
        5.0,
        0.0,
        0.0,
    )  # buy (id 10) first


def test_footprint_caps_bars_and_rows() -> None:
    con = new_store()
    add_trades(
        con,
        [
            (f"2024-08-08T00:{m:02d}:05Z", 100.0 + r / 10, 1, "buy")
            for m in range(10)
            for r in range(3)
        ],
    )
    out = get_footprint("BTCUSDT", "1m", start="2024-08-08T00:00:00Z", max_bars=4, max_rows=7)
    assert [b["open_time"][11:16] for b in out["bars"]] == ["00:06", "00:07", "00:08", "00:09"]
    assert out["truncated"] is True and len(out["notes"]) == 2 and "10 bars" in out["notes"][0]
    assert [b["rows"] is None for b in out["bars"]] == [True, True, False, False]
    assert out["bars"][0]["buy_imbalance_count"] == 2  # counts stay on every bar
    default = get_footprint("BTCUSDT", "1m", max_bars=4)  # the newest 4 bars, nothing cut
    assert [b["open_time"][11:16] for b in default["bars"]] == ["00:06", "00:07", "00:08", "00:09"]
    assert default["truncated"] is False and default["source"]["window"].startswith(
        "2024-08-08T00:06:00"
    )


def test_empty_window_and_bad_arguments() -> None:
    con = new_store()
    add_trades(con, BAR1)
    out = get_footprint("BTCUSDT", "1m", start="2024-08-09T00:00:00Z", end="2024-08-09T01:00:00Z")
    assert out["bars"] == [] and out["warnings"] and out["source"]["as_of"] is None
    with pytest.raises(ToolError, match="1m, 5m, 15m, 30m, 1h"):
        get_footprint("BTCUSDT", "90s")
    with pytest.raises(ToolError, match="max_bars"):
        get_footprint("BTCUSDT", "1m", max_bars=5000)
    with pytest.raises(ToolError, match="before end"):
        get_footprint("BTCUSDT", "1m", start="2024-08-08T01:00:00Z", end="2024-08-08T00:00:00Z")
    with pytest.raises(ToolError, match="unknown symbol 'DOGEUSDT'.*BTCUSDT"):
        get_footprint("DOGEUSDT", "1m")


def test_tick_size_unknown_needs_row_size() -> None:
    con = new_store(ticks={})
    add_trades(con, BAR1)
    with pytest.raises(ToolError, match="tick size unknown for BTCUSDT"):
        get_footprint("BTCUSDT", "1m")
    out = get_footprint(
        "BTCUSDT", "1m", row_size=0.1, start="2024-08-08T00:00:00Z", end="2024-08-08T00:01:00Z"
    )
    assert out["bars"][0]["rows"]["price"] == [100.4, 100.3, 100.2, 100.1, 100.0]
    assert out["grid"] == {"tick_size": None, "row_ticks": None, "row_size": 0.1}


def _cvd_trades() -> list[tuple]:
    return [
        ("2024-08-08T00:10:00Z", 100.0, 2, "buy"),
        ("2024-08-08T00:20:00Z", 100.0, 1, "sell"),
        ("2024-08-08T00:30:10Z", 100.0, 3, "buy"),
        ("2024-08-08T00:31:10Z", 100.0, 5, "sell"),
        ("2024-08-08T23:59:10Z", 100.0, 1, "buy"),
        ("2024-08-09T00:00:10Z", 100.0, 2, "sell"),
    ]


def test_cvd_anchored_at_session_with_carry_and_reset() -> None:
    con = new_store()
    add_trades(con, _cvd_trades())
    out = get_orderflow_metrics(
        "BTCUSDT", "1m", start="2024-08-08T00:30:00Z", end="2024-08-08T00:32:00Z"
    )
    assert [b["cvd"] for b in out["bars"]] == [4.0, -1.0]  # 2 - 1 carried in from before the window
    assert out["summary"]["delta"] == -2.0 and out["summary"]["cvd_last"] == -1.0
    late = get_orderflow_metrics(
        "BTCUSDT", "1m", start="2024-08-08T23:59:00Z", end="2024-08-09T00:01:00Z"
    )
    assert [b["cvd"] for b in late["bars"]] == [0.0, -2.0]  # 2-1+3-5+1 = 0, then reset at midnight
    fixed = get_orderflow_metrics(
        "BTCUSDT",
        "1m",
        start="2024-08-08T00:30:00Z",
        end="2024-08-08T00:32:00Z",
        anchor="2024-08-08T00:15:00Z",
    )
    assert [b["cvd"] for b in fixed["bars"]] == [2.0, -3.0]
    later = get_orderflow_metrics(
        "BTCUSDT",
        "1m",
        start="2024-08-08T00:30:00Z",
        end="2024-08-08T00:32:00Z",
        anchor="2024-08-08T00:31:00Z",
    )
    assert [b["cvd"] for b in later["bars"]] == [None, -5.0]
    ny = get_orderflow_metrics(
        "BTCUSDT",
        "1m",
        start="2024-08-08T23:59:00Z",
        end="2024-08-09T00:01:00Z",
        session_tz="Asia/Tokyo",
    )  # Tokyo day began 2024-08-08T15:00Z
    assert [b["cvd"] for b in ny["bars"]] == [1.0, -1.0]


def test_divergence_flags() -> None:
    con = new_store()
    add_trades(
        con,
        [
            ("2024-08-08T00:00:01Z", 100.0, 5, "buy"),
            ("2024-08-08T00:00:02Z", 101.0, 1, "buy"),  # cvd 6
            ("2024-08-08T00:01:01Z", 101.0, 1, "buy"),
            ("2024-08-08T00:01:02Z", 102.0, 1, "buy"),  # cvd 8
            ("2024-08-08T00:02:01Z", 102.0, 1, "buy"),
            ("2024-08-08T00:02:02Z", 103.0, 4, "sell"),  # up bar, delta -3
        ],
    )
    out = get_orderflow_metrics(
        "BTCUSDT",
        "1m",
        start="2024-08-08T00:00:00Z",
        end="2024-08-08T00:03:00Z",
        divergence_lookback=2,
    )
    bars = out["bars"]
    assert [b["cvd"] for b in bars] == [6.0, 8.0, 5.0]
    assert [b["delta_divergence"] for b in bars] == [None, None, "bearish"]
    assert [b["cvd_divergence"] for b in bars] == [None, None, "bearish"]  # higher high, lower CVD
    assert out["summary"]["cvd_divergences"] == 1


def test_metrics_argument_errors() -> None:
    con = new_store()
    add_trades(con, BAR1)
    with pytest.raises(ToolError, match="anchor"):
        get_orderflow_metrics("BTCUSDT", "1m", anchor="tomorrow")
    with pytest.raises(ToolError, match="not before the window end"):
        get_orderflow_metrics("BTCUSDT", "1m", anchor="2030-01-01T00:00:00Z")
    with pytest.raises(ToolError, match="timeframe"):
        get_orderflow_metrics("BTCUSDT", "7x")


def test_backfilled_rows_out_of_order_are_put_in_exchange_order() -> None:
    con = new_store()
    rows = trades_frame(BAR1 + BAR2)
    insert(con, "trades", rows.iloc[4:])  # the live stream first ...
    insert(con, "trades", rows.iloc[:4])  # ... then an older REST backfill appended after it
    out = get_footprint("BTCUSDT", "1m", start="2024-08-08T00:00:00Z", end="2024-08-08T00:02:00Z")
    bar = out["bars"][0]
    assert (bar["open"], bar["close"], bar["max_delta"], bar["min_delta"]) == (
        100.0,
        100.4,
        10.0,
        -2.0,
    )
