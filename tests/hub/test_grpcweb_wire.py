"""The gRPC-Web endpoint on the wire, against a real hub: HTTP/1.1 ``application/grpc-web*`` in
binary and base64 text, the ``grpc-websockets`` transport (bidirectional GetToken), statuses,
streaming, CORS. Answers are compared with the same call made natively over gRPC."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import json
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass

import aiohttp
import grpc
import pytest

from bucketfs.auth.identity import Identity
from bucketfs.hub.grpcweb.framing import (
    FrameReader,
    TextDecoder,
    frame,
    header_block,
    parse_header_block,
)
from bucketfs.proto import threads_pb2
from bucketfs.testing.hubproc import (
    HubClient,
    HubClients,
    HubProcess,
    HubProcessError,
    free_tcp_port,
)

INFO = "/threads.pb.API/GetDBInfo"
CONTENT_TYPES = [
    "application/grpc-web",
    "application/grpc-web+proto",
    "application/grpc-web-text",
    "application/grpc-web-text+proto",
]


@dataclass
class WebHub:
    hub: HubProcess
    host: str
    port: int


@pytest.fixture(scope="module")
def web() -> Iterator[WebHub]:
    port = free_tcp_port()
    with HubProcess(extra_args=("--grpc-web", f"127.0.0.1:{port}")) as hub:
        yield WebHub(hub, "127.0.0.1", port)
        assert not hub.log_errors(), hub.log_text()[-3000:]


@pytest.fixture
def alice(web: WebHub) -> Iterator[HubClient]:
    clients = HubClients(web.hub)
    client = clients.account()
    client.db = client.new_db()
    yield client
    clients.close()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    messages: list[bytes]
    trailers: dict[str, str]

    @property
    def grpc_status(self) -> int:
        return int(self.trailers.get("grpc-status", self.headers.get("grpc-status", "-1")))

    @property
    def grpc_message(self) -> str:
        raw = self.trailers.get("grpc-message", self.headers.get("grpc-message", ""))
        return urllib.parse.unquote(raw)


def post(
    web: WebHub,
    method: str,
    body: bytes,
    metadata: list[tuple[str, str]],
    content_type: str = "application/grpc-web+proto",
    extra: dict[str, str] | None = None,
) -> Answer:
    """One gRPC-Web call over HTTP/1.1; ``body`` is the raw frame bytes."""
    text = content_type.startswith("application/grpc-web-text")
    headers = {"Content-Type": content_type, "X-Grpc-Web": "1", **dict(metadata), **(extra or {})}
    conn = http.client.HTTPConnection(web.host, web.port, timeout=30)
    try:
        conn.request("POST", method, base64.b64encode(body) if text else body, headers)
        response = conn.getresponse()
        data = response.read()
        reply_headers = {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()
    if text:  # each frame is base64-encoded on its own, as Envoy's grpc-web filter does
        decoder = TextDecoder()
        data = decoder.feed(data)
        decoder.finish()
    return _answer(response.status, reply_headers, data)


def _answer(status: int, headers: dict[str, str], data: bytes) -> Answer:
    messages, trailers = [], {}
    for flag, payload in FrameReader(1 << 26).feed(data):
        if flag == 0x80:
            trailers = dict(parse_header_block(payload))
        else:
            messages.append(payload)
    return Answer(status, headers, messages, trailers)


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
def test_unary_answer_equals_the_native_answer(
    web: WebHub, alice: HubClient, content_type: str
) -> None:
    request = threads_pb2.GetDBInfoRequest(dbID=alice.db.bytes)
    native = alice.threads.GetDBInfo(request, metadata=alice.md())
    answer = post(web, INFO, frame(request.SerializeToString()), alice.md(), content_type)
    assert answer.status == 200
    assert answer.headers["content-type"].startswith(content_type.split("+")[0])
    assert answer.grpc_status == 0, answer
    assert answer.messages == [native.SerializeToString()]
    assert threads_pb2.GetDBInfoReply.FromString(answer.messages[0]).addrs


def test_error_status_and_message_equal_the_native_ones(web: WebHub, alice: HubClient) -> None:
    bad = [("x-textile-api-key", "no-such-key")]
    with pytest.raises(grpc.RpcError) as native:
        alice.threads.GetDBInfo(threads_pb2.GetDBInfoRequest(dbID=alice.db.bytes), metadata=bad)
    answer = post(web, INFO, frame(b""), bad)
    assert answer.messages == []
    assert answer.grpc_status == native.value.code().value[0]
    assert answer.grpc_message == native.value.details()


def test_unknown_method_is_unimplemented(web: WebHub, alice: HubClient) -> None:
    answer = post(web, "/no.such.Service/Method", frame(b""), alice.md())
    assert answer.grpc_status == grpc.StatusCode.UNIMPLEMENTED.value[0]


def test_truncated_body_is_invalid_argument(web: WebHub, alice: HubClient) -> None:
    answer = post(web, INFO, frame(b"abcdef")[:-2], alice.md())
    assert answer.grpc_status == grpc.StatusCode.INVALID_ARGUMENT.value[0], answer


def test_server_stream_over_http_delivers_events_as_they_happen(
    web: WebHub, alice: HubClient
) -> None:
    listen = threads_pb2.ListenRequest(dbID=alice.db.bytes)
    headers = {"Content-Type": "application/grpc-web+proto", **dict(alice.md())}
    conn = http.client.HTTPConnection(web.host, web.port, timeout=30)
    first: list[bytes] = []
    done = threading.Event()

    def read() -> None:
        try:
            conn.request(
                "POST", "/threads.pb.API/Listen", frame(listen.SerializeToString()), headers
            )
            response = conn.getresponse()
            reader = FrameReader(1 << 20)
            while not first:
                chunk = response.read1(65536)
                if not chunk:
                    break
                first.extend(payload for _, payload in reader.feed(chunk))
        finally:
            done.set()

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    try:
        instance = json.dumps({"_id": "", "name": "streamed"}).encode()
        create = threads_pb2.CreateRequest(
            dbID=alice.db.bytes, collectionName="things", instances=[instance]
        )
        for _ in range(100):  # until the listener is registered and sees one create
            alice.threads.Create(create, metadata=alice.md())
            if done.wait(0.2):
                break
        assert first, "no Listen event over HTTP"
        reply = threads_pb2.ListenReply.FromString(first[0])
        assert json.loads(reply.instance)["name"] == "streamed"
    finally:
        conn.close()  # the bridge cancels the Listen when the client goes away
        thread.join(10)


def test_cors_preflight_allows_the_textile_headers(web: WebHub) -> None:
    asked = "x-textile-api-key,x-textile-api-sig,x-textile-api-sig-msg,authorization,x-grpc-web"
    conn = http.client.HTTPConnection(web.host, web.port, timeout=10)
    try:
        conn.request(
            "OPTIONS",
            INFO,
            headers={
                "Origin": "http://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": asked,
            },
        )
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    assert response.status == 204
    assert response.getheader("Access-Control-Allow-Origin") == "http://app.example"
    assert response.getheader("Access-Control-Allow-Headers") == asked
    assert "POST" in (response.getheader("Access-Control-Allow-Methods") or "")


def test_answers_carry_cors_headers(web: WebHub, alice: HubClient) -> None:
    answer = post(web, INFO, frame(b""), alice.md(), extra={"Origin": "http://app.example"})
    assert answer.headers["access-control-allow-origin"] == "http://app.example"
    assert "grpc-status" in answer.headers["access-control-expose-headers"]


# -- websockets ------------------------------------------------------------------------------


async def _ws_get_token(web: WebHub, alice: HubClient, identity: Identity) -> list[bytes]:
    """GetToken (bidirectional) over one grpc-websockets websocket; returns the raw frames."""
    url = f"ws://{web.host}:{web.port}/threads.pb.API/GetToken"
    received: list[bytes] = []
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, protocols=("grpc-websockets",)) as ws,
    ):
        assert ws.protocol == "grpc-websockets"
        pairs = [("content-type", "application/grpc-web+proto"), *alice.md()]
        await ws.send_bytes(header_block(pairs))
        hello = threads_pb2.GetTokenRequest(key=str(identity.public_key))
        await ws.send_bytes(b"\x00" + frame(hello.SerializeToString()))
        reader = FrameReader(1 << 20)
        async for msg in ws:
            received.append(msg.data)
            for flag, payload in reader.feed(msg.data):
                if flag == 0x00:
                    reply = threads_pb2.GetTokenReply.FromString(payload)
                    if reply.WhichOneof("payload") == "challenge":
                        sig = threads_pb2.GetTokenRequest(signature=identity.sign(reply.challenge))
                        await ws.send_bytes(b"\x00" + frame(sig.SerializeToString()))
                        await ws.send_bytes(b"\x01")
    return received


def test_websocket_bidirectional_get_token(web: WebHub, alice: HubClient) -> None:
    identity = Identity.generate()
    frames = asyncio.run(_ws_get_token(web, alice, identity))
    parsed = [(f[0], f[5:]) for f in frames]
    flags = [flag for flag, _ in parsed]
    # headers frame, challenge, token, trailers frame; the server then closes the socket
    assert flags == [0x80, 0x00, 0x00, 0x80]
    assert dict(parse_header_block(parsed[0][1]))["content-type"] == "application/grpc-web+proto"
    token = threads_pb2.GetTokenReply.FromString(parsed[2][1]).token
    claims = token.split(".")[1]
    assert json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["sub"] == str(
        identity.public_key
    )
    assert dict(parse_header_block(parsed[3][1]))["grpc-status"] == "0"


async def _ws_without_subprotocol(web: WebHub) -> int | None:
    url = f"ws://{web.host}:{web.port}{INFO}"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.receive()
        return ws.close_code


def test_websocket_without_the_subprotocol_is_closed(web: WebHub) -> None:
    assert asyncio.run(_ws_without_subprotocol(web)) == 1002


def test_grpc_web_port_in_use_is_a_one_line_error(web: WebHub) -> None:
    taken = f"127.0.0.1:{web.port}"
    with pytest.raises(HubProcessError) as failed, HubProcess(extra_args=("--grpc-web", taken)):
        pass
    assert f"cannot serve gRPC-Web on {taken}" in str(failed.value)


def test_grpc_web_address_must_be_host_port() -> None:
    with (
        pytest.raises(HubProcessError, match="--grpc-web address must be HOST:PORT"),
        HubProcess(extra_args=("--grpc-web", "nonsense")),
    ):
        pass


async def _listen_then_close(web: WebHub, alice: HubClient) -> None:
    """A Listen over a websocket that sees one event, then the client closes the socket."""
    url = f"ws://{web.host}:{web.port}/threads.pb.API/Listen"
    listen = threads_pb2.ListenRequest(dbID=alice.db.bytes)
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, protocols=("grpc-websockets",)) as ws,
    ):
        await ws.send_bytes(header_block(alice.md()))
        await ws.send_bytes(b"\x00" + frame(listen.SerializeToString()))
        await ws.send_bytes(b"\x01")
        instance = json.dumps({"_id": "", "name": "seen"}).encode()
        create = threads_pb2.CreateRequest(
            dbID=alice.db.bytes, collectionName="things", instances=[instance]
        )
        reader = FrameReader(1 << 20)
        while True:  # until the listener is registered and sees a create
            await asyncio.to_thread(alice.threads.Create, create, metadata=alice.md(), timeout=30)
            try:
                msg = await ws.receive(timeout=0.5)
            except TimeoutError:
                continue
            if any(flag == 0x00 for flag, _ in reader.feed(msg.data)):
                break


@pytest.fixture
def small_web() -> Iterator[WebHub]:
    port = free_tcp_port()
    with HubProcess(
        extra_args=("--grpc-web", f"127.0.0.1:{port}", "--workers", "3", "--grace", "1")
    ) as hub:
        yield WebHub(hub, "127.0.0.1", port)
        assert not hub.log_errors(), hub.log_text()[-3000:]


def test_closing_the_websocket_cancels_the_call(small_web: WebHub) -> None:
    # each open Listen holds one of the hub's 3 handler threads: if closing the socket did not
    # cancel the call, the fourth Listen and the unary call below would never be served
    clients = HubClients(small_web.hub)
    try:
        alice = clients.account()
        for _ in range(6):  # a DB each: no later event shows an uncancelled one its closed socket
            alice.db = alice.new_db()
            asyncio.run(_listen_then_close(small_web, alice))
        request = threads_pb2.GetDBInfoRequest(dbID=alice.db.bytes)
        assert alice.threads.GetDBInfo(request, metadata=alice.md(), timeout=30).addrs
    finally:
        clients.close()


async def _listen_until_hub_stops(web: WebHub, alice: HubClient) -> dict[str, str]:
    """A Listen over a websocket that sees one event, then the hub is stopped: returns the
    trailers the bridge sends before closing the socket."""
    url = f"ws://{web.host}:{web.port}/threads.pb.API/Listen"
    listen = threads_pb2.ListenRequest(dbID=alice.db.bytes)
    instance = json.dumps({"_id": "", "name": "seen"}).encode()
    create = threads_pb2.CreateRequest(
        dbID=alice.db.bytes, collectionName="things", instances=[instance]
    )
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, protocols=("grpc-websockets",)) as ws,
    ):
        await ws.send_bytes(header_block(alice.md()))
        await ws.send_bytes(b"\x00" + frame(listen.SerializeToString()))
        await ws.send_bytes(b"\x01")
        reader = FrameReader(1 << 20)
        frames: list[tuple[int, bytes]] = []
        while not any(flag == 0x00 for flag, _ in frames):
            await asyncio.to_thread(alice.threads.Create, create, metadata=alice.md(), timeout=30)
            with contextlib.suppress(TimeoutError):
                frames += reader.feed((await ws.receive(timeout=0.5)).data)
        exit_code = await asyncio.to_thread(web.hub.stop, 30)
        assert exit_code == 0
        async for msg in ws:
            frames += reader.feed(msg.data)
    return dict(parse_header_block(frames[-1][1]))


def test_hub_stop_ends_open_websocket_calls_cleanly(small_web: WebHub) -> None:
    clients = HubClients(small_web.hub)
    try:
        alice = clients.account()
        alice.db = alice.new_db()
        trailers = asyncio.run(_listen_until_hub_stops(small_web, alice))
    finally:
        clients.close()
    assert trailers["grpc-status"] == str(grpc.StatusCode.UNAVAILABLE.value[0]), trailers
    assert not small_web.hub.log_errors(), small_web.hub.log_text()[-3000:]


def test_bridge_to_a_hub_on_a_unix_socket() -> None:
    port = free_tcp_port()
    with HubProcess(transport="unix", extra_args=("--grpc-web", f"127.0.0.1:{port}")) as hub:
        clients = HubClients(hub)
        try:
            alice = clients.account()
            alice.db = alice.new_db()
            request = threads_pb2.GetDBInfoRequest(dbID=alice.db.bytes)
            native = alice.threads.GetDBInfo(request, metadata=alice.md())
            web = WebHub(hub, "127.0.0.1", port)
            answer = post(web, INFO, frame(request.SerializeToString()), alice.md())
        finally:
            clients.close()
        assert answer.grpc_status == 0, answer
        assert answer.messages == [native.SerializeToString()]
        assert not hub.log_errors(), hub.log_text()[-3000:]


@pytest.mark.parametrize("method", [INFO, "/no.such.Service/Method", "/threads.pb.API/GetToken"])
def test_early_answers_keep_their_status(web: WebHub, method: str) -> None:
    # the hub refuses these before reading the request (bad key; unknown method): the status
    # must be the hub's every time, never grpcio's "Internal error from Core" of a write that
    # lost the race against the answer
    request = threads_pb2.GetDBInfoRequest(dbID=b"x" * 40).SerializeToString()
    bad = [("x-textile-api-key", "no-such-key")]
    codes = {post(web, method, frame(request), bad).grpc_status for _ in range(150)}
    expected = grpc.StatusCode.UNIMPLEMENTED if "no.such" in method else grpc.StatusCode.NOT_FOUND
    assert codes == {expected.value[0]}


async def _get_token_then_close(web: WebHub, alice: HubClient) -> None:
    """A GetToken (request stream) over a websocket that gets its challenge, then the client
    closes the socket instead of signing."""
    url = f"ws://{web.host}:{web.port}/threads.pb.API/GetToken"
    hello = threads_pb2.GetTokenRequest(key=str(Identity.generate().public_key))
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, protocols=("grpc-websockets",)) as ws,
    ):
        await ws.send_bytes(header_block(alice.md()))
        await ws.send_bytes(b"\x00" + frame(hello.SerializeToString()))
        reader = FrameReader(1 << 20)
        while not any(flag == 0x00 for flag, _ in reader.feed((await ws.receive()).data)):
            pass


def test_closing_a_request_stream_websocket_cancels_the_call(small_web: WebHub) -> None:
    # GetToken waits 60 s for the signature in one of the hub's 3 handler threads: if closing
    # the socket did not cancel it, the fourth GetToken and the unary call would not be served
    clients = HubClients(small_web.hub)
    try:
        alice = clients.account()
        alice.db = alice.new_db()
        for _ in range(6):
            asyncio.run(_get_token_then_close(small_web, alice))
        request = threads_pb2.GetDBInfoRequest(dbID=alice.db.bytes)
        assert alice.threads.GetDBInfo(request, metadata=alice.md(), timeout=30).addrs
    finally:
        clients.close()
