"""Directories without the reference: API behaviour, HAMT canonical form, malformed input."""

from __future__ import annotations

import random

import pytest

from bucketfs.errors import CorruptData, InvalidArgument, NotADirectory, Unsupported
from bucketfs.ipfs import dagpb, directory, hamt, unixfs
from bucketfs.ipfs.cid import CID, DAG_PB, Block
from bucketfs.ipfs.directory import DirEntry


def _entry(name: str, i: int = 0) -> DirEntry:
    return DirEntry(name, CID.for_data(f"{name}/{i}".encode()), 10 + i)


def _store(*groups: list[Block]) -> dict[CID, bytes]:
    return {b.cid: b.data for group in groups for b in group}


def test_empty_dir_and_basic_operations() -> None:
    root = directory.empty_dir()
    assert str(root.cid) == "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"
    assert directory.is_directory(root)
    assert list(directory.dir_list(root, {}.__getitem__)) == []
    store: dict[CID, bytes] = {}
    for name in ("b", "a", "c"):
        root, blocks = directory.dir_set(root, name, _entry(name), store.__getitem__)
        store.update(_store(blocks))
    assert [e.name for e in directory.dir_list(root, store.__getitem__)] == ["a", "b", "c"]
    assert directory.dir_get(root, "b", store.__getitem__) == _entry("b")
    assert directory.dir_get(root, "zz", store.__getitem__) is None
    replaced, _ = directory.dir_set(root, "b", _entry("b", 5), store.__getitem__)
    assert directory.dir_get(replaced, "b", store.__getitem__) == _entry("b", 5)
    removed, _ = directory.dir_set(replaced, "b", None, store.__getitem__)
    assert removed == directory.build_dir([_entry("a"), _entry("c")])[0]
    assert directory.dir_tsize(removed) == len(removed.data) + 20


def test_entry_name_comes_from_the_argument() -> None:
    root, _ = directory.dir_set(directory.empty_dir(), "x", _entry("other"), {}.__getitem__)
    assert [e.name for e in directory.dir_list(root, {}.__getitem__)] == ["x"]


@pytest.mark.parametrize("name", ["", "a/b", "nul\0"])
def test_bad_names(name: str) -> None:
    with pytest.raises(InvalidArgument):
        directory.dir_set(directory.empty_dir(), name, _entry("x"), {}.__getitem__)
    with pytest.raises(InvalidArgument):
        directory.build_dir([DirEntry(name, _entry("x").cid, 1)])


def test_duplicate_names_rejected() -> None:
    with pytest.raises(InvalidArgument):
        directory.build_dir([_entry("a"), _entry("a", 1)])


def test_non_directories() -> None:
    raw = Block.of(b"file bytes")
    symlink = unixfs.symlink("t")
    for block in (raw, symlink):
        assert not directory.is_directory(block)
        with pytest.raises(NotADirectory):
            list(directory.dir_list(block, {}.__getitem__))
        with pytest.raises(NotADirectory):
            directory.dir_set(block, "a", _entry("a"), {}.__getitem__)


def test_mode_and_mtime_survive_updates() -> None:
    meta = unixfs.Data(unixfs.DIRECTORY, mode=0o700, mtime=unixfs.Mtime(1_700_000_000, 5))
    root, _ = directory.build_dir([_entry("a")], meta=meta)
    root, _ = directory.dir_set(root, "b", _entry("b"), {}.__getitem__)
    msg = unixfs.node_data(root)
    assert (msg.mode, msg.mtime) == (0o700, unixfs.Mtime(1_700_000_000, 5))


def test_hamt_updates_give_the_canonical_layout() -> None:
    # any sequence of sets and removals ends in the same blocks as building the final set
    rng = random.Random(11)
    names = [f"n{i}" for i in range(300)]
    current: dict[str, DirEntry] = {}
    built = hamt.build([])
    root = built.block
    store = _store(built.blocks)
    for step in range(600):
        name = rng.choice(names)
        entry = None if name in current and rng.random() < 0.4 else _entry(name, step)
        result = hamt.update(root, name, entry, store.__getitem__)
        if entry is None:
            del current[name]
        else:
            current[name] = entry
        assert result is not None
        root = result.block
        store.update(_store(result.blocks))
    expected = hamt.build(current.values())
    assert root == expected.block
    listed = list(hamt.iter_entries(root, store.__getitem__))
    assert sorted(listed, key=lambda e: e.name) == sorted(current.values(), key=lambda e: e.name)
    for name in names[:50]:
        assert hamt.find(root, name, store.__getitem__) == current.get(name)
    # removing an absent name changes nothing
    absent = next(n for n in names if n not in current)
    assert hamt.update(root, absent, None, store.__getitem__) is None


