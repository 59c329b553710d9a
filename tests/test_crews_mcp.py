"""Crew agents given an external MCP server's tools (``crews.mcp_servers``): a real MCP server
over Streamable HTTP on 127.0.0.1, its allowed tool offered to the named agent only, and
called by the scripted model."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from mcp.server.fastmcp import FastMCP

from flowdesk.agents.scripted import ScriptedLLM, react_final, react_tool_step
from flowdesk.crews.runner import run_crew
from flowdesk.crews.settings import McpServerSettings
from flowdesk.tools.context import ToolContext, set_context
from test_crews_wiring import build_desk

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def external_mcp() -> Iterator[str]:
    mcp = FastMCP("external", host="127.0.0.1")

    @mcp.tool()
    def shout(text: str) -> str:
        """Upper-case the text."""
        return text.upper() + "!"

    @mcp.tool()
    def whisper(text: str) -> str:
        """Lower-case the text."""
        return text.lower()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(mcp.streamable_http_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/mcp"
    server.should_exit = True
    thread.join(5)


def test_agent_gets_and_calls_external_mcp_tools(btc_capture: Path, tmp_path: Path, external_mcp: str) -> None:
    settings, store = build_desk(btc_capture, tmp_path)
    set_context(ToolContext(settings=settings, connection=store.connection))
    server = McpServerSettings(name="ext", transport="http", url=external_mcp, tools=("shout",),
                               agents=("market_researcher",))
    settings = dataclasses.replace(settings, crews=dataclasses.replace(settings.crews, mcp_servers=(server,)))
    tool = "ext_shout"
    llm = ScriptedLLM(model="replay", provider="scripted", steps=[
        react_final("flow"), react_final("risk"),
        react_tool_step(tool, {"text": "btc briefing"}), react_final("DONE"),
    ])
    try:
        result = run_crew("intelligence", settings, inputs={"symbol": "BTCUSDT"}, llm=llm)
        assert result.status == "ok" and result.output == "DONE", result.error
        first, researcher = llm.received[0][0]["content"], llm.received[2][0]["content"]
        assert tool not in first, "only the agent the settings name gets the server"
        assert f"Tool Name: {tool}" in researcher and "whisper" not in researcher, "only the allowed tool"
        observation = llm.received[3][-2]["content"]
        assert "BTC BRIEFING!" in observation, "the external tool ran and its answer reached the agent"
        assert [(c["name"], c["args"], c["ok"]) for c in result.tool_calls] == [(tool, {"text": "btc briefing"}, True)]
    finally:
        set_context(None)
        store.close()
