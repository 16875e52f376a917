"""Bucket state across hub restarts and crashes, and one large transfer, over real gRPC."""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
from conftest import HubClients
from test_buckets_api import Buckets, failing

from bucketfs.proto import bucketsd_pb2 as pb
from bucketfs.testing.hubproc import HubProcess

MIB = 1024 * 1024


def _bucket_client(hub: HubProcess) -> tuple[HubClients, Buckets]:
    clients = HubClients(hub)
    client = clients.account()
    client.db = client.new_db()
    return clients, Buckets(client)


def _reconnect(hub: HubProcess, old: Buckets) -> tuple[HubClients, Buckets]:
    clients = HubClients(hub)
    client = clients.raw(old.client.key, old.client.secret)
    client.db = old.thread
    return clients, Buckets(client)


def test_bucket_survives_restart(tmp_path: Path) -> None:
    with HubProcess(data_dir=tmp_path / "hub") as hub:
        clients, b = _bucket_client(hub)
        made = b.create("keep", private=True)
        key = made.root.key
        data = os.urandom(700_000)
        b.push(key, "d/file.bin", data, mode=0o640)
        b.push(key, "top", b"top")
        before = b.root(key)
        clients.close()
        hub.restart()
        clients, b = _reconnect(hub, b)
        assert b.root(key) == before
        assert b.pull(key, "d/file.bin") == data and b.pull(key, ".textileseed") == made.seed
        assert b.ls(key, "d").item.items[0].mode == 0o100640
        clients.close()


def test_kill_9_during_push_paths_keeps_old_or_new_state(tmp_path: Path) -> None:
    names = [f"dir/f{i}" for i in range(8)]
    old = {n: os.urandom(300_000) for n in names}
    new = {n: os.urandom(300_000) for n in names}
    with HubProcess(data_dir=tmp_path / "hub") as hub:
        clients, b = _bucket_client(hub)
        key = b.create().root.key
        b.push_paths(key, [(n, old[n]) for n in names] + [(n, b"") for n in names])
        saved = b.root(key).path

        # A stream that has completed some files but is still open when the hub dies.
        replies: queue.Queue[Any] = queue.Queue()
        release = threading.Event()

        def requests() -> Iterator[Any]:
            yield pb.PushPathsRequest(header=pb.PushPathsRequest.Header(key=key))
            for n in names:
                yield pb.PushPathsRequest(chunk=pb.PushPathsRequest.Chunk(path=n, data=new[n]))
                yield pb.PushPathsRequest(chunk=pb.PushPathsRequest.Chunk(path=n, data=b""))
            yield pb.PushPathsRequest(
                chunk=pb.PushPathsRequest.Chunk(path="dir/partial", data=os.urandom(500_000))
            )
            release.wait(30)

        def consume() -> None:
            try:
                for reply in b.api.PushPaths(requests(), metadata=b.md()):
                    replies.put(reply)
            except grpc.RpcError as exc:
                replies.put(exc)

        reader = threading.Thread(target=consume)
        reader.start()
        first = replies.get(timeout=30)
        assert isinstance(first, pb.PushPathsResponse)
        hub.kill()
        release.set()
        reader.join(timeout=30)
        clients.close()

        hub.start()
        clients, b = _reconnect(hub, b)
        assert b.root(key).path == saved  # nothing of the unfinished stream was committed
        for n in names:
            assert b.pull(key, n) in (old[n], new[n])
        assert "partial" not in b.names(key, "dir")

        # A stream that completed is durable even if the hub is killed right after.
        b.push_paths(key, [(n, new[n]) for n in names] + [(n, b"") for n in names])
        after = b.root(key).path
        clients.close()
        hub.kill()
        hub.start()
        clients, b = _reconnect(hub, b)
        assert b.root(key).path == after
        for n in names:
            assert b.pull(key, n) == new[n]
        clients.close()


