"""Typed ThreadDB client (``threads.pb.API``, reference/WIRE.md §3) over a session's ``Rpc``.

Databases are named by their thread ID string (bytes on the wire); instances are plain dicts
(JSON on the wire). Reads are retried when the hub is briefly unreachable; writes only when the
request provably never left (see ``remote/retry.py``). ``Save`` replaces whole instances and
``Delete`` ignores missing IDs, so both are idempotent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bucketfs import errors
from bucketfs.auth.threadid import ThreadID
from bucketfs.ipfs import multibase
from bucketfs.proto import threads_pb2 as pb
from bucketfs.remote.rpc import THREAD_NAME_HEADER, RemoteStream, Rpc
from bucketfs.remote.types import ListenAction, ListenEvent, ListenFilter

_API = "/threads.pb.API/"
_GT = 2  # the Criterion operation "greater than" (WIRE §3.4)
#: bytes of instances one ``FindAll`` page aims at (hubs refuse answers over 4-64 MiB, WIRE §1)
PAGE_BYTES = 8 << 20
FIRST_PAGE = 16
#: how gRPC says an answer passed the message limit (status RESOURCE_EXHAUSTED)
_TOO_LARGE = "message larger than max"
#: texts with which hubs refuse a collection's schema or indexes (WIRE §3.5), other than those
#: ``remote/status.py`` maps already; such a refusal is ``InvalidArgument``
_CONFIG_REFUSALS = ("schema", "not indexable", "unique index", "not valid")

_FILTER_ACTIONS = {
    None: pb.ListenRequest.Filter.ALL,
    ListenAction.CREATE: pb.ListenRequest.Filter.CREATE,
    ListenAction.SAVE: pb.ListenRequest.Filter.SAVE,
    ListenAction.DELETE: pb.ListenRequest.Filter.DELETE,
}
_REPLY_ACTIONS = {
    pb.ListenReply.CREATE: ListenAction.CREATE,
    pb.ListenReply.SAVE: ListenAction.SAVE,
    pb.ListenReply.DELETE: ListenAction.DELETE,
}


def db_bytes(db: str) -> bytes:
    """The wire form of a thread ID string (raises ``InvalidArgument`` when malformed)."""
    return ThreadID.from_string(db).bytes


def _json_bytes(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8")) if data else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise errors.CorruptData(f"hub sent invalid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise errors.CorruptData("hub sent JSON that is not an object")
    return value


def _indexes(indexes: Iterable[Any]) -> list[pb.Index]:
    """Indexes given as ``"path"``, ``(path, unique)`` or ``{"path": ..., "unique": ...}``."""
    out = []
    for index in indexes:
        if isinstance(index, str):
            out.append(pb.Index(path=index))
        elif isinstance(index, Mapping):
            out.append(pb.Index(path=index["path"], unique=bool(index.get("unique", False))))
        else:
            path, unique = index
            out.append(pb.Index(path=path, unique=bool(unique)))
    return out


def _collection(reply: pb.GetCollectionInfoReply) -> dict[str, Any]:
    return {
        "name": reply.name,
        "schema": _json_object(reply.schema),
        "indexes": [{"path": i.path, "unique": i.unique} for i in reply.indexes],
        "write_validator": reply.writeValidator,
        "read_filter": reply.readFilter,
    }


def _config_refusal(exc: errors.BucketfsError) -> errors.BucketfsError:
    """``InvalidArgument`` for a hub's refusal of a collection config (upstream sends these
    as status UNKNOWN with the validator's text), else ``exc`` unchanged."""
    text = exc.message.lower()
    plain = type(exc) is errors.BucketfsError and not text.startswith("internal hub error")
    if plain and any(marker in text for marker in _CONFIG_REFUSALS):
        return errors.InvalidArgument(exc.message)
    return exc


def _filter(spec: ListenFilter | Mapping[str, Any]) -> pb.ListenRequest.Filter:
    if isinstance(spec, Mapping):
        action = spec.get("action")
        spec = ListenFilter(
            collection=spec.get("collection", spec.get("collectionName", "")),
            instance_id=spec.get("instance_id", spec.get("instanceID", "")),
            action=ListenAction(action) if isinstance(action, str) else action,
        )
    return pb.ListenRequest.Filter(
        collectionName=spec.collection,
        instanceID=spec.instance_id,
        action=_FILTER_ACTIONS[spec.action],
    )


def _event(reply: pb.ListenReply) -> ListenEvent:
    action = _REPLY_ACTIONS.get(reply.action, ListenAction.SAVE)
    instance = _json_object(reply.instance) if reply.instance else None
    return ListenEvent(reply.collectionName, reply.instanceID, action, instance)


