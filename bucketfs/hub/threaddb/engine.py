"""The hub's ThreadDB engine: databases, collections, instances, queries, transactions, listen.

Synchronous and thread-safe: the gRPC servicers call it from grpcio's thread pool. Storage is a
:class:`bucketfs.hub.store.MetadataStore`; every logical write is one store transaction, so it
is atomic and, on a file store, durable when the call returns. Errors are ``bucketfs.errors``
classes carrying the WIRE.md §3.8 texts (``wire_code`` set where the wire uses another code).

Concurrency: each database has a write lock, held by every write for its duration and by a
:class:`WriteTransaction` for its whole life; reads take no engine lock and see the last
committed state. Listen events are published after the store commit, under the database lock,
so listeners see actions in commit order. Parsed collections are cached in memory: one engine
must own a store file (several engines on one file would not see each other's schema changes).

``writer``/``reader`` arguments name the caller's identity, passed to the collection's write
validator and read filter (sandbox.py); an empty identity reaches them as ``undefined``.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bucketfs.errors import AlreadyExists, NotEmpty, NotFound, Unavailable
from bucketfs.hub.threaddb import catalog, ids, query
from bucketfs.hub.threaddb.listen import (
    ACTION_DELETE,
    HIDDEN,
    QUEUE_LIMIT,
    Bus,
    Hidden,
    Listener,
    ListenerOverflow,
    ListenEvent,
    ListenFilter,
)
from bucketfs.hub.threaddb.sandbox import Scripts
from bucketfs.hub.threaddb.schema import Schema
from bucketfs.hub.threaddb.writes import (
    Op,
    ReadTransaction,
    WriteTransaction,
    apply_ops,
    prepare_create,
    prepare_save,
)

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
    """A database; ``created_at`` is Unix nanoseconds, ``key`` the 64-byte thread key."""

    db_id: bytes
    name: str
    owner: str
    api_key: str
    key: bytes
    created_at: int


class _Rollback(Exception):
    """Raised inside a store transaction to undo it (Verify)."""


def _db_not_found() -> NotFound:
    return NotFound("db not found")


def _build_collection(db_id: bytes, config: CollectionConfig) -> catalog.Collection:
    ids.check_name(config.name)
    schema = Schema(config.schema)
    indexes: dict[str, bool] = {}
    for index in config.indexes:
        schema.check_index_path(index.path)
        indexes[index.path] = indexes.get(index.path, False) or index.unique
    scripts = None
    if config.write_validator or config.read_filter:  # as upstream: only an empty body is none
        scripts = Scripts(config.write_validator, config.read_filter)
    return catalog.Collection(db_id, config.name, schema, indexes, scripts)


def _config_of(coll: catalog.Collection) -> CollectionConfig:
    indexes = tuple(IndexConfig(p, u) for p, u in sorted(coll.indexes.items()))
    wv, rf = (
        ("", "")
        if coll.scripts is None
        else (coll.scripts.write_validator, coll.scripts.read_filter)
    )
    return CollectionConfig(coll.name, coll.schema.serialize(), indexes, wv, rf)


def _shown(coll: catalog.Collection, reader: str, data: str | None) -> str | None:
    """``data`` as ``reader`` may see it through the collection's read filter (None: hidden)."""
    if data is None or coll.scripts is None:
        return data
    return coll.scripts.filter(reader, data)


