"""OKX v5 public WebSocket + REST wire format (perpetual swaps) for the multi-venue simulator.

:data:`SIMS` holds one :class:`OkxSim`. It speaks what OKX speaks on ``/ws/v5/public``:
``{"op":"subscribe","args":[{"channel":"trades","instId":"BTC-USDT-SWAP"}]}`` answered per arg
by ``{"event":"subscribe","arg":{...},"connId":"..."}``, the text ``ping`` by ``pong``, a bad
request by ``{"event":"error","msg":"Invalid request: ...","code":"60012","connId":"..."}`` and
an unknown channel or instrument by code ``60018``. A ``books`` subscription is answered with a
full ``snapshot`` push, then ``update`` pushes.

Topics are ``(OKX channel, flowdesk symbol)``: ``trades``, ``books``, ``tickers``,
``mark-price``, ``funding-rate``, ``open-interest``, ``index-tickers`` and
``liquidation-orders`` (one subscription, ``instType: SWAP``, covers every symbol).

Sizes are contracts: ``ctVal`` is :data:`CONTRACT_VALUES` (OKX's own 0.01 BTC and 0.1 ETH for
BTC/ETH, 1 base unit elsewhere) and the instruments answer publishes the same. Only linear
(USDT/USDC) swaps are simulated. Sequence ids: ``seqId = SEQ_BASE + SEQ_STEP * n`` for the
neutral ``n`` (snapshot: the book's ``seq``), ``prevSeqId`` the same of ``n - 1``: they chain
under ``ws_prev`` and, like OKX's, do not count up by one.

Simplifications (fields the neutral events do not carry): the order count of a level is ``"1"``
(``"0"`` for a removed level), ``sodUtc0``/``sodUtc8`` repeat ``open24h``, index-ticker 24h
stats repeat the index price, and a ``tickers`` push needs a 24h ticker event first (OKX never
sends one without 24h statistics). Funding pushes follow mark prices at most once per
:data:`FUNDING_EVERY_MS` (OKX: every 30 to 90 s).
"""

from __future__ import annotations

from typing import Any

import orjson

from flowdesk.records import (
    BookDelta,
    Liquidation,
    MarkFunding,
    OpenInterest,
    Quote,
    Record,
    Ticker24h,
    Trade,
)
from flowdesk.streaming.simulator.config import SymbolSpec, fmt_units
from flowdesk.streaming.simulator.venue_api import SimClient, SimContext, Topic
from flowdesk.streaming.venues.okx import (
    CANDLES_PATH,
    HISTORY_TRADES_LIMIT,
    HISTORY_TRADES_PATH,
    INSTRUMENTS_PATH,
    VENUE,
    WS_CHANNELS,
    WS_PATH,
    from_venue,
    index_of,
    is_inverse,
    to_venue,
)

#: base units per contract as the exponent k of 10**-k (BTC-USDT-SWAP 0.01, ETH-USDT-SWAP 0.1)
CONTRACT_EXPONENTS = {"BTCUSDT": 2, "ETHUSDT": 1}
CONTRACT_VALUES = {s: 10.0**-k for s, k in CONTRACT_EXPONENTS.items()}
SEQ_BASE = 7_000_000_000
SEQ_STEP = 3
BOOK_DEPTH = 400
FUNDING_EVERY_MS = 30_000
#: OKX closes a connection that sent nothing for 30 s: a client pings within that
IDLE_TIMEOUT_S = 30.0
CANDLES_MAX = 300


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def _plain(units: int, decimals: int) -> str:
    """A count of ``10**-decimals`` as OKX writes numbers: no trailing zeros (``"0.5"``)."""
    text = fmt_units(units, decimals)
    return text.rstrip("0").rstrip(".") if "." in text else text


def contract_exponent(symbol: str, spec: SymbolSpec) -> int:
    """k of ``ctVal = 10**-k`` (never finer than the symbol's quantity step)."""
    return min(CONTRACT_EXPONENTS.get(symbol, 0), spec.qty_decimals)


def seq_id(n: int) -> int:
    """The OKX ``seqId`` of neutral book change ``n``."""
    return SEQ_BASE + SEQ_STEP * n


