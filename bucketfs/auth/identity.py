"""Ed25519 identities and public keys in libp2p protobuf form (WIRE.md §2.4).

``PublicKey`` is what travels: its string form (multibase base32 of the marshalled libp2p
``PublicKey`` message, ``bbaarei…``) is the GetToken key, the JWT ``iss``/``sub`` and the bucket
owner. ``Identity`` is the private key: it signs GetToken challenges (and, on a hub, tokens), and is
saved in a mode-0600 file as the multibase string of the marshalled libp2p ``PrivateKey``
(``bbaareq…``, what ``@textile/crypto``'s ``PrivateKey.toString()`` gives). It never prints its
secret: ``repr``/``str`` give ``<redacted>``.
"""

from __future__ import annotations

import os
from pathlib import Path

import nacl.exceptions
import nacl.signing

from bucketfs.auth.privatefile import read_private, write_private
from bucketfs.errors import CorruptData, InvalidArgument, NotFound
from bucketfs.ipfs import multibase, varint

KEY_TYPE_ED25519 = 1
_KEY_TYPE_NAMES = {0: "RSA", 1: "Ed25519", 2: "Secp256k1", 3: "ECDSA"}
SEED_SIZE = 32
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64


def _parse_key_message(data: bytes, kind: str) -> bytes:
    """The ``Data`` of a libp2p ``PublicKey``/``PrivateKey`` protobuf whose type is Ed25519."""
    key_type: int | None = None
    key_data: bytes | None = None
    pos = 0
    while pos < len(data):
        tag, pos = varint.decode(data, pos)
        field, wire_type = tag >> 3, tag & 7
        if field == 1 and wire_type == 0:
            key_type, pos = varint.decode(data, pos)
        elif field == 2 and wire_type == 2:
            length, pos = varint.decode(data, pos)
            if pos + length > len(data):
                raise InvalidArgument(f"truncated {kind} key data")
            key_data, pos = data[pos : pos + length], pos + length
        else:
            raise InvalidArgument(f"unexpected field {field} (wire type {wire_type}) in {kind} key")
    if key_type is None or key_data is None:
        raise InvalidArgument(f"{kind} key lacks its type or data")
    if key_type != KEY_TYPE_ED25519:
        name = _KEY_TYPE_NAMES.get(key_type, str(key_type))
        raise InvalidArgument(f"unsupported {kind} key type {name} (only Ed25519 is supported)")
    return key_data


def _key_message(data: bytes) -> bytes:
    return bytes([0x08, KEY_TYPE_ED25519, 0x12, len(data)]) + data


class PublicKey:
    """An Ed25519 public key; equal and hashable by value."""

    __slots__ = ("_verify_key", "raw")

    def __init__(self, raw: bytes) -> None:
        if len(raw) != PUBLIC_KEY_SIZE:
            raise InvalidArgument(f"Ed25519 public key must be 32 bytes, got {len(raw)}")
        self.raw = bytes(raw)
        self._verify_key = nacl.signing.VerifyKey(self.raw)

    def marshal(self) -> bytes:
        """The libp2p protobuf form: ``08 01 12 20`` + the 32 raw bytes."""
        return _key_message(self.raw)

    @classmethod
    def unmarshal(cls, data: bytes) -> PublicKey:
        raw = _parse_key_message(bytes(data), "public")
        return cls(raw)

    def __str__(self) -> str:
        return multibase.encode(self.marshal())

    @classmethod
    def from_string(cls, text: str) -> PublicKey:
        """Parse the multibase string form (any multibase prefix is accepted, as upstream does)."""
        return cls.unmarshal(multibase.decode(text))

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is this key's Ed25519 signature of ``message``."""
        if len(signature) != SIGNATURE_SIZE:
            return False
        try:
            self._verify_key.verify(bytes(message), bytes(signature))
        except nacl.exceptions.BadSignatureError:
            return False
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(("PublicKey", self.raw))

    def __repr__(self) -> str:
        return f"PublicKey({str(self)!r})"


class Identity:
    """An Ed25519 private key. Its secret never appears in ``repr``, ``str`` or logs."""

    __slots__ = ("_public", "_signing_key")

    def __init__(self, signing_key: nacl.signing.SigningKey) -> None:
        self._signing_key = signing_key
        self._public = PublicKey(bytes(signing_key.verify_key))

    @classmethod
    def generate(cls) -> Identity:
        return cls(nacl.signing.SigningKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Identity:
        if len(seed) != SEED_SIZE:
            raise InvalidArgument(f"Ed25519 seed must be 32 bytes, got {len(seed)}")
        return cls(nacl.signing.SigningKey(bytes(seed)))

    def marshal(self) -> bytes:
        """The libp2p protobuf form: ``08 01 12 40`` + seed ‖ public key."""
        return _key_message(bytes(self._signing_key) + self._public.raw)

    @classmethod
    def unmarshal(cls, data: bytes) -> Identity:
        """Parse the libp2p form; accepts the 64-byte form and the legacy 96-byte one
        (seed ‖ pub ‖ pub). The embedded public key must match the seed."""
        key_data = _parse_key_message(bytes(data), "private")
        if len(key_data) not in (64, 96):
            raise InvalidArgument(
                f"Ed25519 private key data must be 64 or 96 bytes, got {len(key_data)}"
            )
        identity = cls.from_seed(key_data[:SEED_SIZE])
        embedded, legacy = key_data[SEED_SIZE:64], key_data[64:]
        if embedded != identity.public_key.raw or legacy not in (b"", embedded):
            raise InvalidArgument("Ed25519 private key does not match its embedded public key")
        return identity

    def to_string(self) -> str:
        """The multibase base32 string of :meth:`marshal` (``bbaareq…``). This is the secret."""
        return multibase.encode(self.marshal())

    @classmethod
    def from_string(cls, text: str) -> Identity:
        return cls.unmarshal(multibase.decode(text.strip()))

    @property
    def public_key(self) -> PublicKey:
        return self._public

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message`` (no pre-hash)."""
        return bytes(self._signing_key.sign(bytes(message)).signature)

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = True) -> None:
        """Write the identity to ``path`` atomically with mode 0600 (new parent dirs 0700).

        With ``overwrite=False`` an existing file is left untouched and
        :class:`~bucketfs.errors.AlreadyExists` is raised.
        """
        write_private(Path(path), (self.to_string() + "\n").encode("ascii"), overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Identity:
        """Read an identity file written by :meth:`save` (or the raw libp2p bytes).

        Refuses files that group or others can access (:class:`InsecureFile`), as ssh does with
        private keys: such a key must be considered leaked, so failing loudly is safer than using it.
        Raises :class:`~bucketfs.errors.NotFound` when missing and
        :class:`~bucketfs.errors.CorruptData` when the content is not an identity.
        """
        file = Path(path)
        try:
            data = read_private(file, what="identity file")
        except FileNotFoundError:
            raise NotFound(f"identity file {file} does not exist") from None
        try:
            if data[:1] == b"\x08":
                return cls.unmarshal(data)
            return cls.from_string(data.decode("ascii"))
        except (InvalidArgument, UnicodeDecodeError) as exc:
            raise CorruptData(f"identity file {file} is not a valid identity: {exc}") from None

    def __repr__(self) -> str:
        return "<redacted>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Identity) and other._public == self._public

    def __hash__(self) -> int:
        return hash(("Identity", self._public.raw))
