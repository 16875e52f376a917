"""Unit tests of bucketfs.config: precedence, parsing, secrets and file modes."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest

from bucketfs import config
from bucketfs.auth.privatefile import InsecureFile
from bucketfs.config import ConfigError, parse_size, read_config, resolve, update_config


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BUCKETFS_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.setenv("BUCKETFS_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cfg" / "config.toml"


def write(path: Path, text: str, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1048576", 1048576),
        ("512K", 512 * 1024),
        ("10G", 10 * 1024**3),
        ("10GiB", 10 * 1024**3),
        ("1.5t", int(1.5 * 1024**4)),
        (4096, 4096),
    ],
)
def test_parse_size(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "G", "10X", "-5M", "0", "1e3"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_size(text)


def test_defaults(cfg: Path, tmp_path: Path) -> None:
    s = resolve({}, environ={}, config_path=cfg)
    assert s.hub is None and s.embedded
    assert s.api_key is None and s.api_secret is None
    assert s.identity == tmp_path / "cfg" / "identity"
    assert s.cache_dir == tmp_path / "cache"
    assert s.thread == "buckets"
    assert s.cache_max_size == 10 * 1024**3
    assert set(s.sources.values()) == {"default"}


def test_precedence_flag_env_file_default(cfg: Path, tmp_path: Path) -> None:
    write(cfg, 'hub = "file:1"\napi_key = "kf"\nthread = "tf"\ncache_max_size = "1M"\n')
    env = {"BUCKETFS_HUB": "env:1", "BUCKETFS_API_KEY": "ke"}
    s = resolve({"hub": "flag:1", "api_key": None, "thread": None}, environ=env, config_path=cfg)
    assert (s.hub, s.api_key, s.thread, s.cache_max_size) == ("flag:1", "ke", "tf", 1024**2)
    assert s.sources["hub"] == "flag"
    assert s.sources["api_key"] == "env"
    assert s.sources["thread"] == "file"
    assert s.sources["identity"] == "default"
    assert not s.embedded


def test_empty_env_var_is_unset(cfg: Path) -> None:
    write(cfg, 'hub = "file:1"\n')
    assert resolve({}, environ={"BUCKETFS_HUB": ""}, config_path=cfg).hub == "file:1"


def test_paths_are_expanded(cfg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    s = resolve({"identity": "~/id", "cache_dir": "rel"}, environ={}, config_path=cfg)
    assert s.identity == tmp_path / "home" / "id"
    assert s.cache_dir.is_absolute() and s.cache_dir.name == "rel"


def test_unknown_key_and_bad_toml_refused(cfg: Path) -> None:
    write(cfg, 'hubb = "x"\n')
    with pytest.raises(ConfigError, match="unknown key 'hubb'"):
        resolve({}, environ={}, config_path=cfg)
    write(cfg, "hub = \n")
    with pytest.raises(ConfigError, match=str(cfg)):
        resolve({}, environ={}, config_path=cfg)


def test_bad_value_names_its_origin(cfg: Path) -> None:
    with pytest.raises(ConfigError, match="BUCKETFS_CACHE_MAX_SIZE"):
        resolve({}, environ={"BUCKETFS_CACHE_MAX_SIZE": "lots"}, config_path=cfg)
    write(cfg, "thread = 3\n")
    with pytest.raises(ConfigError, match="thread must be a string"):
        resolve({}, environ={}, config_path=cfg)


def test_readable_file_with_secret_refused(cfg: Path) -> None:
    write(cfg, 'api_secret = "s3cret"\n', mode=0o644)
    with pytest.raises(InsecureFile, match="chmod 600"):
        read_config(cfg)
    write(cfg, 'hub = "x:1"\n', mode=0o644)  # no secret: readable is fine
    assert read_config(cfg) == {"hub": "x:1"}


def test_secret_redacted(cfg: Path) -> None:
    s = resolve({"api_secret": "s3cret", "api_key": "k"}, environ={}, config_path=cfg)
    assert "s3cret" not in repr(s)
    assert "<redacted>" in repr(s)
    assert s.public_dict()["api_secret"] == "<redacted>"
    assert s.api_secret == "s3cret"


def test_update_config_writes_0600_and_merges(cfg: Path) -> None:
    write(cfg, 'hub = "x:1"\n', mode=0o644)
    update_config({"thread": 'we"ird\\name ü'}, embedded={"api_key": "k", "api_secret": "s"})
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    data = tomllib.loads(cfg.read_text())
    assert data == {
        "hub": "x:1",
        "thread": 'we"ird\\name ü',
        "embedded": {"api_key": "k", "api_secret": "s"},
    }
    update_config({}, embedded={"api_secret": "t"})
    assert read_config(cfg)["embedded"] == {"api_key": "k", "api_secret": "t"}
    s = resolve({}, environ={}, config_path=cfg)
    assert (s.embedded_key, s.embedded_secret) == ("k", "t")
    assert s.api_key is None  # the embedded key is only used for the embedded hub


def test_update_config_creates_private_dir(cfg: Path) -> None:
    path = update_config({"hub": "h:1"})
    assert path == cfg
    assert stat.S_IMODE(cfg.parent.stat().st_mode) == 0o700
    with pytest.raises(ConfigError):
        update_config({"nope": "x"})


def test_env_var_names() -> None:
    assert [config.env_var(k) for k in ("hub", "api_secret", "cache_max_size")] == [
        "BUCKETFS_HUB",
        "BUCKETFS_API_SECRET",
        "BUCKETFS_CACHE_MAX_SIZE",
    ]
