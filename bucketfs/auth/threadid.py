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
from bucketfs.ipfs import multibase, varint

VERSION_1 = 0x01
RANDOM_SIZE = 32


class Variant(IntEnum):
    RAW = 0x55
    ACCESS_CONTROLLED = 0x70


RAW = Variant.RAW
ACCESS_CONTROLLED = Variant.ACCESS_CONTROLLED


class ThreadID:
    """A thread ID; equal and hashable by its bytes."""

    __slots__ = ("bytes", "variant", "version")

    def __init__(self, data: bytes) -> None:
        data = bytes(data)
        version, pos = varint.decode(data, 0, strict=True)
        if version != VERSION_1:
            raise InvalidArgument(f"unsupported thread ID version {version}")
        variant, pos = varint.decode(data, pos, strict=True)
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
        return cls(
            varint.encode(VERSION_1) + varint.encode(int(variant)) + secrets.token_bytes(size)
        )

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
