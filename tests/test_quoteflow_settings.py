"""The ``redis`` and ``quoteflow`` settings: defaults, YAML, environment and errors that name
the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowdesk.settings import SettingsError, load_settings


def test_defaults_processor_off_until_redis_is_configured() -> None:
    s = load_settings(env={})
    assert (s.redis.host, s.redis.address, s.redis.port, s.redis.db, s.redis.password) == (None, "127.0.0.1", 6379, 0, None)
    q = s.quoteflow
    assert (q.enabled, q.tickers, q.interval_s, q.thresholds_preset, q.publish_crypto_quotes) == (None, (), 1.0, "relative", False)
    assert not q.processor_enabled(s.redis)
    on = load_settings(env={"REDIS_HOST": "10.1.2.3"})
    assert on.redis.configured and on.quoteflow.processor_enabled(on.redis)
    off = load_settings(env={"REDIS_HOST": "10.1.2.3", "FLOWDESK_QUOTEFLOW_ENABLED": "false"})
    assert not off.quoteflow.processor_enabled(off.redis)


def test_environment_plain_and_flowdesk_names() -> None:
    env = {
        "REDIS_HOST": "redis.local", "REDIS_PORT": "6380", "REDIS_DB": "2", "REDIS_PASSWORD": "s3cret",
        "FLOWDESK_REDIS_PORT": "6390", "PROCESSOR_INTERVAL": "0.5", "FLOWDESK_QUOTEFLOW_TICKERS": "SPY, QQQ,SPY",
        "FLOWDESK_QUOTEFLOW_THRESHOLDS": "classic_options", "FLOWDESK_QUOTEFLOW_PUBLISH_CRYPTO": "yes",
    }
    s = load_settings(env=env)
    assert (s.redis.host, s.redis.port, s.redis.db, s.redis.password) == ("redis.local", 6390, 2, "s3cret")
    assert "s3cret" not in repr(s.redis)
    assert s.quoteflow.interval_s == 0.5 and s.quoteflow.tickers == ("SPY", "QQQ")
    assert s.quoteflow.thresholds_preset == "classic_options" and s.quoteflow.publish_crypto_quotes
    s = load_settings(env={"PROCESSOR_INTERVAL": "0.5", "FLOWDESK_QUOTEFLOW_INTERVAL_S": "2"})
    assert s.quoteflow.interval_s == 2.0


def test_yaml_sections(tmp_path: Path) -> None:
    cfg = tmp_path / "f.yaml"
    cfg.write_text(
        "redis: {host: 127.0.0.1, port: 7000}\n"
        "quoteflow:\n"
        "  enabled: true\n"
        "  tickers: [SPY, 'SPY250117C00450000', BTCUSDT]\n"
        "  thresholds:\n"
        "    preset: relative\n"
        "    per_ticker: {SPY: {preset: classic_options, min_moves: 20}, BTCUSDT: {large_size: 5}}\n"
    )
    s = load_settings(cfg, env={})
    assert s.redis.port == 7000 and s.quoteflow.enabled is True
    assert s.quoteflow.tickers == ("SPY", "SPY250117C00450000", "BTCUSDT")
    assert s.quoteflow.ticker_thresholds == {
        "SPY": {"preset": "classic_options", "min_moves": 20},
        "BTCUSDT": {"large_size": 5.0},
    }


@pytest.mark.parametrize(
    ("env", "yaml_text", "key"),
    [
        ({"REDIS_PORT": "0"}, "", "'redis.port'"),
        ({"FLOWDESK_REDIS_PORT": "x"}, "", "'redis.port'"),
        ({"REDIS_DB": "-1"}, "", "'redis.db'"),
        ({"REDIS_HOST": "bad host!"}, "", "'redis.host'"),
        ({"PROCESSOR_INTERVAL": "0"}, "", "'quoteflow.interval_s'"),
        ({"FLOWDESK_QUOTEFLOW_ENABLED": "maybe"}, "", "'quoteflow.enabled'"),
        ({"FLOWDESK_QUOTEFLOW_TICKERS": "SPY,BAD TICKER"}, "", "'quoteflow.tickers'"),
        ({"FLOWDESK_QUOTEFLOW_THRESHOLDS": "loose"}, "", "'quoteflow.thresholds.preset'"),
        ({"FLOWDESK_QUOTEFLOW_PUBLISH_CRYPTO": "sometimes"}, "", "'quoteflow.publish_crypto_quotes'"),
        ({}, "quoteflow: {intervall_s: 1}", "'quoteflow.intervall_s'"),
        ({}, "redis: {hots: x}", "'redis.hots'"),
        ({}, "quoteflow: {thresholds: {per_ticker: {SPY: {sweep_size: 0}}}}", "'quoteflow.thresholds.per_ticker.SPY.sweep_size'"),
        ({}, "quoteflow: {thresholds: {per_ticker: {SPY: {big: 1}}}}", "'quoteflow.thresholds.per_ticker.SPY.big'"),
        ({}, "quoteflow: {publish_retention_s: 10}", "'quoteflow.publish_retention_s'"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, env: dict[str, str], yaml_text: str, key: str) -> None:
    cfg = None
    if yaml_text:
        cfg = tmp_path / "c.yaml"
        cfg.write_text(yaml_text + "\n")
    with pytest.raises(SettingsError, match=key):
        load_settings(cfg, env=env)
