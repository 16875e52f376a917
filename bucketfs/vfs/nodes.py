"""The inode table: one ``Node`` per name the kernel knows, with cached attributes.

A node is identified by its parent inode and name, so renaming a directory re-parents one node
and every descendant's bucket path follows. Attributes come from the parent's listing (that is
how ``ls -l`` costs no round trip per entry) and are refreshed from the (validated) cached
listing when older than ``vfs.core.LIST_TTL``.
Inodes 1–3 are fixed: the mount root, ``buckets/`` and ``threads/``.
"""

from __future__ import annotations

import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from bucketfs.errors import NotFound

ROOT_INO = 1
BUCKETS_INO = 2
THREADS_INO = 3


class Kind(Enum):
    ROOT = "root"  # the mount root and the fixed top-level directories
    BUCKET = "bucket"  # a bucket's root directory
    DIR = "dir"
    FILE = "file"
    LINK = "link"

    @property
    def is_dir(self) -> bool:
        return self in (Kind.ROOT, Kind.BUCKET, Kind.DIR)


@dataclass(frozen=True)
class Attr:
    """What ``stat`` shows for a node."""

    ino: int
    mode: int  # st_mode including the type bits
    size: int
    mtime: int  # ns
    nlink: int
    ttl: float = 1.0  # how long the kernel may cache the entry and these attributes (s)
    ctime: int = 0  # ns; 0 = as mtime
    atime: int = 0  # ns; 0 = as mtime


@dataclass
class Node:
    ino: int
    parent: int
    name: str
    kind: Kind
    bucket: str = ""  # bucket key; "" outside buckets
    cid: str = ""
    size: int = 0
    size_exact: bool = True
    perm: int = 0  # permission bits; 0 = default for the kind
    mtime: int = 0
    ctime: int = 0  # ns of the last local change of data or attributes (0 = as mtime)
    atime: int = 0  # ns of an access time set through this mount (0 = as mtime)
    touched: int = 0  # directories: ns of our last change of an entry (shown if newer)
    target: str = ""  # symlink target
    checked: float = 0.0  # monotonic time the attributes were last confirmed
    lookups: int = 0
    unlinked: bool = False
    children: dict[str, int] = field(default_factory=dict)

    def changed(self, data: bool = False) -> None:
        """A local change of the node's attributes (and of its data: mtime too)."""
        now = time.time_ns()
        self.ctime = now
        if data:
            self.mtime = now

    def entries_changed(self) -> None:
        """An entry of this directory was created, removed or renamed (mtime and ctime)."""
        self.touched = self.ctime = time.time_ns()

    def attr(self, size: int | None = None, ttl: float = 1.0, subdirs: int = 0) -> Attr:
        if self.kind is Kind.LINK:
            mode = stat.S_IFLNK | 0o777
        elif self.kind.is_dir:
            mode = stat.S_IFDIR | (self.perm or 0o755)
        else:
            mode = stat.S_IFREG | (self.perm or 0o644)
        nlink = 2 + subdirs if self.kind.is_dir else 0 if self.unlinked else 1
        if self.kind is Kind.LINK:
            size = len(self.target.encode())
        mtime = max(self.mtime, self.touched)
        size = self.size if size is None else size
        ctime = max(self.ctime, mtime)
        return Attr(self.ino, mode, size, mtime, nlink, ttl, ctime, self.atime or mtime)


