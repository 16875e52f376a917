"""File lengths from DAG sizes (bucketfs.vfs.dagsize) against the real importer."""

from __future__ import annotations

import random

import pytest

from bucketfs.ipfs.importer import CHUNK_SIZE, MAX_LINKS, FileBuilder
from bucketfs.vfs.dagsize import dag_size, length_for_dag_size

ZEROS = bytes(1 << 20)


def imported_dag_size(length: int) -> int:
    builder = FileBuilder()
    left = length
    while left:
        n = min(left, len(ZEROS))
        builder.write(ZEROS[:n])
        left -= n
    return builder.finish().dag_size


@pytest.mark.parametrize(
    "length",
    [
        0,
        1,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        2 * CHUNK_SIZE,
        MAX_LINKS * CHUNK_SIZE,
        MAX_LINKS * CHUNK_SIZE + 1,
        (MAX_LINKS + 1) * CHUNK_SIZE - 3,
        10_000_000,
        *random.Random(7).sample(range(CHUNK_SIZE, 60_000_000), 6),
    ],
)
def test_dag_size_matches_the_importer_and_inverts(length: int) -> None:
    assert dag_size(length) == imported_dag_size(length)
    assert length_for_dag_size(dag_size(length)) == length


def test_large_and_level_boundary_lengths_invert() -> None:
    two_levels = MAX_LINKS * MAX_LINKS * CHUNK_SIZE
    for length in (two_levels - 1, two_levels, two_levels + 1, 2 << 30, 5 << 40):
        assert length_for_dag_size(dag_size(length)) == length
        assert dag_size(length + 1) > dag_size(length)


def test_sizes_no_layout_gives_are_refused() -> None:
    assert length_for_dag_size(dag_size(5 * CHUNK_SIZE) + 1) is None
