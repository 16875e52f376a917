"""Incremental edits of UnixFS directories over a bounded cache of decoded nodes.

A directory change used to decode the whole directory node, rebuild it and re-encode it: time
proportional to the directory's width in Python work. :class:`DirNodes` keeps the decoded form of
recently used directory nodes (basic directories and HAMT shards) by CID, in a cache bounded by
the number of links it holds (CIDs are immutable, so an entry never goes stale). An edit
(:class:`DirEdit`) copies only the nodes it changes, splices the changed links and re-encodes
only those nodes, once per edit however many names it changes:

* a basic directory keeps its sorted names and its already-encoded link fields, so a change is a
  bisection, one list splice and one ``join`` + SHA-256 of the node (C-speed work on the bytes
  the new block must contain anyway);
* a HAMT keeps each shard's 256 slots with their encoded link fields, so a change re-encodes the
  shards on one hash path only (``bucketfs.ipfs.hamt`` for the layout).

The result is byte-equal to building the final set of entries from scratch
(:func:`bucketfs.ipfs.directory.build_dir`): sharded exactly when the sharding estimate exceeds
:data:`~bucketfs.ipfs.directory.SHARD_THRESHOLD`, converting in both directions at the end of an
edit. Whether a sharded directory fell below the threshold after removals is decided as go-unixfs
does (enumerate entries until the estimate passes the threshold, here bounded by twice the
threshold), with the lower bound found remembered per root CID, so a run of removals enumerates
again only once that slack is used up.

Thread safety: the cache is shared and locked; cached nodes are never mutated (an edit copies
what it changes); an edit itself belongs to one thread.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from bucketfs.errors import InvalidArgument, NotADirectory, Unsupported
from bucketfs.ipfs import dagpb, directory, hamt, unixfs
from bucketfs.ipfs import protowire as pw
from bucketfs.ipfs.cid import CID, DAG_PB, Block, load_block

DirEntry = hamt.Entry
GetBlock = Callable[[CID], bytes]

#: links held by the decoded-node cache, a shard counting :data:`_SHARD_OVERHEAD` more; measured
#: at about 125 bytes each (some 36 MiB when full). A 100k-entry directory fits whole (280k).
CACHE_LINKS = 300_000
_SHARD_OVERHEAD = 6  # the shard object and its dicts, in links' worth of memory
_FANOUT = hamt.FANOUT
_HEX = set(b"0123456789ABCDEFabcdef")
_Slot = hamt.Entry | hamt.SubShard


class _Basic:
    """A decoded basic directory: sorted names, their entries and encoded link fields."""

    __slots__ = ("data", "entries", "estimate", "fields", "links_tsize", "msg", "names")

    def __init__(
        self,
        names: list[str],
        entries: list[DirEntry],
        fields: list[bytes],
        data: bytes,
        msg: unixfs.Data,
    ) -> None:
        self.names = names
        self.entries = entries
        self.fields = fields
        self.data = data  # the encoded Data field (tag, length, UnixFS message)
        self.msg = msg
        self.estimate = sum(directory.link_estimate(e.name, e.cid) for e in entries)
        self.links_tsize = sum(e.tsize for e in entries)

    def copy(self) -> _Basic:
        new = _Basic.__new__(_Basic)
        new.names, new.entries, new.fields = list(self.names), list(self.entries), list(self.fields)
        new.data, new.msg = self.data, self.msg
        new.estimate, new.links_tsize = self.estimate, self.links_tsize
        return new

    def find(self, name: str) -> int:
        return bisect.bisect_left(self.names, name)

    def get(self, name: str) -> DirEntry | None:
        i = self.find(name)
        return self.entries[i] if i < len(self.names) and self.names[i] == name else None

    def set(self, name: str, entry: DirEntry | None) -> DirEntry | None:
        """Replace ``name`` (``None`` removes it) in place; the entry it had."""
        i = self.find(name)
        old = None
        while i < len(self.names) and self.names[i] == name:  # more than one if not canonical
            old = old or self.entries[i]
            gone = self.entries[i]
            self.estimate -= directory.link_estimate(name, gone.cid)
            self.links_tsize -= gone.tsize
            del self.names[i], self.entries[i], self.fields[i]
        if entry is not None:
            self.names.insert(i, name)
            self.entries.insert(i, entry)
            self.fields.insert(i, dagpb.encode_link(dagpb.PBLink(name, entry.cid, entry.tsize)))
            self.estimate += directory.link_estimate(name, entry.cid)
            self.links_tsize += entry.tsize
        return old

    def encode(self) -> Block:
        raw = b"".join(self.fields) + self.data
        return Block(CID.for_data(raw, DAG_PB), raw)


class _Shard:
    """A HAMT shard, decoded (cached, never changed again) or open inside an edit.

    Sparse and lazy: ``fields`` holds the encoded link of every occupied slot, ``items`` the
    decoded slots that were looked at (a wide directory has thousands of shards holding a few
    names each, and one change looks at one slot per shard). In an open shard a slot of
    ``items`` may hold another open :class:`_Shard` (``opened`` lists those slots) whose field
    and size stay the old ones until the edit closes it. ``links_tsize`` (the sum of the links'
    sizes) is None until known: from the parent link, from building, or by decoding every slot.
    """

    __slots__ = (
        "bitfield",
        "depth",
        "dirty",
        "fields",
        "items",
        "links_tsize",
        "msg",
        "opened",
        "order",
        "orig",
        "replaces",
        "size",
    )

    def __init__(self, msg: unixfs.Data | None, depth: int) -> None:
        self.fields: dict[int, bytes] = {}
        self.items: dict[int, _Slot | _Shard] = {}
        self.bitfield = 0
        self.msg = msg
        self.depth = depth
        self.links_tsize: int | None = 0
        self.size = 0  # length of the encoded block
        self.dirty = False
        self.opened: list[int] = []
        self.order: list[int] | None = None  # the occupied slots, sorted, when known
        self.orig: hamt.SubShard | None = None  # the link this open shard was opened from
        self.replaces = 0  # the size its slot in the parent accounts for, until it is closed

    def item(self, slot: int) -> _Slot | _Shard | None:
        item = self.items.get(slot)
        if item is None:
            field = self.fields.get(slot)
            if field is None:
                return None
            item = self.items[slot] = _slot_item(field)
        return item

    def open_copy(self, depth: int, orig: hamt.SubShard | None) -> _Shard:
        new = _Shard.__new__(_Shard)
        new.fields, new.items = dict(self.fields), dict(self.items)
        new.bitfield, new.msg, new.depth, new.size = self.bitfield, self.msg, depth, self.size
        new.links_tsize = self.links_tsize
        if new.links_tsize is None and orig is not None:
            new.links_tsize = orig.tsize - self.size
        new.dirty, new.opened, new.orig, new.order = False, [], orig, self.order
        new.replaces = orig.tsize if orig is not None else 0
        return new

    def put(self, slot: int, item: _Slot | None, old_tsize: int) -> None:
        """Store a closed item (an entry, a sub-shard link or nothing) in ``slot``, whose size
        was ``old_tsize``."""
        self.dirty = True
        if self.links_tsize is not None:
            self.links_tsize += (item.tsize if item is not None else 0) - old_tsize
        if item is None:
            self.items.pop(slot, None)
            self.fields.pop(slot, None)
            self.bitfield &= ~(1 << slot)
            self.order = None
            return
        if slot not in self.fields:
            self.order = None
        self.items[slot] = item
        label = f"{slot:02X}" + (item.name if isinstance(item, DirEntry) else "")
        self.fields[slot] = dagpb.encode_link(dagpb.PBLink(label, item.cid, item.tsize))
        self.bitfield |= 1 << slot

    def encode(self) -> tuple[Block, int]:
        """The shard block and its cumulative size (every slot must be closed)."""
        bits = self.bitfield.to_bytes((self.bitfield.bit_length() + 7) // 8, "big") or None
        msg = self.msg
        data = unixfs.Data(
            unixfs.HAMT_SHARD,
            data=bits,
            hash_type=unixfs.MURMUR3_X64_64,
            fanout=_FANOUT,
            mode=msg.mode if msg else None,
            mtime=msg.mtime if msg else None,
        ).encode()
        fields = self.fields
        if self.order is None:
            self.order = sorted(fields)
        raw = b"".join([fields[slot] for slot in self.order]) + pw.bytes_field(1, data)
        if self.links_tsize is None:
            self.links_tsize = sum(_closed_slot(self.item(slot)).tsize for slot in fields)
        self.size = len(raw)
        return Block(CID.for_data(raw, DAG_PB), raw), len(raw) + self.links_tsize


_Node = _Basic | _Shard


def _slot_item(field: bytes) -> _Slot:
    link = dagpb.decode(field).links[0]
    if len(link.name) == 2:
        return hamt.SubShard(link.cid, link.tsize)
    return DirEntry(link.name[2:], link.cid, link.tsize)


def _decode(block: Block) -> _Node | None:
    """The decoded directory node of ``block``, or None if it is not a directory."""
    if block.cid.codec != DAG_PB:
        return None
    node_data = dagpb.decode_data(block.data)
    if node_data is None:
        return None
    msg = unixfs.Data.decode(node_data)
    if msg.type == unixfs.HAMT_SHARD:
        return _decode_shard(block, msg)
    if msg.type != unixfs.DIRECTORY:
        return None
    node = dagpb.decode(block.data)
    raws, _ = dagpb.scan(block.data)
    pairs = [(link.name, link, raw.field) for link, raw in zip(node.links, raws, strict=True)]
    if any(a[0] > b[0] for a, b in itertools.pairwise(pairs)):  # not canonical: sort it
        pairs.sort(key=lambda p: p[0])
    entries = [DirEntry(p[0], p[1].cid, p[1].tsize) for p in pairs]
    data = pw.bytes_field(1, node_data)
    return _Basic([p[0] for p in pairs], entries, [p[2] for p in pairs], data, msg)


def _decode_shard(block: Block, msg: unixfs.Data) -> _Shard:
    """A shard's slots from its link names; the links themselves are decoded when looked at."""
    if msg.fanout != _FANOUT or msg.hash_type != unixfs.MURMUR3_X64_64:
        raise Unsupported(
            f"HAMT with fanout {msg.fanout} and hash {msg.hash_type} is not supported"
        )
    raws, _ = dagpb.scan(block.data)
    shard = _Shard(msg, 0)
    shard.links_tsize = None
    shard.size = len(block.data)
    for raw in raws:
        label = raw.name[:2]
        slot = int(label, 16) if len(label) == 2 and set(label) <= _HEX else -1
        if slot < 0 or slot in shard.fields:
            raise InvalidArgument(f"{block.cid}: bad HAMT link name {raw.name!r}")
        shard.fields[slot] = raw.field
        shard.bitfield |= 1 << slot
    return shard


