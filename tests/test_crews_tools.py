"""The crew tools (run_data_ops, get_quality_report, get_crew_runs, get_market_briefing) in
process and through the REST and MCP surfaces generated from the registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from flowdesk.agents.scripted import ScriptedLLM, react_final, react_tool_step
from flowdesk.crews.runner import run_crew
from flowdesk.dataops.journal import Journal
from flowdesk.server.mcp import build_mcp
from flowdesk.server.rest import rest_routes
from flowdesk.settings import Settings
from flowdesk.storage.store import Store
from flowdesk.tools.context import ToolContext, set_context
from flowdesk.tools.crews import (
    get_crew_runs,
    get_market_briefing,
    get_quality_report,
    run_data_ops,
)
from flowdesk.tools.registry import REGISTRY, ToolError
from test_crews_wiring import build_desk

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
CREW_TOOLS = {"run_data_ops", "get_quality_report", "get_crew_runs", "get_market_briefing"}


@pytest.fixture
def desk(btc_capture: Path, tmp_path: Path) -> Iterator[tuple[Settings, Store]]:
    settings, store = build_desk(btc_capture, tmp_path)
    context = ToolContext(settings=settings, connection=store.connection)
    set_context(context)
    yield settings, store
    set_context(None)
    context.close()
    store.close()


def test_quality_report_and_runs_after_a_run(desk: tuple[Settings, Store]) -> None:
    out = run_data_ops(shadow=True)
    assert out["mode"] == "shadow" and out["workflows"] == ["validate", "fill_gaps"]
    report = get_quality_report("1h")
    assert report["health"]["score"] == out["health"]["score"]
    assert report["open_issues"]["total"] == out["findings"]["total"]
    assert report["actions_in_window"]["by_mode_and_status"] == {"shadow:proposed": out["actions"]["total"]}
    assert {r["workflow"] for r in report["last_runs"]} == {"validate,fill_gaps"}
    assert report["source"]["window"] == "1h" and report["source"]["as_of"] is not None
    runs = get_crew_runs(limit=5)
    assert runs["count"] == 1 and runs["runs"][0]["run_id"] == out["run_id"]
    assert runs["runs"][0]["summary"]["findings"]["total"] == out["findings"]["total"]
    assert runs["runs"][0]["trigger"] == "tool" and runs["runs"][0]["llm"] == "none"


@pytest.mark.parametrize(("call", "message"), [
    (lambda: get_quality_report("5 weeks"), "window must look like"),
    (lambda: get_quality_report("31d"), "at most 30d"),
    (lambda: get_crew_runs(limit=0), "between 1 and 200"),
    (lambda: run_data_ops(workflows=["vacuum"]), "unknown workflow"),
    (lambda: get_market_briefing("NOPEUSDT"), "unknown symbol 'NOPEUSDT'"),
])
def test_bad_arguments_are_tool_errors(desk: tuple[Settings, Store], call: object, message: str) -> None:
    with pytest.raises(ToolError, match=message):
        call()  # type: ignore[operator]


def test_briefing_is_a_template_and_links_the_latest_crew_briefing(desk: tuple[Settings, Store]) -> None:
    settings, store = desk
    first = get_market_briefing("btcusdt")
    assert first["produced_by"] == "template (no language model)"
    assert first["briefing"].startswith("# Market briefing: BTCUSDT on binance_usdm")
    assert "Produced without a language model" in first["briefing"]
    assert "get_market_snapshot" in first["tools_used"] and first["latest_crew_briefing"] is None
    assert first["source"]["as_of"] is not None and first["source"]["data_age_s"] > 0
    steps = [react_tool_step("get_orderflow_metrics", {"symbol": "BTCUSDT", "timeframe": "1m"}), react_final("a"),
             react_tool_step("get_funding_and_oi", {"symbol": "BTCUSDT"}), react_final("b"),
             react_tool_step("get_key_levels", {"symbol": "BTCUSDT"}), react_final("THE CREW'S BRIEFING")]
    run = run_crew("intelligence", settings, inputs={"symbol": "BTCUSDT"}, journal=Journal(store.connection),
                   llm=ScriptedLLM(model="replay", provider="scripted", steps=steps))
    latest = get_market_briefing("BTCUSDT")["latest_crew_briefing"]
    assert latest["run_id"] == run.run_id and latest["briefing"] == "THE CREW'S BRIEFING"
    assert latest["llm"] == "scripted/replay"


def test_rest_and_mcp_surfaces(desk: tuple[Settings, Store]) -> None:
    mcp = build_mcp()
    assert {t.name for t in mcp._tool_manager.list_tools()} >= CREW_TOOLS
    assert REGISTRY["run_data_ops"].read_only is False and REGISTRY["get_quality_report"].read_only
    client = TestClient(Starlette(routes=rest_routes(mcp)))
    listed = {t["name"]: t for t in client.get("/api/tools").json()}
    assert listed["run_data_ops"]["input_schema"]["properties"]["shadow"]["default"] is True
    ok = client.post("/api/tools/run_data_ops", json={"shadow": True, "workflows": ["validate"]})
    assert ok.status_code == 200 and ok.json()["workflows"] == ["validate"]
    bad = client.post("/api/tools/run_data_ops", json={"workflows": ["nope"]})
    assert bad.status_code == 400 and "unknown workflow" in bad.json()["error"]
    assert client.get("/api/tools/get_crew_runs?limit=3").json()["count"] == 1


def test_run_data_ops_needs_a_writable_database(desk: tuple[Settings, Store], tmp_path: Path) -> None:
    settings, store = desk
    path = settings.db_path
    set_context(None)
    store.close()
    ro = Store(path, read_only=True)
    set_context(ToolContext(settings=settings, connection=ro.connection))
    try:
        with pytest.raises(ToolError, match="flowdesk serve"):
            run_data_ops()
        assert get_quality_report()["open_issues"]["total"] == 0, "the read tools still answer"
    finally:
        ro.close()
