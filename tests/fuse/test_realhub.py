"""A real mount over a real hub subprocess (``bucketfs hub serve``): ordinary tools inside the
mount, results checked through the mount and through the Buckets API; the hub stopped while
mounted."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import trio

from bucketfs.remote.session import HubConfig, HubSession
from bucketfs.testing.hubproc import HubProcess
from bucketfs.testing.mountproc import MountProcess
from bucketfs.vfs.cids import file_cid

from .conftest import sh

T = TypeVar("T")


class Api:
    """The hub seen through the remote clients, from the test process."""

    def __init__(self, address: str, key: str, secret: str) -> None:
        self.config = HubConfig(address, key, secret, None)

    def call(self, fn: Callable[[HubSession], Awaitable[T]]) -> T:
        async def main() -> T:
            session = await HubSession.connect(self.config)
            try:
                return await fn(session)
            finally:
                await session.aclose()

        return trio.run(main)

    def bucket(self, s: HubSession, name: str) -> Awaitable[tuple[str, str]]:
        async def find() -> tuple[str, str]:
            found = await s.users.get_thread("buckets")
            assert found is not None
            roots = [r for r in await s.buckets.list(found[0]) if r.name == name]
            assert len(roots) == 1, roots
            return found[0], roots[0].key

        return find()

    def children(self, bucket: str, path: str) -> list[str]:
        async def run(s: HubSession) -> list[str]:
            thread, key = await self.bucket(s, bucket)
            listing = await s.buckets.list_path(thread, key, path)
            return sorted(c.name for c in listing.children if c.name != ".textileseed")

        return self.call(run)

    def content(self, bucket: str, path: str) -> bytes:
        async def run(s: HubSession) -> bytes:
            thread, key = await self.bucket(s, bucket)
            return b"".join([c async for c in s.buckets.pull_path(thread, key, path)])

        return self.call(run)

    def cid(self, bucket: str, path: str) -> str:
        async def run(s: HubSession) -> str:
            thread, key = await self.bucket(s, bucket)
            return (await s.buckets.list_path(thread, key, path)).item.cid

        return self.call(run)


@pytest.fixture(scope="module")
def hub() -> Iterator[HubProcess]:
    with HubProcess() as process:
        yield process


@pytest.fixture(scope="module")
def real(
    hub: HubProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[MountProcess, Api]]:
    key, secret = hub.create_key(type="account")
    base = tmp_path_factory.mktemp("real")
    with MountProcess(base / "mnt", base / "cache", hub=(hub.address, key, secret)) as m:
        yield m, Api(hub.address, key, secret)
        log = m.log()
    assert "Traceback" not in log, log


@pytest.fixture
def rb(real: tuple[MountProcess, Api], request: pytest.FixtureRequest) -> Path:
    """A fresh bucket on the real hub, named after the test."""
    path = real[0].mountpoint / "buckets" / request.node.name[5:40]
    path.mkdir()
    return path


def test_cp_r_find_and_the_api(rb: Path, src: Path, real: tuple[MountProcess, Api]) -> None:
    api = real[1]
    sh(f"cp -r {src} copy && diff -r {src} copy", rb)
    found = sh("cd copy && find . -type f | sed 's|^./||' | LC_ALL=C sort", rb).split()
    assert found == sorted(p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file())
    assert api.children(rb.name, "copy/vfs") == sorted(os.listdir(src / "vfs"))
    assert api.content(rb.name, "copy/vfs/nodes.py") == (src / "vfs/nodes.py").read_bytes()


def test_mv_and_rm_rf(rb: Path, real: tuple[MountProcess, Api]) -> None:
    mount, api = real
    sh("mkdir -p d/e && echo one > d/e/f && echo two > g && mv g d/g2 && mv d d2", rb)
    assert api.children(rb.name, "") == ["d2"]
    assert api.content(rb.name, "d2/g2") == b"two\n"
    other = mount.mountpoint / "buckets" / f"{rb.name}-b"
    other.mkdir()
    sh(f"mv d2 {other}/moved", rb)  # EXDEV: mv copies
    assert api.content(other.name, "moved/e/f") == b"one\n"
    assert api.children(rb.name, "") == []
    sh("rm -rf moved", other)
    assert api.children(other.name, "") == []


def test_tar_rsync_editor_save_and_git(
    rb: Path, src: Path, tmp_path: Path, real: tuple[MountProcess, Api]
) -> None:
    api = real[1]
    sh(
        f"tar -C {src} -cf {tmp_path}/t.tar fuse && tar -xf {tmp_path}/t.tar && diff -r {src}/fuse fuse",
        rb,
    )
    sh(f"rsync -a {src}/vfs/ r/ && diff -r {src}/vfs r", rb)
    assert sh(f"rsync -a --itemize-changes {src}/vfs/ r/", rb).strip() == ""
    (rb / "doc").write_text("v1")
    (rb / ".doc.swp").write_text("v2")
    os.rename(rb / ".doc.swp", rb / "doc")
    assert api.content(rb.name, "doc") == b"v2"
    sh(
        "git init -q g && cd g && echo hi > a && git add a && "
        "git -c user.name=t -c user.email=t@example.org commit -q -m one",
        rb,
    )
    assert sh("cd g && git status --porcelain && git cat-file -p HEAD:a", rb) == "hi\n"


def test_dd_sha256sum_and_cid_of_a_large_file(
    rb: Path, tmp_path: Path, real: tuple[MountProcess, Api]
) -> None:
    api = real[1]
    big = tmp_path / "big"
    with big.open("wb") as f:
        for i in range(256):
            f.write(hashlib.sha256(str(i).encode()).digest() * 32768)  # 1 MiB of varied bytes
    sh(f"dd if={big} of=big bs=1M status=none conv=fsync", rb)
    assert os.stat(rb / "big").st_size == 256 << 20
    want = hashlib.sha256(big.read_bytes()).hexdigest()
    assert sh("sha256sum big", rb).split()[0] == want
    cid = file_cid(big)  # what `ipfs add --cid-version=1` gives
    assert os.getxattr(rb / "big", "user.ipfs.cid").decode() == cid
    assert api.cid(rb.name, "big") == cid


def test_hub_stopped_while_mounted(tmp_path: Path) -> None:
    with HubProcess() as hub:
        key, secret = hub.create_key(type="account")
        with MountProcess(
            tmp_path / "mnt", tmp_path / "cache", hub=(hub.address, key, secret)
        ) as m:
            b = m.mountpoint / "buckets" / "b"
            b.mkdir()
            (b / "f").write_text("x")
            hub.kill()
            time.sleep(1.2)  # past the listing and attribute timeouts
            start = time.monotonic()
            assert os.listdir(b) == ["f"]  # listed before: served while the hub is away
            with pytest.raises(OSError) as info:
                (b / "g").write_text("y")
            assert info.value.errno == errno.EHOSTDOWN  # docs/SEMANTICS.md, hub unreachable
            assert time.monotonic() - start < 30
            hub.restart()
            deadline = time.monotonic() + 30
            while True:
                try:
                    (b / "g").write_text("yy")  # needs the hub (listings serve from the cache)
                    break
                except OSError:
                    assert time.monotonic() < deadline, "no recovery after the hub came back"
                    time.sleep(0.5)
            assert sorted(os.listdir(b)) == ["f", "g"]
            assert (b / "g").read_text() == "yy"
            log = m.log()
    assert f"(hub {hub.address})" in log


def test_stopping_the_mount_pushes_what_is_still_open(tmp_path: Path) -> None:
    with HubProcess() as hub:
        key, secret = hub.create_key(type="account")
        api = Api(hub.address, key, secret)
        m = MountProcess(tmp_path / "mnt", tmp_path / "cache", hub=(hub.address, key, secret))
        with m:
            b = m.mountpoint / "buckets" / "b"
            b.mkdir()
            fd = os.open(b / "open", os.O_WRONLY | os.O_CREAT, 0o644)
            os.write(fd, b"written, never closed")
            assert m.stop() == 0  # SIGTERM: flush_all, then unmount
            with contextlib.suppress(OSError):  # the mount went away under the descriptor
                os.close(fd)
        assert not os.path.ismount(m.mountpoint)
        assert api.content("b", "open") == b"written, never closed"
