"""RFC 7386 merge patches: the RFC's examples and the create/apply round trip."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bucketfs.hub.threaddb.mergepatch import apply_patch, create_patch

RFC_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "result"), RFC_EXAMPLES)
def test_rfc_7386_examples(target: Any, patch: Any, result: Any) -> None:
    assert apply_patch(target, patch) == result


def test_create_patch_is_minimal() -> None:
    old = {"_id": "x", "name": "a", "tags": [1], "m": {"k": 1, "j": 2}, "n": 1}
    new = {"_id": "x", "name": "b", "tags": [1], "m": {"k": 1}, "n": True}
    assert create_patch(old, new) == {"name": "b", "m": {"j": None}, "n": True}


scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=3)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=2), inner, max_size=3)
    ),
    max_leaves=8,
)
# merge patches cannot express null values inside objects: instances for the round trip avoid them
no_nulls = st.recursive(
    st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: (
        st.lists(values, max_size=2) | st.dictionaries(st.text(max_size=2), inner, max_size=3)
    ),
    max_leaves=8,
)
objects = st.dictionaries(st.text(max_size=2), no_nulls, max_size=4)


@given(objects, objects)
def test_round_trip(old: dict[str, Any], new: dict[str, Any]) -> None:
    assert apply_patch(old, create_patch(old, new)) == new
