"""CIDs, multihashes and varints against fixed, independently known vectors."""

from __future__ import annotations

import hashlib

import pytest

from bucketfs.errors import InvalidArgument
from bucketfs.ipfs import multihash, varint
from bucketfs.ipfs.cid import CID, DAG_PB, LIBP2P_KEY, RAW, Block

EMPTY_RAW = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
HELLO_RAW = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
EMPTY_DIR_V0 = "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"
EMPTY_DIR_V1 = "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"
BUCKET_KEY = "bafzbeieqt67mdbunw7fo2rgcsko2rldg2bhursrkhxfwt67pu64ehzfb2q"


def test_raw_block_vectors() -> None:
    assert str(CID.for_data(b"")) == EMPTY_RAW
    assert str(CID.for_data(b"hello world")) == HELLO_RAW
    assert CID.for_data(b"").digest == hashlib.sha256(b"").digest()


def test_empty_directory_vectors() -> None:
    empty_dir = b"\x0a\x02\x08\x01"
    assert str(CID.for_data(empty_dir, DAG_PB, version=0)) == EMPTY_DIR_V0
    assert str(CID.for_data(empty_dir, DAG_PB)) == EMPTY_DIR_V1


def test_v0_parse_print_and_convert() -> None:
    cid = CID.parse(EMPTY_DIR_V0)
    assert (cid.version, cid.codec) == (0, DAG_PB)
    assert str(cid) == EMPTY_DIR_V0
    assert cid.to_bytes() == cid.multihash and len(cid.to_bytes()) == 34
    assert str(cid.to_v1()) == EMPTY_DIR_V1
    assert cid.to_v1().to_v0() == cid
    assert CID.parse(cid.to_bytes()) == cid
    assert cid.encode("base58btc") == EMPTY_DIR_V0


@pytest.mark.parametrize("text", [EMPTY_RAW, HELLO_RAW, EMPTY_DIR_V1, BUCKET_KEY])
def test_v1_round_trips_in_every_base(text: str) -> None:
    cid = CID.parse(text)
    assert str(cid) == text
    assert CID.parse(cid.to_bytes()) == cid
    for base in ("base32", "base58btc", "base16"):
        assert CID.parse(cid.encode(base)) == cid
    assert CID.parse(text.upper()[0].upper() + text[1:].upper()) == cid


def test_libp2p_key_codec() -> None:
    cid = CID.parse(BUCKET_KEY)
    assert cid.codec == LIBP2P_KEY and cid.version == 1


def test_verify() -> None:
    cid = CID.parse(HELLO_RAW)
    assert cid.verify(b"hello world")
    assert not cid.verify(b"hello world!")
    block = Block.of(b"abc")
    assert block.cid.verify(block.data) and block.cid.codec == RAW


def test_identity_multihash() -> None:
    mh = multihash.encode(multihash.IDENTITY, b"tiny")
    cid = CID(1, RAW, mh)
    assert CID.parse(str(cid)) == cid
    assert cid.verify(b"tiny") and not cid.verify(b"tinx")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "Qm",
        "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3N0",  # 0 is not base58
        "xafkrei",
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyk",  # truncated
        EMPTY_RAW + "aa",  # trailing bytes
        "bAFKREIHDWDCEFGH4DQKJV67UZCMW7OJEE6XEDZDETOJUZJEVTENXQUVYKU",  # mixed case with 'b'
        "f0255",  # version 2
        "f00551220" + "00" * 32,  # v0 in multibase form is not a CIDv1
    ],
)
def test_malformed_text_is_invalid_argument(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        CID.parse(bad)


@pytest.mark.parametrize(
    "bad",
    [b"", b"\x01", b"\x01\x55\x12\x20" + b"\0" * 31, b"\x01\x55\x12\x10" + b"\0" * 16, b"\x12\x20"],
)
def test_malformed_bytes_are_invalid_argument(bad: bytes) -> None:
    with pytest.raises(InvalidArgument):
        CID.parse(bad)


def test_varint_round_trip_and_strictness() -> None:
    for value in (0, 1, 127, 128, 300, 2**32, 2**63, 2**64 - 1):
        encoded = varint.encode(value)
        assert varint.decode(encoded) == (value, len(encoded))
    assert varint.encode(300) == b"\xac\x02"
    with pytest.raises(InvalidArgument):
        varint.decode(b"\x80\x00", strict=True)  # not minimal
    assert varint.decode(b"\x80\x00") == (0, 2)
    with pytest.raises(InvalidArgument):
        varint.decode(b"\x80")
    with pytest.raises(InvalidArgument):
        varint.decode(b"\xff" * 10 + b"\x01")
    with pytest.raises(InvalidArgument):
        varint.encode(-1)
