"""Test helper: import a directory tree from disk with bucketfs.ipfs, bottom-up."""

from __future__ import annotations

import os
from pathlib import Path

from bucketfs.ipfs import directory, unixfs
from bucketfs.ipfs.cid import CID, Block
from bucketfs.ipfs.directory import DirEntry
from bucketfs.ipfs.importer import FileBuilder


def import_path(path: Path, store: dict[CID, bytes]) -> tuple[CID, int]:
    """Import a file, symlink or directory; put every block in ``store``; return (CID, tsize)."""
    if path.is_symlink():
        block = unixfs.symlink(os.readlink(path))
        store[block.cid] = block.data
        return block.cid, len(block.data)
    if path.is_dir():
        entries = []
        for child in sorted(path.iterdir()):
            cid, tsize = import_path(child, store)
            entries.append(DirEntry(child.name, cid, tsize))
        root, blocks = directory.build_dir(entries)
        _keep(store, blocks)
        return root.cid, directory.dir_tsize(root)
    builder = FileBuilder()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            _keep(store, builder.write(chunk))
    result = builder.finish()
    _keep(store, result.blocks)
    return result.cid, result.dag_size


def _keep(store: dict[CID, bytes], blocks: list[Block]) -> None:
    for block in blocks:
        store[block.cid] = block.data
