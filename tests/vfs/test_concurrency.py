"""Concurrent writers (the conflict rule of vfs/writes.py and docs/SEMANTICS.md)."""

from __future__ import annotations

import os

import trio

from bucketfs.testing.fakehub import seed_bucket

from .conftest import Env


def test_push_after_an_unrelated_change_is_retried_on_the_new_root(env: Env) -> None:
    seed_bucket(env.hub, "b", [("mine", b"1"), ("theirs", b"2")])

    async def body() -> None:
        other = env.new_vfs()
        await other.start()
        mine = await env.resolve("b/mine")
        await env.resolve("b/theirs", other)
        fh = await env.vfs.open(mine.ino, os.O_WRONLY | os.O_TRUNC)
        await env.vfs.write(fh, 0, b"ours")
        await env.write("b/theirs", b"changed", other)  # moves the bucket root on
        await env.vfs.release(fh)
        assert env.api_file("b", "mine") == b"ours"
        assert env.api_file("b", "theirs") == b"changed"
        assert env.vfs.status()["conflicts"] == []

    env.run(body)


def test_both_versions_kept_when_the_same_file_changed(env: Env) -> None:
    seed_bucket(env.hub, "b", [("doc", b"base")])

    async def body() -> None:
        other = env.new_vfs()
        await other.start()
        doc = await env.resolve("b/doc")
        fh = await env.vfs.open(doc.ino, os.O_WRONLY | os.O_TRUNC)
        await env.vfs.write(fh, 0, b"ours")
        await env.write("b/doc", b"theirs", other)
        await env.vfs.release(fh)
        names = await env.ls("b")  # the conflict copy shows at once where it was made
        assert names[0] == "doc" and names[1].startswith("doc.conflict-") and len(names) == 2
        assert env.api_file("b", "doc") == b"theirs"
        assert env.api_file("b", names[1]) == b"ours"
        assert len(env.vfs.status()["conflicts"]) == 1  # type: ignore[arg-type]

    env.run(body)


def test_parallel_writers_in_one_mount_do_not_lose_data(env: Env) -> None:
    async def body() -> None:
        await env.mkdir("b")

        async def writer(i: int) -> None:
            await env.write(f"b/f{i}", f"content {i}".encode())

        async with trio.open_nursery() as n:
            for i in range(20):
                n.start_soon(writer, i)
        for i in range(20):
            assert env.api_file("b", f"f{i}") == f"content {i}".encode()
        assert env.vfs.status()["conflicts"] == []

    env.run(body)