def test_hamt_update_touches_only_one_path() -> None:
    entries = [_entry(f"file-{i}") for i in range(3000)]
    built = hamt.build(entries)
    store = _store(built.blocks)
    fetched: list[CID] = []

    def get(cid: CID) -> bytes:
        fetched.append(cid)
        return store[cid]

    result = hamt.update(built.block, "new-name", _entry("new-name"), get)
    assert result is not None
    assert len(fetched) <= 3 and len(result.blocks) <= 4


def test_hamt_slots_match_reference_hash() -> None:
    # murmur3-x64-128("hello") starts cbd8a7b341bd9b02 when its h1 is written big-endian
    assert [hamt.slot_of("hello", d) for d in range(3)] == [0xCB, 0xD8, 0xA7]


def test_malformed_shards() -> None:
    good = hamt.build([_entry("a"), _entry("b")]).block
    node = dagpb.decode(good.data)
    bad_name = dagpb.PBNode(node.data, [dagpb.PBLink("Zq", node.links[0].cid, 1)])
    block = Block.of(dagpb.encode(bad_name), DAG_PB)
    with pytest.raises(InvalidArgument):
        list(directory.dir_list(block, {}.__getitem__))
    other_fanout = unixfs.Data(unixfs.HAMT_SHARD, hash_type=0x22, fanout=16).encode()
    block = Block.of(dagpb.encode(dagpb.PBNode(other_fanout, [])), DAG_PB)
    with pytest.raises(Unsupported):
        directory.dir_get(block, "a", {}.__getitem__)


def test_corrupt_child_shard_is_detected() -> None:
    built = hamt.build([_entry(f"f{i}") for i in range(600)])
    store = _store(built.blocks)
    child = next(cid for cid in store if cid != built.block.cid)
    store[child] = store[child][:-1] + b"\x00"
    with pytest.raises(CorruptData):
        list(hamt.iter_entries(built.block, store.__getitem__))


def test_non_canonical_basic_directory_is_rebuilt_sorted() -> None:
    entries = [_entry("b"), _entry("a")]
    data = unixfs.Data(unixfs.DIRECTORY).encode()
    links = [dagpb.encode_link(dagpb.PBLink(e.name, e.cid, e.tsize)) for e in entries]
    unsorted = Block.of(b"".join(links) + b"\x0a\x02" + data, DAG_PB)
    assert [e.name for e in directory.dir_list(unsorted, {}.__getitem__)] == ["b", "a"]
    root, _ = directory.dir_set(unsorted, "c", _entry("c"), {}.__getitem__)
    assert root == directory.build_dir([_entry("a"), _entry("b"), _entry("c")])[0]


def test_unsharding_without_a_remembered_size() -> None:
    # a sharded root the process has never seen (built straight as a HAMT): removals must
    # still find the point where it falls back to a basic directory
    names = [f"{i:04d}".ljust(250, "y") for i in range(925)]  # 286 bytes each: 917 fit
    entries = {n: _entry(n) for n in names}
    built = hamt.build(entries.values())
    store = _store(built.blocks)
    root = built.block
    for name in names[:12]:
        root, blocks = directory.dir_set(root, name, None, store.__getitem__)
        store.update(_store(blocks))
        del entries[name]
        expected, _ = directory.build_dir(entries.values())
        assert root == expected, len(entries)
    assert unixfs.node_data(root).type == unixfs.DIRECTORY


@pytest.mark.parametrize(
    "bad",
    [b"\x1a\x00", b"\x12\x05\x12\x01x", b"\x0a\x00\x12\x00", b"\x12\x09\x0a\x20" + b"\0" * 4],
)
def test_malformed_nodes_rejected_by_scan(bad: bytes) -> None:
    with pytest.raises(InvalidArgument):
        dagpb.scan(bad)
