"""dag-pb and UnixFS encoding: round trips, canonical order, fixed bytes, malformed input."""

from __future__ import annotations

import pytest

from bucketfs.errors import InvalidArgument
from bucketfs.ipfs import dagpb, unixfs
from bucketfs.ipfs.cid import CID, DAG_PB, Block
from bucketfs.ipfs.dagpb import PBLink, PBNode

A = CID.for_data(b"a")
B = CID.for_data(b"b", DAG_PB)


def test_empty_directory_bytes() -> None:
    data = unixfs.Data(unixfs.DIRECTORY).encode()
    assert data == b"\x08\x01"
    assert dagpb.encode(PBNode(data, [])) == b"\x0a\x02\x08\x01"


def test_links_come_first_and_sorted() -> None:
    node = PBNode(b"\x08\x01", [PBLink("b", B, 7), PBLink("a", A, 1), PBLink("", A, 1)])
    raw = dagpb.encode(node)
    assert raw[0] == 0x12 and raw.endswith(b"\x0a\x02\x08\x01")
    decoded = dagpb.decode(raw)
    assert [link.name for link in decoded.links] == ["", "a", "b"]
    assert decoded.links[2] == PBLink("b", B, 7)
    assert dagpb.encode(decoded) == raw


def test_sort_is_by_utf8_bytes_and_stable() -> None:
    names = ["é", "z", "Z", "a", "a"]
    cids = [CID.for_data(bytes([i])) for i in range(5)]
    node = PBNode(None, [PBLink(n, c, 0) for n, c in zip(names, cids, strict=True)])
    out = dagpb.decode(dagpb.encode(node)).links
    assert [link.name for link in out] == ["Z", "a", "a", "z", "é"]
    assert out[1].cid == cids[3] and out[2].cid == cids[4]


def test_link_bytes_are_exact() -> None:
    raw = dagpb.encode(PBNode(None, [PBLink("x", A, 300)]))
    body = b"\x0a\x24" + A.to_bytes() + b"\x12\x01x" + b"\x18\xac\x02"
    assert raw == b"\x12" + bytes([len(body)]) + body


def test_absent_fields_decode_to_defaults() -> None:
    raw = b"\x12\x26\x0a\x24" + A.to_bytes()  # link with Hash only, no Data
    node = dagpb.decode(raw)
    assert node.data is None and node.links == [PBLink("", A, 0)]
    assert dagpb.decode(b"") == PBNode(None, [])
    assert dagpb.decode(b"\x0a\x00") == PBNode(b"", [])


@pytest.mark.parametrize(
    "bad",
    [
        b"\x0a\x02\x08\x01\x12\x26\x0a\x24" + A.to_bytes(),  # links after data
        b"\x0a\x00\x0a\x00",  # duplicate data
        b"\x1a\x00",  # unknown field 3
        b"\x12\x03\x12\x01x",  # link without hash
        b"\x12\x05\x12\x01x\x0a\x00",  # link fields out of order
        b"\x12\x02\x0a\x05",  # truncated
        b"\x0a\x05ab",  # truncated data
        b"\x08\x01",  # data with varint wire type
        b"\x12\x04\x0a\x02\x01\x55",  # bad CID in link
        b"\x12\x2a\x0a\x24" + A.to_bytes() + b"\x12\x02\xff\xfe",  # name not UTF-8
        b"\x0b",  # group wire type
    ],
)
def test_malformed_dagpb_is_invalid_argument(bad: bytes) -> None:
    with pytest.raises(InvalidArgument):
        dagpb.decode(bad)


def test_unixfs_round_trip_all_fields() -> None:
    msg = unixfs.Data(
        unixfs.FILE,
        data=b"xyz",
        filesize=10,
        blocksizes=[3, 7],
        hash_type=0x22,
        fanout=256,
        mode=0o100644,
        mtime=unixfs.Mtime(-5, 123),
    )
    raw = msg.encode()
    assert unixfs.Data.decode(raw) == msg
    assert raw.startswith(b"\x08\x02\x12\x03xyz\x18\x0a\x20\x03\x20\x07")
    assert msg.file_size() == 13


def test_unixfs_types_and_hamt_fields() -> None:
    shard = unixfs.Data(unixfs.HAMT_SHARD, data=b"\x01", hash_type=0x22, fanout=256)
    assert shard.encode() == b"\x08\x05\x12\x01\x01\x28\x22\x30\x80\x02"
    for kind in unixfs.TYPES:
        assert unixfs.Data.decode(unixfs.Data(kind).encode()).type == kind


@pytest.mark.parametrize("bad", [b"", b"\x08\x09", b"\x08", b"\x12\x01x"])
def test_malformed_unixfs_is_invalid_argument(bad: bytes) -> None:
    with pytest.raises(InvalidArgument):
        unixfs.Data.decode(bad)


def test_symlink_helpers() -> None:
    block = unixfs.symlink("../target/file")
    assert block.cid.codec == DAG_PB and block.cid.verify(block.data)
    assert unixfs.is_symlink(block)
    assert unixfs.read_symlink(block) == "../target/file"
    empty_dir = Block.of(b"\x0a\x02\x08\x01", DAG_PB)
    assert not unixfs.is_symlink(empty_dir)
    with pytest.raises(InvalidArgument):
        unixfs.read_symlink(empty_dir)
