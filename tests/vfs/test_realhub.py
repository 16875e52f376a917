"""The vfs over a real hub subprocess through the remote clients (STYLE §5: the behaviours that
depend on the hub, run against the real one): empty directories, attributes, symlinks, paged
listings, streaming reads and the conflict rule."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import trio

from bucketfs.remote.session import HubConfig, HubSession
from bucketfs.testing.hubproc import HubProcess
from bucketfs.vfs import Vfs
from bucketfs.vfs.cids import EMPTY_DIR_CID
from bucketfs.vfs.nodes import BUCKETS_INO
from bucketfs.vfs.reader import READAHEAD


@pytest.fixture(scope="module")
def hub_config() -> Iterator[HubConfig]:
    with HubProcess() as hub:
        key, secret = hub.create_key(type="account")
        yield HubConfig(hub.address, key, secret, None)


class Mounts:
    """Vfs instances (each with its own session and cache) over one real hub."""

    def __init__(self, config: HubConfig, tmp: Path) -> None:
        self.config, self.tmp, self.sessions = config, tmp, list[HubSession]()

    async def vfs(self) -> Vfs:
        session = await HubSession.connect(self.config)
        self.sessions.append(session)
        vfs = Vfs(session, cache_dir=self.tmp / f"c{len(self.sessions)}", cache_max_bytes=1 << 30)
        await vfs.start()
        return vfs

    def run(self, body: Callable[[], Awaitable[None]]) -> None:
        async def main() -> None:
            try:
                await body()
            finally:
                for s in self.sessions:
                    await s.aclose()

        trio.run(main)


@pytest.fixture
def mounts(hub_config: HubConfig, tmp_path: Path) -> Mounts:
    return Mounts(hub_config, tmp_path)


async def resolve(vfs: Vfs, path: str) -> int:
    ino = BUCKETS_INO
    for part in path.split("/"):
        ino = (await vfs.lookup(ino, part)).ino
    return ino


async def write(vfs: Vfs, path: str, data: bytes) -> None:
    head, _, name = path.rpartition("/")
    fh, _ = await vfs.create(await resolve(vfs, head), name, 0o644, os.O_WRONLY | os.O_CREAT)
    for off in range(0, len(data), 1 << 20):
        await vfs.write(fh, off, data[off : off + (1 << 20)])
    await vfs.release(fh)


async def read(vfs: Vfs, path: str, off: int = 0, size: int = 1 << 40) -> bytes:
    fh = await vfs.open(await resolve(vfs, path), os.O_RDONLY)
    out = bytearray()
    while len(out) < size and (
        chunk := await vfs.read(fh, off + len(out), min(1 << 17, size - len(out)))
    ):
        out += chunk
    await vfs.release(fh)
    return bytes(out)


async def names(vfs: Vfs, path: str) -> list[str]:
    return [n for n, _ in await vfs.readdir(await resolve(vfs, path))]


def test_empty_directories_attributes_and_symlinks(mounts: Mounts) -> None:
    async def body() -> None:
        a, b = await mounts.vfs(), await mounts.vfs()
        bucket = await a.mkdir(BUCKETS_INO, "attrs", 0o755)
        empty = await a.mkdir(bucket.ino, "empty", 0o755)
        await write(a, "attrs/f", b"hello")
        f = await resolve(a, "attrs/f")
        await a.setattr(f, mode=0o100600, mtime=1_600_000_000_000_000_000)
        await a.symlink(bucket.ino, "link", "f")
        assert await names(b, "attrs") == ["empty", "f", "link"]
        assert await names(b, "attrs/empty") == []
        assert (
            await b.getxattr(await resolve(b, "attrs/empty"), "user.ipfs.cid")
            == EMPTY_DIR_CID.encode()
        )
        attr = await b.getattr(await resolve(b, "attrs/f"))
        assert (attr.mode & 0o777, attr.mtime, attr.size) == (0o600, 1_600_000_000_000_000_000, 5)
        assert await b.readlink(await resolve(b, "attrs/link")) == "f"
        await a.rmdir(bucket.ino, "empty")
        assert empty.ino not in [x.ino for _, x in await a.readdir(bucket.ino)]

    mounts.run(body)


def test_paged_listing(mounts: Mounts) -> None:
    async def body() -> None:
        a = await mounts.vfs()
        await a.mkdir(BUCKETS_INO, "many", 0o755)
        thread, key = a.index.thread, a.index.by_name["many"].key
        assert thread is not None

        async def one(i: int) -> AsyncIterator[bytes]:
            yield str(i).encode()

        files = [(f"f{i:04}", one(i)) for i in range(1100)]
        await a.api.push_paths(thread, key, files)  # type: ignore[attr-defined]
        b = await mounts.vfs()
        listed = await names(b, "many")
        assert listed == [f"f{i:04}" for i in range(1100)]  # two pages of 1000

    mounts.run(body)


def test_first_bytes_before_the_whole_file(mounts: Mounts) -> None:
    data = os.urandom(24 << 20)

    async def body() -> None:
        a, b = await mounts.vfs(), await mounts.vfs()
        await a.mkdir(BUCKETS_INO, "stream", 0o755)
        await write(a, "stream/big", data)
        assert await read(b, "stream/big", 0, 4096) == data[:4096]
        assert b.fetcher.bytes_pulled <= READAHEAD
        assert await read(b, "stream/big", len(data) - 100) == data[-100:]
        assert await read(b, "stream/big") == data

    mounts.run(body)


def test_conflict_rule(mounts: Mounts) -> None:
    async def body() -> None:
        a, b = await mounts.vfs(), await mounts.vfs()
        await a.mkdir(BUCKETS_INO, "race", 0o755)
        await write(a, "race/doc", b"base")
        await write(a, "race/mine", b"base")
        # an unrelated change in between: our push is retried on the new root
        fh = await a.open(await resolve(a, "race/mine"), os.O_WRONLY | os.O_TRUNC)
        await a.write(fh, 0, b"ours")
        await write(b, "race/other", b"x")
        await a.release(fh)
        # the same file changed by the other writer: both versions are kept
        fh = await a.open(await resolve(a, "race/doc"), os.O_WRONLY | os.O_TRUNC)
        await a.write(fh, 0, b"ours")
        await write(b, "race/doc", b"theirs")
        await a.release(fh)
        c = await mounts.vfs()
        listed = await names(c, "race")
        copies = [n for n in listed if n.startswith("doc.conflict-")]
        assert len(copies) == 1 and sorted(set(listed) - set(copies)) == ["doc", "mine", "other"]
        assert await read(c, "race/doc") == b"theirs"
        assert await read(c, f"race/{copies[0]}") == b"ours"
        assert await read(c, "race/mine") == b"ours"
        assert len(a.status()["conflicts"]) == 1  # type: ignore[arg-type]

    mounts.run(body)


def test_eight_writers_and_a_lister_never_make_conflicts(mounts: Mounts) -> None:
    """Distinct new names written concurrently by 8 tasks of one mount while a second mount
    lists the directory and changes another path: every file under its own name."""

    async def body() -> None:
        a, lister = await mounts.vfs(), await mounts.vfs()
        await a.mkdir(BUCKETS_INO, "crowd", 0o755)
        await write(a, "crowd/seed", b"s")
        done = trio.Event()

        async def writer(w: int) -> None:
            for i in range(12):
                await write(a, f"crowd/w{w}-{i}", f"{w}/{i}".encode() * 50)

        async def list_and_change() -> None:
            n = 0
            while not done.is_set():
                await names(lister, "crowd")
                await write(lister, "crowd/seed", str(n).encode())
                n += 1

        async with trio.open_nursery() as nursery:
            nursery.start_soon(list_and_change)
            async with trio.open_nursery() as writers:
                for w in range(8):
                    writers.start_soon(writer, w)
            done.set()
        fresh = await mounts.vfs()
        listed = await names(fresh, "crowd")
        assert sorted(listed) == sorted(
            ["seed"] + [f"w{w}-{i}" for w in range(8) for i in range(12)]
        )
        assert a.status()["conflicts"] == [] and lister.status()["conflicts"] == []

    mounts.run(body)
