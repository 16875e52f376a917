"""The file importer and reader on their own: layout, sizes, streaming, range reads."""

from __future__ import annotations

import random

import pytest

from bucketfs.errors import CorruptData, InvalidArgument
from bucketfs.ipfs import dagpb, unixfs
from bucketfs.ipfs.cid import CID, DAG_PB, RAW, Block
from bucketfs.ipfs.importer import (
    CHUNK_SIZE,
    FileBuilder,
    LeafRef,
    file_size,
    import_bytes,
    read_file,
    read_plan,
)


def _data(n: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(n)


def _store(blocks: list[Block]) -> dict[CID, bytes]:
    return {b.cid: b.data for b in blocks}


def test_single_chunk_file_is_a_raw_leaf() -> None:
    for n in (0, 1, CHUNK_SIZE):
        result = import_bytes(_data(n))
        assert result.cid.codec == RAW and result.size == result.dag_size == n
        assert result.cid == CID.for_data(_data(n))
        assert len(result.blocks) == 1


def test_two_chunks_make_one_file_node() -> None:
    data = _data(CHUNK_SIZE + 1)
    result = import_bytes(data)
    root = result.blocks[-1]
    assert root.cid == result.cid and root.cid.codec == DAG_PB
    node = dagpb.decode(root.data)
    msg = unixfs.Data.decode(node.data or b"")
    assert msg.type == unixfs.FILE and msg.filesize == len(data)
    assert msg.blocksizes == [CHUNK_SIZE, 1]
    assert [link.name for link in node.links] == ["", ""]
    assert result.dag_size == len(root.data) + len(data)
    assert file_size(root) == len(data)


def test_layout_levels_with_small_parameters() -> None:
    # chunk 4, 3 links per node: 10 chunks -> 4 nodes at level 1, 2 at level 2, 1 root
    builder = FileBuilder(chunk_size=4, max_links=3)
    data = _data(40)
    blocks = builder.write(data)
    result = builder.finish()
    store = _store(blocks + result.blocks)
    assert len(store) == 10 + 4 + 2 + 1
    root = dagpb.decode(store[result.cid])
    assert len(root.links) == 2
    assert b"".join(read_file(result.cid, store.__getitem__)) == data


def test_write_splits_do_not_matter_and_blocks_stream_out() -> None:
    data = _data(3 * CHUNK_SIZE + 1000)
    whole = import_bytes(data)
    builder = FileBuilder()
    streamed: list[Block] = []
    rng = random.Random(1)
    pos = 0
    while pos < len(data):
        step = rng.choice([1, 17, 4096, CHUNK_SIZE - 1, CHUNK_SIZE, 2 * CHUNK_SIZE + 3])
        out = builder.write(data[pos : pos + step])
        pos += step
        # every completed chunk comes back promptly: at most one partial chunk is held
        assert len(streamed) + len(out) >= pos // CHUNK_SIZE
        streamed += out
    result = builder.finish()
    assert result.cid == whole.cid and result.size == len(data)
    assert [b.cid for b in streamed + result.blocks] == [b.cid for b in whole.blocks]
    with pytest.raises(InvalidArgument):
        builder.write(b"x")


@pytest.mark.parametrize(
    ("offset", "length"),
    [
        (0, None),
        (0, 1),
        (CHUNK_SIZE - 1, 2),
        (CHUNK_SIZE, CHUNK_SIZE),
        (CHUNK_SIZE - 1, CHUNK_SIZE + 2),
        (2 * CHUNK_SIZE, None),
        (3 * CHUNK_SIZE + 999, 10),
        (3 * CHUNK_SIZE + 1000, 10),
        (10**9, 5),
        (5, 0),
    ],
)
def test_range_reads_at_chunk_boundaries(offset: int, length: int | None) -> None:
    data = _data(3 * CHUNK_SIZE + 1000)
    result = import_bytes(data)
    store = _store(result.blocks)
    fetched: list[CID] = []

    def get(cid: CID) -> bytes:
        fetched.append(cid)
        return store[cid]

    got = b"".join(read_file(result.cid, get, offset, length))
    end = None if length is None else offset + length
    assert got == data[offset:end]
    leaves = [c for c in fetched if c.codec == RAW]
    if got:
        first, last = offset // CHUNK_SIZE, (offset + len(got) - 1) // CHUNK_SIZE
        assert len(leaves) == last - first + 1  # only the overlapping leaves
    else:
        assert not leaves


def test_read_raw_root_and_verification() -> None:
    data = b"hello world"
    cid = CID.for_data(data)
    assert b"".join(read_file(cid, {cid: data}.__getitem__, 6)) == b"world"
    with pytest.raises(CorruptData):
        list(read_file(cid, {cid: b"hello there"}.__getitem__))
    with pytest.raises(InvalidArgument):
        list(read_file(cid, {cid: data}.__getitem__, -1))


def test_read_file_rejects_directories() -> None:
    raw = b"\x0a\x02\x08\x01"
    block = Block.of(raw, DAG_PB)
    with pytest.raises(InvalidArgument):
        list(read_file(block.cid, {block.cid: raw}.__getitem__))
    with pytest.raises(InvalidArgument):
        file_size(block)


def test_file_size_of_inline_data_node() -> None:
    data = unixfs.Data(unixfs.FILE, data=b"abc").encode()
    block = Block.of(dagpb.encode(dagpb.PBNode(data, [])), DAG_PB)
    assert file_size(block) == 3
    assert b"".join(read_file(block.cid, {block.cid: block.data}.__getitem__, 1)) == b"bc"


def test_range_reads_on_a_deep_tree() -> None:
    # chunk 5, 3 links: 40 chunks give four levels with partial nodes; check many ranges and
    # that only the leaves overlapping each range are fetched
    builder = FileBuilder(chunk_size=5, max_links=3)
    data = _data(198, seed=3)
    blocks = builder.write(data)
    result = builder.finish()
    store = _store(blocks + result.blocks)
    rng = random.Random(4)
    for _ in range(300):
        offset = rng.randrange(0, 210)
        length = rng.choice([None, 0, 1, 4, 5, 6, 17, 100])
        fetched: list[CID] = []

        def get(cid: CID, fetched: list[CID] = fetched) -> bytes:
            fetched.append(cid)
            return store[cid]

        got = b"".join(read_file(result.cid, get, offset, length))
        assert got == data[offset : None if length is None else offset + length]
        leaves = sum(1 for c in fetched if c.codec == RAW)
        want = 0 if not got else (offset + len(got) - 1) // 5 - offset // 5 + 1
        assert leaves == want, (offset, length)


@pytest.mark.parametrize("size", [0, 1, 4, 5, 12, 13, 40, 41, 109])
def test_add_leaf_builds_what_write_builds(size: int) -> None:
    data = _data(size)
    by_write = FileBuilder(chunk_size=4, max_links=3)
    written = by_write.write(data)
    expected = by_write.finish()
    by_leaf = FileBuilder(chunk_size=4, max_links=3)
    inner: list[Block] = []
    leaves = [Block.of(data[i : i + 4]) for i in range(0, size, 4)]
    for leaf in leaves:
        inner += by_leaf.add_leaf(leaf.cid, len(leaf.data))
    result = by_leaf.finish()
    assert (result.cid, result.size, result.dag_size) == (
        expected.cid,
        expected.size,
        expected.dag_size,
    )
    assert _store(leaves + inner + result.blocks) == _store(written + expected.blocks)


def test_add_leaf_refuses_mixing_and_short_leaves() -> None:
    builder = FileBuilder(chunk_size=4, max_links=3)
    builder.write(b"ab")
    with pytest.raises(InvalidArgument):
        builder.add_leaf(Block.of(b"abcd").cid, 4)
    builder = FileBuilder(chunk_size=4, max_links=3)
    builder.add_leaf(Block.of(b"ab").cid, 2)
    with pytest.raises(InvalidArgument, match="only the last leaf"):
        builder.add_leaf(Block.of(b"abcd").cid, 4)
    with pytest.raises(InvalidArgument):
        FileBuilder(chunk_size=4).add_leaf(Block.of(b"abcde").cid, 5)
    with pytest.raises(InvalidArgument):
        FileBuilder(chunk_size=4).add_leaf(Block.of(b"ab", DAG_PB).cid, 2)


def test_read_plan_leaves_raw_leaves_to_the_caller() -> None:
    builder = FileBuilder(chunk_size=4, max_links=3)
    data = _data(40)
    blocks = builder.write(data)
    result = builder.finish()
    store = _store(blocks + result.blocks)
    fetched: list[CID] = []

    def get(cid: CID) -> bytes:
        fetched.append(cid)
        return store[cid]

    plan = list(read_plan(result.cid, get, 6, 9))
    assert all(isinstance(p, LeafRef) for p in plan)
    assert all(cid.codec == DAG_PB for cid in fetched)  # only inner nodes were read
    pieces = [p.take(store[p.cid]) for p in plan if isinstance(p, LeafRef)]
    assert b"".join(pieces) == data[6:15]
    assert [(p.start, p.end) for p in plan if isinstance(p, LeafRef)] == [(2, 4), (0, 4), (0, 3)]
    single = Block.of(b"hello")
    assert list(read_plan(single.cid, {}.__getitem__, 1, 2)) == [LeafRef(single.cid, 1, 3)]
