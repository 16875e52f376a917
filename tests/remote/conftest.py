"""Fixtures of the remote-client tests: a tiny in-process gRPC server for the bridge, and a
real hub subprocess with API keys."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from google.protobuf import wrappers_pb2

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
        context.add_callback(self.slow_cancelled.set)
        time.sleep(5)
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

    def stop(self) -> None:
        self._server.stop(grace=None).wait()


@pytest.fixture
def echo_server() -> Iterator[EchoServer]:
    server = EchoServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def hub() -> Iterator[HubProcess]:
    """A real hub subprocess shared by the tests of one module."""
    with HubProcess() as process:
        yield process


@pytest.fixture(scope="module")
def account_key(hub: HubProcess) -> tuple[str, str]:
    return hub.create_key(type="account")


@pytest.fixture(scope="module")
def user_key(hub: HubProcess) -> tuple[str, str]:
    return hub.create_key(type="user")


@pytest.fixture
def account_config(hub: HubProcess, account_key: tuple[str, str]) -> HubConfig:
    """Config of a session with the module's account key."""
    return HubConfig(hub.address, account_key[0], account_key[1], None)
