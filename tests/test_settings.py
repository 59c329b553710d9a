"""Settings: defaults, YAML, environment precedence, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowdesk.settings import SettingsError, load_settings


def test_defaults() -> None:
    s = load_settings(env={})
    assert (s.host, s.port, s.retention_days) == ("127.0.0.1", 8022, 7)
    assert s.symbols == ("BTCUSDT", "ETHUSDT")
    assert s.data_dir == Path("data")
    v = s.venues["binance_usdm"]
    assert v.ws_url == "wss://fstream.binance.com" and v.rest_url == "https://fapi.binance.com"
    assert "depth" in v.streams and v.symbols == s.symbols


def test_yaml_then_env_then_overrides(tmp_path: Path) -> None:
    cfg = tmp_path / "flowdesk.yaml"
    cfg.write_text("port: 9000\nsymbols: [solusdt]\nretention_days: 3\nvenues:\n  binance_usdm:\n    ws_url: ws://127.0.0.1:1\n")
    s = load_settings(cfg, env={"FLOWDESK_PORT": "9100", "FLOWDESK_DATA_DIR": str(tmp_path / "d")})
    assert s.port == 9100 and s.retention_days == 3 and s.symbols == ("SOLUSDT",)
    assert s.data_dir == tmp_path / "d"
    assert s.venues["binance_usdm"].ws_url == "ws://127.0.0.1:1"
    assert s.venues["binance_usdm"].rest_url == "https://fapi.binance.com"
    s = load_settings(cfg, env={"FLOWDESK_PORT": "9100"}, overrides={"port": 9200})
    assert s.port == 9200


def test_env_venue_urls() -> None:
    s = load_settings(env={"FLOWDESK_BINANCE_USDM_WS_URL": "ws://127.0.0.1:5/", "FLOWDESK_SYMBOLS": "btcusdt, ethusdt"})
    assert s.venues["binance_usdm"].ws_url == "ws://127.0.0.1:5"
    assert s.symbols == ("BTCUSDT", "ETHUSDT")


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"FLOWDESK_PORT": "eighty"}, "'port'"),
        ({"FLOWDESK_PORT": "70000"}, "'port'"),
        ({"FLOWDESK_RETENTION_DAYS": "0"}, "'retention_days'"),
        ({"FLOWDESK_SYMBOLS": "BTC-USDT!"}, "'symbols'"),
        ({"FLOWDESK_BINANCE_USDM_WS_URL": "http://x"}, "'venues.binance_usdm.ws_url'"),
        ({"FLOWDESK_LOG_LEVEL": "LOUD"}, "'log_level'"),
    ],
)
def test_bad_values_name_the_key(env: dict[str, str], key: str) -> None:
    with pytest.raises(SettingsError, match=key):
        load_settings(env=env)


def test_bad_yaml_keys(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("portt: 1\n")
    with pytest.raises(SettingsError, match="'portt'"):
        load_settings(cfg, env={})
    cfg.write_text("venues:\n  binance_usdm:\n    streams: [aggTrade, nonsense]\n")
    with pytest.raises(SettingsError, match="venues.binance_usdm.streams"):
        load_settings(cfg, env={})
    cfg.write_text("venues:\n  kraken: {}\n")
    with pytest.raises(SettingsError, match="venues.kraken"):
        load_settings(cfg, env={})
    with pytest.raises(SettingsError, match="'config'"):
        load_settings(tmp_path / "missing.yaml", env={})


def test_cli_reports_bad_setting(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from flowdesk.cli import main

    monkeypatch.setenv("FLOWDESK_PORT", "nope")
    with pytest.raises(SystemExit) as exc:
        main(["doctor"])
    assert exc.value.code == 2
    assert "'port'" in capsys.readouterr().err
