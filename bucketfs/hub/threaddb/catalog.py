"""SQL tables of the ThreadDB engine and the row-level operations on them.

Tables (created through ``MetadataStore.ensure_schema("threaddb", DDL)``):

* ``tdb_dbs`` — one row per database: thread ID bytes, name (unique per owner, case-insensitive,
  when not empty), owner identity, creating API key, thread key, creation time (Unix ns);
* ``tdb_collections`` — schema (re-serialised JSON) and indexes (JSON list) per collection;
* ``tdb_instances`` — the instances' JSON text keyed by (db, collection, id): FindByID is one
  B-tree lookup and Find pages in ``_id`` order straight from the primary key;
* ``tdb_index`` — one entry per (indexed path, instance) whose value is a string, number or bool;
  entries of unique indexes fall under a partial UNIQUE index, which enforces uniqueness;
* ``tdb_scripts`` — a collection's write validator and read filter bodies, when it has one (a
  table of its own so that stores made before validators existed need no migration).

All functions here take an open connection inside the caller's transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bucketfs.errors import AlreadyExists, InvalidArgument
from bucketfs.hub.threaddb.query import index_value, json_path
from bucketfs.hub.threaddb.sandbox import Scripts
from bucketfs.hub.threaddb.schema import Schema

DDL = (
    "CREATE TABLE IF NOT EXISTS tdb_dbs (db_id BLOB PRIMARY KEY, name TEXT NOT NULL, "
    "owner TEXT NOT NULL, api_key TEXT NOT NULL, key BLOB NOT NULL, created_at INTEGER NOT NULL)",
    "CREATE UNIQUE INDEX IF NOT EXISTS tdb_dbs_name ON tdb_dbs (owner, lower(name)) "
    "WHERE name != ''",
    "CREATE TABLE IF NOT EXISTS tdb_collections (db_id BLOB NOT NULL, name TEXT NOT NULL, "
    "schema BLOB NOT NULL, indexes TEXT NOT NULL, PRIMARY KEY (db_id, name)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS tdb_instances (db_id BLOB NOT NULL, collection TEXT NOT NULL, "
    "id TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (db_id, collection, id)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS tdb_index (db_id BLOB NOT NULL, collection TEXT NOT NULL, "
    "path TEXT NOT NULL, vtype TEXT NOT NULL, value NOT NULL, id TEXT NOT NULL, "
    "uniq INTEGER NOT NULL, PRIMARY KEY (db_id, collection, path, vtype, value, id)) WITHOUT ROWID",
    "CREATE UNIQUE INDEX IF NOT EXISTS tdb_index_unique ON tdb_index "
    "(db_id, collection, path, vtype, value) WHERE uniq = 1",
    "CREATE INDEX IF NOT EXISTS tdb_index_by_id ON tdb_index (db_id, collection, id)",
    "CREATE TABLE IF NOT EXISTS tdb_scripts (db_id BLOB NOT NULL, name TEXT NOT NULL, "
    "write_validator TEXT NOT NULL, read_filter TEXT NOT NULL, PRIMARY KEY (db_id, name)) "
    "WITHOUT ROWID",
)

UNIQUE_VIOLATION = "unique constraint violation"
UNIQUE_BACKFILL = "can't create unique index (duplicate instances exist)"


@dataclass(frozen=True)
class Collection:
    """A loaded collection: its parsed schema, its indexes (path → unique) and its compiled
    write validator / read filter (None when it has neither)."""

    db_id: bytes
    name: str
    schema: Schema
    indexes: dict[str, bool]
    scripts: Scripts | None = None

    @property
    def index_paths(self) -> frozenset[str]:
        return frozenset(self.indexes)


def load_collection(conn: sqlite3.Connection, db_id: bytes, name: str) -> Collection | None:
    row = conn.execute(
        "SELECT schema, indexes FROM tdb_collections WHERE db_id = ? AND name = ?", (db_id, name)
    ).fetchone()
    if row is None:
        return None
    indexes = {path: bool(unique) for path, unique in json.loads(row[1])}
    found = conn.execute(
        "SELECT write_validator, read_filter FROM tdb_scripts WHERE db_id = ? AND name = ?",
        (db_id, name),
    ).fetchone()
    scripts = None if found is None else Scripts(found[0], found[1])
    return Collection(db_id, name, Schema(bytes(row[0])), indexes, scripts)


def store_collection(conn: sqlite3.Connection, coll: Collection) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO tdb_collections (db_id, name, schema, indexes) VALUES (?,?,?,?)",
        (coll.db_id, coll.name, coll.schema.serialize(), json.dumps(sorted(coll.indexes.items()))),
    )
    conn.execute("DELETE FROM tdb_scripts WHERE db_id = ? AND name = ?", (coll.db_id, coll.name))
    if coll.scripts is not None:
        conn.execute(
            "INSERT INTO tdb_scripts VALUES (?,?,?,?)",
            (coll.db_id, coll.name, coll.scripts.write_validator, coll.scripts.read_filter),
        )


def drop_collection(conn: sqlite3.Connection, db_id: bytes, name: str) -> None:
    for table in ("tdb_index", "tdb_instances"):
        conn.execute(f"DELETE FROM {table} WHERE db_id = ? AND collection = ?", (db_id, name))
    conn.execute("DELETE FROM tdb_collections WHERE db_id = ? AND name = ?", (db_id, name))
    conn.execute("DELETE FROM tdb_scripts WHERE db_id = ? AND name = ?", (db_id, name))


def _lookup(instance: dict[str, Any], path: str) -> Any:
    value: Any = instance
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def write_index_entries(
    conn: sqlite3.Connection, coll: Collection, instance_id: str, instance: dict[str, Any]
) -> None:
    """Replace the index entries of one instance; raise on a unique index violation."""
    conn.execute(
        "DELETE FROM tdb_index WHERE db_id = ? AND collection = ? AND id = ?",
        (coll.db_id, coll.name, instance_id),
    )
    for path, unique in coll.indexes.items():
        entry = index_value(_lookup(instance, path))
        if entry is None:
            continue
        try:
            conn.execute(
                "INSERT INTO tdb_index VALUES (?,?,?,?,?,?,?)",
                (coll.db_id, coll.name, path, entry[0], entry[1], instance_id, int(unique)),
            )
        except sqlite3.IntegrityError:
            raise AlreadyExists(UNIQUE_VIOLATION, wire_code="UNKNOWN") from None


def delete_index_entries(conn: sqlite3.Connection, coll: Collection, instance_id: str) -> None:
    conn.execute(
        "DELETE FROM tdb_index WHERE db_id = ? AND collection = ? AND id = ?",
        (coll.db_id, coll.name, instance_id),
    )


def reindex(
    conn: sqlite3.Connection, coll: Collection, paths: Iterable[str], dropped: Iterable[str]
) -> None:
    """Drop the entries of ``dropped`` paths and back-fill ``paths`` from the stored instances."""
    for path in dropped:
        conn.execute(
            "DELETE FROM tdb_index WHERE db_id = ? AND collection = ? AND path = ?",
            (coll.db_id, coll.name, path),
        )
    for path in paths:
        jp = json_path(path)
        try:
            conn.execute(
                "INSERT INTO tdb_index SELECT db_id, collection, ?, "
                "CASE json_type(data, ?) WHEN 'text' THEN 's' WHEN 'integer' THEN 'n' "
                "WHEN 'real' THEN 'n' ELSE 'b' END, "
                "CASE WHEN json_type(data, ?) IN ('integer', 'real') "
                "THEN CAST(json_extract(data, ?) AS REAL) ELSE json_extract(data, ?) END, id, ? "
                "FROM tdb_instances WHERE db_id = ? AND collection = ? "
                "AND json_type(data, ?) IN ('text', 'integer', 'real', 'true', 'false')",
                (path, jp, jp, jp, jp, int(coll.indexes[path]), coll.db_id, coll.name, jp),
            )
        except sqlite3.IntegrityError:
            raise InvalidArgument(UNIQUE_BACKFILL, wire_code="UNKNOWN") from None


def get_instance(conn: sqlite3.Connection, db_id: bytes, coll: str, instance_id: str) -> str | None:
    row = conn.execute(
        "SELECT data FROM tdb_instances WHERE db_id = ? AND collection = ? AND id = ?",
        (db_id, coll, instance_id),
    ).fetchone()
    return None if row is None else str(row[0])


def put_instance(
    conn: sqlite3.Connection, coll: Collection, instance_id: str, instance: dict[str, Any]
) -> None:
    data = json.dumps(instance, separators=(",", ":"), ensure_ascii=False)
    conn.execute(
        "INSERT OR REPLACE INTO tdb_instances (db_id, collection, id, data) VALUES (?,?,?,?)",
        (coll.db_id, coll.name, instance_id, data),
    )
    write_index_entries(conn, coll, instance_id, instance)


def remove_instance(conn: sqlite3.Connection, coll: Collection, instance_id: str) -> bool:
    cur = conn.execute(
        "DELETE FROM tdb_instances WHERE db_id = ? AND collection = ? AND id = ?",
        (coll.db_id, coll.name, instance_id),
    )
    if cur.rowcount:
        delete_index_entries(conn, coll, instance_id)
    return bool(cur.rowcount)
