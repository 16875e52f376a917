"""Thread tokens (WIRE.md §2.6) and the GetToken challenge (§2.5): format, checks, tampering."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bucketfs.auth.challenge import (
    CHALLENGE_SIZE,
    ChallengeFailed,
    answer_challenge,
    check_challenge,
    new_challenge,
)
from bucketfs.auth.identity import Identity
from bucketfs.auth.token import (
    TokenClaims,
    TokenInvalid,
    TokenMalformed,
    issue_token,
    parse_token_unverified,
    verify_token,
)
from bucketfs.errors import Unauthenticated

HOST = Identity.from_seed(bytes(range(32)))
CLIENT = Identity.from_seed(bytes(range(32, 64)))
IAT = 1_700_000_000


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def forge(header: object, claims: object, signer: Identity = HOST) -> str:
    """A token with arbitrary header/claims, signed properly by ``signer``."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(signer.sign(signing_input.encode()))}"


def test_token_layout_matches_the_wire_contract() -> None:
    token = issue_token(HOST, CLIENT.public_key, issued_at=IAT)
    header, payload, signature = token.split(".")
    assert "=" not in token
    assert unb64(header) == b'{"alg":"Ed25519","typ":"JWT"}'
    assert json.loads(unb64(payload)) == {
        "iat": IAT,
        "iss": str(HOST.public_key),
        "sub": str(CLIENT.public_key),
    }
    assert list(json.loads(unb64(payload))) == ["iat", "iss", "sub"]
    # checked with an independent Ed25519 implementation
    Ed25519PublicKey.from_public_bytes(HOST.public_key.raw).verify(
        unb64(signature), f"{header}.{payload}".encode()
    )


def test_issue_and_verify_round_trip() -> None:
    token = issue_token(HOST, CLIENT.public_key)
    claims = verify_token(token, HOST.public_key)
    assert claims.subject == str(CLIENT.public_key) and claims.issuer == str(HOST.public_key)
    assert claims.subject_key == CLIENT.public_key
    assert parse_token_unverified(token) == claims
    fixed = verify_token(issue_token(HOST, CLIENT.public_key, IAT), HOST.public_key, now=IAT)
    assert fixed == TokenClaims(str(HOST.public_key), str(CLIENT.public_key), IAT)


def test_token_from_another_host_is_invalid() -> None:
    token = issue_token(Identity.generate(), CLIENT.public_key)
    with pytest.raises(TokenInvalid, match="invalid thread token"):
        verify_token(token, HOST.public_key)
    assert parse_token_unverified(token).subject == str(CLIENT.public_key)


def test_tampered_payload_is_invalid() -> None:
    header, _, signature = issue_token(HOST, CLIENT.public_key, IAT).split(".")
    other = {"iat": IAT, "iss": str(HOST.public_key), "sub": str(Identity.generate().public_key)}
    tampered = f"{header}.{b64(json.dumps(other, separators=(',', ':')).encode())}.{signature}"
    with pytest.raises(TokenInvalid):
        verify_token(tampered, HOST.public_key)


def test_tampered_signature_is_invalid() -> None:
    header, payload, signature = issue_token(HOST, CLIENT.public_key, IAT).split(".")
    raw = bytearray(unb64(signature))
    raw[10] ^= 0x01
    with pytest.raises(TokenInvalid):
        verify_token(f"{header}.{payload}.{b64(bytes(raw))}", HOST.public_key)
    with pytest.raises(TokenInvalid):
        verify_token(f"{header}.{payload}.{b64(bytes(raw[:32]))}", HOST.public_key)
    with pytest.raises(TokenInvalid):
        verify_token(f"{header}.{payload}.", HOST.public_key)


@pytest.mark.parametrize("alg", ["EdDSA", "HS256", "none", "", None])
def test_wrong_alg_is_invalid(alg: object) -> None:
    claims = {"iat": IAT, "iss": str(HOST.public_key), "sub": str(CLIENT.public_key)}
    token = forge({"alg": alg, "typ": "JWT"}, claims)
    with pytest.raises(TokenInvalid, match="invalid thread token"):
        verify_token(token, HOST.public_key)


def test_future_iat_is_rejected_without_leeway() -> None:
    token = issue_token(HOST, CLIENT.public_key, issued_at=IAT)
    with pytest.raises(TokenInvalid):
        verify_token(token, HOST.public_key, now=IAT - 1)
    assert verify_token(token, HOST.public_key, now=IAT).issued_at == IAT
    assert verify_token(token, HOST.public_key, now=IAT + 10**6).issued_at == IAT


def test_missing_iat_is_accepted_as_zero_but_bad_subject_is_not() -> None:
    token = forge({"alg": "Ed25519"}, {"iss": str(HOST.public_key), "sub": str(CLIENT.public_key)})
    assert verify_token(token, HOST.public_key).issued_at == 0
    for subject in ("", "not-a-key", str(HOST.public_key)[:-3]):
        bad = forge({"alg": "Ed25519"}, {"iat": IAT, "sub": subject})
        with pytest.raises(TokenInvalid):
            verify_token(bad, HOST.public_key)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "!!.e30.",
        f"{b64(b'not json')}.{b64(b'{}')}.",
        f"{b64(b'[1]')}.{b64(b'{}')}.",
        f"{b64(b'{}')}.{b64(b'{')}.",
        f"{b64(b'{}')}.{b64(json.dumps({'iat': 'yesterday'}).encode())}.",
        f"{b64(b'{}')}.{b64(json.dumps({'iat': 1.5}).encode())}.",
        f"{b64(b'{}')}.{b64(json.dumps({'iat': True}).encode())}.",
        f"{b64(b'{}')}.{b64(json.dumps({'sub': 7}).encode())}.",
        f"{b64(b'{}')}.{b64(b'{}')}.a",
        b64(b"{}") + "." + b64(bytes([0xFF])) + ".",
        b64(b"{}") + "." + b64(b'{"iat": NaN}') + ".",
        b64(b"{}") + "." + b64(b'{"iat": Infinity}') + ".",
    ],
)
def test_malformed_tokens(token: str) -> None:
    with pytest.raises(TokenMalformed, match="thread token not found"):
        parse_token_unverified(token)
    with pytest.raises(TokenMalformed):
        verify_token(token, HOST.public_key)


def test_token_errors_carry_wire_code_unknown() -> None:
    for cls in (TokenMalformed, TokenInvalid, ChallengeFailed):
        assert issubclass(cls, Unauthenticated)
        error = cls()
        assert error.wire_code == "UNKNOWN" and error.detail
    assert not issubclass(TokenMalformed, TokenInvalid)
    assert not issubclass(TokenInvalid, TokenMalformed)


def test_challenge_exchange() -> None:
    challenge = new_challenge()
    assert len(challenge) == CHALLENGE_SIZE and challenge != new_challenge()
    answer = answer_challenge(CLIENT, challenge)
    check_challenge(CLIENT.public_key, challenge, answer)
    with pytest.raises(ChallengeFailed, match="bad signature"):
        check_challenge(HOST.public_key, challenge, answer)
    with pytest.raises(ChallengeFailed):
        check_challenge(CLIENT.public_key, new_challenge(), answer)
    with pytest.raises(ChallengeFailed):
        check_challenge(CLIENT.public_key, challenge, answer[:-1])
    with pytest.raises(ChallengeFailed):
        check_challenge(CLIENT.public_key, b"", answer_challenge(CLIENT, b""))