def _closed(item: hamt.SubShard | _Shard | _Slot | None) -> hamt.SubShard:
    """A sub-shard slot of a cached shard (only open shards hold :class:`_Shard` items)."""
    assert isinstance(item, hamt.SubShard)
    return item


def _closed_slot(item: _Slot | _Shard | None) -> _Slot:
    assert item is not None and not isinstance(item, _Shard)
    return item


def _weight(node: _Node) -> int:
    if isinstance(node, _Basic):
        return len(node.names) + 1
    return len(node.fields) + _SHARD_OVERHEAD


class DirNodes:
    """Decoded directory nodes by CID (bounded LRU), reads through them, and edits."""

    def __init__(self, get_block: GetBlock, *, cache_links: int = CACHE_LINKS) -> None:
        self._get = get_block
        self._limit = cache_links
        self._cache: OrderedDict[CID, _Node] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()

    def remember(self, cid: CID, node: _Node) -> None:
        weight = _weight(node)
        if weight > self._limit:
            return
        with self._lock:
            old = self._cache.pop(cid, None)
            if old is not None:
                self._held -= _weight(old)
            self._cache[cid] = node
            self._held += weight
            while self._held > self._limit:
                _, gone = self._cache.popitem(last=False)
                self._held -= _weight(gone)

    def supersede(self, cid: CID) -> None:
        """``cid`` was just replaced by an edit: it is the first to go when room is needed."""
        with self._lock:
            if cid in self._cache:
                self._cache.move_to_end(cid, last=False)

    def node(self, cid: CID, fresh: dict[CID, bytes] | None = None) -> _Node | None:
        """The decoded directory ``cid`` (None if it is not a directory)."""
        with self._lock:
            hit = self._cache.get(cid)
            if hit is not None:
                self._cache.move_to_end(cid)
                return hit
        if cid.codec != DAG_PB:
            return None
        data = fresh.get(cid) if fresh else None
        node = _decode(Block(cid, data) if data is not None else load_block(cid, self._get))
        if node is not None:
            self.remember(cid, node)
        return node

    def load(self, block: Block) -> None:
        """Decode and cache the directory ``block`` (NotADirectory if it is not one)."""
        node = _decode(block)
        if node is None:
            raise NotADirectory(f"{block.cid} is not a directory")
        self.remember(block.cid, node)

    def dir_node(self, cid: CID, fresh: dict[CID, bytes] | None = None) -> _Node:
        node = self.node(cid, fresh)
        if node is None:
            raise NotADirectory(f"{cid} is not a directory")
        return node

    def is_dir(self, cid: CID) -> bool:
        return self.node(cid) is not None

    def get(self, cid: CID, name: str) -> DirEntry | None:
        """The entry ``name`` of directory ``cid`` (one hash path when sharded)."""
        node = self.dir_node(cid)
        depth = 0
        while isinstance(node, _Shard):
            item = node.item(hamt.slot_of(name, depth))
            if item is None:
                return None
            if isinstance(item, DirEntry):
                return item if item.name == name else None
            node, depth = self.dir_node(_closed(item).cid), depth + 1
        return node.get(name)

    def entries(self, cid: CID, fresh: dict[CID, bytes] | None = None) -> Iterator[DirEntry]:
        """Every entry: sorted by name when basic, in hash order when sharded."""
        node = self.dir_node(cid, fresh)
        if isinstance(node, _Basic):
            yield from node.entries
            return
        for slot in sorted(node.fields):
            item = node.item(slot)
            if isinstance(item, DirEntry):
                yield item
            else:
                yield from self.entries(_closed(item).cid, fresh)

    def tsize(self, cid: CID) -> int:
        """The cumulative DAG size of directory ``cid``."""
        node = self.dir_node(cid)
        if isinstance(node, _Basic):
            return len(node.data) + sum(len(f) for f in node.fields) + node.links_tsize
        return node.encode()[1]

    def edit(self, cid: CID) -> DirEdit:
        return DirEdit(self, cid)


