"""Multihash: ``<hash code varint><digest length varint><digest>``.

Only sha2-256 (``0x12``, what IPFS uses by default) and identity (``0x00``) can be computed;
other codes parse but cannot be verified.
"""

from __future__ import annotations

import hashlib

from bucketfs.errors import InvalidArgument, Unsupported
from bucketfs.ipfs import varint

IDENTITY = 0x00
SHA2_256 = 0x12

_SHA256_PREFIX = b"\x12\x20"


def sha2_256(data: bytes | memoryview) -> bytes:
    """The sha2-256 multihash of ``data``."""
    return _SHA256_PREFIX + hashlib.sha256(data).digest()


def encode(code: int, digest: bytes) -> bytes:
    """Wrap a raw digest into a multihash."""
    return varint.encode(code) + varint.encode(len(digest)) + digest


def decode(data: bytes, pos: int = 0) -> tuple[int, bytes, int]:
    """Read a multihash at ``pos``; return ``(code, digest, position after it)``."""
    code, pos = varint.decode(data, pos, strict=True)
    length, pos = varint.decode(data, pos, strict=True)
    end = pos + length
    if end > len(data):
        raise InvalidArgument("truncated multihash digest")
    if code == SHA2_256 and length != 32:
        raise InvalidArgument(f"sha2-256 digest must be 32 bytes, not {length}")
    return code, bytes(data[pos:end]), end


def compute(code: int, data: bytes | memoryview) -> bytes:
    """The multihash of ``data`` with hash function ``code``."""
    if code == SHA2_256:
        return sha2_256(data)
    if code == IDENTITY:
        return encode(IDENTITY, bytes(data))
    raise Unsupported(f"multihash code 0x{code:x} is not supported")
