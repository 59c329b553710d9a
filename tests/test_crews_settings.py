"""The ``crews`` settings section, the scheduler inside ``flowdesk serve``, and ``flowdesk crew``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from flowdesk.cli import main as flowdesk
from flowdesk.crews import scheduler
from flowdesk.crews.cli import parse_inputs
from flowdesk.crews.config import CrewConfigError
from flowdesk.settings import SettingsError, load_settings
from flowdesk.tools.context import ToolContext, set_context
from test_crews_wiring import build_desk

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_defaults_are_safe() -> None:
    c = load_settings(env={}).crews
    assert (c.enabled, c.shadow, c.llm.provider, c.llm.label) == (False, True, "none", "none")
    assert c.schedules == {"validate": 300.0, "fill_gaps": 900.0, "maintain": 86400.0, "intelligence": 0.0,
                           "analytics": 0.0}
    assert c.dataops.interpolate is False and c.mcp_servers == ()


def test_yaml_and_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("crews:\n  enabled: true\n  symbols: [ethusdt]\n  llm: {provider: openai, model: m1, "
                   "base_url: 'http://127.0.0.1:8080/v1/'}\n  schedules: {validate: 60}\n  dataops: {interpolate: true}\n"
                   "  mcp_servers:\n    - {name: web, url: 'http://127.0.0.1:9/mcp', tools: [search], agents: [market_researcher]}\n")
    c = load_settings(cfg, env={"FLOWDESK_CREWS_SHADOW": "false", "FLOWDESK_CREWS_LLM_MODEL": "m2"}).crews
    assert c.enabled and not c.shadow and c.symbols == ("ETHUSDT",)
    assert (c.llm.provider, c.llm.model, c.llm.base_url) == ("openai", "m2", "http://127.0.0.1:8080/v1")
    assert c.schedules["validate"] == 60 and c.schedules["fill_gaps"] == 900 and c.dataops.interpolate
    assert c.mcp_servers[0].transport == "http" and c.mcp_servers[0].agents == ("market_researcher",)


@pytest.mark.parametrize(("yaml_text", "key"), [
    ("crews: {llm: {provider: watson}}", "'crews.llm.provider'"),
    ("crews: {llm: {provider: anthropic}}", "'crews.llm.model'"),
    ("crews: {llm: {provider: openai, model: x, base_url: 'ftp://x'}}", "'crews.llm.base_url'"),
    ("crews: {llm: {api_key_env: 'not a name'}}", "'crews.llm.api_key_env'"),
    ("crews: {schedules: {validate: -5}}", "'crews.schedules.validate'"),
    ("crews: {schedules: {validate: 2}}", "'crews.schedules.validate'"),
    ("crews: {schedules: {cleanup: 60}}", "'crews.schedules.cleanup'"),
    ("crews: {dataops: {outlier_pct: 0}}", "'crews.dataops.outlier_pct'"),
    ("crews: {dataops: {max_fill_trades: 1.5}}", "'crews.dataops.max_fill_trades'"),
    ("crews: {dataops: {interpolate: maybe}}", "'crews.dataops.interpolate'"),
    ("crews: {shadow: perhaps}", "'crews.shadow'"),
    ("crews: {colour: blue}", "'crews.colour'"),
    ("crews: {symbols: [BTC-USDT!]}", "'crews.symbols'"),
    ("crews: {mcp_servers: [{transport: stdio}]}", r"'crews.mcp_servers\[0\].command'"),
    ("crews: {mcp_servers: [{url: 'x'}]}", r"'crews.mcp_servers\[0\].url'"),
])
def test_bad_values_name_the_key(tmp_path: Path, yaml_text: str, key: str) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml_text + "\n")
    with pytest.raises(SettingsError, match=key):
        load_settings(cfg, env={})


def test_inputs_parsing() -> None:
    assert parse_inputs(["symbol=ETHUSDT", "exchange=binance_usdm"]) == {"symbol": "ETHUSDT", "exchange": "binance_usdm"}
    assert parse_inputs(['{"symbol": "BTCUSDT"}']) == {"symbol": "BTCUSDT"}
    with pytest.raises(CrewConfigError, match="KEY=VALUE"):
        parse_inputs(["symbol"])


def test_service_is_off_unless_enabled(tmp_path: Path, btc_capture: Path) -> None:
    assert scheduler.service(load_settings(env={}), None) is None
    settings, store = build_desk(btc_capture, tmp_path)
    set_context(ToolContext(settings=settings, connection=store.connection))
    try:
        cfg = tmp_path / "on.yaml"
        cfg.write_text(f"data_dir: {tmp_path}\nsymbols: [BTCUSDT]\ncrews: {{enabled: true}}\n")
        assert callable(scheduler.service(load_settings(cfg, env={}), None))
    finally:
        set_context(None)
        store.close()


def test_scheduler_runs_jobs_on_their_period(tmp_path: Path, btc_capture: Path) -> None:
    cfg = tmp_path / "s.yaml"
    cfg.write_text(f"data_dir: {tmp_path}\nsymbols: [BTCUSDT]\ncrews:\n  schedules: {{validate: 5, fill_gaps: 0, "
                   "maintain: 0, intelligence: 5}\n")
    _, store = build_desk(btc_capture, tmp_path)
    settings = load_settings(cfg, env={})
    set_context(ToolContext(settings=settings, connection=store.connection))
    sched = scheduler.Scheduler(settings, store.connection, None, start_delay_s=0.01)

    async def run_until_two_jobs(timeout: float) -> None:
        stop = asyncio.Event()
        task = asyncio.ensure_future(sched.run(stop))
        deadline = asyncio.get_running_loop().time() + timeout
        while len(sched.runs) < 2 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        stop.set()
        await task

    try:
        asyncio.run(run_until_two_jobs(30))
        assert [(r["job"], r["ok"]) for r in sched.runs] == [("validate", True), ("intelligence", True)]
        rows = store.connection.execute("SELECT crew, workflow, trigger, mode, llm FROM crew_runs ORDER BY started_ts").fetchall()
        assert rows == [("data_ops", "validate", "schedule", "shadow", "none"),
                        ("intelligence", None, "schedule", "shadow", "none")]
    finally:
        set_context(None)
        store.close()


def test_cli_list_and_run(tmp_path: Path, btc_capture: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, store = build_desk(btc_capture, tmp_path)
    store.close()
    flowdesk(["crew", "list", "--json", "--data-dir", str(tmp_path)])
    listed = json.loads(capsys.readouterr().out)
    assert [c["crew"] for c in listed["crews"]] == ["data_ops", "analytics", "intelligence"]
    assert listed["crews"][2]["agents"]["risk_assessor"]["tools"] == ["get_funding_and_oi", "get_quality_report",
                                                                      "get_market_snapshot"]
    flowdesk(["crew", "run", "intelligence", "--data-dir", str(tmp_path), "--symbols", "BTCUSDT", "--inputs", "symbol=btcusdt"])
    out = capsys.readouterr()
    assert out.out.startswith("# Market briefing: BTCUSDT") and "llm none" in out.err
    flowdesk(["crew", "run", "data_ops", "--shadow", "--json", "--data-dir", str(tmp_path), "--symbols", "BTCUSDT"])
    run = json.loads(capsys.readouterr().out)
    assert run["status"] == "ok" and run["mode"] == "shadow" and run["run_id"]
    with pytest.raises(SystemExit) as exc:
        flowdesk(["crew", "run", "intelligence", "--data-dir", str(tmp_path), "--inputs", "symbol"])
    assert exc.value.code == 2
