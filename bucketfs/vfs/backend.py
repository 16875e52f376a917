"""What the vfs needs from the remote clients, as structural types.

The vfs is written against the API of ``bucketfs.remote`` (HubSession with ``buckets``,
``threads`` and ``users`` clients returning plain dataclasses), but only through these
Protocols, so that ``bucketfs.testing.fakehub`` and the real clients are interchangeable and the
vfs imports no gRPC code. Only the members the vfs uses are listed.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from typing import Protocol

#: bytes to push: an iterable, or a callable giving a fresh one (lets the client retry the push)
ChunkSource = AsyncIterable[bytes] | Callable[[], AsyncIterable[bytes]]


class RootLike(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def thread(self) -> str: ...
    @property
    def created_at(self) -> int: ...
    @property
    def updated_at(self) -> int: ...


class EntryLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def cid(self) -> str: ...
    @property
    def is_dir(self) -> bool: ...
    @property
    def dag_size(self) -> int: ...
    @property
    def file_size(self) -> int | None: ...
    @property
    def mode(self) -> int: ...
    @property
    def mtime(self) -> int: ...
    @property
    def symlink_target(self) -> str: ...


class ListingLike(Protocol):
    @property
    def item(self) -> EntryLike: ...
    @property
    def children(self) -> Sequence[EntryLike]: ...
    @property
    def root(self) -> RootLike: ...
    @property
    def truncated(self) -> bool: ...


class PushResultLike(Protocol):
    @property
    def cid(self) -> str: ...
    @property
    def root(self) -> RootLike: ...


class CapabilitiesLike(Protocol):
    @property
    def exact_sizes(self) -> bool: ...
    @property
    def range_reads(self) -> bool: ...
    @property
    def path_attrs(self) -> bool: ...
    @property
    def symlinks(self) -> bool: ...
    @property
    def list_paging(self) -> bool: ...


class BucketsApi(Protocol):
    async def capabilities(self) -> CapabilitiesLike: ...
    async def list(self, thread: str) -> Sequence[RootLike]: ...
    async def create(self, thread: str, name: str, private: bool = False) -> RootLike: ...
    async def root(self, thread: str, key: str) -> RootLike: ...
    async def remove(self, thread: str, key: str) -> None: ...
    async def links(self, thread: str, key: str, path: str = "") -> dict[str, str]: ...
    async def list_path(
        self, thread: str, key: str, path: str, *, limit: int = 0, after: str = ""
    ) -> ListingLike: ...
    async def push_path(
        self,
        thread: str,
        key: str,
        path: str,
        chunks: ChunkSource,
        *,
        root: str = "",
        mode: int = 0,
        mtime: int = 0,
        size: int = 0,
    ) -> PushResultLike: ...
    def pull_path(
        self, thread: str, key: str, path: str, *, offset: int = 0, length: int = 0
    ) -> AsyncIterator[bytes]: ...
    async def push_paths(
        self,
        thread: str,
        key: str,
        files: Sequence[tuple[str, AsyncIterable[bytes]]],
        *,
        root: str = "",
        attrs: Sequence[tuple[int, int]] | None = None,
    ) -> RootLike: ...
    async def set_path(
        self, thread: str, key: str, path: str, cid: str, *, root: str = ""
    ) -> RootLike | None: ...
    async def move_path(
        self, thread: str, key: str, from_path: str, to_path: str, *, root: str = ""
    ) -> RootLike | None: ...
    async def remove_path(
        self, thread: str, key: str, path: str, *, root: str = ""
    ) -> RootLike: ...
    async def set_path_attrs(
        self, thread: str, key: str, path: str, *, mode: int | None = None, mtime: int | None = None
    ) -> RootLike: ...
    async def symlink(
        self, thread: str, key: str, path: str, target: str, *, root: str = ""
    ) -> RootLike: ...


class ThreadsApi(Protocol):
    async def new_db(self, name: str) -> str: ...


class UsersApi(Protocol):
    async def get_thread(self, name: str) -> tuple[str, str] | None: ...


class SessionLike(Protocol):
    """A ``bucketfs.remote.session.HubSession`` or ``bucketfs.testing.fakehub.FakeSession``."""

    @property
    def buckets(self) -> BucketsApi: ...
    @property
    def threads(self) -> ThreadsApi: ...
    @property
    def users(self) -> UsersApi: ...
