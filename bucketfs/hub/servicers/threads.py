"""``threads.pb.API``: the ThreadDB service of the hub — a thin proto ⇄ Engine translation.

Every method converts the request, calls :class:`~bucketfs.hub.threaddb.Engine` as the current
caller (writer/reader identity), and converts the answer; errors are ``bucketfs.errors`` mapped by
:func:`~bucketfs.hub.status.grpc_errors`. Ownership was already checked by the interceptor.

Streams: ``GetToken`` (WIRE §2.5, challenge deadline from :class:`HubOptions`), ``Listen`` (until
the client cancels, the hub stops, or the listener overflows — then the stream ends with the
engine's overflow error telling the client to re-read), and the transactions (WIRE §3.7).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, cast

import grpc

from bucketfs.auth.challenge import check_challenge, new_challenge
from bucketfs.auth.identity import PublicKey
from bucketfs.auth.threadid import ThreadID
from bucketfs.auth.token import issue_token
from bucketfs.errors import BucketfsError, InvalidArgument, TimedOut
from bucketfs.hub.caller import current_caller
from bucketfs.hub.servicers import HubContext, unsupported
from bucketfs.hub.status import grpc_errors
from bucketfs.hub.threaddb import CollectionConfig, IndexConfig, ListenFilter
from bucketfs.proto import threads_pb2 as pb
from bucketfs.proto import threads_pb2_grpc as pb_grpc

SERVICE = "threads.pb.API"
THREAD_MULTIADDR_CODE = 406
LISTEN_POLL_S = 0.5
CANCEL_SETTLE_S = 0.1
DISCARDED = "can't commit discarded/committed txn"
BUCKETS_COLLECTION = "buckets"  # WIRE §4.4
DB_NOT_EMPTY = "DB not empty (delete buckets first)"  # upstream's text (FAILED_PRECONDITION)


def db_id_of(raw: bytes) -> bytes:
    """Validate thread ID bytes from a request (INVALID_ARGUMENT with the parse error)."""
    try:
        return ThreadID.from_bytes(raw).bytes
    except InvalidArgument as exc:
        raise InvalidArgument(f"invalid dbID: {exc.message}") from None


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def thread_multiaddr(db_id: bytes) -> bytes:
    """The binary multiaddr ``/thread/<id>`` (this hub does not expose libp2p host addresses)."""
    return _uvarint(THREAD_MULTIADDR_CODE) + _uvarint(len(db_id)) + db_id


def config_from_pb(msg: Any) -> CollectionConfig:
    return CollectionConfig(
        name=msg.name,
        schema=bytes(msg.schema),
        indexes=tuple(IndexConfig(path=i.path, unique=i.unique) for i in msg.indexes),
        write_validator=msg.writeValidator,
        read_filter=msg.readFilter,
    )


def _indexes_pb(config: CollectionConfig) -> list[Any]:
    return [pb.Index(path=i.path, unique=i.unique) for i in config.indexes]


def collection_info_pb(config: CollectionConfig) -> Any:
    return pb.GetCollectionInfoReply(
        name=config.name,
        schema=config.schema,
        indexes=_indexes_pb(config),
        writeValidator=config.write_validator,
        readFilter=config.read_filter,
    )


def _identity() -> str:
    return current_caller().identity


class ThreadsServicer(pb_grpc.APIServicer):
    """See the module docstring."""

    def __init__(self, hub: HubContext) -> None:
        self.hub = hub
        self.engine = hub.engine

    # -- auth --------------------------------------------------------------------------------

    @grpc_errors
    def GetToken(self, requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
        yield from token_handshake(requests, self.hub, pb.GetTokenReply)

    # -- databases ---------------------------------------------------------------------------

    @grpc_errors
    def NewDB(self, request: Any, context: grpc.ServicerContext) -> Any:
        caller = current_caller()
        self.engine.new_db(
            db_id_of(request.dbID),
            name=caller.thread_name or request.name,
            owner=caller.identity,
            api_key=caller.api_key,
            collections=[config_from_pb(c) for c in request.collections],
            key=bytes(request.key) or None,
        )
        self.hub.accounts.count_thread(caller.api_key, +1)
        return pb.NewDBReply()

    @grpc_errors
    def NewDBFromAddr(self, request: Any, context: grpc.ServicerContext) -> Any:
        raise unsupported("NewDBFromAddr", "this hub does not join remote threads")

    @grpc_errors
    def ListDBs(self, request: Any, context: grpc.ServicerContext) -> Any:
        raise unsupported("ListDBs", "Method is not accessible")  # blocked by the interceptor

    @grpc_errors
    def GetDBInfo(self, request: Any, context: grpc.ServicerContext) -> Any:
        info = self.engine.get_db(db_id_of(request.dbID))
        return pb.GetDBInfoReply(addrs=[thread_multiaddr(info.db_id)], key=info.key, name=info.name)

    @grpc_errors
    def DeleteDB(self, request: Any, context: grpc.ServicerContext) -> Any:
        info = self.engine.get_db(db_id_of(request.dbID))
        # as upstream: a DB holding buckets is refused (their blocks and keys would be orphaned)
        self.engine.delete_db(info.db_id, unless_holding=(BUCKETS_COLLECTION, DB_NOT_EMPTY))
        self.hub.accounts.count_thread(info.api_key, -1)
        return pb.DeleteDBReply()

    # -- collections -------------------------------------------------------------------------

    @grpc_errors
    def NewCollection(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.engine.new_collection(db_id_of(request.dbID), config_from_pb(request.config))
        return pb.NewCollectionReply()

    @grpc_errors
    def UpdateCollection(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.engine.update_collection(db_id_of(request.dbID), config_from_pb(request.config))
        return pb.UpdateCollectionReply()

    @grpc_errors
    def DeleteCollection(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.engine.delete_collection(db_id_of(request.dbID), request.name)
        return pb.DeleteCollectionReply()

    @grpc_errors
    def GetCollectionInfo(self, request: Any, context: grpc.ServicerContext) -> Any:
        return collection_info_pb(self.engine.get_collection(db_id_of(request.dbID), request.name))

    @grpc_errors
    def GetCollectionIndexes(self, request: Any, context: grpc.ServicerContext) -> Any:
        config = self.engine.get_collection(db_id_of(request.dbID), request.name)
        return pb.GetCollectionIndexesReply(indexes=_indexes_pb(config))

    @grpc_errors
    def ListCollections(self, request: Any, context: grpc.ServicerContext) -> Any:
        configs = self.engine.list_collections(db_id_of(request.dbID))
        return pb.ListCollectionsReply(collections=[collection_info_pb(c) for c in configs])

    # -- instances ---------------------------------------------------------------------------

    @grpc_errors
    def Create(self, request: Any, context: grpc.ServicerContext) -> Any:
        ids = self.engine.create(
            db_id_of(request.dbID), request.collectionName, list(request.instances), _identity()
        )
        return pb.CreateReply(instanceIDs=ids)

    @grpc_errors
    def Save(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.engine.save(
            db_id_of(request.dbID), request.collectionName, list(request.instances), _identity()
        )
        return pb.SaveReply()

    @grpc_errors
    def Verify(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.engine.verify(
            db_id_of(request.dbID), request.collectionName, list(request.instances), _identity()
        )
        return pb.VerifyReply()

    @grpc_errors
    def Delete(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.engine.delete(
            db_id_of(request.dbID), request.collectionName, list(request.instanceIDs), _identity()
        )
        return pb.DeleteReply()

    @grpc_errors
    def Has(self, request: Any, context: grpc.ServicerContext) -> Any:
        exists = self.engine.has(
            db_id_of(request.dbID), request.collectionName, list(request.instanceIDs), _identity()
        )
        return pb.HasReply(exists=exists)

    @grpc_errors
    def Find(self, request: Any, context: grpc.ServicerContext) -> Any:
        found = self.engine.find(
            db_id_of(request.dbID), request.collectionName, bytes(request.queryJSON), _identity()
        )
        return pb.FindReply(instances=found)

    @grpc_errors
    def FindByID(self, request: Any, context: grpc.ServicerContext) -> Any:
        instance = self.engine.find_by_id(
            db_id_of(request.dbID), request.collectionName, request.instanceID, _identity()
        )
        return pb.FindByIDReply(instance=instance)

    # -- streams -----------------------------------------------------------------------------

    @grpc_errors
    def Listen(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        filters = [
            ListenFilter(collection=f.collectionName, instance_id=f.instanceID, action=f.action)
            for f in request.filters
        ]
        listener = self.engine.listen(db_id_of(request.dbID), filters, _identity())
        context.add_callback(listener.close)
        try:
            while context.is_active():
                event = listener.get(timeout=LISTEN_POLL_S)
                if event is None:
                    continue
                yield pb.ListenReply(
                    collectionName=event.collection,
                    instanceID=event.instance_id,
                    action=cast(Any, event.action),  # reply enum number
                    instance=event.instance,
                )
        finally:
            listener.close()

    @grpc_errors
    def ReadTransaction(
        self, requests: Iterator[Any], context: grpc.ServicerContext
    ) -> Iterator[Any]:
        db_id, collection = _start(requests)
        txn = self.engine.read_transaction(db_id, collection, _identity())
        for request in requests:
            yield _step(txn, request, READ_OPS, pb.ReadTransactionReply)

    @grpc_errors
    def WriteTransaction(
        self, requests: Iterator[Any], context: grpc.ServicerContext
    ) -> Iterator[Any]:
        db_id, collection = _start(requests)
        txn = self.engine.write_transaction(db_id, collection, _identity())
        finished = False
        try:
            for request in requests:
                if request.WhichOneof("option") == "discardRequest":
                    if not finished:
                        txn.discard()
                    finished = True
                    yield pb.WriteTransactionReply(discardReply=pb.DiscardReply())
                else:
                    yield _step(txn, request, WRITE_OPS, pb.WriteTransactionReply)
            if finished:
                raise BucketfsError(DISCARDED)
            if _cancelled(context):
                return  # cancelled rather than half-closed: the finally discards
            finished = True
            txn.commit()
        finally:
            if not finished:
                txn.discard()


def token_handshake(requests: Iterator[Any], hub: HubContext, reply: Any) -> Iterator[Any]:
    """GetToken (WIRE §2.5), shared by threads.pb.API and threads.net.pb.API: ``reply`` is the
    service's GetTokenReply message class (both have the same fields)."""
    first = next(requests, None)
    if first is None or first.WhichOneof("payload") != "key":
        raise InvalidArgument("Key is required")
    try:
        key = PublicKey.from_string(first.key)
    except InvalidArgument as exc:
        raise InvalidArgument(f"invalid key: {exc.message}") from None
    challenge = new_challenge()
    yield reply(challenge=challenge)
    answer = _next_within(requests, hub.options.challenge_timeout)
    if answer is None or answer.WhichOneof("payload") != "signature":
        raise InvalidArgument("Signature is required")
    check_challenge(key, challenge, answer.signature)
    yield reply(token=issue_token(hub.identity, key))


