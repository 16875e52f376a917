"""Listings validated by bucket root (vfs.core, vfs.bucketstate) over a hub without Listen:
what a walk costs once the listings are cached, when the hub is asked again, prefetching."""

from __future__ import annotations

import trio

from bucketfs.testing.fakehub import seed_bucket
from bucketfs.vfs.bucketstate import BucketStates
from bucketfs.vfs.core import KERNEL_TTL, LIST_TTL, PREFETCH_MAX
from bucketfs.vfs.nodes import BUCKETS_INO, ROOT_INO, THREADS_INO

from .conftest import Env

TREE = [
    (f"d{i}/e{j}/f{k}", b"x" * (i + j + k)) for i in range(3) for j in range(3) for k in range(2)
]
DIRS = ["t"] + [f"t/d{i}" for i in range(3)] + [f"t/d{i}/e{j}" for i in range(3) for j in range(3)]
FILES = [f"t/{p}" for p, _ in TREE]


async def walk(env: Env) -> None:
    for path in DIRS:
        await env.ls(path)
    for path in FILES:
        a = await env.resolve(path)
        await env.vfs.getattr(a.ino)


async def settle() -> None:
    """Let background prefetches finish."""
    for _ in range(50):
        await trio.sleep(0.002)


def test_a_walk_past_the_ttl_costs_one_root_call(env: Env) -> None:
    seed_bucket(env.hub, "t", TREE)

    async def body() -> None:
        await walk(env)
        await settle()
        assert env.hub.calls["list_path"] == len(DIRS)  # each directory listed once
        env.hub.calls.clear()
        await walk(env)
        assert sum(env.hub.calls.values()) == 0
        await trio.sleep(LIST_TTL + 0.1)
        await walk(env)
        assert env.hub.calls["root"] == 1
        assert env.hub.calls["list_path"] == 0
        assert env.hub.calls["list"] == 1  # the bucket index (buckets/ itself)

    env.run(body)


def test_another_clients_change_deep_in_the_tree_shows_after_the_ttl(env: Env) -> None:
    seed_bucket(env.hub, "t", TREE)

    async def body() -> None:
        await walk(env)
        other = env.new_vfs()
        await other.start()
        await env.write("t/d2/e2/new", b"hello", other)
        await trio.sleep(LIST_TTL + 0.1)
        assert "new" in await env.ls("t/d2/e2")
        assert await env.read("t/d2/e2/new") == b"hello"

    env.run(body)


def test_own_checked_pushes_keep_the_cache_and_unchecked_changes_revalidate(env: Env) -> None:
    seed_bucket(env.hub, "t", TREE)

    async def body() -> None:
        await walk(env)
        await settle()
        await env.write("t/d0/e0/mine", b"pushed with a root check")
        await trio.sleep(LIST_TTL + 0.1)
        env.hub.calls.clear()
        await walk(env)
        assert (await env.resolve("t/d0/e0/mine")).size == 24
        assert env.hub.calls["list_path"] == 0 and env.hub.calls["root"] == 1
        parent = await env.resolve("t/d0/e0")
        await env.vfs.unlink(parent.ino, "mine")  # RemovePath with a root check
        await env.mkdir("t/d0/e0/sub")  # SetPath with a root check
        await env.vfs.rename(parent.ino, "sub", parent.ino, "moved")  # MovePath, checked
        await trio.sleep(LIST_TTL + 0.1)
        env.hub.calls.clear()
        await walk(env)
        assert env.hub.calls["list_path"] == 0 and env.hub.calls["root"] == 1
        assert sorted(await env.ls("t/d0/e0")) == ["f0", "f1", "moved"]
        mine = await env.resolve("t/d0/e0/f0")
        await env.vfs.setattr(mine.ino, mode=0o600)  # SetPathAttrs has no root check
        await trio.sleep(LIST_TTL + 0.1)
        env.hub.calls.clear()
        await walk(env)
        assert env.hub.calls["root"] == 1
        assert env.hub.calls["list_path"] == len(DIRS) + 1  # the bucket was re-read (+ moved/)
        assert "moved" in await env.ls("t/d0/e0")

    env.run(body)


def test_listing_a_directory_prefetches_its_subdirectories(env: Env) -> None:
    seed_bucket(env.hub, "t", TREE)

    async def body() -> None:
        await env.ls("t")
        await settle()
        assert env.hub.calls["list_path"] == 1 + 3 + 9  # t and two levels of subdirectories
        env.hub.calls.clear()
        for i in range(3):
            assert await env.ls(f"t/d{i}") == ["e0", "e1", "e2"]
            for j in range(3):
                assert len(await env.ls(f"t/d{i}/e{j}")) == 2
        await settle()
        assert env.hub.calls["list_path"] == 0

    env.run(body)


def test_prefetch_is_bounded_per_listing(env: Env) -> None:
    seed_bucket(env.hub, "wide", [(f"d{i:04}/f", b"") for i in range(PREFETCH_MAX + 40)])

    async def body() -> None:
        await env.ls("wide")
        await settle()
        assert env.hub.calls["list_path"] == 1 + PREFETCH_MAX  # the files need no listing

    env.run(body)


def test_kernel_timeouts_without_a_listen_stream(env: Env) -> None:
    seed_bucket(env.hub, "t", TREE)

    async def body() -> None:
        a = await env.resolve("t/d0/e0/f0")
        assert a.ttl == KERNEL_TTL
        b = await env.resolve("t")
        assert env.vfs.negative_ttl(b.ino) == KERNEL_TTL
        assert env.vfs.negative_ttl(BUCKETS_INO) == KERNEL_TTL
        assert env.vfs.negative_ttl(ROOT_INO) == 0.0
        assert env.vfs.negative_ttl(THREADS_INO) == 0.0
        assert env.vfs.negative_ttl(10**9) == 0.0

    env.run(body)


def test_event_roots_are_held_while_own_calls_run() -> None:
    states = BucketStates()
    foreign: list[tuple[str, list[str]]] = []
    states.on_idle = lambda key, roots: foreign.append((key, roots))
    states.started("k")
    assert states.is_own("k", "/ipfs/mine") is None  # our call has not returned yet
    assert states.is_own("k", "/ipfs/theirs") is None
    states.finished("k", "/ipfs/mine", checked=True)
    assert foreign == [("k", ["/ipfs/theirs"])]
    assert states.is_own("k", "/ipfs/mine") is False  # its one event was seen already
    states.started("k")
    states.finished("k", "/ipfs/r2", checked=True)
    assert states.is_own("k", "/ipfs/r2") is True
    assert states.is_own("k", "/ipfs/r2") is False  # e.g. another client's chmod
    assert not states["k"].tainted
    states.started("k")
    states.finished("k", "", checked=False)
    assert states["k"].tainted
    gen = states["k"].gen
    assert states.bump("k") == gen + 1 and not states["k"].tainted
