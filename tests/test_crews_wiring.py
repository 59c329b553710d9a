"""Each YAML crew loads, its agents call registry tools with valid arguments, and it produces its
output: driven by a scripted language model that replays recorded ReAct steps (tool calls in
the text protocol, then a final answer). Also: a YAML naming an unknown tool fails at load
with a clear message, and a shadow crew run can never apply a fix whatever the agent asks."""

from __future__ import annotations

import gzip
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowdesk.agents.scripted import ScriptedLLM, react_final, react_tool_step
from flowdesk.crews.config import CREWS_DIR, CrewConfigError, load_crew_config
from flowdesk.crews.runner import run_crew
from flowdesk.dataops.journal import Journal
from flowdesk.records import MarkFunding, OpenInterest, Quote, Trade
from flowdesk.settings import Settings, load_settings
from flowdesk.storage.store import Store
from flowdesk.storage.writer import BatchWriter
from flowdesk.streaming.venues import binance_usdm as bn
from flowdesk.tools.context import ToolContext, set_context

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CAPTURE_LINES = 15_000


def build_desk(capture: Path, data_dir: Path, symbols: str = "BTCUSDT") -> tuple[Settings, Store]:
    """A database holding the first lines of the real BTCUSDT capture, parsed by the venue
    parser and written by the writer, plus one funding and one open-interest row (the capture
    has none) and the instrument's tick size."""
    settings = load_settings(env={"FLOWDESK_DATA_DIR": str(data_dir), "FLOWDESK_SYMBOLS": symbols})
    store = Store(settings.db_path)
    rows: dict[type, list[Any]] = {Trade: [], Quote: []}
    with gzip.open(capture, "rt") as fh:
        for _, line in zip(range(CAPTURE_LINES), fh, strict=False):
            ns, raw = line.split(" ", 1)
            if '"stream"' not in raw[:12]:
                continue
            for rec in bn.parse_message(raw, int(ns)):
                if type(rec) in rows:
                    rows[type(rec)].append(rec)
    last = rows[Trade][-1]
    rows[MarkFunding] = [MarkFunding("binance", "usdm", "BTCUSDT", last.price, last.price, 0.0001,
                                     last.ts + 3_600_000, last.ts, last.recv_ns)]
    rows[OpenInterest] = [OpenInterest("binance", "usdm", "BTCUSDT", 80_000.0, None, last.ts, last.recv_ns)]
    BatchWriter(store).write_batch_sync(rows)
    store.connection.execute("INSERT INTO instruments VALUES ('binance', 'usdm', 'BTCUSDT', 'BTCUSDT', 0.1, 0.001, "
                             "'TRADING', now()::TIMESTAMP)")
    return settings, store


@pytest.fixture
def desk(btc_capture: Path, tmp_path: Path) -> Iterator[tuple[Settings, Store]]:
    settings, store = build_desk(btc_capture, tmp_path)
    context = ToolContext(settings=settings, connection=store.connection)
    set_context(context)
    yield settings, store
    set_context(None)
    context.close()
    store.close()


#: crew -> recorded steps: per task one tool call with valid arguments, then the final answer
SCRIPTS: dict[str, list[tuple[str, dict[str, Any], str]]] = {
    "intelligence": [
        ("get_orderflow_metrics", {"symbol": "BTCUSDT", "timeframe": "1m", "max_bars": 5}, "delta positive"),
        ("get_funding_and_oi", {"symbol": "BTCUSDT", "window": "24h"}, "funding 0.01 %"),
        ("get_market_snapshot", {"symbol": "BTCUSDT"}, "BRIEFING: BTCUSDT bid 61800"),
    ],
    "analytics": [
        ("list_models", {}, "models listed"),
        ("get_orderflow_metrics", {"symbol": "BTCUSDT", "timeframe": "5m"}, "REGIME: range"),
    ],
    "data_ops": [
        ("get_streaming_status", {}, "no collector in this process"),
        ("run_data_ops", {"workflows": ["validate"], "shadow": False}, "findings listed"),
        ("run_data_ops", {"workflows": ["fill_gaps"], "shadow": False}, "nothing to fill"),
        ("get_quality_report", {"window": "24h"}, "REPORT: health as measured"),
    ],
}


def _script(crew: str) -> ScriptedLLM:
    steps: list[str] = []
    for tool, args, answer in SCRIPTS[crew]:
        steps += [react_tool_step(tool, args), react_final(answer)]
    return ScriptedLLM(model="replay", provider="scripted", steps=steps)


