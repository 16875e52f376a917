"""When a bucket change is durable: the barriers of the save path, shared by concurrent changes.

A change (PushPath, PushPaths, SetPath, MovePath, RemovePath, …) is made durable in two steps,
each a **group barrier** shared with every change that reaches it at the same time
(``bucketfs.hub.groupsync``):

1. its new blocks: the block-store batch ends with one barrier (``syncfs`` or fsyncs) — before
   the new root is committed, so a committed root never references a block that is not on disk;
2. its commit: the bucket record (ThreadDB store) and the path attributes are committed without
   their own fsync (:meth:`SqliteStore.deferred_durability`, the attribute store's WAL), then
   one barrier fsyncs both logs.

Only then is the change acknowledged. :meth:`Durability.change` is the scope of one change: the
bucket lock is taken inside it and released before the commit barrier, so the next change to
the same bucket can proceed while this one waits for (and shares) the barrier; a later commit
never survives a crash without an earlier one (SQLite's WAL is replayed in order).

Two barriers per group, not one: with a single barrier after the commit, a crash during it could
leave the new root on disk and one of its blocks not.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

from bucketfs.hub.groupsync import GroupBarrier


@runtime_checkable
class Log(Protocol):
    """A store whose commits are durable once :meth:`fsync_log` returns."""

    def fsync_log(self) -> None: ...


class _Deferred(Protocol):
    committed: bool


@runtime_checkable
class DeferringStore(Log, Protocol):
    """A metadata store whose commits can skip their own fsync (``SqliteStore``)."""

    def deferred_durability(self) -> AbstractContextManager[_Deferred]: ...


class Durability:
    """The commit barrier of bucket changes over the metadata logs it covers."""

    def __init__(self, store: object, logs: list[Log]) -> None:
        self._store = store if isinstance(store, DeferringStore) else None
        self._logs = ([self._store] if self._store is not None else []) + list(logs)
        self._group: GroupBarrier[None] = GroupBarrier(self._barrier)

    @property
    def barriers(self) -> int:
        """Commit barriers run so far."""
        return self._group.barriers

    def _barrier(self, _items: list[None]) -> None:
        for log in self._logs:
            log.fsync_log()

    @contextlib.contextmanager
    def change(self) -> Iterator[None]:
        """The scope of one change: its commits skip their own fsync; on leaving, wait for one
        commit barrier that started after them (after a failure only if something was
        committed before it)."""
        if self._store is None:
            yield
            self._group.sync()
            return
        failed = True
        deferred = None
        try:
            with self._store.deferred_durability() as deferred:
                yield
            failed = False
        finally:
            if not failed or (deferred is not None and deferred.committed):
                self._group.sync()
