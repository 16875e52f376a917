"""The call engine every typed client uses: metadata, token refresh, error translation, retries.

``Rpc`` wraps a ``Bridge`` (one channel per session) and adds, per call:

* metadata built afresh: ``x-textile-api-key`` with a new signature, ``authorization: bearer``
  when the session has an identity, ``x-textile-thread`` when a thread is given;
* one transparent GetToken re-run when the hub rejects the token, then the call again;
* translation of gRPC status to ``bucketfs.errors`` (``remote/status.py``), naming the hub;
* retries (``remote/retry.py``) for idempotent calls and for calls that never left;
* the time budget of the call: one deadline, ``retry.budget`` seconds from its start (or the
  ``timeout`` the caller gives), that every attempt's gRPC deadline is cut to;
* the hub's up/down state (``remote/health.py``): a call started while the hub is down fails at
  once; every outcome tells the state whether the hub answered.

Streams: ``stream`` returns a ``RemoteStream`` that applies the same rules until its first
message has arrived (a stream cannot be replayed after that).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any, Generic, TypeVar

import grpc
import trio
from grpc_health.v1 import health_pb2

from bucketfs import errors
from bucketfs.auth.apisig import api_key_metadata
from bucketfs.proto import threads_pb2
from bucketfs.remote.bridge import HEALTH_CHECK, Bidi, Bridge, Metadata, ResponseStream
from bucketfs.remote.health import DOWN, HubHealth
from bucketfs.remote.retry import NO_RETRY, RetryPolicy, with_retries
from bucketfs.remote.status import error_from_rpc, is_token_rejection
from bucketfs.remote.tokens import Tokens, TokenStore

T = TypeVar("T")

THREAD_HEADER = "x-textile-thread"
THREAD_NAME_HEADER = "x-textile-thread-name"
GET_TOKEN = "/threads.pb.API/GetToken"
MIN_ATTEMPT = 0.05  # seconds: the shortest gRPC deadline an attempt is given


class Rpc:
    """Authenticated, translated, retried calls over one bridge (see module docstring)."""

    def __init__(
        self,
        bridge: Bridge,
        *,
        address: str,
        api_key: str,
        api_secret: str | None,
        identity: Any,
        token_cache: TokenStore | None,
        timeout: float,
        retry: RetryPolicy,
        signature_ttl: timedelta,
    ) -> None:
        self.bridge = bridge
        self.address = address
        self.timeout = timeout
        self.retry = retry
        self.health = HubHealth(address, bridge.wait_ready)
        self._api_key = api_key
        self._api_secret = api_secret
        self._signature_ttl = signature_ttl
        self.tokens = Tokens(
            hub=address,
            api_key=api_key,
            identity=identity,
            cache=token_cache,
            exchange=self._get_token,
        )

    # -- metadata -----------------------------------------------------------------------------

    def api_metadata(self) -> list[tuple[str, str]]:
        """API key headers with a signature made now (never an expired one)."""
        if not self._api_key:
            return []
        return api_key_metadata(self._api_key, self._api_secret, ttl=self._signature_ttl)

    async def metadata(
        self, thread: str | None = None, extra: Sequence[tuple[str, str]] = ()
    ) -> tuple[Metadata, str | None]:
        """Headers for one call, and the token they carry (to recognise a rejected one)."""
        headers = self.api_metadata()
        token = await self.tokens.get()
        if token is not None:
            headers.append(("authorization", f"bearer {token}"))
        if thread:
            headers.append((THREAD_HEADER, thread))
        headers.extend(extra)
        return tuple(headers), token

    def translate(self, err: grpc.RpcError, method: str) -> errors.BucketfsError:
        """The bucketfs error for ``err``; the hub's health learns whether it answered."""
        error = error_from_rpc(err, address=self.address, method=method.rsplit("/", 1)[-1])
        self.health.outcome(error)
        return error

    async def _refresh_if_rejected(self, err: grpc.RpcError, token: str | None) -> bool:
        """On a token rejection, fetch a new token and say that the call may be repeated."""
        if token is None or not is_token_rejection(err):
            return False
        await self.tokens.refresh(token)
        return True

    # -- calls --------------------------------------------------------------------------------

    async def unary(
        self,
        method: str,
        request: Any,
        reply_cls: Any,
        *,
        thread: str | None = None,
        idempotent: bool,
        extra: Sequence[tuple[str, str]] = (),
        timeout: float | None = None,
    ) -> Any:
        """One unary call with auth, translation and (when allowed) retries, all within one
        deadline: ``timeout`` s from now if given, else the retry budget (module docstring)."""
        self.health.check()
        budget = timeout if timeout is not None else self.retry.budget
        deadline = trio.current_time() + max(budget, MIN_ATTEMPT)
        per_attempt = timeout if timeout is not None else self.timeout

        async def attempt() -> Any:
            refreshed = False
            while True:
                metadata, token = await self.metadata(thread, extra)
                left = max(MIN_ATTEMPT, deadline - trio.current_time())
                try:
                    call = functools.partial(
                        self.bridge.unary,
                        method,
                        request,
                        reply_cls,
                        metadata=metadata,
                        timeout=min(per_attempt, left),
                    )
                    reply = await self.health.watched(call)
                except grpc.RpcError as err:
                    if not refreshed and await self._refresh_if_rejected(err, token):
                        refreshed = True
                        continue
                    raise self.translate(err, method) from None
                self.health.answered()
                return reply

        policy = self.retry if timeout is None else replace(self.retry, budget=budget)
        return await with_retries(attempt, policy, idempotent=idempotent, pause=self.pause)

    async def pause(self, delay: float, patience: float) -> None:
        """Between retries: the backoff delay, then up to ``patience`` s more while the
        channel is not connected (a restarting hub is used again as soon as it listens)."""
        await trio.sleep(delay)
        if await self.bridge.wait_ready(patience):
            self.health.answered()

    async def ready_for_stream(self) -> None:
        """Before a stream (which has no deadline) is opened: fail at once while the hub is
        down, and make sure it answers when it has not been heard for a while (one health
        check within the call budget), so that a stopped hub fails the stream, not hangs it."""
        self.health.check()
        if not self.health.quiet():
            return
        try:
            await self.unary(
                HEALTH_CHECK,
                health_pb2.HealthCheckRequest(),
                health_pb2.HealthCheckResponse,
                idempotent=True,
            )
        except DOWN:
            raise
        except errors.BucketfsError:
            pass  # any answer counts (a hub without the health service says UNIMPLEMENTED)

    def stream(
        self,
        method: str,
        request: Any,
        reply_cls: Any,
        convert: Callable[[Any], T],
        *,
        thread: str | None = None,
        open_ended: bool = False,
        idempotent: bool = True,
        batch: int = 1,
    ) -> RemoteStream[T]:
        """A server stream whose messages pass through ``convert`` (see ``RemoteStream``);
        ``batch`` > 1 reads that many messages per thread hop (bulk transfers)."""

        def open_call(metadata: Metadata) -> ResponseStream[Any]:
            return self.bridge.server_stream(
                method, request, reply_cls, metadata=metadata, open_ended=open_ended, batch=batch
            )

        return RemoteStream(self, method, open_call, convert, thread=thread, idempotent=idempotent)

    async def bidi(
        self,
        method: str,
        request_cls: Any,
        reply_cls: Any,
        *,
        thread: str | None = None,
    ) -> tuple[Bidi[Any], str | None]:
        """Open a bidi call with fresh metadata; returns it and the token it carries."""
        await self.ready_for_stream()
        metadata, token = await self.metadata(thread)
        return self.bridge.bidi(method, request_cls, reply_cls, metadata=metadata), token

    async def _get_token(self, key: str, sign: Callable[[bytes], bytes]) -> str:
        """GetToken (WIRE §2.5): key → challenge → signature → token. No bearer header."""
        metadata = tuple(self.api_metadata())
        call = self.bridge.bidi(
            GET_TOKEN,
            threads_pb2.GetTokenRequest,
            threads_pb2.GetTokenReply,
            metadata=metadata,
            timeout=min(self.timeout, max(self.retry.budget, MIN_ATTEMPT)),
        )
        try:
            async with call:
                await call.send(threads_pb2.GetTokenRequest(key=key))
                reply = await self._token_reply(call, "challenge")
                await call.send(threads_pb2.GetTokenRequest(signature=sign(reply.challenge)))
                reply = await self._token_reply(call, "token")
                await call.done_writing()
                async for _ in call.responses:  # let the hub end the call with OK
                    pass
                return str(reply.token)
        except grpc.RpcError as err:
            raise self.translate(err, GET_TOKEN) from None

    @staticmethod
    async def _token_reply(call: Bidi[Any], expected: str) -> Any:
        try:
            reply = await call.receive()
        except StopAsyncIteration:
            raise errors.Unauthenticated("GetToken: the hub ended the exchange early") from None
        if reply.WhichOneof("payload") != expected:
            raise errors.Unauthenticated(f"GetToken: the hub did not send a {expected}")
        return reply


