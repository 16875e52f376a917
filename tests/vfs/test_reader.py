"""The read path: background downloads verified as they arrive, random access fetching the
whole file, cached descriptors, files this mount pushed entering the cache, kept pages."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
import trio

from bucketfs.errors import Unavailable
from bucketfs.testing.fakehub import PLAIN_TEXTILE, seed_bucket
from bucketfs.vfs.cids import file_cid
from bucketfs.vfs.reader import FAR, RANDOM_AFTER, READAHEAD

from .conftest import Env

SIZE = 3 * FAR + 12_345
DATA = random.Random(7).randbytes(SIZE)


async def _cid(env: Env, path: str) -> str:
    value = await env.vfs.getxattr((await env.resolve(path)).ino, "user.ipfs.cid")
    assert value is not None
    return value.decode()


def _partials(env: Env) -> list[str]:
    return os.listdir(env.vfs.cache.partial)


def test_random_reads_fetch_the_whole_file_in_the_background(env: Env) -> None:
    seed_bucket(env.hub, "b", [("big", DATA)])
    rng = random.Random(1)

    async def body() -> None:
        f = await env.resolve("b/big")
        fh = await env.vfs.open(f.ino, os.O_RDONLY)
        far = [SIZE - 4096 * (i + 1) for i in range(RANDOM_AFTER)]
        for off in far:  # far beyond any download: range pulls, then the whole file follows
            assert await env.vfs.read(fh, off, 4096) == DATA[off : off + 4096]
        for _ in range(200):
            off = rng.randrange(SIZE)
            assert await env.vfs.read(fh, off, 4096) == DATA[off : off + 4096]
        cid = await _cid(env, "b/big")
        await env.vfs.fetcher.settled()
        while env.vfs.cache.lookup(cid) is None:  # the whole file arrives without more reads
            await trio.sleep(0.01)
            await env.vfs.fetcher.settled()
        pulls = env.hub.calls["pull_path"]
        assert env.vfs.fetcher.bytes_pulled < SIZE + 1 << 20  # each range once, and small pulls
        for _ in range(200):
            off = rng.randrange(SIZE)
            assert await env.vfs.read(fh, off, 4096) == DATA[off : off + 4096]
        assert env.hub.calls["pull_path"] == pulls  # served from the cached file
        await env.vfs.release(fh)
        cached = env.vfs.cache.lookup(cid)
        assert cached is not None and cached.read_bytes() == DATA
        assert _partials(env) == []

    env.run(body)


def test_sequential_read_streams_verifies_and_caches(env: Env) -> None:
    seed_bucket(env.hub, "b", [("big", DATA)])

    async def body() -> None:
        assert await env.read("b/big") == DATA
        assert env.hub.calls["pull_path"] <= 3  # a window, then the rest in one stream
        await env.vfs.fetcher.settled()
        cid = await _cid(env, "b/big")
        cached = env.vfs.cache.lookup(cid)
        assert cached is not None and file_cid(cached) == cid
        assert _partials(env) == [] and env.vfs.fetcher.in_progress() == 0

    env.run(body)


def test_read_does_not_wait_for_more_than_its_bytes(env: Env) -> None:
    seed_bucket(env.hub, "b", [("big", DATA)])

    async def body() -> None:
        f = await env.resolve("b/big")
        fh = await env.vfs.open(f.ino, os.O_RDONLY)
        assert await env.vfs.read(fh, 0, 4096) == DATA[:4096]
        assert env.vfs.fetcher.bytes_pulled <= READAHEAD  # one window ahead, not the file
        await trio.sleep(0.2)
        assert env.vfs.fetcher.bytes_pulled <= READAHEAD  # and it stays one window ahead
        await env.vfs.release(fh)

    env.run(body)


def test_abandoned_download_is_cancelled_and_removed(env: Env) -> None:
    seed_bucket(env.hub, "b", [("big", DATA)])

    async def body() -> None:
        f = await env.resolve("b/big")
        fh = await env.vfs.open(f.ino, os.O_RDONLY)
        assert await env.vfs.read(fh, READAHEAD + 1, 10) == DATA[READAHEAD + 1 : READAHEAD + 11]
        assert _partials(env) != []
        await env.vfs.release(fh)
        for _ in range(100):
            if not _partials(env):
                break
            await trio.sleep(0.01)
        assert _partials(env) == [] and env.vfs.fetcher.in_progress() == 0
        pulled = env.vfs.fetcher.bytes_pulled
        await trio.sleep(0.1)
        assert env.vfs.fetcher.bytes_pulled == pulled < SIZE
        assert env.vfs.cache.stats()["files"] == 0

    env.run(body)


def test_failed_download_fails_the_read_and_the_next_read_resumes(env: Env) -> None:
    seed_bucket(env.hub, "b", [("big", DATA)])

    async def body() -> None:
        f = await env.resolve("b/big")
        fh = await env.vfs.open(f.ino, os.O_RDONLY)
        assert await env.vfs.read(fh, 0, 4096) == DATA[:4096]
        await env.vfs.fetcher.settled()
        have = env.vfs.fetcher.bytes_pulled
        env.hub.offline = True
        with pytest.raises(Unavailable):
            await env.vfs.read(fh, have + 10, 4096)
        env.hub.offline = False
        out = bytearray()
        while chunk := await env.vfs.read(fh, len(out), 1 << 17):
            out += chunk
        assert out == DATA
        await env.vfs.release(fh)
        await env.vfs.fetcher.settled()
        assert env.vfs.cache.lookup(await _cid(env, "b/big")) is not None

    env.run(body)


def test_written_file_enters_the_cache_as_pushed(env: Env) -> None:
    async def body() -> None:
        await env.mkdir("b")
        await env.write("b/f", DATA)
        cid = await _cid(env, "b/f")
        cached = env.vfs.cache.lookup(cid)
        assert cached is not None and cached.read_bytes() == DATA
        assert os.listdir(env.vfs.cache.staging) == []  # moved, not copied
        env.hub.calls.clear()
        assert await env.read("b/f") == DATA
        assert env.hub.calls["pull_path"] == 0

    env.run(body)


def test_cached_file_is_read_through_one_descriptor(env: Env) -> None:
    small = DATA[:100_000]
    seed_bucket(env.hub, "b", [("f", small)])

    async def body() -> None:
        assert await env.read("b/f") == small
        await env.vfs.fetcher.settled()
        f = await env.resolve("b/f")
        handles = [await env.vfs.open(f.ino, os.O_RDONLY) for _ in range(3)]
        fds = len(os.listdir("/proc/self/fd"))
        for fh in handles:
            for off in range(0, 100_000, 8192):
                assert await env.vfs.read(fh, off, 8192) == small[off : off + 8192]
        assert len(os.listdir("/proc/self/fd")) == fds  # no open per read
        assert env.hub.calls["pull_path"] == 1
        for fh in handles:
            await env.vfs.release(fh)

    env.run(body)


def test_plain_hub_verifies_after_its_single_stream(tmp_path: Path) -> None:
    env = Env(tmp_path, PLAIN_TEXTILE)
    seed_bucket(env.hub, "b", [("big", DATA[: 2 * READAHEAD])])

    async def body() -> None:
        f = await env.resolve("b/big")
        fh = await env.vfs.open(f.ino, os.O_RDONLY)
        off = READAHEAD + 3
        assert await env.vfs.read(fh, off, 100) == DATA[off : off + 100]
        assert await env.vfs.read(fh, 0, 100) == DATA[:100]
        while await env.vfs.read(fh, off, 1 << 20):
            off += 1 << 20
        await env.vfs.release(fh)
        await env.vfs.fetcher.settled()
        assert env.hub.calls["pull_path"] == 1
        assert env.vfs.cache.lookup(await _cid(env, "b/big")) is not None

    env.run(body)


def test_whole_file_for_a_rewrite_waits_for_verification(env: Env) -> None:
    seed_bucket(env.hub, "b", [("f", DATA)])

    async def body() -> None:
        f = await env.resolve("b/f")
        fh = await env.vfs.open(f.ino, os.O_RDWR)
        await env.vfs.write(fh, 5, b"xyz")
        await env.vfs.release(fh)
        assert env.api_file("b", "f") == DATA[:5] + b"xyz" + DATA[8:]

    env.run(body)


def test_kept_pages_only_for_the_same_cid(env: Env) -> None:
    fetcher = env.vfs.fetcher
    assert not fetcher.keep_pages(10, "a")  # first open: the kernel may hold anything
    assert fetcher.keep_pages(10, "a")
    assert not fetcher.keep_pages(10, "b")  # changed elsewhere: a new CID drops the pages
    assert fetcher.keep_pages(10, "b")
    assert not fetcher.keep_pages(10, "")  # staged (written here)
    assert not fetcher.keep_pages(10, "b")
    assert not fetcher.keep_pages(11, "b")


def test_handles_leave_nothing_behind(env: Env) -> None:
    seed_bucket(env.hub, "b", [("f", DATA[:1000]), ("g", DATA[:2000])])

    async def body() -> None:
        assert await env.read("b/f") == DATA[:1000]
        await env.vfs.fetcher.settled()
        for name in ("f", "g"):  # cached, and not cached: opened, never read
            fh = await env.vfs.open((await env.resolve(f"b/{name}")).ino, os.O_RDONLY)
            await env.vfs.release(fh)
        assert env.vfs.fetcher._files == {}

    env.run(body)
