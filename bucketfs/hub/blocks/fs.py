"""Filesystem block store: one file per block under ``<data>/blocks/<shard>/<cid>``.

The file name is the base32 of the block's multihash (blocks are keyed by multihash, see
``base.py``); the shard directory is the two characters before its last one (as IPFS's flatfs
``next-to-last/2``; multihashes share their first characters, so a prefix would not spread).
A block is written to a temporary file in its shard directory and renamed into place, so a
reader never sees a partial block under its name.

Durability: a ``put`` outside a batch fsyncs the file and its directory before returning.
Inside :meth:`FileBlockStore.batch` nothing is synced per block: the end of the batch waits for
**one durability barrier** covering every block the batch wrote — one ``syncfs(2)`` of the
store's filesystem where the C library has it (``sync="auto"``, the default, or ``"syncfs"``),
else one fsync of each written file and then of each directory they were renamed into
(``"fsync"``). Batches ending at the same time in several threads share one barrier (group
commit, ``bucketfs.hub.groupsync``): each returns once a barrier that started after its last
write has completed.
The bucket logic writes all blocks of an update in one batch and commits the new root only
after the batch has ended, so a committed root never references a block that is not on disk.

``syncfs`` also flushes other dirty data of the same filesystem: on a disk shared with
write-heavy programs a barrier can then take longer than fsyncing a few files; give the hub a
data directory of its own filesystem, or ``sync="fsync"``.

A block left half-written by a crash inside a batch is never trusted: ``get`` verifies every
block against its CID, and a ``put`` that finds a file of the block's name compares its bytes and
rewrites it unless they are exactly the block's.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from bucketfs.durable import fsync_dir, fsync_path
from bucketfs.errors import InvalidArgument, NotFound
from bucketfs.hub.groupsync import GroupBarrier
from bucketfs.ipfs import multibase
from bucketfs.ipfs.cid import CID, Block

from .base import BlockStore

SYNC_MODES = ("auto", "syncfs", "fsync")


def _load_syncfs() -> Callable[[int], int] | None:
    """``syncfs(2)`` from the C library, or None where it does not exist."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


_SYNCFS = _load_syncfs()


class FileBlockStore(BlockStore):
    """Blocks as files in a directory tree; safe for several threads of one process."""

    def __init__(self, root: Path | str, *, fsync: bool = True, sync: str = "auto") -> None:
        if sync not in SYNC_MODES:
            raise InvalidArgument(f"block store sync must be one of {', '.join(SYNC_MODES)}")
        if sync == "syncfs" and _SYNCFS is None:
            raise InvalidArgument("syncfs(2) is not available on this system")
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self.durable = fsync
        self.sync_mode = "fsync" if sync == "auto" and _SYNCFS is None else sync
        if self.sync_mode == "auto":
            self.sync_mode = "syncfs"
        #: durability barriers issued (one per group of batches that wrote blocks, one per lone put)
        self.barriers = 0
        self._group: GroupBarrier[Path] = GroupBarrier(self._barrier)
        self._local = threading.local()  # per thread: pending paths and batch depth
        #: shard directories known to exist (a block's mkdir is then skipped)
        self._shards: set[str] = set()

    def _path(self, cid: CID) -> Path:
        text = multibase.b32encode(cid.multihash)
        return self.root / text[-3:-1] / text

    @property
    def _pending(self) -> list[Path] | None:
        return getattr(self._local, "pending", None)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Defer durability of the blocks this thread puts inside the block to one barrier at
        its end (nestable; each thread has its own batch). The barrier also runs when the block
        raises: blocks written so far are kept, as a later put of the same block would."""
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

    @contextlib.contextmanager
    def deferred(self) -> Iterator[list[object]]:
        """Puts of this thread inside the block are not synced; the yielded list collects their
        paths for :meth:`adopt` by the batch that will cover them (not nestable in a batch)."""
        local = self._local
        if getattr(local, "depth", 0):
            raise RuntimeError("deferred() inside a batch")
        written: list[Path] = []
        local.pending, local.depth = written, 1
        try:
            yield written  # type: ignore[misc]
        finally:
            local.pending, local.depth = None, 0

    def adopt(self, pending: list[object]) -> None:
        paths = [p for p in pending if isinstance(p, Path)]
        current = self._pending
        if current is not None:
            current.extend(paths)
        else:
            self._sync(paths)

    def _sync(self, written: list[Path]) -> None:
        """Make the files ``written`` (and their directory entries) durable: wait for one
        barrier that covers them, shared with the batches of other threads."""
        if not self.fsync or not written:
            return
        self._group.sync(written)

    def _barrier(self, written: list[Path]) -> None:
        """One barrier for the files ``written`` by a group of batches."""
        self.barriers += 1
        if self.sync_mode == "syncfs" and _SYNCFS is not None:
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
            try:
                if _SYNCFS(fd) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"syncfs of {self.root}: {os.strerror(err)}")
            finally:
                os.close(fd)
            return
        for path in written:
            fsync_path(path)  # a file, or a new shard directory
        for parent in {p.parent for p in written}:
            fsync_dir(parent)

    def _same_bytes(self, path: Path, data: bytes | bytearray | memoryview) -> bool:
        """Whether ``path`` already holds exactly ``data`` (a size check first)."""
        try:
            if os.stat(path).st_size != len(data):
                return False
            with open(path, "rb") as f:
                return f.read() == data
        except FileNotFoundError:
            return False

    def put(self, block: Block) -> None:
        path = self._path(block.cid)
        data = block.data
        if self._same_bytes(path, data):
            return
        pending = self._pending
        shard = path.parent
        if shard.name not in self._shards:
            self._make_shard(shard, pending)
        tmp = os.path.join(shard, f".tmp-{secrets.token_hex(8)}")
        self._write_file(tmp, data, durable_now=self.fsync and pending is None)
        os.replace(tmp, path)
        if pending is not None:
            pending.append(path)
        elif self.fsync:
            self.barriers += 1
            fsync_dir(shard)

    def _write_file(self, name: str, data: bytes, *, durable_now: bool) -> None:
        """Write ``data`` to the new file ``name`` (fsynced when ``durable_now``)."""
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if durable_now:
                os.fsync(fd)
        finally:
            os.close(fd)

    def _make_shard(self, shard: Path, pending: list[Path] | None) -> None:
        try:
            shard.mkdir()
        except FileExistsError:
            pass
        else:  # a new shard: its entry in the root directory must become durable too
            if pending is not None:
                pending.append(shard)
            elif self.fsync:
                fsync_dir(self.root)
        self._shards.add(shard.name)

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
