"""Forward one gRPC-Web call to the hub's own gRPC port as a raw-bytes gRPC call.

Every call goes out as a generic stream-stream call by its method path with identity
serializers: on the HTTP/2 wire unary and streaming calls look the same, so no table of the
methods' kinds is needed and every service the gRPC port serves (and any added later) is
reachable, with the hub's auth interceptor and servicers doing all the work. The status, the
message and the metadata of the hub's answer come back unchanged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio

from .framing import Metadata

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """How a call ended: the gRPC status code number, its message and the trailing metadata."""

    code: int
    message: str
    trailing: Metadata = field(default_factory=list)


def _identity(data: bytes) -> bytes:
    return data


class ForwardedCall:
    """One call in flight: read ``initial_metadata()``, iterate ``responses()``, then
    ``outcome()``; ``cancel()`` when the web client went away."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        method: str,
        metadata: Metadata,
        timeout: float | None,
        requests: AsyncIterator[bytes],
    ) -> None:
        callable_ = channel.stream_stream(
            method, request_serializer=_identity, response_deserializer=_identity
        )
        self._call: Any = callable_(requests, metadata=metadata, timeout=timeout)
        self._failure: Outcome | None = None
        self._cancelled = False

    async def initial_metadata(self) -> Metadata:
        try:
            return list(await self._call.initial_metadata())
        except grpc.RpcError:
            return []
        except asyncio.CancelledError:
            if not self._cancelled:
                raise
            return []

    async def responses(self) -> AsyncIterator[bytes]:
        try:
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
        if self._failure is not None:
            return self._failure
        if self._cancelled:
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
        self._call.cancel()
