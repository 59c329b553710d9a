"""The exchange simulator, driven by a real websockets client and httpx on 127.0.0.1.

Expected values come from the capture files themselves (plain json), not from the simulator.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from flowdesk.streaming.captures import CaptureWriter, iter_capture
from flowdesk.streaming.simulator import FaultConfig, Simulator, SimulatorConfig

BTC_STREAMS = "btcusdt@depth@0ms/btcusdt@trade/btcusdt@bookTicker"


# --- helpers ------------------------------------------------------------------------------
@asynccontextmanager
async def running(config: SimulatorConfig) -> AsyncIterator[Simulator]:
    sim = Simulator(config)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


def ws_connect(url: str) -> Any:
    return connect(url, max_size=None, max_queue=None, compression=None)


async def recv_n(ws: ClientConnection, n: int, timeout: float = 60) -> list[str]:
    async def take() -> list[str]:
        return [str(await ws.recv()) for _ in range(n)]

    return await asyncio.wait_for(take(), timeout)


async def nothing_more(ws: ClientConnection, wait: float = 0.3) -> bool:
    try:
        await asyncio.wait_for(ws.recv(), wait)
    except TimeoutError:
        return True
    return False


def capture_lines(path: Path) -> list[str]:
    """Stream frames of a capture, as raw lines (the bare REST snapshot left out)."""
    return [raw for _, raw in iter_capture(path) if raw.startswith('{"stream"')]


def of_stream(lines: list[str], kind: str) -> list[dict[str, Any]]:
    """The data of the lines whose stream is ``<symbol>@<kind>``."""
    return [json.loads(x)["data"] for x in lines if x.startswith('{"stream":"') and x.split('"', 4)[3].split("@", 1)[1] == kind]


def capture_snapshot(path: Path) -> dict[str, Any]:
    return next(json.loads(raw) for _, raw in iter_capture(path) if '"lastUpdateId"' in raw[:20])


def replay(path: Path, **kw: Any) -> SimulatorConfig:
    return SimulatorConfig(mode="replay", captures=[path], speed=0, **kw)


class ClientBook:
    """A client-side book kept the way Binance documents it for USD-M diff depth."""

    def __init__(self, snapshot: dict[str, Any]) -> None:
        self.last_id = snapshot["lastUpdateId"]
        self.bids = {p: q for p, q in snapshot["bids"]}
        self.asks = {p: q for p, q in snapshot["asks"]}
        self.prev_u: int | None = None

    def apply(self, diff: dict[str, Any]) -> bool:
        """Apply one diff; False when it is older than the book. Asserts the sequence rules."""
        if diff["u"] < self.last_id:
            return False
        if self.prev_u is None:  # the first diff holds the snapshot's id (or starts right after it)
            assert diff["U"] <= self.last_id + 1 and diff["u"] >= self.last_id
        else:
            assert diff["pu"] == self.prev_u, "pu chain broken"
        for side, levels in ((self.bids, diff["b"]), (self.asks, diff["a"])):
            for p, q in levels:
                if float(q) == 0:
                    side.pop(p, None)
                else:
                    side[p] = q
        self.prev_u = self.last_id = diff["u"]
        return True

    def top(self, n: int) -> tuple[list[list[str]], list[list[str]]]:
        bids = sorted(self.bids, key=float, reverse=True)[:n]
        asks = sorted(self.asks, key=float)[:n]
        return [[p, self.bids[p]] for p in bids], [[p, self.asks[p]] for p in asks]


# --- replay of the real capture -----------------------------------------------------------
def test_replay_sends_every_capture_frame_in_order_and_rest_follows(btc_capture: Path) -> None:
    expected = capture_lines(btc_capture)
    kinds = [json.loads(line)["stream"].split("@", 1)[1] for line in expected]
    assert (kinds.count("trade"), kinds.count("depth@0ms"), kinds.count("bookTicker")) == (21_313, 6_551, 66_089)
    trades = of_stream(expected, "trade")

    async def main() -> None:
        async with running(replay(btc_capture)) as sim:
            async with ws_connect(f"{sim.ws_url}/stream?streams={BTC_STREAMS}") as ws:
                got = await recv_n(ws, len(expected))
                assert got == expected
                assert await sim.wait_replay_done(5)
                assert await nothing_more(ws)
            assert sim.stats["finished"] and sim.stats["frames_sent"] == len(expected)
            async with httpx.AsyncClient(base_url=sim.rest_url) as http:
                await check_rest_after_replay(http, expected, trades)

    asyncio.run(main())


async def check_rest_after_replay(http: httpx.AsyncClient, lines: list[str], trades: list[dict[str, Any]]) -> None:
    """REST answers computed from everything replayed (the whole capture)."""
    last_ticker = next(json.loads(x)["data"] for x in reversed(lines) if "@bookTicker" in x)
    mid = (float(last_ticker["b"]) + float(last_ticker["a"])) / 2

    r = await http.get("/fapi/v1/ticker/24hr", params={"symbol": "BTCUSDT"})
    assert r.status_code == 200 and "X-MBX-USED-WEIGHT-1M" in r.headers
    t = r.json()
    assert (t["lastPrice"], t["count"], t["firstId"], t["lastId"]) == (trades[-1]["p"], len(trades), trades[0]["t"], trades[-1]["t"])
    assert float(t["volume"]) == pytest.approx(sum(float(x["q"]) for x in trades))
    assert float(t["highPrice"]) == max(float(x["p"]) for x in trades)

    p = (await http.get("/fapi/v1/premiumIndex", params={"symbol": "BTCUSDT"})).json()
    assert float(p["markPrice"]) == pytest.approx(mid) and float(p["indexPrice"]) == pytest.approx(mid)
    assert p["nextFundingTime"] == 1723190400000  # 2024-08-09 08:00 UTC, after the capture's last event

    h = (await http.get("/fapi/v1/historicalTrades", params={"symbol": "BTCUSDT", "fromId": trades[100]["t"], "limit": 5})).json()
    assert [(x["id"], x["price"], x["qty"], x["time"], x["isBuyerMaker"]) for x in h] == [
        (x["t"], x["p"], x["q"], x["T"], x["m"]) for x in trades[100:105]
    ]
    start, end = trades[0]["T"], trades[0]["T"] + 10_000
    window = (await http.get("/fapi/v1/aggTrades", params={"symbol": "BTCUSDT", "startTime": start, "endTime": end, "limit": 1000})).json()
    assert [a["a"] for a in window] == [x["t"] for x in trades if start <= x["T"] <= end][:1000]

    k = (await http.get("/fapi/v1/klines", params={"symbol": "BTCUSDT", "interval": "1m", "limit": 1500})).json()
    assert sum(row[8] for row in k) == len(trades)
    assert float(k[-1][4]) == float(trades[-1]["p"])
    oi = (await http.get("/fapi/v1/openInterest", params={"symbol": "BTCUSDT"})).json()
    assert oi["symbol"] == "BTCUSDT" and float(oi["openInterest"]) > 0


def test_aggtrade_subscription_gets_the_capture_trades_converted(btc_capture: Path) -> None:
    trades = of_stream(capture_lines(btc_capture), "trade")

    async def main() -> None:
        async with running(replay(btc_capture)) as sim, ws_connect(f"{sim.ws_url}/ws/btcusdt@aggTrade") as ws:
            got = [json.loads(m) for m in await recv_n(ws, len(trades))]
            assert await sim.wait_replay_done(5)
            assert await nothing_more(ws)
        assert [set(g) for g in got[:1]] == [{"e", "E", "a", "s", "p", "q", "f", "l", "T", "m"}]
        assert all(g["e"] == "aggTrade" for g in got)
        assert [(g["a"], g["f"], g["l"], g["p"], g["q"], g["T"], g["m"], g["E"]) for g in got] == [
            (t["t"], t["t"], t["t"], t["p"], t["q"], t["T"], t["m"], t["E"]) for t in trades
        ]

    asyncio.run(main())


def test_rest_depth_matches_the_book_a_client_builds_from_the_stream(btc_capture: Path) -> None:
    diffs = of_stream(capture_lines(btc_capture), "depth@0ms")

    async def main() -> None:
        async with running(replay(btc_capture)) as sim, httpx.AsyncClient(base_url=sim.rest_url) as http:
            # asked before the replay reaches the capture's snapshot line: the capture's snapshot
            snap = (await http.get("/fapi/v1/depth", params={"symbol": "BTCUSDT", "limit": 1000})).json()
            assert snap["lastUpdateId"] == capture_snapshot(btc_capture)["lastUpdateId"]
            book = ClientBook(snap)
            async with ws_connect(f"{sim.ws_url}/stream?streams=btcusdt@depth@100ms") as ws:
                msgs = [json.loads(m) for m in await recv_n(ws, len(diffs))]
                assert await sim.wait_replay_done(5)
            assert {m["stream"] for m in msgs} == {"btcusdt@depth@100ms"}, "envelope names the client's stream"
            assert [m["data"] for m in msgs] == diffs
            applied = sum(book.apply(m["data"]) for m in msgs)
            assert applied > 6000
            later = (await http.get("/fapi/v1/depth", params={"symbol": "BTCUSDT", "limit": 1000})).json()
            assert later["lastUpdateId"] == diffs[-1]["u"] == book.last_id
            assert (later["bids"], later["asks"]) == book.top(1000)
            five = (await http.get("/fapi/v1/depth", params={"symbol": "BTCUSDT", "limit": 5})).json()
            assert (five["bids"], five["asks"]) == book.top(5)

    asyncio.run(main())


# --- faults -------------------------------------------------------------------------------
def test_close_after_frames_then_dropped_trades_are_served_over_rest(btc_capture: Path) -> None:
    trades = of_stream(capture_lines(btc_capture), "trade")
    faults = FaultConfig(close_after_frames=300, drop_frames_on_close=2_000)

    async def main() -> None:
        async with running(replay(btc_capture, faults=faults)) as sim:
            async with ws_connect(f"{sim.ws_url}/ws/btcusdt@aggTrade") as ws:
                first = [json.loads(m)["a"] for m in await recv_n(ws, 300)]
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 10)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
            async with ws_connect(f"{sim.ws_url}/ws/btcusdt@aggTrade") as ws:  # only the first connection is closed
                resumed = json.loads(await ws.recv())["a"]
                rest = [json.loads(m)["a"] for m in await recv_n(ws, 50)]
            gap_from, gap_to = first[-1] + 1, resumed - 1
            assert gap_to >= gap_from, "the dropped frames held trades"
            async with httpx.AsyncClient(base_url=sim.rest_url) as http:
                r = await http.get("/fapi/v1/aggTrades", params={"symbol": "BTCUSDT", "fromId": gap_from, "limit": 1000})
            filled = [a["a"] for a in r.json() if a["a"] <= gap_to]
            assert first == [t["t"] for t in trades[:300]]
            assert first + filled + [resumed] + rest == [t["t"] for t in trades[: 300 + len(filled) + 51]]
            assert sim.stats["faults_fired"]["close"] == 1 and sim.stats["frames_dropped"] == 2_000

    asyncio.run(main())


def test_skipped_depth_diff_breaks_the_pu_chain_once(btc_capture: Path) -> None:
    async def main() -> None:
        async with running(replay(btc_capture, faults=FaultConfig(skip_depth_at=100))) as sim:
            async with ws_connect(f"{sim.ws_url}/ws/btcusdt@depth") as ws:
                diffs = [json.loads(m) for m in await recv_n(ws, 300)]
            breaks = [i for i in range(1, len(diffs)) if diffs[i]["pu"] != diffs[i - 1]["u"]]
            assert breaks == [99]
            assert sim.stats["faults_fired"]["skip_depth"] == 1

    asyncio.run(main())


def test_malformed_frame_is_extra_and_not_json(btc_capture: Path) -> None:
    expected = capture_lines(btc_capture)[:80]

    async def main() -> None:
        async with running(replay(btc_capture, faults=FaultConfig(malformed_at_frame=50))) as sim:
            async with ws_connect(f"{sim.ws_url}/stream?streams={BTC_STREAMS}") as ws:
                got = await recv_n(ws, 81)
            with pytest.raises(json.JSONDecodeError):
                json.loads(got[49])
            assert expected[49].startswith(got[49])
            assert got[:49] + got[50:] == expected, "the real frames all arrive, in order"
            assert sim.stats["faults_fired"]["malformed"] == 1

    asyncio.run(main())


def test_rest_429_then_418_with_retry_after() -> None:
    faults = FaultConfig(rest_429_count=2, rest_418_count=1, retry_after_s=0.5)

    async def main() -> None:
        async with running(SimulatorConfig(faults=faults)) as sim, httpx.AsyncClient(base_url=sim.rest_url) as http:
            assert (await http.get("/fapi/v1/ping")).status_code == 200  # ping is never limited
            answers = [await http.get("/fapi/v1/depth", params={"symbol": "BTCUSDT"}) for _ in range(4)]
            assert [a.status_code for a in answers] == [429, 429, 418, 200]
            assert all(a.headers["Retry-After"] == "0.5" and a.json()["code"] == -1003 for a in answers[:3])
            assert sim.stats["rest_429_sent"] == 2 and sim.stats["faults_fired"]["rest_418"] == 1

    asyncio.run(main())


# --- REST surface -------------------------------------------------------------------------
def test_rest_errors_use_binance_codes() -> None:
    async def main() -> None:
        async with running(SimulatorConfig()) as sim, httpx.AsyncClient(base_url=sim.rest_url) as http:
            r = await http.get("/fapi/v1/depth", params={"symbol": "DOGEFOO"})
            assert (r.status_code, r.json()) == (400, {"code": -1121, "msg": "Invalid symbol."})
            r = await http.get("/fapi/v1/openInterest")
            assert r.status_code == 400 and r.json()["code"] == -1102
            r = await http.get("/fapi/v1/klines", params={"symbol": "BTCUSDT", "interval": "7m"})
            assert r.status_code == 400 and r.json()["code"] == -1120
            r = await http.get("/fapi/v1/aggTrades", params={"symbol": "BTCUSDT", "limit": 5000})
            assert r.status_code == 400 and r.json()["code"] == -1130
            assert (await http.get("/fapi/v9/nothing")).status_code == 404

    asyncio.run(main())


def test_exchange_info_publishes_tick_and_step_sizes() -> None:
    async def main() -> None:
        async with running(SimulatorConfig()) as sim, httpx.AsyncClient(base_url=sim.rest_url) as http:
            info = (await http.get("/fapi/v1/exchangeInfo")).json()
            time_ = (await http.get("/fapi/v1/time")).json()
        filters = {s["symbol"]: {f["filterType"]: f for f in s["filters"]} for s in info["symbols"]}
        assert filters["BTCUSDT"]["PRICE_FILTER"]["tickSize"] == "0.10"
        assert filters["ETHUSDT"]["PRICE_FILTER"]["tickSize"] == "0.01"
        assert filters["BTCUSDT"]["LOT_SIZE"]["stepSize"] == filters["ETHUSDT"]["LOT_SIZE"]["stepSize"] == "0.001"
        assert isinstance(time_["serverTime"], int)

    asyncio.run(main())


# --- live requests, unknown streams, looping ------------------------------------------------
def test_live_subscribe_list_and_unsubscribe() -> None:
    async def main() -> None:
        async with running(SimulatorConfig(speed=0)) as sim, ws_connect(f"{sim.ws_url}/ws") as ws:
            await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@bookTicker"], "id": 1}))
            assert json.loads(await ws.recv()) == {"result": None, "id": 1}
            event = json.loads(await ws.recv())
            assert event["e"] == "bookTicker" and event["s"] == "BTCUSDT", "raw /ws payloads carry no envelope"
            await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
            await ws.send(json.dumps({"method": "UNSUBSCRIBE", "params": ["btcusdt@bookTicker"], "id": 3}))
            replies = await until_reply(ws, 3)
            assert replies[2] == ["btcusdt@bookTicker"] and replies[3] is None
            assert await nothing_more(ws)

    asyncio.run(main())


async def until_reply(ws: ClientConnection, last_id: int) -> dict[int, Any]:
    replies: dict[int, Any] = {}
    while last_id not in replies:
        msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if "id" in msg and "result" in msg:
            replies[msg["id"]] = msg["result"]
    return replies


def small_capture(btc_capture: Path, out: Path, lines: int = 3_000) -> Path:
    """The first lines of the real capture, its snapshot line included."""
    with CaptureWriter(out) as w:
        for i, (ns, raw) in enumerate(iter_capture(btc_capture)):
            if i == lines:
                break
            w.write(ns, raw)
    return out


def test_loop_keeps_ids_and_times_increasing(btc_capture: Path, tmp_path: Path) -> None:
    cap = small_capture(btc_capture, tmp_path / "small.gz")
    n_trades = len(of_stream(capture_lines(cap), "trade"))

    async def main() -> None:
        async with running(replay(cap, loop=True)) as sim, ws_connect(f"{sim.ws_url}/ws/btcusdt@aggTrade") as ws:
            got = [json.loads(m) for m in await recv_n(ws, 2 * n_trades + 10)]
        ids = [g["a"] for g in got]
        assert ids == list(range(ids[0], ids[0] + len(ids))), "ids continue across the loop"
        times = [g["T"] for g in got]
        assert times == sorted(times) and times[n_trades] - times[0] >= 60_000
        assert got[n_trades]["p"] == got[0]["p"] and got[n_trades]["E"] % 1000 == got[0]["E"] % 1000

    asyncio.run(main())


COMPOSITE = '{"stream":"btcusdt@compositeIndex","data":{"e":"compositeIndex","E":1723161256400,"s":"BTCUSDT"}}'


def test_unknown_stream_goes_only_to_its_exact_subscribers(btc_capture: Path, tmp_path: Path) -> None:
    trade_lines = [(ns, raw) for ns, raw in iter_capture(btc_capture) if "@trade" in raw][:2]
    with CaptureWriter(tmp_path / "composite.gz") as w:  # 0.5 s between the frames at speed 1
        w.write(trade_lines[0][0], trade_lines[0][1])
        w.write(trade_lines[0][0] + 500_000_000, COMPOSITE)
        w.write(trade_lines[0][0] + 600_000_000, trade_lines[1][1])

    async def main() -> None:
        async with running(SimulatorConfig(mode="replay", captures=[tmp_path / "composite.gz"], speed=1)) as sim:
            url = f"{sim.ws_url}/stream?streams=btcusdt@compositeIndex/btcusdt@trade"
            async with ws_connect(url) as exact, ws_connect(f"{sim.ws_url}/stream?streams=btcusdt@trade") as other:
                assert await sim.wait_replay_done(10)
                got_exact, got_other = await drain(exact), await drain(other)
        assert COMPOSITE in got_exact and len(got_exact) >= 2
        assert got_other and not any("compositeIndex" in m for m in got_other)

    asyncio.run(main())


async def drain(ws: ClientConnection) -> list[str]:
    out = []
    while True:
        try:
            out.append(str(await asyncio.wait_for(ws.recv(), 0.3)))
        except TimeoutError:
            return out


# --- synthetic market ---------------------------------------------------------------------
SYNTH_STREAMS = "/".join(
    f"{s}@{k}" for s in ("btcusdt", "ethusdt")
    for k in ("aggTrade", "trade", "depth@100ms", "bookTicker", "markPrice@1s", "forceOrder", "kline_1m")
)


async def synthetic_frames(seed: int, n: int) -> list[str]:
    async with running(SimulatorConfig(seed=seed, speed=0)) as sim, ws_connect(f"{sim.ws_url}/stream?streams={SYNTH_STREAMS}") as ws:
        return await recv_n(ws, n)


def test_synthetic_is_reproducible_per_seed() -> None:
    a, b, c = (asyncio.run(synthetic_frames(seed, 4_000)) for seed in (7, 7, 8))
    assert a == b
    assert a != c
    streams = {json.loads(m)["stream"] for m in a}
    assert {"btcusdt@aggTrade", "ethusdt@depth@100ms", "btcusdt@markPrice@1s", "ethusdt@kline_1m", "btcusdt@forceOrder"} <= streams


def test_synthetic_stream_is_consistent_with_its_rest_book() -> None:
    async def main() -> None:
        # real time (speed 1) at a high rate: the REST snapshot is close to what the client reads
        config = SimulatorConfig(speed=1, rate_hz=3_000, symbols=["BTCUSDT"])
        async with running(config) as sim, httpx.AsyncClient(base_url=sim.rest_url) as http:
            async with ws_connect(f"{sim.ws_url}/stream?streams=btcusdt@depth/btcusdt@bookTicker/btcusdt@trade") as ws:
                await recv_n(ws, 300)  # the market is running
                book = ClientBook((await http.get("/fapi/v1/depth", params={"symbol": "BTCUSDT", "limit": 1000})).json())
                checked = await follow_book(ws, book, 4_000)
            assert checked["tickers"] > 100 and checked["trades"] > 100

    asyncio.run(main())


async def follow_book(ws: ClientConnection, book: ClientBook, n: int) -> dict[str, int]:
    """Keep the client book; every bookTicker must equal its top, every trade hit its best
    price on the aggressor's side, prices must sit on the 0.10 tick grid."""
    checked = {"tickers": 0, "trades": 0}
    for raw in await recv_n(ws, n):
        msg = json.loads(raw)
        data, stream = msg["data"], msg["stream"]
        if stream.endswith("@depth"):
            book.apply(data)
            continue
        if book.prev_u is None:
            continue
        bid, ask = max(book.bids, key=float), min(book.asks, key=float)
        bid_q, ask_q = book.bids[bid], book.asks[ask]
        if stream.endswith("@bookTicker"):
            assert (data["b"], data["B"], data["a"], data["A"]) == (bid, bid_q, ask, ask_q)
            assert float(data["b"]) < float(data["a"])
            checked["tickers"] += 1
        elif stream.endswith("@trade"):
            side = book.bids if data["m"] else book.asks
            assert data["p"] in side, "trades happen at a resting price"
            assert round(float(data["p"]) * 10) == float(data["p"]) * 10
            checked["trades"] += 1
    return checked


