"""Shared fixtures: where the real captures live, and environment for crews."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")
os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")

REPO = Path(__file__).resolve().parents[1]


def real_data_dir() -> Path | None:
    """``FLOWDESK_REAL_DATA`` when set, else ``../shared/data`` beside the repo if present."""
    env = os.environ.get("FLOWDESK_REAL_DATA")
    if env:
        return Path(env)
    guess = REPO.parent / "shared" / "data"
    return guess if guess.is_dir() else None


def real_file(rel: str) -> Path:
    """A file under the real-data folder. Fails (not skips) when FLOWDESK_REAL_DATA is set and
    the file is missing; skips only when no real-data folder is configured at all."""
    base = real_data_dir()
    if base is None:
        pytest.skip("no real data folder (set FLOWDESK_REAL_DATA)")
    path = base / rel
    if not path.is_file():
        if os.environ.get("FLOWDESK_REAL_DATA"):
            pytest.fail(f"real data file missing: {path}")
        pytest.skip(f"real data file missing: {path}")
    return path


@pytest.fixture
def btc_capture() -> Path:
    return real_file("captures/binance-usdm/btcusdt_20240808.gz")


@pytest.fixture
def eth_capture() -> Path:
    return real_file("captures/binance-usdm/ethusdt_20240808.gz")


def only_venue(settings, name: str = "binance_usdm"):
    """``settings`` with every venue but ``name`` disabled (tests written for one venue's data:
    with all nine enabled, the other eight would rightly be reported as missing or stale)."""
    import dataclasses

    venues = {n: dataclasses.replace(v, enabled=n == name) for n, v in settings.venues.items()}
    return dataclasses.replace(settings, venues=venues)
