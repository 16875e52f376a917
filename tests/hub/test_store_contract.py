"""Contract of bucketfs.hub.store.MetadataStore, run against every implementation.

Plus durability of the file store: a writer process killed with SIGKILL loses no write it
reported as committed and leaves no partial multi-instance Create behind.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bucketfs.hub.store import MetadataStore, open_store
from bucketfs.hub.store.sqlite import SqliteStore


@pytest.fixture(params=["file", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataStore]:
    path = str(tmp_path / "meta.db") if request.param == "file" else ":memory:"
    s = open_store(path)
    s.ensure_schema("t", ["CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v INTEGER)"])
    yield s
    s.close()


def _get(store: MetadataStore, key: str) -> int | None:
    with store.snapshot() as conn:
        row = conn.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
    return None if row is None else int(row[0])


def test_is_a_metadata_store(store: MetadataStore) -> None:
    assert isinstance(store, MetadataStore)


def test_transaction_commits(store: MetadataStore) -> None:
    with store.transaction() as conn:
        conn.execute("INSERT INTO kv VALUES ('a', 1)")
        conn.execute("INSERT INTO kv VALUES ('b', 2)")
    assert _get(store, "a") == 1
    assert _get(store, "b") == 2


def test_exception_rolls_back_everything(store: MetadataStore) -> None:
    with pytest.raises(RuntimeError), store.transaction() as conn:
        conn.execute("INSERT INTO kv VALUES ('a', 1)")
        raise RuntimeError("boom")
    assert _get(store, "a") is None
    with pytest.raises(sqlite3.IntegrityError), store.transaction() as conn:
        conn.execute("INSERT INTO kv VALUES ('c', 1)")
        conn.execute("INSERT INTO kv VALUES ('c', 2)")
    assert _get(store, "c") is None


def test_snapshot_is_read_only(store: MetadataStore) -> None:
    with store.snapshot() as conn:
        conn.execute("SELECT count(*) FROM kv").fetchone()
    if isinstance(store, SqliteStore) and store.path != ":memory:":
        with pytest.raises(sqlite3.OperationalError), store.snapshot() as conn:
            conn.execute("INSERT INTO kv VALUES ('x', 1)")


def test_ensure_schema_runs_once_per_statement_set(store: MetadataStore) -> None:
    ddl = ["CREATE TABLE counter (n INTEGER)", "INSERT INTO counter VALUES (1)"]
    store.ensure_schema("other", ddl)
    store.ensure_schema("other", ddl)  # not re-run: CREATE TABLE without IF NOT EXISTS would fail
    with store.snapshot() as conn:
        assert conn.execute("SELECT count(*) FROM counter").fetchone()[0] == 1
    store.ensure_schema("other", [*ddl[1:], "INSERT INTO counter VALUES (2)"])
    with store.snapshot() as conn:
        assert conn.execute("SELECT sum(n) FROM counter").fetchone()[0] == 4


def test_failed_ensure_schema_changes_nothing(store: MetadataStore) -> None:
    with pytest.raises(sqlite3.OperationalError):
        store.ensure_schema("bad", ["CREATE TABLE half (n INTEGER)", "NOT SQL"])
    store.ensure_schema("bad2", ["CREATE TABLE half (n INTEGER)"])  # 'half' was rolled back


def test_concurrent_writers_lose_no_update(store: MetadataStore) -> None:
    with store.transaction() as conn:
        conn.execute("INSERT INTO kv VALUES ('n', 0)")

    def bump() -> None:
        for _ in range(50):
            with store.transaction() as conn:
                (n,) = conn.execute("SELECT v FROM kv WHERE k = 'n'").fetchone()
                conn.execute("UPDATE kv SET v = ? WHERE k = 'n'", (n + 1,))
            _get(store, "n")

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _get(store, "n") == 200


def test_closed_store_refuses_work(store: MetadataStore) -> None:
    store.close()
    with pytest.raises(RuntimeError), store.transaction():
        pass
    store.close()  # idempotent


def test_file_store_is_wal_full_sync_and_persists(tmp_path: Path) -> None:
    path = str(tmp_path / "meta.db")
    s = SqliteStore(path)
    s.ensure_schema("t", ["CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v INTEGER)"])
    with s.transaction() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        conn.execute("INSERT INTO kv VALUES ('a', 7)")
    s.close()
    s = SqliteStore(path)
    assert _get(s, "a") == 7
    s.close()


def test_snapshot_does_not_see_uncommitted_writes(tmp_path: Path) -> None:
    s = SqliteStore(str(tmp_path / "meta.db"))
    s.ensure_schema("t", ["CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v INTEGER)"])
    seen: list[int | None] = []
    with s.transaction() as conn:
        conn.execute("INSERT INTO kv VALUES ('a', 1)")
        t = threading.Thread(target=lambda: seen.append(_get(s, "a")))
        t.start()
        t.join()
    assert seen == [None]
    assert _get(s, "a") == 1
    s.close()


_WRITER = """
import json, sys
from bucketfs.hub.store.sqlite import SqliteStore
from bucketfs.hub.threaddb import CollectionConfig, Engine
engine = Engine(SqliteStore(sys.argv[1]))
db = bytes([1, 0x55]) + bytes(range(32))
schema = json.dumps({"properties": {"_id": {"type": "string"}}}).encode()
engine.new_db(db, name="", owner="o", api_key="", collections=[CollectionConfig("c", schema)])
batch = 0
while True:
    ids = engine.create(db, "c", [json.dumps({"batch": batch, "pad": "x" * 2000}).encode()] * 4)
    print(json.dumps([batch, ids]), flush=True)
    batch += 1
"""


def test_kill_9_loses_no_acknowledged_write(tmp_path: Path) -> None:
    path = str(tmp_path / "crash.db")
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, path], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    acked = []
    try:
        for line in proc.stdout:
            acked.append(json.loads(line))
            if len(acked) >= 60:
                break
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    assert len(acked) >= 60, "writer died early"
    from bucketfs.hub.threaddb import Engine

    s = SqliteStore(path)
    engine = Engine(s)
    db = bytes([1, 0x55]) + bytes(range(32))
    for _batch, ids in acked:
        assert engine.has(db, "c", ids)
    per_batch: dict[int, int] = {}
    for raw in engine.find(db, "c", b"{}"):
        b = json.loads(raw)["batch"]
        per_batch[b] = per_batch.get(b, 0) + 1
    assert all(n == 4 for n in per_batch.values()), per_batch
    assert len(per_batch) >= len(acked)
    s.close()


def test_failed_commit_rolls_back_and_store_stays_usable(store: MetadataStore) -> None:
    store.ensure_schema(
        "fk",
        [
            "CREATE TABLE IF NOT EXISTS parent (id INTEGER PRIMARY KEY)",
            "CREATE TABLE IF NOT EXISTS child (pid INTEGER REFERENCES parent(id) "
            "DEFERRABLE INITIALLY DEFERRED)",
        ],
    )
    with pytest.raises(sqlite3.IntegrityError), store.transaction() as conn:
        conn.execute("INSERT INTO kv VALUES ('lost', 1)")
        conn.execute("INSERT INTO child VALUES (42)")  # violation detected only at COMMIT
    assert _get(store, "lost") is None
    with store.transaction() as conn:
        conn.execute("INSERT INTO kv VALUES ('kept', 1)")
    assert _get(store, "kept") == 1
