"""Settings: defaults, environment, TOML file, precedence, refusals."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.settings import ServiceSettings, load_settings


def test_defaults_work_and_paths_are_absolute(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = ServiceSettings()
    assert s.data_dir == tmp_path / "biosig-service-data"
    assert s.db_path == s.data_dir / "metadata.sqlite3" and s.resolved_cache_dir == s.data_dir / "cache"
    assert (s.fsync, s.backend, s.port, s.hop_s) == ("batch", "auto", 8000, 0.05)


def test_environment_then_file_then_defaults(tmp_path, monkeypatch) -> None:
    toml = tmp_path / "service.toml"
    toml.write_text('port = 9100\nfsync = "always"\nmax_unacked = 16\n')
    monkeypatch.setenv("BIOSIG_SERVICE_PORT", "9200")
    s = load_settings(toml)
    assert (s.port, s.fsync, s.max_unacked) == (9200, "always", 16)
    assert load_settings(toml, port=9300).port == 9300
    monkeypatch.setenv("BIOSIG_SERVICE_SETTINGS_FILE", str(toml))
    assert ServiceSettings().max_unacked == 16


def test_unknown_and_invalid_settings_are_refused(tmp_path) -> None:
    with pytest.raises(ValidationError, match="sfreg\n  Extra inputs are not permitted"):
        ServiceSettings(sfreg=200)
    with pytest.raises(ValidationError, match="fsync\n  Input should be 'always', 'batch' or 'none'"):
        ServiceSettings(fsync="sometimes")
    with pytest.raises(FileNotFoundError, match="settings file .*missing.toml does not exist"):
        load_settings(tmp_path / "missing.toml")


def test_the_gesture_model_needs_both_sides(tmp_path) -> None:
    with pytest.raises(ValidationError, match="gesture_emg_model and gesture_pose_factory go together"):
        ServiceSettings(gesture_pose_factory="pkg.mod:make")
    with pytest.raises(ValidationError, match="must be 'package.module:callable', got 'nocolon'"):
        ServiceSettings(gesture_emg_model=tmp_path / "m.pt", gesture_pose_factory="nocolon")
