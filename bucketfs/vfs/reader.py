"""Streaming reads of bucket files through the content cache.

A read is served from ``content/<cid>`` when the whole file is cached. Otherwise the file is
downloaded into ``partial/<cid>`` as far as the read needs plus a read-ahead window, so the
first bytes are available long before the whole file arrived; when the download reaches the end
of the file it is verified and admitted to the cache. A read far beyond the downloaded prefix
is served by a byte-range pull of just that range (not cached). Against a hub without range
reads, the first read downloads the whole file in one stream (the fallback would otherwise
re-send the prefix on every read). Nothing is held whole in memory: chunks go straight to disk.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import trio

from bucketfs.vfs.content import ContentCache

READAHEAD = 8 << 20
FAR = 2 * READAHEAD

Pull = Callable[[int, int], AsyncIterator[bytes]]


@dataclass
class _Download:
    path: Path
    fd: int
    have: int = 0
    done: bool = False
    lock: trio.Lock = field(default_factory=trio.Lock)


def _pread(path: Path, off: int, size: int) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, size, off)
    finally:
        os.close(fd)


class Fetcher:
    """Reads ranges of files by CID, downloading on demand."""

    def __init__(self, cache: ContentCache, range_reads: bool) -> None:
        self.cache = cache
        self.range_reads = range_reads
        self._downloads: dict[str, _Download] = {}
        self._readers: Counter[str] = Counter()
        self.bytes_pulled = 0

    def acquire(self, cid: str) -> None:
        """Someone will read ``cid`` (an open handle): keep its partial download."""
        self._readers[cid] += 1

    def release(self, cid: str) -> None:
        """Undo ``acquire``; a partial download nobody reads any more is dropped."""
        self._readers[cid] -= 1
        if self._readers[cid] > 0:
            return
        del self._readers[cid]
        dl = self._downloads.get(cid)
        if dl is not None and not dl.lock.locked():
            self._discard(cid, dl)

    def _discard(self, cid: str, dl: _Download) -> None:
        os.close(dl.fd)
        dl.path.unlink(missing_ok=True)
        self._downloads.pop(cid, None)

    def in_progress(self) -> int:
        return len(self._downloads)

    async def read(
        self, cid: str, size: int, pull: Pull, off: int, n: int
    ) -> tuple[bytes, int | None]:
        """Bytes ``[off, off+n)`` of the file ``cid`` whose length is at most ``size``.

        Returns the bytes and, when the download found the file's exact end, its length."""
        while True:
            cached = self.cache.lookup(cid)
            if cached is not None:
                return _pread(cached, off, n), None
            dl = self._downloads.get(cid)
            if dl is None:
                path = self.cache.partial / cid
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
                dl = self._downloads[cid] = _Download(path, fd)
            async with dl.lock:
                if self._downloads.get(cid) is not dl:
                    continue  # finished (or dropped) while we waited: look again
                return await self._read_locked(cid, dl, size, pull, off, n)

    async def _read_locked(
        self, cid: str, dl: _Download, size: int, pull: Pull, off: int, n: int
    ) -> tuple[bytes, int | None]:
        if not dl.done and off + n > dl.have:
            if self.range_reads and off > dl.have + FAR:
                return await self._direct(pull, off, n), None
            await self._extend(dl, pull, off + n, size)
        data = os.pread(dl.fd, n, off)
        if not dl.done:
            return data, None
        try:
            await self.cache.admit(cid, dl.path)
        finally:
            os.close(dl.fd)
            self._downloads.pop(cid, None)
        return data, dl.have

    async def _extend(self, dl: _Download, pull: Pull, want: int, size: int) -> None:
        if not self.range_reads:
            os.ftruncate(dl.fd, 0)
            dl.have = 0
            await self._pull_into(dl, pull(0, 0))
            dl.done = True
            return
        start = dl.have
        length = min(size, max(want, start + READAHEAD)) - start
        if length > 0:
            await self._pull_into(dl, pull(start, length))
        if dl.have - start < length or dl.have >= size:
            dl.done = True  # the stream ended early: that is the end of the file

    async def _pull_into(self, dl: _Download, stream: AsyncIterator[bytes]) -> None:
        async with _closing(stream) as chunks:
            async for chunk in chunks:
                os.pwrite(dl.fd, chunk, dl.have)
                dl.have += len(chunk)
                self.bytes_pulled += len(chunk)

    async def _direct(self, pull: Pull, off: int, n: int) -> bytes:
        parts = []
        async with _closing(pull(off, n)) as chunks:
            async for chunk in chunks:
                parts.append(chunk)
                self.bytes_pulled += len(chunk)
        return b"".join(parts)[:n]


@asynccontextmanager
async def _closing(stream: AsyncIterator[bytes]) -> AsyncGenerator[AsyncIterator[bytes]]:
    """Close a pull stream however the loop ends (ends the call on the hub at once)."""
    try:
        yield stream
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
