"""The Hub (api.hubd.pb) and Users (api.usersd.pb) services of the hub: build info, identity,
key management over gRPC, disabled sign-up, unsupported methods, and the thread registry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc
import pytest

import bucketfs
from bucketfs.auth.identity import Identity
from bucketfs.auth.threadid import ThreadID
from bucketfs.proto import hubd_pb2, threads_pb2, usersd_pb2

if TYPE_CHECKING:
    from conftest import Client, HubClients


def status(call: Any, *args: Any, **kwargs: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        result = call(*args, **kwargs)
        if hasattr(result, "__next__"):
            list(result)
    return info.value.code(), info.value.details()


def test_build_info(alice: Client) -> None:
    info = alice.hubd.BuildInfo(hubd_pb2.BuildInfoRequest(), metadata=alice.md())
    assert info.version == bucketfs.__version__


def test_signup_disabled_and_sessions_unsupported(alice: Client) -> None:
    # Signup and Signin need no credentials (skipped by the auth interceptor)
    assert status(alice.hubd.Signup, hubd_pb2.SignupRequest(username="x", email="x@y")) == (
        grpc.StatusCode.UNKNOWN,
        "signups are disabled",
    )
    code, text = status(alice.hubd.Signin, hubd_pb2.SigninRequest(username_or_email="x"))
    assert code == grpc.StatusCode.UNIMPLEMENTED
    assert text.startswith("Signin is not supported by this hub: sessions are not offered")
    code, text = status(
        alice.hubd.CreateOrg, hubd_pb2.CreateOrgRequest(name="o"), metadata=alice.md()
    )
    assert code == grpc.StatusCode.UNIMPLEMENTED and "organisations are not offered" in text


def test_key_management_over_grpc(clients: HubClients) -> None:
    admin = clients.account(account="keys-admin")
    made = admin.hubd.CreateKey(
        hubd_pb2.CreateKeyRequest(type=hubd_pb2.KEY_TYPE_USER, secure=True), metadata=admin.md()
    ).key_info
    assert made.type == hubd_pb2.KEY_TYPE_USER and made.secure and made.valid
    assert len(made.key) == 27 and len(made.secret) == 40
    listed = admin.hubd.ListKeys(hubd_pb2.ListKeysRequest(), metadata=admin.md()).list
    assert {k.key for k in listed} == {admin.key, made.key}
    # the new user key works (with a token), and stops working once invalidated
    user = clients.raw(made.key, made.secret)
    user.get_token(Identity.generate())
    user.users.ListThreads(usersd_pb2.ListThreadsRequest(), metadata=user.md())
    admin.hubd.InvalidateKey(hubd_pb2.InvalidateKeyRequest(key=made.key), metadata=admin.md())
    assert status(user.users.ListThreads, usersd_pb2.ListThreadsRequest(), metadata=user.md()) == (
        grpc.StatusCode.NOT_FOUND,
        "API key not found or is invalid",
    )
    listed = admin.hubd.ListKeys(hubd_pb2.ListKeysRequest(), metadata=admin.md()).list
    assert [k.valid for k in listed if k.key == made.key] == [False]


def test_key_management_is_per_account(clients: HubClients) -> None:
    alice, bob = clients.account(account="kalice"), clients.account(account="kbob")
    request = hubd_pb2.InvalidateKeyRequest(key=alice.key)
    assert status(bob.hubd.InvalidateKey, request, metadata=bob.md()) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "User does not own key",
    )
    listed = bob.hubd.ListKeys(hubd_pb2.ListKeysRequest(), metadata=bob.md()).list
    assert [k.key for k in listed] == [bob.key]
    user = clients.user()
    assert status(user.hubd.ListKeys, hubd_pb2.ListKeysRequest(), metadata=user.md()) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "ListKeys needs an account API key",
    )


def test_thread_counts_follow_new_and_delete(clients: HubClients) -> None:
    client = clients.account(account="counting")
    first, _second = client.new_db(), client.new_db()

    def threads() -> int:
        keys = client.hubd.ListKeys(hubd_pb2.ListKeysRequest(), metadata=client.md()).list
        return next(k.threads for k in keys if k.key == client.key)

    assert threads() == 2
    client.threads.DeleteDB(threads_pb2.DeleteDBRequest(dbID=first.bytes), metadata=client.md())
    assert threads() == 1


def test_get_identity_is_the_account_identity(clients: HubClients) -> None:
    """Threads made with an account key are owned by the identity GetIdentity returns: a user
    acting as that identity is refused only for using another key (``Bad API key``)."""
    client = clients.account(account="ident")
    raw = client.hubd.GetIdentity(hubd_pb2.GetIdentityRequest(), metadata=client.md()).identity
    identity = Identity.unmarshal(raw)
    db = client.new_db()
    request = threads_pb2.GetDBInfoRequest(dbID=db.bytes)
    same = clients.user(identity)
    assert status(same.threads.GetDBInfo, request, metadata=same.md()) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "Bad API key",
    )
    stranger = clients.user()
    assert status(stranger.threads.GetDBInfo, request, metadata=stranger.md()) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "User does not own thread",
    )
    other = clients.account(account="ident2")
    other_raw = other.hubd.GetIdentity(hubd_pb2.GetIdentityRequest(), metadata=other.md()).identity
    assert Identity.unmarshal(other_raw).public_key != identity.public_key


def test_get_thread_and_list_threads_show_only_own(clients: HubClients) -> None:
    alice, bob = clients.account(account="ualice"), clients.account(account="ubob")
    db = alice.new_db(name="buckets")
    got = alice.users.GetThread(usersd_pb2.GetThreadRequest(name="Buckets"), metadata=alice.md())
    assert (got.id, got.name, got.is_db) == (db.bytes, "buckets", True)
    assert status(
        bob.users.GetThread, usersd_pb2.GetThreadRequest(name="buckets"), metadata=bob.md()
    ) == (
        grpc.StatusCode.NOT_FOUND,
        "Thread not found",
    )
    assert (
        list(bob.users.ListThreads(usersd_pb2.ListThreadsRequest(), metadata=bob.md()).list) == []
    )
    bob_db = bob.new_db(name="buckets")  # names are per owner
    assert bob_db != db


def test_user_threads_are_per_key(clients: HubClients) -> None:
    identity = Identity.generate()
    first, second = clients.user(identity), clients.user(identity)
    db = first.new_db(name="notes")
    listed = first.users.ListThreads(usersd_pb2.ListThreadsRequest(), metadata=first.md()).list
    assert [t.id for t in listed] == [db.bytes]
    assert (
        list(second.users.ListThreads(usersd_pb2.ListThreadsRequest(), metadata=second.md()).list)
        == []
    )
    code, _ = status(
        second.users.GetThread, usersd_pb2.GetThreadRequest(name="notes"), metadata=second.md()
    )
    assert code == grpc.StatusCode.NOT_FOUND


def test_mailbox_unsupported(alice: Client) -> None:
    code, text = status(
        alice.users.SetupMailbox, usersd_pb2.SetupMailboxRequest(), metadata=alice.md()
    )
    assert code == grpc.StatusCode.UNIMPLEMENTED and "mailboxes" in text
    code, text = status(
        alice.users.ArchiveRetrievalLogs,
        usersd_pb2.ArchiveRetrievalLogsRequest(),
        metadata=alice.md(),
    )
    assert code == grpc.StatusCode.UNIMPLEMENTED


def test_thread_header_must_parse(alice: Client) -> None:
    md = [*alice.md(), ("x-textile-thread", "not-a-thread")]
    code, text = status(alice.users.ListThreads, usersd_pb2.ListThreadsRequest(), metadata=md)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "x-textile-thread" in text
    unknown = alice.md(thread=ThreadID.new())
    alice.users.ListThreads(usersd_pb2.ListThreadsRequest(), metadata=unknown)
