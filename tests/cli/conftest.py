"""Fixtures of the CLI tests: an isolated user environment (HOME and XDG dirs in a temporary
directory) in which ``bucketfs`` runs as a real subprocess, and that cleans up every mount,
mount daemon and embedded hub it saw."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bucketfs.embedded import CLI, EmbeddedHub


def mounted(path: Path) -> bool:
    """True when ``path`` is a mountpoint in /proc/self/mounts (works for dead mounts too)."""
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        return any(line.split()[1] == str(path) for line in mounts)


class UserEnv:
    """A fresh user: HOME, XDG config/cache/data dirs under ``root``; no BUCKETFS_* vars."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.home.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("BUCKETFS_")}
        env.update(
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(root / "xdg" / "config"),
            XDG_CACHE_HOME=str(root / "xdg" / "cache"),
            XDG_DATA_HOME=str(root / "xdg" / "data"),
        )
        self.env = env
        self.mountpoints: list[Path] = []

    @property
    def config_file(self) -> Path:
        return self.root / "xdg" / "config" / "bucketfs" / "config.toml"

    @property
    def identity_file(self) -> Path:
        return self.root / "xdg" / "config" / "bucketfs" / "identity"

    @property
    def hub(self) -> EmbeddedHub:
        return EmbeddedHub(self.root / "xdg" / "data" / "bucketfs" / "hub")

    @property
    def runtime_dirs(self) -> list[Path]:
        return sorted((self.root / "xdg" / "cache" / "bucketfs" / "mounts").glob("*"))

    def mountpoint(self, name: str = "mnt") -> Path:
        path = self.home / name
        path.mkdir(exist_ok=True)
        self.mountpoints.append(path)
        return path

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    def ok(self, *args: str, timeout: float = 120) -> str:
        result = self.run(*args, timeout=timeout)
        assert result.returncode == 0, (args, result.stderr, self.logs())
        return result.stdout

    def status(self, mountpoint: Path) -> dict[str, object]:
        data = json.loads(self.ok("status", str(mountpoint), "--json"))
        assert isinstance(data, dict)
        return data

    def logs(self) -> str:
        return "".join(
            log.read_text(errors="replace") for d in self.runtime_dirs for log in d.glob("*.log")
        )

    def daemon_pids(self) -> list[int]:
        pids = []
        for d in self.runtime_dirs:
            with contextlib.suppress(OSError, ValueError):
                pids.append(int(json.loads((d / "daemon.json").read_text())["pid"]))
        return pids

    def cleanup(self) -> None:
        for path in self.mountpoints:
            if mounted(path):
                subprocess.run(["fusermount3", "-u", "-z", str(path)], check=False)
        for pid in self.daemon_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.hub.stop(timeout=10)


def wait_for(predicate: object, timeout: float = 30.0, what: str = "condition") -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def user(tmp_path: Path) -> Iterator[UserEnv]:
    env = UserEnv(tmp_path)
    try:
        yield env
    finally:
        env.cleanup()