def test_two_captures_merge_by_receive_time(btc_capture: Path, eth_capture: Path, tmp_path: Path) -> None:
    caps = [small_capture(c, tmp_path / f"{i}.gz", lines=400) for i, c in enumerate((btc_capture, eth_capture))]
    expected = sorted(
        ((ns, raw) for c in caps for ns, raw in iter_capture(c) if "@bookTicker" in raw), key=lambda x: x[0]
    )

    async def main() -> None:
        config = SimulatorConfig(mode="replay", captures=caps, speed=0)
        async with running(config) as sim, httpx.AsyncClient(base_url=sim.rest_url) as http:
            for sym, cap in zip(("BTCUSDT", "ETHUSDT"), caps, strict=True):
                depth = (await http.get("/fapi/v1/depth", params={"symbol": sym, "limit": 5})).json()
                assert depth["lastUpdateId"] == capture_snapshot(cap)["lastUpdateId"]
            async with ws_connect(f"{sim.ws_url}/stream?streams=btcusdt@bookTicker/ethusdt@bookTicker") as ws:
                got = await recv_n(ws, len(expected))
        assert got == [raw for _, raw in expected]
        assert {json.loads(m)["data"]["s"] for m in got} == {"BTCUSDT", "ETHUSDT"}

    asyncio.run(main())


