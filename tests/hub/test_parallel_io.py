"""Pipelined import and read of bucket files (hub/buckets/parallel.py, content.py): the same
blocks as the sequential importer, leaves verified before any of their bytes are served."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from bucketfs.errors import CorruptData
from bucketfs.hub.blocks import FileBlockStore
from bucketfs.hub.buckets import content, dcrypto, parallel
from bucketfs.hub.buckets.parallel import LeafHasher
from bucketfs.ipfs import dagpb
from bucketfs.ipfs.cid import Block
from bucketfs.ipfs.importer import CHUNK_SIZE, import_bytes

SIZES = [0, 1, 4096, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 7 * CHUNK_SIZE + 12345]


def _data(n: int) -> bytes:
    return random.Random(n).randbytes(n)


def _pieces(data: bytes, seed: int) -> list[bytes]:
    """``data`` cut at random points (1 byte to 1 MiB)."""
    rng = random.Random(seed)
    out, pos = [], 0
    while pos < len(data):
        step = rng.choice([1, 100, 32 * 1024, CHUNK_SIZE, 1 << 20])
        out.append(data[pos : pos + step])
        pos += step
    return out


@pytest.mark.parametrize("size", SIZES)
def test_importer_stores_the_blocks_of_the_reference_layout(tmp_path: Path, size: int) -> None:
    data = _data(size)
    store = FileBlockStore(tmp_path / "blocks")
    with store.batch():
        imp = content.Importer(store)
        for piece in _pieces(data, size):
            imp.write(piece)
        entry, plain = imp.finish()
    expected = import_bytes(data)
    assert (entry.cid, entry.tsize, plain) == (expected.cid, expected.dag_size, size)
    assert set(store) == {b.cid.multihash for b in expected.blocks}
    assert b"".join(content.read(store, entry.cid, None)) == data


def test_private_file_round_trip_and_ranges(tmp_path: Path) -> None:
    data = _data(3 * CHUNK_SIZE + 77)
    key = dcrypto.new_key()
    store = FileBlockStore(tmp_path / "blocks")
    with store.batch():
        imp = content.Importer(store, key)
        for piece in _pieces(data, 1):
            imp.write(piece)
        entry, plain = imp.finish()
    assert plain == len(data)
    assert b"".join(content.read(store, entry.cid, key)) == data
    for offset, length in [(0, 1), (CHUNK_SIZE - 3, 10), (2 * CHUNK_SIZE, 0), (len(data) - 1, 5)]:
        got = b"".join(content.read(store, entry.cid, key, offset, length, len(data)))
        assert got == data[offset : offset + length if length else None]


def test_reads_come_in_leaf_sized_messages(tmp_path: Path) -> None:
    data = _data(5 * CHUNK_SIZE + 5)
    store = FileBlockStore(tmp_path / "blocks")
    entry = content.import_bytes(store, data)
    key = dcrypto.new_key()
    private = content.import_bytes(store, data, key)
    first = content.FIRST_BYTES
    for offset, length in [(0, 0), (CHUNK_SIZE + 10, 2 * CHUNK_SIZE), (100, 1000)]:
        expected = data[offset : offset + length if length else None]
        for cid, file_key in [(entry.cid, None), (private.cid, key)]:
            pieces = list(content.read(store, cid, file_key, offset, length, len(data)))
            assert b"".join(pieces) == expected
            sizes = [len(p) for p in pieces]
            before = [sum(sizes[:i]) for i in range(len(sizes))]
            assert all(
                n <= content.FIRST_CHUNK for n, b in zip(sizes, before, strict=True) if b < first
            )
            assert max(sizes) <= content.PULL_CHUNK == CHUNK_SIZE
            if len(expected) > 3 * CHUNK_SIZE:
                assert sizes.count(CHUNK_SIZE) >= 2


@pytest.mark.parametrize("private", [False, True])
def test_a_flipped_byte_in_a_leaf_is_never_served(tmp_path: Path, private: bool) -> None:
    data = _data(6 * CHUNK_SIZE)
    key = dcrypto.new_key() if private else None
    store = FileBlockStore(tmp_path / "blocks")
    entry = content.import_bytes(store, data, key)
    victim = store._path(dagpb.decode(store.get(entry.cid)).links[3].cid)  # the fourth leaf
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 2] ^= 0x01  # same size, one bit off
    victim.write_bytes(bytes(raw))
    served: list[bytes] = []
    with pytest.raises(CorruptData):
        for piece in content.read(store, entry.cid, key):
            served.append(piece)
    got = b"".join(served)
    if private:
        assert got == b""  # a whole private file is MAC-checked before any plaintext goes out
    else:
        assert got == data[: len(got)] and len(got) <= 3 * CHUNK_SIZE
    with pytest.raises(CorruptData):  # a range inside the damaged leaf
        list(content.read(store, entry.cid, key, 3 * CHUNK_SIZE + 5, 10, len(data)))


def test_leaf_hasher_keeps_order_and_bounds_what_is_in_flight() -> None:
    hasher = LeafHasher(depth=3)
    leaves = [os.urandom(CHUNK_SIZE) for _ in range(10)]
    out: list[Block] = []
    for i, leaf in enumerate(leaves):
        out += hasher.submit(leaf)
        assert i + 1 - len(out) <= 3
    out += hasher.drain()
    assert [b.data for b in out] == leaves
    assert all(b.cid == Block.of(b.data).cid for b in out)
    small = list(hasher.submit(b"tiny"))  # nothing queued: hashed inline
    assert small == [Block.of(b"tiny")]


def test_without_free_slots_streams_do_the_work_themselves(tmp_path: Path) -> None:
    """All pool slots taken (other streams): imports and reads still finish, in order."""
    data = _data(5 * CHUNK_SIZE + 3)
    store = FileBlockStore(tmp_path / "blocks")
    taken = 0
    while parallel._slots.acquire(blocking=False):
        taken += 1
    try:
        assert taken == parallel.MAX_IN_FLIGHT
        entry = content.import_bytes(store, data)
        assert entry.cid == import_bytes(data).cid
        assert b"".join(content.read(store, entry.cid, None)) == data
        hasher = LeafHasher()
        leaves = [os.urandom(CHUNK_SIZE) for _ in range(3)]
        assert [b.data for leaf in leaves for b in hasher.submit(leaf)] == leaves
    finally:
        for _ in range(taken):
            parallel._slots.release()


def test_slots_come_back_after_many_streams(tmp_path: Path) -> None:
    store = FileBlockStore(tmp_path / "blocks")
    data = _data(9 * CHUNK_SIZE)
    entry = content.import_bytes(store, data)
    for _ in range(3):  # abandoned reads and uploads must not keep their slots
        reader = content.read(store, entry.cid, None)
        next(reader)
        reader.close()
        imp = content.Importer(store)
        imp.write(data[: 6 * CHUNK_SIZE])
        imp.cancel()
    free = 0  # work already on the pool finishes and gives its slot back
    while free < parallel.MAX_IN_FLIGHT and parallel._slots.acquire(timeout=5):
        free += 1
    for _ in range(free):
        parallel._slots.release()
    assert free == parallel.MAX_IN_FLIGHT