class _Fmt:
    """Price and contract formatting of one symbol."""

    def __init__(self, symbol: str, spec: SymbolSpec) -> None:
        self.spec = spec
        self.k = contract_exponent(symbol, spec)

    def px(self, price: float) -> str:
        d = self.spec.price_decimals
        return _plain(round(price * 10**d), d)

    def sz(self, qty: float) -> str:
        """Base units -> contracts."""
        d = self.spec.qty_decimals
        return _plain(round(qty * 10**d), d - self.k)

    def base(self, qty: float) -> str:
        d = self.spec.qty_decimals
        return _plain(round(qty * 10**d), d)

    def levels(self, rows: list[tuple[float, float]]) -> list[list[str]]:
        return [[self.px(p), self.sz(q), "0", "1" if q else "0"] for p, q in rows]


class OkxSim:
    """OKX v5 public swaps (see the module docstring)."""

    def __init__(self) -> None:
        self.name = VENUE
        self.ws_paths: tuple[str, ...] = (WS_PATH,)
        self.idle_timeout_s: float | None = IDLE_TIMEOUT_S
        self._fmt: dict[str, _Fmt] = {}
        self._funding_sent: dict[tuple[int, str], int] = {}  # (ctx, symbol) -> ts of the last push

    def fmt(self, symbol: str, ctx: SimContext) -> _Fmt:
        f = self._fmt.get(symbol)
        if f is None or f.spec != ctx.spec(symbol):
            f = self._fmt[symbol] = _Fmt(symbol, ctx.spec(symbol))
        return f

    # ---- WebSocket ---------------------------------------------------------------------------

    def on_open(self, client: SimClient, path: str, query: dict[str, str], ctx: SimContext) -> list[str]:
        """Nothing: OKX sends nothing before the first request."""
        client.state.setdefault("connId", f"{id(client) & 0xFFFFFFFF:08x}")
        return []

    def on_message(self, client: SimClient, text: str, ctx: SimContext) -> list[str]:
        """``ping`` -> ``pong``; subscribe/unsubscribe -> one ack (or error) per arg, plus the
        book snapshot of each ``books`` subscription; anything else -> error 60012."""
        conn_id = client.state.setdefault("connId", f"{id(client) & 0xFFFFFFFF:08x}")
        if text == "ping":
            return ["pong"]
        try:
            req = orjson.loads(text)
            op, args = req["op"], req["args"]
            if op not in ("subscribe", "unsubscribe") or not isinstance(args, list) or not args:
                raise ValueError(op)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return [_dumps({"event": "error", "msg": f"Invalid request: {text}", "code": "60012", "connId": conn_id})]
        out: list[str] = []
        for arg in args:
            topics = self._topics(arg, ctx)
            if topics is None:
                out.append(_dumps({"event": "error", "msg": _unknown_msg(arg), "code": "60018", "connId": conn_id}))
                continue
            ack: dict[str, Any] = {"event": op, "arg": arg, "connId": conn_id}
            if "id" in req:
                ack = {"id": req["id"], **ack}
            out.append(_dumps(ack))
            if op == "unsubscribe":
                client.unsubscribe(topics)
                continue
            client.subscribe(topics)
            if arg["channel"] == "books":
                out.append(self.book_snapshot(topics[0][1], ctx))
        return out

    def _topics(self, arg: Any, ctx: SimContext) -> list[Topic] | None:
        """The topics of one subscription arg, ``None`` when OKX would reject it."""
        if not isinstance(arg, dict) or arg.get("channel") not in WS_CHANNELS:
            return None
        channel = arg["channel"]
        if channel == "liquidation-orders":
            return [(channel, s) for s in ctx.symbols] if arg.get("instType") == "SWAP" else None
        inst_id = arg.get("instId")
        for symbol in ctx.symbols:
            venue = to_venue(symbol)
            if is_inverse(venue):
                continue
            if inst_id == (index_of(venue) if channel == "index-tickers" else venue):
                return [(channel, symbol)]
        return None

    def book_snapshot(self, symbol: str, ctx: SimContext) -> str:
        """The ``books`` snapshot push of ``symbol`` (``prevSeqId`` -1)."""
        f, book = self.fmt(symbol, ctx), ctx.book(symbol, BOOK_DEPTH)
        data = {
            "asks": f.levels(book.asks),
            "bids": f.levels(book.bids),
            "ts": str(ctx.now_ms()),
            "checksum": 0,
            "prevSeqId": -1,
            "seqId": seq_id(book.seq),
        }
        return _dumps({"arg": {"channel": "books", "instId": to_venue(symbol)}, "action": "snapshot", "data": [data]})

    # ---- neutral events -> pushes -----------------------------------------------------------

    def encode(self, event: Record, ctx: SimContext) -> list[tuple[Topic, str]]:
        """The pushes of one neutral event (candles: none, they are REST-only here)."""
        kind = type(event)
        if kind is Trade:
            return [self._trade(event, ctx)]  # type: ignore[arg-type]
        if kind is BookDelta:
            return [self._delta(event, ctx)]  # type: ignore[arg-type]
        if kind is Quote:
            t24 = ctx.latest(event.symbol, "Ticker24h")
            return [] if t24 is None else [self._ticker(t24, event, ctx)]  # type: ignore[arg-type]
        if kind is Ticker24h:
            q = ctx.latest(event.symbol, "Quote")
            return [self._ticker(event, q, ctx)]  # type: ignore[arg-type]
        if kind is MarkFunding:
            return self._mark(event, ctx)  # type: ignore[arg-type]
        if kind is OpenInterest:
            return [self._open_interest(event, ctx)]  # type: ignore[arg-type]
        if kind is Liquidation:
            return [self._liquidation(event, ctx)]  # type: ignore[arg-type]
        return []

    @staticmethod
    def _push(channel: str, symbol: str, data: dict[str, Any], inst_id: str | None = None) -> tuple[Topic, str]:
        inst = inst_id or to_venue(symbol)
        return (channel, symbol), _dumps({"arg": {"channel": channel, "instId": inst}, "data": [data]})

    def _trade(self, t: Trade, ctx: SimContext) -> tuple[Topic, str]:
        f, inst = self.fmt(t.symbol, ctx), to_venue(t.symbol)
        data = {
            "instId": inst,
            "tradeId": str(t.last_id),
            "px": f.px(t.price),
            "sz": f.sz(t.qty),
            "side": t.side,
            "ts": str(t.ts),
            "count": str(t.last_id - t.first_id + 1),
            "source": "0",
            "seqId": seq_id(ctx.book(t.symbol, 0).seq),
        }
        return self._push("trades", t.symbol, data)

    def _delta(self, d: BookDelta, ctx: SimContext) -> tuple[Topic, str]:
        f = self.fmt(d.symbol, ctx)
        data = {
            "asks": f.levels(d.asks),
            "bids": f.levels(d.bids),
            "ts": str(d.ts),
            "checksum": 0,
            "prevSeqId": seq_id(d.prev_update_id),
            "seqId": seq_id(d.last_update_id),
        }
        text = _dumps({"arg": {"channel": "books", "instId": to_venue(d.symbol)}, "action": "update", "data": [data]})
        return ("books", d.symbol), text

    def _ticker(self, t24: Ticker24h, q: Quote | None, ctx: SimContext) -> tuple[Topic, str]:
        f, sym = self.fmt(t24.symbol, ctx), t24.symbol
        if q is not None:
            bid, bid_sz, ask, ask_sz = f.px(q.bid), f.sz(q.bid_qty), f.px(q.ask), f.sz(q.ask_qty)
            ts = max(q.ts, t24.ts)
        else:
            book = ctx.book(sym, 1)
            bid, bid_sz = (f.px(book.bids[0][0]), f.sz(book.bids[0][1])) if book.bids else ("", "")
            ask, ask_sz = (f.px(book.asks[0][0]), f.sz(book.asks[0][1])) if book.asks else ("", "")
            ts = t24.ts
        last = ctx.latest(sym, "Trade")
        open_ = f.px(t24.open)
        data = {
            "instType": "SWAP",
            "instId": to_venue(sym),
            "last": f.px(last.price if last else t24.last),  # type: ignore[union-attr]
            "lastSz": f.sz(last.qty) if last else "0",
            "askPx": ask,
            "askSz": ask_sz,
            "bidPx": bid,  # type: ignore[union-attr]
            "bidSz": bid_sz,
            "open24h": open_,
            "high24h": f.px(t24.high),
            "low24h": f.px(t24.low),
            "volCcy24h": f.base(t24.volume),
            "vol24h": f.sz(t24.volume),
            "sodUtc0": open_,
            "sodUtc8": open_,
            "ts": str(ts),
        }
        return self._push("tickers", sym, data)

    def _mark(self, m: MarkFunding, ctx: SimContext) -> list[tuple[Topic, str]]:
        """Index and funding pushes first (so the mark-price record that follows carries them),
        then the mark price."""
        f, sym, inst = self.fmt(m.symbol, ctx), m.symbol, to_venue(m.symbol)
        out: list[tuple[Topic, str]] = []
        if m.index_price is not None:
            idx = f.px(m.index_price)
            out.append(
                self._push(
                    "index-tickers",
                    sym,
                    {
                        "instId": index_of(inst),
                        "idxPx": idx,
                        "high24h": idx,
                        "sodUtc0": idx,
                        "open24h": idx,
                        "low24h": idx,
                        "sodUtc8": idx,
                        "ts": str(m.ts),
                    },
                    index_of(inst),
                )
            )
        key = (id(ctx), sym)
        if m.funding_rate is not None and m.ts - self._funding_sent.get(key, -FUNDING_EVERY_MS) >= FUNDING_EVERY_MS:
            self._funding_sent[key] = m.ts
            out.append(self._push("funding-rate", sym, _funding(m, inst)))
        out.append(
            self._push(
                "mark-price", sym, {"instType": "SWAP", "instId": inst, "markPx": f.px(m.mark_price), "ts": str(m.ts)}
            )
        )
        return out

    def _open_interest(self, o: OpenInterest, ctx: SimContext) -> tuple[Topic, str]:
        f = self.fmt(o.symbol, ctx)
        data = {
            "instType": "SWAP",
            "instId": to_venue(o.symbol),
            "oi": f.sz(o.open_interest),
            "oiCcy": f.base(o.open_interest),
        }
        if o.open_interest_value is not None:
            data["oiUsd"] = f"{o.open_interest_value:.2f}"
        data["ts"] = str(o.ts)
        return self._push("open-interest", o.symbol, data)

    def _liquidation(self, x: Liquidation, ctx: SimContext) -> tuple[Topic, str]:
        f, inst = self.fmt(x.symbol, ctx), to_venue(x.symbol)
        detail = {
            "bkLoss": "0",
            "bkPx": f.px(x.price),
            "ccy": "",
            "posSide": "short" if x.side == "buy" else "long",
            "side": x.side,
            "sz": f.sz(x.qty),
            "ts": str(x.ts),
        }
        data = {
            "details": [detail],
            "instFamily": index_of(inst),
            "instId": inst,
            "instType": "SWAP",
            "uly": index_of(inst),
        }
        text = _dumps({"arg": {"channel": "liquidation-orders", "instType": "SWAP"}, "data": [data]})
        return ("liquidation-orders", x.symbol), text

    # ---- REST ----------------------------------------------------------------------------------

    def rest(self, method: str, path: str, query: dict[str, str], ctx: SimContext) -> tuple[int, Any]:
        """Instruments, 1m candles and trade history; other paths 404."""
        if method != "GET" or path not in (INSTRUMENTS_PATH, CANDLES_PATH, HISTORY_TRADES_PATH):
            return 404, {"msg": "Not Found", "code": "404"}
        if path == INSTRUMENTS_PATH:
            rows = (
                []
                if query.get("instType") != "SWAP"
                else [self._instrument(s, ctx) for s in ctx.symbols if not is_inverse(to_venue(s))]
            )
            return 200, _ok(rows)
        symbol = self._symbol(query.get("instId", ""), ctx)
        if symbol is None:
            return 200, {"code": "51001", "msg": "Instrument ID does not exist", "data": []}
        if path == CANDLES_PATH:
            if query.get("bar", "1m") != "1m":
                return 200, {"code": "51000", "msg": "Parameter bar error", "data": []}
            return 200, _ok(self._candles(symbol, _limit(query, 100, CANDLES_MAX), ctx))
        return 200, _ok(self._history(symbol, query, ctx))

    @staticmethod
    def _symbol(inst_id: str, ctx: SimContext) -> str | None:
        try:
            symbol = from_venue(inst_id)
        except ValueError:
            return None
        return symbol if symbol in ctx.symbols and not is_inverse(inst_id) else None

    def _instrument(self, symbol: str, ctx: SimContext) -> dict[str, Any]:
        spec, inst = ctx.spec(symbol), to_venue(symbol)
        k = contract_exponent(symbol, spec)
        lot = _plain(spec.step_units, spec.qty_decimals - k)
        family = index_of(inst)
        return {
            "alias": "",
            "baseCcy": "",
            "category": "1",
            "ctMult": "1",
            "ctType": "linear",
            "ctVal": _plain(1, k),
            "ctValCcy": spec.base,
            "expTime": "",
            "instFamily": family,
            "instId": inst,
            "instType": "SWAP",
            "lever": "100",
            "listTime": "1611916828000",
            "lotSz": lot,
            "maxLmtSz": "100000000",
            "maxMktSz": "30000",
            "maxStopSz": "30000",
            "minSz": lot,
            "optType": "",
            "quoteCcy": "",
            "settleCcy": spec.quote,
            "state": "live",
            "stk": "",
            "tickSz": _plain(spec.tick_units, spec.price_decimals),
            "uly": family,
        }

    def _candles(self, symbol: str, limit: int, ctx: SimContext) -> list[list[str]]:
        """Newest first: ``[ts, o, h, l, c, vol (contracts), volCcy (base), volCcyQuote, confirm]``."""
        f = self.fmt(symbol, ctx)
        rows = []
        for k in reversed(ctx.candles(symbol, limit)):
            rows.append(
                [
                    str(k.open_ts),
                    f.px(k.open),
                    f.px(k.high),
                    f.px(k.low),
                    f.px(k.close),  # type: ignore[union-attr]
                    f.sz(k.volume),
                    f.base(k.volume),
                    f"{k.quote_volume:.8f}".rstrip("0").rstrip("."),  # type: ignore[union-attr]
                    "1" if k.closed else "0",  # type: ignore[union-attr]
                ]
            )
        return rows

    def _history(self, symbol: str, query: dict[str, str], ctx: SimContext) -> list[dict[str, str]]:
        """``history-trades`` by trade id (``type=1``), newest first: ``after`` gives older
        trades, ``before`` newer ones (the newest when used alone)."""
        limit = _limit(query, HISTORY_TRADES_LIMIT, HISTORY_TRADES_LIMIT)
        after, before = query.get("after"), query.get("before")
        if after:
            end = int(after)
            trades = [t for t in ctx.trades(symbol, max(1, end - limit), limit) if t.trade_id < end]
        else:
            low = int(before) if before else 0
            trades = [t for t in ctx.trades(symbol, None, limit) if t.trade_id > low]
        f, inst = self.fmt(symbol, ctx), to_venue(symbol)
        return [
            {
                "instId": inst,
                "side": t.side,
                "sz": f.sz(t.qty),
                "source": "0",
                "px": f.px(t.price),
                "tradeId": str(t.trade_id),
                "ts": str(t.ts),
            }
            for t in reversed(trades[-limit:])
        ]


