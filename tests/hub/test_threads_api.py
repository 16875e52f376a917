"""Every ThreadDB method through a real hub subprocess (over its unix socket): databases, collections, instances,
transactions and Listen, with the WIRE.md codes and texts for the error cases."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from bucketfs.auth.threadid import ThreadID
from bucketfs.proto import threads_pb2 as pb
from bucketfs.testing.hubproc import HubProcess

if TYPE_CHECKING:
    from conftest import Client, HubClients


@pytest.fixture(scope="module")
def hub() -> Iterator[HubProcess]:
    """This module talks to its hub over a unix socket (the other modules use TCP)."""
    with HubProcess(transport="unix") as proc:
        yield proc
        assert not proc.log_errors(), proc.log_text()[-3000:]


def doc(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


def rpc_error(call: Any, *args: Any, **kwargs: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        result = call(*args, **kwargs)
        if hasattr(result, "__next__"):
            list(result)
    return info.value


def create(client: Client, *instances: bytes, collection: str = "things") -> list[str]:
    reply = client.threads.Create(
        pb.CreateRequest(dbID=client.db.bytes, collectionName=collection, instances=instances),
        metadata=client.md(),
    )
    return list(reply.instanceIDs)


def find_by_id(client: Client, instance_id: str) -> dict[str, Any]:
    reply = client.threads.FindByID(
        pb.FindByIDRequest(dbID=client.db.bytes, collectionName="things", instanceID=instance_id),
        metadata=client.md(),
    )
    return dict(json.loads(reply.instance))


def find(client: Client, query: dict[str, Any]) -> list[dict[str, Any]]:
    reply = client.threads.Find(
        pb.FindRequest(
            dbID=client.db.bytes, collectionName="things", queryJSON=json.dumps(query).encode()
        ),
        metadata=client.md(),
    )
    return [json.loads(i) for i in reply.instances]


# -- databases ---------------------------------------------------------------------------------


def test_new_db_get_info_and_delete(clients: HubClients) -> None:
    client = clients.account()
    db = client.new_db(name="notes")
    info = client.threads.GetDBInfo(pb.GetDBInfoRequest(dbID=db.bytes), metadata=client.md())
    assert info.name == "notes"
    assert len(info.key) == 64
    assert info.addrs and info.addrs[0].endswith(db.bytes)
    client.threads.DeleteDB(pb.DeleteDBRequest(dbID=db.bytes), metadata=client.md())
    err = rpc_error(
        client.threads.GetDBInfo, pb.GetDBInfoRequest(dbID=db.bytes), metadata=client.md()
    )
    assert (err.code(), err.details()) == (grpc.StatusCode.NOT_FOUND, "db not found")


def test_new_db_name_from_request_when_no_header(clients: HubClients) -> None:
    client = clients.account()
    db = ThreadID.new()
    client.threads.NewDB(pb.NewDBRequest(dbID=db.bytes, name="body-name"), metadata=client.md())
    info = client.threads.GetDBInfo(pb.GetDBInfoRequest(dbID=db.bytes), metadata=client.md())
    assert info.name == "body-name"


def test_new_db_with_key_and_duplicate(clients: HubClients) -> None:
    client = clients.account()
    db, key = ThreadID.new(), bytes(range(64))
    client.threads.NewDB(pb.NewDBRequest(dbID=db.bytes, key=key), metadata=client.md())
    info = client.threads.GetDBInfo(pb.GetDBInfoRequest(dbID=db.bytes), metadata=client.md())
    assert info.key == key
    err = rpc_error(client.threads.NewDB, pb.NewDBRequest(dbID=db.bytes), metadata=client.md())
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS


def test_new_db_rejects_bad_input_without_change(clients: HubClients) -> None:
    client = clients.account()
    err = rpc_error(client.threads.NewDB, pb.NewDBRequest(dbID=b"\x07xx"), metadata=client.md())
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "invalid dbID" in err.details()
    db = ThreadID.new()
    err = rpc_error(
        client.threads.NewDB, pb.NewDBRequest(dbID=db.bytes), metadata=client.md(name="-bad-")
    )
    assert err.details().startswith("name may only contain alphanumeric characters")
    err = rpc_error(
        client.threads.NewDB, pb.NewDBRequest(dbID=db.bytes, key=b"k" * 32), metadata=client.md()
    )
    assert err.details() == "thread read key is required"
    err = rpc_error(
        client.threads.GetDBInfo, pb.GetDBInfoRequest(dbID=db.bytes), metadata=client.md()
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND


def test_new_db_from_addr_and_list_dbs_are_refused(alice: Client) -> None:
    err = rpc_error(alice.threads.NewDBFromAddr, pb.NewDBFromAddrRequest(), metadata=alice.md())
    assert err.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "this hub does not join remote threads" in err.details()
    err = rpc_error(alice.threads.ListDBs, pb.ListDBsRequest(), metadata=alice.md())
    assert (err.code(), err.details()) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "Method is not accessible",
    )


# -- collections -------------------------------------------------------------------------------


def test_collections_lifecycle(alice: Client, schema: bytes) -> None:
    db, md = alice.db.bytes, alice.md()
    config = pb.CollectionConfig(name="people", schema=schema, indexes=[pb.Index(path="name")])
    alice.threads.NewCollection(pb.NewCollectionRequest(dbID=db, config=config), metadata=md)
    err = rpc_error(
        alice.threads.NewCollection, pb.NewCollectionRequest(dbID=db, config=config), metadata=md
    )
    assert (err.code(), err.details()) == (grpc.StatusCode.UNKNOWN, "collection already registered")
    info = alice.threads.GetCollectionInfo(
        pb.GetCollectionInfoRequest(dbID=db, name="people"), metadata=md
    )
    assert info.name == "people"
    assert json.loads(info.schema)["properties"]["_id"] == {"type": "string"}
    assert [(i.path, i.unique) for i in info.indexes] == [("name", False)]
    indexes = alice.threads.GetCollectionIndexes(
        pb.GetCollectionIndexesRequest(dbID=db, name="people"), metadata=md
    )
    assert [i.path for i in indexes.indexes] == ["name"]
    config.indexes.append(pb.Index(path="n", unique=True))
    alice.threads.UpdateCollection(pb.UpdateCollectionRequest(dbID=db, config=config), metadata=md)
    listed = alice.threads.ListCollections(pb.ListCollectionsRequest(dbID=db), metadata=md)
    assert sorted(c.name for c in listed.collections) == ["people", "things"]
    people = next(c for c in listed.collections if c.name == "people")
    assert {(i.path, i.unique) for i in people.indexes} == {("name", False), ("n", True)}
    alice.threads.DeleteCollection(pb.DeleteCollectionRequest(dbID=db, name="people"), metadata=md)
    err = rpc_error(
        alice.threads.GetCollectionInfo,
        pb.GetCollectionInfoRequest(dbID=db, name="people"),
        metadata=md,
    )
    assert (err.code(), err.details()) == (grpc.StatusCode.NOT_FOUND, "collection not found")


def test_collection_schema_needs_string_id(alice: Client) -> None:
    bad = pb.CollectionConfig(
        name="bad", schema=b'{"type":"object","properties":{"_id":{"type":"integer"}}}'
    )
    err = rpc_error(
        alice.threads.NewCollection,
        pb.NewCollectionRequest(dbID=alice.db.bytes, config=bad),
        metadata=alice.md(),
    )
    assert err.details() == "the collection schema _id property must be a string"


# -- instances ---------------------------------------------------------------------------------


def test_create_find_save_delete(alice: Client) -> None:
    ids = create(alice, doc(name="a", n=1), doc(_id="mine", name="b", n=2))
    assert len(ids) == 2 and len(ids[0]) == 26 and ids[1] == "mine"
    first = find_by_id(alice, ids[0])
    assert first["name"] == "a" and first["_id"] == ids[0] and isinstance(first["_mod"], int)
    assert [d["name"] for d in find(alice, {})] == ["a", "b"] or len(find(alice, {})) == 2
    eq_b = {"ands": [{"fieldPath": "name", "operation": 0, "value": {"string": "b"}}]}
    assert [d["_id"] for d in find(alice, eq_b)] == ["mine"]
    md, db = alice.md(), alice.db.bytes
    alice.threads.Save(
        pb.SaveRequest(dbID=db, collectionName="things", instances=[doc(_id="mine", name="c")]),
        metadata=md,
    )
    saved = find_by_id(alice, "mine")
    assert saved["name"] == "c" and "n" not in saved
    has = alice.threads.Has(
        pb.HasRequest(dbID=db, collectionName="things", instanceIDs=ids), metadata=md
    )
    assert has.exists
    alice.threads.Delete(
        pb.DeleteRequest(dbID=db, collectionName="things", instanceIDs=["mine"]), metadata=md
    )
    has = alice.threads.Has(
        pb.HasRequest(dbID=db, collectionName="things", instanceIDs=ids), metadata=md
    )
    assert not has.exists
    err = rpc_error(find_by_id, alice, "mine")
    assert (err.code(), err.details()) == (grpc.StatusCode.UNKNOWN, "instance not found")


def test_instance_errors(alice: Client) -> None:
    create(alice, doc(_id="x", name="x"))
    err = rpc_error(create, alice, doc(_id="x", name="again"))
    assert err.details() == "can't create already existing instance"
    err = rpc_error(create, alice, doc(name=5))
    assert err.details().startswith("instance doesn't correspond to schema")
    err = rpc_error(create, alice, b"not json")
    assert err.code() in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INVALID_ARGUMENT)
    assert err.details()
    err = rpc_error(create, alice, doc(name="y"), collection="nope")
    assert (err.code(), err.details()) == (grpc.StatusCode.NOT_FOUND, "collection not found")
    err = rpc_error(
        alice.threads.Save,
        pb.SaveRequest(dbID=alice.db.bytes, collectionName="things", instances=[doc(name="z")]),
        metadata=alice.md(),
    )
    assert err.details() == "invalid instance: missing _id attribute"
    assert [d["_id"] for d in find(alice, {})] == ["x"]


def test_verify_does_not_commit(alice: Client) -> None:
    alice.threads.Verify(
        pb.VerifyRequest(
            dbID=alice.db.bytes, collectionName="things", instances=[doc(_id="v", name="v")]
        ),
        metadata=alice.md(),
    )
    assert find(alice, {}) == []
    err = rpc_error(
        alice.threads.Verify,
        pb.VerifyRequest(
            dbID=alice.db.bytes, collectionName="things", instances=[doc(_id="v", name=1)]
        ),
        metadata=alice.md(),
    )
    assert err.details().startswith("instance doesn't correspond to schema")


def test_large_find_reply(alice: Client) -> None:
    """Replies beyond gRPC's default 4 MiB pass (the hub raised its send limit)."""
    blob = "x" * 100_000
    for _ in range(5):
        create(alice, *[doc(name=blob) for _ in range(10)])
    assert len(find(alice, {})) == 50


