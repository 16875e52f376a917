"""The block store interface of the hub: content-addressed blocks keyed by CID.

Implementations: :class:`~bucketfs.hub.blocks.fs.FileBlockStore` (the embedded default, one file
per block in the data directory) and :class:`~bucketfs.hub.blocks.memory.MemoryBlockStore`
(tests, scratch). ``tests/hub/test_blocks_contract.py`` runs one contract suite against both.

Contract:

* ``put(block)`` stores ``block.data`` under ``block.cid``; idempotent. Stores that promise
  durability (``durable = True``) have the bytes on disk when ``put`` returns, and never expose
  a partially written block.
* ``get(cid)`` returns the bytes, checked against the CID's multihash: a mismatch raises
  :class:`~bucketfs.errors.CorruptData` naming the CID, and the bytes are never returned.
  A missing block raises :class:`~bucketfs.errors.NotFound`.
* ``batch()``: a context manager; puts inside it become durable when it exits (the file store
  fsyncs once at the end instead of per block). ``deferred()`` and ``adopt()``: puts whose
  durability a later batch (of any thread) takes over, for group commit.
* ``has``, ``size`` (stored byte length, without reading the data), ``delete`` (missing is not an
  error), ``__iter__`` (the multihash of every stored block, for garbage collection; order
  unspecified).

Blocks are keyed by **multihash**, as IPFS does: a CIDv0 and a CIDv1 (or a raw and a dag-pb CID)
with the same multihash name the same stored bytes.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterator

from bucketfs.errors import CorruptData
from bucketfs.ipfs.cid import CID, Block


class BlockStore(abc.ABC):
    """Content-addressed block storage."""

    durable = False

    @abc.abstractmethod
    def put(self, block: Block) -> None: ...

    @abc.abstractmethod
    def get_unchecked(self, cid: CID) -> bytes:
        """The stored bytes without verification (for :meth:`get` and for repair tools)."""

    @abc.abstractmethod
    def has(self, cid: CID) -> bool: ...

    @abc.abstractmethod
    def size(self, cid: CID) -> int: ...

    @abc.abstractmethod
    def delete(self, cid: CID) -> None: ...

    @abc.abstractmethod
    def __iter__(self) -> Iterator[bytes]: ...

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Group puts whose durability may be deferred to the end of the block (default: each
        put is as durable as the store promises on its own)."""
        yield

    @contextlib.contextmanager
    def deferred(self) -> Iterator[list[object]]:
        """Puts inside the block are written but their durability is left to a later batch:
        the yielded list collects what that batch must cover (hand it to :meth:`adopt`).
        Default: each put is as durable as the store promises on its own."""
        yield []

    def adopt(self, pending: list[object]) -> None:
        """Make the current batch of this thread also cover ``pending`` (from :meth:`deferred`);
        outside a batch, make it durable now."""
        del pending  # nothing deferred: each put was durable on its own

    def get(self, cid: CID) -> bytes:
        """The verified bytes of ``cid``."""
        data = self.get_unchecked(cid)
        verify(cid, data)
        return data

    def put_many(self, blocks: list[Block]) -> None:
        for block in blocks:
            self.put(block)


def verify(cid: CID, data: bytes) -> None:
    """Raise :class:`CorruptData` if ``data`` does not hash to ``cid``."""
    if not cid.verify(data):
        raise CorruptData(f"block {cid} is corrupt: its bytes do not match its CID")
