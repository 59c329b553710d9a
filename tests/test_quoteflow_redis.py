"""The quote-flow processor against a real redis-server: results and TTLs, incremental reads,
one bad ticker among good ones, Redis going down and coming back, the serve hook and the crypto
publisher."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
import redis

from flowdesk.analytics.quoteflow import service as qf_service
from flowdesk.analytics.quoteflow.cache import QuoteCache
from flowdesk.analytics.quoteflow.processor import Processor
from flowdesk.analytics.quoteflow.status import now_ms, snapshot
from flowdesk.analytics.quoteflow.thresholds import ThresholdConfig
from flowdesk.records import Quote
from flowdesk.settings import Settings
from flowdesk.storage.redis_quotes import RedisQuoteSource, RedisUnavailable, quotes_key
from quoteflow_sequences import baseline, held, members, then
from redis_server import RedisServer, free_port, settings_for

pytest_plugins = ("redis_fixtures",)  # the redis_server / redis_client fixtures


def source_of(server: RedisServer) -> RedisQuoteSource:
    return RedisQuoteSource.connect("127.0.0.1", server.port, timeout_s=1.0)


def feed(client: redis.Redis, ticker: str, rows: list, names: str = "canonical") -> None:
    client.zadd(quotes_key(ticker), members(rows, names))


def test_cycle_writes_metrics_patterns_and_levels_with_ttls(redis_server: RedisServer, redis_client: redis.Redis) -> None:
    now = now_ms()
    feed(redis_client, "SPY", then(baseline(now - 600, 300), held(12, 100.0, 100.02, [3500], 1000)), names="broker")
    feed(redis_client, "BTCUSDT", baseline(now, 300, unit=1e-4), names="binance")
    proc = Processor(source_of(redis_server), ThresholdConfig())
    results = proc.run_cycle(now)
    assert set(results) == {"BTCUSDT", "SPY"}  # discovered by key scan
    for w, ttl in ((10, 60), (60, 120), (300, 600)):
        h = redis_client.hgetall(f"orderflow:metrics:SPY:{w}s")
        assert int(h[b"quotes"]) == min(w, 300) * 20 and h[b"thresholds_preset"] == b"relative"
        assert 0 < redis_client.ttl(f"orderflow:metrics:SPY:{w}s") <= ttl
    assert redis_client.hget("orderflow:metrics:SPY:10s", "behavior_large_bid") == b"YES"
    assert redis_client.hget("orderflow:metrics:BTCUSDT:10s", "behavior_large_bid") == b"NO"
    onsets = [orjson.loads(m) for m in redis_client.zrange("orderflow:patterns:SPY", 0, -1)]
    assert [(p["type"], p["side"], p["detected_at"]) for p in onsets] == [("absorption", "bid", now)]
    assert 3500 < redis_client.ttl("orderflow:patterns:SPY") <= 3600
    bid_levels = redis_client.zrevrange("orderflow:levels:SPY:bid", 0, -1, withscores=True)
    top = orjson.loads(bid_levels[0][0])
    assert top["price"] == 100.0 and top["large_appearances"] >= 12 and bid_levels[0][1] == top["significance"]
    assert 3500 < redis_client.ttl("orderflow:levels:SPY:bid") <= 3600
    assert redis_client.zcard("orderflow:patterns:BTCUSDT") == 0

    proc.run_cycle(now + 1000)  # the absorption lasts: no second onset
    assert redis_client.zcard("orderflow:patterns:SPY") == 1
    stats = snapshot()["processor"]["tickers"]["SPY"]
    assert stats["runs"] == 2 and stats["errors"] == 0 and stats["last_ms"] < 100


def test_a_flickering_state_is_one_onset_a_later_return_is_another(redis_server: RedisServer,
                                                                    redis_client: redis.Redis) -> None:
    now = now_ms()
    absorb = held(12, 100.0, 100.02, [3500], 1000)
    quiet = [(100.0 + 0.03 * (i % 2), 100.02 + 0.03 * (i % 2), 1000.0, 1000.0) for i in range(20)]
    rows = then(baseline(now - 40_000, 260), absorb)
    feed(redis_client, "DIA", rows)
    proc = Processor(source_of(redis_server), ThresholdConfig(), tickers=["DIA"])
    times = []
    for segment in (quiet, absorb, quiet, quiet * 12, absorb):  # off 1 s, back; off 12 s, back
        proc.run_cycle(rows[-1][0])
        times.append(rows[-1][0])
        rows = then(rows, segment)
        feed(redis_client, "DIA", rows[-len(segment):])
    proc.run_cycle(rows[-1][0])
    times.append(rows[-1][0])
    stored = [orjson.loads(m) for m in redis_client.zrange("orderflow:patterns:DIA", 0, -1)]
    assert [p["detected_at"] for p in stored if p["type"] == "absorption"] == [times[0], times[5]]
    # the size pulled from the bid when the absorption ended is a sweep, each time
    assert [p["ts"] - times[0] for p in stored if p["type"] == "sweep"] == [50, times[2] - times[0] + 50]


def test_sweeps_are_stored_once_by_their_own_time(redis_server: RedisServer, redis_client: redis.Redis) -> None:
    now = now_ms()
    rows = then(baseline(now - 2000, 300), [(100.0, 100.05, 1000, 5000), (100.0, 100.06, 1000, 1000)])
    feed(redis_client, "QQQ", rows)
    proc = Processor(source_of(redis_server), ThresholdConfig(), tickers=["QQQ"])
    proc.run_cycle(now)
    proc.run_cycle(now + 1000)
    stored = [orjson.loads(m) for m in redis_client.zrange("orderflow:patterns:QQQ", 0, -1, withscores=False)]
    assert [(p["type"], p["side"], p["ts"]) for p in stored] == [("sweep", "ask", rows[-1][0])]
    assert redis_client.zscore("orderflow:patterns:QQQ", redis_client.zrange("orderflow:patterns:QQQ", 0, 0)[0]) == rows[-1][0]


def test_incremental_cache_matches_a_full_read(redis_server: RedisServer, redis_client: redis.Redis) -> None:
    now = now_ms()
    rows = baseline(now, 60)
    feed(redis_client, "IWM", rows[:600])
    source = source_of(redis_server)
    cache = QuoteCache("IWM", keep_ms=300_000, grace_ms=2000)
    assert cache.refresh(source, now) == 600
    feed(redis_client, "IWM", rows[600:1000])
    assert cache.refresh(source, now) == 400
    late = [(rows[990][0] - 25, 101.0, 101.02, 1.0, 1.0)]  # 25 ms before an already-read quote
    feed(redis_client, "IWM", late)
    feed(redis_client, "IWM", rows[1000:])
    assert cache.refresh(source, now) == 201
    assert cache.refresh(source, now) == 0  # nothing new: nothing read twice
    full = QuoteCache("IWM", keep_ms=300_000)
    full.refresh(source, now)
    assert list(cache.quotes.ts) == list(full.quotes.ts) and list(cache.quotes.bid) == list(full.quotes.bid)
    assert 101.0 in cache.quotes.bid
    cache.refresh(source, now + 301_000)  # later than keep: old quotes are dropped
    assert len(cache.quotes) == 0


def test_one_bad_ticker_does_not_stop_the_others(redis_server: RedisServer, redis_client: redis.Redis) -> None:
    now = now_ms()
    feed(redis_client, "GOOD", baseline(now, 30))
    redis_client.set(quotes_key("WRONGTYPE"), "not a sorted set")
    redis_client.zadd(quotes_key("JUNK"), {b"garbage": now, b'{"bid": 2, "ask": 1, "bid_size": 1, "ask_size": 1}': now})
    proc = Processor(source_of(redis_server), ThresholdConfig(), tickers=["WRONGTYPE", "GOOD", "JUNK"])
    assert proc.tick() <= 1.0
    st = snapshot()["processor"]
    assert st["state"] == "ok"
    assert st["tickers"]["WRONGTYPE"]["errors"] == 1 and "WRONGTYPE" in st["tickers"]["WRONGTYPE"]["last_error"]
    assert st["tickers"]["GOOD"]["runs"] == 1 and redis_client.exists("orderflow:metrics:GOOD:10s")
    assert st["tickers"]["JUNK"]["rejected_quotes"] == 2 and not redis_client.exists("orderflow:metrics:JUNK:10s")


def test_redis_down_is_degraded_with_backoff_then_recovers(redis_server: RedisServer, redis_client: redis.Redis) -> None:
    port = free_port()
    spare = RedisServer(redis_server.binary, port, redis_server.workdir)
    proc = Processor(RedisQuoteSource.connect("127.0.0.1", port, timeout_s=0.5), ThresholdConfig(), interval_s=0.5)
    delays = [proc.tick(), proc.tick(), proc.tick()]
    st = snapshot()["processor"]
    assert st["state"] == "degraded" and st["consecutive_failures"] == 3
    assert delays == [1.0, 2.0, 4.0] and "unavailable" in st["last_error"]
    spare.start()
    try:
        client = spare.client()
        feed(client, "SPY", baseline(now_ms(), 30))
        assert proc.tick() < 0.5
        st = snapshot()["processor"]
        assert st["state"] == "ok" and st["consecutive_failures"] == 0 and st["total_failures"] == 3
        assert client.exists("orderflow:metrics:SPY:10s")
        client.close()
    finally:
        spare.stop()
    assert proc.tick() == 1.0 and snapshot()["processor"]["state"] == "degraded"
    with pytest.raises(RedisUnavailable):
        proc.run_cycle()


class FakeLive:
    """The LiveView's ``latest`` over a changing quote."""

    def __init__(self) -> None:
        self.quote: Quote | None = None

    def latest(self, exchange: str, market: str, symbol: str, kind: str) -> tuple | None:
        if (exchange, market, symbol, kind) == ("binance", "usdm", "BTCUSDT", "Quote"):
            return self.quote
        return None


