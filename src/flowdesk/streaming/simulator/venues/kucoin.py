"""KuCoin spot and KuCoin futures for the simulator server: the wire format of
:mod:`flowdesk.streaming.venues.kucoin`, rendered from the server's neutral events.

The connection flow is KuCoin's: ``POST /api/v1/bullet-public`` hands out a token and the
endpoint ``<ws_url>/``; the socket opened with ``?token=..&connectId=..`` first receives
``{"id":<connectId>,"type":"welcome"}``; ``subscribe``/``unsubscribe`` requests are answered
``ack`` (when ``response`` is true), ``ping`` is answered ``pong``, anything else gets KuCoin's
``{"id":..,"type":"error","code":..,"data":..}``. Books are REST-snapshot books (``rest_next``):
no WebSocket snapshot is sent on subscription.

Sequence numbers: KuCoin gives every book change its own sequence. A neutral ``BookDelta`` ``n``
with k levels takes the next k sequences of its symbol (spot: one message ``sequenceStart..
sequenceEnd``; futures: k one-change messages; a spot delta without levels takes one sequence
with KuCoin's price-"0" change). :class:`Sequencer` remembers which sequences each ``n`` got, so
the REST snapshot of the book at ``n`` reports the last of them and the diffs after it chain;
tickers carry the book's sequence, as KuCoin's do. ``encode`` must be called once per event, in
order (the server encodes each event once and fans the frames out).

Futures quantities are lots of ``multiplier`` base units; the multiplier is the symbol's lot
step (``SymbolSpec.step_size``), which ``/api/v1/contracts/active`` publishes, so every quantity
on the grid is a whole number of lots.
"""

from __future__ import annotations

import itertools
from typing import Any

import orjson

from flowdesk.records import (
    BookDelta,
    Candle,
    MarkFunding,
    OpenInterest,
    Quote,
    Record,
    Ticker24h,
    Trade,
)
from flowdesk.streaming.simulator.venue_api import SimClient, SimContext, Topic
from flowdesk.streaming.venues import kucoin as kc

#: first sequence a symbol's book changes get (KuCoin's are large numbers; any start chains)
SEQ_START = 1_000_000_001
#: n -> sequences kept per symbol (REST snapshots of older books cannot be answered exactly)
SEQ_MEMORY = 200_000
FUNDING_GRANULARITY_MS = 8 * 3_600_000
_NOT_FOUND = {"code": "404000", "msg": "Url Not Found"}


def fmt(value: float, decimals: int) -> str:
    """``value`` as KuCoin writes decimals: fixed point without trailing zeros (``"67523"``,
    ``"0.003"``)."""
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def dumps(obj: Any) -> str:
    """Compact JSON text of ``obj``."""
    return orjson.dumps(obj).decode()


class Sequencer:
    """Per-symbol KuCoin sequences derived from the neutral change counter ``n``.

    Each encoded change ``n`` takes as many sequences as it has book changes; a change the
    server never encoded (a skipped diff: the ``skip_depth_at`` fault, or no client listening)
    takes one, so a client that missed it sees a hole in the sequence, and a REST snapshot
    taken at such an ``n`` still chains with the next diff.
    """

    def __init__(self, start: int = SEQ_START, memory: int = SEQ_MEMORY) -> None:
        self.start, self.memory = start, memory
        self._next: dict[str, int] = {}
        self._last_n: dict[str, int] = {}
        self._by_n: dict[str, dict[int, int]] = {}  # n -> the last sequence it got

    def assign(self, symbol: str, n: int, count: int) -> tuple[int, int]:
        """``(first, last)``: the sequences of change ``n`` with ``count`` changes (``last =
        first - 1`` when ``count`` is 0). An ``n`` not above the last one means the market
        started again: what was remembered is forgotten, the sequences go on rising."""
        by_n = self._by_n.setdefault(symbol, {})
        last_n = self._last_n.get(symbol)
        if last_n is not None and n <= last_n:
            by_n.clear()
            last_n = None
        skipped = 0 if last_n is None else n - last_n - 1
        first = self._next.get(symbol, self.start) + skipped
        by_n[n] = first + count - 1
        self._next[symbol] = first + count
        self._last_n[symbol] = n
        if len(by_n) > self.memory:
            del by_n[next(iter(by_n))]
        return first, first + count - 1

    def at(self, symbol: str, n: int) -> int:
        """The sequence of the book after change ``n`` (a REST snapshot's ``sequence``)."""
        last = self._by_n.get(symbol, {}).get(n)
        if last is not None:
            return last
        last_n = self._last_n.get(symbol)
        if last_n is None:  # nothing encoded yet: ``n`` becomes the reference
            self._last_n[symbol] = n
            return self.current(symbol)
        return self.current(symbol) + max(n - last_n, 0)

    def current(self, symbol: str) -> int:
        """The last sequence handed out for ``symbol`` (``start - 1`` before the first)."""
        return self._next.get(symbol, self.start) - 1


