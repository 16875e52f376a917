"""Per-node state of the ``threads/`` namespace and the local files behind writes.

Every node below ``threads/`` has a ``TMeta`` saying what it stands for (a DB, a collection, the
schema file, an instance, or a local temporary file). Written bytes live in a ``LocalFile`` in
the cache directory: the staging copy of an instance or schema open for writing, or the whole
content of a temporary file (a name that is not ``<_id>.json``). JSON documents are small, so a
commit reads the staged bytes whole.
"""

from __future__ import annotations

import enum
import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

_names = itertools.count(1)


class Role(enum.Enum):
    DB = "db"
    COLL = "collection"
    SCHEMA = "schema"
    INSTANCE = "instance"
    TEMP = "temporary file"


class LocalFile:
    """Bytes in a file of the mount's cache directory (removed on ``close``)."""

    def __init__(self, directory: Path, data: bytes = b"") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{os.getpid()}-{next(_names)}"
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        if data:
            os.pwrite(self.fd, data, 0)

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def read(self, off: int, size: int) -> bytes:
        return os.pread(self.fd, size, off)

    def write(self, off: int, data: bytes) -> int:
        return os.pwrite(self.fd, data, off)

    def truncate(self, size: int) -> None:
        os.ftruncate(self.fd, size)

    def data(self) -> bytes:
        return self.read(0, self.size())

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
            self.path.unlink(missing_ok=True)


@dataclass(slots=True)
class TMeta:
    """What one node below ``threads/`` stands for."""

    role: Role
    db: str  # thread ID of the DB
    coll: str = ""
    id: str = ""  # instance _id
    exists: bool = True  # the instance (or schema) is stored in the hub
    file: LocalFile | None = None  # TEMP content, or the staging copy of an open writer
    refs: int = 0  # handles using ``file``
    dirty: bool = False  # ``file`` has bytes the hub does not have
    failed: bool = False  # the last commit of ``file`` was refused
    #: this mount replaced the file by a rename or removed it: its descriptors' bytes are
    #: nobody's (a file the hub's events removed is not an orphan: its writer still commits)
    orphan: bool = False

    def drop_file(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        self.dirty = self.failed = False


@dataclass(slots=True)
class THandle:
    ino: int
    writable: bool
    snapshot: bytes | None  # what a read-only handle of a stored document reads


class ThreadDbApi(Protocol):
    """The ``bucketfs.remote.threads.ThreadsClient`` calls the namespace makes."""

    async def new_db(self, name: str) -> str: ...
    async def delete_db(self, db: str) -> None: ...
    async def new_collection(self, db: str, name: str, schema: dict[str, Any]) -> None: ...
    async def update_collection(
        self,
        db: str,
        name: str,
        schema: dict[str, Any],
        indexes: Any = (),
        *,
        write_validator: str = "",
        read_filter: str = "",
    ) -> None: ...
    async def delete_collection(self, db: str, name: str) -> None: ...
    async def get_collection(self, db: str, name: str) -> dict[str, Any]: ...
    async def list_collections(self, db: str) -> list[dict[str, Any]]: ...
    async def create(self, db: str, collection: str, instances: Any) -> list[str]: ...
    async def save(self, db: str, collection: str, instances: Any) -> None: ...
    async def delete(self, db: str, collection: str, ids: Any) -> None: ...
    async def find(self, db: str, collection: str, query: Any = None) -> list[dict[str, Any]]: ...
    async def find_by_id(self, db: str, collection: str, id: str) -> dict[str, Any]: ...
    def find_all(self, db: str, collection: str, page_size: int = 1000) -> Any: ...
    def listen(self, db: str, filters: Any = ()) -> Any: ...


class ThreadListApi(Protocol):
    async def list_threads(self) -> list[tuple[str, str, bool]]: ...


class KernelNotifier(Protocol):
    """How the namespace tells the kernel to drop cached data (the fuse layer provides it)."""

    async def invalidate_inode(self, ino: int) -> None: ...
    def invalidate_entry(self, parent: int, name: str) -> None: ...
