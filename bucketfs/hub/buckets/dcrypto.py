"""The "dcrypto v1" cipher of private buckets (WIRE §4.6): AES-256-CTR + HMAC-SHA512.

A 64-byte key: the first 32 bytes are the AES-256 key, the last 32 the HMAC-SHA512 key.
Ciphertext layout::

    uint32 LE version (0) ‖ IV (16 random bytes) ‖ AES-256-CTR(plaintext) ‖ HMAC-SHA512(IV ‖ ct)

The version prefix is not authenticated; overhead is :data:`OVERHEAD` (84) bytes. Both directions
are streaming (:class:`Encryptor`, :class:`Decryptor`) so that large files are never held in
memory. :func:`decrypt_range` decrypts a byte range without the MAC (AES-CTR is seekable); callers
that use it rely on the content addresses of the stored blocks for integrity.
"""

from __future__ import annotations

import hmac
import os
import struct
from hashlib import sha512

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from bucketfs.errors import CorruptData, InvalidArgument

KEY_SIZE = 64
IV_SIZE = 16
MAC_SIZE = 64
VERSION = 0
HEADER_SIZE = 4 + IV_SIZE
OVERHEAD = HEADER_SIZE + MAC_SIZE


def new_key() -> bytes:
    """A fresh random 64-byte key."""
    return os.urandom(KEY_SIZE)


def _check_key(key: bytes) -> None:
    if len(key) != KEY_SIZE:
        raise InvalidArgument(f"encryption key must be {KEY_SIZE} bytes, got {len(key)}")


def _ctr(key: bytes, iv: bytes) -> CipherContext:
    return Cipher(algorithms.AES(key[:32]), modes.CTR(iv)).decryptor()


def plain_size(cipher_size: int) -> int:
    """The plaintext length of a ciphertext of ``cipher_size`` bytes."""
    if cipher_size < OVERHEAD:
        raise CorruptData(f"ciphertext too short ({cipher_size} bytes)")
    return cipher_size - OVERHEAD


class Encryptor:
    """Streaming encryption: ``update`` for each plaintext chunk, then ``finalize`` once."""

    def __init__(self, key: bytes, iv: bytes | None = None) -> None:
        _check_key(key)
        self._iv = iv if iv is not None else os.urandom(IV_SIZE)
        self._cipher = Cipher(algorithms.AES(key[:32]), modes.CTR(self._iv)).encryptor()
        self._mac = hmac.new(key[32:], self._iv, sha512)
        self._header_sent = False

    def update(self, plaintext: bytes) -> bytes:
        out = self._cipher.update(plaintext)
        self._mac.update(out)
        if not self._header_sent:
            self._header_sent = True
            return struct.pack("<I", VERSION) + self._iv + out
        return out

    def finalize(self) -> bytes:
        head = b"" if self._header_sent else struct.pack("<I", VERSION) + self._iv
        self._header_sent = True
        tail = self._cipher.finalize()
        self._mac.update(tail)
        return head + tail + self._mac.digest()


class Decryptor:
    """Streaming decryption; holds back the trailing MAC and checks it in ``finalize``.

    Plaintext returned by ``update`` is released before the MAC is checked; callers that must
    not release unauthenticated data either verify first (:func:`verify`) or trust the
    ciphertext's content address.
    """

    def __init__(self, key: bytes) -> None:
        _check_key(key)
        self._key = key
        self._buf = b""
        self._cipher: CipherContext | None = None
        self._mac: hmac.HMAC | None = None

    def update(self, data: bytes) -> bytes:
        self._buf += data
        if self._cipher is None:
            if len(self._buf) < HEADER_SIZE:
                return b""
            (version,) = struct.unpack("<I", self._buf[:4])
            if version != VERSION:
                raise CorruptData(f"unsupported cipher version {version}")
            iv = self._buf[4:HEADER_SIZE]
            self._cipher = _ctr(self._key, iv)
            self._mac = hmac.new(self._key[32:], iv, sha512)
            self._buf = self._buf[HEADER_SIZE:]
        if len(self._buf) <= MAC_SIZE:
            return b""
        body, self._buf = self._buf[:-MAC_SIZE], self._buf[-MAC_SIZE:]
        assert self._mac is not None
        self._mac.update(body)
        return bytes(self._cipher.update(body))

    def finalize(self) -> bytes:
        if self._cipher is None or self._mac is None or len(self._buf) != MAC_SIZE:
            raise CorruptData("ciphertext truncated")
        if not hmac.compare_digest(self._mac.digest(), self._buf):
            raise CorruptData("ciphertext authentication failed (wrong key or damaged data)")
        return bytes(self._cipher.finalize())


def encrypt(key: bytes, plaintext: bytes) -> bytes:
    """Encrypt a small value in one call."""
    enc = Encryptor(key)
    return enc.update(plaintext) + enc.finalize()


def decrypt(key: bytes, ciphertext: bytes) -> bytes:
    """Decrypt a small value in one call; the MAC is verified before anything is returned."""
    dec = Decryptor(key)
    out = dec.update(ciphertext)
    return out + dec.finalize()


def verify_mac(key: bytes, chunks: object) -> None:
    """Check the MAC over a ciphertext given as an iterable of byte chunks, without decrypting."""
    _check_key(key)
    mac = hmac.new(key[32:], digestmod=sha512)
    head = b""
    tail = b""
    started = False
    for chunk in chunks:  # type: ignore[attr-defined]
        data = tail + chunk
        if not started:
            head += data
            if len(head) < HEADER_SIZE:
                tail = b""
                continue
            started = True
            mac.update(head[4:HEADER_SIZE])
            data = head[HEADER_SIZE:]
        tail = data[-MAC_SIZE:] if len(data) >= MAC_SIZE else data
        mac.update(data[: len(data) - len(tail)])
    if not started or len(tail) != MAC_SIZE:
        raise CorruptData("ciphertext truncated")
    if not hmac.compare_digest(mac.digest(), tail):
        raise CorruptData("ciphertext authentication failed (wrong key or damaged data)")


def decrypt_range(key: bytes, iv: bytes, offset: int, ciphertext: bytes) -> bytes:
    """Decrypt ``ciphertext`` taken from plaintext position ``offset`` of a stream with ``iv``."""
    _check_key(key)
    block, skip = divmod(offset, 16)
    counter = (int.from_bytes(iv, "big") + block) % (1 << 128)
    dec = Cipher(algorithms.AES(key[:32]), modes.CTR(counter.to_bytes(16, "big"))).decryptor()
    return dec.update(b"\0" * skip + ciphertext)[skip:]
