"""MurmurHash3 x64 128-bit, the hash UnixFS HAMT directories use (multihash code 0x22).

A thin wrapper around the mmh3 package (C): it gives the same digests as the pure-Python
version bucketfs had, 32 times faster (docs/PERFORMANCE.md, "Libraries or our code";
scripts/bench-ipfs-libs keeps that version to compare against).
"""

from __future__ import annotations

import mmh3


def murmur3_x64_128(data: bytes, seed: int = 0) -> bytes:
    """The 16-byte digest (h1 then h2, each little-endian), as the reference libraries give it;
    ``seed`` is the reference's 32-bit seed."""
    return mmh3.mmh3_x64_128_digest(data, seed)
