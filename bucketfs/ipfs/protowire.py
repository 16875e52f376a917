"""Minimal protobuf wire-format helpers for dag-pb and UnixFS (no generated code needed).

Only the wire types those formats use: varint (0), 64-bit (1), length-delimited (2), 32-bit (5).
Malformed input raises :class:`InvalidArgument`.
"""

from __future__ import annotations

from collections.abc import Iterator

from bucketfs.errors import InvalidArgument
from bucketfs.ipfs import varint

VARINT = 0
FIXED64 = 1
BYTES = 2
FIXED32 = 5


def key(field: int, wire_type: int) -> bytes:
    return varint.encode((field << 3) | wire_type)


def uint_field(field: int, value: int) -> bytes:
    return key(field, VARINT) + varint.encode(value)


def int64_field(field: int, value: int) -> bytes:
    """A signed int64 (two's complement in 10 bytes when negative)."""
    return uint_field(field, value & 0xFFFFFFFFFFFFFFFF)


def bytes_field(field: int, value: bytes) -> bytes:
    return key(field, BYTES) + varint.encode(len(value)) + value


def fixed32_field(field: int, value: int) -> bytes:
    return key(field, FIXED32) + value.to_bytes(4, "little")


def to_int64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def fields(data: bytes | memoryview) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield ``(field number, wire type, value)``; value is an int or the field's bytes."""
    pos = 0
    end = len(data)
    while pos < end:
        tag = data[pos]
        if tag < 0x80:
            pos += 1
        else:
            tag, pos = varint.decode(data, pos)
        field, wire_type = tag >> 3, tag & 7
        if field == 0:
            raise InvalidArgument("protobuf field number 0")
        value: int | bytes
        if wire_type == VARINT:
            value, pos = varint.decode(data, pos)
        elif wire_type == BYTES:
            if pos < end and data[pos] < 0x80:
                length = data[pos]
                pos += 1
            else:
                length, pos = varint.decode(data, pos)
            if pos + length > end:
                raise InvalidArgument("truncated protobuf bytes field")
            value = bytes(data[pos : pos + length])
            pos += length
        elif wire_type in (FIXED32, FIXED64):
            size = 4 if wire_type == FIXED32 else 8
            if pos + size > end:
                raise InvalidArgument("truncated protobuf fixed field")
            value = int.from_bytes(data[pos : pos + size], "little")
            pos += size
        else:
            raise InvalidArgument(f"unsupported protobuf wire type {wire_type}")
        yield field, wire_type, value


def expect_int(field: int, wire_type: int, value: int | bytes, want: int = VARINT) -> int:
    if wire_type != want or not isinstance(value, int):
        raise InvalidArgument(f"protobuf field {field} has wire type {wire_type}, expected {want}")
    return value


def expect_bytes(field: int, wire_type: int, value: int | bytes) -> bytes:
    if wire_type != BYTES or not isinstance(value, bytes):
        raise InvalidArgument(f"protobuf field {field} has wire type {wire_type}, expected bytes")
    return value