def test_replay_clock_follows_receive_times_scaled_by_speed(btc_capture: Path, tmp_path: Path) -> None:
    cap = small_capture(btc_capture, tmp_path / "small.gz", lines=400)
    ns = [n for n, _ in iter_capture(cap)]
    span_s = (ns[-1] - ns[0]) / 1e9  # about 2 s of capture
    speed = span_s / 0.8  # -> about 0.8 s of replay

    async def main() -> float:
        config = SimulatorConfig(mode="replay", captures=[cap], speed=speed)
        async with running(config) as sim, ws_connect(f"{sim.ws_url}/ws/btcusdt@bookTicker") as ws:
            await ws.recv()
            t0 = asyncio.get_running_loop().time()
            assert await sim.wait_replay_done(10)
            return asyncio.get_running_loop().time() - t0

    assert 0.6 < asyncio.run(main()) < 2.0


def test_producer_pauses_while_no_client_subscribes(btc_capture: Path, tmp_path: Path) -> None:
    cap = small_capture(btc_capture, tmp_path / "small.gz", lines=400)  # 2 s of capture
    trades = of_stream(capture_lines(cap), "trade")

    async def main() -> None:
        async with running(SimulatorConfig(mode="replay", captures=[cap], speed=4)) as sim:
            assert sim.stats["frames_produced"] == 0, "nothing before the first subscription"
            async with ws_connect(f"{sim.ws_url}/ws/btcusdt@trade") as ws:
                first = json.loads(await ws.recv())
            await asyncio.sleep(0.2)
            produced = sim.stats["frames_produced"]
            await asyncio.sleep(0.3)
            assert sim.stats["frames_produced"] == produced and not sim.stats["finished"]
            async with ws_connect(f"{sim.ws_url}/ws/btcusdt@trade") as ws:
                resumed = json.loads(await ws.recv())
                assert await sim.wait_replay_done(10)
            assert first["t"] == trades[0]["t"] < resumed["t"] <= trades[-1]["t"]
            assert sim.stats["connections"] == 2

    asyncio.run(main())