@dataclass
class Edited:
    """The directory after an edit: its root block, its DAG size and every new block."""

    block: Block
    tsize: int
    blocks: list[Block]


class DirEdit:
    """Changes to one directory, encoded once by :meth:`finish` (see the module docstring)."""

    def __init__(self, nodes: DirNodes, cid: CID) -> None:
        self._nodes = nodes
        self._cid = cid
        node = nodes.dir_node(cid)
        self._basic = node.copy() if isinstance(node, _Basic) else None
        self._root = node.open_copy(0, None) if isinstance(node, _Shard) else None
        self._delta = 0  # change of the sharding estimate (sharded directories)
        self._done = False

    def set(self, name: str, entry: DirEntry | None) -> DirEntry | None:
        """Add or replace (``entry``; its name is ignored) or remove (``None``) ``name``."""
        if not name or "/" in name or "\0" in name:
            raise InvalidArgument(f"invalid directory entry name {name!r}")
        if self._done:
            raise RuntimeError("edit already finished")
        if entry is not None and entry.name != name:
            entry = DirEntry(name, entry.cid, entry.tsize)
        if self._basic is not None:
            return self._basic.set(name, entry)
        assert self._root is not None
        old = self._shard_set(self._root, name, entry)
        if old is _UNCHANGED:
            return None
        if old is not None:
            self._delta -= directory.link_estimate(name, old.cid)
        if entry is not None:
            self._delta += directory.link_estimate(name, entry.cid)
        return old

    def _open(self, shard: _Shard, slot: int, sub: hamt.SubShard) -> _Shard:
        node = self._nodes.dir_node(sub.cid)
        if not isinstance(node, _Shard):
            raise InvalidArgument(f"{sub.cid}: a HAMT link that is not a shard")
        child = node.open_copy(shard.depth + 1, sub)
        shard.items[slot] = child
        shard.opened.append(slot)
        return child

    def _shard_set(self, shard: _Shard, name: str, entry: DirEntry | None) -> DirEntry | None:
        """Set ``name`` below ``shard``; the old entry, None if new, or ``_UNCHANGED``."""
        slot = hamt.slot_of(name, shard.depth)
        item = shard.item(slot)
        if item is None or (isinstance(item, DirEntry) and item.name == name):
            if item is None and entry is None:
                return _UNCHANGED
            shard.put(slot, entry, item.tsize if item is not None else 0)
            return item
        if isinstance(item, DirEntry):
            if entry is None:
                return _UNCHANGED
            child = _Shard(None, shard.depth + 1)
            child.replaces = item.tsize
            self._shard_set(child, item.name, item)
            self._shard_set(child, name, entry)
            shard.items[slot] = child
            shard.opened.append(slot)
            shard.dirty = True
            return None
        child = item if isinstance(item, _Shard) else self._open(shard, slot, item)
        old = self._shard_set(child, name, entry)
        if old is not _UNCHANGED:
            shard.dirty = True
        return old

    def _close(self, shard: _Shard, out: list[Block]) -> _Slot | None:
        """Encode ``shard`` and its open sub-shards bottom-up; what its parent slot holds."""
        for slot in shard.opened:
            child = shard.items[slot]
            assert isinstance(child, _Shard)
            if not child.dirty:
                shard.items[slot] = _closed(child.orig)
                continue
            shard.put(slot, self._close(child, out), child.replaces)
        shard.opened = []
        if shard.depth > 0 and shard.bitfield.bit_count() <= 1:
            if not shard.bitfield:
                return None
            only = shard.item(shard.bitfield.bit_length() - 1)
            if isinstance(only, DirEntry):
                return only  # canonical: a slot with one name holds the entry itself
        if not shard.dirty and shard.orig is not None:
            return shard.orig
        block, tsize = shard.encode()
        shard.dirty = False
        out.append(block)
        self._nodes.remember(block.cid, shard)
        if shard.orig is not None:
            self._nodes.supersede(shard.orig.cid)
        return hamt.SubShard(block.cid, tsize)

    def finish(self) -> Edited:
        """Encode what changed; converts between basic and sharded at the threshold."""
        self._done = True
        self._nodes.supersede(self._cid)
        if self._basic is not None:
            return self._finish_basic(self._basic)
        assert self._root is not None
        blocks: list[Block] = []
        result = self._close(self._root, blocks)
        assert isinstance(result, hamt.SubShard)
        return self._maybe_unshard(Edited(blocks[-1], result.tsize, blocks))

    def _finish_basic(self, basic: _Basic) -> Edited:
        if basic.estimate > directory.SHARD_THRESHOLD:
            blocks: list[Block] = []
            root = self._build(basic.entries, basic.msg, 0, blocks)
            _memo_put(root.cid, basic.estimate)
            return Edited(blocks[-1], root.tsize, blocks)
        block = basic.encode()
        self._nodes.remember(block.cid, basic)
        return Edited(block, len(block.data) + basic.links_tsize, [block])

    def _build(
        self, entries: list[DirEntry], meta: unixfs.Data | None, depth: int, out: list[Block]
    ) -> hamt.SubShard:
        """Shard ``entries`` from scratch (as ``hamt.build``), remembering every shard made."""
        groups: dict[int, list[DirEntry]] = {}
        for entry in entries:
            groups.setdefault(hamt.slot_of(entry.name, depth), []).append(entry)
        shard = _Shard(meta, depth)
        for slot, group in groups.items():
            item = group[0] if len(group) == 1 else self._build(group, None, depth + 1, out)
            shard.put(slot, item, 0)
        block, tsize = shard.encode()
        shard.dirty = False
        shard.items = {}  # decoded again when looked at: the cache holds the encoded links
        out.append(block)
        self._nodes.remember(block.cid, shard)
        return hamt.SubShard(block.cid, tsize)

    def _maybe_unshard(self, edited: Edited) -> Edited:
        known = _memo_get(self._cid)
        if known is not None:
            _memo_put(edited.block.cid, known + self._delta)
        if self._delta >= 0 or (
            known is not None and known + self._delta > directory.SHARD_THRESHOLD
        ):
            return edited
        fresh = {b.cid: b.data for b in edited.blocks}
        limit = 2 * directory.SHARD_THRESHOLD
        entries: list[DirEntry] = []
        total = 0
        for item in self._nodes.entries(edited.block.cid, fresh):
            total += directory.link_estimate(item.name, item.cid)
            if total > limit:
                break
            entries.append(item)
        if total > directory.SHARD_THRESHOLD:
            _memo_put(edited.block.cid, total)
            return edited
        meta = self._root.msg if self._root is not None else None
        msg = unixfs.Data(
            unixfs.DIRECTORY, mode=meta.mode if meta else None, mtime=meta.mtime if meta else None
        )
        entries.sort(key=lambda e: e.name)
        fields = [dagpb.encode_link(dagpb.PBLink(e.name, e.cid, e.tsize)) for e in entries]
        basic = _Basic(
            [e.name for e in entries], entries, fields, pw.bytes_field(1, msg.encode()), msg
        )
        block = basic.encode()
        self._nodes.remember(block.cid, basic)
        return Edited(block, len(block.data) + basic.links_tsize, [block])


_UNCHANGED = DirEntry("", CID.for_data(b"", DAG_PB), 0)


def _memo_get(cid: CID) -> int | None:
    return directory.estimates.get(cid)


def _memo_put(cid: CID, lower_bound: int) -> None:
    directory.estimates.put(cid, lower_bound)
