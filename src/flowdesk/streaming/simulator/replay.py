"""Replay source: capture files (``<recv ns> <combined-stream JSON>``) turned into frames.

Everything per frame is done once at load: the JSON is parsed for the market state, the data
part is kept as the exact bytes of the capture (sliced, not re-encoded), ``trade`` frames get
an ``aggTrade`` twin, and once-a-second ``markPrice``/``kline_1m`` frames are derived where the
capture has none. Loaded captures are cached per process, keyed by path, size and mtime.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from flowdesk.streaming.captures import iter_capture
from flowdesk.streaming.simulator.config import spec_for
from flowdesk.streaming.simulator.frames import (
    BOOK_TICKER,
    DEPTH,
    MARK,
    OTHER,
    SNAPSHOT,
    TRADE,
    Frame,
    agg_from_trade,
    canonical,
    dumps,
)
from flowdesk.streaming.simulator.periodic import Periodic
from flowdesk.streaming.simulator.shift import (
    Offsets,
    Template,
    loop_offsets,
    make_templates,
    shift_frame,
)
from flowdesk.streaming.simulator.state import FUNDING_RATE, level

# (recv ns, stream name or None for a bare REST snapshot, parsed data, raw data bytes)
Entry = tuple[int, str | None, dict[str, Any], bytes]
_CACHE: dict[tuple[tuple[str, int, int], ...], Capture] = {}
_CACHE_MAX = 4


class Capture:
    """The frames of one or more capture files merged by receive time, ready to replay."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.snapshots: dict[str, Frame] = {}  # first REST snapshot per symbol
        self.streams: set[str] = set()  # every stream key a frame is published on
        self.symbols: list[str] = []
        self.native_mark: set[str] = set()  # symbols whose capture has markPrice frames
        self.skipped_lines = 0
        self.offsets = Offsets()
        self._templates: list[tuple[Template | None, ...]] | None = None

    def templates(self) -> list[tuple[Template | None, ...]]:
        """Loop templates of every frame (made on first use: only looping needs them)."""
        if self._templates is None:
            self._templates = make_templates(self.frames)
        return self._templates


