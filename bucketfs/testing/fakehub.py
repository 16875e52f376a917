"""An in-memory hub implementing the remote clients' API, for fast vfs and mount tests.

``FakeHub`` keeps threads and buckets in memory with the semantics of reference/WIRE.md §4.3
(root check on push/remove, MovePath into an existing directory, ``.textileseed`` in every bucket
root, errors as ``bucketfs.errors`` with the hub's texts) plus the bucketfs extensions (exact
sizes, modes, mtimes, range reads, symlinks, list paging, the root check and returned root of
SetPath/MovePath and per-file attributes in PushPaths: the last two only with
``push_paths_attrs``, which stands for that revision of the hub). ``FakeSession(hub)`` exposes it with
the shape of ``bucketfs.remote.session.HubSession``. Capabilities can be switched off to behave
like a plain Textile hub, ``hub.offline = True`` makes every call fail with ``HubUnreachable``
(a stopped hub) and ``hub.fail_next(method, error)`` injects one failure. ``hub.calls`` counts calls per method.

Files get their real IPFS CIDs (``bucketfs.ipfs.importer``); directories other than the empty
one get a CID derived from their children, not the real dag-pb node's. Everything is in memory:
keep test files to tens of MiB.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace

import trio

from bucketfs.errors import (
    AlreadyExists,
    Conflict,
    HubUnreachable,
    InvalidArgument,
    IsADirectory,
    NotADirectory,
    NotFound,
    Unsupported,
)
from bucketfs.ipfs.cid import CID, DAG_PB, Block
from bucketfs.ipfs.importer import import_bytes
from bucketfs.remote.types import BucketRoot, Capabilities, Listing, PathEntry, PushResult
from bucketfs.vfs.backend import ChunkSource
from bucketfs.vfs.cids import EMPTY_DIR_CID

SEED = ".textileseed"
PULL_CHUNK = 32768


PLAIN_TEXTILE = Capabilities()
ALL_EXTENSIONS = Capabilities(True, True, True, True, True, True, True)


@dataclass
class _File:
    data: bytes
    mode: int
    mtime: int
    target: str = ""  # symlink target when non-empty
    cid: str = ""
    dag_size: int = 0

    def __post_init__(self) -> None:
        if self.target:
            node = b"symlink\0" + self.target.encode()
            self.cid, self.dag_size = str(Block.of(node, DAG_PB).cid), len(node)
        else:
            result = import_bytes(self.data)
            self.cid, self.dag_size = str(result.cid), result.dag_size


def _file_mode(mode: int, old: object) -> int:
    """The stored mode of a pushed file: the permission bits sent, or (0, as the hub does) the
    mode the path had, else 0644."""
    if mode:
        return (mode & 0o7777) | 0o100000
    return old.mode if isinstance(old, _File) and not old.target else 0o100644


@dataclass
class _Dir:
    mode: int
    mtime: int
    children: dict[str, _File | _Dir] = field(default_factory=dict)

    @property
    def cid(self) -> str:
        if not self.children:
            return EMPTY_DIR_CID
        h = hashlib.sha256(b"dir\0")
        for name in sorted(self.children):
            h.update(name.encode() + b"\0" + self.children[name].cid.encode() + b"\0")
        return str(CID(1, DAG_PB, b"\x12\x20" + h.digest()))

    def size(self) -> int:
        return sum(c.size() if isinstance(c, _Dir) else len(c.data) for c in self.children.values())


@dataclass
class _Bucket:
    root: BucketRoot
    tree: _Dir


def _fast_forward(b: _Bucket, root: str) -> None:
    """The push root check (upstream's): ``root`` given and not the bucket's current one."""
    if root and root != b.root.path:
        raise Conflict("update is non-fast-forward", wire_code="FAILED_PRECONDITION")


def _split(path: str) -> list[str]:
    return [p for p in path.strip("/").split("/") if p]


class FakeHub:
    """The shared state of a fake hub: threads, buckets, failure switches, call counts."""

    def __init__(self, capabilities: Capabilities = ALL_EXTENSIONS) -> None:
        self.capabilities = capabilities
        self.offline = False
        self.threads: dict[str, str] = {}  # thread id -> name
        self.buckets: dict[str, _Bucket] = {}
        self.calls: Counter[str] = Counter()
        self.failures: dict[str, list[BaseException]] = {}
        self._counter = 0
        #: scheduling points between a listing's snapshot and its reply (a network's latency:
        #: other tasks, our own pushes included, run while the answer travels)
        self.reply_delay = 0

    def fail_next(self, method: str, error: BaseException) -> None:
        """Make the next call of ``method`` (e.g. ``"push_path"``) raise ``error``."""
        self.failures.setdefault(method, []).append(error)

    def _enter(self, method: str) -> None:
        self.calls[method] += 1
        if self.offline:
            raise HubUnreachable("hub fake: connection refused")
        pending = self.failures.get(method)
        if pending:
            raise pending.pop(0)

    def _next(self) -> int:
        self._counter += 1
        return self._counter

    def bucket(self, thread: str, key: str) -> _Bucket:
        b = self.buckets.get(key)
        if b is None or b.root.thread != thread:
            raise NotFound("instance not found", wire_code="UNKNOWN")
        return b

    def check_path(self, b: _Bucket, path: str, cid: str) -> None:
        """The ``path_check`` extension: ``path`` must hold ``cid`` ("" = nothing)."""
        try:
            current = self.resolve(b, path).cid
        except NotFound:
            current = ""
        if current != cid:
            raise Conflict(
                f"update is non-fast-forward: {path} changed", wire_code="FAILED_PRECONDITION"
            )

    def resolve(self, b: _Bucket, path: str) -> _File | _Dir:
        node: _File | _Dir = b.tree
        for part in _split(path):
            if not isinstance(node, _Dir) or part not in node.children:
                raise NotFound(f'no link named "{part}" under {node.cid}', wire_code="UNKNOWN")
            node = node.children[part]
        return node

    def _parent(self, b: _Bucket, path: str, create: bool) -> tuple[_Dir, str]:
        parts = _split(path)
        if not parts:
            raise InvalidArgument("path is the bucket root")
        if any(SEED in p for p in parts):
            raise InvalidArgument("paths containing .textileseed are not allowed")
        node = b.tree
        for part in parts[:-1]:
            child = node.children.get(part)
            if child is None:
                if not create:
                    raise NotFound(f'no link named "{part}" under {node.cid}', wire_code="UNKNOWN")
                child = node.children[part] = _Dir(0o40755, time.time_ns())
            if not isinstance(child, _Dir):
                raise NotADirectory("not a directory")
            node = child
        return node, parts[-1]

    def _touch(self, b: _Bucket) -> BucketRoot:
        now = time.time_ns()
        b.root = replace(b.root, path=f"/ipfs/{b.tree.cid}", updated_at=now)
        return b.root

    def _entry(self, b: _Bucket, path: str, name: str, node: _File | _Dir) -> PathEntry:
        caps = self.capabilities
        full = f"{b.root.path}/{path.strip('/')}".rstrip("/")
        if isinstance(node, _Dir):
            n = len([c for c in node.children if c != SEED])
            mode = node.mode if caps.path_attrs else 0
            return PathEntry(
                name,
                full,
                node.cid,
                True,
                node.size(),
                n,
                0 if caps.exact_sizes else None,
                mode,
                node.mtime,
            )
        if node.target:
            return PathEntry(
                name,
                full,
                node.cid,
                False,
                len(node.target),
                0,
                len(node.target),
                0o120777,
                node.mtime,
                node.target,
            )
        size, dag = len(node.data), node.dag_size
        mode = node.mode if caps.path_attrs else 0
        return PathEntry(
            name,
            full,
            node.cid,
            False,
            dag,
            0,
            size if caps.exact_sizes else None,
            mode,
            node.mtime,
        )

    def new_thread(self, name: str) -> str:
        tid = "bafk" + hashlib.sha256(f"thread{self._next()}".encode()).hexdigest()[:40]
        self.threads[tid] = name
        return tid

    def new_bucket(self, thread: str, name: str) -> BucketRoot:
        n = self._next()
        key = "bafzbeie" + hashlib.sha256(f"bucket{n}".encode()).hexdigest()[:51]
        tree = _Dir(
            0o40755,
            time.time_ns(),
            {SEED: _File(hashlib.sha256(key.encode()).digest(), 0o100644, 0)},
        )
        now = time.time_ns()
        root = BucketRoot(key, name, f"/ipfs/{tree.cid}", thread, "", now, now, False)
        self.buckets[key] = _Bucket(root, tree)
        return root


class FakeBuckets:
    """``BucketsClient`` over a ``FakeHub``."""

    def __init__(self, hub: FakeHub) -> None:
        self.hub = hub

    async def capabilities(self) -> Capabilities:
        self.hub._enter("capabilities")
        return self.hub.capabilities

    async def list(self, thread: str) -> list[BucketRoot]:
        self.hub._enter("list")
        await trio.lowlevel.checkpoint()
        return [b.root for b in self.hub.buckets.values() if b.root.thread == thread]

    async def create(self, thread: str, name: str, private: bool = False) -> BucketRoot:
        self.hub._enter("create")
        if thread not in self.hub.threads:
            raise NotFound("thread not found")
        return self.hub.new_bucket(thread, name)

    async def root(self, thread: str, key: str) -> BucketRoot:
        self.hub._enter("root")
        return self.hub.bucket(thread, key).root

    async def remove(self, thread: str, key: str) -> None:
        self.hub._enter("remove")
        self.hub.bucket(thread, key)
        del self.hub.buckets[key]

    async def links(self, thread: str, key: str, path: str = "") -> dict[str, str]:
        self.hub._enter("links")
        b = self.hub.bucket(thread, key)
        if path:
            self.hub.resolve(b, path)
        suffix = f"/{path.strip('/')}" if path.strip("/") else ""
        return {
            "url": f"http://127.0.0.1:8006/thread/{thread}/buckets/{key}{suffix}",
            "www": "",
            "ipns": f"http://127.0.0.1:8006/ipns/{key}{suffix}",
        }

    async def list_path(
        self, thread: str, key: str, path: str, *, limit: int = 0, after: str = ""
    ) -> Listing:
        hub = self.hub
        hub._enter("list_path")
        await trio.lowlevel.checkpoint()
        b = hub.bucket(thread, key)
        node = hub.resolve(b, path)
        parts = _split(path)
        name = parts[-1] if parts else b.root.name
        item = hub._entry(b, path, name, node)
        children: list[PathEntry] = []
        truncated = False
        if isinstance(node, _Dir):
            names = sorted(node.children)
            if hub.capabilities.list_paging:
                names = [n for n in names if n > after]
                if limit and len(names) > limit:
                    names, truncated = names[:limit], True
            sub = "/".join(parts)
            for n in names:
                children.append(hub._entry(b, f"{sub}/{n}", n, node.children[n]))
        for _ in range(hub.reply_delay):
            await trio.lowlevel.checkpoint()
        return Listing(item, children, b.root, truncated)

    async def push_path(
        self,
        thread: str,
        key: str,
        path: str,
        chunks: ChunkSource,
        *,
        root: str = "",
        mode: int = 0,
        mtime: int = 0,
        size: int = 0,
        path_cid: str | None = None,
    ) -> PushResult:
        hub = self.hub
        hub._enter("push_path")
        b = hub.bucket(thread, key)
        parts = []
        async for chunk in chunks() if callable(chunks) else chunks:
            hub._enter("push_chunk")
            parts.append(bytes(chunk))
        rebased = False
        if path_cid is not None and hub.capabilities.path_check:
            hub.check_path(b, path, path_cid)
            rebased = bool(root) and root != b.root.path
        else:
            _fast_forward(b, root)  # at the save, after the stream, as the hub does
        received = sum(map(len, parts))
        if size > 0 and received != size:  # as the hub (size extension)
            raise InvalidArgument(
                f"upload ended after {received} of {size} bytes; nothing was saved"
            )
        parent, name = hub._parent(b, path, create=True)
        if not hub.capabilities.path_attrs:
            mode = mtime = 0
        mode = _file_mode(mode, parent.children.get(name))
        node = _File(b"".join(parts), mode, mtime or time.time_ns())
        parent.children[name] = node
        new_root = hub._touch(b)
        return PushResult(node.cid, len(node.data), new_root, rebased)

    async def push_paths(
        self,
        thread: str,
        key: str,
        files: Sequence[tuple[str, AsyncIterable[bytes]]],
        *,
        root: str = "",
        attrs: Sequence[tuple[int, int]] | None = None,
        on_file: Callable[[str, str], object] | None = None,
    ) -> BucketRoot:
        """Several files in one call; the bucket changes once, at the end (as the hub).
        ``attrs`` are kept only with the ``push_paths_attrs`` capability (else ignored)."""
        hub = self.hub
        hub._enter("push_paths")
        b = hub.bucket(thread, key)
        if attrs is not None and len(attrs) != len(files):
            raise InvalidArgument(
                f"push_paths: {len(attrs)} attribute pairs for {len(files)} files"
            )
        if attrs is None or not hub.capabilities.push_paths_attrs:
            attrs = [(0, 0)] * len(files)
        received = []
        for (path, chunks), (mode, mtime) in zip(files, attrs, strict=True):
            parts = []
            async for chunk in chunks:
                hub._enter("push_chunk")
                parts.append(bytes(chunk))
            received.append((path, b"".join(parts), mode, mtime))
        _fast_forward(b, root)  # at the save, after the stream, as the hub does
        for path, data, mode, mtime in received:
            parent, name = hub._parent(b, path, create=True)
            mode = _file_mode(mode, parent.children.get(name))
            parent.children[name] = node = _File(data, mode, mtime or time.time_ns())
            if on_file is not None:
                on_file(path.strip("/"), node.cid)
        return hub._touch(b)

    async def pull_path(
        self, thread: str, key: str, path: str, *, offset: int = 0, length: int = 0
    ) -> AsyncIterator[bytes]:
        hub = self.hub
        hub._enter("pull_path")
        node = hub.resolve(hub.bucket(thread, key), path)
        if isinstance(node, _Dir):
            raise IsADirectory("node is a directory", wire_code="UNKNOWN")
        data = node.data
        end = len(data) if not length else min(len(data), offset + length)
        pos = offset if hub.capabilities.range_reads else 0
        while pos < end:
            await trio.lowlevel.checkpoint()
            hub._enter("pull_chunk")
            chunk = data[pos : min(end, pos + PULL_CHUNK)]
            # a plain hub has no ranges: the client skips what it does not need
            skip = max(0, offset - pos)
            pos += len(chunk)
            if skip < len(chunk):
                yield chunk[skip:]

    def _check_root(self, b: _Bucket, root: str) -> None:
        """The SetPath/MovePath root check; a hub without this revision's extensions (signalled
        by ``push_paths_attrs``) ignores ``root``, as an upstream hub does."""
        if root and self.hub.capabilities.push_paths_attrs and root != b.root.path:
            raise Conflict("update is non-fast-forward", wire_code="FAILED_PRECONDITION")

    def _new_root(self, b: _Bucket) -> BucketRoot | None:
        root = self.hub._touch(b)
        return root if self.hub.capabilities.push_paths_attrs else None

    async def set_path(
        self, thread: str, key: str, path: str, cid: str, *, root: str = ""
    ) -> BucketRoot | None:
        hub = self.hub
        hub._enter("set_path")
        b = hub.bucket(thread, key)
        self._check_root(b, root)
        parent, name = hub._parent(b, path, create=True)
        if cid == EMPTY_DIR_CID:
            parent.children[name] = _Dir(0o40755, time.time_ns())
        else:
            raise NotFound(f"fake hub: unknown cid {cid}")
        return self._new_root(b)

    async def move_path(
        self, thread: str, key: str, from_path: str, to_path: str, *, root: str = ""
    ) -> BucketRoot | None:
        hub = self.hub
        hub._enter("move_path")
        b = hub.bucket(thread, key)
        if not _split(from_path):
            raise InvalidArgument("source is root directory")
        self._check_root(b, root)
        if _split(from_path) == _split(to_path):
            return b.root if hub.capabilities.push_paths_attrs else None
        src_parent, src_name = hub._parent(b, from_path, create=False)
        if src_name not in src_parent.children:
            raise NotFound(
                f'no link named "{src_name}" under {src_parent.cid}', wire_code="UNKNOWN"
            )
        node = src_parent.children[src_name]
        dst_parent, dst_name = hub._parent(b, to_path, create=True)
        existing = dst_parent.children.get(dst_name)
        if isinstance(existing, _Dir):
            dst_parent, dst_name = existing, src_name
        elif existing is not None and isinstance(node, _Dir):
            raise NotADirectory("not a directory")
        del src_parent.children[src_name]
        dst_parent.children[dst_name] = node
        return self._new_root(b)

    async def remove_path(self, thread: str, key: str, path: str, *, root: str = "") -> BucketRoot:
        hub = self.hub
        hub._enter("remove_path")
        b = hub.bucket(thread, key)
        if root and root != b.root.path:
            raise Conflict("update is non-fast-forward", wire_code="FAILED_PRECONDITION")
        parent, name = hub._parent(b, path, create=False)
        if name not in parent.children:
            raise NotFound(f'no link named "{name}" under {parent.cid}', wire_code="UNKNOWN")
        del parent.children[name]
        return hub._touch(b)

    async def set_path_attrs(
        self, thread: str, key: str, path: str, *, mode: int | None = None, mtime: int | None = None
    ) -> BucketRoot:
        hub = self.hub
        hub._enter("set_path_attrs")
        if not hub.capabilities.path_attrs:
            raise Unsupported("hub fake:hub cannot store modes or times")
        b = hub.bucket(thread, key)
        node = hub.resolve(b, path)
        if mode is not None:
            node.mode = (node.mode & ~0o7777) | (mode & 0o7777)
        if mtime is not None:
            node.mtime = mtime
        return hub._touch(b)

    async def symlink(
        self, thread: str, key: str, path: str, target: str, *, root: str = ""
    ) -> BucketRoot:
        hub = self.hub
        hub._enter("symlink")
        if not hub.capabilities.symlinks:
            raise Unsupported("hub fake:hub cannot store symbolic links")
        b = hub.bucket(thread, key)
        if root and root != b.root.path:
            raise Conflict("update is non-fast-forward", wire_code="FAILED_PRECONDITION")
        parent, name = hub._parent(b, path, create=True)
        parent.children[name] = _File(b"", 0o120777, time.time_ns(), target)
        return hub._touch(b)


class FakeThreads:
    """The part of ``ThreadsClient`` the mount uses."""

    def __init__(self, hub: FakeHub) -> None:
        self.hub = hub

    async def new_db(self, name: str) -> str:
        self.hub._enter("new_db")
        if name in self.hub.threads.values():
            raise AlreadyExists("db already exists")
        return self.hub.new_thread(name)


class FakeUsers:
    """The part of ``UsersClient`` the mount uses."""

    def __init__(self, hub: FakeHub) -> None:
        self.hub = hub

    async def get_thread(self, name: str) -> tuple[str, str] | None:
        self.hub._enter("get_thread")
        for tid, tname in self.hub.threads.items():
            if tname == name:
                return tid, tname
        return None

    async def list_threads(self) -> list[tuple[str, str, bool]]:
        self.hub._enter("list_threads")
        return [(tid, name, True) for tid, name in self.hub.threads.items()]


class FakeSession:
    """A ``HubSession`` look-alike over a ``FakeHub`` (several sessions may share one hub)."""

    def __init__(self, hub: FakeHub, address: str = "fake:hub") -> None:
        self.hub = hub
        self.address = address
        self.buckets = FakeBuckets(hub)
        self.threads = FakeThreads(hub)
        self.users = FakeUsers(hub)

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


def seed_bucket(
    hub: FakeHub, name: str, files: Sequence[tuple[str, bytes]] = (), thread_name: str = "buckets"
) -> BucketRoot:
    """Create a bucket (and its thread if needed) directly in ``hub``, with ``files``."""
    tid = next((t for t, n in hub.threads.items() if n == thread_name), None)
    root = hub.new_bucket(tid or hub.new_thread(thread_name), name)
    b = hub.buckets[root.key]
    for path, data in files:
        parent, fname = hub._parent(b, path, create=True)
        parent.children[fname] = _File(data, 0o100644, time.time_ns())
    return hub._touch(b)
