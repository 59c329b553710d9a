"""Read and write capture files: one frame a line, ``<receive time ns> <raw JSON>``.

This is the format of ``shared/data/captures/binance-*`` (gzip text) that the simulator replays
and ``flowdesk record`` writes. Files ending in ``.gz`` are gzip-compressed; others are plain.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def _open(path: Path, mode: str) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, mode + "t", encoding="utf-8")  # type: ignore[return-value]
    return open(path, mode, encoding="utf-8")


def iter_capture(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield ``(recv_ns, raw_json)`` for every non-empty line; a line without the
    ``<ns> <json>`` shape raises ``ValueError`` naming the file and line number."""
    p = Path(path)
    with _open(p, "r") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            head, sep, raw = line.partition(" ")
            if not sep or not head.isdigit():
                raise ValueError(f"{p}:{lineno}: expected '<ns> <json>', got {line[:60]!r}")
            yield int(head), raw


class CaptureWriter:
    """Append ``<ns> <json>`` lines to a capture file (gzip when the name ends in ``.gz``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = _open(self.path, "w")
        self.frames = 0

    def write(self, recv_ns: int, raw: str | bytes) -> None:
        text = raw.decode() if isinstance(raw, bytes) else raw
        self._fh.write(f"{recv_ns} {text}\n")
        self.frames += 1

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
