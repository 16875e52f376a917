"""The Buckets logic behind ``api.bucketsd.pb.APIService`` and ``bucketfs.pb.BucketsExtension``.

:class:`BucketService` is called by the thin servicers (and by the HTTP gateway) with a
:class:`Ctx` (thread header, acting identity, bearer token) and plain values; it returns plain
dataclasses (:class:`~bucketfs.hub.buckets.model.Bucket`, :class:`Item`, …). Reads need no lock
(blocks are immutable); every mutation runs in :meth:`BucketService.changing`: it holds the
bucket's lock (WIRE §4.9) while it checks the caller's role (``roles.py``), does the ``root``
fast-forward check, writes all new blocks durably (a block-store batch, one shared barrier) and
commits the new root with one ``Engine.save``; after the lock it waits for the shared commit
barrier (``durability.py``) and only then answers. Mutations live in ``mutations.py``; this module holds reads and bookkeeping.
"""

from __future__ import annotations

import base64
import contextlib
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from bucketfs.errors import (
    Conflict,
    InvalidArgument,
    IsADirectory,
    NotFound,
    PermissionDenied,
)
from bucketfs.hub.blocks import BlockStore
from bucketfs.ipfs.cid import CID

from . import content, dcrypto, gc
from . import paths as bpaths
from .attrs import AttrStore, PathAttrs
from .durability import Durability
from .gc import GcStats
from .model import Bucket
from .publicdirs import PublicDirs
from .records import BucketRecords
from .roles import DENIED_TEXT, Access, can_see, check, effective_map, visible_metadata
from .tree import Entry, PrivateDirs, Tree

DEFAULT_MODES = {
    content.FILE: stat.S_IFREG | 0o644,
    content.DIR: stat.S_IFDIR | 0o755,
    content.SYMLINK: stat.S_IFLNK | 0o777,
}
NON_FAST_FORWARD = "update is non-fast-forward"
NO_ATTRS = PathAttrs()


@dataclass(frozen=True)
class Ctx:
    """Who calls and where: the ``x-textile-thread`` header, the acting public key, the token."""

    thread: str
    who: str = ""
    token: str = ""


@dataclass
class Item:
    """One ``PathItem``: a file, directory or symlink of a bucket (or of a raw IPFS path)."""

    cid: str
    name: str
    path: str
    size: int
    is_dir: bool
    items: list[Item] = field(default_factory=list)
    items_count: int = 0
    metadata: dict[str, Any] | None = None
    file_size: int = 0
    mode: int = 0
    mtime: int = 0
    symlink_target: str = ""


@dataclass
class Listing:
    item: Item
    bucket: Bucket
    truncated: bool = False


@dataclass(frozen=True)
class Links:
    url: str
    www: str
    ipns: str


def now_ns() -> int:
    return time.time_ns()


