"""Filesystem block store: one file per block under ``<data>/blocks/<shard>/<cid>``.

The file name is the base32 of the block's multihash (blocks are keyed by multihash, see
``base.py``); the shard directory is the two characters before its last one (as IPFS's flatfs
``next-to-last/2``; multihashes share their first characters, so a prefix would not spread).
A block is written to a temporary file in its shard directory and renamed into place, so a
reader never sees a partial block under its name.

Durability: with ``fsync=True`` each ``put`` fsyncs the file and its directory before returning.
Inside :meth:`FileBlockStore.batch` the fsyncs are deferred to the end of the batch (one pass
over the written files, or one ``sync()`` for large batches): the bucket logic writes all blocks
of an update in a batch and commits the new root only after the batch has ended, so a committed
root never references a block that is not on disk. A block left half-written by a crash inside
a batch fails verification on read (``CorruptData``) and is rewritten by the next ``put``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

from bucketfs.errors import NotFound
from bucketfs.ipfs import multibase
from bucketfs.ipfs.cid import CID, Block

from .base import BlockStore

#: above this many pending files, one global sync() is cheaper than one fsync per file
_SYNC_ALL_THRESHOLD = 256


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileBlockStore(BlockStore):
    """Blocks as files in a directory tree; safe for several threads of one process."""

    def __init__(self, root: Path | str, *, fsync: bool = True) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self.durable = fsync
        self._local = threading.local()  # per thread: pending paths and batch depth

    def _path(self, cid: CID) -> Path:
        text = multibase.b32encode(cid.multihash)
        return self.root / text[-3:-1] / text

    @property
    def _pending(self) -> list[Path] | None:
        return getattr(self._local, "pending", None)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Defer fsyncs of the blocks this thread puts inside the block to its end (nestable;
        each thread has its own batch)."""
        local = self._local
        depth = getattr(local, "depth", 0)
        if depth == 0:
            local.pending = []
        local.depth = depth + 1
        try:
            yield
        finally:
            local.depth -= 1
            if local.depth == 0:
                pending, local.pending = local.pending or [], None
                self._sync(pending)

    def _sync(self, written: list[Path]) -> None:
        if not self.fsync or not written:
            return
        if len(written) > _SYNC_ALL_THRESHOLD:
            os.sync()
            return
        for path in written:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for parent in {p.parent for p in written}:
            _fsync_dir(parent)

    def put(self, block: Block) -> None:
        path = self._path(block.cid)
        data = block.data
        try:
            if path.stat().st_size == len(data):
                return
        except FileNotFoundError:
            pass
        path.parent.mkdir(exist_ok=True)
        tmp = path.parent / f".tmp-{secrets.token_hex(8)}"
        with open(tmp, "wb") as f:
            f.write(data)
            if self.fsync and self._pending is None:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
        if self._pending is not None:
            self._pending.append(path)
        elif self.fsync:
            _fsync_dir(path.parent)

    def get_unchecked(self, cid: CID) -> bytes:
        try:
            return self._path(cid).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"block {cid} not found") from None

    def has(self, cid: CID) -> bool:
        return self._path(cid).exists()

    def size(self, cid: CID) -> int:
        try:
            return self._path(cid).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"block {cid} not found") from None

    def delete(self, cid: CID) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(cid).unlink()

    def __iter__(self) -> Iterator[bytes]:
        for shard in sorted(self.root.iterdir()):
            if not shard.is_dir():
                continue
            for entry in shard.iterdir():
                if not entry.name.startswith("."):
                    yield multibase.b32decode(entry.name)
