"""XDG locations of bucketfs files and their environment overrides (DESIGN.md §6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bucketfs import paths

VARS = [
    "BUCKETFS_CONFIG_DIR",
    "BUCKETFS_CACHE_DIR",
    "BUCKETFS_DATA_DIR",
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "XDG_DATA_HOME",
]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_defaults(home: Path) -> None:
    assert paths.config_dir() == home / ".config" / "bucketfs"
    assert paths.cache_dir() == home / ".cache" / "bucketfs"
    assert paths.data_dir() == home / ".local" / "share" / "bucketfs"
    assert paths.config_file() == home / ".config" / "bucketfs" / "config.toml"
    assert paths.identity_file() == home / ".config" / "bucketfs" / "identity"
    assert paths.token_cache_file() == home / ".cache" / "bucketfs" / "tokens.json"
    assert paths.hub_data_dir() == home / ".local" / "share" / "bucketfs" / "hub"
    assert not (home / ".config").exists()  # nothing is created


def test_xdg_variables(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", "/xdg/config")
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg/cache")
    monkeypatch.setenv("XDG_DATA_HOME", "/xdg/data")
    assert paths.identity_file() == Path("/xdg/config/bucketfs/identity")
    assert paths.token_cache_file() == Path("/xdg/cache/bucketfs/tokens.json")
    assert paths.hub_data_dir() == Path("/xdg/data/bucketfs/hub")


@pytest.mark.parametrize("value", ["", "relative/dir"])
def test_empty_or_relative_xdg_values_are_ignored(
    home: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", value)
    monkeypatch.setenv("XDG_CACHE_HOME", value)
    assert paths.config_dir() == home / ".config" / "bucketfs"
    assert paths.cache_dir() == home / ".cache" / "bucketfs"


def test_bucketfs_variables_win(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", "/xdg/config")
    monkeypatch.setenv("BUCKETFS_CONFIG_DIR", "/etc/bfs")
    monkeypatch.setenv("BUCKETFS_CACHE_DIR", "~/c")
    monkeypatch.setenv("BUCKETFS_DATA_DIR", "rel/data")
    monkeypatch.chdir(home)
    assert paths.config_file() == Path("/etc/bfs/config.toml")
    assert paths.identity_file() == Path("/etc/bfs/identity")
    assert paths.token_cache_file() == home / "c" / "tokens.json"
    assert paths.hub_data_dir() == home / "rel" / "data" / "hub"
