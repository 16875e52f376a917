"""errno through a real mount: the errno table end to end, read-only mounts, a stopped hub."""

from __future__ import annotations

import errno
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bucketfs.testing.mountproc import MountProcess


def fails(code: int, fn: Callable[[], object]) -> None:
    with pytest.raises(OSError) as info:
        fn()
    assert info.value.errno == code, (
        f"{errno.errorcode.get(info.value.errno or 0)} != {errno.errorcode[code]}"
    )


def test_namespace_errnos(bucket: Path, mount: MountProcess) -> None:
    (bucket / "f").write_text("x")
    (bucket / "d").mkdir()
    (bucket / "d" / "inner").write_text("y")
    fails(errno.ENOENT, lambda: os.stat(bucket / "missing"))
    fails(errno.EEXIST, lambda: os.mkdir(bucket / "d"))
    fails(errno.ENOTEMPTY, lambda: os.rmdir(bucket / "d"))
    fails(errno.EISDIR, lambda: (bucket / "d").write_text("x"))
    fails(errno.ENOTDIR, lambda: os.listdir(bucket / "f"))
    fails(errno.EINVAL, lambda: (bucket / ".textileseed").write_text("x"))
    other = mount.mountpoint / "buckets" / f"{bucket.name}-2"
    other.mkdir()
    fails(errno.EXDEV, lambda: os.rename(bucket / "f", other / "f"))
    fails(errno.EPERM, lambda: os.link(bucket / "f", bucket / "hard"))
    fails(errno.EPERM, lambda: os.chown(bucket / "f", os.getuid() + 1, -1))
    fails(errno.EPERM, lambda: os.mknod(bucket / "fifo", 0o600 | 0o010000))
    fails(errno.EACCES, lambda: os.mkdir(mount.mountpoint / "x"))
    fails(errno.ENOTSUP, lambda: os.setxattr(bucket / "f", "user.ipfs.cid", b"x"))
    fails(errno.ENODATA, lambda: os.getxattr(bucket / "f", "user.nothing"))
    dir_fd = os.open(bucket, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)  # fsyncdir: nothing pending, succeeds
    finally:
        os.close(dir_fd)
    assert os.getxattr(bucket / "f", "user.ipfs.cid").startswith(b"bafkrei")
    assert "user.bucketfs.key" in os.listxattr(bucket / "f")


def test_symlink_chmod_utime(bucket: Path) -> None:
    (bucket / "f").write_text("x")
    os.symlink("f", bucket / "l")
    assert os.readlink(bucket / "l") == "f"
    assert (bucket / "l").read_text() == "x"
    os.chmod(bucket / "f", 0o600)
    os.utime(bucket / "f", ns=(1_500_000_000_000_000_000, 1_500_000_000_000_000_000))
    time.sleep(1.1)  # past the kernel's attribute timeout: ask the hub again
    st = os.stat(bucket / "f")
    assert (st.st_mode & 0o777, st.st_mtime_ns) == (0o600, 1_500_000_000_000_000_000)


def test_read_only_mount(tmp_path: Path) -> None:
    with MountProcess(tmp_path / "mnt", tmp_path / "cache", read_only=True) as m:
        fails(errno.EROFS, lambda: os.mkdir(m.mountpoint / "buckets" / "x"))
        assert os.listdir(m.mountpoint) == ["buckets", "threads"]


def test_plain_hub_chmod_fails_explicitly(tmp_path: Path) -> None:
    with MountProcess(tmp_path / "mnt", tmp_path / "cache", plain=True) as m:
        b = m.mountpoint / "buckets" / "b"
        b.mkdir()
        (b / "f").write_text("x")
        fails(errno.EPERM, lambda: os.chmod(b / "f", 0o600))
        fails(errno.EPERM, lambda: os.symlink("f", b / "l"))
        assert (b / "f").read_text() == "x"


def test_hub_stopped_while_mounted(tmp_path: Path) -> None:
    with MountProcess(tmp_path / "mnt", tmp_path / "cache") as m:
        b = m.mountpoint / "buckets" / "b"
        b.mkdir()
        (b / "f").write_text("x")
        m.signal(signal.SIGUSR1)  # hub goes away
        time.sleep(1.2)
        start = time.monotonic()
        assert os.listdir(b) == ["f"]  # listed before: served while the hub is away
        assert os.stat(b / "f").st_size == 1
        fails(errno.EHOSTDOWN, lambda: (b / "g").write_text("y"))
        assert time.monotonic() - start < 5
        m.signal(signal.SIGUSR2)  # and comes back
        time.sleep(0.2)
        (b / "g").write_text("y")
        assert sorted(os.listdir(b)) == ["f", "g"]
        log = m.log()
    assert "EHOSTDOWN (hub fake:hub)" in log