def load_captures(paths: list[Path]) -> Capture:
    """Load (or fetch from the cache) the merged capture of ``paths``."""
    key = tuple((str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in paths)
    if key not in _CACHE:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = _build(paths)
    return _CACHE[key]


def _build(paths: list[Path]) -> Capture:
    cap = Capture()
    per_file = []
    for path in paths:
        entries, skipped = _read_file(path)
        cap.skipped_lines += skipped
        per_file.append(entries)
    merged = list(heapq.merge(*per_file, key=lambda e: e[0]))
    if not merged:
        raise ValueError(f"no frames in {', '.join(map(str, paths))}")
    _FrameBuilder(cap, merged).run()
    cap.offsets = Offsets.measure(cap.frames)
    return cap


def _read_file(path: Path) -> tuple[list[Entry], int]:
    """Parse one file; bare snapshots get their symbol as ``data["__symbol__"]``."""
    entries: list[Entry] = []
    skipped = 0
    for ns, raw in iter_capture(path):
        msg = orjson.loads(raw)
        if isinstance(msg, dict) and "stream" in msg and "data" in msg:
            entries.append((ns, msg["stream"], msg["data"], _data_bytes(raw, msg)))
        elif isinstance(msg, dict) and "lastUpdateId" in msg:
            entries.append((ns, None, msg, b""))
        else:
            skipped += 1
    _attribute_snapshots(entries)
    return entries, skipped


def _data_bytes(raw: str, msg: dict[str, Any]) -> bytes:
    """The data part exactly as captured when the envelope is the usual compact one."""
    prefix = '{"stream":"' + msg["stream"] + '","data":'
    if raw.startswith(prefix) and raw.endswith("}"):
        return raw[len(prefix) : -1].encode()
    return dumps(msg["data"])


def _symbol_of(name: str, data: Any) -> str:
    sym = None
    if isinstance(data, dict):
        order = data.get("o")
        sym = data.get("s") or (order.get("s") if isinstance(order, dict) else None)
    return str(sym or name.partition("@")[0]).upper()


def _attribute_snapshots(entries: list[Entry]) -> None:
    """A bare ``{"lastUpdateId":...}`` line names no symbol: give it the file's only symbol,
    or in a multi-symbol file the one whose prices are closest to the snapshot's best bid."""
    snapshots = [data for _, name, data, _ in entries if name is None]
    if not snapshots:
        return
    symbols = {name.partition("@")[0].upper() for name in {e[1] for e in entries if e[1] is not None}}
    prices = {} if len(symbols) < 2 else _first_prices(entries)
    for data in snapshots:
        explicit = data.get("symbol") or data.get("s")
        if explicit:
            data["__symbol__"] = str(explicit).upper()
        elif len(symbols) == 1:
            data["__symbol__"] = next(iter(symbols))
        elif prices and data.get("bids"):
            best = float(data["bids"][0][0])
            data["__symbol__"] = min(prices, key=lambda s: abs(math.log(prices[s] / best)))


def _first_prices(entries: list[Entry]) -> dict[str, float]:
    """The first price (trade, quote or candle) seen for each symbol."""
    prices: dict[str, float] = {}
    for _, name, data, _raw in entries:
        if name is not None and isinstance(data, dict):
            price = data.get("p") or data.get("b") or data.get("c")
            sym = _symbol_of(name, data)
            if isinstance(price, str) and sym not in prices and float(price) > 0:
                prices[sym] = float(price)
    return prices


class _FrameBuilder:
    """One pass over the merged entries producing :class:`Frame` s (see module docstring)."""

    def __init__(self, cap: Capture, merged: list[Entry]) -> None:
        self.cap, self.merged = cap, merged
        self.t0 = merged[0][0]
        names = [canonical(e[1]) for e in merged if e[1] is not None]
        self.native = set(names)
        self.mids: dict[str, float] = {}
        self.periodic: dict[str, Periodic] = {}
        self.names: dict[str, tuple[str, str]] = {}  # stream name -> (canonical key, symbol)

    def run(self) -> None:
        for ns, name, data, raw in self.merged:
            t = ns - self.t0
            if name is None:
                self._snapshot(t, data)
                continue
            key, sym = self.names.get(name) or self._new_name(name, data)
            e_ms = int(data.get("E") or data.get("T") or 0) if isinstance(data, dict) else 0
            per = self.periodic[sym]
            if e_ms:
                self.cap.frames.extend(per.advance(e_ms, t))
            self.cap.frames.append(self._frame(t, e_ms, sym, key, data, raw))
        for frame in self.cap.frames:
            self.cap.streams.update(k for k, _ in frame.outs)

    def _new_name(self, name: str, data: Any) -> tuple[str, str]:
        sym = _symbol_of(name, data)
        if sym not in self.cap.symbols:
            self.cap.symbols.append(sym)
        self._periodic(sym)
        found = (canonical(name), sym)
        if not name.startswith("!"):  # all-market streams (!forceOrder@arr) mix symbols
            self.names[name] = found
        return found

    def _snapshot(self, t: int, data: dict[str, Any]) -> None:
        sym = data.get("__symbol__")
        if sym is None:
            self.cap.skipped_lines += 1
            return
        payload = (int(data["lastUpdateId"]), data.get("bids", []), data.get("asks", []))
        frame = Frame(t, int(data.get("T") or data.get("E") or 0), SNAPSHOT, sym, (), payload)
        self.cap.snapshots.setdefault(sym, frame)
        self.cap.frames.append(frame)

    def _periodic(self, sym: str) -> Periodic:
        per = self.periodic.get(sym)
        if per is None:
            low = sym.lower()
            has_mark = f"{low}@markPrice@1s" in self.native or f"{low}@markPrice" in self.native
            if has_mark:
                self.cap.native_mark.add(sym)

            def mark_fn(_t_ms: int) -> tuple[float, float, float, float] | None:
                mid = self.mids.get(sym)
                return None if mid is None else (mid, mid, mid, FUNDING_RATE)

            per = Periodic(sym, spec_for(sym), mark_fn, mark=not has_mark, kline=f"{low}@kline_1m" not in self.native)
            self.periodic[sym] = per
        return per

    def _frame(self, t: int, e_ms: int, sym: str, key: str, data: Any, raw: bytes) -> Frame:
        event = data.get("e") if isinstance(data, dict) else None
        outs: tuple[tuple[str, bytes], ...] = ((key, raw),)
        if event == "depthUpdate":
            bids, asks = [level(p, q) for p, q in data["b"]], [level(p, q) for p, q in data["a"]]
            return Frame(t, e_ms, DEPTH, sym, outs, (data["U"], data["u"], data.get("pu", -1), bids, asks))
        if event == "bookTicker":
            self.mids[sym] = (float(data["b"]) + float(data["a"])) / 2
            return Frame(t, e_ms, BOOK_TICKER, sym, outs, (data["b"], data["B"], data["a"], data["A"], data["u"]))
        if event == "trade":
            return self._trade(t, e_ms, sym, outs, data)
        if event == "aggTrade":
            agg = (data["a"], data["p"], data["q"], data["f"], data["l"], data["T"], data["m"])
            self.periodic[sym].on_trade(data["T"], float(data["p"]), float(data["q"]), data["m"], data["l"])
            return Frame(t, e_ms, TRADE, sym, outs, (None, agg))
        if event == "markPriceUpdate":
            mark = (data["p"], data.get("i", data["p"]), data.get("P", data["p"]), data.get("r", "0"), data.get("T", 0))
            return Frame(t, e_ms, MARK, sym, outs, mark)
        return Frame(t, e_ms, OTHER, sym, outs, None)

    def _trade(self, t: int, e_ms: int, sym: str, outs: tuple[tuple[str, bytes], ...], data: Any) -> Frame:
        trade = (data["t"], data["p"], data["q"], data["T"], data["m"])
        agg = None
        agg_key = f"{sym.lower()}@aggTrade"
        if agg_key not in self.native and data.get("X", "MARKET") == "MARKET":
            agg = (data["t"], data["p"], data["q"], data["t"], data["t"], data["T"], data["m"])
            outs = (*outs, (agg_key, dumps(agg_from_trade(data))))
        self.periodic[sym].on_trade(data["T"], float(data["p"]), float(data["q"]), data["m"], data["t"])
        return Frame(t, e_ms, TRADE, sym, outs, (trade, agg))


class ReplaySource:
    """Frames of a capture, once or looped. Loop ``k`` shifts times by ``k`` periods (whole
    minutes) and trade, aggregate and book update ids by ``k`` spans, so ids keep increasing;
    the book update-id chain breaks at each loop start, where a fresh (shifted) snapshot
    becomes the REST depth answer."""

    def __init__(self, paths: list[Path], loop: bool = False) -> None:
        self.capture = load_captures(paths)
        self.loop = loop
        self.symbols = list(self.capture.symbols)
        self.streams = set(self.capture.streams)
        self.mark_from_mid = set(self.symbols) - self.capture.native_mark
        if loop:  # made now rather than as the first loop starts, which would stall the stream
            self.capture.templates()

    def initial_frames(self) -> list[Frame]:
        """The capture's snapshots: the depth REST answer until the replay reaches them."""
        return list(self.capture.snapshots.values())

    def frames(self) -> Iterator[Frame]:
        yield from self.capture.frames
        if not self.loop:
            return
        offs, frames = self.capture.offsets, self.capture.frames
        templates = self.capture.templates()
        for k in itertools.count(1):
            shift = loop_offsets(k, offs)
            for snap in self.capture.snapshots.values():
                yield shift_frame(snap, shift)
            for frame, tpl in zip(frames, templates, strict=True):
                yield shift_frame(frame, shift, tpl)
