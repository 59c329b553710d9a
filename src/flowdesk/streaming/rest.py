"""The one REST client every venue uses: weights, 429/418 back-off, bounded retries.

The venue module says what a request weighs; this module owns the networking.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from flowdesk.streaming.ratelimit import WeightLimiter

log = logging.getLogger(__name__)


class RestError(RuntimeError):
    """A REST call failed for good (after retries), or the venue rejected it (4xx)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RestClient:
    """GET JSON from a venue's REST base URL through its :class:`WeightLimiter`."""

    def __init__(
        self,
        base_url: str,
        limiter: WeightLimiter,
        weight_of: Callable[[str, dict[str, Any]], int],
        timeout_s: float = 10.0,
        max_retries: int = 5,
        weight_header: str | None = "x-mbx-used-weight-1m",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.limiter = limiter
        self.weight_of = weight_of
        self.max_retries = max_retries
        self.weight_header = weight_header
        self._client = httpx.AsyncClient(base_url=self.base_url, timeout=timeout_s)
        self.requests = 0
        self.rate_limited = 0
        self.errors = 0

    async def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """Return the decoded JSON of ``GET path``. Raises :class:`RestError`."""
        return await self.request("GET", path, params)

    async def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """Return the decoded JSON of ``POST path`` with ``body`` as its JSON document (public
        endpoints only: Hyperliquid's ``/info``, KuCoin's ``bullet-public``)."""
        return await self.request("POST", path, body)

    async def request(self, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
        """``GET`` with ``params`` as the query, or ``POST`` with them as the JSON body; retries
        transport errors and 5xx, honours 429/418 ``Retry-After``. Raises :class:`RestError`."""
        params = params or {}
        weight = self.weight_of(path, params)
        for attempt in range(self.max_retries + 1):
            await self.limiter.acquire(weight)
            try:
                if method == "POST":
                    resp = await self._client.post(path, json=params)
                else:
                    resp = await self._client.get(path, params=params)
            except httpx.HTTPError as exc:
                self.errors += 1
                if attempt == self.max_retries:
                    raise RestError(f"{method} {path}: {exc!r}") from exc
                await asyncio.sleep(min(2**attempt * 0.2, 5.0))
                continue
            self.requests += 1
            self._sync_weight(resp)
            if resp.status_code in (429, 418):
                self._back_off(path, resp)
                continue
            if resp.status_code >= 500 and attempt < self.max_retries:
                self.errors += 1
                await asyncio.sleep(min(2**attempt * 0.2, 5.0))
                continue
            if resp.status_code >= 400:
                self.errors += 1
                raise RestError(f"{method} {path} -> {resp.status_code}: {resp.text[:200]}", resp.status_code)
            return orjson.loads(resp.content)
        raise RestError(f"{method} {path}: still rate limited after {self.max_retries} retries", 429)

    def _sync_weight(self, resp: httpx.Response) -> None:
        if self.weight_header and self.weight_header in resp.headers:
            with contextlib.suppress(ValueError):
                self.limiter.sync_used(int(resp.headers[self.weight_header]))

    def _back_off(self, path: str, resp: httpx.Response) -> None:
        self.rate_limited += 1
        try:
            retry_after = float(resp.headers.get("retry-after", "1"))
        except ValueError:
            retry_after = 1.0
        log.warning("GET %s -> %s, backing off %.1fs", path, resp.status_code, retry_after)
        self.limiter.ban(retry_after)

    async def aclose(self) -> None:
        await self._client.aclose()
