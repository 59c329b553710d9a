"""The ``features`` settings section: defaults, YAML and environment, and errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowdesk.analytics.features.config import export_dir
from flowdesk.analytics.features.service import engine_params, service
from flowdesk.settings import SettingsError, load_settings


def test_defaults() -> None:
    s = load_settings(env={"FLOWDESK_DATA_DIR": "/tmp/fd"})
    f = s.features
    assert (f.enabled, f.cadence_s, f.export_dir, f.warmup_s) == (True, 1.0, None, 900.0)
    assert export_dir(s) == Path("/tmp/fd/exports")
    p = engine_params(s, ("aggTrade", "depth"))
    assert p.cadence_ms == 1000 and p.liquidations is False  # no forceOrder stream collected


def test_yaml_and_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("features:\n  cadence_s: 2.5\n  export_dir: /srv/exports\n  vpin_window: 20\n")
    s = load_settings(cfg, env={})
    assert (s.features.cadence_s, s.features.export_dir, s.features.vpin_window) == (2.5, Path("/srv/exports"), 20)
    assert export_dir(s) == Path("/srv/exports")
    s = load_settings(cfg, env={"FLOWDESK_FEATURES_ENABLED": "false", "FLOWDESK_FEATURES_CADENCE_S": "0.5"})
    assert s.features.enabled is False and s.features.cadence_s == 0.5
    assert service(s, object()) is None  # disabled: no background loop


@pytest.mark.parametrize(("yaml", "key"), [
    ("features: {cadence_s: 0}", "'features.cadence_s'"),
    ("features: {cadence_s: fast}", "'features.cadence_s'"),
    ("features: {enabled: maybe}", "'features.enabled'"),
    ("features: {colour: red}", "'features.colour'"),
    ("features: {export_dir: ''}", "'features.export_dir'"),
    ("features: {vpin_window: 1}", "'features.vpin_window'"),
    ("features: [1, 2]", "'features'"),
])
def test_errors_name_the_key(tmp_path: Path, yaml: str, key: str) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml + "\n")
    with pytest.raises(SettingsError, match=key):
        load_settings(cfg, env={})


def test_no_service_without_a_collector() -> None:
    assert service(load_settings(env={}), None) is None


def test_every_feature_and_signal_is_documented() -> None:
    from flowdesk.analytics.features.catalog import CATALOG, CROSS_VENUE
    from flowdesk.analytics.signals.definitions import SPECS
    from flowdesk.tools.registry import load_tools

    docs = Path(__file__).resolve().parents[1] / "docs"
    features, signals, history = ((docs / f).read_text() for f in ("features.md", "signals.md", "history.md"))
    assert [n for n in [*CATALOG, *CROSS_VENUE] if f"`{n}`" not in features] == []
    assert [n for n in SPECS if f"`{n}`" not in signals] == []
    tools = {n for n, s in load_tools().items() if s.domain in ("features", "history")}
    assert [t for t in tools if f"`{t}" not in signals + history + features] == []