def _next_within(requests: Iterator[Any], timeout: float) -> Any | None:
    """The next message of a request stream, or ``TimedOut "Challenge deadline exceeded"``."""
    box: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)

    def read() -> None:
        try:
            box.put((True, next(requests, None)))
        except Exception as exc:  # the call was cancelled or ended
            box.put((False, exc))

    threading.Thread(target=read, name="gettoken-read", daemon=True).start()
    try:
        ok, value = box.get(timeout=timeout)
    except queue.Empty:
        raise TimedOut("Challenge deadline exceeded", wire_code="DEADLINE_EXCEEDED") from None
    if not ok:
        raise value
    return value


def _cancelled(context: grpc.ServicerContext) -> bool:
    """Whether the request stream ended because the client cancelled (not half-closed).

    grpcio reports both as the end of the request iterator and flags the cancellation a moment
    later, so this waits up to :data:`CANCEL_SETTLE_S` for that flag. A cancel that arrives even
    later leaves the outcome unknown to the client, as with any call cancelled in flight."""
    done = threading.Event()
    if not context.add_callback(done.set):
        return True  # the call has already terminated
    done.wait(CANCEL_SETTLE_S)
    return not context.is_active()


def _start(requests: Iterator[Any]) -> tuple[bytes, str]:
    first = next(requests, None)
    if first is None or first.WhichOneof("option") != "startTransactionRequest":
        raise InvalidArgument("the first message of a transaction must be startTransactionRequest")
    start = first.startTransactionRequest
    return db_id_of(start.dbID), start.collectionName