def test_service_runs_processor_and_publisher_until_stopped(redis_server: RedisServer, redis_client: redis.Redis) -> None:
    settings: Settings = settings_for(redis_server.port, interval_s=0.2, publish_crypto_quotes=True,
                                      publish_interval_s=0.02)
    assert qf_service.service(settings_for(redis_server.port, enabled=False), None) is None
    live = FakeLive()
    base = now_ms()

    async def main() -> None:
        stop = asyncio.Event()
        run = qf_service.service(settings, live)
        assert run is not None
        task = asyncio.ensure_future(run(stop))
        for i in range(40):
            # exchange time two years back (a replay), received now: scored by receive time
            live.quote = Quote("binance", "usdm", "BTCUSDT", 60000.0 + i, 1.0 + i, 60000.1 + i, 2.0, i,
                               base - 63_072_000_000 + i * 10, time.time_ns())
            await asyncio.sleep(0.03)
        await asyncio.sleep(0.5)
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(main())
    published = redis_client.zrange(quotes_key("BTCUSDT"), 0, -1, withscores=True)
    assert 20 <= len(published) <= 40  # sampled, each distinct quote once
    first = orjson.loads(published[0][0])
    assert first["source"] == "binance_usdm" and published[0][1] == first["recv_ms"] >= base
    assert first["timestamp"] < base - 63_000_000_000
    assert redis_client.ttl(quotes_key("BTCUSDT")) > 0
    h = redis_client.hgetall("orderflow:metrics:BTCUSDT:10s")
    assert int(h[b"quotes"]) == len(published) and h[b"lifts"] != b"0"
    parts = snapshot()
    assert parts["processor"]["state"] == parts["publisher"]["state"] == "stopped"


def test_service_is_off_by_default_and_on_with_a_redis_host() -> None:
    from flowdesk.settings import load_settings

    assert qf_service.service(load_settings(env={}), None) is None
    assert qf_service.service(load_settings(env={"FLOWDESK_QUOTEFLOW_ENABLED": "true"}), None) is not None
    assert qf_service.service(load_settings(env={"REDIS_HOST": "10.0.0.5"}), None) is not None


def test_every_ticker_is_processed_each_cycle(redis_server: RedisServer, redis_client: redis.Redis) -> None:
    """Timing is the benchmark's job (benchmarks/quoteflow.py); here: every cycle covers every
    ticker and records its own timing figures."""
    now = now_ms()
    for i in range(5):
        feed(redis_client, f"T{i}", baseline(now, 300, seed=i))
    proc = Processor(source_of(redis_server), ThresholdConfig())
    for k in range(3):
        proc.run_cycle(now + k * 1000)
    tickers = snapshot()["processor"]["tickers"]
    assert sorted(tickers) == [f"T{i}" for i in range(5)]
    for stats in tickers.values():
        assert stats["runs"] == 3 and stats["p99_ms"] >= stats["p50_ms"] > 0
