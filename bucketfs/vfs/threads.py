"""The read side of the ``threads/`` namespace: DBs, collections and instances as nodes.

``threads/<db>/<collection>/<_id>.json`` and ``.schema.json`` (docs/SEMANTICS.md, "threads/").
DBs come from ``users.list_threads()`` (``is_db`` only) by name, or by thread ID when unnamed or
when the name is taken by an older entry. Listings and instance attributes are cached for
``LIST_TTL`` seconds, or ``WATCHED_TTL`` while the DB's ``Listen`` stream is open: its watcher
(``vfs.threadwatch``) drops the listing and refreshes the node on every change event, and
drops everything when the stream breaks. A collection listing pages through ``find_all``
(at most ``PAGE`` instances per Find, fewer when they are large) and keeps only sizes and
times; a lookup of one instance is one ``FindByID``. Writes are in ``vfs.threadwrites``.

A node on which a change of this mount is in flight (rename, unlink, commit) is in
``changing``: the watcher leaves it alone, since the hub publishes a change before it answers
the call that made it, and the change's own code settles the node when the answer comes.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator, MutableSequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from bucketfs.errors import IsADirectory, NotADirectory, NotFound, PermissionDenied, ReadOnly
from bucketfs.vfs.backend import SessionLike
from bucketfs.vfs.nodes import THREADS_INO, Attr, InodeTable, Kind, Node
from bucketfs.vfs.threadfiles import (
    KernelNotifier,
    LocalFile,
    Role,
    THandle,
    ThreadDbApi,
    ThreadListApi,
    TMeta,
)
from bucketfs.vfs.threadjson import (
    BUCKETS_COLLECTION,
    SCHEMA_FILE,
    file_name,
    instance_id,
    mod_time,
    render,
    rendered_size,
    valid_name,
)

log = logging.getLogger("bucketfs.vfs.threads")

LIST_TTL = 1.0
#: listings and attributes of a DB whose Listen stream is open are kept current by its events;
#: the hub is asked again only after this long (and at once when the stream breaks)
WATCHED_TTL = 30.0
PAGE = 1000
FH_BASE = 1 << 48  # handle numbers of this namespace (the buckets side counts up from 1)


@dataclass
class _Listing:
    """Instances of one collection: file name → (size of the rendered JSON, _mod)."""

    files: dict[str, tuple[int, int]]
    fetched: float = field(default_factory=time.monotonic)


class ThreadsCore:
    """State and reads of the namespace; one per mount, driven by ``vfs.threadvfs.MountVfs``."""

    def __init__(
        self, session: SessionLike, inodes: InodeTable, work_dir: Path, read_only: bool
    ) -> None:
        self.api = cast(ThreadDbApi, session.threads)
        self.users = cast(ThreadListApi, session.users)
        self.inodes = inodes
        self.work_dir = work_dir
        self.read_only = read_only
        self.meta: dict[int, TMeta] = {}
        self.handles: dict[int, THandle] = {}
        self._next_fh = FH_BASE
        self.dbs: dict[str, str] = {}  # directory name -> thread ID
        self._dbs_fetched = -1e9
        self.collections: dict[str, tuple[set[str], float]] = {}
        self.listings: dict[tuple[str, str], _Listing] = {}
        self.schemas: dict[tuple[str, str], dict[str, Any]] = {}
        self.notifier: KernelNotifier | None = None
        self.errors: MutableSequence[str] = []  # refused commits (the vfs's last_errors)
        self.on_db_seen: Any = None  # callback(db id, db node ino): start its watcher
        #: DB -> monotonic time from which its Listen stream is taken to be subscribed
        self.watched: dict[str, float] = {}
        #: inodes on which a change of this mount awaits the hub (see the module docstring)
        self.changing: Counter[int] = Counter()

    # -- helpers ------------------------------------------------------------------------

    @contextmanager
    def change(self, *nodes: Node | None) -> Iterator[None]:
        """Mark ``nodes`` as being changed by this mount for the duration of the block."""
        inos = [n.ino for n in nodes if n is not None]
        self.changing.update(inos)
        try:
            yield
        finally:
            self.changing.subtract(inos)
            for ino in inos:
                if self.changing[ino] <= 0:
                    del self.changing[ino]

    def owns(self, ino: int) -> bool:
        return ino == THREADS_INO or ino in self.meta

    def live(self, ino: int) -> Node | None:
        """The node of ``ino`` while the inode table has it."""
        try:
            return self.inodes.get(ino)
        except NotFound:
            return None

    def path(self, node: Node) -> str:
        """``threads/<db>/...`` of a node, for messages."""
        parts = []
        while node.ino != THREADS_INO and node.parent != node.ino:
            parts.append(node.name)
            node = self.inodes.get(node.parent)
        return "/".join(["threads", *reversed(parts)])

    def m(self, ino: int) -> TMeta:
        meta = self.meta.get(ino)
        if meta is None:
            raise NotFound(f"inode {ino} is not below threads/")
        return meta

    def check_writable(self, meta: TMeta | None = None) -> None:
        if self.read_only:
            raise ReadOnly("the mount is read-only")
        if meta is not None and meta.coll == BUCKETS_COLLECTION and meta.role is not Role.DB:
            raise PermissionDenied("the buckets collection is read-only (use buckets/)")

    def node(self, parent: int, name: str, kind: Kind, meta: TMeta) -> Node:
        node = self.inodes.upsert(parent, name, kind, "")
        old = self.meta.get(node.ino)
        if old is not None and old.file is not None and old.role is meta.role:
            meta.file, meta.refs, meta.dirty, meta.failed = old.file, old.refs, old.dirty, False
        self.meta[node.ino] = meta
        node.unlinked = False
        if kind is Kind.DIR:
            node.perm = 0o555 if meta.coll == BUCKETS_COLLECTION else 0o755
        else:
            node.perm = 0o444 if meta.coll == BUCKETS_COLLECTION else 0o644
        return node

    def holds(self, ino: int) -> bool:
        """Whether ``ino`` has local content or open handles (its node must stay)."""
        meta = self.meta.get(ino)
        return meta is not None and (meta.file is not None or meta.refs > 0)

    def forget_dropped(self, ino: int) -> None:
        """Drop the state of ``ino`` if the inode table no longer has it (after ``forget``)."""
        if ino in self.meta and self.live(ino) is None:
            meta = self.meta.pop(ino)
            if meta.refs == 0:
                meta.drop_file()

    def detach(self, node: Node) -> None:
        meta = self.meta.get(node.ino)
        self.inodes.detach(node)
        if self.live(node.ino) is None and meta is not None:
            self.meta.pop(node.ino, None)
            if meta.refs == 0:
                meta.drop_file()

    def invalidate_collection(self, db: str, coll: str) -> None:
        self.listings.pop((db, coll), None)
        self.schemas.pop((db, coll), None)

    def invalidate_db(self, db: str) -> None:
        self.collections.pop(db, None)
        for key in [k for k in self.listings if k[0] == db]:
            self.listings.pop(key, None)
        for key in [k for k in self.schemas if k[0] == db]:
            self.schemas.pop(key, None)

    # -- DBs and collections ------------------------------------------------------------

    async def db_names(self) -> dict[str, str]:
        if time.monotonic() - self._dbs_fetched > LIST_TTL:
            out: dict[str, str] = {}
            threads = sorted(await self.users.list_threads())
            for tid, name, is_db in threads:
                if is_db:
                    shown = name if valid_name(name) and name not in out else tid
                    out[shown] = tid
            self.dbs, self._dbs_fetched = out, time.monotonic()
        return self.dbs

    def forget_dbs(self) -> None:
        self._dbs_fetched = -1e9

    async def collection_names(self, db: str) -> set[str]:
        cached = self.collections.get(db)
        if cached is not None and time.monotonic() - cached[1] < LIST_TTL:
            return cached[0]
        names = {c["name"] for c in await self.api.list_collections(db)}
        self.collections[db] = (names, time.monotonic())
        return names

    async def schema(self, db: str, coll: str) -> dict[str, Any]:
        schema = self.schemas.get((db, coll))
        if schema is None:
            schema = (await self.api.get_collection(db, coll))["schema"]
            self.schemas[(db, coll)] = schema
        return schema

    async def listing(self, db: str, coll: str) -> dict[str, tuple[int, int]]:
        cached = self.listings.get((db, coll))
        if cached is not None and self.fresh(db, cached.fetched):
            return cached.files
        files: dict[str, tuple[int, int]] = {}
        fetched = time.monotonic()  # before asking: a change after it has an event
        async for instance in self.api.find_all(db, coll, page_size=PAGE):
            name = file_name(str(instance.get("_id", "")))
            if name is not None:
                files[name] = (rendered_size(instance), mod_time(instance))
        self.listings[(db, coll)] = _Listing(files, fetched)
        return files

    # -- name resolution ----------------------------------------------------------------

    async def child(self, parent: Node, name: str) -> Node:
        if parent.ino == THREADS_INO:
            db = (await self.db_names()).get(name)
            if db is None:
                raise NotFound(f"no thread DB {name!r}")
            node = self.node(THREADS_INO, name, Kind.DIR, TMeta(Role.DB, db))
            if self.on_db_seen is not None:
                self.on_db_seen(db, node.ino)
            return node
        pm = self.m(parent.ino)
        if pm.role is Role.DB:
            if name not in await self.collection_names(pm.db):
                raise NotFound(f"no collection {name!r}")
            return self.node(parent.ino, name, Kind.DIR, TMeta(Role.COLL, pm.db, name))
        if pm.role is not Role.COLL:
            raise NotADirectory(parent.name)
        known = self.inodes.child(parent.ino, name)
        if known is not None and known.ino in self.meta:
            km = self.meta[known.ino]
            if km.role is Role.TEMP or (km.file is not None and (km.dirty or not km.exists)):
                return known  # local, or written here and not stored (yet)
        return await self._document(parent, pm, name)

    async def _document(self, parent: Node, pm: TMeta, name: str) -> Node:
        if name == SCHEMA_FILE:
            data = render(await self.schema(pm.db, pm.coll))
            meta = TMeta(Role.SCHEMA, pm.db, pm.coll)
            node = self.node(parent.ino, name, Kind.FILE, meta)
            node.size, node.checked = len(data), time.monotonic()
            node.mtime = node.mtime or time.time_ns()
            return node
        id_ = instance_id(name)
        if id_ is None:
            raise NotFound(f"{name!r} not found")
        known = self.inodes.child(parent.ino, name)
        km = self.meta.get(known.ino) if known is not None else None
        fresh = known is not None and self.fresh(pm.db, known.checked)
        if fresh and known is not None and km is not None and km.role is Role.INSTANCE:
            return known  # kept current by the DB's Listen events
        cached = self.listings.get((pm.db, pm.coll))
        if cached is not None and self.fresh(pm.db, cached.fetched):
            if name not in cached.files:
                raise NotFound(f"{name!r} not found")
            (size, mtime), fetched = cached.files[name], cached.fetched
        else:
            fetched = time.monotonic()  # before asking: a change after it has an event
            instance = await self.api.find_by_id(pm.db, pm.coll, id_)
            size, mtime = rendered_size(instance), mod_time(instance)
        node = self.node(parent.ino, name, Kind.FILE, TMeta(Role.INSTANCE, pm.db, pm.coll, id_))
        node.size, node.mtime, node.checked = size, mtime, fetched
        return node

    async def lookup(self, parent_ino: int, name: str) -> Node:
        node = await self.child(self.inodes.get(parent_ino), name)
        node.lookups += 1
        return node

    def attr(self, node: Node) -> Attr:
        meta = self.meta.get(node.ino)
        if meta is not None and meta.file is not None:
            return node.attr(size=meta.file.size())
        return node.attr()

    def fresh(self, db: str, fetched: float) -> bool:
        """Whether something of ``db`` fetched at ``fetched`` (monotonic) can still be used:
        for ``LIST_TTL``, or ``WATCHED_TTL`` if fetched while the DB's stream was subscribed."""
        age = time.monotonic() - fetched
        since = self.watched.get(db)
        return age < (WATCHED_TTL if since is not None and fetched >= since else LIST_TTL)

    async def getattr(self, ino: int) -> Attr:
        node = self.inodes.get(ino)
        meta = self.meta.get(ino)
        if (
            meta is not None
            and meta.role in (Role.INSTANCE, Role.SCHEMA)
            and meta.file is None
            and not node.unlinked
            and not self.fresh(meta.db, node.checked)
        ):
            fresh = await self.child(self.inodes.get(node.parent), node.name)
            if fresh is not node:
                raise NotFound(f"{node.name!r} was replaced")
        return self.attr(node)

    async def readdir(self, ino: int) -> list[tuple[str, Attr]]:
        node = self.inodes.get(ino)
        if ino == THREADS_INO:
            dbs = await self.db_names()
            for name in [n for n in node.children if n not in dbs]:
                self.detach(self.inodes.get(node.children[name]))
            out_dbs = []
            for name in sorted(dbs):
                child = self.node(THREADS_INO, name, Kind.DIR, TMeta(Role.DB, dbs[name]))
                out_dbs.append((name, self.attr(child)))
            return out_dbs
        meta = self.m(ino)
        if meta.role is Role.DB:
            names = await self.collection_names(meta.db)
            out = []
            for name in sorted(names):
                child = self.node(ino, name, Kind.DIR, TMeta(Role.COLL, meta.db, name))
                out.append((name, self.attr(child)))
            return out
        if meta.role is not Role.COLL:
            raise NotADirectory(node.name)
        return await self._collection_entries(node, meta)

    async def _collection_entries(self, node: Node, meta: TMeta) -> list[tuple[str, Attr]]:
        files = await self.listing(meta.db, meta.coll)
        now = self.listings[(meta.db, meta.coll)].fetched
        out = {SCHEMA_FILE: self.attr(await self._document(node, meta, SCHEMA_FILE))}
        children, get = node.children, self.inodes.get
        for name, (size, mtime) in files.items():
            cino = children.get(name)
            known = get(cino) if cino is not None else None
            km = self.meta.get(cino) if cino is not None else None
            if known is not None and km is not None and km.role is Role.INSTANCE:
                if km.file is not None:
                    out[name] = self.attr(known)
                    continue
                child = known
            else:
                meta_i = TMeta(Role.INSTANCE, meta.db, meta.coll, name[:-5])
                child = self.node(node.ino, name, Kind.FILE, meta_i)
            child.size, child.mtime, child.checked = size, mtime, now
            out[name] = child.attr()
        for name, cino in node.children.items():
            cm = self.meta.get(cino)
            if name not in out and cm is not None and cm.file is not None:
                out[name] = self.attr(self.inodes.get(cino))  # local files, unsaved new ones
        return sorted(out.items())

    # -- reading ------------------------------------------------------------------------

    def new_handle(self, ino: int, writable: bool, snapshot: bytes | None) -> int:
        fh = self._next_fh
        self._next_fh += 1
        self.handles[fh] = THandle(ino, writable, snapshot)
        return fh

    async def stored_bytes(self, node: Node, meta: TMeta) -> bytes:
        """The current rendered content of a stored instance or schema (refreshes the node)."""
        if meta.role is Role.SCHEMA:
            self.schemas.pop((meta.db, meta.coll), None)
            data = render(await self.schema(meta.db, meta.coll))
        else:
            instance = await self.api.find_by_id(meta.db, meta.coll, meta.id)
            data = render(instance)
            node.mtime = mod_time(instance)
        node.size, node.checked = len(data), time.monotonic()
        return data

    async def read(self, fh: int, off: int, size: int) -> bytes:
        h = self.handles[fh]
        meta = self.meta.get(h.ino)
        if h.snapshot is not None:
            return h.snapshot[off : off + size]
        if meta is None or meta.file is None:
            return b""
        return meta.file.read(off, size)

    def local_file(self, data: bytes = b"") -> LocalFile:
        return LocalFile(self.work_dir, data)

    @staticmethod
    def not_a_file(node: Node) -> None:
        if node.kind.is_dir:
            raise IsADirectory(node.name)
