"""The namespace: top level, buckets/ (mkdir, rmdir, duplicate names), hidden seed, listings."""

from __future__ import annotations

import pytest

from bucketfs.errors import AlreadyExists, InvalidArgument, NotEmpty, NotFound, PermissionDenied
from bucketfs.testing.fakehub import seed_bucket
from bucketfs.vfs.cids import EMPTY_DIR_CID, EMPTY_DIR_NODE
from bucketfs.vfs.namespace import dir_names
from bucketfs.vfs.nodes import BUCKETS_INO, ROOT_INO, THREADS_INO

from .conftest import Env


def test_empty_dir_cid_is_the_unixfs_empty_directory() -> None:
    assert EMPTY_DIR_NODE == b"\x0a\x02\x08\x01"
    assert EMPTY_DIR_CID == "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"


def test_top_level_holds_buckets_and_threads(env: Env) -> None:
    async def body() -> None:
        assert [n for n, _ in await env.vfs.readdir(ROOT_INO)] == ["buckets", "threads"]
        assert await env.vfs.readdir(THREADS_INO) == []
        assert await env.vfs.readdir(BUCKETS_INO) == []
        with pytest.raises(PermissionDenied):  # EACCES (threads/: tests/vfs/test_threads.py)
            await env.vfs.mkdir(ROOT_INO, "other", 0o755)

    env.run(body)


def test_mkdir_creates_bucket_and_its_thread_on_demand(env: Env) -> None:
    async def body() -> None:
        assert env.hub.threads == {}
        await env.mkdir("photos")
        assert list(env.hub.threads.values()) == ["buckets"]
        assert [b.root.name for b in env.hub.buckets.values()] == ["photos"]
        assert await env.ls("") == ["photos"]
        with pytest.raises(AlreadyExists):  # EEXIST
            await env.mkdir("photos")
        with pytest.raises(InvalidArgument):  # EINVAL
            await env.mkdir("a~b")

    env.run(body)


def test_rmdir_bucket_only_when_empty(env: Env) -> None:
    async def body() -> None:
        await env.mkdir("b")
        await env.write("b/f", b"x")
        with pytest.raises(NotEmpty):  # ENOTEMPTY
            await env.vfs.rmdir(BUCKETS_INO, "b")
        bino = (await env.resolve("b")).ino
        await env.vfs.unlink(bino, "f")
        await env.vfs.rmdir(BUCKETS_INO, "b")
        assert env.hub.buckets == {}
        with pytest.raises(NotFound):  # ENOENT
            await env.resolve("b")

    env.run(body)


def test_seed_is_hidden_and_reserved(env: Env) -> None:
    async def body() -> None:
        b = await env.mkdir("b")
        assert await env.ls("b") == []
        with pytest.raises(NotFound):
            await env.vfs.lookup(b.ino, ".textileseed")
        with pytest.raises(InvalidArgument):  # EINVAL
            await env.write("b/.textileseed", b"x")

    env.run(body)


def test_duplicate_bucket_names_get_distinct_directories(env: Env) -> None:
    first = seed_bucket(env.hub, "same", [("a", b"1")])
    second = seed_bucket(env.hub, "same", [("a", b"2")])
    odd = seed_bucket(env.hub, "x/y")

    async def body() -> None:
        names = await env.ls("")
        assert names == sorted(["same", f"same~{second.key[-8:]}", odd.key])
        assert await env.read("same/a") == b"1"
        assert await env.read(f"same~{second.key[-8:]}/a") == b"2"

    env.run(body)
    assert dir_names([second, first])["same"] == first


def test_mkdir_in_bucket_persists_empty_directory(env: Env) -> None:
    async def body() -> None:
        await env.mkdir("b")
        await env.mkdir("b/empty")
        other = env.new_vfs()
        await other.start()
        assert await env.ls("b", other) == ["empty"]
        assert await env.ls("b/empty", other) == []
        node = env.hub.resolve(next(iter(env.hub.buckets.values())), "empty")
        assert node.cid == EMPTY_DIR_CID
        with pytest.raises(AlreadyExists):
            await env.mkdir("b/empty")
        b = await env.resolve("b")
        await env.vfs.mkdir(b.ino, "private", 0o700)  # mkdir -m 700
        third = env.new_vfs()
        await third.start()
        assert (await env.resolve("b/private", third)).mode & 0o777 == 0o700

    env.run(body)


def test_rmdir_directory(env: Env) -> None:
    async def body() -> None:
        await env.mkdir("b")
        await env.mkdir("b/d")
        await env.write("b/d/f", b"x")
        b = await env.resolve("b")
        with pytest.raises(NotEmpty):
            await env.vfs.rmdir(b.ino, "d")
        from bucketfs.errors import NotADirectory

        d = await env.resolve("b/d")
        with pytest.raises(NotADirectory):  # ENOTDIR
            await env.vfs.rmdir(d.ino, "f")
        await env.vfs.unlink(d.ino, "f")
        await env.vfs.rmdir(b.ino, "d")
        assert await env.ls("b") == []

    env.run(body)


def test_listing_is_paged_and_ls_l_costs_one_listing(env: Env) -> None:
    seed_bucket(env.hub, "big", [(f"f{i:04}", b"x" * i) for i in range(2500)])

    async def body() -> None:
        b = await env.resolve("big")
        env.hub.calls.clear()
        entries = await env.vfs.readdir(b.ino)
        assert len(entries) == 2500
        assert env.hub.calls["list_path"] == 3  # pages of 1000
        for name, attr in entries[:50]:  # what ls -l does: lookup + getattr per entry
            assert (await env.vfs.lookup(b.ino, name)).size == attr.size == int(name[1:])
            await env.vfs.getattr(attr.ino)
        assert env.hub.calls["list_path"] == 3

    env.run(body)


def test_remote_changes_appear_after_the_listing_ttl(env: Env) -> None:
    async def body() -> None:
        await env.mkdir("b")
        assert await env.ls("b") == []
        other = env.new_vfs()
        await other.start()
        await env.write("b/new", b"hello", other)
        import trio

        await trio.sleep(1.1)
        assert await env.ls("b") == ["new"]
        assert await env.read("b/new") == b"hello"

    env.run(body)
