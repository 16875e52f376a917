"""One ``Listen`` stream per mounted thread DB, so other clients' changes show without remount.

A watcher starts when a DB directory is first looked up and runs as a trio system task until the
mount closes. Each event drops the collection's cached listing, refreshes (or forgets) the node
of the instance, and asks the kernel to drop its cached data and directory entry (through the
``KernelNotifier`` the fuse layer installs). It leaves alone a node with a local file (the
writer's close decides), one a change of this mount is in flight on (``ThreadsCore.changing``:
that change settles it) and one whose ``_mod`` is newer than the event's instance. When the
stream ends or fails, every cache of the DB is dropped (the next listing re-reads it: events
may have been lost) and the stream is reopened after a backoff of ``BACKOFF_MIN`` doubling to
``BACKOFF_MAX`` seconds; a DB that no longer exists stops its watcher.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import trio

from bucketfs.errors import BucketfsError, NotFound
from bucketfs.vfs.nodes import THREADS_INO, Node
from bucketfs.vfs.threadfiles import Role
from bucketfs.vfs.threadjson import file_name, mod_time, rendered_size
from bucketfs.vfs.threads import ThreadsCore

log = logging.getLogger("bucketfs.vfs.threads")

BACKOFF_MIN = 0.2
BACKOFF_MAX = 5.0
#: the hub registers a listener within this long of the stream being opened (it sends nothing to
#: say so): only what the mount fetched after that is kept current by the events
SUBSCRIBE_TIME = 0.5


class Watchers:
    """The Listen loops of one mount's DBs."""

    def __init__(self, ns: ThreadsCore) -> None:
        self.ns = ns
        self.scopes: dict[str, trio.CancelScope] = {}
        self.events = 0  # change events applied (status)
        self.reconnects = 0

    def ensure(self, db: str, db_ino: int) -> None:
        """Start watching ``db`` unless already watching it."""
        if db not in self.scopes:
            scope = trio.CancelScope()
            self.scopes[db] = scope
            trio.lowlevel.spawn_system_task(self._run, db, scope, name=f"listen {db[-8:]}")

    def close(self) -> None:
        for scope in self.scopes.values():
            scope.cancel()
        self.scopes.clear()
        self.ns.watched.clear()

    async def _run(self, db: str, scope: trio.CancelScope) -> None:
        delay = BACKOFF_MIN
        with scope:
            while True:
                try:
                    async with self.ns.api.listen(db) as stream:
                        self.ns.watched[db] = time.monotonic() + SUBSCRIBE_TIME
                        async for event in stream:
                            delay = BACKOFF_MIN
                            await self.apply(db, event)
                except NotFound:
                    log.info("thread DB %s is gone; stopped listening", db)
                    self.ns.watched.pop(db, None)
                    self.scopes.pop(db, None)
                    return
                except BucketfsError as exc:
                    log.info("listen on thread DB %s broke (%s); re-listing", db, exc)
                except Exception as exc:  # a watcher must never take the mount down
                    log.warning("listen on thread DB %s failed: %r; re-listing", db, exc)
                self.ns.watched.pop(db, None)
                self.reconnects += 1
                await self.relist(db)
                await trio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)

    def _collection_node(self, db: str, coll: str) -> Node | None:
        root = self.ns.inodes.get(THREADS_INO)
        for ino in list(root.children.values()):
            meta = self.ns.meta.get(ino)
            if meta is not None and meta.db == db:
                return self.ns.inodes.child(ino, coll)
        return None

    async def relist(self, db: str) -> None:
        """Forget everything cached about ``db`` (events may have been missed). The kernel's
        own caches of it expire within a second (entry and attribute timeouts)."""
        self.ns.invalidate_db(db)
        for ino, meta in list(self.ns.meta.items()):
            node = self.ns.live(ino)
            if node is not None and meta.db == db and meta.role is Role.INSTANCE:
                node.checked = 0.0
        await trio.lowlevel.checkpoint()

    async def apply(self, db: str, event: Any) -> None:
        """One change event: drop the listing, refresh or forget the node, tell the kernel
        about names it may have cached (those it looked up: the others it cannot have)."""
        self.events += 1
        self.ns.listings.pop((db, event.collection), None)
        coll = self._collection_node(db, event.collection)
        name = file_name(str(event.instance_id))
        node = self.ns.inodes.child(coll.ino, name) if coll and name else None
        meta = self.ns.meta.get(node.ino) if node is not None else None
        if coll is None or name is None or node is None or meta is None or meta.file is not None:
            return  # unknown here, or being written here (the writer's close decides)
        if node.ino in self.ns.changing or meta.role is not Role.INSTANCE:
            return  # our own change in flight: its code settles the node (threads.py)
        known = node.lookups > 0
        if event.instance is None:
            self.ns.detach(node)
            if known and self.ns.notifier is not None:
                self.ns.notifier.invalidate_entry(coll.ino, name)
            return
        mtime = mod_time(event.instance)
        if mtime and mtime < node.mtime:
            return  # older than what this mount read since (a late event)
        node.size, node.mtime = rendered_size(event.instance), mtime
        node.checked = time.monotonic()
        if known:
            await self._inval_inode(node.ino)

    async def _inval_inode(self, ino: int) -> None:
        notifier = self.ns.notifier
        if notifier is not None:
            await notifier.invalidate_inode(ino)