# -- transactions ------------------------------------------------------------------------------


def _stream(first: Any) -> tuple[queue.Queue[Any], Iterator[Any]]:
    """A request iterator fed from a queue (None ends it), starting with ``first``."""
    box: queue.Queue[Any] = queue.Queue()
    box.put(first)

    def gen() -> Iterator[Any]:
        while (item := box.get(timeout=10)) is not None:
            yield item

    return box, gen()


def test_write_transaction_commits_on_close(alice: Client) -> None:
    start = pb.StartTransactionRequest(dbID=alice.db.bytes, collectionName="things")
    box, requests = _stream(pb.WriteTransactionRequest(startTransactionRequest=start))
    replies = alice.threads.WriteTransaction(requests, metadata=alice.md())
    box.put(pb.WriteTransactionRequest(createRequest=pb.CreateRequest(instances=[doc(name="t1")])))
    created = next(replies).createReply
    assert len(created.instanceIDs) == 1 and not created.transactionError
    (new_id,) = created.instanceIDs
    box.put(pb.WriteTransactionRequest(findByIDRequest=pb.FindByIDRequest(instanceID=new_id)))
    assert next(replies).findByIDReply.transactionError == "instance not found"  # not committed
    box.put(
        pb.WriteTransactionRequest(saveRequest=pb.SaveRequest(instances=[doc(_id="s", name="s")]))
    )
    assert not next(replies).saveReply.transactionError
    box.put(pb.WriteTransactionRequest(hasRequest=pb.HasRequest(instanceIDs=[new_id])))
    assert next(replies).hasReply.exists is False
    box.put(
        pb.WriteTransactionRequest(verifyRequest=pb.VerifyRequest(instances=[doc(_id="q", name=3)]))
    )
    assert next(replies).verifyReply.transactionError.startswith("instance doesn't correspond")
    box.put(pb.WriteTransactionRequest(findRequest=pb.FindRequest(queryJSON=b"{}")))
    assert list(next(replies).findReply.instances) == []
    box.put(None)
    assert list(replies) == []
    assert sorted(d["name"] for d in find(alice, {})) == ["s", "t1"]


