"""Reads: streaming (first bytes before the whole file), range reads, the content cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bucketfs.errors import Unavailable
from bucketfs.testing.fakehub import PLAIN_TEXTILE, seed_bucket
from bucketfs.vfs.cids import file_cid
from bucketfs.vfs.reader import READAHEAD

from .conftest import Env

BIG = os.urandom(30 * 1024 * 1024 + 5)


def test_first_bytes_arrive_before_the_whole_file(env: Env) -> None:
    seed_bucket(env.hub, "b", [("big", BIG)])

    async def body() -> None:
        f = await env.resolve("b/big")
        fh = await env.vfs.open(f.ino, os.O_RDONLY)
        assert await env.vfs.read(fh, 0, 4096) == BIG[:4096]
        assert env.vfs.fetcher.bytes_pulled <= READAHEAD
        far = len(BIG) - 10
        assert await env.vfs.read(fh, far, 100) == BIG[far:]  # a byte-range pull
        assert env.vfs.fetcher.bytes_pulled <= READAHEAD + 10
        await env.vfs.release(fh)

    env.run(body)


def test_whole_read_is_cached_verified_and_reused(env: Env) -> None:
    seed_bucket(env.hub, "b", [("big", BIG[: 3 * 1024 * 1024])])

    async def body() -> None:
        assert await env.read("b/big") == BIG[: 3 * 1024 * 1024]
        env.hub.calls.clear()
        assert await env.read("b/big") == BIG[: 3 * 1024 * 1024]
        assert env.hub.calls["pull_path"] == 0
        await env.vfs.fetcher.settled()  # verified in the background, not by the last read
        cid = (await env.vfs.getxattr((await env.resolve("b/big")).ino, "user.ipfs.cid")) or b""
        cached = env.vfs.cache.lookup(cid.decode())
        assert cached is not None and file_cid(cached) == cid.decode()

    env.run(body)


def test_content_not_matching_its_cid_is_not_cached(env: Env) -> None:
    root = seed_bucket(env.hub, "b", [("f", b"genuine")])
    env.hub.resolve(env.hub.buckets[root.key], "f").data = b"tampered"  # type: ignore[union-attr]

    async def body() -> None:
        assert await env.read("b/f") == b"tampered"  # what the hub sent
        await env.vfs.fetcher.settled()
        assert env.vfs.status()["cache"]["rejected"] == 1  # type: ignore[index]
        assert env.vfs.cache.stats()["files"] == 0

    env.run(body)


def test_cache_stays_within_its_bound(tmp_path: Path) -> None:
    env = Env(tmp_path)
    files = [(f"f{i}", os.urandom(300_000)) for i in range(10)]
    seed_bucket(env.hub, "b", files)

    async def body() -> None:
        small = env.new_vfs(cache_max_bytes=1_000_000)
        await small.start()
        for name, data in files:
            assert await env.read(f"b/{name}", small) == data
            assert small.cache.used <= 1_000_000
        await small.fetcher.settled()
        assert small.cache.stats()["files"] == 3

    env.run(body)


def test_plain_hub_reads_whole_file_in_one_stream(tmp_path: Path) -> None:
    env = Env(tmp_path, PLAIN_TEXTILE)
    seed_bucket(env.hub, "b", [("big", BIG[: 2 * 1024 * 1024])])

    async def body() -> None:
        assert await env.read("b/big") == BIG[: 2 * 1024 * 1024]
        assert env.hub.calls["pull_path"] == 1

    env.run(body)


def test_hub_offline_gives_unavailable_then_recovers(env: Env) -> None:
    seed_bucket(env.hub, "b", [("f", b"1")])

    async def body() -> None:
        f = await env.resolve("b/f")
        fh = await env.vfs.open(f.ino, os.O_RDONLY)
        wfh = await env.vfs.open(f.ino, os.O_RDWR)
        env.hub.offline = True
        with pytest.raises(Unavailable):  # EIO from read(2) of content not cached
            await env.vfs.read(fh, 0, 10)
        with pytest.raises(Unavailable):  # EIO from write(2): the content to change is away
            await env.vfs.write(wfh, 1, b"x")
        await env.vfs.release(fh)
        await env.vfs.release(wfh)
        import trio

        await trio.sleep(1.1)  # past the listing TTL
        assert await env.ls("b") == ["f"]  # listed before: served while the hub is away
        with pytest.raises(Unavailable):
            await env.write("b/g", b"2")
        env.hub.offline = False
        assert "f" in await env.ls("b")  # g as well once the failed close is retried
        await env.write("b/g", b"2")
        assert env.api_file("b", "g") == b"2"

    env.run(body)
