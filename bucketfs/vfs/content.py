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
keeps reading its copy.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from pathlib import Path

import trio

from bucketfs.vfs.cids import file_cid

log = logging.getLogger(__name__)


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

    def _evict(self) -> None:
        while self.used > self.max_bytes and len(self._lru) > 1:
            cid, size = self._lru.popitem(last=False)
            (self.content / cid).unlink(missing_ok=True)
            self.used -= size

    def stats(self) -> dict[str, int]:
        return {
            "used_bytes": self.used,
            "max_bytes": self.max_bytes,
            "files": len(self._lru),
            "hits": self.hits,
            "misses": self.misses,
            "rejected": self.rejected,
        }