def test_write_transaction_discard(alice: Client) -> None:
    start = pb.StartTransactionRequest(dbID=alice.db.bytes, collectionName="things")
    box, requests = _stream(pb.WriteTransactionRequest(startTransactionRequest=start))
    replies = alice.threads.WriteTransaction(requests, metadata=alice.md())
    box.put(
        pb.WriteTransactionRequest(createRequest=pb.CreateRequest(instances=[doc(name="gone")]))
    )
    next(replies)
    box.put(pb.WriteTransactionRequest(discardRequest=pb.DiscardRequest()))
    assert next(replies).WhichOneof("option") == "discardReply"
    box.put(None)
    with pytest.raises(grpc.RpcError) as info:
        list(replies)
    assert info.value.details() == "can't commit discarded/committed txn"
    assert find(alice, {}) == []


def test_write_transaction_cancel_discards_and_releases_lock(alice: Client) -> None:
    start = pb.StartTransactionRequest(dbID=alice.db.bytes, collectionName="things")
    box, requests = _stream(pb.WriteTransactionRequest(startTransactionRequest=start))
    replies = alice.threads.WriteTransaction(requests, metadata=alice.md())
    box.put(
        pb.WriteTransactionRequest(createRequest=pb.CreateRequest(instances=[doc(name="gone")]))
    )
    next(replies)
    replies.cancel()
    create(alice, doc(name="after"))  # the DB lock was released
    assert [d["name"] for d in find(alice, {})] == ["after"]


