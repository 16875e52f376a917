"""The read side of the vfs: state, lifecycle, name resolution, attributes, listings, reads.

``VfsCore`` owns the inode table, the per-directory listing cache (TTL ``LIST_TTL``), the bucket
index, the content cache and the open-file table. Changes are in ``vfs.writes`` (file content
and attributes) and ``vfs.tree`` (namespace).
All of it runs in one trio thread; see docs/CONCURRENCY.md ("Mount") for what guards what.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import trio

from bucketfs.errors import CorruptData, NotADirectory, NotFound, ReadOnly
from bucketfs.vfs.backend import BucketsApi, CapabilitiesLike, EntryLike, SessionLike
from bucketfs.vfs.cids import CHUNK_SIZE, is_single_block
from bucketfs.vfs.content import ContentCache
from bucketfs.vfs.dagsize import length_for_dag_size
from bucketfs.vfs.files import OpenFile
from bucketfs.vfs.namespace import BucketIndex
from bucketfs.vfs.nodes import BUCKETS_INO, ROOT_INO, THREADS_INO, Attr, InodeTable, Kind, Node
from bucketfs.vfs.reader import Fetcher, Pull

log = logging.getLogger("bucketfs.vfs")

LIST_TTL = 1.0
LIST_PAGE = 1000
SEED = ".textileseed"
MAX_LENGTHS = 100_000


@dataclass
class CachedListing:
    entries: dict[str, EntryLike]
    fetched: float


@dataclass(frozen=True)
class LocalEntry:
    """A listing entry made from what this mount just did (an ``EntryLike``)."""

    name: str
    cid: str
    is_dir: bool
    dag_size: int
    file_size: int | None
    mode: int
    mtime: int
    symlink_target: str = ""


@dataclass
class Handle:
    ino: int
    writable: bool
    cid: str  # content read through this handle when no staging copy exists
    staged: bool  # holds a reference on the inode's OpenFile


class _NoCapabilities:
    exact_sizes = range_reads = path_attrs = symlinks = list_paging = False


class VfsCore:
    def __init__(
        self,
        session_like: SessionLike,
        *,
        cache_dir: Path,
        cache_max_bytes: int,
        thread_name: str = "buckets",
        read_only: bool = False,
    ) -> None:
        self.session = session_like
        self.api: BucketsApi = session_like.buckets
        self.read_only = read_only
        self.hub_address = str(
            getattr(session_like, "address", "")
            or getattr(getattr(session_like, "config", None), "address", "")
            or "hub"
        )
        self.caps: CapabilitiesLike = _NoCapabilities()
        self.inodes = InodeTable()
        self.index = BucketIndex(session_like, thread_name)
        self.cache = ContentCache(cache_dir, cache_max_bytes)
        self.fetcher = Fetcher(self.cache, range_reads=False)
        self.listings: dict[tuple[str, str], CachedListing] = {}
        self.lengths: dict[str, int] = {}  # file CID -> exact length learned by reading it
        self.roots: dict[str, str] = {}  # bucket key -> last known root path (root check)
        self.open_files: dict[int, OpenFile] = {}
        self.handles: dict[int, Handle] = {}
        self._next_fh = 1
        self.errors: deque[str] = deque(maxlen=20)
        self.conflicts: deque[str] = deque(maxlen=20)
        self.retrying: set[int] = set()  # closed files whose push failed (writes.py retries)
        self.retry_scope: trio.CancelScope | None = None
        self.giving_up = False  # umount --force: failed pushes of closed files are dropped
        self.uid = os.getuid()
        self.gid = os.getgid()

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Ask the hub what it supports; find the buckets DB (not created until needed)."""
        self.caps = await self.api.capabilities()
        self.fetcher.range_reads = self.caps.range_reads
        await self.index.thread_id(create=False)

    def learn_length(self, cid: str, length: int) -> None:
        """Remember a file's exact length (hubs without the size extension only give DAG sizes)."""
        if len(self.lengths) >= MAX_LENGTHS:
            self.lengths.clear()
        self.lengths[cid] = length

    def record_error(self, op: str, exc: BaseException) -> None:
        if op == "lookup" and isinstance(exc, NotFound):
            return  # an ordinary miss (ENOENT), not a failure
        self.errors.append(f"{time.strftime('%H:%M:%S')} {op}: {type(exc).__name__}: {exc}")

    def status(self) -> dict[str, object]:
        return {
            "hub": self.hub_address,
            "thread": self.index.thread,
            "buckets": sorted(self.index.by_name),
            "read_only": self.read_only,
            "capabilities": {
                k: bool(getattr(self.caps, k))
                for k in ("exact_sizes", "range_reads", "path_attrs", "symlinks", "list_paging")
            },
            "cache": self.cache.stats() | {"downloads_in_progress": self.fetcher.in_progress()},
            "open_files": len(self.open_files),
            "dirty_files": sum(1 for f in self.open_files.values() if f.dirty and not f.unlinked),
            "retrying_pushes": len(self.retrying),
            "inodes": len(self.inodes),
            "last_errors": list(self.errors),
            "conflicts": list(self.conflicts),
        }

    # -- helpers ------------------------------------------------------------------------

    def check_writable(self) -> None:
        if self.read_only:
            raise ReadOnly("the mount is read-only")

    def thread(self) -> str:
        """The buckets thread DB (known once any bucket was seen or made)."""
        if self.index.thread is None:
            raise NotFound("the buckets thread DB does not exist")
        return self.index.thread

    def where(self, node: Node) -> tuple[str, str, str]:
        """(thread, bucket key, bucket path) of a node inside a bucket."""
        return self.thread(), node.bucket, self.inodes.bucket_path(node)

    async def root_of(self, key: str) -> str:
        """The bucket's root as last seen here (fetched when unknown): the push root check."""
        root = self.roots.get(key)
        if root is None:
            root = (await self.api.root(self.thread(), key)).path
            self.roots[key] = root
        return root

    def invalidate(self, node: Node) -> None:
        """Drop the cached listing of directory ``node`` and of everything below it."""
        if node.kind is Kind.ROOT:
            self.index.invalidate()
            return
        path = self.inodes.bucket_path(node)
        for key, sub in list(self.listings):
            if key == node.bucket and (sub == path or sub.startswith(f"{path}/") or not path):
                del self.listings[(key, sub)]

    def _parent_listing(self, parent: Node) -> CachedListing | None:
        if parent.kind is Kind.ROOT:
            return None
        return self.listings.get((parent.bucket, self.inodes.bucket_path(parent)))

    def note(self, node: Node) -> None:
        """Record a local change of ``node`` in its parent's cached listing (saves a ListPath
        per created or changed file; the listing still expires after ``LIST_TTL``)."""
        cached = self._parent_listing(self.inodes.get(node.parent))
        if cached is not None:
            a = node.attr()
            cached.entries[node.name] = LocalEntry(
                node.name, node.cid, node.kind.is_dir, a.size, a.size, a.mode, a.mtime, node.target
            )

    def drop_entry(self, parent: Node, name: str) -> None:
        """Record the removal of ``name`` in ``parent``'s cached listing."""
        cached = self._parent_listing(parent)
        if cached is not None:
            cached.entries.pop(name, None)

    def apply(self, node: Node, e: EntryLike) -> None:
        node.cid, node.mtime, node.target = e.cid, e.mtime, e.symlink_target
        node.perm = e.mode & 0o7777
        if e.is_dir:
            node.size, node.size_exact = 0, True
        elif e.file_size is not None:
            node.size, node.size_exact = e.file_size, True
        elif e.cid in self.lengths:
            node.size, node.size_exact = self.lengths[e.cid], True
        elif is_single_block(e.cid) and e.dag_size <= CHUNK_SIZE:
            node.size, node.size_exact = e.dag_size, True
        else:
            length = length_for_dag_size(e.dag_size)
            if length is not None:
                self.learn_length(e.cid, length)
            node.size, node.size_exact = (e.dag_size, False) if length is None else (length, True)
        node.checked = time.monotonic()

    @staticmethod
    def kind_of(e: EntryLike) -> Kind:
        return Kind.DIR if e.is_dir else Kind.LINK if e.symlink_target else Kind.FILE

    # -- listings -----------------------------------------------------------------------

    async def listing(self, node: Node) -> dict[str, EntryLike]:
        """Children of a directory inside a bucket, from the hub (paged) or the TTL cache."""
        if not node.kind.is_dir:
            raise NotADirectory(f"{node.name} is not a directory")
        thread, key, path = self.where(node)
        cached = self.listings.get((key, path))
        if cached is not None and time.monotonic() - cached.fetched < LIST_TTL:
            return cached.entries
        entries: dict[str, EntryLike] = {}
        after = ""
        limit = LIST_PAGE if self.caps.list_paging else 0
        while True:
            page = await self.api.list_path(thread, key, path, limit=limit, after=after)
            for child in page.children:
                if not (node.kind is Kind.BUCKET and child.name == SEED):
                    entries[child.name] = child
            if node.kind is Kind.BUCKET:
                self.roots[key] = page.root.path
            if not (limit and page.truncated and page.children):
                break
            after = page.children[-1].name
        self.listings[(key, path)] = CachedListing(entries, time.monotonic())
        return entries

    async def bucket_nodes(self) -> dict[str, Node]:
        out = {}
        for name, root in (await self.index.names()).items():
            node = self.inodes.upsert(BUCKETS_INO, name, Kind.BUCKET, root.key)
            node.cid, node.mtime, node.checked = (
                root.path.removeprefix("/ipfs/"),
                root.updated_at,
                time.monotonic(),
            )
            self.roots.setdefault(root.key, root.path)
            out[name] = node
        for name in [n for n in self.inodes.get(BUCKETS_INO).children if n not in out]:
            gone = self.inodes.child(BUCKETS_INO, name)
            if gone is not None:
                self.inodes.detach(gone)
        return out

    async def child(self, parent: Node, name: str) -> Node:
        """The node called ``name`` in directory ``parent`` (raises NotFound)."""
        if parent.ino == ROOT_INO:
            node = self.inodes.child(ROOT_INO, name)
            if node is None:
                raise NotFound(name)
            return node
        if parent.ino == THREADS_INO:
            raise NotFound(name)
        if parent.ino == BUCKETS_INO:
            found = (await self.bucket_nodes()).get(name)
            if found is None:
                raise NotFound(f"no bucket directory {name!r}")
            return found
        if not parent.kind.is_dir:
            raise NotADirectory(parent.name)
        known = self.inodes.child(parent.ino, name)
        if known is not None and known.ino in self.open_files and not known.cid:
            return known  # created here, not pushed yet
        entries = await self.listing(parent)
        entry = entries.get(name)
        if entry is None:
            raise NotFound(f"{name!r} not found")
        node = self.inodes.upsert(parent.ino, name, self.kind_of(entry), parent.bucket)
        if node.ino not in self.open_files:
            self.apply(node, entry)
        return node

    # -- attributes and reading ---------------------------------------------------------

    def attr(self, node: Node) -> Attr:
        of = self.open_files.get(node.ino)
        if of is not None and of.loaded:
            return node.attr(size=of.size())
        return node.attr()

    async def lookup(self, parent_ino: int, name: str) -> Attr:
        node = await self.child(self.inodes.get(parent_ino), name)
        node.lookups += 1
        return self.attr(node)

    def remember(self, ino: int) -> None:
        """The kernel learned ``ino`` from a directory listing (one more lookup reference)."""
        self.inodes.get(ino).lookups += 1

    def forget(self, ino: int, count: int) -> None:
        self.inodes.forget(ino, count)

    async def getattr(self, ino: int) -> Attr:
        node = self.inodes.get(ino)
        stale = time.monotonic() - node.checked > LIST_TTL
        if (
            node.kind is not Kind.ROOT
            and stale
            and node.ino not in self.open_files
            and not node.unlinked
        ):
            fresh = await self.child(self.inodes.get(node.parent), node.name)
            if fresh is not node:
                raise NotFound(f"{node.name!r} was replaced")
        return self.attr(node)

    async def readdir(self, ino: int) -> list[tuple[str, Attr]]:
        """A snapshot of the directory (no round trip per entry); ``.``/``..`` not included."""
        node = self.inodes.get(ino)
        if node.ino == ROOT_INO:
            return [(n, self.attr(self.inodes.get(i))) for n, i in sorted(node.children.items())]
        if node.ino == THREADS_INO:
            return []
        if node.ino == BUCKETS_INO:
            return [(n, self.attr(c)) for n, c in sorted((await self.bucket_nodes()).items())]
        out = {}
        for name, entry in (await self.listing(node)).items():
            child = self.inodes.upsert(ino, name, self.kind_of(entry), node.bucket)
            if child.ino not in self.open_files:
                self.apply(child, entry)
            out[name] = self.attr(child)
        for name, cino in node.children.items():
            if name not in out and cino in self.open_files and not self.open_files[cino].unlinked:
                out[name] = self.attr(self.inodes.get(cino))
        return sorted(out.items())

    async def readlink(self, ino: int) -> str:
        node = self.inodes.get(ino)
        if node.kind is not Kind.LINK:
            raise NotFound("not a symbolic link")
        return node.target

    def new_handle(self, ino: int, writable: bool, cid: str, *, staged: bool) -> int:
        fh = self._next_fh
        self._next_fh += 1
        self.handles[fh] = Handle(ino, writable, cid, staged)
        return fh

    def puller(self, node: Node) -> Pull:
        thread, key, path = self.where(node)

        def pull(offset: int, length: int) -> AsyncIterator[bytes]:
            return self.api.pull_path(thread, key, path, offset=offset, length=length)

        return pull

    async def read(self, fh: int, off: int, size: int) -> bytes:
        h = self.handles[fh]
        of = self.open_files.get(h.ino)
        if of is not None and of.loaded:
            return of.read(off, size)
        if not h.cid:
            return b""
        local = self.fetcher.read_local(h.cid, off, size)  # cached: no round trip, no await
        if local is None:
            node = self.inodes.get(h.ino)
            if node.size_exact and off >= node.size:
                return b""
            local = await self.fetcher.read(h.cid, node.size, self.puller(node), off, size)
        data, length = local
        if length is not None:
            self.learn_length(h.cid, length)
            node = self.inodes.get(h.ino)
            if node.cid == h.cid:
                node.size, node.size_exact = length, True
        return data

    async def whole_file(self, node: Node, cid: str) -> Path:
        """The complete content of ``cid`` (the file ``node``) in the cache, downloading it."""
        self.fetcher.acquire(cid)
        try:
            cached = await self.fetcher.complete(cid, node.size, self.puller(node))
        finally:
            self.fetcher.release(cid)
        if cached is None:
            raise CorruptData(f"hub {self.hub_address}: {cid} did not match its CID")
        return cached
