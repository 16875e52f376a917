"""Reads of bucket files by CID: the content cache, background downloads, range pulls.

Every CID some handle reads has one ``_File`` with one descriptor, opened when the first
handle acquires it: the cached file ``content/<cid>`` when there is one (reads are then a
``pread`` and nothing else), else the download ``partial/<cid>.<n>`` once a read needs it.

A download runs in a background task, never in a ``read()`` call: reads wait only until the
bytes they need have arrived. It keeps ``READAHEAD`` ahead of the furthest read; once a reader
went past the first window (a sequential reader), or after ``RANDOM_AFTER`` reads far beyond
the download (random access), it streams the rest of the file in one pull. A read more than
``FAR`` beyond the download is answered by a range pull of just that range meanwhile.

A download that finds no room on the cache disk, even after the cache evicted (``make_room``),
fails with ``NoSpace``; reads meanwhile are answered by range pulls, uncached (against a hub
without range reads they fail with ENOSPC).

Downloaded bytes are verified as they arrive: a second task re-imports the growing prefix to
its CID in a verification thread (hashlib releases the GIL; the threads run at a lower CPU
priority, so reads, and a hub on the same machine, come first), so verification overlaps the
network and the read that reaches the end of the file never waits for it. A download whose bytes
re-import to its CID is moved into the cache (``ContentCache.store``); one that does not is
counted as rejected and dropped (the bytes already read were what the hub sent). Against a hub
without range reads the first read downloads the whole file in one stream. Nothing is held
whole in memory: chunks go straight to disk, and an abandoned download (its last handle
released before the end) is cancelled and removed. See docs/CONCURRENCY.md ("Downloads").

The kernel's page cache: ``keep_pages`` lets an open keep the kernel's pages of a file when the
previous open of that inode read the same CID (content addressed: they cannot be stale), and a
cached file read at random is stored into the kernel's page cache (``warm``, FUSE
``notify_store``) so that further reads of it never reach this process. Storing stops at a
writer or an open of other content, and opens wait for a step in flight; a step in flight when
a truncate without an open arrives may still land after it (old bytes past the new end, seen by
handles already open until the next open or attribute refresh).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import logging
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import trio

from bucketfs.errors import NoSpace
from bucketfs.ipfs.importer import FileBuilder
from bucketfs.vfs.content import ContentCache, with_room

log = logging.getLogger(__name__)

READAHEAD = 8 << 20
FAR = 2 * READAHEAD
RANDOM_AFTER = 2
VERIFY_STEP = 4 << 20
MAX_PAGE_RECORDS = 100_000
#: a cached file read at random (``WARM_AFTER`` jumps) is stored into the kernel's page cache
WARM_AFTER = 16
WARM_MIN, WARM_MAX, WARM_STEP = 1 << 20, 1 << 30, 256 << 10

Pull = Callable[[int, int], AsyncIterator[bytes]]
T = TypeVar("T")
HASH_THREADS, HASH_NICE = 2, 10
_names = itertools.count(1)


@dataclass(eq=False)
class _Download:
    path: Path
    fd: int
    size: int  # upper bound of the length (exact once ``done``: then it is ``have``)
    pull: Pull
    have: int = 0
    done: bool = False
    want: int = 0  # furthest byte a reader waits for
    whole: bool = False  # stream to the end instead of keeping a window ahead of readers
    far_reads: int = 0
    error: Exception | None = None
    task: trio.CancelScope | None = None  # the running download task
    verifier: trio.CancelScope | None = None  # the running verification task
    hashed: int = 0
    builder: FileBuilder = field(default_factory=FileBuilder)
    verified: bool | None = None  # None until the verification finished
    changed: trio.Event = field(default_factory=trio.Event)
    started: float = field(default_factory=time.monotonic)


@dataclass(eq=False)
class _File:
    cid: str
    fd: int = -1
    refs: int = 0
    length: int | None = None  # exact length, once known
    dl: _Download | None = None
    last_end: int = 0  # where the last local read ended (random access detection)
    jumps: int = 0  # local reads that did not start there
    warming: bool = False  # the kernel's page cache was given the file (or is being given)


def _lower_priority() -> None:
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, HASH_NICE)  # this thread only (Linux)


#: verification is background work: its threads yield the CPU to reads and to a local hub
_HASHERS = concurrent.futures.ThreadPoolExecutor(
    HASH_THREADS, thread_name_prefix="bucketfs-verify", initializer=_lower_priority
)


async def _hashing(fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` in a verification thread. Waits for it even when cancelled: the job
    reads a descriptor its caller closes afterwards."""
    job = _HASHERS.submit(fn, *args)
    done = trio.Event()
    token = trio.lowlevel.current_trio_token()

    def wake(_: object) -> None:
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(done.set)

    job.add_done_callback(wake)
    with trio.CancelScope(shield=True):
        await done.wait()
    return job.result()


