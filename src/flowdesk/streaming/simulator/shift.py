"""Time and id shifting for looped replay: loop ``k`` of a capture is the capture moved ``k``
periods later with every id moved ``k`` spans up, so a client sees one long, increasing market.

Shifting re-renders each message from a :class:`Template` (the message with its time and id
fields replaced by ``%d``), made once per capture: no JSON parsing per looped frame."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from flowdesk.streaming.simulator.frames import (
    BOOK_TICKER,
    DEPTH,
    MARK,
    SNAPSHOT,
    TRADE,
    Frame,
    dumps,
)
from flowdesk.streaming.simulator.state import next_funding_ms

MINUTE_MS = 60_000
TIME, TRADE_ID, AGG_ID, BOOK_ID = range(4)  # what a shifted field is
_FIELD = re.compile(rb'"(E|T|t|a|f|l|L|U|u|pu)":(\d+)')
_EVENT = re.compile(rb'"e":"(\w+)"')
#: per event type, which numeric fields move and how (markPriceUpdate has no template: its
#: ``T`` is the next funding time, recomputed from the shifted event time)
_FIELDS: dict[bytes, dict[bytes, int]] = {
    b"depthUpdate": {b"E": TIME, b"T": TIME, b"U": BOOK_ID, b"u": BOOK_ID, b"pu": BOOK_ID},
    b"bookTicker": {b"E": TIME, b"T": TIME, b"u": BOOK_ID},
    b"trade": {b"E": TIME, b"T": TIME, b"t": TRADE_ID},
    b"aggTrade": {b"E": TIME, b"T": TIME, b"a": AGG_ID, b"f": TRADE_ID, b"l": TRADE_ID},
    b"kline": {b"E": TIME, b"t": TIME, b"T": TIME, b"f": TRADE_ID, b"L": TRADE_ID},
    b"forceOrder": {b"E": TIME, b"T": TIME},
}


class Template:
    """A message as ``fmt % shifted_values``; ``None`` from :meth:`make` when the message
    needs the parsing path."""

    __slots__ = ("bases", "cats", "fmt")

    def __init__(self, fmt: bytes, bases: tuple[int, ...], cats: tuple[int, ...]) -> None:
        self.fmt, self.bases, self.cats = fmt, bases, cats

    @classmethod
    def make(cls, data: bytes) -> Template | None:
        m = _EVENT.search(data)
        fields = _FIELDS.get(m.group(1)) if m else None
        if fields is None:
            return None
        parts, bases, cats, pos = [], [], [], 0
        for f in _FIELD.finditer(data):
            cat = fields.get(f.group(1))
            if cat is None:
                continue
            parts += [data[pos : f.start(2)].replace(b"%", b"%%"), b"%d"]
            bases.append(int(f.group(2)))
            cats.append(cat)
            pos = f.end(2)
        parts.append(data[pos:].replace(b"%", b"%%"))
        return cls(b"".join(parts), tuple(bases), tuple(cats))

    def render(self, offs: Sequence[int]) -> bytes:
        return self.fmt % tuple([b + offs[c] for b, c in zip(self.bases, self.cats, strict=True)])


def make_templates(frames: Iterable[Frame]) -> list[tuple[Template | None, ...]]:
    """The templates of every frame's messages, aligned with ``frames``."""
    return [tuple(Template.make(data) for _, data in f.outs) for f in frames]


