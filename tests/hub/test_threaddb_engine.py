"""ThreadDB engine: databases, collections, schemas, indexes and instance writes."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from bucketfs.errors import AlreadyExists, InvalidArgument, NotFound
from bucketfs.hub.store.sqlite import SqliteStore
from bucketfs.hub.threaddb import CollectionConfig, Engine, IndexConfig
from bucketfs.hub.threaddb.ids import NAME_ERROR

PERSON = {
    "type": "object",
    "properties": {
        "_id": {"type": "string"},
        "name": {"type": "string"},
        "age": {"type": "integer"},
        "address": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
    "required": ["name"],
}


def schema(doc: dict[str, Any] = PERSON) -> bytes:
    return json.dumps(doc).encode()


def j(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


def new_id() -> bytes:
    return bytes([1, 0x55]) + os.urandom(32)


@pytest.fixture
def engine() -> Iterator[Engine]:
    store = SqliteStore(":memory:")
    yield Engine(store)
    store.close()


@pytest.fixture
def db(engine: Engine) -> bytes:
    db_id = new_id()
    engine.new_db(db_id, name="", owner="alice", api_key="key1")
    engine.new_collection(db_id, CollectionConfig("people", schema()))
    return db_id


# -- databases -----------------------------------------------------------------------------


def test_new_db_registry_and_lookup(engine: Engine) -> None:
    a, b = new_id(), new_id()
    info = engine.new_db(a, name="Buckets", owner="alice", api_key="k")
    assert info.db_id == a and info.owner == "alice" and info.api_key == "k"
    assert len(info.key) == 64
    engine.new_db(b, name="other", owner="alice", api_key="k")
    assert engine.get_db(a) == info
    assert engine.find_db_by_name("alice", "bUcKeTs") == info
    with pytest.raises(NotFound, match="Thread not found"):
        engine.find_db_by_name("bob", "buckets")
    with pytest.raises(AlreadyExists):
        engine.new_db(new_id(), name="BUCKETS", owner="alice", api_key="k")
    engine.new_db(new_id(), name="buckets", owner="bob", api_key="k")  # per owner
    assert [d.db_id for d in engine.list_dbs("alice")] == [a, b]
    with pytest.raises(AlreadyExists):
        engine.new_db(a, name="", owner="alice", api_key="k")


def test_db_ids_names_and_keys_are_checked(engine: Engine) -> None:
    for bad in (b"", b"\x01\x55", b"\x02\x55\x07", b"\x01\x56\x07"):
        with pytest.raises(InvalidArgument) as err:
            engine.new_db(bad, name="", owner="o", api_key="")
        assert err.value.wire_code is None  # INVALID_ARGUMENT
    with pytest.raises(InvalidArgument, match="thread read key is required"):
        engine.new_db(new_id(), name="", owner="o", api_key="", key=bytes(32))
    key = os.urandom(64)
    assert engine.new_db(new_id(), name="", owner="o", api_key="", key=key).key == key
    for bad_name in ("-a", "a-", "a--b", "a b", "ü"):
        with pytest.raises(InvalidArgument) as err:
            engine.new_db(new_id(), name=bad_name, owner="o", api_key="")
        assert err.value.message == NAME_ERROR and err.value.wire_code == "UNKNOWN"


def test_new_db_with_collections_is_atomic(engine: Engine) -> None:
    db_id = new_id()
    good = CollectionConfig("a", schema())
    with pytest.raises(InvalidArgument):
        engine.new_db(
            db_id, name="", owner="o", api_key="", collections=[good, good.__class__("b", b"{")]
        )
    with pytest.raises(NotFound, match="db not found"):
        engine.get_db(db_id)
    engine.new_db(db_id, name="", owner="o", api_key="", collections=[good])
    assert [c.name for c in engine.list_collections(db_id)] == ["a"]


def test_delete_db_removes_everything(engine: Engine, db: bytes) -> None:
    engine.create(db, "people", [j(name="x")])
    engine.delete_db(db)
    with pytest.raises(NotFound, match="db not found"):
        engine.get_db(db)
    with pytest.raises(NotFound, match="db not found"):
        engine.find(db, "people", b"{}")
    with pytest.raises(NotFound, match="db not found"):
        engine.delete_db(db)


# -- collections ---------------------------------------------------------------------------


def test_collection_lifecycle(engine: Engine, db: bytes) -> None:
    with pytest.raises(AlreadyExists, match="collection already registered") as err:
        engine.new_collection(db, CollectionConfig("people", schema()))
    assert err.value.wire_code == "UNKNOWN"
    with pytest.raises(InvalidArgument, match="non-consecutive hyphens"):
        engine.new_collection(db, CollectionConfig("bad--name", schema()))
    cfg = engine.get_collection(db, "people")
    assert json.loads(cfg.schema) == PERSON and cfg.indexes == ()
    engine.delete_collection(db, "people")
    with pytest.raises(NotFound, match="collection not found"):
        engine.get_collection(db, "people")
    with pytest.raises(NotFound, match="collection not found"):
        engine.create(db, "people", [j(name="x")])
    with pytest.raises(NotFound, match="db not found"):
        engine.new_collection(new_id(), CollectionConfig("x", schema()))


@pytest.mark.parametrize(
    "doc",
    [
        {"properties": {"name": {"type": "string"}}},
        {"properties": {"_id": {"type": "integer"}}},
        {
            "$ref": "#/definitions/P",
            "definitions": {"P": {"properties": {"_id": {"type": "number"}}}},
        },
    ],
)
def test_id_must_be_a_string_property(engine: Engine, db: bytes, doc: dict[str, Any]) -> None:
    with pytest.raises(
        InvalidArgument, match="the collection schema _id property must be a string"
    ):
        engine.new_collection(db, CollectionConfig("c", schema(doc)))


def test_id_via_ref_into_definitions(engine: Engine, db: bytes) -> None:
    doc = {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "$ref": "#/definitions/P",
        "definitions": {
            "P": {
                "type": "object",
                "properties": {"_id": {"$ref": "#/definitions/Id"}, "n": {"type": "number"}},
            },
            "Id": {"type": "string"},
        },
    }
    engine.new_collection(db, CollectionConfig("c", schema(doc), (IndexConfig("n"),)))
    engine.create(db, "c", [j(n=1)])


def test_validators_and_filters_are_kept_with_the_collection(engine: Engine, db: bytes) -> None:
    """The bodies round-trip (tests/hub/test_validators.py runs them through gRPC)."""
    engine.new_collection(
        db, CollectionConfig("c", schema(), write_validator="return true", read_filter="return 1")
    )
    config = engine.get_collection(db, "c")
    assert (config.write_validator, config.read_filter) == ("return true", "return 1")
    engine.update_collection(db, CollectionConfig("c", schema(), read_filter="return instance"))
    config = engine.get_collection(db, "c")
    assert (config.write_validator, config.read_filter) == ("", "return instance")


def test_schema_errors_have_the_upstream_shape(engine: Engine, db: bytes) -> None:
    with pytest.raises(InvalidArgument) as err:
        engine.create(db, "people", [j(age="old")])
    text = err.value.message
    assert text.startswith("instance doesn't correspond to schema: ")
    assert "(root): name is required" in text
    assert "age: Invalid type. Expected: integer, given: string" in text
    assert err.value.wire_code == "UNKNOWN"
    assert engine.find(db, "people", b"{}") == []


def test_index_paths_must_be_indexable(engine: Engine, db: bytes) -> None:
    for path in ("address", "nope", "_id"):
        with pytest.raises(InvalidArgument):
            engine.new_collection(db, CollectionConfig("c", schema(), (IndexConfig(path),)))
    with pytest.raises(InvalidArgument, match="value not indexable"):
        engine.new_collection(db, CollectionConfig("c", schema(), (IndexConfig("address"),)))
    engine.new_collection(db, CollectionConfig("c", schema(), (IndexConfig("address.city"),)))


def test_unique_index_enforced_and_backfilled(engine: Engine, db: bytes) -> None:
    engine.create(db, "people", [j(name="a", age=1), j(name="b", age=1)])
    with pytest.raises(
        InvalidArgument, match=r"can't create unique index \(duplicate instances exist\)"
    ):
        engine.update_collection(
            db, CollectionConfig("people", schema(), (IndexConfig("age", True),))
        )
    assert engine.get_collection(db, "people").indexes == ()
    engine.update_collection(db, CollectionConfig("people", schema(), (IndexConfig("name", True),)))
    assert engine.get_collection(db, "people").indexes == (IndexConfig("name", True),)
    with pytest.raises(AlreadyExists, match="unique constraint violation"):
        engine.create(db, "people", [j(name="c"), j(name="a")])
    assert len(engine.find(db, "people", b"{}")) == 2  # the whole Create failed
    # back-filled: a query narrowed through the index finds the old instances
    q = {"ands": [{"fieldPath": "name", "operation": 0, "value": {"string": "b"}}]}
    assert [json.loads(r)["name"] for r in engine.find(db, "people", json.dumps(q).encode())] == [
        "b"
    ]
    # dropping the unique flag drops the constraint
    engine.update_collection(db, CollectionConfig("people", schema(), (IndexConfig("name"),)))
    engine.create(db, "people", [j(name="a")])


# -- instances -----------------------------------------------------------------------------


def test_create_generates_lowercase_ulids_and_mod(engine: Engine, db: bytes) -> None:
    ids = engine.create(db, "people", [j(name="a"), j(name="b", _id=""), j(name="c", _id="mine")])
    assert ids[2] == "mine"
    for generated in ids[:2]:
        assert len(generated) == 26 and generated == generated.lower()
    assert ids[0] < ids[1]
    got = json.loads(engine.find_by_id(db, "people", ids[0]))
    assert got["_id"] == ids[0] and got["name"] == "a" and isinstance(got["_mod"], int)
    assert got["_mod"] > 1_600_000_000 * 10**9


def test_create_existing_instance_fails_atomically(engine: Engine, db: bytes) -> None:
    engine.create(db, "people", [j(name="a", _id="x")])
    with pytest.raises(AlreadyExists, match="can't create already existing instance"):
        engine.create(db, "people", [j(name="b", _id="y"), j(name="a", _id="x")])
    assert not engine.has(db, "people", ["y"])
    with pytest.raises(AlreadyExists):
        engine.create(db, "people", [j(name="b", _id="z"), j(name="c", _id="z")])


def test_save_replaces_and_creates(engine: Engine, db: bytes) -> None:
    [i] = engine.create(db, "people", [j(name="a", age=3)])
    engine.save(db, "people", [j(_id=i, name="b")])
    got = json.loads(engine.find_by_id(db, "people", i))
    assert got["name"] == "b" and "age" not in got
    engine.save(db, "people", [j(_id="new", name="n")])
    assert engine.has(db, "people", [i, "new"])
    with pytest.raises(InvalidArgument, match="invalid instance: missing _id attribute"):
        engine.save(db, "people", [j(name="x")])
    with pytest.raises(InvalidArgument, match="doesn't correspond to schema"):
        engine.save(db, "people", [j(_id=i)])


def test_verify_never_commits(engine: Engine, db: bytes) -> None:
    engine.update_collection(db, CollectionConfig("people", schema(), (IndexConfig("name", True),)))
    [a] = engine.create(db, "people", [j(name="a")])
    engine.verify(db, "people", [j(_id="v", name="v")])
    assert not engine.has(db, "people", ["v"])
    with pytest.raises(AlreadyExists, match="unique constraint violation"):
        engine.verify(db, "people", [j(_id="v", name="a")])
    with pytest.raises(InvalidArgument):
        engine.verify(db, "people", [j(_id=a, age=1)])


def test_delete_skips_missing_ids_and_has_needs_all(engine: Engine, db: bytes) -> None:
    ids = engine.create(db, "people", [j(name=str(n)) for n in range(3)])
    assert engine.has(db, "people", ids)
    engine.delete(db, "people", [ids[0], "missing", ids[1]])
    assert not engine.has(db, "people", ids[:1])
    assert not engine.has(db, "people", ids[1:])  # ids[1] deleted despite the missing id before
    assert engine.has(db, "people", ids[2:])
    with pytest.raises(NotFound, match="instance not found") as err:
        engine.find_by_id(db, "people", ids[0])
    assert err.value.wire_code == "UNKNOWN"


@pytest.mark.parametrize("raw", [b"[]", b"not json", b'{"_id": 5, "name": "x"}', b'{"name": NaN}'])
def test_malformed_instances_are_refused(engine: Engine, db: bytes, raw: bytes) -> None:
    with pytest.raises(InvalidArgument):
        engine.create(db, "people", [raw])


def test_update_collection_replaces_the_schema(engine: Engine, db: bytes) -> None:
    engine.create(db, "people", [j(name="old")])  # cached with the old schema
    strict = dict(PERSON, required=["name", "age"])
    engine.update_collection(db, CollectionConfig("people", schema(strict)))
    with pytest.raises(InvalidArgument, match="age is required"):
        engine.create(db, "people", [j(name="x")])
    engine.create(db, "people", [j(name="x", age=1)])
    assert len(engine.find(db, "people", b"{}")) == 2  # existing instances are kept
    with pytest.raises(NotFound, match="collection not found"):
        engine.update_collection(db, CollectionConfig("nope", schema()))
