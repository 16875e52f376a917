"""Reads through a real mount over a real hub: kept pages never hide another client's change,
random reads of a file the mount never saw, and the verified copy in the content cache."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from bucketfs.remote.session import HubConfig, HubSession
from bucketfs.testing.hubproc import HubProcess
from bucketfs.testing.mountproc import MountProcess
from bucketfs.vfs.cids import file_cid


class Mounted:
    def __init__(self, mount: MountProcess, cache: Path, config: HubConfig) -> None:
        self.mount, self.cache, self.config = mount, cache, config

    def push(self, bucket: str, path: str, data: bytes, mtime: int = 0) -> None:
        """Write ``path`` as another client would (straight to the hub)."""

        async def main() -> None:
            s = await HubSession.connect(self.config)
            try:
                found = await s.users.get_thread("buckets")
                assert found is not None
                (root,) = [r for r in await s.buckets.list(found[0]) if r.name == bucket]

                async def chunks() -> Iterator[bytes]:  # type: ignore[misc]
                    yield data

                await s.buckets.push_path(
                    found[0], root.key, path, chunks(), size=len(data), mtime=mtime
                )
            finally:
                await s.aclose()

        trio.run(main)


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mounted]:
    base = tmp_path_factory.mktemp("readcache")
    with HubProcess() as hub:
        key, secret = hub.create_key(type="account")
        with MountProcess(base / "mnt", base / "cache", hub=(hub.address, key, secret)) as m:
            yield Mounted(m, base / "cache", HubConfig(hub.address, key, secret, None))
            log = m.log()
    assert "Traceback" not in log, log


def _bucket(real: Mounted, name: str) -> Path:
    path = real.mount.mountpoint / "buckets" / name
    path.mkdir()
    return path


def test_kept_pages_never_hide_another_clients_change(real: Mounted) -> None:
    b = _bucket(real, "kept")
    one, two = os.urandom(1 << 20), os.urandom(1 << 20)
    (b / "f").write_bytes(one)
    for _ in range(3):  # the first read open drops the pages, the next ones keep them
        assert (b / "f").read_bytes() == one
    # same length and time: only the CID tells the kernel's pages are stale
    real.push(b.name, "f", two, mtime=os.stat(b / "f").st_mtime_ns)
    deadline = time.monotonic() + 10
    while True:
        seen = (b / "f").read_bytes()
        assert seen in (one, two)  # whole versions only, never pages of both
        if seen == two or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert seen == two
    assert (b / "f").read_bytes() == two


def test_random_reads_of_a_file_written_elsewhere(real: Mounted) -> None:
    b = _bucket(real, "random")
    data = random.Random(3).randbytes(40 << 20)
    real.push(b.name, "big", data)
    rng = random.Random(4)
    fd = os.open(b / "big", os.O_RDONLY)
    try:
        for _ in range(300):
            off = rng.randrange(len(data))
            assert os.pread(fd, 4096, off) == data[off : off + 4096]
    finally:
        os.close(fd)
    assert hashlib.sha256((b / "big").read_bytes()).digest() == hashlib.sha256(data).digest()
    cid = os.getxattr(b / "big", "user.ipfs.cid").decode()
    cached = real.cache / "content" / cid
    deadline = time.monotonic() + 30
    while not cached.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert file_cid(cached) == cid  # verified before it entered the cache


def _resident(path: Path) -> int:
    """Bytes of ``path`` in the kernel's page cache."""
    out = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip() or 0)


def test_cached_file_read_at_random_is_handed_to_the_kernel(real: Mounted) -> None:
    b = _bucket(real, "warm")
    data = random.Random(5).randbytes(8 << 20)
    (b / "f").write_bytes(data)  # enters the mount's cache as pushed
    fd = os.open(b / "f", os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        assert _resident(b / "f") < len(data) // 2
        rng = random.Random(6)
        for _ in range(64):
            off = rng.randrange(0, len(data), 4096)
            assert os.pread(fd, 4096, off) == data[off : off + 4096]
        deadline = time.monotonic() + 10
        while _resident(b / "f") < len(data) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _resident(b / "f") == len(data)
        for _ in range(64):  # what the kernel holds is the file
            off = rng.randrange(0, len(data), 4096)
            assert os.pread(fd, 4096, off) == data[off : off + 4096]
    finally:
        os.close(fd)
    assert (b / "f").read_bytes() == data