def _hash_into(builder: FileBuilder, fd: int, off: int, n: int) -> None:
    while n > 0:
        data = os.pread(fd, n, off)
        if not data:
            raise OSError(f"download file ended at {off}")
        builder.write(data)
        off += len(data)
        n -= len(data)


class Fetcher:
    """Reads ranges of files by CID (see module docstring)."""

    def __init__(self, cache: ContentCache, range_reads: bool) -> None:
        self.cache = cache
        self.range_reads = range_reads
        self._files: dict[str, _File] = {}
        self._pages: dict[int, str] = {}
        self.bytes_pulled = 0
        #: ``(ino, offset, data)``: put file data into the kernel's page cache (fuse layer)
        self.kernel_store: Callable[[int, int, bytes], None] | None = None
        self._storing: dict[int, trio.Event] = {}
        self._roomless: set[str] = set()  # CIDs read without caching (no room), logged once

    # -- handles ------------------------------------------------------------------------

    def acquire(self, cid: str) -> None:
        """A handle will read ``cid``: open the cached copy now if there is one."""
        if not cid:
            return
        f = self._files.get(cid)
        if f is None:
            f = self._files[cid] = _File(cid)
        f.refs += 1
        if f.fd < 0 and f.dl is None:
            cached = self.cache.lookup(cid)
            if cached is not None:
                try:
                    f.fd = os.open(cached, os.O_RDONLY)
                except FileNotFoundError:
                    return
                f.length = os.fstat(f.fd).st_size

    def release(self, cid: str) -> None:
        """Undo ``acquire``; a download nobody reads any more is cancelled and removed (a
        complete one is still verified and cached)."""
        f = self._files.get(cid)
        if f is None:
            return
        f.refs -= 1
        if f.refs > 0:
            return
        dl = f.dl
        if dl is not None and not dl.done:
            del self._files[cid]
            for scope in (dl.task, dl.verifier):
                if scope is not None:
                    scope.cancel()
        self._maybe_close(f)

    def _maybe_close(self, f: _File) -> None:
        """Close ``f`` once no handle holds it and none of its tasks runs."""
        dl = f.dl
        if f.refs > 0:
            return
        if dl is not None and (dl.task is not None or (dl.done and dl.verifier is not None)):
            return  # the task finishing calls us again
        if dl is not None:
            if dl.verifier is not None:
                dl.verifier.cancel()
            if not dl.verified:
                dl.path.unlink(missing_ok=True)
        if f.fd >= 0:
            os.close(f.fd)
            f.fd = -1
        if self._files.get(f.cid) is f:
            del self._files[f.cid]

    async def settled(self) -> None:
        """Wait until every complete download was verified (and cached, if it matched)."""
        while True:
            pending = [f.dl for f in self._files.values() if f.dl and f.dl.verifier is not None]
            pending = [dl for dl in pending if dl.done]
            if not pending:
                return
            await pending[0].changed.wait()

    def in_progress(self) -> int:
        return sum(1 for f in self._files.values() if f.dl is not None and not f.dl.done)

    def downloads(self) -> list[dict[str, object]]:
        """The downloads in progress or failed: CID, bytes fetched of (at most) how many, the
        rate since it started, the error that stopped it (``bucketfs status``)."""
        now = time.monotonic()
        out: list[dict[str, object]] = []
        for f in self._files.values():
            dl = f.dl
            if dl is None or (dl.done and dl.error is None):
                continue
            running = max(now - dl.started, 1e-9)
            out.append(
                {
                    "cid": f.cid,
                    "done": dl.have,
                    "total": dl.size,
                    "rate": round(dl.have / running),
                    "running_s": round(running, 3),
                    "last_error": ""
                    if dl.error is None
                    else f"{type(dl.error).__name__}: {dl.error}",
                }
            )
        return out

    def keep_pages(self, ino: int, cid: str) -> bool:
        """Whether an open of inode ``ino`` reading the content ``cid`` ("" = staged, not
        fixed by a CID) may keep the kernel's cached pages: only when they came from the same
        CID (content addressed, so they cannot be stale). Records ``cid`` for the next open."""
        if len(self._pages) >= MAX_PAGE_RECORDS:
            self._pages.clear()
        before = self._pages.get(ino)
        self._pages[ino] = cid
        return bool(cid) and before == cid

    # -- reading ------------------------------------------------------------------------

    def read_local(self, cid: str, off: int, n: int) -> tuple[bytes, int | None] | None:
        """``[off, off+n)`` of ``cid`` if it is on local disk already (the cached file or the
        downloaded part), with the exact length when the read reached it; else None."""
        f = self._files.get(cid)
        if f is None or f.fd < 0:
            return None
        dl = f.dl
        if dl is not None and not dl.done and off + n > dl.have:
            return None
        data = os.pread(f.fd, n, off)
        if dl is not None and dl.done:
            f.length = dl.have
        if off != f.last_end:
            f.jumps += 1
        f.last_end = off + len(data)
        return data, (f.length if len(data) < n else None)

    # -- the kernel's page cache --------------------------------------------------------

    def wants_warm(self, cid: str) -> bool:
        """Whether ``cid`` is cached whole and read at random: worth handing to the kernel."""
        f = self._files.get(cid)
        return (
            f is not None
            and f.jumps >= WARM_AFTER
            and not f.warming
            and f.dl is None
            and self.kernel_store is not None
        )

    def warm(self, cid: str, ino: int, valid: Callable[[], bool]) -> None:
        """Store the cached file ``cid`` into the kernel's page cache of inode ``ino`` in the
        background (``kernel_store``), so that further random reads never reach this process.
        Stops when the last handle is released, when ``ino`` is opened for other content or
        when ``valid()`` (checked before each step: no writer, same content) turns False."""
        f = self._files[cid]
        f.warming = True
        if not WARM_MIN <= (f.length or 0) <= WARM_MAX or self._pages.get(ino) != cid:
            return
        dup = os.dup(f.fd)  # the task's own: the handle's may be closed first
        trio.lowlevel.spawn_system_task(self._store_pages, f, ino, dup, valid, name="warm")

    async def _store_pages(self, f: _File, ino: int, fd: int, valid: Callable[[], bool]) -> None:
        length, store = f.length or 0, self.kernel_store
        try:
            for off in range(0, length, WARM_STEP):
                if store is None or f.refs <= 0 or self._pages.get(ino) != f.cid or not valid():
                    return
                data = os.pread(fd, min(WARM_STEP, length - off), off)
                done = self._storing[ino] = trio.Event()
                try:  # a worker thread: the kernel may wait for a read this process serves
                    await trio.to_thread.run_sync(store, ino, off, data)
                finally:
                    del self._storing[ino]
                    done.set()
        except Exception as exc:  # the kernel cannot take it (or forgot ino): reads still work
            log.debug("storing pages of inode %d failed: %r", ino, exc)
        finally:
            os.close(fd)

    async def quiesce(self, ino: int) -> None:
        """Wait until no store into the kernel's pages of ``ino`` is in flight (an open of
        ``ino`` calls this after ``keep_pages``, so none lands after the kernel's open)."""
        while (done := self._storing.get(ino)) is not None:
            await done.wait()

    async def read(
        self, cid: str, size: int, pull: Pull, off: int, n: int
    ) -> tuple[bytes, int | None]:
        """Bytes ``[off, off+n)`` of the file ``cid`` whose length is at most ``size``.

        Returns the bytes and, when the read reached the file's exact end, its length."""
        if cid not in self._files:
            self.acquire(cid)
            try:
                return await self.read(cid, size, pull, off, n)
            finally:
                self.release(cid)
        while True:
            local = self.read_local(cid, off, n)
            if local is not None:
                return local
            f = self._files[cid]
            dl = f.dl
            if dl is None:
                dl = f.dl = self._new_download(f, size, pull)
            if self.range_reads and off > dl.have + FAR:
                dl.far_reads += 1
                if dl.far_reads >= RANDOM_AFTER:
                    self._go_whole(f, dl)
                return await self._direct(pull, off, n), None
            if off + n > READAHEAD:
                self._go_whole(f, dl)
            try:
                await self._wait(f, dl, off + n)
            except NoSpace as exc:
                if not self.range_reads:
                    raise
                return await self._without_room(cid, exc, pull, off, n), None

    async def _without_room(self, cid: str, exc: NoSpace, pull: Pull, off: int, n: int) -> bytes:
        """The download has no room on the cache disk: answer the read with a range pull
        (uncached) instead of failing it; logged once per file."""
        if cid not in self._roomless:
            if len(self._roomless) >= MAX_PAGE_RECORDS:
                self._roomless.clear()
            self._roomless.add(cid)
            log.warning("%s; reading %s from the hub without caching it", exc.message, cid)
        return await self._direct(pull, off, n)

    async def complete(self, cid: str, size: int, pull: Pull) -> Path | None:
        """The cached file of ``cid``, downloading all of it; None if the hub's bytes did not
        re-import to ``cid`` (then nothing was cached). The caller holds ``acquire(cid)``."""
        while True:
            cached = self.cache.lookup(cid)
            if cached is not None:
                return cached
            f = self._files[cid]
            dl = f.dl
            if dl is None:
                if f.fd >= 0:  # was cached at acquire, since evicted: fetch it again
                    os.close(f.fd)
                    f.fd = -1
                dl = f.dl = self._new_download(f, size, pull)
            if dl.verified is not None:
                return self.cache.lookup(cid) if dl.verified else None
            self._go_whole(f, dl, force=True)
            await self._wait(f, dl, None)

    # -- downloads ----------------------------------------------------------------------

    def _new_download(self, f: _File, size: int, pull: Pull) -> _Download:
        path = self.cache.partial / f"{f.cid}.{next(_names)}"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        f.fd = fd
        return _Download(path, fd, size, pull)

    def _go_whole(self, f: _File, dl: _Download, force: bool = False) -> None:
        """Stream the rest of the file (if the cache can hold it, unless ``force``)."""
        if not dl.whole and (force or dl.size <= self.cache.max_bytes):
            dl.whole = True
            self._signal(dl)
        self._start(f, dl)

    def _start(self, f: _File, dl: _Download) -> None:
        if dl.task is None and not dl.done:
            dl.task = trio.CancelScope()
            trio.lowlevel.spawn_system_task(self._run, f, dl, dl.task, name="bucketfs download")
        if dl.verifier is None and dl.verified is None and (self.range_reads or dl.done):
            dl.verifier = trio.CancelScope()
            trio.lowlevel.spawn_system_task(
                self._verify, f, dl, dl.verifier, name="bucketfs verify"
            )

    @staticmethod
    def _signal(dl: _Download) -> None:
        dl.changed.set()
        dl.changed = trio.Event()

    async def _wait(self, f: _File, dl: _Download, end: int | None) -> None:
        """Wait until ``[0, end)`` arrived (``end`` None: until verified), the file ended,
        or the download failed (raised here; the next read starts it again)."""
        if end is not None and end > dl.want:
            dl.want = end
            self._signal(dl)
        while (dl.verified is None) if end is None else (not dl.done and dl.have < end):
            if dl.error is not None and dl.task is None:
                error, dl.error = dl.error, None
                raise error
            self._start(f, dl)
            await dl.changed.wait()

    async def _run(self, f: _File, dl: _Download, scope: trio.CancelScope) -> None:
        try:
            with scope:
                try:
                    await self._fetch(dl)
                except Exception as exc:
                    dl.error = exc
                    log.debug("download of %s failed: %s", f.cid, exc)
        finally:
            dl.task = None
            self._signal(dl)
            if dl.done and dl.verifier is None and dl.verified is None:
                self._start(f, dl)  # a plain hub's download is verified once complete
            self._maybe_close(f)

    async def _fetch(self, dl: _Download) -> None:
        if not self.range_reads:
            os.ftruncate(dl.fd, 0)  # one stream from the start (again, after a failure)
            dl.have = 0
            await self._pull_into(dl, dl.pull(0, 0))
            self._finish(dl)
            return
        while not dl.done:
            start = dl.have
            if dl.whole:
                await self._pull_into(dl, dl.pull(start, 0))
                self._finish(dl)
                return
            target = min(dl.size, max(READAHEAD, dl.want + READAHEAD // 2))
            if start >= target:
                await dl.changed.wait()
                continue
            await self._pull_into(dl, dl.pull(start, target - start))
            if dl.have < target or dl.have >= dl.size:
                self._finish(dl)  # the stream ended early: that is the end of the file

    def _finish(self, dl: _Download) -> None:
        dl.done = True
        self._signal(dl)

    async def _pull_into(self, dl: _Download, stream: AsyncIterator[bytes]) -> None:
        async with _closing(stream) as chunks:
            async for chunk in chunks:
                self._store_chunk(dl, chunk)
                dl.have += len(chunk)
                self.bytes_pulled += len(chunk)
                self._signal(dl)

    def _store_chunk(self, dl: _Download, chunk: bytes) -> None:
        """Write ``chunk`` at ``dl.have``; on a full disk the cache evicts to make room first,
        and without room the download fails with ``NoSpace`` (ENOSPC for its readers)."""
        view, done = memoryview(chunk), 0

        def rest() -> None:
            nonlocal done
            while done < len(view):
                done += os.pwrite(dl.fd, view[done:], dl.have + done)

        with_room(self.cache.partial, "download", len(view), rest)

    async def _verify(self, f: _File, dl: _Download, scope: trio.CancelScope) -> None:
        fd = os.dup(dl.fd)  # our own: the reader's may be closed while a thread hashes
        try:
            with scope:
                while not (dl.done and dl.hashed >= dl.have):
                    if dl.hashed >= dl.have:
                        await dl.changed.wait()
                        continue
                    n = min(dl.have - dl.hashed, VERIFY_STEP)
                    await _hashing(_hash_into, dl.builder, fd, dl.hashed, n)
                    dl.hashed += n
                actual = await _hashing(lambda: str(dl.builder.finish().cid))
                self._settle(f, dl, actual)
        except OSError as exc:
            log.warning("verifying the download of %s failed: %s", f.cid, exc)
            dl.verified = False
        finally:
            os.close(fd)
            dl.verifier = None
            self._signal(dl)
            self._maybe_close(f)

    def _settle(self, f: _File, dl: _Download, actual: str) -> None:
        f.length = dl.have
        if actual == f.cid:
            self._roomless.discard(f.cid)
            self.cache.store(f.cid, dl.path)
            dl.verified = True
            f.dl = None  # f.fd now reads the cached file
        else:
            self.cache.reject(f.cid, actual)
            dl.verified = False
            dl.path.unlink(missing_ok=True)

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
