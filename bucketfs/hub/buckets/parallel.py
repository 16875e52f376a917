"""Leaf hashing and verification on a small thread pool, pipelined with the gRPC stream.

SHA-256 is the hub's main CPU cost for large files (every leaf is hashed when it is imported and
again when it is read back), and ``hashlib`` releases the GIL for buffers this large, so a leaf
can be hashed on another core while the servicer thread receives or sends the next one.

* :class:`LeafHasher` — the import side: leaves go in in file order, ``(block, future)`` pairs
  come out in the same order, at most ``depth`` leaves in flight (bounded memory per upload).
* :func:`prefetch_leaves` — the read side: walks a :func:`~bucketfs.ipfs.importer.read_plan`
  and reads and verifies up to ``depth`` raw leaves ahead of the one being sent. A leaf is
  released only after its bytes matched its CID (:class:`~bucketfs.errors.CorruptData`
  otherwise), exactly as in the sequential reader.

Tiny files never touch the pool: only full leaves are handed to it.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from bucketfs.ipfs.cid import CID, RAW, Block, load_block
from bucketfs.ipfs.importer import LeafRef, read_plan

#: leaves in flight per upload or download (256 KiB each)
DEPTH = 4
#: leaves below this size are hashed inline (a pool hand-off costs more than hashing them)
INLINE_BELOW = 64 * 1024

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def pool() -> ThreadPoolExecutor:
    """The process-wide hashing pool (one worker per core, at least two)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max(2, os.cpu_count() or 2), thread_name_prefix="hub-hash")
        return _pool


def _raw_cid(data: bytes) -> CID:
    return CID(1, RAW, b"\x12\x20" + hashlib.sha256(data).digest())


class LeafHasher:
    """Hash raw leaves in parallel, handing them back in submission order."""

    def __init__(self, depth: int = DEPTH) -> None:
        self._depth = depth
        self._queue: deque[Future[CID]] = deque()
        self._data: deque[bytes] = deque()

    def submit(self, data: bytes) -> Iterator[Block]:
        """Queue one leaf; yield the leaves that are done, oldest first, once ``depth`` wait."""
        if len(data) < INLINE_BELOW and not self._queue:
            yield Block(_raw_cid(data), data)
            return
        self._queue.append(pool().submit(_raw_cid, data))
        self._data.append(data)
        while len(self._queue) > self._depth:
            yield self._pop()

    def drain(self) -> Iterator[Block]:
        """Every queued leaf, in order."""
        while self._queue:
            yield self._pop()

    def _pop(self) -> Block:
        return Block(self._queue.popleft().result(), self._data.popleft())

    def cancel(self) -> None:
        """Forget queued leaves (an upload that failed)."""
        for future in self._queue:
            future.cancel()
        self._queue.clear()
        self._data.clear()


def prefetch_leaves(
    root: CID,
    get_block: Callable[[CID], bytes],
    offset: int = 0,
    length: int | None = None,
    depth: int = DEPTH,
) -> Iterator[bytes]:
    """The bytes of the file ``root`` (as :func:`~bucketfs.ipfs.importer.read_file`), with the
    next ``depth`` raw leaves read and verified on the pool while the current one is used."""
    ahead: deque[Future[bytes] | bytes] = deque()
    refs: deque[LeafRef | None] = deque()
    plan = read_plan(root, get_block, offset, length)
    try:
        for part in plan:
            if isinstance(part, LeafRef):
                ahead.append(pool().submit(_load, part.cid, get_block))
                refs.append(part)
            else:
                ahead.append(part)
                refs.append(None)
            while len(ahead) > depth:
                yield from _next(ahead, refs)
        while ahead:
            yield from _next(ahead, refs)
    finally:
        for item in ahead:
            if isinstance(item, Future):
                item.cancel()


def _load(cid: CID, get_block: Callable[[CID], bytes]) -> bytes:
    return load_block(cid, get_block).data


def _next(ahead: deque[Future[bytes] | bytes], refs: deque[LeafRef | None]) -> Iterator[bytes]:
    item = ahead.popleft()
    ref = refs.popleft()
    piece = item.result() if isinstance(item, Future) else item
    if ref is not None:
        piece = ref.take(piece)
    if piece:
        yield piece
