"""Write validators and read filters in the engine with several identities (through gRPC the hub
admits only a thread's owner, so tests/hub/test_validators.py sees one writer; here alice and bob
share a database as they would on upstream's hub)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from bucketfs.errors import BucketfsError, NotFound
from bucketfs.hub.store.sqlite import SqliteStore
from bucketfs.hub.threaddb import CollectionConfig, Engine

SCHEMA = json.dumps({"type": "object", "properties": {"_id": {"type": "string"}}}).encode()
OWNER_WRITES = """
if (event.patch.type === "create") return event.patch.json_patch.owner === writer;
return instance.owner === writer;
"""
OWNER_READS = "return instance.owner === reader ? instance : null"


def j(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


@pytest.fixture
def engine() -> Iterator[Engine]:
    store = SqliteStore(":memory:")
    yield Engine(store)
    store.close()


@pytest.fixture
def db(engine: Engine) -> bytes:
    db_id = bytes([1, 0x55]) + os.urandom(32)
    engine.new_db(db_id, name="", owner="alice", api_key="k")
    config = CollectionConfig(
        "notes", SCHEMA, write_validator=OWNER_WRITES, read_filter=OWNER_READS
    )
    engine.new_collection(db_id, config)
    return db_id


def test_each_writer_changes_only_its_own(engine: Engine, db: bytes) -> None:
    engine.create(db, "notes", [j(_id="a", owner="alice")], "alice")
    with pytest.raises(BucketfsError, match=r"^app denied net record body$"):
        engine.create(db, "notes", [j(_id="b", owner="alice")], "bob")
    engine.create(db, "notes", [j(_id="b", owner="bob")], "bob")
    with pytest.raises(BucketfsError, match=r"^app denied net record body$"):
        engine.save(db, "notes", [j(_id="a", owner="alice", text="bob was here")], "bob")
    with pytest.raises(BucketfsError, match=r"^app denied net record body$"):
        engine.delete(db, "notes", ["a"], "bob")
    with pytest.raises(BucketfsError, match=r"^app denied net record body$"):
        engine.verify(db, "notes", [j(_id="a", owner="alice")], "bob")
    engine.save(db, "notes", [j(_id="a", owner="alice", text="mine")], "alice")
    engine.delete(db, "notes", ["b"], "bob")
    assert engine.has(db, "notes", ["a"], "alice") and not engine.has(db, "notes", ["b"], "bob")


def test_each_reader_sees_only_its_own(engine: Engine, db: bytes) -> None:
    engine.create(db, "notes", [j(_id="a", owner="alice")], "alice")
    engine.create(db, "notes", [j(_id="b", owner="bob")], "bob")
    for reader, mine, theirs in (("alice", "a", "b"), ("bob", "b", "a")):
        assert [json.loads(i)["_id"] for i in engine.find(db, "notes", b"{}", reader)] == [mine]
        assert json.loads(engine.find_by_id(db, "notes", mine, reader))["owner"] == reader
        with pytest.raises(NotFound, match="instance not found"):
            engine.find_by_id(db, "notes", theirs, reader)
        assert engine.has(db, "notes", [mine], reader)
        assert not engine.has(db, "notes", [theirs], reader)


def test_listen_skips_what_the_listener_may_not_see(engine: Engine, db: bytes) -> None:
    with engine.listen(db, [], "bob") as listener:
        engine.create(db, "notes", [j(_id="a", owner="alice")], "alice")
        engine.create(db, "notes", [j(_id="b", owner="bob")], "bob")
        event = listener.get(timeout=5)
        assert event is not None and event.instance_id == "b"
        assert listener.get(timeout=0.05) is None


def test_save_keeps_the_fields_hidden_from_the_writer(engine: Engine, db: bytes) -> None:
    body = "if (reader !== instance.owner) { delete instance.secret; } return instance"
    engine.update_collection(db, CollectionConfig("notes", SCHEMA, read_filter=body))
    engine.create(db, "notes", [j(_id="a", owner="alice", secret="s", text="t")], "alice")
    assert "secret" not in json.loads(engine.find_by_id(db, "notes", "a", "bob"))
    engine.save(db, "notes", [j(_id="a", owner="alice", text="edited")], "bob")
    stored = json.loads(engine.find_by_id(db, "notes", "a", "alice"))
    assert (stored["secret"], stored["text"]) == ("s", "edited")
    # a field the writer sees and leaves out is deleted (a full replacement of what it sees)
    engine.save(db, "notes", [j(_id="a", owner="alice")], "alice")
    assert "secret" not in json.loads(engine.find_by_id(db, "notes", "a", "alice"))


def test_scripts_survive_a_restart_of_the_engine(tmp_path: Any) -> None:
    store = SqliteStore(str(tmp_path / "m.db"))
    db_id = bytes([1, 0x55]) + os.urandom(32)
    engine = Engine(store)
    engine.new_db(db_id, name="", owner="alice", api_key="k")
    engine.new_collection(db_id, CollectionConfig("n", SCHEMA, write_validator="return false"))
    store.close()
    store = SqliteStore(str(tmp_path / "m.db"))
    try:
        engine = Engine(store)
        with pytest.raises(BucketfsError, match="app denied"):
            engine.create(db_id, "n", [j(x=1)], "alice")
        engine.delete_collection(db_id, "n")
        engine.new_collection(db_id, CollectionConfig("n", SCHEMA))
        engine.create(db_id, "n", [j(x=1)], "alice")
    finally:
        store.close()
