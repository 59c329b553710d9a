"""Helpers shared by the order-flow tests: an in-memory store with the canonical schema,
rows inserted through pandas/Arrow, and the tool context pointed at it. (No tests here.)"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from flowdesk.settings import load_settings
from flowdesk.storage import schema
from flowdesk.tools.context import ToolContext, set_context

KEY = {"exchange": "binance", "market": "usdm", "symbol": "BTCUSDT"}


def ms(text: str) -> int:
    """Epoch ms of an ISO time (UTC when no offset)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


def new_store(ticks: dict[str, float] | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with every migration applied and instruments rows for ``ticks``
    (symbol -> tick size; default BTCUSDT 0.1), set as the tools' context."""
    con = duckdb.connect()
    for migration in schema.MIGRATIONS:
        con.execute(migration.sql)
    ticks = {"BTCUSDT": 0.1} if ticks is None else ticks
    if ticks:
        insert(
            con,
            "instruments",
            pd.DataFrame(
                {
                    "exchange": "binance",
                    "market": "usdm",
                    "symbol": list(ticks),
                    "venue_symbol": list(ticks),
                    "tick_size": list(ticks.values()),
                    "step_size": 0.001,
                    "status": "TRADING",
                    "updated_ts": pd.Timestamp("2024-08-01"),
                }
            ),
        )
    set_context(ToolContext(settings=load_settings(env={}), connection=con))
    return con


def insert(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    """Append a DataFrame to ``table`` by column name (one batch, no executemany)."""
    con.register("incoming", frame)
    cols = ", ".join(frame.columns)
    con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM incoming")
    con.unregister("incoming")


def _ts(values: list[int]) -> pd.Series:
    return pd.to_datetime(pd.Series(values, dtype="int64"), unit="ms")


def trades_frame(
    rows: list[tuple[Any, ...]], symbol: str = "BTCUSDT", first_id: int = 1
) -> pd.DataFrame:
    """Trades from ``(time, price, qty, side)`` rows (time: ISO text or epoch ms); trade ids
    follow the row order unless a fifth element gives one."""
    times = [ms(r[0]) if isinstance(r[0], str) else int(r[0]) for r in rows]
    ids = [r[4] if len(r) > 4 else first_id + i for i, r in enumerate(rows)]
    return pd.DataFrame(
        {
            "exchange": "binance",
            "market": "usdm",
            "symbol": symbol,
            "trade_id": pd.Series(ids, dtype="int64"),
            "price": [float(r[1]) for r in rows],
            "qty": [float(r[2]) for r in rows],
            "side": [r[3] for r in rows],
            "ts": _ts(times),
            "recv_ts": _ts(times),
            "first_id": pd.Series(ids, dtype="int64"),
            "last_id": pd.Series(ids, dtype="int64"),
            "source": "ws",
        }
    )


def add_trades(
    con: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]], symbol: str = "BTCUSDT"
) -> None:
    insert(con, "trades", trades_frame(rows, symbol))


def capture_trades(path: Path) -> pd.DataFrame:
    """Trades parsed from a raw Binance USD-M capture (``<ns> <json>`` lines, ``@trade``
    frames: ``m`` true means the buyer is the maker, so the aggressor sold)."""
    rows = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            _, _, raw = line.partition(" ")
            if '@trade"' not in raw[:48]:
                continue
            msg = json.loads(raw)
            if not msg.get("stream", "").endswith("@trade"):
                continue
            d = msg["data"]
            rows.append(
                (
                    int(d["T"]),
                    float(d["p"]),
                    float(d["q"]),
                    "sell" if d["m"] else "buy",
                    int(d["t"]),
                )
            )
    return trades_frame(rows)
