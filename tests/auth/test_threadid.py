"""Thread IDs (WIRE.md §2.7): the vector, fresh IDs, parsing and bad input."""

from __future__ import annotations

import pytest

from bucketfs.auth.threadid import ACCESS_CONTROLLED, RAW, ThreadID, Variant
from bucketfs.errors import InvalidArgument
from bucketfs.ipfs import multibase

VECTOR_BYTES = bytes([0x01, 0x55]) + bytes([0x07] * 32)
VECTOR_STRING = "bafkqobyha4dqobyha4dqobyha4dqobyha4dqobyha4dqobyha4dqoby"


def test_wire_vector() -> None:
    tid = ThreadID.from_bytes(VECTOR_BYTES)
    assert str(tid) == VECTOR_STRING
    assert tid.version == 1 and tid.variant is Variant.RAW
    assert ThreadID.from_string(VECTOR_STRING) == tid
    assert ThreadID.from_string(VECTOR_STRING).bytes == VECTOR_BYTES


def test_new_ids_are_random_raw_and_round_trip() -> None:
    ids = {ThreadID.new() for _ in range(100)}
    assert len(ids) == 100
    for tid in ids:
        text = str(tid)
        assert len(tid.bytes) == 34 and len(text) == 56 and text.startswith("bafk")
        assert ThreadID.from_string(text) == tid and ThreadID.from_bytes(tid.bytes) == tid


def test_access_controlled_variant_and_short_random_part() -> None:
    tid = ThreadID.new(ACCESS_CONTROLLED, size=1)
    assert tid.variant is Variant.ACCESS_CONTROLLED and tid.bytes[:2] == bytes([1, 0x70])
    assert ThreadID.from_string(str(tid)) == tid
    assert ThreadID.new(RAW).variant == 0x55


def test_other_multibase_prefixes_are_accepted() -> None:
    tid = ThreadID.from_bytes(VECTOR_BYTES)
    assert ThreadID.from_string(multibase.encode(VECTOR_BYTES, "base58btc")) == tid
    assert ThreadID.from_string("f" + VECTOR_BYTES.hex()) == tid
    assert ThreadID.from_string(VECTOR_STRING.upper()) == tid  # "B": base32 upper case


def test_equality_and_hash() -> None:
    a, b = ThreadID.from_bytes(VECTOR_BYTES), ThreadID.from_string(VECTOR_STRING)
    assert a == b and hash(a) == hash(b) and a != ThreadID.new() and a != VECTOR_STRING


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes([0x01]),
        bytes([0x01, 0x55]),
        bytes([0x02, 0x55, 0x07]),
        bytes([0x00, 0x55, 0x07]),
        bytes([0x01, 0x56, 0x07]),
        bytes([0x01, 0x80]),
        bytes([0x81, 0x00, 0x55, 0x07]),
        bytes([0x01, 0xD5, 0x00, 0x07]),
    ],
)
def test_bad_bytes(data: bytes) -> None:
    with pytest.raises(InvalidArgument):
        ThreadID.from_bytes(data)


@pytest.mark.parametrize(
    "text", ["", "b", "xafkqobyha4dq", "b" + VECTOR_STRING[1:].upper(), VECTOR_STRING + "!", "bafk"]
)
def test_bad_strings(text: str) -> None:
    with pytest.raises(InvalidArgument):
        ThreadID.from_string(text)


def test_bad_size() -> None:
    with pytest.raises(InvalidArgument):
        ThreadID.new(size=0)
