"""Golden tests: volume profile (Dalton value area, ties), VWAP bands, TPO, session levels and
key levels over hand-built trades with hand-computed answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from flowdesk.analytics.orderflow.profile import pick_poc, value_area
from flowdesk.tools.orderflow import get_key_levels, get_volume_profile
from flowdesk.tools.registry import ToolError
from test_orderflow_support import add_trades, new_store


def _profile_trades(day: str, volumes: dict[float, float], side: str = "buy") -> list[tuple]:
    """One trade per price at one-second steps from ``day`` 01:00 UTC."""
    return [(f"{day}T01:00:{i:02d}Z", p, q, side) for i, (p, q) in enumerate(volumes.items())]


def test_value_area_expands_by_pairs_not_single_rows() -> None:
    # POC 100.3 (9); pairs: above 4+4=8 > below 5+2=7 -> add above (17); then above 2 < below 7
    # -> add below (24 >= 18.9). A one-row-at-a-time method would give 100.2..100.5 instead.
    con = new_store()
    add_trades(
        con,
        _profile_trades(
            "2024-08-08", {100.0: 1, 100.1: 2, 100.2: 5, 100.3: 9, 100.4: 4, 100.5: 4, 100.6: 2}
        ),
    )
    out = get_volume_profile("BTCUSDT", start="2024-08-08T00:00:00Z", end="2024-08-09T00:00:00Z")
    assert (out["poc"], out["val"], out["vah"]) == (100.3, 100.1, 100.5)
    assert out["volume"] == 27.0 and out["rows"]["price"][0] == 100.6 and out["truncated"] is False


def test_value_area_tie_adds_both_pairs() -> None:
    # 20 in all, target 14: from the POC (10) both pairs hold 4 -> tie -> both added (18).
    con = new_store()
    add_trades(
        con,
        _profile_trades(
            "2024-08-08", {100.0: 1, 100.1: 2, 100.2: 2, 100.3: 10, 100.4: 2, 100.5: 2, 100.6: 1}
        ),
    )
    out = get_volume_profile("BTCUSDT", start="2024-08-08", end="2024-08-09")
    assert (out["val"], out["poc"], out["vah"]) == (100.1, 100.3, 100.5)


def test_value_area_pure_function_edges() -> None:
    assert value_area([5.0], 0, 70) == (0, 0)
    assert value_area([1.0, 1.0, 8.0], 2, 100) == (0, 2)  # only the side below is left
    # pairs 0.3 + 0 below and 0.1 + 0.2 = 0.30000000000000004 above: a tie, so both are added
    assert value_area([0.3, 0.0, 1.0, 0.1, 0.2], 2, 70) == (0, 4)


def test_poc_tie_prefers_middle_then_lower() -> None:
    one = np.array([0]), lambda n: np.array([n])
    assert pick_poc(np.array([1, 5, 1, 5, 1, 1, 1.0]), one[0], one[1](7))[0] == 3  # nearest middle
    assert (
        pick_poc(np.array([1, 5, 1, 1, 5, 1.0]), one[0], one[1](6))[0] == 1
    )  # equally near: lower
    con = new_store()
    add_trades(
        con,
        _profile_trades("2024-08-08", {100.0: 1, 100.1: 5, 100.2: 1, 100.3: 1, 100.4: 5, 100.5: 1}),
    )
    assert get_volume_profile("BTCUSDT", start="2024-08-08", end="2024-08-09")["poc"] == 100.1


def test_profile_rows_in_integer_ticks_and_row_size() -> None:
    con = new_store()
    add_trades(
        con,
        [
            ("2024-08-08T01:00:00Z", 100.3, 1, "buy"),
            ("2024-08-08T01:00:01Z", 100.2, 2, "sell"),
            ("2024-08-08T01:00:02Z", 0.3 + 100.0, 1, "buy"),
            ("2024-08-08T01:00:03Z", 100.5, 1, "sell"),
        ],
    )
    out = get_volume_profile("BTCUSDT", start="2024-08-08", end="2024-08-09", row_ticks=2)
    # rows of 0.2: [100.2, 100.3] and [100.4, 100.5]; 100.0 + 0.3 = 100.30000000000001 stays in 100.2's row
    assert out["rows"]["price"] == [100.4, 100.2]
    assert out["rows"]["volume"] == [1.0, 4.0] and out["rows"]["delta"] == [-1.0, 0.0]
    assert out["grid"] == {"tick_size": 0.1, "row_ticks": 2, "row_size": 0.2}
    assert (
        get_volume_profile("BTCUSDT", start="2024-08-08", end="2024-08-09", row_size=0.2)["rows"]
        == out["rows"]
    )
    with pytest.raises(ToolError, match="whole number of ticks"):
        get_volume_profile("BTCUSDT", start="2024-08-08", end="2024-08-09", row_size=0.25)


def test_profile_truncates_rows_around_poc() -> None:
    con = new_store()
    add_trades(
        con, _profile_trades("2024-08-08", {100.0 + i / 10: 1 + (i == 5) for i in range(10)})
    )
    out = get_volume_profile("BTCUSDT", start="2024-08-08", end="2024-08-09", max_rows=3)
    assert out["truncated"] is True and "note" in out
    assert out["rows"]["price"] == [100.6, 100.5, 100.4]


def test_vwap_and_bands() -> None:
    con = new_store()
    add_trades(
        con, [("2024-08-08T01:00:00Z", 100.0, 1, "buy"), ("2024-08-08T02:00:00Z", 102.0, 1, "sell")]
    )
    out = get_volume_profile("BTCUSDT", start="2024-08-08", end="2024-08-09")
    assert out["vwap"]["vwap"] == pytest.approx(101.0) and out["vwap"]["stdev"] == pytest.approx(
        1.0
    )
    assert out["vwap"]["bands"]["upper_1"] == pytest.approx(102.0)
    assert out["vwap"]["bands"]["lower_2"] == pytest.approx(99.0)


def test_tpo_range_rule_letters_and_value_area() -> None:
    con = new_store()
    add_trades(
        con,
        [
            ("2024-08-08T00:05:00Z", 100.0, 1, "buy"),
            ("2024-08-08T00:06:00Z", 100.2, 1, "buy"),  # A: 100.0-100.2
            ("2024-08-08T00:35:00Z", 100.1, 1, "sell"),
            ("2024-08-08T00:50:00Z", 100.3, 1, "buy"),  # B: 100.1-100.3
            (
                "2024-08-08T01:10:00Z",
                100.2,
                50,
                "buy",
            ),  # C: 100.2 only (volume does not matter to TPO)
        ],
    )
    out = get_volume_profile(
        "BTCUSDT", start="2024-08-08T00:00:00Z", end="2024-08-09T00:00:00Z", tpo=True
    )
    tpo = out["tpo"]
    # counts 100.0:1 100.1:2 100.2:3 100.3:1; VA 70% of 7: POC 3, above 1 < below 3 -> 6 >= 4.9
    assert (tpo["poc"], tpo["val"], tpo["vah"]) == (100.2, 100.0, 100.2)
    assert tpo["initial_balance"] == {"high": 100.3, "low": 100.0}
    letters = dict(zip(tpo["rows"]["price"], tpo["rows"]["letters"], strict=True))
    assert letters == {100.3: "B", 100.2: "ABC", 100.1: "AB", 100.0: "A"}  # 100.1 via A's range


def _day_trades() -> list[tuple]:
    return [
        ("2024-08-07T10:00:00Z", 90.0, 2, "buy"),
        ("2024-08-07T11:00:00Z", 92.0, 2, "sell"),  # previous day
        ("2024-08-08T01:00:00Z", 100.0, 1, "buy"),  # Tokyo only (00:00-09:00Z)
        ("2024-08-08T08:00:00Z", 101.0, 1, "buy"),  # Tokyo and London (07:00-16:00Z in BST)
        ("2024-08-08T13:00:00Z", 99.0, 1, "sell"),  # London and New York (12:00-21:00Z in EDT)
        ("2024-08-08T20:00:00Z", 103.0, 1, "buy"),  # New York only
    ]


def test_key_levels_day_previous_and_named_sessions() -> None:
    con = new_store()
    add_trades(con, _day_trades())
    out = get_key_levels("BTCUSDT")
    today, prev = out["today"], out["previous"]
    assert today["date"] == "2024-08-08" and prev["date"] == "2024-08-07"
    assert (today["open"], today["high"], today["low"], today["close"]) == (
        100.0,
        103.0,
        99.0,
        103.0,
    )
    assert today["vwap"]["vwap"] == pytest.approx((100 + 101 + 99 + 103) / 4)
    assert prev["vwap"]["vwap"] == pytest.approx(91.0) and prev["volume_profile"]["poc"] == 90.0
    s = today["sessions"]
    assert (s["tokyo"]["high"], s["tokyo"]["low"]) == (101.0, 100.0)
    assert (s["london"]["high"], s["london"]["low"]) == (101.0, 99.0)
    assert (s["new_york"]["high"], s["new_york"]["low"]) == (103.0, 99.0)
    assert (
        s["new_york"]["start"] == "2024-08-08T12:00:00.000Z"
        and s["new_york"]["status"] == "in_progress"
    )
    assert (
        prev["sessions"]["tokyo"]["status"] == "no_trades"
        and prev["sessions"]["london"]["high"] == 92.0
    )
    names = [x["name"] for x in out["ladder"]]
    assert {"dVWAP", "dPOC", "dVAH", "dVAL", "pdVWAP", "pdPOC", "pdVAH", "pdVAL"} <= set(names)
    prices = [x["price"] for x in out["ladder"]]
    assert prices == sorted(prices, reverse=True)
    assert out["source"]["as_of"] == "2024-08-08T20:00:00Z" and out["warnings"] == []


def test_key_levels_empty_previous_session_warns() -> None:
    con = new_store()
    add_trades(con, _day_trades()[2:])
    out = get_key_levels("BTCUSDT", date="2024-08-08")
    assert out["previous"]["vwap"] is None and out["previous"]["volume_profile"] is None
    assert out["previous"]["high"] is None and out["previous"]["status"] == "no_trades"
    assert any("previous session 2024-08-07" in w for w in out["warnings"])
    assert not any(x["name"].startswith("pd") for x in out["ladder"])


def test_key_levels_session_spanning_utc_midnight() -> None:
    # New York day 2024-08-08 runs 2024-08-08T04:00Z .. 2024-08-09T04:00Z (EDT, UTC-4)
    con = new_store()
    add_trades(
        con,
        [
            ("2024-08-08T03:00:00Z", 50.0, 1, "buy"),  # 2024-08-07 23:00 in New York: previous day
            ("2024-08-08T05:00:00Z", 60.0, 1, "buy"),
            ("2024-08-09T03:30:00Z", 70.0, 3, "sell"),  # still 2024-08-08 in New York
            ("2024-08-09T04:30:00Z", 80.0, 1, "buy"),  # 2024-08-09 in New York
        ],
    )
    out = get_key_levels("BTCUSDT", date="2024-08-08", session_tz="America/New_York")
    today = out["today"]
    assert (today["start"], today["end"]) == (
        "2024-08-08T04:00:00.000Z",
        "2024-08-09T04:00:00.000Z",
    )
    assert (today["open"], today["close"], today["high"], today["low"]) == (60.0, 70.0, 70.0, 60.0)
    assert (
        today["vwap"]["vwap"] == pytest.approx((60 + 3 * 70) / 4) and today["status"] == "complete"
    )
    assert out["previous"]["high"] == 50.0 and out["previous"]["vwap"]["vwap"] == 50.0
    utc = get_key_levels("BTCUSDT", date="2024-08-08")["today"]
    assert (utc["low"], utc["high"]) == (50.0, 60.0)
    default_day = get_key_levels("BTCUSDT", session_tz="America/New_York")["today"]["date"]
    assert default_day == "2024-08-09"


def test_dst_day_is_25_hours() -> None:
    con = new_store()
    add_trades(con, [("2024-11-03T12:00:00Z", 10.0, 1, "buy")])
    today = get_key_levels("BTCUSDT", session_tz="America/New_York")["today"]
    hours = (
        np.datetime64(today["end"][:-1]) - np.datetime64(today["start"][:-1])
    ) / np.timedelta64(1, "h")
    assert math.isclose(hours, 25.0)


def test_level_argument_errors() -> None:
    con = new_store()
    add_trades(con, _day_trades())
    with pytest.raises(ToolError, match="unknown time zone"):
        get_key_levels("BTCUSDT", session_tz="Mars/Olympus")
    with pytest.raises(ToolError, match="not a date"):
        get_key_levels("BTCUSDT", date="08/08/2024")
    with pytest.raises(ToolError, match="value_area_pct"):
        get_volume_profile("BTCUSDT", value_area_pct=0.7)
    with pytest.raises(ToolError, match="not like"):
        get_key_levels("BTCUSDT", sessions={"asia": "9am-5pm"})
    with pytest.raises(ToolError, match="ISO-8601"):
        get_volume_profile("BTCUSDT", start="yesterday")
    custom = get_key_levels("BTCUSDT", sessions={"late": "22:00-02:00 UTC"})["today"]["sessions"]
    assert custom["late"]["end"] == "2024-08-09T02:00:00.000Z"
