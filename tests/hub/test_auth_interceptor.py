"""The auth interceptor over real gRPC (WIRE.md §2.3, §2.5): every credential case with its code
and text, GetToken, and thread ownership between identities for unary and streaming methods."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bucketfs.auth.apisig import create_api_sig
from bucketfs.auth.identity import Identity
from bucketfs.auth.token import issue_token, verify_token
from bucketfs.proto import threads_pb2 as pb
from bucketfs.proto import usersd_pb2
from bucketfs.testing.hubproc import HubProcess

if TYPE_CHECKING:
    from conftest import Client, HubClients

UNAUTH = grpc.StatusCode.UNAUTHENTICATED
DENIED = grpc.StatusCode.PERMISSION_DENIED


def status(call: Any, *args: Any, **kwargs: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        result = call(*args, **kwargs)
        if hasattr(result, "__next__"):
            list(result)
    return info.value.code(), info.value.details()


def list_colls(client: Client, metadata: list[tuple[str, str]]) -> Any:
    return client.threads.ListCollections(
        pb.ListCollectionsRequest(dbID=client.db.bytes), metadata=metadata
    )


def probe(client: Client, metadata: list[tuple[str, str]]) -> Any:
    """An authenticated call that needs no thread."""
    return client.users.ListThreads(usersd_pb2.ListThreadsRequest(), metadata=metadata)


# -- credentials -------------------------------------------------------------------------------


def test_missing_credentials(alice: Client) -> None:
    assert status(list_colls, alice, []) == (UNAUTH, "Session or API key required")
    session = [("x-textile-session", "bsomething")]
    assert status(list_colls, alice, session) == (UNAUTH, "Invalid session")


def test_unknown_and_invalidated_keys(hub: HubProcess, alice: Client) -> None:
    md = [("x-textile-api-key", "bnosuchkey")]
    assert status(list_colls, alice, md) == (
        grpc.StatusCode.NOT_FOUND,
        "API key not found or is invalid",
    )
    probe(alice, alice.md())
    hub.cli("keys", "invalidate", alice.key)
    assert status(list_colls, alice, alice.md()) == (
        grpc.StatusCode.NOT_FOUND,
        "API key not found or is invalid",
    )


def test_signatures(clients: HubClients) -> None:
    client = clients.account()
    assert client.secret is not None
    probe(client, client.md())  # fresh valid signature
    key_only = [("x-textile-api-key", client.key)]
    assert status(list_colls, client, key_only) == (UNAUTH, "API key signature required")
    sig, msg = create_api_sig(client.secret, datetime.now(UTC) - timedelta(seconds=1))
    expired = [*key_only, ("x-textile-api-sig", sig), ("x-textile-api-sig-msg", msg)]
    assert status(list_colls, client, expired) == (UNAUTH, "Bad API key signature")
    other_secret = clients.account().secret
    assert other_secret is not None
    sig, msg = create_api_sig(other_secret, datetime.now(UTC) + timedelta(minutes=5))
    wrong = [*key_only, ("x-textile-api-sig", sig), ("x-textile-api-sig-msg", msg)]
    assert status(list_colls, client, wrong) == (UNAUTH, "Bad API key signature")
    garbage = [*key_only, ("x-textile-api-sig", "not-multibase"), ("x-textile-api-sig-msg", "x")]
    assert status(list_colls, client, garbage) == (UNAUTH, "Bad API key signature")


def test_insecure_key_needs_no_signature(clients: HubClients) -> None:
    client = clients.account(secure=False)
    assert client.md() == [("x-textile-api-key", client.key)]
    client.db = client.new_db()
    assert client.db.bytes in [t.id for t in probe(client, client.md()).list]


def test_user_key_authorization_header(hub: HubProcess, clients: HubClients) -> None:
    key, secret = hub.create_key(type="user")
    client = clients.raw(key, secret)
    md = client.md()
    assert status(list_colls, client, md) == (UNAUTH, "Token required")
    assert status(list_colls, client, [*md, ("authorization", "bearer")]) == (
        UNAUTH,
        "Bad authorization string",
    )
    assert status(list_colls, client, [*md, ("authorization", "basic abc")]) == (
        UNAUTH,
        "Request unauthenticated with bearer",
    )
    assert status(list_colls, client, [*md, ("authorization", "bearer not-a-jwt")]) == (
        DENIED,
        "Bad authorization",
    )
    foreign = issue_token(Identity.generate(), Identity.generate().public_key)
    assert status(list_colls, client, [*md, ("authorization", f"bearer {foreign}")]) == (
        grpc.StatusCode.UNKNOWN,
        "invalid thread token",
    )


def test_list_dbs_is_blocked(alice: Client) -> None:
    call = alice.threads.ListDBs
    assert status(call, pb.ListDBsRequest(), metadata=alice.md()) == (
        DENIED,
        "Method is not accessible",
    )


def test_health_needs_no_credentials(hub: HubProcess) -> None:
    with grpc.insecure_channel(hub.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "threads.pb.API", "api.hubd.pb.APIService", "api.usersd.pb.APIService"):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


# -- GetToken ----------------------------------------------------------------------------------


def test_get_token_issues_a_hub_signed_token(hub: HubProcess, clients: HubClients) -> None:
    identity = Identity.generate()
    client = clients.user(identity)
    hub_identity = Identity.load(hub.data_dir / "identity")
    claims = verify_token(client.token, hub_identity.public_key)
    assert claims.subject == str(identity.public_key)
    assert claims.issuer == str(hub_identity.public_key)
    client.db = client.new_db()
    assert list(list_colls(client, client.md()).collections)


def _token_stream(client: Client, first: Any) -> tuple[queue.Queue[Any], Any]:
    box: queue.Queue[Any] = queue.Queue()
    box.put(first)

    def gen() -> Iterator[Any]:
        while (item := box.get(timeout=10)) is not None:
            yield item

    return box, client.threads.GetToken(gen(), metadata=client.md(), timeout=10)


def test_get_token_errors(clients: HubClients) -> None:
    client, identity = clients.account(), Identity.generate()
    box, replies = _token_stream(client, pb.GetTokenRequest(signature=b"x"))
    box.put(None)
    assert status(list, replies) == (grpc.StatusCode.INVALID_ARGUMENT, "Key is required")

    box, replies = _token_stream(client, pb.GetTokenRequest(key=str(identity.public_key)))
    challenge = next(replies).challenge
    assert len(challenge) == 32
    box.put(pb.GetTokenRequest(signature=Identity.generate().sign(challenge)))
    box.put(None)
    assert status(list, replies) == (grpc.StatusCode.UNKNOWN, "bad signature")

    box, replies = _token_stream(client, pb.GetTokenRequest(key=str(identity.public_key)))
    next(replies)
    box.put(pb.GetTokenRequest(key=str(identity.public_key)))
    box.put(None)
    assert status(list, replies) == (grpc.StatusCode.INVALID_ARGUMENT, "Signature is required")

    box, replies = _token_stream(client, pb.GetTokenRequest(key="bnotakey"))
    box.put(None)
    code, text = status(list, replies)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and text.startswith("invalid key")


def test_get_token_challenge_deadline(clients: HubClients) -> None:
    """The module's hub waits 1 s (``--challenge-timeout 1``) instead of a minute."""
    client = clients.account()
    box, replies = _token_stream(
        client, pb.GetTokenRequest(key=str(Identity.generate().public_key))
    )
    next(replies)
    try:
        assert status(next, replies) == (
            grpc.StatusCode.DEADLINE_EXCEEDED,
            "Challenge deadline exceeded",
        )
    finally:
        box.put(None)


