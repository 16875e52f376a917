"""The aiohttp application: gRPC-Web over HTTP/1.1, the ``grpc-websockets`` transport, and CORS.

``POST /<service>/<method>`` with ``Content-Type: application/grpc-web[+proto]`` or
``application/grpc-web-text[+proto]`` is one call: request messages are read from the body as
they arrive, response messages are written as they come (chunked), and a trailer frame ends the
body. ``GET`` with a websocket upgrade and the ``grpc-websockets`` subprotocol is one call of
`@improbable-eng/grpc-web`'s websocket transport (what ``@textile/hub`` uses): the client's
first message is the request metadata as a header block; each later message is ``0x00`` + gRPC
frame bytes or the single byte ``0x01`` (finished sending); the server sends a headers frame,
the message frames and a trailers frame (each a binary message), then closes. A client that
closes the websocket early cancels the call (how the SDK stops a ``Listen``).

CORS: preflights are answered for any origin with the requested headers allowed; answers carry
``Access-Control-Allow-Origin`` and expose the gRPC status headers. Websockets accept any
origin: the hub authenticates by API key and token in the metadata, never by cookies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
from aiohttp import WSMsgType, web

from .bridge import Channels, ForwardedCall, Outcome
from .framing import (
    HEADERS,
    FrameReader,
    FramingError,
    TextDecoder,
    frame,
    header_block,
    headers_from_metadata,
    messages,
    metadata_from_headers,
    parse_header_block,
    text_encode,
    trailer_pairs,
)

log = logging.getLogger(__name__)

SUBPROTOCOL = "grpc-websockets"
FINISH_SEND = b"\x01"
EXPOSED = "grpc-status, grpc-message, grpc-status-details-bin"
_INVALID = grpc.StatusCode.INVALID_ARGUMENT


@dataclass
class Bridge:
    """What the handlers share: the channels to the hub and the message size limit."""

    channel: Channels
    max_message: int
    #: the calls in flight, for :meth:`stop_calls`
    calls: set[ForwardedCall] = field(default_factory=set)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_message + 1024)
        app.router.add_route("*", "/{service}/{method}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.method == "OPTIONS":
            return _preflight(request)
        if request.method == "GET" and request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        if request.method == "POST" and request.content_type.startswith("application/grpc-web"):
            return await self._http(request)
        return web.Response(status=415 if request.method == "POST" else 405, headers=_cors(request))

    async def stop_calls(self, grace: float) -> None:
        """Give the calls in flight ``grace`` seconds, then end them with UNAVAILABLE (their
        clients get trailers saying so) and wait for their handlers to answer."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self.calls and loop.time() < deadline:
            await asyncio.sleep(0.05)
        for call in list(self.calls):
            call.fail(grpc.StatusCode.UNAVAILABLE, "grpc-web: the hub is stopping")
        deadline = loop.time() + 5.0
        while self.calls and loop.time() < deadline:
            await asyncio.sleep(0.05)

    # -- HTTP/1.1 ------------------------------------------------------------------------------

    async def _http(self, request: web.Request) -> web.StreamResponse:
        text = request.content_type.startswith("application/grpc-web-text")
        try:
            metadata, timeout = metadata_from_headers(request.headers.items())
        except FramingError as exc:
            return _refused(request, str(exc))
        stream = _RequestStream()
        call = ForwardedCall(self.channel, request.path, metadata, timeout, stream.requests())
        body = asyncio.ensure_future(self._read_body(request, text, stream, call))
        self.calls.add(call)
        try:
            return await self._answer(request, call, text)
        finally:
            self.calls.discard(call)
            await _finish(body, stream)

    async def _answer(
        self, request: web.Request, call: ForwardedCall, text: bool
    ) -> web.StreamResponse:
        initial = await call.initial_metadata()
        response = web.StreamResponse(headers=_cors(request))
        response.content_type = "application/grpc-web-text+proto" if text else request.content_type
        for key, value in headers_from_metadata(initial):
            response.headers.add(key, value)
        response.headers["Access-Control-Expose-Headers"] = _exposed(initial)
        encode = text_encode if text else bytes
        try:
            await response.prepare(request)
            async for message in call.responses():
                await response.write(encode(frame(message)))
            outcome = await call.outcome()
            await response.write(encode(frame(_trailers(outcome), HEADERS)))
            await response.write_eof()
        except ConnectionError:
            call.cancel()
        return response

    async def _read_body(
        self, request: web.Request, text: bool, stream: _RequestStream, call: ForwardedCall
    ) -> None:
        reader = FrameReader(self.max_message)
        decoder = TextDecoder() if text else None
        try:
            async for chunk in request.content.iter_any():
                data = decoder.feed(chunk) if decoder is not None else chunk
                for message in messages(reader, data):
                    await stream.put(message)
            if decoder is not None:
                decoder.finish()
            if reader.pending:
                raise FramingError("request body ends inside a frame")
        except FramingError as exc:
            call.fail(_INVALID, f"grpc-web: {exc}")
            return
        await stream.finish()

    # -- websockets ----------------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(protocols=(SUBPROTOCOL,), max_msg_size=self.max_message + 64)
        await ws.prepare(request)
        if ws.ws_protocol != SUBPROTOCOL:
            await ws.close(code=1002, message=b"subprotocol grpc-websockets required")
            return ws
        session = _WebSocketCall(ws, self.max_message)
        try:
            metadata, timeout = await session.read_metadata()
        except FramingError as exc:
            with contextlib.suppress(ConnectionError):
                await session.send_trailers(Outcome(_INVALID.value[0], f"grpc-web: {exc}"))
            return ws
        call = ForwardedCall(
            self.channel, request.path, metadata, timeout, session.stream.requests()
        )
        session.call = call
        reader = asyncio.ensure_future(session.read_frames())
        self.calls.add(call)
        try:
            await session.send_headers(await call.initial_metadata())
            async for message in call.responses():
                await ws.send_bytes(frame(message))
            await session.send_trailers(await call.outcome())
        except ConnectionError:
            call.cancel()
        finally:
            self.calls.discard(call)
            await _finish(reader, session.stream)
        return ws


