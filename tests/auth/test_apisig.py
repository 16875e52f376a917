"""API keys and signatures (WIRE.md §2.2): the vector, fresh metadata, every verification failure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bucketfs.auth import apisig
from bucketfs.auth.apisig import (
    SignatureExpired,
    SignatureMalformed,
    SignatureMismatch,
    SignatureMissing,
    api_key_metadata,
    create_api_sig,
    verify_api_sig,
)
from bucketfs.errors import InvalidArgument, Unauthenticated
from bucketfs.ipfs import multibase

SECRET = "bb2omaw3ong6qc24alx5oscwkqj5iorcwjzxoi2y"
MSG = "2030-01-01T00:00:00.000Z"
SIG = "bx4yyc23w5x7gpxloiqmn4dayy3wwuhn4bbzthhy77tviaiosouea"
BEFORE = datetime(2029, 12, 31, 23, 59, 59, tzinfo=UTC)


def test_wire_vector() -> None:
    assert create_api_sig(SECRET, datetime(2030, 1, 1, tzinfo=UTC)) == (SIG, MSG)
    verify_api_sig(SECRET, SIG, MSG, now=BEFORE)


def test_expiry_in_other_zone_is_written_in_utc_with_milliseconds() -> None:
    plus_one = timezone(timedelta(hours=1))
    sig, msg = create_api_sig(SECRET, datetime(2030, 1, 1, 1, 0, 0, 123456, tzinfo=plus_one))
    assert msg == "2030-01-01T00:00:00.123Z"
    verify_api_sig(SECRET, sig, msg, now=BEFORE)


def test_naive_expiry_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="timezone-aware"):
        create_api_sig(SECRET, datetime(2030, 1, 1))


def test_generated_ids_have_the_upstream_shape() -> None:
    for make, size, length in (
        (apisig.new_api_key, 16, 27),
        (apisig.new_api_secret, 24, 40),
        (apisig.new_session_id, 44, 72),
    ):
        values = {make() for _ in range(50)}
        assert len(values) == 50
        for value in values:
            assert len(value) == length and value.startswith("b") and value == value.lower()
            assert len(multibase.decode(value)) == size


def test_metadata_is_fresh_and_verifiable() -> None:
    key, secret = apisig.new_api_key(), apisig.new_api_secret()
    first = dict(api_key_metadata(key, secret))
    assert set(first) == {"x-textile-api-key", "x-textile-api-sig", "x-textile-api-sig-msg"}
    assert first["x-textile-api-key"] == key
    expiry = apisig.parse_expiry(first["x-textile-api-sig-msg"])
    assert timedelta(minutes=29) < expiry - datetime.now(UTC) <= timedelta(minutes=30)
    verify_api_sig(secret, first["x-textile-api-sig"], first["x-textile-api-sig-msg"])
    later = dict(api_key_metadata(key, secret, ttl=timedelta(hours=2)))
    assert later["x-textile-api-sig-msg"] > first["x-textile-api-sig-msg"]
    assert later["x-textile-api-sig"] != first["x-textile-api-sig"]


def test_insecure_key_metadata_has_only_the_key() -> None:
    assert api_key_metadata("bkey", None) == [("x-textile-api-key", "bkey")]
    assert api_key_metadata("bkey", "") == [("x-textile-api-key", "bkey")]


def test_go_style_offsets_and_nanoseconds_are_accepted() -> None:
    key = multibase.decode(SECRET)
    for msg in (
        "2030-01-01T01:00:00+01:00",
        "2030-01-01T00:00:00.123456789Z",
        "2030-01-01t00:00:00z",
    ):
        sig = multibase.encode(apisig._mac(key, msg))
        verify_api_sig(SECRET, sig, msg, now=BEFORE)
    assert apisig.parse_expiry("2030-01-01T01:00:00+01:00") == datetime(2030, 1, 1, tzinfo=UTC)
    assert apisig.parse_expiry("2029-12-31T19:30:00-04:30") == datetime(2030, 1, 1, tzinfo=UTC)


def test_any_multibase_signature_is_accepted() -> None:
    raw = multibase.decode(SIG)
    verify_api_sig(SECRET, multibase.encode(raw, "base58btc"), MSG, now=BEFORE)
    verify_api_sig(SECRET, multibase.encode(raw, "base16"), MSG, now=BEFORE)


@pytest.mark.parametrize(("sig", "msg"), [("", MSG), (SIG, ""), ("", "")])
def test_missing(sig: str, msg: str) -> None:
    with pytest.raises(SignatureMissing) as info:
        verify_api_sig(SECRET, sig, msg, now=BEFORE)
    assert info.value.message == "API key signature required"


@pytest.mark.parametrize(
    ("sig", "msg"),
    [
        ("x" + SIG[1:], MSG),
        ("b!!!", MSG),
        (SIG, "2030-01-01"),
        (SIG, "2030-01-01 00:00:00Z"),
        (SIG, "2030-02-30T00:00:00Z"),
        (SIG, "2030-01-01T00:00:00"),
        (SIG, "2030-01-01T00:00:00.Z"),
        (SIG, "tomorrow"),
    ],
)
def test_malformed(sig: str, msg: str) -> None:
    with pytest.raises(SignatureMalformed) as info:
        verify_api_sig(SECRET, sig, msg, now=BEFORE)
    assert info.value.message == "Bad API key signature"


def test_expired() -> None:
    with pytest.raises(SignatureExpired):
        verify_api_sig(SECRET, SIG, MSG, now=datetime(2030, 1, 1, tzinfo=UTC))
    with pytest.raises(SignatureExpired):
        verify_api_sig(SECRET, SIG, MSG, now=datetime(2031, 1, 1, tzinfo=UTC))
    sig, msg = create_api_sig(SECRET, datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(SignatureExpired, match="Bad API key signature"):
        verify_api_sig(SECRET, sig, msg)


def test_wrong_secret_and_tampered_message() -> None:
    with pytest.raises(SignatureMismatch):
        verify_api_sig(apisig.new_api_secret(), SIG, MSG, now=BEFORE)
    with pytest.raises(SignatureMismatch):
        verify_api_sig(SECRET, SIG, "2030-01-01T00:00:00.001Z", now=BEFORE)
    with pytest.raises(SignatureMismatch):
        verify_api_sig(SECRET, multibase.encode(multibase.decode(SIG)[:31]), MSG, now=BEFORE)


def test_secret_bytes_not_ascii_are_the_hmac_key() -> None:
    ascii_keyed = multibase.encode(apisig._mac(SECRET.encode(), MSG))
    with pytest.raises(SignatureMismatch):
        verify_api_sig(SECRET, ascii_keyed, MSG, now=BEFORE)


def test_failures_are_distinct_unauthenticated_errors() -> None:
    classes = [SignatureMissing, SignatureMalformed, SignatureExpired, SignatureMismatch]
    for cls in classes:
        assert issubclass(cls, Unauthenticated)
        assert [other for other in classes if issubclass(cls, other)] == [cls]
        error = cls()
        assert error.detail and error.wire_code == "UNAUTHENTICATED"
