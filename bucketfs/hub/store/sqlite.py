"""SQLite implementation of the hub's metadata store.

A file store runs in WAL mode with ``synchronous=FULL``: once ``transaction()`` returns, the
write is in the WAL and fsync'ed, so it survives ``kill -9`` and power loss. One writer
connection (guarded by a lock, so writers from many threads are serialised) plus a small pool of
reader connections, which in WAL mode read a consistent snapshot without blocking the writer.
A busy timeout covers other processes opening the same file.

``":memory:"`` gives a private in-memory database on a single connection shared (under the same
lock) by writers and readers — for tests; it has no durability.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

BUSY_TIMEOUT_S = 30.0
_READER_POOL = 8

_SCHEMA_TABLE = (
    "CREATE TABLE IF NOT EXISTS store_schema ("
    "name TEXT NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (name, digest))"
)


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
