"""Thread tokens on disk, keyed by hub address + API key + identity (DESIGN.md §3, §6).

The cache is one JSON file (``paths.token_cache_file()``, mode 0600, directory 0700)::

    {"version": 1, "tokens": [{"hub": …, "api_key": …, "identity": …, "token": …}, …]}

Writers take an exclusive ``flock`` on a sibling ``.lock`` file, re-read the file, change it and
replace it atomically (write-then-rename), so two mounts updating the cache at once never lose
each other's entries; readers need no lock because a rename is atomic. A file that cannot be
parsed is reported in the log (on each read) and treated as empty (the next ``put`` rewrites it): a broken
cache costs one GetToken, never a mount. Tokens are bearer credentials and never reach the log.

All methods do small blocking file I/O; call them from a worker thread in async code.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bucketfs.auth.identity import Identity, PublicKey
from bucketfs.auth.privatefile import PRIVATE_FILE_MODE, ensure_private_dir, write_private

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_FIELDS = ("hub", "api_key", "identity", "token")


def _identity_key(identity: PublicKey | Identity) -> str:
    """The cache key of an identity: its public key string (an ``Identity`` is reduced to its
    public key, so that its ``<redacted>`` string form can never become a key)."""
    if isinstance(identity, Identity):
        identity = identity.public_key
    if not isinstance(identity, PublicKey):
        raise TypeError(f"token cache identity must be a PublicKey, not {type(identity).__name__}")
    return str(identity)


def _valid_entry(entry: Any) -> bool:
    return isinstance(entry, dict) and all(isinstance(entry.get(f), str) for f in _FIELDS)


class TokenCache:
    """The on-disk token cache at ``path``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")

    def get(self, hub: str, api_key: str, identity: PublicKey | Identity) -> str | None:
        """The cached token for this hub, API key and identity, or None."""
        wanted = (hub, api_key, _identity_key(identity))
        for entry in self._read():
            if (entry["hub"], entry["api_key"], entry["identity"]) == wanted:
                return str(entry["token"])
        return None

    def put(self, hub: str, api_key: str, identity: PublicKey | Identity, token: str) -> None:
        """Remember ``token`` (replacing any earlier one for the same triple)."""
        entry = {
            "hub": hub,
            "api_key": api_key,
            "identity": _identity_key(identity),
            "token": token,
        }
        with self._locked():
            entries = self._without(self._read(), hub, api_key, identity)
            self._write([*entries, entry])

    def forget(self, hub: str, api_key: str, identity: PublicKey | Identity) -> None:
        """Drop the token for this triple (e.g. after the hub rejected it); no-op when absent."""
        with self._locked():
            entries = self._read()
            kept = self._without(entries, hub, api_key, identity)
            if len(kept) != len(entries):
                self._write(kept)

    @staticmethod
    def _without(
        entries: list[dict[str, str]], hub: str, api_key: str, identity: PublicKey | Identity
    ) -> list[dict[str, str]]:
        key = (hub, api_key, _identity_key(identity))
        return [e for e in entries if (e["hub"], e["api_key"], e["identity"]) != key]

    @contextmanager
    def _locked(self) -> Iterator[None]:
        ensure_private_dir(self.path.parent)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _read(self) -> list[dict[str, str]]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            log.warning("token cache %s cannot be read (%s); ignoring it", self.path, exc)
            return []
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
                raise ValueError(f"not a version {FORMAT_VERSION} token cache")
            entries = data["tokens"]
            if not isinstance(entries, list) or not all(_valid_entry(e) for e in entries):
                raise ValueError("malformed token entries")
        except (ValueError, KeyError, UnicodeDecodeError) as exc:
            log.warning("token cache %s is corrupt (%s); treating it as empty", self.path, exc)
            return []
        return [{f: e[f] for f in _FIELDS} for e in entries]

    def _write(self, entries: list[dict[str, str]]) -> None:
        data = {"version": FORMAT_VERSION, "tokens": entries}
        write_private(self.path, json.dumps(data, indent=1).encode("utf-8") + b"\n")
