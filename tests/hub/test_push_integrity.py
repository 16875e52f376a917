"""PushPath never saves a cut-off upload: the ``size`` header extension is checked byte for byte,
and a size-less stream is saved only if the call is still active after it ended."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from test_buckets_api import Buckets, rpc_error

from bucketfs.proto import bucketsd_pb2 as pb
from bucketfs.testing.hubproc import HubClient as Client

CHUNK = 64 * 1024
OLD = b"old content\n" * 1000
NEW = bytes(range(256)) * 4096  # 1 MiB, 16 chunks


@pytest.fixture
def b(alice: Client) -> Buckets:
    return Buckets(alice)


def _cut_off_push(b: Buckets, key: str, path: str, size: int) -> grpc.RpcError | None:
    """Send the header and half of NEW, then cancel the call from the client side."""
    sent_half = threading.Event()
    release = threading.Event()

    def requests() -> Iterator[Any]:
        header = pb.PushPathRequest.Header(key=key, path=path, size=size)
        yield pb.PushPathRequest(header=header)
        for i in range(0, len(NEW) // 2, CHUNK):
            yield pb.PushPathRequest(chunk=NEW[i : i + CHUNK])
        sent_half.set()
        release.wait(10)  # the client is "killed" here: the stream never continues

    call = b.api.PushPath(requests(), metadata=b.md())
    assert sent_half.wait(10)
    threading.Event().wait(0.1)  # let the chunks reach the hub
    call.cancel()
    release.set()
    try:
        list(call)
    except grpc.RpcError as exc:
        return exc
    return None


@pytest.mark.parametrize("declared", [len(NEW), 0], ids=["with-size", "without-size"])
def test_cancelled_push_keeps_old_content(b: Buckets, declared: int) -> None:
    key = b.create("cut").root.key
    b.push(key, "f.bin", OLD)
    for _ in range(10):
        error = _cut_off_push(b, key, "f.bin", declared)
        assert error is not None and error.code() == grpc.StatusCode.CANCELLED
        assert b.pull(key, "f.bin") == OLD
    assert b.names(key) == [".textileseed", "f.bin"]


def test_wrong_declared_size_is_refused_and_changes_nothing(b: Buckets) -> None:
    key = b.create("sized").root.key
    b.push(key, "f.bin", OLD)
    before = b.root(key).path
    for declared in (len(NEW) + 1, len(NEW) - 1, 1):
        chunks = (NEW[i : i + CHUNK] for i in range(0, len(NEW), CHUNK))
        err = rpc_error(b.push_stream, key, "f.bin", chunks, size=declared)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        if declared > len(NEW):
            assert err.details() == (
                f"upload ended after {len(NEW)} of {declared} bytes; nothing was saved"
            )
        else:
            assert "nothing was saved" in (err.details() or "")
    err = rpc_error(b.push_stream, key, "new.bin", iter([NEW]), size=len(NEW) * 2)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert b.pull(key, "f.bin") == OLD
    assert b.root(key).path == before
    assert b.names(key) == [".textileseed", "f.bin"]


def test_exact_size_and_upstream_push_without_size_are_saved(b: Buckets) -> None:
    key = b.create("ok").root.key
    chunks = (NEW[i : i + CHUNK] for i in range(0, len(NEW), CHUNK))
    events = list(b.push_stream(key, "sized.bin", chunks, size=len(NEW)))
    assert events[-1].event.bytes == len(NEW)
    assert b.pull(key, "sized.bin") == NEW
    b.push(key, "plain.bin", OLD)  # no size: an upstream client
    assert b.pull(key, "plain.bin") == OLD
    assert list(b.push_stream(key, "empty", iter([])))[-1].event.bytes == 0
    assert b.pull(key, "empty") == b""
