"""Directory CIDs equal the official JS importer's: basic, nested, empty, symlinks, sharded,
the exact sharding threshold, and a sharded directory shrunk back below it by removals."""

from __future__ import annotations

import os
from pathlib import Path

from bucketfs.ipfs import directory, unixfs
from bucketfs.ipfs.cid import CID, Block
from bucketfs.ipfs.directory import DirEntry

from .reference import reference_cids
from .treeimport import import_path

RAW_CID_LEN = 36  # binary CIDv1 raw sha2-256


def _flat_dir(root: Path, name_lengths: list[int]) -> Path:
    root.mkdir()
    for i, length in enumerate(name_lengths):
        name = f"{i:05d}-".ljust(length, "x")
        (root / name).write_bytes(f"entry {i}".encode())
    return root


def test_small_nested_empty_and_symlinks(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub" / "deeper").mkdir(parents=True)
    (tree / "empty").mkdir()
    (tree / "a.txt").write_bytes(b"hello world")
    (tree / "empty-file").write_bytes(b"")
    (tree / "sub" / "big").write_bytes(os.urandom(300_000))
    (tree / "sub" / "deeper" / "é ünïcode name").write_bytes(b"x")
    os.symlink("../a.txt", tree / "sub" / "link")
    only_empty = tmp_path / "only-empty"
    only_empty.mkdir()
    expected = reference_cids([tree, only_empty])
    store: dict[CID, bytes] = {}
    assert import_path(tree, store) == (CID.parse(expected[tree][0]), expected[tree][1])
    assert import_path(only_empty, store)[0] == directory.empty_dir().cid
    assert str(directory.empty_dir().cid) == expected[only_empty][0]


def test_threshold_boundary(tmp_path: Path) -> None:
    # 1024 entries of 220-byte names + 36-byte CIDs estimate exactly 262144: still basic
    exact = _flat_dir(tmp_path / "exact", [256 - RAW_CID_LEN] * 1024)
    over = _flat_dir(tmp_path / "over", [256 - RAW_CID_LEN] * 1023 + [257 - RAW_CID_LEN])
    expected = reference_cids([exact, over])
    store: dict[CID, bytes] = {}
    for path, sharded in ((exact, False), (over, True)):
        cid, tsize = import_path(path, store)
        assert (str(cid), tsize) == expected[path], path.name
        root = Block(cid, store[cid])
        assert len(list(directory.dir_list(root, store.__getitem__))) == 1024
        assert (unixfs.node_data(root).type == unixfs.HAMT_SHARD) is sharded


def test_sharded_directory_built_incrementally_and_unsharded(tmp_path: Path) -> None:
    # names of 120..219 bytes: about 1272 entries reach the threshold
    lengths = [120 + (i * 37) % 100 for i in range(1400)]
    big = _flat_dir(tmp_path / "big", lengths)
    names = sorted(p.name for p in big.iterdir())
    keep = 1200
    small = _flat_dir(tmp_path / "small", lengths[:keep])
    expected = reference_cids([big, small])
    store: dict[CID, bytes] = {}
    files = {p.name: import_path(p, store) for p in big.iterdir()}

    def entry(name: str) -> DirEntry:
        return DirEntry(name, *files[name])

    root, blocks = directory.build_dir(entry(name) for name in names[:1100])
    assert unixfs.node_data(root).type == unixfs.DIRECTORY
    for name in names[1100:]:  # add one by one across the threshold
        root, blocks = directory.dir_set(root, name, entry(name), store.__getitem__)
        store.update({b.cid: b.data for b in blocks})
    assert unixfs.node_data(root).type == unixfs.HAMT_SHARD
    assert (str(root.cid), directory.dir_tsize(root)) == expected[big]

    for name in names[keep:]:  # remove back below it: the directory un-shards
        root, blocks = directory.dir_set(root, name, None, store.__getitem__)
        store.update({b.cid: b.data for b in blocks})
    assert unixfs.node_data(root).type == unixfs.DIRECTORY
    assert (str(root.cid), directory.dir_tsize(root)) == expected[small]