def test_kill_9_around_single_pushes_and_removals(tmp_path: Path) -> None:
    """One PushPath (one block barrier, one commit): acknowledged means durable; killed while
    streaming means nothing of it. The same for RemovePath."""
    small, big = os.urandom(4096), os.urandom(3 * MIB + 5)
    with HubProcess(data_dir=tmp_path / "hub") as hub:
        clients, b = _bucket_client(hub)
        key = b.create().root.key
        b.push(key, "a/small", small)
        b.push(key, "a/big", big, mode=0o600)
        b.push(key, "gone", b"remove me")
        b.api.RemovePath(pb.RemovePathRequest(key=key, path="gone"), metadata=b.md())
        acknowledged = b.root(key).path

        release = threading.Event()
        sent = threading.Event()

        def stalled() -> Iterator[bytes]:
            yield os.urandom(2 * MIB)  # whole leaves the hub hashes and stores at once
            sent.set()
            release.wait(30)

        errors: queue.Queue[Any] = queue.Queue()

        def push() -> None:
            try:
                list(b.push_stream(key, "a/small", stalled(), size=4 * MIB))
            except grpc.RpcError as exc:
                errors.put(exc)

        pusher = threading.Thread(target=push)
        pusher.start()
        assert sent.wait(30)
        hub.kill()
        release.set()
        pusher.join(timeout=30)
        assert not errors.empty()
        clients.close()

        hub.start()
        clients, b = _reconnect(hub, b)
        assert b.root(key).path == acknowledged
        assert b.pull(key, "a/small") == small and b.pull(key, "a/big") == big
        assert "gone" not in b.names(key, "")
        clients.close()


def _pattern(size: int) -> Iterator[bytes]:
    block = os.urandom(MIB)
    for i in range(0, size, MIB):
        piece = i.to_bytes(8, "little") + block[8 : min(MIB, size - i)]
        for j in range(0, len(piece), 32 * 1024):
            yield piece[j : j + 32 * 1024]


def test_one_gib_push_and_pull_sha256(tmp_path: Path) -> None:
    size = 1024 * MIB
    with HubProcess(data_dir=tmp_path / "hub") as hub:
        clients, b = _bucket_client(hub)
        key = b.create().root.key
        sent = hashlib.sha256()

        def chunks() -> Iterator[bytes]:
            for chunk in _pattern(size):
                sent.update(chunk)
                yield chunk

        events = list(b.push_stream(key, "big.bin", chunks()))
        assert events[-1].event.path.startswith("/ipfs/bafy")
        assert b.ls(key).item.items[1].file_size == size
        got = hashlib.sha256()
        req = pb.PullPathRequest(key=key, path="big.bin")
        for reply in b.api.PullPath(req, metadata=b.md()):
            got.update(reply.chunk)
        assert got.hexdigest() == sent.hexdigest()
        err = failing(lambda: b.pull(key, "nothing"))
        assert err.code() == grpc.StatusCode.UNKNOWN
        clients.close()


def test_kill_9_during_concurrent_pushes_keeps_every_acknowledged_push(tmp_path: Path) -> None:
    """Many threads push at once (their commits share barriers); the hub is killed while they
    run. Every push that was answered is there after the restart, with its bytes."""
    writers = 8
    with HubProcess(data_dir=tmp_path / "hub") as hub:
        clients, b = _bucket_client(hub)
        keys = [b.create().root.key for _ in range(2)]
        acked: list[tuple[str, str, bytes]] = []
        lock = threading.Condition()
        stop = threading.Event()

        def writer(w: int) -> None:
            for i in range(10_000):
                if stop.is_set():
                    return
                key, path = keys[w % 2], f"w{w}/f{i}"
                data = os.urandom(100 + i % 3000)
                try:
                    b.push(key, path, data)
                except grpc.RpcError:
                    return
                with lock:
                    acked.append((key, path, data))
                    lock.notify_all()

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
        for t in threads:
            t.start()
        with lock:
            assert lock.wait_for(lambda: len(acked) >= 60, timeout=120)
        hub.kill()
        stop.set()
        for t in threads:
            t.join(timeout=30)
        clients.close()

        hub.start()
        clients, b = _reconnect(hub, b)
        for key, path, data in acked:
            assert b.pull(key, path) == data, path
        clients.close()
