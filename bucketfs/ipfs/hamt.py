"""HAMT-sharded UnixFS directories (UnixFS type HAMTShard), laid out exactly as IPFS does.

Parameters are the reference ones: fanout 256 (8 bits of hash per level), hash murmur3-x64-64
(the first 64 bits of murmur3-x64-128 of the entry name, big-endian; after 8 levels the name is
re-hashed with the level group appended, as the JS reference does). A shard's links are named
``"%02X" % slot`` for a sub-shard and ``"%02X" % slot + name`` for an entry; its ``Data`` holds
the occupied-slot bitfield as a minimal big-endian integer.

The layout is canonical: a slot holds an entry when exactly one name falls into it and a sub-shard
when several do, so inserting and removing names gives the same blocks as building from scratch.
Updates touch only the shards on one hash path.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from bucketfs.errors import InvalidArgument, Unsupported
from bucketfs.ipfs import dagpb, unixfs
from bucketfs.ipfs.cid import CID, DAG_PB, Block, load_block
from bucketfs.ipfs.murmur3 import murmur3_x64_128

FANOUT = 256
_HEX = set("0123456789ABCDEFabcdef")

GetBlock = Callable[[CID], bytes]


@dataclass(frozen=True)
class Entry:
    """One named directory entry (a link to a file, directory or symlink)."""

    name: str
    cid: CID
    tsize: int


@dataclass(frozen=True)
class SubShard:
    cid: CID
    tsize: int


_Slot = Entry | SubShard


@dataclass
class Built:
    """A shard block, its cumulative size and every block created on the way (root last)."""

    block: Block
    tsize: int
    blocks: list[Block]
    replaced: Entry | None = None  # set by update(): the entry previously under the name


def slot_of(name: str, depth: int) -> int:
    """The slot ``name`` occupies at shard depth ``depth`` (0 = root)."""
    group, index = divmod(depth, 8)
    return _name_hash(name, group)[7 - index]


@functools.lru_cache(maxsize=4096)
def _name_hash(name: str, group: int) -> bytes:
    """The hash bytes of ``name`` for depths ``8 * group`` to ``8 * group + 7`` (memoised: one
    change looks up the same name at every depth of its path)."""
    raw = name.encode("utf-8")
    if group:
        raw += bytes((group,))
    return murmur3_x64_128(raw)


def _encode(slots: dict[int, _Slot], meta: unixfs.Data | None) -> Built:
    links = []
    bitfield = 0
    total = 0
    for slot in sorted(slots):
        item = slots[slot]
        bitfield |= 1 << slot
        label = f"{slot:02X}"
        if isinstance(item, Entry):
            links.append(dagpb.PBLink(label + item.name, item.cid, item.tsize))
        else:
            links.append(dagpb.PBLink(label, item.cid, item.tsize))
        total += item.tsize
    bits = bitfield.to_bytes((bitfield.bit_length() + 7) // 8, "big") or None
    data = unixfs.Data(
        unixfs.HAMT_SHARD,
        data=bits,
        hash_type=unixfs.MURMUR3_X64_64,
        fanout=FANOUT,
        mode=meta.mode if meta else None,
        mtime=meta.mtime if meta else None,
    )
    raw = dagpb.encode(dagpb.PBNode(data.encode(), links))
    block = Block(CID.for_data(raw, DAG_PB), raw)
    return Built(block, len(raw) + total, [block])


def decode_shard(block: Block) -> tuple[dict[int, _Slot], unixfs.Data]:
    """The slots of one shard block and its UnixFS message."""
    node = dagpb.decode(block.data)
    msg = unixfs.Data.decode(node.data or b"")
    if msg.type != unixfs.HAMT_SHARD:
        raise InvalidArgument(f"{block.cid} is not a HAMT shard")
    if msg.fanout != FANOUT or msg.hash_type != unixfs.MURMUR3_X64_64:
        raise Unsupported(
            f"HAMT with fanout {msg.fanout} and hash {msg.hash_type} is not supported"
        )
    slots: dict[int, _Slot] = {}
    for link in node.links:
        prefix = link.name[:2]
        slot = int(prefix, 16) if len(prefix) == 2 and set(prefix) <= _HEX else -1
        if slot < 0 or slot in slots:
            raise InvalidArgument(f"{block.cid}: bad HAMT link name {link.name!r}")
        if len(link.name) == 2:
            slots[slot] = SubShard(link.cid, link.tsize)
        else:
            slots[slot] = Entry(link.name[2:], link.cid, link.tsize)
    return slots, msg


def build(entries: Iterable[Entry], meta: unixfs.Data | None = None, depth: int = 0) -> Built:
    """Build the shard tree holding ``entries`` (names must be unique)."""
    groups: dict[int, list[Entry]] = {}
    for entry in entries:
        groups.setdefault(slot_of(entry.name, depth), []).append(entry)
    slots: dict[int, _Slot] = {}
    blocks: list[Block] = []
    for slot, group in groups.items():
        if len(group) == 1:
            slots[slot] = group[0]
        else:
            sub = build(group, None, depth + 1)
            blocks += sub.blocks
            slots[slot] = SubShard(sub.block.cid, sub.tsize)
    built = _encode(slots, meta)
    built.blocks[:0] = blocks
    return built


def iter_entries(block: Block, get_block: GetBlock) -> Iterator[Entry]:
    """Every entry below the shard ``block``, in hash (slot) order."""
    slots, _ = decode_shard(block)
    for slot in sorted(slots):
        item = slots[slot]
        if isinstance(item, Entry):
            yield item
        else:
            yield from iter_entries(load_block(item.cid, get_block), get_block)


def find(block: Block, name: str, get_block: GetBlock, depth: int = 0) -> Entry | None:
    """The entry called ``name``, walking only its hash path."""
    slots, _ = decode_shard(block)
    item = slots.get(slot_of(name, depth))
    if item is None:
        return None
    if isinstance(item, Entry):
        return item if item.name == name else None
    return find(load_block(item.cid, get_block), name, get_block, depth + 1)


def update(
    block: Block, name: str, entry: Entry | None, get_block: GetBlock, depth: int = 0
) -> Built | None:
    """Set (``entry``) or remove (``None``) ``name``; ``None`` if nothing changed.

    ``Built.replaced`` tells which entry was there before (None if the name is new).
    Only the shards on ``name``'s hash path are read and rewritten. A sub-shard left with a
    single entry collapses into its parent's slot; the root shard itself always stays.
    """
    slots, msg = decode_shard(block)
    meta = msg if depth == 0 else None
    slot = slot_of(name, depth)
    item = slots.get(slot)
    blocks: list[Block] = []
    replaced: Entry | None = None
    if item is None or (isinstance(item, Entry) and item.name == name):
        if entry is None:
            if item is None:
                return None
            del slots[slot]
        else:
            slots[slot] = entry
        replaced = item
    elif isinstance(item, Entry):
        if entry is None:
            return None
        sub = build([item, entry], None, depth + 1)
        blocks += sub.blocks
        slots[slot] = SubShard(sub.block.cid, sub.tsize)
    else:
        child = update(load_block(item.cid, get_block), name, entry, get_block, depth + 1)
        if child is None:
            return None
        replaced = child.replaced
        only = _single_entry(child.block)
        if only is not None:
            slots[slot] = only
        else:
            blocks += child.blocks
            slots[slot] = SubShard(child.block.cid, child.tsize)
    built = _encode(slots, meta)
    built.blocks[:0] = blocks
    built.replaced = replaced
    return built


def _single_entry(block: Block) -> Entry | None:
    slots, _ = decode_shard(block)
    if len(slots) == 1:
        (item,) = slots.values()
        if isinstance(item, Entry):
            return item
    return None
