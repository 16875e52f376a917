"""UnixFS directories exactly as IPFS builds them, so a tree's CID equals what IPFS gives.

A directory is a basic dag-pb node (UnixFS Directory, one link per entry, sorted by name) while
its estimated size stays within :data:`SHARD_THRESHOLD`, and a HAMT (:mod:`bucketfs.ipfs.hamt`)
above it. The estimate is the reference "links-bytes" one: the sum over entries of the UTF-8 name
length plus the binary CID length. A directory is sharded exactly when the estimate exceeds the
threshold, both when built and after :func:`dir_set`, matching what importing the same tree gives.

Changes: :func:`dir_set` is the one-off form of :mod:`bucketfs.ipfs.dirnodes`, which edits a
directory incrementally over cached decoded nodes (one hash path of a HAMT, one splice of a
basic node) and decides the switch back below the threshold after removals. The lower bounds of
sharded directories' estimates it finds are remembered per root CID in a small in-process memo
(:data:`estimates`) shared by every edit.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator

from bucketfs.errors import InvalidArgument, NotADirectory
from bucketfs.ipfs import dagpb, hamt, unixfs
from bucketfs.ipfs.cid import CID, DAG_PB, Block

SHARD_THRESHOLD = 262144
_MEMO_SIZE = 4096

DirEntry = hamt.Entry
GetBlock = Callable[[CID], bytes]

_EMPTY_DIR = dagpb.encode(dagpb.PBNode(unixfs.Data(unixfs.DIRECTORY).encode(), []))


def empty_dir() -> Block:
    """The empty UnixFS directory (CIDv1 ``bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354``)."""
    return Block.of(_EMPTY_DIR, DAG_PB)


def link_estimate(name: str, cid: CID) -> int:
    """One entry's contribution to the sharding estimate."""
    return len(name.encode("utf-8")) + len(cid.to_bytes())


class _EstimateMemo:
    """Lower bounds of the size estimate of sharded directories, by root CID (bounded LRU)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[CID, int] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, cid: CID) -> int | None:
        with self._lock:
            value = self._items.get(cid)
            if value is not None:
                self._items.move_to_end(cid)
            return value

    def put(self, cid: CID, lower_bound: int) -> None:
        with self._lock:
            self._items[cid] = lower_bound
            self._items.move_to_end(cid)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


estimates = _EstimateMemo(_MEMO_SIZE)


def _check_name(name: str) -> None:
    if not name or "/" in name or "\0" in name:
        raise InvalidArgument(f"invalid directory entry name {name!r}")


def _kind(block: Block) -> unixfs.Data:
    if block.cid.codec != DAG_PB:
        raise NotADirectory(f"{block.cid} is not a directory")
    msg = unixfs.node_data(block)
    if msg.type not in (unixfs.DIRECTORY, unixfs.HAMT_SHARD):
        raise NotADirectory(f"{block.cid} is not a directory")
    return msg


def is_directory(block: Block) -> bool:
    """Whether ``block`` is a UnixFS directory (basic or sharded)."""
    try:
        _kind(block)
    except (NotADirectory, InvalidArgument):
        return False
    return True


def _basic(entries: list[DirEntry], meta: unixfs.Data | None) -> Block:
    data = unixfs.Data(
        unixfs.DIRECTORY,
        mode=meta.mode if meta else None,
        mtime=meta.mtime if meta else None,
    )
    links = [dagpb.PBLink(e.name, e.cid, e.tsize) for e in entries]
    return Block.of(dagpb.encode(dagpb.PBNode(data.encode(), links)), DAG_PB)


def _build(
    entries: list[DirEntry], meta: unixfs.Data | None, estimate: int | None = None
) -> tuple[Block, list[Block]]:
    if estimate is None:
        estimate = sum(link_estimate(e.name, e.cid) for e in entries)
    if estimate > SHARD_THRESHOLD:
        built = hamt.build(entries, meta)
        estimates.put(built.block.cid, estimate)
        return built.block, built.blocks
    block = _basic(entries, meta)
    return block, [block]


def build_dir(
    entries: Iterable[DirEntry], *, meta: unixfs.Data | None = None, estimate: int | None = None
) -> tuple[Block, list[Block]]:
    """Build a directory of ``entries`` (unique names); return the root and all new blocks.

    ``meta`` optionally carries a UnixFS ``mode``/``mtime`` for the root; ``estimate``, the
    sharding estimate of ``entries`` when the caller keeps it (the sum of :func:`link_estimate`).
    """
    items = list(entries)
    seen: set[str] = set()
    for entry in items:
        _check_name(entry.name)
        if entry.name in seen:
            raise InvalidArgument(f"duplicate directory entry {entry.name!r}")
        seen.add(entry.name)
    return _build(items, meta, estimate)


def dir_tsize(block: Block) -> int:
    """Cumulative DAG size of a directory root: its block plus every link's Tsize."""
    return len(block.data) + sum(link.tsize for link in dagpb.decode(block.data).links)


def dir_list(root: Block, get_block: GetBlock) -> Iterator[DirEntry]:
    """The entries of a directory: sorted by name for basic ones, in hash order when sharded."""
    if _kind(root).type == unixfs.HAMT_SHARD:
        yield from hamt.iter_entries(root, get_block)
        return
    for link in dagpb.decode(root.data).links:
        yield DirEntry(link.name, link.cid, link.tsize)


def dir_get(root: Block, name: str, get_block: GetBlock) -> DirEntry | None:
    """The entry called ``name``, or None."""
    if _kind(root).type == unixfs.HAMT_SHARD:
        return hamt.find(root, name, get_block)
    key = name.encode("utf-8")
    for raw in dagpb.scan(root.data)[0]:
        if raw.name == key:  # decode only the matching link
            link = dagpb.decode(raw.field).links[0]
            return DirEntry(link.name, link.cid, link.tsize)
    return None


def dir_set(
    root: Block, name: str, entry: DirEntry | None, get_block: GetBlock
) -> tuple[Block, list[Block]]:
    """Add or replace (``entry``) or remove (``None``) the entry ``name``.

    ``entry.name`` is ignored in favour of ``name``. Returns the new root and the blocks created;
    converts between basic and sharded layouts at the threshold. One-off form of
    :class:`bucketfs.ipfs.dirnodes.DirEdit` (which keeps decoded nodes between changes).
    """
    from bucketfs.ipfs.dirnodes import DirNodes  # dirnodes builds on this module

    _check_name(name)
    nodes = DirNodes(get_block)
    nodes.load(root)
    edit = nodes.edit(root.cid)
    edit.set(name, entry)
    done = edit.finish()
    return done.block, done.blocks
