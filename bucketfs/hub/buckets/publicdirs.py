"""Plain (public) bucket directories: UnixFS directories as IPFS builds them, HAMT-sharded above
the IPFS threshold, edited incrementally (``bucketfs.ipfs.dirnodes``).

:class:`PublicDirs` is the :class:`~bucketfs.hub.buckets.tree.DirCodec` of public buckets. It
owns one :class:`~bucketfs.ipfs.dirnodes.DirNodes` cache of decoded directory nodes for the hub
(CIDs are immutable, so it never goes stale; the nodes it builds are remembered as they are
made), so one change to a directory of any width re-encodes only the nodes on its path: one splice
of a basic node, or the shards on one hash path of a HAMT. :meth:`PublicDirs.set_many` applies
several changes to one directory with one encoding of each changed node.
"""

from __future__ import annotations

from bucketfs.ipfs import directory
from bucketfs.ipfs.cid import CID
from bucketfs.ipfs.dirnodes import DirNodes

from .tree import Entry, GetBlock, PutBlock


class PublicDirs:
    """:class:`~bucketfs.hub.buckets.tree.DirCodec` over ``bucketfs.ipfs.dirnodes``."""

    def __init__(self, get: GetBlock, put: PutBlock) -> None:
        self._get = get
        self._put = put
        self.nodes = DirNodes(get)

    def empty(self) -> Entry:
        block = directory.empty_dir()
        self._put(block)
        return Entry("", block.cid, len(block.data))

    def is_dir(self, cid: CID) -> bool:
        return self.nodes.is_dir(cid)

    def lookup(self, dir_cid: CID, name: str) -> Entry | None:
        return self.nodes.get(dir_cid, name)

    def listing(self, dir_cid: CID) -> list[Entry]:
        return sorted(self.nodes.entries(dir_cid), key=lambda e: e.name)

    def count(self, dir_cid: CID) -> int:
        return sum(1 for _ in self.nodes.entries(dir_cid))

    def set(self, dir_cid: CID, name: str, entry: Entry | None) -> Entry:
        return self.set_many(dir_cid, {name: entry})

    def set_many(self, dir_cid: CID, changes: dict[str, Entry | None]) -> Entry:
        """Apply several additions/replacements/removals to one directory; return it."""
        edit = self.nodes.edit(dir_cid)
        for name, entry in changes.items():
            edit.set(name, entry)
        done = edit.finish()
        for block in done.blocks:
            self._put(block)
        return Entry("", done.block.cid, done.tsize)