def test_write_transaction_holds_db_lock(alice: Client) -> None:
    start = pb.StartTransactionRequest(dbID=alice.db.bytes, collectionName="things")
    box, requests = _stream(pb.WriteTransactionRequest(startTransactionRequest=start))
    replies = alice.threads.WriteTransaction(requests, metadata=alice.md())
    box.put(
        pb.WriteTransactionRequest(
            createRequest=pb.CreateRequest(instances=[doc(_id="in-txn", name="t")])
        )
    )
    next(replies)
    done = threading.Event()
    worker = threading.Thread(
        target=lambda: (create(alice, doc(_id="outside", name="o")), done.set())
    )
    worker.start()
    assert not done.wait(0.5)  # blocked by the transaction's lock
    box.put(None)
    list(replies)
    worker.join(10)
    assert done.is_set()
    assert sorted(d["_id"] for d in find(alice, {})) == ["in-txn", "outside"]


def test_write_transaction_commit_error_ends_stream(alice: Client) -> None:
    create(alice, doc(_id="dup", name="d"))
    start = pb.StartTransactionRequest(dbID=alice.db.bytes, collectionName="things")
    box, requests = _stream(pb.WriteTransactionRequest(startTransactionRequest=start))
    replies = alice.threads.WriteTransaction(requests, metadata=alice.md())
    box.put(
        pb.WriteTransactionRequest(
            createRequest=pb.CreateRequest(instances=[doc(_id="dup", name="d")])
        )
    )
    reply = next(replies).createReply
    box.put(None)
    if reply.transactionError:  # rejected at once: the commit then has nothing to do
        assert reply.transactionError == "can't create already existing instance"
        list(replies)
    else:
        with pytest.raises(grpc.RpcError) as info:
            list(replies)
        assert info.value.details() == "can't create already existing instance"


