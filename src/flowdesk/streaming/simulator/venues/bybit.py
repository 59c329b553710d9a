"""Bybit v5 public WebSocket + REST wire format for the multi-venue simulator (linear and spot).

:data:`SIMS` holds one :class:`BybitSim` per market. It speaks what the real venue speaks on
``/v5/public/linear`` and ``/v5/public/spot``: ``{"op":"subscribe","args":[...]}`` answered by
``{"success":true,"ret_msg":"",...,"op":"subscribe"}`` (spot: ``"ret_msg":"subscribe"``, as a
2026 capture shows), ``{"op":"ping"}`` by a pong, and bad requests by
``{"success":false,"ret_msg":"error:handler not found,topic:...",...}``. Book topics answer a
subscription with a ``snapshot`` (also ``tickers`` and ``orderbook.1``), then ``delta`` s.

Topics are ``(channel, flowdesk symbol)`` with Bybit's own topic prefixes as channels:
``publicTrade``, ``orderbook.50``/``.200``/``.1000``, ``orderbook.1``, ``tickers``,
``allLiquidation`` (linear) and ``kline.1``.

Sequence numbers: the book update id ``u`` is the neutral ``n`` (snapshot ``u`` = the book's
``seq``), so a snapshot and the deltas after it chain under ``ws_next``. Simplification: every
neutral diff goes to every depth topic, also for levels deeper than the topic's depth (Bybit
would only send changes inside its window); a book kept from them is a superset, never wrong
at the top.

Trade ids: linear sends a UUID derived from the neutral id (``uuid5``), spot the id itself as
a decimal string, like Bybit's own spot ids.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import orjson

from flowdesk.records import (
    BookDelta,
    Candle,
    Liquidation,
    MarkFunding,
    OpenInterest,
    Quote,
    Record,
    Ticker24h,
    Trade,
)
from flowdesk.streaming.simulator.config import SymbolSpec
from flowdesk.streaming.simulator.venue_api import SimClient, SimContext, Topic
from flowdesk.streaming.venues.bybit import (
    FROM_VENUE,
    INSTRUMENTS_PATH,
    LINEAR,
    SPOT,
    TO_VENUE,
    WS_PATHS,
)

BOOK_CHANNELS = {"orderbook.50": 50, "orderbook.200": 200, "orderbook.1000": 1000}
#: the channels a market serves
CHANNELS: dict[str, frozenset[str]] = {
    LINEAR: frozenset({"publicTrade", "orderbook.1", "tickers", "allLiquidation", "kline.1", *BOOK_CHANNELS}),
    SPOT: frozenset({"publicTrade", "orderbook.1", "tickers", "kline.1", *BOOK_CHANNELS}),
}
#: spot rejects a request with more than 10 topics (linear has no count limit)
SPOT_MAX_ARGS = 10
#: seconds of client silence before the connection is dropped. Bybit asks for a ping every
#: 20 s; its docs give no exact public-stream timeout (spot v3 documented 30 s), and 30 s keeps
#: a client that pings every 20 s safely connected
IDLE_TIMEOUT_S = 30.0
_TRADE_ID_NS = uuid.UUID("6b1c5d2e-9a43-5b8e-a0f1-3c2d7e4b9a10")  # fixed: same ids every run
_conn_ids = itertools.count(1)


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def _plain(x: float, decimals: int) -> str:
    """``x`` as a plain decimal string without trailing zeros (no exponent, as Bybit writes)."""
    text = f"{x:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


class BybitSim:
    """The Bybit v5 wire format of one market (``linear`` or ``spot``)."""

    def __init__(self, market: str) -> None:
        self.market = market
        self.name = f"bybit_{market}"
        self.ws_paths: tuple[str, ...] = (WS_PATHS[market],)
        self.idle_timeout_s: float | None = IDLE_TIMEOUT_S
        self.channels = CHANNELS[market]
        self.to_venue = TO_VENUE[market]
        self.from_venue = FROM_VENUE[market]
        self._last_price: dict[str, tuple[float, str]] = {}  # symbol -> (price, tick direction)
        self._cs: dict[str, int] = {}  # symbol -> the newest book change n (ticker ``cs``)

    # -- client messages ------------------------------------------------------------------------

    def on_open(self, client: SimClient, path: str, query: dict[str, str], ctx: SimContext) -> list[str]:
        """Nothing is sent on open; the connection gets its ``conn_id``."""
        client.state["conn_id"] = f"flowdesk-sim-{next(_conn_ids)}-{self.market}"
        return []

    def on_message(self, client: SimClient, text: str, ctx: SimContext) -> list[str]:
        """subscribe / unsubscribe (acks, then snapshots for book and ticker topics), ping ->
        pong, anything else -> Bybit's error reply."""
        try:
            req = orjson.loads(text)
        except orjson.JSONDecodeError:
            return [self._reply(client, "", "", False, f"Failed to decode incoming data: {text[:60]}")]
        if not isinstance(req, dict):
            return [self._reply(client, "", "", False, "Failed to decode incoming data: not an object")]
        op, req_id = req.get("op"), req.get("req_id")
        if op == "ping":
            return [self._reply(client, "ping", req_id, True, "pong")]
        if op in ("subscribe", "unsubscribe"):
            return self._on_subscription(client, op, req_id, req.get("args"), ctx)
        return [self._reply(client, str(op or ""), req_id, False, f"error:handler not found,op:{op}")]

    def _on_subscription(
        self, client: SimClient, op: str, req_id: Any, args: Any, ctx: SimContext,
    ) -> list[str]:
        if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            return [self._reply(client, op, req_id, False, "error:args must be a non-empty array of topics")]
        if self.market == SPOT and len(args) > SPOT_MAX_ARGS:
            return [self._reply(client, op, req_id, False, f"error:args size >{SPOT_MAX_ARGS}")]
        wanted: list[Topic] = []
        for arg in args:
            topic = self._topic(arg, ctx)
            if topic is None:
                return [self._reply(client, op, req_id, False, f"error:handler not found,topic:{arg}")]
            wanted.append(topic)
        if op == "unsubscribe":
            client.unsubscribe(wanted)
            return [self._reply(client, op, req_id, True, "")]
        client.subscribe(wanted)
        ack = self._reply(client, op, req_id, True, "subscribe" if self.market == SPOT else "")
        return [ack, *(f for t in wanted for f in self._initial(t, ctx))]

    def _topic(self, arg: str, ctx: SimContext) -> Topic | None:
        """``"orderbook.50.BTCUSDT"`` -> ``("orderbook.50", "BTCUSDT")``; ``None`` when the
        channel or the symbol is not served."""
        channel, _, venue_symbol = arg.rpartition(".")
        symbol = self.from_venue(venue_symbol)
        if channel not in self.channels or symbol not in ctx.symbols:
            return None
        return channel, symbol

    def _reply(self, client: SimClient, op: str, req_id: Any, success: bool, msg: str) -> str:
        """Bybit's control reply; linear always carries ``req_id``, spot only when sent."""
        body: dict[str, Any] = {"success": success, "ret_msg": msg, "conn_id": client.state.get("conn_id", "")}
        if req_id is not None or self.market == LINEAR:
            body["req_id"] = req_id if req_id is not None else ""
        body["op"] = op
        return _dumps(body)

    def _initial(self, topic: Topic, ctx: SimContext) -> list[str]:
        """The snapshot a subscription starts with (books, level 1, tickers); else nothing."""
        channel, symbol = topic
        if channel in BOOK_CHANNELS:
            return [self._book_snapshot(channel, symbol, BOOK_CHANNELS[channel], ctx)]
        if channel == "orderbook.1":
            return [self._book_snapshot(channel, symbol, 1, ctx)]
        if channel == "tickers":
            return self._ticker_snapshot(symbol, ctx)
        return []

    def _book_snapshot(self, channel: str, symbol: str, depth: int, ctx: SimContext) -> str:
        book, spec = ctx.book(symbol, depth), ctx.spec(symbol)
        now = ctx.now_ms()
        data = {
            "s": self.to_venue(symbol), "b": _levels(book.bids, spec), "a": _levels(book.asks, spec),
            "u": book.seq, "seq": book.seq,
        }
        return _dumps({"topic": f"{channel}.{data['s']}", "type": "snapshot", "ts": now, "data": data, "cts": now})

    def _ticker_snapshot(self, symbol: str, ctx: SimContext) -> list[str]:
        """A ``tickers`` snapshot from the newest neutral events; fields of kinds not seen yet
        are left out (the parser then builds only the kinds it has), ``[]`` before any event."""
        data: dict[str, Any] = {"symbol": self.to_venue(symbol)}
        spec = ctx.spec(symbol)
        for kind in ("Quote", "MarkFunding", "OpenInterest", "Ticker24h"):
            event = ctx.latest(symbol, kind)
            if event is not None and (self.market == LINEAR or kind == "Ticker24h"):
                data.update(self._ticker_fields(event, spec))
        if len(data) == 1:
            return []  # nothing known yet: the first deltas (complete per kind) start the state
        cs = self._cs.get(symbol, 0)
        frame = {"topic": f"tickers.{data['symbol']}", "type": "snapshot", "data": data, "cs": cs, "ts": ctx.now_ms()}
        return [_dumps(frame)]

    # -- neutral events -> frames ----------------------------------------------------------------

    def encode(self, event: Record, ctx: SimContext) -> list[tuple[Topic, str]]:
        """The frames of one neutral event on their topics (``[]`` for kinds this market has no
        stream for, e.g. liquidations on spot)."""
        kind = type(event)
        if kind is Trade:
            return self._trade(event, ctx)  # type: ignore[arg-type]
        if kind is BookDelta:
            return self._delta(event, ctx)  # type: ignore[arg-type]
        if kind is Quote:
            return self._quote(event, ctx)  # type: ignore[arg-type]
        if kind in (MarkFunding, OpenInterest, Ticker24h):
            return self._ticker_delta(event, ctx)
        if kind is Liquidation and self.market == LINEAR:
            return self._liquidation(event, ctx)  # type: ignore[arg-type]
        if kind is Candle and event.interval == "1m":  # type: ignore[union-attr]
            return self._kline(event, ctx)  # type: ignore[arg-type]
        return []

    def _trade(self, t: Trade, ctx: SimContext) -> list[tuple[Topic, str]]:
        spec, vs = ctx.spec(t.symbol), self.to_venue(t.symbol)
        row: dict[str, Any] = {
            "T": t.ts, "s": vs, "S": "Buy" if t.side == "buy" else "Sell",
            "v": _qty(t.qty, spec), "p": _price(t.price, spec),
        }
        if self.market == LINEAR:
            row["L"] = self._tick_direction(t.symbol, t.price)
            row["i"] = self.linear_trade_uuid(t.symbol, t.trade_id)
        else:
            row["i"] = str(t.trade_id)
        row.update({"BT": False, "RPI": False, "seq": t.trade_id})
        frame = {"topic": f"publicTrade.{vs}", "type": "snapshot", "ts": t.ts, "data": [row]}
        return [(("publicTrade", t.symbol), _dumps(frame))]

    def linear_trade_uuid(self, symbol: str, trade_id: int) -> str:
        """The ``i`` a linear trade with neutral id ``trade_id`` carries."""
        return str(uuid.uuid5(_TRADE_ID_NS, f"{symbol}:{trade_id}"))

    def _tick_direction(self, symbol: str, price: float) -> str:
        """Bybit's ``L``: PlusTick/MinusTick, or ZeroPlusTick/ZeroMinusTick at an unchanged price."""
        last = self._last_price.get(symbol)
        if last is None or price == last[0]:
            direction = "Zero" + (last[1].removeprefix("Zero") if last else "PlusTick")
        else:
            direction = "PlusTick" if price > last[0] else "MinusTick"
        self._last_price[symbol] = (price, direction)
        return direction

    def _delta(self, d: BookDelta, ctx: SimContext) -> list[tuple[Topic, str]]:
        spec, vs = ctx.spec(d.symbol), self.to_venue(d.symbol)
        self._cs[d.symbol] = d.last_update_id
        u = d.last_update_id
        data = {"s": vs, "b": _levels(d.bids, spec), "a": _levels(d.asks, spec), "u": u, "seq": u}
        out = []
        for channel in BOOK_CHANNELS:
            frame = {"topic": f"{channel}.{vs}", "type": "delta", "ts": d.ts, "data": data, "cts": d.ts}
            out.append(((channel, d.symbol), _dumps(frame)))
        return out

    def _quote(self, q: Quote, ctx: SimContext) -> list[tuple[Topic, str]]:
        """Level 1 as an ``orderbook.1`` snapshot; linear also a ``tickers`` delta of bid1/ask1."""
        spec, vs = ctx.spec(q.symbol), self.to_venue(q.symbol)
        level1 = {
            "s": vs, "b": [[_price(q.bid, spec), _qty(q.bid_qty, spec)]],
            "a": [[_price(q.ask, spec), _qty(q.ask_qty, spec)]], "u": q.update_id, "seq": q.update_id,
        }
        frame = {"topic": f"orderbook.1.{vs}", "type": "snapshot", "ts": q.ts, "data": level1, "cts": q.ts}
        out = [(("orderbook.1", q.symbol), _dumps(frame))]
        if self.market == LINEAR:
            self._cs[q.symbol] = q.update_id
            out += self._ticker_delta(q, ctx)
        return out

    def _ticker_delta(self, event: Record, ctx: SimContext) -> list[tuple[Topic, str]]:
        """Linear: a ``tickers`` delta with the fields of this event's kind only; spot: a
        ``tickers`` snapshot for 24h statistics (spot has no deltas, mark or open interest)."""
        symbol = event.symbol
        if self.market == SPOT and type(event) is not Ticker24h:
            return []
        vs = self.to_venue(symbol)
        data = {"symbol": vs, **self._ticker_fields(event, ctx.spec(symbol))}
        kind = "delta" if self.market == LINEAR else "snapshot"
        frame = {"topic": f"tickers.{vs}", "type": kind, "data": data, "cs": self._cs.get(symbol, 0), "ts": event.ts}
        return [(("tickers", symbol), _dumps(frame))]

    def _ticker_fields(self, event: Record, spec: SymbolSpec) -> dict[str, str]:
        """The ``tickers`` fields one neutral event stands for, formatted as Bybit does."""
        if type(event) is Quote:
            return {
                "bid1Price": _price(event.bid, spec), "bid1Size": _qty(event.bid_qty, spec),
                "ask1Price": _price(event.ask, spec), "ask1Size": _qty(event.ask_qty, spec),
            }
        if type(event) is MarkFunding:
            return _mark_fields(event, spec)
        if type(event) is OpenInterest:
            fields = {"openInterest": _qty(event.open_interest, spec)}
            if event.open_interest_value is not None:
                fields["openInterestValue"] = f"{event.open_interest_value:.2f}"
            return fields
        assert type(event) is Ticker24h
        return {
            "lastPrice": _price(event.last, spec), "prevPrice24h": _price(event.open, spec),
            "highPrice24h": _price(event.high, spec), "lowPrice24h": _price(event.low, spec),
            "volume24h": _qty(event.volume, spec), "turnover24h": f"{event.quote_volume:.4f}",
            "price24hPcnt": _plain(event.price_change_pct / 100.0, 6),
        }

    def _liquidation(self, liq: Liquidation, ctx: SimContext) -> list[tuple[Topic, str]]:
        """``S`` is the liquidated position: a sell order liquidates a long (``"Buy"``)."""
        spec, vs = ctx.spec(liq.symbol), self.to_venue(liq.symbol)
        row = {
            "T": liq.ts, "s": vs, "S": "Buy" if liq.side == "sell" else "Sell",
            "v": _qty(liq.qty, spec), "p": _price(liq.price, spec),
        }
        frame = {"topic": f"allLiquidation.{vs}", "type": "snapshot", "ts": liq.ts, "data": [row]}
        return [(("allLiquidation", liq.symbol), _dumps(frame))]

    def _kline(self, c: Candle, ctx: SimContext) -> list[tuple[Topic, str]]:
        spec, vs = ctx.spec(c.symbol), self.to_venue(c.symbol)
        bar = {
            "start": c.open_ts, "end": c.close_ts, "interval": "1", "open": _price(c.open, spec),
            "close": _price(c.close, spec), "high": _price(c.high, spec), "low": _price(c.low, spec),
            "volume": _qty(c.volume, spec), "turnover": f"{c.quote_volume:.4f}", "confirm": c.closed,
            "timestamp": c.ts,
        }
        frame = {"topic": f"kline.1.{vs}", "data": [bar], "ts": c.ts, "type": "snapshot"}
        return [(("kline.1", c.symbol), _dumps(frame))]

    # -- REST ------------------------------------------------------------------------------------

    def rest(self, method: str, path: str, query: dict[str, str], ctx: SimContext) -> tuple[int, Any]:
        """``GET /v5/market/instruments-info?category=<market>``; any other route is Bybit's
        ``retCode`` 10017 with HTTP 404."""
        now = ctx.now_ms()
        if method != "GET" or path != INSTRUMENTS_PATH:
            return 404, _envelope(10017, "Request path not found or request method is invalid", {}, now)
        if query.get("category") != self.market:
            return 200, _envelope(10001, "params error: category is invalid for this server", {}, now)
        build = _linear_instrument if self.market == LINEAR else _spot_instrument
        rows = [build(ctx.spec(sym), self.to_venue(sym)) for sym in ctx.symbols]
        return 200, _envelope(0, "OK", {"category": self.market, "list": rows, "nextPageCursor": ""}, now)


