"""Thread (database) IDs (WIRE.md §2.7): uvarint(version) ‖ uvarint(variant) ‖ random bytes.

Version is always 1; the variant is Raw (0x55, what everyone uses) or AccessControlled (0x70,
accepted but unused). IDs travel as raw bytes inside protobuf messages and as the base32 multibase
string (``bafk…`` for Raw) in headers. Parsing accepts any multibase prefix but only the canonical
(minimal) varint encoding, so equal IDs always have equal bytes.
"""

from __future__ import annotations

import secrets
from enum import IntEnum

from bucketfs.errors import InvalidArgument
from bucketfs.ipfs import multibase

VERSION_1 = 0x01
RANDOM_SIZE = 32


class Variant(IntEnum):
    RAW = 0x55
    ACCESS_CONTROLLED = 0x70


RAW = Variant.RAW
ACCESS_CONTROLLED = Variant.ACCESS_CONTROLLED


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_uvarint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    for index in range(pos, min(len(data), pos + 10)):
        value |= (data[index] & 0x7F) << shift
        if not data[index] & 0x80:
            if _uvarint(value) != data[pos : index + 1]:
                raise InvalidArgument("thread ID uses a non-canonical varint")
            return value, index + 1
        shift += 7
    raise InvalidArgument("thread ID is truncated")


class ThreadID:
    """A thread ID; equal and hashable by its bytes."""

    __slots__ = ("bytes", "variant", "version")

    def __init__(self, data: bytes) -> None:
        data = bytes(data)
        version, pos = _read_uvarint(data, 0)
        if version != VERSION_1:
            raise InvalidArgument(f"unsupported thread ID version {version}")
        variant, pos = _read_uvarint(data, pos)
        if variant not in (RAW, ACCESS_CONTROLLED):
            raise InvalidArgument(f"unknown thread ID variant {variant:#x}")
        if pos >= len(data):
            raise InvalidArgument("thread ID has no random part")
        self.bytes = data
        self.version = version
        self.variant = Variant(variant)

    @classmethod
    def new(cls, variant: Variant = RAW, size: int = RANDOM_SIZE) -> ThreadID:
        """A fresh random ID (32 random bytes by default, as the Go and JS clients make)."""
        if size < 1:
            raise InvalidArgument("thread ID random part must be at least 1 byte")
        return cls(_uvarint(VERSION_1) + _uvarint(int(variant)) + secrets.token_bytes(size))

    @classmethod
    def from_bytes(cls, data: bytes) -> ThreadID:
        return cls(data)

    @classmethod
    def from_string(cls, text: str) -> ThreadID:
        """Parse a multibase string (canonically base32 ``b…``)."""
        return cls(multibase.decode(text))

    def __str__(self) -> str:
        return multibase.encode(self.bytes)

    def __repr__(self) -> str:
        return f"ThreadID({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ThreadID) and other.bytes == self.bytes

    def __hash__(self) -> int:
        return hash(("ThreadID", self.bytes))
