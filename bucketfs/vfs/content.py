"""The on-disk content cache: whole files keyed by CID, size-bounded LRU, verified on entry.

Layout under the cache directory: ``content/<cid>`` (complete files), ``partial/`` (downloads in
progress, ``vfs.reader``) and ``staging/`` (files being written, ``vfs.files``). A file enters
the cache in one of two ways, both a rename (no copy):

* ``admit``: re-imported to its CID in a worker thread first (``vfs.cids``); ``store`` without
  hashing, for bytes whose CID is already known to match: a download verified while it arrived
  (``vfs.reader``), or a file this mount pushed, whose staged bytes are exactly what the hub
  imported into the CID it answered (in a private bucket that CID is of the ciphertext: the
  cached copy is the plaintext, which is what reads of that CID return);
* content that does not re-import to its CID is counted in ``rejected`` (``reject``) and left
  out (the bytes already read were what the hub sent).

Eviction removes the least recently used complete files; a reader holding an open descriptor
keeps reading its copy. The cache is bounded twice: by ``max_bytes``, and by the filesystem it
lives on, which it shares with the staging files of files being written (``vfs.files``), the
write-back journal and downloads in progress: after every entry (and at start) it evicts until
the filesystem has ``reserve`` bytes free, and whoever hits ENOSPC on that filesystem asks
``make_room`` (every cache on the same device evicts its least recently used files) before
failing. Cached files are clean copies of content the hub has, so evicting them loses nothing.
"""

from __future__ import annotations

import errno
import logging
import os
import weakref
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import trio

from bucketfs.errors import NoSpace
from bucketfs.vfs.cids import file_cid

log = logging.getLogger(__name__)

#: free space kept on the cache's filesystem: a tenth of it, between these bounds
RESERVE_MIN, RESERVE_MAX = 1 << 20, 256 << 20
#: how often one write asks the caches for room before it fails (``with_room``)
ROOM_TRIES = 8
T = TypeVar("T")
#: the live caches, for ``make_room`` (one per mount; a process may hold several)
_caches: weakref.WeakSet[ContentCache] = weakref.WeakSet()


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer may still use on the filesystem holding ``path``."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def with_room(where: Path, what: str, need: int, step: Callable[[], T]) -> T:
    """``step()`` (``what``, needing about ``need`` bytes under ``where``); on a full disk
    (ENOSPC, EDQUOT) the caches evict (``make_room``) and ``step`` runs again, and when they
    have nothing left to give it is ``NoSpace``. ``step`` must be safe to repeat."""
    reason = ""
    for _ in range(ROOM_TRIES):
        try:
            return step()
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            reason = exc.strerror or str(exc)
        if make_room(where, need) <= 0:
            break
    raise NoSpace(f"no space in the cache directory {where} ({what}: {reason})")


def make_room(path: Path, need: int) -> int:
    """Someone ran out of space writing under ``path``: every content cache on the same
    filesystem evicts least recently used files until ``need`` bytes (and the reserve) are
    free or it is empty. Returns the bytes evicted (0: nothing left to give)."""
    try:
        dev = os.stat(path).st_dev
    except OSError:
        return 0
    return sum(c.make_room(need) for c in list(_caches) if c.on_device(dev))


class ContentCache:
    """Complete files by CID on disk, at most ``max_bytes`` in total (LRU)."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.content = root / "content"
        self.partial = root / "partial"
        self.staging = root / "staging"
        for d in (self.content, self.partial, self.staging):
            d.mkdir(parents=True, exist_ok=True)
        for leftover in list(self.partial.iterdir()) + list(self.staging.iterdir()):
            leftover.unlink(missing_ok=True)
        self._lru: OrderedDict[str, int] = OrderedDict()
        files = sorted(self.content.iterdir(), key=lambda p: p.stat().st_atime_ns)
        for path in files:
            self._lru[path.name] = path.stat().st_size
        self.used = sum(self._lru.values())
        self.hits = 0
        self.misses = 0
        self.rejected = 0
        self.evicted_for_space = 0  # files evicted because the filesystem was full
        st = os.statvfs(root)
        self.reserve = min(RESERVE_MAX, max(RESERVE_MIN, st.f_blocks * st.f_frsize // 10))
        _caches.add(self)
        self._evict(keep=0)  # a full filesystem at start (a previous mount filled it)

    def lookup(self, cid: str) -> Path | None:
        """The cached file for ``cid`` (marked recently used), or None."""
        if cid in self._lru:
            self._lru.move_to_end(cid)
            self.hits += 1
            return self.content / cid
        self.misses += 1
        return None

    async def admit(self, cid: str, src: Path) -> bool:
        """Move the complete file ``src`` into the cache as ``cid`` if it re-imports to ``cid``
        (else delete it, log and count it). Returns whether it was admitted. The hashing runs
        in a worker thread; ``src`` must be private to the caller until this returns."""
        actual = await trio.to_thread.run_sync(file_cid, src)
        if actual != cid:
            self.reject(cid, actual)
            src.unlink(missing_ok=True)
            return False
        self.store(cid, src)
        return True

    def reject(self, cid: str, actual: str) -> None:
        """Count and log content that did not re-import to its CID (the caller drops it)."""
        self.rejected += 1
        log.warning("content for %s re-imports as %s: not cached", cid, actual)

    def store(self, cid: str, src: Path) -> None:
        """Move the complete file ``src``, known to hold the content of ``cid``, into the cache
        (a rename: descriptors open on ``src`` now read the cached file)."""
        dest = self.content / cid
        size = src.stat().st_size
        os.replace(src, dest)
        if cid in self._lru:
            self.used -= self._lru[cid]
        self._lru[cid] = size
        self.used += size
        self._evict()

    def _evict(self, keep: int = 1) -> None:
        """Evict the least recently used files (all but the ``keep`` newest) while the cache is
        over ``max_bytes`` or its filesystem has less than ``reserve`` bytes free."""
        while len(self._lru) > keep:
            if self.used > self.max_bytes:
                self._drop_oldest()
            elif free_bytes(self.content) < self.reserve:
                self._drop_oldest()
                self.evicted_for_space += 1
            else:
                return

    def on_device(self, dev: int) -> bool:
        """The cache lives on filesystem ``dev`` (False once its directory is gone)."""
        try:
            return os.stat(self.content).st_dev == dev
        except OSError:
            return False

    def make_room(self, need: int) -> int:
        """Evict least recently used files until the filesystem has ``need`` bytes free
        beyond the reserve, or the cache is empty; returns the bytes evicted. (A file a reader
        still holds open frees its space only when that reader closes it.)"""
        evicted = 0
        while self._lru and free_bytes(self.content) < need + self.reserve:
            evicted += self._drop_oldest()
            self.evicted_for_space += 1
        if evicted:
            log.info("cache %s: evicted %d bytes to make room", self.root, evicted)
        return evicted

    def _drop_oldest(self) -> int:
        cid, size = self._lru.popitem(last=False)
        (self.content / cid).unlink(missing_ok=True)
        self.used -= size
        return size

    def stats(self) -> dict[str, int]:
        return {
            "used_bytes": self.used,
            "max_bytes": self.max_bytes,
            "files": len(self._lru),
            "hits": self.hits,
            "misses": self.misses,
            "rejected": self.rejected,
            "evicted_for_space": self.evicted_for_space,
        }
