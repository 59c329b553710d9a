"""The ``analyze_order_flow`` document: one plain-data shape, rendered as JSON or XML.

:func:`order_flow_document` builds the data from an :class:`~.analysis.Analysis` (plus the
pattern onsets the processor stored); :func:`to_xml` renders the same data as the
``<order_flow_data ticker timestamp current_price history_window>`` document. Windows appear as
``last_10s``, ``last_60s``, ``last_300s``; a window with fewer than 2 quotes is ``null`` (XML:
``<last_10s null="true"/>``; ``window_quotes`` gives its count). Flags are ``YES``/``NO``.
"""

from __future__ import annotations

import math
from typing import Any
from xml.etree import ElementTree as ET

from flowdesk.analytics.quoteflow.analysis import Analysis
from flowdesk.analytics.quoteflow.metrics import WindowMetrics, accel_label

MOMENTUM_FIELDS = (
    "bid_change", "ask_change", "mid_change", "bid_lifts", "bid_drops", "ask_lifts", "ask_drops",
    "lifts", "drops", "bid_size_change", "ask_size_change", "spread_avg", "spread_min", "spread_max",
    "spread_bps_avg",
)
SIZE_FIELDS = ("large_bids", "large_asks", "bid_size_avg", "ask_size_avg", "size_ratio", "size_churn", "size_churn_per_s")
VELOCITY_FIELDS = ("quotes_per_s", "price_velocity", "price_velocity_bps")
ACCEL_FIELDS = {"quote_rate": "quote_rate_accel", "bid_size": "bid_size_accel", "ask_size": "ask_size_accel",
                "size_churn": "churn_accel"}
#: list element names in XML
ITEM_NAMES = {"bid": "bid_level", "ask": "ask_level", "detected_patterns": "pattern", "warnings": "warning",
              "exchanges": "exchange"}


