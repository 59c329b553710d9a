"""``flowdesk crew``: list the crews, run one, or run the schedule.

    flowdesk crew list [--json]
    flowdesk crew run <crew> [--shadow | --live] [--inputs symbol=BTCUSDT ...] [--no-llm] [--json]
    flowdesk crew schedule

``crew run`` opens the database itself when no ``flowdesk serve`` holds it, and records the
run in ``crew_runs``. While a server runs on the same data directory, the crew's tools are
called on that server over its REST API (so they see live data and ``run_data_ops`` uses the
server's writer); the crew run itself is then not recorded (the server's data-ops runs are).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Iterator
from typing import Any

from flowdesk.agents import quiet_crewai
from flowdesk.crews.catalog import CREWS
from flowdesk.crews.config import CrewConfigError, load_crew_config
from flowdesk.settings import Settings, load_settings


def add_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``crew`` with its actions to the ``flowdesk`` sub-commands."""
    p = subparsers.add_parser("crew", help="CrewAI crews and data-ops workflows: list, run, schedule")
    actions = p.add_subparsers(dest="crew_action", required=True)
    ls = actions.add_parser("list", help="the crews, their agents, tasks, tools and schedules")
    _common(ls)
    ls.add_argument("--json", action="store_true")
    run = actions.add_parser("run", help="run one crew now")
    _common(run)
    run.add_argument("crew", choices=sorted(CREWS))
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--shadow", dest="shadow", action="store_true", default=None,
                      help="propose actions, change nothing (default: crews.shadow)")
    mode.add_argument("--live", dest="shadow", action="store_false", help="apply the actions")
    run.add_argument("--inputs", nargs="*", default=[], metavar="KEY=VALUE",
                     help="crew inputs, e.g. symbol=ETHUSDT (or one JSON object)")
    run.add_argument("--no-llm", action="store_true", help="run the deterministic plan even if an LLM is configured")
    run.add_argument("--json", action="store_true", help="print the run as JSON")
    sched = actions.add_parser("schedule", help="run the scheduled workflows and crews until Ctrl-C")
    _common(sched)
    p.set_defaults(handler=main)
    return p


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML settings file (else FLOWDESK_CONFIG)")
    p.add_argument("--data-dir", help="data directory (else FLOWDESK_DATA_DIR, default ./data)")
    p.add_argument("--symbols", help="comma-separated symbols")


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {"data_dir": args.data_dir}
    if args.symbols:
        overrides["symbols"] = args.symbols.split(",")
    return load_settings(args.config, overrides=overrides)


