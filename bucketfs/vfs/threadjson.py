"""JSON rules of the ``threads/`` namespace: file names, rendering, and parsing what was written.

An instance file is ``<_id>.json`` (names starting with ``.`` are never instances, and
``.schema.json`` is the collection's schema). Instances and schemas are rendered the same way on
every read: sorted keys, 2-space indent, UTF-8, a trailing newline. Written bytes become an
instance only if they are one JSON object whose ``_id`` (filled in when missing) matches the
file name; anything else is ``InvalidArgument`` (EINVAL) before the hub is asked. A schema
must be one JSON object that is a valid JSON Schema (checked with ``jsonschema``, as the hub
does).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jsonschema

from bucketfs.errors import InvalidArgument

SCHEMA_FILE = ".schema.json"
SUFFIX = ".json"
ID_FIELD = "_id"
MOD_FIELD = "_mod"
BUCKETS_COLLECTION = "buckets"
#: the schema ``mkdir threads/<db>/<collection>`` gives a new collection
PERMISSIVE_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {ID_FIELD: {"type": "string"}},
}


def render(value: Mapping[str, Any]) -> bytes:
    """The stable bytes of an instance or a schema."""
    return (json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def rendered_size(value: Mapping[str, Any]) -> int:
    """``len(render(value))`` without the slow pure-Python indenting encoder: the C encoder's
    compact form (same separators) plus the newlines and indentation ``render`` adds."""
    compact = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ": "))
    return len(compact.encode()) + _layout(value, 1) + 1


def _layout(value: Any, depth: int) -> int:
    """Bytes of newlines and indentation inside ``value`` rendered at nesting ``depth``."""
    if isinstance(value, dict):
        items: Any = value.values()
    elif isinstance(value, list):
        items = value
    else:
        return 0
    if not value:
        return 0
    total = len(value) * (1 + 2 * depth) + 1 + 2 * (depth - 1)
    for item in items:
        if isinstance(item, (dict, list)):
            total += _layout(item, depth + 1)
    return total


def valid_name(name: str) -> bool:
    """Whether ``name`` can be a directory entry at all."""
    return name not in ("", ".", "..") and "/" not in name and "\0" not in name


def instance_id(name: str) -> str | None:
    """The ``_id`` a file name stands for, or None when the name is not an instance name."""
    if not name.endswith(SUFFIX) or name.startswith(".") or len(name) == len(SUFFIX):
        return None
    return name[: -len(SUFFIX)] if valid_name(name) else None


def file_name(id_: str) -> str | None:
    """The file name of instance ``id_`` (None when the id cannot be shown as a file)."""
    if not id_ or id_[0] == "." or "/" in id_ or "\0" in id_ or len(id_) > 250:
        return None
    name = id_ + SUFFIX
    return name if len(id_) < 62 or len(name.encode()) <= 255 else None


def mod_time(instance: Mapping[str, Any]) -> int:
    """``_mod`` (Unix ns) of an instance, 0 when missing or malformed."""
    mod = instance.get(MOD_FIELD)
    return mod if isinstance(mod, int) and not isinstance(mod, bool) and mod > 0 else 0


def parse_object(data: bytes, what: str) -> dict[str, Any]:
    """``data`` as one JSON object (raises ``InvalidArgument`` naming ``what``)."""
    try:
        value = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidArgument(f"{what}: not UTF-8: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"{what}: invalid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidArgument(f"{what}: JSON {type(value).__name__} is not an object")
    return value


def parse_schema(data: bytes, what: str) -> dict[str, Any]:
    """``data`` as a collection schema: one JSON object that is a valid JSON Schema of the
    draft it declares (draft 7 when it declares none or one this check does not know: the hub
    has the last word). Raises ``InvalidArgument`` with the validator's message."""
    schema = parse_object(data, what)
    declared = schema.get("$schema")
    known = {"$schema": declared} if isinstance(declared, str) else {}
    cls = jsonschema.validators.validator_for(known, default=jsonschema.Draft7Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise InvalidArgument(f"{what}: invalid collection schema: {exc.message}") from None
    return schema


def forbids_mod(schema: Mapping[str, Any]) -> bool:
    """Whether the schema rejects ``_mod`` (extra properties forbidden and ``_mod`` undeclared)."""
    props = schema.get("properties")
    declared = isinstance(props, Mapping) and MOD_FIELD in props
    return schema.get("additionalProperties") is False and not declared


def instance_to_store(
    data: bytes, id_: str, what: str, schema: Mapping[str, Any]
) -> dict[str, Any]:
    """The instance to send for bytes written to ``<id_>.json`` (see the module docstring)."""
    value = parse_object(data, what)
    found = value.setdefault(ID_FIELD, id_)
    if found != id_:
        raise InvalidArgument(f"{what}: _id {found!r} does not match the file name")
    if forbids_mod(schema):
        value.pop(MOD_FIELD, None)
    return value
