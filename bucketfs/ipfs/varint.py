"""Unsigned LEB128 varints, as used by multiformats (CIDs, multihashes) and protobuf.

``decode`` is strict in the multiformats sense when asked (minimal encoding, at most 9 bytes);
protobuf readers use the lenient form (up to 10 bytes, values below 2**64).
"""

from __future__ import annotations

from bucketfs.errors import InvalidArgument

_MAX = 1 << 64


def encode(value: int) -> bytes:
    """Encode a non-negative integer below 2**64."""
    if value < 0 or value >= _MAX:
        raise InvalidArgument(f"varint out of range: {value}")
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode(data: bytes | memoryview, pos: int = 0, *, strict: bool = False) -> tuple[int, int]:
    """Read one varint at ``pos``; return ``(value, position after it)``.

    ``strict`` applies the multiformats rules: minimal encoding and at most 9 bytes.
    Truncated, over-long or out-of-range input raises :class:`InvalidArgument`.
    """
    if pos < len(data):
        first = data[pos]
        if first < 0x80:
            return first, pos + 1
        if pos + 1 < len(data) and 0 < data[pos + 1] < 0x80:
            return (first & 0x7F) | (data[pos + 1] << 7), pos + 2
    limit = 9 if strict else 10
    value = 0
    shift = 0
    end = len(data)
    for i in range(limit):
        if pos + i >= end:
            raise InvalidArgument("truncated varint")
        byte = data[pos + i]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if strict and byte == 0 and i > 0:
                raise InvalidArgument("varint is not minimally encoded")
            if value >= _MAX:
                raise InvalidArgument("varint exceeds 64 bits")
            return value, pos + i + 1
        shift += 7
    raise InvalidArgument("varint too long")
