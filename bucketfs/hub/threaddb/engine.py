"""The hub's ThreadDB engine: databases, collections, instances, queries, transactions, listen.

Synchronous and thread-safe; the gRPC servicers call it from grpcio's thread pool. Errors are
``bucketfs.errors`` classes carrying the WIRE.md §3.8 texts. (Skeleton: bodies follow.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bucketfs.hub.threaddb.listen import Listener, ListenerOverflow, ListenEvent, ListenFilter

if TYPE_CHECKING:
    from bucketfs.hub.store import MetadataStore

__all__ = [
    "CollectionConfig",
    "DBInfo",
    "Engine",
    "IndexConfig",
    "ListenEvent",
    "ListenFilter",
    "Listener",
    "ListenerOverflow",
    "ReadTransaction",
    "WriteTransaction",
]


@dataclass(frozen=True)
class IndexConfig:
    path: str
    unique: bool = False


@dataclass(frozen=True)
class CollectionConfig:
    name: str
    schema: bytes
    indexes: tuple[IndexConfig, ...] = ()
    write_validator: str = ""
    read_filter: str = ""


@dataclass(frozen=True)
class DBInfo:
    db_id: bytes
    name: str
    owner: str
    api_key: str
    key: bytes
    created_at: int


class WriteTransaction:
    def create(self, instances: Sequence[bytes]) -> list[str]:
        raise NotImplementedError

    def save(self, instances: Sequence[bytes]) -> None:
        raise NotImplementedError

    def delete(self, instance_ids: Sequence[str]) -> None:
        raise NotImplementedError

    def verify(self, instances: Sequence[bytes]) -> None:
        raise NotImplementedError

    def has(self, instance_ids: Sequence[str]) -> bool:
        raise NotImplementedError

    def find(self, query_json: bytes) -> list[bytes]:
        raise NotImplementedError

    def find_by_id(self, instance_id: str) -> bytes:
        raise NotImplementedError

    def commit(self) -> None:
        raise NotImplementedError

    def discard(self) -> None:
        raise NotImplementedError


class ReadTransaction:
    def has(self, instance_ids: Sequence[str]) -> bool:
        raise NotImplementedError

    def find(self, query_json: bytes) -> list[bytes]:
        raise NotImplementedError

    def find_by_id(self, instance_id: str) -> bytes:
        raise NotImplementedError


class Engine:
    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    def new_db(
        self,
        db_id: bytes,
        *,
        name: str,
        owner: str,
        api_key: str,
        collections: Sequence[CollectionConfig] = (),
        key: bytes | None = None,
    ) -> DBInfo:
        raise NotImplementedError

    def get_db(self, db_id: bytes) -> DBInfo:
        raise NotImplementedError

    def find_db_by_name(self, owner: str, name: str) -> DBInfo:
        raise NotImplementedError

    def list_dbs(self, owner: str) -> list[DBInfo]:
        raise NotImplementedError

    def delete_db(self, db_id: bytes) -> None:
        raise NotImplementedError

    def new_collection(self, db_id: bytes, config: CollectionConfig) -> None:
        raise NotImplementedError

    def update_collection(self, db_id: bytes, config: CollectionConfig) -> None:
        raise NotImplementedError

    def delete_collection(self, db_id: bytes, name: str) -> None:
        raise NotImplementedError

    def get_collection(self, db_id: bytes, name: str) -> CollectionConfig:
        raise NotImplementedError

    def list_collections(self, db_id: bytes) -> list[CollectionConfig]:
        raise NotImplementedError

    def create(
        self, db_id: bytes, collection: str, instances: Sequence[bytes], writer: str = ""
    ) -> list[str]:
        raise NotImplementedError

    def save(
        self, db_id: bytes, collection: str, instances: Sequence[bytes], writer: str = ""
    ) -> None:
        raise NotImplementedError

    def verify(
        self, db_id: bytes, collection: str, instances: Sequence[bytes], writer: str = ""
    ) -> None:
        raise NotImplementedError

    def delete(
        self, db_id: bytes, collection: str, instance_ids: Sequence[str], writer: str = ""
    ) -> None:
        raise NotImplementedError

    def has(
        self, db_id: bytes, collection: str, instance_ids: Sequence[str], reader: str = ""
    ) -> bool:
        raise NotImplementedError

    def find(
        self, db_id: bytes, collection: str, query_json: bytes, reader: str = ""
    ) -> list[bytes]:
        raise NotImplementedError

    def find_by_id(
        self, db_id: bytes, collection: str, instance_id: str, reader: str = ""
    ) -> bytes:
        raise NotImplementedError

    def write_transaction(
        self, db_id: bytes, collection: str, writer: str = ""
    ) -> WriteTransaction:
        raise NotImplementedError

    def read_transaction(self, db_id: bytes, collection: str, reader: str = "") -> ReadTransaction:
        raise NotImplementedError

    def listen(self, db_id: bytes, filters: Sequence[ListenFilter], reader: str = "") -> Listener:
        raise NotImplementedError
