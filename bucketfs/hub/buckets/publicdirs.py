"""Plain (public) bucket directories: UnixFS directories as IPFS builds them, HAMT-sharded above
the IPFS threshold (``bucketfs.ipfs.directory``), so replacing one entry of a 100k-entry
directory rewrites only the shards on one hash path.

Basic (unsharded) directories can hold a few thousand entries below the threshold; decoding one
costs time proportional to its width. :class:`PublicDirs` therefore keeps a small LRU cache of
decoded basic directories by CID (CIDs are immutable, so it never goes stale), seeds it with the
directories it builds itself, and applies several changes to one directory with one re-encode
(:meth:`PublicDirs.set_many`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from bucketfs.errors import NotADirectory
from bucketfs.ipfs import dagpb, directory, unixfs
from bucketfs.ipfs.cid import CID, DAG_PB, Block

from .tree import Entry, GetBlock, PutBlock

#: decoded basic directories kept in memory (each at most ~256 KiB of links)
CACHE_DIRS = 16
#: a sharded directory receiving at least this many changes at once is rebuilt in one pass
#: (linear in its size) instead of being updated name by name (one hash path each)
BULK_REBUILD = 512


class _Decoded:
    """A decoded directory node: its UnixFS message and, for basic directories, its entries."""

    __slots__ = ("block", "entries", "estimate", "msg")

    def __init__(
        self, block: Block, msg: unixfs.Data, entries: dict[str, Entry] | None, estimate: int = 0
    ) -> None:
        self.block = block
        self.msg = msg
        self.entries = entries  # None for a HAMT shard root
        self.estimate = estimate  # the sharding estimate of a basic directory


class PublicDirs:
    """:class:`~bucketfs.hub.buckets.tree.DirCodec` over ``bucketfs.ipfs.directory``."""

    def __init__(self, get: GetBlock, put: PutBlock) -> None:
        self._get = get
        self._put = put
        self._cache: OrderedDict[CID, _Decoded] = OrderedDict()
        self._lock = threading.Lock()

    def _remember(self, dec: _Decoded) -> None:
        with self._lock:
            self._cache[dec.block.cid] = dec
            self._cache.move_to_end(dec.block.cid)
            while len(self._cache) > CACHE_DIRS:
                self._cache.popitem(last=False)

    def _decode(self, cid: CID) -> _Decoded | None:
        """The decoded directory ``cid``, or None if it is not a directory."""
        with self._lock:
            hit = self._cache.get(cid)
            if hit is not None:
                self._cache.move_to_end(cid)
                return hit
        if cid.codec != DAG_PB:
            return None
        block = Block(cid, self._get(cid))
        node = dagpb.decode(block.data)
        if node.data is None:
            return None
        msg = unixfs.Data.decode(node.data)
        if msg.type == unixfs.HAMT_SHARD:
            dec = _Decoded(block, msg, None)
        elif msg.type == unixfs.DIRECTORY:
            entries = {link.name: Entry(link.name, link.cid, link.tsize) for link in node.links}
            estimate = sum(directory.link_estimate(e.name, e.cid) for e in entries.values())
            dec = _Decoded(block, msg, entries, estimate)
        else:
            return None
        self._remember(dec)
        return dec

    def _dir(self, cid: CID) -> _Decoded:
        dec = self._decode(cid)
        if dec is None:
            raise NotADirectory(f"{cid} is not a directory")
        return dec

    def empty(self) -> Entry:
        block = directory.empty_dir()
        self._put(block)
        return Entry("", block.cid, len(block.data))

    def is_dir(self, cid: CID) -> bool:
        return self._decode(cid) is not None

    def lookup(self, dir_cid: CID, name: str) -> Entry | None:
        dec = self._dir(dir_cid)
        if dec.entries is not None:
            return dec.entries.get(name)
        found = directory.dir_get(dec.block, name, self._get)
        return None if found is None else Entry(found.name, found.cid, found.tsize)

    def listing(self, dir_cid: CID) -> list[Entry]:
        dec = self._dir(dir_cid)
        if dec.entries is not None:
            return sorted(dec.entries.values(), key=lambda e: e.name)
        entries = directory.dir_list(dec.block, self._get)
        return sorted((Entry(e.name, e.cid, e.tsize) for e in entries), key=lambda e: e.name)

    def count(self, dir_cid: CID) -> int:
        dec = self._dir(dir_cid)
        if dec.entries is not None:
            return len(dec.entries)
        return sum(1 for _ in directory.dir_list(dec.block, self._get))

    def set(self, dir_cid: CID, name: str, entry: Entry | None) -> Entry:
        return self.set_many(dir_cid, {name: entry})

    def set_many(self, dir_cid: CID, changes: dict[str, Entry | None]) -> Entry:
        """Apply several additions/replacements/removals to one directory; return it."""
        dec = self._dir(dir_cid)
        if dec.entries is None and len(changes) >= BULK_REBUILD:
            listed = directory.dir_list(dec.block, self._get)
            current = {e.name: Entry(e.name, e.cid, e.tsize) for e in listed}
            return self._rebuild(dec, current, changes)
        if dec.entries is None:
            block = dec.block
            for name, entry in changes.items():
                new = None if entry is None else directory.DirEntry(name, entry.cid, entry.tsize)
                block, blocks = directory.dir_set(block, name, new, self._get)
                for b in blocks:
                    self._put(b)
            return self._result(block)
        return self._rebuild(dec, dict(dec.entries), changes, dec.estimate)

    def _rebuild(
        self,
        dec: _Decoded,
        entries: dict[str, Entry],
        changes: dict[str, Entry | None],
        estimate: int | None = None,
    ) -> Entry:
        """Build the directory anew from ``entries`` with ``changes`` applied."""
        if estimate is None:
            estimate = sum(directory.link_estimate(e.name, e.cid) for e in entries.values())
        for name, entry in changes.items():
            old = entries.pop(name, None)
            if old is not None:
                estimate -= directory.link_estimate(name, old.cid)
            if entry is not None:
                entries[name] = Entry(name, entry.cid, entry.tsize)
                estimate += directory.link_estimate(name, entry.cid)
        items = [directory.DirEntry(e.name, e.cid, e.tsize) for e in entries.values()]
        block, blocks = directory.build_dir(items, meta=dec.msg, estimate=estimate)
        for b in blocks:
            self._put(b)
        if estimate > directory.SHARD_THRESHOLD:
            return self._result(block)  # became a HAMT
        msg = unixfs.Data(unixfs.DIRECTORY, mode=dec.msg.mode, mtime=dec.msg.mtime)
        self._remember(_Decoded(block, msg, entries, estimate))
        return Entry("", block.cid, len(block.data) + sum(e.tsize for e in entries.values()))

    def _result(self, block: Block) -> Entry:
        return Entry("", block.cid, directory.dir_tsize(block))
