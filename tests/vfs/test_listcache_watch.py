"""The buckets DB's Listen stream (vfs.bucketwatch): other clients' changes refresh only what
changed and reach the kernel; our own changes do not; a broken stream falls back to short
timeouts and resynchronises. The fake hub here sends one event per bucket change, with the new
root, before the changing call returns (the order a real hub may use too)."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from bucketfs.remote.types import BucketRoot, Capabilities, ListenAction, ListenEvent
from bucketfs.testing.fakehub import (
    FakeHub,
    FakeSession,
    FakeThreads,
    _Bucket,
    _File,
    seed_bucket,
)
from bucketfs.vfs import Vfs, core
from bucketfs.vfs.bucketwatch import SUBSCRIBE_TIME
from bucketfs.vfs.core import KERNEL_TTL, KERNEL_TTL_WATCHED, LIST_TTL

from .conftest import Env

TREE = [("d1/a", b"1"), ("d1/b", b"2"), ("d2/c", b"3"), ("d2/sub/e", b"4"), ("top", b"5")]


class ListeningHub(FakeHub):
    def __init__(self) -> None:
        super().__init__()
        self.listeners: list[trio.MemorySendChannel[ListenEvent]] = []

    def _touch(self, b: _Bucket) -> BucketRoot:
        root = super()._touch(b)
        doc = {"_id": root.key, "name": root.name, "path": root.path}
        for send in self.listeners:
            send.send_nowait(ListenEvent("buckets", root.key, ListenAction.SAVE, doc))
        return root

    def theirs(self, bucket: str, path: str, data: bytes | None) -> None:
        """Another client writes (or, with None, removes) ``path``."""
        b = next(b for b in self.buckets.values() if b.root.name == bucket)
        parent, name = self._parent(b, path, create=True)
        if data is None:
            del parent.children[name]
        else:
            parent.children[name] = _File(data, 0o100644, 1)
        self._touch(b)

    def break_streams(self) -> None:
        for send in self.listeners:
            send.close()


class ListeningThreads(FakeThreads):
    hub: ListeningHub

    @asynccontextmanager
    async def listen(self, db: str, filters: Any = ()) -> AsyncIterator[Any]:
        self.hub._enter("listen")
        send, recv = trio.open_memory_channel[ListenEvent](math.inf)
        self.hub.listeners.append(send)
        try:
            yield recv
        finally:
            self.hub.listeners.remove(send)


class Notes:
    """A kernel notifier that records what it was asked."""

    def __init__(self) -> None:
        self.inodes: list[int] = []
        self.entries: list[tuple[int, str]] = []

    async def invalidate_inode(self, ino: int) -> None:
        self.inodes.append(ino)
        await trio.lowlevel.checkpoint()

    def invalidate_entry(self, parent: int, name: str) -> None:
        self.entries.append((parent, name))


class WatchEnv(Env):
    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.hub = ListeningHub()
        self.vfs = self.new_vfs()
        self.notes = Notes()
        self.vfs.set_kernel_notifier(self.notes)

    def new_vfs(self, *, cache_max_bytes: int = 1 << 30, read_only: bool = False) -> Vfs:
        if not isinstance(self.hub, ListeningHub):
            self.hub = ListeningHub()
        session = FakeSession(self.hub)
        session.threads = ListeningThreads(self.hub)
        n = len(list(self.tmp.glob("cache*")))
        return Vfs(session, cache_dir=self.tmp / f"cache{n}", cache_max_bytes=cache_max_bytes)

    async def subscribed(self) -> None:
        await self.ls("")
        await trio.sleep(SUBSCRIBE_TIME + 0.05)
        assert self.vfs.watching()

    async def idle(self) -> None:
        for _ in range(50):
            await trio.sleep(0.002)


@pytest.fixture
def wenv(tmp_path: Path) -> WatchEnv:
    return WatchEnv(tmp_path)


def test_another_clients_change_refreshes_only_changed_directories(wenv: WatchEnv) -> None:
    seed_bucket(wenv.hub, "t", TREE)

    async def body() -> None:
        await wenv.subscribed()
        for path in ("t", "t/d1", "t/d2", "t/d2/sub"):
            await wenv.ls(path)
        before = await wenv.resolve("t/d1/a")
        assert before.ttl == KERNEL_TTL_WATCHED
        await wenv.idle()
        d1 = await wenv.resolve("t/d1")
        wenv.hub.calls.clear()
        wenv.hub.theirs("t", "d1/new", b"theirs")
        wenv.hub.theirs("t", "d1/a", b"changed")
        await wenv.idle()
        assert wenv.vfs.bucket_watch.foreign >= 1
        assert (d1.ino, "new") in wenv.notes.entries  # it may sit in the negative cache
        assert before.ino in wenv.notes.inodes  # changed content and size
        d2 = await wenv.resolve("t/d2")
        assert not [e for e in wenv.notes.entries if e[0] == d2.ino]
        listed = wenv.hub.calls["list_path"]
        assert listed <= 2 * 2  # the root and d1, once or twice (two events), not d2, d2/sub
        assert "new" in await wenv.ls("t/d1")
        assert (await wenv.resolve("t/d1/a")).size == 7
        assert await wenv.read("t/d1/a") == b"changed"
        for path in ("t/d2", "t/d2/sub"):
            await wenv.ls(path)
        assert wenv.hub.calls["list_path"] == listed  # unchanged subtrees were kept

    wenv.run(body)


def test_removed_names_are_dropped_from_the_kernel(wenv: WatchEnv) -> None:
    seed_bucket(wenv.hub, "t", TREE)

    async def body() -> None:
        await wenv.subscribed()
        sub = await wenv.resolve("t/d2/sub")
        await wenv.resolve("t/d2/sub/e")
        wenv.hub.theirs("t", "d2/sub", None)
        await wenv.idle()
        parent = await wenv.resolve("t/d2")
        assert (parent.ino, "sub") in wenv.notes.entries
        assert sub.ino in wenv.notes.inodes
        assert await wenv.ls("t/d2") == ["c"]

    wenv.run(body)


def test_own_changes_are_not_foreign_and_keep_caches_past_the_ttl(wenv: WatchEnv) -> None:
    seed_bucket(wenv.hub, "t", TREE)

    async def body() -> None:
        await wenv.subscribed()
        for path in ("t", "t/d1", "t/d2"):
            await wenv.ls(path)
        await wenv.idle()
        await wenv.write("t/d1/mine", b"ours")
        await wenv.write("t/d2/c", b"ours too")
        await wenv.idle()
        assert wenv.vfs.bucket_watch.foreign == 0
        assert wenv.notes.entries == [] and wenv.notes.inodes == []
        await trio.sleep(LIST_TTL + 0.1)
        wenv.hub.calls.clear()
        assert "mine" in await wenv.ls("t/d1")
        assert (await wenv.resolve("t/d2/c")).size == 8
        assert sum(wenv.hub.calls.values()) == 0  # no Root, no ListPath, no List

    wenv.run(body)


def test_a_broken_stream_falls_back_then_resynchronises(wenv: WatchEnv) -> None:
    seed_bucket(wenv.hub, "t", TREE)

    async def body() -> None:
        await wenv.subscribed()
        await wenv.ls("t/d1")
        wenv.hub.break_streams()
        await trio.sleep(0)
        await wenv.idle()
        assert not wenv.vfs.watching()
        wenv.hub.calls.clear()
        assert (await wenv.resolve("t/d1/a")).ttl == KERNEL_TTL
        assert wenv.hub.calls["list_path"] >= 1  # everything was set aside: asked again
        wenv.hub.theirs("t", "d1/later", b"x")
        with trio.fail_after(5):  # reconnected (backoff 0.2 s) and subscribed again (0.5 s)
            while not wenv.vfs.watching():
                await trio.sleep(0.05)
        await wenv.idle()
        assert wenv.hub.calls["listen"] == 1
        assert "later" in await wenv.ls("t/d1")

    wenv.run(body)


def test_a_new_bucket_of_another_client_reaches_the_kernel(wenv: WatchEnv) -> None:
    seed_bucket(wenv.hub, "t", TREE)

    async def body() -> None:
        await wenv.subscribed()
        other = wenv.new_vfs()
        await other.start()
        await wenv.mkdir("fresh", other)
        await wenv.write("fresh/f", b"x", other)  # an event for the new bucket
        await wenv.idle()
        assert (1 + 1, "fresh") in wenv.notes.entries  # buckets/ is inode 2
        assert "fresh" in await wenv.ls("")

    wenv.run(body)


def test_another_clients_chmod_after_our_write_reaches_the_kernel(wenv: WatchEnv) -> None:
    seed_bucket(wenv.hub, "t", TREE)

    async def body() -> None:
        await wenv.subscribed()
        await wenv.write("t/d1/mine", b"ours")  # the bucket's root is now one we made
        mine = await wenv.resolve("t/d1/mine")
        await wenv.idle()
        assert wenv.vfs.bucket_watch.foreign == 0
        other = FakeSession(wenv.hub).buckets
        key = next(iter(wenv.hub.buckets))
        await other.set_path_attrs(wenv.hub.buckets[key].root.thread, key, "d1/mine", mode=0o600)
        await wenv.idle()  # same root (modes are not in the DAG), but a second event
        assert mine.ino in wenv.notes.inodes
        assert (await wenv.vfs.getattr(mine.ino)).mode & 0o777 == 0o600

    wenv.run(body)


def test_modes_set_elsewhere_show_after_max_age_without_a_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(core, "MAX_AGE", 0.3)
    env = Env(tmp_path)
    root = seed_bucket(env.hub, "t", TREE)

    async def body() -> None:
        a = await env.resolve("t/d1/a")
        other = FakeSession(env.hub).buckets
        await other.set_path_attrs(root.thread, root.key, "d1/a", mode=0o600)
        await trio.sleep(0.4)
        assert (await env.resolve("t/d1/a")).mode & 0o777 == 0o600
        assert (await env.vfs.getattr(a.ino)).mode & 0o777 == 0o600

    env.run(body)


def test_own_directories_keep_their_kernel_entries(wenv: WatchEnv) -> None:
    """SetPath returns no root, so the event of our own mkdir looks foreign: the refresh must
    still leave alone the entries the kernel got from us (a process may be inside them)."""
    wenv.hub.capabilities = Capabilities(*[True] * 5)  # a hub whose SetPath returns no root
    seed_bucket(wenv.hub, "t", TREE)

    async def body() -> None:
        await wenv.subscribed()
        await wenv.ls("t/d1")
        await wenv.mkdir("t/d1/g")
        await wenv.mkdir("t/d1/g/h")
        await wenv.write("t/d1/g/h/f", b"x")
        await wenv.idle()
        assert wenv.vfs.bucket_watch.foreign >= 1
        assert [e for e in wenv.notes.entries if e[1] in ("g", "h", "f")] == []
        assert await wenv.ls("t/d1/g/h") == ["f"]

    wenv.run(body)