class ThreadsClient:
    """ThreadDB calls; ``db`` is always a thread ID string."""

    def __init__(self, rpc: Rpc) -> None:
        self._rpc = rpc

    async def _call(self, method: str, request: Any, reply_cls: Any, **kw: Any) -> Any:
        return await self._rpc.unary(_API + method, request, reply_cls, **kw)

    # -- databases ------------------------------------------------------------------------------

    async def new_db(self, name: str = "", collections: Sequence[Mapping[str, Any]] = ()) -> str:
        """Create a database with a fresh random thread ID; returns its string."""
        db = ThreadID.new()
        configs = [
            pb.CollectionConfig(
                name=c["name"],
                schema=_json_bytes(c["schema"]),
                indexes=_indexes(c.get("indexes", ())),
            )
            for c in collections
        ]
        request = pb.NewDBRequest(dbID=db.bytes, name=name, collections=configs)
        extra = [(THREAD_NAME_HEADER, name)] if name else []
        await self._call("NewDB", request, pb.NewDBReply, idempotent=False, extra=extra)
        return str(db)

    async def get_db_info(self, db: str) -> dict[str, Any]:
        """``{"id", "name", "key" (multibase string), "addrs" (binary multiaddrs)}``."""
        reply = await self._call(
            "GetDBInfo", pb.GetDBInfoRequest(dbID=db_bytes(db)), pb.GetDBInfoReply, idempotent=True
        )
        key = multibase.encode(reply.key) if reply.key else ""
        return {"id": db, "name": reply.name, "key": key, "addrs": list(reply.addrs)}

    async def delete_db(self, db: str) -> None:
        request = pb.DeleteDBRequest(dbID=db_bytes(db))
        await self._call("DeleteDB", request, pb.DeleteDBReply, idempotent=False)

    # -- collections ----------------------------------------------------------------------------

    async def new_collection(
        self, db: str, name: str, schema: Mapping[str, Any], indexes: Iterable[Any] = ()
    ) -> None:
        config = pb.CollectionConfig(
            name=name, schema=_json_bytes(schema), indexes=_indexes(indexes)
        )
        request = pb.NewCollectionRequest(dbID=db_bytes(db), config=config)
        try:
            await self._call("NewCollection", request, pb.NewCollectionReply, idempotent=False)
        except errors.BucketfsError as exc:
            raise _config_refusal(exc) from None

    async def update_collection(
        self,
        db: str,
        name: str,
        schema: Mapping[str, Any],
        indexes: Iterable[Any] = (),
        *,
        write_validator: str = "",
        read_filter: str = "",
    ) -> None:
        """Replace the collection's whole config (as upstream): what is not given is removed,
        so a caller that changes only the schema passes the rest back (``get_collection``)."""
        config = pb.CollectionConfig(
            name=name,
            schema=_json_bytes(schema),
            indexes=_indexes(indexes),
            writeValidator=write_validator,
            readFilter=read_filter,
        )
        request = pb.UpdateCollectionRequest(dbID=db_bytes(db), config=config)
        try:
            await self._call("UpdateCollection", request, pb.UpdateCollectionReply, idempotent=True)
        except errors.BucketfsError as exc:
            raise _config_refusal(exc) from None

    async def delete_collection(self, db: str, name: str) -> None:
        request = pb.DeleteCollectionRequest(dbID=db_bytes(db), name=name)
        await self._call("DeleteCollection", request, pb.DeleteCollectionReply, idempotent=False)

    async def get_collection(self, db: str, name: str) -> dict[str, Any]:
        """``{"name", "schema" (dict), "indexes", "write_validator", "read_filter"}``."""
        request = pb.GetCollectionInfoRequest(dbID=db_bytes(db), name=name)
        reply = await self._call(
            "GetCollectionInfo", request, pb.GetCollectionInfoReply, idempotent=True
        )
        return _collection(reply)

    async def list_collections(self, db: str) -> list[dict[str, Any]]:
        request = pb.ListCollectionsRequest(dbID=db_bytes(db))
        reply = await self._call(
            "ListCollections", request, pb.ListCollectionsReply, idempotent=True
        )
        return [_collection(c) for c in reply.collections]

    # -- instances ------------------------------------------------------------------------------

    async def create(
        self, db: str, collection: str, instances: Sequence[Mapping[str, Any]]
    ) -> list[str]:
        """Create instances (IDs generated when ``_id`` is missing); returns their IDs."""
        request = pb.CreateRequest(
            dbID=db_bytes(db),
            collectionName=collection,
            instances=[_json_bytes(i) for i in instances],
        )
        reply = await self._call("Create", request, pb.CreateReply, idempotent=False)
        return list(reply.instanceIDs)

    async def save(self, db: str, collection: str, instances: Sequence[Mapping[str, Any]]) -> None:
        """Replace (or create) whole instances; each needs ``_id``."""
        request = pb.SaveRequest(
            dbID=db_bytes(db),
            collectionName=collection,
            instances=[_json_bytes(i) for i in instances],
        )
        await self._call("Save", request, pb.SaveReply, idempotent=True)

    async def delete(self, db: str, collection: str, ids: Sequence[str]) -> None:
        request = pb.DeleteRequest(dbID=db_bytes(db), collectionName=collection, instanceIDs=ids)
        await self._call("Delete", request, pb.DeleteReply, idempotent=True)

    async def has(self, db: str, collection: str, ids: Sequence[str]) -> bool:
        """Whether all ``ids`` exist (and are visible to the caller)."""
        request = pb.HasRequest(dbID=db_bytes(db), collectionName=collection, instanceIDs=ids)
        reply = await self._call("Has", request, pb.HasReply, idempotent=True)
        return bool(reply.exists)

    async def find_by_id(self, db: str, collection: str, id: str) -> dict[str, Any]:
        request = pb.FindByIDRequest(dbID=db_bytes(db), collectionName=collection, instanceID=id)
        reply = await self._call("FindByID", request, pb.FindByIDReply, idempotent=True)
        return _json_object(reply.instance)

    async def find(
        self, db: str, collection: str, query: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Instances matching a query in the WIRE §3.4 shape (``{}`` = all)."""
        return [_json_object(i) for i in await self.find_raw(db, collection, query)]

    async def find_raw(
        self, db: str, collection: str, query: Mapping[str, Any] | None = None
    ) -> list[bytes]:
        """``find`` with the instances as the JSON bytes the hub sent."""
        request = pb.FindRequest(
            dbID=db_bytes(db), collectionName=collection, queryJSON=_json_bytes(query or {})
        )
        reply = await self._call("Find", request, pb.FindReply, idempotent=True)
        return list(reply.instances)

    def find_all(self, db: str, collection: str, page_size: int = 1000) -> FindAll:
        """Every instance, in ``_id`` order, fetched ``page_size`` at a time (limit + seek)."""
        return FindAll(self, db, collection, page_size)

    def listen(
        self, db: str, filters: Sequence[ListenFilter | Mapping[str, Any]] = ()
    ) -> RemoteStream[ListenEvent]:
        """Change events of ``db`` (filters OR-ed; none = everything). Best effort: events can
        be dropped by the hub, so re-read state after each event and after reconnecting."""
        request = pb.ListenRequest(dbID=db_bytes(db), filters=[_filter(f) for f in filters])
        return self._rpc.stream(_API + "Listen", request, pb.ListenReply, _event, open_ended=True)


class FindAll:
    """Async iterator of ``ThreadsClient.find_all``: pages in ``_id`` order, each a ``Find``
    with ``seek`` on the last ``_id`` seen and the criterion ``_id > last`` (``seek`` is
    inclusive: without it the last instance would come again, and two large instances do not
    fit one answer). A page holds at most ``page_size`` instances, fewer when they are large:
    the first asks for ``FIRST_PAGE``, each next one for about ``PAGE_BYTES`` going by the sizes
    seen so far (at most four times the last), an eighth as many when the answer passed the
    gRPC message limit anyway, down to one instance per call."""

    def __init__(self, client: ThreadsClient, db: str, collection: str, page_size: int) -> None:
        if page_size < 1:
            raise errors.InvalidArgument("page_size must be at least 1")
        self._client = client
        self._db = db
        self._collection = collection
        self._page_size = page_size
        self._limit = min(page_size, FIRST_PAGE)  # instances asked for by the next Find
        self._buffer: list[dict[str, Any]] = []
        self._last: str | None = None
        self._exhausted = False

    def __aiter__(self) -> FindAll:
        return self

    async def __anext__(self) -> dict[str, Any]:
        if not self._buffer and not self._exhausted:
            await self._fetch()
        if not self._buffer:
            raise StopAsyncIteration
        item = self._buffer.pop(0)
        self._last = str(item.get("_id", ""))
        return item

    def _query(self) -> dict[str, Any]:
        query: dict[str, Any] = {"sort": {"fieldPath": "_id"}, "limit": self._limit}
        if self._last is not None:
            query["seek"] = self._last
            after = {"fieldPath": "_id", "operation": _GT, "value": {"string": self._last}}
            query["ands"] = [after]
        return query

    async def _fetch(self) -> None:
        while True:
            try:
                raw = await self._client.find_raw(self._db, self._collection, self._query())
                break
            except errors.QuotaExceeded as exc:
                if self._limit == 1 or _TOO_LARGE not in exc.message.lower():
                    raise
                self._limit = max(1, self._limit // 8)
        page = [_json_object(i) for i in raw]
        if self._last is not None:
            page = [i for i in page if str(i.get("_id", "")) > self._last]
        self._exhausted = len(raw) < self._limit
        self._buffer = page
        if raw:
            average = max(1, sum(len(i) for i in raw) // len(raw))
            fits = max(1, PAGE_BYTES // average)
            self._limit = min(self._page_size, fits, 4 * self._limit)
