"""Thread tokens (WIRE.md §2.6): compact JWS signed with the hub host's Ed25519 key.

Header ``{"alg":"Ed25519","typ":"JWT"}`` (the non-standard alg name upstream uses), claims
``{"iat":…,"iss":<host public key>,"sub":<client public key>}`` with no expiry: tokens never expire.
Parts are base64url without padding; the signature covers the ASCII ``header.payload``. The JSON is
written compactly in the same byte order as the Go hub writes it.

Errors carry the go-threads texts (code UNKNOWN on the wire): :class:`TokenMalformed`
(``thread token not found``) when the token cannot be parsed, :class:`TokenInvalid`
(``invalid thread token``) when it parses but is not a valid token of this host.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from bucketfs.auth.identity import Identity, PublicKey
from bucketfs.errors import InvalidArgument, Unauthenticated

ALG = "Ed25519"
_HEADER = {"alg": ALG, "typ": "JWT"}
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class TokenMalformed(Unauthenticated):
    """The thread token cannot be parsed; ``detail`` says why."""

    def __init__(self, detail: str = "") -> None:
        super().__init__("thread token not found", wire_code="UNKNOWN")
        self.detail = detail or "malformed token"


class TokenInvalid(Unauthenticated):
    """The thread token is not valid for this host; ``detail`` says why."""

    def __init__(self, detail: str = "") -> None:
        super().__init__("invalid thread token", wire_code="UNKNOWN")
        self.detail = detail or "invalid token"


@dataclass(frozen=True)
class TokenClaims:
    """What a token says: ``issuer`` (host key string), ``subject`` (client key string), ``iat``."""

    issuer: str
    subject: str
    issued_at: int

    @property
    def subject_key(self) -> PublicKey:
        """The subject as a public key (raises InvalidArgument when it is not one)."""
        return PublicKey.from_string(self.subject)


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _b64decode(part: str) -> bytes:
    if not _B64URL.fullmatch(part) or len(part) % 4 == 1:
        raise TokenMalformed("token part is not base64url")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TokenMalformed(f"token part is not base64url: {exc}") from None


def _json_part(part: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64decode(part))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TokenMalformed(f"token {what} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise TokenMalformed(f"token {what} is not a JSON object")
    return value


def _compact(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def issue_token(host: Identity, subject: PublicKey, issued_at: int | None = None) -> str:
    """Mint a token for ``subject``, signed by the hub ``host`` identity."""
    iat = int(time.time()) if issued_at is None else int(issued_at)
    claims = {"iat": iat, "iss": str(host.public_key), "sub": str(subject)}
    signing_input = f"{_b64encode(_compact(_HEADER))}.{_b64encode(_compact(claims))}"
    return f"{signing_input}.{_b64encode(host.sign(signing_input.encode('ascii')))}"


def _split(token: str) -> tuple[dict[str, Any], TokenClaims, str, bytes]:
    """Parse without verifying: ``(header, claims, signing input, signature)``."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenMalformed("token does not have three parts")
    header = _json_part(parts[0], "header")
    payload = _json_part(parts[1], "claims")
    signature = _b64decode(parts[2])
    iat = payload.get("iat", 0)
    if isinstance(iat, float) and iat.is_integer():
        iat = int(iat)
    if isinstance(iat, bool) or not isinstance(iat, int):
        raise TokenMalformed("token iat is not an integer")
    issuer, subject = payload.get("iss", ""), payload.get("sub", "")
    if not isinstance(issuer, str) or not isinstance(subject, str):
        raise TokenMalformed("token iss/sub are not strings")
    claims = TokenClaims(issuer=issuer, subject=subject, issued_at=iat)
    return header, claims, f"{parts[0]}.{parts[1]}", signature


def parse_token_unverified(token: str) -> TokenClaims:
    """The claims of a well-formed token, without checking its signature (the hub's user-key
    step does this only to find the account; real checks are :func:`verify_token`)."""
    return _split(token)[1]


def verify_token(token: str, host_public: PublicKey, now: int | None = None) -> TokenClaims:
    """Check ``token`` was issued by ``host_public`` and is usable now; return its claims.

    Rejected (:class:`TokenInvalid`): an alg other than ``Ed25519``, a bad signature, ``iat`` in
    the future (as jwt-go does, no leeway), a subject that is not a public key.
    """
    header, claims, signing_input, signature = _split(token)
    if header.get("alg") != ALG:
        raise TokenInvalid(f"token alg {header.get('alg')!r} is not {ALG}")
    if not host_public.verify(signing_input.encode("ascii"), signature):
        raise TokenInvalid("token signature is not the host's")
    current = int(time.time()) if now is None else now
    if claims.issued_at > current:
        raise TokenInvalid("token used before issued")
    try:
        claims.subject_key  # noqa: B018 - parsing is the check
    except InvalidArgument as exc:
        raise TokenInvalid(f"token subject is not a public key: {exc.message}") from None
    return claims