def parse_inputs(items: list[str]) -> dict[str, Any]:
    """``["symbol=BTCUSDT"]`` or ``['{"symbol": "BTCUSDT"}']`` -> a dict."""
    if len(items) == 1 and items[0].lstrip().startswith("{"):
        value = json.loads(items[0])
        if not isinstance(value, dict):
            raise CrewConfigError("--inputs JSON must be an object")
        return value
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CrewConfigError(f"--inputs: expected KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def main(args: argparse.Namespace) -> None:
    quiet_crewai()
    handlers = {"list": cmd_list, "run": cmd_run, "schedule": cmd_schedule}
    try:
        handlers[args.crew_action](args)
    except CrewConfigError as exc:
        print(f"flowdesk crew: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_list(args: argparse.Namespace) -> None:
    settings = _settings(args)
    crews = []
    for name, info in CREWS.items():
        cfg = load_crew_config(name)
        crews.append({
            "crew": name,
            "description": info.description,
            "inputs": sorted(cfg.inputs()),
            "agents": {a: {"role": v["role"], "tools": v.get("tools") or []} for a, v in cfg.agents.items()},
            "tasks": {t: {"agent": v["agent"], "context": v.get("context") or [],
                          "calls": [c.tool for c in cfg.calls(t)]} for t, v in cfg.tasks.items()},
            "schedule_s": settings.crews.schedules.get(name, 0.0) if name != "data_ops" else
            {k: settings.crews.schedules[k] for k in ("validate", "fill_gaps", "maintain")},
        })
    if args.json:
        print(json.dumps({"llm": settings.crews.llm.label, "shadow": settings.crews.shadow,
                          "scheduler_enabled": settings.crews.enabled, "crews": crews}, indent=2))
        return
    print(f"llm: {settings.crews.llm.label}   mode: {'shadow' if settings.crews.shadow else 'live'}   "
          f"scheduler in serve: {'on' if settings.crews.enabled else 'off'}")
    for c in crews:
        print(f"\n{c['crew']}: {c['description']}  (inputs: {', '.join(c['inputs']) or 'none'}; schedule: {c['schedule_s']})")
        for a, v in c["agents"].items():
            print(f"  agent {a} ({v['role']}): {', '.join(v['tools'])}")
        for t, v in c["tasks"].items():
            print(f"  task  {t} -> {v['agent']}; plan: {', '.join(v['calls']) or '-'}")


@contextlib.contextmanager
def _backend(settings: Settings) -> Iterator[tuple[Any, Any, str | None]]:
    """(caller, journal, note): the server's REST API when one runs, else the database here."""
    from flowdesk.agents.calls import RestCaller, in_process
    from flowdesk.dataops.journal import Journal
    from flowdesk.server.app import read_serve_file
    from flowdesk.storage.store import Store
    from flowdesk.tools.context import ToolContext, set_context

    server = read_serve_file(settings.data_dir)
    if server is not None:
        yield RestCaller(server["url"]), None, f"tools called on the running server {server['url']}; run not recorded here"
        return
    store = Store(settings.db_path)
    context = ToolContext(settings=settings, connection=store.connection)
    set_context(context)
    journal = Journal(store.connection)
    try:
        yield in_process, journal, None
    finally:
        journal.close()
        set_context(None)
        context.close()
        store.close()


def cmd_run(args: argparse.Namespace) -> None:
    from flowdesk.agents.llm import build_llm
    from flowdesk.crews.runner import run_crew

    settings = _settings(args)
    shadow = settings.crews.shadow if args.shadow is None else args.shadow
    inputs = parse_inputs(args.inputs)
    llm = None if args.no_llm else build_llm(settings.crews.llm)
    with _backend(settings) as (caller, journal, note):
        result = run_crew(args.crew, settings, shadow=shadow, inputs=inputs, llm=llm, caller=caller,
                          journal=journal, trigger="cli")
    if args.json:
        print(json.dumps({**result.__dict__, "note": note}, indent=2, default=str))
    else:
        print(result.output or "")
        print(f"[crew {result.crew}: {result.status}, mode {result.mode}, llm {result.llm}, "
              f"{len(result.tool_calls)} tool call(s), run {result.run_id or '-'}]" + (f" ({note})" if note else ""),
              file=sys.stderr)
        if result.error:
            print(f"error: {result.error}", file=sys.stderr)
    if result.status != "ok":
        raise SystemExit(1)


def cmd_schedule(args: argparse.Namespace) -> None:
    from flowdesk.crews.scheduler import Scheduler
    from flowdesk.server.app import read_serve_file
    from flowdesk.storage.store import Store
    from flowdesk.tools.context import ToolContext, set_context

    settings = _settings(args)
    server = read_serve_file(settings.data_dir)
    if server is not None:
        print(f"flowdesk crew: `flowdesk serve` (pid {server['pid']}) holds {settings.data_dir}; set crews.enabled: true "
              "so it runs the schedule itself", file=sys.stderr)
        raise SystemExit(1)
    with Store(settings.db_path) as store:
        set_context(ToolContext(settings=settings, connection=store.connection))
        try:
            asyncio.run(_schedule(Scheduler(settings, store.connection, None, start_delay_s=1.0)))
        finally:
            set_context(None)


async def _schedule(scheduler: Any) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    print(f"crew scheduler running: {scheduler.periods} (Ctrl-C to stop)", file=sys.stderr)
    await scheduler.run(stop)
