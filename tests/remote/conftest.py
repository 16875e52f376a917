"""Fixtures of the remote-client tests: a tiny in-process gRPC server for the bridge, a real hub
subprocess with API keys, and that hub seen as a plain Textile hub (extensions removed)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from google.protobuf import wrappers_pb2

from bucketfs.proto import bucketsd_pb2
from bucketfs.remote.session import HubConfig
from bucketfs.testing.hubproc import HubProcess

B = wrappers_pb2.BytesValue


class EchoServer:
    """A gRPC server with a few generic methods whose server-side behaviour tests can observe."""

    def __init__(self) -> None:
        self.stream_ended = threading.Event()  # a server stream's handler saw the call end
        self.slow_cancelled = threading.Event()
        self.received: list[int] = []  # chunk sizes a client stream delivered
        self.calls = 0
        self.slow_calls = 0
        self.uploads: list[str] = []
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        handlers = {
            "Echo": grpc.unary_unary_rpc_method_handler(
                self._echo, B.FromString, B.SerializeToString
            ),
            "Slow": grpc.unary_unary_rpc_method_handler(
                self._slow, B.FromString, B.SerializeToString
            ),
            "Stream": grpc.unary_stream_rpc_method_handler(
                self._stream, B.FromString, B.SerializeToString
            ),
            "Sink": grpc.stream_stream_rpc_method_handler(
                self._sink, B.FromString, B.SerializeToString
            ),
            "Upload": grpc.stream_unary_rpc_method_handler(
                self._upload, B.FromString, B.SerializeToString
            ),
        }
        self._server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("t.T", handlers),)
        )
        port = self._server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{port}"
        self._server.start()

    def _echo(self, request: B, context: grpc.ServicerContext) -> B:
        self.calls += 1
        if request.value.startswith(b"fail:"):
            code = getattr(grpc.StatusCode, request.value[5:].decode())
            context.abort(code, "asked to fail")
        md = dict(context.invocation_metadata())
        return B(value=request.value + md.get("x-extra", "").encode())

    def _slow(self, request: B, context: grpc.ServicerContext) -> B:
        self.slow_calls += 1
        ended = threading.Event()
        context.add_callback(self.slow_cancelled.set)
        context.add_callback(ended.set)
        ended.wait(5)  # until the client gives up
        return B(value=b"late")

    def _stream(self, request: B, context: grpc.ServicerContext) -> Iterator[B]:
        try:
            for i in range(int(request.value or b"1000000")):
                if not context.is_active():
                    return
                yield B(value=str(i).encode())
                time.sleep(0.001)
        finally:
            self.stream_ended.set()

    def _sink(self, requests: Iterator[B], context: grpc.ServicerContext) -> Iterator[B]:
        total = 0
        for req in requests:
            self.received.append(len(req.value))
            total += len(req.value)
            if req.value == b"stop":
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, "update is non-fast-forward")
            yield B(value=str(total).encode())
        yield B(value=b"total:" + str(total).encode())

    def _upload(self, requests: Iterator[B], context: grpc.ServicerContext) -> B:
        """Records how each upload ended: "half-closed" (the client said it was complete) or
        "reset" (the call was cancelled; grpc may end the iterator normally then too, but the
        call is no longer active a moment later)."""
        try:
            for _ in requests:
                pass
        except grpc.RpcError:
            self.uploads.append("reset")
            raise
        time.sleep(0.1)
        self.uploads.append("half-closed" if context.is_active() else "reset")
        return B()

    def stop(self) -> None:
        self._server.stop(grace=None).wait()


@pytest.fixture
def echo_server() -> Iterator[EchoServer]:
    server = EchoServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def hub() -> Iterator[HubProcess]:
    """A real hub subprocess shared by the remote tests (restarted by some, on the same address)."""
    with HubProcess() as process:
        yield process


@pytest.fixture(scope="session")
def account_key(hub: HubProcess) -> tuple[str, str]:
    return hub.create_key(type="account")


@pytest.fixture(scope="session")
def user_key(hub: HubProcess) -> tuple[str, str]:
    return hub.create_key(type="user")


@pytest.fixture
def account_config(hub: HubProcess, account_key: tuple[str, str]) -> HubConfig:
    """Config of a session with the module's account key."""
    return HubConfig(hub.address, account_key[0], account_key[1], None)


