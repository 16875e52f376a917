"""Find agrees with a plain-Python model of the documented query semantics (property test).

The model states the semantics of docs/PROTOCOL.md "## ThreadDB" directly: a criterion matches
when the field exists, holds the criterion's type (string / number / bool) and compares as asked;
``ands`` are AND-ed (empty = true) and OR-ed with ``ors``; results in ``_id`` order, then
``skip``/``limit``. Indexed and unindexed collections must give the same answers.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Iterator
from itertools import count
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bucketfs.hub.store.sqlite import SqliteStore
from bucketfs.hub.threaddb import CollectionConfig, Engine, IndexConfig

SCHEMA = json.dumps(
    {"properties": {"_id": {"type": "string"}, "s": {"type": "string"}, "x": {"type": "number"}}}
).encode()
OPS: list[Callable[[Any, Any], bool]] = [
    operator.eq,
    operator.ne,
    operator.gt,
    operator.lt,
    operator.ge,
    operator.le,
]
FIELDS = ["s", "x", "b", "m.k"]

# small domains, so that equal values, type clashes and bool/number look-alikes are frequent
TEXTS = st.sampled_from(["", "a", "é", "😀"])
NUMBERS = st.sampled_from([0, 1, 1.0, 1.5])
field_values = st.one_of(NUMBERS, TEXTS, st.booleans(), st.none())
instances = st.lists(
    st.fixed_dictionaries(
        {"b": field_values, "s": TEXTS, "x": NUMBERS},
        optional={"m": st.fixed_dictionaries({"k": field_values})},
    ),
    min_size=3,
    max_size=10,
)
values = st.one_of(
    st.builds(lambda v: ("string", v), TEXTS),
    st.builds(lambda v: ("float", float(v)), NUMBERS),
    st.builds(lambda v: ("bool", v), st.booleans()),
)
# mostly the field's own type, so that comparisons (not just type checks) are exercised
typed_values = {
    "s": st.builds(lambda v: ("string", v), TEXTS) | values,
    "x": st.builds(lambda v: ("float", float(v)), NUMBERS) | values,
    "b": values,
    "m.k": values,
}
criteria = st.sampled_from(FIELDS).flatmap(
    lambda f: st.tuples(st.just(f), st.integers(0, 5), typed_values[f])
)
conjunctions = st.lists(criteria, min_size=1, max_size=2) | st.just([])
queries = st.recursive(
    st.fixed_dictionaries({"ands": conjunctions}),
    lambda inner: st.fixed_dictionaries({"ands": conjunctions, "ors": st.lists(inner, max_size=2)}),
    max_leaves=4,
)


def lookup(doc: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


def criterion_matches(doc: dict[str, Any], crit: tuple[str, int, tuple[str, Any]]) -> bool:
    path, op, (kind, want) = crit
    have = lookup(doc, path)
    if kind == "string" and isinstance(have, str):
        return OPS[op](have, want)
    if kind == "bool" and isinstance(have, bool):
        return OPS[op](have, want)
    if kind == "float" and isinstance(have, int | float) and not isinstance(have, bool):
        return OPS[op](have, want)
    return False


def model_matches(doc: dict[str, Any], q: dict[str, Any]) -> bool:
    if all(criterion_matches(doc, c) for c in q["ands"]):
        return True
    return any(model_matches(doc, o) for o in q.get("ors", []))


def to_json(q: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ands": [
            {"fieldPath": p, "operation": op, "value": {kind: v}} for p, op, (kind, v) in q["ands"]
        ]
    }
    if q.get("ors"):
        out["ors"] = [to_json(o) for o in q["ors"]]
    return out


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    store = SqliteStore(":memory:")
    yield Engine(store)
    store.close()


_ids = count()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(docs=instances, q=queries, skip=st.integers(0, 3), limit=st.integers(0, 4))
def test_find_matches_the_model(
    engine: Engine, docs: list[dict[str, Any]], q: dict[str, Any], skip: int, limit: int
) -> None:
    n = next(_ids)
    results = []
    for indexes in ((), (IndexConfig("s"), IndexConfig("x"))):
        db = bytes([1, 0x55]) + n.to_bytes(4, "big") + bytes([len(indexes)])
        cfg = CollectionConfig("c", SCHEMA, indexes)
        engine.new_db(db, name="", owner="o", api_key="", collections=[cfg])
        stored = [dict(d, _id=f"{i:03d}") for i, d in enumerate(docs)]
        engine.create(db, "c", [json.dumps(d).encode() for d in stored])
        query = dict(to_json(q), skip=skip, limit=limit)
        got = [json.loads(r)["_id"] for r in engine.find(db, "c", json.dumps(query).encode())]
        expected = [d["_id"] for d in stored if model_matches(d, q)][skip:]
        if limit:
            expected = expected[:limit]
        assert got == expected
        results.append(got)
        engine.delete_db(db)
    assert results[0] == results[1]