class _KucoinSim:
    """What both markets share: handshake, control messages, topic bookkeeping, REST routing."""

    name = ""
    ws_paths: tuple[str, ...] = ("/",)
    #: KuCoin drops a client silent for pingInterval + pingTimeout
    idle_timeout_s: float | None = (kc.PING_INTERVAL_MS + kc.PING_TIMEOUT_MS) / 1000
    channels: dict[str, str] = {}

    def __init__(self) -> None:
        self.seq = Sequencer()
        self._tokens = itertools.count(1)
        self._connections = itertools.count(1)

    # -- symbols (overridden per market) --------------------------------------------------------

    def to_venue(self, symbol: str) -> str:
        raise NotImplementedError

    def from_venue(self, venue_symbol: str) -> str:
        raise NotImplementedError

    # -- WebSocket ---------------------------------------------------------------------------------

    def on_open(self, client: SimClient, path: str, query: dict[str, str], ctx: SimContext) -> list[str]:
        """``welcome`` with the client's ``connectId``; an ``error`` when no token was given."""
        cid = query.get("connectId") or f"sim-{next(self._connections)}"
        client.state["connect_id"] = cid
        if not query.get("token"):
            return [self.error(cid, 401, "token is required")]
        return [dumps({"id": cid, "type": "welcome"})]

    def on_message(self, client: SimClient, text: str, ctx: SimContext) -> list[str]:
        """Answer ``ping``, ``subscribe`` and ``unsubscribe``; an ``error`` for anything else."""
        cid = client.state.get("connect_id", "")
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            return [self.error(cid, 400, "request is not valid JSON")]
        if not isinstance(msg, dict):
            return [self.error(cid, 400, "request is not a JSON object")]
        kind, mid = msg.get("type"), str(msg.get("id", ""))
        if kind == "ping":
            return [dumps({"id": mid, "type": "pong"})]
        if kind not in ("subscribe", "unsubscribe"):
            return [self.error(cid, 415, "type is not supported")]
        topics = self.parse_topic(msg.get("topic"), ctx)
        if topics is None:
            return [self.error(cid, 404, f"topic {msg.get('topic')} is not found")]
        (client.subscribe if kind == "subscribe" else client.unsubscribe)(topics)
        return [dumps({"id": mid, "type": "ack"})] if msg.get("response") else []

    @staticmethod
    def error(cid: str, code: int, text: str) -> str:
        """KuCoin's error frame (its ``id`` is the connectId)."""
        return dumps({"id": cid, "type": "error", "code": code, "data": text})

    def parse_topic(self, topic: Any, ctx: SimContext) -> list[Topic] | None:
        """``"/market/match:BTC-USDT,ETH-USDT"`` -> ``[("/market/match", "BTCUSDT"), ...]``;
        ``None`` for an unknown channel, symbol or candle type."""
        if not isinstance(topic, str) or ":" not in topic:
            return None
        channel, _, names = topic.partition(":")
        if channel not in self.channels.values():
            return None
        out: list[Topic] = []
        for name in names.split(","):
            if channel == "/market/candles":
                name, _, kind = name.rpartition("_")
                if kind != kc.CANDLE_TYPE:
                    return None
            try:
                symbol = self.from_venue(name)
            except ValueError:
                return None
            if symbol not in ctx.symbols:
                return None
            out.append((channel, symbol))
        return out

    # -- REST --------------------------------------------------------------------------------------

    def rest(self, method: str, path: str, query: dict[str, str], ctx: SimContext) -> tuple[int, Any]:
        """``(status, body)`` for the REST paths the protocol uses; KuCoin's 404 otherwise."""
        if method == "POST" and path == kc.BULLET_PATH:
            return 200, self.bullet(ctx)
        if method != "GET":
            return 404, _NOT_FOUND
        return self.get(path, query, ctx)

    def get(self, path: str, query: dict[str, str], ctx: SimContext) -> tuple[int, Any]:
        raise NotImplementedError

    def bullet(self, ctx: SimContext) -> dict[str, Any]:
        """A bullet-public answer pointing at this server."""
        return ok({
            "token": f"flowdesk-sim-token-{next(self._tokens)}",
            "instanceServers": [{
                "endpoint": f"{ctx.ws_url}/", "encrypt": ctx.ws_url.startswith("wss"), "protocol": "websocket",
                "pingInterval": kc.PING_INTERVAL_MS, "pingTimeout": kc.PING_TIMEOUT_MS,
            }],
        })

    def symbol_of(self, query: dict[str, str], ctx: SimContext) -> str | None:
        """The flowdesk symbol of ``?symbol=`` when the market runs it."""
        try:
            symbol = self.from_venue(query.get("symbol", ""))
        except ValueError:
            return None
        return symbol if symbol in ctx.symbols else None

    def book(self, symbol: str, depth: int, ctx: SimContext) -> tuple[int, Any, Any]:
        """``(sequence, bids, asks)`` of the server's book in KuCoin sequences."""
        book = ctx.book(symbol, depth)
        return self.seq.at(symbol, book.seq), book.bids, book.asks