# -- a plain Textile hub: the real hub seen through a proxy that removes the extensions ---------

_API = "/api.bucketsd.pb.APIService/"
_SERVER_STREAMS = {
    _API + "PullPath",
    _API + "PullIpfsPath",
    _API + "ArchiveWatch",
    "/threads.pb.API/Listen",
}
_BIDI_STREAMS = {
    _API + "PushPath",
    _API + "PushPaths",
    "/threads.pb.API/GetToken",
    "/threads.net.pb.API/GetToken",
    "/threads.pb.API/ReadTransaction",
    "/threads.pb.API/WriteTransaction",
}


def _strip_item(item: Any) -> None:
    for name in ("file_size", "mode", "mtime", "symlink_target"):
        item.ClearField(name)
    item.metadata.ClearField("mode")
    for child in item.items:
        _strip_item(child)


def _strip_root(root: Any) -> None:
    root.metadata.ClearField("mode")
    for meta in root.path_metadata.values():
        meta.ClearField("mode")


def _rewrite(message_cls: Any, change: Callable[[Any], None]) -> Callable[[bytes], bytes]:
    def rewrite(data: bytes) -> bytes:
        message = message_cls.FromString(data)
        change(message)
        return bytes(message.SerializeToString())

    return rewrite


def _list_reply(reply: Any) -> None:
    _strip_item(reply.item)
    _strip_root(reply.root)
    reply.ClearField("truncated")


def _push_request(request: Any) -> None:
    if request.WhichOneof("payload") == "header":
        request.header.ClearField("mode")
        request.header.ClearField("mtime")


def _push_paths_request(request: Any) -> None:
    if request.WhichOneof("payload") == "header":
        request.header.ClearField("modes")
        request.header.ClearField("mtimes")


_REQUESTS: dict[str, Callable[[bytes], bytes]] = {
    _API + "ListPath": _rewrite(
        bucketsd_pb2.ListPathRequest, lambda r: (r.ClearField("limit"), r.ClearField("after"))
    ),
    _API + "PullPath": _rewrite(
        bucketsd_pb2.PullPathRequest, lambda r: (r.ClearField("offset"), r.ClearField("length"))
    ),
    _API + "PushPath": _rewrite(bucketsd_pb2.PushPathRequest, _push_request),
    _API + "PushPaths": _rewrite(bucketsd_pb2.PushPathsRequest, _push_paths_request),
    _API + "SetPath": _rewrite(bucketsd_pb2.SetPathRequest, lambda r: r.ClearField("root")),
    _API + "MovePath": _rewrite(bucketsd_pb2.MovePathRequest, lambda r: r.ClearField("root")),
}
_REPLIES: dict[str, Callable[[bytes], bytes]] = {
    _API + "ListPath": _rewrite(bucketsd_pb2.ListPathResponse, _list_reply),
    _API + "SetPath": _rewrite(bucketsd_pb2.SetPathResponse, lambda r: r.ClearField("root")),
    _API + "MovePath": _rewrite(bucketsd_pb2.MovePathResponse, lambda r: r.ClearField("root")),
}


def _same(data: bytes) -> bytes:
    return data


def _forwarded(context: grpc.ServicerContext) -> list[tuple[str, str]]:
    """The caller's auth and thread headers, to send on to the hub."""
    return [
        (key, value)
        for key, value in context.invocation_metadata()  # type: ignore[misc]
        if key.startswith("x-textile") or key == "authorization"
    ]