def _funding(m: MarkFunding, inst: str) -> dict[str, Any]:
    """A funding-rate push (current docs' fields; ``nextFundingTime`` one 8 h period later)."""
    nxt = m.next_funding_ts or 0
    rate = f"{m.funding_rate:.10f}".rstrip("0").rstrip(".")
    return {
        "formulaType": "withRate",
        "fundingRate": rate,
        "fundingTime": str(nxt),
        "impactValue": "",
        "instId": inst,
        "instType": "SWAP",
        "interestRate": "0.0001",
        "method": "current_period",
        "maxFundingRate": "0.00375",
        "minFundingRate": "-0.00375",
        "nextFundingRate": "",
        "nextFundingTime": str(nxt + 8 * 3_600_000) if nxt else "",
        "premium": "",
        "settFundingRate": rate,
        "settState": "settled",
        "ts": str(m.ts),
    }


_HINT = "Please use the correct URL, channel and parameters referring to API document."


def _unknown_msg(arg: Any) -> str:
    """OKX's 60018 text for a channel/instrument it does not serve."""
    if not isinstance(arg, dict):
        return f"Wrong URL or channel:{arg} doesn't exist. {_HINT}"
    where = f"instType:{arg.get('instType')}" if "instType" in arg else f"instId:{arg.get('instId')}"
    return f"Wrong URL or channel:{arg.get('channel')},{where} doesn't exist. {_HINT}"


def _ok(data: list[Any]) -> dict[str, Any]:
    return {"code": "0", "msg": "", "data": data}


def _limit(query: dict[str, str], default: int, most: int) -> int:
    try:
        return max(1, min(int(query.get("limit", default)), most))
    except ValueError:
        return default


SIMS: dict[str, OkxSim] = {VENUE: OkxSim()}
