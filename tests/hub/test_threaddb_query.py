"""ThreadDB Find: query JSON parsing, matching, ordering, paging and the fixed upstream quirks."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from bucketfs.errors import InvalidArgument
from bucketfs.hub.store.sqlite import SqliteStore
from bucketfs.hub.threaddb import CollectionConfig, Engine, IndexConfig

SCHEMA = {
    "properties": {
        "_id": {"type": "string"},
        "name": {"type": "string"},
        "age": {"type": "number"},
        "ok": {"type": "boolean"},
        "meta": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
}
PEOPLE = [
    {"_id": "a", "name": "ann", "age": 30, "ok": True, "meta": {"city": "rome"}, "tag": "x"},
    {"_id": "b", "name": "bob", "age": 25, "ok": False, "meta": {"city": "oslo"}},
    {"_id": "c", "name": "cid", "age": 35.5, "ok": True},
    {"_id": "d", "name": "dan", "ok": False, "meta": {"city": "rome"}},
    {"_id": "e", "name": "eve", "tag": 5},
    {"_id": "f", "name": "fay", "age": 25, "meta": {"city": "lima"}},
]


@pytest.fixture(params=["plain", "indexed"])
def env(request: pytest.FixtureRequest) -> Iterator[tuple[Engine, bytes]]:
    store = SqliteStore(":memory:")
    engine = Engine(store)
    db = bytes([1, 0x55]) + os.urandom(32)
    indexes: tuple[IndexConfig, ...] = ()
    if request.param == "indexed":
        indexes = (
            IndexConfig("name", True),
            IndexConfig("age"),
            IndexConfig("ok"),
            IndexConfig("meta.city"),
        )
    engine.new_db(
        db,
        name="",
        owner="o",
        api_key="",
        collections=[CollectionConfig("p", json.dumps(SCHEMA).encode(), indexes)],
    )
    engine.create(db, "p", [json.dumps(p).encode() for p in PEOPLE])
    yield engine, db
    store.close()


def find(env: tuple[Engine, bytes], query: Any) -> list[str]:
    engine, db = env
    raw = query if isinstance(query, bytes) else json.dumps(query).encode()
    return [json.loads(r)["_id"] for r in engine.find(db, "p", raw)]


def crit(path: str, op: int, **value: Any) -> dict[str, Any]:
    return {"fieldPath": path, "operation": op, "value": value}


def test_empty_query_returns_everything_in_id_order(env: tuple[Engine, bytes]) -> None:
    assert find(env, {}) == list("abcdef")
    assert find(env, b"") == list("abcdef")


@pytest.mark.parametrize(
    ("criterion", "expected"),
    [
        (crit("name", 0, string="bob"), "b"),
        (crit("name", 1, string="bob"), "acdef"),
        (crit("age", 2, float=25), "ac"),  # "d" and "e" lack it: no match, no truncation
        (crit("tag", 0, string="x"), "a"),  # "e" holds a number: no match, no truncation
        (crit("tag", 4, float=1), "e"),
        (crit("age", 3, float=30), "bf"),
        (crit("age", 4, float=30), "ac"),
        (crit("age", 5, float=25), "bf"),
        (crit("age", 0, float=35.5), "c"),
        (crit("ok", 0, bool=True), "ac"),
        (crit("ok", 1, bool=True), "bd"),
        (crit("ok", 2, bool=False), "ac"),
        (crit("meta.city", 0, string="rome"), "ad"),
        (crit("meta.city", 2, string="lima"), "abd"),
        (crit("name", 2, string="cid"), "def"),
        (crit("missing.path", 0, string="x"), ""),
        (crit("ok", 2, float=0), ""),  # a bool is not a number
        (crit("ok", 0, float=1), ""),
        (crit("age", 2, bool=False), ""),  # nor is a number a bool
        (crit("tag", 3, string="zzz"), "a"),  # nor a number a string
        (crit("age", 4, float=25), "abcf"),
        (crit("age", 3, float=25.5), "bf"),
    ],
)
def test_operations(env: tuple[Engine, bytes], criterion: dict[str, Any], expected: str) -> None:
    assert find(env, {"ands": [criterion]}) == list(expected)


def test_ands_ors_and_case_insensitive_keys(env: tuple[Engine, bytes]) -> None:
    q = {"ands": [crit("ok", 0, bool=True), crit("age", 2, float=31)]}
    assert find(env, q) == ["c"]
    q["ors"] = [
        {"ands": [crit("name", 0, string="bob")]},
        {"ands": [crit("name", 0, string="eve")]},
    ]
    assert find(env, q) == ["b", "c", "e"]
    go_style = {
        "Ands": [{"FieldPath": "name", "Operation": 0, "Value": {"String": "fay"}}],
        "LIMIT": 5,
    }
    assert find(env, go_style) == ["f"]
    # an empty conjunction is true (upstream semantics), whatever the ors
    assert find(env, {"ors": [{"ands": [crit("name", 0, string="bob")]}]}) == list("abcdef")


def test_sort_happens_before_limit_and_skip(env: tuple[Engine, bytes]) -> None:
    by_age = find(env, {"ands": [crit("age", 4, float=0)], "sort": {"fieldPath": "age"}})
    assert by_age == ["b", "f", "a", "c"]
    desc = find(
        env,
        {"ands": [crit("age", 4, float=0)], "sort": {"fieldPath": "age", "desc": True}, "limit": 2},
    )
    assert desc == ["c", "a"]
    assert find(env, {"sort": {"fieldPath": "name", "desc": True}, "limit": 2, "skip": 1}) == [
        "e",
        "d",
    ]
    # instances lacking the sort field come last
    assert find(env, {"sort": {"fieldPath": "meta.city"}})[-2:] == ["c", "e"]
    assert find(env, {"sort": {"fieldPath": "_id", "desc": True}}) == list("fedcba")


def test_limit_skip_seek(env: tuple[Engine, bytes]) -> None:
    assert find(env, {"limit": 2}) == ["a", "b"]
    assert find(env, {"skip": 4}) == ["e", "f"]  # skip without limit works
    assert find(env, {"skip": 2, "limit": 2}) == ["c", "d"]
    assert find(env, {"seek": "c", "limit": 2}) == ["c", "d"]
    assert find(env, {"seek": "c", "sort": {"fieldPath": "_id", "desc": True}}) == ["c", "b", "a"]
    assert find(env, {"limit": 0}) == list("abcdef")


def test_index_hint(env: tuple[Engine, bytes], request: pytest.FixtureRequest) -> None:
    if "indexed" in request.node.callspec.id:
        assert find(env, {"index": "name", "ands": [crit("name", 3, string="c")]}) == ["a", "b"]
    else:
        with pytest.raises(InvalidArgument, match="index not found"):
            find(env, {"index": "name"})


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            {"ands": [{"fieldPath": "a", "operation": 0, "value": {}}]},
            "value type should describe exactly one type",
        ),
        (
            {"ands": [{"fieldPath": "a", "operation": 0, "value": {"string": "x", "float": 1}}]},
            "exactly one type",
        ),
        (
            {"ands": [{"fieldPath": "a", "operation": 9, "value": {"string": "x"}}]},
            "invalid operation",
        ),
        ({"limit": "ten"}, "cannot unmarshal string into Go struct field Query.limit of type int"),
        ({"limit": 1.5}, "cannot unmarshal number 1.5"),
        (
            {"ands": [{"fieldPath": "a", "operation": 0, "value": {"float": "1"}}]},
            "cannot unmarshal string",
        ),
        ([], "cannot unmarshal array"),
    ],
)
def test_bad_queries(env: tuple[Engine, bytes], query: Any, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        find(env, query)


def test_invalid_json_query(env: tuple[Engine, bytes]) -> None:
    with pytest.raises(InvalidArgument):
        find(env, b"{nope")


def test_find_reflects_saves_and_deletes_in_index(env: tuple[Engine, bytes]) -> None:
    engine, db = env
    engine.save(db, "p", [json.dumps({"_id": "a", "name": "zed", "age": 1}).encode()])
    engine.delete(db, "p", ["b"])
    assert find(env, {"ands": [crit("name", 0, string="ann")]}) == []
    assert find(env, {"ands": [crit("name", 0, string="zed")]}) == ["a"]
    assert find(env, {"ands": [crit("age", 0, float=25)]}) == ["f"]
