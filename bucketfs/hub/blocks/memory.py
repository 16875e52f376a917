"""In-memory block store: the same contract as the file store, for tests and scratch work."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from bucketfs.errors import NotFound
from bucketfs.ipfs.cid import CID, Block

from .base import BlockStore


class MemoryBlockStore(BlockStore):
    """Blocks in a dict; nothing survives the process."""

    def __init__(self) -> None:
        self._blocks: dict[bytes, bytes] = {}
        self._lock = threading.Lock()

    def put(self, block: Block) -> None:
        with self._lock:
            self._blocks[block.cid.multihash] = bytes(block.data)

    def get_unchecked(self, cid: CID) -> bytes:
        try:
            return self._blocks[cid.multihash]
        except KeyError:
            raise NotFound(f"block {cid} not found") from None

    def has(self, cid: CID) -> bool:
        return cid.multihash in self._blocks

    def size(self, cid: CID) -> int:
        return len(self.get_unchecked(cid))

    def delete(self, cid: CID) -> None:
        with self._lock:
            self._blocks.pop(cid.multihash, None)

    def __iter__(self) -> Iterator[bytes]:
        with self._lock:
            keys = list(self._blocks)
        return iter(keys)

    def corrupt(self, cid: CID, data: bytes) -> None:
        """Replace a block's bytes without checking (for tests of verified reads)."""
        with self._lock:
            self._blocks[cid.multihash] = data
