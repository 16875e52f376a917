"""``threads.net.pb.API`` through a real hub over gRPC: the single-node methods it serves
(GetHostID, GetToken, GetThread, PullThread, DeleteThread) and the UNIMPLEMENTED rest."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bucketfs.auth.identity import Identity, PublicKey
from bucketfs.auth.threadid import ThreadID
from bucketfs.auth.token import parse_token_unverified, verify_token
from bucketfs.proto import threads_pb2
from bucketfs.proto import threadsnet_pb2 as pb
from bucketfs.proto import threadsnet_pb2_grpc as pb_grpc
from bucketfs.testing.hubproc import HubClient, HubClients


def net(client: HubClient) -> Any:
    return pb_grpc.APIStub(client.channel)


def rpc_error(call: Any, *args: Any, **kwargs: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        result = call(*args, **kwargs)
        if hasattr(result, "__next__"):
            list(result)
    return info.value


def _issuer(token: str) -> PublicKey:
    """The hub identity that signed ``token`` (checked: the token verifies against it)."""
    issuer = PublicKey.from_string(parse_token_unverified(token).issuer)
    verify_token(token, issuer)
    return issuer


def test_get_host_id_is_the_peer_id_of_the_hub_identity(clients: HubClients) -> None:
    user = clients.user()
    reply = net(user).GetHostID(pb.GetHostIDRequest(), metadata=user.md())
    issuer = _issuer(user.token)
    # libp2p: identity multihash (0x00, length) of the protobuf public key 08 01 12 20 <key>
    assert reply.peerID == bytes([0x00, 36]) + issuer.marshal()
    again = net(user).GetHostID(pb.GetHostIDRequest(), metadata=user.md())
    assert again.peerID == reply.peerID


def test_get_token_gives_a_token_the_threads_api_accepts(clients: HubClients) -> None:
    client = clients.user()
    identity = Identity.generate()
    challenges: queue.Queue[bytes] = queue.Queue()

    def requests() -> Iterator[Any]:
        yield pb.GetTokenRequest(key=str(identity.public_key))
        yield pb.GetTokenRequest(signature=identity.sign(challenges.get(timeout=10)))

    client.token = ""
    token = ""
    for reply in net(client).GetToken(requests(), metadata=client.md(), timeout=10):
        if reply.WhichOneof("payload") == "challenge":
            challenges.put(reply.challenge)
        else:
            token = reply.token
    assert token
    client.token = token
    db = client.new_db()  # the threads API takes the net API's token
    info = net(client).GetThread(pb.GetThreadRequest(threadID=db.bytes), metadata=client.md())
    assert info.threadID == db.bytes
    assert verify_token(token, _issuer(token)).subject == str(identity.public_key)


def test_get_thread_describes_the_db(alice: HubClient) -> None:
    info = net(alice).GetThread(pb.GetThreadRequest(threadID=alice.db.bytes), metadata=alice.md())
    db_info = alice.threads.GetDBInfo(
        threads_pb2.GetDBInfoRequest(dbID=alice.db.bytes), metadata=alice.md()
    )
    assert info.threadID == alice.db.bytes
    assert info.threadKey == db_info.key and len(info.threadKey) == 64
    assert list(info.addrs) == list(db_info.addrs)
    assert list(info.logs) == []


def test_get_thread_errors(clients: HubClients, alice: HubClient) -> None:
    err = rpc_error(
        net(alice).GetThread, pb.GetThreadRequest(threadID=b"\x01"), metadata=alice.md()
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    unknown = ThreadID.new().bytes
    err = rpc_error(
        net(alice).GetThread, pb.GetThreadRequest(threadID=unknown), metadata=alice.md()
    )
    assert (err.code(), err.details()) == (grpc.StatusCode.NOT_FOUND, "thread not found")
    # another identity may not read the thread key
    other = clients.user()
    err = rpc_error(
        net(other).GetThread, pb.GetThreadRequest(threadID=alice.db.bytes), metadata=other.md()
    )
    assert (err.code(), err.details()) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "User does not own thread",
    )
    err = rpc_error(
        net(other).PullThread, pb.PullThreadRequest(threadID=alice.db.bytes), metadata=other.md()
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


def test_pull_and_delete_thread_on_one_node(alice: HubClient) -> None:
    net(alice).PullThread(pb.PullThreadRequest(threadID=alice.db.bytes), metadata=alice.md())
    err = rpc_error(
        net(alice).DeleteThread,
        pb.DeleteThreadRequest(threadID=alice.db.bytes),
        metadata=alice.md(),
    )
    assert (err.code(), err.details()) == (grpc.StatusCode.UNKNOWN, "thread is in use")
    net(alice).GetThread(pb.GetThreadRequest(threadID=alice.db.bytes), metadata=alice.md())


@pytest.mark.parametrize(
    ("method", "request_msg"),
    [
        ("CreateThread", pb.CreateThreadRequest(threadID=ThreadID.new().bytes)),
        ("AddThread", pb.AddThreadRequest()),
        ("AddReplicator", pb.AddReplicatorRequest()),
        ("CreateRecord", pb.CreateRecordRequest()),
        ("AddRecord", pb.AddRecordRequest()),
        ("GetRecord", pb.GetRecordRequest()),
    ],
)
def test_the_rest_is_unimplemented(alice: HubClient, method: str, request_msg: Any) -> None:
    err = rpc_error(getattr(net(alice), method), request_msg, metadata=alice.md())
    assert err.code() == grpc.StatusCode.UNIMPLEMENTED
    assert err.details().startswith(f"{method} is not supported by this hub: ")


def test_subscribe_is_not_accessible(alice: HubClient) -> None:
    err = rpc_error(net(alice).Subscribe, pb.SubscribeRequest(), metadata=alice.md())
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


def test_the_service_reports_healthy(alice: HubClient) -> None:
    stub = health_pb2_grpc.HealthStub(alice.channel)
    reply = stub.Check(health_pb2.HealthCheckRequest(service="threads.net.pb.API"))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