@dataclass
class Offsets:
    """Per-loop shifts: time (a whole number of minutes, so candles stay aligned), trade ids,
    aggregate trade ids and book update ids (depth ``U/u/pu``, bookTicker ``u``, snapshots)."""

    period_ms: int = MINUTE_MS
    trade_span: int = 0
    agg_span: int = 0
    book_span: int = 0

    @classmethod
    def measure(cls, frames: Iterable[Frame]) -> Offsets:
        times, t_ns, trades, aggs, books = _Range(), _Range(), _Range(), _Range(), _Range()
        for f in frames:
            t_ns.add(f.t_ns)
            if f.e_ms:
                times.add(f.e_ms)
            p = f.payload
            if f.kind == DEPTH:
                books.add(p[0], p[1], *((p[2],) if p[2] >= 0 else ()))
            elif f.kind in (BOOK_TICKER, SNAPSHOT):
                books.add(p[-1] if f.kind == BOOK_TICKER else p[0])
            elif f.kind == TRADE:
                if p[0] is not None:
                    trades.add(p[0][0])
                if p[1] is not None:
                    aggs.add(p[1][0])
                    trades.add(p[1][3], p[1][4])
        span_ms = max(times.span(), t_ns.span() // 1_000_000) + 1000
        period = -(-span_ms // MINUTE_MS) * MINUTE_MS
        return cls(period, trades.span() + 1, aggs.span() + 1, books.span() + 1)


class _Range:
    def __init__(self) -> None:
        self.lo: int | None = None
        self.hi: int | None = None

    def add(self, *values: int) -> None:
        for v in values:
            self.lo = v if self.lo is None or v < self.lo else self.lo
            self.hi = v if self.hi is None or v > self.hi else self.hi

    def span(self) -> int:
        return 0 if self.lo is None or self.hi is None else self.hi - self.lo


def loop_offsets(k: int, o: Offsets) -> tuple[int, int, int, int]:
    """``(time ms, trade id, aggregate id, book id)`` shifts of loop ``k``."""
    return k * o.period_ms, k * o.trade_span, k * o.agg_span, k * o.book_span


def shift_frame(frame: Frame, offs: tuple[int, int, int, int], templates: tuple[Template | None, ...] = ()) -> Frame:
    """``frame`` moved by ``offs`` (see :func:`loop_offsets`); ``templates`` from
    :func:`make_templates` make it fast, without them the messages are re-parsed."""
    dt = offs[0]
    if templates and None not in templates:
        outs = tuple([(key, t.render(offs)) for (key, _), t in zip(frame.outs, templates, strict=True)])  # type: ignore[union-attr]
    else:
        outs = tuple([(key, dumps(_shift_event(orjson.loads(data), *offs))) for key, data in frame.outs])
    e_ms = frame.e_ms + dt if frame.e_ms else 0
    payload = _shift_payload(frame.kind, frame.payload, e_ms, *offs)
    return Frame(frame.t_ns + dt * 1_000_000, e_ms, frame.kind, frame.sym, outs, payload)


def _shift_payload(kind: int, p: Any, e_ms: int, dt: int, dtr: int, dag: int, db: int) -> Any:
    if kind == DEPTH:
        return (p[0] + db, p[1] + db, p[2] + db if p[2] >= 0 else p[2], p[3], p[4])
    if kind == BOOK_TICKER:
        return (*p[:4], p[4] + db)
    if kind == SNAPSHOT:
        return (p[0] + db, p[1], p[2])
    if kind == MARK:
        return (*p[:4], next_funding_ms(e_ms))
    if kind == TRADE:
        trade, agg = p
        if trade is not None:
            trade = (trade[0] + dtr, trade[1], trade[2], trade[3] + dt, trade[4])
        if agg is not None:
            agg = (agg[0] + dag, agg[1], agg[2], agg[3] + dtr, agg[4] + dtr, agg[5] + dt, agg[6])
        return trade, agg
    return p


def _shift_event(d: Any, dt: int, dtr: int, dag: int, db: int) -> Any:
    """Shift one event's times and ids in place, by event type."""
    if not isinstance(d, dict):
        return d
    for f in ("E", "T"):
        if isinstance(d.get(f), int) and d[f] > 0:
            d[f] += dt
    e = d.get("e")
    if e == "depthUpdate":
        for f in ("U", "u", "pu"):
            if d.get(f, -1) >= 0:
                d[f] += db
    elif e == "bookTicker":
        d["u"] += db
    elif e == "trade":
        d["t"] += dtr
    elif e == "aggTrade":
        d["a"] += dag
        d["f"] += dtr
        d["l"] += dtr
    elif e == "markPriceUpdate":
        d["T"] = next_funding_ms(d["E"])
    elif e == "kline":
        k = d["k"]
        k["t"] += dt
        k["T"] += dt
        for f in ("f", "L"):
            if k.get(f, -1) >= 0:
                k[f] += dtr
    elif e == "forceOrder" and isinstance(d.get("o"), dict):
        d["o"]["T"] += dt
    return d