def _price(x: float, spec: SymbolSpec) -> str:
    return f"{x:.{spec.price_decimals}f}"


def _qty(x: float, spec: SymbolSpec) -> str:
    return f"{x:.{spec.qty_decimals}f}"


def _levels(rows: list[tuple[float, float]], spec: SymbolSpec) -> list[list[str]]:
    p, q = spec.price_decimals, spec.qty_decimals
    return [[f"{price:.{p}f}", f"{qty:.{q}f}"] for price, qty in rows]


def _mark_fields(m: MarkFunding, spec: SymbolSpec) -> dict[str, str]:
    fields = {"markPrice": _price(m.mark_price, spec)}
    if m.index_price is not None:
        fields["indexPrice"] = _price(m.index_price, spec)
    fields["fundingRate"] = "" if m.funding_rate is None else _plain(m.funding_rate, 8)
    fields["nextFundingTime"] = str(m.next_funding_ts or 0)
    return fields


def _envelope(code: int, msg: str, result: dict[str, Any], now_ms: int) -> dict[str, Any]:
    return {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}, "time": now_ms}


def _linear_instrument(spec: SymbolSpec, venue_symbol: str) -> dict[str, Any]:
    """One ``LinearPerpetual`` entry with the real response's fields."""
    return {
        "symbol": venue_symbol, "contractType": "LinearPerpetual", "status": "Trading",
        "baseCoin": spec.base, "quoteCoin": spec.quote, "launchTime": "1584230400000",
        "deliveryTime": "0", "deliveryFeeRate": "", "priceScale": str(spec.price_decimals),
        "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
        "priceFilter": {"minPrice": spec.tick_size, "maxPrice": "1999999.80", "tickSize": spec.tick_size},
        "lotSizeFilter": {
            "maxOrderQty": "1500.000", "minOrderQty": spec.step_size, "qtyStep": spec.step_size,
            "postOnlyMaxOrderQty": "1500.000", "maxMktOrderQty": "150.000", "minNotionalValue": "5",
        },
        "unifiedMarginTrade": True, "fundingInterval": 480, "settleCoin": spec.quote,
        "copyTrading": "both", "upperFundingRate": "0.005", "lowerFundingRate": "-0.005",
        "isPreListing": False, "preListingInfo": None,
    }


def _spot_instrument(spec: SymbolSpec, venue_symbol: str) -> dict[str, Any]:
    """One spot entry; the lot step is ``basePrecision``."""
    return {
        "symbol": venue_symbol, "baseCoin": spec.base, "quoteCoin": spec.quote, "innovation": "0",
        "status": "Trading", "marginTrading": "utaOnly", "stTag": "0",
        "lotSizeFilter": {
            "basePrecision": spec.step_size, "quotePrecision": "0.0000001", "minOrderQty": spec.step_size,
            "maxOrderQty": "230", "minOrderAmt": "5", "maxOrderAmt": "8000000",
        },
        "priceFilter": {"tickSize": spec.tick_size},
    }


SIMS: dict[str, BybitSim] = {"bybit_linear": BybitSim(LINEAR), "bybit_spot": BybitSim(SPOT)}
