"""Multibase encoding: the base32 (``b``) form Textile uses everywhere, plus base58btc (``z``)
and base16 (``f``) for parsing. Decoding accepts any of the supported prefixes."""

from __future__ import annotations

import base64

from bucketfs.errors import InvalidArgument

_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58_ALPHABET)}


def b32encode(data: bytes) -> str:
    """Lower-case RFC 4648 base32 without padding (no multibase prefix)."""
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def b32decode(text: str) -> bytes:
    """Inverse of :func:`b32encode`; accepts either case, rejects bad characters."""
    padded = text.upper() + "=" * (-len(text) % 8)
    try:
        return base64.b32decode(padded)
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(f"invalid base32 text: {exc}") from exc


def b58encode(data: bytes) -> str:
    num = int.from_bytes(data, "big")
    out = ""
    while num:
        num, rem = divmod(num, 58)
        out = _B58_ALPHABET[rem] + out
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + out


def b58decode(text: str) -> bytes:
    num = 0
    for ch in text:
        if ch not in _B58_INDEX:
            raise InvalidArgument(f"invalid base58 character {ch!r}")
        num = num * 58 + _B58_INDEX[ch]
    pad = len(text) - len(text.lstrip("1"))
    body = num.to_bytes((num.bit_length() + 7) // 8, "big") if num else b""
    return b"\0" * pad + body


def encode(data: bytes, base: str = "base32") -> str:
    """Multibase-encode ``data``: ``base32`` (prefix ``b``, the default) or ``base58btc`` (``z``)."""
    if base == "base32":
        return "b" + b32encode(data)
    if base == "base58btc":
        return "z" + b58encode(data)
    if base == "base16":
        return "f" + data.hex()
    raise InvalidArgument(f"unsupported multibase {base!r}")


def decode(text: str) -> bytes:
    """Decode a multibase string (prefixes ``b``, ``B``, ``z``, ``f``, ``F``)."""
    if not text:
        raise InvalidArgument("empty multibase string")
    prefix, body = text[0], text[1:]
    if prefix in ("b", "B"):
        if prefix == "b" and body != body.lower():
            raise InvalidArgument("base32 multibase with prefix 'b' must be lower case")
        return b32decode(body)
    if prefix == "z":
        return b58decode(body)
    if prefix in ("f", "F"):
        try:
            return bytes.fromhex(body)
        except ValueError as exc:
            raise InvalidArgument(f"invalid base16 text: {exc}") from exc
    raise InvalidArgument(f"unsupported multibase prefix {prefix!r}")
