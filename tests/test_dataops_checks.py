"""Data-ops checks, bookkeeping, interpolation, maintenance and the health score, over
hand-built databases whose every fault is known."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import only_venue
from flowdesk.crews.settings import DataOpsSettings
from flowdesk.dataops import checks
from flowdesk.dataops.engine import DataOps
from flowdesk.dataops.health import health_score
from flowdesk.dataops.model import now_utc
from flowdesk.dataops.scope import VenueScope, ms_to_dt
from flowdesk.records import Candle, Quote, Trade
from flowdesk.settings import Settings, load_settings
from flowdesk.storage.store import Store
from flowdesk.storage.writer import BatchWriter

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

NOW = int(time.time() * 1000)
T0 = NOW - 600_000  # ten minutes ago: inside the validation window, fresh enough for nothing


def _settings(tmp_path: Path, extra: str = "", symbols: str = "[BTCUSDT, ETHUSDT]") -> Settings:
    cfg = tmp_path / "flowdesk.yaml"
    cfg.write_text(f"data_dir: {tmp_path}\nsymbols: {symbols}\ncrews:\n  dataops:\n    symbol_stale_s: 3600\n"
                   f"    funding_stale_s: 86400\n    open_interest_stale_s: 86400\n{extra}")
    return only_venue(load_settings(cfg, env={}))


def _trade(i: int, ts: int, price: float = 60_000.0, symbol: str = "BTCUSDT", exchange: str = "binance",
           market: str = "usdm") -> Trade:
    return Trade(exchange, market, symbol, i, price, 0.5, "buy", ts, ts * 1_000_000, i, i, "ws")


def _candle(minute: int, close: float, symbol: str = "BTCUSDT") -> Candle:
    open_ms = (T0 // 60_000 + minute) * 60_000
    return Candle("binance", "usdm", symbol, "1m", open_ms, open_ms + 59_999, close - 1, close + 2, close - 2, close,
                  10.0, 600_000.0, 100, 5.0, True, open_ms + 59_999, (open_ms + 60_000) * 1_000_000)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "flowdesk.duckdb")
    yield s
    s.close()


def _faulty(store: Store) -> None:
    """Trades 100..159 without 120..124; one trade earlier than its predecessor; one at price 0;
    a row stored twice; a crossed quote; ETHUSDT last seen two hours ago; a candle missing."""
    trades = [_trade(i, T0 + i * 1000) for i in range(100, 160) if not 120 <= i < 125]
    trades[40] = trades[40]._replace(ts=trades[39].ts - 5_000)  # out of order
    trades[45] = trades[45]._replace(price=0.0)
    eth = [_trade(i, NOW - 7_200_000 + i, 3000.0, "ETHUSDT") for i in range(5)]
    quotes = [Quote("binance", "usdm", "BTCUSDT", 60_000.0, 1.0, 60_000.5, 1.0, 10 + i, T0 + i * 1000, i) for i in range(5)]
    quotes.append(Quote("binance", "usdm", "BTCUSDT", 60_001.0, 1.0, 60_000.5, 1.0, 99, T0 + 9000, 9))
    BatchWriter(store).write_batch_sync({Trade: trades + eth, Quote: quotes, Candle: [_candle(m, 60_000 + m) for m in (0, 1, 3)]})
    store.connection.execute("INSERT INTO trades SELECT * FROM trades WHERE trade_id = 130 AND symbol = 'BTCUSDT'")


def _kinds(summary: dict[str, Any]) -> dict[str, set[str | None]]:
    out: dict[str, set[str | None]] = {}
    for f in summary["findings"]["items"]:
        out.setdefault(f["kind"], set()).add(f["symbol"])
    return out


def test_validation_finds_each_fault_with_evidence(store: Store, tmp_path: Path) -> None:
    _faulty(store)
    ops = DataOps(_settings(tmp_path), store.connection)
    out = ops.run(["validate"], shadow=True)
    kinds = _kinds(out)
    assert kinds["trade_id_gap"] == {"BTCUSDT"}
    gap = next(f for f in out["findings"]["items"] if f["kind"] == "trade_id_gap")
    assert (gap["evidence"]["from_id"], gap["evidence"]["to_id"], gap["evidence"]["missing"]) == (120, 124, 5)
    assert kinds["out_of_order"] == {"BTCUSDT"} and kinds["bad_price"] == {"BTCUSDT"}
    dup = next(f for f in out["findings"]["items"] if f["kind"] == "duplicate_rows")
    assert (dup["stream"], dup["evidence"]["extra_rows"]) == ("trades", 1)
    assert kinds["crossed_quotes"] == {"BTCUSDT"}
    assert kinds["symbol_stale"] == {"ETHUSDT"}
    candle = next(f for f in out["findings"]["items"] if f["kind"] == "candle_gap")
    assert candle["evidence"]["missing"] == 1
    assert out["checks"]["live_feeds"].startswith("skipped") and out["checks"]["price_outliers"].startswith("skipped")
    assert all(f["evidence"] for f in out["findings"]["items"]), "every finding carries its evidence"
    ops.close()


def test_repeated_shadow_runs_refresh_not_repeat(store: Store, tmp_path: Path) -> None:
    _faulty(store)
    ops = DataOps(_settings(tmp_path), store.connection)
    first = ops.run(["validate", "fill_gaps"], shadow=True)
    second = ops.run(["validate", "fill_gaps"], shadow=True)
    cur = store.connection
    assert cur.execute("SELECT count(*), max(seen_count) FROM quality_issues").fetchone() == (
        first["findings"]["total"], 2)
    n_actions = cur.execute("SELECT count(*), min(proposed_count), max(proposed_count) FROM agent_actions").fetchone()
    assert n_actions == (second["actions"]["total"], 2, 2), "one proposal per fix, counted"
    # the duplicate is removed by hand: the next validation resolves the issue
    cur.execute("DELETE FROM trades WHERE rowid = (SELECT max(rowid) FROM trades WHERE trade_id = 130)")
    ops.run(["validate"], shadow=True)
    status = cur.execute("SELECT status FROM quality_issues WHERE kind = 'duplicate_rows'").fetchone()
    assert status == ("resolved",)
    runs = cur.execute("SELECT count(*) FROM crew_runs WHERE crew = 'data_ops' AND status = 'ok'").fetchone()
    assert runs == (3,)
    ops.close()


def test_live_fixes_add_and_dedupe_but_never_overwrite(store: Store, tmp_path: Path) -> None:
    _faulty(store)
    before = store.connection.execute("SELECT count(*) FROM trades").fetchone()[0]
    settings = _settings(tmp_path, extra="", symbols="[BTCUSDT]")
    ops = DataOps(settings, store.connection)
    out = ops.run(["validate"], shadow=False)
    by = {a["kind"]: a for a in out["actions"]["items"]}
    assert by["dedupe_rows"]["status"] == "applied" and by["dedupe_rows"]["outcome"]["deleted"] == 1
    assert store.connection.execute("SELECT count(*) FROM trades").fetchone()[0] == before - 1
    assert store.connection.execute("SELECT count(*) FROM trades WHERE trade_id = 130").fetchone()[0] == 1
    escalated = {r[0] for r in store.connection.execute("SELECT kind FROM escalations").fetchall()}
    assert {"out_of_order", "bad_price", "crossed_quotes"} <= escalated, "what cannot be fixed is escalated"
    assert store.connection.execute("SELECT count(*) FROM trades WHERE price = 0").fetchone()[0] == 1, "kept as received"
    ops.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("interpolate", [True, False])
def test_candles_that_cannot_be_refetched(store: Store, tmp_path: Path, interpolate: bool) -> None:
    extra = f"    interpolate: {str(interpolate).lower()}\nvenues:\n  binance_usdm:\n    rest_url: http://127.0.0.1:{_closed_port()}\n"
    settings = _settings(tmp_path, extra, symbols="[BTCUSDT]")
    BatchWriter(store).write_batch_sync({Candle: [_candle(m, 60_000 + m) for m in (0, 1, 4)],
                                         Trade: [_trade(1, T0), _trade(2, T0 + 1)]})
    before = store.connection.execute("SELECT * FROM candles ORDER BY open_ts").fetchall()
    ops = DataOps(settings, store.connection)
    out = ops.run(["validate", "fill_gaps"], shadow=False)
    action = next(a for a in out["actions"]["items"] if a["kind"] == "refetch_candles")
    assert "fetch_error" in action["outcome"]
    rows = store.connection.execute("SELECT open_ts, open, high, low, close, volume, interpolated FROM candles_filled "
                                    "ORDER BY open_ts").fetchall()
    assert store.connection.execute("SELECT * FROM candles ORDER BY open_ts").fetchall() == before, "stored bars untouched"
    if interpolate:
        assert action["status"] == "applied" and action["outcome"]["interpolated"] == 2
        filled = [r for r in rows if r[6]]
        assert [r[0] for r in filled] == [ms_to_dt(_candle(m, 0).open_ts) for m in (2, 3)]
        assert all(r[1:6] == (60_001.0, 60_001.0, 60_001.0, 60_001.0, 0.0) for r in filled), "previous close, no volume"
        log = store.connection.execute("SELECT table_name, method, reason FROM interpolations").fetchall()
        assert len(log) == 2 and log[0][:2] == ("candles", "previous_close_zero_volume") and "GET" in log[0][2]
        again = ops.run(["validate"], shadow=True)
        assert not [f for f in again["findings"]["items"] if f["kind"] == "candle_gap"], "the gap counts as filled"
    else:
        assert action["status"] == "failed" and len(rows) == 3
        assert store.connection.execute("SELECT count(*) FROM interpolations").fetchone() == (0,)
        assert store.connection.execute("SELECT status FROM escalations WHERE kind = 'candle_gap'").fetchall() == [("open",)]
    ops.close()


def test_price_outlier_against_other_venues(store: Store) -> None:
    BatchWriter(store).write_batch_sync({Trade: [
        _trade(1, NOW - 1000, 60_000.0), _trade(1, NOW - 1000, 60_010.0, exchange="okx", market="swap"),
        _trade(1, NOW - 1000, 63_000.0, exchange="bybit", market="linear"),
    ]})
    cfg = DataOpsSettings()
    since = ms_to_dt(NOW) - timedelta(hours=1)
    scopes = [VenueScope(f"{ex}_{mk}", ex, mk, ("BTCUSDT",), ("aggTrade",), NOW, "wall", since)
              for ex, mk in (("binance", "usdm"), ("okx", "swap"), ("bybit", "linear"))]
    found = checks.price_outliers(store.connection.cursor(), scopes, cfg)
    assert [(f.exchange, f.symbol) for f in found] == [("bybit", "BTCUSDT")]
    assert found[0].evidence["median_all_venues"] == pytest.approx(60_010.0)
    assert found[0].evidence["deviation_pct"] == pytest.approx((63_000 - 60_010) / 60_010 * 100, rel=1e-4)


def _issue(cur: Any, kind: str, severity: str, symbol: str) -> None:
    cur.execute("INSERT INTO quality_issues VALUES (?, ?, ?, ?, 'binance', 'usdm', ?, 'x', 'open', 's', '{}', "
                "?, ?, NULL, 1, 'run')", [f"iss_{kind}_{symbol}", f"{kind}|{symbol}", kind, severity, symbol,
                                          now_utc(), now_utc()])


def test_health_score_formula(store: Store, tmp_path: Path) -> None:
    cur = store.connection
    assert health_score(cur, _settings(tmp_path))["score"] == 100
    _issue(cur, "trade_id_gap", "error", "BTCUSDT")
    _issue(cur, "duplicate_rows", "warning", "BTCUSDT")
    _issue(cur, "candle_gap", "warning", "BTCUSDT")
    _issue(cur, "symbol_stale", "error", "ETHUSDT")
    for i, status in enumerate(("applied", "failed")):
        cur.execute("INSERT INTO agent_actions VALUES (?, 'r', 'fill_gaps', 'backfill_trades', NULL, 'binance', 'usdm', "
                    "'BTCUSDT', 'live', ?, '{}', '{}', '{}', 1, ?, ?)", [f"a{i}", status, now_utc(), now_utc()])
    h = health_score(cur, _settings(tmp_path))
    # 100 - (8 + 2 + 2 + 8) - 30 * 1/2 - 10 * 1/2
    assert h["penalties"] == {"issues": 20.0, "freshness": 15.0, "fixes": 5.0}
    assert h["score"] == 60 and (h["stale_pairs"], h["configured_pairs"]) == (1, 2)


def test_maintenance_shadow_then_live(store: Store, tmp_path: Path) -> None:
    old = NOW - 30 * 86_400_000
    BatchWriter(store).write_batch_sync({Trade: [_trade(1, old), _trade(2, NOW - 1000)]})
    ops = DataOps(_settings(tmp_path), store.connection)
    shadow = ops.run(["maintain"], shadow=True)
    retention = next(a for a in shadow["actions"]["items"] if a["kind"] == "retention")
    assert retention["status"] == "proposed" and retention["evidence"]["rows_older_than_cutoff"]["trades"] == 1
    assert store.connection.execute("SELECT count(*) FROM trades").fetchone() == (2,)
    live = ops.run(["maintain"], shadow=False)
    statuses = {a["kind"]: a["status"] for a in live["actions"]["items"]}
    assert statuses == {"retention": "applied", "prune_bookkeeping": "applied", "analyze": "applied", "checkpoint": "applied"}
    assert store.connection.execute("SELECT trade_id FROM trades").fetchall() == [(2,)]
    ops.close()
