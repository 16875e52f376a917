"""The file importer and reader: files as ``ipfs add --cid-version=1`` lays them out.

Fixed 262144-byte chunks become raw leaves (CIDv1, sha2-256); leaves are grouped into dag-pb
UnixFS File nodes of at most 174 links, level by level (the balanced layout); a file of one chunk
is just that raw leaf, an empty file the empty raw block. Building is streaming: at most one
partial chunk plus 174 links per tree level are held, so memory does not grow with file size.

Hashing leaves elsewhere (on other threads, in parallel) is possible: cut the file into
``chunk_size`` pieces yourself, hash them, and give each leaf's CID to :meth:`FileBuilder.add_leaf`
in file order; only the few inner nodes are then hashed by the builder.

Reading walks the UnixFS ``blocksizes`` and fetches only the blocks that overlap the range.
:func:`read_plan` gives the same walk as a sequence of inline bytes and :class:`LeafRef` s (raw
leaves still to be fetched), so a caller can fetch and verify leaves ahead of time, in parallel;
:func:`read_file` is that plan with each leaf fetched and verified in turn.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from bucketfs.errors import CorruptData, InvalidArgument
from bucketfs.ipfs import dagpb, unixfs
from bucketfs.ipfs.cid import CID, DAG_PB, RAW, Block, load_block

CHUNK_SIZE = 262144
MAX_LINKS = 174

GetBlock = Callable[[CID], bytes]

_RAW_PREFIX = b"\x01\x55\x12\x20"


@dataclass(frozen=True)
class _Child:
    cid: CID
    file_size: int  # bytes of file content below this child
    tsize: int  # cumulative DAG size


@dataclass
class FileResult:
    """The outcome of :meth:`FileBuilder.finish`.

    ``blocks`` are the blocks not yet returned by :meth:`FileBuilder.write` (the root is last);
    ``size`` is the file's byte length, ``dag_size`` the cumulative DAG size IPFS reports.
    """

    cid: CID
    blocks: list[Block]
    size: int
    dag_size: int


class FileBuilder:
    """Incrementally import one file; feed bytes with :meth:`write`, then call :meth:`finish`."""

    def __init__(self, chunk_size: int = CHUNK_SIZE, max_links: int = MAX_LINKS) -> None:
        if chunk_size <= 0 or max_links < 2:
            raise InvalidArgument("chunk size must be positive and max links at least 2")
        self._chunk_size = chunk_size
        self._max_links = max_links
        self._buffer = bytearray()
        self._levels: list[list[_Child]] = [[]]
        self._leaves = 0
        self._size = 0
        self._out: list[Block] = []
        self._finished = False

    def write(self, data: bytes | bytearray | memoryview) -> list[Block]:
        """Add file bytes; return the blocks completed so far (each exactly once)."""
        if self._finished:
            raise InvalidArgument("FileBuilder already finished")
        view = memoryview(data)
        size = self._chunk_size
        pos = 0
        if self._buffer:
            take = min(size - len(self._buffer), len(view))
            self._buffer += view[:take]
            pos = take
            if len(self._buffer) == size:
                self._add_leaf(bytes(self._buffer))
                self._buffer.clear()
        while len(view) - pos >= size:
            self._add_leaf(bytes(view[pos : pos + size]))
            pos += size
        if pos < len(view):
            self._buffer += view[pos:]
        out, self._out = self._out, []
        return out

    def add_leaf(self, cid: CID, size: int) -> list[Block]:
        """Add a raw leaf hashed by the caller (its block is the caller's to store); return the
        inner blocks completed so far. Every leaf but the last must be ``chunk_size`` bytes, and
        leaves cannot be mixed with :meth:`write`."""
        if self._finished:
            raise InvalidArgument("FileBuilder already finished")
        if self._buffer or not 0 < size <= self._chunk_size or cid.codec != RAW:
            raise InvalidArgument("add_leaf takes raw leaves of 1..chunk_size bytes, not mixed")
        if self._levels[0] and self._levels[0][-1].file_size != self._chunk_size:
            raise InvalidArgument("only the last leaf may be shorter than chunk_size")
        self._leaves += 1
        self._size += size
        self._push(0, _Child(cid, size, size))
        out, self._out = self._out, []
        return out

    def finish(self) -> FileResult:
        """Flush the last chunk and build the inner nodes up to the root."""
        if self._finished:
            raise InvalidArgument("FileBuilder already finished")
        if self._buffer or self._leaves == 0:
            self._add_leaf(bytes(self._buffer))
            self._buffer.clear()
        self._finished = True
        root = self._levels[0][0] if self._leaves == 1 else self._close_levels()
        blocks, self._out = self._out, []
        return FileResult(root.cid, blocks, self._size, root.tsize)

    def _add_leaf(self, chunk: bytes) -> None:
        cid = CID(1, RAW, b"\x12\x20" + hashlib.sha256(chunk).digest())
        self._out.append(Block(cid, chunk))
        self._leaves += 1
        self._size += len(chunk)
        self._push(0, _Child(cid, len(chunk), len(chunk)))

    def _push(self, level: int, child: _Child) -> None:
        if level == len(self._levels):
            self._levels.append([])
        group = self._levels[level]
        group.append(child)
        if len(group) == self._max_links:
            self._levels[level] = []
            self._push(level + 1, self._make_node(group))

    def _close_levels(self) -> _Child:
        level = 0
        while True:
            group = self._levels[level]
            top = all(not higher for higher in self._levels[level + 1 :])
            if top and len(group) == 1:
                return group[0]
            self._levels[level] = []
            if group:
                node = self._make_node(group)
                if level + 1 == len(self._levels):
                    self._levels.append([])
                self._levels[level + 1].append(node)
            level += 1

    def _make_node(self, children: list[_Child]) -> _Child:
        children = [c for c in children if c.file_size > 0]
        sizes = [c.file_size for c in children]
        data = unixfs.Data(unixfs.FILE, filesize=sum(sizes), blocksizes=sizes).encode()
        links = [dagpb.PBLink("", c.cid, c.tsize) for c in children]
        raw = dagpb.encode(dagpb.PBNode(data, links))
        block = Block(CID.for_data(raw, DAG_PB), raw)
        self._out.append(block)
        return _Child(block.cid, sum(sizes), len(raw) + sum(c.tsize for c in children))


def import_bytes(data: bytes) -> FileResult:
    """Import a whole file held in memory; ``blocks`` then holds every block."""
    builder = FileBuilder()
    blocks = builder.write(data)
    result = builder.finish()
    result.blocks[:0] = blocks
    return result


def file_size(block: Block) -> int:
    """Exact byte length of the file rooted at ``block`` (a raw leaf or a UnixFS File node)."""
    if block.cid.codec == RAW:
        return len(block.data)
    msg = unixfs.node_data(block)
    if msg.type not in (unixfs.FILE, unixfs.RAW):
        raise InvalidArgument(f"{block.cid} is not a file")
    if msg.filesize is not None:
        return msg.filesize
    return msg.file_size()


@dataclass(frozen=True)
class LeafRef:
    """A raw leaf of a read plan: bytes ``[start, end)`` of block ``cid`` (not fetched yet)."""

    cid: CID
    start: int
    end: int | None

    def take(self, data: bytes) -> bytes:
        """The planned part of the leaf's (verified) bytes."""
        if self.start == 0 and (self.end is None or self.end >= len(data)):
            return data
        return data[self.start : self.end]


def read_file(
    root: CID, get_block: GetBlock, offset: int = 0, length: int | None = None
) -> Iterator[bytes]:
    """Yield the bytes of the file ``root`` from ``offset`` (``length`` bytes or to the end).

    Only blocks that overlap the range are fetched; every fetched block is verified against its
    CID (:class:`CorruptData` otherwise).
    """
    for part in read_plan(root, get_block, offset, length):
        if isinstance(part, LeafRef):
            piece = part.take(load_block(part.cid, get_block).data)
            if piece:
                yield piece
        else:
            yield part


def read_plan(
    root: CID, get_block: GetBlock, offset: int = 0, length: int | None = None
) -> Iterator[bytes | LeafRef]:
    """The bytes of ``root`` from ``offset`` as inline pieces and raw leaves to fetch, in order.

    Inner (dag-pb) nodes are fetched and verified as the walk reaches them; the raw leaves are
    left to the caller, who must verify each against its CID (:func:`load_block`).
    """
    if offset < 0 or (length is not None and length < 0):
        raise InvalidArgument("negative offset or length")
    end = None if length is None else offset + length
    if end is not None and end <= offset:
        return
    if root.codec == RAW:
        yield LeafRef(root, offset, end)
        return
    yield from _read_node(root, load_block(root, get_block).data, get_block, offset, end)


def _read_node(
    cid: CID, data: bytes, get_block: GetBlock, start: int, end: int | None
) -> Iterator[bytes | LeafRef]:
    """Plan of bytes ``[start, end)`` of the dag-pb subtree ``cid`` (positions relative to it)."""
    if cid.codec != DAG_PB:
        raise InvalidArgument(f"{cid} is not a UnixFS file block")
    node = dagpb.decode(data)
    if node.data is None:
        raise InvalidArgument(f"{cid} has no UnixFS data")
    msg = unixfs.Data.decode(node.data)
    if msg.type not in (unixfs.FILE, unixfs.RAW):
        raise InvalidArgument(f"{cid} is not a file")
    if len(msg.blocksizes) != len(node.links):
        raise CorruptData(f"{cid}: {len(node.links)} links but {len(msg.blocksizes)} blocksizes")
    inline = msg.data or b""
    piece = inline[start:end]
    if piece:
        yield piece
    pos = len(inline)
    for link, size in zip(node.links, msg.blocksizes, strict=True):
        if end is not None and pos >= end:
            return
        if pos + size > start:
            sub_start = max(start - pos, 0)
            sub_end = None if end is None else min(end - pos, size)
            if link.cid.codec == RAW:
                yield LeafRef(link.cid, sub_start, sub_end)
            else:
                child = load_block(link.cid, get_block).data
                yield from _read_node(link.cid, child, get_block, sub_start, sub_end)
        pos += size
