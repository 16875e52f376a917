"""Group commit of concurrent PushPath calls into one bucket.

Each PushPath streams its file into blocks **before** taking the bucket lock (written, not yet
synced: ``BlockStore.deferred``) and queues the result here. Whoever then holds the bucket lock
links every queued file into the tree in arrival order — each with its own role and ``root``
check against the root as the files before it left it, exactly as if they had been applied one
by one — writes the new directory nodes, waits for **one** block barrier covering the files and
the nodes of the whole group, and commits the final root with one save. The others find their
push done when they get the lock; every caller then waits for a commit barrier that started
after that commit (``durability.py``) before it answers.

Every push of a group answers with the group's final (committed) root: an intermediate root was
never committed, and a client that pushed with it as ``root`` would get a non-fast-forward.
Private buckets are not grouped (a file's encryption key is read under the lock).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bucketfs.errors import BucketfsError

from . import content
from .model import Bucket
from .roles import Access, check
from .service import Ctx
from .tree import Entry

if TYPE_CHECKING:
    from .mutations import Buckets


@dataclass
class QueuedPush:
    """One imported file waiting to be linked, and what became of it."""

    ctx: Ctx
    path: str
    root: str
    mode: int
    mtime: int
    entry: Entry
    plain: int
    written: list[object]  # what the group's block barrier must cover (BlockStore.deferred)
    path_cid: str | None = None  # extension path_check: the CID expected at ``path``
    done: bool = False
    rebased: bool = False  # the path check let it in on a root other than ``root``
    error: BaseException | None = None
    pinned: int = 0
    bucket: Bucket | None = None  # the bucket as committed by the push's group


class PushQueues:
    """Queued pushes by bucket (one owner: the bucket service)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[tuple[str, str], list[QueuedPush]] = {}

    def add(self, thread: str, key: str, push: QueuedPush) -> None:
        with self._lock:
            self._queues.setdefault((thread, key), []).append(push)

    def take(self, thread: str, key: str) -> list[QueuedPush]:
        with self._lock:
            return self._queues.pop((thread, key), [])


def link_queued(service: Buckets, queues: PushQueues, thread: str, key: str) -> None:
    """Link every queued push of the bucket (the caller holds the bucket lock)."""
    pushes = queues.take(thread, key)
    if not pushes:
        return
    try:
        _link(service, thread, key, pushes)
    except BaseException as exc:
        for push in pushes:
            if not push.done:
                push.error, push.done = exc, True
        raise


def _link(service: Buckets, thread: str, key: str, pushes: list[QueuedPush]) -> None:
    bucket = service.records.get(thread, key)
    tree = service.tree(bucket)
    cur = service.root_cid(bucket)
    size = content.dag_size(service.blocks, cur)
    linked: list[QueuedPush] = []
    with service.blocks.batch():  # one barrier: the group's files and directory nodes
        for push in pushes:
            try:
                check(bucket.owner, bucket.metadata, push.path, push.ctx.who, Access.WRITE)
                push.rebased = service.check_base_at(tree, cur, push.root, push.path, push.path_cid)
                new = tree.update(cur, push.path, push.entry)
            except BucketfsError as exc:
                push.error, push.done = exc, True
                continue
            service.blocks.adopt(push.written)
            push.pinned, size, cur = new.tsize - size, new.tsize, new.cid
            linked.append(push)
    if not linked:
        return
    paths = [p.path for p in linked]
    service._after_write(bucket, paths, linked[-1].ctx)
    service.commit(bucket, cur, linked[-1].ctx)
    service._set_attrs(bucket, [(p.path, p.mode, p.mtime) for p in linked], replace_tree=True)
    files = [(p.entry.cid, p.plain) for p in linked]
    content.remember_files(service.attrs, files, bucket.private)
    for push in linked:
        push.bucket, push.done = bucket, True
