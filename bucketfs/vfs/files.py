"""Files open for writing: a local staging file per inode, pushed on flush/fsync/close.

Every inode that some handle opened for writing has one ``OpenFile`` (shared by all its
handles, so a read through one descriptor sees a write through another). Its bytes live in
``staging/`` of the cache directory; existing content is copied in on the first write or
truncate unless the file was opened with ``O_TRUNC`` or created. ``generation`` counts writes so
that a push racing with a write leaves the file dirty.

In write-back mode the staging file lives in the journal's ``data/`` directory and is recorded
there on close (``journaled``): it is then never changed again (the next write first copies it,
``detach``) and not deleted when the file is closed (the journal owns it).

A full local disk: a write (truncate, copy-in, detach) that gets ENOSPC or EDQUOT first asks the
content caches on that filesystem to evict clean files (``content.make_room``) and tries again;
if there is still no room the file is ``failed``: that write and every later write, flush,
fsync and close of it fail with ENOSPC (sticky until the last handle closes, as JuiceFS's file
writer keeps its error and an NFS client reports a failed write at close), it is no longer
``dirty`` (nothing pushes or journals it), its staged bytes are never cached under a CID
(``cacheable_cid``), and the staging file is deleted at the last close, which releases its
space. What the hub (or the journal) had before stays the file's content.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import trio

from bucketfs.errors import NoSpace
from bucketfs.vfs.content import with_room

log = logging.getLogger("bucketfs.vfs")

PUSH_CHUNK = 1 << 20
_names = itertools.count(1)
T = TypeVar("T")


@dataclass
class OpenFile:
    ino: int
    path: Path
    fd: int
    base_cid: str  # the remote content this staging copy started from ("" = new file)
    loaded: bool  # staging holds the whole current content
    refs: int = 0
    generation: int = 0
    pushed_generation: int = 0
    pushed_cid: str = ""
    unlinked: bool = False
    pending_mode: int | None = None
    pending_mtime: int | None = None
    journaled: bool = False  # the staging file belongs to the write-back journal
    origin: object = None  # write-back: the journal change this copy started from (see _commit)
    failed: str = ""  # why a write found no room: the file's changes are discarded
    lock: trio.Lock = field(default_factory=trio.Lock)
    load_lock: trio.Lock = field(default_factory=trio.Lock)

    @classmethod
    def new(
        cls, staging_dir: Path, ino: int, base_cid: str, loaded: bool, src: Path | None = None
    ) -> OpenFile:
        """A new staging file in ``staging_dir`` (with a copy of ``src``, if given: nothing is
        left behind if that copy finds no room)."""
        path = staging_dir / f"{os.getpid()}-{ino}-{next(_names)}"
        fd = with_room(staging_dir, "new staging file", 0, lambda: _create(path))
        of = cls(ino, path, fd, base_cid, loaded)
        if src is not None:
            try:
                of.load_from(src)
            except BaseException:
                of.close()
                raise
        return of

    @property
    def dirty(self) -> bool:
        """Changed since the last push (or journal record); a failed file never is."""
        return not self.failed and self.generation != self.pushed_generation

    def check(self) -> None:
        """Raise ``NoSpace`` if a write of this file failed (flush/fsync/close report it)."""
        if self.failed:
            raise NoSpace(self.failed)

    def cacheable_cid(self) -> str:
        """The CID whose content the staging file holds exactly (the last push, nothing
        changed since), for the content cache; "" when there is none."""
        if self.failed or self.dirty or not self.loaded:
            return ""
        return self.pushed_cid

    async def fetching(self, download: Awaitable[T]) -> T:
        """``download`` (of the current content, for the copy-in); ``NoSpace`` from it fails
        the file as a failed write does."""
        try:
            return await download
        except NoSpace as exc:
            self._fail(exc.message)
            raise

    def recording(self, record: Callable[..., T]) -> Callable[..., T]:
        """``record`` (the journal's append of this file's change); ``NoSpace`` from it fails
        the file as a failed write does."""

        def call(*args: object, **kwargs: object) -> T:
            try:
                return record(*args, **kwargs)
            except NoSpace as exc:
                self._fail(exc.message)
                raise

        return call

    def touch(self) -> None:
        self.generation += 1

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def load_from(self, src: Path) -> None:
        """Replace the staging content by a copy of ``src`` (the current remote content)."""
        self.check()
        fd = os.open(src, os.O_RDONLY)  # held: making room may evict ``src`` from the cache
        try:
            size = os.fstat(fd).st_size
            self._with_room("copy-in", size, lambda: _copy(fd, self.fd, size, truncate=True))
        finally:
            os.close(fd)
        self.loaded = True

    def read(self, off: int, size: int) -> bytes:
        return os.pread(self.fd, size, off)

    def detach(self, staging_dir: Path) -> None:
        """Continue in a private copy of the staging file (the journal keeps the original)."""
        self.check()
        path = staging_dir / f"{os.getpid()}-{self.ino}-{next(_names)}"
        fd = -1
        try:
            fd = self._with_room("copy", 0, lambda: _create(path))
            size = os.fstat(self.fd).st_size
            self._with_room("copy", size, lambda: _copy(self.fd, fd, size, truncate=True))
        except BaseException:
            if fd >= 0:
                os.close(fd)
            path.unlink(missing_ok=True)
            raise
        os.close(self.fd)
        self.fd, self.path, self.journaled = fd, path, False

    def write(self, off: int, data: bytes) -> int:
        """Write all of ``data`` at ``off`` (a short write on a full disk is finished after
        the caches made room, or the file fails)."""
        self.check()
        view = memoryview(data)
        done = 0

        def rest() -> None:
            nonlocal done
            while done < len(view):
                done += os.pwrite(self.fd, view[done:], off + done)

        self._with_room("write", len(data), rest)
        self.touch()
        return len(data)

    def truncate(self, size: int) -> None:
        self.check()
        self._with_room("truncate", max(0, size - self.size()), lambda: os.ftruncate(self.fd, size))
        self.touch()

    def _with_room(self, what: str, need: int, step: Callable[[], T]) -> T:
        """``step()`` with room made on a full disk (``content.with_room``); without room the
        file fails."""
        try:
            return with_room(self.path.parent, what, need, step)
        except NoSpace as exc:
            self._fail(exc.message)
            raise NoSpace(self.failed) from None

    def _fail(self, why: str) -> None:
        if not self.failed:
            self.failed = f"{why}; the unsaved changes of inode {self.ino} are discarded"
            log.error("%s", self.failed)

    async def chunks(self, limit: int | None = None) -> AsyncIterator[bytes]:
        """The staged bytes (the first ``limit`` of them) in pieces of at most 1 MiB (never the
        whole file in memory)."""
        off = 0
        while True:
            want = PUSH_CHUNK if limit is None else min(PUSH_CHUNK, limit - off)
            data = os.pread(self.fd, want, off) if want > 0 else b""
            if not data:
                return
            off += len(data)
            yield data
            await trio.lowlevel.checkpoint()

    def close(self) -> None:
        os.close(self.fd)
        if not self.journaled:
            self.path.unlink(missing_ok=True)


def _create(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)


def _copy(src: int, dst: int, size: int, *, truncate: bool = False) -> None:
    """Copy the first ``size`` bytes of ``src`` to ``dst`` (repeatable): in the kernel where it
    can, else through a 1 MiB buffer (another filesystem)."""
    if truncate:
        os.ftruncate(dst, 0)
    off = 0
    while off < size:
        try:
            n = os.copy_file_range(src, dst, size - off, off, off)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                raise
            data = os.pread(src, min(PUSH_CHUNK, size - off), off)
            n = os.pwrite(dst, data, off) if data else 0
        if n <= 0:
            break
        off += n


@contextlib.asynccontextmanager
async def held(lock: trio.Lock) -> AsyncIterator[None]:
    """``async with lock`` that is no scheduling point when nobody holds the lock (trio's own
    acquire always yields: 2-3 yields per close of a file nobody else touches)."""
    try:
        lock.acquire_nowait()
    except trio.WouldBlock:
        await lock.acquire()
    try:
        yield
    finally:
        lock.release()
