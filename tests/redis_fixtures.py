"""pytest fixtures over :mod:`redis_server`: one redis-server for the whole test session,
stopped at its end, and a client on an emptied database per test. Load them in a test module
with ``pytest_plugins = ("redis_fixtures",)``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
import redis

from flowdesk.settings import Settings
from redis_server import RedisServer, settings_for, start_server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = start_server()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client on an emptied database."""
    client = redis_server.client()
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def redis_settings(redis_server: RedisServer, redis_client: redis.Redis) -> Settings:
    return settings_for(redis_server.port)
