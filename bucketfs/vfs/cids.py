"""The CID facts the vfs needs: the empty UnixFS directory, single-block files, verification.

Files are verified by re-importing them with ``bucketfs.ipfs.importer.FileBuilder`` (raw leaves,
262144-byte chunks, balanced layout — what the hub does), which for a one-chunk file is the hash
of its bytes. Content that does not re-import to its CID (e.g. a private bucket, whose CIDs are
of the ciphertext) is served but never admitted to the cache.
"""

from __future__ import annotations

from pathlib import Path

from bucketfs.errors import BucketfsError
from bucketfs.ipfs.cid import CID, DAG_PB, RAW, Block
from bucketfs.ipfs.importer import CHUNK_SIZE, FileBuilder

__all__ = ["CHUNK_SIZE", "EMPTY_DIR_CID", "EMPTY_DIR_NODE", "file_cid", "is_single_block"]

# dag-pb PBNode { Data: UnixFS Data { Type: Directory } } = 0a 02 08 01
EMPTY_DIR_NODE = bytes([0x0A, 0x02, 0x08, 0x01])
EMPTY_DIR_CID = str(Block.of(EMPTY_DIR_NODE, DAG_PB).cid)

READ_BLOCK = 1 << 20


def is_single_block(cid: str) -> bool:
    """Whether ``cid`` names a raw block (a file of at most one chunk)."""
    try:
        return CID.parse(cid).codec == RAW
    except BucketfsError:
        return False


def file_cid(path: Path) -> str:
    """The CID the hub gives a file with the bytes of ``path`` (streamed, not held whole)."""
    builder = FileBuilder()
    with path.open("rb") as f:
        while block := f.read(READ_BLOCK):
            builder.write(block)
    return str(builder.finish().cid)
