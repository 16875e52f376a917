"""API keys, secrets and the API signature headers (WIRE.md §2.2).

A client holding a *secure* API key proves it knows the secret on every call by sending
``x-textile-api-sig`` = multibase base32 of HMAC-SHA256(multibase-decode(secret), msg), where
``msg`` (sent as ``x-textile-api-sig-msg``) is an RFC 3339 instant in the future. The hub accepts
the call while that instant has not passed. :func:`api_key_metadata` builds fresh headers on every
call, so a long-lived mount never sends an expired signature.

Verification failures raise distinct subclasses of :class:`~bucketfs.errors.Unauthenticated`
whose message is the text the hub must send (``API key signature required`` for a missing
signature, ``Bad API key signature`` otherwise); ``detail`` says what exactly was wrong, for logs.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime, timedelta

from bucketfs.errors import InvalidArgument, Unauthenticated
from bucketfs.ipfs import multibase

API_KEY_HEADER = "x-textile-api-key"
API_SIG_HEADER = "x-textile-api-sig"
API_SIG_MSG_HEADER = "x-textile-api-sig-msg"

API_KEY_BYTES = 16
API_SECRET_BYTES = 24
SESSION_ID_BYTES = 44

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)


class ApiSignatureError(Unauthenticated):
    """Base class of the API signature failures; ``detail`` says what was wrong."""

    wire_message = "Bad API key signature"

    def __init__(self, detail: str = "") -> None:
        super().__init__(self.wire_message, wire_code="UNAUTHENTICATED")
        self.detail = detail or (self.__class__.__doc__ or "").strip()


class SignatureMissing(ApiSignatureError):
    """The call carries no API signature or no signed message."""

    wire_message = "API key signature required"


class SignatureMalformed(ApiSignatureError):
    """The signature is not multibase, or the signed message is not an RFC 3339 time."""


class SignatureExpired(ApiSignatureError):
    """The signed expiry time is not after now."""


class SignatureMismatch(ApiSignatureError):
    """The signature was not made with the key's secret over the signed message."""


def _random_id(size: int) -> str:
    return multibase.encode(secrets.token_bytes(size))


def new_api_key() -> str:
    """A fresh API key: base32 multibase of 16 random bytes (27 characters)."""
    return _random_id(API_KEY_BYTES)


def new_api_secret() -> str:
    """A fresh API secret: base32 multibase of 24 random bytes (40 characters)."""
    return _random_id(API_SECRET_BYTES)


def new_session_id() -> str:
    """A fresh session ID: base32 multibase of 44 random bytes (72 characters)."""
    return _random_id(SESSION_ID_BYTES)


def format_expiry(expiry: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, as the JS client writes it: ``2030-01-01T00:00:00.000Z``."""
    if expiry.tzinfo is None or expiry.utcoffset() is None:
        raise InvalidArgument("API signature expiry must be a timezone-aware datetime")
    utc = expiry.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_expiry(msg: str) -> datetime:
    """Parse an RFC 3339 date-time (any offset, up to nanosecond fractions) to an aware datetime."""
    match = _RFC3339.fullmatch(msg)
    if not match:
        raise InvalidArgument(f"not an RFC 3339 date-time: {msg!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    micros = int((match.group(7) or "0").ljust(6, "0")[:6])
    offset = timedelta(0)
    if match.group(9):
        offset = timedelta(hours=int(match.group(10)), minutes=int(match.group(11)))
        if match.group(9) == "-":
            offset = -offset
    try:
        return datetime(year, month, day, hour, minute, second, micros, tzinfo=UTC) - offset
    except (ValueError, OverflowError) as exc:
        raise InvalidArgument(f"not an RFC 3339 date-time: {msg!r} ({exc})") from None


def _mac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def create_api_sig(secret: str, expiry: datetime) -> tuple[str, str]:
    """Sign ``expiry`` with ``secret``; returns ``(sig, msg)`` for the two signature headers."""
    msg = format_expiry(expiry)
    return multibase.encode(_mac(multibase.decode(secret), msg)), msg


def api_key_metadata(
    key: str, secret: str | None, ttl: timedelta = timedelta(minutes=30)
) -> list[tuple[str, str]]:
    """gRPC metadata for an API key, signed afresh (expiring ``ttl`` from now) on every call.

    With no secret (``None`` or ``""``: an insecure key) only ``x-textile-api-key`` is sent.
    """
    metadata = [(API_KEY_HEADER, key)]
    if secret:
        sig, msg = create_api_sig(secret, datetime.now(UTC) + ttl)
        metadata += [(API_SIG_HEADER, sig), (API_SIG_MSG_HEADER, msg)]
    return metadata


def verify_api_sig(secret: str, sig: str, msg: str, now: datetime | None = None) -> None:
    """Check a received signature, as the hub does for secure keys; returns None when valid.

    Order of checks, as upstream: both headers present, both well-formed, ``msg`` after ``now``,
    then the HMAC compared in constant time.
    """
    if not sig or not msg:
        raise SignatureMissing("x-textile-api-sig or x-textile-api-sig-msg is missing")
    try:
        received = multibase.decode(sig)
        expiry = parse_expiry(msg)
        key = multibase.decode(secret)
    except InvalidArgument as exc:
        raise SignatureMalformed(exc.message) from None
    current = now if now is not None else datetime.now(UTC)
    if current.tzinfo is None:
        raise InvalidArgument("'now' must be a timezone-aware datetime")
    if not expiry > current:
        raise SignatureExpired(f"signature expired at {msg}")
    if not hmac.compare_digest(received, _mac(key, msg)):
        raise SignatureMismatch("signature does not match the key's secret")
