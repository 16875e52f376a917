"""File CIDs equal the official JS importer's (``ipfs add --cid-version=1`` parameters).

Required check: it installs the reference from npm on first use and fails if it cannot.
"""

from __future__ import annotations

import random
from pathlib import Path

from bucketfs.ipfs.importer import CHUNK_SIZE, MAX_LINKS, FileBuilder

from .reference import reference_cids

SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, (MAX_LINKS + 1) * CHUNK_SIZE + 12345]


def _build(path: Path, chunk_size: int = CHUNK_SIZE, max_links: int = MAX_LINKS) -> tuple[str, int]:
    builder = FileBuilder(chunk_size, max_links)
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            builder.write(chunk)
    result = builder.finish()
    assert result.size == path.stat().st_size
    return str(result.cid), result.dag_size


def test_files_match_reference(tmp_path: Path) -> None:
    rng = random.Random(2026)
    paths = []
    for size in SIZES:  # the largest is > 174 chunks, so the root has two levels below it
        path = tmp_path / f"file-{size}"
        path.write_bytes(rng.randbytes(size))
        paths.append(path)
    expected = reference_cids(paths)
    for path in paths:
        assert _build(path) == expected[path], path.name


def test_deep_trees_match_reference(tmp_path: Path) -> None:
    # tiny chunks and fan-out reach four levels, with partial nodes at every level
    rng = random.Random(5)
    paths = []
    for chunks in (1, 2, 3, 9, 10, 27, 28, 82):
        path = tmp_path / f"deep-{chunks}"
        path.write_bytes(rng.randbytes(chunks * 16 - (chunks % 3)))
        paths.append(path)
    expected = reference_cids(paths, chunk_size=16, max_links=3)
    for path in paths:
        assert _build(path, 16, 3) == expected[path], path.name