class Engine:
    """ThreadDB over a metadata store (see the module docstring)."""

    def __init__(
        self,
        store: MetadataStore,
        *,
        lock_timeout: float | None = None,
        listen_queue_limit: int = QUEUE_LIMIT,
    ) -> None:
        """``lock_timeout``: seconds a write waits for the database lock (None = forever);
        ``listen_queue_limit``: pending actions a listener may hold before it overflows."""
        self._store = store
        self._lock_timeout = lock_timeout
        self._bus = Bus(listen_queue_limit)
        self._locks: dict[bytes, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._cache: dict[tuple[bytes, str], catalog.Collection] = {}
        self._cache_guard = threading.Lock()
        self._generation = 0  # bumped by every schema change; guards cache fills
        store.ensure_schema("threaddb", catalog.DDL)

    # -- locks and lookups -------------------------------------------------------------------

    def _acquire(self, db_id: bytes) -> threading.Lock:
        with self._locks_guard:
            lock = self._locks.setdefault(db_id, threading.Lock())
        timeout = -1 if self._lock_timeout is None else self._lock_timeout
        if not lock.acquire(timeout=timeout):
            raise Unavailable("database is busy: another write transaction holds its lock")
        return lock

    def _collection(self, db_id: bytes, name: str) -> catalog.Collection:
        with self._cache_guard:
            cached = self._cache.get((db_id, name))
            generation = self._generation
        if cached is not None:
            return cached
        with self._store.snapshot() as conn:
            coll = catalog.load_collection(conn, db_id, name)
            if coll is None:
                if self._db_row(conn, db_id) is None:
                    raise _db_not_found()
                raise NotFound("collection not found")
        with self._cache_guard:
            if generation == self._generation:  # no schema change raced with this load
                self._cache[(db_id, name)] = coll
        return coll

    def _forget(self, db_id: bytes, name: str | None = None) -> None:
        with self._cache_guard:
            self._generation += 1
            for key in [k for k in self._cache if k[0] == db_id and name in (None, k[1])]:
                del self._cache[key]

    @staticmethod
    def _db_row(conn: sqlite3.Connection, db_id: bytes) -> DBInfo | None:
        row = conn.execute(
            "SELECT db_id, name, owner, api_key, key, created_at FROM tdb_dbs WHERE db_id = ?",
            (db_id,),
        ).fetchone()
        if row is None:
            return None
        return DBInfo(bytes(row[0]), row[1], row[2], row[3], bytes(row[4]), row[5])

    # -- databases ---------------------------------------------------------------------------

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
        """Create a database (and its collections) atomically; ``key`` absent → random."""
        ids.check_db_id(db_id)
        if name:
            ids.check_name(name)
        thread_key = ids.check_thread_key(key)
        colls = [_build_collection(db_id, c) for c in collections]
        if len({c.name for c in colls}) != len(colls):
            raise AlreadyExists("collection already registered", wire_code="UNKNOWN")
        info = DBInfo(bytes(db_id), name, owner, api_key, thread_key, time.time_ns())
        with self._store.transaction() as conn:
            if self._db_row(conn, db_id) is not None:
                raise AlreadyExists("db already exists")
            if name and self._by_name(conn, owner, name) is not None:
                raise AlreadyExists(f"thread name {name!r} is already taken")
            conn.execute(
                "INSERT INTO tdb_dbs VALUES (?,?,?,?,?,?)",
                (info.db_id, name, owner, api_key, thread_key, info.created_at),
            )
            for coll in colls:
                catalog.store_collection(conn, coll)
        return info

    def get_db(self, db_id: bytes) -> DBInfo:
        with self._store.snapshot() as conn:
            info = self._db_row(conn, db_id)
        if info is None:
            raise _db_not_found()
        return info

    @staticmethod
    def _by_name(conn: sqlite3.Connection, owner: str, name: str) -> bytes | None:
        row = conn.execute(
            "SELECT db_id FROM tdb_dbs WHERE owner = ? AND lower(name) = lower(?) AND name != ''",
            (owner, name),
        ).fetchone()
        return None if row is None else bytes(row[0])

    def find_db_by_name(self, owner: str, name: str) -> DBInfo:
        """The owner's database called ``name`` (case-insensitive)."""
        with self._store.snapshot() as conn:
            db_id = self._by_name(conn, owner, name) if name else None
            info = None if db_id is None else self._db_row(conn, db_id)
        if info is None:
            raise NotFound("Thread not found")
        return info

    def list_dbs(self, owner: str) -> list[DBInfo]:
        with self._store.snapshot() as conn:
            rows = conn.execute(
                "SELECT db_id FROM tdb_dbs WHERE owner = ? ORDER BY created_at, db_id", (owner,)
            ).fetchall()
            found = [self._db_row(conn, bytes(r[0])) for r in rows]
        return [info for info in found if info is not None]

    def delete_db(self, db_id: bytes, *, unless_holding: tuple[str, str] | None = None) -> None:
        """Delete a database with all its collections and instances; ends its listeners.
        ``unless_holding=(collection, message)`` refuses (NotEmpty, atomically) while that
        collection holds an instance."""
        lock = self._acquire(db_id)
        try:
            with self._store.transaction() as conn:
                if self._db_row(conn, db_id) is None:
                    raise _db_not_found()
                if (
                    unless_holding is not None
                    and conn.execute(
                        "SELECT 1 FROM tdb_instances WHERE db_id = ? AND collection = ? LIMIT 1",
                        (db_id, unless_holding[0]),
                    ).fetchone()
                ):
                    raise NotEmpty(unless_holding[1])
                for table in ("tdb_index", "tdb_instances", "tdb_collections", "tdb_scripts"):
                    conn.execute(f"DELETE FROM {table} WHERE db_id = ?", (db_id,))
                conn.execute("DELETE FROM tdb_dbs WHERE db_id = ?", (db_id,))
            self._forget(db_id)
            self._bus.drop_db(db_id)
        finally:
            lock.release()

    # -- collections -------------------------------------------------------------------------

    def new_collection(self, db_id: bytes, config: CollectionConfig) -> None:
        coll = _build_collection(db_id, config)
        lock = self._acquire(db_id)
        try:
            with self._store.transaction() as conn:
                if self._db_row(conn, db_id) is None:
                    raise _db_not_found()
                if catalog.load_collection(conn, db_id, config.name) is not None:
                    raise AlreadyExists("collection already registered", wire_code="UNKNOWN")
                catalog.store_collection(conn, coll)
            self._forget(db_id, config.name)
        finally:
            lock.release()

    def update_collection(self, db_id: bytes, config: CollectionConfig) -> None:
        """Replace the schema and reconcile indexes (new ones are back-filled)."""
        coll = _build_collection(db_id, config)
        lock = self._acquire(db_id)
        try:
            old = self._collection(db_id, config.name)
            changed = [p for p, u in coll.indexes.items() if old.indexes.get(p) != u]
            dropped = [p for p, u in old.indexes.items() if coll.indexes.get(p) != u]
            with self._store.transaction() as conn:
                catalog.reindex(conn, coll, changed, dropped)
                catalog.store_collection(conn, coll)
            self._forget(db_id, config.name)
        finally:
            lock.release()

    def delete_collection(self, db_id: bytes, name: str) -> None:
        lock = self._acquire(db_id)
        try:
            self._collection(db_id, name)
            with self._store.transaction() as conn:
                catalog.drop_collection(conn, db_id, name)
            self._forget(db_id, name)
        finally:
            lock.release()

    def get_collection(self, db_id: bytes, name: str) -> CollectionConfig:
        return _config_of(self._collection(db_id, name))

    def list_collections(self, db_id: bytes) -> list[CollectionConfig]:
        with self._store.snapshot() as conn:
            if self._db_row(conn, db_id) is None:
                raise _db_not_found()
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM tdb_collections WHERE db_id = ? ORDER BY name", (db_id,)
                )
            ]
        return [_config_of(self._collection(db_id, n)) for n in names]

    # -- instances ---------------------------------------------------------------------------

    def _apply(self, coll: catalog.Collection, ops: Sequence[Op], writer: str = "") -> None:
        """Apply prepared writes in one store transaction, then publish (DB lock held)."""
        if not ops:
            return
        with self._store.transaction() as conn:
            actions = apply_ops(conn, coll, ops, writer)
        self._bus.publish(coll.db_id, actions)

    def create(
        self, db_id: bytes, collection: str, instances: Sequence[bytes], writer: str = ""
    ) -> list[str]:
        """Create instances atomically (all or none); returns their ids in order."""
        self._collection(db_id, collection)
        lock = self._acquire(db_id)
        try:
            coll = self._collection(db_id, collection)
            ops = [prepare_create(coll, raw) for raw in instances]
            new_ids = [op.instance_id for op in ops]
            if len(set(new_ids)) != len(new_ids):
                raise AlreadyExists("can't create already existing instance", wire_code="UNKNOWN")
            self._apply(coll, ops, writer)
        finally:
            lock.release()
        return new_ids

    def save(
        self,
        db_id: bytes,
        collection: str,
        instances: Sequence[bytes],
        writer: str = "",
        *,
        validate: bool = True,
    ) -> None:
        """Replace instances (a missing id is created, reported as SAVE), atomically.

        ``validate=False`` skips the JSON-schema check, for hub code whose instances are valid by
        construction (and tested to be): the check costs time linear in the instance's size.
        """
        self._collection(db_id, collection)
        lock = self._acquire(db_id)
        try:
            coll = self._collection(db_id, collection)
            ops = [prepare_save(coll, raw, validate=validate) for raw in instances]
            self._apply(coll, ops, writer)
        finally:
            lock.release()

    def verify(
        self, db_id: bytes, collection: str, instances: Sequence[bytes], writer: str = ""
    ) -> None:
        """Check that a Save of ``instances`` would succeed; never commits."""
        coll = self._collection(db_id, collection)
        self.verify_prepared(coll, [prepare_save(coll, raw) for raw in instances], writer)

    def verify_prepared(
        self, coll: catalog.Collection, ops: Sequence[Op], writer: str = ""
    ) -> None:
        """Apply ``ops`` in a store transaction that is always rolled back (unique checks and
        the write validator)."""
        try:
            with self._store.transaction() as conn:
                apply_ops(conn, coll, ops, writer)
                raise _Rollback
        except _Rollback:
            pass

    def delete(
        self, db_id: bytes, collection: str, instance_ids: Sequence[str], writer: str = ""
    ) -> None:
        """Delete instances; missing ids are skipped (and do not stop the others)."""
        self._collection(db_id, collection)
        ops = [Op(ACTION_DELETE, i, None) for i in instance_ids]
        lock = self._acquire(db_id)
        try:
            self._apply(self._collection(db_id, collection), ops, writer)
        finally:
            lock.release()

    def has_any(self, coll: catalog.Collection, instance_ids: Sequence[str]) -> bool:
        with self._store.snapshot() as conn:
            return any(
                catalog.get_instance(conn, coll.db_id, coll.name, i) is not None
                for i in instance_ids
            )

    def has(
        self, db_id: bytes, collection: str, instance_ids: Sequence[str], reader: str = ""
    ) -> bool:
        """True only if every id exists."""
        coll = self._collection(db_id, collection)
        with self._store.snapshot() as conn:
            found = [catalog.get_instance(conn, db_id, coll.name, i) for i in instance_ids]
        return all(_shown(coll, reader, data) is not None for data in found)

    def find(
        self, db_id: bytes, collection: str, query_json: bytes, reader: str = ""
    ) -> list[bytes]:
        """Instances matching ``query_json`` (WIRE.md §3.4; see query.py for the fixes)."""
        coll = self._collection(db_id, collection)
        p = query.plan(query.parse(query_json), coll.index_paths, db_id, coll.name)
        sql = (
            "SELECT data FROM tdb_instances WHERE db_id = ? AND collection = ? AND "
            f"{p.where} ORDER BY {p.order} LIMIT ? OFFSET ?"
        )
        if coll.scripts is None or not coll.scripts.filters:
            with self._store.snapshot() as conn:
                rows = conn.execute(sql, [db_id, coll.name, *p.params, p.limit, p.offset])
                return [str(r[0]).encode() for r in rows.fetchall()]
        # skip and limit count the instances the reader may see, as upstream
        found: list[bytes] = []
        skip = p.offset
        with self._store.snapshot() as conn:
            for row in conn.execute(sql, [db_id, coll.name, *p.params, -1, 0]):
                shown = _shown(coll, reader, str(row[0]))
                if shown is None:
                    continue
                if skip:
                    skip -= 1
                    continue
                found.append(shown.encode())
                if len(found) == p.limit:
                    break
        return found

    def find_by_id(
        self, db_id: bytes, collection: str, instance_id: str, reader: str = ""
    ) -> bytes:
        coll = self._collection(db_id, collection)
        with self._store.snapshot() as conn:
            data = catalog.get_instance(conn, db_id, coll.name, instance_id)
        shown = _shown(coll, reader, data)
        if shown is None:
            raise NotFound("instance not found", wire_code="UNKNOWN")
        return shown.encode()

    # -- transactions and listen -------------------------------------------------------------

    def write_transaction(
        self, db_id: bytes, collection: str, writer: str = ""
    ) -> WriteTransaction:
        """Start a write transaction; blocks until the database's write lock is free."""
        self._collection(db_id, collection)
        lock = self._acquire(db_id)
        try:
            coll = self._collection(db_id, collection)
        except BaseException:
            lock.release()
            raise
        return WriteTransaction(self, coll, writer, self._apply, lock.release)

    def read_transaction(self, db_id: bytes, collection: str, reader: str = "") -> ReadTransaction:
        self._collection(db_id, collection)
        return ReadTransaction(self, db_id, collection, reader)

    def listen(self, db_id: bytes, filters: Sequence[ListenFilter], reader: str = "") -> Listener:
        """Subscribe to the database's future actions (see listen.py for overflow)."""
        self.get_db(db_id)

        def fetch(collection: str, instance_id: str) -> bytes | Hidden | None:
            with self._store.snapshot() as conn:
                data = catalog.get_instance(conn, db_id, collection, instance_id)
            if data is None:
                return None
            try:
                shown = _shown(self._collection(db_id, collection), reader, data)
            except NotFound:  # the collection was deleted meanwhile
                return None
            return HIDDEN if shown is None else shown.encode()

        return self._bus.subscribe(db_id, filters, fetch)
