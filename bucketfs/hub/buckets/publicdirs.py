"""Plain (public) bucket directories: UnixFS directories as IPFS builds them, HAMT-sharded above
the IPFS threshold (``bucketfs.ipfs.directory``), so replacing one entry of a 100k-entry
directory rewrites only the shards on one hash path."""

from __future__ import annotations

from bucketfs.errors import NotADirectory
from bucketfs.ipfs import directory
from bucketfs.ipfs.cid import CID, DAG_PB, Block

from .tree import Entry, GetBlock, PutBlock


class PublicDirs:
    """:class:`~bucketfs.hub.buckets.tree.DirCodec` over ``bucketfs.ipfs.directory``."""

    def __init__(self, get: GetBlock, put: PutBlock) -> None:
        self._get = get
        self._put = put

    def _block(self, cid: CID) -> Block:
        return Block(cid, self._get(cid))

    def _dir(self, cid: CID) -> Block:
        block = self._block(cid)
        if not directory.is_directory(block):
            raise NotADirectory(f"{cid} is not a directory")
        return block

    def empty(self) -> Entry:
        block = directory.empty_dir()
        self._put(block)
        return Entry("", block.cid, len(block.data))

    def is_dir(self, cid: CID) -> bool:
        return cid.codec == DAG_PB and directory.is_directory(self._block(cid))

    def lookup(self, dir_cid: CID, name: str) -> Entry | None:
        found = directory.dir_get(self._dir(dir_cid), name, self._get)
        return None if found is None else Entry(found.name, found.cid, found.tsize)

    def listing(self, dir_cid: CID) -> list[Entry]:
        entries = directory.dir_list(self._dir(dir_cid), self._get)
        return sorted((Entry(e.name, e.cid, e.tsize) for e in entries), key=lambda e: e.name)

    def count(self, dir_cid: CID) -> int:
        return sum(1 for _ in directory.dir_list(self._dir(dir_cid), self._get))

    def set(self, dir_cid: CID, name: str, entry: Entry | None) -> Entry:
        new = None if entry is None else directory.DirEntry(name, entry.cid, entry.tsize)
        root, blocks = directory.dir_set(self._dir(dir_cid), name, new, self._get)
        for block in blocks:
            self._put(block)
        return Entry(name, root.cid, directory.dir_tsize(root))
