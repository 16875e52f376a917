"""Content identifiers (CIDv0 and CIDv1) and blocks.

A CIDv0 is a bare base58btc sha2-256 multihash (``Qm…``) and always means dag-pb. A CIDv1 is
``<version 1><codec><multihash>``, printed base32 (``b…``) and parsed from any multibase
:mod:`bucketfs.ipfs.multibase` supports.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from bucketfs.errors import CorruptData, InvalidArgument, Unsupported
from bucketfs.ipfs import multibase, multihash, varint

RAW = 0x55
DAG_PB = 0x70
DAG_CBOR = 0x71
LIBP2P_KEY = 0x72

_V0_LENGTH = 34  # 0x12 0x20 + 32-byte digest


@dataclass(frozen=True)
class CID:
    """A parsed CID. ``multihash`` is the full multihash (code, length and digest)."""

    version: int
    codec: int
    multihash: bytes

    def __post_init__(self) -> None:
        if self.version == 0:
            if self.codec != DAG_PB or not _is_v0_multihash(self.multihash):
                raise InvalidArgument("CIDv0 must be a dag-pb sha2-256 multihash")
        elif self.version == 1:
            _code, _digest, end = multihash.decode(self.multihash)
            if end != len(self.multihash):
                raise InvalidArgument("trailing bytes after multihash")
        else:
            raise InvalidArgument(f"unsupported CID version {self.version}")

    @classmethod
    def parse(cls, value: str | bytes) -> CID:
        """Parse a CID from its text (v0 ``Qm…`` or multibase v1) or binary form."""
        if isinstance(value, str):
            return cls._parse_text(value)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return cls.from_bytes(bytes(value))
        raise InvalidArgument(f"cannot parse a CID from {type(value).__name__}")

    @classmethod
    def _parse_text(cls, text: str) -> CID:
        if len(text) == 46 and text.startswith("Qm"):
            raw = multibase.b58decode(text)
            if not _is_v0_multihash(raw):
                raise InvalidArgument(f"invalid CIDv0 {text!r}")
            return cls(0, DAG_PB, raw)
        if not text:
            raise InvalidArgument("empty CID")
        raw = multibase.decode(text)
        if raw[:1] == b"\x12":
            raise InvalidArgument("a CIDv0 must be written in base58btc without prefix")
        return cls.from_bytes(raw)

    @classmethod
    def from_bytes(cls, data: bytes) -> CID:
        """Parse a binary CID; the whole input must be consumed."""
        cid, end = cls.read(data)
        if end != len(data):
            raise InvalidArgument("trailing bytes after CID")
        return cid

    @classmethod
    def read(cls, data: bytes, pos: int = 0) -> tuple[CID, int]:
        """Parse a binary CID at ``pos``; return it and the position after it."""
        if data[pos : pos + 2] == b"\x12\x20":
            end = pos + _V0_LENGTH
            if end > len(data):
                raise InvalidArgument("truncated CIDv0")
            return _trusted(0, DAG_PB, bytes(data[pos:end])), end
        if data[pos : pos + 1] == b"\x01" and data[pos + 2 : pos + 4] == b"\x12\x20":
            codec = data[pos + 1]
            end = pos + 4 + 32
            if codec < 0x80 and end <= len(data):  # the common case: sha2-256, small codec
                return _trusted(1, codec, bytes(data[pos + 2 : end])), end
        version, p = varint.decode(data, pos, strict=True)
        if version != 1:
            raise InvalidArgument(f"unsupported CID version {version}")
        codec, p = varint.decode(data, p, strict=True)
        _code, _digest, end = multihash.decode(data, p)
        return cls(1, codec, bytes(data[p:end])), end

    @classmethod
    def for_data(cls, data: bytes | memoryview, codec: int = RAW, version: int = 1) -> CID:
        """The sha2-256 CID of ``data`` stored with ``codec``."""
        if version == 1:
            return _trusted(1, codec, multihash.sha2_256(data))
        return cls(version, codec, multihash.sha2_256(data))

    def __str__(self) -> str:
        if self.version == 0:
            return multibase.b58encode(self.multihash)
        return multibase.encode(self.to_bytes(), "base32")

    def __repr__(self) -> str:
        return f"CID({self})"

    def encode(self, base: str = "base32") -> str:
        """Text form in a chosen multibase (CIDv0 only as bare base58btc)."""
        if self.version == 0:
            if base != "base58btc":
                raise InvalidArgument("a CIDv0 can only be written in base58btc")
            return str(self)
        return multibase.encode(self.to_bytes(), base)

    def to_bytes(self) -> bytes:
        """The binary CID."""
        return self._binary

    @cached_property
    def _binary(self) -> bytes:
        if self.version == 0:
            return self.multihash
        return b"\x01" + varint.encode(self.codec) + self.multihash

    @property
    def hash_code(self) -> int:
        return multihash.decode(self.multihash)[0]

    @property
    def digest(self) -> bytes:
        return multihash.decode(self.multihash)[1]

    def to_v1(self) -> CID:
        return self if self.version == 1 else CID(1, self.codec, self.multihash)

    def to_v0(self) -> CID:
        if self.codec != DAG_PB or not _is_v0_multihash(self.multihash):
            raise Unsupported("only dag-pb sha2-256 CIDs have a CIDv0 form")
        return CID(0, DAG_PB, self.multihash)

    def verify(self, data: bytes | memoryview) -> bool:
        """Whether ``data`` hashes to this CID (Unsupported for unknown hash functions)."""
        if self.multihash[:2] == b"\x12\x20":
            return hashlib.sha256(data).digest() == self.multihash[2:]
        return multihash.compute(self.hash_code, data) == self.multihash


def _trusted(version: int, codec: int, mh: bytes) -> CID:
    """Construct without re-validating parts the caller has just checked (hot paths)."""
    cid = object.__new__(CID)
    object.__setattr__(cid, "version", version)
    object.__setattr__(cid, "codec", codec)
    object.__setattr__(cid, "multihash", mh)
    return cid


def _is_v0_multihash(raw: bytes) -> bool:
    return len(raw) == _V0_LENGTH and raw[:2] == b"\x12\x20"


@dataclass(frozen=True)
class Block:
    """A block: bytes and the CID they hash to."""

    cid: CID
    data: bytes

    @classmethod
    def of(cls, data: bytes, codec: int = RAW, version: int = 1) -> Block:
        return cls(CID.for_data(data, codec, version), data)

    def __repr__(self) -> str:
        return f"Block({self.cid}, {len(self.data)} bytes)"


def load_block(cid: CID, get_block: Callable[[CID], bytes]) -> Block:
    """Fetch ``cid`` through ``get_block`` and check the bytes (CorruptData if they differ)."""
    data = get_block(cid)
    if not cid.verify(data):
        raise CorruptData(f"block {cid} does not match its content address")
    return Block(cid, data)
