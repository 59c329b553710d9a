"""A real ``redis-server`` for the quote-flow tests: started on a free loopback port, with no
persistence, stopped at the end. The fixtures are in ``redis_fixtures.py``; a test module
loads them with ``pytest_plugins = ("redis_fixtures",)``.

Without a ``redis-server`` binary the tests are skipped on a workstation, but **fail** when
``CI=true`` (``.ci/run`` installs it; a failed install must not pass silently).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from flowdesk.settings import Settings, load_settings

START_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_binary() -> str | None:
    return shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server") if os.access(p, os.X_OK)),
        None,
    )


@dataclass
class RedisServer:
    """One ``redis-server`` process we started (stopped by :meth:`stop`, by its own handle)."""

    binary: str
    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir), "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        client = self.client()
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    err = self.process.stderr.read().decode() if self.process.stderr else ""
                    self.stop()
                    raise RuntimeError(f"redis-server on port {self.port} did not start: {err}") from None
                time.sleep(0.02)
            finally:
                client.close()

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)


def start_server() -> RedisServer:
    binary = find_binary()
    if binary is None:
        message = "redis-server is not installed (apt-get install -y redis-server; .ci/run does it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    server = RedisServer(binary, free_port(), Path(tempfile.mkdtemp(prefix="flowdesk-redis-")))
    server.start()
    return server


def settings_for(port: int, **quoteflow: object) -> Settings:
    """flowdesk settings pointing at ``127.0.0.1:port`` (plus ``quoteflow`` section values)."""
    return load_settings(
        env={"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(port)},
        overrides={"quoteflow": quoteflow} if quoteflow else None,
    )