class InodeTable:
    """Inode numbers ↔ nodes, plus the (parent, name) index."""

    def __init__(self) -> None:
        now = time.time_ns()
        self._nodes: dict[int, Node] = {}
        self._next = THREADS_INO + 1
        root = Node(ROOT_INO, ROOT_INO, "", Kind.ROOT, mtime=now)
        self._nodes[ROOT_INO] = root
        for ino, name in ((BUCKETS_INO, "buckets"), (THREADS_INO, "threads")):
            self._nodes[ino] = Node(ino, ROOT_INO, name, Kind.ROOT, mtime=now)
            root.children[name] = ino
        self._nodes[THREADS_INO].perm = 0o555
        #: inodes kept although the kernel forgot them (open or staged files: set by the vfs)
        self.pinned: Callable[[int], bool] = lambda ino: False

    def __len__(self) -> int:
        return len(self._nodes)

    def get(self, ino: int) -> Node:
        node = self._nodes.get(ino)
        if node is None:
            raise NotFound(f"inode {ino} is unknown")
        return node

    def get_or_none(self, ino: int) -> Node | None:
        return self._nodes.get(ino)

    def child(self, parent: int, name: str) -> Node | None:
        ino = self.get(parent).children.get(name)
        return self._nodes.get(ino) if ino is not None else None

    def upsert(self, parent: int, name: str, kind: Kind, bucket: str) -> Node:
        """The child ``name`` of ``parent`` with this kind, created (new inode) if needed."""
        node = self.child(parent, name)
        if node is not None and node.kind is kind and node.bucket == bucket:
            return node
        if node is not None:
            self.detach(node)
        node = Node(self._next, parent, name, kind, bucket)
        self._next += 1
        self._nodes[node.ino] = node
        self.get(parent).children[name] = node.ino
        return node

    def detach(self, node: Node) -> None:
        """Remove ``node`` from its parent's index (it lives on while the kernel knows it)."""
        parent = self._nodes.get(node.parent)
        if parent is not None and parent.children.get(node.name) == node.ino:
            del parent.children[node.name]
        node.unlinked = True
        if node.lookups <= 0:
            self._drop(node)

    def move(self, node: Node, new_parent: int, new_name: str) -> None:
        old = self.child(new_parent, new_name)
        if old is not None and old is not node:
            self.detach(old)
        parent = self._nodes.get(node.parent)
        if parent is not None and parent.children.get(node.name) == node.ino:
            del parent.children[node.name]
        node.parent, node.name = new_parent, new_name
        self.get(new_parent).children[new_name] = node.ino

    def forget(self, ino: int, count: int) -> None:
        """The kernel forgot ``count`` lookups of ``ino``: at none left the node is dropped
        (its attributes live on in the cached listings), unless ``pinned`` keeps it."""
        node = self._nodes.get(ino)
        if node is None or ino <= THREADS_INO:
            return
        node.lookups -= count
        if node.lookups <= 0:
            self._drop(node)

    def _drop(self, node: Node) -> None:
        """Drop a node nobody refers to: no lookups, no children, not pinned; then its parent,
        if that was only kept for it."""
        while node.ino > THREADS_INO and not node.children and not self.pinned(node.ino):
            self._nodes.pop(node.ino, None)
            parent = self._nodes.get(node.parent)
            if parent is None:
                return
            if parent.children.get(node.name) == node.ino:
                del parent.children[node.name]
            if parent.lookups > 0:
                return
            node = parent

    def bucket_path(self, node: Node) -> str:
        """The node's path inside its bucket ("" for the bucket root), without leading slash."""
        parts: list[str] = []
        while node.kind not in (Kind.BUCKET, Kind.ROOT):
            parts.append(node.name)
            node = self.get(node.parent)
        return "/".join(reversed(parts))

    def find(self, key: str, path: str) -> Node | None:
        """The node at ``path`` inside the bucket with key ``key``, if this table has it."""
        bucket = next(
            (
                n
                for i in self.get(BUCKETS_INO).children.values()
                if (n := self._nodes.get(i)) is not None and n.bucket == key
            ),
            None,
        )
        node = bucket
        for part in path.split("/") if path else []:
            if node is None:
                return None
            node = self.child(node.ino, part)
        return node

    def bucket_node(self, node: Node) -> Node:
        while node.kind is not Kind.BUCKET:
            if node.kind is Kind.ROOT:
                raise NotFound("not inside a bucket")
            node = self.get(node.parent)
        return node
