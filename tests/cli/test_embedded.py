"""The embedded hub helper: start, reuse, restart after a crash, stop, key provisioning."""

from __future__ import annotations

import os
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from bucketfs import config
from bucketfs.embedded import EmbeddedHub, ensure_identity, health, process_alive, provision
from bucketfs.errors import Unavailable

from .conftest import wait_for


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedHub]:
    monkeypatch.setenv("BUCKETFS_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.setenv("BUCKETFS_DATA_DIR", str(tmp_path / "data"))
    embedded = EmbeddedHub()
    yield embedded
    embedded.stop(timeout=10)


def test_start_reuse_crash_restart_stop(hub: EmbeddedHub, tmp_path: Path) -> None:
    assert hub.data_dir == tmp_path / "data" / "hub"
    assert hub.pid() is None and not hub.healthy()
    assert hub.ensure() is True
    first = hub.pid()
    assert first is not None and hub.healthy()
    assert health(hub.address)
    assert stat.S_IMODE(hub.data_dir.stat().st_mode) == 0o700
    assert "listening on" in hub.log_file.read_text()

    assert hub.ensure() is False  # answers health: reused
    assert hub.pid() == first

    os.kill(first, signal.SIGKILL)  # a crash leaves the pid file and maybe the socket
    wait_for(lambda: not process_alive(first), 10, "the hub to die")
    assert hub.pid() is None and not hub.healthy()
    assert hub.ensure() is True
    second = hub.pid()
    assert second not in (None, first)

    assert hub.stop() is True
    assert hub.pid() is None and not hub.pid_file.exists()
    assert not process_alive(second)  # type: ignore[arg-type]
    assert hub.stop() is False


def test_health_of_nothing(tmp_path: Path) -> None:
    assert not health(f"unix:{tmp_path / 'none.sock'}", timeout=1)
    (tmp_path / "plain.sock").write_text("not a socket")
    assert not health(f"unix:{tmp_path / 'plain.sock'}", timeout=1)


def test_start_failure_is_reported(hub: EmbeddedHub) -> None:
    (hub.data_dir / "hub.sqlite3").mkdir(parents=True)  # the hub cannot open its store
    with pytest.raises(Unavailable, match="did not start") as failure:
        hub.ensure(timeout=20)
    assert str(hub.log_file) in failure.value.message
    assert hub.pid() is None


def test_provision_records_and_reuses_key(hub: EmbeddedHub, tmp_path: Path) -> None:
    hub.ensure()
    settings = config.resolve({}, environ={})
    provision(settings, hub)
    assert settings.hub == hub.address
    assert settings.api_key and settings.api_secret
    path = tmp_path / "cfg" / "config.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert settings.api_secret in path.read_text()

    again = config.resolve({}, environ={})
    provision(again, hub)  # recorded: reused
    assert (again.api_key, again.api_secret) == (settings.api_key, settings.api_secret)

    renewed = config.resolve({}, environ={})
    provision(renewed, hub, renew=True)  # the recorded key was refused: a new one
    assert renewed.api_key != settings.api_key
    assert config.read_config()["embedded"]["api_key"] == renewed.api_key

    explicit = config.resolve({"api_key": "mine"}, environ={})
    provision(explicit, hub)  # a configured key wins; nothing is created
    assert explicit.api_key == "mine" and explicit.hub == hub.address


def test_ensure_identity_creates_once(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "identity"
    created = ensure_identity(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_identity(path).public_key == created.public_key
