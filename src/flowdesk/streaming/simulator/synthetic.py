"""Synthetic source: a seeded, reproducible market per symbol in Binance USD-M's wire format.

Per symbol (``random.Random(f"{seed}/{symbol}")``, so a symbol's market does not depend on
which other symbols run): a reference price doing a random walk on the tick grid, an L2 book
with bids below it and asks at or above it, depth diffs with ``U/u/pu`` continuity, trades
(``trade`` and single-trade ``aggTrade``) that take the best level of the book, ``bookTicker``
when the top changes, occasional ``forceOrder``, and the once-a-second ``markPrice`` and
``kline_1m`` of :mod:`.periodic`. Event times start at ``start_ms`` and advance by a fixed step,
so the same seed and settings give the same frames byte for byte.
"""

from __future__ import annotations

import heapq
import random
import zlib
from collections.abc import Iterator
from typing import Any

from flowdesk.streaming.simulator.config import SymbolSpec, spec_for
from flowdesk.streaming.simulator.frames import (
    BOOK_TICKER,
    DEPTH,
    OTHER,
    SNAPSHOT,
    TRADE,
    Frame,
    dumps,
)
from flowdesk.streaming.simulator.periodic import Periodic
from flowdesk.streaming.simulator.state import level

BOOK_LEVELS = 300  # levels per side in the initial book; thin sides are refilled to this
P_TRADE = 0.3  # chance a step is a trade burst (else a book update)
P_MOVE = 0.05  # chance the reference price moves one tick in a step
P_LIQUIDATION = 0.002  # chance of a forceOrder in a step
FRAMES_PER_STEP = 2.2  # measured average frames per step, to turn rate_hz into a step length