def ok(data: Any) -> dict[str, Any]:
    """KuCoin's success envelope."""
    return {"code": "200000", "data": data}


def bad_symbol(query: dict[str, str]) -> tuple[int, Any]:
    """KuCoin's parameter error for an unknown ``symbol``."""
    return 400, {"code": "400100", "msg": f"symbol {query.get('symbol', '')!r} not exists"}


class KucoinSpotSim(_KucoinSim):
    """KuCoin spot: ``/market/match``, ``/market/level2``, ``/market/ticker``,
    ``/market/snapshot``, ``/market/candles`` and the REST symbols and level2_100 snapshot."""

    name = kc.SPOT_VENUE
    channels = kc.SPOT_TOPICS

    def to_venue(self, symbol: str) -> str:
        return kc.spot_to_venue(symbol)

    def from_venue(self, venue_symbol: str) -> str:
        if venue_symbol.count("-") != 1:
            raise ValueError(f"not a spot symbol: {venue_symbol!r}")
        return kc.spot_from_venue(venue_symbol)

    def encode(self, event: Record, ctx: SimContext) -> list[tuple[Topic, str]]:
        """The spot frames of one neutral event (futures-only kinds give ``[]``)."""
        if isinstance(event, Trade):
            return [self._trade(event, ctx)]
        if isinstance(event, BookDelta):
            return [self._level2(event, ctx)]
        if isinstance(event, Quote):
            return self._ticker(event, ctx)
        if isinstance(event, Ticker24h):
            return [self._snapshot(event, ctx)]
        if isinstance(event, Candle) and event.interval == "1m":
            return [self._candle(event, ctx)]
        return []

    def _frame(self, channel: str, symbol: str, subject: str, data: dict[str, Any],
               suffix: str = "") -> tuple[Topic, str]:
        topic = f"{channel}:{self.to_venue(symbol)}{suffix}"
        return (channel, symbol), dumps({"topic": topic, "type": "message", "subject": subject, "data": data})

    def _trade(self, t: Trade, ctx: SimContext) -> tuple[Topic, str]:
        spec = ctx.spec(t.symbol)
        return self._frame("/market/match", t.symbol, "trade.l3match", {
            "makerOrderId": f"{2 * t.trade_id:024x}", "price": fmt(t.price, spec.price_decimals),
            "sequence": str(t.trade_id), "side": t.side, "size": fmt(t.qty, spec.qty_decimals),
            "symbol": self.to_venue(t.symbol), "takerOrderId": f"{2 * t.trade_id + 1:024x}",
            "time": str(t.ts * 1_000_000), "tradeId": str(t.trade_id), "type": "match",
        })

    def _level2(self, d: BookDelta, ctx: SimContext) -> tuple[Topic, str]:
        spec = ctx.spec(d.symbol)
        count = len(d.asks) + len(d.bids)
        first, last = self.seq.assign(d.symbol, d.last_update_id, max(count, 1))
        seqs = iter(range(first, last + 1))

        def rows(levels: list[tuple[float, float]]) -> list[list[str]]:
            return [[fmt(p, spec.price_decimals), fmt(q, spec.qty_decimals), str(next(seqs))] for p, q in levels]

        asks, bids = rows(d.asks), rows(d.bids)
        if not count:
            asks = [["0", "0", str(first)]]  # KuCoin's sequence-only change
        return self._frame("/market/level2", d.symbol, "trade.l2update", {
            "changes": {"asks": asks, "bids": bids}, "sequenceEnd": last, "sequenceStart": first,
            "symbol": self.to_venue(d.symbol), "time": d.ts,
        })

    def _ticker(self, q: Quote, ctx: SimContext) -> list[tuple[Topic, str]]:
        last = ctx.latest(q.symbol, "Trade")
        if not isinstance(last, Trade):
            return []  # KuCoin's ticker carries the last trade: none yet, no ticker
        spec = ctx.spec(q.symbol)
        p, s = spec.price_decimals, spec.qty_decimals
        return [self._frame("/market/ticker", q.symbol, "trade.ticker", {
            "sequence": str(self.seq.at(q.symbol, q.update_id)), "price": fmt(last.price, p), "size": fmt(last.qty, s),
            "bestAsk": fmt(q.ask, p), "bestAskSize": fmt(q.ask_qty, s), "bestBid": fmt(q.bid, p),
            "bestBidSize": fmt(q.bid_qty, s), "time": q.ts,
        })]

    def _snapshot(self, t: Ticker24h, ctx: SimContext) -> tuple[Topic, str]:
        spec = ctx.spec(t.symbol)
        vs = self.to_venue(t.symbol)
        data: dict[str, Any] = {
            "symbol": vs, "symbolCode": vs, "baseCurrency": spec.base, "quoteCurrency": spec.quote,
            "trading": True, "lastTradedPrice": t.last, "close": t.last, "open": t.open, "high": t.high,
            "low": t.low, "vol": t.volume, "volValue": t.quote_volume, "changePrice": t.last - t.open,
            "changeRate": t.price_change_pct / 100, "datetime": t.ts,
        }
        if t.volume:
            data["averagePrice"] = t.quote_volume / t.volume
        quote = ctx.latest(t.symbol, "Quote")
        if isinstance(quote, Quote):
            data.update(buy=quote.bid, sell=quote.ask, bidSize=quote.bid_qty, askSize=quote.ask_qty)
        sequence = str(self.seq.current(t.symbol))
        return self._frame("/market/snapshot", t.symbol, "trade.snapshot", {"sequence": sequence, "data": data})

    def _candle(self, c: Candle, ctx: SimContext) -> tuple[Topic, str]:
        spec = ctx.spec(c.symbol)
        p, s = spec.price_decimals, spec.qty_decimals
        row = [str(c.open_ts // 1000), fmt(c.open, p), fmt(c.close, p), fmt(c.high, p), fmt(c.low, p),
               fmt(c.volume, s), fmt(c.quote_volume, p + s)]
        return self._frame("/market/candles", c.symbol, "trade.candles.update", {
            "symbol": self.to_venue(c.symbol), "candles": row, "time": c.ts * 1_000_000,
        }, suffix=f"_{kc.CANDLE_TYPE}")

    def get(self, path: str, query: dict[str, str], ctx: SimContext) -> tuple[int, Any]:
        if path == kc.SPOT_SYMBOLS_PATH:
            return 200, ok([self._symbol_row(s, ctx) for s in ctx.symbols])
        if path == kc.SPOT_DEPTH_PATH:
            symbol = self.symbol_of(query, ctx)
            if symbol is None:
                return bad_symbol(query)
            return 200, ok(self._snapshot_body(symbol, ctx))
        return 404, _NOT_FOUND

    def _symbol_row(self, symbol: str, ctx: SimContext) -> dict[str, Any]:
        spec = ctx.spec(symbol)
        vs = self.to_venue(symbol)
        return {
            "symbol": vs, "name": vs, "baseCurrency": spec.base, "quoteCurrency": spec.quote,
            "feeCurrency": spec.quote, "baseMinSize": spec.step_size, "baseIncrement": spec.step_size,
            "quoteIncrement": spec.tick_size, "priceIncrement": spec.tick_size, "isMarginEnabled": False,
            "enableTrading": True,
        }

    def _snapshot_body(self, symbol: str, ctx: SimContext) -> dict[str, Any]:
        spec = ctx.spec(symbol)
        seq, bids, asks = self.book(symbol, 100, ctx)
        p, s = spec.price_decimals, spec.qty_decimals
        return {
            "time": ctx.now_ms(), "sequence": str(seq),
            "bids": [[fmt(px, p), fmt(q, s)] for px, q in bids],
            "asks": [[fmt(px, p), fmt(q, s)] for px, q in asks],
        }


class KucoinFuturesSim(_KucoinSim):
    """KuCoin futures: ``/contractMarket/execution``, ``/contractMarket/level2``,
    ``/contractMarket/tickerV2``, ``/contract/instrument`` and the REST contracts, contract
    details and level2 snapshot."""

    name = kc.FUTURES_VENUE
    channels = kc.FUTURES_TOPICS

    def __init__(self) -> None:
        super().__init__()
        self._funding_sent: dict[str, tuple[int, int]] = {}

    def to_venue(self, symbol: str) -> str:
        return kc.futures_to_venue(symbol)

    def from_venue(self, venue_symbol: str) -> str:
        return kc.futures_from_venue(venue_symbol)

    @staticmethod
    def multiplier(symbol: str, ctx: SimContext) -> float:
        """Base units per lot: the symbol's lot step."""
        return float(ctx.spec(symbol).step_size)

    def lots(self, symbol: str, qty: float, ctx: SimContext) -> int:
        """A base quantity in whole lots."""
        return round(qty / self.multiplier(symbol, ctx))

    def encode(self, event: Record, ctx: SimContext) -> list[tuple[Topic, str]]:
        """The futures frames of one neutral event (kinds served over REST or not at all give
        ``[]``: open interest and 24 h statistics are polled, candles and liquidations are not
        published)."""
        if isinstance(event, Trade):
            return [self._execution(event, ctx)]
        if isinstance(event, BookDelta):
            return self._level2(event, ctx)
        if isinstance(event, Quote):
            return [self._ticker(event, ctx)]
        if isinstance(event, MarkFunding):
            return self._instrument(event)
        return []

    def _frame(self, channel: str, symbol: str, subject: str, data: dict[str, Any],
               sn: int | None = None) -> tuple[Topic, str]:
        frame: dict[str, Any] = {"topic": f"{channel}:{self.to_venue(symbol)}", "type": "message", "subject": subject}
        if sn is not None:
            frame["sn"] = sn
        frame["data"] = data
        return (channel, symbol), dumps(frame)

    def _execution(self, t: Trade, ctx: SimContext) -> tuple[Topic, str]:
        spec = ctx.spec(t.symbol)
        return self._frame("/contractMarket/execution", t.symbol, "match", {
            "symbol": self.to_venue(t.symbol), "sequence": t.trade_id, "side": t.side,
            "size": self.lots(t.symbol, t.qty, ctx), "price": fmt(t.price, spec.price_decimals),
            "takerOrderId": str(2 * t.trade_id + 1), "makerOrderId": str(2 * t.trade_id),
            "tradeId": str(t.trade_id), "ts": t.ts * 1_000_000,
        }, sn=t.trade_id)

    def _level2(self, d: BookDelta, ctx: SimContext) -> list[tuple[Topic, str]]:
        spec = ctx.spec(d.symbol)
        changes = [(p, "buy", q) for p, q in d.bids] + [(p, "sell", q) for p, q in d.asks]
        first, _ = self.seq.assign(d.symbol, d.last_update_id, len(changes))
        out = []
        for seq, (price, side, qty) in enumerate(changes, first):
            change = f"{fmt(price, spec.price_decimals)},{side},{self.lots(d.symbol, qty, ctx)}"
            out.append(self._frame("/contractMarket/level2", d.symbol, "level2", {
                "sequence": seq, "change": change, "timestamp": d.ts,
            }, sn=seq))
        return out

    def _ticker(self, q: Quote, ctx: SimContext) -> tuple[Topic, str]:
        p = ctx.spec(q.symbol).price_decimals
        seq = self.seq.at(q.symbol, q.update_id)  # tickerV2 shares the book's sequence
        return self._frame("/contractMarket/tickerV2", q.symbol, "tickerV2", {
            "symbol": self.to_venue(q.symbol), "sequence": seq,
            "bestBidSize": self.lots(q.symbol, q.bid_qty, ctx), "bestBidPrice": fmt(q.bid, p),
            "bestAskPrice": fmt(q.ask, p), "bestAskSize": self.lots(q.symbol, q.ask_qty, ctx),
            "ts": q.ts * 1_000_000,
        }, sn=seq)

    def _instrument(self, m: MarkFunding) -> list[tuple[Topic, str]]:
        """``mark.index.price`` always; ``funding.rate`` (8 h granularity) once a minute, before
        the mark price so a parser has the rate when the mark arrives."""
        out = []
        minute = m.ts // 60_000
        sent = self._funding_sent.get(m.symbol)
        if m.funding_rate is not None and (sent is None or sent[0] != minute or sent[1] == m.ts):
            self._funding_sent[m.symbol] = (minute, m.ts)
            out.append(self._frame("/contract/instrument", m.symbol, "funding.rate", {
                "granularity": FUNDING_GRANULARITY_MS, "fundingRate": m.funding_rate, "timestamp": minute * 60_000,
            }))
        data: dict[str, Any] = {"markPrice": m.mark_price}
        if m.index_price is not None:
            data["indexPrice"] = m.index_price
        data.update(granularity=1000, timestamp=m.ts)
        out.append(self._frame("/contract/instrument", m.symbol, "mark.index.price", data))
        return out

    def get(self, path: str, query: dict[str, str], ctx: SimContext) -> tuple[int, Any]:
        if path == kc.FUTURES_CONTRACTS_PATH:
            return 200, ok([self._contract(s, ctx) for s in ctx.symbols])
        if path == kc.FUTURES_DEPTH_PATH:
            symbol = self.symbol_of(query, ctx)
            if symbol is None:
                return bad_symbol(query)
            return 200, ok(self._snapshot_body(symbol, ctx))
        prefix = kc.FUTURES_CONTRACT_PATH.split("{", 1)[0]
        if path.startswith(prefix):
            symbol = self.symbol_of({"symbol": path[len(prefix):]}, ctx)
            if symbol is None:
                return 200, {"code": "200000", "data": None}  # unknown contracts read as null
            return 200, ok(self._contract(symbol, ctx))
        return 404, _NOT_FOUND

    def _snapshot_body(self, symbol: str, ctx: SimContext) -> dict[str, Any]:
        seq, bids, asks = self.book(symbol, 100, ctx)
        return {
            "symbol": self.to_venue(symbol), "sequence": seq,
            "bids": [[p, self.lots(symbol, q, ctx)] for p, q in bids],
            "asks": [[p, self.lots(symbol, q, ctx)] for p, q in asks],
            "ts": ctx.now_ms() * 1_000_000,
        }

    def _contract(self, symbol: str, ctx: SimContext) -> dict[str, Any]:
        """A contract row with the static fields and the live ones the server knows."""
        spec = ctx.spec(symbol)
        size = self.multiplier(symbol, ctx)
        base = "XBT" if spec.base == "BTC" else spec.base
        row: dict[str, Any] = {
            "symbol": self.to_venue(symbol), "rootSymbol": spec.quote, "type": "FFWCSX", "baseCurrency": base,
            "quoteCurrency": spec.quote, "settleCurrency": spec.quote, "lotSize": 1,
            "tickSize": float(spec.tick_size), "multiplier": size, "makerFeeRate": 0.0002, "takerFeeRate": 0.0006,
            "isInverse": False, "isQuanto": False, "status": "Open", "fundingRateGranularity": FUNDING_GRANULARITY_MS,
        }
        row.update(self._live(symbol, size, ctx))
        return row

    def _live(self, symbol: str, size: float, ctx: SimContext) -> dict[str, Any]:
        live: dict[str, Any] = {}
        oi = ctx.latest(symbol, "OpenInterest")
        if isinstance(oi, OpenInterest):
            live["openInterest"] = str(round(oi.open_interest / size))
        mark = ctx.latest(symbol, "MarkFunding")
        if isinstance(mark, MarkFunding):
            live.update(markPrice=mark.mark_price, indexPrice=mark.index_price, fundingFeeRate=mark.funding_rate)
            if mark.next_funding_ts is not None:
                nxt = mark.next_funding_ts
                live.update(nextFundingRateDateTime=nxt, nextFundingRateTime=max(nxt - ctx.now_ms(), 0))
        t = ctx.latest(symbol, "Ticker24h")
        if isinstance(t, Ticker24h):
            live.update(lastTradePrice=t.last, highPrice=t.high, lowPrice=t.low, priceChg=t.last - t.open,
                        priceChgPct=t.price_change_pct / 100, volumeOf24h=t.volume, turnoverOf24h=t.quote_volume)
        return live


SIMS: dict[str, _KucoinSim] = {
    kc.SPOT_VENUE: KucoinSpotSim(),
    kc.FUTURES_VENUE: KucoinFuturesSim(),
}
