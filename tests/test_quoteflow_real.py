"""Quote flow on real best bid/ask: Binance USD-M BTCUSDT quotes (Tardis sample, 10k quotes
over 226 s) published into a real redis-server under their own field names (``bid_price``,
``bid_amount``...), time-shifted so the last one is now; the processor and the tool are
checked against an independent pandas computation over the same quotes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import duckdb
import numpy as np
import orjson
import pandas as pd
import pytest
import redis

from conftest import real_file
from flowdesk.analytics.quoteflow.analysis import analyze
from flowdesk.analytics.quoteflow.processor import Processor
from flowdesk.analytics.quoteflow.quotes import parse_members
from flowdesk.analytics.quoteflow.service import threshold_config
from flowdesk.analytics.quoteflow.status import now_ms
from flowdesk.analytics.quoteflow.thresholds import LARGE_QUANTILE
from flowdesk.settings import Settings
from flowdesk.storage.redis_quotes import RedisQuoteSource, quotes_key
from flowdesk.tools.context import ToolContext, set_context
from flowdesk.tools.registry import call_tool
from redis_server import RedisServer

pytest_plugins = ("redis_fixtures",)
CSV = "samples/nautilus/tardis_quotes.csv"


@pytest.fixture
def published(redis_settings: Settings, redis_client: redis.Redis) -> Iterator[pd.DataFrame]:
    """The CSV rows as members of orderflow:quotes:BTCUSDT, in Redis order, with ``score``."""
    df = pd.read_csv(real_file(CSV))
    shift = now_ms() - 300 - int(df.timestamp.max()) // 1000
    df["score"] = df.timestamp // 1000 + shift
    df["member"] = [orjson.dumps(r) for r in df.drop(columns=["score"]).to_dict("records")]
    redis_client.zadd(quotes_key("BTCUSDT"), dict(zip(df.member, df.score.astype(float), strict=True)))
    # a sorted set orders equal scores by member bytes: so must the expectation
    df = df.sort_values(["score", "member"], kind="stable").reset_index(drop=True)
    con = duckdb.connect()
    set_context(ToolContext(settings=redis_settings, connection=con))
    yield df
    set_context(None)
    con.close()


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def moves(s: pd.Series) -> tuple[int, int]:
    d = np.diff(s.to_numpy())
    return int((d > 0).sum()), int((d < 0).sum())


def sweep_times(df: pd.DataFrame, side: str, threshold: float) -> list[int]:
    """Times of quotes that removed >= threshold of displayed size from ``side``: the whole
    previous level when the price moved away (ask up, bid down), the shrink at one price."""
    price, size = df[f"{side}_price"].to_numpy(), df[f"{side}_amount"].to_numpy()
    away = price[1:] > price[:-1] if side == "ask" else price[1:] < price[:-1]
    taken = np.where(away, size[:-1], np.where(price[1:] == price[:-1], (size[:-1] - size[1:]).clip(0), 0))
    return [int(t) for t in df.score.to_numpy()[1:][taken >= threshold]]


def test_tool_on_real_quotes_matches_pandas(published: pd.DataFrame) -> None:
    out = call_tool("analyze_order_flow", {"ticker": "BTCUSDT", "format": "json", "history": "5mins"})
    doc, df = out["order_flow"], published
    end = ms(doc["timestamp"])
    last = df.iloc[-1]
    assert doc["current_quote"]["bid"] == {"price": last.bid_price, "size": last.bid_amount}
    assert doc["current_quote"]["ask"] == {"price": last.ask_price, "size": last.ask_amount}
    assert doc["current_price"] == pytest.approx((last.bid_price + last.ask_price) / 2)
    for w in (10, 60, 300):
        win = df[(df.score > end - w * 1000) & (df.score <= end)]
        m = doc["momentum"][f"last_{w}s"]
        assert m["quotes"] == len(win) > 100
        assert (m["bid_lifts"], m["bid_drops"]) == moves(win.bid_price)
        assert (m["ask_lifts"], m["ask_drops"]) == moves(win.ask_price)
        assert m["spread_avg"] == pytest.approx((win.ask_price - win.bid_price).mean(), rel=1e-6)
        assert m["bid_change"] == pytest.approx(win.bid_price.iloc[-1] - win.bid_price.iloc[0], abs=1e-6)
        size = doc["size_metrics"][f"last_{w}s"]
        assert size["size_ratio"] == pytest.approx(win.bid_amount.mean() / win.ask_amount.mean(), abs=1e-4)
    ref = df[df.score > end - 300_000]
    large = float(np.quantile(np.concatenate([ref.bid_amount, ref.ask_amount]), LARGE_QUANTILE))
    th = doc["size_metrics"]["thresholds"]
    assert th["preset"] == "relative" and th["large_size"] == pytest.approx(large, rel=1e-6)
    hist = df[(df.score > end - 300_000) & (df.score <= end)]
    assert doc["price_levels"]["bid"], "a real 4-minute BTCUSDT tape has bid levels seen often with large size"
    for side in ("bid", "ask"):
        for lv in doc["price_levels"][side]:
            at = hist[hist[f"{side}_price"] == lv["price"]]
            assert lv["appearances"] == len(at)
            assert lv["large_appearances"] == int((at[f"{side}_amount"] >= th["large_size"]).sum()) >= 3
    for side in ("bid", "ask"):
        expected = sweep_times(hist, side, th["sweep_size"])
        got = [p["ts"] for p in doc["patterns"] if p["type"] == "sweep" and p["side"] == side]
        assert sorted(got, reverse=True) == sorted(expected, reverse=True)[:20]  # newest 20 per side
    assert {p["type"] for p in doc["patterns"]} <= {"absorption", "stacking", "momentum_shift", "sweep", "iceberg"}


def test_processor_cache_and_tool_compute_the_same(published: pd.DataFrame, redis_server: RedisServer,
                                                   redis_settings: Settings, redis_client: redis.Redis) -> None:
    source = RedisQuoteSource.connect("127.0.0.1", redis_server.port)
    proc = Processor(source, threshold_config(redis_settings), tickers=["BTCUSDT"])
    at = int(published.score.iloc[-1]) + 100
    cycled = proc.run_cycle(at - 1000)["BTCUSDT"]  # cold read
    cycled = proc.run_cycle(at)["BTCUSDT"]  # incremental read
    direct = analyze(parse_members(source.quotes("BTCUSDT", at - 300_000)).quotes, "BTCUSDT", at,
                     threshold_config(redis_settings))
    assert cycled.windows == direct.windows and cycled.thresholds == direct.thresholds
    assert cycled.levels == direct.levels and cycled.behaviors == direct.behaviors
    assert [p.as_dict() for p in cycled.patterns] == [p.as_dict() for p in direct.patterns]
    stored = redis_client.hgetall("orderflow:metrics:BTCUSDT:60s")
    assert int(stored[b"quotes"]) == direct.windows[60].quotes
    assert int(stored[b"bid_lifts"]) == direct.windows[60].bid_lifts
    assert float(stored[b"spread_avg"]) == pytest.approx(direct.windows[60].spread_avg)
