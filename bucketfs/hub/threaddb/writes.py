"""Instance writes of the ThreadDB engine: preparing, applying, and the transaction objects.

A write is prepared first (JSON parsed, ``_id`` checked or generated, schema validated) and
applied later inside one store transaction, which also sets ``_mod`` and maintains the index
entries. Unary Create/Save/Delete prepare and apply at once; a :class:`WriteTransaction`
buffers prepared writes and applies them all at ``commit``.

Save stores the new instance as sent (plus ``_mod``): with no read filters, the RFC 7386 merge
patch upstream computes from the stored instance to the new one, applied to the stored one, is
exactly the new instance (see ``mergepatch.py``). A collection with a read filter that hides
part of the stored instance from the writer gets that patch applied, as upstream; its write
validator sees every event at apply time (commit, and Verify's rolled-back apply).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bucketfs.errors import AlreadyExists, InvalidArgument
from bucketfs.hub.threaddb import catalog
from bucketfs.hub.threaddb.ids import new_ulid
from bucketfs.hub.threaddb.listen import ACTION_CREATE, ACTION_DELETE, ACTION_SAVE, Action
from bucketfs.hub.threaddb.mergepatch import apply_patch, create_patch
from bucketfs.hub.threaddb.sandbox import Scripts
from bucketfs.hub.threaddb.schema import ID_FIELD, MOD_FIELD

if TYPE_CHECKING:
    from bucketfs.hub.threaddb.engine import Engine

TXN_DONE = "can't commit discarded/committed txn"
_mod_lock = threading.Lock()
_mod_last = 0


@dataclass(frozen=True)
class Op:
    """One prepared write: ``action`` is a ListenReply action; ``instance`` None for delete."""

    action: int
    instance_id: str
    instance: dict[str, Any] | None


def _invalid(message: str) -> InvalidArgument:
    return InvalidArgument(message, wire_code="UNKNOWN")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON number {name}")


def parse_instance(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _invalid(f"invalid instance: {exc}") from None
    if not isinstance(value, dict):
        raise _invalid("invalid instance: not a JSON object")
    return value


def _instance_id(instance: dict[str, Any]) -> str:
    value = instance.get(ID_FIELD)
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise _invalid("invalid instance: _id must be a string")
    return value


def prepare_create(coll: catalog.Collection, raw: bytes) -> Op:
    instance = parse_instance(raw)
    instance_id = _instance_id(instance) or new_ulid()
    instance[ID_FIELD] = instance_id
    coll.schema.validate(instance)
    return Op(ACTION_CREATE, instance_id, instance)


def prepare_save(coll: catalog.Collection, raw: bytes, *, validate: bool = True) -> Op:
    instance = parse_instance(raw)
    instance_id = _instance_id(instance)
    if not instance_id:
        raise _invalid("invalid instance: missing _id attribute")
    if validate:
        coll.schema.validate(instance)
    return Op(ACTION_SAVE, instance_id, instance)


def mod_time() -> int:
    """Write time in Unix nanoseconds, strictly increasing within this process."""
    global _mod_last
    with _mod_lock:
        _mod_last = max(time.time_ns(), _mod_last + 1)
        return _mod_last


def apply_ops(
    conn: Any, coll: catalog.Collection, ops: Sequence[Op], writer: str = ""
) -> list[Action]:
    """Apply prepared writes in order inside the caller's transaction; return the actions.

    A collection with a write validator has each event checked (a refusal raises and so rolls
    the whole transaction back); with a read filter a Save is applied as the merge patch from
    what the writer sees of the stored instance (fields hidden from the writer stay)."""
    actions = []
    for op in ops:
        if op.instance is None:
            if _delete(conn, coll, op.instance_id, writer):
                actions.append(Action(coll.name, op.instance_id, ACTION_DELETE))
            continue  # missing ids are skipped, and the rest is still deleted
        before = catalog.get_instance(conn, coll.db_id, coll.name, op.instance_id)
        if op.action == ACTION_CREATE and before is not None:
            raise AlreadyExists("can't create already existing instance", wire_code="UNKNOWN")
        stored = dict(op.instance)
        stored[MOD_FIELD] = mod_time()
        if coll.scripts is not None:
            stored = _scripted_write(coll.scripts, coll.name, op, before, stored, writer)
        catalog.put_instance(conn, coll, op.instance_id, stored)
        actions.append(Action(coll.name, op.instance_id, op.action))
    return actions


def _delete(conn: Any, coll: catalog.Collection, instance_id: str, writer: str) -> bool:
    if coll.scripts is not None and coll.scripts.validates:
        before = catalog.get_instance(conn, coll.db_id, coll.name, instance_id)
        if before is None:
            return False
        patch = {"type": "delete", "instance_id": instance_id}
        coll.scripts.validate(writer, _event(coll.name, instance_id, patch), before)
    return catalog.remove_instance(conn, coll, instance_id)


def _event(collection: str, instance_id: str, patch: dict[str, Any]) -> dict[str, Any]:
    """The event a write validator sees (go-threads' jsonpatcher event, as JSON)."""
    return {
        "timestamp": time.time_ns(),
        "_id": instance_id,
        "collection_name": collection,
        "patch": patch,
    }


def _scripted_write(
    scripts: Scripts,
    collection: str,
    op: Op,
    before: str | None,
    new: dict[str, Any],
    writer: str,
) -> dict[str, Any]:
    """The instance to store for a create/save under a validator and/or a read filter."""
    stored = new
    if op.action == ACTION_CREATE:
        patch: dict[str, Any] = {"type": "create", "instance_id": op.instance_id, "json_patch": new}
    else:
        previous: dict[str, Any] = {} if before is None else json.loads(before)
        visible = previous
        if before is not None and scripts.filters:
            shown = scripts.filter(writer, before)
            visible = {} if shown is None else json.loads(shown)
        diff = create_patch(visible, new)
        if visible != previous:  # keep what the filter hides from this writer
            stored = apply_patch(previous, diff)
        patch = {"type": "save", "instance_id": op.instance_id, "json_patch": diff}
    scripts.validate(writer, _event(collection, op.instance_id, patch), before)
    return stored


class ReadTransaction:
    """Reads of one collection (Has/Find/FindByID), each on the committed state."""

    def __init__(self, engine: Engine, db_id: bytes, collection: str, reader: str) -> None:
        self._engine, self._db_id, self._collection, self._reader = (
            engine,
            db_id,
            collection,
            reader,
        )

    def has(self, instance_ids: Sequence[str]) -> bool:
        return self._engine.has(self._db_id, self._collection, instance_ids, self._reader)

    def find(self, query_json: bytes) -> list[bytes]:
        return self._engine.find(self._db_id, self._collection, query_json, self._reader)

    def find_by_id(self, instance_id: str) -> bytes:
        return self._engine.find_by_id(self._db_id, self._collection, instance_id, self._reader)

    def __enter__(self) -> ReadTransaction:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        pass


class WriteTransaction(ReadTransaction):
    """Buffered writes to one collection, applied atomically by ``commit``.

    Holds the database's write lock from creation until ``commit`` or ``discard`` (always call
    one of them; used as a context manager it commits on success and discards on error). Reads
    and ``verify`` see the committed state, not the buffered writes.
    """

    def __init__(
        self,
        engine: Engine,
        coll: catalog.Collection,
        writer: str,
        apply: Callable[[catalog.Collection, Sequence[Op], str], None],
        release: Callable[[], None],
    ) -> None:
        super().__init__(engine, coll.db_id, coll.name, writer)
        self._coll = coll
        self._apply = apply
        self._release = release
        self._ops: list[Op] = []
        self._created: set[str] = set()
        self._done = False
        self._guard = threading.Lock()

    def _check_open(self) -> None:
        if self._done:
            raise _invalid(TXN_DONE)

    def create(self, instances: Sequence[bytes]) -> list[str]:
        """Buffer creates; returns their ids at once. Existing ids are refused here already."""
        with self._guard:
            self._check_open()
            ops = [prepare_create(self._coll, raw) for raw in instances]
            ids = [op.instance_id for op in ops]
            if len(set(ids)) != len(ids) or self._created.intersection(ids):
                raise AlreadyExists("can't create already existing instance", wire_code="UNKNOWN")
            if self._engine.has_any(self._coll, ids):
                raise AlreadyExists("can't create already existing instance", wire_code="UNKNOWN")
            self._created.update(ids)
            self._ops += ops
            return ids

    def save(self, instances: Sequence[bytes]) -> None:
        with self._guard:
            self._check_open()
            self._ops += [prepare_save(self._coll, raw) for raw in instances]

    def delete(self, instance_ids: Sequence[str]) -> None:
        with self._guard:
            self._check_open()
            self._ops += [Op(ACTION_DELETE, i, None) for i in instance_ids]

    def verify(self, instances: Sequence[bytes]) -> None:
        self._check_open()
        self._engine.verify_prepared(
            self._coll, [prepare_save(self._coll, raw) for raw in instances], self._reader
        )

    def commit(self) -> None:
        """Apply every buffered write atomically, publish the events, release the lock."""
        with self._guard:
            self._check_open()
            self._done = True
            try:
                self._apply(self._coll, self._ops, self._reader)
            finally:
                self._ops = []
                self._release()

    def discard(self) -> None:
        """Drop the buffered writes and release the lock; a later ``commit`` fails."""
        with self._guard:
            if self._done:
                return
            self._done = True
            self._ops = []
            self._release()

    def __enter__(self) -> WriteTransaction:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None and not self._done:
            self.commit()
        else:
            self.discard()
