"""What the producer moves: frames, Binance stream names, and how subscriptions find frames.

A :class:`Frame` is one market event at one instant. It carries its wire payload already
encoded (``outs``: one ``(stream key, data JSON bytes)`` pair per stream it is published on, so
a replayed ``trade`` is published on ``@trade`` and, converted, on ``@aggTrade``) and a parsed
``payload`` the simulator's own market state applies, so REST answers follow the stream.
"""

from __future__ import annotations

from typing import Any

import orjson

# frame kinds: what the market state does with the payload
DEPTH, TRADE, BOOK_TICKER, MARK, SNAPSHOT, OTHER = range(6)

#: diff-depth stream variants; a subscription to any of them gets the source's depth diffs
DEPTH_DIFF_VARIANTS = ("depth", "depth@0ms", "depth@100ms", "depth@250ms", "depth@500ms")

#: Binance's spelling of each stream kind, keyed by its lower-case form
_KIND_SPELLING = {
    k.lower(): k
    for k in (
        "aggTrade", "trade", "bookTicker", "markPrice", "markPrice@1s", "forceOrder",
        "kline_1m", "ticker", "miniTicker", *DEPTH_DIFF_VARIANTS,
    )
}


class Frame:
    """One event: relative clock ``t_ns``, exchange time ``e_ms``, ``kind``, ``sym`` (upper
    case), ``outs`` (stream key, encoded data) and the parsed ``payload`` for the state."""

    __slots__ = ("e_ms", "kind", "outs", "payload", "sym", "t_ns")

    def __init__(
        self, t_ns: int, e_ms: int, kind: int, sym: str, outs: tuple[tuple[str, bytes], ...], payload: Any
    ) -> None:
        self.t_ns = t_ns
        self.e_ms = e_ms
        self.kind = kind
        self.sym = sym
        self.outs = outs
        self.payload = payload

    def __repr__(self) -> str:
        keys = ",".join(k for k, _ in self.outs)
        return f"Frame(t_ns={self.t_ns}, kind={self.kind}, sym={self.sym}, outs=[{keys}])"


def canonical(name: str) -> str:
    """``BTCUSDT@aggtrade`` -> ``btcusdt@aggTrade``: lower-case symbol, Binance's kind spelling."""
    sym, _, kind = name.partition("@")
    return f"{sym.lower()}@{_KIND_SPELLING.get(kind.lower(), kind)}"


def resolve(name: str, available: set[str]) -> str:
    """The stream key whose frames a subscription to ``name`` receives: the name itself when the
    source publishes it, else the source's depth diffs for any diff-depth variant; a name that
    matches nothing is returned as is (the subscription then simply gets no frames)."""
    name = canonical(name)
    if name in available:
        return name
    sym, _, kind = name.partition("@")
    if kind in DEPTH_DIFF_VARIANTS:
        for variant in DEPTH_DIFF_VARIANTS:
            if f"{sym}@{variant}" in available:
                return f"{sym}@{variant}"
    return name


def envelope_prefix(name: str) -> bytes:
    """The combined-stream wrapper before the data: ``{"stream":"<name>","data":``."""
    return b'{"stream":"' + name.encode() + b'","data":'


def dumps(obj: Any) -> bytes:
    """Compact JSON, the way Binance sends it."""
    return orjson.dumps(obj)


def agg_from_trade(trade: dict[str, Any]) -> dict[str, Any]:
    """A ``trade`` event as the ``aggTrade`` event that aggregates exactly that one trade
    (``a = f = l = t``), in Binance's field order."""
    t = trade["t"]
    return {
        "e": "aggTrade", "E": trade["E"], "a": t, "s": trade["s"], "p": trade["p"],
        "q": trade["q"], "f": t, "l": t, "T": trade["T"], "m": trade["m"],
    }
