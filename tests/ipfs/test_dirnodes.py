"""Incremental directory edits (``bucketfs.ipfs.dirnodes``) give exactly the CIDs of building the
final tree from scratch: random creates, replaces and removes, one by one and in batches, near
and across the sharding threshold in both directions, with a tiny and a large node cache."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bucketfs.ipfs import directory, unixfs
from bucketfs.ipfs.cid import CID, Block
from bucketfs.ipfs.directory import DirEntry
from bucketfs.ipfs.dirnodes import DirNodes

RAW_CID_LEN = 36  # binary CIDv1 raw sha2-256
LINK = 256  # estimate of one base entry: 220-byte name + 36-byte CID
FULL = directory.SHARD_THRESHOLD // LINK  # 1024 base entries estimate exactly the threshold


def _leaf(i: int) -> DirEntry:
    block = Block.of(f"leaf {i}".encode())
    return DirEntry("", block.cid, len(block.data))


LEAVES = [_leaf(i) for i in range(8)]


def _base_name(i: int) -> str:
    return f"{i:05d}-".ljust(LINK - RAW_CID_LEN, "x")


def _base(count: int) -> dict[str, DirEntry]:
    return {
        _base_name(i): DirEntry(_base_name(i), LEAVES[0].cid, LEAVES[0].tsize) for i in range(count)
    }


class Store:
    def __init__(self) -> None:
        self.blocks: dict[CID, bytes] = {}

    def put_all(self, blocks: list[Block]) -> None:
        for block in blocks:
            self.blocks[block.cid] = block.data

    def get(self, cid: CID) -> bytes:
        return self.blocks[cid]


def _expected(entries: dict[str, DirEntry]) -> tuple[CID, int]:
    block, _ = directory.build_dir(entries.values())
    return block.cid, directory.dir_tsize(block)


names = st.one_of(
    st.integers(0, FULL + 40).map(_base_name),  # existing (or near-existing) base names
    st.text(st.characters(codec="utf-8", exclude_characters="/\0"), min_size=1, max_size=12),
    st.integers(1, 250).map(lambda n: "L" * n),  # long names move the estimate a lot
)
ops = st.tuples(names, st.one_of(st.none(), st.integers(0, len(LEAVES) - 1)))


@settings(max_examples=40, deadline=None)
@given(
    base=st.sampled_from([0, 3, FULL - 8, FULL - 1, FULL, FULL + 1, FULL + 6, 1400]),
    batches=st.lists(st.lists(ops, min_size=1, max_size=12), min_size=1, max_size=8),
    cache_links=st.sampled_from([0, 300, 200_000]),
)
def test_incremental_edits_equal_building_from_scratch(
    base: int, batches: list[list[tuple[str, int | None]]], cache_links: int
) -> None:
    store = Store()
    current = _base(base)
    root, blocks = directory.build_dir(current.values())
    store.put_all(blocks)
    nodes = DirNodes(store.get, cache_links=cache_links)
    cid = root.cid
    for batch in batches:
        edit = nodes.edit(cid)
        for name, leaf in batch:
            entry = None if leaf is None else DirEntry(name, LEAVES[leaf].cid, LEAVES[leaf].tsize)
            edit.set(name, entry)
            if entry is None:
                current.pop(name, None)
            else:
                current[name] = entry
        done = edit.finish()
        store.put_all(done.blocks)
        cid = done.block.cid
        assert (cid, done.tsize) == _expected(current)
        assert nodes.tsize(cid) == done.tsize
        for name in {n for n, _ in batch}:
            assert nodes.get(cid, name) == current.get(name)
    assert sorted(e.name for e in nodes.entries(cid)) == sorted(current)


def test_a_run_across_the_threshold_both_ways_one_change_at_a_time() -> None:
    store = Store()
    current = _base(FULL - 3)
    root, blocks = directory.build_dir(current.values())
    store.put_all(blocks)
    nodes = DirNodes(store.get)
    cid = root.cid
    kinds = []
    steps = [(_base_name(i), 0) for i in range(FULL - 3, FULL + 3)]
    steps += [(_base_name(i), None) for i in range(FULL + 2, FULL - 6, -1)]
    for name, leaf in steps:
        edit = nodes.edit(cid)
        entry = None if leaf is None else DirEntry(name, LEAVES[0].cid, LEAVES[0].tsize)
        edit.set(name, entry)
        if entry is None:
            del current[name]
        else:
            current[name] = entry
        done = edit.finish()
        store.put_all(done.blocks)
        cid = done.block.cid
        assert cid == _expected(current)[0]
        kinds.append(unixfs.node_data(done.block).type == unixfs.HAMT_SHARD)
        assert kinds[-1] == (len(current) > FULL)
    assert kinds == [False] * 3 + [True] * 3 + [True] * 2 + [False] * 6


def test_a_change_reads_only_its_hash_path_once_cached() -> None:
    store = Store()
    current = {f"file-{i:06d}": DirEntry(f"file-{i:06d}", *_pair()) for i in range(20_000)}
    root, blocks = directory.build_dir(current.values())
    store.put_all(blocks)
    reads: list[CID] = []

    def get(cid: CID) -> bytes:
        reads.append(cid)
        return store.get(cid)

    nodes = DirNodes(get)
    cid = root.cid
    for name in ("new-a", "new-b", "new-a"):
        reads.clear()
        edit = nodes.edit(cid)
        edit.set(name, DirEntry(name, *_pair()))
        done = edit.finish()
        store.put_all(done.blocks)
        cid = done.block.cid
        assert len(reads) <= 4 and len(done.blocks) <= 4  # root shard and one hash path
    reads.clear()
    edit = nodes.edit(cid)
    edit.set("new-a", None)
    done = edit.finish()
    assert reads == []  # every shard on the path was cached by the edits before


def _pair() -> tuple[CID, int]:
    return LEAVES[1].cid, LEAVES[1].tsize


def test_the_cache_stays_within_its_bound() -> None:
    store = Store()
    root, blocks = directory.build_dir(_base(FULL + 200).values())
    store.put_all(blocks)
    nodes = DirNodes(store.get, cache_links=2_000)
    cid = root.cid
    for i in range(300):
        edit = nodes.edit(cid)
        edit.set(f"n{i}", DirEntry(f"n{i}", *_pair()))
        done = edit.finish()
        store.put_all(done.blocks)
        cid = done.block.cid
        assert nodes._held <= 2_000
    assert nodes.get(cid, "n7") == DirEntry("n7", *_pair())
