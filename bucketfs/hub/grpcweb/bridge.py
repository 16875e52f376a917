"""Forward one gRPC-Web call to the hub's own gRPC port as a raw-bytes gRPC call.

Every call goes out as a generic call by its method path with identity serializers, so every
service the gRPC port serves (and any added later) is reachable, with the hub's auth
interceptor and servicers doing all the work; the status, the message and the metadata of the
hub's answer come back unchanged. The call's shape comes from the method's descriptor in the
protobuf pool of this process (the servicers loaded it); see :class:`ForwardedCall`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
from google.protobuf import descriptor_pool

from .framing import Metadata
from .threaded import ThreadedStreamCall

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """How a call ended: the gRPC status code number, its message and the trailing metadata."""

    code: int
    message: str
    trailing: Metadata = field(default_factory=list)


def _identity(data: bytes) -> bytes:
    return data


@dataclass
class Channels:
    """The two clients of the hub's gRPC address: ``grpc.aio`` for calls taking one request,
    grpcio's synchronous API for request streams (see :mod:`.threaded`)."""

    aio: grpc.aio.Channel
    sync: grpc.Channel


def method_kind(method: str) -> tuple[bool, bool] | None:
    """``(client_streaming, server_streaming)`` of ``/package.Service/Method`` as the protos
    loaded in this process declare it, None for a method they do not know."""
    try:
        found = descriptor_pool.Default().FindMethodByName(method.strip("/").replace("/", "."))
    except KeyError:
        return None
    return bool(found.client_streaming), bool(found.server_streaming)


async def _replay(messages: list[bytes]) -> AsyncIterator[bytes]:
    for message in messages:
        yield message


class ForwardedCall:
    """One call in flight: read ``initial_metadata()``, iterate ``responses()``, then
    ``outcome()``; ``cancel()`` when the web client went away.

    A method that takes one request (unary and server-streaming ones, most of them) is called
    as such once its request has arrived: grpcio then sends message and half-close with the
    call, where a separate write can lose the race against an early answer of the hub (a
    refused key, an unknown method) and turn its status into INTERNAL "Internal error from
    Core". Request-streaming methods, and requests of another number of messages than one, go
    out as stream-stream calls of the synchronous API, which keeps the hub's status there.
    """

    def __init__(
        self,
        channels: Channels,
        method: str,
        metadata: Metadata,
        timeout: float | None,
        requests: AsyncIterator[bytes],
    ) -> None:
        self._channel = channels.aio
        self._sync_channel = channels.sync
        self._method = method
        self._metadata = metadata
        self._timeout = timeout
        self._call: Any = None
        self._unary_answer = False
        self._ready = asyncio.Event()
        self._failure: Outcome | None = None
        self._cancelled = False
        self._starter = asyncio.ensure_future(self._start(requests))

    async def _start(self, requests: AsyncIterator[bytes]) -> None:
        try:
            # a method the protos do not know is not served: the hub answers UNIMPLEMENTED to
            # any shape, so it is sent as a unary call too
            kind = method_kind(self._method) or (False, False)
            if kind[0]:
                self._call = self._stream_stream(requests)
                return
            received = [message async for message in requests]
            if self._cancelled:
                return
            if len(received) != 1:  # the hub says what it thinks of that
                self._call = self._stream_stream(_replay(received))
                return
            self._unary_answer = not kind[1]
            make = self._channel.unary_stream if kind[1] else self._channel.unary_unary
            callable_ = make(
                self._method, request_serializer=_identity, response_deserializer=_identity
            )
            self._call = callable_(received[0], metadata=self._metadata, timeout=self._timeout)
        finally:
            self._ready.set()

    def _stream_stream(self, requests: AsyncIterator[bytes]) -> Any:
        return ThreadedStreamCall(
            self._sync_channel, self._method, self._metadata, self._timeout, requests
        )

    async def initial_metadata(self) -> Metadata:
        await self._ready.wait()
        if self._call is None:
            return []
        try:
            return list(await self._call.initial_metadata())
        except grpc.RpcError:
            return []
        except asyncio.CancelledError:
            if not self._cancelled:
                raise
            return []

    async def responses(self) -> AsyncIterator[bytes]:
        await self._ready.wait()
        if self._call is None:
            return
        try:
            if self._unary_answer:
                yield await self._call
            else:
                async for message in self._call:
                    yield message
        except grpc.RpcError:
            pass  # the outcome carries the status
        except asyncio.CancelledError:
            if not self._cancelled:  # grpc.aio raises this after our own cancel()
                raise
        except Exception as exc:  # e.g. metadata grpcio refuses to send
            log.warning("grpc-web: call failed before reaching the hub: %s", exc)
            self._failure = Outcome(grpc.StatusCode.INTERNAL.value[0], f"grpc-web bridge: {exc}")

    async def outcome(self) -> Outcome:
        await self._ready.wait()
        if self._failure is not None:
            return self._failure
        if self._cancelled or self._call is None:
            return Outcome(grpc.StatusCode.CANCELLED.value[0], "cancelled by the web client")
        code = await self._call.code()
        details = await self._call.details()
        trailing = await self._call.trailing_metadata()
        return Outcome(code.value[0], details or "", list(trailing or ()))

    def fail(self, code: grpc.StatusCode, message: str) -> None:
        """End the call with this status (the web client sent something unusable)."""
        if self._failure is None:
            self._failure = Outcome(code.value[0], message)
        self.cancel()

    def cancel(self) -> None:
        self._cancelled = True
        if self._call is not None:
            self._call.cancel()
        elif not self._starter.done():
            self._starter.cancel()  # still waiting for the request; sets _ready on its way out
