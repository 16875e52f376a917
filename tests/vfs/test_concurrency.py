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


def test_many_writers_creating_distinct_names_with_a_lister_never_conflict(env: Env) -> None:
    """8 writers each creating files in one directory while another mount lists it: distinct
    names are never conflicts, however often the bucket's root moves under a push."""

    async def body() -> None:
        await env.mkdir("b")
        await env.mkdir("b/d")
        lister = env.new_vfs()
        await lister.start()
        done = trio.Event()

        async def writer(w: int) -> None:
            for i in range(25):
                await env.write(f"b/d/w{w}-{i}", f"{w}/{i}".encode() * 100)
                await trio.sleep(0)

        async def list_until_done() -> None:
            while not done.is_set():
                await env.ls("b/d", lister)
                await env.write("b/other", b"x", lister)  # and changes the bucket elsewhere
                await trio.sleep(0)

        async with trio.open_nursery() as n:
            n.start_soon(list_until_done)
            async with trio.open_nursery() as writers:
                for w in range(8):
                    writers.start_soon(writer, w)
            done.set()
        fresh = env.new_vfs()
        await fresh.start()
        names = await env.ls("b/d", fresh)
        assert sorted(names) == sorted(f"w{w}-{i}" for w in range(8) for i in range(25))
        assert env.vfs.status()["conflicts"] == []

    env.run(body)


def test_a_listing_older_than_our_change_never_takes_the_file_back(env: Env) -> None:
    """A listing fetched before our last push finished (the Listen watcher's, a revalidation
    raced by our push) shows the version before ours: applying it must not take the node back
    (the next read would return stale bytes, and a read-modify-write would drop our change)."""

    async def body() -> None:
        await env.mkdir("b")
        other = env.new_vfs()
        await other.start()
        await env.write("b/f", b"v1")
        b = await env.resolve("b")
        thread = env.vfs.thread()
        key = env.vfs.inodes.get(b.ino).bucket
        before = (await env.vfs.api.list_path(thread, key, "")).children  # fetched before ...
        await env.write("b/f", b"v2")  # ... our push ends, applied after it
        node = env.vfs.inodes.get((await env.resolve("b/f")).ino)
        env.vfs.apply(node, next(e for e in before if e.name == "f"))
        await env.write("b/g", b"theirs", other)  # the root moves on: our next push is refused
        assert await env.read("b/f") == b"v2"
        fh = await env.vfs.open(node.ino, os.O_RDWR)
        await env.vfs.write(fh, 2, b"+")
        await env.vfs.release(fh)
        assert env.api_file("b", "f") == b"v2+"
        assert env.vfs.status()["conflicts"] == []

    env.run(body)


def test_a_push_the_hub_stored_before_it_could_answer_is_not_a_conflict(env: Env) -> None:
    """The hub stored our push and died before answering (kill -9); the retry finds the path
    holding exactly the staged bytes: done, no ``.conflict-`` copy (found by scripts/killloop)."""

    async def body() -> None:
        await env.mkdir("b")
        await env.write("b/f", b"v1")
        other = env.new_vfs()
        await other.start()
        ino = (await env.resolve("b/f")).ino
        fh = await env.vfs.open(ino, os.O_WRONLY | os.O_TRUNC)
        await env.vfs.write(fh, 0, b"v2")
        await env.write("b/f", b"v2", other)  # what the lost first attempt stored
        await env.vfs.release(fh)
        assert sorted(await env.ls("b")) == ["f"]
        assert env.api_file("b", "f") == b"v2"
        assert env.vfs.status()["conflicts"] == []

    env.run(body)


def test_the_ledger_moves_what_we_stored_with_a_rename() -> None:
    from bucketfs.vfs.ledger import BucketLedger

    ledger = BucketLedger()
    ledger.stored("k", "d/f", "c1")
    ledger.stored("k", "d/f", "c2")
    ledger.stored("k", "d/sub/g", "c3")
    ledger.moved("k", "d/f", "d/h", is_dir=False)
    assert ledger.older("k", "d/h", "c1", "c2") and not ledger.older("k", "d/f", "c1", "c2")
    ledger.moved("k", "d", "e", is_dir=True)
    assert ledger.older("k", "e/h", "c1", "c2")
    ledger.stored("k", "e/sub/g", "c4")
    assert ledger.older("k", "e/sub/g", "c3", "c4")