class _RequestStream:
    """The request messages of one call, queued by the task that reads the client and taken by
    grpc's request consumer; ``finish()`` ends it after them, ``end()`` at once."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=16)
        self._ended = False

    async def put(self, message: bytes) -> None:
        if not self._ended:
            await self._queue.put(message)

    async def finish(self) -> None:
        """The client finished sending: the stream ends after the queued messages."""
        if not self._ended:
            self._ended = True
            await self._queue.put(None)

    def end(self) -> None:
        """The call is over: drop what is queued, end the stream now."""
        self._ended = True
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    async def requests(self) -> AsyncIterator[bytes]:
        while (message := await self._queue.get()) is not None:
            yield message


async def _finish(reader: asyncio.Future[None], stream: _RequestStream) -> None:
    """Stop the task reading the client (the call is over) and end the request stream, so
    neither it nor grpc's request consumer outlives the call."""
    reader.cancel()
    try:
        await reader
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # the handler itself is being cancelled
    finally:
        stream.end()


class _WebSocketCall:
    """One ``grpc-websockets`` call: a reader task owns ``ws.receive()`` and queues the request
    messages, so a client closing the socket is seen (and cancels the call) at any time."""

    def __init__(self, ws: web.WebSocketResponse, max_message: int) -> None:
        self.ws = ws
        self.call: ForwardedCall | None = None
        self.stream = _RequestStream()
        self._frames = FrameReader(max_message)

    async def read_metadata(self) -> tuple[list[tuple[str, str | bytes]], float | None]:
        msg = await self.ws.receive()
        if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
            raise FramingError("the websocket closed before the call metadata")
        data = msg.data if isinstance(msg.data, bytes) else msg.data.encode("latin-1")
        return metadata_from_headers(parse_header_block(data))

    async def read_frames(self) -> None:
        finished = False
        try:
            async for msg in self.ws:
                if msg.type != WSMsgType.BINARY:
                    raise FramingError("websocket messages must be binary")
                data: bytes = msg.data
                if data == FINISH_SEND:
                    if not finished and self._frames.pending:
                        raise FramingError("finish-send inside a frame")
                    finished = True
                    await self.stream.finish()
                elif data[:1] == b"\x00" and not finished:
                    for message in messages(self._frames, data[1:]):
                        await self.stream.put(message)
                elif data:
                    raise FramingError(f"unexpected websocket message (first byte {data[0]:#x})")
        except FramingError as exc:
            if self.call is not None:
                self.call.fail(_INVALID, f"grpc-web: {exc}")
            return
        if self.call is not None:
            self.call.cancel()  # closed by the client: nobody wants the answer any more

    async def send_headers(self, initial: list[tuple[str, str | bytes]]) -> None:
        pairs = [("content-type", "application/grpc-web+proto"), *headers_from_metadata(initial)]
        await self.ws.send_bytes(frame(header_block(pairs), HEADERS))

    async def send_trailers(self, outcome: Outcome) -> None:
        await self.ws.send_bytes(frame(_trailers(outcome), HEADERS))
        await self.ws.close()


def _trailers(outcome: Outcome) -> bytes:
    return header_block(trailer_pairs(outcome.code, outcome.message, outcome.trailing))


def _cors(request: web.Request) -> dict[str, str]:
    return {"Access-Control-Allow-Origin": request.headers.get("Origin", "*"), "Vary": "Origin"}


def _exposed(initial: list[tuple[str, str | bytes]]) -> str:
    return ", ".join([EXPOSED, *sorted({key for key, _ in initial})])


def _preflight(request: web.Request) -> web.Response:
    headers = _cors(request)
    headers["Access-Control-Allow-Methods"] = "POST, GET, OPTIONS"
    headers["Access-Control-Allow-Headers"] = request.headers.get(
        "Access-Control-Request-Headers", "*"
    )
    headers["Access-Control-Max-Age"] = "600"
    return web.Response(status=204, headers=headers)


def _refused(request: web.Request, message: str) -> web.Response:
    """A call refused before forwarding: HTTP 200 with the status in the headers (trailers-only)."""
    headers = _cors(request)
    headers.update(trailer_pairs(_INVALID.value[0], f"grpc-web: {message}", []))
    headers["Access-Control-Expose-Headers"] = EXPOSED
    return web.Response(status=200, headers=headers, content_type="application/grpc-web+proto")
