"""The bucket record: the JSON instance of ThreadDB collection ``buckets`` (WIRE §4.4).

:class:`Bucket` is the typed view of one instance; :func:`collection_config` is the collection the
hub creates on demand in a thread DB. Metadata entries are plain dicts as stored
(``{"roles": {pubkey|"*": 0..3}, "updated_at": ns, "key"?: base64 file key, "mode"?: int}``).
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from typing import Any

from bucketfs.errors import CorruptData
from bucketfs.ipfs import multibase

COLLECTION = "buckets"
VERSION = 1

SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Bucket",
    "type": "object",
    "properties": {
        "_id": {"type": "string"},
        "owner": {"type": "string"},
        "name": {"type": "string"},
        "version": {"type": "integer"},
        "key": {"type": "string"},
        "path": {"type": "string"},
        "metadata": {"type": "object", "additionalProperties": {"$ref": "#/definitions/Metadata"}},
        "archives": {"type": "object"},
        "created_at": {"type": "integer"},
        "updated_at": {"type": "integer"},
    },
    "required": ["_id", "owner", "name", "version", "path", "metadata", "created_at", "updated_at"],
    "definitions": {
        "Metadata": {
            "type": "object",
            "properties": {
                "key": {"type": "string"},
                "roles": {"type": "object", "additionalProperties": {"type": "integer"}},
                "updated_at": {"type": "integer"},
                "mode": {"type": "integer"},
            },
            "required": ["roles", "updated_at"],
        }
    },
}


def new_bucket_key() -> str:
    """A fresh bucket key shaped like an IPNS name: CIDv1, codec libp2p-key (0x72), sha2-256,
    base32 (``bafzbei…``, 59 characters). The digest is random: the hub does not publish IPNS."""
    raw = bytes([0x01, 0x72, 0x12, 0x20]) + os.urandom(32)
    return multibase.encode(raw)


@dataclass
class Bucket:
    key: str
    name: str
    owner: str
    thread: str
    path: str
    created_at: int
    updated_at: int
    version: int = VERSION
    link_key: str = ""
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    archives: dict[str, Any] = field(default_factory=dict)

    @property
    def private(self) -> bool:
        return bool(self.link_key)

    @property
    def root_cid_text(self) -> str:
        return self.path.removeprefix("/ipfs/")

    def link_key_bytes(self) -> bytes:
        return base64.b64decode(self.link_key)

    def file_key(self, path_ancestors: list[str]) -> bytes:
        """The file key of the nearest entry (exact path, then parents) that has one."""
        for anc in path_ancestors:
            entry = self.metadata.get(anc)
            if entry and entry.get("key"):
                return base64.b64decode(entry["key"])
        return self.link_key_bytes()

    def to_json(self) -> bytes:
        doc: dict[str, Any] = {
            "_id": self.key,
            "owner": self.owner,
            "name": self.name,
            "version": self.version,
            "path": self.path,
            "metadata": self.metadata,
            "archives": self.archives or {"current": {"cid": "", "deals": []}, "history": []},
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
        if self.link_key:
            doc["key"] = self.link_key
        return json.dumps(doc, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes, thread: str) -> Bucket:
        try:
            doc = json.loads(data)
            return cls(
                key=str(doc["_id"]),
                name=str(doc.get("name", "")),
                owner=str(doc.get("owner", "")),
                thread=thread,
                path=str(doc.get("path", "")),
                created_at=int(doc.get("created_at", 0)),
                updated_at=int(doc.get("updated_at", 0)),
                version=int(doc.get("version", 0)),
                link_key=str(doc.get("key", "") or ""),
                metadata={str(k): dict(v or {}) for k, v in (doc.get("metadata") or {}).items()},
                archives=dict(doc.get("archives") or {}),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptData(f"malformed bucket instance: {exc}") from exc
