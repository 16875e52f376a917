"""The trio ⇄ grpcio bridge against a real in-process gRPC server: results, cancellation that
reaches the server, lazily consumed request streams."""

from __future__ import annotations

import grpc
import pytest
import trio
from google.protobuf import wrappers_pb2

from bucketfs.remote.bridge import Bidi, Bridge, open_channel

B = wrappers_pb2.BytesValue


def run(afn, *args):  # type: ignore[no-untyped-def]
    return trio.run(afn, *args)


def test_unary_result_and_error(echo_server) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        with open_channel(echo_server.address) as channel:
            bridge = Bridge(channel)
            md = (("x-extra", "!"),)
            reply = await bridge.unary("/t.T/Echo", B(value=b"hi"), B, metadata=md, timeout=5)
            assert reply.value == b"hi!"
            with pytest.raises(grpc.RpcError) as info:
                await bridge.unary(
                    "/t.T/Echo", B(value=b"fail:NOT_FOUND"), B, metadata=(), timeout=5
                )
            assert info.value.code() is grpc.StatusCode.NOT_FOUND

    run(main)


def test_unary_cancel_reaches_server(echo_server) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        with open_channel(echo_server.address) as channel:
            bridge = Bridge(channel)
            with trio.move_on_after(0.3) as scope:
                await bridge.unary("/t.T/Slow", B(), B, metadata=(), timeout=30)
            assert scope.cancelled_caught
            await trio.to_thread.run_sync(echo_server.slow_cancelled.wait, 5)
            assert echo_server.slow_cancelled.is_set()

    run(main)


def test_server_stream_cancel_ends_server_side(echo_server) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        with open_channel(echo_server.address) as channel:
            bridge = Bridge(channel)
            seen = []
            with trio.move_on_after(0.5):
                async for msg in bridge.server_stream("/t.T/Stream", B(), B, metadata=()):
                    seen.append(int(msg.value))
            assert seen and seen == list(range(len(seen)))
            assert await trio.to_thread.run_sync(echo_server.stream_ended.wait, 5)

    run(main)


def test_server_stream_early_exit_ends_server_side(echo_server) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        with open_channel(echo_server.address) as channel:
            bridge = Bridge(channel)
            stream = bridge.server_stream("/t.T/Stream", B(), B, metadata=())
            async for msg in stream:
                if msg.value == b"3":
                    break
            await stream.aclose()
            assert await trio.to_thread.run_sync(echo_server.stream_ended.wait, 5)

    run(main)


def test_server_stream_complete(echo_server) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        with open_channel(echo_server.address) as channel:
            bridge = Bridge(channel)
            got = [
                m.value
                async for m in bridge.server_stream("/t.T/Stream", B(value=b"5"), B, metadata=())
            ]
            assert got == [b"0", b"1", b"2", b"3", b"4"]

    run(main)


def test_bidi_streams_both_ways(echo_server) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        with open_channel(echo_server.address) as channel:
            bridge = Bridge(channel)
            async with bridge.bidi("/t.T/Sink", B, B, metadata=()) as call:
                for size in (3, 5, 7):
                    await call.send(B(value=b"x" * size))
                    assert int((await call.receive()).value) > 0
                await call.done_writing()
                rest = [m.value async for m in call.responses]
            assert rest == [b"total:15"]
            assert echo_server.received == [3, 5, 7]

    run(main)


def test_bidi_reads_source_lazily(echo_server) -> None:  # type: ignore[no-untyped-def]
    """A server that fails early stops the producer: the source is not read to the end."""
    produced = 0

    async def main() -> grpc.StatusCode:
        nonlocal produced
        with open_channel(echo_server.address) as channel:
            bridge = Bridge(channel)
            async with bridge.bidi("/t.T/Sink", B, B, metadata=()) as call:

                async def pump() -> None:
                    nonlocal produced
                    await call.send(B(value=b"stop"))
                    for _ in range(10_000):  # 650 MB: far more than any buffer
                        produced += 1
                        await call.send(B(value=b"y" * 65536))

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(pump)
                    try:
                        async for _ in call.responses:
                            pass
                    except grpc.RpcError as err:
                        nursery.cancel_scope.cancel()
                        return err.code()
        raise AssertionError("the stream did not fail")

    assert run(main) is grpc.StatusCode.FAILED_PRECONDITION
    assert produced < 200


def test_cancelled_upload_is_not_a_half_close(echo_server) -> None:  # type: ignore[no-untyped-def]
    """Cancelling a request stream must never look like a completed upload to the server."""

    async def main() -> None:
        with open_channel(echo_server.address) as channel:
            bridge = Bridge(channel)
            mc = channel.stream_unary(
                "/t.T/Upload",
                request_serializer=B.SerializeToString,
                response_deserializer=B.FromString,
            )
            for _ in range(8):
                call = Bidi(lambda requests: mc.future(requests), bridge.limiter)
                async with call:
                    for _ in range(3):
                        await call.send(B(value=b"z" * 100_000))
                    await trio.sleep(0.05)
                # leaving ``async with`` without done_writing cancels the call
            async with Bidi(lambda requests: mc.future(requests), bridge.limiter) as call:
                await call.send(B(value=b"done"))
                await call.done_writing()
                await trio.sleep(0.3)  # the future completes; cancelling it then is a no-op
        with trio.fail_after(5):
            while len(echo_server.uploads) < 9:
                await trio.sleep(0.05)
        assert echo_server.uploads == ["reset"] * 8 + ["half-closed"]

    run(main)
