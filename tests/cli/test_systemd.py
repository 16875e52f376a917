"""systemd readiness: ``bucketfs mount -f`` with ``NOTIFY_SOCKET`` sends ``READY=1`` once the
mount answers, ``STOPPING=1`` when it unmounts; a daemonised mount sends nothing (it is not the
unit's main process). The test listens on the socket as systemd would (a path, or abstract)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bucketfs.cli.sdnotify import notify
from bucketfs.embedded import CLI

from .conftest import UserEnv, mounted


@pytest.fixture(params=["path", "abstract"])
def listener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if request.param == "path":
        address = str(tmp_path / "notify.sock")
        sock.bind(address)
    else:
        name = f"bucketfs-test-{os.getpid()}-{id(sock)}"
        sock.bind("\0" + name)
        address = "@" + name
    with sock:
        yield sock, address


def _messages(sock: socket.socket, timeout: float) -> dict[str, str]:
    sock.settimeout(timeout)
    lines = sock.recv(4096).decode().splitlines()
    return dict(line.split("=", 1) for line in lines)


def test_foreground_mount_notifies_ready_then_stopping(
    user: UserEnv, listener: tuple[socket.socket, str]
) -> None:
    sock, address = listener
    mnt = user.mountpoint()
    proc = subprocess.Popen(
        [*CLI, "mount", "-f", str(mnt)],
        env={**user.env, "NOTIFY_SOCKET": address},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = _messages(sock, 120)
        # at the moment READY=1 arrives, the mount answers
        listing = subprocess.run(
            ["ls", str(mnt)], capture_output=True, text=True, timeout=30, check=False
        )
        assert ready.get("READY") == "1", ready
        assert str(mnt) in ready["STATUS"]
        assert listing.returncode == 0 and "buckets" in listing.stdout.split(), listing
        user.ok("umount", str(mnt))
        stopping = _messages(sock, 60)
        assert stopping.get("STOPPING") == "1" and "unmounting" in stopping["STATUS"]
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert not mounted(mnt)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)


def test_sigterm_notifies_stopping(user: UserEnv, tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "n.sock"))
        mnt = user.mountpoint()
        env = {**user.env, "NOTIFY_SOCKET": str(tmp_path / "n.sock")}
        proc = subprocess.Popen(
            [*CLI, "mount", "-f", str(mnt)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert _messages(sock, 120).get("READY") == "1"
            proc.send_signal(signal.SIGTERM)  # systemctl stop without ExecStop
            assert _messages(sock, 60).get("STOPPING") == "1"
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            assert not mounted(mnt)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def test_daemonised_mount_does_not_notify(user: UserEnv, tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "n.sock"))
        mnt = user.mountpoint()
        env = {**user.env, "NOTIFY_SOCKET": str(tmp_path / "n.sock")}
        subprocess.run([*CLI, "mount", str(mnt)], env=env, check=True, timeout=120)
        try:
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(4096)
        finally:
            user.ok("umount", str(mnt))


def test_notify_without_socket(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    assert notify("READY=1") is False  # logged, not raised
