"""``threads.net.pb.API``: the thread network service, for a hub that is a single node.

Upstream (go-threads ``net/api/service.go``) exposes the libp2p thread network: hosts, threads
with their logs and records, replication. This hub has no libp2p host and keeps no thread logs,
so it serves what means something for one node and answers UNIMPLEMENTED for the rest:

* ``GetHostID`` — the libp2p peer ID of the hub identity (identity multihash of its Ed25519
  public key, as ``peer.ID.Marshal`` gives it);
* ``GetToken`` — the same handshake as ``threads.pb.API/GetToken`` (tokens are interchangeable);
* ``GetThread`` — a database's thread ID, 64-byte thread key and ``/thread/<id>`` address; no
  logs (this hub keeps none);
* ``PullThread`` — succeeds on a known thread: with no other peer there is nothing to pull;
* ``DeleteThread`` — every thread here belongs to a ThreadDB, so upstream's answer for a thread
  bound to an app, ``thread is in use``; delete the database with ``DeleteDB`` instead;
* the others (``CreateThread``, ``AddThread``, ``AddReplicator``, ``CreateRecord``,
  ``AddRecord``, ``GetRecord``) answer UNIMPLEMENTED; ``Subscribe`` is refused by the
  interceptor as on Textile's hub.

The interceptor checks the ``dbID`` of ThreadDB requests only, so this service applies the same
ownership rule to ``threadID`` itself (see :func:`_owned`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc

from bucketfs.auth.threadid import ThreadID
from bucketfs.errors import BucketfsError, InvalidArgument, NotFound, PermissionDenied
from bucketfs.hub.caller import KeyType, current_caller
from bucketfs.hub.servicers import HubContext, fill_unsupported
from bucketfs.hub.servicers.threads import thread_multiaddr, token_handshake
from bucketfs.hub.status import grpc_errors
from bucketfs.hub.threaddb import DBInfo
from bucketfs.proto import threadsnet_pb2 as pb
from bucketfs.proto import threadsnet_pb2_grpc as pb_grpc

SERVICE = "threads.net.pb.API"
THREAD_IN_USE = "thread is in use"  # go-threads app.ErrThreadInUse
_IDENTITY_MULTIHASH = 0x00


def peer_id(public_key_message: bytes) -> bytes:
    """A libp2p peer ID (bytes) of a key whose protobuf form is at most 42 bytes (Ed25519: 36):
    the identity multihash of that form."""
    return bytes([_IDENTITY_MULTIHASH, len(public_key_message)]) + public_key_message


def _thread_id(raw: bytes) -> bytes:
    try:
        return ThreadID.from_bytes(raw).bytes
    except InvalidArgument as exc:
        raise InvalidArgument(exc.message) from None


def _owned(hub: HubContext, raw: bytes) -> DBInfo:
    """The database of thread ``raw`` if the caller may use it: the interceptor's rule for
    ThreadDB (owner identity, and for user keys the API key the thread was created with)."""
    try:
        info = hub.engine.get_db(_thread_id(raw))
    except NotFound:
        raise NotFound("thread not found") from None
    caller = current_caller()
    if info.owner != caller.identity:
        raise PermissionDenied("User does not own thread")
    if caller.key_type is KeyType.USER and info.api_key != caller.api_key:
        raise PermissionDenied("Bad API key")
    return info


class ThreadsNetServicer(pb_grpc.APIServicer):
    """See the module docstring."""

    def __init__(self, hub: HubContext) -> None:
        self.hub = hub

    @grpc_errors
    def GetHostID(self, request: Any, context: grpc.ServicerContext) -> Any:
        return pb.GetHostIDReply(peerID=peer_id(self.hub.identity.public_key.marshal()))

    @grpc_errors
    def GetToken(self, requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
        yield from token_handshake(requests, self.hub, pb.GetTokenReply)

    @grpc_errors
    def GetThread(self, request: Any, context: grpc.ServicerContext) -> Any:
        info = _owned(self.hub, request.threadID)
        return pb.ThreadInfoReply(
            threadID=info.db_id, threadKey=info.key, addrs=[thread_multiaddr(info.db_id)]
        )

    @grpc_errors
    def PullThread(self, request: Any, context: grpc.ServicerContext) -> Any:
        _owned(self.hub, request.threadID)
        return pb.PullThreadReply()

    @grpc_errors
    def DeleteThread(self, request: Any, context: grpc.ServicerContext) -> Any:
        _owned(self.hub, request.threadID)
        raise BucketfsError(THREAD_IN_USE, wire_code="UNKNOWN")


fill_unsupported(
    ThreadsNetServicer,
    pb.DESCRIPTOR.services_by_name["API"],
    {
        "CreateThread": "threads are created with threads.pb.API/NewDB",
        "AddThread": "this hub does not join remote threads",
        "AddReplicator": "this hub is a single node and does not replicate threads",
        "Subscribe": "this hub keeps no thread records",
    },
    "this hub keeps no thread logs or records",
)


def register(server: grpc.Server, hub: HubContext) -> list[str]:
    pb_grpc.add_APIServicer_to_server(ThreadsNetServicer(hub), server)
    return [SERVICE]
