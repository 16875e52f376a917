"""Ed25519 identities and public keys: WIRE.md §2.4 vectors, encodings, files and bad input."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bucketfs.auth.identity import Identity, PublicKey
from bucketfs.auth.privatefile import InsecureFile
from bucketfs.errors import AlreadyExists, CorruptData, InvalidArgument, NotFound
from bucketfs.ipfs import multibase

SEED = bytes(range(32))
VECTOR_STRING = "bbaareiadued3746occ7b24g5ddtuxqezm7snmme3uugv6ho4qzsbevjrxa"
VECTOR_HEX = "0801122003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"


def test_public_key_vector_from_seed() -> None:
    public = Identity.from_seed(SEED).public_key
    assert str(public) == VECTOR_STRING
    assert public.marshal().hex() == VECTOR_HEX
    assert public.raw == bytes.fromhex(VECTOR_HEX)[4:]


def test_public_key_string_round_trip_and_shape() -> None:
    for _ in range(20):
        public = Identity.generate().public_key
        text = str(public)
        assert text.startswith("bbaarei") and text[7] in "abcdefgh" and len(text) == 59
        assert PublicKey.from_string(text) == public
        assert PublicKey.unmarshal(public.marshal()) == public


def test_public_key_accepts_other_multibase_prefixes() -> None:
    marshalled = bytes.fromhex(VECTOR_HEX)
    expected = PublicKey.unmarshal(marshalled)
    assert PublicKey.from_string(multibase.encode(marshalled, "base58btc")) == expected
    assert PublicKey.from_string("f" + VECTOR_HEX) == expected


def test_public_key_equality_and_hash() -> None:
    a = PublicKey.from_string(VECTOR_STRING)
    b = PublicKey.unmarshal(bytes.fromhex(VECTOR_HEX))
    other = Identity.generate().public_key
    assert a == b and hash(a) == hash(b) and a != other
    assert len({a, b, other}) == 2
    assert a != VECTOR_STRING


def test_private_key_marshal_form_and_round_trip() -> None:
    identity = Identity.from_seed(SEED)
    data = identity.marshal()
    assert data[:4] == bytes([0x08, 0x01, 0x12, 0x40]) and len(data) == 68
    assert data[4:36] == SEED and data[36:] == identity.public_key.raw
    assert Identity.unmarshal(data) == identity
    assert identity.to_string().startswith("bbaareq")
    assert Identity.from_string(identity.to_string()).public_key == identity.public_key


def test_private_key_accepts_legacy_96_byte_form() -> None:
    identity = Identity.from_seed(SEED)
    pub = identity.public_key.raw
    legacy = bytes([0x08, 0x01, 0x12, 0x60]) + SEED + pub + pub
    assert Identity.unmarshal(legacy).public_key == identity.public_key


def test_private_key_with_mismatched_public_half_is_refused() -> None:
    other = Identity.generate().public_key.raw
    with pytest.raises(InvalidArgument, match="does not match"):
        Identity.unmarshal(bytes([0x08, 0x01, 0x12, 0x40]) + SEED + other)
    pub = Identity.from_seed(SEED).public_key.raw
    with pytest.raises(InvalidArgument, match="does not match"):
        Identity.unmarshal(bytes([0x08, 0x01, 0x12, 0x60]) + SEED + pub + other)


def test_sign_and_verify() -> None:
    identity = Identity.generate()
    signature = identity.sign(b"challenge")
    assert len(signature) == 64
    assert identity.public_key.verify(b"challenge", signature)
    assert not identity.public_key.verify(b"challengE", signature)
    assert not Identity.generate().public_key.verify(b"challenge", signature)
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    assert not identity.public_key.verify(b"challenge", flipped)
    assert not identity.public_key.verify(b"challenge", signature[:63])
    assert not identity.public_key.verify(b"challenge", b"")


def test_signatures_are_deterministic_ed25519() -> None:
    identity = Identity.from_seed(SEED)
    assert identity.sign(b"x") == identity.sign(b"x")
    assert identity.sign(b"x") != identity.sign(b"y")


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (bytes.fromhex(VECTOR_HEX)[:-1], "truncated"),
        (bytes.fromhex(VECTOR_HEX)[:3], "truncated"),
        (b"", "lacks"),
        (bytes.fromhex("0801"), "lacks"),
        (bytes.fromhex("08001220") + bytes(32), "unsupported public key type RSA"),
        (bytes.fromhex("08021220") + bytes(32), "unsupported public key type Secp256k1"),
        (bytes.fromhex("08011221") + bytes(33), "32 bytes"),
        (bytes.fromhex("0801121f") + bytes(31), "32 bytes"),
        (bytes.fromhex(VECTOR_HEX) + b"\x1a\x00", "unexpected field 3"),
        (bytes.fromhex("08ff"), "varint"),
    ],
)
def test_bad_public_keys_are_rejected(data: bytes, match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        PublicKey.unmarshal(data)


@pytest.mark.parametrize(
    "text",
    [
        "",
        VECTOR_STRING[:-2],
        "x" + VECTOR_STRING[1:],
        "m" + VECTOR_STRING[1:],
        "B" + VECTOR_STRING[1:].upper()[:-1] + "!",
        "b" + VECTOR_STRING[1:].upper(),
        "bbaareq" + VECTOR_STRING[7:],
    ],
)
def test_bad_public_key_strings_are_rejected(text: str) -> None:
    with pytest.raises(InvalidArgument):
        PublicKey.from_string(text)


def test_private_key_string_is_not_a_public_key() -> None:
    with pytest.raises(InvalidArgument):
        PublicKey.from_string(Identity.generate().to_string())


@pytest.mark.parametrize(
    "data",
    [
        bytes([0x08, 0x01, 0x12, 0x40]) + bytes(63),
        bytes([0x08, 0x01, 0x12, 0x20]) + bytes(32),
        bytes([0x08, 0x00, 0x12, 0x40]) + bytes(64),
        b"",
    ],
)
def test_bad_private_keys_are_rejected(data: bytes) -> None:
    with pytest.raises(InvalidArgument):
        Identity.unmarshal(data)


def test_bad_seed_length() -> None:
    with pytest.raises(InvalidArgument):
        Identity.from_seed(bytes(31))


def test_secret_never_printed() -> None:
    identity = Identity.from_seed(SEED)
    secret_text = identity.to_string()
    for shown in (str(identity), repr(identity), f"{identity}", f"{[identity]}"):
        assert "<redacted>" in shown
        assert secret_text not in shown and SEED.hex() not in shown


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_save_and_load_with_private_modes(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        path = tmp_path / "new" / "deeper" / "identity"
        identity = Identity.generate()
        identity.save(path)
    finally:
        os.umask(old_umask)
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700 and _mode(path.parent.parent) == 0o700
    assert Identity.load(path) == identity
    assert path.read_text().strip() == identity.to_string()
    assert [p.name for p in path.parent.iterdir()] == ["identity"]  # no temporary left behind


def test_save_replaces_atomically_or_refuses(tmp_path: Path) -> None:
    path = tmp_path / "identity"
    first, second = Identity.generate(), Identity.generate()
    first.save(path)
    with pytest.raises(AlreadyExists):
        second.save(path, overwrite=False)
    assert Identity.load(path) == first
    second.save(path)
    assert Identity.load(path) == second
    assert _mode(path) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["identity"]


def test_load_accepts_raw_libp2p_bytes(tmp_path: Path) -> None:
    identity = Identity.from_seed(SEED)
    path = tmp_path / "identity.key"
    path.write_bytes(identity.marshal())
    path.chmod(0o600)
    assert Identity.load(path) == identity


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606])
def test_load_refuses_files_others_can_access(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "identity"
    Identity.generate().save(path)
    path.chmod(mode)
    with pytest.raises(InsecureFile, match=f"mode {mode:04o}"):
        Identity.load(path)


def test_load_missing_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        Identity.load(tmp_path / "absent")
    for content in (b"", b"hello\n", b"\x08\x01\x12", "bbaareié".encode(), b"\xff\xfe"):
        path = tmp_path / "corrupt"
        path.write_bytes(content)
        path.chmod(0o600)
        with pytest.raises(CorruptData, match="not a valid identity"):
            Identity.load(path)