class PlainHubProxy(grpc.GenericRpcHandler):
    """Forwards every call to a real hub, but answers like a plain Textile hub: no
    ``bucketfs.pb.BucketsExtension`` service (UNIMPLEMENTED) and no extension fields."""

    def __init__(self, target: str) -> None:
        options = [
            ("grpc.max_receive_message_length", 64 << 20),
            ("grpc.max_send_message_length", 64 << 20),
        ]
        self._channel = grpc.insecure_channel(target, options=options)
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), options=options)
        self._server.add_generic_rpc_handlers((self,))
        self.address = f"127.0.0.1:{self._server.add_insecure_port('127.0.0.1:0')}"
        #: server-streaming calls that ended (client gone or stream done), with the upstream
        #: call the proxy made to the hub for each
        self.streams_ended: list[tuple[str, Any]] = []
        #: the next ``breaks_left`` server streams fail with UNAVAILABLE after this many replies
        self.break_streams_after: int | None = None
        self.breaks_left = 1
        #: this many PushPath streams are cut (UNAVAILABLE) after their third message
        self.pushes_to_break = 0
        self._server.start()

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = details.method  # type: ignore[attr-defined]
        if method.startswith("/bucketfs.pb."):
            return None  # grpc answers UNIMPLEMENTED
        if method in _SERVER_STREAMS:
            return grpc.unary_stream_rpc_method_handler(self._server_stream(method))
        if method in _BIDI_STREAMS:
            return grpc.stream_stream_rpc_method_handler(self._bidi(method))
        return grpc.unary_unary_rpc_method_handler(self._unary(method))

    def _take_break(self) -> int | None:
        breaks_after = self.break_streams_after
        if self.breaks_left > 0:
            self.breaks_left -= 1
        if self.breaks_left == 0:
            self.break_streams_after = None
        return breaks_after

    def _server_stream(self, method: str) -> Callable[[bytes, Any], Iterator[bytes]]:
        request_fn, reply_fn = _REQUESTS.get(method, _same), _REPLIES.get(method, _same)

        def handler(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
            call = self._channel.unary_stream(method)(
                request_fn(request), metadata=_forwarded(context)
            )

            def ended() -> None:
                call.cancel()
                self.streams_ended.append((method, call))

            context.add_callback(ended)
            breaks_after = self._take_break()
            try:
                for sent, reply in enumerate(call):
                    if sent == breaks_after:
                        context.abort(grpc.StatusCode.UNAVAILABLE, "stream broken by the test")
                    yield reply_fn(reply)
            except grpc.RpcError as err:
                context.abort(err.code(), err.details())

        return handler

    def _bidi(self, method: str) -> Callable[[Iterator[bytes], Any], Iterator[bytes]]:
        request_fn, reply_fn = _REQUESTS.get(method, _same), _REPLIES.get(method, _same)

        def handler(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
            broken = self.pushes_to_break > 0 and method == _API + "PushPath"
            if broken:
                self.pushes_to_break -= 1

            def upstream() -> Iterator[bytes]:
                for sent, request in enumerate(requests):
                    if broken and sent == 3:
                        raise ConnectionResetError("push broken by the test")  # cancels the call
                    yield request_fn(request)

            call = self._channel.stream_stream(method)(upstream(), metadata=_forwarded(context))
            context.add_callback(call.cancel)
            try:
                for reply in call:
                    yield reply_fn(reply)
            except grpc.RpcError as err:
                if broken:
                    context.abort(grpc.StatusCode.UNAVAILABLE, "push broken by the test")
                context.abort(err.code(), err.details())

        return handler

    def _unary(self, method: str) -> Callable[[bytes, Any], bytes]:
        request_fn, reply_fn = _REQUESTS.get(method, _same), _REPLIES.get(method, _same)

        def handler(request: bytes, context: grpc.ServicerContext) -> bytes:
            try:
                reply = self._channel.unary_unary(method)(
                    request_fn(request), metadata=_forwarded(context), timeout=30
                )
            except grpc.RpcError as err:
                context.abort(err.code(), err.details())
            return reply_fn(reply)

        return handler

    def stop(self) -> None:
        self._server.stop(grace=None).wait()
        self._channel.close()


@pytest.fixture
def plain_proxy(hub: HubProcess) -> Iterator[PlainHubProxy]:
    proxy = PlainHubProxy(hub.address)
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def plain_config(plain_proxy: PlainHubProxy, account_key: tuple[str, str]) -> HubConfig:
    """Config of a session with the account key, through the plain-Textile proxy."""
    return HubConfig(plain_proxy.address, account_key[0], account_key[1], None)
