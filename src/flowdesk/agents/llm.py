"""The crews' language model, from the ``crews.llm`` settings.

Any provider CrewAI routes natively works (``openai``, ``anthropic``, ``gemini``, ``azure``,
``bedrock``, ``ollama``, ``hosted_vllm``, ``openrouter``, ``deepseek``...): the model string is
``<provider>/<model>``. A local OpenAI-compatible server (llama.cpp, vLLM, LM Studio, Ollama's
``/v1``) is ``provider: openai`` with ``base_url`` pointing at it. The API key is read from the
environment variable named by ``api_key_env``; it is never stored in settings. ``provider:
none`` (the default) means no language model: crews run their deterministic plans.
"""

from __future__ import annotations

import os
from typing import Any

from flowdesk.crews.settings import LLMSettings
from flowdesk.settings import SettingsError

#: local OpenAI-compatible servers ignore the key, but the OpenAI client insists on one
LOCAL_PLACEHOLDER_KEY = "sk-local-no-key"


def build_llm(cfg: LLMSettings, env: dict[str, str] | None = None) -> Any | None:
    """A CrewAI LLM for the settings, or None when ``provider`` is ``none``."""
    if not cfg.configured:
        return None
    from crewai import LLM

    env = dict(os.environ if env is None else env)
    kwargs: dict[str, Any] = {"temperature": cfg.temperature, "timeout": cfg.timeout_s}
    if cfg.max_tokens is not None:
        kwargs["max_tokens"] = cfg.max_tokens
    if cfg.base_url:
        kwargs["base_url"] = cfg.base_url
    if cfg.api_key_env:
        key = env.get(cfg.api_key_env)
        if not key:
            raise SettingsError(
                f"setting 'crews.llm.api_key_env': environment variable {cfg.api_key_env} is not set"
            )
        kwargs["api_key"] = key
    elif cfg.base_url and cfg.provider == "openai":
        kwargs["api_key"] = LOCAL_PLACEHOLDER_KEY
    return LLM(model=f"{cfg.provider}/{cfg.model}", **kwargs)
