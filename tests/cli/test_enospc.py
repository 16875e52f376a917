"""End to end (issue 12, item 6): ``bucketfs mount --cache-dir`` on a 20 MiB tmpfs, a real hub,
both modes. A 50 MiB write fails with ENOSPC and so does its close, nothing partial reaches the
hub (a second, fresh mount reads the previous version), the cache's usage comes back down, the
mount is writable again after ``rm`` without a remount, a disk filled by another program gives
ENOSPC without wedging anything, and ``bucketfs umount`` ends with its documented code, no
traceback in the mount's log.

The tmpfs is mounted here (root only: skipped otherwise) and unmounted after the test."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bucketfs.testing.hubproc import HubProcess

from .conftest import UserEnv, wait_for

MiB = 1 << 20

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts a tmpfs (root only)")


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "small"
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def write_file(path: Path, size: int, flags: int = os.O_CREAT | os.O_TRUNC) -> OSError | None:
    """Write ``size`` random bytes to ``path`` with write(2)/close(2); the first error."""
    fd = os.open(path, os.O_WRONLY | flags, 0o644)
    error: OSError | None = None
    try:
        for off in range(0, size, MiB):
            os.write(fd, os.urandom(min(MiB, size - off)))
    except OSError as exc:
        error = exc
    try:
        os.close(fd)
    except OSError as exc:
        error = error or exc
        assert exc.errno == errno.ENOSPC, exc  # close after a failed write: ENOSPC (SEMANTICS)
    else:
        assert error is None, "close() returned 0 after a failed write"
    return error


def fill(path: Path) -> Path:
    """Another program takes every free byte of the filesystem."""
    filler = path / "filler"
    with filler.open("wb", buffering=0) as f:
        for size in (MiB, 4096, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    return filler


@pytest.mark.parametrize("mode", ["sync", "write-back"])
def test_full_cache_disk_fails_the_write_and_does_not_wedge_the_mount(
    user: UserEnv, tmp_path: Path, small: Path, mode: str
) -> None:
    with HubProcess(tmp_path / "hubdata") as hub:
        key, secret = hub.create_key(type="user")
        flags = ["--hub", hub.address, "--api-key", key, "--api-secret", secret]
        extra = ["--write-back"] if mode == "write-back" else []
        mnt, other = user.mountpoint(), user.mountpoint("other")
        user.ok("mount", str(mnt), *flags, "--cache-dir", str(small), *extra)
        b = mnt / "buckets" / "b"
        b.mkdir()
        v1 = os.urandom(MiB)
        (b / "f").write_bytes(v1)
        wait_for(lambda: not user.status(mnt)["pending"], 60, "the upload of f")

        failed = write_file(b / "f", 50 * MiB)  # over f, 50 MiB into a 20 MiB cache disk
        assert failed is not None and failed.errno == errno.ENOSPC, failed
        assert f"no space in the cache directory {small}" in user.logs()
        wait_for(lambda: free_bytes(small) > 15 * MiB, 30, "the staging space to be released")
        assert (b / "f").read_bytes() == v1  # the previous version, here
        user.ok("mount", str(other), *flags)  # a fresh mount (its own cache) reads the hub
        assert (other / "buckets" / "b" / "f").read_bytes() == v1
        assert user.status(mnt)["dirty_files"] == 0

        (b / "f").unlink()  # writable again, without a remount
        g = os.urandom(8 * MiB)
        (b / "g").write_bytes(g)
        assert (b / "g").read_bytes() == g

        filler = fill(small)  # another program fills the disk
        failed = write_file(b / "h", 12 * MiB)  # more than evicting g (8 MiB) frees
        assert failed is not None and failed.errno == errno.ENOSPC, failed
        wait_for(lambda: not user.status(mnt)["pending"], 60, "the upload of g")
        done = user.run("umount", str(mnt), "--timeout", "30")
        assert (done.returncode, done.stderr) == (0, ""), (done, user.logs())
        filler.unlink()

        user.ok("mount", str(mnt), *flags, "--cache-dir", str(small), *extra)
        (mnt / "buckets" / "b" / "i").write_bytes(b"after the remount")
        wait_for(lambda: not user.status(mnt)["pending"], 60, "the upload of i")
        listed = sorted(os.listdir(other / "buckets" / "b"))
        assert listed == ["g", "i"], listed  # f removed, h never created
        assert (other / "buckets" / "b" / "g").read_bytes() == g
        user.ok("umount", str(mnt), "--timeout", "30")
        user.ok("umount", str(other), "--timeout", "30")
        logs = user.logs()
        assert "Traceback" not in logs, logs


@pytest.mark.parametrize("mode", ["sync", "write-back"])
def test_disk_filled_by_another_program_gives_enospc_and_a_clean_umount(
    user: UserEnv, tmp_path: Path, small: Path, mode: str
) -> None:
    with HubProcess(tmp_path / "hubdata") as hub:
        key, secret = hub.create_key(type="user")
        flags = ["--hub", hub.address, "--api-key", key, "--api-secret", secret]
        extra = ["--write-back"] if mode == "write-back" else []
        mnt = user.mountpoint()
        user.ok("mount", str(mnt), *flags, "--cache-dir", str(small), *extra)
        b = mnt / "buckets" / "b"
        b.mkdir()
        (b / "before").write_bytes(b"journaled or pushed before the disk filled")
        filler = fill(small)
        saved, refused = [], []
        for i in range(40):  # empty files until even a journal record no longer fits
            size = 64 << 10 if i % 4 == 3 else 0  # and some with data, which has no room
            failed = write_file(b / f"k{i}", size, os.O_CREAT)
            assert failed is None or failed.errno == errno.ENOSPC, failed
            (saved if failed is None else refused).append(f"k{i}")
        assert "k3" in refused and (mode == "sync" or "k38" in refused), refused
        wait_for(lambda: not user.status(mnt)["pending"], 60, "the uploads")
        done = user.run("umount", str(mnt), "--timeout", "30")
        assert (done.returncode, done.stderr) == (0, ""), (done, user.logs())
        assert "Traceback" not in user.logs(), user.logs()
        filler.unlink()
        user.ok("mount", str(mnt), *flags, "--cache-dir", str(small), *extra)
        assert sorted(os.listdir(b)) == sorted(["before", *saved])
        assert (b / "before").read_bytes() == b"journaled or pushed before the disk filled"
        (b / "after").write_bytes(b"writable again")
        user.ok("umount", str(mnt), "--timeout", "30")
