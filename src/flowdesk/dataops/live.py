"""What the workflows may ask of a running collector: its state, a book resync, a reconnect.

The collector (``flowdesk.streaming.controller.Controller``) runs on the server's event loop;
the workflows run on worker threads (and CrewAI Flows run their steps on threads of their own),
so every call into the collector is handed to that loop with ``call_soon_threadsafe`` and
waited for. :func:`server_loop` finds the loop from a worker thread started by anyio (MCP tool
calls, the scheduler).

Hooks used, by preference:

* ``controller.resync_book(exchange, market, symbol)`` / ``controller.reconnect(venue)`` when
  the controller provides them;
* otherwise, for a resync, the feed's own ``books[symbol].reset()`` plus its snapshot request
  (``_request_snapshot``), the same two steps the feed takes after a dropped socket. There is no
  fallback for a reconnect: the action is escalated, saying the hook is missing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.from_thread

T = TypeVar("T")
CALL_TIMEOUT_S = 10.0


class LiveHookMissing(RuntimeError):
    """The running collector offers no way to do this."""


#: id(controller) -> the event loop it runs on, registered by the scheduler service at start
_LOOPS: dict[int, asyncio.AbstractEventLoop] = {}


def remember_loop(live: Any, loop: asyncio.AbstractEventLoop) -> None:
    """Record the loop ``live`` runs on, for threads that cannot find it themselves (CrewAI
    runs tools and flow steps on threads of its own)."""
    if live is not None:
        _LOOPS[id(live)] = loop


def server_loop(live: Any = None) -> asyncio.AbstractEventLoop | None:
    """The event loop of the server this thread works for: the loop registered for ``live``,
    the running loop on a loop thread, the parent loop from an anyio worker thread, else None."""
    known = _LOOPS.get(id(live)) if live is not None else None
    if known is not None and not known.is_closed():
        return known
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    try:
        return anyio.from_thread.run_sync(asyncio.get_running_loop)
    except RuntimeError:
        return None


def on_loop(loop: asyncio.AbstractEventLoop | None, fn: Callable[[], T]) -> T:
    """Run ``fn`` on ``loop`` (the collector's) and return its result, from any thread."""
    if loop is None or loop.is_closed():
        raise LiveHookMissing("the collector's event loop is not reachable from this thread")
    try:
        if asyncio.get_running_loop() is loop:
            return fn()
    except RuntimeError:
        pass
    done: concurrent.futures.Future[T] = concurrent.futures.Future()

    def call() -> None:
        try:
            done.set_result(fn())
        except BaseException as exc:
            done.set_exception(exc)

    loop.call_soon_threadsafe(call)
    return done.result(timeout=CALL_TIMEOUT_S)


class LiveOps:
    """Read and act on the running collector; every method is safe with ``live=None``."""

    def __init__(self, live: Any, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.live = live
        self.loop = loop if loop is not None or live is None else server_loop(live)

    def _call(self, fn: Callable[[], T]) -> T:
        return on_loop(self.loop, fn)

    @property
    def running(self) -> bool:
        return self.live is not None

    @property
    def retention_enabled(self) -> bool:
        """False when the server disabled retention (e.g. it replays an old capture)."""
        return bool(getattr(self.live, "retention", True))

    def feed_status(self) -> list[dict[str, Any]]:
        if self.live is None:
            return []
        return list(self._call(self.live.feed_status))

    def book_top(self, exchange: str, market: str, symbol: str, depth: int) -> dict[str, Any] | None:
        if self.live is None:
            return None
        return self._call(lambda: self.live.book_top(exchange, market, symbol, depth))

    def feed_for(self, exchange: str, market: str) -> Any:
        finder = getattr(self.live, "feed_for", None)
        return finder(exchange, market) if finder is not None else None

    def writer(self) -> Any:
        return getattr(self.live, "writer", None)

    def resync_book(self, exchange: str, market: str, symbol: str) -> dict[str, Any]:
        """Drop the live book and take a fresh REST snapshot; returns what was done."""
        if self.live is None:
            raise LiveHookMissing("no collector runs in this process")
        hook = getattr(self.live, "resync_book", None)
        if hook is not None:
            self._call(lambda: hook(exchange, market, symbol))
            return {"via": "controller.resync_book"}
        feed = self.feed_for(exchange, market)
        book = getattr(feed, "books", {}).get(symbol) if feed is not None else None
        request = getattr(feed, "_request_snapshot", None)
        if book is None or request is None:
            raise LiveHookMissing(f"the collector holds no live book for {exchange}_{market} {symbol}")

        def resync() -> int:
            book.reset()
            feed.health.book_resyncs += 1
            request(symbol)
            return int(book.resyncs)

        return {"via": "feed book reset + snapshot request", "resyncs": self._call(resync)}

    def reconnect(self, venue: str) -> dict[str, Any]:
        """Close and reopen the venue's socket (the collector's reconnect loop resubscribes)."""
        if self.live is None:
            raise LiveHookMissing("no collector runs in this process")
        hook = getattr(self.live, "reconnect", None)
        if hook is None:
            raise LiveHookMissing(
                "the collector has no reconnect hook (Controller.reconnect(venue)); "
                "its own loop reconnects a dropped socket, a silent one needs an operator"
            )
        result = self._call(lambda: hook(venue))
        if asyncio.iscoroutine(result):
            raise LiveHookMissing("Controller.reconnect must be a plain function that schedules the reconnect")
        if result is False:
            raise LiveHookMissing(f"{venue} has no open socket to close: its own loop is already reconnecting")
        return {"via": "controller.reconnect"}
