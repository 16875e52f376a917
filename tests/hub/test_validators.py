"""ThreadDB write validators and read filters through a real hub over gRPC (go-threads semantics:
``_validate(writer, event, instance)`` / ``_filter(reader, instance)``, the upstream error texts),
and the sandbox's limits: a looping or memory-hungry script is stopped and the hub keeps serving.
"""

from __future__ import annotations

import json
import queue
import threading
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bucketfs.auth.identity import Identity
from bucketfs.proto import threads_pb2 as pb
from bucketfs.testing.hubproc import HubClient, HubClients

OPEN_SCHEMA = json.dumps({"type": "object", "properties": {"_id": {"type": "string"}}}).encode()
DENIED = "app denied net record body"


class Db:
    """One user identity with a token, its thread DB, and helpers for one collection."""

    def __init__(self, clients: HubClients) -> None:
        self.identity = Identity.generate()
        self.client: HubClient = clients.user(self.identity)
        self.db = self.client.new_db()
        self.pk = str(self.identity.public_key)

    def md(self) -> list[tuple[str, str]]:
        return self.client.md()

    def collection(self, name: str, *, validator: str = "", read_filter: str = "") -> str:
        config = pb.CollectionConfig(
            name=name, schema=OPEN_SCHEMA, writeValidator=validator, readFilter=read_filter
        )
        self.client.threads.NewCollection(
            pb.NewCollectionRequest(dbID=self.db.bytes, config=config), metadata=self.md()
        )
        return name

    def update(self, name: str, *, validator: str = "", read_filter: str = "") -> None:
        config = pb.CollectionConfig(
            name=name, schema=OPEN_SCHEMA, writeValidator=validator, readFilter=read_filter
        )
        self.client.threads.UpdateCollection(
            pb.UpdateCollectionRequest(dbID=self.db.bytes, config=config), metadata=self.md()
        )

    def create(self, coll: str, *docs: dict[str, Any]) -> list[str]:
        reply = self.client.threads.Create(
            pb.CreateRequest(
                dbID=self.db.bytes, collectionName=coll, instances=[_j(d) for d in docs]
            ),
            metadata=self.md(),
        )
        return list(reply.instanceIDs)

    def save(self, coll: str, *docs: dict[str, Any]) -> None:
        self.client.threads.Save(
            pb.SaveRequest(
                dbID=self.db.bytes, collectionName=coll, instances=[_j(d) for d in docs]
            ),
            metadata=self.md(),
        )

    def verify(self, coll: str, *docs: dict[str, Any]) -> None:
        self.client.threads.Verify(
            pb.VerifyRequest(
                dbID=self.db.bytes, collectionName=coll, instances=[_j(d) for d in docs]
            ),
            metadata=self.md(),
        )

    def delete(self, coll: str, *ids: str) -> None:
        self.client.threads.Delete(
            pb.DeleteRequest(dbID=self.db.bytes, collectionName=coll, instanceIDs=list(ids)),
            metadata=self.md(),
        )

    def find_raw(self, coll: str, query: dict[str, Any] | None = None) -> list[bytes]:
        reply = self.client.threads.Find(
            pb.FindRequest(
                dbID=self.db.bytes, collectionName=coll, queryJSON=json.dumps(query or {}).encode()
            ),
            metadata=self.md(),
        )
        return list(reply.instances)

    def find(self, coll: str, query: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return [json.loads(i) for i in self.find_raw(coll, query)]

    def find_by_id_raw(self, coll: str, instance_id: str) -> bytes:
        reply = self.client.threads.FindByID(
            pb.FindByIDRequest(dbID=self.db.bytes, collectionName=coll, instanceID=instance_id),
            metadata=self.md(),
        )
        return bytes(reply.instance)

    def find_by_id(self, coll: str, instance_id: str) -> dict[str, Any]:
        return dict(json.loads(self.find_by_id_raw(coll, instance_id)))

    def has(self, coll: str, *ids: str) -> bool:
        reply = self.client.threads.Has(
            pb.HasRequest(dbID=self.db.bytes, collectionName=coll, instanceIDs=list(ids)),
            metadata=self.md(),
        )
        return bool(reply.exists)


def _j(value: dict[str, Any]) -> bytes:
    return json.dumps(value).encode()


def rpc_error(call: Any, *args: Any, **kwargs: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        result = call(*args, **kwargs)
        if hasattr(result, "__next__"):
            list(result)
    return info.value


def refused(fn: Any, *args: Any) -> tuple[grpc.StatusCode, str]:
    err = rpc_error(fn, *args)
    return err.code(), err.details()


@pytest.fixture
def user(clients: HubClients) -> Db:
    return Db(clients)


# -- write validators --------------------------------------------------------------------------


DOGS = """
var type = event.patch.type;
var patch = event.patch.json_patch;
switch (type) {
  case "delete":
    return false;
  default:
    if (patch.name !== "Fido" && patch.name != "Clyde") {
      return false;
    }
    return true;
}
"""


def test_validator_accepts_and_rejects_by_content(user: Db) -> None:
    """The upstream JS client's own validator test, through our hub."""
    dogs = user.collection("dogs", validator=DOGS)
    (dog,) = user.create(dogs, {"_id": "", "name": "Fido"})
    assert refused(user.save, dogs, {"_id": dog, "name": "Bob"}) == (
        grpc.StatusCode.UNKNOWN,
        DENIED,
    )
    assert user.find_by_id(dogs, dog)["name"] == "Fido"
    user.save(dogs, {"_id": dog, "name": "Clyde"})
    assert refused(user.delete, dogs, dog) == (grpc.StatusCode.UNKNOWN, DENIED)
    assert user.has(dogs, dog)
    # Verify runs the validator and never writes
    assert refused(user.verify, dogs, {"_id": dog, "name": "Rex"})[1] == DENIED
    user.verify(dogs, {"_id": dog, "name": "Fido"})
    assert user.find_by_id(dogs, dog)["name"] == "Clyde"
    # a multi-instance Create is all or none
    assert refused(user.create, dogs, {"_id": "a", "name": "Fido"}, {"_id": "b", "name": "Rex"})
    assert not user.has(dogs, "a")


def test_validator_return_values_and_throws_give_the_upstream_texts(user: Db) -> None:
    cases = {
        "return 'too old'": f"{DENIED}: too old",
        "return null": DENIED,
        "return undefined": DENIED,
        "": None,  # an empty body means no validator
        "return 0": f"{DENIED}: 0",
        "throw new Error('boom')": "running write validator func: Error: boom",
        "return true": None,
    }
    for n, (body, expected) in enumerate(cases.items()):
        coll = user.collection(f"c{n}", validator=body)
        if expected is None:
            user.create(coll, {"x": 1})
        else:
            assert refused(user.create, coll, {"x": 1}) == (grpc.StatusCode.UNKNOWN, expected)


def test_validator_sees_writer_event_and_stored_instance(user: Db) -> None:
    """Reflect the arguments back through the refusal text to check their shape."""
    coll = user.collection("echo", validator="return JSON.stringify([writer, event, instance])")
    user.update(coll)  # no validator while seeding
    (iid,) = user.create(coll, {"_id": "i1", "a": 1, "b": 2})
    stored = user.find_by_id(coll, iid)
    user.update(coll, validator="return JSON.stringify([writer, event, instance === undefined])")
    code, text = refused(user.create, coll, {"_id": "i2", "a": 1})
    writer, event, no_instance = json.loads(text.removeprefix(f"{DENIED}: "))
    assert (code, writer, no_instance) == (grpc.StatusCode.UNKNOWN, user.pk, True)
    assert event["_id"] == "i2" and event["collection_name"] == coll
    assert event["patch"]["type"] == "create" and event["patch"]["instance_id"] == "i2"
    assert event["patch"]["json_patch"]["a"] == 1 and "_mod" in event["patch"]["json_patch"]
    assert isinstance(event["timestamp"], int)
    user.update(coll, validator="return JSON.stringify([event.patch, instance])")
    _, text = refused(user.save, coll, {"_id": "i1", "a": 1, "c": 3})
    patch, instance = json.loads(text.removeprefix(f"{DENIED}: "))
    assert patch["type"] == "save"
    assert {k: v for k, v in patch["json_patch"].items() if k != "_mod"} == {"b": None, "c": 3}
    assert instance["a"] == 1 and instance["b"] == 2 and instance["_id"] == stored["_id"]
    _, text = refused(user.delete, coll, "i1")
    patch, instance = json.loads(text.removeprefix(f"{DENIED}: "))
    assert patch == {"type": "delete", "instance_id": "i1"} and instance["b"] == 2


def test_validator_by_writer_identity(clients: HubClients, user: Db) -> None:
    mine = user.collection("mine", validator=f"return writer === {json.dumps(user.pk)}")
    user.create(mine, {"x": 1})
    stranger = str(Identity.generate().public_key)
    theirs = user.collection("theirs", validator=f"return writer === {json.dumps(stranger)}")
    assert refused(user.create, theirs, {"x": 1}) == (grpc.StatusCode.UNKNOWN, DENIED)


def test_validator_refuses_a_write_transaction_at_commit(user: Db) -> None:
    dogs = user.collection("dogs", validator=DOGS)
    start = pb.StartTransactionRequest(dbID=user.db.bytes, collectionName=dogs)
    requests = [
        pb.WriteTransactionRequest(startTransactionRequest=start),
        pb.WriteTransactionRequest(
            createRequest=pb.CreateRequest(instances=[_j({"_id": "ok", "name": "Fido"})])
        ),
        pb.WriteTransactionRequest(
            createRequest=pb.CreateRequest(instances=[_j({"_id": "no", "name": "Rex"})])
        ),
    ]
    err = rpc_error(user.client.threads.WriteTransaction, iter(requests), metadata=user.md())
    assert (err.code(), err.details()) == (grpc.StatusCode.UNKNOWN, DENIED)
    assert not user.has(dogs, "ok")


def test_a_body_that_does_not_compile_is_refused(user: Db) -> None:
    for field in ("validator", "read_filter"):
        err = rpc_error(user.collection, f"bad-{field.replace('_', '-')}", **{field: "return {"})
        assert err.code() == grpc.StatusCode.UNKNOWN
        assert err.details().startswith("compiling js func: SyntaxError")


# -- read filters ------------------------------------------------------------------------------


def test_filter_hides_instances_from_other_readers(user: Db) -> None:
    coll = user.collection(
        "notes", read_filter="return instance.owner === reader ? instance : null"
    )
    mine = user.create(coll, {"_id": "m1", "owner": user.pk}, {"_id": "m2", "owner": user.pk})
    (other,) = user.create(coll, {"_id": "o1", "owner": "someone else"})
    assert [i["_id"] for i in user.find(coll)] == mine
    assert refused(user.find_by_id, coll, other) == (grpc.StatusCode.UNKNOWN, "instance not found")
    assert user.has(coll, *mine) and not user.has(coll, other) and not user.has(coll, "m1", other)
    # skip and limit count the visible instances
    user.create(coll, {"_id": "a0", "owner": "x"}, {"_id": "m3", "owner": user.pk})
    assert [i["_id"] for i in user.find(coll, {"skip": 1, "limit": 1})] == ["m2"]
    assert [i["_id"] for i in user.find(coll, {"skip": 2})] == ["m3"]


def test_filter_hides_fields_and_save_keeps_them(user: Db) -> None:
    coll = user.collection("people", read_filter="delete instance.secret; return instance")
    (pid,) = user.create(coll, {"_id": "p", "name": "ann", "secret": "s3"})
    assert user.find_by_id(coll, pid) == {"_id": "p", "name": "ann", "_mod": _mod_of(user, coll)}
    assert "secret" not in user.find(coll)[0]
    # the writer cannot see the secret, so its Save (a merge patch from what it sees) keeps it
    user.save(coll, {"_id": "p", "name": "bob"})
    user.update(coll)
    shown = user.find_by_id(coll, pid)
    assert (shown["name"], shown["secret"]) == ("bob", "s3")


def _mod_of(user: Db, coll: str) -> int:
    (found,) = user.find(coll)
    mod = found["_mod"]
    assert isinstance(mod, int) and mod > 2**53  # Unix ns, not rounded through JavaScript
    return mod


def test_filter_applies_to_listen(user: Db) -> None:
    coll = user.collection(
        "feed",
        read_filter="if (instance.hidden) return null; delete instance.secret; return instance",
    )
    call = user.client.threads.Listen(pb.ListenRequest(dbID=user.db.bytes), metadata=user.md())
    events: queue.Queue[Any] = queue.Queue()

    def pump() -> None:
        try:
            for reply in call:
                events.put(reply)
        except grpc.RpcError as exc:
            events.put(exc)

    threading.Thread(target=pump, daemon=True).start()
    try:
        first = None
        for attempt in range(50):  # the subscription is live once an event arrives
            user.create(coll, {"_id": f"w{attempt}", "secret": 1})
            try:
                first = events.get(timeout=0.2)
                break
            except queue.Empty:
                continue
        assert first is not None and "secret" not in json.loads(first.instance)
        while not events.empty():
            events.get()
        user.create(coll, {"_id": "h", "hidden": True}, {"_id": "v", "secret": 2})
        event = events.get(timeout=10)
        assert event.instanceID == "v" and json.loads(event.instance) == {
            "_id": "v",
            "_mod": json.loads(event.instance)["_mod"],
        }
        user.delete(coll, "h")  # a delete is delivered, as upstream (no payload)
        event = events.get(timeout=10)
        assert (event.instanceID, event.action, event.instance) == ("h", pb.ListenReply.DELETE, b"")
    finally:
        call.cancel()


def test_filter_throw_fails_the_read(user: Db) -> None:
    coll = user.collection("t", read_filter="throw new Error('nope')")
    (iid,) = user.create(coll, {"x": 1})
    expected = (grpc.StatusCode.UNKNOWN, "running read filter func: Error: nope")
    assert refused(user.find_by_id, coll, iid) == expected
    assert refused(user.find, coll) == expected


# -- limits ------------------------------------------------------------------------------------


def test_a_looping_validator_is_stopped_and_the_hub_keeps_serving(user: Db) -> None:
    coll = user.collection("loop", validator="while (true) {}")
    code, text = refused(user.create, coll, {"x": 1})
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert text.startswith("running write validator func: stopped after")
    assert user.find(coll) == []
    ok = user.collection("ok", validator="return true")
    user.create(ok, {"x": 1})
    refused(user.create, coll, {"x": 2})  # the rebuilt context still runs (and stops) it
    filt = user.collection("floop", read_filter="for (;;) {}")
    (iid,) = user.create(filt, {"x": 1})
    assert refused(user.find_by_id, filt, iid)[0] == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_a_memory_bomb_is_stopped(user: Db) -> None:
    bomb = "var a = []; while (true) { a.push(new Array(100000).join('x') + a.length); }"
    coll = user.collection("bomb", validator=bomb)
    code, text = refused(user.create, coll, {"x": 1})
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "MiB of memory" in text
    deep = user.collection("deep", validator="function f(n) { return f(n + 1); } return f(0)")
    code, text = refused(user.create, deep, {"x": 1})
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "stack" in text
    user.update(coll, validator="return true")
    user.create(coll, {"x": 1})


def test_no_host_globals_in_the_sandbox(user: Db) -> None:
    probe = "return JSON.stringify([typeof require, typeof process, typeof std, typeof os])"
    coll = user.collection("probe", validator=probe)
    _, text = refused(user.create, coll, {"x": 1})
    assert json.loads(text.removeprefix(f"{DENIED}: ")) == ["undefined"] * 4


# -- property: an identity filter changes nothing ----------------------------------------------

_keys = st.text(min_size=1, max_size=6).filter(lambda k: k not in ("_id", "_mod"))
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=3),
    max_leaves=8,
)
_docs = st.dictionaries(_keys, _values, max_size=5)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(first=_docs, second=_docs)
def test_an_identity_filter_changes_nothing(user: Db, first: Any, second: Any) -> None:
    """Reads through ``return instance`` give the stored bytes; a Save through it stores what
    a Save without a filter stores."""
    coll = user.collection(f"p{abs(hash((json.dumps(first), json.dumps(second))))}")
    user.create(coll, {"_id": "a", **first})
    user.update(coll, read_filter="return instance")
    user.save(coll, {"_id": "a", **second})
    filtered = (user.find_raw(coll), user.find_by_id_raw(coll, "a"), user.has(coll, "a"))
    user.update(coll)
    plain = (user.find_raw(coll), user.find_by_id_raw(coll, "a"), user.has(coll, "a"))
    assert filtered == plain
    shown = json.loads(plain[1])
    assert {k: v for k, v in shown.items() if k != "_mod"} == {"_id": "a", **second}
