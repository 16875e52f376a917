"""Collection schemas: parsing, the ``_id`` rule, indexable paths and instance validation.

Schemas are JSON Schema documents validated with ``jsonschema``; the draft is the one the
schema declares in ``$schema`` (4, 6 or 7), draft 7 when it declares none. Validation errors
are rendered like gojsonschema's, which upstream uses:
``instance doesn't correspond to schema: <field>: <description>; …`` with ``(root)`` as the
field of top-level errors.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
from jsonschema import Draft4Validator, Draft6Validator, Draft7Validator

from bucketfs.errors import InvalidArgument

ID_FIELD = "_id"
MOD_FIELD = "_mod"
INDEXABLE_TYPES = frozenset({"string", "number", "integer", "boolean"})
_DRAFTS = {
    "http://json-schema.org/draft-04/schema": Draft4Validator,
    "http://json-schema.org/draft-06/schema": Draft6Validator,
    "http://json-schema.org/draft-07/schema": Draft7Validator,
}
_ID_ERROR = "the collection schema _id property must be a string"


def _invalid(message: str) -> InvalidArgument:
    return InvalidArgument(message, wire_code="UNKNOWN")


class Schema:
    """A parsed, checked collection schema with its validator."""

    def __init__(self, raw: bytes) -> None:
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _invalid(f"invalid collection schema: {exc}") from None
        if not isinstance(doc, dict):
            raise _invalid("invalid collection schema: not a JSON object")
        declared = str(doc.get("$schema", "")).rstrip("#")
        if declared and declared not in _DRAFTS:
            raise _invalid(f"unsupported JSON Schema draft {declared!r} (use draft 4, 6 or 7)")
        cls = _DRAFTS.get(declared, Draft7Validator)
        try:
            cls.check_schema(doc)
        except jsonschema.SchemaError as exc:
            raise _invalid(f"invalid collection schema: {exc.message}") from None
        self.doc: dict[str, Any] = doc
        self.validator = cls(doc, format_checker=cls.FORMAT_CHECKER)
        if _type_of(self._property(ID_FIELD)) != "string":
            raise _invalid(_ID_ERROR)

    def serialize(self) -> bytes:
        """The schema re-serialised (compact JSON; not byte-identical to the input)."""
        return json.dumps(self.doc, separators=(",", ":"), ensure_ascii=False).encode()

    def _resolve(self, node: Any) -> Any:
        """Follow local ``$ref``s (``#/definitions/X``, ``#/$defs/X``) to their target."""
        seen = 0
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) and seen < 32:
            ref = node["$ref"]
            if not ref.startswith("#"):
                return node
            target: Any = self.doc
            for part in ref[1:].split("/")[1:] if ref != "#" else []:
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, dict) or part not in target:
                    return None
                target = target[part]
            node = target
            seen += 1
        return node

    def _property(self, path: str) -> Any:
        node = self._resolve(self.doc)
        for part in path.split("."):
            props = node.get("properties") if isinstance(node, dict) else None
            if not isinstance(props, dict) or part not in props:
                return None
            node = self._resolve(props[part])
        return node

    def check_index_path(self, path: str) -> None:
        """Raise unless ``path`` resolves in the schema to an indexable scalar type."""
        if path == ID_FIELD:
            raise _invalid("cannot create custom index on _id (it is always indexed)")
        if _type_of(self._property(path)) not in INDEXABLE_TYPES:
            raise _invalid("value not indexable")

    def validate(self, instance: dict[str, Any]) -> None:
        """Raise InvalidArgument with the gojsonschema-style text if ``instance`` does not fit."""
        errors = sorted(self.validator.iter_errors(instance), key=lambda e: list(e.path))
        if errors:
            details = "; ".join(f"{_field(e)}: {_description(e)}" for e in errors)
            raise _invalid(f"instance doesn't correspond to schema: {details}")


def _type_of(node: Any) -> str | None:
    if not isinstance(node, dict):
        return None
    kind = node.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        return kinds[0] if len(kinds) == 1 else None
    return kind if isinstance(kind, str) else None


def _field(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.path) or "(root)"


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return "array" if isinstance(value, list) else "object"


def _description(error: jsonschema.ValidationError) -> str:
    """gojsonschema's wording for the common keywords, jsonschema's message otherwise."""
    if error.validator == "type":
        expected = error.validator_value
        if isinstance(expected, list):
            expected = "/".join(expected)
        return f"Invalid type. Expected: {expected}, given: {_json_type(error.instance)}"
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in error.instance]
        return ", ".join(f"{name} is required" for name in missing) or error.message
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = error.schema.get("properties", {})
        extra = [k for k in error.instance if k not in allowed]
        if extra:
            return ", ".join(f"Additional property {k} is not allowed" for k in extra)
    if error.validator == "enum":
        choices = ", ".join(json.dumps(v) for v in error.validator_value)
        return f"{_field(error)} must be one of the following: {choices}"
    return error.message
