"""The gRPC status → bucketfs.errors table (WIRE.md texts), the retry loop, and deadlines."""

from __future__ import annotations

import grpc
import pytest
import trio
from google.protobuf import wrappers_pb2

from bucketfs import errors
from bucketfs.remote.retry import RetryPolicy, is_retryable, with_retries
from bucketfs.remote.session import HubConfig, HubSession
from bucketfs.remote.status import error_from_status

C = grpc.StatusCode
B = wrappers_pb2.BytesValue


@pytest.mark.parametrize(
    ("code", "text", "cls"),
    [
        (C.UNKNOWN, "instance not found", errors.NotFound),
        (C.UNKNOWN, 'no link named "x" under bafy', errors.NotFound),
        (C.UNKNOWN, "could not resolve path: a/b", errors.NotFound),
        (C.UNKNOWN, "node is a directory", errors.IsADirectory),
        (C.UNKNOWN, "not a directory", errors.NotADirectory),
        (C.FAILED_PRECONDITION, "update is non-fast-forward", errors.Conflict),
        (C.FAILED_PRECONDITION, "DB not empty (delete buckets first)", errors.NotEmpty),
        (C.UNKNOWN, "can't create already existing instance", errors.AlreadyExists),
        (C.UNKNOWN, "collection already registered", errors.AlreadyExists),
        (C.UNKNOWN, "storage quota exhausted", errors.QuotaExceeded),
        (C.UNKNOWN, "app denied net record body: permission denied", errors.PermissionDenied),
        (
            C.UNKNOWN,
            "instance doesn't correspond to schema: title: required",
            errors.InvalidArgument,
        ),
        (C.UNKNOWN, "invalid thread token", errors.Unauthenticated),
        (C.UNKNOWN, "something odd", errors.BucketfsError),
        (C.NOT_FOUND, "collection not found", errors.NotFound),
        (C.NOT_FOUND, "API key not found or is invalid", errors.NotFound),
        (C.UNAUTHENTICATED, "Bad API key signature", errors.Unauthenticated),
        (C.PERMISSION_DENIED, "User does not own thread", errors.PermissionDenied),
        (C.RESOURCE_EXHAUSTED, "threaddb writes exhausted", errors.QuotaExceeded),
        (C.UNIMPLEMENTED, "Method not found", errors.Unsupported),
        (C.INVALID_ARGUMENT, "Key is required", errors.InvalidArgument),
        (C.UNAVAILABLE, "failed to connect to all addresses", errors.HubUnreachable),
        (C.DEADLINE_EXCEEDED, "Deadline Exceeded", errors.TimedOut),
    ],
)
def test_status_table(code: grpc.StatusCode, text: str, cls: type[errors.BucketfsError]) -> None:
    err = error_from_status(code, text, address="unix:/tmp/hub.sock", method="Root")
    assert type(err) is cls
    assert text in err.message
    if cls in (errors.Unavailable, errors.TimedOut):
        assert "unix:/tmp/hub.sock" in err.message and "Root" in err.message
        assert err.temporary


def test_retry_predicate() -> None:
    down = errors.Unavailable("hub x is unreachable: failed to connect to all addresses")
    reset = errors.Unavailable("hub x is unreachable: Socket closed")
    assert is_retryable(down, idempotent=False)  # never sent: safe to resend
    assert not is_retryable(reset, idempotent=False)
    assert is_retryable(reset, idempotent=True)
    assert is_retryable(errors.TimedOut("slow"), idempotent=True)
    assert not is_retryable(errors.Conflict("update is non-fast-forward"), idempotent=True)
    assert not is_retryable(errors.NotFound("x"), idempotent=True)


def _counting(failures: list[BaseException]):  # type: ignore[no-untyped-def]
    calls = []

    async def attempt() -> str:
        calls.append(trio.current_time())
        if failures:
            raise failures.pop(0)
        return "ok"

    return attempt, calls


def test_retries_until_success_with_backoff() -> None:
    async def main() -> None:
        attempt, calls = _counting([errors.Unavailable("a"), errors.TimedOut("b")])
        policy = RetryPolicy(attempts=3, budget=10, base_delay=0.05, max_delay=0.05)
        assert await with_retries(attempt, policy, idempotent=True) == "ok"
        assert len(calls) == 3

    trio.run(main)


def test_retry_bounds() -> None:
    async def main() -> None:
        attempt, calls = _counting([errors.Unavailable(str(i)) for i in range(10)])
        with pytest.raises(errors.Unavailable, match="2"):
            await with_retries(attempt, RetryPolicy(attempts=3, base_delay=0.01), idempotent=True)
        assert len(calls) == 3
        attempt, calls = _counting([errors.Unavailable(str(i)) for i in range(1000)])
        policy = RetryPolicy(attempts=100, budget=0.3, base_delay=0.1, max_delay=0.1)
        start = trio.current_time()
        with pytest.raises(errors.Unavailable):
            await with_retries(attempt, policy, idempotent=True)
        assert trio.current_time() - start <= 0.3 + 0.05
        attempt, calls = _counting([errors.Unavailable("reset"), errors.Unavailable("again")])
        with pytest.raises(errors.Unavailable, match="reset"):
            await with_retries(attempt, RetryPolicy(), idempotent=False)
        assert len(calls) == 1

    trio.run(main)


def test_slow_hub_times_out_within_bound(echo_server) -> None:  # type: ignore[no-untyped-def]
    """A hub that does not answer: each attempt ends at the call deadline, idempotent calls are
    tried ``attempts`` times, and the error names the hub. (The echo server has no Users
    service, so ``connect`` accepts it like a plain ThreadDB daemon.)"""
    policy = RetryPolicy(attempts=3, budget=10, base_delay=0.05, max_delay=0.05)
    config = HubConfig(echo_server.address, "", None, None, timeout=0.3, retry=policy)

    async def main() -> None:
        async with await HubSession.connect(config) as session:
            start = trio.current_time()
            with pytest.raises(errors.TimedOut, match=echo_server.address):
                await session.rpc.unary("/t.T/Slow", B(), B, idempotent=True)
            assert 0.9 <= trio.current_time() - start < 3
            assert echo_server.slow_calls == 3
            with pytest.raises(errors.TimedOut, match="is unreachable"):  # down: fails at once
                await session.rpc.unary("/t.T/Slow", B(), B, idempotent=True)
            assert echo_server.slow_calls == 3
            with trio.fail_after(5):  # the background probe: its health check is answered
                while session.rpc.health.down:
                    await trio.sleep(0.05)
            with pytest.raises(errors.TimedOut):
                await session.rpc.unary("/t.T/Slow", B(), B, idempotent=False)
            assert echo_server.slow_calls == 4  # a write is not repeated

    trio.run(main)
