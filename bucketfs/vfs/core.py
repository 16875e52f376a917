"""The read side of the vfs: state, lifecycle, name resolution, attributes, listings, reads.

``VfsCore`` owns the inode table, the per-directory listing cache, the bucket index, the
content cache and the open-file table. Changes are in ``vfs.writes`` (file content and
attributes) and ``vfs.tree`` (namespace).

Cached listings are validated by bucket root, not per directory (``vfs.bucketstate``): one
listing stays valid while its bucket's generation is unchanged. Without a ``Listen`` stream on
the buckets DB, a bucket is revalidated with one ``Root`` call at most every ``LIST_TTL``
seconds (same root, no own unchecked change since: everything cached stays; otherwise a new
generation); while the stream is subscribed (``watch_since``, ``vfs.bucketwatch``) its events
start new generations and the check runs only every ``WATCHED_TTL`` seconds, and the kernel is
given ``KERNEL_TTL_WATCHED`` instead of ``KERNEL_TTL`` for entries and attributes. Listing a
directory prefetches its subdirectories' listings in the background (``PREFETCH`` at a time).
All of it runs in one trio thread; see docs/CONCURRENCY.md ("Mount") for what guards what.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import trio

from bucketfs.errors import (
    CorruptData,
    NameTooLong,
    NotADirectory,
    NotFound,
    ReadOnly,
    TimedOut,
    Unavailable,
)
from bucketfs.vfs.backend import BucketsApi, CapabilitiesLike, EntryLike, SessionLike
from bucketfs.vfs.bucketstate import BucketStates, TrackedApi
from bucketfs.vfs.cids import CHUNK_SIZE, is_single_block
from bucketfs.vfs.content import ContentCache
from bucketfs.vfs.dagsize import length_for_dag_size
from bucketfs.vfs.files import OpenFile
from bucketfs.vfs.ledger import BucketLedger
from bucketfs.vfs.namespace import BucketIndex
from bucketfs.vfs.nodes import BUCKETS_INO, ROOT_INO, THREADS_INO, Attr, InodeTable, Kind, Node
from bucketfs.vfs.reader import Fetcher, Pull
from bucketfs.vfs.transfers import Transfers

log = logging.getLogger("bucketfs.vfs")

#: without a Listen stream: a bucket's cached state is re-checked (one Root call) after this long
LIST_TTL = 1.0
#: with the stream subscribed, events keep caches current; the Root check is only a safety net
WATCHED_TTL = 30.0
#: kernel entry/attribute timeouts (and for names found absent): short without the stream, so
#: other clients' changes show within a second; longer with it, since each foreign change then
#: invalidates what the kernel holds. Bounded, not infinite: an invalidation can race a reply
#: computed just before the event arrived, and that stale reply lives this long at most
KERNEL_TTL = 1.0
KERNEL_TTL_WATCHED = 10.0
#: a listing is fetched again after this long even if its bucket's root did not change: modes
#: and times set by other clients (SetPathAttrs) leave the root as it is
MAX_AGE = 30.0
PREFETCH = 4  # subdirectory listings fetched in the background at a time
PREFETCH_MAX = 256  # subdirectories of one listing prefetched at most
PREFETCH_QUEUE = 1024  # prefetches waiting or running at most (the rest are skipped)
PREFETCH_DEPTH = 2  # levels below a directory in use (a walk stays ahead of the hub)
LIST_PAGE = 1000
LOAD_TRIES = 3  # fetches of one listing while our own changes race it (then used uncached)
SEED = ".textileseed"
MAX_LENGTHS = 100_000
NAME_MAX = 255  # bytes in one file name (what statfs says)
MAX_FILE_SIZE = 1 << 44  # bytes in one file (16 TiB, as ext4): larger is EFBIG


def check_name_length(name: str) -> None:
    if len(os.fsencode(name)) > NAME_MAX:
        raise NameTooLong(f"{name[:32]}...: names are at most {NAME_MAX} bytes")


@dataclass
class CachedListing:
    entries: dict[str, EntryLike]
    fetched: float  # monotonic time the fetch started
    gen: int = -1  # the bucket generation it is valid in (-1: the current one when stored)
    ahead: int = 0  # levels of subdirectories below it whose prefetch was started
    local: bool = False  # holds changes of our own (``note``/``drop_entry``)


class ListingCache(dict[tuple[str, str], CachedListing]):
    """(bucket key, path) → listing; a listing stored without a generation gets the current."""

    def __init__(self, states: BucketStates) -> None:
        super().__init__()
        self.states = states

    def __setitem__(self, k: tuple[str, str], v: CachedListing) -> None:
        if v.gen < 0:
            v.gen = self.states[k[0]].gen
        super().__setitem__(k, v)


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
    exact_sizes = range_reads = path_attrs = symlinks = list_paging = push_paths_attrs = False
    path_check = False


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
        self.states = BucketStates()
        self.api: BucketsApi = cast(BucketsApi, TrackedApi(session_like.buckets, self.states))
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
        self.listings = ListingCache(self.states)
        self.watch_since: float | None = None  # the buckets DB's Listen stream covers from then
        self.on_thread_seen: Callable[[str], None] | None = None  # starts the watcher
        self.on_foreign: Callable[[str], None] | None = None  # a change not ours (watcher)
        #: a listing the watcher set aside (its stream broke): served while the hub is away
        self.set_aside_listing: Callable[[str, str], CachedListing | None] | None = None
        self._loading: dict[tuple[str, str], trio.Event] = {}
        self._revalidating: dict[str, trio.Event] = {}
        self._prefetch_limit = trio.CapacityLimiter(PREFETCH)
        self._prefetching = 0
        self.lengths: dict[str, int] = {}  # file CID -> exact length learned by reading it
        self.ledger = BucketLedger()  # bucket roots (the root check) and our own content
        self.transfers = Transfers()  # uploads in progress (status)
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
            "transfers": self.transfers.status() | {"downloads": self.fetcher.downloads()},
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
        root = self.ledger.root(key)
        if root is None:
            root = (await self.api.root(self.thread(), key)).path
            self.ledger.learn(key, root)
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
        per created or changed file; the listing stays subject to its bucket's validation)."""
        cached = self._parent_listing(self.inodes.get(node.parent))
        if cached is not None:
            a = node.attr()
            cached.local = True
            cached.entries[node.name] = LocalEntry(
                node.name, node.cid, node.kind.is_dir, a.size, a.size, a.mode, a.mtime, node.target
            )

    def drop_entry(self, parent: Node, name: str) -> None:
        """Record the removal of ``name`` in ``parent``'s cached listing."""
        cached = self._parent_listing(parent)
        if cached is not None:
            cached.local = True
            cached.entries.pop(name, None)

    def apply(self, node: Node, e: EntryLike) -> None:
        """Take a listing entry's attributes for ``node``, unless the entry shows an older
        version of ours than the node has (a listing fetched before our newer change)."""
        stale = node.cid and e.cid != node.cid and node.bucket
        if stale and self.ledger.older(node.bucket, self.inodes.bucket_path(node), e.cid, node.cid):
            log.debug("%s: listing older than our change; kept %s", node.name, node.cid)
            return
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

    def watching(self, since: float | None = None) -> bool:
        """Whether the Listen stream covers now (or something fetched at ``since``)."""
        w = self.watch_since
        return w is not None and (time.monotonic() if since is None else since) >= w

    def kernel_ttl(self, node: Node) -> float:
        """Entry and attribute timeout for the kernel (see ``KERNEL_TTL_WATCHED``)."""
        if (node.bucket or node.ino == BUCKETS_INO) and self.watching():
            return KERNEL_TTL_WATCHED
        return KERNEL_TTL

    def negative_ttl(self, parent_ino: int) -> float:
        """How long the kernel may remember that a name is absent from ``parent_ino``."""
        try:
            parent = self.inodes.get(parent_ino)
        except NotFound:
            return 0.0
        if not (parent.bucket or parent_ino == BUCKETS_INO):
            return 0.0
        return self.kernel_ttl(parent)

    async def _valid(self, key: str, cached: CachedListing) -> bool:
        st = self.states[key]
        if cached.gen != st.gen or time.monotonic() - cached.fetched > MAX_AGE:
            return False
        ttl = WATCHED_TTL if self.watching(cached.fetched) else LIST_TTL
        if time.monotonic() - st.checked < ttl:
            return True
        await self.revalidate(key)
        return cached.gen == self.states[key].gen

    async def revalidate(self, key: str) -> None:
        """One Root call: our caches of bucket ``key`` stay if its root is the one they are
        consistent with and nothing unexplained happened since (see ``vfs.bucketstate``)."""
        running = self._revalidating.get(key)
        if running is not None:
            await running.wait()
            return
        done = self._revalidating[key] = trio.Event()
        try:
            gen = self.states[key].gen
            root = (await self.api.root(self.thread(), key)).path
            self.confirm(key, root, gen, time.monotonic())
        finally:
            del self._revalidating[key]
            done.set()

    def confirm(self, key: str, root: str, gen: int, started: float) -> int:
        """The hub said bucket ``key`` has ``root`` (asked at ``started``, in generation
        ``gen``): keep, or start a new generation. Returns the generation now current."""
        st = self.states[key]
        if st.gen != gen:
            return st.gen
        watched = self.watching(started)
        if root == self.ledger.root(key) and st.busy == 0 and (watched or not st.tainted):
            st.checked = time.monotonic()
        elif watched:
            log.debug("bucket %s: root %s is not %s", key[-8:], root, self.ledger.root(key))
            if st.busy == 0 and root not in st.own and self.on_foreign is not None:
                self.on_foreign(key)  # the watcher diffs and tells the kernel
        else:
            log.debug(
                "bucket %s: root %s is not %s: re-listing", key[-8:], root, self.ledger.root(key)
            )
            gen = self.states.bump(key)
            self.ledger.learn(key, root)
        return st.gen

    async def listing(self, node: Node) -> dict[str, EntryLike]:
        """Children of a directory inside a bucket, from the cache (see the module docstring)
        or the hub (paged)."""
        if not node.kind.is_dir:
            raise NotADirectory(f"{node.name} is not a directory")
        key, path = node.bucket, self.inodes.bucket_path(node)
        cached = self.listings.get((key, path))
        try:
            if cached is None or not await self._valid(key, cached):
                cached = await self.load(node, key, path)
        except (Unavailable, TimedOut) as exc:  # hub unreachable: what we know serves
            if cached is None and self.set_aside_listing is not None:
                cached = self.set_aside_listing(key, path)
            if cached is None:
                raise
            log.debug("hub unreachable, listing %s/%s from the cache: %s", key[-8:], path, exc)
        if cached.ahead < PREFETCH_DEPTH:
            self._prefetch_children(node, cached, PREFETCH_DEPTH)
        return cached.entries

    async def load(self, node: Node, key: str, path: str) -> CachedListing:
        """Fetch the listing of ``node`` (one fetch at a time per directory) and cache it."""
        while (running := self._loading.get((key, path))) is not None:
            await running.wait()
            cached = self.listings.get((key, path))
            if cached is not None and cached.gen == self.states[key].gen:
                return cached
        done = self._loading[(key, path)] = trio.Event()
        try:
            for _ in range(LOAD_TRIES):
                loaded = await self._load_once(node, key, path)
                if loaded.gen >= 0:
                    break
            return loaded
        finally:
            del self._loading[(key, path)]
            done.set()

    async def _load_once(self, node: Node, key: str, path: str) -> CachedListing:
        """One fetch; cached (``gen`` ≥ 0) unless the bucket changed meanwhile: a new
        generation, or a change of our own the listing may predate (its ``note`` went to
        the listing it replaces)."""
        st = self.states[key]
        gen, started, changes = st.gen, time.monotonic(), st.changes
        raced = st.busy > 0
        log.debug("ListPath %s/%s (generation %d)", key[-8:], path, gen)
        entries, root = await self._fetch(node, key, path)
        raced = raced or st.busy > 0 or st.changes != changes
        if gen != st.gen or raced:
            return CachedListing(entries, started, -2)
        gen = self.confirm(key, root, gen, started)
        if node.kind is Kind.BUCKET and gen == st.gen:
            self.ledger.learn(key, root)
        cached = CachedListing(entries, started, gen)
        self.listings[(key, path)] = cached
        return cached

    async def _fetch(self, node: Node, key: str, path: str) -> tuple[dict[str, EntryLike], str]:
        thread = self.thread()
        entries: dict[str, EntryLike] = {}
        after, root = "", ""
        limit = LIST_PAGE if self.caps.list_paging else 0
        while True:
            page = await self.api.list_path(thread, key, path, limit=limit, after=after)
            for child in page.children:
                if not (node.kind is Kind.BUCKET and child.name == SEED):
                    entries[child.name] = child
            root = root or page.root.path
            if not (limit and page.truncated and page.children):
                break
            after = page.children[-1].name
        return entries, root

    def _prefetch_children(self, node: Node, cached: CachedListing, depth: int) -> None:
        """Start fetching the listings of ``node``'s subdirectories, ``depth`` levels down."""
        cached.ahead = depth
        count = 0
        for name, entry in cached.entries.items():
            if count >= PREFETCH_MAX or self._prefetching >= PREFETCH_QUEUE:
                break
            if not entry.is_dir:
                continue
            child = self.inodes.upsert(node.ino, name, Kind.DIR, node.bucket)
            if child.ino not in self.open_files:
                self.apply(child, entry)
            sub = self.inodes.bucket_path(child)
            if (node.bucket, sub) in self._loading:
                continue
            below = self.listings.get((node.bucket, sub))
            if below is not None and below.ahead >= depth - 1:
                continue
            count += 1
            self._prefetching += 1
            trio.lowlevel.spawn_system_task(self._prefetch, child, depth, name=f"prefetch {sub}")

    async def _prefetch(self, node: Node, depth: int) -> None:
        try:
            async with self._prefetch_limit:
                if node.unlinked:
                    return
                key, path = node.bucket, self.inodes.bucket_path(node)
                cached = self.listings.get((key, path))
                if cached is None or cached.gen != self.states[key].gen:
                    cached = await self.load(node, key, path)
            if depth > 1 and cached.ahead < depth - 1:
                self._prefetch_children(node, cached, depth - 1)
        except Exception as exc:  # a background fetch never takes the mount down
            log.debug("prefetch of %s failed: %r", node.name, exc)
        finally:
            self._prefetching -= 1

    async def bucket_nodes(self) -> dict[str, Node]:
        out = {}
        names = await self.index.names()
        if self.index.thread is not None and self.on_thread_seen is not None:
            self.on_thread_seen(self.index.thread)
        for name, root in names.items():
            node = self.inodes.upsert(BUCKETS_INO, name, Kind.BUCKET, root.key)
            node.cid, node.mtime, node.checked = (
                root.path.removeprefix("/ipfs/"),
                root.updated_at,
                time.monotonic(),
            )
            self.ledger.learn_if_unknown(root.key, root.path)
            out[name] = node
        for name in [n for n in self.inodes.get(BUCKETS_INO).children if n not in out]:
            gone = self.inodes.child(BUCKETS_INO, name)
            if gone is not None:
                self.inodes.detach(gone)
        return out

    async def child(self, parent: Node, name: str) -> Node:
        """The node called ``name`` in directory ``parent`` (raises NotFound)."""
        check_name_length(name)
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
        ttl = self.kernel_ttl(node)
        of = self.open_files.get(node.ino)
        if of is not None and of.loaded:
            return node.attr(of.size(), ttl)
        return node.attr(None, ttl, self._subdirs(node) if node.kind.is_dir else 0)

    def _subdirs(self, node: Node) -> int:
        """Subdirectories of a directory as far as its cached listing knows (its nlink - 2)."""
        if not node.bucket:
            return sum(1 for i in node.children.values() if self.inodes.get(i).kind.is_dir)
        cached = self.listings.get((node.bucket, self.inodes.bucket_path(node)))
        return sum(1 for e in cached.entries.values() if e.is_dir) if cached is not None else 0

    async def lookup(self, parent_ino: int, name: str) -> Attr:
        node = await self.child(self.inodes.get(parent_ino), name)
        node.lookups += 1
        return self.attr(node)

    def remember(self, ino: int) -> None:
        """The kernel learned ``ino`` from a directory listing (one more lookup reference)."""
        node = self.inodes.get_or_none(ino)
        if node is not None:  # dropped since the listing was taken: the kernel will ask again
            node.lookups += 1

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
        elif self.fetcher.wants_warm(h.cid):
            node = self.inodes.get(h.ino)
            if node.cid == h.cid and node.size_exact:

                def unchanged() -> bool:  # no writer, no other content: the pages stay true
                    return h.ino not in self.open_files and node.cid == h.cid

                self.fetcher.warm(h.cid, h.ino, unchanged)
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