@pytest.mark.parametrize("crew", sorted(SCRIPTS))
def test_yaml_crew_runs_registry_tools(crew: str, desk: tuple[Settings, Store]) -> None:
    settings, store = desk
    config = load_crew_config(crew)
    llm = _script(crew)
    journal = Journal(store.connection)
    result = run_crew(crew, settings, shadow=True, inputs={"symbol": "btcusdt"}, llm=llm, journal=journal)
    assert result.status == "ok", result.error
    assert result.output == SCRIPTS[crew][-1][2], "the crew's output is its last task's answer"
    assert llm.steps == [], "every recorded step was used"
    called = [(c["name"], c["ok"], c["error"]) for c in result.tool_calls]
    assert called == [(tool, True, None) for tool, _, _ in SCRIPTS[crew]], "tools called with valid arguments"
    for (_tool, args, _), call in zip(SCRIPTS[crew], result.tool_calls, strict=True):
        sent = {k: v for k, v in args.items() if k != "shadow"}
        assert {k: call["args"][k] for k in sent} == sent
    for task, prompt in zip(config.tasks.values(), llm.received[::2], strict=True):
        system = prompt[0]["content"]
        for tool in config.agents[task["agent"]].get("tools") or []:
            assert f"Tool Name: {tool}" in system, f"{tool} given to {task['agent']} from agents.yaml"
    assert [t["name"] for t in result.tasks] == list(config.tasks)
    row = store.connection.execute("SELECT crew, llm, status, mode, output FROM crew_runs WHERE run_id = ?",
                                   [result.run_id]).fetchone()
    assert row == (crew, "scripted/replay", "ok", "shadow", result.output)
    journal.close()


def test_shadow_crew_run_cannot_apply_fixes(desk: tuple[Settings, Store]) -> None:
    """The agent asks for shadow=false; the run is a shadow run, so the tool runs in shadow."""
    settings, store = desk
    result = run_crew("data_ops", settings, shadow=True, llm=_script("data_ops"))
    ops_calls = [c for c in result.tool_calls if c["name"] == "run_data_ops"]
    assert ops_calls and all(c["args"]["shadow"] is True for c in ops_calls)
    modes = store.connection.execute("SELECT DISTINCT mode FROM agent_actions").fetchall()
    assert modes == [("shadow",)]


def test_without_llm_the_plan_runs_and_says_so(desk: tuple[Settings, Store]) -> None:
    settings, store = desk
    result = run_crew("intelligence", settings, inputs={"symbol": "BTCUSDT"}, journal=Journal(store.connection))
    assert result.status == "ok" and result.llm == "none"
    assert "Produced without a language model" in result.output
    config = load_crew_config("intelligence")
    planned = [c.tool for t in config.tasks for c in config.calls(t)]
    assert [c["name"] for c in result.tool_calls] == planned
    last = store.connection.execute("SELECT price FROM trades ORDER BY ts DESC, trade_id DESC LIMIT 1").fetchone()[0]
    assert f"Last trade {last:,.1f}".rstrip("0").rstrip(".") in result.output, "numbers are copied from the tools"
    assert "## Unavailable" in result.output and "stream_liquidations" not in result.output.split("## Unavailable")[1]


def test_unknown_tool_fails_at_load_with_a_clear_message(tmp_path: Path) -> None:
    base = tmp_path / "intelligence"
    shutil.copytree(CREWS_DIR / "intelligence", base)
    agents = base / "config" / "agents.yaml"
    agents.write_text(agents.read_text().replace("tools: [get_funding_and_oi,", "tools: [get_funding_and_io,"))
    with pytest.raises(CrewConfigError) as err:
        load_crew_config("intelligence", base)
    msg = str(err.value)
    assert "agents.yaml" in msg and "agent 'risk_assessor'" in msg and "unknown tool 'get_funding_and_io'" in msg
    assert "get_funding_and_oi" in msg, "the message lists the known tools"

    from crewai.project import CrewBase

    from flowdesk.crews.base import FlowdeskCrew

    @CrewBase
    class BrokenCrew(FlowdeskCrew):
        crew_name = "intelligence"
        config_base = base
        agents_config = str(agents)
        tasks_config = str(base / "config" / "tasks.yaml")

    started = time.monotonic()
    with pytest.raises(CrewConfigError, match="unknown tool 'get_funding_and_io'"):
        BrokenCrew(llm=None)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("agent: flow_analyst", "agent: nobody"), "unknown agent 'nobody'"),
        (("context: [flow_analysis, risk_assessment]", "context: [later_task]"), "context task 'later_task'"),
        (("tool: get_key_levels", "tool: get_footprint"), "not among the agent's tools"),
        (("args: {symbol: \"{symbol}\", limit: 20, window: 1h}", "args: {limit: 20}"), "needs argument(s) ['symbol']"),
    ],
)
def test_task_mistakes_are_named(tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    base = tmp_path / "intelligence"
    shutil.copytree(CREWS_DIR / "intelligence", base)
    tasks = base / "config" / "tasks.yaml"
    assert edit[0] in tasks.read_text()
    tasks.write_text(tasks.read_text().replace(edit[0], edit[1], 1))
    with pytest.raises(CrewConfigError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(").replace(")", r"\)")):
        load_crew_config("intelligence", base)
