"""Trustless gateway responses (ipfs/specs ``trustless-gateway.md``): raw blocks and CARv1 streams.

A client that trusts nothing but the CID verifies every block it receives: a raw block response
is the block's bytes; a CAR response is a CARv1 stream (header ``{roots: [cid], version: 1}``)
holding, in this order,

1. the blocks needed to walk the requested path from the root CID (each directory on the way, and
   the HAMT shards on each name's hash path), then
2. the blocks of the terminal node chosen by ``dag-scope``: ``block`` (that node only),
   ``entity`` (the whole file, or the directory node with its HAMT shards but not its children),
   ``all`` (the whole DAG below, the default),

each block once (``dups=n``), the DAG walked depth first in link order (``order=dfs``). Identity
CIDs are never sent (their data is in the CID). ``entity-bytes=from:to`` limits a file to the
blocks that hold those bytes (``blocksizes`` of each node tell which children do).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from bucketfs.errors import InvalidArgument, NotFound
from bucketfs.ipfs import dagpb, directory, unixfs, varint
from bucketfs.ipfs.cid import CID, DAG_PB, Block
from bucketfs.ipfs.multihash import IDENTITY

GetBlock = Callable[[CID], bytes]

RAW_TYPE = "application/vnd.ipld.raw"
CAR_TYPE = "application/vnd.ipld.car"
CAR_CONTENT_TYPE = f"{CAR_TYPE}; version=1; order=dfs; dups=n"
SCOPES = ("all", "entity", "block")
#: the HAMT fanout IPFS uses: sub-shard links are named by exactly two hex digits
_SHARD_PREFIX = 2


@dataclass(frozen=True)
class ByteRange:
    """``entity-bytes=from:to``; negative values count from the end, ``to=None`` is ``*``."""

    start: int
    stop: int | None

    @classmethod
    def parse(cls, text: str) -> ByteRange:
        first, sep, last = text.partition(":")
        try:
            start = int(first)
            stop = None if last == "*" else int(last)
        except ValueError:
            raise InvalidArgument(f"invalid entity-bytes {text!r}") from None
        if not sep:
            raise InvalidArgument(f"invalid entity-bytes {text!r}")
        return cls(start, stop)

    def absolute(self, size: int) -> tuple[int, int]:
        """The half-open byte interval of a file of ``size`` bytes (may be empty)."""
        start = self.start if self.start >= 0 else max(0, size + self.start)
        if self.stop is None:
            stop = size
        else:
            stop = (self.stop if self.stop >= 0 else size + self.stop) + 1
        return min(start, size), max(min(stop, size), 0)


def _identity(cid: CID) -> bool:
    return cid.multihash[:1] == bytes([IDENTITY])


def load(get: GetBlock, cid: CID) -> bytes:
    """A block's bytes (identity CIDs carry theirs); NotFound when the hub does not hold it."""
    if _identity(cid):
        return cid.digest
    return get(cid)


def _node(cid: CID, data: bytes) -> tuple[dagpb.PBNode | None, unixfs.Data | None]:
    if cid.codec != DAG_PB:
        return None, None
    node = dagpb.decode(data)
    msg = unixfs.Data.decode(node.data) if node.data is not None else None
    return node, msg


def resolve_path(get: GetBlock, root: CID, parts: list[str]) -> tuple[CID, list[Block]]:
    """Walk ``parts`` from ``root``; return the terminal CID and the blocks the walk read."""
    seen: list[Block] = []

    def recording(cid: CID) -> bytes:
        data = load(get, cid)
        seen.append(Block(cid, data))
        return data

    cid = root
    for name in parts:
        block = Block(cid, recording(cid))
        _, msg = _node(cid, block.data)
        if msg is None or msg.type not in (unixfs.DIRECTORY, unixfs.HAMT_SHARD):
            raise NotFound(f"{cid} is not a directory: no link named {name!r}")
        found = directory.dir_get(block, name, recording)
        if found is None:
            raise NotFound(f'no link named "{name}" under {cid}')
        cid = found.cid
    return cid, seen


