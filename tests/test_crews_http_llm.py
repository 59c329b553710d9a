"""A crew through CrewAI's real HTTP LLM client, against an OpenAI-compatible test server on
127.0.0.1: the model selected from settings (``provider: openai`` + ``base_url``, key from the
environment variable the settings name), native tool calls with registry schemas, the
registry tools executed with the arguments the server chose, and the server's answer as the
crew's output."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from flowdesk.agents.llm import build_llm
from flowdesk.crews.config import load_crew_config
from flowdesk.crews.runner import run_crew
from flowdesk.crews.settings import LLMSettings
from flowdesk.dataops.journal import Journal
from flowdesk.settings import SettingsError
from flowdesk.tools.context import ToolContext, set_context
from test_crews_wiring import build_desk

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

#: the arguments the fake model sends for each tool it may pick (the first offered it knows)
CANNED = {
    "get_orderflow_metrics": {"symbol": "BTCUSDT", "timeframe": "1m", "max_bars": 3},
    "get_funding_and_oi": {"symbol": "BTCUSDT", "window": "24h", "points": 4},
    "get_market_snapshot": {"symbol": "BTCUSDT"},
}


class FakeModel(BaseHTTPRequestHandler):
    """``POST /v1/chat/completions``: a tool call first, then an answer naming the tool result."""

    requests: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeModel.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        last = body["messages"][-1]
        if last["role"] == "tool":
            msg = {"role": "assistant", "content": f"ANSWER after {last['name']}: {len(last['content'])} chars read"}
            finish = "stop"
        else:
            offered = [t["function"]["name"] for t in body.get("tools", [])]
            name = next(n for n in offered if n in CANNED)
            call = {"id": f"call_{len(FakeModel.requests)}", "type": "function",
                    "function": {"name": name, "arguments": json.dumps(CANNED[name])}}
            msg, finish = {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
        out = {"id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": body["model"],
               "choices": [{"index": 0, "message": msg, "finish_reason": finish}],
               "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def model_server() -> Iterator[str]:
    FakeModel.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeModel)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_intelligence_crew_through_openai_compatible_server(btc_capture: Path, tmp_path: Path, model_server: str) -> None:
    settings, store = build_desk(btc_capture, tmp_path)
    set_context(ToolContext(settings=settings, connection=store.connection))
    try:
        cfg = LLMSettings(provider="openai", model="local-test", base_url=model_server, api_key_env="FD_TEST_KEY")
        llm = build_llm(cfg, env={"FD_TEST_KEY": "sk-test-123"})
        result = run_crew("intelligence", settings, inputs={"symbol": "BTCUSDT"}, llm=llm,
                          journal=Journal(store.connection))
        assert result.status == "ok", result.error
        assert result.llm == "openai/local-test"
        config = load_crew_config("intelligence")
        expected_tools = ["get_orderflow_metrics", "get_funding_and_oi", "get_market_snapshot"]
        assert [(c["name"], c["ok"]) for c in result.tool_calls] == [(t, True) for t in expected_tools]
        for call in result.tool_calls:
            assert {k: call["args"][k] for k in CANNED[call["name"]]} == CANNED[call["name"]]
        reqs = FakeModel.requests
        assert len(reqs) == 6 and {r["path"] for r in reqs} == {"/v1/chat/completions"}
        assert {r["auth"] for r in reqs} == {"Bearer sk-test-123"}, "key read from the variable the settings name"
        assert {r["body"]["model"] for r in reqs} == {"local-test"}
        for req, task in zip(reqs[::2], config.tasks.values(), strict=True):
            offered = {t["function"]["name"]: t["function"] for t in req["body"]["tools"]}
            assert set(offered) == set(config.agents[task["agent"]]["tools"])
            snap = offered.get("get_market_snapshot")
            if snap is not None:
                assert "Current market picture" in snap["description"], "the registry docstring is the description"
                assert snap["parameters"]["properties"]["symbol"]["type"] == "string"
        assert result.output.startswith("ANSWER after get_market_snapshot: "), "the server's answer is the output"
        assert reqs[-1]["body"]["messages"][-1]["name"] == "get_market_snapshot"
        assert '"last_price"' in reqs[-1]["body"]["messages"][-1]["content"], "the tool's real result reached the model"
        stored = store.connection.execute("SELECT llm, output FROM crew_runs WHERE run_id = ?", [result.run_id]).fetchone()
        assert stored == ("openai/local-test", result.output)
    finally:
        set_context(None)
        store.close()


def test_missing_api_key_variable_is_named() -> None:
    cfg = LLMSettings(provider="openai", model="gpt-4o-mini", api_key_env="FD_NOT_SET")
    with pytest.raises(SettingsError, match="FD_NOT_SET"):
        build_llm(cfg, env={})
    assert build_llm(LLMSettings(), env={}) is None, "provider none: no language model"
