"""JSON bodies of the REST answers, in Binance USD-M's field names, built from the state."""

from __future__ import annotations

import bisect
from typing import Any

from flowdesk.streaming.simulator.config import SymbolSpec
from flowdesk.streaming.simulator.state import MarketState, SymbolState

DAY_MS = 86_400_000


def exchange_info(state: MarketState, now_ms: int) -> dict[str, Any]:
    """``/fapi/v1/exchangeInfo`` for the symbols the simulator serves."""
    limits = [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
        {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
    ]
    return {
        "timezone": "UTC", "serverTime": now_ms, "futuresType": "U_MARGINED", "rateLimits": limits,
        "exchangeFilters": [], "assets": [], "symbols": [_symbol_info(st.spec) for st in state.symbols.values()],
    }


def _symbol_info(s: SymbolSpec) -> dict[str, Any]:
    filters = [
        {"filterType": "PRICE_FILTER", "minPrice": s.tick_size, "maxPrice": "4529764", "tickSize": s.tick_size},
        {"filterType": "LOT_SIZE", "minQty": s.step_size, "maxQty": "1000", "stepSize": s.step_size},
        {"filterType": "MARKET_LOT_SIZE", "minQty": s.step_size, "maxQty": "120", "stepSize": s.step_size},
        {"filterType": "MAX_NUM_ORDERS", "limit": 200},
        {"filterType": "MIN_NOTIONAL", "notional": "100"},
        {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500", "multiplierDecimal": "4"},
    ]
    return {
        "symbol": s.symbol, "pair": s.symbol, "contractType": "PERPETUAL", "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000, "status": "TRADING", "baseAsset": s.base, "quoteAsset": s.quote,
        "marginAsset": s.quote, "pricePrecision": s.price_decimals, "quantityPrecision": s.qty_decimals,
        "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN", "underlyingSubType": [],
        "filters": filters, "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
    }


def premium_index(st: SymbolState, now_ms: int) -> dict[str, Any]:
    values = st.mark_values()
    mark, index, settle, funding, nxt = values if values is not None else (0.0, 0.0, 0.0, 0.0, 0)
    return {
        "symbol": st.spec.symbol, "markPrice": f"{mark:.8f}", "indexPrice": f"{index:.8f}",
        "estimatedSettlePrice": f"{settle:.8f}", "lastFundingRate": f"{funding:.8f}",
        "interestRate": "0.00010000", "nextFundingTime": nxt, "time": st.now_ms or now_ms,
    }


def ticker_24h(st: SymbolState, now_ms: int) -> dict[str, Any]:
    """24-hour statistics over the trades replayed or generated so far (window ends at the
    symbol's current stream time)."""
    end = st.now_ms or now_ms
    rows = st.aggs or st.trade_rows()
    t_col = 5 if st.aggs else 3
    i = bisect.bisect_left(rows, end - DAY_MS, key=lambda r: r[t_col])
    window = rows[i:]
    pd, qd = st.spec.price_decimals, st.spec.qty_decimals
    if not window:
        zero = f"{0:.{pd}f}"
        return {"symbol": st.spec.symbol, "priceChange": zero, "priceChangePercent": "0.000", "weightedAvgPrice": zero,
                "lastPrice": zero, "lastQty": f"{0:.{qd}f}", "openPrice": zero, "highPrice": zero, "lowPrice": zero,
                "volume": f"{0:.{qd}f}", "quoteVolume": "0.00", "openTime": end - DAY_MS, "closeTime": end,
                "firstId": -1, "lastId": -1, "count": 0}
    prices = [float(r[1]) for r in window]
    qtys = [float(r[2]) for r in window]
    volume = sum(qtys)
    quote = sum(p * q for p, q in zip(prices, qtys, strict=True))
    first_id, last_id = (window[0][3], window[-1][4]) if st.aggs else (window[0][0], window[-1][0])
    change = prices[-1] - prices[0]
    return {
        "symbol": st.spec.symbol, "priceChange": f"{change:.{pd}f}", "priceChangePercent": f"{100 * change / prices[0]:.3f}",
        "weightedAvgPrice": f"{quote / volume if volume else 0:.{pd}f}", "lastPrice": window[-1][1],
        "lastQty": window[-1][2], "openPrice": window[0][1], "highPrice": f"{max(prices):.{pd}f}",
        "lowPrice": f"{min(prices):.{pd}f}", "volume": f"{volume:.{qd}f}", "quoteVolume": f"{quote:.2f}",
        "openTime": window[0][t_col], "closeTime": window[-1][t_col], "firstId": first_id, "lastId": last_id,
        "count": last_id - first_id + 1,
    }


def agg_json(r: tuple[Any, ...]) -> dict[str, Any]:
    """An aggregate row as ``/fapi/v1/aggTrades`` returns it."""
    return {"a": r[0], "p": r[1], "q": r[2], "f": r[3], "l": r[4], "T": r[5], "m": r[6]}


def trade_json(r: tuple[Any, ...], price_decimals: int) -> dict[str, Any]:
    """A trade row as ``/fapi/v1/historicalTrades`` returns it."""
    quote = float(r[1]) * float(r[2])
    return {"id": r[0], "price": r[1], "qty": r[2], "quoteQty": f"{quote:.{price_decimals}f}", "time": r[3], "isBuyerMaker": r[4]}


def kline_rows(st: SymbolState, iv: int, start: int | None, end: int | None, limit: int) -> list[list[Any]]:
    """Klines from the trades so far; intervals without trades repeat the previous close."""
    rows = st.aggs or st.trade_rows()
    t_col = 5 if st.aggs else 3
    if not rows:
        return []
    lo = start if start is not None else rows[0][t_col]
    hi = end if end is not None else rows[-1][t_col]
    i = bisect.bisect_left(rows, lo - lo % iv, key=lambda r: r[t_col])
    j = bisect.bisect_right(rows, hi, key=lambda r: r[t_col])
    buckets: dict[int, list[tuple[Any, ...]]] = {}
    for r in rows[i:j]:
        buckets.setdefault(r[t_col] - r[t_col] % iv, []).append(r)
    if not buckets:
        return []
    first, last = min(buckets), max(buckets)
    if end is None and start is None:  # the most recent `limit` klines
        first = max(first, last - (limit - 1) * iv)
    out: list[list[Any]] = []
    prev_close = float(rows[i - 1][1]) if i > 0 else float(buckets[min(buckets)][0][1])
    for open_ms in range(first, last + iv, iv):
        if len(out) >= limit:
            break
        out.append(_kline(st.spec, open_ms, iv, buckets.get(open_ms, []), prev_close))
        prev_close = float(out[-1][4])
    return out


def _kline(spec: SymbolSpec, open_ms: int, iv: int, rows: list[tuple[Any, ...]], prev_close: float) -> list[Any]:
    pd, qd = spec.price_decimals, spec.qty_decimals
    prices = [float(r[1]) for r in rows] or [prev_close]
    qtys = [float(r[2]) for r in rows]
    buys = [(float(r[1]), float(r[2])) for r in rows if not r[-1]]
    return [
        open_ms, f"{prices[0]:.{pd}f}", f"{max(prices):.{pd}f}", f"{min(prices):.{pd}f}", f"{prices[-1]:.{pd}f}",
        f"{sum(qtys):.{qd}f}", open_ms + iv - 1, f"{sum(p * q for p, q in zip(prices, qtys, strict=False)):.5f}", len(rows),
        f"{sum(q for _, q in buys):.{qd}f}", f"{sum(p * q for p, q in buys):.5f}", "0",
    ]