def clean(value: Any) -> Any:
    """Round floats for reading: 6 decimals from 1 up, 6 significant digits below 1 (float sums
    carry noise beyond any price or size step; small crypto prices and sizes keep theirs)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return round(value, 6) if abs(value) >= 1 else float(f"{value:.6g}")
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def _pick(m: WindowMetrics, names: tuple[str, ...]) -> dict[str, Any]:
    return {"quotes": m.quotes, **{n: getattr(m, n) for n in names}}


def _windows(a: Analysis, part: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for w, m in a.windows.items():
        if m is None:
            out[f"last_{w}s"] = None
        elif part == "momentum":
            out[f"last_{w}s"] = _pick(m, MOMENTUM_FIELDS)
        elif part == "size":
            accel = {k: {"ratio": getattr(m, f), "trend": accel_label(getattr(m, f))} for k, f in ACCEL_FIELDS.items()}
            out[f"last_{w}s"] = {**_pick(m, SIZE_FIELDS), "acceleration": accel}
        else:
            out[f"last_{w}s"] = _pick(m, VELOCITY_FIELDS)
    return out


def current_quote(a: Analysis, now_ms: int) -> dict[str, Any] | None:
    if a.last is None:
        return None
    bid, ask = float(a.last["bid"]), float(a.last["ask"])
    mid = (bid + ask) / 2
    return {
        "bid": {"price": bid, "size": a.last["bid_size"]},
        "ask": {"price": ask, "size": a.last["ask_size"]},
        "bid_ask_ratio": None if not a.last["ask_size"] else float(a.last["bid_size"]) / float(a.last["ask_size"]),
        "spread": {"value": ask - bid, "basis_points": (ask - bid) / mid * 1e4 if mid > 0 else None},
        "ts": a.last["ts"],
        "age_s": round((now_ms - int(a.last["ts"])) / 1000, 3),
    }


def merge_patterns(a: Analysis, stored: list[dict[str, Any]], now_ms: int) -> list[dict[str, Any]]:
    """Patterns detected now (``status: active``; states get ``since`` from a stored onset)
    plus stored onsets no longer active and stored sweeps not in the computed ones
    (``status: recent``), newest first."""
    out: list[dict[str, Any]] = []
    onsets: dict[tuple[Any, Any, Any], int] = {}
    for s in stored:
        key = (s.get("type"), s.get("side"), s.get("window_s"))
        at = s.get("detected_at")
        if s.get("type") != "sweep" and isinstance(at, int):
            onsets[key] = max(onsets.get(key, 0), at)
    active_keys: set[tuple[Any, Any, Any]] = set()
    for p in a.patterns:
        d = p.as_dict() | {"status": "active", "seconds_ago": round((now_ms - p.ts) / 1000, 3)}
        if p.type != "sweep":
            active_keys.add(p.key)
            d["since"] = onsets.get(p.key)
        out.append(d)
    seen_sweeps = {(p.side, p.ts) for p in a.patterns if p.type == "sweep"}
    for s in stored:
        key = (s.get("type"), s.get("side"), s.get("window_s"))
        is_sweep = s.get("type") == "sweep"
        if (is_sweep and (s.get("side"), s.get("ts")) in seen_sweeps) or (not is_sweep and key in active_keys):
            continue
        when = int(s.get("detected_at") or s.get("ts") or now_ms)
        out.append({k: v for k, v in s.items() if k != "ticker"} | {"status": "recent", "seconds_ago": round((now_ms - when) / 1000, 3)})
    out.sort(key=lambda d: d["seconds_ago"])
    return out


def order_flow_document(
    a: Analysis,
    now_ms: int,
    history_s: int,
    include_patterns: bool,
    stored_patterns: list[dict[str, Any]],
    iso: Any,
) -> dict[str, Any]:
    """The tool's data (``iso`` turns epoch ms into ISO text)."""
    doc: dict[str, Any] = {
        "ticker": a.ticker,
        "timestamp": iso(now_ms),
        "current_price": a.current_price,
        "history_window": f"{history_s}s",
        "current_quote": current_quote(a, now_ms),
        "momentum": _windows(a, "momentum"),
        "size_metrics": {
            "thresholds": None if a.thresholds is None else a.thresholds.as_dict(),
            **_windows(a, "size"),
        },
        "velocity": _windows(a, "velocity"),
        "behaviors": {k: "YES" if v else "NO" for k, v in a.behaviors.items()},
        "price_levels": {side: [lv.as_dict() for lv in rows] for side, rows in a.levels.items()},
        "window_quotes": {f"last_{w}s": n for w, n in a.window_quotes.items()},
        "quotes_analyzed": a.quotes,
    }
    if include_patterns:
        doc["patterns"] = merge_patterns(a, stored_patterns, now_ms)
    return clean(doc)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "YES" if value else "NO"
    return str(value)


def _fill(el: ET.Element, value: Any, name: str) -> None:
    if value is None:
        el.set("null", "true")
    elif isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, dict | list) or v is None:
                _fill(ET.SubElement(el, k), v, k)
            else:
                ET.SubElement(el, k).text = _text(v)
    elif isinstance(value, list):
        el.set("count", str(len(value)))
        for item in value:
            _fill(ET.SubElement(el, ITEM_NAMES.get(name, "item")), item, name)
    else:
        el.text = _text(value)


def to_xml(doc: dict[str, Any], extra: dict[str, Any] | None = None) -> str:
    """``<order_flow_data ticker timestamp current_price history_window>`` with the document's
    parts as child elements (``extra``, e.g. source and warnings, appended)."""
    root = ET.Element("order_flow_data")
    for attr in ("ticker", "timestamp", "current_price", "history_window"):
        if doc.get(attr) is not None:
            root.set(attr, _text(doc[attr]))
    body = {k: v for k, v in doc.items() if k not in {"ticker", "timestamp", "current_price", "history_window"}}
    if "patterns" in body:
        body["detected_patterns"] = body.pop("patterns")
    _fill(root, {**body, **(extra or {})}, "order_flow_data")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode")
