"""Property tests: codecs round-trip, and arbitrary bytes never raise anything but
InvalidArgument (or Unsupported for well-formed but unsupported input)."""

from __future__ import annotations

import contextlib

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bucketfs.errors import CorruptData, InvalidArgument, NotADirectory, Unsupported
from bucketfs.ipfs import dagpb, directory, unixfs
from bucketfs.ipfs.cid import CID, DAG_PB, Block
from bucketfs.ipfs.importer import file_size, read_file

cids = st.builds(
    CID.for_data, st.binary(max_size=8), st.sampled_from([0x55, 0x70, 0x71]), st.just(1)
)
links = st.builds(dagpb.PBLink, st.text(max_size=12), cids, st.integers(0, 2**64 - 1))
nodes = st.builds(dagpb.PBNode, st.none() | st.binary(max_size=40), st.lists(links, max_size=6))


@given(nodes)
def test_dagpb_round_trip(node: dagpb.PBNode) -> None:
    raw = dagpb.encode(node)
    decoded = dagpb.decode(raw)
    assert decoded.data == node.data
    assert decoded.links == dagpb.sort_links(node.links)
    assert dagpb.encode(decoded) == raw
    scanned, data = dagpb.scan(raw)
    assert data == node.data
    assert b"".join(link.field for link in scanned) == raw[: len(raw) - len(_data_field(node))]


def _data_field(node: dagpb.PBNode) -> bytes:
    return b"" if node.data is None else dagpb.encode(dagpb.PBNode(node.data, []))


@given(
    st.builds(
        unixfs.Data,
        st.sampled_from(unixfs.TYPES),
        st.none() | st.binary(max_size=10),
        st.none() | st.integers(0, 2**64 - 1),
        st.lists(st.integers(0, 2**64 - 1), max_size=4),
        st.none() | st.integers(0, 2**64 - 1),
        st.none() | st.integers(0, 2**64 - 1),
        st.none() | st.integers(0, 2**32 - 1),
        st.none()
        | st.builds(
            unixfs.Mtime, st.integers(-(2**63), 2**63 - 1), st.none() | st.integers(1, 999_999_999)
        ),
    )
)
def test_unixfs_round_trip(msg: unixfs.Data) -> None:
    assert unixfs.Data.decode(msg.encode()) == msg


@settings(max_examples=300)
@given(st.binary(max_size=80))
@example(b"\x12\x00")
@example(b"\x12\x00\x0a\x00")
@example(b"\x0a\x02\x08\x05")
def test_garbage_is_invalid_argument(raw: bytes) -> None:
    for parse in (dagpb.decode, dagpb.scan, unixfs.Data.decode, CID.from_bytes):
        with contextlib.suppress(InvalidArgument):
            parse(raw)
    block = Block.of(raw, DAG_PB)
    store = {block.cid: raw}
    for use in (
        lambda: file_size(block),
        lambda: list(read_file(block.cid, store.__getitem__)),
        lambda: list(directory.dir_list(block, store.__getitem__)),
        lambda: directory.is_directory(block),
    ):
        with contextlib.suppress(InvalidArgument, Unsupported, NotADirectory, CorruptData):
            use()


@given(st.text(max_size=60))
def test_garbage_text_is_invalid_argument(text: str) -> None:
    try:
        cid = CID.parse(text)
    except InvalidArgument:
        return
    assert CID.parse(str(cid)) == cid
