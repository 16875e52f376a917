"""File content of buckets: streaming import (optionally encrypted), ranged reads, node kinds.

* :class:`Importer` turns a stream of chunks into UnixFS blocks (``ipfs add --cid-version=1``
  layout) and puts them into the block store as they complete; for private buckets the stream is
  encrypted with dcrypto v1 first, so the stored leaves are ciphertext.
* :func:`read` streams a file's bytes (``offset``/``length`` for ranges), decrypting for private
  buckets. A whole-file read of a private file checks the MAC in a first pass before releasing any
  plaintext; a ranged read relies on the blocks' content addresses (every block is verified).
* :func:`node_info` says whether a CID is a file, a directory or a symlink and gives the exact
  file length, reading at most the root node (cached by CID in the attribute store).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from bucketfs.errors import CorruptData, InvalidArgument
from bucketfs.hub.blocks import BlockStore
from bucketfs.ipfs import dagpb, unixfs
from bucketfs.ipfs.cid import CID, DAG_PB, RAW, Block
from bucketfs.ipfs.importer import FileBuilder, read_file

from . import dcrypto
from .attrs import AttrStore
from .tree import DirCodec, Entry

PULL_CHUNK = 32 * 1024
FILE, DIR, SYMLINK = "file", "dir", "symlink"


class Importer:
    """Import one file from chunks; ``write`` returns the bytes ingested so far."""

    def __init__(self, blocks: BlockStore, file_key: bytes | None = None) -> None:
        self._blocks = blocks
        self._builder = FileBuilder()
        self._enc = dcrypto.Encryptor(file_key) if file_key else None
        self.ingested = 0

    def write(self, data: bytes) -> int:
        self.ingested += len(data)
        if self._enc is not None:
            data = self._enc.update(data)
        for block in self._builder.write(data):
            self._blocks.put(block)
        return self.ingested

    def finish(self) -> tuple[Entry, int]:
        """Store the last blocks; return the file entry and its exact plaintext size."""
        if self._enc is not None:
            for block in self._builder.write(self._enc.finalize()):
                self._blocks.put(block)
        result = self._builder.finish()
        for block in result.blocks:
            self._blocks.put(block)
        return Entry("", result.cid, result.dag_size), self.ingested


def import_bytes(blocks: BlockStore, data: bytes, file_key: bytes | None = None) -> Entry:
    imp = Importer(blocks, file_key)
    imp.write(data)
    return imp.finish()[0]


def _rechunk(pieces: Iterator[bytes], size: int = PULL_CHUNK) -> Iterator[bytes]:
    for piece in pieces:
        for i in range(0, len(piece), size):
            yield piece[i : i + size]


def read(
    blocks: BlockStore,
    cid: CID,
    file_key: bytes | None,
    offset: int = 0,
    length: int = 0,
    plain_size: int | None = None,
) -> Iterator[bytes]:
    """Yield the (plaintext) bytes of a file in chunks of at most 32 KiB."""
    if offset < 0 or length < 0:
        raise InvalidArgument("offset and length must not be negative")
    get = blocks.get_unchecked  # read_file verifies every block against its CID
    if file_key is None:
        yield from _rechunk(read_file(cid, get, offset, length or None))
        return
    if offset == 0 and length == 0:
        dcrypto.verify_mac(file_key, read_file(cid, get))
        dec = dcrypto.Decryptor(file_key)
        for piece in read_file(cid, get):
            out = dec.update(piece)
            if out:
                yield from _rechunk(iter([out]))
        tail = dec.finalize()
        if tail:
            yield tail
        return
    size = plain_size if plain_size is not None else file_size(blocks, cid, True)
    end = size if length == 0 else min(size, offset + length)
    if offset >= end:
        return
    iv = b"".join(read_file(cid, get, 4, dcrypto.IV_SIZE))
    pos = offset
    pieces = read_file(cid, get, dcrypto.HEADER_SIZE + offset, end - offset)
    for piece in _rechunk(pieces):
        yield dcrypto.decrypt_range(file_key, iv, pos, piece)
        pos += len(piece)


def file_size(blocks: BlockStore, cid: CID, private: bool) -> int:
    """Exact plaintext length of the file ``cid``."""
    if cid.codec == RAW:
        size = blocks.size(cid)
    else:
        msg = unixfs.node_data(Block(cid, blocks.get(cid)))
        size = msg.filesize if msg.filesize is not None else msg.file_size()
    return dcrypto.plain_size(size) if private else size


@dataclass(frozen=True)
class NodeInfo:
    kind: str
    file_size: int = 0
    target: str = ""


def node_info(
    blocks: BlockStore, attrs: AttrStore, codec: DirCodec, cid: CID, private: bool
) -> NodeInfo:
    """Kind, exact size and symlink target of ``cid`` (cached by CID)."""
    cache_key = ("p:" if private else "") + str(cid)
    cached = attrs.node(cache_key)
    if cached is not None:
        return NodeInfo(*cached)
    info = _compute_info(blocks, codec, cid, private)
    attrs.set_node(cache_key, info.kind, info.file_size, info.target)
    return info


def _compute_info(blocks: BlockStore, codec: DirCodec, cid: CID, private: bool) -> NodeInfo:
    if cid.codec == RAW:
        return NodeInfo(FILE, file_size(blocks, cid, private))
    if cid.codec != DAG_PB:
        raise InvalidArgument(f"{cid} is neither a UnixFS file nor a directory")
    block = Block(cid, blocks.get(cid))
    msg = unixfs.node_data(block)
    if msg.type == unixfs.SYMLINK:
        return NodeInfo(SYMLINK, len(msg.data or b""), unixfs.read_symlink(block))
    if msg.type in (unixfs.DIRECTORY, unixfs.HAMT_SHARD):
        return NodeInfo(DIR)
    if private and codec.is_dir(cid):
        return NodeInfo(DIR)
    if msg.type in (unixfs.FILE, unixfs.RAW):
        size = msg.filesize if msg.filesize is not None else msg.file_size()
        return NodeInfo(FILE, dcrypto.plain_size(size) if private else size)
    raise CorruptData(f"{cid} has an unexpected UnixFS type {msg.type}")


def dag_size(blocks: BlockStore, cid: CID) -> int:
    """Cumulative DAG size of ``cid`` as IPFS reports it (block size plus link Tsizes)."""
    if cid.codec != DAG_PB:
        return blocks.size(cid)
    data = blocks.get(cid)
    return len(data) + sum(link.tsize for link in dagpb.decode(data).links)