class BucketService:
    """Bucket operations over ThreadDB records, a block store and the attribute store."""

    def __init__(
        self,
        records: BucketRecords,
        blocks: BlockStore,
        attrs: AttrStore,
        *,
        gateway_url: str = "",
        www_domain: str = "",
        store: object = None,
    ) -> None:
        """``store``: the metadata store behind ``records``; when it can defer its commits'
        fsync (``SqliteStore``), changes share their commit barriers (``durability.py``)."""
        self.records = records
        self.blocks = blocks
        self.attrs = attrs
        self.gateway_url = gateway_url.rstrip("/")
        self.www_domain = www_domain
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._gate = _Gate()
        self.durability = Durability(store, [attrs])
        self.public_dirs = PublicDirs(blocks.get, blocks.put)
        #: the empty directory is always present, so SetPath(<empty dir CID>) makes a directory
        self.empty_dir = self.public_dirs.empty()

    # -- helpers ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self, thread: str, key: str, *, gate: bool = True) -> Iterator[None]:
        """Hold the per-bucket lock (capacity 1) and (unless the caller holds it already,
        ``gate=False``) the shared side of the GC gate."""
        with self._locks_guard:
            lock = self._locks.setdefault((thread, key), threading.Lock())
        with self.gate() if gate else contextlib.nullcontext(), lock:
            yield

    def gate(self) -> contextlib.AbstractContextManager[None]:
        """The shared side of the GC gate: blocks written meanwhile are not collected before
        they are linked (not re-entrant while a collection waits)."""
        return self._gate.shared()

    @contextlib.contextmanager
    def changing(self, thread: str, key: str, *, gate: bool = True) -> Iterator[None]:
        """The scope of one change to a bucket: the bucket lock inside a durability scope, so
        the lock is released before the change waits for its (shared) commit barrier and
        whatever the caller does after the block — answering — follows that barrier."""
        with self.durability.change(), self.locked(thread, key, gate=gate):
            yield

    def collect_garbage(self) -> GcStats:
        """Delete every block no bucket root reaches (see ``gc.py``); mutations wait meanwhile."""
        with self._gate.exclusive():
            marked: set[bytes] = set()
            gc.mark(self.blocks, self.empty_dir.cid, None, marked)
            count = 0
            for key, thread in self.attrs.buckets():
                try:
                    bucket = self.records.get(thread, key)
                except NotFound:
                    continue
                link_key = bucket.link_key_bytes() if bucket.private else None
                gc.mark(self.blocks, self.root_cid(bucket), link_key, marked)
                count += 1
            kept, deleted, freed = gc.sweep(self.blocks, marked)
        return GcStats(count, kept, deleted, freed)

    def tree(self, bucket: Bucket) -> Tree:
        if bucket.private:
            codec = PrivateDirs(self.blocks.get, self.blocks.put, bucket.link_key_bytes())
            return Tree(codec, private=True)
        return Tree(self.public_dirs)

    def file_key(self, bucket: Bucket, path: str) -> bytes | None:
        return bucket.file_key(bpaths.ancestors(path)) if bucket.private else None

    def load(self, ctx: Ctx, key: str, path: str, access: Access) -> Bucket:
        bucket = self.records.get(ctx.thread, key)
        check(bucket.owner, bucket.metadata, path, ctx.who, access)
        return bucket

    @staticmethod
    def check_root(bucket: Bucket, root: str) -> None:
        if root and root != bucket.path:
            raise Conflict(NON_FAST_FORWARD)

    def check_base(self, bucket: Bucket, root: str, path: str, path_cid: str | None) -> bool:
        """The root check; with ``path_cid`` (extension ``path_check``) the path check instead:
        ``path`` must hold that CID now ("" = nothing there), and a root other than the one
        sent is forgiven. True when that happened (``rebased``)."""
        cur = self.root_cid(bucket)
        return self.check_base_at(self.tree(bucket), cur, root, path, path_cid)

    @staticmethod
    def check_base_at(tree: Tree, cur: CID, root: str, path: str, path_cid: str | None) -> bool:
        """``check_base`` against the root CID ``cur`` (a push group links on its own root)."""
        if path_cid is None:
            if root and root != f"/ipfs/{cur}":
                raise Conflict(NON_FAST_FORWARD)
            return False
        try:
            current = str(tree.resolve(cur, path).cid)
        except NotFound:
            current = ""
        if current != path_cid:
            raise Conflict(f"{NON_FAST_FORWARD}: {path} changed")
        return bool(root) and root != f"/ipfs/{cur}"

    def root_cid(self, bucket: Bucket) -> CID:
        return CID.parse(bucket.root_cid_text)

    def resolve(self, bucket: Bucket, path: str) -> Entry:
        root = self.root_cid(bucket)
        tree = self.tree(bucket)
        if not path:
            return Entry("", root, content.dag_size(self.blocks, root))
        return tree.resolve(root, path)

    def resolve_or_missing(self, bucket: Bucket, path: str) -> Entry:
        """``resolve``, with upstream's ``could not resolve path`` text (Links, roles)."""
        try:
            return self.resolve(bucket, path)
        except NotFound:
            raise NotFound(f"could not resolve path: {path}", wire_code="UNKNOWN") from None

    # -- reads ------------------------------------------------------------------------------

    @staticmethod
    def filtered(bucket: Bucket, who: str) -> Bucket:
        """``bucket`` as ``who`` may see it (WIRE §4.8 read filter): only the metadata entries it
        has a role on; no link key if none remain."""
        meta = visible_metadata(bucket.owner, bucket.metadata, who)
        if len(meta) == len(bucket.metadata):
            return bucket
        return replace(bucket, metadata=meta, link_key=bucket.link_key if meta else "")

    def list(self, ctx: Ctx) -> list[Bucket]:
        return [
            self.filtered(b, ctx.who)
            for b in self.records.list(ctx.thread)
            if can_see(b.owner, b.metadata, ctx.who)
        ]

    def root(self, ctx: Ctx, key: str) -> Bucket:
        """The bucket record; any role anywhere in the bucket lets a caller see it."""
        bucket = self.records.get(ctx.thread, key)
        if not can_see(bucket.owner, bucket.metadata, ctx.who):
            raise PermissionDenied(DENIED_TEXT)
        return self.filtered(bucket, ctx.who)

    def links(self, ctx: Ctx, key: str, path: str = "") -> Links:
        path = bpaths.clean(path)
        bucket = self.load(ctx, key, path, Access.READ)
        if path:
            self.resolve_or_missing(bucket, path)
        return self.make_links(bucket, path, ctx.token)

    def make_links(self, bucket: Bucket, path: str, token: str) -> Links:
        suffix = f"/{path}" if path else ""
        query = f"?token={token}" if bucket.private and token else ""
        base = self.gateway_url
        url = f"{base}/thread/{bucket.thread}/buckets/{bucket.key}{suffix}{query}"
        ipns = f"{base}/ipns/{bucket.key}{suffix}{query}"
        www = ""
        if self.www_domain:
            scheme = base.split("://", 1)[0] if "://" in base else "http"
            www = f"{scheme}://{bucket.key}.{self.www_domain}{suffix}{query}"
        return Links(url, www, ipns)

    def list_path(
        self, ctx: Ctx, key: str, path: str, *, limit: int = 0, after: str = ""
    ) -> Listing:
        path = bpaths.clean(path)
        bucket = self.load(ctx, key, path, Access.READ)
        with content.corruption_logged(_where(ctx, key, path)):
            entry = self.resolve(bucket, path)
            item, truncated = self.item(
                bucket, path, entry, children=True, limit=limit, after=after
            )
        if not path:
            item.name = bucket.name
        return Listing(item, self.filtered(bucket, ctx.who), truncated)

    def item(
        self,
        bucket: Bucket | None,
        path: str,
        entry: Entry,
        *,
        children: bool = False,
        limit: int = 0,
        after: str = "",
        root_text: str = "",
        parent_meta: dict[str, Any] | None = None,
        attrs: PathAttrs | None = None,
        tree: Tree | None = None,
        info: content.NodeInfo | None = None,
    ) -> tuple[Item, bool]:
        """The :class:`Item` of ``entry`` at ``path``; with ``children``, one level of them
        (``parent_meta``, ``attrs`` and ``tree`` are what the parent's listing already has)."""
        private = bucket is not None and bucket.private
        if tree is None:
            tree = self.tree(bucket) if bucket is not None else Tree(self.public_dirs)
        if info is None:
            info = content.node_info(self.blocks, self.attrs, tree.codec, entry.cid, private)
        root_text = root_text or (bucket.path if bucket else "")
        full = f"{root_text}/{path}" if path else root_text
        item = Item(
            cid=info.cid_text,
            name=bpaths.name(path) if path else (entry.name or str(entry.cid)),
            path=full,
            size=entry.tsize,
            is_dir=info.kind == content.DIR,
            file_size=info.file_size if info.kind == content.FILE else 0,
            symlink_target=info.target,
        )
        if bucket is not None:
            self._fill_attrs(bucket, path, item, info.kind, parent_meta, attrs)
        else:
            item.mode = DEFAULT_MODES[info.kind]
        truncated = False
        if children and item.is_dir:
            truncated = self._fill_children(
                bucket, tree, path, entry, item, limit, after, root_text
            )
        return item, truncated

    def _fill_attrs(
        self,
        bucket: Bucket,
        path: str,
        item: Item,
        kind: str,
        parent_meta: dict[str, Any] | None,
        attrs: PathAttrs | None,
    ) -> None:
        meta = bucket.metadata.get(path)
        if meta is None:
            meta = parent_meta if parent_meta is not None else self.nearest_meta(bucket, path)
        if attrs is None:
            attrs = self.attrs.get(bucket.thread, bucket.key, path)
        mode = (attrs.mode if attrs else 0) or int((meta or {}).get("mode", 0))
        perm = stat.S_IMODE(mode) if mode else stat.S_IMODE(DEFAULT_MODES[kind])
        item.mode = stat.S_IFMT(DEFAULT_MODES[kind]) | perm
        item.mtime = (attrs.mtime if attrs and attrs.mtime else 0) or int(
            (meta or {}).get("updated_at", bucket.updated_at)
        )
        item.metadata = dict(meta or {})
        item.metadata["mode"] = item.mode
        item.metadata["updated_at"] = item.mtime

    @staticmethod
    def nearest_meta(bucket: Bucket, path: str) -> dict[str, Any] | None:
        for anc in bpaths.ancestors(path):
            if anc in bucket.metadata:
                return bucket.metadata[anc]
        return None

    def _fill_children(
        self,
        bucket: Bucket | None,
        tree: Tree,
        path: str,
        entry: Entry,
        item: Item,
        limit: int,
        after: str,
        root_text: str,
    ) -> bool:
        entries = tree.codec.listing(entry.cid)
        item.items_count = len(entries)
        if after:
            entries = [e for e in entries if e.name > after]
        truncated = bool(limit) and len(entries) > limit
        if limit:
            entries = entries[:limit]
        child_attrs = {}
        parent_meta = None
        if bucket is not None:
            child_attrs = self.attrs.children(bucket.thread, bucket.key, path)
            parent_meta = self.nearest_meta(bucket, path)
        private = bucket is not None and bucket.private
        cids = [child.cid for child in entries]
        infos = content.node_infos(self.blocks, self.attrs, tree.codec, cids, private)
        for child, info in zip(entries, infos, strict=True):
            child_path = f"{path}/{child.name}" if path else child.name
            sub, _ = self.item(
                bucket,
                child_path,
                child,
                root_text=root_text,
                parent_meta=parent_meta,
                attrs=child_attrs.get(child.name, NO_ATTRS),
                tree=tree,
                info=info,
            )
            item.items.append(sub)
        return truncated

    def list_ipfs_path(self, ipfs_path: str) -> Item:
        cid, rest = parse_ipfs_path(ipfs_path)
        tree = Tree(self.public_dirs)
        entry = tree.resolve(cid, rest, content.dag_size(self.blocks, cid))
        item, _ = self.item(None, rest, entry, children=True, root_text=f"/ipfs/{cid}")
        return item

    def pull_path(
        self, ctx: Ctx, key: str, path: str, *, offset: int = 0, length: int = 0
    ) -> Iterator[bytes]:
        path = bpaths.clean(path)
        bucket = self.load(ctx, key, path, Access.READ)
        where = _where(ctx, key, path)
        with content.corruption_logged(where):
            entry = self.resolve(bucket, path)
            tree = self.tree(bucket)
            info = content.node_info(self.blocks, self.attrs, tree.codec, entry.cid, bucket.private)
        if info.kind == content.DIR:
            raise IsADirectory("node is a directory", wire_code="UNKNOWN")
        if info.kind == content.SYMLINK:
            return iter([info.target.encode()[offset : (offset + length) if length else None]])
        key_bytes = self.file_key(bucket, path)
        return content.read(
            self.blocks, entry.cid, key_bytes, offset, length, info.file_size, where=where
        )

    def pull_ipfs_path(
        self, ipfs_path: str, *, offset: int = 0, length: int = 0
    ) -> Iterator[bytes]:
        cid, rest = parse_ipfs_path(ipfs_path)
        entry = Tree(self.public_dirs).resolve(cid, rest)
        info = content.node_info(self.blocks, self.attrs, self.public_dirs, entry.cid, False)
        if info.kind == content.DIR:
            raise IsADirectory("node is a directory", wire_code="UNKNOWN")
        return content.read(self.blocks, entry.cid, None, offset, length, where=ipfs_path)

    def pull_roles(self, ctx: Ctx, key: str, path: str) -> dict[str, int]:
        path = bpaths.clean(path)
        bucket = self.load(ctx, key, path, Access.READ)
        if path:
            self.resolve_or_missing(bucket, path)
        return effective_map(bucket.metadata, path)

    # -- commit -----------------------------------------------------------------------------

    def commit(self, bucket: Bucket, new_root: CID, ctx: Ctx) -> None:
        """Save ``bucket`` with ``new_root`` (blocks must already be durable)."""
        bucket.path = f"/ipfs/{new_root}"
        bucket.updated_at = now_ns()
        self.records.save(bucket, ctx.who)


class _Gate:
    """A readers-writer gate: many mutations at once, or one garbage collection."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._exclusive)
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._exclusive)
            self._exclusive = True
            self._cond.wait_for(lambda: self._shared == 0)
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()


def _where(ctx: Ctx, key: str, path: str) -> str:
    """How a corrupt-block log line names a bucket path."""
    return f"bucket {key} (thread {ctx.thread}) path {path!r}"


def parse_ipfs_path(ipfs_path: str) -> tuple[CID, str]:
    """``/ipfs/<cid>/a/b`` → (CID, ``"a/b"``)."""
    text = ipfs_path.strip()
    text = text.removeprefix("/ipfs/").removeprefix("ipfs/")
    head, _, rest = text.partition("/")
    try:
        cid = CID.parse(head)
    except InvalidArgument as exc:
        raise InvalidArgument(f"invalid IPFS path {ipfs_path!r}: {exc.message}") from exc
    return cid, bpaths.clean(rest)


def new_file_key_b64() -> str:
    return base64.b64encode(dcrypto.new_key()).decode()
