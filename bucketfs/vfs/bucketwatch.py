"""One ``Listen`` stream on the buckets thread DB, so other clients' changes to buckets show at
once and cached listings need no periodic re-reading.

Every bucket is an instance of the DB's ``buckets`` collection, and every change of a bucket
saves its instance with the new root path. An event whose root is one our own calls produced
(``vfs.bucketstate``) changes nothing here. Any other is a *foreign* change: the bucket's
cached listings are set aside and its generation bumped at once (lookups now ask the hub), and
a refresher task compares the set-aside listings with fresh ones, top down, descending only
into directories whose CID changed (or that hold changes of our own, whose CIDs we do not
know): what differs is invalidated in the kernel (``invalidate_entry`` for names added, removed
or retyped — added names may sit in the kernel's negative cache; ``invalidate_inode`` for
changed files and directories), and the listings of unchanged subtrees are put back. Events
coming during a refresh make it run again; it never runs twice at once for one bucket.

While the stream is subscribed, ``VfsCore.watch_since`` says so (the core then trusts its
caches and gives the kernel long timeouts). When the stream breaks, every bucket's caches are
set aside and the watcher reconnects with backoff; once subscribed again, each bucket is
refreshed as above (events may have been lost meanwhile).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import trio

from bucketfs.errors import BucketfsError, NotFound
from bucketfs.vfs.backend import EntryLike
from bucketfs.vfs.nodes import BUCKETS_INO, Kind, Node
from bucketfs.vfs.threadfiles import KernelNotifier

if TYPE_CHECKING:
    from bucketfs.vfs.core import CachedListing, VfsCore

log = logging.getLogger("bucketfs.vfs.buckets")

COLLECTION = "buckets"
BACKOFF_MIN = 0.2
BACKOFF_MAX = 5.0
#: the hub registers a listener within this long of the stream being opened (it sends nothing to
#: say so): only what the mount fetched after that is kept current by the events
SUBSCRIBE_TIME = 0.5
RETRY_DELAY = 0.05  # before comparing again a bucket whose listing our own changes raced


class BucketWatcher:
    """The Listen loop of one mount's buckets DB and the refresh of changed buckets."""

    def __init__(self, core: VfsCore, threads_api: Any) -> None:
        self.core = core
        self.api = threads_api
        self.notifier: KernelNotifier | None = None
        self.scope: trio.CancelScope | None = None
        self.saved: dict[str, dict[str, CachedListing]] = {}  # set aside per bucket key
        self.dirty: set[str] = set()
        self.refreshing: set[str] = set()
        self.raced: set[str] = set()  # last compare met our own changes in flight
        self.events = 0
        self.foreign = 0
        self.reconnects = 0
        core.on_thread_seen = self.ensure
        core.on_foreign = self.suspect
        core.set_aside_listing = lambda key, path: self.saved.get(key, {}).get(path)
        core.states.on_idle = self._held

    def ensure(self, thread: str) -> None:
        """Start watching ``thread`` unless already watching (or the client cannot listen)."""
        if self.scope is None and hasattr(self.api, "listen"):
            self.scope = trio.CancelScope()
            trio.lowlevel.spawn_system_task(self._run, thread, self.scope, name="listen buckets")

    def close(self) -> None:
        if self.scope is not None:
            self.scope.cancel()
        self._unwatched()

    def status(self) -> dict[str, object]:
        return {
            "listening": self.core.watch_since is not None,
            "events": self.events,
            "foreign_changes": self.foreign,
            "reconnects": self.reconnects,
        }

    def _unwatched(self) -> None:
        self.core.watch_since = self.core.index.watch_since = None

    async def _run(self, thread: str, scope: trio.CancelScope) -> None:
        delay = BACKOFF_MIN
        with scope:
            while True:
                try:
                    async with self.api.listen(thread) as stream:
                        since = time.monotonic() + SUBSCRIBE_TIME
                        self.core.watch_since = self.core.index.watch_since = since
                        trio.lowlevel.spawn_system_task(self._resync, since)
                        async for event in stream:
                            delay = BACKOFF_MIN
                            await self.apply(event)
                except NotFound:
                    log.info("buckets DB %s is gone; stopped listening", thread)
                    self._unwatched()
                    return
                except BucketfsError as exc:
                    log.info("listen on the buckets DB broke (%s); re-checking buckets", exc)
                except Exception as exc:  # a watcher must never take the mount down
                    log.warning("listen on the buckets DB failed: %r; re-checking buckets", exc)
                self._unwatched()
                self.reconnects += 1
                self.core.index.invalidate()
                for key in {k for k, _ in self.core.listings}:
                    self.set_aside(key)
                await trio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)

    async def _resync(self, since: float) -> None:
        """Once subscribed: refresh the buckets set aside while the stream was down."""
        await trio.sleep(max(0.0, since - time.monotonic()))
        if self.core.watch_since == since:
            self.core.index.invalidate()  # re-read once, then kept while subscribed
            for key in list(self.saved):
                self.changed(key)

    # -- events -------------------------------------------------------------------------

    async def apply(self, event: Any) -> None:
        if event.collection != COLLECTION:
            return
        self.events += 1
        key = str(event.instance_id)
        inst = event.instance
        index = self.core.index
        known = index.by_name.get(index.name_of(key) or "")
        if inst is None or known is None or str(inst.get("name", "")) != known.name:
            await self._names_changed()
        if inst is None:
            self.changed(key)
            return
        if self.core.states.is_own(key, str(inst.get("path", ""))) is False:
            self.changed(key)
        await trio.lowlevel.checkpoint()

    def _held(self, key: str, roots: list[str]) -> None:
        self.changed(key)

    async def _names_changed(self) -> None:
        """A bucket was created, removed or renamed: re-read the index, tell the kernel."""
        before = {n: r.key for n, r in self.core.index.by_name.items()}
        self.core.index.invalidate()
        try:
            after = {n: node.bucket for n, node in (await self.core.bucket_nodes()).items()}
        except BucketfsError as exc:
            log.info("re-reading the bucket list failed: %s", exc)
            return
        for name in set(before) | set(after):
            if before.get(name) != after.get(name):
                self._entry(BUCKETS_INO, name)

    # -- refreshing a bucket ------------------------------------------------------------

    def set_aside(self, key: str) -> None:
        """Move the bucket's cached listings aside (kept for the comparison) and start a new
        generation: from now on lookups ask the hub."""
        saved = self.saved.setdefault(key, {})
        for k in [k for k in self.core.listings if k[0] == key]:
            saved.setdefault(k[1], self.core.listings.pop(k))
        self.core.states.bump(key)

    def suspect(self, key: str) -> None:
        """The hub showed a root of bucket ``key`` we cannot explain (no refresh running)."""
        if key not in self.refreshing:
            self.changed(key)

    def changed(self, key: str) -> None:
        """Bucket ``key`` changed in a way that is not ours: refresh it (in the background)."""
        self.foreign += 1
        log.debug("bucket %s changed elsewhere: refreshing", key[-8:])
        self.set_aside(key)
        self.dirty.add(key)
        if key not in self.refreshing:
            self.refreshing.add(key)
            trio.lowlevel.spawn_system_task(self._refresh, key, name=f"refresh {key[-8:]}")

    async def _refresh(self, key: str) -> None:
        try:
            while key in self.dirty and self.core.watch_since is not None:
                if key in self.raced:
                    self.raced.discard(key)
                    await trio.sleep(RETRY_DELAY)
                self.dirty.discard(key)
                saved = self.saved.pop(key, {})
                gen = self.core.states[key].gen
                seen: dict[str, CachedListing] = {}
                try:
                    keep = await self._compare(key, saved, seen)
                except NotFound:  # the bucket is gone
                    keep = set()
                    await self._purge(self._node_at(key, ""))
                except Exception as exc:  # the hub may be down: the stream breaks too
                    log.info("refreshing bucket %s: %r", key, exc)
                    keep = set(saved)
                if self.core.states[key].gen == gen:
                    for path in keep:
                        if (key, path) not in self.core.listings:
                            saved[path].gen = gen
                            self.core.listings[(key, path)] = saved[path]
                else:  # changed again meanwhile: compare with what the kernel was told of
                    again = self.saved.setdefault(key, {})
                    for path in keep:
                        again.setdefault(path, saved[path])
                    for path, listing in seen.items():
                        again.setdefault(path, listing)
        finally:
            self.refreshing.discard(key)

    def _node_at(self, key: str, path: str) -> Node | None:
        inodes = self.core.inodes
        node = next(
            (
                inodes.get(i)
                for i in inodes.get(BUCKETS_INO).children.values()
                if inodes.get(i).bucket == key
            ),
            None,
        )
        for part in [p for p in path.split("/") if p]:
            if node is None:
                return None
            node = inodes.child(node.ino, part)
        return node if node is not None and node.kind.is_dir else None

    async def _compare(
        self, key: str, saved: dict[str, CachedListing], seen: dict[str, CachedListing]
    ) -> set[str]:
        """Compare what the kernel was told (the inode table) with fresh listings, top down
        (see the module docstring); returns the saved paths whose listings are still valid.
        ``seen`` gets the fresh listings."""
        local = [p for p, c in saved.items() if c.local]
        keep: set[str] = set()
        todo = [""]
        while todo:
            path = todo.pop()
            node = self._node_at(key, path)
            if node is None:
                continue  # the kernel knows nothing below it
            loaded = await self.core.load(node, key, path)
            if loaded.gen < 0:  # our own changes raced it: compare again in a moment
                self.dirty.add(key)
                self.raced.add(key)
                continue
            seen[path] = loaded
            fresh, old = loaded.entries, saved.get(path)
            changed = False
            for name in node.children.keys() | fresh.keys():
                child, new = self.core.inodes.child(node.ino, name), fresh.get(name)
                if child is None and (new is None or (old is not None and name in old.entries)):
                    continue  # the kernel never looked it up (and had it when last listed)
                changed = await self._child_changed(node, name, child, new) or changed
                if child is None or new is None or not new.is_dir or not child.kind.is_dir:
                    continue
                sub = f"{path}/{name}".lstrip("/")
                before = old.entries.get(name) if old is not None else None
                below = [p for p in saved if p == sub or p.startswith(sub + "/")]
                if before is not None and _same_dir(before, new) and not set(below) & set(local):
                    keep.update(below)
                else:
                    todo.append(sub)
            if changed:
                await self._inode(node.ino)
        return keep

    async def _child_changed(
        self, parent: Node, name: str, child: Node | None, new: EntryLike | None
    ) -> bool:
        """Tell the kernel what differs between ``child`` (what it was told) and ``new`` (the
        hub's entry); True if a name was added, removed or retyped."""
        mine = child is not None and child.ino in self.core.open_files
        if new is not None and child is not None and child.kind is _kind(new):
            if not mine:  # the kernel's entry names the right inode: attributes may differ
                before = child.cid, child.attr()
                self.core.apply(child, new)
                if (child.cid, child.attr()) != before:
                    await self._inode(child.ino)
            return False
        if mine and new is None:
            return False  # created here, not pushed yet
        # added (it may sit in the kernel's negative cache), removed or retyped
        self._entry(parent.ino, name)
        if child is not None and not mine:
            await self._purge(child)  # lookups now find what the hub has
        return True

    async def _purge(self, node: Node | None) -> None:
        """Tell the kernel to forget everything it may hold below ``node`` (no listing of it
        was kept to compare with)."""
        if node is None:
            return
        stack = [node]
        while stack:
            n = stack.pop()
            for name, ino in list(n.children.items()):
                self._entry(n.ino, name)
                child = self.core.inodes.child(n.ino, name)
                if child is not None:
                    if child.kind.is_dir:
                        stack.append(child)
                    elif child.lookups > 0:
                        await self._inode(ino)
            await self._inode(n.ino)

    def _entry(self, parent: int, name: str) -> None:
        log.debug("kernel: forget entry %d/%s", parent, name)
        if self.notifier is not None:
            self.notifier.invalidate_entry(parent, name)

    async def _inode(self, ino: int) -> None:
        log.debug("kernel: forget inode %d", ino)
        if self.notifier is not None:
            await self.notifier.invalidate_inode(ino)


def _kind(e: EntryLike) -> Kind:
    return Kind.DIR if e.is_dir else Kind.LINK if e.symlink_target else Kind.FILE


def _same(a: EntryLike | None, b: EntryLike | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.cid, a.is_dir, a.mode, a.mtime, a.symlink_target) == (
        b.cid,
        b.is_dir,
        b.mode,
        b.mtime,
        b.symlink_target,
    ) and (a.is_dir or a.file_size == b.file_size)


def _same_dir(a: EntryLike, b: EntryLike) -> bool:
    """The same directory content (a CID we learned from the hub, not one we made up)."""
    return bool(a.cid) and a.cid == b.cid and type(a) is type(b)
