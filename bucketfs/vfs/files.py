"""Files open for writing: a local staging file per inode, pushed on flush/fsync/close.

Every inode that some handle opened for writing has one ``OpenFile`` (shared by all its
handles, so a read through one descriptor sees a write through another). Its bytes live in
``staging/`` of the cache directory; existing content is copied in on the first write or
truncate unless the file was opened with ``O_TRUNC`` or created. ``generation`` counts writes so
that a push racing with a write leaves the file dirty.

In write-back mode the staging file lives in the journal's ``data/`` directory and is recorded
there on close (``journaled``): it is then never changed again (the next write first copies it,
``detach``) and not deleted when the file is closed (the journal owns it).
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import trio

from bucketfs.errors import NoSpace

PUSH_CHUNK = 1 << 20
_names = itertools.count(1)


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
    lock: trio.Lock = field(default_factory=trio.Lock)
    load_lock: trio.Lock = field(default_factory=trio.Lock)

    @classmethod
    def new(cls, staging_dir: Path, ino: int, base_cid: str, loaded: bool) -> OpenFile:
        path = staging_dir / f"{os.getpid()}-{ino}-{next(_names)}"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        return cls(ino, path, fd, base_cid, loaded)

    @property
    def dirty(self) -> bool:
        return self.generation != self.pushed_generation

    def touch(self) -> None:
        self.generation += 1

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def load_from(self, src: Path) -> None:
        """Replace the staging content by a copy of ``src`` (the current remote content)."""
        with src.open("rb") as f_in, open(self.fd, "wb", closefd=False) as f_out:
            f_out.truncate(0)
            shutil.copyfileobj(f_in, f_out, PUSH_CHUNK)
        self.loaded = True

    def read(self, off: int, size: int) -> bytes:
        return os.pread(self.fd, size, off)

    def detach(self, staging_dir: Path) -> None:
        """Continue in a private copy of the staging file (the journal keeps the original)."""
        path = staging_dir / f"{os.getpid()}-{self.ino}-{next(_names)}"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with _local_space():
                size = os.fstat(self.fd).st_size
                off = 0
                while off < size:
                    n = os.copy_file_range(self.fd, fd, size - off, off, off)
                    if n <= 0:
                        break
                    off += n
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        os.close(self.fd)
        self.fd, self.path, self.journaled = fd, path, False

    def write(self, off: int, data: bytes) -> int:
        with _local_space():
            n = os.pwrite(self.fd, data, off)
        self.touch()
        return n

    def truncate(self, size: int) -> None:
        with _local_space():
            os.ftruncate(self.fd, size)
        self.touch()

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


@contextlib.contextmanager
def _local_space() -> Iterator[None]:
    """Turn a full local disk under the staging area into ``NoSpace`` (ENOSPC)."""
    try:
        yield
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise NoSpace(f"staging area full: {exc}") from exc
        raise
