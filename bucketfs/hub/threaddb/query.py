"""ThreadDB query JSON (WIRE.md §3.4): parsing and translation to SQL over the instances table.

Keys are matched case-insensitively, like Go's JSON decoder that upstream uses, so both
``{"ands": …}`` and ``{"Ands": …}`` work. A query becomes one SQL ``WHERE`` clause over the
JSON text of the instances (SQLite JSON1), plus ``ORDER BY``/``LIMIT``/``OFFSET``, so SQLite
pages through a collection without the engine loading it.

Deliberate fixes of upstream quirks:

* a criterion whose field is missing, or holds another type than the criterion's value, simply
  does not match (upstream stops iterating and silently truncates the result);
* ``skip`` without ``limit`` skips (upstream returns nothing);
* sorting on a field other than ``_id`` happens before ``limit``/``skip`` (upstream sorts only
  the first ``limit`` instances in key order); instances lacking the sort field come last;
* booleans order ``false < true`` (upstream: any unequal bool is "less");
* ``index`` names an index path; without ``sort`` the results come in that field's order.

Kept from upstream: a query whose ``ands`` is empty matches every instance, whatever its ``ors``
(``(a AND b) OR c`` with an empty conjunction is true).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from bucketfs.errors import InvalidArgument

EQ, NE, GT, LT, GE, LE = range(6)
_SQL_OPS = {EQ: "=", NE: "!=", GT: ">", LT: "<", GE: ">=", LE: "<="}
# value kind -> (JSON types of the stored field, tag used in index entries)
_KINDS = {
    "string": ("'text'", "s"),
    "float": ("'integer','real'", "n"),
    "bool": ("'true','false'", "b"),
}


def _invalid(message: str) -> InvalidArgument:
    return InvalidArgument(message, wire_code="UNKNOWN")


@dataclass(frozen=True)
class Criterion:
    field_path: str
    operation: int
    kind: str  # "string" | "float" | "bool"
    value: str | float | bool


@dataclass
class Query:
    ands: list[Criterion] = field(default_factory=list)
    ors: list[Query] = field(default_factory=list)
    sort_path: str = ""
    sort_desc: bool = False
    seek: str = ""
    limit: int = 0
    skip: int = 0
    index: str = ""


def _fold(obj: dict[str, Any]) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in obj.items()}


def _go_type_error(value: Any, struct: str, name: str, go_type: str) -> InvalidArgument:
    kinds = {bool: "bool", str: "string", list: "array", dict: "object"}
    got = kinds.get(type(value), "number")
    if got == "number":
        got = f"number {json.dumps(value)}"
    return InvalidArgument(
        f"json: cannot unmarshal {got} into Go struct field {struct}.{name} of type {go_type}"
    )


def _get(obj: dict[str, Any], name: str, kind: type, struct: str, go_type: str) -> Any:
    value = obj.get(name.lower())
    if value is None:
        return kind()
    if kind is int:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        ok = ok and float(value).is_integer() and abs(value) < 2**63
        if not ok:
            raise _go_type_error(value, struct, name, go_type)
        return int(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise _go_type_error(value, struct, name, go_type)
    return value


def _parse_value(raw: Any) -> tuple[str, str | float | bool]:
    if not isinstance(raw, dict):
        raise _go_type_error(raw, "Criterion", "Value", "db.Value")
    folded = _fold(raw)
    present = [(k, folded[k]) for k in ("string", "bool", "float") if folded.get(k) is not None]
    if len(present) != 1:
        raise _invalid("value type should describe exactly one type")
    kind, value = present[0]
    go_types = {"string": (str, "string"), "bool": (bool, "bool"), "float": (float, "float64")}
    py_type, go_type = go_types[kind]
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _go_type_error(value, "Value", "Float", go_type)
        value = float(value)
    elif not isinstance(value, py_type):
        raise _go_type_error(value, "Value", kind.capitalize(), go_type)
    return kind, value


def _parse_criterion(raw: Any) -> Criterion:
    if not isinstance(raw, dict):
        raise _go_type_error(raw, "Query", "Ands", "db.Criterion")
    obj = _fold(raw)
    path = _get(obj, "fieldPath", str, "Criterion", "string")
    op = _get(obj, "operation", int, "Criterion", "db.Operation")
    if op not in _SQL_OPS:
        raise _invalid(f"invalid operation {op}")
    kind, value = _parse_value(obj.get("value"))
    return Criterion(path, op, kind, value)


def _parse_query(raw: Any, struct: str = "Query") -> Query:
    if not isinstance(raw, dict):
        raise _go_type_error(raw, struct, "Ors", "db.Query")
    obj = _fold(raw)
    q = Query()
    ands = obj.get("ands") or []
    ors = obj.get("ors") or []
    if not isinstance(ands, list):
        raise _go_type_error(ands, "Query", "Ands", "[]*db.Criterion")
    if not isinstance(ors, list):
        raise _go_type_error(ors, "Query", "Ors", "[]*db.Query")
    q.ands = [_parse_criterion(c) for c in ands if c is not None]
    q.ors = [_parse_query(o) for o in ors if o is not None]
    sort = obj.get("sort")
    if sort is not None:
        if not isinstance(sort, dict):
            raise _go_type_error(sort, "Query", "Sort", "db.Sort")
        sort = _fold(sort)
        q.sort_path = _get(sort, "fieldPath", str, "Sort", "string")
        q.sort_desc = _get(sort, "desc", bool, "Sort", "bool")
    q.seek = _get(obj, "seek", str, "Query", "string")
    q.limit = max(0, _get(obj, "limit", int, "Query", "int"))
    q.skip = max(0, _get(obj, "skip", int, "Query", "int"))
    q.index = _get(obj, "index", str, "Query", "string")
    return q


def parse(query_json: bytes) -> Query:
    """Parse ``FindRequest.queryJSON``; empty input means ``{}`` (everything)."""
    if not query_json.strip():
        return Query()
    try:
        raw = json.loads(query_json)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"invalid query JSON: {exc}") from None
    if raw is None:
        return Query()
    return _parse_query(raw)


def json_path(field_path: str) -> str:
    """SQLite JSON path of a dot-separated field path (``a.b`` → ``$."a"."b"``)."""
    parts = field_path.split(".")
    if any('"' in part for part in parts):
        raise InvalidArgument(f"field path {field_path!r} must not contain '\"'")
    return "$" + "".join(f'."{part}"' for part in parts)


def index_value(value: Any) -> tuple[str, Any] | None:
    """(kind tag, SQL value) of a JSON value as stored in index entries, None if not indexable."""
    if isinstance(value, bool):
        return "b", int(value)
    if isinstance(value, int | float):
        return ("n", float(value)) if math.isfinite(value) else None
    if isinstance(value, str):
        return "s", value
    return None


def _sql_value(c: Criterion) -> Any:
    return int(c.value) if c.kind == "bool" else c.value


def _criterion_sql(c: Criterion, params: list[Any]) -> str:
    types, _ = _KINDS[c.kind]
    path = json_path(c.field_path)
    params += [path, path, _sql_value(c)]
    return f"(json_type(data, ?) IN ({types}) AND json_extract(data, ?) {_SQL_OPS[c.operation]} ?)"


def _match_sql(q: Query, params: list[Any]) -> str:
    if not q.ands:
        return "1"
    conj = " AND ".join(_criterion_sql(c, params) for c in q.ands)
    alts = [f"({conj})"] + [f"({_match_sql(o, params)})" for o in q.ors]
    return " OR ".join(alts)


@dataclass
class Plan:
    """SQL pieces of one Find over ``tdb_instances`` (``db_id``/``collection`` bound first)."""

    where: str
    params: list[Any]
    order: str
    limit: int
    offset: int


def plan(q: Query, indexes: frozenset[str], db_id: bytes, collection: str) -> Plan:
    """Translate a parsed query; ``indexes`` are the collection's indexed paths."""
    params: list[Any] = []
    where = [f"({_match_sql(q, params)})"]
    if not q.ors:  # pure conjunction: narrow through index entries where possible
        for c in q.ands:
            if c.field_path in indexes and c.operation != NE:
                tag = _KINDS[c.kind][1]
                where.append(
                    "id IN (SELECT id FROM tdb_index WHERE db_id = ? AND collection = ? "
                    f"AND path = ? AND vtype = ? AND value {_SQL_OPS[c.operation]} ?)"
                )
                params += [db_id, collection, c.field_path, tag, _sql_value(c)]
    if q.index and q.index not in indexes:
        raise _invalid(f"index not found: {q.index}")
    sort_path = q.sort_path or q.index
    if sort_path and sort_path != "_id":
        path = json_path(sort_path)
        direction = "DESC" if q.sort_desc else "ASC"
        order = f"json_type(data, ?) IS NULL, json_extract(data, ?) {direction}, id {direction}"
        order_params = [path, path]
        if q.seek:
            where.append("id >= ?")
            params.append(q.seek)
    else:
        desc = sort_path == "_id" and q.sort_desc
        order, order_params = ("id DESC" if desc else "id ASC"), []
        if q.seek:
            where.append("id <= ?" if desc else "id >= ?")
            params.append(q.seek)
    return Plan(" AND ".join(where), params + order_params, order, q.limit or -1, q.skip)