class CarWriter:
    """Yields the bytes of a CARv1 stream, each block at most once."""

    def __init__(self, root: CID) -> None:
        self.root = root
        self._sent: set[CID] = set()

    def header(self) -> bytes:
        cid = b"\x00" + self.root.to_bytes()
        body = b"\xa2\x65roots\x81\xd8\x2a" + _cbor_bytes_head(len(cid)) + cid + b"\x67version\x01"
        return varint.encode(len(body)) + body

    def block(self, cid: CID, data: bytes) -> bytes:
        if _identity(cid) or cid in self._sent:
            return b""
        self._sent.add(cid)
        raw = cid.to_bytes()
        return varint.encode(len(raw) + len(data)) + raw + data


def _cbor_bytes_head(length: int) -> bytes:
    if length < 24:
        return bytes([0x40 + length])
    if length < 256:
        return bytes([0x58, length])
    return bytes([0x59]) + length.to_bytes(2, "big")


def car_stream(
    get: GetBlock,
    root: CID,
    parts: list[str],
    scope: str = "all",
    entity_bytes: ByteRange | None = None,
) -> tuple[CID, Iterator[bytes]]:
    """The terminal CID of ``/ipfs/<root>/<parts>`` and a CAR of it (see the module docstring).

    The path is resolved before the first byte is produced, so a missing path is a NotFound the
    caller turns into a 404 rather than a broken stream.
    """
    if scope not in SCOPES:
        raise InvalidArgument(f"invalid dag-scope {scope!r} (block, entity or all)")
    terminal, path_blocks = resolve_path(get, root, parts)
    first = load(get, terminal)
    writer = CarWriter(root)

    def chunks() -> Iterator[bytes]:
        yield writer.header()
        for block in path_blocks:
            yield writer.block(block.cid, block.data)
        yield writer.block(terminal, first)
        if scope == "block":
            return
        for cid, data in _walk(get, terminal, first, scope, entity_bytes):
            yield writer.block(cid, data)

    return terminal, chunks()


def _walk(
    get: GetBlock, cid: CID, data: bytes, scope: str, span: ByteRange | None
) -> Iterator[tuple[CID, bytes]]:
    """The blocks below ``cid`` (not itself) depth first, limited by ``scope``/``span``."""
    node, msg = _node(cid, data)
    if node is None:
        return
    if msg is not None and msg.type in (unixfs.FILE, unixfs.RAW) and span is not None:
        start, stop = span.absolute(msg.file_size())
        yield from _file_range(get, node, msg, start, stop)
        return
    if msg is not None and msg.type == unixfs.DIRECTORY and scope == "entity":
        return
    shards_only = scope == "entity" and msg is not None and msg.type == unixfs.HAMT_SHARD
    for link in node.links:
        if shards_only and len(link.name) != _SHARD_PREFIX:
            continue  # an entry of the directory, not one of its shards
        child = load(get, link.cid)
        yield link.cid, child
        yield from _walk(get, link.cid, child, scope, span)


def _file_range(
    get: GetBlock, node: dagpb.PBNode, msg: unixfs.Data, start: int, stop: int
) -> Iterator[tuple[CID, bytes]]:
    """The blocks of a file node's children that hold bytes ``[start, stop)`` of it."""
    offset = len(msg.data or b"")
    for link, size in zip(node.links, msg.blocksizes, strict=False):
        lo, hi = offset, offset + size
        offset = hi
        if hi <= start or lo >= stop:
            continue
        child = load(get, link.cid)
        yield link.cid, child
        sub, sub_msg = _node(link.cid, child)
        if sub is not None and sub_msg is not None:
            yield from _file_range(get, sub, sub_msg, max(start - lo, 0), min(stop, hi) - lo)
