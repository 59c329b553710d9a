"""End to end: simulator replaying the real BTCUSDT capture -> `flowdesk serve` -> DuckDB ->
the MCP SDK's own client over Streamable HTTP, SSE and stdio (proxied, then read-only)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from capture_facts import CaptureFacts, capture_facts

pytestmark = pytest.mark.e2e
FLOWDESK = str(Path(sys.executable).parent / "flowdesk")


def _env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(FLOWDESK_DATA_DIR=str(data_dir), FLOWDESK_PORT="0", FLOWDESK_SYMBOLS="BTCUSDT")
    return env


def _wait_for_server(proc: subprocess.Popen, data_dir: Path, timeout: float = 60) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited early: {proc.stderr.read() if proc.stderr else ''}")
        info = data_dir / "serve.json"
        if info.exists():
            url = json.loads(info.read_text())["url"]
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    return url
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    raise AssertionError("server did not start")


def _wait_for_trades(url: str, expected: int, timeout: float = 120) -> dict[str, Any]:
    deadline = time.time() + timeout
    status: dict[str, Any] = {}
    while time.time() < deadline:
        status = httpx.get(f"{url}/api/tools/get_streaming_status", timeout=10).json()
        if status["tables"]["trades"]["rows"] >= expected and status["tables"]["quotes"]["rows"] > 0:
            return status
        time.sleep(0.3)
    raise AssertionError(f"only {status.get('tables', {}).get('trades')} trades stored")


def _structured(result: Any) -> dict[str, Any]:
    assert not result.isError, result.content
    return result.structuredContent


async def _check_session(session: ClientSession, facts: CaptureFacts) -> None:
    await session.initialize()
    tools = {t.name: t for t in (await session.list_tools()).tools}
    assert {"get_market_snapshot", "get_streaming_status", "get_recent_trades"} <= set(tools)
    assert tools["get_recent_trades"].annotations.readOnlyHint is True

    trades = _structured(await session.call_tool("get_recent_trades", {"symbol": "BTCUSDT", "limit": 1000}))
    assert trades["count"] == 1000
    assert trades["trades"][0]["trade_id"] == facts.last_trade_id
    assert trades["trades"][0]["price"] == facts.last_trade_price
    assert [t["trade_id"] for t in trades["trades"]] == facts.trade_ids[::-1][:1000]

    snap = _structured(await session.call_tool("get_market_snapshot", {"symbol": "BTCUSDT", "exchange": "binance_usdm"}))
    assert snap["last_price"] == facts.last_trade_price
    assert (snap["bid"], snap["ask"]) == (facts.last_bid, facts.last_ask)
    assert snap["source"]["symbol"] == "BTCUSDT" and snap["source"]["as_of"]

    bad = await session.call_tool("get_recent_trades", {"symbol": "NOPEUSDT"})
    assert bad.isError and "unknown symbol" in bad.content[0].text
    bad = await session.call_tool("get_recent_trades", {"symbol": "BTCUSDT", "limit": 5000})
    assert bad.isError and "between 1 and 1000" in bad.content[0].text


async def _over_http(url: str, facts: CaptureFacts) -> None:
    async with streamable_http_client(f"{url}/mcp") as (read, write, _), ClientSession(read, write) as session:
        await _check_session(session, facts)


async def _over_sse(url: str, facts: CaptureFacts) -> None:
    async with sse_client(f"{url}/sse") as (read, write), ClientSession(read, write) as session:
        await _check_session(session, facts)


async def _over_stdio(env: dict[str, str]) -> dict[str, Any]:
    params = StdioServerParameters(command=FLOWDESK, args=["mcp"], env=env)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        status = _structured(await session.call_tool("get_streaming_status", {}))
        trades = _structured(await session.call_tool("get_recent_trades", {"symbol": "BTCUSDT", "limit": 3}))
        return {"status": status, "trades": trades}


def test_serve_replay_to_mcp_clients(btc_capture: Path, tmp_path: Path) -> None:
    facts = capture_facts(btc_capture)
    env = _env(tmp_path)
    cmd = [FLOWDESK, "serve", "--simulate", "--capture", str(btc_capture), "--speed", "0"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = _wait_for_server(proc, tmp_path)
        status = _wait_for_trades(url, facts.trades)
        assert status["tables"]["trades"]["rows"] == facts.trades
        feed = status["feeds"][0]
        assert feed["connected"] and feed["malformed_frames"] == 0 and feed["unknown_messages"] == 0
        assert httpx.get(f"{url}/healthz").json()["db"]["schema_version"] >= 1

        asyncio.run(_over_http(url, facts))
        asyncio.run(_over_sse(url, facts))
        proxied = asyncio.run(_over_stdio(env))
        assert proxied["status"]["collector_running"] is True
        assert proxied["trades"]["trades"][0]["trade_id"] == facts.last_trade_id

        profile = httpx.get(f"{url}/api/tools/get_volume_profile", params={"symbol": "BTCUSDT"}).json()
        assert profile["volume"] == pytest.approx(facts.volume, abs=1e-6)
        assert profile["buy_volume"] - profile["sell_volume"] == pytest.approx(facts.signed_volume, abs=1e-6)
        depth = httpx.get(
            f"{url}/api/tools/get_orderbook_depth_delta",
            params={"symbol": "BTCUSDT", "percent": 1, "windowSec": 1, "lookback": 3600},
        ).json()
        assert depth["summary"]["latest"]["time"].startswith("2024-08-0"), "book samples follow the venue clock"

        r = httpx.get(f"{url}/api/tools/get_recent_trades", params={"symbol": "BTCUSDT", "limit": "abc"})
        assert r.status_code == 400 and "limit" in r.json()["error"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    assert not (tmp_path / "serve.json").exists()

    offline = asyncio.run(_over_stdio(env))  # no server now: read-only over the stored file
    assert offline["status"]["collector_running"] is False
    assert offline["status"]["tables"]["trades"]["rows"] == facts.trades
    assert offline["trades"]["trades"][0]["price"] == facts.last_trade_price


def test_serve_simulate_runs_all_nine_markets(tmp_path: Path) -> None:
    """`flowdesk serve --simulate` with the default settings: one simulator per venue, all nine
    feeds connected and parsing cleanly, and the cross-exchange tools see every venue."""
    env = _env(tmp_path)
    proc = subprocess.Popen([FLOWDESK, "serve", "--simulate"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        url = _wait_for_server(proc, tmp_path)
        deadline, prices = time.time() + 90, {}
        while time.time() < deadline:
            r = httpx.get(f"{url}/api/tools/get_prices", params={"symbol": "BTCUSDT"}, timeout=10)
            prices = r.json() if r.status_code == 200 else {}
            if len(prices.get("venues", {})) == 9 and all(v.get("bid") for v in prices["venues"].values()):
                break
            time.sleep(0.5)
        assert sorted(prices.get("venues", {})) == sorted([
            "binance_usdm", "binance_spot", "bybit_linear", "bybit_spot", "okx_swap", "gateio_futures",
            "hyperliquid_perp", "kucoin_spot", "kucoin_futures"]), prices
        status = httpx.get(f"{url}/api/tools/get_streaming_status", timeout=10).json()
        feeds = {f["venue"]: f for f in status["feeds"]}
        assert len(feeds) == 9
        for name, f in feeds.items():
            assert f["connected"] and f["messages"] > 0, (name, f["last_error"])
            assert f["malformed_frames"] == 0 and f["unknown_messages"] == 0, (name, f["last_error"])
        assert "MarkFunding" in feeds["binance_spot"]["unavailable"]
        arb = httpx.get(f"{url}/api/tools/get_arbitrage_opportunities",
                        params={"symbol": "BTCUSDT", "min_profit_bps": -1000}, timeout=10).json()
        assert arb["opportunities"], arb
        for o in arb["opportunities"]:  # net = gross minus both venues' taker fees
            assert o["net_bps"] == pytest.approx(o["gross_bps"] - o["fees_bps"], abs=0.02)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