_SKIP = object()


class RemoteStream(Generic[T]):
    """An async iterator over a server stream with the ``Rpc`` rules applied to its opening.

    Until the first message arrives, a token rejection re-runs GetToken and reopens the stream,
    and temporary failures of idempotent streams are retried. ``convert`` maps each message;
    it may return ``RemoteStream.SKIP`` to drop one or raise ``StopAsyncIteration`` to end.
    The gRPC call is cancelled on ``aclose``, on trio cancellation and when collected.
    """

    SKIP: Any = _SKIP

    def __init__(
        self,
        rpc: Rpc,
        method: str,
        open_call: Callable[[Metadata], ResponseStream[Any]],
        convert: Callable[[Any], T],
        *,
        thread: str | None,
        idempotent: bool,
    ) -> None:
        self._rpc = rpc
        self._method = method
        self._open_call = open_call
        self._convert = convert
        self._thread = thread
        self._idempotent = idempotent
        self._call: ResponseStream[Any] | None = None
        self._closed = False

    def __aiter__(self) -> RemoteStream[T]:
        return self

    async def _first(self) -> Any:
        await self._rpc.ready_for_stream()
        refreshed = False

        async def attempt() -> Any:
            nonlocal refreshed
            while True:
                metadata, token = await self._rpc.metadata(self._thread)
                call = self._open_call(metadata)
                self._call = call
                try:
                    return await call.__anext__()
                except StopAsyncIteration:
                    return _SKIP_END
                except grpc.RpcError as err:
                    call.cancel()
                    if not refreshed and await self._rpc._refresh_if_rejected(err, token):
                        refreshed = True
                        continue
                    raise self._rpc.translate(err, self._method) from None

        policy = self._rpc.retry if self._idempotent else NO_RETRY
        return await with_retries(
            attempt, policy, idempotent=self._idempotent, pause=self._rpc.pause
        )

    async def __anext__(self) -> T:
        while True:
            if self._closed:
                raise StopAsyncIteration
            try:
                if self._call is None:
                    message = await self._first()
                else:
                    message = await self._call.__anext__()
            except StopAsyncIteration:
                await self.aclose()
                raise
            except grpc.RpcError as err:
                await self.aclose()
                raise self._rpc.translate(err, self._method) from None
            self._rpc.health.answered()
            if message is _SKIP_END:
                await self.aclose()
                raise StopAsyncIteration
            try:
                item = self._convert(message)
            except StopAsyncIteration:
                await self.aclose()
                raise
            if item is not _SKIP:
                return item

    async def aclose(self) -> None:
        self._closed = True
        if self._call is not None:
            self._call.cancel()

    async def __aenter__(self) -> RemoteStream[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


_SKIP_END = object()
