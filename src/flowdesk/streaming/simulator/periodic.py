"""Once-a-second streams built from the market itself: ``markPrice@1s`` (``markPrice`` every
third second) and ``kline_1m``. Replay derives them from the capture where it has none; the
synthetic market uses the same code."""

from __future__ import annotations

from collections.abc import Callable

from flowdesk.streaming.simulator.config import SymbolSpec
from flowdesk.streaming.simulator.frames import MARK, OTHER, Frame, dumps
from flowdesk.streaming.simulator.state import next_funding_ms

#: ``(mark, index, settle, funding)`` at a tick, or ``None`` while there is no price yet
MarkFn = Callable[[int], "tuple[float, float, float, float] | None"]
MINUTE_MS = 60_000


class Candle:
    """A one-minute candle accumulating trades, rendered as Binance's ``kline`` event."""

    def __init__(self, open_ms: int, price: float) -> None:
        self.open_ms = open_ms
        self.o = self.h = self.l = self.c = price
        self.v = self.q = self.tb_v = self.tb_q = 0.0
        self.n = 0
        self.first_id = self.last_id = -1

    def add(self, price: float, qty: float, buyer_is_maker: bool, trade_id: int) -> None:
        if self.n == 0:
            self.o = self.h = self.l = price
            self.first_id = trade_id
        self.h, self.l, self.c = max(self.h, price), min(self.l, price), price
        self.v += qty
        self.q += qty * price
        if not buyer_is_maker:  # the buyer took liquidity
            self.tb_v += qty
            self.tb_q += qty * price
        self.n += 1
        self.last_id = trade_id

    def event(self, sym: str, spec: SymbolSpec, e_ms: int, closed: bool) -> dict[str, object]:
        pd, qd = spec.price_decimals, spec.qty_decimals
        k = {
            "t": self.open_ms, "T": self.open_ms + MINUTE_MS - 1, "s": sym, "i": "1m",
            "f": self.first_id, "L": self.last_id, "o": f"{self.o:.{pd}f}", "c": f"{self.c:.{pd}f}",
            "h": f"{self.h:.{pd}f}", "l": f"{self.l:.{pd}f}", "v": f"{self.v:.{qd}f}", "n": self.n,
            "x": closed, "q": f"{self.q:.5f}", "V": f"{self.tb_v:.{qd}f}", "Q": f"{self.tb_q:.5f}", "B": "0",
        }
        return {"e": "kline", "E": e_ms, "s": sym, "k": k}


class Periodic:
    """Emits the once-a-second frames of one symbol as its clock passes each second."""

    def __init__(self, sym: str, spec: SymbolSpec, mark_fn: MarkFn, *, mark: bool, kline: bool) -> None:
        self.sym, self.spec, self.mark_fn = sym, spec, mark_fn
        self.emit_mark, self.emit_kline = mark, kline
        self.next_tick: int | None = None
        self.candle: Candle | None = None
        low = sym.lower()
        self.k_mark1s, self.k_mark3s, self.k_kline = f"{low}@markPrice@1s", f"{low}@markPrice", f"{low}@kline_1m"

    def on_trade(self, t_ms: int, price: float, qty: float, buyer_is_maker: bool, trade_id: int) -> None:
        """Count a trade in the current candle (call :meth:`advance` up to ``t_ms`` first)."""
        if not self.emit_kline:
            return
        start = t_ms - t_ms % MINUTE_MS
        if self.candle is None or self.candle.open_ms != start:
            self.candle = Candle(start, price)
        self.candle.add(price, qty, buyer_is_maker, trade_id)

    def advance(self, t_ms: int, t_ns: int) -> list[Frame]:
        """Frames for every whole second in ``(last tick, t_ms]``, stamped ``t_ns``."""
        if self.next_tick is None:
            self.next_tick = t_ms - t_ms % 1000 + 1000
            return []
        out: list[Frame] = []
        while self.next_tick <= t_ms:
            out.extend(self._tick(self.next_tick, t_ns))
            self.next_tick += 1000
        return out

    def _tick(self, tick_ms: int, t_ns: int) -> list[Frame]:
        out: list[Frame] = []
        if self.emit_mark:
            frame = self._mark_frame(tick_ms, t_ns)
            if frame is not None:
                out.append(frame)
        if self.emit_kline and self.candle is not None:
            candle = self.candle
            closed = tick_ms >= candle.open_ms + MINUTE_MS
            data = dumps(candle.event(self.sym, self.spec, tick_ms, closed))
            out.append(Frame(t_ns, tick_ms, OTHER, self.sym, ((self.k_kline, data),), None))
            if closed:  # the next minute opens at the last close, with no trades yet
                self.candle = Candle(tick_ms - tick_ms % MINUTE_MS, candle.c)
        return out

    def _mark_frame(self, tick_ms: int, t_ns: int) -> Frame | None:
        values = self.mark_fn(tick_ms)
        if values is None:
            return None
        mark, index, settle, funding = (f"{v:.8f}" for v in values)
        nxt = next_funding_ms(tick_ms)
        data = dumps({"e": "markPriceUpdate", "E": tick_ms, "s": self.sym, "p": mark, "i": index,
                      "P": settle, "r": funding, "T": nxt})
        outs = ((self.k_mark1s, data), (self.k_mark3s, data)) if tick_ms % 3000 == 0 else ((self.k_mark1s, data),)
        return Frame(t_ns, tick_ms, MARK, self.sym, outs, (mark, index, settle, funding, nxt))
