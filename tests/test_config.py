from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ampsm_tui.engine.config import ConfigError, load_config, parse_duration
from tests.conftest import run_cli


def test_missing_file_means_defaults(isolated_env: Path) -> None:
    cfg = load_config()
    assert cfg.source is None
    assert cfg.git.commit_prefix == "amp:"
    assert cfg.git.worktree_dir == ".worktrees"
    assert cfg.git.default_base_branch == "main"
    assert cfg.amp.timeout == 300.0
    assert cfg.amp.retry_attempts == 3
    assert cfg.database.backup_interval == 86400.0
    assert cfg.telemetry.retention_days == 365
    assert cfg.telemetry.export_formats == ["jsonl", "csv"]
    assert cfg.ui.theme == "gruvbox" and cfg.ui.confirm_destructive is True
    assert cfg.notifications.desktop is True and cfg.notifications.webhook.enabled is False
    assert cfg.db_path == isolated_env / "sessions.db"


def test_env_overrides(isolated_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (isolated_env / "config.yaml").write_text("telemetry:\n  enabled: true\nlog_level: info\n")
    monkeypatch.setenv("AMPSM_DB_PATH", str(tmp_path / "other.db"))
    monkeypatch.setenv("AMPSM_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("AMPSM_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("AMPSM_SQLITE_CACHE_SIZE", "5000")
    monkeypatch.setenv("AMPSM_BATCH_CONCURRENCY", "2")
    cfg = load_config()
    assert cfg.db_path == tmp_path / "other.db"
    assert cfg.log_level == "debug"
    assert cfg.telemetry.enabled is False
    assert cfg.database.cache_size == 5000
    assert cfg.batch.concurrency == 2


def test_yaml_syntax_error_names_file_and_line(isolated_env: Path) -> None:
    path = isolated_env / "config.yaml"
    path.write_text("git:\n  commit_prefix: 'amp:'\n  worktree_dir: [unclosed\nui:\n  theme: x\n")
    with pytest.raises(ConfigError) as info:
        load_config()
    message = str(info.value)
    assert message.startswith(f"{path}:")
    assert "invalid YAML" in message
    assert info.value.line is not None and 3 <= info.value.line <= 5


def test_wrong_type_names_file_line_and_key(isolated_env: Path) -> None:
    path = isolated_env / "config.yaml"
    path.write_text("git:\n  commit_prefix: 'amp:'\namp:\n  timeout: 300s\n  retry_attempts: many\n")
    with pytest.raises(ConfigError) as info:
        load_config()
    assert str(info.value).startswith(f"{path}:5: amp.retry_attempts:")
    path.write_text("ui:\n  theem: dark\n")
    with pytest.raises(ConfigError, match=r"config.yaml:2: ui.theem: unknown key"):
        load_config()


def test_cli_config_error_is_one_line(isolated_env: Path) -> None:
    (isolated_env / "config.yaml").write_text("amp:\n  timeout: soon\n")
    out = run_cli("config", "show")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "config.yaml:2: amp.timeout:" in lines[0]
    assert "Traceback" not in out.stderr


def test_config_init_writes_sample_0644_and_it_loads(isolated_env: Path) -> None:
    out = run_cli("config", "init")
    assert out.returncode == 0, out.stderr
    path = isolated_env / "config.yaml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    cfg = load_config()
    assert cfg.source == path and cfg.git.commit_prefix == "amp:"
    again = run_cli("config", "init")
    assert again.returncode == 2 and "exists" in again.stderr


def test_durations() -> None:
    assert parse_duration("300s") == 300
    assert parse_duration("5m") == 300
    assert parse_duration("24h") == 86400
    assert parse_duration(12) == 12
    with pytest.raises(ValueError):
        parse_duration("soon")
