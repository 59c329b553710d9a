"""Reports rendered from tool results by a fixed template, for crews run without a language model.

Every report opens by saying it was produced without a language model, names the tools it was
rendered from, and lists the tools that could not answer with their error. Numbers are copied
from the tool results as they are; nothing is estimated, ranked or phrased by a model. A tool
this module has no section for is rendered as its top-level scalar fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowdesk.agents.calls import CallResult

NO_LLM_NOTE = (
    "_Produced without a language model: rendered by a fixed template from flowdesk tool results "
    "(no interpretation beyond the numbers shown)._"
)


def num(x: Any, digits: int = 4) -> str:
    """A number for a report: thousands separators, up to ``digits`` decimals, ``n/a`` for None."""
    if x is None:
        return "n/a"
    if isinstance(x, bool) or not isinstance(x, int | float):
        return str(x)
    if isinstance(x, int):
        return f"{x:,}"
    text = f"{x:,.{digits}f}".rstrip("0").rstrip(".")
    return text if text not in ("-0", "") else "0"


def signed(x: Any, digits: int = 4) -> str:
    return "n/a" if x is None else (("+" if x > 0 else "") + num(x, digits))


def pct(x: Any, digits: int = 3) -> str:
    return "n/a" if x is None else f"{num(x, digits)} %"


# -- sections per tool ---------------------------------------------------------------------


def _snapshot(r: dict[str, Any]) -> list[str]:
    return [
        f"- Last trade {num(r.get('last_price'))}; bid {num(r.get('bid'))} x {num(r.get('bid_qty'))} / "
        f"ask {num(r.get('ask'))} x {num(r.get('ask_qty'))} (spread {num(r.get('spread'))})",
        f"- Mark {num(r.get('mark_price'))}, index {num(r.get('index_price'))}",
        f"- 24h: open {num(r.get('open_24h'))}, high {num(r.get('high_24h'))}, low {num(r.get('low_24h'))}, "
        f"change {pct(r.get('change_pct_24h'))}, volume {num(r.get('volume_24h'))} "
        f"(quote {num(r.get('quote_volume_24h'), 2)})",
    ] + ([f"- Not available yet: {', '.join(r['missing'])}"] if r.get("missing") else [])


def _metrics(r: dict[str, Any]) -> list[str]:
    s = r.get("summary") or {}
    bars = r.get("bars") or []
    lines = [
        f"- {num(s.get('bars'))} bars of {r.get('timeframe')}: delta {signed(s.get('delta'))} "
        f"(buy {num(s.get('buy_volume'))} / sell {num(s.get('sell_volume'))}), CVD {signed(s.get('cvd_last'))} "
        f"(anchor: {r.get('cvd_anchor')})",
        f"- Divergences: delta {num(s.get('delta_divergences'))}, CVD {num(s.get('cvd_divergences'))}",
    ]
    if bars:
        first, last = bars[0], bars[-1]
        change = (last["close"] - first["open"]) / first["open"] * 100 if first.get("open") else None
        lines.append(f"- Price {num(first.get('open'))} -> {num(last.get('close'))} ({pct(change)}) from "
                     f"{first.get('open_time')} to the bar of {last.get('open_time')}; "
                     f"range {num(min(b['low'] for b in bars))} - {num(max(b['high'] for b in bars))}")
        lines.append(f"- Last bar: delta {signed(last.get('delta'))}, POC {num(last.get('poc'))}, "
                     f"{num(last.get('trades'))} trades")
    zones = r.get("holding_stacked_imbalances") or []
    if zones:
        sides = {side: sum(1 for z in zones if z.get("side") == side) for side in ("buy", "sell")}
        lines.append(f"- Stacked imbalance zones still holding: {len(zones)} (buy {sides['buy']}, sell {sides['sell']})")
    return lines


def _depth(r: dict[str, Any]) -> list[str]:
    s = r.get("summary") or {}
    latest = s.get("latest") or {}
    net = s.get("net_qty") or {}
    return [
        f"- Within ±{num(r.get('percent'))} % of mid at {latest.get('time')}: bids {num(latest.get('bid_qty'), 3)}, "
        f"asks {num(latest.get('ask_qty'), 3)}, imbalance {signed(latest.get('imbalance'))}",
        f"- Net quantity change over {num(r.get('lookback'))} s: {signed(net.get('change'), 3)}",
    ]


def _liquidations(r: dict[str, Any]) -> list[str]:
    w = r.get("window") or {}
    by_side = w.get("by_side") or {}
    if not r.get("events") and not by_side:
        return [f"- None stored from {w.get('start')} to {w.get('end')}"]
    parts = [f"{side}: {num(v.get('count') if isinstance(v, dict) else v)}" for side, v in by_side.items()]
    return [f"- {len(r.get('events') or [])} newest events; by side over the window: {', '.join(parts) or 'n/a'}"]


def _funding(r: dict[str, Any]) -> list[str]:
    f, oi = r.get("funding") or {}, r.get("open_interest") or {}
    changes = oi.get("changes") or {}
    ch = ", ".join(f"{k} {pct((v or {}).get('change_pct'))}" for k, v in changes.items())
    return [
        f"- Funding rate {num(f.get('funding_rate'), 6)} (next {f.get('next_funding_time')}), "
        f"basis {pct(f.get('basis_pct'))}",
        f"- Open interest {num(oi.get('open_interest'), 3)} at {oi.get('time')}; change {ch or 'n/a'}",
    ]


def _levels(r: dict[str, Any]) -> list[str]:
    t = r.get("today") or {}
    vwap, vp = t.get("vwap") or {}, t.get("volume_profile") or {}
    bands = vwap.get("bands") or {}
    return [
        f"- Day {t.get('date')} ({t.get('status')}): open {num(t.get('open'))}, high {num(t.get('high'))}, "
        f"low {num(t.get('low'))}, last {num(t.get('close'))}",
        f"- VWAP {num(vwap.get('vwap'), 2)} (±1σ {num(bands.get('lower_1'), 2)} - {num(bands.get('upper_1'), 2)}); "
        f"volume profile POC {num(vp.get('poc'))}, VAH {num(vp.get('vah'))}, VAL {num(vp.get('val'))}",
    ]


def _quality(r: dict[str, Any]) -> list[str]:
    h = r.get("health") or {}
    o = r.get("open_issues") or {}
    kinds = ", ".join(f"{k} {n}" for k, n in (o.get("by_kind") or {}).items()) or "none"
    return [f"- Data health {h.get('score')}/100; open issues: {kinds}; "
            f"open escalations: {(r.get('open_escalations') or {}).get('total', 0)}"]


def _data_ops(r: dict[str, Any]) -> list[str]:
    f, a, h = r.get("findings") or {}, r.get("actions") or {}, r.get("health") or {}
    lines = [f"- Run {r.get('run_id')} ({r.get('mode')}, {', '.join(r.get('workflows') or [])}): "
             f"{f.get('total', 0)} finding(s), {a.get('total', 0)} action(s) {a.get('by_status') or {}}; "
             f"health {h.get('score')}/100"]
    lines += [f"  - [{i.get('severity')}] {i.get('summary')}" for i in (f.get("items") or [])[:20]]
    lines += [f"  - {x.get('kind')} {x.get('symbol') or ''} -> {x.get('status')} {x.get('outcome') or ''}".rstrip()
              for x in (a.get("items") or [])[:20]]
    return lines


def _status(r: dict[str, Any]) -> list[str]:
    lines = []
    for f in r.get("feeds") or []:
        lines.append(f"- {f.get('venue')}: connected {f.get('connected')}, last message {num(f.get('last_message_age_s'), 1)} s "
                     f"ago, reconnects {f.get('reconnects')}, gaps {f.get('gaps_detected')}/{f.get('gaps_backfilled')} "
                     f"backfilled, errors {f.get('errors')}")
    if not lines:
        lines.append(f"- {r.get('note') or 'no feed in this process'}")
    return lines


def _forecast(r: dict[str, Any]) -> list[str]:
    scalars = {k: v for k, v in r.items() if isinstance(v, str | int | float) and not isinstance(v, bool)}
    return [f"- {', '.join(f'{k} {num(v)}' for k, v in list(scalars.items())[:12])}"]


#: tool -> (section heading, renderer); reports list sections in this order
SECTIONS: dict[str, tuple[str, Callable[[dict[str, Any]], list[str]]]] = {
    "get_market_snapshot": ("Price and book", _snapshot),
    "get_key_levels": ("Key levels", _levels),
    "get_orderflow_metrics": ("Order flow", _metrics),
    "get_orderbook_depth_delta": ("Book depth", _depth),
    "stream_liquidations": ("Liquidations", _liquidations),
    "get_funding_and_oi": ("Funding and open interest", _funding),
    "get_quality_report": ("Data quality", _quality),
    "run_data_ops": ("Data operations", _data_ops),
    "get_streaming_status": ("Collector", _status),
}


def market_as_of(results: list[CallResult]) -> tuple[str | None, Any]:
    """The newest ``source.as_of`` (and its age) among results computed from market data (a
    venue in ``source.exchanges``); bookkeeping tools such as the quality report do not count."""
    best: tuple[str | None, Any] = (None, None)
    for r in results:
        src = (r.result or {}).get("source") if r.ok else None
        if isinstance(src, dict) and src.get("exchanges") and src.get("as_of") and (best[0] is None or src["as_of"] > best[0]):
            best = (src["as_of"], src.get("data_age_s"))
    return best


def _source_line(results: list[CallResult]) -> str:
    as_of, age = market_as_of(results)
    if as_of is None:
        return "_Market data as of: no timestamped market data in these results._"
    return f"_Market data as of {as_of} (age {num(age, 1)} s)._"


def render(title: str, results: list[CallResult]) -> str:
    """A markdown report: a section per successful tool result, then what was unavailable."""
    lines = [f"# {title}", "", NO_LLM_NOTE, f"_Tools: {', '.join(dict.fromkeys(r.tool for r in results))}._",
             _source_line(results)]
    order = {name: i for i, name in enumerate(SECTIONS)}
    for res in sorted(results, key=lambda r: order.get(r.tool, len(order))):
        if not res.ok or res.result is None:
            continue
        heading, fn = SECTIONS.get(res.tool, (res.tool.replace("_", " ").capitalize(), _forecast))
        lines += ["", f"## {heading}", *fn(res.result)]
        warnings = res.result.get("warnings") or []
        lines += [f"- Warning: {w}" for w in warnings[:5]]
    failed = [r for r in results if not r.ok]
    if failed:
        lines += ["", "## Unavailable"] + [f"- {r.tool}: {r.error}" for r in failed]
    return "\n".join(lines) + "\n"