# -- ownership ---------------------------------------------------------------------------------


def _denied_everywhere(owner: Client, other: Client, text: str) -> None:
    """Every ThreadDB method on ``owner``'s thread, called by ``other``, is refused with ``text``."""
    db, md = owner.db.bytes, other.md()
    t = other.threads
    unary = [
        (t.GetDBInfo, pb.GetDBInfoRequest(dbID=db)),
        (t.DeleteDB, pb.DeleteDBRequest(dbID=db)),
        (t.NewDB, pb.NewDBRequest(dbID=db)),
        (t.NewCollection, pb.NewCollectionRequest(dbID=db, config=pb.CollectionConfig(name="x"))),
        (
            t.UpdateCollection,
            pb.UpdateCollectionRequest(dbID=db, config=pb.CollectionConfig(name="x")),
        ),
        (t.DeleteCollection, pb.DeleteCollectionRequest(dbID=db, name="things")),
        (t.GetCollectionInfo, pb.GetCollectionInfoRequest(dbID=db, name="things")),
        (t.GetCollectionIndexes, pb.GetCollectionIndexesRequest(dbID=db, name="things")),
        (t.ListCollections, pb.ListCollectionsRequest(dbID=db)),
        (t.Create, pb.CreateRequest(dbID=db, collectionName="things", instances=[b"{}"])),
        (t.Save, pb.SaveRequest(dbID=db, collectionName="things", instances=[b'{"_id":"a"}'])),
        (t.Verify, pb.VerifyRequest(dbID=db, collectionName="things", instances=[b"{}"])),
        (t.Delete, pb.DeleteRequest(dbID=db, collectionName="things", instanceIDs=["a"])),
        (t.Has, pb.HasRequest(dbID=db, collectionName="things", instanceIDs=["a"])),
        (t.Find, pb.FindRequest(dbID=db, collectionName="things", queryJSON=b"{}")),
        (t.FindByID, pb.FindByIDRequest(dbID=db, collectionName="things", instanceID="a")),
        (t.Listen, pb.ListenRequest(dbID=db)),
    ]
    for method, request in unary:
        assert status(method, request, metadata=md, timeout=10) == (DENIED, text), method
    start = pb.StartTransactionRequest(dbID=db, collectionName="things")
    read = iter([pb.ReadTransactionRequest(startTransactionRequest=start)])
    assert status(t.ReadTransaction, read, metadata=md, timeout=10) == (DENIED, text)
    write = iter(
        [
            pb.WriteTransactionRequest(startTransactionRequest=start),
            pb.WriteTransactionRequest(createRequest=pb.CreateRequest(instances=[b'{"name":"x"}'])),
        ]
    )
    assert status(t.WriteTransaction, write, metadata=md, timeout=10) == (DENIED, text)
    # the x-textile-thread header is checked too, on any service
    header_md = other.md(thread=owner.db)
    users = other.users.ListThreads
    assert status(users, usersd_pb2.ListThreadsRequest(), metadata=header_md) == (DENIED, text)
    # and nothing changed for the owner
    found = owner.threads.Find(
        pb.FindRequest(dbID=db, collectionName="things", queryJSON=b"{}"), metadata=owner.md()
    )
    assert list(found.instances) == []


def test_other_account_does_not_own_thread(clients: HubClients, alice: Client) -> None:
    bob = clients.account(account="bob")
    _denied_everywhere(alice, bob, "User does not own thread")


def test_other_user_does_not_own_thread(clients: HubClients) -> None:
    owner = clients.user()
    owner.db = owner.new_db()
    stranger = clients.raw(owner.key, owner.secret)  # same user key, other identity
    stranger.get_token(Identity.generate())
    _denied_everywhere(owner, stranger, "User does not own thread")


def test_same_user_other_user_key_is_bad_api_key(clients: HubClients) -> None:
    identity = Identity.generate()
    owner = clients.user(identity)
    owner.db = owner.new_db()
    other_key = clients.user(identity)
    _denied_everywhere(owner, other_key, "Bad API key")


def test_account_keys_of_one_account_share_threads(clients: HubClients, alice: Client) -> None:
    sibling = clients.account()  # another key of the default account
    sibling.db = alice.db
    reply = list_colls(sibling, sibling.md(thread=alice.db))
    assert [c.name for c in reply.collections] == ["things"]
