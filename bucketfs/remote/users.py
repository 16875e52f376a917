"""Typed Users client (``api.usersd.pb.APIService``, reference/WIRE.md §6): thread registry
lookups by name. Thread IDs are returned as strings."""

from __future__ import annotations

from bucketfs import errors
from bucketfs.auth.threadid import ThreadID
from bucketfs.proto import usersd_pb2 as pb
from bucketfs.remote.rpc import Rpc

_API = "/api.usersd.pb.APIService/"


class UsersClient:
    """The caller's thread registry."""

    def __init__(self, rpc: Rpc) -> None:
        self._rpc = rpc

    async def get_thread(self, name: str) -> tuple[str, str] | None:
        """``(thread id, name)`` of the caller's thread called ``name``; None when there is none."""
        try:
            reply = await self._rpc.unary(
                _API + "GetThread",
                pb.GetThreadRequest(name=name),
                pb.GetThreadResponse,
                idempotent=True,
            )
        except errors.NotFound:
            return None
        return str(ThreadID.from_bytes(reply.id)), reply.name

    async def list_threads(self) -> list[tuple[str, str, bool]]:
        """``(thread id, name, is_db)`` of every thread the caller owns."""
        reply = await self._rpc.unary(
            _API + "ListThreads", pb.ListThreadsRequest(), pb.ListThreadsResponse, idempotent=True
        )
        return [(str(ThreadID.from_bytes(t.id)), t.name, t.is_db) for t in reply.list]