def _txn_error(exc: BucketfsError) -> str:
    return exc.message or type(exc).__name__


def _has(txn: Any, r: Any) -> dict[str, Any]:
    return {"exists": txn.has(list(r.instanceIDs))}


def _find(txn: Any, r: Any) -> dict[str, Any]:
    return {"instances": txn.find(bytes(r.queryJSON))}


def _find_by_id(txn: Any, r: Any) -> dict[str, Any]:
    return {"instance": txn.find_by_id(r.instanceID)}


def _create(txn: Any, r: Any) -> dict[str, Any]:
    return {"instanceIDs": txn.create(list(r.instances))}


def _save(txn: Any, r: Any) -> dict[str, Any]:
    txn.save(list(r.instances))
    return {}


def _delete(txn: Any, r: Any) -> dict[str, Any]:
    txn.delete(list(r.instanceIDs))
    return {}


def _verify(txn: Any, r: Any) -> dict[str, Any]:
    txn.verify(list(r.instances))
    return {}


Op = Callable[[Any, Any], dict[str, Any]]
#: request oneof field -> (reply oneof field, reply message, operation)
READ_OPS: dict[str, tuple[str, Any, Op]] = {
    "hasRequest": ("hasReply", pb.HasReply, _has),
    "findRequest": ("findReply", pb.FindReply, _find),
    "findByIDRequest": ("findByIDReply", pb.FindByIDReply, _find_by_id),
}
WRITE_OPS: dict[str, tuple[str, Any, Op]] = {
    **READ_OPS,
    "createRequest": ("createReply", pb.CreateReply, _create),
    "saveRequest": ("saveReply", pb.SaveReply, _save),
    "deleteRequest": ("deleteReply", pb.DeleteReply, _delete),
    "verifyRequest": ("verifyReply", pb.VerifyReply, _verify),
}


def _step(txn: Any, request: Any, ops: dict[str, tuple[str, Any, Op]], reply: Any) -> Any:
    """One non-start transaction message → its reply; operation errors go in transactionError."""
    kind = request.WhichOneof("option")
    if kind not in ops:
        raise InvalidArgument(f"unexpected {kind or 'empty'} message in this transaction")
    field, message, op = ops[kind]
    try:
        body = message(**op(txn, getattr(request, kind)))
    except BucketfsError as exc:
        body = message(transactionError=_txn_error(exc))
    return reply(**{field: body})


def register(server: grpc.Server, hub: HubContext) -> list[str]:
    pb_grpc.add_APIServicer_to_server(ThreadsServicer(hub), server)
    return [SERVICE]
