"""Write-back mode end to end: a real mount over a real hub subprocess. tar round trip, fsync,
``kill -9`` of the mount with pending files (the next mount uploads them), the hub down then up,
overlay visibility, a conflict with another client, and ``rm -rf``."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bucketfs.testing.hubproc import HubProcess
from bucketfs.testing.mountproc import MountProcess

from .conftest import sh
from .test_realhub import Api


@pytest.fixture(scope="module")
def hub() -> Iterator[HubProcess]:
    with HubProcess() as process:
        yield process


@pytest.fixture(scope="module")
def creds(hub: HubProcess) -> tuple[str, str, str]:
    key, secret = hub.create_key(type="account")
    return hub.address, key, secret


def wb_mount(base: Path, creds: tuple[str, str, str]) -> MountProcess:
    return MountProcess(base / "mnt", base / "cache", hub=creds, write_back=True)


def wait_for(check: object, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if callable(check) and check():
                return
        except Exception:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.1)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def wb(
    tmp_path_factory: pytest.TempPathFactory, creds: tuple[str, str, str]
) -> Iterator[tuple[MountProcess, Api]]:
    base = tmp_path_factory.mktemp("wb")
    with wb_mount(base, creds) as m:
        yield m, Api(*creds)
        log = m.log()
    assert "Traceback" not in log and " ERROR " not in log, log


def test_tar_round_trip_overlay_and_upload(
    wb: tuple[MountProcess, Api], src: Path, tmp_path: Path
) -> None:
    mount, api = wb
    bucket = mount.mountpoint / "buckets" / "wbtar"
    bucket.mkdir()
    sh(f"tar -C {src} -cf {tmp_path}/t.tar . && tar -xf {tmp_path}/t.tar", bucket)
    sh(f"diff -r {src} .", bucket)  # at once, from the overlay
    st = (bucket / "vfs" / "nodes.py").stat()
    assert int(st.st_mtime) == int((src / "vfs" / "nodes.py").stat().st_mtime)
    wait_for(lambda: api.content("wbtar", "vfs/nodes.py") == (src / "vfs/nodes.py").read_bytes())
    wait_for(lambda: api.children("wbtar", "fuse") == sorted(os.listdir(src / "fuse")))
    sh(
        f"tar -cf {tmp_path}/back.tar . && mkdir {tmp_path}/x && tar -C {tmp_path}/x -xf {tmp_path}/back.tar",
        bucket,
    )
    sh(f"diff -r {src} {tmp_path}/x", tmp_path)
    sh("rm -rf vfs", bucket)
    assert not (bucket / "vfs").exists()
    wait_for(lambda: "vfs" not in api.children("wbtar", ""))


def test_fsync_makes_the_record_durable(wb: tuple[MountProcess, Api]) -> None:
    mount, api = wb
    bucket = mount.mountpoint / "buckets" / "wbsync"
    bucket.mkdir()
    with open(bucket / "f", "wb") as f:
        f.write(b"synced")
        f.flush()
        os.fsync(f.fileno())
    records = (mount.cache_dir / "journal" / "journal").read_bytes()
    assert b'"path":"f"' in records
    wait_for(lambda: api.content("wbsync", "f") == b"synced")
    assert (bucket / "f").read_bytes() == b"synced"


def test_kill_9_with_pending_files_then_the_next_mount_uploads_them(
    tmp_path: Path, creds: tuple[str, str, str], hub: HubProcess
) -> None:
    api = Api(*creds)
    mount = wb_mount(tmp_path, creds).start()
    assert hub.proc is not None
    data = os.urandom(3 << 20)
    try:
        bucket = mount.mountpoint / "buckets" / "wbkill"
        bucket.mkdir()
        (bucket / "d").mkdir()
        os.listdir(bucket / "d")  # cached: the writes below need no hub call
        time.sleep(0.5)
        os.kill(hub.proc.pid, signal.SIGSTOP)  # the hub hangs: nothing is uploaded
        (bucket / "big").write_bytes(data)
        (bucket / "d" / "small").write_text("small")
        assert mount.proc is not None
        os.kill(mount.proc.pid, signal.SIGKILL)
        mount.proc.wait()
    finally:
        os.kill(hub.proc.pid, signal.SIGCONT)
        mount.stop()
    with wb_mount(tmp_path, creds) as again:
        bucket = again.mountpoint / "buckets" / "wbkill"
        assert sha(bucket / "big") == hashlib.sha256(data).hexdigest()  # visible at once
        wait_for(lambda: api.content("wbkill", "big") == data)
        wait_for(lambda: api.content("wbkill", "d/small") == b"small")


def test_hub_down_then_up(wb: tuple[MountProcess, Api], hub: HubProcess) -> None:
    mount, api = wb
    bucket = mount.mountpoint / "buckets" / "wbdown"
    bucket.mkdir()
    with open(bucket / "while-down", "w+") as f:  # opened while the hub runs
        hub.kill()
        try:
            f.write("kept")
            f.flush()
            f.seek(0)
            assert f.read() == "kept"
        finally:
            f.close()  # returns 0: it is in the journal
            time.sleep(1.5)  # a few failed upload rounds, with backoff
            hub.restart()
    wait_for(lambda: api.content("wbdown", "while-down") == b"kept", 120)
    assert (bucket / "while-down").read_text() == "kept"
