"""The trio ⇄ grpcio bridge: run synchronous grpcio calls from trio without blocking the loop.

grpcio has no trio support, so:

* unary calls use grpc futures; completion wakes the trio task through its ``TrioToken`` and a
  trio cancellation cancels the future (no thread is held while waiting);
* response streams are read one message at a time in trio worker threads
  (``abandon_on_cancel=True``, bounded ``CapacityLimiter``); on cancellation, early exit or
  garbage collection the call is cancelled, which also ends it on the server side;
* request streams are fed from a bounded trio memory channel that grpc's own consumer thread
  drains through ``trio.from_thread.run``, so a slow hub slows the producer (backpressure) and
  no whole file is ever buffered.

Nothing here knows about auth, retries or error mapping: callers get ``grpc.RpcError``.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import grpc
import trio
from grpc_health.v1 import health_pb2

Msg = TypeVar("Msg")
Metadata = tuple[tuple[str, str], ...]

#: channel options: 64 MiB messages both ways, conservative keepalive (WIRE §1: gRPC-Go servers
#: reject pings more often than every 5 min and without active calls), fast reconnects.
CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 300_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.http2.max_pings_without_data", 2),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1_000),  # a hub back is seen within ~1 s (health.py)
)

REQUEST_QUEUE_SIZE = 4
HEALTH_CHECK = "/grpc.health.v1.Health/Check"


def open_channel(address: str) -> grpc.Channel:
    """One insecure channel to ``address`` ("unix:/path" or "host:port") with our options."""
    return grpc.insecure_channel(address, options=CHANNEL_OPTIONS)


def _read_batch(iterator: Iterator[Any], limit: int) -> tuple[list[Any], bool, Exception | None]:
    """Up to ``limit`` messages; also says whether the stream ended and with which error."""
    items: list[Any] = []
    try:
        while len(items) < limit:
            items.append(next(iterator))
    except StopIteration:
        return items, True, None
    except Exception as exc:  # grpc.RpcError, or a deserialisation failure
        return items, True, exc
    return items, False, None


class ResponseStream(Generic[Msg]):
    """Async iterator over a grpc response stream; cancels the call when abandoned.

    Each worker-thread hop reads up to ``batch`` messages (fewer when the stream ends), which
    amortises the hop for bulk transfers. Use ``batch=1`` whenever the peer waits for our
    reaction to a message (GetToken) or messages must be delivered at once (Listen).
    """

    def __init__(self, call: Any, limiter: trio.CapacityLimiter, batch: int = 1) -> None:
        self._call = call
        self._limiter = limiter
        self._batch = batch
        self._buffer: deque[Any] = deque()
        self._ended = False
        self._error: Exception | None = None
        self._done = False

    def __aiter__(self) -> ResponseStream[Msg]:
        return self

    async def __anext__(self) -> Msg:
        if not self._buffer and not self._ended and not self._done:
            try:
                items, ended, error = await trio.to_thread.run_sync(
                    _read_batch,
                    self._call,
                    self._batch,
                    abandon_on_cancel=True,
                    limiter=self._limiter,
                )
            except BaseException:
                self.cancel()
                raise
            self._buffer.extend(items)
            self._ended, self._error = ended, error
        if self._buffer:
            return self._buffer.popleft()
        self._done = True
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        raise StopAsyncIteration

    def cancel(self) -> None:
        """Cancel the call (idempotent); the server sees the stream end."""
        self._done = True
        self._buffer.clear()
        self._call.cancel()

    async def aclose(self) -> None:
        self.cancel()

    def __del__(self) -> None:
        if not self._done:
            with contextlib.suppress(Exception):  # may run late, e.g. at interpreter exit
                self._call.cancel()


class Bidi(Generic[Msg]):
    """A client-or-bidi-streaming call: ``send`` requests, ``receive`` responses.

    ``send`` blocks while ``REQUEST_QUEUE_SIZE`` messages wait for grpc (backpressure).
    ``done_writing`` half-closes. Always use it as an async context manager or call ``cancel``.
    """

    def __init__(
        self, start: Callable[[Iterator[Any]], Any], limiter: trio.CapacityLimiter
    ) -> None:
        self._send, self._recv = trio.open_memory_channel[Any](REQUEST_QUEUE_SIZE)
        token = trio.lowlevel.current_trio_token()
        self._responses: ResponseStream[Msg] = ResponseStream(start(self._requests(token)), limiter)

    def _requests(self, token: trio.lowlevel.TrioToken) -> Iterator[Any]:
        # Runs in grpc's request-consumer thread.
        while True:
            try:
                msg = trio.from_thread.run(self._recv.receive, trio_token=token)
            except BaseException:  # EndOfChannel, run finished or cancelled: stop sending
                return
            yield msg

    async def send(self, message: Any) -> None:
        await self._send.send(message)

    async def done_writing(self) -> None:
        await self._send.aclose()

    async def receive(self) -> Msg:
        """The next response; raises ``StopAsyncIteration`` when the server ended the stream."""
        return await self._responses.__anext__()

    @property
    def responses(self) -> ResponseStream[Msg]:
        return self._responses

    def cancel(self) -> None:
        """Abort the call. The call is cancelled *before* the request iterator ends: an ended
        iterator is a half-close, which would tell the hub the upload is complete."""
        self._responses.cancel()
        self._send.close()

    async def __aenter__(self) -> Bidi[Msg]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.cancel()


class Bridge:
    """Calls by method path over one channel; message classes give (de)serialisation."""

    def __init__(self, channel: grpc.Channel, *, max_threads: int = 32) -> None:
        self.channel = channel
        #: worker threads reading response streams of bounded length (pulls, pushes, GetToken)
        self.limiter = trio.CapacityLimiter(max_threads)
        #: worker threads waiting on open-ended streams (Listen), kept apart so that many
        #: idle listeners cannot starve transfers
        self.listen_limiter = trio.CapacityLimiter(max_threads)

    async def wait_ready(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s until the hub answers again: a health check that waits for
        the channel to connect (``wait_for_ready``). Any answer counts, even UNIMPLEMENTED."""
        if timeout <= 0:
            return False
        try:
            await self.unary(
                HEALTH_CHECK,
                health_pb2.HealthCheckRequest(),
                health_pb2.HealthCheckResponse,
                metadata=(),
                timeout=timeout,
                wait_for_ready=True,
            )
        except grpc.RpcError as err:
            return err.code() not in (
                grpc.StatusCode.UNAVAILABLE,
                grpc.StatusCode.DEADLINE_EXCEEDED,
            )
        return True

    async def unary(
        self,
        method: str,
        request: Any,
        reply_cls: Any,
        *,
        metadata: Metadata,
        timeout: float | None,
        wait_for_ready: bool | None = None,
    ) -> Any:
        multicallable = self.channel.unary_unary(
            method,
            request_serializer=type(request).SerializeToString,
            response_deserializer=reply_cls.FromString,
        )
        future = multicallable.future(
            request, metadata=metadata, timeout=timeout, wait_for_ready=wait_for_ready
        )
        done = trio.Event()
        token = trio.lowlevel.current_trio_token()

        def wake(_: object) -> None:
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(done.set)

        future.add_done_callback(wake)
        try:
            await done.wait()
        except BaseException:
            future.cancel()
            raise
        return future.result()

    def server_stream(
        self,
        method: str,
        request: Any,
        reply_cls: Any,
        *,
        metadata: Metadata,
        timeout: float | None = None,
        open_ended: bool = False,
        batch: int = 1,
    ) -> ResponseStream[Any]:
        multicallable = self.channel.unary_stream(
            method,
            request_serializer=type(request).SerializeToString,
            response_deserializer=reply_cls.FromString,
        )
        call = multicallable(request, metadata=metadata, timeout=timeout)
        return ResponseStream(call, self.listen_limiter if open_ended else self.limiter, batch)

    def bidi(
        self,
        method: str,
        request_cls: Any,
        reply_cls: Any,
        *,
        metadata: Metadata,
        timeout: float | None = None,
    ) -> Bidi[Any]:
        multicallable = self.channel.stream_stream(
            method,
            request_serializer=request_cls.SerializeToString,
            response_deserializer=reply_cls.FromString,
        )
        return Bidi(
            lambda requests: multicallable(requests, metadata=metadata, timeout=timeout),
            self.limiter,
        )
