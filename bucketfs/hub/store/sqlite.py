"""SQLite implementation of the hub's metadata store.

A file store runs in WAL mode with ``synchronous=FULL``: once ``transaction()`` returns, the
write is in the WAL and fsync'ed, so it survives ``kill -9`` and power loss. One writer
connection (guarded by a lock, so writers from many threads are serialised) plus a small pool of
reader connections, which in WAL mode read a consistent snapshot without blocking the writer.
A busy timeout covers other processes opening the same file.

Group commit: inside :meth:`SqliteStore.deferred_durability` the write transactions of the
calling thread commit with ``synchronous=NORMAL`` (the commit is appended to the WAL, not
fsynced); the caller then makes it durable with :meth:`SqliteStore.fsync_log` (one fsync of the
WAL, which covers every commit appended before it started) before it acknowledges anything, so
many changes share one barrier (``bucketfs.hub.buckets.durability`` groups them). WAL recovery
replays commits in order and stops at the first incomplete one, so a later commit never
survives a crash without the earlier ones. Transactions outside that block stay fully
synchronous.

``":memory:"`` gives a private in-memory database on a single connection shared (under the same
lock) by writers and readers — for tests; it has no durability.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from bucketfs.durable import fsync_dir

BUSY_TIMEOUT_S = 30.0
_READER_POOL = 8

_SCHEMA_TABLE = (
    "CREATE TABLE IF NOT EXISTS store_schema ("
    "name TEXT NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (name, digest))"
)


class Deferred:
    """What a :meth:`SqliteStore.deferred_durability` block did: ``committed`` is true if a
    commit inside it still needs :meth:`SqliteStore.fsync_log`."""

    committed = False


class SqliteStore:
    """The hub metadata store on one SQLite database (see the module docstring)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._memory = path == ":memory:"
        self._write_lock = threading.RLock()
        self._pool_lock = threading.Lock()
        self._readers: list[sqlite3.Connection] = []
        self._all: list[sqlite3.Connection] = []
        self._closed = False
        self._local = threading.local()  # per thread: depth of deferred_durability blocks
        self._log_dir_synced = False
        self._writer = self._connect()
        if not self._memory:
            mode = self._writer.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise RuntimeError(f"cannot enable WAL mode on {path}: {mode}")
        with self.transaction() as conn:
            conn.execute(_SCHEMA_TABLE)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        self._all.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; commits at the end of the block, rolls back on error."""
        with self._write_lock:
            self._check_open()
            conn = self._writer
            if conn.in_transaction:  # nested use from the same thread: join the outer one
                yield conn
                return
            deferred = not self._memory and getattr(self._local, "defer", 0) > 0
            if deferred:
                conn.execute("PRAGMA synchronous=NORMAL")
            try:
                yield from self._run(conn)
                if deferred:
                    self._local.owed = True
            finally:
                if deferred:
                    conn.execute("PRAGMA synchronous=FULL")

    @staticmethod
    def _run(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # e.g. I/O error: leave the connection usable
                conn.execute("ROLLBACK")
            raise

    @contextmanager
    def deferred_durability(self) -> Iterator[Deferred]:
        """Commits of this thread inside the block skip their own fsync: the caller must call
        :meth:`fsync_log` before it tells anyone they are durable (nestable). The value says
        whether a commit happened inside (once the block has ended)."""
        local = self._local
        depth = getattr(local, "defer", 0)
        if depth == 0:
            local.owed = False
        local.defer = depth + 1
        result = Deferred()
        try:
            yield result
        finally:
            local.defer -= 1
            result.committed = bool(local.owed)

    def fsync_log(self) -> None:
        """One durability barrier for every commit so far: fsync of the WAL (and, the first
        time, of its directory entry). Nothing to do for an in-memory store."""
        if self._memory:
            return
        try:
            fd = os.open(self.path + "-wal", os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:  # checkpointed and removed: the database file was synced
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if not self._log_dir_synced:
            fsync_dir(Path(self.path).absolute().parent)
            self._log_dir_synced = True

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction over one consistent committed state."""
        if self._memory:
            with self._write_lock:
                self._check_open()
                yield self._writer
            return
        conn = self._take_reader()
        try:
            conn.execute("BEGIN DEFERRED")
            try:
                yield conn
            finally:
                conn.execute("ROLLBACK")
        finally:
            self._give_reader(conn)

    def _take_reader(self) -> sqlite3.Connection:
        with self._pool_lock:
            self._check_open()
            if self._readers:
                return self._readers.pop()
            conn = self._connect()
        conn.execute("PRAGMA query_only=ON")
        return conn

    def _give_reader(self, conn: sqlite3.Connection) -> None:
        with self._pool_lock:
            if not self._closed and len(self._readers) < _READER_POOL:
                self._readers.append(conn)
                return
            self._all.remove(conn)
        conn.close()

    def ensure_schema(self, name: str, ddl_statements: Sequence[str]) -> None:
        """Run ``ddl_statements`` once for this (name, statements) pair, atomically."""
        digest = hashlib.sha256("\x00".join(ddl_statements).encode()).hexdigest()
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT 1 FROM store_schema WHERE name = ? AND digest = ?", (name, digest)
            ).fetchone()
            if row is not None:
                return
            for statement in ddl_statements:
                conn.execute(statement)
            conn.execute("INSERT INTO store_schema (name, digest) VALUES (?, ?)", (name, digest))

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("metadata store is closed")

    def close(self) -> None:
        with self._write_lock, self._pool_lock:
            if self._closed:
                return
            self._closed = True
            for conn in self._all:
                conn.close()
            self._all.clear()
            self._readers.clear()
