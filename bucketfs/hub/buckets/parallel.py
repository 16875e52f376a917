"""Leaf hashing and verification on a small thread pool, pipelined with the gRPC stream.

SHA-256 is the hub's main CPU cost for large files (every leaf is hashed when it is imported and
again when it is read back), and ``hashlib`` releases the GIL for buffers this large, so a leaf
can be hashed on another core while the servicer thread receives or sends the next one.

* :class:`LeafHasher` — the import side: leaves go in in file order and come back as blocks in
  the same order, at most ``depth`` per upload waiting behind the oldest unfinished one.
* :func:`prefetch_leaves` — the read side: walks a :func:`~bucketfs.ipfs.importer.read_plan`
  and reads and verifies up to ``depth`` raw leaves ahead of the one being sent. A leaf is
  released only after its bytes matched its CID (:class:`~bucketfs.errors.CorruptData`
  otherwise), exactly as in the sequential reader.

Memory stays bounded however many streams run at once: a leaf handed to the pool takes one of
:data:`MAX_IN_FLIGHT` process-wide slots until its work is done; when none is free the stream does
the work itself, in order, after its own queued leaves (it never waits for a slot, so streams
cannot deadlock on each other). Leaves under :data:`INLINE_BELOW` bytes are always done inline.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from bucketfs.ipfs.cid import CID, RAW, Block, load_block
from bucketfs.ipfs.importer import LeafRef, read_plan

#: leaves in flight per upload or download (256 KiB each)
DEPTH = 4
#: leaves handed to the pool at once, all streams together
MAX_IN_FLIGHT = 32
#: leaves below this size are hashed inline (a pool hand-off costs more than hashing them)
INLINE_BELOW = 64 * 1024

T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_slots = threading.BoundedSemaphore(MAX_IN_FLIGHT)


def pool() -> ThreadPoolExecutor:
    """The process-wide hashing pool (one worker per core, at least two)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max(2, os.cpu_count() or 2), thread_name_prefix="hub-hash")
        return _pool


def _offload(fn: Callable[..., T], *args: Any) -> Future[T] | None:
    """Run ``fn(*args)`` on the pool if a slot is free (released when it is done), else None."""
    if not _slots.acquire(blocking=False):
        return None
    try:
        future = pool().submit(fn, *args)
    except BaseException:
        _slots.release()
        raise
    future.add_done_callback(lambda _f: _slots.release())
    return future


def _raw_cid(data: bytes) -> CID:
    return CID(1, RAW, b"\x12\x20" + hashlib.sha256(data).digest())


class LeafHasher:
    """Hash raw leaves in parallel, handing them back in submission order."""

    def __init__(self, depth: int = DEPTH) -> None:
        self._depth = depth
        self._queue: deque[tuple[Future[CID], bytes]] = deque()

    def submit(self, data: bytes) -> Iterator[Block]:
        """Queue one leaf; yield the leaves that are ready, oldest first (all of them, in order,
        when this one has to be hashed inline)."""
        future = _offload(_raw_cid, data) if len(data) >= INLINE_BELOW else None
        if future is None:
            yield from self.drain()
            yield Block(_raw_cid(data), data)
            return
        self._queue.append((future, data))
        while self._queue and (len(self._queue) > self._depth or self._queue[0][0].done()):
            yield self._pop()

    def drain(self) -> Iterator[Block]:
        """Every queued leaf, in order."""
        while self._queue:
            yield self._pop()

    def _pop(self) -> Block:
        future, data = self._queue.popleft()
        return Block(future.result(), data)

    def cancel(self) -> None:
        """Forget queued leaves (an upload that failed)."""
        for future, _data in self._queue:
            future.cancel()
        self._queue.clear()


def prefetch_leaves(
    root: CID,
    get_block: Callable[[CID], bytes],
    offset: int = 0,
    length: int | None = None,
    depth: int = DEPTH,
) -> Iterator[bytes]:
    """The bytes of the file ``root`` (as :func:`~bucketfs.ipfs.importer.read_file`), with the
    next ``depth`` raw leaves read and verified on the pool while the current one is used."""
    ahead: deque[tuple[Future[bytes] | bytes, LeafRef | None]] = deque()
    try:
        for part in read_plan(root, get_block, offset, length):
            if isinstance(part, LeafRef):
                future = _offload(_load, part.cid, get_block)
                if future is None:  # no slot: what is queued first, then this leaf here
                    while ahead:
                        yield from _next(ahead)
                    ahead.append((_load(part.cid, get_block), part))
                else:
                    ahead.append((future, part))
            else:
                ahead.append((part, None))
            while len(ahead) > depth:
                yield from _next(ahead)
        while ahead:
            yield from _next(ahead)
    finally:
        for item, _ref in ahead:
            if isinstance(item, Future):
                item.cancel()


def _load(cid: CID, get_block: Callable[[CID], bytes]) -> bytes:
    return load_block(cid, get_block).data


def _next(ahead: deque[tuple[Future[bytes] | bytes, LeafRef | None]]) -> Iterator[bytes]:
    item, ref = ahead.popleft()
    piece = item.result() if isinstance(item, Future) else item
    if ref is not None:
        piece = ref.take(piece)
    if piece:
        yield piece
