"""The Redis quote source: where brokers publish quotes and where quote-flow results go.

Keys (``{ticker}`` as published, case-sensitive):

| key | type | content | TTL |
|---|---|---|---|
| ``orderflow:quotes:{ticker}`` | sorted set | score = epoch ms, member = JSON quote (see :mod:`flowdesk.analytics.quoteflow.quotes`) | the publisher's |
| ``orderflow:metrics:{ticker}:{w}s`` | hash | window metrics, flags, current quote (``w`` = 10, 60, 300) | 2 x window, within 60..600 s |
| ``orderflow:patterns:{ticker}`` | sorted set | score = detection epoch ms, member = JSON pattern | 3600 s, older trimmed |
| ``orderflow:levels:{ticker}:{bid,ask}`` | sorted set | score = significance, member = JSON level | 3600 s |

Connection failures (refused, timeout, auth, loading) raise :class:`RedisUnavailable`; every
other Redis error on one key (e.g. ``WRONGTYPE``) raises :class:`QuoteSourceError`, so a
caller can tell "Redis is down" from "this ticker's key is bad".
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

QUOTES_PREFIX = "orderflow:quotes:"
PATTERNS_TTL_S = 3600
LEVELS_TTL_S = 3600


class QuoteSourceError(RuntimeError):
    """A Redis error about one key or command (wrong type, bad data)."""


class RedisUnavailable(QuoteSourceError):
    """Redis cannot be reached (refused, timed out, authentication failed, still loading)."""


def quotes_key(ticker: str) -> str:
    return f"{QUOTES_PREFIX}{ticker}"


def metrics_key(ticker: str, window_s: int) -> str:
    return f"orderflow:metrics:{ticker}:{window_s}s"


def patterns_key(ticker: str) -> str:
    return f"orderflow:patterns:{ticker}"


def levels_key(ticker: str, side: str) -> str:
    return f"orderflow:levels:{ticker}:{side}"


def metrics_ttl_s(window_s: int) -> int:
    """Twice the window, kept within 60..600 s (10 s -> 60, 60 s -> 120, 300 s -> 600)."""
    return max(60, min(600, 2 * window_s))


@contextmanager
def _guard(what: str, label: str) -> Iterator[None]:
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
        raise RedisUnavailable(f"Redis at {label} is unavailable ({what}): {exc}") from None
    except redis.RedisError as exc:
        raise QuoteSourceError(f"Redis error on {what}: {exc}") from None


class RedisQuoteSource:
    """Reads quotes and writes quote-flow results; thread-safe (one client, a connection pool)."""

    def __init__(self, client: redis.Redis, label: str) -> None:
        self.client = client
        self.label = label

    @classmethod
    def connect(
        cls, host: str, port: int, db: int = 0, password: str | None = None, timeout_s: float = 2.0
    ) -> RedisQuoteSource:
        """A source for ``host:port/db``; no round trip is made here (see :meth:`ping`)."""
        client = redis.Redis(
            host=host,
            port=port,
            db=db,
            password=password or None,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            health_check_interval=30,
            retry=Retry(NoBackoff(), 1),  # one immediate retry (a stale pooled socket); backoff is ours
            protocol=2,  # RESP2: its pure-Python reply parser is about twice as fast as RESP3's
        )
        return cls(client, f"{host}:{port}/{db}")

    def close(self) -> None:
        self.client.close()

    def ping(self) -> None:
        with _guard("PING", self.label):
            self.client.ping()

    # ---- reading quotes --------------------------------------------------------------------

    def discover(self, limit: int = 1000) -> list[str]:
        """Tickers with a quotes sorted set (``SCAN`` over ``orderflow:quotes:*``), sorted."""
        found: set[str] = set()
        with _guard("SCAN", self.label):
            for key in self.client.scan_iter(match=f"{QUOTES_PREFIX}*", count=1000, _type="zset"):
                found.add(key.decode() if isinstance(key, bytes) else str(key))
                if len(found) >= limit:
                    break
        return sorted(k[len(QUOTES_PREFIX) :] for k in found)

    def latest(self, ticker: str) -> tuple[bytes, float] | None:
        """The newest member and its score, or None when the key does not exist or is empty."""
        with _guard(f"ZREVRANGE {quotes_key(ticker)}", self.label):
            rows = self.client.zrevrange(quotes_key(ticker), 0, 0, withscores=True)
        return (bytes(rows[0][0]), float(rows[0][1])) if rows else None

    def quotes(self, ticker: str, min_ms: float, newest: int | None = None) -> list[tuple[bytes, float]]:
        """``(member, score)`` with ``score >= min_ms``, oldest first. With ``newest``, only the
        newest that many (the caller is told by getting exactly ``newest`` back)."""
        key = quotes_key(ticker)
        with _guard(f"ZRANGEBYSCORE {key}", self.label):
            if newest is None:
                rows = self.client.zrangebyscore(key, min_ms, "+inf", withscores=True)
            else:
                rows = self.client.zrevrangebyscore(key, "+inf", min_ms, start=0, num=newest, withscores=True)
                rows.reverse()
        return [(bytes(m), float(s)) for m, s in rows]

    def quotes_and_count(self, ticker: str, min_ms: float, count_after_ms: float) -> tuple[list[tuple[bytes, float]], int]:
        """Quotes with ``score >= min_ms`` (oldest first) and, read atomically with them, how
        many members have ``score > count_after_ms`` (what a cache of that span should hold)."""
        key = quotes_key(ticker)
        pipe = self.client.pipeline(transaction=True)
        pipe.zrangebyscore(key, min_ms, "+inf", withscores=True)
        pipe.zcount(key, f"({count_after_ms}", "+inf")
        with _guard(f"ZRANGEBYSCORE {key}", self.label):
            rows, count = pipe.execute()
        return [(bytes(m), float(s)) for m, s in rows], int(count)

    # ---- results ---------------------------------------------------------------------------

    def write_results(
        self,
        ticker: str,
        metrics: dict[int, dict[str, Any]],
        patterns: Sequence[tuple[bytes, float]],
        levels: dict[str, Sequence[tuple[bytes, float]]],
        now_ms: int,
    ) -> None:
        """Replace the metrics hashes and levels, add new patterns and trim old ones, in one
        transaction so a reader never sees a half-written ticker."""
        pipe = self.client.pipeline(transaction=True)
        for window_s, fields in metrics.items():
            key = metrics_key(ticker, window_s)
            pipe.delete(key)
            pipe.hset(key, mapping={k: _scalar(v) for k, v in fields.items()})
            pipe.expire(key, metrics_ttl_s(window_s))
        pkey = patterns_key(ticker)
        if patterns:
            pipe.zadd(pkey, {m: s for m, s in patterns})
        pipe.zremrangebyscore(pkey, "-inf", now_ms - PATTERNS_TTL_S * 1000)
        pipe.expire(pkey, PATTERNS_TTL_S)
        for side, rows in levels.items():
            key = levels_key(ticker, side)
            pipe.delete(key)
            if rows:
                pipe.zadd(key, {m: s for m, s in rows})
                pipe.expire(key, LEVELS_TTL_S)
        with _guard(f"results of {ticker}", self.label):
            pipe.execute()

    def patterns_since(self, ticker: str, since_ms: float) -> list[dict[str, Any]]:
        """Stored pattern onsets with a detection time >= ``since_ms``, oldest first."""
        with _guard(f"ZRANGEBYSCORE {patterns_key(ticker)}", self.label):
            rows = self.client.zrangebyscore(patterns_key(ticker), since_ms, "+inf")
        out = []
        for raw in rows:
            try:
                item = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(item, dict):
                out.append(item)
        return out

    def metrics(self, ticker: str, window_s: int) -> dict[str, str]:
        """The stored metrics hash of one window (empty when absent or expired)."""
        with _guard(f"HGETALL {metrics_key(ticker, window_s)}", self.label):
            raw = self.client.hgetall(metrics_key(ticker, window_s))
        return {_text(k): _text(v) for k, v in raw.items()}

    def levels(self, ticker: str, side: str, top: int = 10) -> list[dict[str, Any]]:
        """The stored levels of one side, most significant first."""
        with _guard(f"ZREVRANGE {levels_key(ticker, side)}", self.label):
            rows = self.client.zrevrange(levels_key(ticker, side), 0, top - 1)
        return [orjson.loads(r) for r in rows]

    # ---- publishing ------------------------------------------------------------------------

    def publish(self, quotes: Sequence[tuple[str, bytes, float]], keep_ms: float, now_ms: int) -> None:
        """Add ``(ticker, member, score)`` quotes; drop each touched ticker's quotes older than
        ``keep_ms`` and let an abandoned key expire after twice that."""
        pipe = self.client.pipeline(transaction=False)
        tickers = sorted({t for t, _, _ in quotes})
        for ticker in tickers:
            pipe.zadd(quotes_key(ticker), {m: s for t, m, s in quotes if t == ticker})
            pipe.zremrangebyscore(quotes_key(ticker), "-inf", now_ms - keep_ms)
            pipe.expire(quotes_key(ticker), max(1, int(2 * keep_ms / 1000)))
        with _guard("publishing quotes", self.label):
            pipe.execute()


def _scalar(value: Any) -> str | int | float:
    if isinstance(value, bool):
        return "YES" if value else "NO"
    if isinstance(value, int | float | str):
        return value
    return orjson.dumps(value).decode()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
