"""Identifiers of the ThreadDB engine: names, thread IDs, thread keys and ULID instance IDs.

Generated instance IDs are ULIDs (48-bit millisecond time + 80 random bits, Crockford base32)
rendered lower-case, so lexical order follows creation order. IDs generated in the same
millisecond increment the random part, so they stay ordered within one process.
"""

from __future__ import annotations

import os
import re
import threading
import time

from bucketfs.auth.threadid import ThreadID
from bucketfs.errors import InvalidArgument

NAME_RE = re.compile(r"^[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*$")
NAME_ERROR = (
    "name may only contain alphanumeric characters or non-consecutive hyphens, "
    "and cannot begin or end with a hyphen"
)
KEY_HALF = 32

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
_ulid_lock = threading.Lock()
_ulid_last = (0, 0)


def check_name(name: str) -> None:
    """Raise InvalidArgument (wire code UNKNOWN) unless ``name`` is a valid DB/collection name."""
    if not NAME_RE.match(name):
        raise InvalidArgument(NAME_ERROR, wire_code="UNKNOWN")


def check_db_id(db_id: bytes) -> None:
    """Validate thread ID bytes (version 0x01, variant Raw/AccessControlled, ≥1 random byte)."""
    ThreadID.from_bytes(bytes(db_id))


def check_thread_key(key: bytes | None) -> bytes:
    """Return the thread key to store: random if absent; a service key alone is refused."""
    if not key:
        return os.urandom(2 * KEY_HALF)
    if len(key) == KEY_HALF:
        raise InvalidArgument("thread read key is required", wire_code="UNKNOWN")
    if len(key) != 2 * KEY_HALF:
        raise InvalidArgument(f"invalid thread key: {len(key)} bytes, want {2 * KEY_HALF}")
    return bytes(key)


def new_ulid() -> str:
    """A new lower-case ULID, monotonic within this process."""
    global _ulid_last
    with _ulid_lock:
        ms = time.time_ns() // 1_000_000
        last_ms, last_rand = _ulid_last
        if ms <= last_ms:
            ms, rand = last_ms, last_rand + 1
            if rand >= 1 << 80:
                ms, rand = ms + 1, int.from_bytes(os.urandom(10), "big") >> 1
        else:
            rand = int.from_bytes(os.urandom(10), "big") >> 1  # leave room to increment
        _ulid_last = (ms, rand)
    value = (ms << 80) | rand
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))
