"""Collects records on the event loop and hands them to the storage writer in batches."""

from __future__ import annotations

import queue
from collections import defaultdict
from typing import Any, Protocol


class Writer(Protocol):
    def put(self, batch: dict[type, list[tuple]], timeout: float | None = None) -> None: ...

    def put_nowait(self, batch: dict[type, list[tuple]]) -> None: ...


class Batcher:
    """Row lists per record type; :meth:`flush` sends them as one batch (one transaction).

    ``add`` is on the hot path: one dict lookup and one list append. When the writer's bounded
    queue is full, :meth:`flush` blocks the event loop until there is room: that is the
    back-pressure that stops us reading sockets faster than we can store.
    """

    def __init__(self, writer: Writer, batch_rows: int) -> None:
        self.writer = writer
        self.batch_rows = batch_rows
        self.rows: dict[type, list[tuple[Any, ...]]] = defaultdict(list)
        self.count = 0
        self.batches = 0
        self.blocked = 0

    def add(self, rec: tuple[Any, ...]) -> None:
        self.rows[type(rec)].append(rec)
        self.count += 1
        if self.count >= self.batch_rows:
            self.flush()

    def extend(self, recs: list[Any]) -> None:
        for rec in recs:
            self.add(rec)

    def flush(self) -> None:
        if not self.count:
            return
        batch = dict(self.rows)
        self.rows = defaultdict(list)
        self.count = 0
        self.batches += 1
        try:
            self.writer.put_nowait(batch)
        except queue.Full:
            self.blocked += 1
            self.writer.put(batch)
