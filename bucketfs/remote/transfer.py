"""Streaming uploads (PushPath, PushPaths) and the byte window of downloads (PullPath).

Uploads read the caller's async chunk source lazily: a pump task sends each chunk into the
bridge's bounded request queue, so at most a few chunks are in memory and a slow hub slows the
source. The hub's replies are read concurrently; the first error ends both sides. A source given
as a zero-argument callable is *re-openable*: only then is a push retried (temporary failures,
rejected token), since a consumed iterator cannot be replayed.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import grpc
import trio

from bucketfs import errors
from bucketfs.proto import bucketsd_pb2 as pb
from bucketfs.remote.bridge import Bidi
from bucketfs.remote.retry import NO_RETRY, with_retries
from bucketfs.remote.rpc import RemoteStream, Rpc

ChunkSource = AsyncIterable[bytes] | Callable[[], AsyncIterable[bytes]]

PUSH_PATH = "/api.bucketsd.pb.APIService/PushPath"
PUSH_PATHS = "/api.bucketsd.pb.APIService/PushPaths"
#: largest chunk message sent; bigger caller chunks are split (hubs default to 4 MiB messages)
MAX_CHUNK = 1024 * 1024


def _open(source: ChunkSource) -> AsyncIterable[bytes]:
    return source() if callable(source) else source


@asynccontextmanager
async def _reading(source: ChunkSource) -> AsyncIterator[AsyncIterable[bytes]]:
    """Open ``source`` and close it afterwards (an async generator left half-read would
    otherwise be finalized by the garbage collector, outside any task)."""
    iterable = _open(source)
    try:
        yield iterable
    finally:
        close = getattr(iterable, "aclose", None)
        if close is not None:
            await close()


def _pieces(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(view), MAX_CHUNK):
        yield bytes(view[start : start + MAX_CHUNK])


class PullWindow:
    """``convert`` for PullPath replies: drops ``skip`` leading bytes, stops after ``length``
    (0 = no limit). Used with ``skip = offset`` when the hub cannot read byte ranges."""

    def __init__(self, skip: int, length: int) -> None:
        self.skip = skip
        self.left = length if length else None

    def __call__(self, reply: pb.PullPathResponse) -> Any:
        data = bytes(reply.chunk)
        if self.left is not None and self.left <= 0:
            raise StopAsyncIteration
        if self.skip:
            if len(data) <= self.skip:
                self.skip -= len(data)
                return RemoteStream.SKIP
            data, self.skip = data[self.skip :], 0
        if self.left is not None:
            data = data[: self.left]
            self.left -= len(data)
        return data if data else RemoteStream.SKIP


async def _exchange(
    rpc: Rpc,
    method: str,
    thread: str,
    request_cls: Any,
    reply_cls: Any,
    feed: Callable[[Bidi[Any]], Any],
) -> list[Any]:
    """One streaming upload: ``feed`` sends requests while the replies are collected."""
    call, token = await rpc.bidi(method, request_cls, reply_cls, thread=thread)
    replies: list[Any] = []
    failure: list[BaseException] = []
    fed = trio.Event()

    async def pump() -> None:
        try:
            await feed(call)
            await call.done_writing()
            fed.set()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the call ended first; its status tells why
        except Exception as exc:  # the source failed: abort the upload
            failure.append(exc)
            call.cancel()

    rpc_error: grpc.RpcError | None = None
    async with call, trio.open_nursery() as nursery:
        nursery.start_soon(pump)
        try:
            async for reply in call.responses:
                replies.append(reply)
        except grpc.RpcError as err:
            rpc_error = err  # raised below: errors raised in here would become groups
        if rpc_error is not None or not fed.is_set():
            nursery.cancel_scope.cancel()
    if failure:
        raise failure[0]
    if rpc_error is not None:
        if await rpc._refresh_if_rejected(rpc_error, token):
            raise _TokenRefreshed(rpc.translate(rpc_error, method))
        raise rpc.translate(rpc_error, method)
    if not fed.is_set():
        raise errors.BucketfsError(f"hub {rpc.address} ended {method} before the upload")
    return replies


class _TokenRefreshed(Exception):
    """Internal: the hub rejected the token, which has been refreshed; a push whose source can
    be re-opened may run again, others fail with the original error."""

    def __init__(self, original: errors.BucketfsError) -> None:
        super().__init__(original.message)
        self.original = original


async def _with_push_retries(rpc: Rpc, source_reopenable: bool, attempt: Callable[[], Any]) -> Any:
    async def guarded() -> Any:
        try:
            return await attempt()
        except _TokenRefreshed as err:
            if not source_reopenable:
                raise err.original from None
        try:
            return await attempt()
        except _TokenRefreshed as err:
            raise err.original from None

    policy = rpc.retry if source_reopenable else NO_RETRY
    return await with_retries(guarded, policy, idempotent=source_reopenable, pause=rpc.pause)


async def push_path(
    rpc: Rpc, thread: str, header: pb.PushPathRequest.Header, chunks: ChunkSource
) -> pb.PushPathResponse.Event:
    """PushPath: header, then the chunks; returns the final event (path, size, root)."""

    async def feed(call: Bidi[Any]) -> None:
        await call.send(pb.PushPathRequest(header=header))
        async with _reading(chunks) as source:
            async for chunk in source:
                for piece in _pieces(chunk):
                    await call.send(pb.PushPathRequest(chunk=piece))

    async def attempt() -> pb.PushPathResponse.Event:
        replies = await _exchange(
            rpc, PUSH_PATH, thread, pb.PushPathRequest, pb.PushPathResponse, feed
        )
        finals = [r.event for r in replies if r.event.path]
        if not finals:
            raise errors.BucketfsError(f"hub {rpc.address} ended PushPath without a result")
        return finals[-1]

    return await _with_push_retries(rpc, callable(chunks), attempt)


async def push_paths(
    rpc: Rpc,
    thread: str,
    header: pb.PushPathsRequest.Header,
    files: Sequence[tuple[str, ChunkSource]],
    on_file: Callable[[str, str], object] | None = None,
) -> pb.PushPathsResponse:
    """PushPaths: header, then each file's chunks closed by an empty chunk; returns the last
    reply (its ``root`` is the bucket after all files). ``on_file(path, cid)`` is called for
    each file the hub answered for, once the stream succeeded."""

    async def feed(call: Bidi[Any]) -> None:
        await call.send(pb.PushPathsRequest(header=header))
        for path, source in files:
            async with _reading(source) as iterable:
                async for chunk in iterable:
                    for piece in _pieces(chunk):  # empty chunks would close the file: skipped
                        await call.send(pb.PushPathsRequest(chunk={"path": path, "data": piece}))
            await call.send(pb.PushPathsRequest(chunk={"path": path, "data": b""}))

    async def attempt() -> pb.PushPathsResponse:
        replies = await _exchange(
            rpc, PUSH_PATHS, thread, pb.PushPathsRequest, pb.PushPathsResponse, feed
        )
        if not replies:
            raise errors.BucketfsError(f"hub {rpc.address} ended PushPaths without a result")
        if on_file is not None:
            for reply in replies:
                if reply.path and reply.cid:
                    on_file(reply.path, reply.cid)
        return replies[-1]

    reopenable = all(callable(source) for _, source in files)
    return await _with_push_retries(rpc, reopenable, attempt)
