"""A request-streaming call of grpcio's synchronous API, driven from the bridge's event loop.

Why not ``grpc.aio`` for these: when the hub answers a call before its request stream is sent
(a refused API key on ``GetToken`` or ``PushPath``), a ``grpc.aio`` write racing that answer
replaces the hub's status with INTERNAL "Internal error from Core"; the synchronous API drops
such a write and keeps the status. One thread per call reads the answer (initial metadata,
messages, status) and hands it to the loop; grpcio's own thread takes the request messages
from a queue the loop fills, with at most :data:`WINDOW` messages in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc

WINDOW = 16
_END = None


def _identity(data: bytes) -> bytes:
    return data


class ThreadedStreamCall:
    """The part of the ``grpc.aio`` call interface the bridge uses, over a synchronous call."""

    def __init__(
        self,
        channel: grpc.Channel,
        method: str,
        metadata: list[tuple[str, str | bytes]],
        timeout: float | None,
        requests: AsyncIterator[bytes],
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._requests: queue.Queue[bytes | None] = queue.Queue()
        self._window = asyncio.Semaphore(WINDOW)
        self._responses: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._initial: asyncio.Future[list[Any]] = self._loop.create_future()
        self._status: asyncio.Future[tuple[grpc.StatusCode, str, list[Any]]] = (
            self._loop.create_future()
        )
        callable_ = channel.stream_stream(
            method, request_serializer=_identity, response_deserializer=_identity
        )
        self._call: Any = callable_(
            self._request_iterator(), metadata=tuple(metadata), timeout=timeout
        )
        self._feeder = asyncio.ensure_future(self._feed(requests))
        threading.Thread(target=self._read, name="grpc-web-stream", daemon=True).start()

    # -- requests: loop -> grpcio's thread -------------------------------------------------------

    async def _feed(self, requests: AsyncIterator[bytes]) -> None:
        try:
            async for message in requests:
                await self._window.acquire()
                if self._status.done():
                    return
                self._requests.put(message)
        finally:
            self._requests.put(_END)

    def _request_iterator(self) -> Iterator[bytes]:
        while (message := self._requests.get()) is not _END:
            self._post(self._window.release)
            yield message

    # -- the answer: reader thread -> loop -------------------------------------------------------

    def _read(self) -> None:
        call = self._call
        with contextlib.suppress(grpc.RpcError):
            self._post(_resolve, self._initial, list(call.initial_metadata() or ()))
        with contextlib.suppress(grpc.RpcError):
            for message in call:
                self._post(self._responses.put_nowait, message)
        status = (call.code(), call.details() or "", list(call.trailing_metadata() or ()))
        self._post(_resolve, self._initial, [])
        self._post(self._responses.put_nowait, None)
        self._post(_resolve, self._status, status)
        self._post(self._feeder.cancel)  # it may wait for a window grpcio will never open
        self._requests.put(_END)  # grpcio's request thread may still wait for a message

    def _post(self, function: Any, *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
            self._loop.call_soon_threadsafe(function, *args)

    # -- the grpc.aio-like interface ---------------------------------------------------------

    async def initial_metadata(self) -> list[Any]:
        return await asyncio.shield(self._initial)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        while (message := await self._responses.get()) is not None:
            yield message

    async def code(self) -> grpc.StatusCode:
        return (await asyncio.shield(self._status))[0]

    async def details(self) -> str:
        return (await asyncio.shield(self._status))[1]

    async def trailing_metadata(self) -> list[Any]:
        return (await asyncio.shield(self._status))[2]

    def cancel(self) -> None:
        self._call.cancel()
        self._feeder.cancel()


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)
