"""Property-based round trips, and key derivation checked against an independent Ed25519."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from bucketfs.auth.apisig import create_api_sig, parse_expiry, verify_api_sig
from bucketfs.auth.identity import Identity, PublicKey
from bucketfs.auth.threadid import ACCESS_CONTROLLED, RAW, ThreadID
from bucketfs.auth.token import issue_token, parse_token_unverified, verify_token
from bucketfs.errors import BucketfsError, InvalidArgument
from bucketfs.ipfs import multibase

seeds = st.binary(min_size=32, max_size=32)


@settings(max_examples=50, deadline=None)
@given(seeds, st.binary(max_size=200))
def test_keys_and_signatures_agree_with_cryptography(seed: bytes, message: bytes) -> None:
    ours = Identity.from_seed(seed)
    theirs = Ed25519PrivateKey.from_private_bytes(seed)
    raw = theirs.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert ours.public_key.raw == raw
    assert ours.sign(message) == theirs.sign(message)
    assert PublicKey.from_string(str(ours.public_key)) == ours.public_key
    assert Identity.unmarshal(ours.marshal()).public_key == ours.public_key


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([RAW, ACCESS_CONTROLLED]), st.binary(min_size=1, max_size=64))
def test_thread_id_round_trips(variant: int, random: bytes) -> None:
    tid = ThreadID.from_bytes(bytes([1, variant]) + random)
    assert ThreadID.from_string(str(tid)) == tid
    assert ThreadID.from_string(multibase.encode(tid.bytes, "base58btc")) == tid


@settings(max_examples=100, deadline=None)
@given(
    st.binary(min_size=1, max_size=48),
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
)
def test_api_signature_round_trips(secret_bytes: bytes, expiry: datetime) -> None:
    secret = multibase.encode(secret_bytes)
    sig, msg = create_api_sig(secret, expiry)
    truncated = expiry.replace(microsecond=expiry.microsecond // 1000 * 1000)
    assert parse_expiry(msg) == truncated
    verify_api_sig(secret, sig, msg, now=truncated - timedelta(microseconds=1))


@settings(max_examples=30, deadline=None)
@given(seeds, seeds, st.integers(min_value=0, max_value=2**40))
def test_tokens_round_trip(host_seed: bytes, client_seed: bytes, iat: int) -> None:
    host, client = Identity.from_seed(host_seed), Identity.from_seed(client_seed)
    claims = verify_token(issue_token(host, client.public_key, iat), host.public_key, now=iat)
    assert claims.subject_key == client.public_key and claims.issued_at == iat


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.binary(max_size=80))
def test_garbage_raises_only_our_errors(text: str, data: bytes) -> None:
    for parse in (
        lambda: PublicKey.from_string(text),
        lambda: PublicKey.unmarshal(data),
        lambda: Identity.unmarshal(data),
        lambda: ThreadID.from_string(text),
        lambda: ThreadID.from_bytes(data),
        lambda: parse_token_unverified(text),
        lambda: verify_api_sig("bb2omaw3ong6qc24alx5oscwkqj5iorcwjzxoi2y", text, text),
    ):
        with contextlib.suppress(BucketfsError):
            parse()


@given(st.text(alphabet="٠١٢٣٤٥٦٧٨٩", min_size=4, max_size=4))
def test_expiry_digits_must_be_ascii(year: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_expiry(f"{year}-01-01T00:00:00Z")
