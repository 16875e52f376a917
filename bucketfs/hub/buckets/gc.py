"""Mark-and-sweep garbage collection of the hub's block store.

Roots: the current root of every bucket the hub knows (the bucket registry of the attribute store,
each instance read back from ThreadDB) and the empty directory. Marking follows every dag-pb link
(directories, HAMT shards, file nodes); an encrypted directory of a private bucket has no links, so
it is decrypted with the bucket's link key and the links of the plaintext node are followed. Raw
leaves are marked without being read. Sweeping deletes every stored block that is not marked.

The collector takes the service's exclusive gate, so no mutation (which may have written blocks
that no root references yet) runs while it works; reads continue.
"""

from __future__ import annotations

from dataclasses import dataclass

from bucketfs.errors import NotFound
from bucketfs.hub.blocks import BlockStore
from bucketfs.ipfs import dagpb
from bucketfs.ipfs.cid import CID, DAG_PB, RAW

from .tree import PrivateDirs


@dataclass(frozen=True)
class GcStats:
    buckets: int
    kept: int
    deleted: int
    freed_bytes: int


def mark(blocks: BlockStore, root: CID, link_key: bytes | None, marked: set[bytes]) -> None:
    """Add the multihash of every block reachable from ``root`` to ``marked``."""
    private = PrivateDirs(blocks.get, blocks.put, link_key) if link_key else None
    stack = [root]
    while stack:
        cid = stack.pop()
        if cid.multihash in marked:
            continue
        marked.add(cid.multihash)
        if cid.codec == RAW or cid.codec != DAG_PB:
            continue
        try:
            node = dagpb.decode(blocks.get(cid))
        except NotFound:
            continue  # already missing: nothing below it can be kept either
        stack.extend(link.cid for link in node.links)
        if private is not None and not node.links:
            hidden = private._decode(cid)
            if hidden:
                stack.extend(link.cid for link in hidden)


def sweep(blocks: BlockStore, marked: set[bytes]) -> tuple[int, int, int]:
    """Delete unmarked blocks; returns (kept, deleted, freed bytes)."""
    kept = deleted = freed = 0
    for multihash in list(blocks):
        if multihash in marked:
            kept += 1
            continue
        cid = CID(1, RAW, multihash)
        try:
            freed += blocks.size(cid)
        except NotFound:
            continue
        blocks.delete(cid)
        deleted += 1
    return kept, deleted, freed
