"""The ``flowdesk`` command.

    flowdesk serve [--simulate [--capture FILE ...] [--speed X]]   collector + MCP + REST + /healthz
    flowdesk mcp                                                    the tools over stdio
    flowdesk collect                                                the collector alone
    flowdesk simulate [--capture FILE ...]                          the exchange simulator alone
    flowdesk record --ws URL --rest URL --out FILE                  record frames for replay
    flowdesk bench ingest|venues                                    ingest benchmarks
    flowdesk doctor                                                 check settings and database
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from flowdesk.settings import Settings, SettingsError, load_settings


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
        "data_dir": getattr(args, "data_dir", None),
    }
    if getattr(args, "symbols", None):
        overrides["symbols"] = args.symbols.split(",")
    return load_settings(args.config, overrides=overrides)


def _sim_config(args: argparse.Namespace) -> Any:
    from flowdesk.streaming.simulator import FaultConfig, SimulatorConfig

    captures = [Path(c) for c in (args.capture or [])]
    faults = FaultConfig(
        close_after_frames=args.fault_close_after,
        skip_depth_at=args.fault_skip_depth_at,
        malformed_at_frame=args.fault_malformed_at,
        rest_429_count=args.fault_429,
    )
    return SimulatorConfig(
        mode="replay" if captures else "synthetic",
        captures=captures,
        speed=args.speed,
        loop=args.loop,
        seed=args.seed,
        symbols=args.symbols.split(",") if getattr(args, "symbols", None) else ["BTCUSDT", "ETHUSDT"],
        faults=faults,
    )


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML settings file (else FLOWDESK_CONFIG)")
    p.add_argument("--data-dir", help="data directory (else FLOWDESK_DATA_DIR, default ./data)")
    p.add_argument("--host", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (else FLOWDESK_PORT, default 8022)")
    p.add_argument("--symbols", help="comma-separated symbols, e.g. BTCUSDT,ETHUSDT")


def _add_sim(p: argparse.ArgumentParser) -> None:
    p.add_argument("--capture", action="append", help="replay this `<ns> <json>` capture (repeatable); "
                   "without it the simulator runs a synthetic market")
    p.add_argument("--speed", type=float, default=1.0, help="replay speed multiple; 0 = as fast as possible")
    p.add_argument("--loop", action="store_true", help="loop the capture")
    p.add_argument("--seed", type=int, default=7, help="synthetic market seed")
    p.add_argument("--fault-close-after", type=int, help="close the socket after N frames")
    p.add_argument("--fault-skip-depth-at", type=int, help="skip the N-th depth diff (sequence gap)")
    p.add_argument("--fault-malformed-at", type=int, help="send a malformed frame at frame N")
    p.add_argument("--fault-429", type=int, default=0, help="answer the first N REST calls with 429")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flowdesk", description="Order-flow intelligence desk for crypto markets")
    parser.add_argument("--log-level", default=os.environ.get("FLOWDESK_LOG_LEVEL", "WARNING"))
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="collector + MCP (/mcp, /sse) + REST (/api) + /healthz in one process")
    _add_common(p)
    p.add_argument("--simulate", action="store_true", help="run offline against the built-in exchange simulator")
    p.add_argument("--no-collect", action="store_true", help="serve the stored data without collecting")
    _add_sim(p)

    p = sub.add_parser("mcp", help="the tools over stdio (proxies to a running `flowdesk serve`)")
    _add_common(p)

    p = sub.add_parser("collect", help="the collector alone (no servers)")
    _add_common(p)
    p.add_argument("--simulate", action="store_true")
    p.add_argument("--duration", type=float, help="stop after N seconds")
    _add_sim(p)

    p = sub.add_parser("simulate", help="run the exchange simulator (Binance USD-M protocol)")
    _add_common(p)
    _add_sim(p)

    p = sub.add_parser("record", help="record live frames to a capture file the simulator replays")
    _add_common(p)
    p.add_argument("--ws", help="WebSocket base URL (default: the binance_usdm setting)")
    p.add_argument("--rest", help="REST base URL (default: the binance_usdm setting)")
    p.add_argument("--streams", default="aggTrade,bookTicker,depth@100ms,markPrice@1s,forceOrder,kline_1m")
    p.add_argument("--out", required=True, help="output file (.gz for gzip)")
    p.add_argument("--duration", type=float, help="seconds to record")
    p.add_argument("--max-frames", type=int)

    p = sub.add_parser("bench", help="benchmarks")
    p.add_argument("which", choices=["ingest", "venues"], help="ingest: collector vs bare client on a replay; "
                   "venues: all nine markets at once from the simulators")
    p.add_argument("--seconds", type=float, default=20.0, help="venues: how long to collect")
    p.add_argument("--capture", help="capture to replay (default: shared BTCUSDT capture)")
    p.add_argument("--repeat", type=int, default=1, help="ingest: run each side N times and report the best run and the medians")

    p = sub.add_parser("doctor", help="check settings, data directory and database")
    _add_common(p)

    _add_optional_commands(sub)
    return parser


def _add_optional_commands(sub: Any) -> None:
    """Sub-commands contributed by other parts (forecasting, crews) when present."""
    import importlib

    for module in ("flowdesk.forecasting.cli", "flowdesk.crews.cli"):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        mod.add_cli(sub)


def cmd_serve(args: argparse.Namespace) -> None:
    from flowdesk.server.run import serve

    settings = _settings(args)
    sim = _sim_config(args) if args.simulate else None
    asyncio.run(serve(settings, sim, collect=not args.no_collect))


def cmd_collect(args: argparse.Namespace) -> None:
    from flowdesk.server.collect import collect

    asyncio.run(collect(_settings(args), _sim_config(args) if args.simulate else None, args.duration))


def cmd_mcp(args: argparse.Namespace) -> None:
    from flowdesk.server.stdio import run_stdio

    run_stdio(_settings(args))


def cmd_simulate(args: argparse.Namespace) -> None:
    from flowdesk.streaming.simulator import run_simulator

    settings = _settings(args)
    port = args.port if args.port is not None else 8023
    asyncio.run(run_simulator(_sim_config(args), settings.host, port))


def cmd_record(args: argparse.Namespace) -> None:
    from flowdesk.streaming.recorder import record

    settings = _settings(args)
    venue = settings.venues["binance_usdm"]
    n = asyncio.run(
        record(
            args.ws or venue.ws_url,
            args.rest or venue.rest_url,
            list(settings.symbols),
            args.streams.split(","),
            Path(args.out),
            duration_s=args.duration,
            max_frames=args.max_frames,
        )
    )
    print(f"recorded {n} frames to {args.out}")


def cmd_bench(args: argparse.Namespace) -> None:
    if args.which == "venues":
        from flowdesk.bench_venues import run_venues_bench

        run_venues_bench(args.seconds)
        return
    from flowdesk.bench import run_ingest_bench

    run_ingest_bench(args.capture, args.repeat)


def cmd_doctor(args: argparse.Namespace) -> None:
    from flowdesk.server.app import read_serve_file
    from flowdesk.storage.store import Store, StoreLockedError

    settings = _settings(args)
    report: dict[str, Any] = {
        "data_dir": str(settings.data_dir),
        "venues": {n: {"ws_url": v.ws_url, "rest_url": v.rest_url, "symbols": v.symbols} for n, v in settings.venues.items()},
        "server": read_serve_file(settings.data_dir),
    }
    if settings.db_path.exists():
        try:
            with Store(settings.db_path, read_only=True) as store:
                report["schema_version"] = store.schema_version()
                report["tables"] = store.table_stats()
        except StoreLockedError as exc:
            report["database"] = str(exc)
    else:
        report["database"] = f"{settings.db_path} does not exist yet"
    print(json.dumps(report, indent=2, default=str))


COMMANDS = {
    "serve": cmd_serve,
    "collect": cmd_collect,
    "mcp": cmd_mcp,
    "simulate": cmd_simulate,
    "record": cmd_record,
    "bench": cmd_bench,
    "doctor": cmd_doctor,
}


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler = COMMANDS.get(args.command) or getattr(args, "handler", None)
    if handler is None:
        parser.error(f"unknown command {args.command}")
    try:
        handler(args)
    except SettingsError as exc:
        print(f"flowdesk: invalid settings: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
