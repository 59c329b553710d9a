"""The validated ``crews`` section of the settings: LLM, schedules, shadow mode, data-ops limits.

Kept apart from :mod:`flowdesk.settings` so that module stays small; it calls
:func:`parse_crews` for the ``crews`` key. Every error raises
:class:`~flowdesk.settings.SettingsError` naming the full key, e.g.
``setting 'crews.schedules.validate': -5 is outside 0..604800``. This module must not import
crewai: settings load on every ``flowdesk`` start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

#: providers CrewAI routes natively (see ``crewai.llm.SUPPORTED_NATIVE_PROVIDERS``), plus
#: ``none`` (no language model: deterministic workflows and template briefings)
LLM_PROVIDERS = (
    "none", "openai", "anthropic", "azure", "gemini", "bedrock", "openrouter", "deepseek",
    "ollama", "ollama_chat", "hosted_vllm", "cerebras", "dashscope", "snowflake", "deepinfra",
)
#: scheduled jobs and their default period in seconds (0 = off)
DEFAULT_SCHEDULES: dict[str, float] = {
    "validate": 300.0,
    "fill_gaps": 900.0,
    "maintain": 86400.0,
    "intelligence": 0.0,
    "analytics": 0.0,
}
MCP_TRANSPORTS = ("http", "sse", "stdio")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _error(message: str) -> Exception:
    from flowdesk.settings import SettingsError

    return SettingsError(message)


@dataclass(frozen=True)
class LLMSettings:
    """Which language model the crews use; ``provider: none`` runs them without one."""

    provider: str = "none"
    model: str = ""
    base_url: str | None = None
    api_key_env: str | None = None
    temperature: float = 0.2
    timeout_s: float = 120.0
    max_tokens: int | None = None

    @property
    def configured(self) -> bool:
        return self.provider != "none"

    @property
    def label(self) -> str:
        """``provider/model`` or ``none``, as recorded in ``crew_runs.llm``."""
        return f"{self.provider}/{self.model}" if self.configured else "none"


@dataclass(frozen=True)
class DataOpsSettings:
    """Thresholds and limits of the data-ops workflows (see docs/crews.md)."""

    window_s: float = 3600.0
    symbol_stale_s: float = 60.0
    feed_silent_s: float = 60.0
    funding_stale_s: float = 180.0
    open_interest_stale_s: float = 120.0
    trade_time_gap_s: float = 300.0
    outlier_pct: float = 2.0
    max_fill_trades: int = 50_000
    interpolate: bool = False
    interpolate_max_bars: int = 5
    rest_weight_per_minute: int = 600


@dataclass(frozen=True)
class McpServerSettings:
    """An external MCP server whose tools are given to crew agents."""

    name: str
    transport: str
    url: str | None = None
    command: str | None = None
    args: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()


@dataclass(frozen=True)
class CrewSettings:
    enabled: bool = False
    shadow: bool = True
    symbols: tuple[str, ...] = ()
    llm: LLMSettings = field(default_factory=LLMSettings)
    schedules: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SCHEDULES))
    dataops: DataOpsSettings = field(default_factory=DataOpsSettings)
    mcp_servers: tuple[McpServerSettings, ...] = ()


# -- value checks ----------------------------------------------------------------------------


def _bool(raw: Any, key: str) -> bool:
    from flowdesk.settings import _bool as check  # the one boolean rule of every section

    return check(raw, key)


def _number(raw: Any, key: str, lo: float, hi: float) -> float:
    try:
        value = float(str(raw))
    except ValueError:
        raise _error(f"setting '{key}': expected a number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise _error(f"setting '{key}': {value:g} is outside {lo:g}..{hi:g}")
    return value


def _integer(raw: Any, key: str, lo: int, hi: int) -> int:
    value = _number(raw, key, lo, hi)
    if not float(value).is_integer():
        raise _error(f"setting '{key}': expected an integer, got {raw!r}")
    return int(value)


def _mapping(raw: Any, key: str, known: set[str]) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _error(f"setting '{key}': expected a mapping")
    unknown = sorted(set(raw) - known)
    if unknown:
        raise _error(f"setting '{key}.{unknown[0]}': unknown key (known: {sorted(known)})")
    return raw


def _names(raw: Any, key: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        raw = [s.strip() for s in raw.split(",") if s.strip()]
    if not isinstance(raw, list) or not all(isinstance(s, str) and s for s in raw):
        raise _error(f"setting '{key}': expected a list of names")
    return tuple(raw)


# -- sections --------------------------------------------------------------------------------


def _llm(raw: Any) -> LLMSettings:
    key = "crews.llm"
    d = _mapping(raw, key, set(LLMSettings.__dataclass_fields__))
    provider = str(d.get("provider") or "none").strip().lower()
    if provider not in LLM_PROVIDERS:
        raise _error(f"setting '{key}.provider': {provider!r} is not one of {list(LLM_PROVIDERS)}")
    model = str(d.get("model") or "").strip()
    if provider != "none" and not model:
        raise _error(f"setting '{key}.model': provider {provider!r} needs a model name")
    base_url = d.get("base_url") or None
    if base_url is not None and not str(base_url).startswith(("http://", "https://")):
        raise _error(f"setting '{key}.base_url': {base_url!r} must start with http:// or https://")
    env_name = d.get("api_key_env") or None
    if env_name is not None and not _ENV_NAME.match(str(env_name)):
        raise _error(f"setting '{key}.api_key_env': {env_name!r} is not an environment variable name")
    max_tokens = d.get("max_tokens")
    return LLMSettings(
        provider=provider,
        model=model,
        base_url=str(base_url).rstrip("/") if base_url else None,
        api_key_env=str(env_name) if env_name else None,
        temperature=_number(d.get("temperature", 0.2), f"{key}.temperature", 0.0, 2.0),
        timeout_s=_number(d.get("timeout_s", 120), f"{key}.timeout_s", 1.0, 3600.0),
        max_tokens=None if max_tokens is None else _integer(max_tokens, f"{key}.max_tokens", 1, 1_000_000),
    )


def _schedules(raw: Any) -> dict[str, float]:
    key = "crews.schedules"
    d = _mapping(raw, key, set(DEFAULT_SCHEDULES))
    out = dict(DEFAULT_SCHEDULES)
    for name, value in d.items():
        out[name] = _number(value, f"{key}.{name}", 0.0, 7 * 86400.0)
        if 0 < out[name] < 5:
            raise _error(f"setting '{key}.{name}': {out[name]:g} s is too short (0 = off, else >= 5)")
    return out


_DATAOPS_RANGES: dict[str, tuple[float, float]] = {
    "window_s": (60, 30 * 86400),
    "symbol_stale_s": (1, 86400),
    "feed_silent_s": (1, 86400),
    "funding_stale_s": (1, 86400),
    "open_interest_stale_s": (1, 86400),
    "trade_time_gap_s": (1, 86400),
    "outlier_pct": (0.01, 100),
    "max_fill_trades": (1, 10_000_000),
    "interpolate_max_bars": (1, 1440),
    "rest_weight_per_minute": (1, 100_000),
}


def _dataops(raw: Any) -> DataOpsSettings:
    key = "crews.dataops"
    d = _mapping(raw, key, set(DataOpsSettings.__dataclass_fields__))
    defaults = DataOpsSettings()
    values: dict[str, Any] = {}
    for name, (lo, hi) in _DATAOPS_RANGES.items():
        default = getattr(defaults, name)
        check = _integer if isinstance(default, int) else _number
        values[name] = check(d.get(name, default), f"{key}.{name}", lo, hi)  # type: ignore[operator]
    values["interpolate"] = _bool(d.get("interpolate", False), f"{key}.interpolate")
    return DataOpsSettings(**values)


def _mcp_server(i: int, raw: Any) -> McpServerSettings:
    key = f"crews.mcp_servers[{i}]"
    d = _mapping(raw, key, set(McpServerSettings.__dataclass_fields__))
    name = str(d.get("name") or f"mcp{i}")
    transport = str(d.get("transport") or "http").lower()
    if transport not in MCP_TRANSPORTS:
        raise _error(f"setting '{key}.transport': {transport!r} is not one of {list(MCP_TRANSPORTS)}")
    url, command = d.get("url"), d.get("command")
    if transport == "stdio" and not command:
        raise _error(f"setting '{key}.command': a stdio MCP server needs a command")
    if transport != "stdio" and not str(url or "").startswith(("http://", "https://")):
        raise _error(f"setting '{key}.url': an {transport} MCP server needs an http(s) URL, got {url!r}")
    return McpServerSettings(
        name=name,
        transport=transport,
        url=str(url) if url else None,
        command=str(command) if command else None,
        args=tuple(str(a) for a in d.get("args") or ()),
        tools=_names(d.get("tools"), f"{key}.tools"),
        agents=_names(d.get("agents"), f"{key}.agents"),
    )


def parse_crews(raw: Any, symbol_check: Any = None) -> CrewSettings:
    """Validate the ``crews`` section (``None`` or ``{}`` gives the defaults).

    ``symbol_check(raw, key)`` validates the ``symbols`` list (the settings' own checker).
    """
    d = _mapping(raw, "crews", set(CrewSettings.__dataclass_fields__))
    servers = d.get("mcp_servers") or []
    if not isinstance(servers, list):
        raise _error("setting 'crews.mcp_servers': expected a list of servers")
    symbols = d.get("symbols") or ()
    if symbols and symbol_check is not None:
        symbols = symbol_check(symbols, "crews.symbols")
    return CrewSettings(
        enabled=_bool(d.get("enabled", False), "crews.enabled"),
        shadow=_bool(d.get("shadow", True), "crews.shadow"),
        symbols=tuple(symbols),
        llm=_llm(d.get("llm")),
        schedules=_schedules(d.get("schedules")),
        dataops=_dataops(d.get("dataops")),
        mcp_servers=tuple(_mcp_server(i, s) for i, s in enumerate(servers)),
    )


#: environment variable -> path in the ``crews`` section
ENV_KEYS: dict[str, tuple[str, ...]] = {
    "FLOWDESK_CREWS_ENABLED": ("enabled",),
    "FLOWDESK_CREWS_SHADOW": ("shadow",),
    "FLOWDESK_CREWS_LLM_PROVIDER": ("llm", "provider"),
    "FLOWDESK_CREWS_LLM_MODEL": ("llm", "model"),
    "FLOWDESK_CREWS_LLM_BASE_URL": ("llm", "base_url"),
    "FLOWDESK_CREWS_LLM_API_KEY_ENV": ("llm", "api_key_env"),
}


def env_overrides(env: dict[str, str]) -> dict[str, Any]:
    """The ``crews`` overrides given by ``FLOWDESK_CREWS_*`` variables, as a nested mapping."""
    out: dict[str, Any] = {}
    for var, path in ENV_KEYS.items():
        if env.get(var):
            node = out
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = env[var]
    return out
