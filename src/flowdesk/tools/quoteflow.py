"""Quote-flow tools: top-of-book order-flow analysis of tickers whose quotes are in Redis
(``orderflow:quotes:{ticker}``, published by a data broker or by flowdesk's own crypto
collector). Both tools read Redis directly (``redis`` settings: ``REDIS_HOST``...), so they work
in ``flowdesk serve`` and in a stand-alone ``flowdesk mcp``. Rules: ``docs/quoteflow.md``.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime
from typing import Any

from flowdesk.analytics.quoteflow import status as qf_status
from flowdesk.analytics.quoteflow.analysis import Analysis, analyze
from flowdesk.analytics.quoteflow.config import TICKER_RE
from flowdesk.analytics.quoteflow.metrics import WINDOWS_S
from flowdesk.analytics.quoteflow.quotes import parse_members
from flowdesk.analytics.quoteflow.report import order_flow_document, to_xml
from flowdesk.analytics.quoteflow.service import source_for, threshold_config
from flowdesk.settings import Settings, load_settings
from flowdesk.storage.redis_quotes import (
    QuoteSourceError,
    RedisQuoteSource,
    RedisUnavailable,
    quotes_key,
)
from flowdesk.tools.context import get_context, iso, now_ms, provenance
from flowdesk.tools.registry import ToolError, tool

MIN_HISTORY_S = 10
MAX_HISTORY_S = 3600
MAX_QUOTES = 100_000
KNOWN_SHOWN = 25
_HISTORY_RE = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*(s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?)\s*$", re.IGNORECASE
)
_UNIT_S = {"s": 1, "m": 60, "h": 3600}
_SOURCES: dict[tuple[Any, ...], RedisQuoteSource] = {}
_LOCK = threading.Lock()


def parse_history(history: Any) -> int:
    """``'30s'``, ``'5mins'``, ``'1 minute'``, ``'1h'`` ... as whole seconds (10 s to 1 h)."""
    m = _HISTORY_RE.match(history) if isinstance(history, str) else None
    if m is None:
        raise ToolError(f"history must look like '30s', '5mins' or '1h', got {history!r}")
    seconds = round(float(m.group(1)) * _UNIT_S[m.group(2)[0].lower()])
    if not MIN_HISTORY_S <= seconds <= MAX_HISTORY_S:
        raise ToolError(f"history must be from {MIN_HISTORY_S}s to {MAX_HISTORY_S // 60}mins, got {history!r}")
    return seconds


def _settings() -> Settings:
    try:
        return get_context().settings
    except ToolError:  # no data store open (e.g. a test or a bare import): settings alone
        return load_settings()


def _source(settings: Settings) -> RedisQuoteSource:
    r = settings.redis
    key = (r.address, r.port, r.db, r.password, r.timeout_s)
    with _LOCK:
        if key not in _SOURCES:
            _SOURCES[key] = source_for(settings)
        return _SOURCES[key]


def _check_ticker(ticker: Any) -> str:
    if not isinstance(ticker, str) or not TICKER_RE.match(ticker.strip()):
        raise ToolError(f"ticker must be a symbol like 'SPY' or 'BTCUSDT' (letters, digits, . _ : / + -), got {ticker!r}")
    return ticker.strip()


def _unavailable(exc: QuoteSourceError) -> ToolError:
    if isinstance(exc, RedisUnavailable):
        return ToolError(f"{exc}. Quote-flow analysis reads Redis: check REDIS_HOST / REDIS_PORT and the data broker")
    return ToolError(str(exc))


def _unknown(source: RedisQuoteSource, ticker: str) -> ToolError:
    known = source.discover()
    hint = [k for k in known if k.lower() == ticker.lower()]
    shown = known[:KNOWN_SHOWN] + (["..."] if len(known) > KNOWN_SHOWN else [])
    also = f" (did you mean {hint[0]!r}? tickers are case-sensitive)" if hint else ""
    return ToolError(f"unknown ticker {ticker!r}: no {quotes_key(ticker)} in Redis {source.label}{also}; known: {shown}")


def _load(
    source: RedisQuoteSource, settings: Settings, ticker: str, history_s: int, at_ms: int
) -> tuple[Analysis, list[str]]:
    latest = source.latest(ticker)
    if latest is None:
        raise _unknown(source, ticker)
    last_ms = int(latest[1])
    age_s = (at_ms - last_ms) / 1000
    if age_s > history_s:
        raise ToolError(
            f"no recent quotes for {ticker}: the last one is {age_s:.0f} s old ({iso(last_ms)}), "
            f"older than the {history_s}s history asked for"
        )
    span_s = max(history_s, *WINDOWS_S)
    parsed = parse_members(source.quotes(ticker, at_ms - span_s * 1000, newest=MAX_QUOTES))
    warnings = []
    if len(parsed.quotes) + parsed.rejected >= MAX_QUOTES:
        warnings.append(f"only the newest {MAX_QUOTES} quotes were read (cap); older ones are left out")
    if parsed.rejected:
        warnings.append(f"{parsed.rejected} quote member(s) rejected, e.g.: {parsed.last_error}")
    windows = tuple(w for w in WINDOWS_S if w <= history_s) or (WINDOWS_S[0],)
    a = analyze(parsed.quotes, ticker, at_ms, threshold_config(settings), windows, history_s, history_s)
    return a, warnings + a.warnings


def _processor_info(source: RedisQuoteSource, ticker: str, at_ms: int) -> dict[str, Any]:
    stored = source.metrics(ticker, WINDOWS_S[0])
    updated = int(stored["updated_at"]) if stored.get("updated_at", "").isdigit() else None
    here = qf_status.snapshot().get("processor")
    return {
        "results_age_s": None if updated is None else round((at_ms - updated) / 1000, 3),
        "state_here": None if here is None else here["state"],
    }


@tool("quoteflow")
def analyze_order_flow(
    ticker: str, history: str = "5mins", include_patterns: bool = True, format: str = "xml"
) -> dict[str, Any]:
    """Order-flow analysis of one ticker's recent top-of-book quotes from Redis
    (``orderflow:quotes:{ticker}``: broker-published tickers like SPY or an option, or
    BTCUSDT when flowdesk publishes its crypto best bid/ask).

    ``history``: '10s' to '60mins' (e.g. '30s', '1min', '5mins', '1h'; default '5mins'); windows
    longer than it are left out.
    ``format``: 'xml' (default) or 'json'.

    Returns ``ticker``, ``format`` and either ``xml`` — the document
    ``<order_flow_data ticker timestamp current_price history_window>`` — or ``order_flow``
    (the same content as JSON): current quote (bid/ask price and size, bid/ask size ratio,
    spread and bps, age); momentum per window (last_10s/60s/300s: bid/ask/mid price change,
    bid and ask lifts and drops, size changes, spread avg/min/max); size metrics (thresholds in
    force, large bids/asks, average sizes, size ratio, size churn, acceleration second half vs
    first half); velocity (quotes/s, mid change per s and bps/s); behaviours as YES/NO
    (bid_stacking, ask_pulling, spread_tightening, momentum_building, aggressive_buying...);
    significant price levels per side (price, appearances, large appearances, size,
    significance, distance from mid in %); and, with ``include_patterns``, patterns (absorption,
    stacking, momentum_shift, sweep, iceberg) with side, direction, strength, score, price,
    ``status`` active (detected now) or recent (stored by the background processor) and
    ``seconds_ago``. Also ``source`` (redis address, key, window, as_of, data_age_s),
    ``processor`` (age of the background results) and ``warnings``.
    Errors: an unknown ticker (lists known ones), no quotes within the history (says the age of
    the last quote), Redis unreachable.
    """
    ticker = _check_ticker(ticker)
    history_s = parse_history(history)
    if not isinstance(include_patterns, bool):
        raise ToolError(f"include_patterns must be true or false, got {include_patterns!r}")
    if format not in ("xml", "json"):
        raise ToolError(f"format must be 'xml' or 'json', got {format!r}")
    settings = _settings()
    source = _source(settings)
    at_ms = now_ms()
    try:
        a, warnings = _load(source, settings, ticker, history_s, at_ms)
        stored = source.patterns_since(ticker, at_ms - history_s * 1000) if include_patterns else []
        processor = _processor_info(source, ticker, at_ms)
    except QuoteSourceError as exc:
        raise _unavailable(exc) from None
    if include_patterns and processor["results_age_s"] is None:
        warnings.append("no background processor results for this ticker: patterns are the ones detected now only")
    doc = order_flow_document(a, at_ms, history_s, include_patterns, stored, iso)
    as_of = None if a.last is None else datetime.fromtimestamp(int(a.last["ts"]) / 1000, tz=UTC).replace(tzinfo=None)
    src = provenance(["redis"], ticker, f"{iso(at_ms - history_s * 1000)}/{iso(at_ms)}", as_of)
    src |= {"redis": source.label, "key": quotes_key(ticker)}
    out: dict[str, Any] = {"ticker": ticker, "format": format}
    if format == "json":
        out["order_flow"] = doc
    else:
        out["xml"] = to_xml(doc, {"warnings": warnings})
    return out | {"processor": processor, "source": src, "warnings": warnings}


@tool("quoteflow")
def get_quoteflow_status() -> dict[str, Any]:
    """Health of the quote-flow analysis.

    Returns ``status`` (``ok``, ``degraded`` when Redis is unreachable or a background part is
    degraded, ``off`` when no processor runs in this process and Redis is fine), ``redis``
    (address, reachable, error), ``processor`` and ``publisher`` as run by ``flowdesk serve``
    (state ok/degraded/starting/stopped, cycles, consecutive and total failures, last error,
    retry_in_s, last cycle ms, per ticker: runs, errors, last/p50/p99 ms, over-budget count,
    quotes cached, rejected quotes) or null when not running here, ``tickers`` found in Redis
    (first 100), the effective ``settings`` and ``source``.
    """
    settings = _settings()
    source = _source(settings)
    redis_info: dict[str, Any] = {"address": source.label, "reachable": True, "error": None}
    tickers: list[str] = []
    try:
        source.ping()
        tickers = source.discover()
    except QuoteSourceError as exc:
        redis_info |= {"reachable": False, "error": str(exc)}
    parts = qf_status.snapshot()
    running = [p for p in parts.values() if p["state"] != "stopped"]
    degraded = not redis_info["reachable"] or any(p["state"] == "degraded" for p in running)
    q = settings.quoteflow
    return {
        "status": "degraded" if degraded else ("ok" if running else "off"),
        "redis": redis_info,
        "processor": parts.get("processor"),
        "publisher": parts.get("publisher"),
        "tickers": tickers[:100],
        "tickers_total": len(tickers),
        "settings": {
            "processor_enabled": q.processor_enabled(settings.redis),
            "interval_s": q.interval_s,
            "tickers": list(q.tickers) or "discover",
            "thresholds_preset": q.thresholds_preset,
            "publish_crypto_quotes": q.publish_crypto_quotes,
        },
        "source": provenance(["redis"], None, None, None),
    }
