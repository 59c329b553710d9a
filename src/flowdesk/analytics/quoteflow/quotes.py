"""Quotes as columns, and the JSON member format a data broker writes into Redis.

A quote source is a Redis sorted set ``orderflow:quotes:{ticker}``: score = quote time in epoch
**milliseconds**, member = one JSON object, e.g. (the shape the options data broker writes)::

    {"bid_price": 450.25, "ask_price": 450.30, "bid_size": 5000, "ask_size": 2000,
     "timestamp": 1736937045123}

Field names are matched against :data:`FIELD_ALIASES` (first match wins), so ``bid``/``ask``,
``bid_price``/``ask_price``, ``bidPrice``, Binance's ``b``/``B``/``a``/``A`` and
``bid_qty``/``bid_amount`` all work. Numbers may be JSON numbers or decimal strings. The
**score** is the quote's time; a ``timestamp`` field in the member is not needed and not used
(the score is what windows are cut on). A member that is not JSON, lacks a price, has a
non-finite or negative value, a zero ask, or a bid above the ask (crossed) is rejected and
counted; a zero bid is accepted (deep out-of-the-money options often have no bid).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

#: canonical field -> accepted member keys, in order of preference
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "bid": ("bid", "bid_price", "bidPrice", "best_bid", "bp", "b"),
    "ask": ("ask", "ask_price", "askPrice", "best_ask", "ap", "a"),
    "bid_size": ("bid_size", "bidSize", "bid_qty", "bidQty", "bid_amount", "bid_sz", "bs", "B"),
    "ask_size": ("ask_size", "askSize", "ask_qty", "askQty", "ask_amount", "ask_sz", "as", "A"),
}
_FIELDS = ("bid", "ask", "bid_size", "ask_size")


class QuoteFormatError(ValueError):
    """A quote member that cannot be read; the message says why."""


@dataclass(frozen=True)
class QuoteArrays:
    """Quotes as parallel arrays sorted by time: ``ts`` int64 epoch ms, prices and sizes float64."""

    ts: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    bid_size: np.ndarray
    ask_size: np.ndarray

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    @classmethod
    def empty(cls) -> QuoteArrays:
        f = np.empty(0, dtype=np.float64)
        return cls(np.empty(0, dtype=np.int64), f, f, f, f)

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[int, float, float, float, float]]) -> QuoteArrays:
        """Build from ``(ts, bid, ask, bid_size, ask_size)`` rows (sorted here, stably)."""
        if not rows:
            return cls.empty()
        data = np.asarray(rows, dtype=np.float64)
        ts = data[:, 0].astype(np.int64)
        order = np.argsort(ts, kind="stable")
        return cls(ts[order], *(np.ascontiguousarray(data[order, i]) for i in range(1, 5)))

    @classmethod
    def from_columns(cls, ts: np.ndarray, bid: np.ndarray, ask: np.ndarray, bid_size: np.ndarray,
                     ask_size: np.ndarray) -> QuoteArrays:
        """Build from columns (sorted here by time, stably)."""
        order = np.argsort(ts, kind="stable")
        return cls(ts[order], bid[order], ask[order], bid_size[order], ask_size[order])

    def _take(self, idx: slice | np.ndarray) -> QuoteArrays:
        return QuoteArrays(self.ts[idx], self.bid[idx], self.ask[idx], self.bid_size[idx], self.ask_size[idx])

    def window(self, end_ms: int, seconds: float) -> QuoteArrays:
        """Quotes with ``end_ms - seconds*1000 < ts <= end_ms``."""
        lo = int(np.searchsorted(self.ts, end_ms - int(seconds * 1000), side="right"))
        hi = int(np.searchsorted(self.ts, end_ms, side="right"))
        return self._take(slice(lo, hi))

    def since(self, start_ms: int) -> QuoteArrays:
        """Quotes with ``ts > start_ms``."""
        return self._take(slice(int(np.searchsorted(self.ts, start_ms, side="right")), None))

    def tail(self, n: int) -> QuoteArrays:
        """The newest ``n`` quotes (all of them when there are fewer)."""
        return self._take(slice(max(0, len(self) - n), None))

    def concat(self, newer: QuoteArrays) -> QuoteArrays:
        """This plus ``newer``, kept sorted by time (a late quote is put in its place)."""
        if len(newer) == 0:
            return self
        if len(self) == 0:
            return newer
        parts = [np.concatenate((a, b)) for a, b in zip(self.columns(), newer.columns(), strict=True)]
        out = QuoteArrays(*parts)
        if newer.ts[0] < self.ts[-1]:
            out = out._take(np.argsort(out.ts, kind="stable"))
        return out

    def columns(self) -> tuple[np.ndarray, ...]:
        return (self.ts, self.bid, self.ask, self.bid_size, self.ask_size)

    @property
    def mid(self) -> np.ndarray:
        return (self.bid + self.ask) / 2.0

    @property
    def spread(self) -> np.ndarray:
        return self.ask - self.bid


def _number(obj: dict[str, Any], field: str) -> float:
    for key in FIELD_ALIASES[field]:
        if key in obj and obj[key] is not None:
            raw = obj[key]
            try:
                value = float(raw)
            except (TypeError, ValueError):
                raise QuoteFormatError(f"field {key!r} is not a number: {raw!r}") from None
            if not math.isfinite(value) or value < 0:
                raise QuoteFormatError(f"field {key!r} must be finite and >= 0, got {raw!r}")
            return value
    raise QuoteFormatError(f"no {field} field (accepted names: {list(FIELD_ALIASES[field])})")


def parse_member(member: bytes | str, score: float) -> tuple[int, float, float, float, float]:
    """One sorted-set member and its score as ``(ts_ms, bid, ask, bid_size, ask_size)``;
    :class:`QuoteFormatError` when it cannot be used."""
    try:
        obj = orjson.loads(member)
    except orjson.JSONDecodeError as exc:
        raise QuoteFormatError(f"member is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise QuoteFormatError("member must be a JSON object")
    bid, ask, bid_size, ask_size = (_number(obj, f) for f in _FIELDS)
    if ask <= 0:
        raise QuoteFormatError(f"ask must be > 0, got {ask}")
    if bid > ask:
        raise QuoteFormatError(f"crossed quote: bid {bid} > ask {ask}")
    return int(score), bid, ask, bid_size, ask_size


@dataclass(frozen=True)
class Parsed:
    """Members turned into arrays, with the rejected ones (their scores) and the last reason."""

    quotes: QuoteArrays
    rejected_scores: list[float]
    last_error: str | None

    @property
    def rejected(self) -> int:
        return len(self.rejected_scores)


def _slow(pairs: Sequence[tuple[bytes | str, float]]) -> Parsed:
    rows: list[tuple[int, float, float, float, float]] = []
    rejected: list[float] = []
    last_error = None
    for member, score in pairs:
        try:
            rows.append(parse_member(member, score))
        except QuoteFormatError as exc:
            rejected.append(float(score))
            last_error = str(exc)
    return Parsed(QuoteArrays.from_rows(rows), rejected, last_error)


def _key_names(first: Any) -> list[str] | None:
    if not isinstance(first, dict):
        return None
    names = [next((k for k in FIELD_ALIASES[f] if k in first), None) for f in _FIELDS]
    return None if None in names else [n for n in names if n is not None]


def _fast(pairs: Sequence[tuple[bytes | str, float]]) -> Parsed | None:
    """All members in one ``orjson.loads`` and the checks vectorised; members that fail a
    check (or use other field names than the first) go through :func:`parse_member` for the
    verdict. None when the batch cannot take this path (a member is not valid JSON...)."""
    try:
        objs = orjson.loads(b"[" + b",".join(m.encode() if isinstance(m, str) else m for m, _ in pairs) + b"]")
        names = _key_names(objs[0])
        if names is None:
            return None
        cols = [np.array([o.get(n) for o in objs], dtype=object).astype(np.float64) for n in names]
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
        return None
    bid, ask, bid_size, ask_size = cols
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(np.stack(cols)).all(axis=0) & (bid >= 0) & (bid_size >= 0) & (ask_size >= 0)
        ok &= (ask > 0) & (bid <= ask)
    scores = np.fromiter((s for _, s in pairs), dtype=np.float64, count=len(pairs))
    good = QuoteArrays.from_columns(scores[ok].astype(np.int64), bid[ok], ask[ok], bid_size[ok], ask_size[ok])
    if ok.all():
        return Parsed(good, [], None)
    retry = _slow([pairs[i] for i in np.flatnonzero(~ok)])
    return Parsed(good.concat(retry.quotes), retry.rejected_scores, retry.last_error)


def parse_members(pairs: Sequence[tuple[bytes | str, float]]) -> Parsed:
    """Parse ``(member, score)`` pairs as returned by ``ZRANGEBYSCORE ... WITHSCORES``."""
    if not pairs:
        return Parsed(QuoteArrays.empty(), [], None)
    return _fast(pairs) or _slow(pairs)


def quote_member(bid: float, ask: float, bid_size: float, ask_size: float, ts_ms: int, **extra: Any) -> bytes:
    """The JSON member flowdesk writes (e.g. the crypto publisher): canonical names plus
    ``timestamp`` and any ``extra`` fields (which also keep otherwise equal members distinct)."""
    return orjson.dumps(
        {"bid": float(bid), "ask": float(ask), "bid_size": float(bid_size), "ask_size": float(ask_size),
         "timestamp": int(ts_ms), **extra}
    )
