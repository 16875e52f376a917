"""File content of buckets: streaming import (optionally encrypted), ranged reads, node kinds.

* :class:`Importer` turns a stream of chunks into UnixFS blocks (``ipfs add --cid-version=1``
  layout) and puts them into the block store as they complete; for private buckets the stream is
  encrypted with dcrypto v1 first, so the stored leaves are ciphertext.
* :func:`read` streams a file's bytes (``offset``/``length`` for ranges) in messages of up to one
  leaf, reading and verifying the next leaves on the hashing pool (``parallel.py``) while one is
  sent, and decrypting for private buckets. A whole-file read of a private file checks the MAC in a first pass before releasing any
  plaintext; a ranged read relies on the blocks' content addresses (every block is verified).
* :func:`node_info` says whether a CID is a file, a directory or a symlink and gives the exact
  file length, reading at most the root node (cached by CID in the attribute store).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import cast

from bucketfs.errors import CorruptData, InvalidArgument
from bucketfs.hub.blocks import BlockStore
from bucketfs.ipfs import dagpb, unixfs
from bucketfs.ipfs.cid import CID, DAG_PB, RAW, Block
from bucketfs.ipfs.importer import CHUNK_SIZE, FileBuilder, read_file

from . import dcrypto
from .attrs import AttrStore
from .parallel import LeafHasher, prefetch_leaves
from .tree import DirCodec, Entry

#: PullPath messages: the first FIRST_BYTES of a stream in FIRST_CHUNK messages (upstream hubs send
#: 32 KiB messages throughout), then one leaf per message (~40 % less hub CPU per byte)
FIRST_CHUNK = 32 * 1024
FIRST_BYTES = 256 * 1024
PULL_CHUNK = CHUNK_SIZE
FILE, DIR, SYMLINK = "file", "dir", "symlink"

log = logging.getLogger(__name__)


class Importer:
    """Import one file from chunks; ``write`` returns the bytes ingested so far.

    The importer cuts leaves itself and hashes full ones on the hashing pool
    (:class:`~bucketfs.hub.buckets.parallel.LeafHasher`) while the caller receives more; blocks
    are put by the calling thread, in file order, so they belong to its block-store batch.
    """

    def __init__(self, blocks: BlockStore, file_key: bytes | None = None) -> None:
        self._blocks = blocks
        self._builder = FileBuilder()
        self._hasher = LeafHasher()
        self._buffer = bytearray()
        self._enc = dcrypto.Encryptor(file_key) if file_key else None
        self.ingested = 0

    def write(self, data: bytes) -> int:
        self.ingested += len(data)
        if self._enc is not None:
            data = self._enc.update(data)
        self._feed(data)
        return self.ingested

    def _feed(self, data: bytes) -> None:
        view = memoryview(data)
        pos = 0
        if self._buffer:
            pos = min(CHUNK_SIZE - len(self._buffer), len(view))
            self._buffer += view[:pos]
            if len(self._buffer) < CHUNK_SIZE:
                return
            self._leaf(bytes(self._buffer))
            self._buffer.clear()
        while len(view) - pos >= CHUNK_SIZE:
            self._leaf(bytes(view[pos : pos + CHUNK_SIZE]))
            pos += CHUNK_SIZE
        self._buffer += view[pos:]

    def _leaf(self, data: bytes) -> None:
        self._store(self._hasher.submit(data))

    def _store(self, leaves: Iterator[Block]) -> None:
        for leaf in leaves:
            self._blocks.put(leaf)
            for block in self._builder.add_leaf(leaf.cid, len(leaf.data)):
                self._blocks.put(block)

    def finish(self) -> tuple[Entry, int]:
        """Store the last blocks; return the file entry and its exact plaintext size."""
        try:
            if self._enc is not None:
                self._feed(self._enc.finalize())
            if self._buffer:
                self._leaf(bytes(self._buffer))
                self._buffer.clear()
            self._store(self._hasher.drain())
        except BaseException:
            self._hasher.cancel()
            raise
        result = self._builder.finish()
        for block in result.blocks:
            self._blocks.put(block)
        return Entry("", result.cid, result.dag_size), self.ingested

    def cancel(self) -> None:
        """Give up the upload: leaves still being hashed are forgotten."""
        self._hasher.cancel()


def import_bytes(blocks: BlockStore, data: bytes, file_key: bytes | None = None) -> Entry:
    imp = Importer(blocks, file_key)
    imp.write(data)
    return imp.finish()[0]


def _rechunk(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """Cut a stream into PullPath messages: the first :data:`FIRST_BYTES` in messages of
    :data:`FIRST_CHUNK` (as upstream hubs send them: small reads see no change), then messages of
    up to :data:`PULL_CHUNK` (whole leaves, not copied)."""
    sent = 0
    for piece in pieces:
        pos = 0
        while pos < len(piece):
            size = FIRST_CHUNK if sent < FIRST_BYTES else PULL_CHUNK
            out = piece if pos == 0 and len(piece) <= size else piece[pos : pos + size]
            pos += len(out)
            sent += len(out)
            yield out


def read(
    blocks: BlockStore,
    cid: CID,
    file_key: bytes | None,
    offset: int = 0,
    length: int = 0,
    plain_size: int | None = None,
    *,
    where: str = "",
) -> Iterator[bytes]:
    """Yield the (plaintext) bytes of a file in messages of at most :data:`PULL_CHUNK` bytes.

    A corrupt block is logged (see :func:`corruption_logged`; ``where`` names the bucket path)."""
    with corruption_logged(f"{where or 'a file'} (file {cid})"):
        yield from _read(blocks, cid, file_key, offset, length, plain_size)


@contextlib.contextmanager
def corruption_logged(where: str) -> Iterator[None]:
    """Log a :class:`CorruptData` raised in the block (ERROR: the block's CID, from the error,
    and ``where``, e.g. bucket and path) before it reaches the caller, so damage a read meets
    is never silent; fsck finds it before a read does."""
    try:
        yield
    except CorruptData as exc:
        log.error("corrupt block read in %s: %s", where, exc.message)
        raise


def _read(
    blocks: BlockStore,
    cid: CID,
    file_key: bytes | None,
    offset: int,
    length: int,
    plain_size: int | None,
) -> Iterator[bytes]:
    if offset < 0 or length < 0:
        raise InvalidArgument("offset and length must not be negative")
    get = blocks.get_unchecked  # read_file and prefetch_leaves verify every block
    if file_key is None:
        yield from _rechunk(prefetch_leaves(cid, get, offset, length or None))
    elif offset == 0 and length == 0:
        dcrypto.verify_mac(file_key, prefetch_leaves(cid, get))
        yield from _rechunk(_decrypt_all(file_key, prefetch_leaves(cid, get)))
    else:
        size = plain_size if plain_size is not None else file_size(blocks, cid, True)
        yield from _rechunk(_decrypt_range(blocks, cid, file_key, offset, length, size))


def _decrypt_all(file_key: bytes, pieces: Iterator[bytes]) -> Iterator[bytes]:
    dec = dcrypto.Decryptor(file_key)
    for piece in pieces:
        out = dec.update(piece)
        if out:
            yield out
    tail = dec.finalize()
    if tail:
        yield tail


def _decrypt_range(
    blocks: BlockStore, cid: CID, file_key: bytes, offset: int, length: int, size: int
) -> Iterator[bytes]:
    end = size if length == 0 else min(size, offset + length)
    if offset >= end:
        return
    get = blocks.get_unchecked
    iv = b"".join(read_file(cid, get, 4, dcrypto.IV_SIZE))
    pos = offset
    for piece in prefetch_leaves(cid, get, dcrypto.HEADER_SIZE + offset, end - offset):
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
    cid_text: str = ""  # the CID's text form (listings need it; encoding it is not free)


def node_info(
    blocks: BlockStore, attrs: AttrStore, codec: DirCodec, cid: CID, private: bool
) -> NodeInfo:
    """Kind, exact size, symlink target and text form of ``cid`` (cached by CID: in memory, then
    in the attribute store's ``nodes`` table)."""
    found = attrs.memo.get((cid, private))
    if found is not None:
        return cast(NodeInfo, found)
    return node_infos(blocks, attrs, codec, [cid], private)[0]


def node_infos(
    blocks: BlockStore, attrs: AttrStore, codec: DirCodec, cids: Sequence[CID], private: bool
) -> list[NodeInfo]:
    """:func:`node_info` of many CIDs (a directory's children): one table query for those not
    in memory, one transaction for those computed."""
    out: list[NodeInfo | None] = [attrs.memo.get((cid, private)) for cid in cids]
    missing = [i for i, info in enumerate(out) if info is None]
    if not missing:
        return cast(list[NodeInfo], out)
    prefix = "p:" if private else ""
    texts = {i: str(cids[i]) for i in missing}
    stored = attrs.nodes([prefix + texts[i] for i in missing])
    computed = []
    for i in missing:
        row = stored.get(prefix + texts[i])
        if row is not None:
            info = NodeInfo(*row, cid_text=texts[i])
        else:
            info = replace(_compute_info(blocks, codec, cids[i], private), cid_text=texts[i])
            computed.append((prefix + texts[i], info.kind, info.file_size, info.target))
        attrs.memo.put((cids[i], private), info)
        out[i] = info
    if computed:
        attrs.set_nodes(computed)
    return cast(list[NodeInfo], out)


def remember_files(attrs: AttrStore, files: Iterable[tuple[CID, int]], private: bool) -> None:
    """Record the kind and exact size of files just imported (their first listing then reads
    no block and writes no row)."""
    prefix = "p:" if private else ""
    rows = []
    for cid, size in files:
        if attrs.memo.get((cid, private)) is None:
            text = str(cid)
            attrs.memo.put((cid, private), NodeInfo(FILE, size, cid_text=text))
            rows.append((prefix + text, FILE, size, ""))
    if rows:
        attrs.set_nodes(rows)


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