def test_read_transaction(alice: Client) -> None:
    (iid,) = create(alice, doc(name="r"))
    start = pb.StartTransactionRequest(dbID=alice.db.bytes, collectionName="things")
    requests = [
        pb.ReadTransactionRequest(startTransactionRequest=start),
        pb.ReadTransactionRequest(hasRequest=pb.HasRequest(instanceIDs=[iid])),
        pb.ReadTransactionRequest(findRequest=pb.FindRequest(queryJSON=b"{}")),
        pb.ReadTransactionRequest(findByIDRequest=pb.FindByIDRequest(instanceID=iid)),
        pb.ReadTransactionRequest(findByIDRequest=pb.FindByIDRequest(instanceID="missing")),
    ]
    replies = list(alice.threads.ReadTransaction(iter(requests), metadata=alice.md()))
    assert [r.WhichOneof("option") for r in replies] == [
        "hasReply",
        "findReply",
        "findByIDReply",
        "findByIDReply",
    ]
    assert replies[0].hasReply.exists
    assert len(replies[1].findReply.instances) == 1
    assert json.loads(replies[2].findByIDReply.instance)["name"] == "r"
    assert replies[3].findByIDReply.transactionError == "instance not found"


def test_transaction_must_start_with_start_request(alice: Client) -> None:
    requests = iter([pb.ReadTransactionRequest(hasRequest=pb.HasRequest(instanceIDs=["x"]))])
    err = rpc_error(alice.threads.ReadTransaction, requests, metadata=alice.md())
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    start = pb.StartTransactionRequest(dbID=alice.db.bytes, collectionName="nope")
    requests = iter([pb.WriteTransactionRequest(startTransactionRequest=start)])
    err = rpc_error(alice.threads.WriteTransaction, requests, metadata=alice.md())
    assert (err.code(), err.details()) == (grpc.StatusCode.NOT_FOUND, "collection not found")


# -- listen ------------------------------------------------------------------------------------


def _listen(client: Client, *filters: Any) -> tuple[Any, queue.Queue[Any]]:
    call = client.threads.Listen(
        pb.ListenRequest(dbID=client.db.bytes, filters=list(filters)), metadata=client.md()
    )
    events: queue.Queue[Any] = queue.Queue()

    def pump() -> None:
        try:
            for reply in call:
                events.put(reply)
        except grpc.RpcError as exc:
            events.put(exc)

    threading.Thread(target=pump, daemon=True).start()
    return call, events


def test_listen_streams_changes(alice: Client) -> None:
    call, events = _listen(alice)
    try:
        # the subscription is live once a change made after it arrives; retry the first write
        ids: list[str] = []
        first = None
        for attempt in range(50):
            ids = create(alice, doc(name=f"l{attempt}"))
            try:
                first = events.get(timeout=0.2)
                break
            except queue.Empty:
                continue
        assert first is not None and first.action == pb.ListenReply.CREATE
        assert first.collectionName == "things" and first.instanceID == ids[0]
        assert json.loads(first.instance)["_id"] == ids[0]
        alice.threads.Save(
            pb.SaveRequest(
                dbID=alice.db.bytes, collectionName="things", instances=[doc(_id=ids[0], name="s")]
            ),
            metadata=alice.md(),
        )
        saved = events.get(timeout=10)
        assert saved.action == pb.ListenReply.SAVE and json.loads(saved.instance)["name"] == "s"
        alice.threads.Delete(
            pb.DeleteRequest(dbID=alice.db.bytes, collectionName="things", instanceIDs=ids),
            metadata=alice.md(),
        )
        deleted = events.get(timeout=10)
        assert deleted.action == pb.ListenReply.DELETE and deleted.instance == b""
    finally:
        call.cancel()


def test_listen_filters(alice: Client) -> None:
    only_delete = pb.ListenRequest.Filter(action=pb.ListenRequest.Filter.DELETE)
    call, events = _listen(alice, only_delete)
    try:
        for attempt in range(50):
            (iid,) = create(alice, doc(_id=f"f{attempt}", name="f"))
            alice.threads.Delete(
                pb.DeleteRequest(dbID=alice.db.bytes, collectionName="things", instanceIDs=[iid]),
                metadata=alice.md(),
            )
            try:
                event = events.get(timeout=0.2)
                break
            except queue.Empty:
                continue
        assert event.action == pb.ListenReply.DELETE
        assert events.empty()
    finally:
        call.cancel()


def test_listen_unknown_db(alice: Client) -> None:
    other = ThreadID.new()
    call = alice.threads.Listen(pb.ListenRequest(dbID=other.bytes), metadata=alice.md())
    err = rpc_error(list, call)
    assert (err.code(), err.details()) == (grpc.StatusCode.NOT_FOUND, "db not found")
