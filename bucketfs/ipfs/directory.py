"""UnixFS directories exactly as IPFS builds them, so a tree's CID equals what IPFS gives.

A directory is a basic dag-pb node (UnixFS Directory, one link per entry, sorted by name) while
its estimated size stays within :data:`SHARD_THRESHOLD`, and a HAMT (:mod:`bucketfs.ipfs.hamt`)
above it. The estimate is the reference "links-bytes" one: the sum over entries of the UTF-8 name
length plus the binary CID length. A directory is sharded exactly when the estimate exceeds the
threshold, both when built and after :func:`dir_set`, matching what importing the same tree gives.

Cost: adding to a sharded directory touches one hash path. A removal must also decide whether
the directory fell back below the threshold; like go-unixfs this enumerates entries until the
estimate passes the threshold (here: twice the threshold, bounded, not by the directory's width),
and the lower bound found is remembered per root CID in a small in-process memo, so a run of
removals re-enumerates only once that slack is used up.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator

from bucketfs.errors import InvalidArgument, NotADirectory
from bucketfs.ipfs import dagpb, hamt, unixfs, varint
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


_memo = _EstimateMemo(_MEMO_SIZE)


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
        _memo.put(built.block.cid, estimate)
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
    converts between basic and sharded layouts at the threshold.
    """
    _check_name(name)
    if entry is not None and entry.name != name:
        entry = DirEntry(name, entry.cid, entry.tsize)
    msg = _kind(root)
    if msg.type == unixfs.HAMT_SHARD:
        return _set_sharded(root, msg, name, entry, get_block)
    return _set_basic(root, msg, name, entry)


def _rebuild_basic(
    root: Block, msg: unixfs.Data, name: str, entry: DirEntry | None
) -> tuple[Block, list[Block]]:
    links = dagpb.decode(root.data).links
    entries = [DirEntry(link.name, link.cid, link.tsize) for link in links if link.name != name]
    return _build(entries + ([entry] if entry else []), msg)


def _set_basic(
    root: Block, msg: unixfs.Data, name: str, entry: DirEntry | None
) -> tuple[Block, list[Block]]:
    """Edit a basic directory by splicing its encoded links (no CID is decoded)."""
    links, data = dagpb.scan(root.data)
    key = name.encode("utf-8")
    names = [link.name for link in links]
    if any(a >= b for a, b in itertools.pairwise(names)):  # not canonical: rebuild it
        return _rebuild_basic(root, msg, name, entry)
    index = bisect.bisect_left(names, key)
    if index < len(names) and names[index] == key:
        del links[index]
    new_links = [link.field for link in links]
    estimate = sum(len(link.name) + link.cid_length for link in links)
    if entry is not None:
        new_links.insert(index, dagpb.encode_link(dagpb.PBLink(name, entry.cid, entry.tsize)))
        estimate += link_estimate(name, entry.cid)
    if estimate > SHARD_THRESHOLD:
        return _rebuild_basic(root, msg, name, entry)
    raw = b"".join(new_links) + (
        b"\x0a" + varint.encode(len(data)) + data if data is not None else b""
    )
    block = Block.of(raw, DAG_PB)
    return block, [block]


def _set_sharded(
    root: Block, msg: unixfs.Data, name: str, entry: DirEntry | None, get_block: GetBlock
) -> tuple[Block, list[Block]]:
    built = hamt.update(root, name, entry, get_block)
    if built is None:
        return root, []
    change = link_estimate(name, entry.cid) if entry is not None else 0
    if built.replaced is not None:
        change -= link_estimate(name, built.replaced.cid)
    known = _memo.get(root.cid)
    if known is not None:
        _memo.put(built.block.cid, known + change)
    if change >= 0 or (known is not None and known + change > SHARD_THRESHOLD):
        return built.block, built.blocks
    entries = _entries_up_to(built, get_block, 2 * SHARD_THRESHOLD)
    if entries is None:
        return built.block, built.blocks
    block = _basic(entries, msg)
    return block, [block]


def _entries_up_to(built: hamt.Built, get_block: GetBlock, limit: int) -> list[DirEntry] | None:
    """All entries of a fresh shard tree if their estimate is within the threshold, else None.

    Stops once the estimate passes ``limit`` and remembers the lower bound it reached.
    """
    fresh = {b.cid: b.data for b in built.blocks}

    def get(cid: CID) -> bytes:
        data = fresh.get(cid)
        return data if data is not None else get_block(cid)

    entries: list[DirEntry] = []
    total = 0
    for item in hamt.iter_entries(built.block, get):
        total += link_estimate(item.name, item.cid)
        if total > limit:
            break
        entries.append(item)
    if total <= SHARD_THRESHOLD:
        return entries
    _memo.put(built.block.cid, total)
    return None