class SyntheticMarket:
    """One symbol's market; :meth:`frames` is an endless, deterministic frame iterator."""

    def __init__(self, sym: str, seed: int, start_ms: int, rate_hz: float) -> None:
        self.sym, self.low = sym, sym.lower()
        self.spec: SymbolSpec = spec_for(sym)
        self.rng = random.Random(f"{seed}/{sym}")
        self.start_ms = start_ms
        self.step_ns = int(1e9 * FRAMES_PER_STEP / rate_hz)
        tick = self.spec.tick_units
        self.ref = round(self.spec.start_price * 10**self.spec.price_decimals / tick) * tick
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        salt = zlib.crc32(sym.encode())
        self.update_id = (1 + salt % 1000) * 10**9
        self.trade_id = (1 + salt % 997) * 10**7
        self.agg_id = (1 + salt % 991) * 10**6
        self.premium_bps = 0.0
        self.funding = 0.0001
        for i in range(BOOK_LEVELS):
            self.bids[self.ref - tick * (1 + i)] = self._lot()
            self.asks[self.ref + tick * i] = self._lot()
        self.periodic = Periodic(sym, self.spec, self._mark, mark=True, kline=True)

    # --- public -------------------------------------------------------------------------
    def snapshot_frame(self) -> Frame:
        """The book before the first event, as a REST-style snapshot frame."""
        bids = [(self.spec.price(p), self.spec.qty(q)) for p, q in sorted(self.bids.items(), reverse=True)]
        asks = [(self.spec.price(p), self.spec.qty(q)) for p, q in sorted(self.asks.items())]
        return Frame(0, self.start_ms, SNAPSHOT, self.sym, (), (self.update_id, bids, asks))

    def frames(self) -> Iterator[Frame]:
        t_ns = 0
        while True:
            t_ns += self.step_ns
            e_ms = self.start_ms + t_ns // 1_000_000
            yield from self.periodic.advance(e_ms, t_ns)
            yield from self._step(t_ns, e_ms)

    # --- one step -----------------------------------------------------------------------
    def _step(self, t_ns: int, e_ms: int) -> list[Frame]:
        top = self._top()
        changes: dict[tuple[str, int], int] = {}
        out: list[Frame] = []
        if self.rng.random() < P_MOVE:
            self._move(changes)
        if self.rng.random() < P_TRADE:
            out.extend(self._trades(t_ns, e_ms, changes))
        else:
            self._update_levels(changes)
        self._refill(changes)
        if changes:
            out.append(self._depth_frame(t_ns, e_ms, changes))
        if self._top() != top:
            out.append(self._ticker_frame(t_ns, e_ms))
        if self.rng.random() < P_LIQUIDATION:
            out.append(self._liquidation_frame(t_ns, e_ms))
        return out

    def _lot(self) -> int:
        return max(self.spec.step_units, int(self.rng.lognormvariate(5.0, 1.3)) // self.spec.step_units * self.spec.step_units)

    def _set(self, changes: dict[tuple[str, int], int], side: str, price: int, qty: int) -> None:
        book = self.bids if side == "b" else self.asks
        if qty > 0:
            book[price] = qty
        elif book.pop(price, None) is None:
            return
        changes[(side, price)] = qty

    def _move(self, changes: dict[tuple[str, int], int]) -> None:
        """Move the reference a tick; levels now on the wrong side of it are removed."""
        self.ref += self.spec.tick_units * self.rng.choice((-1, 1))
        for p in [p for p in self.bids if p >= self.ref]:
            self._set(changes, "b", p, 0)
        for p in [p for p in self.asks if p < self.ref]:
            self._set(changes, "a", p, 0)

    def _update_levels(self, changes: dict[tuple[str, int], int]) -> None:
        """Add, resize or cancel 1-3 levels, mostly near the reference."""
        tick = self.spec.tick_units
        for _ in range(self.rng.randint(1, 3)):
            dist = min(int(self.rng.expovariate(0.15)), BOOK_LEVELS - 1)
            side = self.rng.choice("ba")
            price = self.ref - tick * (1 + dist) if side == "b" else self.ref + tick * dist
            qty = 0 if self.rng.random() < 0.3 else self._lot()
            self._set(changes, side, price, qty)

    def _refill(self, changes: dict[tuple[str, int], int]) -> None:
        """Keep both sides deep enough to trade into."""
        tick = self.spec.tick_units
        for side, book in (("b", self.bids), ("a", self.asks)):
            while len(book) < BOOK_LEVELS // 2:
                far = min(book, default=self.ref) - tick if side == "b" else max(book, default=self.ref - tick) + tick
                self._set(changes, side, far, self._lot())

    def _trades(self, t_ns: int, e_ms: int, changes: dict[tuple[str, int], int]) -> list[Frame]:
        """A taker order of 1-3 trades against the best levels of one side."""
        buy = self.rng.random() < 0.5
        frames = []
        for _ in range(self.rng.randint(1, 3)):
            book = self.asks if buy else self.bids
            price = min(book) if buy else max(book)
            qty = min(book[price], self.rng.randint(1, 400) * self.spec.step_units)
            self._set(changes, "a" if buy else "b", price, book[price] - qty)
            frames.append(self._trade_frame(t_ns, e_ms, price, qty, buyer_is_maker=not buy))
        return frames

    # --- frames -------------------------------------------------------------------------
    def _trade_frame(self, t_ns: int, e_ms: int, price: int, qty: int, buyer_is_maker: bool) -> Frame:
        self.trade_id += 1
        self.agg_id += 1
        p, q, t, a = self.spec.price(price), self.spec.qty(qty), self.trade_id, self.agg_id
        trade = {"e": "trade", "E": e_ms, "T": e_ms, "s": self.sym, "t": t, "p": p, "q": q, "X": "MARKET", "m": buyer_is_maker}
        agg = {"e": "aggTrade", "E": e_ms, "a": a, "s": self.sym, "p": p, "q": q, "f": t, "l": t, "T": e_ms, "m": buyer_is_maker}
        self.periodic.on_trade(e_ms, float(p), float(q), buyer_is_maker, t)
        outs = ((f"{self.low}@trade", dumps(trade)), (f"{self.low}@aggTrade", dumps(agg)))
        payload = ((t, p, q, e_ms, buyer_is_maker), (a, p, q, t, t, e_ms, buyer_is_maker))
        return Frame(t_ns, e_ms, TRADE, self.sym, outs, payload)

    def _depth_frame(self, t_ns: int, e_ms: int, changes: dict[tuple[str, int], int]) -> Frame:
        pu = self.update_id
        first = pu + 1
        self.update_id = first + len(changes) - 1 + self.rng.randint(0, 3)
        levels: dict[str, list[tuple[str, str]]] = {"b": [], "a": []}
        for (side, price), qty in sorted(changes.items()):
            levels[side].append((self.spec.price(price), self.spec.qty(qty)))
        event = {"e": "depthUpdate", "E": e_ms, "T": e_ms, "s": self.sym, "U": first, "u": self.update_id,
                 "pu": pu, "b": levels["b"], "a": levels["a"]}
        bids, asks = [level(p, q) for p, q in levels["b"]], [level(p, q) for p, q in levels["a"]]
        payload = (first, self.update_id, pu, bids, asks)
        return Frame(t_ns, e_ms, DEPTH, self.sym, ((f"{self.low}@depth", dumps(event)),), payload)

    def _ticker_frame(self, t_ns: int, e_ms: int) -> Frame:
        (bid, bid_q), (ask, ask_q) = self._top()
        s = self.spec
        payload = (s.price(bid), s.qty(bid_q), s.price(ask), s.qty(ask_q), self.update_id)
        event = {"e": "bookTicker", "u": self.update_id, "s": self.sym, "b": payload[0], "B": payload[1],
                 "a": payload[2], "A": payload[3], "T": e_ms, "E": e_ms}
        return Frame(t_ns, e_ms, BOOK_TICKER, self.sym, ((f"{self.low}@bookTicker", dumps(event)),), payload)

    def _liquidation_frame(self, t_ns: int, e_ms: int) -> Frame:
        side = self.rng.choice(("BUY", "SELL"))
        (bid, _), (ask, _) = self._top()
        slip = self.spec.tick_units * self.rng.randint(1, 20)
        price = ask + slip if side == "BUY" else bid - slip
        q = self.spec.qty(self._lot())
        order: dict[str, Any] = {"s": self.sym, "S": side, "o": "LIMIT", "f": "IOC", "q": q, "p": self.spec.price(price),
                                 "ap": self.spec.price(ask if side == "BUY" else bid), "X": "FILLED", "l": q, "z": q, "T": e_ms}
        event = {"e": "forceOrder", "E": e_ms, "o": order}
        return Frame(t_ns, e_ms, OTHER, self.sym, ((f"{self.low}@forceOrder", dumps(event)),), None)

    def _top(self) -> tuple[tuple[int, int], tuple[int, int]]:
        bid, ask = max(self.bids), min(self.asks)
        return (bid, self.bids[bid]), (ask, self.asks[ask])

    def _mark(self, _t_ms: int) -> tuple[float, float, float, float]:
        """Mark = index plus a premium of a few basis points; funding drifts around 0.01 %."""
        (bid, _), (ask, _) = self._top()
        index = (bid + ask) / 2 / 10**self.spec.price_decimals
        self.premium_bps = max(-5.0, min(5.0, self.premium_bps + self.rng.gauss(0, 0.3)))
        self.funding = max(-0.0003, min(0.0005, self.funding + self.rng.gauss(0, 0.000005)))
        return index * (1 + self.premium_bps / 10_000), index, index, self.funding


class SyntheticSource:
    """All configured symbols' markets merged by time."""

    def __init__(self, symbols: list[str], seed: int, start_ms: int, rate_hz: float) -> None:
        self.markets = [SyntheticMarket(s, seed, start_ms, rate_hz) for s in symbols]
        self.symbols = list(symbols)
        self.streams = {
            f"{s.lower()}@{kind}"
            for s in symbols
            for kind in ("depth", "trade", "aggTrade", "bookTicker", "markPrice@1s", "markPrice", "forceOrder", "kline_1m")
        }
        self.mark_from_mid: set[str] = set()

    def initial_frames(self) -> list[Frame]:
        return [m.snapshot_frame() for m in self.markets]

    def frames(self) -> Iterator[Frame]:
        return heapq.merge(*(m.frames() for m in self.markets), key=lambda f: f.t_ns)
